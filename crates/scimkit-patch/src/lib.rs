//! The SCIM 2.0 PATCH engine (RFC 7644 §3.5.2): applies a PatchOp to a resource atomically,
//! validates every value it writes against the schema, protects read-only, immutable and
//! required attributes, reports what changed, and turns group membership changes into a
//! delta that a store can apply without loading the member list.
//!
//! This crate does **not** store anything, read a clock or speak HTTP: it takes a resource
//! and a request body and returns the new resource (or an error naming the operation and
//! path). Loading, version checks and writing are the store's and server's.
//!
//! ```text
//! scimkit-cli ─► scimkit-server ─► scimkit-store ─► scimkit-patch ─► scimkit-filter ─► scimkit-schema
//! ```
//!
//! # Example
//!
//! ```
//! use scimkit_patch::{Profile, apply};
//! use scimkit_schema::Registry;
//! use serde_json::json;
//!
//! let registry = Registry::new();
//! let users = registry.bind("User").unwrap();
//! let user = json!({
//!     "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
//!     "id": "2819c223", "userName": "bjensen", "active": true,
//!     "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true}],
//! });
//! // What Entra ID sends to deactivate a user and change an email.
//! let patch = json!({
//!     "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
//!     "Operations": [
//!         {"op": "Replace", "path": "active", "value": "False"},
//!         {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "babs@example.com"},
//!     ]
//! });
//! let patched = apply(&users, user.as_object().unwrap(), patch.clone(), &Profile::lenient(), None)?;
//! assert_eq!(patched.resource["active"], false);
//! assert_eq!(patched.resource["emails"][0]["value"], "babs@example.com");
//! assert_eq!(patched.changed_attributes, ["active", "emails"]);
//! let fired: Vec<&str> = patched.normalizers.iter().map(|n| n.as_str()).collect();
//! assert_eq!(fired, ["op-case", "string-booleans"]);
//!
//! // The same request under RFC rules is refused, and names the operation.
//! let err = apply(&users, user.as_object().unwrap(), patch, &Profile::strict(), None).unwrap_err();
//! assert_eq!(err.to_string(), "operation 0: `op` must be \"replace\" in lowercase, found \"Replace\"");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Semantics
//!
//! RFC 7644 §3.5.2, exactly, in the `strict` profile: `add` creates, merges complex values
//! and appends to lists without duplicating a value (references such as `members` are the
//! same value when their `value` id is); `replace` replaces (a list whole, a complex value
//! sub-attribute by sub-attribute, filtered values one by one, `noTarget` when a filter
//! matches nothing); `remove` needs a path, removes filtered values only, unassigns a list
//! that empties, and refuses required attributes (`mutability`). Setting `primary` on a value
//! sets it to false on the others. All operations apply, in order, or none.
//!
//! # Normalizers and profiles
//!
//! What real identity providers send that the RFC does not allow is accepted by named
//! [`Normalizer`]s, grouped into [`Profile`]s (`strict`, `lenient` — the default, with every
//! normalizer — and one per IdP). [`Patched::normalizers`] says which fired.
//!
//! # Large groups
//!
//! Pass a [`MemberIndex`] (a `BTreeSet` of member ids, or a store's index) and omit `members`
//! from the resource: member operations are checked with `contains` and come back as a
//! [`MemberDelta`], so adding or removing k members costs O(k log n) whatever the group's
//! size. Member filters must select by id (`members[value eq "…"]`, or several joined by `or`).
//!
//! # Crate features
//!
//! None.
//!
//! # Input limits
//!
//! Paths go through `scimkit-filter`'s limits (64 KiB, nesting 64). Values are
//! `serde_json::Value`s, whose nesting serde_json limits while parsing.
//!
//! # Conformance
//!
//! [RFC 7644 §3.5.2](https://www.rfc-editor.org/rfc/rfc7644#section-3.5.2) (PATCH) and its
//! sub-sections; `docs/patch.md` lists every normalizer and where it departs from the RFC.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod engine;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod members;
mod profile;

pub use engine::{Change, Patched, apply, apply_in_place, apply_slice_in_place};
pub use error::{PatchError, PatchErrorKind};
pub use members::{MemberDelta, MemberIndex};
pub use profile::{Normalizer, Profile};
