//! The SQLite backend: the default, one local file in WAL mode, no setup.
//!
//! One connection, used from a blocking thread per call; every change is one transaction
//! (resource row, member rows, event, audit record), so a crash never leaves half of it.
//! `userName` uniqueness is a unique index on its lowercased value; versions are compared and
//! set by the `UPDATE … WHERE version = ?` itself.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use scimkit_schema::Registry;
use serde_json::{Map, Value, json};

use crate::error::StoreError;
use crate::model::{
    AuditRecord, Ctx, Event, EventKind, GroupRef, Member, Page, Store, Stored, change_events,
    check_version, email_keys, indexed, member_diff, membership_events, split_members, sql_int,
};
use crate::model::{RequestQuery, RequestRecord, SqlArg};
use crate::model::{Tenant, TokenRecord, check_tenant_name, is_tenant_name, minute};
use crate::model::{Tombstone, UniqueKey, unique_attrs, unique_keys};
use crate::query::{self, Dialect, Prefilter, Query};

/// The schema, one migration per entry; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    // 1: resources, members, events, audit.
    "CREATE TABLE resources (
        tenant TEXT NOT NULL, type TEXT NOT NULL, id TEXT NOT NULL,
        version INTEGER NOT NULL, created TEXT NOT NULL, modified TEXT NOT NULL,
        user_name TEXT, external_id TEXT, display_name TEXT, body TEXT NOT NULL,
        PRIMARY KEY (tenant, type, id)) WITHOUT ROWID;
     CREATE UNIQUE INDEX resources_user_name ON resources (tenant, user_name) WHERE user_name IS NOT NULL;
     CREATE INDEX resources_external_id ON resources (tenant, type, external_id);
     CREATE INDEX resources_display_name ON resources (tenant, type, display_name);
     CREATE TABLE members (
        tenant TEXT NOT NULL, group_id TEXT NOT NULL, member_id TEXT NOT NULL, kind TEXT, display TEXT,
        PRIMARY KEY (tenant, group_id, member_id)) WITHOUT ROWID;
     CREATE INDEX members_by_member ON members (tenant, member_id, group_id);
     CREATE TABLE events (
        tenant TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, type TEXT NOT NULL,
        resource_id TEXT NOT NULL, version INTEGER, at TEXT NOT NULL, data TEXT NOT NULL,
        PRIMARY KEY (tenant, seq)) WITHOUT ROWID;
     CREATE TABLE audit (
        tenant TEXT NOT NULL, at TEXT NOT NULL, token_id TEXT, operation TEXT NOT NULL,
        type TEXT NOT NULL, resource_id TEXT NOT NULL, outcome TEXT NOT NULL);
     CREATE INDEX audit_by_tenant ON audit (tenant);",
    // 2: the emails.value index, and event consumers' acknowledgements.
    "CREATE TABLE emails (
        tenant TEXT NOT NULL, id TEXT NOT NULL, email TEXT NOT NULL,
        PRIMARY KEY (tenant, email, id)) WITHOUT ROWID;
     CREATE INDEX emails_by_user ON emails (tenant, id);
     CREATE TABLE consumers (
        tenant TEXT NOT NULL, consumer TEXT NOT NULL, acked INTEGER NOT NULL,
        PRIMARY KEY (tenant, consumer)) WITHOUT ROWID;",
    // 3: events as an ordinary table with a small (tenant, seq) index. WITHOUT ROWID kept
    // whole rows in the key B-tree, so one large event (the ids of 100,000 members added at
    // once) slowed every later insert of the tenant, which had to step over it.
    "CREATE TABLE events_v3 (
        tenant TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, type TEXT NOT NULL,
        resource_id TEXT NOT NULL, version INTEGER, at TEXT NOT NULL, data TEXT NOT NULL);
     INSERT INTO events_v3 SELECT tenant, seq, kind, type, resource_id, version, at, data FROM events;
     DROP TABLE events;
     ALTER TABLE events_v3 RENAME TO events;
     CREATE UNIQUE INDEX events_by_seq ON events (tenant, seq);",
    // 4: soft delete: a per-tenant setting, and the tombstones it keeps until purged.
    "CREATE TABLE tenant_settings (
        tenant TEXT PRIMARY KEY, soft_delete INTEGER NOT NULL) WITHOUT ROWID;
     CREATE TABLE tombstones (
        tenant TEXT NOT NULL, type TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,
        created TEXT NOT NULL, modified TEXT NOT NULL, deleted_at TEXT NOT NULL, token_id TEXT,
        body TEXT NOT NULL);
     CREATE INDEX tombstones_by_time ON tombstones (tenant, deleted_at);",
    // 5: values of `uniqueness: server` attributes of custom schemas (userName has its own
    // column), and which attributes the index covers (it is rebuilt when they change).
    "CREATE TABLE uniques (
        tenant TEXT NOT NULL, type TEXT NOT NULL, attr TEXT NOT NULL, value TEXT NOT NULL,
        id TEXT NOT NULL, PRIMARY KEY (tenant, type, attr, value)) WITHOUT ROWID;
     CREATE INDEX uniques_by_id ON uniques (tenant, type, id);
     CREATE TABLE unique_attrs (
        type TEXT NOT NULL, attr TEXT NOT NULL, PRIMARY KEY (type, attr)) WITHOUT ROWID;",
    // 6: `meta.lastModified` as an integer (milliseconds since the epoch), indexed, so that
    // time filters are answered in SQL (the column is filled in Rust, then indexed).
    "ALTER TABLE resources ADD COLUMN modified_ms INTEGER;",
    "CREATE INDEX resources_modified ON resources (tenant, type, modified_ms);",
    // 8: tenants, and the records of their bearer tokens (a digest of the secret, never the
    // secret), looked up by id on every request.
    "CREATE TABLE tenants (name TEXT PRIMARY KEY, created TEXT NOT NULL) WITHOUT ROWID;
     CREATE TABLE tokens (
        id TEXT PRIMARY KEY, tenant TEXT NOT NULL REFERENCES tenants (name), label TEXT,
        hash TEXT NOT NULL, created TEXT NOT NULL, expires TEXT, revoked TEXT, last_used TEXT)
        WITHOUT ROWID;
     CREATE INDEX tokens_by_tenant ON tokens (tenant, created, id);",
    // 9: the tenant's identity-provider profile.
    "ALTER TABLE tenant_settings ADD COLUMN profile TEXT;",
    // 10: what a token opens (NULL: the SCIM API), and the tenant's group-to-role rules.
    "ALTER TABLE tokens ADD COLUMN scope TEXT;
     ALTER TABLE tenant_settings ADD COLUMN role_rules TEXT;",
    // 11: just-in-time provisioning settings, and how each resource came to be.
    "ALTER TABLE tenant_settings ADD COLUMN jit TEXT;
     CREATE TABLE origins (tenant TEXT NOT NULL, id TEXT NOT NULL, origin TEXT NOT NULL,
        PRIMARY KEY (tenant, id)) WITHOUT ROWID;",
    // 12: the provisioning request log, numbered per tenant through a counter row (so that a
    // number is never reused once its request is pruned). A rowid table, its primary key an
    // index beside the rows: the rows carry request and response bodies, and large rows in
    // the key B-tree slow every later insert of the tenant (see 3). A partial index for
    // errors-only queries, which would otherwise scan the whole log to find a few errors,
    // and one for queries by resource type.
    "CREATE TABLE request_seq (tenant TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
     CREATE TABLE requests (
        tenant TEXT NOT NULL, seq INTEGER NOT NULL, at TEXT NOT NULL, request_id TEXT NOT NULL,
        token_id TEXT, method TEXT NOT NULL, path TEXT NOT NULL, resource_type TEXT,
        resource_id TEXT, status INTEGER NOT NULL, duration_us INTEGER NOT NULL,
        normalizers TEXT NOT NULL, request_body TEXT, response_body TEXT,
        PRIMARY KEY (tenant, seq));
     CREATE INDEX requests_errors ON requests (tenant, seq) WHERE status >= 400;
     CREATE INDEX requests_by_type ON requests (tenant, resource_type, seq);",
    // 13: the default order of a list (creation, then id), so that a page of an unfiltered
    // list and its total are read from the index instead of a scan of every body.
    "CREATE INDEX resources_in_order ON resources (tenant, type, created, id);",
    // 14: the provisioning log of one resource (its creation, reads, changes and deletion).
    "CREATE INDEX requests_by_resource ON requests (tenant, resource_id, seq);",
];

