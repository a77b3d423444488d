//! The registry: custom schemas and extensions from JSON, resource types, path resolution.

use scimkit_schema::{
    AttrPath, AttributeType, Mode, NormalizeOptions, Owner, Registry, SchemaError, Target, builtin,
};
use serde_json::{Value, json};

const ACME: &str = "urn:acme:params:scim:schemas:extension:acme:2.0:User";

fn acme_schema() -> Value {
    json!({
        "id": ACME,
        "name": "AcmeUser",
        "description": "Acme's user attributes",
        "attributes": [
            {"name": "badgeNumber", "type": "integer", "required": true},
            {"name": "clearance", "type": "string", "canonicalValues": ["low", "high"]},
            {"name": "sites", "type": "complex", "multiValued": true, "subAttributes": [
                {"name": "value", "type": "string", "caseExact": true},
                {"name": "primary", "type": "boolean"}
            ]}
        ]
    })
}

#[test]
fn an_extension_attaches_to_the_type_its_urn_names() {
    let mut registry = Registry::new();
    registry.load([("acme.json", acme_schema())]).unwrap();
    let users = registry.bind("User").unwrap();
    assert_eq!(users.extensions.len(), 2);
    assert!(users.extension_index(ACME).is_some());
    // RFC 7643 §2.2 defaults fill in what the file left out.
    let clearance = registry
        .schema(ACME)
        .unwrap()
        .attribute("CLEARANCE")
        .unwrap();
    assert_eq!(clearance.kind, AttributeType::String);
    assert!(!clearance.multi_valued && !clearance.case_exact && !clearance.required);

    let body = json!({"schemas": [builtin::USER, ACME], "userName": "a", ACME: {"badgeNumber": 7, "sites": [{"value": "HQ"}]}});
    let (_, out) = registry
        .normalize(None, body, Mode::Create, &NormalizeOptions::strict())
        .unwrap();
    assert_eq!(out[ACME]["badgeNumber"], 7);
    // A required attribute of an extension that is present.
    let body =
        json!({"schemas": [builtin::USER, ACME], "userName": "a", ACME: {"clearance": "low"}});
    let err = registry
        .normalize(None, body, Mode::Create, &NormalizeOptions::strict())
        .unwrap_err();
    assert_eq!(err.to_string(), format!("`{ACME}:badgeNumber` is required"));
    // Type-checked.
    let body =
        json!({"schemas": [builtin::USER, ACME], "userName": "a", ACME: {"badgeNumber": "seven"}});
    let err = registry
        .normalize(None, body, Mode::Create, &NormalizeOptions::strict())
        .unwrap_err();
    assert!(matches!(err, SchemaError::WrongType { .. }), "{err}");
}

#[test]
fn resource_types_and_list_responses_load() {
    let device = json!({
        "id": "urn:example:scim:Device",
        "name": "Device",
        "attributes": [{"name": "serial", "type": "string", "required": true}]
    });
    let rt = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
        "id": "Device", "name": "Device", "endpoint": "/Devices",
        "schema": "urn:example:scim:Device",
        "schemaExtensions": [{"schema": ACME, "required": false}]
    });
    let list = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 2, "Resources": [device, acme_schema()]});
    let mut registry = Registry::new();
    registry
        .load([("schemas.json", list), ("device-type.json", rt)])
        .unwrap();
    let devices = registry.bind("device").unwrap();
    assert_eq!(devices.resource_type.endpoint, "/Devices");
    // The ACME extension is referenced by Device, so it is not auto-attached to User.
    assert!(
        registry
            .bind("User")
            .unwrap()
            .extension_index(ACME)
            .is_none()
    );
    let (name, out) = registry
        .normalize(
            None,
            json!({"schemas": ["urn:example:scim:Device"], "serial": "S1"}),
            Mode::Create,
            &NormalizeOptions::strict(),
        )
        .unwrap();
    assert_eq!((name.as_str(), &out["serial"]), ("Device", &json!("S1")));
}

#[test]
fn the_rfc_schema_documents_load_as_they_are() {
    let mut registry = Registry::empty();
    registry
        .load([
            ("8.7.1", crate::fixture("rfc7643/8.7.1-schemas.json")),
            ("8.7.2", crate::fixture("rfc7643/8.7.2-schemas.json")),
            ("8.6", crate::fixture("rfc7643/8.6-resource-types.json")),
        ])
        .unwrap();
    assert_eq!(registry.schemas().len(), 6);
    assert_eq!(registry.resource_types().len(), 2);
    assert!(
        registry.bind("User").unwrap().extensions[0].1,
        "8.6 makes the extension required"
    );
}

