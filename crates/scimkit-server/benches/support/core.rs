//! What the benches share: a protocol core on a fresh SQLite file, with tenant `acme` and a
//! SCIM token for it.

use std::path::PathBuf;
use std::sync::Arc;

use scimkit_schema::Registry;
use scimkit_server::{Config, Scim};
use scimkit_store::{SqliteStore, Store};

/// A core on `{temp}/{name}-{pid}/bench.db` (no rate limit), the store under it, the SCIM
/// token of tenant `acme`, and the directory to remove afterwards.
pub(crate) async fn sqlite_core(name: &str) -> (Scim, Arc<dyn Store>, String, PathBuf) {
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let registry = Registry::new();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir.join("bench.db"), registry.clone()).expect("sqlite"));
    let mut config = Config::default();
    config.rate_limit = None;
    let scim = Scim::new(Arc::clone(&store), registry, config);
    scim.create_tenant("acme").await.expect("tenant");
    let token = scim
        .issue_token("acme", None, None)
        .await
        .expect("token")
        .token;
    (scim, store, token, dir)
}
