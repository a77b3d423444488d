//! RFC 7643 §8: every example representation parses, validates and re-serializes equal, and
//! the built-in schemas match §8.7 except for the documented errata (docs/schemas.md).

use scimkit_schema::messages::ServiceProviderConfig;
use scimkit_schema::{
    AttributeDef, Group, Mode, NormalizeOptions, Registry, Resource, ResourceType, Schema, User,
    builtin,
};
use serde_json::{Map, Value, json};

use crate::fixture;

/// The example minus what normalization drops on input: read-only attributes (RFC 7643
/// §2.2) — `id`, `meta`, `groups` and `manager.displayName`.
fn without_read_only(mut example: Value) -> Value {
    let obj = example.as_object_mut().unwrap();
    for key in ["id", "meta", "groups"] {
        obj.remove(key);
    }
    if let Some(ext) = obj.get_mut(builtin::ENTERPRISE_USER) {
        ext["manager"]
            .as_object_mut()
            .unwrap()
            .remove("displayName");
    }
    example
}

#[track_caller]
fn check_resource_example(file: &str, resource_type: &str) {
    let example = fixture(file);
    let registry = Registry::new();
    let (name, normalized) = registry
        .normalize(
            None,
            example.clone(),
            Mode::Create,
            &NormalizeOptions::strict(),
        )
        .unwrap_or_else(|e| panic!("{file}: {e}"));
    assert_eq!(name, resource_type);
    let normalized = Value::Object(normalized);
    assert_eq!(normalized, without_read_only(example.clone()), "{file}");

    // Normalizing again changes nothing.
    let (_, again) = registry
        .normalize(
            Some(resource_type),
            normalized.clone(),
            Mode::Create,
            &NormalizeOptions::strict(),
        )
        .unwrap();
    assert_eq!(Value::Object(again), normalized);

    // Serialize / deserialize round trip, byte-stable after the first pass.
    let text = serde_json::to_string(&example).unwrap();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), example);
}

#[test]
fn minimal_user_8_1() {
    check_resource_example("rfc7643/8.1-minimal-user.json", "User");
}

#[test]
fn full_user_8_2() {
    check_resource_example("rfc7643/8.2-full-user.json", "User");
}

#[test]
fn enterprise_user_8_3() {
    check_resource_example("rfc7643/8.3-enterprise-user.json", "User");
}

#[test]
fn group_8_4() {
    check_resource_example("rfc7643/8.4-group.json", "Group");
}

#[test]
fn typed_views_round_trip_the_examples() {
    for file in [
        "rfc7643/8.1-minimal-user.json",
        "rfc7643/8.2-full-user.json",
        "rfc7643/8.3-enterprise-user.json",
    ] {
        let example = fixture(file);
        let user =
            User::from_resource(Resource::new(example.as_object().unwrap().clone())).unwrap();
        assert_eq!(
            user.user_name.as_deref(),
            Some("bjensen@example.com"),
            "{file}"
        );
        assert_eq!(
            Value::Object(user.into_resource().into_map()),
            example,
            "{file}"
        );
    }
    let full = User::from_resource(Resource::new(
        fixture("rfc7643/8.3-enterprise-user.json")
            .as_object()
            .unwrap()
            .clone(),
    ))
    .unwrap();
    assert_eq!(full.primary_email(), Some("bjensen@example.com"));
    let ent = full.enterprise().unwrap();
    assert_eq!(ent.employee_number.as_deref(), Some("701984"));
    assert_eq!(
        ent.manager.unwrap().display_name.as_deref(),
        Some("John Smith")
    );
    assert_eq!(
        full.addresses[0].street_address.as_deref(),
        Some("100 Universal City Plaza")
    );
    assert_eq!(full.groups.len(), 3);
    assert_eq!(
        full.meta.as_ref().unwrap().resource_type.as_deref(),
        Some("User")
    );

    let example = fixture("rfc7643/8.4-group.json");
    let group = Group::from_resource(Resource::new(example.as_object().unwrap().clone())).unwrap();
    assert_eq!(group.members.len(), 2);
    assert_eq!(
        group.members[1].display.as_deref(),
        Some("Mandy Pepperidge")
    );
    assert_eq!(Value::Object(group.into_resource().into_map()), example);
}

