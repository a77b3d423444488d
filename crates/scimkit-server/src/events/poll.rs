//! Poll delivery (RFC 8936) on `{base}/{tenant}/Events`: `POST` acknowledges SETs and
//! fetches the next ones; `GET` shows where each consumer of the tenant stands.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat};
use http::{Method, StatusCode, header};
use scimkit_schema::ScimType;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::dispatch::{FailedSet, State, newest_seq, resource_of};
use super::jws::sign_hs256;
use super::set::{SetParams, parse_jti, set_claims};
use super::{POLL_CONSUMER, attached, lock};
use crate::service::{Call, Failure, Outcome, Reply, Scim};

/// How often a long poll looks at the outbox again.
const LONG_POLL_TICK: Duration = Duration::from_millis(100);

/// An RFC 8936 §2.4 poll request.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct PollRequest {
    max_events: Option<usize>,
    return_immediately: bool,
    ack: Vec<String>,
    set_errs: Map<String, Value>,
}

/// Serves `{base}/{tenant}/Events`.
// Until the service routes `{base}/{tenant}/Events` here, only the tests call this.
pub(crate) async fn serve(scim: &Scim, call: &Call) -> Outcome {
    match call.method {
        Method::POST => poll(scim, call).await,
        Method::GET => status(scim, call).await,
        _ => Err(Failure::new(
            405,
            None,
            format!(
                "{} is not allowed here; the events endpoint answers GET (delivery status) and POST (RFC 8936 polling)",
                call.method
            ),
        )
        .with_header(header::ALLOW, "GET, POST")),
    }
}

async fn poll(scim: &Scim, call: &Call) -> Outcome {
    let attached = attached(scim);
    let Some(config) = attached.config().filter(|c| c.poll_secret.is_some()) else {
        return Err(Failure::new(
            404,
            None,
            "event polling is not enabled on this server: the host application enables it with scimkit_server::events::configure and a poll secret",
        ));
    };
    let secret = config.poll_secret.as_deref().unwrap_or_default();
    let request: PollRequest = if call.body.iter().all(u8::is_ascii_whitespace) {
        PollRequest::default()
    } else {
        serde_json::from_slice(&call.body).map_err(|e| {
            Failure::typed(
                ScimType::InvalidSyntax,
                format!(
                    "the body is not an RFC 8936 poll request ({{\"ack\": [jti…], \"setErrs\": {{…}}, \"maxEvents\": n, \"returnImmediately\": bool}}): {e}"
                ),
            )
        })?
    };
    let store = scim.store().as_ref();
    let tenant = call.tenant.as_str();

    // Acknowledgements, and errors (which acknowledge too: the receiver has the SET).
    let mut seqs: Vec<u64> = Vec::new();
    for jti in request.ack.iter().chain(request.set_errs.keys()) {
        match parse_jti(jti) {
            Some((t, seq)) if t == tenant && seq > 0 => seqs.push(seq),
            _ => tracing::info!(
                tenant,
                jti,
                "ignored an acknowledgement of a SET this tenant did not issue"
            ),
        }
    }
    // Events are served in order, so acknowledging a SET acknowledges the ones before it. A
    // jti past the newest event names nothing yet: it is ignored, not taken as a promise to
    // skip events to come.
    let acked = store.acked(tenant, POLL_CONSUMER).await?;
    let newest = if seqs.is_empty() {
        acked
    } else {
        newest_seq(store, tenant, acked).await?
    };
    if seqs.iter().any(|s| *s > newest) {
        tracing::info!(
            tenant,
            newest,
            "ignored acknowledgements of SETs not issued yet"
        );
    }
    if !request.set_errs.is_empty() {
        let now = DateTime::parse_from_rfc3339(&call.now)
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
            .unwrap_or_else(|_| call.now.clone());
        let mut states = lock(&attached.poll);
        let state = states.entry(tenant.to_owned()).or_default();
        for (jti, error) in &request.set_errs {
            let Some((_, seq)) = parse_jti(jti).filter(|(t, s)| *t == tenant && *s <= newest)
            else {
                continue;
            };
            let err = error
                .get("err")
                .and_then(Value::as_str)
                .unwrap_or("unspecified");
            let description = error.get("description").and_then(Value::as_str);
            tracing::warn!(
                tenant,
                jti,
                err,
                description,
                "the poll receiver reported an error for a SET"
            );
            state.last_error = Some(match description {
                Some(d) => format!("{jti}: {err}: {d}"),
                None => format!("{jti}: {err}"),
            });
            state.record_failure(FailedSet {
                jti: jti.to_string(),
                seq,
                err: err.to_owned(),
                description: description.map(str::to_owned),
                at: now.clone(),
            });
        }
    }
    if let Some(&to) = seqs.iter().filter(|s| **s <= newest).max()
        && to > acked
    {
        store.ack(tenant, POLL_CONSUMER, to).await?;
        let errors = request
            .set_errs
            .keys()
            .filter_map(|j| parse_jti(j))
            .filter(|(t, s)| *t == tenant && *s > acked && *s <= to)
            .count() as u64;
        lock(&attached.poll)
            .entry(tenant.to_owned())
            .or_default()
            .delivered += (to - acked).saturating_sub(errors);
    }

    let max = request
        .max_events
        .unwrap_or(config.max_events)
        .min(config.max_events);
    let acked = store.acked(tenant, POLL_CONSUMER).await?;
    let mut events = if max > 0 {
        // Long poll (RFC 8936 §2.4, returnImmediately false): wait a bounded time for events,
        // within the request's own time limit.
        let wait = if request.return_immediately {
            Duration::ZERO
        } else {
            config.long_poll.min(
                scim.config()
                    .request_timeout
                    .saturating_sub(Duration::from_secs(1)),
            )
        };
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let events = store.events(tenant, acked, max.saturating_add(1)).await?;
            let now = tokio::time::Instant::now();
            if !events.is_empty() || now >= deadline {
                break events;
            }
            tokio::time::sleep(LONG_POLL_TICK.min(deadline - now)).await;
        }
    } else {
        // An acknowledgement only (maxEvents 0): no SETs, but whether more wait.
        store.events(tenant, acked, 1).await?
    };
    let more = events.len() > max;
    events.truncate(max);

    let issued_at = DateTime::parse_from_rfc3339(&call.now).map_or(0, |t| t.timestamp());
    let params = SetParams::new(&call.base_url, issued_at)
        .audience(config.poll_audience.as_deref())
        .detail(config.poll_detail);
    let mut sets = Map::new();
    for event in &events {
        let resource = resource_of(store, tenant, event).await?;
        let claims = set_claims(tenant, event, resource.as_ref(), scim.registry(), &params);
        sets.insert(
            super::set::jti(tenant, event.seq),
            Value::String(sign_hs256(&claims, secret)),
        );
    }
    Ok(Reply::json(
        StatusCode::OK,
        json!({"sets": sets, "moreAvailable": more}),
    ))
}

