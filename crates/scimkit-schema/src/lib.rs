//! The SCIM 2.0 resource model (RFC 7643): attribute and schema definitions, the built-in and
//! custom schemas, resources, validation and normalization of request bodies, projection of
//! responses, and the protocol messages of RFC 7644.
//!
//! This crate does **not** parse filters or PATCH paths with value filters (that is
//! `scimkit-filter`), apply PATCH operations (`scimkit-patch`), store anything
//! (`scimkit-store`) or speak HTTP (`scimkit-server`). It does no IO, reads no clock and
//! draws no random numbers: schemas are loaded from JSON values the caller has read.
//!
//! ```text
//! scimkit-cli ─► scimkit-server ─► scimkit-store ─► scimkit-patch ─► scimkit-filter ─► scimkit-schema
//! ```
//!
//! # Example
//!
//! Validate and normalize a create request the way a service provider stores it, then
//! project it for the response:
//!
//! ```
//! use scimkit_schema::{AttrPath, Mode, NormalizeOptions, Registry};
//! use serde_json::json;
//!
//! let registry = Registry::new();
//! let body = json!({
//!     "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
//!     "USERNAME": "bjensen",
//!     "active": "True",
//!     "title": null,
//!     "emails": {"value": "bjensen@example.com", "type": "work"},
//!     "password": "t1meMa$heen",
//! });
//! // Entra ID and OneLogin send shapes like these; the lenient options accept them.
//! let (resource_type, user) =
//!     registry.normalize(None, body, Mode::Create, &NormalizeOptions::lenient())?;
//! assert_eq!(resource_type, "User");
//! assert_eq!(user["userName"], "bjensen");
//! assert_eq!(user["active"], true);
//! assert!(user.get("title").is_none());
//! assert_eq!(user["emails"][0]["value"], "bjensen@example.com");
//!
//! // `password` is returned never; `emails` was not asked for.
//! let users = registry.bind("User").unwrap();
//! let shown = users.project(&user, &AttrPath::parse_list("userName,password")?, &[]);
//! assert_eq!(serde_json::Value::Object(shown), json!({
//!     "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
//!     "userName": "bjensen",
//! }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # What is here
//!
//! - [`AttributeDef`], [`Schema`], [`ResourceType`]: RFC 7643 §2, §6 and §7, with serde in
//!   the representation format of §8.7.
//! - [`builtin`]: User, Group, Enterprise User, and the ServiceProviderConfig, ResourceType
//!   and Schema schemas.
//! - [`Registry`]: the schemas and resource types of a service provider, extensible with
//!   custom schemas from JSON ([`Registry::load`]); [`Bound`] is one resource type with its
//!   schemas resolved.
//! - [`Resource`] with [`AttrPath`] access, and the typed views [`User`] and [`Group`].
//! - [`Bound::normalize`] / [`Registry::normalize`]: validation and normalization of create
//!   and replace bodies, with [`NormalizeOptions`] naming each tolerance for real IdPs.
//! - [`Projection`]: `attributes` / `excludedAttributes` and `returned`.
//! - [`messages`]: `ListResponse`, `Error` ([`ScimError`], [`ScimType`]), `PatchOp`, bulk,
//!   `SearchRequest`, `ServiceProviderConfig`, `meta`.
//!
//! # Crate features
//!
//! None. The crate depends on serde, serde_json (with `preserve_order`, so output keeps
//! schema order), chrono (dateTime parsing) and thiserror.
//!
//! # Input limits
//!
//! Normalization walks a `serde_json::Value`, whose depth serde_json already limits to 128
//! while parsing. Validation recurses at most as deep as the schema (two levels for RFC
//! schemas), whatever the input.
//!
//! # Conformance
//!
//! - [RFC 7643](https://www.rfc-editor.org/rfc/rfc7643) §2 (attributes, characteristics,
//!   data types), §3 (resources, `schemas`, common attributes), §4 (User, Group, Enterprise
//!   User), §5–§7 (service provider configuration, resource types, schemas), §8.7 (schema
//!   representations; the built-in schemas match them, see `docs/schemas.md` for the
//!   errata this crate follows).
//! - [RFC 7644](https://www.rfc-editor.org/rfc/rfc7644) §3.4.2.5 (projection), §3.10
//!   (attribute notation), §3.12 (errors, Table 9).
//! - [RFC 9865](https://www.rfc-editor.org/rfc/rfc9865) cursor fields in list responses
//!   and search requests.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod attribute;
pub mod builtin;
mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod messages;
mod normalize;
mod path;
mod projection;
mod registry;
mod resource;
mod schema;

pub use attribute::{AttributeDef, AttributeType, Mutability, Returned, Uniqueness};
pub use error::SchemaError;
pub use messages::{ScimError, ScimType};
pub use normalize::{
    Mode, NormalizeOptions, Tolerances, UnknownAttributes, UnknownSchemas, get_ignore_case,
    normalize_date_time, normalize_value, parse_date_time,
};
pub use path::AttrPath;
pub use projection::Projection;
pub use registry::{Bound, Owner, Registry, Target};
pub use resource::{Address, EnterpriseUser, Group, Manager, MultiValue, Name, Resource, User};
pub use schema::{
    RESOURCE_TYPE_SCHEMA, ResourceType, SCHEMA_SCHEMA, Schema, SchemaExtension, is_attr_name,
};
