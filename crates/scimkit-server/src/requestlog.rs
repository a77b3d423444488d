//! The provisioning log: every SCIM request a tenant receives, for the console.
//!
//! The request path only notes what it needs (a few strings and the bodies as shared
//! [`Bytes`], no copy) in a buffer; a background task takes the buffer every
//! [`FLUSH_EVERY`] and writes it to the store in one transaction per tenant
//! ([`Store::log_requests`]), redacting and truncating bodies on the way. Requests that name
//! no tenant the server has are not kept, so that requests for made-up tenant names cannot
//! fill the log. When the store falls behind by more than [`MAX_PENDING`] requests, newer
//! ones are counted and dropped rather than held in memory. Of a tenant with more than
//! [`KEEP`] requests in one batch only the newest `KEEP` are written: the older ones would be
//! pruned at once.
//!
//! Bodies are kept for changes and for errors; a successful read keeps its line (method,
//! path, status, duration) without bodies, which would repeat what the directory shows and
//! cost a write of the whole response for every read.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, Weak};
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use scimkit_store::{RequestRecord, Store};
use serde_json::Value;

/// How often the buffer is written to the store.
const FLUSH_EVERY: Duration = Duration::from_millis(250);

/// The most requests waiting to be written; more are dropped (and counted).
const MAX_PENDING: usize = 20_000;

/// The most bytes of a body kept.
const MAX_BODY: usize = 16 * 1024;

/// How many requests each tenant's log keeps; older ones are pruned.
pub(crate) const KEEP: usize = 10_000;

/// Prune a tenant's log after this many new requests.
const PRUNE_AFTER: u64 = 1_000;

tokio::task_local! {
    /// The normalizers that fired while serving the current request.
    static FIRED: Arc<Mutex<Vec<String>>>;
}

/// Notes that `names` fired while serving the current request (no-op outside a logged one).
pub(crate) fn fired(names: impl IntoIterator<Item = String>) {
    let _ = FIRED.try_with(|fired| {
        let mut fired = fired.lock().unwrap_or_else(PoisonError::into_inner);
        // A retried write normalizes again: each name once, in the order it first fired.
        for name in names {
            if !fired.contains(&name) {
                fired.push(name);
            }
        }
    });
}

/// Runs `future` (the serving of one request) and returns what it returned with the
/// normalizers that fired meanwhile.
pub(crate) async fn collecting<F: Future>(future: F) -> (F::Output, Vec<String>) {
    let fired = Arc::new(Mutex::new(Vec::new()));
    let out = FIRED.scope(Arc::clone(&fired), future).await;
    let names = std::mem::take(&mut *fired.lock().unwrap_or_else(PoisonError::into_inner));
    (out, names)
}

/// A request as noted on its way in.
#[derive(Debug)]
pub(crate) struct Noted {
    pub(crate) tenant: String,
    /// When it arrived; formatted (RFC 3339 with milliseconds, as stored times are) only
    /// when the request is written, off the request path.
    pub(crate) at: chrono::DateTime<chrono::Utc>,
    pub(crate) request_id: String,
    pub(crate) token_id: Option<String>,
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) resource_type: Option<String>,
    pub(crate) resource_id: Option<String>,
    pub(crate) body: Bytes,
}

/// A request and its answer, waiting to be written.
#[derive(Debug)]
struct Pending {
    noted: Noted,
    status: u16,
    duration_us: u64,
    normalizers: Vec<String>,
    response: Bytes,
}

/// The buffer and its writer.
#[derive(Debug, Default)]
pub(crate) struct RequestLog {
    pending: Mutex<Vec<Pending>>,
    dropped: AtomicU64,
    /// Whether the writer task was started.
    started: OnceLock<()>,
    /// One write at a time (the background one or an explicit flush).
    writing: tokio::sync::Mutex<WriterState>,
}

#[derive(Debug, Default)]
struct WriterState {
    /// Whether each tenant name seen exists.
    tenants: HashMap<String, bool>,
    /// New requests per tenant since its last prune.
    since_prune: HashMap<String, u64>,
}

