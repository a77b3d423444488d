//! The [`Dispatcher`]: reads each tenant's outbox after each consumer's acknowledged position
//! and delivers the events, in order, to in-process hooks and push receivers.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use scimkit_store::{Event, EventKind, Store, StoreError, Stored};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::jws::sign_hs256;
use super::push::{Delivery, Pusher, parse_url};
use super::set::{Detail, SetParams, jti, set_claims};
use super::{EventsError, attached, lock};
use crate::service::Scim;

/// How many failed SETs a consumer's status remembers, per tenant.
const RECENT_FAILURES: usize = 20;

/// How often the list of tenants is read again.
const TENANT_REFRESH: Duration = Duration::from_secs(2);

/// Code of the host application that runs for each event, in order: the in-process way to
/// receive events.
///
/// An `Err` is retried with the dispatcher's backoff (the same event, until it succeeds:
/// later events of the tenant wait, so that order holds); a panic counts as an `Err`. Return
/// `Ok` for an event the hook has nothing to do with. Delivery is at least once: after a
/// crash between the hook's success and the acknowledgement, the event comes again, with the
/// same [`DeliveredEvent::jti`].
///
/// ```
/// use scimkit_server::events::{DeliveredEvent, EventHook, async_trait};
///
/// #[derive(Debug)]
/// struct Log;
///
/// #[async_trait]
/// impl EventHook for Log {
///     async fn on_event(&self, tenant: &str, event: &DeliveredEvent) -> Result<(), String> {
///         tracing::info!(tenant, jti = %event.jti, uri = event.event_uri(), "event");
///         Ok(())
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait EventHook: Send + Sync + std::fmt::Debug {
    /// Handles one event of `tenant`.
    async fn on_event(&self, tenant: &str, event: &DeliveredEvent) -> Result<(), String>;
}

/// An event as a hook receives it: the outbox entry and its SET's claims (in the full form,
/// without `aud`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DeliveredEvent {
    /// The tenant.
    pub tenant: String,
    /// The outbox entry: `kind`, `resource_type`, `resource_id`, `version`, `seq`.
    pub event: Event,
    /// The SET's `jti` (`<tenant>.<seq>`): the same on every delivery of the event.
    pub jti: String,
    /// The SET's claims (RFC 8417, RFC 9967), unsigned.
    pub claims: Value,
}

impl DeliveredEvent {
    /// What happened.
    pub fn kind(&self) -> EventKind {
        self.event.kind
    }

    /// The SET's event URI, e.g. `urn:ietf:params:scim:event:prov:deactivate`.
    pub fn event_uri(&self) -> &str {
        self.claims
            .get("events")
            .and_then(Value::as_object)
            .and_then(|events| events.keys().next())
            .map_or("", String::as_str)
    }
}

/// A receiver of pushed SETs (RFC 8935): an HTTP endpoint that answers 202.
#[derive(Clone)]
#[non_exhaustive]
pub struct PushTarget {
    /// The name (the consumer is `push:<name>`; its position is kept in the store under it).
    pub name: String,
    /// `http://host[:port]/path`. HTTPS is not built in: use a TLS-terminating proxy.
    pub url: String,
    /// The HS256 key shared with the receiver.
    pub secret: Vec<u8>,
    /// Only this tenant's events; `None`: every tenant's.
    pub tenant: Option<String>,
    /// The SETs' `aud`; `None`: the URL.
    pub audience: Option<String>,
    /// Notice (default) or full SETs.
    pub detail: Detail,
    /// An `Authorization` header value to send (e.g. `Bearer …`), if the receiver wants one.
    pub authorization: Option<String>,
}

impl PushTarget {
    /// A receiver `name` at `url` sharing `secret`, for every tenant.
    pub fn new(
        name: impl Into<String>,
        url: impl Into<String>,
        secret: impl Into<Vec<u8>>,
    ) -> Self {
        Self {
            name: name.into(),
            url: url.into(),
            secret: secret.into(),
            tenant: None,
            audience: None,
            detail: Detail::Notice,
            authorization: None,
        }
    }

    /// The same, for one tenant only.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// The same, with `aud` set to `audience`.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The same, in form `detail`.
    pub fn detail(mut self, detail: Detail) -> Self {
        self.detail = detail;
        self
    }

