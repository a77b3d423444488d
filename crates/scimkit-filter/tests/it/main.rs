//! Integration tests of scimkit-filter.
//!
//! - `vectors`: the data-driven table test over `tests/fixtures/{valid,invalid,paths}.json`
//!   (RFC 7644 examples, filters and paths captured from identity providers, edge cases).
//!
//! - `eval`, `sort`: evaluation and sorting against resources with their schemas.

mod corpus;
mod eval;
mod properties;
mod sort;
mod vectors;
