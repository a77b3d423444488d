//! What the benches share: a protocol core on a fresh SQLite file or PostgreSQL schema, with
//! tenant `acme` and a SCIM token for it.

use std::path::PathBuf;
use std::sync::Arc;

use scimkit_schema::Registry;
use scimkit_server::{Config, Scim};
use scimkit_store::{PgStore, SqliteStore, Store};

/// Where a bench's data lives, removed by [`Data::remove`].
pub(crate) enum Data {
    /// `{temp}/{name}-{pid}/bench.db`.
    Sqlite(PathBuf),
    /// A schema of the database at the URL.
    Postgres { url: String, schema: String },
}

impl Data {
    /// What to tell someone who wants to look at the data.
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Sqlite(dir) => dir.join("bench.db").display().to_string(),
            Self::Postgres { schema, .. } => format!("PostgreSQL schema {schema}"),
        }
    }

    /// After a bulk load: what autovacuum would do on PostgreSQL (it may be off, or not have
    /// run yet). Statistics, without which the planner guesses a few rows per table and scans
    /// instead of using the right index; and the visibility map, without which a count reads
    /// every row instead of only the index.
    pub(crate) async fn analyze(&self) {
        if let Self::Postgres { url, schema } = self {
            admin(url, &format!("VACUUM ANALYZE {schema}.resources, {schema}.members, {schema}.requests, {schema}.emails")).await;
        }
    }

    pub(crate) async fn remove(self) {
        match self {
            Self::Sqlite(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Self::Postgres { url, schema } => {
                admin(&url, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE")).await;
            }
        }
    }
}

/// Runs `sql` on its own connection to `url`.
async fn admin(url: &str, sql: &str) {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("postgres connects");
    let task = tokio::spawn(conn);
    client.batch_execute(sql).await.expect("the statement runs");
    drop(client);
    let _ = task.await;
}

/// A core (no rate limit) on a fresh SQLite file, or on a fresh schema of the PostgreSQL
/// database at `postgres`; the store under it, the SCIM token of tenant `acme`, and where the
/// data is.
pub(crate) async fn core(
    name: &str,
    postgres: Option<&str>,
) -> (Scim, Arc<dyn Store>, String, Data) {
    let registry = Registry::new();
    let (store, data): (Arc<dyn Store>, Data) = match postgres {
        Some(url) => {
            let schema = format!("{}_{}", name.replace('-', "_"), std::process::id());
            let store = PgStore::connect(url, Some(&schema), registry.clone())
                .await
                .expect("postgres");
            (
                Arc::new(store),
                Data::Postgres {
                    url: url.to_owned(),
                    schema,
                },
            )
        }
        None => {
            let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            let store = SqliteStore::open(dir.join("bench.db"), registry.clone()).expect("sqlite");
            (Arc::new(store), Data::Sqlite(dir))
        }
    };
    let mut config = Config::default();
    config.rate_limit = None;
    let scim = Scim::new(Arc::clone(&store), registry, config);
    scim.create_tenant("acme").await.expect("tenant");
    let token = scim
        .issue_token("acme", None, None)
        .await
        .expect("token")
        .token;
    (scim, store, token, data)
}
