//! A SCIM 2.0 service provider (RFC 7644): the endpoints, multi-tenant bearer-token auth,
//! rate limits and ETags, as one function from an [`http::Request<Bytes>`](http::Request) to an
//! [`http::Response<Bytes>`](http::Response) over a [`scimkit_store::Store`] — and the small
//! hyper/tokio module ([`transport`]) that puts it on a socket.
//!
//! This crate does **not** parse filters, apply PATCH or store anything itself (the crates
//! below do), and its core ([`Scim::handle`]) opens no socket: axum or actix users call it
//! with their own request types converted to `http` ones, and tests call it directly.
//!
//! ```text
//! scimkit-cli ─► scimkit-server ─► scimkit-store ─► scimkit-patch ─► scimkit-filter ─► scimkit-schema
//!                     └─► hyper, hyper-util, tokio (in `transport` only)
//! ```
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use bytes::Bytes;
//! use scimkit_server::{Config, Scim};
//! use scimkit_store::MemoryStore;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let registry = scimkit_schema::Registry::new();
//! let store = Arc::new(MemoryStore::new(registry.clone()));
//! let scim = Scim::new(store, registry, Config::default());
//! scim.create_tenant("acme").await?;
//! let token = scim.issue_token("acme", Some("okta"), None).await?;
//!
//! let request = http::Request::post("/scim/v2/acme/Users")
//!     .header("Authorization", format!("Bearer {}", token.token))
//!     .header("Content-Type", "application/scim+json")
//!     .body(Bytes::from(r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen"}"#))?;
//! let response = scim.handle(request).await;
//! assert_eq!(response.status(), 201);
//! assert!(response.headers()["location"].to_str()?.contains("/scim/v2/acme/Users/"));
//!
//! // Another tenant's URL with this token: 401.
//! let request = http::Request::get("/scim/v2/other/Users")
//!     .header("Authorization", format!("Bearer {}", token.token))
//!     .body(Bytes::new())?;
//! assert_eq!(scim.handle(request).await.status(), 401);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Endpoints
//!
//! Under `{base_path}/{tenant}` (default `/scim/v2/{tenant}`): every resource type's endpoint
//! (`/Users`, `/Groups`, custom ones) with `GET` (list, filter, sort, index and cursor
//! pagination, `attributes`/`excludedAttributes`), `POST`, and `GET`/`PUT`/`PATCH`/`DELETE` on
//! `/{id}`; `POST /.search` at the root and per endpoint; `/Bulk`; `/ServiceProviderConfig`,
//! `/ResourceTypes`, `/Schemas`; `/Me` answers 501; `/Events` serves the tenant's events as
//! Security Event Tokens (RFC 8936 poll), which [`events`] also pushes (RFC 8935) or hands to
//! in-process hooks. See `docs/server.md` and `docs/events.md`. The host application's own
//! API, `/app/v1/{tenant}` (access checks, group-to-role rules, the deprovisioning report),
//! is in [`access`] and [`reports`], described in `docs/host-app.md`.
//!
//! # Crate features
//!
//! None.
//!
//! # Input limits
//!
//! Request bodies up to [`Config::max_payload_size`] (1 MiB by default; 413 above), `/Bulk`
//! up to [`Config::bulk_max_operations`] operations, list pages up to
//! [`Config::max_results`], each request up to [`Config::request_timeout`] (503 after), and
//! per-token rate limits ([`RateLimit`]; 429 with `Retry-After`). Filters and paths have the
//! limits of `scimkit-filter`.
//!
//! # Conformance
//!
//! [RFC 7644](https://www.rfc-editor.org/rfc/rfc7644) §3.1–§3.14 and §4;
//! [RFC 9865](https://www.rfc-editor.org/rfc/rfc9865) cursors;
//! [RFC 6750](https://www.rfc-editor.org/rfc/rfc6750) bearer tokens and `WWW-Authenticate`.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod access;
mod auth;
mod bulk;
mod config;
mod console;
mod discovery;
mod env;
pub mod events;
mod ratelimit;
pub mod reconcile;
pub mod reports;
mod requestlog;
mod resources;
mod service;
pub mod transport;

pub use access::{
    Access, AccessGroup, GroupMatch, JitKey, JitMode, JitSettings, Login, LoginOutcome, RoleRule,
    UserKey,
};
pub use config::{Config, RateLimit};
pub use env::{Env, FixedEnv, SystemEnv};
pub use events::{Dispatcher, DispatcherHandle, EventHook, EventsConfig, PushTarget};
pub use reports::{
    ConsumerPosition, Delivery, DeliveryState, DeprovisionKind, DeprovisioningEntry,
    DeprovisioningReport,
};
pub use service::{IssuedToken, PROFILES, SCIM_JSON, Scim};
