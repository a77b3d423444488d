//! Property tests: normalization is idempotent and never panics, projection honors
//! `returned`, paths and messages round-trip.

use proptest::prelude::*;
use scimkit_schema::messages::{PatchOp, PatchOpKind, PatchOperation};
use scimkit_schema::{AttrPath, Mode, NormalizeOptions, Registry, ScimError, ScimType, builtin};
use serde_json::{Map, Value, json};

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::String),
        prop_oneof![
            Just("True"),
            Just("false"),
            Just("2024-02-29T12:00:00+05:30"),
            Just("TWFu"),
            Just("42")
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Attribute names of the User, Group and Enterprise schemas in random casing, plus strangers.
fn key() -> impl Strategy<Value = String> {
    let names = [
        "userName",
        "name",
        "givenName",
        "familyName",
        "displayName",
        "active",
        "password",
        "emails",
        "value",
        "type",
        "primary",
        "display",
        "phoneNumbers",
        "addresses",
        "country",
        "groups",
        "roles",
        "x509Certificates",
        "externalId",
        "id",
        "meta",
        "members",
        "$ref",
        "manager",
        "employeeNumber",
        "schemas",
        "title",
        "shoeSize",
        builtin::ENTERPRISE_USER,
        "urn:example:unknown:1.0:Thing",
    ];
    (prop::sample::select(names.to_vec()), any::<u32>()).prop_map(|(name, mask)| {
        name.chars()
            .enumerate()
            .map(|(i, c)| {
                if mask >> (i % 32) & 1 == 1 {
                    c.to_ascii_uppercase()
                } else {
                    c
                }
            })
            .collect()
    })
}

/// A body that often is a valid User: schemas and userName are usually there.
fn user_body() -> impl Strategy<Value = Value> {
    (
        prop::collection::vec((key(), any_json()), 0..8),
        any::<bool>(),
        any::<bool>(),
        "[a-z]{1,8}",
    )
        .prop_map(|(pairs, with_schemas, with_ext, user_name)| {
            let mut obj: Map<String, Value> = pairs.into_iter().collect();
            if with_schemas {
                let mut schemas = vec![json!(builtin::USER)];
                if with_ext {
                    schemas.push(json!(builtin::ENTERPRISE_USER));
                }
                obj.insert("schemas".into(), Value::Array(schemas));
            }
            obj.insert("userName".into(), Value::String(user_name));
            Value::Object(obj)
        })
}

fn options() -> impl Strategy<Value = NormalizeOptions> {
    prop_oneof![
        Just(NormalizeOptions::strict()),
        Just(NormalizeOptions::lenient())
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn normalize_is_idempotent(body in user_body(), options in options()) {
        let registry = Registry::new();
        if let Ok((_, once)) = registry.normalize(Some("User"), body, Mode::Create, &options) {
            let (_, twice) = registry
                .normalize(Some("User"), Value::Object(once.clone()), Mode::Create, &NormalizeOptions::strict())
                .expect("a normalized resource is valid under the strict options");
            prop_assert_eq!(&twice, &once);
            // Read-only input never survives.
            for k in ["id", "meta", "groups"] {
                prop_assert!(once.get(k).is_none());
            }
        }
    }

    /// The tolerance report names exactly the readings strict options refuse: a body strict
    /// options accept needs none under lenient ones, and one they refuse needs some (or is
    /// refused under lenient options too). Strict options never report one.
    #[test]
    fn tolerances_are_reported_exactly_when_needed(body in user_body()) {
        let registry = Registry::new();
        let strict = registry.normalize_reporting(Some("User"), body.clone(), Mode::Create, &NormalizeOptions::strict());
        let lenient = registry.normalize_reporting(Some("User"), body, Mode::Create, &NormalizeOptions::lenient());
        if let Ok((_, _, t)) = &strict {
            prop_assert!(t.is_empty(), "strict reported {:?}", t.names().collect::<Vec<_>>());
        }
        match (&strict, &lenient) {
            (Ok((_, a, _)), Ok((_, b, t))) => {
                prop_assert_eq!(a, b);
                prop_assert!(t.is_empty(), "{:?}", t.names().collect::<Vec<_>>());
            }
            (Err(_), Ok((_, _, t))) => prop_assert!(!t.is_empty(), "lenient accepted what strict refused, and reported no tolerance"),
            _ => {}
        }
    }

    #[test]
    fn normalize_never_panics_and_errors_are_client_errors(body in any_json(), options in options()) {
        let registry = Registry::new();
        for rt in [None, Some("User"), Some("Group")] {
            if let Err(e) = registry.normalize(rt, body.clone(), Mode::Create, &options) {
                prop_assert!(e.is_client_error(), "{e}");
                prop_assert!(e.scim_type().is_some());
                prop_assert!(!e.to_string().is_empty());
            }
        }
    }

    #[test]
    fn projection_honors_returned(
        body in user_body(),
        attributes in prop::collection::vec(projection_path(), 0..4),
        excluded in prop::collection::vec(projection_path(), 0..4),
    ) {
        let registry = Registry::new();
        let users = registry.bind("User").unwrap();
        if let Ok((_, mut stored)) = registry.normalize(Some("User"), body, Mode::Create, &NormalizeOptions::lenient()) {
            stored.insert("id".into(), json!("id-1"));
            stored.insert("password".into(), json!("secret"));
            let out = users.project(&stored, &attributes, &excluded);
            prop_assert!(out.keys().all(|k| !k.eq_ignore_ascii_case("password")));
            prop_assert_eq!(out.get("id"), Some(&json!("id-1")));
            prop_assert_eq!(out.get("schemas"), stored.get("schemas"));
            // Projection only removes: every value it returns was stored.
            for (k, _) in &out {
                prop_assert!(stored.contains_key(k));
            }
        }
    }

    #[test]
    fn attr_paths_round_trip(urn in prop::option::of(urn()), name in attr_name(), sub in prop::option::of(attr_name())) {
        let mut path = AttrPath::new(name);
        if let Some(urn) = urn { path = path.with_urn(urn); }
        if let Some(sub) = sub { path = path.with_sub_attr(sub); }
        let text = path.to_string();
        prop_assert_eq!(AttrPath::parse(&text).unwrap(), path);
    }

    #[test]
    fn attr_path_parse_never_panics(text in "\\PC{0,40}") {
        if let Ok(p) = AttrPath::parse(&text) {
            prop_assert_eq!(p.to_string(), text);
        }
    }

    #[test]
    fn resources_round_trip_through_text(body in user_body()) {
        let text = serde_json::to_string(&body).unwrap();
        prop_assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), body);
    }

    #[test]
    fn messages_round_trip(
        ops in prop::collection::vec((0..3usize, prop::option::of("[a-z]{1,8}"), prop::option::of(any_json())), 0..5),
        status in 100u16..600,
        t in prop::sample::select(ScimType::ALL.to_vec()),
        detail in "\\PC{0,30}",
    ) {
        let kinds = [PatchOpKind::Add, PatchOpKind::Remove, PatchOpKind::Replace];
        let patch = PatchOp::new(ops.into_iter().map(|(k, p, v)| PatchOperation::new(kinds[k], p, v)).collect());
        let text = serde_json::to_string(&patch).unwrap();
        prop_assert_eq!(serde_json::from_str::<PatchOp>(&text).unwrap(), patch);

        let err = ScimError::new(status, Some(t), detail);
        let text = serde_json::to_string(&err).unwrap();
        prop_assert_eq!(serde_json::from_str::<ScimError>(&text).unwrap(), err);
    }
}

fn attr_name() -> impl Strategy<Value = String> {
    "[a-zA-Z][a-zA-Z0-9_-]{0,10}"
}

fn urn() -> impl Strategy<Value = String> {
    "urn:[a-z]{1,5}(:[a-zA-Z0-9.]{1,6}){1,4}"
}

fn projection_path() -> impl Strategy<Value = AttrPath> {
    let paths = [
        "userName",
        "password",
        "id",
        "emails",
        "emails.value",
        "emails.primary",
        "name.givenName",
        "groups",
        "meta",
        "active",
        "PASSWORD",
        "shoeSize",
        builtin::ENTERPRISE_USER,
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        "urn:ietf:params:scim:schemas:core:2.0:User:password",
    ];
    prop::sample::select(paths.to_vec()).prop_map(|p| AttrPath::parse(p).unwrap())
}
