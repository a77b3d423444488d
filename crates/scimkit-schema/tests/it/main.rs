//! Integration tests of scimkit-schema: the RFC 7643 examples, normalization, projection,
//! custom schemas, protocol messages, and properties.

mod corpus;
mod messages;
mod normalize;
mod projection;
mod properties;
mod registry;
mod rfc_examples;

use serde_json::Value;

/// Reads a fixture under `tests/fixtures/`.
pub(crate) fn fixture(path: &str) -> Value {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{full}: {e}"))
}