impl RequestLog {
    /// Notes a request's answer. Starts the writer on first use.
    pub(crate) fn record(
        self: &Arc<Self>,
        store: &Arc<dyn Store>,
        noted: Noted,
        status: u16,
        duration: Duration,
        normalizers: Vec<String>,
        response: Bytes,
    ) {
        self.start(store);
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.len() >= MAX_PENDING {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        pending.push(Pending {
            noted,
            status,
            duration_us: u64::try_from(duration.as_micros()).unwrap_or(u64::MAX),
            normalizers,
            response,
        });
    }

    /// How many requests were dropped because the store fell behind.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn start(self: &Arc<Self>, store: &Arc<dyn Store>) {
        self.started.get_or_init(|| {
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                return;
            };
            let log: Weak<Self> = Arc::downgrade(self);
            let store = Arc::clone(store);
            runtime.spawn(async move {
                loop {
                    tokio::time::sleep(FLUSH_EVERY).await;
                    // The service is gone: so is its log.
                    let Some(log) = log.upgrade() else { return };
                    log.flush(store.as_ref()).await;
                }
            });
        });
    }

    /// Writes what is waiting.
    pub(crate) async fn flush(&self, store: &dyn Store) {
        let mut state = self.writing.lock().await;
        let batch =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        if batch.is_empty() {
            return;
        }
        for (tenant, records) in records_by_tenant(batch) {
            let exists = match state.tenants.get(&tenant) {
                Some(known) => *known,
                None => match store.tenant(&tenant).await {
                    Ok(found) => {
                        // Only existing tenants are remembered: one created later is found then.
                        if found.is_some() {
                            state.tenants.insert(tenant.clone(), true);
                        }
                        found.is_some()
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "the provisioning log could not look up a tenant");
                        false
                    }
                },
            };
            if !exists {
                continue;
            }
            let n = records.len() as u64;
            if let Err(e) = store.log_requests(&tenant, &records).await {
                tracing::warn!(error = %e, requests = n, "the provisioning log could not be written");
                continue;
            }
            let count = state.since_prune.entry(tenant.clone()).or_default();
            *count += n;
            if *count >= PRUNE_AFTER {
                *count = 0;
                if let Err(e) = store.prune_requests(&tenant, KEEP).await {
                    tracing::warn!(error = %e, "the provisioning log could not be pruned");
                }
            }
        }
    }
}

/// The records of `batch`, per tenant in the order the tenants first appear. Of a tenant
/// with more than [`KEEP`] requests in the batch, only the newest `KEEP` become records: the
/// older ones would be pruned as soon as they were written.
fn records_by_tenant(batch: Vec<Pending>) -> Vec<(String, Vec<RequestRecord>)> {
    let mut grouped: Vec<(String, Vec<Pending>)> = Vec::new();
    for p in batch {
        match grouped.iter_mut().find(|(t, _)| *t == p.noted.tenant) {
            Some((_, pending)) => pending.push(p),
            None => grouped.push((p.noted.tenant.clone(), vec![p])),
        }
    }
    grouped
        .into_iter()
        .map(|(tenant, mut pending)| {
            let older = pending.len().saturating_sub(KEEP);
            pending.drain(..older);
            (tenant, pending.into_iter().map(to_record).collect())
        })
        .collect()
}

fn to_record(p: Pending) -> RequestRecord {
    let Pending {
        noted,
        status,
        duration_us,
        normalizers,
        response,
    } = p;
    let keep_bodies = noted.method != Method::GET || status >= 400;
    let mut record = RequestRecord::new(
        noted
            .at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        noted.request_id,
        noted.method.as_str(),
        noted.path,
        status,
    )
    .with_duration_us(duration_us)
    .with_normalizers(normalizers);
    if let Some(token) = noted.token_id {
        record = record.with_token(token);
    }
    if let Some(rt) = noted.resource_type {
        record = record.with_resource_type(rt);
    }
    let created = (status == 201)
        .then(|| serde_json::from_slice::<Value>(&response).ok())
        .flatten()
        .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_owned));
    if let Some(id) = noted.resource_id.or(created) {
        record = record.with_resource_id(id);
    }
    if keep_bodies {
        if !noted.body.is_empty() {
            record = record.with_request_body(redacted(&noted.body));
        }
        if !response.is_empty() {
            record = record.with_response_body(truncated(&String::from_utf8_lossy(&response)));
        }
    }
    record
}

