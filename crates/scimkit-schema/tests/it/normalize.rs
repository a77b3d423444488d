//! Validation and normalization of create and replace bodies.

use scimkit_schema::{
    AttributeDef, AttributeType, Mode, Mutability, NormalizeOptions, Registry, ResourceType,
    Schema, SchemaError, ScimType, UnknownAttributes, builtin,
};
use serde_json::{Map, Value, json};

const USER: &str = builtin::USER;
const ENT: &str = builtin::ENTERPRISE_USER;

fn strict(body: Value) -> Result<Value, SchemaError> {
    normalize_with(body, &NormalizeOptions::strict())
}

/// Lenient, at the `/Users` endpoint (a body without `schemas` names no type by itself).
fn lenient(body: Value) -> Result<Value, SchemaError> {
    Registry::new()
        .normalize(
            Some("User"),
            body,
            Mode::Create,
            &NormalizeOptions::lenient(),
        )
        .map(|(_, r)| Value::Object(r))
}

fn normalize_with(body: Value, options: &NormalizeOptions) -> Result<Value, SchemaError> {
    Registry::new()
        .normalize(None, body, Mode::Create, options)
        .map(|(_, r)| Value::Object(r))
}

/// The error's wire form: (scimType, detail).
#[track_caller]
fn rejected(result: Result<Value, SchemaError>) -> (ScimType, String) {
    let err = result.expect_err("expected an error");
    let wire = err.to_scim_error();
    assert_eq!(wire.status, 400);
    (wire.scim_type.unwrap(), wire.detail.unwrap())
}

#[test]
fn canonical_names_schema_order_and_nulls_dropped() {
    let out = strict(json!({
        "DisplayName": "Babs",
        "SCHEMAS": [USER],
        "name": {"GIVENNAME": "Barbara", "familyname": "Jensen", "middleName": null},
        "USERNAME": "bjensen",
        "title": null,
        "emails": [],
        "phoneNumbers": [null],
        "externalid": "x-1",
    }))
    .unwrap();
    let keys: Vec<&String> = out.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        ["schemas", "externalId", "userName", "name", "displayName"]
    );
    let name: Vec<&String> = out["name"].as_object().unwrap().keys().collect();
    assert_eq!(name, ["familyName", "givenName"]);
}

#[test]
fn read_only_input_is_ignored() {
    let out = strict(json!({
        "schemas": [USER, ENT],
        "id": "client-chosen",
        "meta": {"resourceType": "User", "created": "not even a date"},
        "userName": "a",
        "groups": [{"value": "g1"}],
        ENT: {"manager": {"value": "m1", "displayName": "Boss"}},
    }))
    .unwrap();
    assert_eq!(
        out,
        json!({"schemas": [USER, ENT], "userName": "a", ENT: {"manager": {"value": "m1"}}})
    );
}

#[test]
fn required_attributes() {
    assert_eq!(
        rejected(strict(json!({"schemas": [USER], "displayName": "x"}))),
        (ScimType::InvalidValue, "`userName` is required".into())
    );
    assert_eq!(
        rejected(strict(json!({"schemas": [USER], "userName": null}))),
        (ScimType::InvalidValue, "`userName` is required".into())
    );
    assert_eq!(
        rejected(strict(json!({"schemas": [builtin::GROUP], "members": []}))).1,
        "`displayName` is required"
    );
}