/// Resources in a SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    registry: Arc<Registry>,
    /// The resource types that have unique attributes besides `userName` and `id`.
    unique_types: Arc<BTreeSet<String>>,
    /// The connection every write (and every scan) goes through, one at a time.
    conn: Arc<Mutex<Connection>>,
    /// Read-only connections for point reads, which run on the caller's thread (WAL lets
    /// them read while the writer writes). `None` for an in-memory database, which a second
    /// connection cannot see.
    readers: Option<Arc<Readers>>,
}

/// A pool of read-only connections to one file.
#[derive(Debug)]
struct Readers {
    path: std::path::PathBuf,
    idle: Mutex<Vec<Connection>>,
}

/// The most idle read connections kept open.
const MAX_IDLE_READERS: usize = 16;

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and applies pending migrations.
    pub fn open(path: impl AsRef<Path>, registry: Registry) -> Result<Self, StoreError> {
        Self::open_with(path, registry, true)
    }

    /// Opens the database for administration (tenants, tokens, settings, logs): migrations
    /// are applied, but the unique index of custom schemas is left as the server that
    /// serves the resources built it, whatever schemas this process knows. Write resources
    /// only through a store opened with [`SqliteStore::open`] and the server's schemas.
    pub fn open_for_admin(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, Registry::new(), false)
    }

    fn open_with(
        path: impl AsRef<Path>,
        registry: Registry,
        reindex: bool,
    ) -> Result<Self, StoreError> {
        let conn = Connection::open(path.as_ref()).map_err(StoreError::backend)?;
        let mut store = Self::setup(conn, registry, reindex)?;
        store.readers = Some(Arc::new(Readers {
            path: path.as_ref().to_owned(),
            idle: Mutex::new(Vec::new()),
        }));
        Ok(store)
    }

    /// A private in-memory database (for tests).
    pub fn open_in_memory(registry: Registry) -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().map_err(StoreError::backend)?;
        Self::setup(conn, registry, true)
    }

    fn setup(mut conn: Connection, registry: Registry, reindex: bool) -> Result<Self, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(StoreError::backend)?;
        // Switching a new file to WAL can report "locked" without waiting while another
        // process does the same; it settles within moments, so retry for a while.
        let mut attempts = 0;
        loop {
            match conn.execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
            ) {
                Ok(()) => break,
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy && attempts < 250 =>
                {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => return Err(StoreError::backend(e)),
            }
        }
        migrate(&mut conn)?;
        if reindex {
            sync_uniques(&mut conn, &registry)?;
        }
        let unique_types = unique_attrs(&registry)
            .into_iter()
            .map(|(t, _)| t)
            .collect();
        Ok(Self {
            registry: Arc::new(registry),
            unique_types: Arc::new(unique_types),
            conn: Arc::new(Mutex::new(conn)),
            readers: None,
        })
    }

    /// Runs a point read (an indexed lookup of a few rows) in one read transaction on a
    /// read-only connection, on the calling thread: handing a read of some microseconds to
    /// the blocking pool would cost more than the read. Without a file, on the writer's
    /// connection.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.read_with(true, f).await
    }

    /// [`SqliteStore::read`] of one statement: it is its own transaction, so no explicit one
    /// is opened around it.
    async fn read_one<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.read_with(false, f).await
    }

    async fn read_with<T: Send + 'static>(
        &self,
        snapshot: bool,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let Some(readers) = &self.readers else {
            return self.run(move |c| f(c)).await;
        };
        let idle = readers
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop();
        let conn = match idle {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &readers.path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(StoreError::backend)?;
                c.busy_timeout(std::time::Duration::from_secs(5))
                    .map_err(StoreError::backend)?;
                c
            }
        };
        // With `snapshot`, one read transaction around the whole read; the statements are
        // prepared once per connection.
        let run = |sql: &str| {
            conn.prepare_cached(sql)
                .and_then(|mut stmt| stmt.execute([]))
                .map_err(StoreError::backend)
        };
        if snapshot {
            run("BEGIN")?;
        }
        let out = f(&conn);
        if snapshot && run("COMMIT").is_err() {
            // Not returned to the pool in an unknown state.
            return out;
        }
        let mut idle = readers
            .idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if idle.len() < MAX_IDLE_READERS {
            idle.push(conn);
        }
        out
    }

    /// The unique values of `body`, or `None` when resources of type `rt` have none.
    fn unique_keys(&self, rt: &str, body: &Map<String, Value>) -> Option<Vec<UniqueKey>> {
        self.unique_types
            .contains(rt)
            .then(|| unique_keys(&self.registry, rt, body))
    }

    /// The schema version this build migrates databases to (the number of migrations).
    pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

    /// The number of migrations applied to the database.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        self.run(|c| {
            c.query_row("PRAGMA user_version", [], |r| r.get(0))
                .map_err(StoreError::backend)
        })
        .await
    }

    /// Runs `f` with the connection on a blocking thread.
    /// Sets one text column of the tenant's settings row (made if missing, soft delete off).
    /// `column` is one of the row's columns, never input.
    async fn set_text_setting(
        &self,
        tenant: &str,
        column: &'static str,
        value: Option<String>,
    ) -> Result<(), StoreError> {
        let tenant = owned(tenant);
        self.write(move |tx| {
            tx.execute(
                &format!(
                    "INSERT INTO tenant_settings (tenant, soft_delete, {column}) VALUES (?1, 0, ?2)
                     ON CONFLICT (tenant) DO UPDATE SET {column} = excluded.{column}"
                ),
                params![tenant, value],
            )
            .map_err(StoreError::backend)?;
            Ok(())
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut conn = conn
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut conn)
        })
        .await
        .map_err(StoreError::backend)?
    }

    /// Runs `f` in a write transaction, committing when it succeeds.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.run(move |c| {
            let tx = c
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(StoreError::backend)?;
            let out = f(&tx)?;
            tx.commit().map_err(StoreError::backend)?;
            Ok(out)
        })
        .await
    }
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    // Each migration in an IMMEDIATE transaction that reads the version inside it: of several
    // processes opening a new file at once, one applies each migration and the others see
    // it applied.
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(StoreError::backend)?;
        let applied: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(StoreError::backend)?;
        if usize::try_from(applied).unwrap_or(0) > i {
            continue;
        }
        tx.execute_batch(sql).map_err(StoreError::backend)?;
        if i == 1 {
            backfill_emails(&tx)?;
        }
        if i == 5 {
            backfill_modified(&tx)?;
        }
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))
            .map_err(StoreError::backend)?;
        tx.commit().map_err(StoreError::backend)?;
    }
    Ok(())
}

