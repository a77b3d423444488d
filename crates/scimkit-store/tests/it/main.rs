//! Integration tests of scimkit-store, run against every backend.
//!
//! - `conformance`: the Store contract (CRUD, versions, uniqueness, tenants, membership,
//!   events, audit, search), once per backend (memory, SQLite, and PostgreSQL when
//!   `SCIMKIT_TEST_POSTGRES_URL` is set, which CI always does).
//! - `credentials`: tenant records and bearer-token records (creation, lookup, revocation
//!   within the tenant, last use, audit, persistence), on every backend.
//! - `equivalence`: SQLite and PostgreSQL search results equal the in-memory evaluator's,
//!   for generated directories and filters.
//! - `reliability`: SIGKILL under write load loses no acknowledged write; races on
//!   `userName`, ids, conditional updates and membership lose nothing.

mod conformance;
mod credentials;
mod equivalence;
mod reliability;

use scimkit_schema::Registry;
use std::sync::Arc;

use scimkit_store::{CachedStore, MemoryStore, PgStore, SqliteStore, Store};

/// A fresh store of each backend, with a name for messages. The SQLite one is a file in a
/// temporary directory (removed by the returned guard).
pub(crate) fn backends() -> Vec<(&'static str, Box<dyn Store>, Option<TempDir>)> {
    let dir = TempDir::new("store");
    let sqlite =
        SqliteStore::open(dir.0.join("scimkit.db"), Registry::new()).expect("sqlite opens");
    vec![
        ("memory", Box::new(MemoryStore::new(Registry::new())), None),
        ("sqlite", Box::new(sqlite), Some(dir)),
    ]
}

/// A backend under test: its name, the store, and what must live as long as it does.
pub(crate) type Backend = (&'static str, Box<dyn Store>, Option<Box<dyn std::any::Any>>);

/// Every backend, PostgreSQL included when `SCIMKIT_TEST_POSTGRES_URL` is set (each call
/// gets a fresh schema, dropped by the returned guard). Under CI (`CI` set) the variable must
/// be set: PostgreSQL tests are never skipped there.
pub(crate) async fn all_backends() -> Vec<Backend> {
    let mut out: Vec<Backend> = backends()
        .into_iter()
        .map(|(name, store, dir)| {
            (
                name,
                store,
                dir.map(|d| Box::new(d) as Box<dyn std::any::Any>),
            )
        })
        .collect();
    // SQLite behind the cache of users that `scimkit serve` puts in front of it: the whole
    // contract holds through it.
    let dir = TempDir::new("store-cached");
    let sqlite =
        SqliteStore::open(dir.0.join("scimkit.db"), Registry::new()).expect("sqlite opens");
    out.push((
        "sqlite+cache",
        Box::new(CachedStore::new(Arc::new(sqlite), 1_000)),
        Some(Box::new(dir)),
    ));
    if let Some((store, schema)) = postgres().await {
        out.push(("postgres", Box::new(store), Some(Box::new(schema))));
    }
    out
}

/// A PostgreSQL store on a fresh schema (dropped by the returned guard), or `None` when
/// `SCIMKIT_TEST_POSTGRES_URL` is not set. Under CI (`CI` set) the variable must be set:
/// PostgreSQL tests are never skipped there.
pub(crate) async fn postgres() -> Option<(PgStore, PgSchema)> {
    match std::env::var("SCIMKIT_TEST_POSTGRES_URL") {
        Ok(url) => {
            let schema = PgSchema::new(&url);
            let store = schema.open().await;
            Some((store, schema))
        }
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!(
                "SCIMKIT_TEST_POSTGRES_URL must be set in CI: the PostgreSQL tests are never skipped there"
            )
        }
        Err(_) => None,
    }
}

/// A PostgreSQL schema for one test, dropped afterwards.
pub(crate) struct PgSchema {
    url: String,
    pub(crate) name: String,
}

impl PgSchema {
    pub(crate) fn new(url: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        Self {
            url: url.to_owned(),
            name: format!("scimkit_it_{}_{n}", std::process::id()),
        }
    }
}

impl PgSchema {
    /// Another store instance on this schema (as a second server process would have).
    pub(crate) async fn open(&self) -> PgStore {
        PgStore::connect(&self.url, Some(&self.name), Registry::new())
            .await
            .expect("postgres connects")
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // Its own thread and runtime, not joined: the store's connections run on the test's
        // runtime, and a transaction it still has to roll back would block the DROP until
        // that runtime runs again. `.ci/run` removes any schema left behind.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                if let Ok((client, conn)) =
                    tokio_postgres::connect(&url, tokio_postgres::NoTls).await
                {
                    tokio::spawn(conn);
                    let sql =
                        format!("SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {name} CASCADE");
                    let _ = client.batch_execute(&sql).await;
                }
            });
        });
    }
}

/// A temporary directory removed on drop.
pub(crate) struct TempDir(pub(crate) std::path::PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("scimkit-store-it-{}-{n}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("temp dir");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
