//! The protocol core: one function from an `http::Request<Bytes>` to an
//! `http::Response<Bytes>`, over a [`Store`]. No sockets here: the hyper glue in
//! [`crate::transport`] (or axum, or actix) feeds it requests.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use scimkit_schema::{Registry, ResourceType, ScimError, ScimType};
use scimkit_store::{Ctx, Store, StoreError, Tenant, TokenRecord};
use serde_json::Value;

use crate::auth;
use crate::config::Config;
use crate::env::{Env, SystemEnv};
use crate::ratelimit::Limiter;

/// The media type of SCIM messages (RFC 7644 §3.1).
pub const SCIM_JSON: &str = "application/scim+json";

/// A SCIM service provider: tenants, their bearer tokens, and the RFC 7644 endpoints under
/// `{base_path}/{tenant}`. Cheap to clone (shared state behind an `Arc`).
#[derive(Clone, Debug)]
pub struct Scim {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) registry: Registry,
    pub(crate) config: Config,
    pub(crate) env: Arc<dyn Env>,
    limiter: Option<Limiter>,
    /// The events settings, poll state and dispatcher monitors.
    pub(crate) events: Arc<crate::events::Attached>,
    /// Token records read recently, by id, with the monotonic time they were read.
    tokens: std::sync::Mutex<
        std::collections::HashMap<String, (Arc<TokenRecord>, std::time::Duration)>,
    >,
    /// Tenants' reading tolerances, with the monotonic time they were read.
    tolerances:
        std::sync::Mutex<std::collections::HashMap<String, (Arc<Tolerance>, std::time::Duration)>>,
    /// Request ids: a random start, then one more per request.
    request_ids: std::sync::atomic::AtomicU64,
    /// `GET {resource}/{id}` responses, kept while the store's read stamp says the resource
    /// reads the same (only stores that cache reads give stamps).
    pub(crate) rendered: std::sync::Mutex<crate::resources::Rendered>,
    /// The provisioning log's buffer and writer.
    pub(crate) requests: Arc<crate::requestlog::RequestLog>,
}

/// How long a token record read from the store is trusted before it is read again: a token
/// revoked through another process (the CLI, another instance) stops working within this
/// time; one revoked through this `Scim` stops at once.
const TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(2);

/// The most token records cached.
const TOKEN_CACHE: usize = 10_000;

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner")
            .field("config", &self.config)
            .field("env", &self.env)
            .finish_non_exhaustive()
    }
}

/// A token just issued. `token` is the secret: it is shown here once and never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuedToken {
    /// The tenant it opens.
    pub tenant: String,
    /// The token's public id (for listing and revoking).
    pub id: String,
    /// The bearer token.
    pub token: String,
    /// When it expires, if ever.
    pub expires: Option<String>,
}

/// A request being served, once routed and authenticated.
pub(crate) struct Call {
    pub(crate) tenant: String,
    pub(crate) token_id: String,
    /// `{scheme}://{host}{base_path}/{tenant}`: the tenant's SCIM base URL.
    pub(crate) base_url: String,
    pub(crate) method: Method,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
    /// The time of the request, for `meta` and the audit log.
    pub(crate) now: String,
    /// How this tenant's requests are read.
    pub(crate) tolerance: Arc<Tolerance>,
}

/// How a tenant's requests are read: the PATCH profile and the body tolerances. A tenant
/// with a profile set (`Scim::set_profile`) gets that profile; others get the configured
/// defaults (`Config::patch_profile`, `Config::normalize`).
#[derive(Debug)]
pub(crate) struct Tolerance {
    pub(crate) patch: scimkit_patch::Profile,
    pub(crate) normalize: scimkit_schema::NormalizeOptions,
}

/// The scope of tokens for the host application's API.
pub(crate) const APP_SCOPE: &str = "app";

/// The names [`Scim::set_profile`] accepts.
pub const PROFILES: [&str; 7] = [
    "strict",
    "lenient",
    "entra",
    "okta",
    "google",
    "onelogin",
    "jumpcloud",
];

