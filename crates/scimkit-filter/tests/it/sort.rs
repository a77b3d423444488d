//! `sortBy` / `sortOrder` (RFC 7644 §3.4.2.3).

use scimkit_filter::{EvalError, Sorter, parse_attr_path};
use scimkit_schema::Registry;
use scimkit_schema::messages::SortOrder;
use serde_json::{Map, Value, json};

fn users() -> Vec<Map<String, Value>> {
    [
        json!({"id": "1", "userName": "carol", "name": {"familyName": "Zeta"},
               "emails": [{"value": "z@x.org"}, {"value": "a@x.org", "primary": true}],
               "meta": {"lastModified": "2024-03-01T00:00:00Z"}}),
        json!({"id": "2", "userName": "Alice", "emails": [{"value": "m@x.org"}, {"value": "b@x.org"}],
               "meta": {"lastModified": "2024-01-01T00:00:00+05:00"}}),
        json!({"id": "3", "userName": "bob", "name": {"familyName": "alpha"},
               "meta": {"lastModified": "2023-12-31T20:00:00Z"}}),
        json!({"id": "4", "userName": "dave", "name": {}}),
    ]
    .into_iter()
    .map(|v| v.as_object().unwrap().clone())
    .collect()
}

fn order(path: &str, order: SortOrder) -> Vec<String> {
    let registry = Registry::new();
    let bound = registry.bind("User").unwrap();
    let sorter = Sorter::new(&bound, &parse_attr_path(path).unwrap(), order).unwrap();
    let mut list = users();
    sorter.sort(&mut list);
    list.iter()
        .map(|u| u["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn case_insensitive_strings() {
    assert_eq!(
        order("userName", SortOrder::Ascending),
        ["2", "3", "1", "4"]
    );
    assert_eq!(
        order("USERNAME", SortOrder::Descending),
        ["4", "1", "3", "2"]
    );
}

#[test]
fn missing_values_last_ascending_first_descending() {
    assert_eq!(
        order("name.familyName", SortOrder::Ascending),
        ["3", "1", "2", "4"]
    );
    assert_eq!(
        order("name.familyName", SortOrder::Descending),
        ["2", "4", "1", "3"]
    );
}

#[test]
fn multi_valued_sort_by_primary_else_first() {
    // carol: primary a@; alice: first m@; bob and dave: none.
    assert_eq!(
        order("emails.value", SortOrder::Ascending),
        ["1", "2", "3", "4"]
    );
    assert_eq!(order("emails", SortOrder::Ascending), ["1", "2", "3", "4"]);
}

#[test]
fn date_times_sort_chronologically() {
    // alice's 2024-01-01T00:00+05:00 is 2023-12-31T19:00Z, before bob's 20:00Z.
    assert_eq!(
        order("meta.lastModified", SortOrder::Ascending),
        ["2", "3", "1", "4"]
    );
}

#[test]
fn unknown_attributes_keep_the_input_order() {
    assert_eq!(
        order("shoeSize", SortOrder::Ascending),
        ["1", "2", "3", "4"]
    );
    assert_eq!(
        order("shoeSize", SortOrder::Descending),
        ["1", "2", "3", "4"]
    );
}

#[test]
fn complex_attributes_need_a_sub_attribute() {
    let registry = Registry::new();
    let bound = registry.bind("User").unwrap();
    let err = Sorter::new(
        &bound,
        &parse_attr_path("name").unwrap(),
        SortOrder::Ascending,
    )
    .unwrap_err();
    assert!(matches!(err, EvalError::NotSortable { .. }), "{err}");
    assert_eq!(err.scim_type(), scimkit_schema::ScimType::InvalidValue);
}
