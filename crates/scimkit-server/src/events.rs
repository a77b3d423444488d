//! Events: every change the store records in a tenant's outbox (a user created, updated,
//! deactivated, reactivated or deleted; a group created, renamed or deleted; members added or
//! removed) as a SCIM Security Event Token (RFC 9967, RFC 8417), delivered to the host
//! application three ways:
//!
//! - **in process**: an [`EventHook`] run by a [`Dispatcher`];
//! - **push** (RFC 8935): a [`Dispatcher`] POSTs each SET, signed (HS256), to a
//!   [`PushTarget`], retrying with exponential backoff until it answers 202;
//! - **poll** (RFC 8936): the receiver POSTs to `{base}/{tenant}/Events`, acknowledging the
//!   SETs it has and fetching the next ones (enabled with [`configure`]).
//!
//! Each consumer (`hook:<name>`, `push:<name>`, `poll`) keeps its position in each tenant's
//! outbox in the store ([`Store::ack`](scimkit_store::Store::ack)), so delivery is at least
//! once and resumes after a restart; events go out in the tenant's order (`seq`), hence in
//! each resource's order, and a receiver deduplicates by `jti` (`<tenant>.<seq>`).
//! [`ConsumerStatus`] shows where each consumer stands (`GET {base}/{tenant}/Events`, or
//! [`DispatcherHandle::status`]).
//!
//! This module does **not** sign with keys other than a shared secret (no RS256/ES256, no
//! JWKS), speak TLS (push URLs are `http://`: put an HTTPS-terminating proxy in front of a
//! remote receiver), manage streams (RFC 8935/8936 leave stream configuration out; here it
//! is the host's code), or issue `feed:*` and `misc:asyncresp` events. See `docs/events.md`.
//!
//! The SET of an event is a pure function ([`set_claims`]) of the event, the resource as it
//! is now, and the issue time.
//!
//! # Example: revoking access when the directory says so
//!
//! A hook that revokes a user's sessions and API tokens when the identity provider
//! deactivates or deletes the user (the same example, with a push receiver, is in
//! `docs/events.md`):
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::sync::{Arc, Mutex};
//! use std::time::Duration;
//!
//! use bytes::Bytes;
//! use scimkit_server::events::{DeliveredEvent, Dispatcher, EventHook, async_trait};
//! use scimkit_server::{Config, Scim};
//! use scimkit_store::{EventKind, MemoryStore};
//!
//! /// The host application's records: sessions and API tokens by (tenant, SCIM user id).
//! #[derive(Debug, Default)]
//! struct Access {
//!     sessions: Mutex<BTreeMap<(String, String), Vec<String>>>,
//!     api_tokens: Mutex<BTreeMap<(String, String), Vec<String>>>,
//! }
//!
//! /// Revokes a user's sessions and API tokens when the user is deactivated or deleted.
//! #[derive(Debug)]
//! struct RevokeAccess(Arc<Access>);
//!
//! #[async_trait]
//! impl EventHook for RevokeAccess {
//!     async fn on_event(&self, tenant: &str, event: &DeliveredEvent) -> Result<(), String> {
//!         let e = &event.event;
//!         match (e.resource_type.as_str(), e.kind) {
//!             ("User", EventKind::Deactivated | EventKind::Deleted) => {
//!                 // Idempotent, as at-least-once delivery wants: revoking twice is once.
//!                 let key = (tenant.to_owned(), e.resource_id.clone());
//!                 let revoked = self.0.sessions.lock().map_err(|e| e.to_string())?.remove(&key);
//!                 self.0.api_tokens.lock().map_err(|e| e.to_string())?.remove(&key);
//!                 tracing::info!(tenant, user = %e.resource_id, jti = %event.jti, ?revoked, "access revoked");
//!                 Ok(())
//!             }
//!             _ => Ok(()),
//!         }
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let registry = scimkit_schema::Registry::new();
//! let store = Arc::new(MemoryStore::new(registry.clone()));
//! let scim = Scim::new(store, registry, Config::default());
//! scim.create_tenant("acme").await?;
//! let token = scim.issue_token("acme", Some("okta"), None).await?.token;
//!
//! let access = Arc::new(Access::default());
//! let dispatcher = Dispatcher::new(&scim)
//!     .hook("revoke-access", Arc::new(RevokeAccess(Arc::clone(&access))))
//!     .spawn()?;
//!
//! // The identity provider creates bjensen; she signs in to the application.
//! let request = http::Request::post("/scim/v2/acme/Users")
//!     .header("Authorization", format!("Bearer {token}"))
//!     .body(Bytes::from(r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"bjensen"}"#))?;
//! let created: serde_json::Value = serde_json::from_slice(scim.handle(request).await.body())?;
//! let key = ("acme".to_owned(), created["id"].as_str().unwrap_or_default().to_owned());
//! access.sessions.lock().unwrap().insert(key.clone(), vec!["session-1".into()]);
//!
//! // The identity provider deactivates her: the hook revokes her access.
//! let request = http::Request::patch(format!("/scim/v2/acme/Users/{}", key.1))
//!     .header("Authorization", format!("Bearer {token}"))
//!     .body(Bytes::from(r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"active","value":false}]}"#))?;
//! assert_eq!(scim.handle(request).await.status(), 200);
//! for _ in 0..500 {
//!     if !access.sessions.lock().unwrap().contains_key(&key) {
//!         break;
//!     }
//!     tokio::time::sleep(Duration::from_millis(10)).await;
//! }
//! assert!(!access.sessions.lock().unwrap().contains_key(&key));
//! dispatcher.stop().await;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod dispatch;
pub(crate) mod jws;
pub(crate) mod poll;
mod push;
mod set;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

