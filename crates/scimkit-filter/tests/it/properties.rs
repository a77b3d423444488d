//! Property tests: printing and parsing round-trip for generated trees, the parser never
//! panics, and the evaluator obeys the laws of logic.

use proptest::prelude::*;
use scimkit_filter::{
    AttrExpr, AttrPath, CompValue, CompareOp, Filter, PatchPath, ValuePath, parse, parse_patch_path,
};
use scimkit_schema::Registry;
use serde_json::{Map, Value, json};

fn attr_name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z][a-zA-Z0-9_-]{0,8}",
        // Names that look like keywords or operators.
        prop::sample::select(vec![
            "and", "or", "not", "Not", "eq", "pr", "true", "null", "andy", "order", "$ref"
        ])
        .prop_map(str::to_owned),
    ]
}

fn attr_path(with_urn: bool) -> impl Strategy<Value = AttrPath> {
    let urn = if with_urn {
        prop::option::of("urn:[a-z]{1,5}(:[a-zA-Z0-9.]{1,6}){1,3}").boxed()
    } else {
        Just(None).boxed()
    };
    (urn, attr_name(), prop::option::of(attr_name())).prop_map(|(urn, name, sub)| {
        let mut path = AttrPath::new(name);
        if let Some(urn) = urn {
            path = path.with_urn(urn);
        }
        if let Some(sub) = sub {
            path = path.with_sub_attr(sub);
        }
        path
    })
}

fn comp_value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        Just(CompValue::Null),
        any::<bool>().prop_map(CompValue::Bool),
        any::<i64>().prop_map(CompValue::Int),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(CompValue::Decimal),
        any::<String>().prop_map(|s| CompValue::Str(s.into())),
    ]
}

fn attr_expr(with_urn: bool) -> impl Strategy<Value = Filter> {
    (
        attr_path(with_urn),
        prop::option::of((prop::sample::select(CompareOp::ALL.to_vec()), comp_value())),
    )
        .prop_map(|(path, cmp)| match cmp {
            None => Filter::Attr(AttrExpr::Present(path)),
            Some((op, value)) => Filter::Attr(AttrExpr::Compare(path, op, value)),
        })
}

/// Any tree the parser can produce: `and`/`or` with at least two operands, value paths on
/// attributes without a sub-attribute, and no value path inside another.
fn filter(in_brackets: bool) -> BoxedStrategy<Filter> {
    let leaf = attr_expr(!in_brackets).boxed();
    let leaf = if in_brackets {
        leaf
    } else {
        prop_oneof![
            4 => leaf,
            1 => (attr_name(), filter(true)).prop_map(|(name, inner)| Filter::ValuePath(ValuePath {
                attr: AttrPath::new(name),
                filter: Box::new(inner),
            })),
        ]
        .boxed()
    };
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|f| Filter::Not(Box::new(f))),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Filter::And),
            prop::collection::vec(inner, 2..4).prop_map(Filter::Or),
        ]
    })
    .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn print_then_parse_is_identity(ast in filter(false)) {
        let printed = ast.to_string();
        let parsed = parse(&printed).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(&parsed, &ast, "{}", printed);
        // Printing is stable under repeated round trips.
        prop_assert_eq!(parsed.to_string(), printed);
    }

    #[test]
    fn patch_paths_round_trip(attr in attr_path(true), inner in prop::option::of(filter(true)), sub in prop::option::of(attr_name())) {
        let path = match inner {
            Some(inner) => {
                let mut attr = attr;
                attr.sub_attr = None;
                PatchPath { attr, filter: Some(inner), sub_attr: sub }
            }
            None => PatchPath { attr, filter: None, sub_attr: None },
        };
        let printed = path.to_string();
        let parsed = parse_patch_path(&printed).map_err(|e| TestCaseError::fail(format!("{e}")))?;
        prop_assert_eq!(parsed, path);
    }

    #[test]
    fn the_parser_never_panics(input in "[a-zA-Z0-9 ()\\[\\]\".:$\\\\\\-_eqnotandrpu]{0,60}") {
        for result in [parse(&input).map(|f| f.to_string()), parse_patch_path(&input).map(|p| p.to_string())] {
            match result {
                // Whatever parses prints to something that parses again.
                Ok(printed) => prop_assert!(parse(&printed).is_ok() || parse_patch_path(&printed).is_ok()),
                Err(e) => {
                    prop_assert!(e.offset() <= input.len());
                    prop_assert!(!e.to_string().is_empty());
                }
            }
        }
    }

    #[test]
    fn the_parser_never_panics_on_any_text(input in "\\PC{0,40}") {
        if let Err(e) = parse(&input) {
            let _ = e.to_string();
            prop_assert!(input.is_char_boundary(e.span().start) && input.is_char_boundary(e.span().end));
        }
    }

    #[test]
    fn not_negates_where_defined(f in user_filter(), user in user()) {
        let registry = Registry::new();
        let users = registry.bind("User").unwrap();
        if let Ok(value) = f.matches(&user, &users) {
            let negated = Filter::Not(Box::new(f));
            prop_assert_eq!(negated.matches(&user, &users), Ok(!value));
            // And it survives printing.
            prop_assert_eq!(parse(&negated.to_string()).unwrap().matches(&user, &users), Ok(!value));
        }
    }

    #[test]
    fn and_or_commute(a in user_filter(), b in user_filter(), user in user()) {
        let registry = Registry::new();
        let users = registry.bind("User").unwrap();
        let eval = |f: Filter| f.matches(&user, &users);
        if let (Ok(x), Ok(y)) = (a.matches(&user, &users), b.matches(&user, &users)) {
            prop_assert_eq!(eval(Filter::And(vec![a.clone(), b.clone()])), Ok(x && y));
            prop_assert_eq!(eval(Filter::And(vec![b.clone(), a.clone()])), Ok(x && y));
            prop_assert_eq!(eval(Filter::Or(vec![a.clone(), b.clone()])), Ok(x || y));
            prop_assert_eq!(eval(Filter::Or(vec![b, a])), Ok(x || y));
        }
    }
}