/// The request body with every password value replaced, pretty-printed when it is JSON.
pub(crate) fn redacted(body: &[u8]) -> String {
    match serde_json::from_slice::<Value>(body) {
        Ok(mut value) => {
            redact(&mut value);
            truncated(&serde_json::to_string_pretty(&value).unwrap_or_default())
        }
        // Not JSON: kept as text (the server refused it), but never more than a screenful.
        Err(_) => truncated(&String::from_utf8_lossy(body)),
    }
}

const REDACTED: &str = "[redacted]";

fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            // A PATCH operation on the password: its value is the password.
            let on_password = map
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("path"))
                .and_then(|(_, p)| p.as_str())
                .is_some_and(|p| p.to_ascii_lowercase().contains("password"));
            for (key, v) in map.iter_mut() {
                if key.eq_ignore_ascii_case("password")
                    || (on_password && key.eq_ignore_ascii_case("value"))
                {
                    *v = Value::String(REDACTED.to_owned());
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

fn truncated(text: &str) -> String {
    if text.len() <= MAX_BODY {
        return text.to_owned();
    }
    let mut end = MAX_BODY;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}\n… ({} more bytes not kept)",
        &text[..end],
        text.len() - end
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pending(tenant: &str, path: String) -> Pending {
        Pending {
            noted: Noted {
                tenant: tenant.to_owned(),
                at: chrono::DateTime::from_timestamp_millis(1_795_000_000_250).unwrap(),
                request_id: "r".to_owned(),
                token_id: None,
                method: Method::GET,
                path,
                resource_type: None,
                resource_id: None,
                body: Bytes::new(),
            },
            status: 200,
            duration_us: 1,
            normalizers: Vec::new(),
            response: Bytes::new(),
        }
    }

    #[test]
    fn a_batch_keeps_each_tenants_newest_requests_only() {
        let mut batch = Vec::new();
        for i in 0..KEEP + 5 {
            batch.push(pending("acme", format!("/a/{i}")));
            if i < 3 {
                batch.push(pending("beta", format!("/b/{i}")));
            }
        }
        let grouped = records_by_tenant(batch);
        let tenants: Vec<&str> = grouped.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(tenants, ["acme", "beta"]);
        let acme = &grouped[0].1;
        assert_eq!(acme.len(), KEEP);
        assert_eq!(acme[0].path, "/a/5", "the 5 oldest would be pruned at once");
        assert_eq!(acme[KEEP - 1].path, format!("/a/{}", KEEP + 4));
        assert_eq!(grouped[1].1.len(), 3);
        // The time is written as stored times are.
        assert_eq!(acme[0].at, "2026-11-18T11:06:40.250Z");
    }

    #[test]
    fn passwords_are_redacted_wherever_they_are() {
        let body = json!({
            "userName": "ann",
            "password": "hunter2",
            "urn:example:ext": {"PassWord": "x"},
            "Operations": [
                {"op": "replace", "path": "password", "value": "s3cret"},
                {"op": "replace", "value": {"password": "t0p", "displayName": "Ann"}},
                {"op": "replace", "path": "displayName", "value": "kept"}
            ]
        });
        let text = redacted(body.to_string().as_bytes());
        for secret in ["hunter2", "\"x\"", "s3cret", "t0p"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("kept") && text.contains("Ann") && text.contains("ann"));
        assert_eq!(text.matches(REDACTED).count(), 4, "{text}");
    }

    #[test]
    fn long_bodies_are_cut_on_a_character_boundary() {
        let long = "é".repeat(MAX_BODY);
        let cut = truncated(&long);
        assert!(cut.len() < long.len());
        assert!(
            cut.ends_with("more bytes not kept)"),
            "{}",
            &cut[cut.len() - 40..]
        );
        assert_eq!(redacted(b"not json"), "not json");
    }
}