    /// The same, sending `Authorization: <value>`.
    pub fn authorization(mut self, value: impl Into<String>) -> Self {
        self.authorization = Some(value.into());
        self
    }
}

impl std::fmt::Debug for PushTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushTarget")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .field("tenant", &self.tenant)
            .field("audience", &self.audience)
            .field("detail", &self.detail)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Where one consumer stands in one tenant's outbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ConsumerStatus {
    /// `hook:<name>`, `push:<name>` or `poll`.
    pub consumer: String,
    /// The tenant.
    pub tenant: String,
    /// The last `seq` acknowledged (delivered, or failed for good): 0 before the first.
    pub acked: u64,
    /// The tenant's newest `seq`.
    pub newest: u64,
    /// Events waiting: `newest - acked`.
    pub pending: u64,
    /// Failed attempts at the next event so far (0 when the last attempt succeeded).
    pub attempts: u32,
    /// Failed attempts since the dispatcher started, all events together.
    pub retries: u64,
    /// The last failure's message, until an event is delivered again.
    pub last_error: Option<String>,
    /// When the next attempt is due (RFC 3339), while retrying.
    pub next_attempt: Option<String>,
    /// Events delivered since the dispatcher started.
    pub delivered: u64,
    /// Events given up on since the dispatcher started (the receiver refused them for good).
    pub failed: u64,
    /// The last few events given up on, oldest first.
    pub failures: Vec<FailedSet>,
}

/// An event a receiver refused for good, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct FailedSet {
    /// The SET's `jti`.
    pub jti: String,
    /// The event's `seq`.
    pub seq: u64,
    /// The RFC 8935 / RFC 8936 error code (`invalid_request`, `invalid_key`, …).
    pub err: String,
    /// The receiver's description, if any.
    pub description: Option<String>,
    /// When (RFC 3339).
    pub at: String,
}

/// The in-memory counters of one consumer in one tenant.
#[derive(Debug, Default)]
pub(crate) struct State {
    /// The acknowledged position, once read from the store.
    pub(crate) acked: Option<u64>,
    pub(crate) attempts: u32,
    pub(crate) retries: u64,
    pub(crate) last_error: Option<String>,
    pub(crate) next_attempt: Option<(Instant, String)>,
    pub(crate) delivered: u64,
    pub(crate) failed: u64,
    pub(crate) failures: VecDeque<FailedSet>,
    /// Events given up on that an admin asked to deliver again, in the order asked.
    pub(crate) redeliver: VecDeque<u64>,
}

impl State {
    pub(crate) fn record_failure(&mut self, failure: FailedSet) {
        self.failed += 1;
        if self.failures.len() == RECENT_FAILURES {
            self.failures.pop_front();
        }
        self.failures.push_back(failure);
    }

    pub(crate) fn status(
        &self,
        consumer: &str,
        tenant: &str,
        acked: u64,
        newest: u64,
    ) -> ConsumerStatus {
        ConsumerStatus {
            consumer: consumer.to_owned(),
            tenant: tenant.to_owned(),
            acked,
            newest,
            pending: newest.saturating_sub(acked),
            attempts: self.attempts,
            retries: self.retries,
            last_error: self.last_error.clone(),
            next_attempt: self.next_attempt.as_ref().map(|(_, at)| at.clone()),
            delivered: self.delivered,
            failed: self.failed,
            failures: self.failures.iter().cloned().collect(),
        }
    }
}

type States = Mutex<BTreeMap<(String, String), State>>;

