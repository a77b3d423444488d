//! Harnesses for the fuzz targets in `fuzz/` (and the corpus replay tests). Not part of the
//! public API.

use crate::{Filter, parse, parse_attr_list, parse_patch_path};

/// Parses `data` as a filter; a parsed filter must print, re-parse to the same tree, and
/// print the same text again. Evaluates it against a sample user: it must not panic.
pub fn filter_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(filter) = parse(text) else { return };
    let printed = filter.to_string();
    let again: Filter = parse(&printed)
        .unwrap_or_else(|e| panic!("canonical form does not parse: {printed:?}: {e}"));
    assert_eq!(
        again, filter,
        "round trip changed the tree: {text:?} -> {printed:?}"
    );
    assert_eq!(again.to_string(), printed, "printing is not stable");
    let registry = scimkit_schema::Registry::new();
    let users = registry.bind("User").expect("built-in User");
    let user = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": "2819c223", "userName": "bjensen", "active": true,
        "name": {"givenName": "Barbara", "familyName": "Jensen"},
        "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}],
        "meta": {"lastModified": "2011-05-13T04:42:34Z"},
    });
    let _ = filter.matches(user.as_object().expect("an object"), &users);
}

/// Parses `data` as a PATCH path and as an attribute list; parsed paths must round-trip.
pub fn path_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(path) = parse_patch_path(text) {
        let printed = path.to_string();
        let again = parse_patch_path(&printed)
            .unwrap_or_else(|e| panic!("canonical path does not parse: {printed:?}: {e}"));
        assert_eq!(
            again, path,
            "round trip changed the path: {text:?} -> {printed:?}"
        );
    }
    if let Ok(list) = parse_attr_list(text) {
        for path in list {
            let printed = path.to_string();
            assert_eq!(
                crate::parse_attr_path(&printed).ok(),
                Some(path),
                "{printed:?}"
            );
        }
    }
}
