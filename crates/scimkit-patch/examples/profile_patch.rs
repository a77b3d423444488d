//! Applies the Entra update of the benchmark in a loop, for profiling.
#![allow(missing_docs)]
use scimkit_patch::{Profile, apply_slice_in_place};
use scimkit_schema::Registry;
use serde_json::{Map, Value, json};
#[allow(dead_code)]
type Unused = Value;

fn user() -> Map<String, Value> {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"],
        "id": "2819c223-7f76-453a-919d-413861904646",
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@contoso.com",
        "name": {"formatted": "Barbara Jensen", "familyName": "Jensen", "givenName": "Barbara"},
        "displayName": "Barbara Jensen",
        "title": "Tour Guide",
        "preferredLanguage": "en-US",
        "active": true,
        "emails": [
            {"value": "bjensen@contoso.com", "type": "work", "primary": true},
            {"value": "babs@jensen.org", "type": "home"}
        ],
        "phoneNumbers": [{"value": "+1 555 555 5555", "type": "work"}],
        "addresses": [{"streetAddress": "100 Universal City Plaza", "locality": "Hollywood", "region": "CA", "postalCode": "91608", "country": "US", "type": "work", "primary": true}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {
            "employeeNumber": "701984", "department": "Tour Operations", "manager": {"value": "26118915-6090-4610-87e4-49d8ca9f808d"}
        },
        "meta": {"resourceType": "User", "created": "2024-01-23T04:56:22Z", "lastModified": "2025-05-13T04:42:34Z", "version": "W/\"3\""}
    })
    .as_object()
    .unwrap()
    .clone()
}

const ENTRA_UPDATE: &str = r#"{
  "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
  "Operations": [
    {"op": "Replace", "path": "displayName", "value": "Babs Jensen"},
    {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "babs@contoso.com"},
    {"op": "Replace", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department", "value": "Tours"},
    {"op": "Replace", "path": "active", "value": "False"}
  ]
}"#;

fn main() {
    let registry = Registry::new();
    let users = registry.bind("User").unwrap();
    let profile = Profile::lenient();
    let mut user = user();
    let n: usize = std::env::var("N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    for _ in 0..n {
        std::hint::black_box(
            apply_slice_in_place(&users, &mut user, ENTRA_UPDATE.as_bytes(), &profile, None)
                .unwrap(),
        );
    }
}
