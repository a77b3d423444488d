//! The PostgreSQL backend: for deployments where several stateless `scimkit` instances share
//! one database.
//!
//! Every change is one transaction that locks the resource's row (`SELECT … FOR UPDATE`), so
//! conditional writes are compare-and-set across instances; `userName` uniqueness is a unique
//! index on its lowercased value; the outbox numbers events per tenant through a counter row,
//! which orders concurrent writers. Migrations run under an advisory lock, so instances
//! starting together apply each one once.

use std::collections::BTreeSet;
use std::str::FromStr;

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use scimkit_schema::Registry;
use serde_json::{Map, Value, json};
use std::sync::Arc;
use tokio_postgres::NoTls;
use tokio_postgres::error::SqlState;

use crate::error::StoreError;
use crate::model::{
    AuditRecord, Ctx, Event, EventKind, GroupRef, Member, Page, Store, Stored, change_events,
    check_version, email_keys, indexed, member_diff, membership_events, split_members, sql_int,
};
use crate::model::{RequestQuery, RequestRecord, SqlArg};
use crate::model::{Tenant, TokenRecord, check_tenant_name, is_tenant_name};
use crate::model::{Tombstone, UniqueKey, unique_attrs, unique_keys};
use crate::query::{self, Dialect, Prefilter, Query};

/// The schema, one migration per entry; the `scimkit_migrations` table records them.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE resources (
        tenant TEXT NOT NULL, type TEXT NOT NULL, id TEXT NOT NULL,
        version BIGINT NOT NULL, created TEXT NOT NULL, modified TEXT NOT NULL,
        user_name TEXT, external_id TEXT, display_name TEXT, body TEXT NOT NULL,
        PRIMARY KEY (tenant, type, id));
     CREATE UNIQUE INDEX resources_user_name ON resources (tenant, user_name) WHERE user_name IS NOT NULL;
     CREATE INDEX resources_external_id ON resources (tenant, type, external_id);
     CREATE INDEX resources_display_name ON resources (tenant, type, display_name);
     CREATE TABLE members (
        tenant TEXT NOT NULL, group_id TEXT NOT NULL, member_id TEXT NOT NULL, kind TEXT, display TEXT,
        PRIMARY KEY (tenant, group_id, member_id));
     CREATE INDEX members_by_member ON members (tenant, member_id, group_id);
     CREATE TABLE outbox_seq (tenant TEXT PRIMARY KEY, seq BIGINT NOT NULL);
     CREATE TABLE events (
        tenant TEXT NOT NULL, seq BIGINT NOT NULL, kind TEXT NOT NULL, type TEXT NOT NULL,
        resource_id TEXT NOT NULL, version BIGINT, at TEXT NOT NULL, data TEXT NOT NULL,
        PRIMARY KEY (tenant, seq));
     CREATE TABLE audit (
        n BIGSERIAL PRIMARY KEY, tenant TEXT NOT NULL, at TEXT NOT NULL, token_id TEXT, operation TEXT NOT NULL,
        type TEXT NOT NULL, resource_id TEXT NOT NULL, outcome TEXT NOT NULL);
     CREATE INDEX audit_by_tenant ON audit (tenant, n);
     CREATE TABLE emails (
        tenant TEXT NOT NULL, id TEXT NOT NULL, email TEXT NOT NULL,
        PRIMARY KEY (tenant, email, id));
     CREATE INDEX emails_by_user ON emails (tenant, id);
     CREATE TABLE consumers (
        tenant TEXT NOT NULL, consumer TEXT NOT NULL, acked BIGINT NOT NULL,
        PRIMARY KEY (tenant, consumer));",
    // 2: soft delete: a per-tenant setting, and the tombstones it keeps until purged.
    "CREATE TABLE tenant_settings (tenant TEXT PRIMARY KEY, soft_delete BOOLEAN NOT NULL);
     CREATE TABLE tombstones (
        n BIGSERIAL PRIMARY KEY, tenant TEXT NOT NULL, type TEXT NOT NULL, id TEXT NOT NULL,
        version BIGINT NOT NULL, created TEXT NOT NULL, modified TEXT NOT NULL,
        deleted_at TEXT NOT NULL, token_id TEXT, body TEXT NOT NULL);
     CREATE INDEX tombstones_by_time ON tombstones (tenant, deleted_at, n);",
    // 3: values of `uniqueness: server` attributes of custom schemas (userName has its own
    // column), and which attributes the index covers (it is rebuilt when they change).
    "CREATE TABLE uniques (
        tenant TEXT NOT NULL, type TEXT NOT NULL, attr TEXT NOT NULL, value TEXT NOT NULL,
        id TEXT NOT NULL, PRIMARY KEY (tenant, type, attr, value));
     CREATE INDEX uniques_by_id ON uniques (tenant, type, id);
     CREATE TABLE unique_attrs (type TEXT NOT NULL, attr TEXT NOT NULL, PRIMARY KEY (type, attr));",
    // 4: `meta.lastModified` as an integer (milliseconds since the epoch), indexed, so that
    // time filters are answered in SQL. Rows written before are filled from their text
    // (times without an offset are UTC, as the filter evaluator reads them).
    r"ALTER TABLE resources ADD COLUMN modified_ms BIGINT;
     SET LOCAL TimeZone = 'UTC';
     UPDATE resources SET modified_ms = floor(extract(epoch FROM modified::timestamptz) * 1000)::bigint
      WHERE modified ~ '^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?$';
     CREATE INDEX resources_modified ON resources (tenant, type, modified_ms);",
    // 5: tenants, and the records of their bearer tokens (a digest of the secret, never the
    // secret), looked up by id on every request. `COLLATE "C"`: listed in byte order, as the
    // other backends list them.
    r#"CREATE TABLE tenants (name TEXT COLLATE "C" PRIMARY KEY, created TEXT NOT NULL);
     CREATE TABLE tokens (
        id TEXT COLLATE "C" PRIMARY KEY,
        tenant TEXT COLLATE "C" NOT NULL REFERENCES tenants (name), label TEXT,
        hash TEXT NOT NULL, created TEXT COLLATE "C" NOT NULL, expires TEXT, revoked TEXT,
        last_used TEXT);
     CREATE INDEX tokens_by_tenant ON tokens (tenant, created, id);"#,
    // 6: the tenant's identity-provider profile.
    "ALTER TABLE tenant_settings ADD COLUMN profile TEXT;",
    // 7: what a token opens (NULL: the SCIM API), and the tenant's group-to-role rules.
    "ALTER TABLE tokens ADD COLUMN scope TEXT;
     ALTER TABLE tenant_settings ADD COLUMN role_rules TEXT;",
    // 8: just-in-time provisioning settings, and how each resource came to be.
    "ALTER TABLE tenant_settings ADD COLUMN jit TEXT;
     CREATE TABLE origins (tenant TEXT NOT NULL, id TEXT NOT NULL, origin TEXT NOT NULL,
        PRIMARY KEY (tenant, id));",
    // 9: the provisioning request log, numbered per tenant through a counter row as the
    // outbox is (so that a number is never reused once its request is pruned, and concurrent
    // writers queue on the row). `at COLLATE "C"`: times compare bytewise, as the other
    // backends compare them. A partial index for errors-only queries, which would otherwise
    // scan the whole log to find a few errors, and one for queries by resource type.
    r#"CREATE TABLE request_seq (tenant TEXT PRIMARY KEY, seq BIGINT NOT NULL);
     CREATE TABLE requests (
        tenant TEXT NOT NULL, seq BIGINT NOT NULL, at TEXT COLLATE "C" NOT NULL,
        request_id TEXT NOT NULL, token_id TEXT, method TEXT NOT NULL, path TEXT NOT NULL,
        resource_type TEXT, resource_id TEXT, status INTEGER NOT NULL,
        duration_us BIGINT NOT NULL, normalizers TEXT NOT NULL, request_body TEXT,
        response_body TEXT, PRIMARY KEY (tenant, seq));
     CREATE INDEX requests_errors ON requests (tenant, seq) WHERE status >= 400;
     CREATE INDEX requests_by_type ON requests (tenant, resource_type, seq);"#,
    // 10: the default order of a list (creation, then id, bytewise as the other backends
    // compare them), so that a page of an unfiltered list is read from the index instead of
    // a scan of every body.
    r#"CREATE INDEX resources_in_order ON resources (tenant, type, created COLLATE "C", id COLLATE "C");"#,
    // 11: the provisioning log of one resource (its creation, reads, changes and deletion).
    "CREATE INDEX requests_by_resource ON requests (tenant, resource_id, seq);",
];