/// The tenant's newest `seq`, given that `floor` exists (or is 0). Outbox sequences are
/// gap-free, so "is there an event after `s - 1`" tells whether `s` exists: a galloping
/// search of O(log n) one-event reads.
pub(crate) async fn newest_seq(
    store: &dyn Store,
    tenant: &str,
    floor: u64,
) -> Result<u64, StoreError> {
    let exists = |s: u64| async move {
        Ok::<_, StoreError>(!store.events(tenant, s - 1, 1).await?.is_empty())
    };
    let mut lo = floor;
    let mut step = 1u64;
    let hi = loop {
        let probe = lo.saturating_add(step);
        if probe == lo || !exists(probe).await? {
            break probe;
        }
        lo = probe;
        step = step.saturating_mul(2);
    };
    let mut hi = hi;
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if exists(mid).await? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// How long to wait after the `attempts`-th failure in a row: `initial`, doubling, at most
/// `max`.
pub(crate) fn backoff(attempts: u32, initial: Duration, max: Duration) -> Duration {
    let factor = 1u32
        .checked_shl(attempts.saturating_sub(1))
        .unwrap_or(u32::MAX);
    initial.saturating_mul(factor).min(max)
}

/// The consumers a dispatcher serves, and their state: what [`status`](Self::status) reads.
/// Cheap to clone.
#[derive(Clone)]
pub struct EventsMonitor {
    inner: Arc<MonitorInner>,
}

struct MonitorInner {
    store: Arc<dyn Store>,
    /// Consumer name and tenant scope, in the order they were added.
    consumers: Vec<(String, Option<String>)>,
    states: States,
}

impl std::fmt::Debug for EventsMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventsMonitor")
            .field("consumers", &self.inner.consumers)
            .finish_non_exhaustive()
    }
}

impl EventsMonitor {
    /// Every consumer's position in every tenant it serves (or in `tenant` only), by consumer
    /// then tenant.
    pub async fn status(&self, tenant: Option<&str>) -> Result<Vec<ConsumerStatus>, EventsError> {
        let store = self.inner.store.as_ref();
        let tenants: Vec<String> = match tenant {
            Some(t) => vec![t.to_owned()],
            None => store.tenants().await?.into_iter().map(|t| t.name).collect(),
        };
        let mut newest: BTreeMap<&str, u64> = BTreeMap::new();
        let mut out = Vec::new();
        for (consumer, scope) in &self.inner.consumers {
            for tenant in tenants
                .iter()
                .filter(|t| scope.as_ref().is_none_or(|s| s == *t))
            {
                let known = lock(&self.inner.states)
                    .get(&(consumer.clone(), tenant.clone()))
                    .and_then(|s| s.acked);
                let acked = match known {
                    Some(a) => a,
                    None => store.acked(tenant, consumer).await?,
                };
                let newest = match newest.get(tenant.as_str()) {
                    Some(n) => *n,
                    None => {
                        let n = newest_seq(store, tenant, acked).await?;
                        newest.insert(tenant, n);
                        n
                    }
                };
                let states = lock(&self.inner.states);
                let status = match states.get(&(consumer.clone(), tenant.clone())) {
                    Some(state) => state.status(consumer, tenant, acked, newest),
                    None => State::default().status(consumer, tenant, acked, newest),
                };
                out.push(status);
            }
        }
        Ok(out)
    }

    /// Whether this dispatcher serves `consumer` in `tenant`.
    pub fn serves(&self, consumer: &str, tenant: &str) -> bool {
        self.inner
            .consumers
            .iter()
            .any(|(name, scope)| name == consumer && scope.as_deref().is_none_or(|s| s == tenant))
    }

    /// Asks for the event `seq` of `tenant`, which `consumer` gave up on (the receiver
    /// refused it), to be delivered again: before the consumer's next pending event, once.
    /// False when the consumer has not given up on that event since the dispatcher started.
    pub fn redeliver(&self, consumer: &str, tenant: &str, seq: u64) -> bool {
        let mut states = lock(&self.inner.states);
        let Some(state) = states.get_mut(&(consumer.to_owned(), tenant.to_owned())) else {
            return false;
        };
        if !state.failures.iter().any(|f| f.seq == seq) {
            return false;
        }
        if !state.redeliver.contains(&seq) {
            state.redeliver.push_back(seq);
        }
        state.next_attempt = None;
        true
    }

    /// Makes `consumer`'s next attempt in `tenant` due now instead of after its backoff.
    pub fn retry_now(&self, consumer: &str, tenant: &str) -> bool {
        let mut states = lock(&self.inner.states);
        match states.get_mut(&(consumer.to_owned(), tenant.to_owned())) {
            Some(state) => {
                state.next_attempt = None;
                true
            }
            None => false,
        }
    }