/// Brings the unique index in line with the registry's unique attributes: when they differ
/// from the ones recorded, re-indexes the resources of the types concerned. Values that
/// already collide in stored data keep their first holder (a later write of the others fails).
/// Every process sharing a database must run with the same schemas.
fn sync_uniques(conn: &mut Connection, registry: &Registry) -> Result<(), StoreError> {
    let wanted = unique_attrs(registry);
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(StoreError::backend)?;
    let recorded: BTreeSet<(String, String)> = {
        let mut stmt = tx
            .prepare("SELECT type, attr FROM unique_attrs")
            .map_err(StoreError::backend)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(StoreError::backend)?;
        rows.collect::<Result<_, _>>()
            .map_err(StoreError::backend)?
    };
    if recorded == wanted {
        return Ok(());
    }
    let types: BTreeSet<&String> = recorded
        .symmetric_difference(&wanted)
        .map(|(t, _)| t)
        .collect();
    for rt in types {
        tx.execute("DELETE FROM uniques WHERE type = ?1", params![rt])
            .map_err(StoreError::backend)?;
        let rows: Vec<(String, String, String)> = {
            let mut stmt = tx
                .prepare("SELECT tenant, id, body FROM resources WHERE type = ?1")
                .map_err(StoreError::backend)?;
            let rows = stmt
                .query_map(params![rt], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .map_err(StoreError::backend)?;
            rows.collect::<Result<_, _>>()
                .map_err(StoreError::backend)?
        };
        for (tenant, id, body) in rows {
            let body: Map<String, Value> =
                serde_json::from_str(&body).map_err(StoreError::backend)?;
            for k in unique_keys(registry, rt, &body) {
                tx.execute(
                    "INSERT OR IGNORE INTO uniques (tenant, type, attr, value, id) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![tenant, rt, k.attr, k.value, id],
                )
                .map_err(StoreError::backend)?;
            }
        }
    }
    tx.execute("DELETE FROM unique_attrs", [])
        .map_err(StoreError::backend)?;
    for (rt, attr) in &wanted {
        tx.execute(
            "INSERT INTO unique_attrs (type, attr) VALUES (?1, ?2)",
            params![rt, attr],
        )
        .map_err(StoreError::backend)?;
    }
    tx.commit().map_err(StoreError::backend)
}

/// Makes `keys` the unique values resource `id` holds, failing with `uniqueness` when another
/// resource holds one (`None`: the type has no unique attributes, nothing to do).
fn set_uniques(
    tx: &Connection,
    tenant: &str,
    rt: &str,
    id: &str,
    keys: Option<&[UniqueKey]>,
) -> Result<(), StoreError> {
    let Some(keys) = keys else {
        return Ok(());
    };
    tx.execute(
        "DELETE FROM uniques WHERE tenant = ?1 AND type = ?2 AND id = ?3",
        params![tenant, rt, id],
    )
    .map_err(StoreError::backend)?;
    for k in keys {
        let inserted = tx
            .execute(
                "INSERT INTO uniques (tenant, type, attr, value, id) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT DO NOTHING",
                params![tenant, rt, k.attr, k.value, id],
            )
            .map_err(StoreError::backend)?;
        if inserted == 0 {
            return Err(k.taken());
        }
    }
    Ok(())
}

/// Migration 2: index the emails of the users already stored (lowercased in Rust, as the
/// writes and the evaluator do, not with SQL's ASCII-only `lower`).
fn backfill_emails(tx: &Connection) -> Result<(), StoreError> {
    let users: Vec<(String, String, String)> = {
        let mut stmt = tx
            .prepare("SELECT tenant, id, body FROM resources WHERE type = 'User'")
            .map_err(StoreError::backend)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(StoreError::backend)?;
        rows.collect::<Result<_, _>>()
            .map_err(StoreError::backend)?
    };
    for (tenant, id, body) in users {
        let body: Map<String, Value> = serde_json::from_str(&body).map_err(StoreError::backend)?;
        index_emails(tx, &tenant, "User", &id, Some(&body))?;
    }
    Ok(())
}

/// Fills `modified_ms` for the resources stored before the column existed.
fn backfill_modified(tx: &Connection) -> Result<(), StoreError> {
    let rows: Vec<(String, String, String, String)> = {
        let mut stmt = tx
            .prepare("SELECT tenant, type, id, modified FROM resources")
            .map_err(StoreError::backend)?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .map_err(StoreError::backend)?;
        rows.collect::<Result<_, _>>()
            .map_err(StoreError::backend)?
    };
    let mut update = tx
        .prepare(
            "UPDATE resources SET modified_ms = ?4 WHERE tenant = ?1 AND type = ?2 AND id = ?3",
        )
        .map_err(StoreError::backend)?;
    for (tenant, rt, id, modified) in rows {
        update
            .execute(params![tenant, rt, id, query::modified_ms(&modified)])
            .map_err(StoreError::backend)?;
    }
    Ok(())
}

/// Maps a failed write to the error the client should see.
fn write_error(e: rusqlite::Error, rt: &str, id: &str, body: &Map<String, Value>) -> StoreError {
    let text = e.to_string();
    if text.contains("UNIQUE constraint failed") && text.contains("user_name") {
        return StoreError::Uniqueness {
            attribute: "userName".into(),
            value: body
                .get("userName")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        };
    }
    if text.contains("UNIQUE constraint failed") && text.contains("resources.id") {
        return StoreError::IdTaken {
            resource_type: rt.to_owned(),
            id: id.to_owned(),
        };
    }
    StoreError::backend(e)
}

/// A page of an unfiltered list in the default order, and its total, from the
/// `resources_in_order` index.
fn search_in_order(
    c: &Connection,
    tenant: &str,
    rt: &str,
    plan: &query::InOrder,
) -> Result<Page, StoreError> {
    let total: i64 = c
        .prepare_cached("SELECT count(*) FROM resources WHERE tenant = ?1 AND type = ?2")
        .and_then(|mut s| s.query_row(params![tenant, rt], |r| r.get(0)))
        .map_err(StoreError::backend)?;
    let limit = plan
        .limit
        .map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
    let offset = i64::try_from(plan.offset).unwrap_or(i64::MAX);
    let (sql, args): (&str, Vec<&dyn rusqlite::ToSql>) = match &plan.after {
        // After a cursor, the rows after its position: a range of the index.
        Some((created, id)) => (
            "SELECT id, version, created, modified, body FROM resources INDEXED BY resources_in_order
             WHERE tenant = ?1 AND type = ?2 AND (created, id) > (?3, ?4)
             ORDER BY created, id LIMIT ?5 OFFSET ?6",
            vec![&tenant, &rt, created, id, &limit, &offset],
        ),
        None => (
            "SELECT id, version, created, modified, body FROM resources INDEXED BY resources_in_order
             WHERE tenant = ?1 AND type = ?2
             ORDER BY created, id LIMIT ?3 OFFSET ?4",
            vec![&tenant, &rt, &limit, &offset],
        ),
    };
    let mut stmt = c.prepare_cached(sql).map_err(StoreError::backend)?;
    let rows = stmt
        .query_map(args.as_slice(), resource_row)
        .map_err(StoreError::backend)?;
    let mut page = Vec::new();
    for row in rows {
        let (id, v, created, modified, body) = row.map_err(StoreError::backend)?;
        page.push(row_to_stored(rt, id, v, created, modified, &body)?);
    }
    Ok(plan.page(usize::try_from(total).unwrap_or(0), page))
}

/// A search whose condition selects exactly the filter's matches, in the default order: the
/// matches are counted and paged from their ids and times, which the indexes hold, and only
/// the page's bodies are read. No body is parsed to be evaluated.
fn search_exact(
    c: &Connection,
    tenant: &str,
    rt: &str,
    q: &Query,
    bound: &scimkit_schema::Bound<'_>,
    pre: &Prefilter,
) -> Result<Page, StoreError> {
    let unfiltered = query::answered_exactly(q, bound)?;
    let mut selection = query::Selection::new(&unfiltered, bound)?;
    let sql = format!(
        "SELECT id, version, created, modified, '{{}}' FROM resources WHERE tenant = ?1 AND type = ?2 AND {}",
        pre.sql
    );
    let mut stmt = c.prepare_cached(&sql).map_err(StoreError::backend)?;
    let args = [tenant, rt]
        .into_iter()
        .chain(pre.args.iter().map(String::as_str));
    let rows = stmt
        .query_map(rusqlite::params_from_iter(args), resource_row)
        .map_err(StoreError::backend)?;
    for row in rows {
        let (id, v, created, modified, body) = row.map_err(StoreError::backend)?;
        selection.offer(row_to_stored(rt, id, v, created, modified, &body)?)?;
    }
    let mut page = selection.page();
    let mut body = c
        .prepare_cached("SELECT body FROM resources WHERE tenant = ?1 AND type = ?2 AND id = ?3")
        .map_err(StoreError::backend)?;
    for r in &mut page.resources {
        let text: String = body
            .query_row(params![tenant, rt, r.id], |row| row.get(0))
            .map_err(StoreError::backend)?;
        r.body = serde_json::from_str(&text).map_err(StoreError::backend)?;
    }
    Ok(page)
}

/// The columns `id, version, created, modified, body` of a resource row.
fn resource_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<(String, i64, String, String, String)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn row_to_stored(
    rt: &str,
    id: String,
    version: i64,
    created: String,
    modified: String,
    body: &str,
) -> Result<Stored, StoreError> {
    let body: Map<String, Value> = serde_json::from_str(body).map_err(StoreError::backend)?;
    Ok(Stored {
        resource_type: rt.to_owned(),
        id,
        version: u64::try_from(version).unwrap_or(0),
        created,
        last_modified: modified,
        body,
    })
}

fn load(c: &Connection, tenant: &str, rt: &str, id: &str) -> Result<Option<Stored>, StoreError> {
    c.prepare_cached(
        "SELECT version, created, modified, body FROM resources WHERE tenant = ?1 AND type = ?2 AND id = ?3",
    )
    .and_then(|mut stmt| {
        stmt.query_row(params![tenant, rt, id], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
        })
        .optional()
    })
    .map_err(StoreError::backend)?
    .map(|(v, c, m, b)| row_to_stored(rt, id.to_owned(), v, c, m, &b))
    .transpose()
}

/// The resource an event is about, and when it happened.
struct About<'a> {
    tenant: &'a str,
    rt: &'a str,
    id: &'a str,
    at: &'a str,
}

