//! Reports for the host application and its auditors.
//!
//! The deprovisioning report (`GET /app/v1/{tenant}/reports/deprovisioning`,
//! [`Scim::deprovisioning_report`]) lists each user the identity provider deactivated or
//! deleted, when, whether the user is active again, and which of the event consumers
//! (`docs/events.md`) have acknowledged the event and which have not yet. It answers from the
//! tenant's outbox and the consumers' positions in it as they are at the moment of the call;
//! it keeps nothing of its own. See `docs/host-app.md`.

use std::collections::BTreeMap;

use http::{Method, StatusCode};
use scimkit_schema::{ScimError, ScimType};
use scimkit_store::{Event, EventKind};
use serde::Serialize;
use serde_json::Value;

use crate::service::{Call, Failure, Outcome, Reply, Scim};

/// Events read from the outbox at a time.
const BATCH: usize = 500;

/// The most outbox events one report reads. A tenant whose outbox holds many other events
/// between deprovisionings gets a report with fewer than `limit` entries and `more: true`,
/// rather than one request that reads the whole outbox.
pub const SCAN_MAX: usize = 10_000;

/// The default `limit` of the HTTP route.
pub const DEFAULT_LIMIT: usize = 100;

/// The largest `limit` the HTTP route takes (a larger one is lowered to it).
pub const MAX_LIMIT: usize = 1000;

/// How a user lost access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum DeprovisionKind {
    /// The user's `active` went to false (outbox event `deactivated`).
    Deactivated,
    /// The user was deleted (outbox event `deleted`).
    Deleted,
}

/// Where a consumer is in the tenant's outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ConsumerPosition {
    /// The consumer's name: `hook:<name>`, `push:<name>` or `poll`.
    pub consumer: String,
    /// The last `seq` it acknowledged: it has acknowledged every event up to this one.
    pub acked: u64,
}

/// Whether a consumer has acknowledged an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum DeliveryState {
    /// The consumer acknowledged the event (its position is at or past the event's `seq`).
    Acknowledged,
    /// Not yet.
    Pending,
}

/// One consumer's state for one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Delivery {
    /// The consumer's name.
    pub consumer: String,
    /// Acknowledged or pending.
    pub state: DeliveryState,
}

/// A user deactivated or deleted, and what became of the event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct DeprovisioningEntry {
    /// The event's position in the tenant's outbox (its SET's `jti` is `<tenant>.<seq>`).
    pub seq: u64,
    /// Deactivated or deleted.
    pub kind: DeprovisionKind,
    /// The user's SCIM id.
    pub id: String,
    /// When it happened (the event's time: the SET's `toe`).
    pub at: String,
    /// The user's `userName`, if the user still exists (a deleted user's is gone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// Whether the directory still has the user.
    pub exists: bool,
    /// Whether the user is active now: it exists and its `active` is not false.
    pub active: bool,
    /// Whether the user was reactivated after this event: the report read a later
    /// `reactivated` event of the user, or the user is active now.
    pub reactivated: bool,
    /// When the first `reactivated` event after this one happened, if the report read it
    /// (it reads the outbox up to [`DeprovisioningReport::next`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reactivated_at: Option<String>,
    /// Each consumer's state for this event, in the order of
    /// [`DeprovisioningReport::consumers`].
    pub deliveries: Vec<Delivery>,
}

impl DeprovisioningEntry {
    /// Whether some consumer has not acknowledged the event yet.
    pub fn is_pending(&self) -> bool {
        self.deliveries
            .iter()
            .any(|d| d.state == DeliveryState::Pending)
    }
}

/// The deprovisioning report: see [`Scim::deprovisioning_report`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct DeprovisioningReport {
    /// The tenant.
    pub tenant: String,
    /// The `seq` the report read after (its `since`).
    pub since: u64,
    /// The `seq` of the last outbox event the report read: pass it as `since` to continue.
    pub next: u64,
    /// Whether the outbox has events after `next` (the report stopped at `limit` or after
    /// reading [`SCAN_MAX`] events). Without more, a later call from `next` reports only
    /// what happens from now on.
    pub more: bool,
    /// Every consumer that has acknowledged some of the tenant's events, by name, with its
    /// position.
    pub consumers: Vec<ConsumerPosition>,
    /// How many entries some consumer has not acknowledged yet.
    pub pending: usize,
    /// The users deactivated or deleted, oldest first.
    pub entries: Vec<DeprovisioningEntry>,
}

/// What the report knows of a user now.
struct Now {
    user_name: Option<String>,
    exists: bool,
    active: bool,
}

impl Scim {
    /// The deprovisioning report: each `deactivated` or `deleted` event of a User after
    /// `since_seq` in the tenant's outbox, oldest first, at most `limit` of them, with the
    /// user's `userName` and state now, and for each consumer whether it has acknowledged
    /// the event. The report reads at most [`SCAN_MAX`] outbox events; continue from
    /// [`DeprovisioningReport::next`] while [`DeprovisioningReport::more`].
    pub async fn deprovisioning_report(
        &self,
        tenant: &str,
        since_seq: u64,
        limit: usize,
    ) -> Result<DeprovisioningReport, ScimError> {
        self.deprovisioning_inner(tenant, since_seq, limit)
            .await
            .map_err(|f| f.error)
    }