fn profile_named(name: &str) -> Option<scimkit_patch::Profile> {
    scimkit_patch::Profile::all()
        .into_iter()
        .find(|p| p.name().eq_ignore_ascii_case(name))
}

impl Call {
    /// The value of query parameter `name` (case-insensitive name, first occurrence).
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn ctx(&self) -> Ctx {
        Ctx::at(self.now.clone()).with_token(self.token_id.clone())
    }

    pub(crate) fn header(&self, name: HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A failed request: the SCIM error, and headers that go with it.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) error: ScimError,
    pub(crate) headers: Vec<(HeaderName, String)>,
}

impl Failure {
    pub(crate) fn new(status: u16, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        Self {
            error: ScimError::new(status, scim_type, detail),
            headers: Vec::new(),
        }
    }

    pub(crate) fn typed(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self::new(scim_type.status(), Some(scim_type), detail)
    }

    pub(crate) fn with_header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        if e.is_backend() {
            tracing::error!(error = %e, "storage failure");
        }
        Self {
            error: e.to_scim_error(),
            headers: Vec::new(),
        }
    }
}

impl From<scimkit_schema::SchemaError> for Failure {
    fn from(e: scimkit_schema::SchemaError) -> Self {
        Self {
            error: e.to_scim_error(),
            headers: Vec::new(),
        }
    }
}

impl From<scimkit_patch::PatchError> for Failure {
    fn from(e: scimkit_patch::PatchError) -> Self {
        Self {
            error: e.to_scim_error(),
            headers: Vec::new(),
        }
    }
}

impl From<scimkit_filter::ParseError> for Failure {
    fn from(e: scimkit_filter::ParseError) -> Self {
        Self {
            error: e.to_scim_error(),
            headers: Vec::new(),
        }
    }
}

/// A successful answer, before content negotiation.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Option<Value>,
    /// A JSON body already serialized (sent instead of `body`).
    pub(crate) raw: Option<Bytes>,
    pub(crate) headers: Vec<(HeaderName, String)>,
}

impl Reply {
    pub(crate) fn json(status: StatusCode, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            raw: None,
            headers: Vec::new(),
        }
    }

    /// A reply whose JSON body is already serialized.
    pub(crate) fn raw_json(status: StatusCode, body: Bytes) -> Self {
        Self {
            status,
            body: None,
            raw: Some(body),
            headers: Vec::new(),
        }
    }

    pub(crate) fn empty(status: StatusCode) -> Self {
        Self {
            status,
            body: None,
            raw: None,
            headers: Vec::new(),
        }
    }

    pub(crate) fn with_header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
}

pub(crate) type Outcome = Result<Reply, Failure>;