/// Resources in a PostgreSQL database, through a connection pool.
#[derive(Clone)]
pub struct PgStore {
    registry: Arc<Registry>,
    /// The resource types that have unique attributes besides `userName` and `id`.
    unique_types: Arc<BTreeSet<String>>,
    pool: Pool,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

fn pg(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::backend(e)
}

type Tx<'a> = deadpool_postgres::Transaction<'a>;

impl PgStore {
    /// Sets one text column of the tenant's settings row (made if missing, soft delete off).
    /// `column` is one of the row's columns, never input.
    async fn set_text_setting(
        &self,
        tenant: &str,
        column: &'static str,
        value: Option<String>,
    ) -> Result<(), StoreError> {
        let client = self.pool.get().await.map_err(pg)?;
        exec(
            &client,
            &format!(
                "INSERT INTO tenant_settings (tenant, soft_delete, {column}) VALUES ($1, false, $2)
                 ON CONFLICT (tenant) DO UPDATE SET {column} = excluded.{column}"
            ),
            &[&tenant, &value],
        )
        .await
        .map_err(pg)?;
        Ok(())
    }

    /// Connects to `url` (`postgres://user@host:port/db`), with the store's tables in
    /// `schema` (created if missing; `public` when `None`), and applies pending migrations.
    pub async fn connect(
        url: &str,
        schema: Option<&str>,
        registry: Registry,
    ) -> Result<Self, StoreError> {
        Self::connect_with(url, schema, registry, true).await
    }

    /// Connects for administration (tenants, tokens, settings, logs): migrations are applied,
    /// but the unique index of custom schemas is left as the servers built it, whatever
    /// schemas this process knows. Write resources only through [`PgStore::connect`] with the
    /// servers' schemas.
    pub async fn connect_for_admin(url: &str, schema: Option<&str>) -> Result<Self, StoreError> {
        Self::connect_with(url, schema, Registry::new(), false).await
    }

    async fn connect_with(
        url: &str,
        schema: Option<&str>,
        registry: Registry,
        reindex: bool,
    ) -> Result<Self, StoreError> {
        let mut config = tokio_postgres::Config::from_str(url).map_err(pg)?;
        if let Some(schema) = schema {
            if !schema
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(StoreError::Filter(format!(
                    "invalid schema name `{schema}`"
                )));
            }
            // Create the schema with a plain connection first.
            let (client, conn) = config.connect(NoTls).await.map_err(pg)?;
            let task = tokio::spawn(conn);
            client
                .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .await
                .map_err(pg)?;
            drop(client);
            let _ = task.await;
            config.options(format!("-c search_path={schema}"));
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager).max_size(16).build().map_err(pg)?;
        let store = Self {
            unique_types: Arc::new(
                unique_attrs(&registry)
                    .into_iter()
                    .map(|(t, _)| t)
                    .collect(),
            ),
            registry: Arc::new(registry),
            pool,
        };
        store.migrate(reindex).await?;
        Ok(store)
    }

    /// The unique values of `body`, or `None` when resources of type `rt` have none.
    fn unique_keys(&self, rt: &str, body: &Map<String, Value>) -> Option<Vec<UniqueKey>> {
        self.unique_types
            .contains(rt)
            .then(|| unique_keys(&self.registry, rt, body))
    }

    async fn migrate(&self, reindex: bool) -> Result<(), StoreError> {
        let mut client = self.pool.get().await.map_err(pg)?;
        let tx = client.transaction().await.map_err(pg)?;
        // One migrator at a time across instances.
        tx.batch_execute("SELECT pg_advisory_xact_lock(7463220981); CREATE TABLE IF NOT EXISTS scimkit_migrations (version INT PRIMARY KEY)")
            .await
            .map_err(pg)?;
        let applied: i64 = row_one(&tx, "SELECT COUNT(*) FROM scimkit_migrations", &[])
            .await
            .map_err(pg)?
            .get(0);
        for (i, sql) in MIGRATIONS
            .iter()
            .enumerate()
            .skip(usize::try_from(applied).unwrap_or(0))
        {
            tx.batch_execute(sql).await.map_err(pg)?;
            exec(
                &tx,
                "INSERT INTO scimkit_migrations (version) VALUES ($1)",
                &[&(i as i32 + 1)],
            )
            .await
            .map_err(pg)?;
        }
        if reindex {
            sync_uniques(&tx, &self.registry).await?;
        }
        tx.commit().await.map_err(pg)
    }

    /// The number of migrations applied.
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let client = self.pool.get().await.map_err(pg)?;
        Ok(
            row_one(&client, "SELECT COUNT(*) FROM scimkit_migrations", &[])
                .await
                .map_err(pg)?
                .get(0),
        )
    }
}

/// Statements run through the connection's prepared-statement cache (deadpool's
/// `prepare_cached`): once a connection has seen a statement, running it is one round trip
/// instead of two (prepare, then execute). Only for fixed SQL text: the cache is per
/// connection and unbounded.
async fn exec<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<u64, tokio_postgres::Error> {
    let st = c.prepare_cached(sql).await?;
    c.execute(&st, params).await
}

async fn rows<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
    let st = c.prepare_cached(sql).await?;
    c.query(&st, params).await
}

async fn row_one<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<tokio_postgres::Row, tokio_postgres::Error> {
    let st = c.prepare_cached(sql).await?;
    c.query_one(&st, params).await
}

async fn row_opt<C: GenericClient>(
    c: &C,
    sql: &str,
    params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
) -> Result<Option<tokio_postgres::Row>, tokio_postgres::Error> {
    let st = c.prepare_cached(sql).await?;
    c.query_opt(&st, params).await
}

/// Brings the unique index in line with the registry's unique attributes (under the
/// migration lock): when they differ from the ones recorded, re-indexes the resources of the
/// types concerned. Values that already collide in stored data keep their first holder.
/// Every instance sharing a database must run with the same schemas.
async fn sync_uniques<C: GenericClient>(c: &C, registry: &Registry) -> Result<(), StoreError> {
    let wanted = unique_attrs(registry);
    let recorded: BTreeSet<(String, String)> = rows(c, "SELECT type, attr FROM unique_attrs", &[])
        .await
        .map_err(pg)?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    if recorded == wanted {
        return Ok(());
    }
    let types: BTreeSet<&String> = recorded
        .symmetric_difference(&wanted)
        .map(|(t, _)| t)
        .collect();
    for rt in types {
        exec(c, "DELETE FROM uniques WHERE type = $1", &[rt])
            .await
            .map_err(pg)?;
        let rows = rows(
            c,
            "SELECT tenant, id, body FROM resources WHERE type = $1",
            &[rt],
        )
        .await
        .map_err(pg)?;
        for row in &rows {
            let (tenant, id, body): (String, String, String) = (row.get(0), row.get(1), row.get(2));
            let body: Map<String, Value> = serde_json::from_str(&body).map_err(pg)?;
            for k in unique_keys(registry, rt, &body) {
                exec(c,
                    "INSERT INTO uniques (tenant, type, attr, value, id) VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT DO NOTHING",
                    &[&tenant, rt, &k.attr, &k.value, &id],
                )
                .await
                .map_err(pg)?;
            }
        }
    }
    exec(c, "DELETE FROM unique_attrs", &[]).await.map_err(pg)?;
    for (rt, attr) in &wanted {
        exec(
            c,
            "INSERT INTO unique_attrs (type, attr) VALUES ($1, $2)",
            &[rt, attr],
        )
        .await
        .map_err(pg)?;
    }
    Ok(())
}

