//! The harness for the `patch_apply` fuzz target (and its corpus replay test). Not part of
//! the public API.

use serde_json::Value;

use crate::{Profile, apply};

/// `data` is a JSON array `[resource, patch]` (a User if the resource's `schemas` do not name
/// a Group). Applying must not panic; a success must yield a resource that validates, and an
/// error must leave the input untouched (it is borrowed, so that holds by construction).
pub fn patch_apply(data: &[u8]) {
    let Ok(Value::Array(mut pair)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if pair.len() != 2 {
        return;
    }
    let patch = pair.pop().expect("two items");
    let Value::Object(resource) = pair.pop().expect("two items") else {
        return;
    };
    let registry = scimkit_schema::Registry::new();
    let is_group = resource
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().any(|u| u == scimkit_schema::builtin::GROUP));
    let bound = registry
        .bind(if is_group { "Group" } else { "User" })
        .expect("built-in types");
    for profile in [Profile::strict(), Profile::lenient()] {
        if let Ok(patched) = apply(&bound, &resource, patch.clone(), &profile, None) {
            check_valid(&bound, &resource, patched.resource);
        }
    }
}

/// A patched resource is valid: normalizing it (as a replace of the original, so immutable
/// values must be kept) succeeds, if the original itself was valid.
fn check_valid(
    bound: &scimkit_schema::Bound<'_>,
    original: &serde_json::Map<String, Value>,
    patched: serde_json::Map<String, Value>,
) {
    use scimkit_schema::{Mode, NormalizeOptions};
    let strict = NormalizeOptions::strict();
    let Ok(valid_original) =
        bound.normalize(Value::Object(original.clone()), Mode::Create, &strict)
    else {
        return;
    };
    let result = bound.normalize(
        Value::Object(patched),
        Mode::Replace {
            existing: &valid_original,
        },
        &strict,
    );
    assert!(
        result.is_ok(),
        "a patch produced an invalid resource: {result:?}"
    );
}