fn event(
    tx: &Connection,
    about: &About<'_>,
    kind: EventKind,
    version: Option<u64>,
    data: &Value,
) -> Result<(), StoreError> {
    let About { tenant, rt, id, at } = *about;
    tx.execute(
        "INSERT INTO events (tenant, seq, kind, type, resource_id, version, at, data)
         VALUES (?1, (SELECT COALESCE(MAX(seq), 0) + 1 FROM events WHERE tenant = ?1), ?2, ?3, ?4, ?5, ?6, ?7)",
        params![tenant, kind.as_str(), rt, id, version.map(|v| v as i64), at, data.to_string()],
    )
    .map_err(StoreError::backend)?;
    Ok(())
}

fn audit(
    tx: &Connection,
    tenant: &str,
    ctx: &Ctx,
    operation: &str,
    rt: &str,
    id: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO audit (tenant, at, token_id, operation, type, resource_id, outcome) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'ok')",
        params![tenant, ctx.now, ctx.token_id, operation, rt, id],
    )
    .map_err(StoreError::backend)?;
    Ok(())
}

/// Rewrites a user's rows in the emails index.
fn index_emails(
    tx: &Connection,
    tenant: &str,
    rt: &str,
    id: &str,
    body: Option<&Map<String, Value>>,
) -> Result<(), StoreError> {
    if rt != "User" {
        return Ok(());
    }
    tx.prepare_cached("DELETE FROM emails WHERE tenant = ?1 AND id = ?2")
        .and_then(|mut s| s.execute(params![tenant, id]))
        .map_err(StoreError::backend)?;
    if let Some(body) = body {
        let mut ins = tx
            .prepare_cached("INSERT OR IGNORE INTO emails (tenant, id, email) VALUES (?1, ?2, ?3)")
            .map_err(StoreError::backend)?;
        for email in email_keys(rt, body) {
            ins.execute(params![tenant, id, email])
                .map_err(StoreError::backend)?;
        }
    }
    Ok(())
}

fn member_rows(c: &Connection, tenant: &str, group: &str) -> Result<Vec<Member>, StoreError> {
    let mut stmt = c
        .prepare_cached("SELECT member_id, kind, display FROM members WHERE tenant = ?1 AND group_id = ?2 ORDER BY member_id")
        .map_err(StoreError::backend)?;
    let rows = stmt
        .query_map(params![tenant, group], |r| {
            Ok(Member {
                value: r.get(0)?,
                kind: r.get(1)?,
                display: r.get(2)?,
            })
        })
        .map_err(StoreError::backend)?;
    rows.collect::<Result<_, _>>().map_err(StoreError::backend)
}

fn is_member(c: &Connection, tenant: &str, group: &str, member: &str) -> Result<bool, StoreError> {
    c.prepare_cached("SELECT 1 FROM members WHERE tenant = ?1 AND group_id = ?2 AND member_id = ?3")
        .and_then(|mut s| s.exists(params![tenant, group, member]))
        .map_err(StoreError::backend)
}

fn apply_members(
    tx: &Connection,
    tenant: &str,
    group: &str,
    added: &[Member],
    removed: &[String],
) -> Result<(), StoreError> {
    let mut del = tx
        .prepare_cached(
            "DELETE FROM members WHERE tenant = ?1 AND group_id = ?2 AND member_id = ?3",
        )
        .map_err(StoreError::backend)?;
    for id in removed {
        del.execute(params![tenant, group, id])
            .map_err(StoreError::backend)?;
    }
    let mut ins = tx
        .prepare_cached("INSERT OR IGNORE INTO members (tenant, group_id, member_id, kind, display) VALUES (?1, ?2, ?3, ?4, ?5)")
        .map_err(StoreError::backend)?;
    for m in added {
        ins.execute(params![tenant, group, m.value, m.kind, m.display])
            .map_err(StoreError::backend)?;
    }
    Ok(())
}

/// Direct groups, then the groups those are in; a cycle ends the walk.
/// A group's `displayName`, extracted by SQLite rather than parsing the group's body here.
fn group_name(c: &Connection, tenant: &str, group: &str) -> Result<Option<String>, StoreError> {
    c.prepare_cached(
        "SELECT CASE WHEN json_type(body, '$.displayName') = 'text'
                THEN json_extract(body, '$.displayName') END
         FROM resources WHERE tenant = ?1 AND type = 'Group' AND id = ?2",
    )
    .and_then(|mut s| s.query_row(params![tenant, group], |r| r.get(0)).optional())
    .map(Option::flatten)
    .map_err(StoreError::backend)
}

/// The groups `id` belongs to, directly and through nested groups, one level at a time:
/// breadth first, so every direct group is marked direct before any group reached through
/// another, and a cycle ends at a group already seen. (A recursive CTE does the same in one
/// statement, but SQLite 3.50 runs it several times slower than these indexed lookups.)
fn groups_of(c: &Connection, tenant: &str, id: &str) -> Result<Vec<GroupRef>, StoreError> {
    let mut stmt = c
        .prepare_cached("SELECT group_id FROM members WHERE tenant = ?1 AND member_id = ?2")
        .map_err(StoreError::backend)?;
    let mut direct_of = |member: &str| -> Result<Vec<String>, StoreError> {
        let rows = stmt
            .query_map(params![tenant, member], |r| r.get(0))
            .map_err(StoreError::backend)?;
        rows.collect::<Result<_, _>>().map_err(StoreError::backend)
    };
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    // Breadth first: every direct group is visited (and marked direct) before any group
    // reached through another; a cycle ends at a group already seen.
    let mut frontier: std::collections::VecDeque<(String, bool)> =
        direct_of(id)?.into_iter().map(|g| (g, true)).collect();
    while let Some((group, direct)) = frontier.pop_front() {
        if !seen.insert(group.clone()) {
            continue;
        }
        frontier.extend(direct_of(&group)?.into_iter().map(|g| (g, false)));
        let display = group_name(c, tenant, &group)?;
        out.push(GroupRef {
            id: group,
            display,
            direct,
        });
    }
    out.sort();
    Ok(out)
}

fn assemble(c: &Connection, tenant: &str, mut s: Stored) -> Result<Stored, StoreError> {
    if s.resource_type == "Group" {
        let members: Vec<Value> = member_rows(c, tenant, &s.id)?
            .iter()
            .map(Member::to_json)
            .collect();
        if !members.is_empty() {
            s.body.insert("members".into(), Value::Array(members));
        }
    }
    if s.resource_type == "User" {
        let groups: Vec<Value> = groups_of(c, tenant, &s.id)?
            .iter()
            .map(GroupRef::to_json)
            .collect();
        if !groups.is_empty() {
            s.body.insert("groups".into(), Value::Array(groups));
        }
    }
    Ok(s)
}

fn soft_delete(c: &Connection, tenant: &str) -> Result<bool, StoreError> {
    let on: Option<bool> = c
        .query_row(
            "SELECT soft_delete FROM tenant_settings WHERE tenant = ?1",
            params![tenant],
            |r| r.get(0),
        )
        .optional()
        .map_err(StoreError::backend)?;
    Ok(on.unwrap_or(false))
}

fn owned(s: &str) -> String {
    s.to_owned()
}

/// A `tokens` row, selected as `id, tenant, label, hash, created, expires, revoked, last_used,
/// scope`.
fn token_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRecord> {
    Ok(TokenRecord {
        id: r.get(0)?,
        tenant: r.get(1)?,
        label: r.get(2)?,
        hash: r.get(3)?,
        created: r.get(4)?,
        expires: r.get(5)?,
        revoked: r.get(6)?,
        last_used: r.get(7)?,
        scope: r.get(8)?,
    })
}

/// The columns of a `requests` row, in the order [`request_row`] reads them.
const REQUEST_COLUMNS: &str = "seq, at, request_id, token_id, method, path, resource_type, \
     resource_id, status, duration_us, normalizers, request_body, response_body";

/// A `requests` row, selected as [`REQUEST_COLUMNS`].
fn request_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RequestRecord> {
    let normalizers: String = r.get(10)?;
    Ok(RequestRecord {
        seq: u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
        at: r.get(1)?,
        request_id: r.get(2)?,
        token_id: r.get(3)?,
        method: r.get(4)?,
        path: r.get(5)?,
        resource_type: r.get(6)?,
        resource_id: r.get(7)?,
        status: u16::try_from(r.get::<_, i64>(8)?).unwrap_or(0),
        duration_us: u64::try_from(r.get::<_, i64>(9)?).unwrap_or(0),
        normalizers: serde_json::from_str(&normalizers).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(10, rusqlite::types::Type::Text, Box::new(e))
        })?,
        request_body: r.get(11)?,
        response_body: r.get(12)?,
    })
}