#[test]
fn typed_views_keep_unknown_attributes() {
    let doc = json!({
        "schemas": [builtin::USER, "urn:acme:ext:2.0:User"],
        "userName": "a",
        "emails": [{"value": "a@x", "acmeVerified": true}],
        "name": {"givenName": "A", "acmeScript": "Latn"},
        "urn:acme:ext:2.0:User": {"badge": 7},
        "shoeSize": 44,
    });
    let user = User::from_resource(Resource::new(doc.as_object().unwrap().clone())).unwrap();
    assert_eq!(user.extra["shoeSize"], 44);
    assert_eq!(user.emails[0].extra["acmeVerified"], true);
    assert_eq!(Value::Object(user.into_resource().into_map()), doc);
}

#[test]
fn service_provider_config_8_5() {
    let example = fixture("rfc7643/8.5-service-provider-config.json");
    let spc: ServiceProviderConfig = serde_json::from_value(example.clone()).unwrap();
    assert!(spc.bulk.supported);
    assert_eq!(spc.bulk.max_operations, 1000);
    assert_eq!(spc.filter.max_results, 200);
    assert_eq!(
        spc.authentication_schemes[0].kind.as_deref(),
        Some("oauthbearertoken")
    );
    assert_eq!(serde_json::to_value(&spc).unwrap(), example);
}

#[test]
fn resource_types_8_6() {
    let examples = fixture("rfc7643/8.6-resource-types.json");
    let builtins = builtin::resource_types();
    for (example, ours) in examples.as_array().unwrap().iter().zip(&builtins) {
        let parsed: ResourceType = serde_json::from_value(example.clone()).unwrap();
        // §8.6 makes the enterprise extension required; the built-in User keeps it optional,
        // as most deployments need (docs/schemas.md).
        let mut ours = ours.clone();
        for ext in &mut ours.schema_extensions {
            ext.required = parsed.extension(&ext.schema).unwrap().required;
        }
        assert_eq!(parsed, ours);
        assert_eq!(
            ours.to_representation(Some("https://example.com/v2")),
            *example
        );
    }
}

/// Where the built-in schemas deliberately differ from §8.7, as (schema name, attribute path,
/// the change to apply to the RFC's JSON). Each is explained in docs/schemas.md.
fn apply_errata(schema: &mut Value) {
    let name = schema["name"].as_str().unwrap().to_owned();
    let attrs = schema["attributes"].as_array_mut().unwrap();
    let find = |attrs: &mut Vec<Value>, n: &str| -> usize {
        attrs
            .iter()
            .position(|a| a["name"] == n)
            .unwrap_or_else(|| panic!("{n}"))
    };
    let sub_attr = |defs: &[(&str, &str, bool)]| -> Vec<Value> {
        defs.iter()
            .map(|(n, t, mv)| json!({"name": n, "type": t, "multiValued": mv}))
            .collect()
    };
    match name.as_str() {
        "User" => {
            let i = find(attrs, "addresses");
            attrs[i]["subAttributes"]
                .as_array_mut()
                .unwrap()
                .extend(sub_attr(&[("primary", "boolean", false)]));
            let i = find(attrs, "ims");
            let subs = attrs[i]["subAttributes"].as_array_mut().unwrap();
            let t = find(subs, "type");
            subs[t]["canonicalValues"]
                .as_array_mut()
                .unwrap()
                .push(json!("other"));
        }
        "Group" => {
            let i = find(attrs, "displayName");
            attrs[i]["required"] = json!(true); // erratum 5368
            let i = find(attrs, "members");
            let mut display = sub_attr(&[("display", "string", false)]);
            display[0]["mutability"] = json!("immutable");
            attrs[i]["subAttributes"]
                .as_array_mut()
                .unwrap()
                .extend(display);
        }
        "Service Provider Configuration" => {
            let i = find(attrs, "sort");
            let mut etag = attrs[i].clone();
            etag["name"] = json!("etag");
            attrs.insert(i + 1, etag);
            let i = find(attrs, "authenticationSchemes");
            let mut extra = sub_attr(&[("type", "string", false), ("primary", "boolean", false)]);
            extra[0]["required"] = json!(true); // erratum 8011
            extra[0]["canonicalValues"] = json!([
                "oauth",
                "oauth2",
                "oauthbearertoken",
                "httpbasic",
                "httpdigest"
            ]);
            for e in &mut extra {
                e["mutability"] = json!("readOnly");
            }
            attrs[i]["subAttributes"]
                .as_array_mut()
                .unwrap()
                .extend(extra);
        }
        "ResourceType" => {
            let i = find(attrs, "schemaExtensions");
            attrs[i]["multiValued"] = json!(true); // erratum 7522
            attrs[i]["required"] = json!(false); // §6: OPTIONAL
        }
        "Schema" => {
            let i = find(attrs, "attributes");
            let subs = attrs[i]["subAttributes"].as_array_mut().unwrap();
            let t = find(subs, "type");
            subs[t]["canonicalValues"]
                .as_array_mut()
                .unwrap()
                .push(json!("binary"));
            let s = find(subs, "subAttributes");
            let subsubs = subs[s]["subAttributes"].as_array_mut().unwrap();
            let t = find(subsubs, "type");
            subsubs[t]["canonicalValues"]
                .as_array_mut()
                .unwrap()
                .push(json!("binary"));
            let r = find(subsubs, "referenceTypes");
            subsubs[r]["multiValued"] = json!(true);
        }
        _ => {}
    }
}