    pub(crate) fn same(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

/// Delivers each tenant's outbox to in-process hooks ([`EventHook`]) and push receivers
/// ([`PushTarget`], RFC 8935).
///
/// Each consumer (`hook:<name>`, `push:<name>`) reads each tenant's events after the
/// position it acknowledged in the store ([`Store::acked`]), delivers them one at a time in
/// `seq` order, and acknowledges each once delivered ([`Store::ack`]): at least once, in the
/// tenant's order (so in each resource's order), resuming after a restart where it stopped.
/// A failed delivery is retried, with backoff, before any later event of that tenant; a push
/// receiver's RFC 8935 error (400 with `{"err": …}`) gives the event up (it is counted in
/// [`ConsumerStatus::failed`]) so that one bad event cannot stop the feed. Consumers and
/// tenants do not wait for one another.
///
/// ```no_run
/// # use std::sync::Arc;
/// # use scimkit_server::Scim;
/// use scimkit_server::events::{Dispatcher, PushTarget};
/// # async fn run(scim: Scim, hook: Arc<dyn scimkit_server::events::EventHook>) -> Result<(), Box<dyn std::error::Error>> {
/// let handle = Dispatcher::new(&scim)
///     .hook("sessions", hook)
///     .push(PushTarget::new("audit", "http://127.0.0.1:9000/events", "shared secret"))
///     .spawn()?;
/// // …
/// handle.stop().await;
/// # Ok(()) }
/// ```
pub struct Dispatcher {
    scim: Scim,
    origin: Option<String>,
    hooks: Vec<(String, Arc<dyn EventHook>)>,
    pushes: Vec<PushTarget>,
    poll_interval: Duration,
    batch: usize,
    backoff_initial: Duration,
    backoff_max: Duration,
    push_timeout: Duration,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("origin", &self.origin)
            .field(
                "hooks",
                &self.hooks.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("pushes", &self.pushes)
            .field("poll_interval", &self.poll_interval)
            .field("batch", &self.batch)
            .field("backoff_initial", &self.backoff_initial)
            .field("backoff_max", &self.backoff_max)
            .field("push_timeout", &self.push_timeout)
            .finish_non_exhaustive()
    }
}

impl Dispatcher {
    /// A dispatcher of `scim`'s events, with no consumers yet. It reads the outbox every
    /// 200 ms, 100 events at a time; retries after 1 s, doubling up to 5 min; and waits 10 s
    /// for a push receiver's answer.
    pub fn new(scim: &Scim) -> Self {
        Self {
            scim: scim.clone(),
            origin: None,
            hooks: Vec::new(),
            pushes: Vec::new(),
            poll_interval: Duration::from_millis(200),
            batch: 100,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            push_timeout: Duration::from_secs(10),
        }
    }

    /// The scheme and authority of the SETs' issuer (`iss` is the tenant's base URL under
    /// it). Default: [`Config::public_url`](crate::Config::public_url), else
    /// `http://localhost`.
    pub fn origin(mut self, origin: impl Into<String>) -> Self {
        self.origin = Some(origin.into());
        self
    }

    /// Adds the hook `name` (consumer `hook:<name>`), for every tenant.
    pub fn hook(mut self, name: impl Into<String>, hook: Arc<dyn EventHook>) -> Self {
        self.hooks.push((name.into(), hook));
        self
    }

    /// Adds a push receiver (consumer `push:<name>`).
    pub fn push(mut self, target: PushTarget) -> Self {
        self.pushes.push(target);
        self
    }

    /// How often each tenant's outbox is read when idle.
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.poll_interval = every;
        self
    }

    /// The most events read at once.
    pub fn batch(mut self, events: usize) -> Self {
        self.batch = events.max(1);
        self
    }

    /// The wait after a failed delivery: `initial`, doubling with each failure in a row, at
    /// most `max`.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.backoff_initial = initial;
        self.backoff_max = max.max(initial);
        self
    }

    /// How long a push receiver has to answer (connecting included).
    pub fn push_timeout(mut self, timeout: Duration) -> Self {
        self.push_timeout = timeout;
        self
    }