/// Makes `keys` the unique values resource `id` holds, failing with `uniqueness` when another
/// resource holds one (`None`: the type has no unique attributes, nothing to do). A concurrent
/// transaction inserting the same value makes this one wait for its outcome.
async fn set_uniques<C: GenericClient>(
    c: &C,
    tenant: &str,
    rt: &str,
    id: &str,
    keys: Option<&[UniqueKey]>,
) -> Result<(), StoreError> {
    let Some(keys) = keys else {
        return Ok(());
    };
    exec(
        c,
        "DELETE FROM uniques WHERE tenant = $1 AND type = $2 AND id = $3",
        &[&tenant, &rt, &id],
    )
    .await
    .map_err(pg)?;
    for k in keys {
        let inserted = exec(
            c,
            "INSERT INTO uniques (tenant, type, attr, value, id) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT DO NOTHING",
            &[&tenant, &rt, &k.attr, &k.value, &id],
        )
        .await
        .map_err(pg)?;
        if inserted == 0 {
            return Err(k.taken());
        }
    }
    Ok(())
}

fn write_error(
    e: tokio_postgres::Error,
    rt: &str,
    id: &str,
    body: &Map<String, Value>,
) -> StoreError {
    if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        let constraint = e
            .as_db_error()
            .and_then(|d| d.constraint())
            .unwrap_or_default()
            .to_owned();
        if constraint.contains("user_name") {
            return StoreError::Uniqueness {
                attribute: "userName".into(),
                value: body
                    .get("userName")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            };
        }
        return StoreError::IdTaken {
            resource_type: rt.to_owned(),
            id: id.to_owned(),
        };
    }
    pg(e)
}

/// A read-only transaction that sees one snapshot, for a read of several statements (a count
/// and a page) that must agree.
async fn snapshot(client: &mut deadpool_postgres::Object) -> Result<Tx<'_>, StoreError> {
    client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(pg)
}

/// A page of an unfiltered list in the default order, and its total, from the
/// `resources_in_order` index.
async fn search_in_order(
    client: &mut deadpool_postgres::Object,
    tenant: &str,
    rt: &str,
    plan: &query::InOrder,
) -> Result<Page, StoreError> {
    let tx = snapshot(client).await?;
    let total: i64 = tx
        .query_one(
            "SELECT count(*) FROM resources WHERE tenant = $1 AND type = $2",
            &[&tenant, &rt],
        )
        .await
        .map_err(pg)?
        .get(0);
    let limit = plan.limit.map(|l| i64::try_from(l).unwrap_or(i64::MAX));
    let offset = i64::try_from(plan.offset).unwrap_or(i64::MAX);
    let rows = match &plan.after {
        // After a cursor, the rows after its position: a range of the index.
        Some((created, id)) => {
            tx.query(
                    r#"SELECT id, version, created, modified, body FROM resources
                       WHERE tenant = $1 AND type = $2
                         AND (created COLLATE "C", id COLLATE "C") > ($3::text COLLATE "C", $4::text COLLATE "C")
                       ORDER BY created COLLATE "C", id COLLATE "C" LIMIT $5 OFFSET $6"#,
                    &[&tenant, &rt, created, id, &limit, &offset],
                )
                .await
        }
        None => {
            tx.query(
                    r#"SELECT id, version, created, modified, body FROM resources
                       WHERE tenant = $1 AND type = $2
                       ORDER BY created COLLATE "C", id COLLATE "C" LIMIT $3 OFFSET $4"#,
                    &[&tenant, &rt, &limit, &offset],
                )
                .await
        }
    }
    .map_err(pg)?;
    tx.commit().await.map_err(pg)?;
    let page = rows
        .iter()
        .map(|row| stored(rt, row))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(plan.page(usize::try_from(total).unwrap_or(0), page))
}

/// A search whose condition selects exactly the filter's matches, in the default order: the
/// matches are counted and paged from their ids and times, and only the page's bodies are
/// read, in the same snapshot. No body is parsed to be evaluated.
async fn search_exact(
    client: &mut deadpool_postgres::Object,
    tenant: &str,
    rt: &str,
    q: &Query,
    bound: &scimkit_schema::Bound<'_>,
    pre: &Prefilter,
) -> Result<Page, StoreError> {
    let unfiltered = query::answered_exactly(q, bound)?;
    let mut selection = query::Selection::new(&unfiltered, bound)?;
    let tx = snapshot(client).await?;
    let sql = format!(
        "SELECT id, version, created, modified, '{{}}' AS body FROM resources WHERE tenant = $1 AND type = $2 AND {}",
        pre.sql
    );
    let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&tenant, &rt];
    params.extend(
        pre.args
            .iter()
            .map(|a| a as &(dyn tokio_postgres::types::ToSql + Sync)),
    );
    for row in &tx.query(&sql, &params).await.map_err(pg)? {
        selection.offer(stored(rt, row)?)?;
    }
    let mut page = selection.page();
    let ids: Vec<&str> = page.resources.iter().map(|r| r.id.as_str()).collect();
    let mut bodies: std::collections::HashMap<String, String> = tx
        .query(
            "SELECT id, body FROM resources WHERE tenant = $1 AND type = $2 AND id = ANY($3)",
            &[&tenant, &rt, &ids],
        )
        .await
        .map_err(pg)?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    tx.commit().await.map_err(pg)?;
    for r in &mut page.resources {
        let text = bodies.remove(&r.id).ok_or_else(|| {
            StoreError::backend(std::io::Error::other(format!(
                "resource {} vanished from the snapshot",
                r.id
            )))
        })?;
        r.body = serde_json::from_str(&text).map_err(StoreError::backend)?;
    }
    Ok(page)
}

fn stored(rt: &str, row: &tokio_postgres::Row) -> Result<Stored, StoreError> {
    let body: String = row.get("body");
    Ok(Stored {
        resource_type: rt.to_owned(),
        id: row.get("id"),
        version: u64::try_from(row.get::<_, i64>("version")).unwrap_or(0),
        created: row.get("created"),
        last_modified: row.get("modified"),
        body: serde_json::from_str(&body).map_err(pg)?,
    })
}

async fn soft_delete<C: GenericClient>(c: &C, tenant: &str) -> Result<bool, StoreError> {
    let row = row_opt(
        c,
        "SELECT soft_delete FROM tenant_settings WHERE tenant = $1",
        &[&tenant],
    )
    .await
    .map_err(pg)?;
    Ok(row.is_some_and(|r| r.get::<_, bool>(0)))
}

fn tenant_row(r: &tokio_postgres::Row) -> Tenant {
    Tenant {
        name: r.get("name"),
        created: r.get("created"),
    }
}

fn token_row(r: &tokio_postgres::Row) -> TokenRecord {
    TokenRecord {
        id: r.get("id"),
        tenant: r.get("tenant"),
        label: r.get("label"),
        hash: r.get("hash"),
        created: r.get("created"),
        expires: r.get("expires"),
        revoked: r.get("revoked"),
        last_used: r.get("last_used"),
        scope: r.get("scope"),
    }
}

async fn load<C: GenericClient>(
    c: &C,
    tenant: &str,
    rt: &str,
    id: &str,
    lock: bool,
) -> Result<Option<Stored>, StoreError> {
    let sql = if lock {
        "SELECT id, version, created, modified, body FROM resources WHERE tenant = $1 AND type = $2 AND id = $3 FOR UPDATE"
    } else {
        "SELECT id, version, created, modified, body FROM resources WHERE tenant = $1 AND type = $2 AND id = $3"
    };
    c.query_opt(sql, &[&tenant, &rt, &id])
        .await
        .map_err(pg)?
        .map(|r| stored(rt, &r))
        .transpose()
}

struct About<'a> {
    tenant: &'a str,
    rt: &'a str,
    id: &'a str,
    at: &'a str,
}

