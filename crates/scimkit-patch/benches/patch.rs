//! PATCH speed: `cargo bench -p scimkit-patch --bench patch`.
//!
//! 1. A typical Entra ID user update (4 operations, sent with capitalised ops and a string
//!    boolean), from the request bytes to the patched resource. Target: under 5 µs.
//! 2. Adding then removing one member of a group of 1,000, 10,000 and 100,000 members, with the
//!    members in an index (not loaded). Target: under 20 µs whatever the size.
//!
//! Without `--bench` (as under `cargo test --all-targets`) it only checks that the requests
//! apply.

#![allow(clippy::print_stdout, missing_docs)]

use std::collections::BTreeSet;
use std::hint::black_box;
use std::time::{Duration, Instant};

use scimkit_patch::{Profile, apply, apply_slice_in_place};
use scimkit_schema::Registry;
use serde_json::{Map, Value, json};

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

/// Median ns per call over 15 samples of about 20 ms each.
fn measure(mut f: impl FnMut()) -> f64 {
    let warm = Instant::now();
    let mut calls = 0u64;
    while warm.elapsed() < Duration::from_millis(100) {
        f();
        calls += 1;
    }
    let per_sample = (calls / 5).max(1);
    let mut samples: Vec<f64> = (0..15)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..per_sample {
                f();
            }
            t.elapsed().as_nanos() as f64 / per_sample as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let registry = Registry::new();
    let users = registry.bind("User").unwrap();
    let groups = registry.bind("Group").unwrap();
    let profile = Profile::lenient();
    let user = user();

    let update = || {
        let body: Value = serde_json::from_slice(ENTRA_UPDATE.as_bytes()).unwrap();
        apply(&users, &user, body, &profile, None).unwrap()
    };
    let patched = update();
    assert!(patched.changed);
    assert_eq!(patched.resource["active"], false);
    assert_eq!(patched.changed_attributes.len(), 4);

    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "g1", "displayName": "All Employees",
        "meta": {"resourceType": "Group", "version": "W/\"9\""}
    });
    let group = group.as_object().unwrap().clone();
    let add = |id: &str| {
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]}).to_string()
    };
    let remove = |id: &str| {
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]}).to_string()
    };
    let (add_body, remove_body) = (add("new-member"), remove("member-000042"));

    if !bench {
        println!("checked the requests (run with `cargo bench` to measure)");
        return;
    }
    let ns = measure(|| {
        black_box(update());
    });
    println!("Entra user update (4 operations), `apply` (copies the resource): {ns:.0} ns");
    let mut owned = user.clone();
    let ns_in_place = measure(|| {
        black_box(
            apply_slice_in_place(&users, &mut owned, ENTRA_UPDATE.as_bytes(), &profile, None)
                .unwrap(),
        );
    });
    println!(
        "Entra user update (4 operations), request bytes to patched user in place: {ns_in_place:.0} ns; target < 5000 ns: {}",
        pass(ns_in_place < 5000.0)
    );
    let ns_body = measure(|| {
        let body: Value = serde_json::from_slice(ENTRA_UPDATE.as_bytes()).unwrap();
        black_box(body);
    });
    println!("  of which parsing the request body: {ns_body:.0} ns");
    println!();
    println!(
        "{:>8}  {:>10}  {:>10}  {:>10}",
        "members", "add ns", "remove ns", "both ns"
    );
    let mut worst: f64 = 0.0;
    for n in [1_000usize, 10_000, 100_000] {
        let index: BTreeSet<String> = (0..n).map(|i| format!("member-{i:06}")).collect();
        let run = |body: &str| {
            let mut group = group.clone();
            apply_slice_in_place(&groups, &mut group, body.as_bytes(), &profile, Some(&index))
                .unwrap()
        };
        assert_eq!(run(&add_body).members.added.len(), 1);
        assert_eq!(run(&remove_body).members.removed.len(), 1);
        let add_ns = measure(|| {
            black_box(run(&add_body));
        });
        let remove_ns = measure(|| {
            black_box(run(&remove_body));
        });
        worst = worst.max(add_ns + remove_ns);
        println!(
            "{n:>8}  {add_ns:>10.0}  {remove_ns:>10.0}  {:>10.0}",
            add_ns + remove_ns
        );
    }
    println!(
        "add then remove one member, worst size: {worst:.0} ns; target < 20000 ns: {}",
        pass(worst < 20_000.0)
    );
}

fn pass(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}