/// Clears descriptions, which are written in scimkit's own words.
fn without_descriptions(attrs: &mut [AttributeDef]) {
    for a in attrs {
        a.description = None;
        without_descriptions(&mut a.sub_attributes);
    }
}

#[test]
fn builtin_schemas_match_8_7() {
    let mut rfc: Vec<Value> = fixture("rfc7643/8.7.1-schemas.json")
        .as_array()
        .unwrap()
        .clone();
    rfc.extend(
        fixture("rfc7643/8.7.2-schemas.json")
            .as_array()
            .unwrap()
            .iter()
            .cloned(),
    );
    let ours = builtin::all_schemas();
    assert_eq!(rfc.len(), ours.len());
    for (mut rfc_json, ours) in rfc.into_iter().zip(ours) {
        // The RFC's JSON parses as a schema, as published.
        let published = Schema::from_json(rfc_json.clone()).unwrap();
        assert_eq!(published.id, ours.id);
        assert_eq!(published.name, ours.name);
        assert_eq!(published.description, ours.description, "{}", ours.id);

        apply_errata(&mut rfc_json);
        let mut expected = Schema::from_json(rfc_json).unwrap();
        let mut actual = ours.clone();
        without_descriptions(&mut expected.attributes);
        without_descriptions(&mut actual.attributes);
        for (e, a) in expected.attributes.iter().zip(&actual.attributes) {
            assert_eq!(e, a, "{}: {}", ours.id, a.name);
        }
        assert_eq!(expected, actual, "{}", ours.id);
        // Every attribute has a description of ours.
        fn described(attrs: &[AttributeDef]) -> bool {
            attrs
                .iter()
                .all(|a| a.description.is_some() && described(&a.sub_attributes))
        }
        assert!(described(&ours.attributes), "{}", ours.id);
    }
}

#[test]
fn served_schema_json_round_trips_and_carries_schemas_and_meta() {
    for schema in builtin::all_schemas() {
        let served = schema.to_representation(Some("https://example.com/v2/"));
        assert_eq!(served["schemas"], json!([scimkit_schema::SCHEMA_SCHEMA]));
        assert_eq!(served["meta"]["resourceType"], "Schema");
        assert_eq!(
            served["meta"]["location"],
            format!("https://example.com/v2/Schemas/{}", schema.id)
        );
        // Every characteristic is written explicitly.
        for attr in served["attributes"].as_array().unwrap() {
            for key in [
                "name",
                "type",
                "multiValued",
                "required",
                "caseExact",
                "mutability",
                "returned",
                "uniqueness",
            ] {
                assert!(attr.get(key).is_some(), "{} lacks {key}", attr["name"]);
            }
        }
        let mut body: Map<String, Value> = served.as_object().unwrap().clone();
        body.remove("schemas");
        body.remove("meta");
        assert_eq!(Schema::from_json(Value::Object(body)).unwrap(), schema);
    }
}