/// Where a request goes, below `{base_path}/{tenant}`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    ServiceProviderConfig,
    ResourceTypes(Option<String>),
    Schemas(Option<String>),
    Bulk,
    Me,
    /// `POST /.search` at the root.
    RootSearch,
    /// `/Events`: RFC 8936 poll (`POST`) and delivery status (`GET`).
    Events,
    /// `/Roles[/{id}]`: the role values the tenant's rules give (roles and entitlements
    /// draft), read-only.
    Roles(Option<String>),
    /// `/Entitlements[/{id}]`: the same for entitlements.
    Entitlements(Option<String>),
    /// `/{endpoint}`.
    List(&'a ResourceType),
    /// `POST /{endpoint}/.search`.
    Search(&'a ResourceType),
    /// `/{endpoint}/{id}`.
    One(&'a ResourceType, String),
}

impl Scim {
    /// A service over `store`, serving the resource types of `registry`, with the system
    /// clock and random source.
    pub fn new(store: Arc<dyn Store>, registry: Registry, config: Config) -> Self {
        Self::with_env(store, registry, config, Arc::new(SystemEnv::new()))
    }

    /// The same with a given environment (tests pass a fixed clock).
    pub fn with_env(
        store: Arc<dyn Store>,
        registry: Registry,
        config: Config,
        env: Arc<dyn Env>,
    ) -> Self {
        let limiter = config.rate_limit.map(Limiter::new);
        let mut seed = [0u8; 8];
        env.fill_random(&mut seed);
        let seed = u64::from_le_bytes(seed);
        Self {
            inner: Arc::new(Inner {
                store,
                registry,
                config,
                env,
                limiter,
                request_ids: std::sync::atomic::AtomicU64::new(seed),
                events: Arc::default(),
                tolerances: std::sync::Mutex::new(std::collections::HashMap::new()),
                tokens: std::sync::Mutex::new(std::collections::HashMap::new()),
                rendered: std::sync::Mutex::default(),
                requests: Arc::default(),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The schemas and resource types served.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    fn now(&self) -> String {
        self.inner.env.timestamp()
    }

    /// Creates a tenant.
    pub async fn create_tenant(&self, name: &str) -> Result<Tenant, ScimError> {
        let ctx = Ctx::at(self.now());
        self.inner
            .store
            .create_tenant(name, &ctx)
            .await
            .map_err(|e| e.to_scim_error())
    }

    /// Creates the tenant unless it exists.
    pub async fn ensure_tenant(&self, name: &str) -> Result<Tenant, ScimError> {
        match self.inner.store.tenant(name).await {
            Ok(Some(t)) => Ok(t),
            Ok(None) => self.create_tenant(name).await,
            Err(e) => Err(e.to_scim_error()),
        }
    }

    /// Issues a new random token for `tenant`, valid until `expires` if given.
    pub async fn issue_token(
        &self,
        tenant: &str,
        label: Option<&str>,
        expires: Option<DateTime<Utc>>,
    ) -> Result<IssuedToken, ScimError> {
        let new = auth::generate(self.inner.env.as_ref());
        self.record_token(tenant, new, label, expires, None).await
    }

    /// Issues a token for the host application's API (`/app/v1/{tenant}`: access checks and
    /// role rules), which opens nothing of the SCIM API, as SCIM tokens open nothing of it.
    pub async fn issue_app_token(
        &self,
        tenant: &str,
        label: Option<&str>,
        expires: Option<DateTime<Utc>>,
    ) -> Result<IssuedToken, ScimError> {
        let new = auth::generate(self.inner.env.as_ref());
        self.record_token(tenant, new, label, expires, Some(APP_SCOPE))
            .await
    }

    /// Issues a console token for `tenant` (shown once): the login of the admin console at
    /// `/console`. One of tenant `default` opens every tenant; another opens its tenant.
    pub async fn issue_console_token(
        &self,
        tenant: &str,
        label: Option<&str>,
        expires: Option<DateTime<Utc>>,
    ) -> Result<IssuedToken, ScimError> {
        let new = auth::generate(self.inner.env.as_ref());
        self.record_token(tenant, new, label, expires, Some(crate::console::SCOPE))
            .await
    }

    /// The current time of the environment.
    pub(crate) fn now_utc(&self) -> DateTime<Utc> {
        self.inner.env.now()
    }

    /// Registers a token chosen elsewhere (`SCIMKIT_BOOTSTRAP_TOKEN`) for `tenant`; a token
    /// already registered there is left as it is.
    pub async fn adopt_token(
        &self,
        tenant: &str,
        token: &str,
        label: Option<&str>,
    ) -> Result<IssuedToken, ScimError> {
        let new = auth::adopt(token);
        if let Some(existing) = self
            .inner
            .store
            .token(&new.id)
            .await
            .map_err(|e| e.to_scim_error())?
            && existing.tenant == tenant
            && auth::same_hash(&existing.hash, &new.hash)
        {
            return Ok(IssuedToken {
                tenant: tenant.to_owned(),
                id: new.id,
                token: new.token,
                expires: existing.expires,
            });
        }
        self.record_token(tenant, new, label, None, None).await
    }

    async fn record_token(
        &self,
        tenant: &str,
        new: auth::NewToken,
        label: Option<&str>,
        expires: Option<DateTime<Utc>>,
        scope: Option<&str>,
    ) -> Result<IssuedToken, ScimError> {
        let now = self.now();
        let expires = expires.map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true));
        let mut record = TokenRecord::new(new.id.clone(), tenant, new.hash, now.clone());
        if let Some(label) = label {
            record = record.with_label(label);
        }
        if let Some(expires) = &expires {
            record = record.with_expires(expires.clone());
        }
        if let Some(scope) = scope {
            record = record.with_scope(scope);
        }
        self.inner
            .store
            .create_token(record, &Ctx::at(now))
            .await
            .map_err(|e| e.to_scim_error())?;
        Ok(IssuedToken {
            tenant: tenant.to_owned(),
            id: new.id,
            token: new.token,
            expires,
        })
    }

    /// Revokes token `id` of `tenant`; false when the tenant has no such token.
    pub async fn revoke_token(&self, tenant: &str, id: &str) -> Result<bool, ScimError> {
        self.forget_token(id);
        self.inner
            .store
            .revoke_token(tenant, id, &Ctx::at(self.now()))
            .await
            .map_err(|e| e.to_scim_error())
    }

    /// Sets the identity-provider profile `tenant`'s requests are read with (one of
    /// [`PROFILES`]; `None` for the configured default). Takes effect at once on this server,
    /// within 2 s on others sharing the store.
    pub async fn set_profile(&self, tenant: &str, profile: Option<&str>) -> Result<(), ScimError> {
        if let Some(name) = profile
            && profile_named(name).is_none()
        {
            return Err(ScimError::typed(
                ScimType::InvalidValue,
                format!(
                    "no profile {name:?}; the profiles are {}",
                    PROFILES.join(", ")
                ),
            ));
        }
        let profile = profile.map(str::to_ascii_lowercase);
        self.inner
            .store
            .set_profile(tenant, profile.as_deref())
            .await
            .map_err(|e| e.to_scim_error())?;
        self.inner
            .tolerances
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(tenant);
        Ok(())
    }

    /// How `tenant`'s requests are read (cached like token records).
    async fn tolerance(&self, tenant: &str) -> Result<Arc<Tolerance>, Failure> {
        let now = self.inner.env.monotonic();
        if let Some((t, _)) = self
            .inner
            .tolerances
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(tenant)
            .filter(|(_, at)| now.saturating_sub(*at) < TOKEN_TTL)
        {
            return Ok(Arc::clone(t));
        }
        let name = self.inner.store.profile(tenant).await?;
        let tolerance = Arc::new(match name.as_deref().and_then(profile_named) {
            Some(patch) => Tolerance {
                normalize: if patch.name() == "strict" {
                    scimkit_schema::NormalizeOptions::strict()
                } else {
                    scimkit_schema::NormalizeOptions::lenient()
                },
                patch,
            },
            None => Tolerance {
                patch: self.inner.config.patch_profile.clone(),
                normalize: self.inner.config.normalize.clone(),
            },
        });
        let mut cache = self
            .inner
            .tolerances
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= TOKEN_CACHE {
            cache.clear();
        }
        cache.insert(tenant.to_owned(), (Arc::clone(&tolerance), now));
        Ok(tolerance)
    }

    fn forget_token(&self, id: &str) {
        self.inner
            .tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(id);
    }

    /// The record of token `id`: from the cache when read less than [`TOKEN_TTL`] ago, else
    /// from the store (recording the token's use, at most once per read).
    async fn token_record(&self, id: &str) -> Result<Option<Arc<TokenRecord>>, Failure> {
        let now = self.inner.env.monotonic();
        let cached = self
            .inner
            .tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(id)
            .filter(|(_, at)| now.saturating_sub(*at) < TOKEN_TTL)
            .map(|(r, _)| Arc::clone(r));
        if cached.is_some() {
            return Ok(cached);
        }
        let Some(record) = self.inner.store.token(id).await? else {
            return Ok(None);
        };
        let record = Arc::new(record);
        if let Err(e) = self.inner.store.touch_token(id, &self.now()).await {
            tracing::warn!(error = %e, "could not record the token's last use");
        }
        let mut cache = self
            .inner
            .tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if cache.len() >= TOKEN_CACHE {
            cache.clear();
        }
        cache.insert(id.to_owned(), (Arc::clone(&record), now));
        Ok(Some(record))
    }

    /// The tenant's SCIM base URL under `origin` (`https://host`).
    pub fn base_url(&self, origin: &str, tenant: &str) -> String {
        format!(
            "{}{}/{tenant}",
            origin.trim_end_matches('/'),
            self.inner.config.base_path.trim_end_matches('/')
        )
    }

    /// Serves one request. Never fails: every error is an RFC 7644 §3.12 error response.
    pub async fn handle(&self, req: Request<Bytes>) -> Response<Bytes> {
        let request_id = request_id(req.headers(), || {
            let n = self
                .inner
                .request_ids
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            format!("{n:016x}")
        });
        // Every log line of the request carries its id (never a header value or body).
        let span = tracing::info_span!(
            "request",
            id = %request_id,
            method = %req.method(),
            path = %req.uri().path(),
            tenant = tracing::field::Empty,
        );
        tracing::Instrument::instrument(self.handle_in_span(req, request_id), span).await
    }

    async fn handle_in_span(&self, req: Request<Bytes>, request_id: String) -> Response<Bytes> {
        let started = Instant::now();
        let accept = req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let timeout = self.inner.config.request_timeout;
        if req.uri().path() == crate::console::PATH || req.uri().path().starts_with("/console/") {
            // The console answers HTML, with its own errors.
            let response =
                match tokio::time::timeout(timeout, crate::console::serve(self, req)).await {
                    Ok(response) => response,
                    Err(_) => Response::builder()
                        .status(StatusCode::SERVICE_UNAVAILABLE)
                        .body(Bytes::from_static(
                            b"the console page took too long; reload it",
                        ))
                        .unwrap_or_default(),
                };
            tracing::info!(
                status = response.status().as_u16(),
                ms = started.elapsed().as_secs_f64() * 1000.0,
                "answered"
            );
            return response;
        }
        let noted = self.note(&req, &request_id);
        let (outcome, fired) =
            crate::requestlog::collecting(tokio::time::timeout(timeout, self.dispatch(req))).await;
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(_) => Err(Failure::new(
                503,
                None,
                format!(
                    "the request took longer than {} s and was abandoned; it may have been applied — read the resource before retrying",
                    timeout.as_secs()
                ),
            )
            .with_header(header::RETRY_AFTER, "1")),
        };
        let mut response = render(outcome, accept.as_deref());
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            response
                .headers_mut()
                .insert(HeaderName::from_static("x-request-id"), v);
        }
        tracing::info!(
            status = response.status().as_u16(),
            ms = started.elapsed().as_secs_f64() * 1000.0,
            "answered"
        );
        if let Some(noted) = noted {
            self.inner.requests.record(
                &self.inner.store,
                noted,
                response.status().as_u16(),
                started.elapsed(),
                fired,
                response.body().clone(),
            );
        }
        response
    }

    /// What the provisioning log keeps of a SCIM request on its way in: `None` for a path
    /// that names no tenant under the SCIM base path (the app API and the console included).
    fn note(&self, req: &Request<Bytes>, request_id: &str) -> Option<crate::requestlog::Noted> {
        let base = self.inner.config.base_path.trim_end_matches('/');
        let rest = req.uri().path().strip_prefix(base)?.strip_prefix('/')?;
        let mut segments = rest.split('/');
        let tenant = percent_decode(segments.next()?);
        if tenant.is_empty() {
            return None;
        }
        let resource_type = segments.next().and_then(|endpoint| {
            self.inner
                .registry
                .resource_types()
                .iter()
                .find(|rt| rt.endpoint.trim_start_matches('/') == endpoint)
                .map(|rt| rt.name.clone())
        });
        let resource_id = resource_type
            .as_ref()
            .and(segments.next())
            .filter(|id| !id.is_empty() && *id != ".search")
            .map(percent_decode);
        let token_id = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(auth::bearer)
            .map(auth::id_of);
        Some(crate::requestlog::Noted {
            tenant,
            at: self.now_utc(),
            request_id: request_id.to_owned(),
            token_id,
            method: req.method().clone(),
            path: req
                .uri()
                .path_and_query()
                .map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned()),
            resource_type,
            resource_id,
            body: req.body().clone(),
        })
    }

    /// Writes the provisioning log's waiting requests to the store now (the server also
    /// does so every 250 ms).
    pub async fn flush_request_log(&self) {
        self.inner.requests.flush(self.inner.store.as_ref()).await;
    }

    /// How many requests the provisioning log dropped because the store fell behind.
    pub(crate) fn request_log_dropped(&self) -> u64 {
        self.inner.requests.dropped()
    }

    async fn dispatch(&self, req: Request<Bytes>) -> Outcome {
        let (parts, body) = req.into_parts();
        if let Some(rest) = parts.uri.path().strip_prefix(crate::access::APP_PATH) {
            let rest = rest.to_owned();
            return self.dispatch_app(parts, body, &rest).await;
        }
        let base = self.inner.config.base_path.trim_end_matches('/');
        let path = parts.uri.path();
        let Some(rest) = path.strip_prefix(base).and_then(|r| r.strip_prefix('/')) else {
            return Err(Failure::new(
                404,
                None,
                format!("no SCIM endpoint at {path}: each tenant's base URL is {base}/{{tenant}}"),
            ));
        };
        let mut segments = rest.split('/');
        let tenant = segments.next().unwrap_or_default();
        if tenant.is_empty() {
            return Err(Failure::new(
                404,
                None,
                format!("name a tenant: each tenant's base URL is {base}/{{tenant}}"),
            ));
        }
        let tenant = percent_decode(tenant);
        let rest: Vec<String> = segments.map(percent_decode).collect();

        if body.len() > self.inner.config.max_payload_size {
            return Err(Failure::new(
                413,
                None,
                format!(
                    "the request body has {} bytes; the most this server accepts is {}",
                    body.len(),
                    self.inner.config.max_payload_size
                ),
            ));
        }
        let token_id = self.authenticate(&parts.headers, &tenant, None).await?;
        if let Some(limiter) = &self.inner.limiter
            && let Err(wait) = limiter.take(&token_id, self.inner.env.monotonic())
        {
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            return Err(Failure::new(
                429,
                None,
                format!("too many requests with this token; retry after {secs} s"),
            )
            .with_header(header::RETRY_AFTER, secs.to_string()));
        }
        tracing::Span::current().record("tenant", tenant.as_str());
        let query = parts
            .uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let origin = self.origin(&parts.headers);
        let tolerance = self.tolerance(&tenant).await?;
        let call = Call {
            tolerance,
            base_url: self.base_url(&origin, &tenant),
            tenant,
            token_id,
            method: parts.method,
            query,
            headers: parts.headers,
            body,
            now: self.now(),
        };
        let route = self.route(&rest)?;
        // What a failed change was, for the audit log.
        let target = match (&route, &call.method) {
            (Route::List(rt), &Method::POST) => Some((rt.name.clone(), String::new())),
            (Route::One(rt, id), m) if m != Method::GET => Some((rt.name.clone(), id.clone())),
            _ => None,
        };
        let outcome = crate::resources::serve(self, &call, route).await;
        if let (Err(failure), Some((rt, id))) = (&outcome, target) {
            crate::resources::audit_failure(self, &call, call.method.as_str(), &rt, &id, failure)
                .await;
        }
        outcome
    }

    /// The origin clients reach the server at.
    pub(crate) fn origin(&self, headers: &HeaderMap) -> String {
        if let Some(url) = &self.inner.config.public_url {
            return url.clone();
        }
        let host = headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .filter(|h| {
                !h.is_empty()
                    && h.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
            })
            .unwrap_or("localhost");
        format!("http://{host}")
    }

    /// Checks the bearer token against the tenant in the path; returns the token's id.
    /// The host application's API: `/app/v1/{tenant}/…` with an app-scoped token.
    async fn dispatch_app(&self, parts: http::request::Parts, body: Bytes, rest: &str) -> Outcome {
        let mut segments = rest.split('/');
        let tenant = percent_decode(segments.next().unwrap_or_default());
        let what: Vec<String> = segments.map(percent_decode).collect();
        if tenant.is_empty() {
            return Err(Failure::new(
                404,
                None,
                format!(
                    "name a tenant: the app API is {}{{tenant}}",
                    crate::access::APP_PATH
                ),
            ));
        }
        if body.len() > self.inner.config.max_payload_size {
            return Err(Failure::new(413, None, "the request body is too large"));
        }
        let token_id = self
            .authenticate(&parts.headers, &tenant, Some(APP_SCOPE))
            .await?;
        tracing::Span::current().record("tenant", tenant.as_str());
        let query = parts
            .uri
            .query()
            .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
            .unwrap_or_default();
        let origin = self.origin(&parts.headers);
        let tolerance = self.tolerance(&tenant).await?;
        let call = Call {
            tolerance,
            base_url: self.base_url(&origin, &tenant),
            tenant,
            token_id,
            method: parts.method,
            query,
            headers: parts.headers,
            body,
            now: self.now(),
        };
        crate::access::serve(self, &call, &what).await
    }

    async fn authenticate(
        &self,
        headers: &HeaderMap,
        tenant: &str,
        scope: Option<&str>,
    ) -> Result<String, Failure> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(challenge(
                "send the tenant's token as `Authorization: Bearer <token>`",
                None,
            ));
        };
        let Some(token) = value.to_str().ok().and_then(auth::bearer) else {
            return Err(challenge(
                "the Authorization header must be `Bearer <token>`",
                Some("invalid_request"),
            ));
        };
        self.verify_token(token, |t| t == tenant, scope)
            .await
            .map(|record| record.id.clone())
    }

    /// Checks a presented token: its record, its hash (in constant time), its tenant (`tenant`
    /// says which are accepted), its scope, revocation and expiry. Every failure is a 401 with
    /// a `WWW-Authenticate: Bearer` challenge.
    pub(crate) async fn verify_token(
        &self,
        token: &str,
        tenant: impl Fn(&str) -> bool,
        scope: Option<&str>,
    ) -> Result<Arc<TokenRecord>, Failure> {
        let invalid = || {
            challenge(
                "the bearer token is not valid for this tenant",
                Some("invalid_token"),
            )
        };
        let id = auth::id_of(token);
        let Some(record) = self.token_record(&id).await? else {
            return Err(invalid());
        };
        // The hash first, in constant time; then which tenant, so that the answer for another
        // tenant's token is the answer for a wrong one.
        // A token opens one API of one tenant: the answer for the wrong API or tenant is the
        // answer for a wrong token.
        if !auth::same_hash(&record.hash, &auth::hash(token))
            || !tenant(&record.tenant)
            || record.scope.as_deref() != scope
        {
            return Err(invalid());
        }
        if record.revoked.is_some() {
            return Err(challenge(
                "the bearer token was revoked; ask the tenant's admin for a new one",
                Some("invalid_token"),
            ));
        }
        let now = self.inner.env.now();
        if let Some(expires) = &record.expires {
            let expired = DateTime::parse_from_rfc3339(expires)
                .map(|t| t.with_timezone(&Utc) <= now)
                .unwrap_or(true);
            if expired {
                return Err(challenge(
                    &format!("the bearer token expired at {expires}"),
                    Some("invalid_token"),
                ));
            }
        }
        Ok(record)
    }

    fn route<'s>(&'s self, rest: &[String]) -> Result<Route<'s>, Failure> {
        let registry = &self.inner.registry;
        let seg: Vec<&str> = rest.iter().map(String::as_str).collect();
        let endpoint = |name: &str| {
            registry
                .resource_types()
                .iter()
                .find(|rt| rt.endpoint.trim_start_matches('/') == name)
        };
        let not_found = || {
            let endpoints: Vec<&str> = registry
                .resource_types()
                .iter()
                .map(|rt| rt.endpoint.as_str())
                .collect();
            Failure::new(
                404,
                None,
                format!(
                    "no such endpoint: this tenant serves {}, /Bulk, /ServiceProviderConfig, /ResourceTypes and /Schemas",
                    endpoints.join(", ")
                ),
            )
        };
        Ok(match seg.as_slice() {
            ["ServiceProviderConfig"] => Route::ServiceProviderConfig,
            ["ResourceTypes"] => Route::ResourceTypes(None),
            ["ResourceTypes", id] => Route::ResourceTypes(Some((*id).to_owned())),
            ["Schemas"] => Route::Schemas(None),
            ["Schemas", id] => Route::Schemas(Some((*id).to_owned())),
            ["Bulk"] => Route::Bulk,
            ["Me", ..] => Route::Me,
            ["Roles"] => Route::Roles(None),
            ["Roles", id] => Route::Roles(Some((*id).to_owned())),
            ["Entitlements"] => Route::Entitlements(None),
            ["Entitlements", id] => Route::Entitlements(Some((*id).to_owned())),
            [".search"] => Route::RootSearch,
            ["Events"] => Route::Events,
            [name] => Route::List(endpoint(name).ok_or_else(not_found)?),
            [name, ".search"] => Route::Search(endpoint(name).ok_or_else(not_found)?),
            [name, id] if !id.is_empty() => {
                Route::One(endpoint(name).ok_or_else(not_found)?, (*id).to_owned())
            }
            _ => return Err(not_found()),
        })
    }
}