    async fn deprovisioning_inner(
        &self,
        tenant: &str,
        since_seq: u64,
        limit: usize,
    ) -> Result<DeprovisioningReport, Failure> {
        let store = &self.inner.store;
        let mut found: Vec<Event> = Vec::new();
        // The first reactivation after each entry, by entry index.
        let mut reactivated_at: Vec<Option<String>> = Vec::new();
        // Each user's entries not yet followed by a reactivation.
        let mut open: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let mut next = since_seq;
        let mut scanned = 0;
        // Whether reading stopped before the end of the outbox.
        let mut stopped = false;
        'read: while found.len() < limit {
            if scanned >= SCAN_MAX {
                stopped = true;
                break;
            }
            let want = BATCH.min(SCAN_MAX - scanned);
            let batch = store.events(tenant, next, want).await?;
            let len = batch.len();
            for event in batch {
                next = event.seq;
                scanned += 1;
                if event.resource_type != "User" {
                    continue;
                }
                match event.kind {
                    EventKind::Deactivated | EventKind::Deleted => {
                        open.entry(event.resource_id.clone())
                            .or_default()
                            .push(found.len());
                        found.push(event);
                        reactivated_at.push(None);
                        if found.len() >= limit {
                            stopped = true;
                            break 'read;
                        }
                    }
                    EventKind::Reactivated => {
                        for i in open.remove(&event.resource_id).unwrap_or_default() {
                            reactivated_at[i] = Some(event.at.clone());
                        }
                    }
                    _ => {}
                }
            }
            if len < want {
                break;
            }
        }
        if limit == 0 {
            stopped = true;
        }
        let more = stopped && !store.events(tenant, next, 1).await?.is_empty();

        let mut now: BTreeMap<String, Now> = BTreeMap::new();
        for event in &found {
            if now.contains_key(&event.resource_id) {
                continue;
            }
            let user = store.load(tenant, "User", &event.resource_id).await?;
            let state = match user {
                None => Now {
                    user_name: None,
                    exists: false,
                    active: false,
                },
                Some(user) => Now {
                    user_name: user
                        .body
                        .get("userName")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    exists: true,
                    active: user.body.get("active").and_then(Value::as_bool) != Some(false),
                },
            };
            now.insert(event.resource_id.clone(), state);
        }

        // Read after the events: each state is at least as recent as the event it describes.
        let consumers: Vec<ConsumerPosition> = store
            .consumers(tenant)
            .await?
            .into_iter()
            .map(|(consumer, acked)| ConsumerPosition { consumer, acked })
            .collect();

        let entries: Vec<DeprovisioningEntry> = found
            .into_iter()
            .zip(reactivated_at)
            .map(|(event, reactivated_at)| {
                let user = &now[&event.resource_id];
                let kind = if event.kind == EventKind::Deleted {
                    DeprovisionKind::Deleted
                } else {
                    DeprovisionKind::Deactivated
                };
                DeprovisioningEntry {
                    seq: event.seq,
                    kind,
                    at: event.at,
                    user_name: user.user_name.clone(),
                    exists: user.exists,
                    active: user.active,
                    reactivated: reactivated_at.is_some() || user.active,
                    reactivated_at,
                    deliveries: consumers
                        .iter()
                        .map(|c| Delivery {
                            consumer: c.consumer.clone(),
                            state: if c.acked >= event.seq {
                                DeliveryState::Acknowledged
                            } else {
                                DeliveryState::Pending
                            },
                        })
                        .collect(),
                    id: event.resource_id,
                }
            })
            .collect();
        Ok(DeprovisioningReport {
            tenant: tenant.to_owned(),
            since: since_seq,
            next,
            more,
            pending: entries.iter().filter(|e| e.is_pending()).count(),
            consumers,
            entries,
        })
    }
}

/// `GET /app/v1/{tenant}/reports/deprovisioning?since=…&limit=…`.
pub(crate) async fn serve_deprovisioning(scim: &Scim, call: &Call) -> Outcome {
    if call.method != Method::GET {
        return Err(Failure::new(405, None, "this endpoint answers GET")
            .with_header(http::header::ALLOW, "GET"));
    }
    let number = |name: &str, default: u64| -> Result<u64, Failure> {
        match call.param(name) {
            None => Ok(default),
            Some(v) => v.trim().parse::<u64>().map_err(|_| {
                Failure::typed(
                    ScimType::InvalidValue,
                    format!("{name} must be a non-negative integer, not {v:?}"),
                )
            }),
        }
    };
    let since = number("since", 0)?;
    let limit = number("limit", DEFAULT_LIMIT as u64)?.min(MAX_LIMIT as u64) as usize;
    let report = scim
        .deprovisioning_inner(&call.tenant, since, limit)
        .await?;
    Ok(Reply::json(
        StatusCode::OK,
        serde_json::to_value(report).unwrap_or_default(),
    ))
}
