//! HTTP-level integration tests of scimkit-server: requests through [`Scim::handle`] over the
//! memory store with a fixed clock, and one smoke test through hyper on `127.0.0.1:0`.
//!
//! - `support`: the harness (a service with tenant `acme` and its token; send and parse).
//! - `resources`: POST, GET, PUT, DELETE of Users and Groups; passwords; uniqueness.
//! - `patch`: PATCH answers, `Prefer: return=minimal`, Entra ID's shapes, no-op patches.
//! - `groups`: membership, filtered member removal, `User.groups` direct and indirect.
//! - `lists`: filters, sorting, index and cursor paging, projection, `.search`.
//! - `etags`: `If-Match` and `If-None-Match`.
//! - `errors`: media types, bad JSON, 405 with `Allow`, 404, 413, `Accept`.
//! - `auth`, `tenants`, `ratelimit`: bearer tokens, tenant isolation, 429.
//! - `discovery`: `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`, `/Me`.
//! - `bulk`: `/Bulk` with bulkId references, cycles and `failOnErrors`.
//! - `cache`: users read through the cache of reads, and the responses kept for them.
//! - `console`: the admin console's pages, login, CSRF and escaping.
//! - `reports`: the deprovisioning report, over HTTP and in Rust.
//! - `smoke`: raw HTTP/1.1 over a socket, and graceful shutdown.
//! - `idp`: the identity providers' documented request sequences (`tests/idp/*.json`),
//!   replayed through the core and over HTTP.
//!
//! [`Scim::handle`]: scimkit_server::Scim::handle

mod access;
mod auth;
mod bulk;
mod cache;
mod console;
mod discovery;
mod errors;
mod etags;
mod groups;
mod idp;
mod jit;
mod limits;
mod lists;
mod patch;
mod ratelimit;
mod reconcile;
mod reports;
mod resources;
mod smoke;
mod support;
mod tenants;