impl rusqlite::ToSql for SqlArg {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        match self {
            Self::Text(s) => s.to_sql(),
            Self::Int(n) => n.to_sql(),
        }
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn create(
        &self,
        tenant: &str,
        rt: &str,
        id: &str,
        body: Map<String, Value>,
        ctx: &Ctx,
    ) -> Result<Stored, StoreError> {
        let (tenant, rt, id, ctx) = (owned(tenant), owned(rt), owned(id), ctx.clone());
        let uniques = self.unique_keys(&rt, &body);
        self.write(move |tx| {
            let (user_name, external_id, display) = indexed(&rt, &body);
            let (body, members) = split_members(&rt, body);
            let text = Value::Object(body.clone()).to_string();
            tx.execute(
                "INSERT INTO resources (tenant, type, id, version, created, modified, modified_ms, user_name, external_id, display_name, body)
                 VALUES (?1, ?2, ?3, 1, ?4, ?4, ?9, ?5, ?6, ?7, ?8)",
                params![tenant, rt, id, ctx.now, user_name, external_id, display, text, query::modified_ms(&ctx.now)],
            )
            .map_err(|e| write_error(e, &rt, &id, &body))?;
            set_uniques(tx, &tenant, &rt, &id, uniques.as_deref())?;
            index_emails(tx, &tenant, &rt, &id, Some(&body))?;
            event(tx, &About { tenant: &tenant, rt: &rt, id: &id, at: &ctx.now }, EventKind::Created, Some(1), &json!({}))?;
            if !members.is_empty() {
                apply_members(tx, &tenant, &id, &members, &[])?;
                let ids: Vec<&str> = members.iter().map(|m| m.value.as_str()).collect();
                event(tx, &About { tenant: &tenant, rt: &rt, id: &id, at: &ctx.now }, EventKind::MembersAdded, Some(1), &json!({"members": ids}))?;
            }
            audit(tx, &tenant, &ctx, "create", &rt, &id)?;
            let stored = Stored {
                resource_type: rt.clone(),
                id: id.clone(),
                version: 1,
                created: ctx.now.clone(),
                last_modified: ctx.now.clone(),
                body,
            };
            assemble(tx, &tenant, stored)
        })
        .await
    }

    async fn get(&self, tenant: &str, rt: &str, id: &str) -> Result<Option<Stored>, StoreError> {
        let (tenant, rt, id) = (owned(tenant), owned(rt), owned(id));
        // One read transaction: one statement finds the resource and whether any membership
        // row names it (most resources: none); only then are its groups or members read, in
        // the same snapshot. Each transaction takes and releases the file's locks, so one is
        // much cheaper than a transaction per statement.
        self.read(move |c| {
            let first = c
                .prepare_cached(
                    "SELECT version, created, modified, body,
                            EXISTS (SELECT 1 FROM members WHERE tenant = ?1 AND member_id = ?3)
                            OR EXISTS (SELECT 1 FROM members WHERE tenant = ?1 AND group_id = ?3)
                     FROM resources WHERE tenant = ?1 AND type = ?2 AND id = ?3",
                )
                .and_then(|mut stmt| {
                    stmt.query_row(params![tenant, rt, id], |row| {
                        Ok((
                            row.get::<_, i64>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, String>(2)?,
                            row.get::<_, String>(3)?,
                            row.get::<_, bool>(4)?,
                        ))
                    })
                    .optional()
                })
                .map_err(StoreError::backend)?;
            let Some((v, created, modified, body, linked)) = first else {
                return Ok(None);
            };
            let stored = row_to_stored(&rt, id, v, created, modified, &body)?;
            if linked {
                assemble(c, &tenant, stored).map(Some)
            } else {
                Ok(Some(stored))
            }
        })
        .await
    }

    async fn load(&self, tenant: &str, rt: &str, id: &str) -> Result<Option<Stored>, StoreError> {
        let (tenant, rt, id) = (owned(tenant), owned(rt), owned(id));
        self.read_one(move |c| load(c, &tenant, &rt, &id)).await
    }

    async fn replace(
        &self,
        tenant: &str,
        rt: &str,
        id: &str,
        body: Map<String, Value>,
        if_version: Option<u64>,
        ctx: &Ctx,
    ) -> Result<Stored, StoreError> {
        let (tenant, rt, id, ctx) = (owned(tenant), owned(rt), owned(id), ctx.clone());
        let uniques = self.unique_keys(&rt, &body);
        self.write(move |tx| {
            let current = load(tx, &tenant, &rt, &id)?.ok_or_else(|| StoreError::NotFound {
                resource_type: rt.clone(),
                id: id.clone(),
            })?;
            check_version(&current, if_version)?;
            let (user_name, external_id, display) = indexed(&rt, &body);
            let (body, members) = split_members(&rt, body);
            let events = change_events(&rt, &current.body, &body);
            let (added, removed) = if rt == "Group" {
                let old = member_rows(tx, &tenant, &id)?.into_iter().map(|m| m.value).collect();
                member_diff(&old, members)
            } else {
                (Vec::new(), Vec::new())
            };
            if events.is_empty() && added.is_empty() && removed.is_empty() {
                return assemble(tx, &tenant, current);
            }
            let version = current.version + 1;
            let text = Value::Object(body.clone()).to_string();
            let changed = tx
                .execute(
                    "UPDATE resources SET version = ?4, modified = ?5, modified_ms = ?11, user_name = ?6, external_id = ?7, display_name = ?8, body = ?9
                     WHERE tenant = ?1 AND type = ?2 AND id = ?3 AND version = ?10",
                    params![tenant, rt, id, version as i64, ctx.now, user_name, external_id, display, text, current.version as i64, query::modified_ms(&ctx.now)],
                )
                .map_err(|e| write_error(e, &rt, &id, &body))?;
            if changed != 1 {
                return Err(StoreError::VersionMismatch {
                    expected: current.version,
                    current: current.version + 1,
                });
            }
            set_uniques(tx, &tenant, &rt, &id, uniques.as_deref())?;
            apply_members(tx, &tenant, &id, &added, &removed)?;
            index_emails(tx, &tenant, &rt, &id, Some(&body))?;
            for (kind, data) in events {
                event(tx, &About { tenant: &tenant, rt: &rt, id: &id, at: &ctx.now }, kind, Some(version), &data)?;
            }
            for (kind, data) in membership_events(&added, &removed) {
                event(tx, &About { tenant: &tenant, rt: &rt, id: &id, at: &ctx.now }, kind, Some(version), &data)?;
            }
            audit(tx, &tenant, &ctx, "replace", &rt, &id)?;
            let stored = Stored {
                version,
                last_modified: ctx.now.clone(),
                body,
                ..current
            };
            assemble(tx, &tenant, stored)
        })
        .await
    }

    async fn change_members(
        &self,
        tenant: &str,
        group_id: &str,
        added: &[Member],
        removed: &[String],
        if_version: Option<u64>,
        ctx: &Ctx,
    ) -> Result<Stored, StoreError> {
        let (tenant, group, ctx) = (owned(tenant), owned(group_id), ctx.clone());
        let (added, removed) = (added.to_vec(), removed.to_vec());
        self.write(move |tx| {
            let current = load(tx, &tenant, "Group", &group)?.ok_or_else(|| StoreError::NotFound {
                resource_type: "Group".into(),
                id: group.clone(),
            })?;
            check_version(&current, if_version)?;
            let mut add = Vec::new();
            for m in added {
                if !is_member(tx, &tenant, &group, &m.value)? && !add.iter().any(|a: &Member| a.value == m.value) {
                    add.push(m);
                }
            }
            let mut remove = Vec::new();
            for id in removed {
                if is_member(tx, &tenant, &group, &id)? && !remove.contains(&id) {
                    remove.push(id);
                }
            }
            if add.is_empty() && remove.is_empty() {
                return Ok(current);
            }
            apply_members(tx, &tenant, &group, &add, &remove)?;
            let version = current.version + 1;
            tx.execute(
                "UPDATE resources SET version = ?4, modified = ?5, modified_ms = ?6 WHERE tenant = ?1 AND type = 'Group' AND id = ?2 AND version = ?3",
                params![tenant, group, current.version as i64, version as i64, ctx.now, query::modified_ms(&ctx.now)],
            )
            .map_err(StoreError::backend)?;
            for (kind, data) in membership_events(&add, &remove) {
                event(tx, &About { tenant: &tenant, rt: "Group", id: &group, at: &ctx.now }, kind, Some(version), &data)?;
            }
            audit(tx, &tenant, &ctx, "members", "Group", &group)?;
            Ok(Stored {
                version,
                last_modified: ctx.now,
                ..current
            })
        })
        .await
    }