#[test]
fn broken_definitions_are_rejected_with_the_source_named() {
    let cases = [
        (
            json!({"id": "", "attributes": []}),
            "the schema has an empty `id`",
        ),
        (
            json!({"id": "urn:x", "attributes": [{"name": "1st", "type": "string"}]}),
            "`1st` is not a valid attribute name",
        ),
        (
            json!({"id": "urn:x", "attributes": [{"name": "a", "type": "string"}, {"name": "A", "type": "integer"}]}),
            "attribute `A` is defined twice",
        ),
        (
            json!({"id": "urn:x", "attributes": [{"name": "a", "type": "string", "subAttributes": [{"name": "b"}]}]}),
            "attribute `a` has sub-attributes but is not complex",
        ),
        (
            json!({"id": "urn:x", "attributes": [{"name": "a", "type": "text"}]}),
            "unknown variant `text`",
        ),
        (
            json!({"id": "urn:x", "attributes": [{"name": "a", "mutability": "sometimes"}]}),
            "unknown variant `sometimes`",
        ),
        (json!(42), "expected a JSON object or array"),
        (
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"], "id": "T", "name": "T", "endpoint": "/T", "schema": "urn:missing"}),
            "schema `urn:missing` is not defined",
        ),
        (
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"], "id": "T", "name": "T", "endpoint": "/Users", "schema": builtin::GROUP}),
            "already uses endpoint",
        ),
    ];
    for (doc, expected) in cases {
        let err = Registry::new()
            .load([("bad.json", doc.clone())])
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("bad.json") && text.contains(expected),
            "{doc}: {text}"
        );
        assert!(!err.is_client_error());
        assert_eq!(err.status(), 500);
        assert_eq!(err.scim_type(), None);
    }
    let err = Registry::new()
        .load([("a.json", acme_schema()), ("b.json", acme_schema())])
        .unwrap_err();
    assert!(err.to_string().contains("defined twice"), "{err}");
}

#[test]
fn path_resolution() {
    let registry = Registry::new();
    let users = registry.bind("User").unwrap();
    let resolve = |p: &str| users.resolve(&AttrPath::parse(p).unwrap());
    match resolve("name.FAMILYNAME") {
        Some(Target::Attribute {
            owner: Owner::Core,
            attr,
            sub: Some(sub),
        }) => {
            assert_eq!(
                (attr.name.as_str(), sub.name.as_str()),
                ("name", "familyName")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        resolve("id"),
        Some(Target::Attribute {
            owner: Owner::Common,
            ..
        })
    ));
    assert!(matches!(
        resolve(&format!("{}:meta.created", builtin::USER)),
        Some(Target::Attribute {
            owner: Owner::Common,
            ..
        })
    ));
    assert!(matches!(
        resolve(&format!("{}:manager.value", builtin::ENTERPRISE_USER)),
        Some(Target::Attribute {
            owner: Owner::Extension(0),
            ..
        })
    ));
    assert!(matches!(
        resolve("department"),
        Some(Target::Attribute {
            owner: Owner::Extension(0),
            ..
        })
    ));
    assert_eq!(
        resolve(builtin::ENTERPRISE_USER),
        Some(Target::Schema(Owner::Extension(0)))
    );
    assert_eq!(resolve(builtin::USER), Some(Target::Schema(Owner::Core)));
    assert_eq!(resolve("shoeSize"), None);
    assert_eq!(resolve("name.nickname"), None);
    assert_eq!(resolve("urn:example:other:2.0:User:userName"), None);
    // A Group attribute is not a User attribute.
    assert_eq!(resolve("members"), None);
}

#[test]
fn resource_access_by_path() {
    let doc = crate::fixture("rfc7643/8.3-enterprise-user.json");
    let user = scimkit_schema::Resource::new(doc.as_object().unwrap().clone());
    let get = |p: &str| user.get(&AttrPath::parse(p).unwrap()).cloned();
    assert_eq!(user.id(), Some("2819c223-7f76-453a-919d-413861904646"));
    assert_eq!(get("USERNAME"), Some(json!("bjensen@example.com")));
    assert_eq!(get("name.givenName"), Some(json!("Barbara")));
    assert_eq!(
        get(&format!("{}:userName", builtin::USER)),
        Some(json!("bjensen@example.com"))
    );
    assert_eq!(
        get(&format!("{}:manager.displayName", builtin::ENTERPRISE_USER)),
        Some(json!("John Smith"))
    );
    assert_eq!(get("nope"), None);
    let emails: Vec<&Value> = user
        .values(&AttrPath::parse("emails.value").unwrap())
        .collect();
    assert_eq!(
        emails,
        [&json!("bjensen@example.com"), &json!("babs@jensen.org")]
    );
    assert_eq!(user.schemas().count(), 2);
}