pub use async_trait::async_trait;
pub use dispatch::{
    ConsumerStatus, DeliveredEvent, Dispatcher, DispatcherHandle, EventHook, EventsMonitor,
    FailedSet, PushTarget,
};
pub use jws::{JwsError, sign_hs256, verify_hs256};
// Until the service routes `{base}/{tenant}/Events` here, only the tests call this.
pub(crate) use poll::serve;
pub use set::{
    ACTIVATE, CREATE_FULL, CREATE_NOTICE, DEACTIVATE, DELETE, Detail, EVENT_URIS, PATCH_FULL,
    PATCH_NOTICE, PUT_FULL, PUT_NOTICE, ROLES_CHANGED, SetParams, jti, parse_jti, set_claims,
};

use crate::service::Scim;

/// The consumer name of poll delivery, in every tenant.
pub const POLL_CONSUMER: &str = "poll";

/// The events settings of a [`Scim`]: poll delivery (RFC 8936) on `{base}/{tenant}/Events`.
#[derive(Clone)]
#[non_exhaustive]
pub struct EventsConfig {
    /// The HS256 key the polled SETs are signed with; `None` turns polling off (404).
    pub poll_secret: Option<Vec<u8>>,
    /// The polled SETs' `aud`, if any.
    pub poll_audience: Option<String>,
    /// Notice (default) or full SETs.
    pub poll_detail: Detail,
    /// The most SETs one poll returns (also when the receiver asks for more). Default 100.
    pub max_events: usize,
    /// How long a poll without `returnImmediately` waits for an event when there is none.
    /// Default 5 s (and always less than the request timeout).
    pub long_poll: Duration,
}

impl EventsConfig {
    /// Polling on, SETs signed with `secret`.
    pub fn polling(secret: impl Into<Vec<u8>>) -> Self {
        Self {
            poll_secret: Some(secret.into()),
            ..Self::default()
        }
    }

    /// The same, with `aud` set to `audience`.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.poll_audience = Some(audience.into());
        self
    }

    /// The same, in form `detail`.
    pub fn detail(mut self, detail: Detail) -> Self {
        self.poll_detail = detail;
        self
    }

    /// The same, returning at most `n` SETs per poll.
    pub fn max_events(mut self, n: usize) -> Self {
        self.max_events = n;
        self
    }

    /// The same, with long polls waiting at most `wait`.
    pub fn long_poll(mut self, wait: Duration) -> Self {
        self.long_poll = wait;
        self
    }
}

impl Default for EventsConfig {
    /// Polling off.
    fn default() -> Self {
        Self {
            poll_secret: None,
            poll_audience: None,
            poll_detail: Detail::Notice,
            max_events: 100,
            long_poll: Duration::from_secs(5),
        }
    }
}

impl std::fmt::Debug for EventsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventsConfig")
            .field(
                "poll_secret",
                &self.poll_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("poll_audience", &self.poll_audience)
            .field("poll_detail", &self.poll_detail)
            .field("max_events", &self.max_events)
            .field("long_poll", &self.long_poll)
            .finish()
    }
}

/// What went wrong starting a [`Dispatcher`] or reading a status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventsError {
    /// A consumer cannot be served as configured (a push URL that is not `http://…`, two
    /// consumers of one name).
    #[error("event consumer {name}: {reason}")]
    Target {
        /// The consumer.
        name: String,
        /// Why.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] scimkit_store::StoreError),
}

/// Sets `scim`'s events settings (polling on or off). Takes effect on the next request.
pub fn configure(scim: &Scim, config: EventsConfig) {
    *lock(&attached(scim).config) = Some(config);
}

/// What the events module keeps per [`Scim`]: the settings, the poll consumer's counters,
/// and the monitors of the running dispatchers.
#[derive(Default)]
pub(crate) struct Attached {
    config: Mutex<Option<EventsConfig>>,
    /// Per tenant.
    pub(crate) poll: Mutex<BTreeMap<String, dispatch::State>>,
    pub(crate) monitors: Mutex<Vec<EventsMonitor>>,
}

impl Attached {
    pub(crate) fn config(&self) -> Option<EventsConfig> {
        lock(&self.config).clone()
    }
}

/// Whether events can be received from `scim`: polling is configured or a dispatcher runs.
pub(crate) fn enabled(scim: &Scim) -> bool {
    let a = attached(scim);
    a.config().is_some_and(|c| c.poll_secret.is_some()) || !lock(&a.monitors).is_empty()
}

/// The events state of `scim`.
pub(crate) fn attached(scim: &Scim) -> Arc<Attached> {
    Arc::clone(&scim.inner.events)
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