async fn event(
    tx: &Tx<'_>,
    about: &About<'_>,
    kind: EventKind,
    version: Option<u64>,
    data: &Value,
) -> Result<(), StoreError> {
    // One statement: take the tenant's next sequence number and append the event with it.
    let version = version.map(|v| v as i64);
    exec(
        tx,
        "WITH s AS (
             INSERT INTO outbox_seq (tenant, seq) VALUES ($1, 1)
             ON CONFLICT (tenant) DO UPDATE SET seq = outbox_seq.seq + 1 RETURNING seq)
         INSERT INTO events (tenant, seq, kind, type, resource_id, version, at, data)
         SELECT $1, s.seq, $2, $3, $4, $5, $6, $7 FROM s",
        &[
            &about.tenant,
            &kind.as_str(),
            &about.rt,
            &about.id,
            &version,
            &about.at,
            &data.to_string(),
        ],
    )
    .await
    .map_err(pg)?;
    Ok(())
}

async fn audit(
    tx: &Tx<'_>,
    tenant: &str,
    ctx: &Ctx,
    operation: &str,
    rt: &str,
    id: &str,
) -> Result<(), StoreError> {
    exec(tx,
        "INSERT INTO audit (tenant, at, token_id, operation, type, resource_id, outcome) VALUES ($1, $2, $3, $4, $5, $6, 'ok')",
        &[&tenant, &ctx.now, &ctx.token_id, &operation, &rt, &id],
    )
    .await
    .map_err(pg)?;
    Ok(())
}

async fn member_rows<C: GenericClient>(
    c: &C,
    tenant: &str,
    group: &str,
) -> Result<Vec<Member>, StoreError> {
    let rows = rows(c,
            "SELECT member_id, kind, display FROM members WHERE tenant = $1 AND group_id = $2 ORDER BY member_id",
            &[&tenant, &group],
        )
        .await
        .map_err(pg)?;
    Ok(rows
        .iter()
        .map(|r| Member {
            value: r.get(0),
            kind: r.get(1),
            display: r.get(2),
        })
        .collect())
}

async fn is_member<C: GenericClient>(
    c: &C,
    tenant: &str,
    group: &str,
    member: &str,
) -> Result<bool, StoreError> {
    Ok(row_opt(
        c,
        "SELECT 1 FROM members WHERE tenant = $1 AND group_id = $2 AND member_id = $3",
        &[&tenant, &group, &member],
    )
    .await
    .map_err(pg)?
    .is_some())
}

async fn apply_members(
    tx: &Tx<'_>,
    tenant: &str,
    group: &str,
    added: &[Member],
    removed: &[String],
) -> Result<(), StoreError> {
    if !removed.is_empty() {
        exec(tx,
            "DELETE FROM members USING unnest($3::text[]) AS r(m) WHERE tenant = $1 AND group_id = $2 AND member_id = r.m",
            &[&tenant, &group, &removed],
        )
        .await
        .map_err(pg)?;
    }
    if !added.is_empty() {
        let ids: Vec<&str> = added.iter().map(|m| m.value.as_str()).collect();
        let kinds: Vec<Option<&str>> = added.iter().map(|m| m.kind.as_deref()).collect();
        let displays: Vec<Option<&str>> = added.iter().map(|m| m.display.as_deref()).collect();
        exec(
            tx,
            "INSERT INTO members (tenant, group_id, member_id, kind, display)
             SELECT $1, $2, m, k, d FROM unnest($3::text[], $4::text[], $5::text[]) AS u(m, k, d)
             ON CONFLICT DO NOTHING",
            &[&tenant, &group, &ids, &kinds, &displays],
        )
        .await
        .map_err(pg)?;
    }
    Ok(())
}

async fn index_emails(
    tx: &Tx<'_>,
    tenant: &str,
    rt: &str,
    id: &str,
    body: Option<&Map<String, Value>>,
) -> Result<(), StoreError> {
    if rt != "User" {
        return Ok(());
    }
    exec(
        tx,
        "DELETE FROM emails WHERE tenant = $1 AND id = $2",
        &[&tenant, &id],
    )
    .await
    .map_err(pg)?;
    if let Some(body) = body {
        let emails = email_keys(rt, body);
        if !emails.is_empty() {
            exec(tx,
                "INSERT INTO emails (tenant, id, email) SELECT $1, $2, e FROM unnest($3::text[]) AS e ON CONFLICT DO NOTHING",
                &[&tenant, &id, &emails],
            )
            .await
            .map_err(pg)?;
        }
    }
    Ok(())
}

async fn groups_of<C: GenericClient>(
    c: &C,
    tenant: &str,
    id: &str,
) -> Result<Vec<GroupRef>, StoreError> {
    // Direct groups at depth 1, then the groups those are in; UNION ends cycles.
    let rows = rows(
        c,
        "WITH RECURSIVE up(group_id, depth) AS (
                SELECT group_id, 1 FROM members WHERE tenant = $1 AND member_id = $2
                UNION
                SELECT m.group_id, up.depth + 1 FROM members m JOIN up ON m.member_id = up.group_id
                WHERE m.tenant = $1 AND up.depth < 64
             )
             SELECT u.group_id, MIN(u.depth) AS depth, r.display
             FROM up u LEFT JOIN LATERAL (
                SELECT body::json->>'displayName' AS display FROM resources
                WHERE tenant = $1 AND type = 'Group' AND id = u.group_id
             ) r ON TRUE
             GROUP BY u.group_id, r.display",
        &[&tenant, &id],
    )
    .await
    .map_err(pg)?;
    let mut out: Vec<GroupRef> = rows
        .iter()
        .map(|r| GroupRef {
            id: r.get(0),
            display: r.get(2),
            direct: r.get::<_, i32>(1) == 1,
        })
        .collect();
    out.sort();
    Ok(out)
}

async fn assemble<C: GenericClient>(
    c: &C,
    tenant: &str,
    mut s: Stored,
) -> Result<Stored, StoreError> {
    if s.resource_type == "Group" {
        let members: Vec<Value> = member_rows(c, tenant, &s.id)
            .await?
            .iter()
            .map(Member::to_json)
            .collect();
        if !members.is_empty() {
            s.body.insert("members".into(), Value::Array(members));
        }
    }
    if s.resource_type == "User" {
        let groups: Vec<Value> = groups_of(c, tenant, &s.id)
            .await?
            .iter()
            .map(GroupRef::to_json)
            .collect();
        if !groups.is_empty() {
            s.body.insert("groups".into(), Value::Array(groups));
        }
    }
    Ok(s)
}

/// The columns of a `requests` row, in the order [`request_row`] reads them.
const REQUEST_COLUMNS: &str = "seq, at, request_id, token_id, method, path, resource_type, \
     resource_id, status, duration_us, normalizers, request_body, response_body";

/// A `requests` row, selected as [`REQUEST_COLUMNS`].
fn request_row(r: &tokio_postgres::Row) -> Result<RequestRecord, StoreError> {
    let normalizers: String = r.get(10);
    Ok(RequestRecord {
        seq: u64::try_from(r.get::<_, i64>(0)).unwrap_or(0),
        at: r.get(1),
        request_id: r.get(2),
        token_id: r.get(3),
        method: r.get(4),
        path: r.get(5),
        resource_type: r.get(6),
        resource_id: r.get(7),
        status: u16::try_from(r.get::<_, i32>(8)).unwrap_or(0),
        duration_us: u64::try_from(r.get::<_, i64>(9)).unwrap_or(0),
        normalizers: serde_json::from_str(&normalizers).map_err(pg)?,
        request_body: r.get(11),
        response_body: r.get(12),
    })
}

