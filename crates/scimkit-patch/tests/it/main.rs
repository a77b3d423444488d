//! Integration tests of scimkit-patch.
//!
//! - `vectors`: the data-driven table test over `tests/fixtures/cases.json`: every PATCH
//!   example of RFC 7644 §3.5.2, request bodies as Microsoft Entra ID, Okta, OneLogin,
//!   JumpCloud and Google Workspace send them, and edge cases, each with the result the RFC
//!   and the vendors' documentation call for (resource, change report, membership delta,
//!   normalizers fired, or the error).
//! - `corpus`: the fuzz seeds and regressions of `patch_apply`, replayed.
//! - `properties`: results validate, failures change nothing, idempotent requests repeat
//!   without change.

mod corpus;
mod properties;
mod vectors;