/// The request id: the client's `X-Request-Id` when it is a plain token, else a new one.
fn request_id(headers: &HeaderMap, new: impl FnOnce() -> String) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .map_or_else(new, str::to_owned)
}

/// `%XX` escapes of a path segment decoded (invalid UTF-8 is replaced).
pub(crate) fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The response media type: `application/scim+json` unless the client accepts only
/// `application/json` (OneLogin asks for it).
fn media_type(accept: Option<&str>) -> &'static str {
    let Some(accept) = accept else {
        return SCIM_JSON;
    };
    let types: Vec<String> = accept
        .split(',')
        .map(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .collect();
    let has = |t: &str| types.iter().any(|x| x == t);
    if !has(SCIM_JSON) && !has("*/*") && !has("application/*") && has("application/json") {
        "application/json"
    } else {
        SCIM_JSON
    }
}

/// The HTTP response for an outcome.
/// A 401 with the `WWW-Authenticate: Bearer` challenge (RFC 6750 §3), naming `error` if any.
fn challenge(detail: &str, error: Option<&str>) -> Failure {
    let value = match error {
        Some(e) => format!("Bearer realm=\"scimkit\", error=\"{e}\""),
        None => "Bearer realm=\"scimkit\"".to_owned(),
    };
    Failure::new(401, None, detail).with_header(header::WWW_AUTHENTICATE, value)
}