#[async_trait]
impl Store for PgStore {
    async fn create(
        &self,
        tenant: &str,
        rt: &str,
        id: &str,
        body: Map<String, Value>,
        ctx: &Ctx,
    ) -> Result<Stored, StoreError> {
        let uniques = self.unique_keys(rt, &body);
        let mut client = self.pool.get().await.map_err(pg)?;
        let tx = client.transaction().await.map_err(pg)?;
        let (user_name, external_id, display) = indexed(rt, &body);
        let (body, members) = split_members(rt, body);
        let text = Value::Object(body.clone()).to_string();
        exec(&tx,
            "INSERT INTO resources (tenant, type, id, version, created, modified, modified_ms, user_name, external_id, display_name, body)
             VALUES ($1, $2, $3, 1, $4, $4, $9, $5, $6, $7, $8)",
            &[&tenant, &rt, &id, &ctx.now, &user_name, &external_id, &display, &text, &query::modified_ms(&ctx.now)],
        )
        .await
        .map_err(|e| write_error(e, rt, id, &body))?;
        set_uniques(&tx, tenant, rt, id, uniques.as_deref()).await?;
        index_emails(&tx, tenant, rt, id, Some(&body)).await?;
        let about = About {
            tenant,
            rt,
            id,
            at: &ctx.now,
        };
        event(&tx, &about, EventKind::Created, Some(1), &json!({})).await?;
        if !members.is_empty() {
            apply_members(&tx, tenant, id, &members, &[]).await?;
            let ids: Vec<&str> = members.iter().map(|m| m.value.as_str()).collect();
            event(
                &tx,
                &about,
                EventKind::MembersAdded,
                Some(1),
                &json!({"members": ids}),
            )
            .await?;
        }
        audit(&tx, tenant, ctx, "create", rt, id).await?;
        let stored = Stored {
            resource_type: rt.to_owned(),
            id: id.to_owned(),
            version: 1,
            created: ctx.now.clone(),
            last_modified: ctx.now.clone(),
            body,
        };
        let out = assemble(&tx, tenant, stored).await?;
        tx.commit().await.map_err(pg)?;
        Ok(out)
    }

    async fn get(&self, tenant: &str, rt: &str, id: &str) -> Result<Option<Stored>, StoreError> {
        let client = self.pool.get().await.map_err(pg)?;
        match load(&client, tenant, rt, id, false).await? {
            Some(s) => Ok(Some(assemble(&client, tenant, s).await?)),
            None => Ok(None),
        }
    }

