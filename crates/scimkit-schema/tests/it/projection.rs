//! Projection with `attributes`, `excludedAttributes` and `returned` (RFC 7644 §3.4.2.5).

use scimkit_schema::{AttrPath, AttributeDef, AttributeType, Registry, Returned, Schema, builtin};
use serde_json::{Map, Value, json};

const USER: &str = builtin::USER;
const ENT: &str = builtin::ENTERPRISE_USER;

fn stored_user() -> Map<String, Value> {
    json!({
        "schemas": [USER, ENT],
        "id": "2819c223",
        "externalId": "701984",
        "userName": "bjensen",
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "displayName": "Babs",
        "active": true,
        "password": "t1meMa$heen",
        "emails": [
            {"value": "bjensen@example.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "groups": [{"value": "g1", "display": "Tour Guides", "type": "direct"}],
        ENT: {"employeeNumber": "701984", "department": "Tour Operations", "manager": {"value": "m1", "displayName": "John"}},
        "meta": {"resourceType": "User", "version": "W/\"1\""}
    })
    .as_object()
    .unwrap()
    .clone()
}

fn project(attributes: &str, excluded: &str) -> Value {
    let registry = Registry::new();
    let users = registry.bind("User").unwrap();
    let a = AttrPath::parse_list(attributes).unwrap();
    let e = AttrPath::parse_list(excluded).unwrap();
    Value::Object(users.project(&stored_user(), &a, &e))
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

#[test]
fn default_projection_drops_never_and_keeps_the_rest() {
    let out = project("", "");
    assert!(out.get("password").is_none());
    let mut expected = Value::Object(stored_user());
    expected.as_object_mut().unwrap().remove("password");
    assert_eq!(out, expected);
}

#[test]
fn attributes_select_and_always_attributes_stay() {
    let out = project("userName", "");
    assert_eq!(
        out,
        json!({"schemas": [USER, ENT], "id": "2819c223", "userName": "bjensen"})
    );
    // Case-insensitive, URN-qualified, sub-attributes.
    let out = project(&format!("{USER}:USERNAME,name.givenName,emails.value"), "");
    assert_eq!(
        out,
        json!({
            "schemas": [USER, ENT], "id": "2819c223", "userName": "bjensen",
            "name": {"givenName": "Barbara"},
            "emails": [{"value": "bjensen@example.com"}, {"value": "babs@jensen.org"}],
        })
    );
    // Asking for a never-returned attribute returns nothing of it.
    assert_eq!(keys(&project("password", "")), ["schemas", "id"]);
}

#[test]
fn extension_attributes_and_whole_extensions() {
    let out = project(&format!("{ENT}:department"), "");
    assert_eq!(out[ENT], json!({"department": "Tour Operations"}));
    let out = project(&format!("{ENT}:manager.value"), "");
    assert_eq!(out[ENT], json!({"manager": {"value": "m1"}}));
    let out = project(ENT, "");
    assert_eq!(out[ENT], stored_user()[ENT]);
    // Unqualified extension attribute names resolve too.
    let out = project("employeeNumber", "");
    assert_eq!(out[ENT], json!({"employeeNumber": "701984"}));
    // Excluding the whole extension.
    let out = project("", ENT);
    assert!(out.get(ENT).is_none());
    assert_eq!(out["userName"], "bjensen");
}

#[test]
fn excluded_attributes() {
    let out = project("", "emails,name.familyName,meta");
    assert!(out.get("emails").is_none() && out.get("meta").is_none());
    assert_eq!(out["name"], json!({"givenName": "Barbara"}));
    // `id` is returned always, whatever excludedAttributes says.
    assert_eq!(project("", "id")["id"], "2819c223");
    // Sub-attribute exclusion inside multi-valued values.
    let out = project("", "emails.type,emails.primary");
    assert_eq!(
        out["emails"],
        json!([{"value": "bjensen@example.com"}, {"value": "babs@jensen.org"}])
    );
}

#[test]
fn unknown_paths_are_ignored() {
    assert_eq!(
        project("shoeSize", ""),
        json!({"schemas": [USER, ENT], "id": "2819c223"})
    );
    assert_eq!(project("", "shoeSize"), project("", ""));
}

#[test]
fn request_attributes_only_when_asked() {
    let mut registry = Registry::new();
    registry
        .add_schema(Schema::new(
            "urn:example:scim:ext:audit:User",
            "Audit",
            [
                AttributeDef::new("lastLogin", AttributeType::DateTime).returned(Returned::Request),
                AttributeDef::new("riskScore", AttributeType::Integer),
            ],
        ))
        .unwrap();
    registry
        .add_extension("User", "urn:example:scim:ext:audit:User", false)
        .unwrap();
    let users = registry.bind("User").unwrap();
    let mut stored = stored_user();
    stored.insert(
        "urn:example:scim:ext:audit:User".into(),
        json!({"lastLogin": "2026-01-01T00:00:00Z", "riskScore": 3}),
    );
    let out = users.project(&stored, &[], &[]);
    assert_eq!(
        out["urn:example:scim:ext:audit:User"],
        json!({"riskScore": 3})
    );
    let out = users.project(&stored, &AttrPath::parse_list("lastLogin").unwrap(), &[]);
    assert_eq!(
        out["urn:example:scim:ext:audit:User"],
        json!({"lastLogin": "2026-01-01T00:00:00Z"})
    );
}

#[test]
fn a_projection_is_reusable() {
    let registry = Registry::new();
    let users = registry.bind("User").unwrap();
    let attrs = AttrPath::parse_list("displayName").unwrap();
    let projection = scimkit_schema::Projection::new(users, &attrs, &[]);
    for _ in 0..3 {
        assert_eq!(
            keys(&Value::Object(projection.apply(&stored_user()))),
            ["schemas", "id", "displayName"]
        );
    }
}