fn render(outcome: Outcome, accept: Option<&str>) -> Response<Bytes> {
    let (status, body, raw, headers) = match outcome {
        Ok(reply) => (reply.status, reply.body, reply.raw, reply.headers),
        Err(failure) => {
            let status = StatusCode::from_u16(failure.error.status)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            if status.is_server_error() {
                tracing::warn!(status = status.as_u16(), detail = ?failure.error.detail, "failed");
            } else {
                tracing::info!(status = status.as_u16(), detail = ?failure.error.detail, "refused");
            }
            let body = serde_json::to_value(&failure.error).unwrap_or(Value::Null);
            (status, Some(body), None, failure.headers)
        }
    };
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            builder = builder.header(name, v);
        }
    }
    let bytes = match (raw, body) {
        (Some(raw), _) => {
            builder = builder.header(header::CONTENT_TYPE, media_type(accept));
            raw
        }
        (None, Some(body)) => {
            builder = builder.header(header::CONTENT_TYPE, media_type(accept));
            Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
        }
        (None, None) => Bytes::new(),
    };
    builder.body(bytes).unwrap_or_else(|_| {
        let mut r = Response::new(Bytes::new());
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_decode() {
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("x%4"), "x%4");
        assert_eq!(percent_decode("%C3%A9"), "é");
    }

    #[test]
    fn media_types_follow_accept() {
        assert_eq!(media_type(None), SCIM_JSON);
        assert_eq!(media_type(Some("application/json")), "application/json");
        assert_eq!(
            media_type(Some("application/scim+json; charset=utf-8")),
            SCIM_JSON
        );
        assert_eq!(media_type(Some("application/json, */*")), SCIM_JSON);
        assert_eq!(media_type(Some("text/html")), SCIM_JSON);
    }
}
