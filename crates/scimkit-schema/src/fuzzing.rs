//! Harnesses for the fuzz targets in `fuzz/` (and the corpus replay tests). Not part of the
//! public API.

use serde_json::Value;

use crate::{Mode, NormalizeOptions, Registry};

/// Parses `data` as JSON and normalizes it as a User and a Group, strictly and leniently. It
/// must not panic; an accepted resource must normalize to itself again, and errors must be
/// the client's.
pub fn normalize(data: &[u8]) {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let registry = Registry::new();
    for options in [NormalizeOptions::strict(), NormalizeOptions::lenient()] {
        for rt in [None, Some("User"), Some("Group")] {
            match registry.normalize(rt, body.clone(), Mode::Create, &options) {
                Ok((name, once)) => {
                    let (_, twice) = registry
                        .normalize(
                            Some(&name),
                            Value::Object(once.clone()),
                            Mode::Create,
                            &NormalizeOptions::strict(),
                        )
                        .expect("a normalized resource is valid");
                    assert_eq!(twice, once, "normalize is not idempotent");
                    let stored = once;
                    let bound = registry.bind(&name).expect("bound");
                    let replaced = bound.normalize(
                        body.clone(),
                        Mode::Replace { existing: &stored },
                        &options,
                    );
                    assert!(
                        replaced.is_ok(),
                        "replacing with the same body failed: {replaced:?}"
                    );
                }
                Err(e) => assert!(e.is_client_error(), "{e}"),
            }
        }
    }
}