#[test]
fn type_errors_name_the_attribute_and_what_was_found() {
    let cases = [
        (
            json!({"active": "yes"}),
            "`active`: expected a boolean, found string \"yes\"",
        ),
        (
            json!({"emails": [{"value": 42}]}),
            "`emails[0].value`: expected a string, found number 42",
        ),
        (
            json!({"emails": {"value": "a@x"}}),
            "`emails`: expected an array of an object, found an object",
        ),
        (
            json!({"name": "Barbara"}),
            "`name`: expected an object, found string \"Barbara\"",
        ),
        (
            json!({"name": ["a"]}),
            "`name`: expected an object, found an array of 1 values",
        ),
        (
            json!({"x509Certificates": [{"value": "not base64!"}]}),
            "`x509Certificates[0].value`: expected base64-encoded binary (RFC 4648 §4), found string \"not base64!\"",
        ),
        (
            json!({ENT: {"manager": {"value": true}}}),
            "`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`: expected a string, found boolean true",
        ),
    ];
    for (extra, detail) in cases {
        let mut body = json!({"schemas": [USER, ENT], "userName": "a"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        assert_eq!(
            rejected(strict(body)),
            (ScimType::InvalidValue, detail.to_owned())
        );
    }
}

#[test]
fn long_values_are_clipped_in_messages() {
    let long = "x".repeat(500);
    let (_, detail) = rejected(strict(
        json!({"schemas": [USER], "userName": "a", "active": long}),
    ));
    assert!(detail.len() < 120, "{detail}");
    assert!(detail.ends_with("…\""), "{detail}");
}

#[test]
fn at_most_one_primary() {
    let body = json!({"schemas": [USER], "userName": "a", "emails": [
        {"value": "a@x", "primary": true}, {"value": "b@x", "primary": false}, {"value": "c@x", "primary": true}
    ]});
    assert_eq!(
        rejected(strict(body)),
        (
            ScimType::InvalidValue,
            "`emails` has 2 values with `primary: true`; at most one is allowed".into()
        )
    );
    let ok = json!({"schemas": [USER], "userName": "a", "emails": [
        {"value": "a@x", "primary": true}, {"value": "b@x", "primary": false}
    ]});
    assert!(strict(ok).is_ok());
}

#[test]
fn schemas_consistency() {
    // Missing `schemas`.
    let err = Registry::new()
        .normalize(
            Some("User"),
            json!({"userName": "a"}),
            Mode::Create,
            &NormalizeOptions::strict(),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("`schemas` is required; expected [\"{USER}\"]")
    );
    // Extension data without the extension listed.
    assert_eq!(
        rejected(strict(
            json!({"schemas": [USER], "userName": "a", ENT: {"department": "R&D"}})
        ))
        .1,
        format!("the body has attributes of extension \"{ENT}\" but `schemas` does not list it")
    );
    // Unknown URN in `schemas`.
    assert_eq!(
        rejected(strict(
            json!({"schemas": [USER, "urn:example:nope"], "userName": "a"})
        ))
        .1,
        "unknown schema `urn:example:nope` for resource type User"
    );
    // Not a list.
    assert_eq!(
        rejected(strict(json!({"schemas": USER, "userName": "a"}))),
        (
            ScimType::InvalidSyntax,
            format!("`schemas` must be a list of URN strings, found string \"{USER}\"")
        )
    );
    assert_eq!(
        lenient(json!({"schemas": USER, "userName": "a"})).unwrap()["schemas"],
        json!([USER])
    );
    // No known core schema.
    let err = Registry::new()
        .normalize(
            None,
            json!({"schemas": ["urn:x"], "userName": "a"}),
            Mode::Create,
            &NormalizeOptions::strict(),
        )
        .unwrap_err();
    assert!(
        matches!(err, SchemaError::UnknownResourceType { .. }),
        "{err}"
    );
    // Another type's core schema at an endpoint.
    let err = Registry::new()
        .normalize(
            Some("User"),
            json!({"schemas": [builtin::GROUP], "displayName": "g"}),
            Mode::Create,
            &NormalizeOptions::strict(),
        )
        .unwrap_err();
    assert_eq!(err.scim_type(), Some(ScimType::InvalidValue));
    // The canonical casing of URNs, and a listed extension without data stays listed.
    let out =
        strict(json!({"schemas": [USER.to_uppercase(), ENT.to_lowercase()], "userName": "a"}))
            .unwrap();
    assert_eq!(out["schemas"], json!([USER, ENT]));
}

#[test]
fn unknown_attributes_follow_the_policy() {
    let body = json!({"schemas": [USER], "userName": "a", "shoeSize": 44, "name": {"nickname": "x", "givenName": "A"}});
    assert_eq!(
        rejected(strict(body.clone())),
        (
            ScimType::InvalidSyntax,
            format!("`shoeSize` is not an attribute of {USER}")
        )
    );
    let mut options = NormalizeOptions::strict();
    options.unknown_attributes = UnknownAttributes::Ignore;
    assert_eq!(
        normalize_with(body, &options).unwrap(),
        json!({"schemas": [USER], "userName": "a", "name": {"givenName": "A"}})
    );
    // An unknown attribute that is null carries nothing and is never an error.
    assert!(strict(json!({"schemas": [USER], "userName": "a", "shoeSize": null})).is_ok());
}

#[test]
fn attribute_given_twice_in_two_casings() {
    let (t, detail) = rejected(strict(
        json!({"schemas": [USER], "userName": "a", "USERNAME": "b"}),
    ));
    assert_eq!(t, ScimType::InvalidSyntax);
    assert_eq!(
        detail,
        "attribute `userName` is given twice (as `userName` and `USERNAME`)"
    );
}

#[test]
fn urn_qualified_keys_address_attributes() {
    let out = strict(json!({
        "schemas": [USER, ENT],
        format!("{USER}:userName"): "a",
        format!("{ENT}:department"): "Tour Operations",
    }))
    .unwrap();
    assert_eq!(
        out,
        json!({"schemas": [USER, ENT], "userName": "a", ENT: {"department": "Tour Operations"}})
    );
}

#[test]
fn entra_id_body_is_accepted_leniently() {
    // Shaped after the create request Entra ID documents (idp-quirks.md E1, E-Q2, E-Q11).
    let body = json!({
        "schemas": [USER, "urn:ietf:params:scim:schemas:extension:enterprise:2.0User"],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1",
        "active": "True",
        "addresses": null,
        "meta": {"resourceType": "User"},
        "roles": [],
        "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
        "name": {"familyName": "familyName", "givenName": "givenName"},
        "preferredLanguage": null,
        "title": null,
    });
    let out = lenient(body.clone()).unwrap();
    assert_eq!(out["active"], true);
    assert_eq!(out["schemas"], json!([USER]));
    assert!(out.get("addresses").is_none() && out.get("meta").is_none());
    // Strictly, the misspelled URN is rejected.
    assert_eq!(rejected(strict(body)).0, ScimType::InvalidValue);
}

#[test]
fn lenient_shapes_and_coercions() {
    let out = lenient(json!({
        "userName": "a",
        "emails": {"value": "a@x", "type": "work", "primary": "true"},
        "displayName": 12345,
        ENT: {"manager": "manager-id", "employeeNumber": 701984},
        "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group": {"x": 1},
    }))
    .unwrap();
    assert_eq!(
        out,
        json!({
            "schemas": [USER, ENT],
            "userName": "a",
            "displayName": "12345",
            "emails": [{"value": "a@x", "type": "work", "primary": true}],
            ENT: {"employeeNumber": "701984", "manager": {"value": "manager-id"}},
        })
    );
    // A one-element list for a singular attribute.
    assert_eq!(
        lenient(json!({"userName": ["a"]})).unwrap()["userName"],
        "a"
    );
    // Strings that are not booleans stay errors.
    assert_eq!(
        rejected(lenient(json!({"userName": "a", "active": "maybe"}))).0,
        ScimType::InvalidValue
    );
}

fn custom_registry() -> Registry {
    let mut registry = Registry::new();
    let schema = Schema::new(
        "urn:example:params:scim:schemas:core:2.0:Device",
        "Device",
        [
            AttributeDef::new("serial", AttributeType::String)
                .required()
                .case_exact()
                .mutability(Mutability::Immutable),
            AttributeDef::new("purchased", AttributeType::DateTime),
            AttributeDef::new("ports", AttributeType::Integer),
            AttributeDef::new("weight", AttributeType::Decimal),
            AttributeDef::new("tags", AttributeType::String).multi_valued(),
            AttributeDef::new("owner", AttributeType::Complex).sub_attributes([
                AttributeDef::new("value", AttributeType::String).mutability(Mutability::Immutable),
                AttributeDef::new("display", AttributeType::String),
                AttributeDef::new("since", AttributeType::DateTime).required(),
            ]),
        ],
    );
    registry.add_schema(schema).unwrap();
    registry
        .add_resource_type(ResourceType::new(
            "Device",
            "/Devices",
            "urn:example:params:scim:schemas:core:2.0:Device",
        ))
        .unwrap();
    registry
}

fn device(body: Value, mode: Mode<'_>) -> Result<Value, SchemaError> {
    custom_registry()
        .normalize(Some("Device"), body, mode, &NormalizeOptions::strict())
        .map(|(_, r)| Value::Object(r))
}

const DEVICE: &str = "urn:example:params:scim:schemas:core:2.0:Device";

#[test]
fn scalar_types_are_checked_and_coerced() {
    let out = device(
        json!({"schemas": [DEVICE], "serial": "S1", "purchased": "2024-03-01T10:00:00+01:00", "ports": 4.0, "weight": 1, "tags": ["a", "b"]}),
        Mode::Create,
    )
    .unwrap();
    assert_eq!(out["purchased"], "2024-03-01T09:00:00Z");
    assert_eq!(out["ports"], 4);
    assert!(out["ports"].is_i64());
    assert_eq!(out["weight"], 1);
    for (attr, value, detail) in [
        (
            "ports",
            json!(4.5),
            "`ports`: expected an integer, found number 4.5",
        ),
        (
            "ports",
            json!("4"),
            "`ports`: expected an integer, found string \"4\"",
        ),
        (
            "weight",
            json!("1.5"),
            "`weight`: expected a decimal number, found string \"1.5\"",
        ),
        (
            "purchased",
            json!("March 1st"),
            "`purchased`: expected an xsd:dateTime such as \"2008-01-23T04:56:22Z\", found string \"March 1st\"",
        ),
        (
            "tags",
            json!(["a", 1]),
            "`tags[1]`: expected a string, found number 1",
        ),
        (
            "tags",
            json!("a"),
            "`tags`: expected an array of a string, found string \"a\"",
        ),
    ] {
        let body = json!({"schemas": [DEVICE], "serial": "S1", attr: value});
        assert_eq!(
            rejected(device(body, Mode::Create)),
            (ScimType::InvalidValue, detail.to_owned())
        );
    }
}

#[test]
fn required_sub_attributes_of_present_values() {
    let body = json!({"schemas": [DEVICE], "serial": "S1", "owner": {"value": "u1"}});
    assert_eq!(
        rejected(device(body, Mode::Create)).1,
        "`owner.since` is required"
    );
    // An owner with nothing in it is unassigned, not incomplete.
    let body = json!({"schemas": [DEVICE], "serial": "S1", "owner": {"value": null}});
    assert!(device(body, Mode::Create).unwrap().get("owner").is_none());
}

#[test]
fn immutable_attributes_on_replace() {
    let stored = device(
        json!({"schemas": [DEVICE], "serial": "S1", "ports": 2, "owner": {"value": "u1", "since": "2024-01-01T00:00:00Z"}}),
        Mode::Create,
    )
    .unwrap();
    let stored: Map<String, Value> = stored.as_object().unwrap().clone();
    let replace = Mode::Replace { existing: &stored };

    // Same value: fine.
    assert!(
        device(
            json!({"schemas": [DEVICE], "serial": "S1", "ports": 3}),
            replace
        )
        .is_ok()
    );
    // A different value: mutability error.
    let (t, detail) = rejected(device(
        json!({"schemas": [DEVICE], "serial": "S2"}),
        replace,
    ));
    assert_eq!(t, ScimType::Mutability);
    assert_eq!(
        detail,
        "`serial` is immutable and already has a value; the new value differs"
    );
    // An immutable sub-attribute of a singular complex attribute.
    let body = json!({"schemas": [DEVICE], "serial": "S1", "owner": {"value": "u2", "since": "2024-01-01T00:00:00Z"}});
    assert_eq!(
        rejected(device(body, replace)).1,
        "`owner.value` is immutable and already has a value; the new value differs"
    );
    // Omitted immutable values carry over.
    let out = device(
        json!({"schemas": [DEVICE], "serial": "S1", "owner": {"since": "2025-01-01T00:00:00Z"}}),
        replace,
    )
    .unwrap();
    assert_eq!(
        out["owner"],
        json!({"value": "u1", "since": "2025-01-01T00:00:00Z"})
    );
    // On create there is nothing to compare with.
    assert!(device(json!({"schemas": [DEVICE], "serial": "S9"}), Mode::Create).is_ok());
}

#[test]
fn bodies_that_are_not_objects() {
    for body in [json!(null), json!([]), json!("user"), json!(42)] {
        let (t, detail) = rejected(strict(body));
        assert_eq!(t, ScimType::InvalidSyntax);
        assert!(
            detail.starts_with("the request body must be a JSON object"),
            "{detail}"
        );
    }
}

#[test]
fn extension_must_be_an_object() {
    let (t, detail) = rejected(strict(
        json!({"schemas": [USER, ENT], "userName": "a", ENT: "R&D"}),
    ));
    assert_eq!(t, ScimType::InvalidValue);
    assert!(
        detail.contains("expected an object of the extension's attributes"),
        "{detail}"
    );
}

#[test]
fn required_extension() {
    let mut registry = Registry::new();
    registry.add_extension("User", ENT, true).unwrap();
    let err = registry
        .normalize(
            None,
            json!({"schemas": [USER], "userName": "a"}),
            Mode::Create,
            &NormalizeOptions::strict(),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("the required extension \"{ENT}\" is missing")
    );
    assert!(
        registry
            .normalize(
                None,
                json!({"schemas": [USER, ENT], "userName": "a", ENT: {"department": "x"}}),
                Mode::Create,
                &NormalizeOptions::strict()
            )
            .is_ok()
    );
}

#[test]
fn write_only_password_is_kept_for_storage() {
    let out = strict(json!({"schemas": [USER], "userName": "a", "password": "s3cret"})).unwrap();
    assert_eq!(out["password"], "s3cret");
}

#[test]
fn immutable_comparison_honors_case_exact_and_required_subs_carry_over() {
    let mut registry = Registry::new();
    let urn = "urn:example:scim:Badge";
    registry
        .add_schema(Schema::new(
            urn,
            "Badge",
            [
                AttributeDef::new("code", AttributeType::String).mutability(Mutability::Immutable),
                AttributeDef::new("holder", AttributeType::Complex).sub_attributes([
                    AttributeDef::new("value", AttributeType::String)
                        .required()
                        .mutability(Mutability::Immutable),
                    AttributeDef::new("display", AttributeType::String),
                ]),
            ],
        ))
        .unwrap();
    registry
        .add_resource_type(ResourceType::new("Badge", "/Badges", urn))
        .unwrap();
    let run = |body: Value, existing: Option<&Map<String, Value>>| {
        let mode = match existing {
            Some(existing) => Mode::Replace { existing },
            None => Mode::Create,
        };
        registry
            .normalize(Some("Badge"), body, mode, &NormalizeOptions::strict())
            .map(|(_, r)| r)
    };
    let stored = run(
        json!({"schemas": [urn], "code": "ABC", "holder": {"value": "u1"}}),
        None,
    )
    .unwrap();
    // caseExact false: "abc" is the same value as "ABC".
    assert!(run(json!({"schemas": [urn], "code": "abc"}), Some(&stored)).is_ok());
    assert!(run(json!({"schemas": [urn], "code": "abd"}), Some(&stored)).is_err());
    // A required immutable sub-attribute left out of a replace carries over.
    let out = run(
        json!({"schemas": [urn], "holder": {"display": "U. One"}}),
        Some(&stored),
    )
    .unwrap();
    assert_eq!(out["holder"], json!({"value": "u1", "display": "U. One"}));
    // On create it is simply required.
    let err = run(
        json!({"schemas": [urn], "holder": {"display": "U. One"}}),
        None,
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "`holder.value` is required");
}
