//! Integration tests of scimkit-store, run against every backend.
//!
//! - `conformance`: the Store contract (CRUD, versions, uniqueness, tenants, membership,
//!   events, audit, search), once per backend.

mod conformance;

use scimkit_schema::Registry;
use scimkit_store::{MemoryStore, SqliteStore, Store};

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