/// Filters over real User attributes, with values of the right types most of the time.
fn user_filter() -> impl Strategy<Value = Filter> {
    let leaf = prop_oneof![
        (
            prop::sample::select(vec!["eq", "ne", "co", "sw", "ew", "gt", "lt"]),
            "[a-cA-C]{0,3}"
        )
            .prop_map(|(op, v)| parse(&format!("userName {op} \"{v}\"")).unwrap()),
        any::<bool>().prop_map(|b| parse(&format!("active eq {b}")).unwrap()),
        prop::sample::select(vec!["work", "home", "WORK"])
            .prop_map(|t| parse(&format!("emails[type eq \"{t}\"]")).unwrap()),
        "[a-c]{0,2}".prop_map(|v| parse(&format!("emails.value co \"{v}\"")).unwrap()),
        prop::sample::select(vec![
            "title",
            "name.givenName",
            "emails",
            "nickName",
            "shoeSize"
        ])
        .prop_map(|a| parse(&format!("{a} pr")).unwrap()),
        (prop::sample::select(vec!["gt", "le"]), 2000..2030i32).prop_map(|(op, y)| parse(
            &format!("meta.lastModified {op} \"{y}-06-01T00:00:00Z\"")
        )
        .unwrap()),
        // Ill-typed on purpose: an error, never a panic.
        Just(parse("active gt true").unwrap()),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            inner.clone().prop_map(|f| Filter::Not(Box::new(f))),
            prop::collection::vec(inner.clone(), 2..3).prop_map(Filter::And),
            prop::collection::vec(inner, 2..3).prop_map(Filter::Or),
        ]
    })
}

fn user() -> impl Strategy<Value = Map<String, Value>> {
    (
        "[a-cA-C]{0,3}",
        prop::option::of(any::<bool>()),
        prop::option::of("[a-c]{0,2}"),
        prop::collection::vec(("[a-c]{1,3}", prop::sample::select(vec!["work", "home"])), 0..3),
        2000..2030i32,
    )
        .prop_map(|(user_name, active, title, emails, year)| {
            let mut user = json!({
                "userName": user_name,
                "emails": emails.into_iter().map(|(v, t)| json!({"value": v, "type": t})).collect::<Vec<_>>(),
                "meta": {"lastModified": format!("{year}-01-01T00:00:00Z")},
            });
            if let Some(active) = active {
                user["active"] = json!(active);
            }
            if let Some(title) = title {
                user["title"] = json!(title);
            }
            user.as_object().unwrap().clone()
        })
}