    /// Starts one task per consumer on the current tokio runtime, and makes the status
    /// visible on the tenant's events endpoint (`GET {base}/{tenant}/Events`). Fails on a
    /// push URL that is not `http://…` and on two consumers of one name.
    pub fn spawn(self) -> Result<DispatcherHandle, EventsError> {
        let mut consumers = Vec::new();
        for (name, hook) in &self.hooks {
            consumers.push(Consumer {
                name: format!("hook:{name}"),
                tenant: None,
                sink: Sink::Hook(Arc::clone(hook)),
            });
        }
        let pusher = Pusher::new(self.push_timeout);
        for target in &self.pushes {
            let url = parse_url(&target.url).map_err(|reason| EventsError::Target {
                name: target.name.clone(),
                reason,
            })?;
            consumers.push(Consumer {
                name: format!("push:{}", target.name),
                tenant: target.tenant.clone(),
                sink: Sink::Push(Box::new(Push {
                    target: target.clone(),
                    url,
                    pusher: pusher.clone(),
                })),
            });
        }
        for (i, c) in consumers.iter().enumerate() {
            if consumers[..i].iter().any(|d| d.name == c.name) {
                return Err(EventsError::Target {
                    name: c.name.clone(),
                    reason: "two consumers have this name".into(),
                });
            }
        }
        let origin = self
            .origin
            .clone()
            .or_else(|| self.scim.config().public_url.clone())
            .unwrap_or_else(|| "http://localhost".into());
        let monitor = EventsMonitor {
            inner: Arc::new(MonitorInner {
                store: Arc::clone(self.scim.store()),
                consumers: consumers
                    .iter()
                    .map(|c| (c.name.clone(), c.tenant.clone()))
                    .collect(),
                states: Mutex::new(BTreeMap::new()),
            }),
        };
        let shared = Arc::new(Shared {
            scim: self.scim.clone(),
            origin,
            batch: self.batch,
            poll_interval: self.poll_interval,
            backoff_initial: self.backoff_initial,
            backoff_max: self.backoff_max,
            monitor: monitor.clone(),
        });
        let (stop, stopped) = watch::channel(false);
        let tasks = consumers
            .into_iter()
            .map(|c| tokio::spawn(Arc::clone(&shared).run(c, stopped.clone())))
            .collect();
        lock(&attached(&self.scim).monitors).push(monitor.clone());
        Ok(DispatcherHandle {
            scim: self.scim,
            monitor,
            stop,
            tasks,
        })
    }
}

/// A running [`Dispatcher`].
#[derive(Debug)]
pub struct DispatcherHandle {
    scim: Scim,
    monitor: EventsMonitor,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl DispatcherHandle {
    /// Every consumer's position, in every tenant it serves (or in `tenant` only).
    pub async fn status(&self, tenant: Option<&str>) -> Result<Vec<ConsumerStatus>, EventsError> {
        self.monitor.status(tenant).await
    }

    /// The monitor, to read the status from elsewhere.
    pub fn monitor(&self) -> EventsMonitor {
        self.monitor.clone()
    }

    /// Stops: each consumer finishes the delivery in flight (its acknowledgement included)
    /// and ends. Events not yet delivered wait in the outbox for the next dispatcher.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            if let Err(e) = task.await
                && e.is_panic()
            {
                tracing::error!("an event consumer panicked");
            }
        }
        lock(&attached(&self.scim).monitors).retain(|m| !m.same(&self.monitor));
    }
}

struct Consumer {
    name: String,
    tenant: Option<String>,
    sink: Sink,
}

enum Sink {
    Hook(Arc<dyn EventHook>),
    Push(Box<Push>),
}

struct Push {
    target: PushTarget,
    url: http::Uri,
    pusher: Pusher,
}

struct Shared {
    scim: Scim,
    origin: String,
    batch: usize,
    poll_interval: Duration,
    backoff_initial: Duration,
    backoff_max: Duration,
    monitor: EventsMonitor,
}

impl Shared {
    fn store(&self) -> &dyn Store {
        self.scim.store().as_ref()
    }

    fn now(&self) -> DateTime<Utc> {
        self.scim.inner.env.now()
    }