async fn status(scim: &Scim, call: &Call) -> Outcome {
    let tenant = call.tenant.as_str();
    let (polling, consumers) = consumer_statuses(scim, tenant).await?;
    let consumers = serde_json::to_value(&consumers).unwrap_or(Value::Null);
    Ok(Reply::json(
        StatusCode::OK,
        json!({"tenant": tenant, "polling": polling, "consumers": consumers}),
    ))
}

/// Whether polling is on, and where each consumer of `tenant`'s events stands: the running
/// dispatchers' hooks and push receivers, and the poll consumer once it is on or has read.
pub(crate) async fn consumer_statuses(
    scim: &Scim,
    tenant: &str,
) -> Result<(bool, Vec<super::ConsumerStatus>), Failure> {
    let attached = attached(scim);
    let monitors = lock(&attached.monitors).clone();
    let mut consumers = Vec::new();
    for monitor in monitors {
        consumers.extend(monitor.status(Some(tenant)).await.map_err(|e| match e {
            super::EventsError::Store(e) => Failure::from(e),
            other => Failure::new(500, None, other.to_string()),
        })?);
    }
    let store = scim.store().as_ref();
    let acked = store.acked(tenant, POLL_CONSUMER).await?;
    let polling = attached.config().is_some_and(|c| c.poll_secret.is_some());
    if polling || acked > 0 {
        let newest = newest_seq(store, tenant, acked).await?;
        let states = lock(&attached.poll);
        consumers.push(match states.get(tenant) {
            Some(state) => state.status(POLL_CONSUMER, tenant, acked, newest),
            None => State::default().status(POLL_CONSUMER, tenant, acked, newest),
        });
    }
    Ok((polling, consumers))
}
