//! Storage for SCIM resources: the async [`Store`] trait that the server uses, with an
//! in-memory backend ([`MemoryStore`], for tests and embedding) and the default embedded
//! backend, SQLite ([`SqliteStore`]: one local file, WAL, no setup), and PostgreSQL
//! ([`PgStore`]) for deployments where several instances share one database.
//!
//! Every resource call is scoped to a tenant; nothing crosses tenants. Each resource has an
//! integer version (its ETag is `W/"<version>"`); conditional writes compare and set the version
//! inside the store. Group membership is relational (a member table), not a JSON array, so changing a
//! few members of a huge group touches a few rows. Every change appends, in the same
//! transaction, an event to a per-tenant outbox and an audit record. `userName` and the
//! `uniqueness: server` attributes of custom schemas are unique in the database itself. Searches
//! translate the indexed parts of a filter to SQL, evaluate the whole filter on the rows that
//! returns, and stream them through a page-sized selection. When the SQL answers the filter
//! exactly, or there is none, and the order is the default one, only the page's bodies are
//! read. Soft delete, per tenant, keeps a
//! tombstone of each deleted resource until purged. See `docs/store.md` for what each backend
//! guarantees and how it is tested.
//!
//! The store also keeps the server's credentials: [`Tenant`] records (names checked here:
//! `[a-z0-9-]`, 1 to 64 characters, not starting with `-`) and bearer-token records
//! ([`TokenRecord`]: a digest of the secret, never the secret), found by token id alone in
//! one primary-key read, revoked only through their own tenant, with their last use kept to
//! the minute. Creating a tenant or a token and revoking a token are audited like changes.
//!
//! For the admin console, the store keeps a per-tenant provisioning log of the SCIM requests
//! the server answered ([`RequestRecord`]), numbered per tenant, listed newest first with
//! filters ([`RequestQuery`]), and pruned to the newest so many. It keeps the bodies it is
//! given: redacting and truncating them is the server's job.
//!
//! This crate does **not** validate resources or apply PATCH (callers use `scimkit-schema` and
//! `scimkit-patch` first), assign ids, generate or hash token secrets, or read the clock: ids,
//! digests and the time of each change are arguments ([`Ctx`]), so tests are deterministic.
//!
//! ```text
//! scimkit-cli ─► scimkit-server ─► scimkit-store ─► scimkit-patch ─► scimkit-filter ─► scimkit-schema
//! ```
//!
//! # Example
//!
//! ```
//! use scimkit_store::{Ctx, MemoryStore, Query, Store};
//! use serde_json::json;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store = MemoryStore::new(scimkit_schema::Registry::new());
//! let ctx = Ctx::at("2026-11-28T12:00:00Z");
//! let body = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "bjensen"});
//! let created = store.create("acme", "User", "u1", body.as_object().unwrap().clone(), &ctx).await?;
//! assert_eq!(created.version, 1);
//! // userName is unique per tenant, case-insensitively.
//! let dup = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "BJensen"});
//! let err = store.create("acme", "User", "u2", dup.as_object().unwrap().clone(), &ctx).await.unwrap_err();
//! assert_eq!(err.scim_type().map(|t| t.as_str()), Some("uniqueness"));
//! // Another tenant is another directory.
//! assert!(store.get("other", "User", "u1").await?.is_none());
//! let page = store.search("acme", "User", &Query::filter(r#"userName eq "BJENSEN""#)?).await?;
//! assert_eq!(page.total, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # Crate features
//!
//! None. SQLite is compiled in (rusqlite with `bundled`).
//!
//! # Conformance
//!
//! RFC 7644 §3.3 (create, `uniqueness`), §3.4.1–§3.4.2 (retrieval, filtering, sorting,
//! pagination), §3.5.1 (replace), §3.6 (delete), §3.14 (versions and ETags); RFC 9865
//! (cursor pagination).

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod cached;
mod error;
mod memory;
mod model;
mod postgres;
mod query;
mod sqlite;

pub use cached::CachedStore;
pub use error::StoreError;
pub use memory::MemoryStore;
pub use model::{
    AuditRecord, Ctx, Event, EventKind, GroupRef, Member, Page, RequestQuery, RequestRecord, Store,
    Stored, Tenant, TokenRecord, Tombstone,
};
pub use postgres::PgStore;
pub use query::Query;
pub use sqlite::SqliteStore;