    async fn run(self: Arc<Self>, consumer: Consumer, mut stop: watch::Receiver<bool>) {
        let mut tenants: Vec<String> = Vec::new();
        let mut listed: Option<Instant> = None;
        while !*stop.borrow() {
            if listed.is_none_or(|at| at.elapsed() >= TENANT_REFRESH) {
                match self.store().tenants().await {
                    Ok(all) => {
                        tenants = all
                            .into_iter()
                            .map(|t| t.name)
                            .filter(|t| consumer.tenant.as_ref().is_none_or(|s| s == t))
                            .collect();
                        listed = Some(Instant::now());
                    }
                    Err(e) => {
                        tracing::warn!(consumer = consumer.name, error = %e, "could not list the tenants");
                    }
                }
            }
            for tenant in &tenants {
                if *stop.borrow() {
                    break;
                }
                if let Err(e) = self.drain(&consumer, tenant, &stop).await {
                    tracing::warn!(consumer = consumer.name, tenant, error = %e, "could not read or acknowledge events");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(self.poll_interval) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// Delivers `tenant`'s pending events to `consumer`, in order, until one fails, none is
    /// left, or the dispatcher stops.
    async fn drain(
        &self,
        consumer: &Consumer,
        tenant: &str,
        stop: &watch::Receiver<bool>,
    ) -> Result<(), StoreError> {
        let key = (consumer.name.clone(), tenant.to_owned());
        let states = &self.monitor.inner.states;
        let (due, known) = {
            let states = lock(states);
            let state = states.get(&key);
            let due = state
                .and_then(|s| s.next_attempt.as_ref())
                .is_none_or(|(at, _)| Instant::now() >= *at);
            (due, state.and_then(|s| s.acked))
        };
        if !due {
            return Ok(());
        }
        let acked = match known {
            Some(a) => a,
            None => {
                let a = self.store().acked(tenant, &consumer.name).await?;
                lock(states).entry(key.clone()).or_default().acked = Some(a);
                a
            }
        };
        let mut acked = acked;
        // Events an admin asked to deliver again come first, each once.
        loop {
            let next = lock(states)
                .get(&key)
                .and_then(|s| s.redeliver.front().copied());
            let Some(seq) = next else { break };
            let Some(event) = self
                .store()
                .events(tenant, seq - 1, 1)
                .await?
                .into_iter()
                .find(|e| e.seq == seq)
            else {
                if let Some(s) = lock(states).get_mut(&key) {
                    s.redeliver.pop_front();
                }
                continue;
            };
            let outcome = self.deliver(consumer, tenant, &event).await;
            let mut states = lock(states);
            let state = states.entry(key.clone()).or_default();
            match outcome {
                Delivery::Delivered => {
                    state.redeliver.pop_front();
                    state.failures.retain(|f| f.seq != seq);
                    state.delivered += 1;
                    state.last_error = None;
                }
                Delivery::Rejected { err, description } => {
                    state.redeliver.pop_front();
                    state.last_error = Some(match &description {
                        Some(d) => format!("{}: {err}: {d}", jti(tenant, seq)),
                        None => format!("{}: {err}", jti(tenant, seq)),
                    });
                    state.failures.retain(|f| f.seq != seq);
                    state.record_failure(FailedSet {
                        jti: jti(tenant, seq),
                        seq,
                        err,
                        description,
                        at: self.now().to_rfc3339_opts(SecondsFormat::Millis, true),
                    });
                }
                // Still unreachable: it stays first in line, and the backoff applies.
                Delivery::Retry(error) => {
                    state.attempts = state.attempts.saturating_add(1);
                    state.retries += 1;
                    let wait = backoff(state.attempts, self.backoff_initial, self.backoff_max);
                    let at = self.now() + chrono::Duration::from_std(wait).unwrap_or_default();
                    state.next_attempt = Some((
                        Instant::now() + wait,
                        at.to_rfc3339_opts(SecondsFormat::Millis, true),
                    ));
                    state.last_error = Some(error);
                    return Ok(());
                }
            }
        }
        // Batch after batch while the outbox has more, then back to the poll interval.
        loop {
            let events = self.store().events(tenant, acked, self.batch).await?;
            let more = events.len() == self.batch;
            for event in events {
                let outcome = self.deliver(consumer, tenant, &event).await;
                let now = self.now();
                match outcome {
                    Delivery::Delivered => {
                        self.store().ack(tenant, &consumer.name, event.seq).await?;
                        let mut states = lock(states);
                        let state = states.entry(key.clone()).or_default();
                        state.acked = Some(event.seq);
                        state.attempts = 0;
                        state.last_error = None;
                        state.next_attempt = None;
                        state.delivered += 1;
                    }
                    Delivery::Rejected { err, description } => {
                        tracing::warn!(
                            consumer = consumer.name,
                            tenant,
                            seq = event.seq,
                            err,
                            description,
                            "the receiver refused the event for good; going on with the next one"
                        );
                        self.store().ack(tenant, &consumer.name, event.seq).await?;
                        let mut states = lock(states);
                        let state = states.entry(key.clone()).or_default();
                        state.acked = Some(event.seq);
                        state.attempts = 0;
                        state.next_attempt = None;
                        state.last_error = Some(match &description {
                            Some(d) => format!("{}: {err}: {d}", jti(tenant, event.seq)),
                            None => format!("{}: {err}", jti(tenant, event.seq)),
                        });
                        state.record_failure(FailedSet {
                            jti: jti(tenant, event.seq),
                            seq: event.seq,
                            err,
                            description,
                            at: now.to_rfc3339_opts(SecondsFormat::Millis, true),
                        });
                    }
                    Delivery::Retry(error) => {
                        let mut states = lock(states);
                        let state = states.entry(key.clone()).or_default();
                        state.attempts = state.attempts.saturating_add(1);
                        state.retries += 1;
                        let wait = backoff(state.attempts, self.backoff_initial, self.backoff_max);
                        tracing::info!(
                            consumer = consumer.name,
                            tenant,
                            seq = event.seq,
                            attempts = state.attempts,
                            wait_ms = wait.as_millis() as u64,
                            error,
                            "delivery failed; will retry"
                        );
                        let at = now + chrono::Duration::from_std(wait).unwrap_or_default();
                        state.next_attempt = Some((
                            Instant::now() + wait,
                            at.to_rfc3339_opts(SecondsFormat::Millis, true),
                        ));
                        state.last_error = Some(error);
                        return Ok(());
                    }
                }
                acked = event.seq;
                if *stop.borrow() {
                    return Ok(());
                }
            }
            if !more {
                return Ok(());
            }
        }
    }

    /// One attempt at delivering `event`.
    async fn deliver(&self, consumer: &Consumer, tenant: &str, event: &Event) -> Delivery {
        let resource = match resource_of(self.store(), tenant, event).await {
            Ok(r) => r,
            Err(e) => return Delivery::Retry(format!("could not read the resource: {e}")),
        };
        let issuer = self.scim.base_url(&self.origin, tenant);
        let issued_at = self.now().timestamp();
        match &consumer.sink {
            Sink::Hook(hook) => {
                let params = SetParams::new(&issuer, issued_at).detail(Detail::Full);
                let delivered = DeliveredEvent {
                    tenant: tenant.to_owned(),
                    event: event.clone(),
                    jti: jti(tenant, event.seq),
                    claims: set_claims(
                        tenant,
                        event,
                        resource.as_ref(),
                        self.scim.registry(),
                        &params,
                    ),
                };
                let hook = Arc::clone(hook);
                let tenant = tenant.to_owned();
                // On a task of its own, so that a panic is an error and not the consumer's end.
                let call = tokio::spawn(async move { hook.on_event(&tenant, &delivered).await });
                match call.await {
                    Ok(Ok(())) => Delivery::Delivered,
                    Ok(Err(e)) => Delivery::Retry(format!("the hook failed: {e}")),
                    Err(e) if e.is_panic() => Delivery::Retry("the hook panicked".into()),
                    Err(_) => Delivery::Retry("the hook was cancelled".into()),
                }
            }
            Sink::Push(push) => {
                let Push {
                    target,
                    url,
                    pusher,
                } = push.as_ref();
                let audience = target.audience.as_deref().unwrap_or(&target.url);
                let params = SetParams::new(&issuer, issued_at)
                    .audience(Some(audience))
                    .detail(target.detail);
                let claims = set_claims(
                    tenant,
                    event,
                    resource.as_ref(),
                    self.scim.registry(),
                    &params,
                );
                let set = sign_hs256(&claims, &target.secret);
                pusher.post(url, target.authorization.as_deref(), set).await
            }
        }
    }
}

/// `resource` if it is still there, for [`set_claims`].
pub(crate) async fn resource_of(
    store: &dyn Store,
    tenant: &str,
    event: &Event,
) -> Result<Option<Stored>, StoreError> {
    store
        .get(tenant, &event.resource_type, &event.resource_id)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let s = Duration::from_secs;
        let b = |n| backoff(n, s(1), s(300));
        assert_eq!([b(1), b(2), b(3), b(4)], [s(1), s(2), s(4), s(8)]);
        assert_eq!(b(9), s(256));
        assert_eq!(b(10), s(300));
        assert_eq!(b(40), s(300));
        assert_eq!(b(u32::MAX), s(300));
    }
}
