//! Property tests: a PATCH never yields an invalid resource, a failed PATCH changes nothing,
//! and applying the same PATCH twice changes nothing the second time.

use proptest::prelude::*;
use scimkit_patch::{Profile, apply, apply_in_place};
use scimkit_schema::{Mode, NormalizeOptions, Registry};
use serde_json::{Map, Value, json};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const ENT: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// A valid stored user: normalized, with `id` and `meta`.
fn user() -> impl Strategy<Value = Map<String, Value>> {
    (
        "[a-z]{1,6}",
        prop::option::of("[A-Z][a-z]{0,5}"),
        prop::option::of(any::<bool>()),
        prop::collection::vec(
            (
                "[a-c]{1,3}@x\\.org",
                prop::sample::select(vec!["work", "home", "other"]),
                any::<bool>(),
            ),
            0..3,
        ),
        prop::option::of("[A-Z][a-z]{0,5}"),
    )
        .prop_map(|(user_name, title, active, emails, department)| {
            let mut seen_primary = false;
            let emails: Vec<Value> = emails
                .into_iter()
                .map(|(value, kind, primary)| {
                    let primary = primary && !seen_primary;
                    seen_primary |= primary;
                    if primary {
                        json!({"value": value, "type": kind, "primary": true})
                    } else {
                        json!({"value": value, "type": kind})
                    }
                })
                .collect();
            let mut body = json!({"schemas": [USER, ENT], "userName": user_name, "emails": emails});
            if let Some(t) = title {
                body["title"] = json!(t);
            }
            if let Some(a) = active {
                body["active"] = json!(a);
            }
            if let Some(d) = department {
                body[ENT] = json!({"department": d});
            }
            let registry = Registry::new();
            let (_, mut stored) = registry
                .normalize(
                    Some("User"),
                    body,
                    Mode::Create,
                    &NormalizeOptions::lenient(),
                )
                .expect("generated users are valid");
            stored.insert("id".into(), json!("2819c223"));
            stored.insert(
                "meta".into(),
                json!({"resourceType": "User", "version": "W/\"1\""}),
            );
            stored
        })
}

fn path() -> impl Strategy<Value = Option<String>> {
    prop::option::of(
        prop::sample::select(vec![
            "userName",
            "displayName",
            "title",
            "nickName",
            "active",
            "name.givenName",
            "name",
            "emails",
            "emails.value",
            "emails.primary",
            "emails[type eq \"work\"]",
            "emails[type eq \"work\"].value",
            "emails[type eq \"home\" or value co \"a\"]",
            "emails[value eq \"a@x.org\"].primary",
            "phoneNumbers",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
            "id",
            "meta.created",
            "groups",
            "shoeSize",
            "emails[type eq]",
        ])
        .prop_map(str::to_owned),
    )
}

fn value() -> impl Strategy<Value = Option<Value>> {
    prop::option::of(prop_oneof![
        "[a-c]{0,3}".prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(json!("True")),
        Just(json!(null)),
        Just(json!(42)),
        Just(json!({"value": "a@x.org", "type": "work", "primary": true})),
        Just(json!([{"value": "b@x.org", "type": "home"}])),
        Just(json!([{"value": "c@x.org", "primary": true}, {"value": "d@x.org", "primary": true}])),
        Just(json!({"givenName": "Babs", "familyName": "Jensen"})),
        Just(json!({"displayName": "Babs", "name.givenName": "B", "active": false})),
        Just(json!({"department": "R&D"})),
        Just(json!([])),
    ])
}

fn patch() -> impl Strategy<Value = Value> {
    prop::collection::vec(
        (
            prop::sample::select(vec!["add", "replace", "remove", "Replace"]),
            path(),
            value(),
        ),
        1..4,
    )
    .prop_map(|ops| {
        let ops: Vec<Value> = ops
            .into_iter()
            .map(|(op, path, value)| {
                let mut o = json!({"op": op});
                if let Some(p) = path {
                    o["path"] = json!(p);
                }
                if let Some(v) = value {
                    o["value"] = v;
                }
                o
            })
            .collect();
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops})
    })
}

fn profile() -> impl Strategy<Value = Profile> {
    prop_oneof![
        Just(Profile::strict()),
        Just(Profile::lenient()),
        Just(Profile::entra()),
        Just(Profile::okta())
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn results_validate_failures_change_nothing_repeats_are_idempotent(user in user(), patch in patch(), profile in profile()) {
        let registry = Registry::new();
        let users = registry.bind("User").unwrap();
        let mut working = user.clone();
        match apply_in_place(&users, &mut working, patch.clone(), &profile, None) {
            Err(e) => {
                // A failed PATCH leaves the resource as it was.
                prop_assert_eq!(Value::Object(working), Value::Object(user));
                prop_assert!(!e.to_string().is_empty());
            }
            Ok(change) => {
                // The result is valid against the schema (immutable values kept).
                let checked = users.normalize(
                    Value::Object(working.clone()),
                    Mode::Replace { existing: &user },
                    &NormalizeOptions::strict(),
                );
                prop_assert!(checked.is_ok(), "{:?}\n{}", checked, Value::Object(working.clone()));
                // Read-only attributes are untouched.
                prop_assert_eq!(working.get("id"), user.get("id"));
                prop_assert_eq!(working.get("meta"), user.get("meta"));
                prop_assert_eq!(change.changed, Value::Object(working.clone()) != Value::Object(user.clone()));
                // `apply` agrees with `apply_in_place`.
                let copy = apply(&users, &user, patch.clone(), &profile, None).unwrap();
                prop_assert_eq!(Value::Object(copy.resource), Value::Object(working.clone()));
                // The same PATCH again changes nothing, when the PATCH is idempotent: one that
                // replaces a filtered value with one the filter no longer selects is not
                // (RFC 7644 gives `noTarget` the second time).
                if !idempotent_by_construction(&patch) {
                    return Ok(());
                }
                let mut again = working.clone();
                let second = apply_in_place(&users, &mut again, patch, &profile, None);
                let second = second.map_err(|e| TestCaseError::fail(format!("second application failed: {e}")))?;
                prop_assert!(!second.changed, "second application changed {:?}", second.changed_attributes);
                prop_assert_eq!(Value::Object(again), Value::Object(working));
            }
        }
    }
}

/// Whether every operation is idempotent by its form: no whole value written through a value
/// filter (which may stop matching it).
fn idempotent_by_construction(patch: &Value) -> bool {
    patch["Operations"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|op| {
            let filtered_whole = op["path"].as_str().is_some_and(|p| p.ends_with(']'));
            let writes = !op["op"]
                .as_str()
                .is_some_and(|o| o.eq_ignore_ascii_case("remove"));
            !(filtered_whole && writes)
        })
}