    async fn delete(
        &self,
        tenant: &str,
        rt: &str,
        id: &str,
        if_version: Option<u64>,
        ctx: &Ctx,
    ) -> Result<(), StoreError> {
        let (tenant, rt, id, ctx) = (owned(tenant), owned(rt), owned(id), ctx.clone());
        let uniques = self.unique_types.contains(&rt).then(Vec::new);
        self.write(move |tx| {
            let current = load(tx, &tenant, &rt, &id)?.ok_or_else(|| StoreError::NotFound {
                resource_type: rt.clone(),
                id: id.clone(),
            })?;
            check_version(&current, if_version)?;
            set_uniques(tx, &tenant, &rt, &id, uniques.as_deref())?;
            if soft_delete(tx, &tenant)? {
                let s = assemble(tx, &tenant, current)?;
                let body = Value::Object(s.body).to_string();
                tx.execute(
                    "INSERT INTO tombstones (tenant, type, id, version, created, modified, deleted_at, token_id, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![tenant, rt, id, sql_int(s.version), s.created, s.last_modified, ctx.now, ctx.token_id, body],
                )
                .map_err(StoreError::backend)?;
            }
            tx.execute(
                "DELETE FROM resources WHERE tenant = ?1 AND type = ?2 AND id = ?3",
                params![tenant, rt, id],
            )
            .map_err(StoreError::backend)?;
            // Its memberships: as a member (rows of its type or of no type), and, for a
            // group, as a group. A User and a Group may share an id.
            tx.execute(
                "DELETE FROM members WHERE tenant = ?1 AND member_id = ?2 AND (kind IS NULL OR lower(kind) = lower(?3))",
                params![tenant, id, rt],
            )
            .map_err(StoreError::backend)?;
            if rt == "Group" {
                tx.execute("DELETE FROM members WHERE tenant = ?1 AND group_id = ?2", params![tenant, id])
                    .map_err(StoreError::backend)?;
            }
            index_emails(tx, &tenant, &rt, &id, None)?;
            event(
                tx,
                &About {
                    tenant: &tenant,
                    rt: &rt,
                    id: &id,
                    at: &ctx.now,
                },
                EventKind::Deleted,
                None,
                &json!({}),
            )?;
            audit(tx, &tenant, &ctx, "delete", &rt, &id)
        })
        .await
    }

    async fn search(&self, tenant: &str, rt: &str, q: &Query) -> Result<Page, StoreError> {
        let registry = Arc::clone(&self.registry);
        let (tenant, rt, q) = (owned(tenant), owned(rt), q.clone());
        self.run(move |c| {
            let bound = registry.bind(&rt).ok_or_else(|| StoreError::Filter(format!("unknown resource type {rt}")))?;
            if let Some(plan) = query::InOrder::of(&q)? {
                return search_in_order(c, &tenant, &rt, &plan);
            }
            // The indexed part of the filter narrows the rows in SQL; the filter is then
            // evaluated on each.
            let pre = q.filter.as_ref().and_then(|f| Prefilter::of(f, Dialect::Sqlite, &bound));
            if let Some(pre) = pre.as_ref().filter(|p| p.exact && q.sort_by.is_none()) {
                return search_exact(c, &tenant, &rt, &q, &bound, pre);
            }
            let clause = pre.as_ref().map_or(String::new(), |p| format!(" AND {}", p.sql));
            let sql = format!("SELECT id, version, created, modified, body FROM resources WHERE tenant = ?1 AND type = ?2{clause}");
            let mut stmt = c.prepare_cached(&sql).map_err(StoreError::backend)?;
            // Rows stream through the selection: a scan holds one page, not every match.
            let mut selection = query::Selection::new(&q, &bound)?;
            let args = [tenant.as_str(), rt.as_str()]
                .into_iter()
                .chain(pre.iter().flat_map(|p| p.args.iter().map(String::as_str)));
            let rows = stmt
                .query_map(rusqlite::params_from_iter(args), resource_row)
                .map_err(StoreError::backend)?;
            let with_members = q.filter.as_ref().is_some_and(query::reads_members);
            for row in rows {
                let (id, v, created, modified, body) = row.map_err(StoreError::backend)?;
                let s = row_to_stored(&rt, id, v, created, modified, &body)?;
                selection.offer(if with_members { assemble(c, &tenant, s)? } else { s })?;
            }
            Ok(selection.page())
        })
        .await
    }

    async fn is_member(
        &self,
        tenant: &str,
        group_id: &str,
        member_id: &str,
    ) -> Result<bool, StoreError> {
        let (tenant, group, member) = (owned(tenant), owned(group_id), owned(member_id));
        self.read_one(move |c| is_member(c, &tenant, &group, &member))
            .await
    }

    async fn member_page(
        &self,
        tenant: &str,
        group_id: &str,
        skip: usize,
        count: usize,
    ) -> Result<(usize, Vec<String>), StoreError> {
        let (tenant, group) = (owned(tenant), owned(group_id));
        let limit = i64::try_from(count).unwrap_or(i64::MAX);
        let offset = i64::try_from(skip).unwrap_or(i64::MAX);
        self.run(move |c| {
            let tx = c.transaction().map_err(StoreError::backend)?;
            let total: i64 = tx
                .prepare_cached("SELECT count(*) FROM members WHERE tenant = ?1 AND group_id = ?2")
                .and_then(|mut s| s.query_row(params![tenant, group], |r| r.get(0)))
                .map_err(StoreError::backend)?;
            let ids = tx
                .prepare_cached(
                    "SELECT member_id FROM members WHERE tenant = ?1 AND group_id = ?2
                     ORDER BY member_id LIMIT ?3 OFFSET ?4",
                )
                .and_then(|mut s| {
                    s.query_map(params![tenant, group, limit, offset], |r| r.get(0))?
                        .collect::<Result<Vec<String>, _>>()
                })
                .map_err(StoreError::backend)?;
            Ok((usize::try_from(total).unwrap_or(0), ids))
        })
        .await
    }

    async fn member_ids(&self, tenant: &str, group_id: &str) -> Result<Vec<String>, StoreError> {
        let (tenant, group) = (owned(tenant), owned(group_id));
        self.run(move |c| {
            Ok(member_rows(c, &tenant, &group)?
                .into_iter()
                .map(|m| m.value)
                .collect())
        })
        .await
    }

    async fn groups_of(&self, tenant: &str, member_id: &str) -> Result<Vec<GroupRef>, StoreError> {
        let (tenant, member) = (owned(tenant), owned(member_id));
        self.read(move |c| groups_of(c, &tenant, &member)).await
    }

