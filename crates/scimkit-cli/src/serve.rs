//! `scimkit serve`, `scimkit tenant`, `scimkit token` and `scimkit log`: run the service and
//! manage who may call it.
//!
//! Settings come from flags, then environment variables (`SCIMKIT_*`), then a TOML file
//! (`--config` or `SCIMKIT_CONFIG`), then defaults: SQLite in `./scimkit-data/`, tenant
//! `default`, `127.0.0.1:8080`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use scimkit_schema::Registry;
use scimkit_server::{Config, RateLimit, Scim};
use scimkit_store::{CachedStore, PgStore, SqliteStore, Store};
use serde::Deserialize;
use serde_json::{Value, json};

/// Where the data lives, shared by every subcommand that opens the store.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct StoreArgs {
    /// The directory of the embedded SQLite database (`scimkit.db`), created if missing.
    /// [default: ./scimkit-data]
    #[arg(long, value_name = "DIR", env = "SCIMKIT_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// A PostgreSQL URL (`postgres://user@host/db`) instead of SQLite, for several instances
    /// sharing one database.
    #[arg(long, value_name = "URL", env = "SCIMKIT_DATABASE")]
    database: Option<String>,
    /// The PostgreSQL schema to keep scimkit's tables in (created if missing). [default: the
    /// connection's search_path, usually `public`]
    #[arg(long, value_name = "NAME", env = "SCIMKIT_DATABASE_SCHEMA")]
    database_schema: Option<String>,
    /// A directory of extra schemas and resource types (one RFC 7643 JSON document per file).
    #[arg(long, value_name = "DIR", env = "SCIMKIT_SCHEMAS")]
    schemas: Option<PathBuf>,
    /// A TOML file with settings (the flags' names with underscores, e.g. `data_dir`,
    /// `listen`, `rate_limit_per_second`).
    #[arg(long, value_name = "FILE", env = "SCIMKIT_CONFIG")]
    config: Option<PathBuf>,
    /// The address clients reach the server at, for the base URLs printed and for
    /// `Location` headers (default: http://{listen}).
    #[arg(long, value_name = "URL", env = "SCIMKIT_PUBLIC_URL")]
    public_url: Option<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The address to listen on. [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR", env = "SCIMKIT_LISTEN")]
    listen: Option<SocketAddr>,
    /// Log lines as JSON (one object per line) instead of text.
    #[arg(long, env = "SCIMKIT_LOG_JSON")]
    log_json: bool,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum TenantCommand {
    /// Create a tenant and its first token; prints `{"tenant", "token", "base_url", "id"}`.
    Create {
        /// The tenant's name: lowercase letters, digits and `-`.
        name: String,
        /// A label for the token (e.g. the IdP it is for).
        #[arg(long)]
        label: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List tenants.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Choose which identity provider's tolerances a tenant's requests are read with:
    /// strict, lenient (the default: every IdP's quirks), entra, okta, google, onelogin,
    /// jumpcloud; `default` goes back to the server's default.
    SetProfile {
        /// The tenant.
        tenant: String,
        /// The profile.
        profile: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Turn soft delete on or off for a tenant: with it on, a deleted user or group vanishes
    /// from SCIM as before, and its last state is kept for audit until purged.
    SetSoftDelete {
        /// The tenant.
        tenant: String,
        /// `on` or `off`.
        #[arg(value_parser = ["on", "off"])]
        state: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum TokenCommand {
    /// Issue a token for a tenant; prints `{"tenant", "token", "base_url", "id"}`. The token is
    /// shown once: only its hash is stored.
    Create {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// A label (e.g. the IdP it is for).
        #[arg(long)]
        label: Option<String>,
        /// Days until it expires (never, when absent).
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<u32>,
        /// What it opens: `scim` (the SCIM API, for the IdP), `app` (the host application's
        /// API: access checks and role rules under /app/v1/{tenant}) or `console` (the admin
        /// console at /console: every tenant for a token of tenant `default`, else its tenant).
        #[arg(long, default_value = "scim", value_parser = ["scim", "app", "console"])]
        scope: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List a tenant's tokens (ids, labels, dates; never secrets).
    List {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a token by id.
    Revoke {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The token's id (from `token list`).
        id: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Debug, clap::Args)]
pub(crate) struct LogArgs {
    /// The tenant. [default: default]
    #[arg(long, default_value = "default")]
    tenant: String,
    /// The most records, newest first.
    #[arg(long, default_value_t = 100)]
    limit: usize,
    #[command(flatten)]
    store: StoreArgs,
}

/// The settings file (every field optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database: Option<String>,
    database_schema: Option<String>,
    schemas: Option<PathBuf>,
    public_url: Option<String>,
    base_path: Option<String>,
    max_payload_size: Option<usize>,
    bulk_max_operations: Option<usize>,
    max_results: Option<usize>,
    rate_limit_per_second: Option<f64>,
    rate_limit_burst: Option<u32>,
    request_timeout_seconds: Option<u64>,
    /// How many users `GET /Users/{id}` keeps in memory (SQLite only; 0: none).
    read_cache_entries: Option<usize>,
    /// The shared secret that signs polled SETs (RFC 8936); polling is off without it.
    events_poll_secret: Option<String>,
    /// Receivers of pushed SETs (RFC 8935).
    #[serde(default)]
    push: Vec<PushSettings>,
}

/// A `[[push]]` table of the settings file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PushSettings {
    name: String,
    url: String,
    secret: String,
    tenant: Option<String>,
    audience: Option<String>,
    /// The value of an `Authorization` header sent with each push.
    authorization: Option<String>,
}

/// Settings resolved from flags, environment, file and defaults.
struct Settings {
    file: FileSettings,
    store: StoreArgs,
}

impl Settings {
    fn load(store: &StoreArgs) -> Result<Self, String> {
        let file = match &store.config {
            None => FileSettings::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
        };
        Ok(Self {
            file,
            store: store.clone(),
        })
    }

    fn data_dir(&self) -> PathBuf {
        self.store
            .data_dir
            .clone()
            .or_else(|| self.file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from("scimkit-data"))
    }

    fn database(&self) -> Option<String> {
        self.store
            .database
            .clone()
            .or_else(|| self.file.database.clone())
    }

    fn database_schema(&self) -> Option<String> {
        self.store
            .database_schema
            .clone()
            .or_else(|| self.file.database_schema.clone())
    }

    fn registry(&self) -> Result<Registry, String> {
        let dir = self
            .store
            .schemas
            .clone()
            .or_else(|| self.file.schemas.clone());
        crate::registry(dir.as_deref())
    }

    fn config(&self) -> Config {
        let mut config = Config::default();
        if let Some(p) = &self.file.base_path {
            config.base_path.clone_from(p);
        }
        config.public_url = self
            .store
            .public_url
            .clone()
            .or_else(|| self.file.public_url.clone());
        if let Some(n) = self.file.max_payload_size {
            config.max_payload_size = n;
        }
        if let Some(n) = self.file.bulk_max_operations {
            config.bulk_max_operations = n;
        }
        if let Some(n) = self.file.max_results {
            config.max_results = n;
        }
        match (self.file.rate_limit_per_second, self.file.rate_limit_burst) {
            (Some(r), _) if r <= 0.0 => config.rate_limit = None,
            (None, None) => {}
            (r, b) => {
                let d = RateLimit::default();
                config.rate_limit = Some(RateLimit::new(
                    r.unwrap_or(d.per_second),
                    b.unwrap_or(d.burst),
                ));
            }
        }
        if let Some(s) = self.file.request_timeout_seconds {
            config.request_timeout = Duration::from_secs(s.max(1));
        }
        config
    }

    /// The origin printed in base URLs.
    fn origin(&self, listen: Option<SocketAddr>) -> String {
        self.store
            .public_url
            .clone()
            .or_else(|| self.file.public_url.clone())
            .unwrap_or_else(|| {
                format!(
                    "http://{}",
                    listen.or(self.file.listen).unwrap_or_else(default_listen)
                )
            })
    }

    /// The store for administration: tenants, tokens, settings and logs. It leaves the
    /// custom-schema unique index as the server built it.
    async fn open_admin(&self) -> Result<Scim, String> {
        let registry = self.registry()?;
        let store: Arc<dyn Store> = match self.database() {
            Some(url) => Arc::new(
                PgStore::connect_for_admin(&url, self.database_schema().as_deref())
                    .await
                    .map_err(|e| format!("PostgreSQL at {}: {e}", redact(&url)))?,
            ),
            None => {
                let dir = self.data_dir();
                std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                let path = dir.join("scimkit.db");
                Arc::new(
                    SqliteStore::open_for_admin(&path)
                        .map_err(|e| format!("{}: {e}", path.display()))?,
                )
            }
        };
        Ok(Scim::new(store, registry, self.config()))
    }

    /// The store `serve` serves. SQLite: the data directory is locked for this process
    /// (the returned file holds the lock until it is dropped), which lets users read by id be
    /// kept in memory ([`CachedStore`]): no other process writes the resources.
    async fn open(&self) -> Result<(Scim, Option<std::fs::File>), String> {
        let registry = self.registry()?;
        let (store, lock): (Arc<dyn Store>, _) = match self.database() {
            Some(url) => (
                Arc::new(
                    PgStore::connect(&url, self.database_schema().as_deref(), registry.clone())
                        .await
                        .map_err(|e| format!("PostgreSQL at {}: {e}", redact(&url)))?,
                ),
                None,
            ),
            None => {
                let dir = self.data_dir();
                std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                let lock = lock_data_dir(&dir)?;
                let path = dir.join("scimkit.db");
                let sqlite: Arc<dyn Store> = Arc::new(
                    SqliteStore::open(&path, registry.clone())
                        .map_err(|e| format!("{}: {e}", path.display()))?,
                );
                let entries = self
                    .file
                    .read_cache_entries
                    .unwrap_or(DEFAULT_READ_CACHE_ENTRIES);
                (Arc::new(CachedStore::new(sqlite, entries)), Some(lock))
            }
        };
        Ok((Scim::new(store, registry, self.config()), lock))
    }
}

/// How many users a SQLite-backed `serve` keeps in memory unless `read_cache_entries` says
/// otherwise: about 1.5 KB each for a user with a few attributes and groups.
const DEFAULT_READ_CACHE_ENTRIES: usize = 20_000;

/// Takes the exclusive lock of `dir` (the file `serve.lock` in it), held while the returned
/// file is open; an error names the directory when another process holds it.
fn lock_data_dir(dir: &Path) -> Result<std::fs::File, String> {
    let path = dir.join("serve.lock");
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "{} is served by another `scimkit serve`: a SQLite data directory has one server \
             (run several instances on PostgreSQL, with --database)",
            dir.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(format!("locking {}: {e}", path.display())),
    }
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

/// A database URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// An error unless `tenant` exists.
async fn require_tenant(scim: &Scim, tenant: &str) -> Result<(), String> {
    match scim.store().tenant(tenant).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(format!("no tenant {tenant}")),
        Err(e) => Err(e.to_string()),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

fn issued_json(scim: &Scim, origin: &str, t: &scimkit_server::IssuedToken) -> Value {
    json!({
        "tenant": t.tenant,
        "token": t.token,
        "base_url": scim.base_url(origin, &t.tenant),
        "id": t.id,
        "expires": t.expires,
    })
}

pub(crate) fn serve(args: ServeArgs) -> Result<(), String> {
    let settings = Settings::load(&args.store)?;
    init_logs(args.log_json);
    let listen = args
        .listen
        .or(settings.file.listen)
        .unwrap_or_else(default_listen);
    runtime()?.block_on(async move {
        // Bound before anything is printed, so that `--listen 127.0.0.1:0` prints the port.
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| format!("{listen}: {e}"))?;
        let bound = listener.local_addr().map_err(|e| format!("{listen}: {e}"))?;
        let origin = settings.origin(Some(bound));
        let (scim, _data_dir_lock) = settings.open().await?;
        scim.ensure_tenant("default")
            .await
            .map_err(|e| format!("creating tenant default: {e}"))?;
        // The first token of tenant `default`: from SCIMKIT_BOOTSTRAP_TOKEN, or a random one
        // printed once when the tenant has none yet.
        let bootstrap = std::env::var("SCIMKIT_BOOTSTRAP_TOKEN")
            .ok()
            .filter(|t| !t.is_empty());
        let tokens = scim
            .store()
            .tokens("default")
            .await
            .map_err(|e| format!("reading tokens: {e}"))?;
        let issued = match bootstrap {
            Some(token) => Some(
                scim.adopt_token("default", &token, Some("bootstrap"))
                    .await
                    .map_err(|e| format!("registering SCIMKIT_BOOTSTRAP_TOKEN: {e}"))?,
            ),
            None if tokens.is_empty() => Some(
                scim.issue_token("default", Some("bootstrap"), None)
                    .await
                    .map_err(|e| format!("issuing the bootstrap token: {e}"))?,
            ),
            None => None,
        };
        match issued {
            // Printed once, on stdout, so that automation can read it; logs go to stderr.
            Some(t) if tokens.iter().all(|r| r.id != t.id) => {
                println!("{}", issued_json(&scim, &origin, &t));
            }
            _ => tracing::info!(
                base_url = %scim.base_url(&origin, "default"),
                "tenant default has tokens already (`scimkit token create --tenant default` issues another)"
            ),
        }
        // Events for the host app: polling when a secret is set, pushing to each [[push]].
        let poll_secret = std::env::var("SCIMKIT_EVENTS_POLL_SECRET")
            .ok()
            .filter(|s| !s.is_empty())
            .or_else(|| settings.file.events_poll_secret.clone());
        if let Some(secret) = poll_secret {
            scimkit_server::events::configure(
                &scim,
                scimkit_server::EventsConfig::polling(secret.into_bytes()),
            );
        }
        let dispatcher = if settings.file.push.is_empty() {
            None
        } else {
            let mut d = scimkit_server::Dispatcher::new(&scim).origin(origin.clone());
            for p in &settings.file.push {
                let mut t = scimkit_server::PushTarget::new(&p.name, &p.url, p.secret.clone().into_bytes());
                if let Some(tenant) = &p.tenant {
                    t = t.tenant(tenant);
                }
                if let Some(aud) = &p.audience {
                    t = t.audience(aud);
                }
                if let Some(auth) = &p.authorization {
                    t = t.authorization(auth);
                }
                d = d.push(t);
            }
            Some(d.spawn().map_err(|e| format!("events: {e}"))?)
        };
        tracing::info!(
            url = %format!("{}/console", origin.trim_end_matches('/')),
            "admin console; log in with a console token (scimkit token create --tenant default --scope console)"
        );
        tracing::info!(addr = %bound, "listening");
        let served = scimkit_server::transport::serve(scim, listener, scimkit_server::transport::shutdown_signal())
            .await
            .map_err(|e| format!("{bound}: {e}"));
        if let Some(d) = dispatcher {
            d.stop().await;
        }
        served
    })
}

fn init_logs(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SCIMKIT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal (and not with NO_COLOR): files and pipes get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

pub(crate) fn tenant(command: TenantCommand) -> Result<Value, String> {
    match command {
        TenantCommand::Create { name, label, store } => {
            let settings = Settings::load(&store)?;
            let origin = settings.origin(None);
            runtime()?.block_on(async move {
                let scim = settings.open_admin().await?;
                scim.create_tenant(&name).await.map_err(|e| e.to_string())?;
                let t = scim
                    .issue_token(&name, label.as_deref(), None)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(issued_json(&scim, &origin, &t))
            })
        }
        TenantCommand::SetProfile {
            tenant,
            profile,
            store,
        } => {
            let settings = Settings::load(&store)?;
            runtime()?.block_on(async move {
                let scim = settings.open_admin().await?;
                require_tenant(&scim, &tenant).await?;
                let chosen = (profile != "default").then_some(profile.as_str());
                scim.set_profile(&tenant, chosen)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(json!({"tenant": tenant, "profile": chosen.unwrap_or("default")}))
            })
        }
        TenantCommand::SetSoftDelete {
            tenant,
            state,
            store,
        } => {
            let settings = Settings::load(&store)?;
            runtime()?.block_on(async move {
                let scim = settings.open_admin().await?;
                require_tenant(&scim, &tenant).await?;
                let on = state == "on";
                scim.store()
                    .set_soft_delete(&tenant, on)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(json!({"tenant": tenant, "soft_delete": on}))
            })
        }
        TenantCommand::List { store } => {
            let settings = Settings::load(&store)?;
            let origin = settings.origin(None);
            runtime()?.block_on(async move {
                let scim = settings.open_admin().await?;
                let tenants = scim.store().tenants().await.map_err(|e| e.to_string())?;
                Ok(Value::Array(
                    tenants
                        .iter()
                        .map(|t| {
                            json!({"tenant": t.name, "created": t.created, "base_url": scim.base_url(&origin, &t.name)})
                        })
                        .collect(),
                ))
            })
        }
    }
}

pub(crate) fn token(command: TokenCommand) -> Result<Value, String> {
    match command {
        TokenCommand::Create {
            tenant,
            label,
            expires_in_days,
            scope,
            store,
        } => {
            let settings = Settings::load(&store)?;
            let origin = settings.origin(None);
            runtime()?.block_on(async move {
                let scim = settings.open_admin().await?;
                let expires = expires_in_days
                    .map(|d| chrono::Utc::now() + chrono::Duration::days(i64::from(d)));
                let t = match scope.as_str() {
                    "app" => {
                        scim.issue_app_token(&tenant, label.as_deref(), expires)
                            .await
                    }
                    "console" => {
                        scim.issue_console_token(&tenant, label.as_deref(), expires)
                            .await
                    }
                    _ => scim.issue_token(&tenant, label.as_deref(), expires).await,
                }
                .map_err(|e| e.to_string())?;
                let mut out = issued_json(&scim, &origin, &t);
                let origin = origin.trim_end_matches('/');
                match scope.as_str() {
                    "app" => out["base_url"] = Value::String(format!("{origin}/app/v1/{tenant}")),
                    "console" => out["base_url"] = Value::String(format!("{origin}/console")),
                    _ => {}
                }
                out["scope"] = Value::String(scope);
                Ok(out)
            })
        }
        TokenCommand::List { tenant, store } => {
            let settings = Settings::load(&store)?;
            runtime()?.block_on(async move {
                let scim = settings.open_admin().await?;
                let tokens = scim
                    .store()
                    .tokens(&tenant)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Value::Array(
                    tokens
                        .iter()
                        .map(|t| {
                            json!({
                                "id": t.id, "tenant": t.tenant, "label": t.label,
                                "scope": t.scope.as_deref().unwrap_or("scim"),
                                "created": t.created, "expires": t.expires,
                                "revoked": t.revoked, "last_used": t.last_used,
                            })
                        })
                        .collect(),
                ))
            })
        }
        TokenCommand::Revoke { tenant, id, store } => {
            let settings = Settings::load(&store)?;
            runtime()?.block_on(async move {
                let scim = settings.open_admin().await?;
                let revoked = scim
                    .revoke_token(&tenant, &id)
                    .await
                    .map_err(|e| e.to_string())?;
                if !revoked {
                    return Err(format!("tenant {tenant} has no token {id}"));
                }
                Ok(json!({"tenant": tenant, "id": id, "revoked": true}))
            })
        }
    }
}

pub(crate) fn log(args: LogArgs) -> Result<Value, String> {
    let settings = Settings::load(&args.store)?;
    runtime()?.block_on(async move {
        let scim = settings.open_admin().await?;
        let records = scim
            .store()
            .audit(&args.tenant, args.limit)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Value::Array(
            records
                .iter()
                .map(|r| {
                    json!({
                        "at": r.at, "token_id": r.token_id, "operation": r.operation,
                        "resource_type": r.resource_type, "resource_id": r.resource_id,
                        "outcome": r.outcome,
                    })
                })
                .collect(),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_lose_their_password() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