    async fn load(&self, tenant: &str, rt: &str, id: &str) -> Result<Option<Stored>, StoreError> {
        let client = self.pool.get().await.map_err(pg)?;
        load(&client, tenant, rt, id, false).await
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
        let mut client = self.pool.get().await.map_err(pg)?;
        let tx = client.transaction().await.map_err(pg)?;
        let current =
            load(&tx, tenant, rt, id, true)
                .await?
                .ok_or_else(|| StoreError::NotFound {
                    resource_type: rt.to_owned(),
                    id: id.to_owned(),
                })?;
        check_version(&current, if_version)?;
        let uniques = self.unique_keys(rt, &body);
        let (user_name, external_id, display) = indexed(rt, &body);
        let (body, members) = split_members(rt, body);
        let events = change_events(rt, &current.body, &body);
        let (added, removed) = if rt == "Group" {
            let old = member_rows(&tx, tenant, id)
                .await?
                .into_iter()
                .map(|m| m.value)
                .collect();
            member_diff(&old, members)
        } else {
            (Vec::new(), Vec::new())
        };
        if events.is_empty() && added.is_empty() && removed.is_empty() {
            let out = assemble(&tx, tenant, current).await?;
            tx.commit().await.map_err(pg)?;
            return Ok(out);
        }
        let version = current.version + 1;
        let text = Value::Object(body.clone()).to_string();
        exec(&tx,
            "UPDATE resources SET version = $4, modified = $5, modified_ms = $10, user_name = $6, external_id = $7, display_name = $8, body = $9
             WHERE tenant = $1 AND type = $2 AND id = $3",
            &[&tenant, &rt, &id, &(version as i64), &ctx.now, &user_name, &external_id, &display, &text, &query::modified_ms(&ctx.now)],
        )
        .await
        .map_err(|e| write_error(e, rt, id, &body))?;
        set_uniques(&tx, tenant, rt, id, uniques.as_deref()).await?;
        apply_members(&tx, tenant, id, &added, &removed).await?;
        index_emails(&tx, tenant, rt, id, Some(&body)).await?;
        let about = About {
            tenant,
            rt,
            id,
            at: &ctx.now,
        };
        for (kind, data) in events {
            event(&tx, &about, kind, Some(version), &data).await?;
        }
        for (kind, data) in membership_events(&added, &removed) {
            event(&tx, &about, kind, Some(version), &data).await?;
        }
        audit(&tx, tenant, ctx, "replace", rt, id).await?;
        let stored = Stored {
            version,
            last_modified: ctx.now.clone(),
            body,
            ..current
        };
        let out = assemble(&tx, tenant, stored).await?;
        tx.commit().await.map_err(pg)?;
        Ok(out)
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
        let mut client = self.pool.get().await.map_err(pg)?;
        let tx = client.transaction().await.map_err(pg)?;
        let current = load(&tx, tenant, "Group", group_id, true)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                resource_type: "Group".into(),
                id: group_id.to_owned(),
            })?;
        check_version(&current, if_version)?;
        // Which of the listed ids are members now: one query for all of them.
        let listed: Vec<&str> = added
            .iter()
            .map(|m| m.value.as_str())
            .chain(removed.iter().map(String::as_str))
            .collect();
        let present: BTreeSet<String> = rows(
            &tx,
            "SELECT m.member_id FROM unnest($3::text[]) AS r(id)
             JOIN members m ON m.tenant = $1 AND m.group_id = $2 AND m.member_id = r.id",
            &[&tenant, &group_id, &listed],
        )
        .await
        .map_err(pg)?
        .iter()
        .map(|r| r.get(0))
        .collect();
        let mut add: Vec<Member> = Vec::new();
        for m in added {
            if !present.contains(&m.value) && !add.iter().any(|a| a.value == m.value) {
                add.push(m.clone());
            }
        }
        let mut remove: Vec<String> = Vec::new();
        for id in removed {
            if present.contains(id) && !remove.contains(id) {
                remove.push(id.clone());
            }
        }
        if add.is_empty() && remove.is_empty() {
            tx.commit().await.map_err(pg)?;
            return Ok(current);
        }
        apply_members(&tx, tenant, group_id, &add, &remove).await?;
        let version = current.version + 1;
        exec(&tx,
            "UPDATE resources SET version = $3, modified = $4, modified_ms = $5 WHERE tenant = $1 AND type = 'Group' AND id = $2",
            &[&tenant, &group_id, &(version as i64), &ctx.now, &query::modified_ms(&ctx.now)],
        )
        .await
        .map_err(pg)?;
        let about = About {
            tenant,
            rt: "Group",
            id: group_id,
            at: &ctx.now,
        };
        for (kind, data) in membership_events(&add, &remove) {
            event(&tx, &about, kind, Some(version), &data).await?;
        }
        audit(&tx, tenant, ctx, "members", "Group", group_id).await?;
        tx.commit().await.map_err(pg)?;
        Ok(Stored {
            version,
            last_modified: ctx.now.clone(),
            ..current
        })
    }

    async fn delete(
        &self,
        tenant: &str,
        rt: &str,
        id: &str,
        if_version: Option<u64>,
        ctx: &Ctx,
    ) -> Result<(), StoreError> {
        let mut client = self.pool.get().await.map_err(pg)?;
        let tx = client.transaction().await.map_err(pg)?;
        let current =
            load(&tx, tenant, rt, id, true)
                .await?
                .ok_or_else(|| StoreError::NotFound {
                    resource_type: rt.to_owned(),
                    id: id.to_owned(),
                })?;
        check_version(&current, if_version)?;
        let none = self.unique_types.contains(rt).then(Vec::new);
        set_uniques(&tx, tenant, rt, id, none.as_deref()).await?;
        if soft_delete(&tx, tenant).await? {
            let s = assemble(&tx, tenant, current).await?;
            let body = Value::Object(s.body).to_string();
            exec(&tx,
                "INSERT INTO tombstones (tenant, type, id, version, created, modified, deleted_at, token_id, body)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[&tenant, &rt, &id, &sql_int(s.version), &s.created, &s.last_modified, &ctx.now, &ctx.token_id, &body],
            )
            .await
            .map_err(pg)?;
        }
        exec(
            &tx,
            "DELETE FROM resources WHERE tenant = $1 AND type = $2 AND id = $3",
            &[&tenant, &rt, &id],
        )
        .await
        .map_err(pg)?;
        // Its memberships: as a member (rows of its type or of no type), and, for a group, as
        // a group. A User and a Group may share an id.
        exec(&tx,
            "DELETE FROM members WHERE tenant = $1 AND member_id = $2 AND (kind IS NULL OR lower(kind) = lower($3))",
            &[&tenant, &id, &rt],
        )
        .await
        .map_err(pg)?;
        if rt == "Group" {
            exec(
                &tx,
                "DELETE FROM members WHERE tenant = $1 AND group_id = $2",
                &[&tenant, &id],
            )
            .await
            .map_err(pg)?;
        }
        index_emails(&tx, tenant, rt, id, None).await?;
        event(
            &tx,
            &About {
                tenant,
                rt,
                id,
                at: &ctx.now,
            },
            EventKind::Deleted,
            None,
            &json!({}),
        )
        .await?;
        audit(&tx, tenant, ctx, "delete", rt, id).await?;
        tx.commit().await.map_err(pg)
    }

    async fn search(&self, tenant: &str, rt: &str, q: &Query) -> Result<Page, StoreError> {
        let bound = self
            .registry
            .bind(rt)
            .ok_or_else(|| StoreError::Filter(format!("unknown resource type {rt}")))?;
        let mut client = self.pool.get().await.map_err(pg)?;
        if let Some(plan) = query::InOrder::of(q)? {
            return search_in_order(&mut client, tenant, rt, &plan).await;
        }
        let base = "SELECT id, version, created, modified, body FROM resources WHERE tenant = $1 AND type = $2";
        // The indexed part of the filter narrows the rows in SQL; the filter is then
        // evaluated on each.
        let pre = q
            .filter
            .as_ref()
            .and_then(|f| Prefilter::of(f, Dialect::Postgres, &bound));
        if let Some(pre) = pre.as_ref().filter(|p| p.exact && q.sort_by.is_none()) {
            return search_exact(&mut client, tenant, rt, q, &bound, pre).await;
        }
        let sql = match &pre {
            Some(p) => format!("{base} AND {}", p.sql),
            None => base.to_owned(),
        };
        let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&tenant, &rt];
        if let Some(p) = &pre {
            params.extend(
                p.args
                    .iter()
                    .map(|a| a as &(dyn tokio_postgres::types::ToSql + Sync)),
            );
        }
        let mut selection = query::Selection::new(q, &bound)?;
        if q.filter.as_ref().is_some_and(query::reads_members) {
            // Members are read per row with the same connection: collect the rows first.
            let rows = client.query(&sql, &params).await.map_err(pg)?;
            for row in &rows {
                let s = stored(rt, row)?;
                selection.offer(assemble(&client, tenant, s).await?)?;
            }
        } else {
            // Rows stream through the selection: a scan holds one page, not every match.
            let rows = client
                .query_raw(&sql, params.iter().copied())
                .await
                .map_err(pg)?;
            let mut rows = std::pin::pin!(rows);
            while let Some(row) = futures_util::TryStreamExt::try_next(&mut rows)
                .await
                .map_err(pg)?
            {
                selection.offer(stored(rt, &row)?)?;
            }
        }
        Ok(selection.page())
    }

    async fn is_member(
        &self,
        tenant: &str,
        group_id: &str,
        member_id: &str,
    ) -> Result<bool, StoreError> {
        let client = self.pool.get().await.map_err(pg)?;
        is_member(&client, tenant, group_id, member_id).await
    }

    async fn member_page(
        &self,
        tenant: &str,
        group_id: &str,
        skip: usize,
        count: usize,
    ) -> Result<(usize, Vec<String>), StoreError> {
        let limit = i64::try_from(count).unwrap_or(i64::MAX);
        let offset = i64::try_from(skip).unwrap_or(i64::MAX);
        let mut client = self.pool.get().await.map_err(pg)?;
        let tx = snapshot(&mut client).await?;
        let total: i64 = tx
            .query_one(
                "SELECT count(*) FROM members WHERE tenant = $1 AND group_id = $2",
                &[&tenant, &group_id],
            )
            .await
            .map_err(pg)?
            .get(0);
        let ids = tx
            .query(
                "SELECT member_id FROM members WHERE tenant = $1 AND group_id = $2
                 ORDER BY member_id LIMIT $3 OFFSET $4",
                &[&tenant, &group_id, &limit, &offset],
            )
            .await
            .map_err(pg)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        tx.commit().await.map_err(pg)?;
        Ok((usize::try_from(total).unwrap_or(0), ids))
    }

    async fn member_ids(&self, tenant: &str, group_id: &str) -> Result<Vec<String>, StoreError> {
        let client = self.pool.get().await.map_err(pg)?;
        Ok(member_rows(&client, tenant, group_id)
            .await?
            .into_iter()
            .map(|m| m.value)
            .collect())
    }

    async fn groups_of(&self, tenant: &str, member_id: &str) -> Result<Vec<GroupRef>, StoreError> {
        let client = self.pool.get().await.map_err(pg)?;
        groups_of(&client, tenant, member_id).await
    }

    async fn events(
        &self,
        tenant: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        let client = self.pool.get().await.map_err(pg)?;
        let rows = rows(
            &client,
            "SELECT seq, kind, type, resource_id, version, at, data FROM events
                 WHERE tenant = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            &[&tenant, &sql_int(after), &sql_int(limit)],
        )
        .await
        .map_err(pg)?;
        rows.iter()
            .map(|r| {
                let kind: String = r.get(1);
                let data: String = r.get(6);
                Ok(Event {
                    seq: r.get::<_, i64>(0) as u64,
                    kind: EventKind::parse(&kind)
                        .ok_or_else(|| StoreError::Filter(format!("unknown event kind {kind}")))?,
                    resource_type: r.get(2),
                    resource_id: r.get(3),
                    version: r.get::<_, Option<i64>>(4).map(|v| v as u64),
                    at: r.get(5),
                    data: serde_json::from_str(&data).map_err(pg)?,
                })
            })
            .collect()
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
        let mut client = self.pool.get().await.map_err(pg)?;
        let tx = client.transaction().await.map_err(pg)?;
        let about = About {
            tenant,
            rt,
            id,
            at: &ctx.now,
        };
        event(&tx, &about, kind, None, data).await?;
        let seq: i64 = row_one(
            &tx,
            "SELECT seq FROM outbox_seq WHERE tenant = $1",
            &[&tenant],
        )
        .await
        .map_err(pg)?
        .get(0);
        tx.commit().await.map_err(pg)?;
        Ok(seq as u64)
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
        let client = self.pool.get().await.map_err(pg)?;
        exec(
            &client,
            "INSERT INTO audit (tenant, at, token_id, operation, type, resource_id, outcome) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[&tenant, &ctx.now, &ctx.token_id, &operation, &rt, &id, &outcome],
        )
        .await
        .map_err(pg)?;
        Ok(())
    }

    async fn audit(&self, tenant: &str, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        let client = self.pool.get().await.map_err(pg)?;
        let rows = rows(&client,
                "SELECT at, token_id, operation, type, resource_id, outcome FROM audit WHERE tenant = $1 ORDER BY n DESC LIMIT $2",
                &[&tenant, &sql_int(limit)],
            )
            .await
            .map_err(pg)?;
        Ok(rows
            .iter()
            .map(|r| AuditRecord {
                at: r.get(0),
                token_id: r.get(1),
                operation: r.get(2),
                resource_type: r.get(3),
                resource_id: r.get(4),
                outcome: r.get(5),
            })
            .collect())
    }

    async fn ack(&self, tenant: &str, consumer: &str, seq: u64) -> Result<(), StoreError> {
        let client = self.pool.get().await.map_err(pg)?;
        exec(&client,
                "INSERT INTO consumers (tenant, consumer, acked) VALUES ($1, $2, $3)
                 ON CONFLICT (tenant, consumer) DO UPDATE SET acked = GREATEST(consumers.acked, excluded.acked)",
                &[&tenant, &consumer, &(seq as i64)],
            )
            .await
            .map_err(pg)?;
        Ok(())
    }

    async fn acked(&self, tenant: &str, consumer: &str) -> Result<u64, StoreError> {
        let client = self.pool.get().await.map_err(pg)?;
        let row = row_opt(
            &client,
            "SELECT acked FROM consumers WHERE tenant = $1 AND consumer = $2",
            &[&tenant, &consumer],
        )
        .await
        .map_err(pg)?;
        Ok(row.map_or(0, |r| r.get::<_, i64>(0) as u64))
    }

    async fn consumers(&self, tenant: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let client = self.pool.get().await.map_err(pg)?;
        // `COLLATE "C"`: byte order, as the other backends sort.
        let rows = rows(
            &client,
            "SELECT consumer, acked FROM consumers WHERE tenant = $1 ORDER BY consumer COLLATE \"C\"",
            &[&tenant],
        )
        .await
        .map_err(pg)?;
        Ok(rows
            .iter()
            .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1) as u64))
            .collect())
    }

    async fn set_soft_delete(&self, tenant: &str, on: bool) -> Result<(), StoreError> {
        let client = self.pool.get().await.map_err(pg)?;
        exec(
            &client,
            "INSERT INTO tenant_settings (tenant, soft_delete) VALUES ($1, $2)
                 ON CONFLICT (tenant) DO UPDATE SET soft_delete = excluded.soft_delete",
            &[&tenant, &on],
        )
        .await
        .map_err(pg)?;
        Ok(())
    }

    async fn soft_delete(&self, tenant: &str) -> Result<bool, StoreError> {
        let client = self.pool.get().await.map_err(pg)?;
        soft_delete(&client, tenant).await
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
        let client = self.pool.get().await.map_err(pg)?;
        let row = row_opt(
            &client,
            "SELECT jit FROM tenant_settings WHERE tenant = $1",
            &[&tenant],
        )
        .await
        .map_err(pg)?;
        row.and_then(|r| r.get::<_, Option<String>>(0))
            .map(|t| serde_json::from_str(&t).map_err(StoreError::backend))
            .transpose()
    }

    async fn set_origin(
        &self,
        tenant: &str,
        id: &str,
        origin: Option<&str>,
    ) -> Result<(), StoreError> {
        let client = self.pool.get().await.map_err(pg)?;
        match origin {
            Some(o) => {
                exec(
                    &client,
                    "INSERT INTO origins (tenant, id, origin) VALUES ($1, $2, $3)
                 ON CONFLICT (tenant, id) DO UPDATE SET origin = excluded.origin",
                    &[&tenant, &id, &o],
                )
                .await
            }
            None => {
                exec(
                    &client,
                    "DELETE FROM origins WHERE tenant = $1 AND id = $2",
                    &[&tenant, &id],
                )
                .await
            }
        }
        .map_err(pg)?;
        Ok(())
    }

    async fn origin(&self, tenant: &str, id: &str) -> Result<Option<String>, StoreError> {
        let client = self.pool.get().await.map_err(pg)?;
        let row = row_opt(
            &client,
            "SELECT origin FROM origins WHERE tenant = $1 AND id = $2",
            &[&tenant, &id],
        )
        .await
        .map_err(pg)?;
        Ok(row.map(|r| r.get(0)))
    }

    async fn role_rules(&self, tenant: &str) -> Result<Option<Value>, StoreError> {
        let client = self.pool.get().await.map_err(pg)?;
        let row = row_opt(
            &client,
            "SELECT role_rules FROM tenant_settings WHERE tenant = $1",
            &[&tenant],
        )
        .await
        .map_err(pg)?;
        row.and_then(|r| r.get::<_, Option<String>>(0))
            .map(|t| serde_json::from_str(&t).map_err(StoreError::backend))
            .transpose()
    }

    async fn profile(&self, tenant: &str) -> Result<Option<String>, StoreError> {
        let client = self.pool.get().await.map_err(pg)?;
        let row = row_opt(
            &client,
            "SELECT profile FROM tenant_settings WHERE tenant = $1",
            &[&tenant],
        )
        .await
        .map_err(pg)?;
        Ok(row.and_then(|r| r.get::<_, Option<String>>(0)))
    }

    async fn tombstones(&self, tenant: &str, limit: usize) -> Result<Vec<Tombstone>, StoreError> {
        let client = self.pool.get().await.map_err(pg)?;
        let rows = rows(&client,
                "SELECT type, id, version, created, modified, body, deleted_at, token_id FROM tombstones
                 WHERE tenant = $1 ORDER BY deleted_at, n LIMIT $2",
                &[&tenant, &sql_int(limit)],
            )
            .await
            .map_err(pg)?;
        rows.iter()
            .map(|r| {
                let rt: String = r.get("type");
                Ok(Tombstone {
                    resource: stored(&rt, r)?,
                    deleted_at: r.get("deleted_at"),
                    token_id: r.get("token_id"),
                })
            })
            .collect()
    }

    async fn purge(&self, tenant: &str, before: &str) -> Result<usize, StoreError> {
        let client = self.pool.get().await.map_err(pg)?;
        let n = exec(
            &client,
            "DELETE FROM tombstones WHERE tenant = $1 AND deleted_at < $2",
            &[&tenant, &before],
        )
        .await
        .map_err(pg)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    async fn log_requests(
        &self,
        tenant: &str,
        records: &[RequestRecord],
    ) -> Result<u64, StoreError> {
        if records.is_empty() {
            return Ok(0);
        }
        // One statement, so one round trip whatever the number of records: the counter row
        // moves by their number (locking it until the statement commits, which queues
        // concurrent writers of the tenant), and the records arrive as arrays, numbered by
        // their position.
        let column = |f: fn(&RequestRecord) -> Option<String>| -> Vec<Option<String>> {
            records.iter().map(f).collect()
        };
        let (at, request_id, token_id, method, path) = (
            column(|r| Some(r.at.clone())),
            column(|r| Some(r.request_id.clone())),
            column(|r| r.token_id.clone()),
            column(|r| Some(r.method.clone())),
            column(|r| Some(r.path.clone())),
        );
        let (resource_type, resource_id, request_body, response_body) = (
            column(|r| r.resource_type.clone()),
            column(|r| r.resource_id.clone()),
            column(|r| r.request_body.clone()),
            column(|r| r.response_body.clone()),
        );
        let status: Vec<i32> = records.iter().map(|r| i32::from(r.status)).collect();
        let duration_us: Vec<i64> = records.iter().map(|r| sql_int(r.duration_us)).collect();
        let normalizers = records
            .iter()
            .map(|r| serde_json::to_string(&r.normalizers))
            .collect::<Result<Vec<String>, _>>()
            .map_err(pg)?;
        let n = sql_int(records.len());
        let client = self.pool.get().await.map_err(pg)?;
        let row = row_one(
            &client,
            "WITH s AS (
                 INSERT INTO request_seq (tenant, seq) VALUES ($1, $2)
                 ON CONFLICT (tenant) DO UPDATE SET seq = request_seq.seq + excluded.seq
                 RETURNING seq),
             i AS (
                 INSERT INTO requests (tenant, seq, at, request_id, token_id, method, path,
                     resource_type, resource_id, status, duration_us, normalizers,
                     request_body, response_body)
                 SELECT $1, s.seq - $2 + r.n, r.at, r.request_id, r.token_id, r.method, r.path,
                     r.resource_type, r.resource_id, r.status, r.duration_us, r.normalizers,
                     r.request_body, r.response_body
                 FROM s, unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                     $8::text[], $9::text[], $10::int[], $11::bigint[], $12::text[], $13::text[],
                     $14::text[])
                     WITH ORDINALITY AS r(at, request_id, token_id, method, path, resource_type,
                     resource_id, status, duration_us, normalizers, request_body, response_body, n))
             SELECT seq FROM s",
            &[
                &tenant,
                &n,
                &at,
                &request_id,
                &token_id,
                &method,
                &path,
                &resource_type,
                &resource_id,
                &status,
                &duration_us,
                &normalizers,
                &request_body,
                &response_body,
            ],
        )
        .await
        .map_err(pg)?;
        Ok(u64::try_from(row.get::<_, i64>(0)).unwrap_or(0))
    }

    async fn requests(
        &self,
        tenant: &str,
        query: &RequestQuery,
    ) -> Result<Vec<RequestRecord>, StoreError> {
        let (conditions, args) = query.conditions(Dialect::Postgres);
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM requests WHERE tenant = $1{conditions}
             ORDER BY seq DESC LIMIT ${}",
            args.len() + 2
        );
        let limit = sql_int(query.limit);
        let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = vec![&tenant];
        params.extend(args.iter().map(|a| match a {
            SqlArg::Text(s) => s as &(dyn tokio_postgres::types::ToSql + Sync),
            SqlArg::Int(n) => n,
        }));
        params.push(&limit);
        let client = self.pool.get().await.map_err(pg)?;
        rows(&client, &sql, &params)
            .await
            .map_err(pg)?
            .iter()
            .map(request_row)
            .collect()
    }

    async fn request(&self, tenant: &str, seq: u64) -> Result<Option<RequestRecord>, StoreError> {
        let client = self.pool.get().await.map_err(pg)?;
        row_opt(
            &client,
            &format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE tenant = $1 AND seq = $2"),
            &[&tenant, &sql_int(seq)],
        )
        .await
        .map_err(pg)?
        .as_ref()
        .map(request_row)
        .transpose()
    }

    async fn prune_requests(&self, tenant: &str, keep: usize) -> Result<usize, StoreError> {
        let client = self.pool.get().await.map_err(pg)?;
        // Everything at or below the seq of the newest request not kept: when there is none
        // (the log holds `keep` requests or fewer), `seq <= NULL` removes nothing.
        let n = exec(
            &client,
            "DELETE FROM requests WHERE tenant = $1 AND seq <= (
                 SELECT seq FROM requests WHERE tenant = $1 ORDER BY seq DESC LIMIT 1 OFFSET $2)",
            &[&tenant, &sql_int(keep)],
        )
        .await
        .map_err(pg)?;
        Ok(usize::try_from(n).unwrap_or(usize::MAX))
    }

    async fn create_tenant(&self, name: &str, ctx: &Ctx) -> Result<Tenant, StoreError> {
        check_tenant_name(name)?;
        let mut client = self.pool.get().await.map_err(pg)?;
        let tx = client.transaction().await.map_err(pg)?;
        let inserted = exec(
            &tx,
            "INSERT INTO tenants (name, created) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            &[&name, &ctx.now],
        )
        .await
        .map_err(pg)?;
        if inserted == 0 {
            return Err(StoreError::TenantExists {
                name: name.to_owned(),
            });
        }
        audit(&tx, name, ctx, "tenant.create", "Tenant", name).await?;
        tx.commit().await.map_err(pg)?;
        Ok(Tenant {
            name: name.to_owned(),
            created: ctx.now.clone(),
        })
    }

    async fn tenant(&self, name: &str) -> Result<Option<Tenant>, StoreError> {
        if !is_tenant_name(name) {
            return Ok(None);
        }
        let client = self.pool.get().await.map_err(pg)?;
        let row = row_opt(
            &client,
            "SELECT name, created FROM tenants WHERE name = $1",
            &[&name],
        )
        .await
        .map_err(pg)?;
        Ok(row.as_ref().map(tenant_row))
    }

    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let client = self.pool.get().await.map_err(pg)?;
        let rows = rows(
            &client,
            "SELECT name, created FROM tenants ORDER BY name",
            &[],
        )
        .await
        .map_err(pg)?;
        Ok(rows.iter().map(tenant_row).collect())
    }

    async fn create_token(&self, record: TokenRecord, ctx: &Ctx) -> Result<(), StoreError> {
        let mut client = self.pool.get().await.map_err(pg)?;
        let tx = client.transaction().await.map_err(pg)?;
        // `FOR KEY SHARE`, as the foreign key's own check takes: the tenant stays while the
        // token is written.
        let tenant = row_opt(
            &tx,
            "SELECT 1 FROM tenants WHERE name = $1 FOR KEY SHARE",
            &[&record.tenant],
        )
        .await
        .map_err(pg)?;
        if tenant.is_none() {
            return Err(StoreError::NotFound {
                resource_type: "Tenant".into(),
                id: record.tenant,
            });
        }
        let inserted = exec(
            &tx,
            "INSERT INTO tokens (id, tenant, label, hash, created, expires, revoked, last_used, scope)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING",
            &[
                &record.id,
                &record.tenant,
                &record.label,
                &record.hash,
                &record.created,
                &record.expires,
                &record.revoked,
                &record.last_used,
                &record.scope,
            ],
        )
        .await
        .map_err(pg)?;
        if inserted == 0 {
            return Err(StoreError::IdTaken {
                resource_type: "Token".into(),
                id: record.id,
            });
        }
        audit(
            &tx,
            &record.tenant,
            ctx,
            "token.create",
            "Token",
            &record.id,
        )
        .await?;
        tx.commit().await.map_err(pg)
    }

    async fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        let client = self.pool.get().await.map_err(pg)?;
        let row = row_opt(
            &client,
            "SELECT id, tenant, label, hash, created, expires, revoked, last_used, scope FROM tokens WHERE id = $1",
            &[&id],
        )
        .await
        .map_err(pg)?;
        Ok(row.as_ref().map(token_row))
    }

    async fn tokens(&self, tenant: &str) -> Result<Vec<TokenRecord>, StoreError> {
        let client = self.pool.get().await.map_err(pg)?;
        let rows = rows(
            &client,
            "SELECT id, tenant, label, hash, created, expires, revoked, last_used, scope FROM tokens
             WHERE tenant = $1 ORDER BY created, id",
            &[&tenant],
        )
        .await
        .map_err(pg)?;
        Ok(rows.iter().map(token_row).collect())
    }

    async fn revoke_token(&self, tenant: &str, id: &str, ctx: &Ctx) -> Result<bool, StoreError> {
        let mut client = self.pool.get().await.map_err(pg)?;
        let tx = client.transaction().await.map_err(pg)?;
        // Of concurrent revocations, one updates the row; the others wait for it, then find
        // it revoked and update nothing.
        let revoked = exec(
            &tx,
            "UPDATE tokens SET revoked = $3 WHERE id = $1 AND tenant = $2 AND revoked IS NULL",
            &[&id, &tenant, &ctx.now],
        )
        .await
        .map_err(pg)?;
        let found = if revoked == 1 {
            audit(&tx, tenant, ctx, "token.revoke", "Token", id).await?;
            true
        } else {
            row_opt(
                &tx,
                "SELECT 1 FROM tokens WHERE id = $1 AND tenant = $2",
                &[&id, &tenant],
            )
            .await
            .map_err(pg)?
            .is_some()
        };
        tx.commit().await.map_err(pg)?;
        Ok(found)
    }

    async fn touch_token(&self, id: &str, at: &str) -> Result<(), StoreError> {
        let client = self.pool.get().await.map_err(pg)?;
        // One statement; when `last_used` is already in this minute it matches no row and
        // writes nothing.
        exec(
            &client,
            "UPDATE tokens SET last_used = $2 WHERE id = $1
             AND (last_used IS NULL OR (substr(last_used, 1, 16) COLLATE \"C\") < substr($2, 1, 16))",
            &[&id, &at],
        )
        .await
        .map_err(pg)?;
        Ok(())
    }
}