    async fn events(
        &self,
        tenant: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        let tenant = owned(tenant);
        self.run(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT seq, kind, type, resource_id, version, at, data FROM events WHERE tenant = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                )
                .map_err(StoreError::backend)?;
            let rows = stmt
                .query_map(params![tenant, sql_int(after), sql_int(limit)], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, Option<i64>>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                    ))
                })
                .map_err(StoreError::backend)?;
            let mut out = Vec::new();
            for row in rows {
                let (seq, kind, rt, id, version, at, data) = row.map_err(StoreError::backend)?;
                out.push(Event {
                    seq: seq as u64,
                    kind: EventKind::parse(&kind).ok_or_else(|| StoreError::Filter(format!("unknown event kind {kind}")))?,
                    resource_type: rt,
                    resource_id: id,
                    version: version.map(|v| v as u64),
                    at,
                    data: serde_json::from_str(&data).map_err(StoreError::backend)?,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn append_event(
        &self,
        tenant: &str,
        kind: EventKind,
        rt: &str,
        id: &str,
        data: &Value,
        ctx: &Ctx,
    ) -> Result<u64, StoreError> {
        let (tenant, rt, id, data, at) = (
            owned(tenant),
            owned(rt),
            owned(id),
            data.clone(),
            ctx.now.clone(),
        );
        self.write(move |tx| {
            event(
                tx,
                &About {
                    tenant: &tenant,
                    rt: &rt,
                    id: &id,
                    at: &at,
                },
                kind,
                None,
                &data,
            )?;
            tx.query_row(
                "SELECT MAX(seq) FROM events WHERE tenant = ?1",
                params![tenant],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(StoreError::backend)
        })
        .await
    }

    async fn record_failure(
        &self,
        tenant: &str,
        ctx: &Ctx,
        operation: &str,
        rt: &str,
        id: &str,
        outcome: &str,
    ) -> Result<(), StoreError> {
        let (tenant, ctx) = (owned(tenant), ctx.clone());
        let (operation, rt, id, outcome) = (owned(operation), owned(rt), owned(id), owned(outcome));
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO audit (tenant, at, token_id, operation, type, resource_id, outcome) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![tenant, ctx.now, ctx.token_id, operation, rt, id, outcome],
            )
            .map_err(StoreError::backend)?;
            Ok(())
        })
        .await
    }

    async fn audit(&self, tenant: &str, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        let tenant = owned(tenant);
        self.run(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT at, token_id, operation, type, resource_id, outcome FROM audit WHERE tenant = ?1 ORDER BY rowid DESC LIMIT ?2",
                )
                .map_err(StoreError::backend)?;
            let rows = stmt
                .query_map(params![tenant, sql_int(limit)], |r| {
                    Ok(AuditRecord {
                        at: r.get(0)?,
                        token_id: r.get(1)?,
                        operation: r.get(2)?,
                        resource_type: r.get(3)?,
                        resource_id: r.get(4)?,
                        outcome: r.get(5)?,
                    })
                })
                .map_err(StoreError::backend)?;
            rows.collect::<Result<_, _>>().map_err(StoreError::backend)
        })
        .await
    }

    async fn ack(&self, tenant: &str, consumer: &str, seq: u64) -> Result<(), StoreError> {
        let (tenant, consumer) = (owned(tenant), owned(consumer));
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO consumers (tenant, consumer, acked) VALUES (?1, ?2, ?3)
                 ON CONFLICT (tenant, consumer) DO UPDATE SET acked = max(acked, excluded.acked)",
                params![tenant, consumer, seq as i64],
            )
            .map_err(StoreError::backend)?;
            Ok(())
        })
        .await
    }

    async fn acked(&self, tenant: &str, consumer: &str) -> Result<u64, StoreError> {
        let (tenant, consumer) = (owned(tenant), owned(consumer));
        self.run(move |c| {
            let acked: Option<i64> = c
                .query_row(
                    "SELECT acked FROM consumers WHERE tenant = ?1 AND consumer = ?2",
                    params![tenant, consumer],
                    |r| r.get(0),
                )
                .optional()
                .map_err(StoreError::backend)?;
            Ok(acked.map_or(0, |a| a as u64))
        })
        .await
    }

    async fn consumers(&self, tenant: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let tenant = owned(tenant);
        self.run(move |c| {
            // TEXT compares with BINARY, SQLite's default: byte order.
            let mut stmt = c
                .prepare_cached(
                    "SELECT consumer, acked FROM consumers WHERE tenant = ?1 ORDER BY consumer",
                )
                .map_err(StoreError::backend)?;
            let rows = stmt
                .query_map(params![tenant], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
                })
                .map_err(StoreError::backend)?;
            rows.collect::<Result<_, _>>().map_err(StoreError::backend)
        })
        .await
    }

    async fn set_soft_delete(&self, tenant: &str, on: bool) -> Result<(), StoreError> {
        let tenant = owned(tenant);
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO tenant_settings (tenant, soft_delete) VALUES (?1, ?2)
                 ON CONFLICT (tenant) DO UPDATE SET soft_delete = excluded.soft_delete",
                params![tenant, on],
            )
            .map_err(StoreError::backend)?;
            Ok(())
        })
        .await
    }

    async fn soft_delete(&self, tenant: &str) -> Result<bool, StoreError> {
        let tenant = owned(tenant);
        self.run(move |c| soft_delete(c, &tenant)).await
    }

    async fn set_profile(&self, tenant: &str, profile: Option<&str>) -> Result<(), StoreError> {
        self.set_text_setting(tenant, "profile", profile.map(str::to_owned))
            .await
    }

    async fn set_role_rules(&self, tenant: &str, rules: Option<&Value>) -> Result<(), StoreError> {
        self.set_text_setting(tenant, "role_rules", rules.map(Value::to_string))
            .await
    }

    async fn set_jit(&self, tenant: &str, settings: Option<&Value>) -> Result<(), StoreError> {
        self.set_text_setting(tenant, "jit", settings.map(Value::to_string))
            .await
    }

    async fn jit(&self, tenant: &str) -> Result<Option<Value>, StoreError> {
        let tenant = owned(tenant);
        let text: Option<String> = self
            .read_one(move |c| {
                c.prepare_cached("SELECT jit FROM tenant_settings WHERE tenant = ?1")
                    .and_then(|mut s| s.query_row(params![tenant], |r| r.get(0)).optional())
                    .map(Option::flatten)
                    .map_err(StoreError::backend)
            })
            .await?;
        text.map(|t| serde_json::from_str(&t).map_err(StoreError::backend))
            .transpose()
    }

    async fn set_origin(
        &self,
        tenant: &str,
        id: &str,
        origin: Option<&str>,
    ) -> Result<(), StoreError> {
        let (tenant, id, origin) = (owned(tenant), owned(id), origin.map(str::to_owned));
        self.write(move |tx| {
            match origin {
                Some(o) => tx.execute(
                    "INSERT INTO origins (tenant, id, origin) VALUES (?1, ?2, ?3)
                     ON CONFLICT (tenant, id) DO UPDATE SET origin = excluded.origin",
                    params![tenant, id, o],
                ),
                None => tx.execute(
                    "DELETE FROM origins WHERE tenant = ?1 AND id = ?2",
                    params![tenant, id],
                ),
            }
            .map_err(StoreError::backend)?;
            Ok(())
        })
        .await
    }

    async fn origin(&self, tenant: &str, id: &str) -> Result<Option<String>, StoreError> {
        let (tenant, id) = (owned(tenant), owned(id));
        self.read_one(move |c| {
            c.prepare_cached("SELECT origin FROM origins WHERE tenant = ?1 AND id = ?2")
                .and_then(|mut s| s.query_row(params![tenant, id], |r| r.get(0)).optional())
                .map_err(StoreError::backend)
        })
        .await
    }

    async fn role_rules(&self, tenant: &str) -> Result<Option<Value>, StoreError> {
        let tenant = owned(tenant);
        let text: Option<String> = self
            .read_one(move |c| {
                c.prepare_cached("SELECT role_rules FROM tenant_settings WHERE tenant = ?1")
                    .and_then(|mut s| s.query_row(params![tenant], |r| r.get(0)).optional())
                    .map(Option::flatten)
                    .map_err(StoreError::backend)
            })
            .await?;
        text.map(|t| serde_json::from_str(&t).map_err(StoreError::backend))
            .transpose()
    }

    async fn profile(&self, tenant: &str) -> Result<Option<String>, StoreError> {
        let tenant = owned(tenant);
        self.read_one(move |c| {
            c.prepare_cached("SELECT profile FROM tenant_settings WHERE tenant = ?1")
                .and_then(|mut s| s.query_row(params![tenant], |r| r.get(0)).optional())
                .map(Option::flatten)
                .map_err(StoreError::backend)
        })
        .await
    }

    async fn tombstones(&self, tenant: &str, limit: usize) -> Result<Vec<Tombstone>, StoreError> {
        let tenant = owned(tenant);
        self.run(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT type, id, version, created, modified, body, deleted_at, token_id FROM tombstones
                     WHERE tenant = ?1 ORDER BY deleted_at, rowid LIMIT ?2",
                )
                .map_err(StoreError::backend)?;
            let rows = stmt
                .query_map(params![tenant, sql_int(limit)], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, Option<String>>(7)?,
                    ))
                })
                .map_err(StoreError::backend)?;
            let mut out = Vec::new();
            for row in rows {
                let (rt, id, v, created, modified, body, deleted_at, token_id) =
                    row.map_err(StoreError::backend)?;
                out.push(Tombstone {
                    resource: row_to_stored(&rt, id, v, created, modified, &body)?,
                    deleted_at,
                    token_id,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn purge(&self, tenant: &str, before: &str) -> Result<usize, StoreError> {
        let (tenant, before) = (owned(tenant), owned(before));
        self.write(move |tx| {
            tx.execute(
                "DELETE FROM tombstones WHERE tenant = ?1 AND deleted_at < ?2",
                params![tenant, before],
            )
            .map_err(StoreError::backend)
        })
        .await
    }

    async fn log_requests(
        &self,
        tenant: &str,
        records: &[RequestRecord],
    ) -> Result<u64, StoreError> {
        if records.is_empty() {
            return Ok(0);
        }
        let (tenant, records) = (owned(tenant), records.to_vec());
        self.write(move |tx| {
            let n = sql_int(records.len());
            let last: i64 = tx
                .prepare_cached(
                    "INSERT INTO request_seq (tenant, seq) VALUES (?1, ?2)
                     ON CONFLICT (tenant) DO UPDATE SET seq = seq + excluded.seq RETURNING seq",
                )
                .and_then(|mut s| s.query_row(params![tenant, n], |r| r.get(0)))
                .map_err(StoreError::backend)?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO requests (tenant, seq, at, request_id, token_id, method, path,
                        resource_type, resource_id, status, duration_us, normalizers,
                        request_body, response_body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                )
                .map_err(StoreError::backend)?;
            for (seq, r) in (last - n + 1..).zip(&records) {
                let normalizers =
                    serde_json::to_string(&r.normalizers).map_err(StoreError::backend)?;
                insert
                    .execute(params![
                        tenant,
                        seq,
                        r.at,
                        r.request_id,
                        r.token_id,
                        r.method,
                        r.path,
                        r.resource_type,
                        r.resource_id,
                        r.status,
                        sql_int(r.duration_us),
                        normalizers,
                        r.request_body,
                        r.response_body,
                    ])
                    .map_err(StoreError::backend)?;
            }
            Ok(u64::try_from(last).unwrap_or(0))
        })
        .await
    }

    async fn requests(
        &self,
        tenant: &str,
        query: &RequestQuery,
    ) -> Result<Vec<RequestRecord>, StoreError> {
        let (conditions, mut args) = query.conditions(Dialect::Sqlite);
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM requests WHERE tenant = ?1{conditions}
             ORDER BY seq DESC LIMIT ?{}",
            args.len() + 2
        );
        args.insert(0, SqlArg::Text(owned(tenant)));
        args.push(SqlArg::Int(sql_int(query.limit)));
        self.run(move |c| {
            let mut stmt = c.prepare_cached(&sql).map_err(StoreError::backend)?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(&args), request_row)
                .map_err(StoreError::backend)?;
            rows.collect::<Result<_, _>>().map_err(StoreError::backend)
        })
        .await
    }

    async fn request(&self, tenant: &str, seq: u64) -> Result<Option<RequestRecord>, StoreError> {
        let tenant = owned(tenant);
        self.read_one(move |c| {
            c.prepare_cached(&format!(
                "SELECT {REQUEST_COLUMNS} FROM requests WHERE tenant = ?1 AND seq = ?2"
            ))
            .and_then(|mut s| {
                s.query_row(params![tenant, sql_int(seq)], request_row)
                    .optional()
            })
            .map_err(StoreError::backend)
        })
        .await
    }

    async fn prune_requests(&self, tenant: &str, keep: usize) -> Result<usize, StoreError> {
        let tenant = owned(tenant);
        // Everything at or below the seq of the newest request not kept: when there is none
        // (the log holds `keep` requests or fewer), `seq <= NULL` removes nothing.
        self.write(move |tx| {
            tx.execute(
                "DELETE FROM requests WHERE tenant = ?1 AND seq <= (
                     SELECT seq FROM requests WHERE tenant = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
                params![tenant, sql_int(keep)],
            )
            .map_err(StoreError::backend)
        })
        .await
    }

    async fn create_tenant(&self, name: &str, ctx: &Ctx) -> Result<Tenant, StoreError> {
        check_tenant_name(name)?;
        let (name, ctx) = (owned(name), ctx.clone());
        self.write(move |tx| {
            let inserted = tx
                .execute(
                    "INSERT INTO tenants (name, created) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    params![name, ctx.now],
                )
                .map_err(StoreError::backend)?;
            if inserted == 0 {
                return Err(StoreError::TenantExists { name });
            }
            audit(tx, &name, &ctx, "tenant.create", "Tenant", &name)?;
            Ok(Tenant {
                name,
                created: ctx.now,
            })
        })
        .await
    }

    async fn tenant(&self, name: &str) -> Result<Option<Tenant>, StoreError> {
        if !is_tenant_name(name) {
            return Ok(None);
        }
        let name = owned(name);
        self.run(move |c| {
            c.prepare_cached("SELECT name, created FROM tenants WHERE name = ?1")
                .and_then(|mut s| {
                    s.query_row(params![name], |r| {
                        Ok(Tenant {
                            name: r.get(0)?,
                            created: r.get(1)?,
                        })
                    })
                    .optional()
                })
                .map_err(StoreError::backend)
        })
        .await
    }

    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        self.run(|c| {
            let mut stmt = c
                .prepare_cached("SELECT name, created FROM tenants ORDER BY name")
                .map_err(StoreError::backend)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(Tenant {
                        name: r.get(0)?,
                        created: r.get(1)?,
                    })
                })
                .map_err(StoreError::backend)?;
            rows.collect::<Result<_, _>>().map_err(StoreError::backend)
        })
        .await
    }

    async fn create_token(&self, record: TokenRecord, ctx: &Ctx) -> Result<(), StoreError> {
        let ctx = ctx.clone();
        self.write(move |tx| {
            let tenant_exists = tx
                .prepare_cached("SELECT 1 FROM tenants WHERE name = ?1")
                .and_then(|mut s| s.exists(params![record.tenant]))
                .map_err(StoreError::backend)?;
            if !tenant_exists {
                return Err(StoreError::NotFound {
                    resource_type: "Tenant".into(),
                    id: record.tenant,
                });
            }
            let inserted = tx
                .execute(
                    "INSERT INTO tokens (id, tenant, label, hash, created, expires, revoked, last_used, scope)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT DO NOTHING",
                    params![
                        record.id,
                        record.tenant,
                        record.label,
                        record.hash,
                        record.created,
                        record.expires,
                        record.revoked,
                        record.last_used,
                        record.scope
                    ],
                )
                .map_err(StoreError::backend)?;
            if inserted == 0 {
                return Err(StoreError::IdTaken {
                    resource_type: "Token".into(),
                    id: record.id,
                });
            }
            audit(tx, &record.tenant, &ctx, "token.create", "Token", &record.id)
        })
        .await
    }

    async fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        let id = owned(id);
        self.read_one(move |c| {
            c.prepare_cached(
                "SELECT id, tenant, label, hash, created, expires, revoked, last_used, scope FROM tokens WHERE id = ?1",
            )
            .and_then(|mut s| s.query_row(params![id], token_row).optional())
            .map_err(StoreError::backend)
        })
        .await
    }

    async fn tokens(&self, tenant: &str) -> Result<Vec<TokenRecord>, StoreError> {
        let tenant = owned(tenant);
        self.run(move |c| {
            let mut stmt = c
                .prepare_cached(
                    "SELECT id, tenant, label, hash, created, expires, revoked, last_used, scope FROM tokens
                     WHERE tenant = ?1 ORDER BY created, id",
                )
                .map_err(StoreError::backend)?;
            let rows = stmt
                .query_map(params![tenant], token_row)
                .map_err(StoreError::backend)?;
            rows.collect::<Result<_, _>>().map_err(StoreError::backend)
        })
        .await
    }

    async fn revoke_token(&self, tenant: &str, id: &str, ctx: &Ctx) -> Result<bool, StoreError> {
        let (tenant, id, ctx) = (owned(tenant), owned(id), ctx.clone());
        self.write(move |tx| {
            let revoked: Option<Option<String>> = tx
                .query_row(
                    "SELECT revoked FROM tokens WHERE id = ?1 AND tenant = ?2",
                    params![id, tenant],
                    |r| r.get(0),
                )
                .optional()
                .map_err(StoreError::backend)?;
            match revoked {
                None => Ok(false),
                Some(Some(_)) => Ok(true),
                Some(None) => {
                    tx.execute(
                        "UPDATE tokens SET revoked = ?3 WHERE id = ?1 AND tenant = ?2",
                        params![id, tenant, ctx.now],
                    )
                    .map_err(StoreError::backend)?;
                    audit(tx, &tenant, &ctx, "token.revoke", "Token", &id)?;
                    Ok(true)
                }
            }
        })
        .await
    }

    async fn touch_token(&self, id: &str, at: &str) -> Result<(), StoreError> {
        let (id, at) = (owned(id), owned(at));
        // A read first, without the write lock: on the authentication path the write is
        // skipped for all but the first request of each minute.
        self.run(move |c| {
            let last: Option<Option<String>> = c
                .prepare_cached("SELECT last_used FROM tokens WHERE id = ?1")
                .and_then(|mut s| s.query_row(params![id], |r| r.get(0)).optional())
                .map_err(StoreError::backend)?;
            let stale = last.is_some_and(|l| l.is_none_or(|l| minute(&l) < minute(&at)));
            if stale {
                // The same condition in the (single-statement) write, against a concurrent
                // writer on the same file.
                c.prepare_cached(
                    "UPDATE tokens SET last_used = ?2 WHERE id = ?1
                     AND (last_used IS NULL OR substr(last_used, 1, 16) < substr(?2, 1, 16))",
                )
                .and_then(|mut s| s.execute(params![id, at]))
                .map_err(StoreError::backend)?;
            }
            Ok(())
        })
        .await
    }
}
