//! PostgreSQL store speed: `cargo bench -p scimkit-store --bench store_pg`, the PostgreSQL
//! counterpart of `benches/store.rs` (same users, same calls, same p50/p99), every figure through
//! the async `Store` trait of a `PgStore` unless said otherwise.
//!
//! 1. Bulk load of 100,000 users, one `Store::create` per user from one task, in sequence (as
//!    the SQLite figure): users/s, seconds, p50/p99 of one create. Then 10,000 more users from 4
//!    concurrent tasks (as a server serving a provisioning client that sends several requests
//!    at once), same figures.
//! 2. `userName eq "…"` (`search`) among the 100,000 and among 1,000,000 users: p50 and p99 over
//!    1,000 random lookups.
//! 3. A page of 100 users filtered on `emails.value` among 100,000 and among 1,000,000:
//!    `eq "…"` (one user, answered from the emails index table) and `ew "@example.org"` (10% of
//!    the users match; no index applies, the store streams every User row): ms per page. For
//!    comparison, the `ew` page by plain SQL over the emails table (not what the store does).
//! 4. Adding then removing one member of a group of 1,000, 10,000 and 100,000 members (the
//!    group created by one `create` with its `members`) with `change_members`. Target: under
//!    2 ms whatever the size, judged on the p50 (the p99 is shown, and flagged when over).
//!    The members table is analyzed after each group's create, as autovacuum soon would: with
//!    the statistics of a members table analyzed while empty, PostgreSQL 15 plans the store's
//!    `DELETE … member_id = ANY($3)` as a scan of the whole group (57 ms a removal at 100,000).
//!
//! The server comes from `SCIMKIT_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`); the data lives in the schema `scimkit_bench`,
//! dropped and rebuilt at start. The first 100,000 users go through `create` (figure 1); the
//! rest of the 1,000,000 are written by a direct bulk insert (COPY, one transaction) into the
//! same tables, which this bench first checks writes exactly the rows `create` writes (1,000
//! users each way in two scratch schemas, every table compared). Tables are vacuumed and
//! analyzed after each load, as autovacuum would have done on a server.
//!
//! With `-- --keep`, a `scimkit_bench` schema that already holds the 1,000,000 users (built by
//! this bench with the same user generator and the same store schema, noted in the schema's
//! comment) is kept; figures 1 to 3 among 100,000 are then measured in a scratch schema
//! (`scimkit_bench_load`, dropped afterwards).
//!
//! Without `--bench` (as under `cargo test --all-targets`) it only runs a smoke check on 100
//! users, when `SCIMKIT_TEST_POSTGRES_URL` is set.

#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

use std::ops::Range;
use std::pin::pin;
use std::time::{Duration, Instant};

use scimkit_schema::Registry;
use scimkit_store::{Ctx, PgStore, Store};
use serde_json::{Value, json};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The bench's schema (the 1M users).
const SCHEMA: &str = "scimkit_bench";
/// Where the 100k figures are measured when `--keep` reuses `SCHEMA`.
const LOAD_SCHEMA: &str = "scimkit_bench_load";
/// Prefix of the two scratch schemas of the bulk insert check.
const CHECK_SCHEMA: &str = "scimkit_bench_check";

/// Users of the bulk load (and of the figures "among 100,000").
const BULK: usize = 100_000;
/// Users created after the bulk load by concurrent tasks.
const CONCURRENT: usize = 10_000;
const TASKS: usize = 4;
/// Users of the figures "among 1,000,000".
const BIG: usize = 1_000_000;
/// Users written by `create` and by the bulk insert for the check.
const CHECKED: usize = 1_000;
/// Bump when `user()`, `user_id()`, `when()` or `bulk_insert` change: it invalidates a kept
/// schema.
const DATA_FORMAT: &str = "scimkit-store pg bench users v1";

const LOOKUPS: usize = 1_000;
const MEMBER_ROUNDS: usize = 400;
const MEMBER_WARMUP: usize = 20;
const GROUP_SIZES: [usize; 3] = [1_000, 10_000, 100_000];
const EMAILS_EW: &str = r#"emails.value ew "@example.org""#;
/// The `ew` page by plain SQL over the emails table (for comparison; not what the store does).
const EMAILS_EW_SQL: &str = "SELECT COUNT(*) OVER (), id FROM resources
     WHERE tenant = $1 AND type = 'User'
       AND id IN (SELECT id FROM emails WHERE tenant = $1 AND email LIKE '%@example.org')
     ORDER BY created, id LIMIT 100";

#[path = "support/common.rs"]
mod common;
use common::*;

impl Table {
    fn row(&mut self, what: &str, postgres: String, target: &str, result: &str) {
        self.push(what, vec![postgres], target, result);
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

// ---------------------------------------------------------------------------------------------
// The server.

fn url() -> String {
    std::env::var("SCIMKIT_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// The URL without its credentials, for messages.
fn redacted(url: &str) -> &str {
    url.rsplit_once('@').map_or(url, |(_, rest)| rest)
}

/// A plain connection (outside any store), for the bench's own SQL.
async fn plain(url: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot connect to PostgreSQL at {} ({e}); start it with \
                 `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`",
                redacted(url)
            )
        });
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}

async fn connect(url: &str, schema: &str) -> PgStore {
    PgStore::connect(url, Some(schema), Registry::new())
        .await
        .expect("PgStore connects")
}

async fn drop_schema(client: &Client, schema: &str) {
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .await
        .expect("drop schema");
}

/// `VACUUM (ANALYZE)` of the store's tables, as autovacuum would have done after a load.
async fn vacuum(client: &Client, schema: &str) {
    let tables = [
        "resources",
        "emails",
        "members",
        "events",
        "audit",
        "outbox_seq",
    ]
    .map(|t| format!("{schema}.{t}"))
    .join(", ");
    client
        .batch_execute(&format!("VACUUM (ANALYZE) {tables}"))
        .await
        .expect("vacuum");
}

/// The size of a schema's tables and indexes, in MB.
async fn schema_mb(client: &Client, schema: &str) -> f64 {
    let bytes: i64 = client
        .query_one(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relkind = 'r'",
            &[&schema],
        )
        .await
        .expect("size")
        .get(0);
    bytes as f64 / 1_048_576.0
}

/// The server's version and the settings that weigh on these figures.
async fn server_settings(client: &Client) -> String {
    let mut out = Vec::new();
    for name in [
        "server_version",
        "shared_buffers",
        "synchronous_commit",
        "fsync",
        "max_wal_size",
    ] {
        let row = client
            .query_one(&format!("SHOW {name}"), &[])
            .await
            .expect("SHOW");
        out.push(format!("{name} {}", row.get::<_, String>(0)));
    }
    out.join(", ")
}

/// The shape of a schema (columns, indexes, migrations applied), with its name taken out.
async fn structure(client: &Client, schema: &str) -> Vec<String> {
    let mut out = Vec::new();
    let columns = client
        .query(
            "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text,
                    COALESCE(column_default::text, '')
             FROM information_schema.columns WHERE table_schema = $1 ORDER BY 1, 2",
            &[&schema],
        )
        .await
        .expect("columns");
    for r in columns {
        let cells: Vec<String> = (0..5).map(|c| r.get(c)).collect();
        out.push(format!("column {}", cells.join(" ")));
    }
    let indexes = client
        .query(
            "SELECT indexname::text, indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY 1",
            &[&schema],
        )
        .await
        .expect("indexes");
    for r in indexes {
        out.push(format!(
            "index {} {}",
            r.get::<_, String>(0),
            r.get::<_, String>(1)
        ));
    }
    if out
        .iter()
        .any(|l| l.starts_with("column scimkit_migrations "))
    {
        let n: i64 = client
            .query_one(
                &format!("SELECT COUNT(*) FROM {schema}.scimkit_migrations"),
                &[],
            )
            .await
            .expect("migrations")
            .get(0);
        out.push(format!("migrations {n}"));
    }
    let qualified = format!("{schema}.");
    out.into_iter()
        .map(|l| l.replace(&qualified, "<schema>."))
        .collect()
}

/// Every row of every table of a schema, sorted, for comparing two schemas.
type Dump = Vec<(String, Vec<String>)>;

async fn dump(client: &Client, schema: &str) -> Dump {
    let tables: Vec<String> = client
        .query(
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY 1",
            &[&schema],
        )
        .await
        .expect("tables")
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut out = Vec::new();
    for table in tables {
        let rows = client
            .query(
                &format!("SELECT t::text FROM {schema}.\"{table}\" t ORDER BY 1"),
                &[],
            )
            .await
            .expect("rows")
            .iter()
            .map(|r| r.get(0))
            .collect();
        out.push((table, rows));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The bulk insert.

/// The bench's fast path: writes users `range` straight into the tables of `schema`, in one
/// transaction of COPYs, with the rows `PgStore::create` writes for them (resource with its
/// indexed columns, emails index rows, `created` event numbered from the tenant's outbox
/// counter, the counter, audit record). `check_bulk_insert` compares it with `create`.
async fn bulk_insert(
    client: &mut Client,
    schema: &str,
    range: Range<usize>,
) -> Result<(), tokio_postgres::Error> {
    let tx = client.transaction().await?;
    tx.batch_execute(&format!("SET LOCAL search_path = {schema}"))
        .await?;
    let first_seq: i64 = tx
        .query_one(
            "SELECT COALESCE((SELECT seq FROM outbox_seq WHERE tenant = $1), 0)",
            &[&TENANT],
        )
        .await?
        .get(0);
    let text = Type::TEXT;

    // Resources, keeping each user's email keys for the next table.
    let mut emails: Vec<(String, Vec<String>)> = Vec::with_capacity(range.len());
    {
        let sink = tx
            .copy_in(
                "COPY resources (tenant, type, id, version, created, modified, user_name, external_id, display_name, body, modified_ms)
                 FROM STDIN (FORMAT binary)",
            )
            .await?;
        let types = [
            text.clone(),
            text.clone(),
            text.clone(),
            Type::INT8,
            text.clone(),
            text.clone(),
            text.clone(),
            text.clone(),
            text.clone(),
            text.clone(),
            Type::INT8,
        ];
        let mut writer = pin!(BinaryCopyInWriter::new(sink, &types));
        for i in range.clone() {
            let body = user(i);
            let (id, at) = (user_id(i), when(i));
            let lower = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_lowercase);
            let external_id = body.get("externalId").and_then(Value::as_str);
            let body_text = serde_json::to_string(&body).expect("JSON");
            let modified_ms = scimkit_schema::parse_date_time(&at).map(|t| t.timestamp_millis());
            let row: [&(dyn ToSql + Sync); 11] = [
                &TENANT,
                &"User",
                &id,
                &1_i64,
                &at,
                &at,
                &lower("userName"),
                &external_id,
                &lower("displayName"),
                &body_text,
                &modified_ms,
            ];
            writer.as_mut().write(&row).await?;
            let mut keys: Vec<String> = body
                .get("emails")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|e| e.get("value").and_then(Value::as_str))
                .map(str::to_lowercase)
                .collect();
            keys.sort();
            keys.dedup();
            emails.push((id, keys));
        }
        writer.finish().await?;
    }
    {
        let sink = tx
            .copy_in("COPY emails (tenant, id, email) FROM STDIN (FORMAT binary)")
            .await?;
        let types = [text.clone(), text.clone(), text.clone()];
        let mut writer = pin!(BinaryCopyInWriter::new(sink, &types));
        for (id, keys) in &emails {
            for key in keys {
                writer.as_mut().write(&[&TENANT, id, key]).await?;
            }
        }
        writer.finish().await?;
    }
    drop(emails);
    let mut seq = first_seq;
    {
        let sink = tx
            .copy_in(
                "COPY events (tenant, seq, kind, type, resource_id, version, at, data) FROM STDIN (FORMAT binary)",
            )
            .await?;
        let types = [
            text.clone(),
            Type::INT8,
            text.clone(),
            text.clone(),
            text.clone(),
            Type::INT8,
            text.clone(),
            text.clone(),
        ];
        let mut writer = pin!(BinaryCopyInWriter::new(sink, &types));
        let data = json!({}).to_string();
        for i in range.clone() {
            seq += 1;
            let row: [&(dyn ToSql + Sync); 8] = [
                &TENANT,
                &seq,
                &"created",
                &"User",
                &user_id(i),
                &1_i64,
                &when(i),
                &data,
            ];
            writer.as_mut().write(&row).await?;
        }
        writer.finish().await?;
    }
    tx.execute(
        "INSERT INTO outbox_seq (tenant, seq) VALUES ($1, $2)
         ON CONFLICT (tenant) DO UPDATE SET seq = excluded.seq",
        &[&TENANT, &seq],
    )
    .await?;
    {
        // `n` (a BIGSERIAL) numbers the records in this order.
        let sink = tx
            .copy_in(
                "COPY audit (tenant, at, token_id, operation, type, resource_id, outcome) FROM STDIN (FORMAT binary)",
            )
            .await?;
        let types = [
            text.clone(),
            text.clone(),
            text.clone(),
            text.clone(),
            text.clone(),
            text.clone(),
            text,
        ];
        let mut writer = pin!(BinaryCopyInWriter::new(sink, &types));
        let no_token: Option<&str> = None;
        for i in range {
            let row: [&(dyn ToSql + Sync); 7] = [
                &TENANT,
                &when(i),
                &no_token,
                &"create",
                &"User",
                &user_id(i),
                &"ok",
            ];
            writer.as_mut().write(&row).await?;
        }
        writer.finish().await?;
    }
    tx.commit().await
}

/// Loads `n` users through `create` into one fresh schema and through `bulk_insert` into
/// another, and checks that every table holds the same rows (an error says where they
/// differ). Also returns the shape of a fresh store schema, to judge a kept one by.
async fn check_bulk_insert(url: &str, prefix: &str, n: usize) -> (Result<(), String>, Vec<String>) {
    let (by_create, by_bulk) = (format!("{prefix}_create"), format!("{prefix}_bulk"));
    let mut admin = plain(url).await;
    drop_schema(&admin, &by_create).await;
    drop_schema(&admin, &by_bulk).await;
    {
        let store = connect(url, &by_create).await;
        load(&store, 0..n).await;
    }
    drop(connect(url, &by_bulk).await);
    let fresh = structure(&admin, &by_create).await;
    let compared = match bulk_insert(&mut admin, &by_bulk, 0..n).await {
        Err(e) => Err(format!("it fails: {e}")),
        Ok(()) => {
            let (a, b) = (dump(&admin, &by_create).await, dump(&admin, &by_bulk).await);
            match a.iter().zip(&b).find(|(x, y)| x != y) {
                Some(((table, ra), (other, rb))) => {
                    let first = ra.iter().zip(rb).find(|(x, y)| x != y);
                    Err(format!(
                        "table {table} / {other}: {} rows through create, {} by bulk insert, first difference {first:?}",
                        ra.len(),
                        rb.len()
                    ))
                }
                None if a.len() != b.len() => Err("other tables".into()),
                None => Ok(()),
            }
        }
    };
    drop_schema(&admin, &by_create).await;
    drop_schema(&admin, &by_bulk).await;
    let compared = compared.map_err(|e| {
        format!(
            "the bench's bulk insert no longer writes what PgStore::create writes ({e}): \
             update `bulk_insert` in benches/store_pg.rs"
        )
    });
    (compared, fresh)
}

/// The note of how the kept schema was built, if it is valid: built by this bench with these
/// users (`DATA_FORMAT`), the same shape as a fresh store schema, holding the 1M users.
async fn kept_million(client: &Client, fresh: &[String]) -> Option<String> {
    let note: Option<String> = client
        .query_opt(
            "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = $1",
            &[&SCHEMA],
        )
        .await
        .ok()??
        .get(0);
    let note = note?;
    if note.lines().next() != Some(DATA_FORMAT) || structure(client, SCHEMA).await != fresh {
        return None;
    }
    let users: i64 = client
        .query_one(
            &format!("SELECT COUNT(*) FROM {SCHEMA}.resources WHERE tenant = $1 AND type = 'User'"),
            &[&TENANT],
        )
        .await
        .ok()?
        .get(0);
    (usize::try_from(users).ok()? == BIG)
        .then(|| note.lines().skip(1).collect::<Vec<_>>().join("\n"))
}

// ---------------------------------------------------------------------------------------------
// The store calls.

/// Creates users `range` from `tasks` concurrent tasks (task `k` takes every `tasks`-th user
/// from `start + k`); returns the latency of each call.
async fn load_concurrent(store: &PgStore, range: Range<usize>, tasks: usize) -> Vec<Duration> {
    let handles: Vec<_> = (0..tasks)
        .map(|k| {
            let store = store.clone();
            let mine: Vec<usize> = range.clone().skip(k).step_by(tasks).collect();
            tokio::spawn(async move {
                let mut times = Vec::with_capacity(mine.len());
                for i in mine {
                    times.extend(load(&store, i..i + 1).await);
                }
                times
            })
        })
        .collect();
    let mut times = Vec::with_capacity(range.len());
    for h in handles {
        times.extend(h.await.expect("a load task"));
    }
    times
}

/// Median ms of `EMAILS_EW_SQL` on a plain connection (after one warm-up run), with its total.
async fn page_sql_ms(client: &Client, schema: &str, runs: usize) -> (f64, usize) {
    client
        .batch_execute(&format!("SET search_path = {schema}"))
        .await
        .expect("search_path");
    let mut times = Vec::new();
    let mut total = 0;
    for k in 0..=runs {
        let t = Instant::now();
        let rows = client
            .query(EMAILS_EW_SQL, &[&TENANT])
            .await
            .expect("query");
        if k > 0 {
            times.push(t.elapsed());
        }
        total = rows
            .first()
            .map_or(0, |r| usize::try_from(r.get::<_, i64>(0)).unwrap_or(0));
    }
    client
        .batch_execute("RESET search_path")
        .await
        .expect("search_path");
    (median(times), total)
}

struct Membership {
    size: usize,
    /// Calls (adds and removes) over 2 ms, and all calls.
    slow: (usize, usize),
    create_s: f64,
    add: (f64, f64),
    remove: (f64, f64),
    both: (f64, f64),
}

/// Creates a group of each size (members: the first users), analyzes the members table (as
/// autovacuum soon would: see `bench`), then adds and removes `newcomer`.
async fn membership(
    store: &dyn Store,
    admin: &Client,
    schema: &str,
    sizes: &[usize],
    newcomer: &str,
) -> Vec<Membership> {
    let mut out = Vec::new();
    let ctx = Ctx::at("2026-02-01T00:00:00Z");
    for &size in sizes {
        let gid = format!("group-{size}");
        let t = Instant::now();
        let created = store
            .create(TENANT, "Group", &gid, group(0..size), &ctx)
            .await
            .expect("create group");
        let create_s = t.elapsed().as_secs_f64();
        admin
            .batch_execute(&format!("ANALYZE {schema}.members"))
            .await
            .expect("analyze");
        assert!(
            store
                .is_member(TENANT, &gid, &user_id(size - 1))
                .await
                .expect("is_member")
        );
        let (adds, removes, boths) = member_rounds(
            store,
            &gid,
            newcomer,
            created.version,
            MEMBER_ROUNDS,
            MEMBER_WARMUP,
        )
        .await;
        let slow = adds
            .iter()
            .chain(&removes)
            .filter(|d| **d > Duration::from_millis(2))
            .count();
        out.push(Membership {
            size,
            slow: (slow, adds.len() + removes.len()),
            create_s,
            add: percentiles(adds),
            remove: percentiles(removes),
            both: percentiles(boths),
        });
    }
    out
}

// ---------------------------------------------------------------------------------------------

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--bench") {
        match std::env::var("SCIMKIT_TEST_POSTGRES_URL") {
            Ok(url) => {
                runtime().block_on(smoke(&url));
                println!(
                    "checked the store calls on 100 users (run with `cargo bench` to measure)"
                );
            }
            Err(_) => println!(
                "SCIMKIT_TEST_POSTGRES_URL is not set: nothing checked (run with `cargo bench` to measure)"
            ),
        }
        return;
    }
    let keep = args.iter().any(|a| a == "--keep");
    let started = Instant::now();
    runtime().block_on(bench(&url(), keep));
    println!("run time: {:.1} s", started.elapsed().as_secs_f64());
}

/// A quick check that every measured call works, on 100 users, in schemas of its own (named
/// like the integration tests' so that `.ci/run` removes any left behind).
async fn smoke(url: &str) {
    const N: usize = 100;
    let pid = std::process::id();
    let schema = format!("scimkit_it_bench_{pid}");
    let mut admin = plain(url).await;
    drop_schema(&admin, &schema).await;
    let store = connect(url, &schema).await;
    load(&store, 0..N).await;
    assert_eq!(lookups(&store, N, 10, 1).await.len(), 10);
    assert_eq!(page_ms(&store, EMAILS_EW, 1).await.1, N / 10);
    assert_eq!(page_sql_ms(&admin, &schema, 1).await.1, N / 10);
    let one = format!(r#"emails.value eq "{}""#, email(42));
    assert_eq!(page_ms(&store, &one, 1).await.1, 1);
    assert_eq!(load_concurrent(&store, N..N + 20, 4).await.len(), 20);
    let (check, _) = check_bulk_insert(url, &format!("scimkit_it_bench_check_{pid}"), 50).await;
    if let Err(e) = check {
        panic!("{e}");
    }
    bulk_insert(&mut admin, &schema, N + 20..2 * N)
        .await
        .expect("bulk insert");
    assert_eq!(lookups(&store, 2 * N, 20, 2).await.len(), 20);
    assert_eq!(page_ms(&store, EMAILS_EW, 1).await.1, 2 * N / 10);
    let figures = membership(&store, &admin, &schema, &[10], &user_id(2 * N - 1)).await;
    assert_eq!(figures.len(), 1);
    drop(store);
    drop_schema(&admin, &schema).await;
}

async fn bench(url: &str, keep: bool) {
    let mut table = Table::new(&["postgres"]);
    let mut admin = plain(url).await;
    say(&format!(
        "scimkit-store PostgreSQL bench: {} CPUs, server {} ({}), schema {SCHEMA}",
        std::thread::available_parallelism().map_or(0, usize::from),
        redacted(url),
        server_settings(&admin).await
    ));

    // The bulk insert must still write what `create` writes, for a new schema and for a kept
    // one (which holds bulk-inserted rows).
    let (bulk_check, fresh) = check_bulk_insert(url, CHECK_SCHEMA, CHECKED).await;
    let kept = if keep && bulk_check.is_ok() {
        kept_million(&admin, &fresh).await
    } else {
        None
    };
    match &bulk_check {
        Err(e) => say(&format!(
            "WARNING: {e}; the figures among 1,000,000 are skipped"
        )),
        Ok(()) => say(&format!(
            "checked: the bench's bulk insert (COPY) writes the same rows as create in every table ({CHECKED} users, two scratch schemas)"
        )),
    }
    if keep && kept.is_none() {
        say(&format!(
            "--keep: schema {SCHEMA} does not hold a valid 1M-user data set; rebuilding it"
        ));
    }
    let load_schema = if kept.is_some() { LOAD_SCHEMA } else { SCHEMA };
    drop_schema(&admin, load_schema).await;
    let store = connect(url, load_schema).await;

    // 1. Bulk load, one task.
    let t = Instant::now();
    let times = load(&store, 0..BULK).await;
    let load_s = t.elapsed().as_secs_f64();
    let slow: Vec<Duration> = times
        .iter()
        .copied()
        .filter(|d| *d > Duration::from_millis(2))
        .collect();
    let slow_s = slow.iter().sum::<Duration>().as_secs_f64();
    let creates = percentiles(times);
    vacuum(&admin, load_schema).await;
    say(&format!(
        "bulk load {BULK} users through create, 1 task: {load_s:.1} s, {:.0} users/s, p50 {:.3} ms, p99 {:.3} ms; {} creates over 2 ms took {slow_s:.1} s ({:.0}% of the load); schema {:.0} MB",
        BULK as f64 / load_s,
        creates.0,
        creates.1,
        slow.len(),
        100.0 * slow_s / load_s,
        schema_mb(&admin, load_schema).await
    ));
    table.row(
        "bulk load 100,000 users via create, 1 task: users/s",
        format!("{:.0}", BULK as f64 / load_s),
        "-",
        "",
    );
    table.row("  total seconds", format!("{load_s:.1}"), "-", "");
    table.row("  one create: p50 ms", format!("{:.3}", creates.0), "-", "");
    table.row("  one create: p99 ms", format!("{:.3}", creates.1), "-", "");

    // 2a. Lookups among 100k.
    let lookup = percentiles(lookups(&store, BULK, LOOKUPS, 11).await);
    say(&format!(
        "userName eq among {BULK}: p50 {:.3} ms, p99 {:.3} ms",
        lookup.0, lookup.1
    ));
    table.row(
        "userName eq among 100,000: p50 ms",
        format!("{:.3}", lookup.0),
        "-",
        "",
    );
    table.row("  p99 ms", format!("{:.3}", lookup.1), "-", "");

    // 3a. emails.value pages among 100k.
    let one = format!(r#"emails.value eq "{}""#, email(4242));
    emails_pages(&mut table, &store, &admin, load_schema, BULK, &one, 5).await;

    // 1b. Bulk load, concurrent tasks.
    let t = Instant::now();
    let times = load_concurrent(&store, BULK..BULK + CONCURRENT, TASKS).await;
    let conc_s = t.elapsed().as_secs_f64();
    let conc = percentiles(times);
    say(&format!(
        "load {CONCURRENT} more users through create, {TASKS} concurrent tasks: {conc_s:.1} s, {:.0} users/s, p50 {:.3} ms, p99 {:.3} ms",
        CONCURRENT as f64 / conc_s,
        conc.0,
        conc.1
    ));
    table.row(
        &format!("load 10,000 more users via create, {TASKS} tasks: users/s"),
        format!("{:.0}", CONCURRENT as f64 / conc_s),
        "-",
        "",
    );
    table.row("  one create: p50 ms", format!("{:.3}", conc.0), "-", "");
    table.row("  one create: p99 ms", format!("{:.3}", conc.1), "-", "");

    // The 1M users: kept, built on from the 100k (+10k), or not at all (`Err`: the store
    // as it is).
    let big = if let Some(how) = kept {
        drop(store);
        drop_schema(&admin, LOAD_SCHEMA).await;
        say(&format!(
            "1M users: schema {SCHEMA} kept from an earlier run (--keep), built as follows:"
        ));
        for line in how.lines() {
            say(&format!("  {line}"));
        }
        // Groups of an earlier run.
        admin
            .batch_execute(&format!(
                "DELETE FROM {SCHEMA}.members WHERE tenant = '{TENANT}';
                 DELETE FROM {SCHEMA}.resources WHERE tenant = '{TENANT}' AND type = 'Group'"
            ))
            .await
            .expect("delete the groups of an earlier run");
        Ok(connect(url, SCHEMA).await)
    } else if bulk_check.is_ok() {
        let from = BULK + CONCURRENT;
        say(&format!(
            "1M users: writing users {from}..{BIG} by the bench's bulk insert"
        ));
        let t = Instant::now();
        bulk_insert(&mut admin, SCHEMA, from..BIG)
            .await
            .expect("bulk insert");
        let copy_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        vacuum(&admin, SCHEMA).await;
        let vacuum_s = t.elapsed().as_secs_f64();
        let how = [
            format!(
                "users 0..{BULK} through create, 1 task: {load_s:.1} s ({:.0} users/s)",
                BULK as f64 / load_s
            ),
            format!(
                "users {BULK}..{from} through create, {TASKS} tasks: {conc_s:.1} s ({:.0} users/s)",
                CONCURRENT as f64 / conc_s
            ),
            format!(
                "users {from}..{BIG} by the bench's bulk insert (COPY, one transaction, same rows as create): {copy_s:.1} s ({:.0} users/s); VACUUM (ANALYZE) {vacuum_s:.1} s",
                (BIG - from) as f64 / copy_s
            ),
        ]
        .join("\n");
        for line in how.lines() {
            say(&format!("  {line}"));
        }
        let note = format!("{DATA_FORMAT}\n{how}").replace('\'', "''");
        admin
            .batch_execute(&format!("COMMENT ON SCHEMA {SCHEMA} IS '{note}'"))
            .await
            .expect("comment");
        Ok(store)
    } else {
        Err(store)
    };

    let members_store = match big {
        Ok(big) => {
            say(&format!(
                "  schema {SCHEMA}: {:.0} MB",
                schema_mb(&admin, SCHEMA).await
            ));
            // 2b. Lookups among 1M.
            let lookup = percentiles(lookups(&big, BIG, LOOKUPS, 13).await);
            say(&format!(
                "userName eq among {BIG}: p50 {:.3} ms, p99 {:.3} ms",
                lookup.0, lookup.1
            ));
            table.row(
                "userName eq among 1,000,000: p50 ms",
                format!("{:.3}", lookup.0),
                "-",
                "",
            );
            table.row("  p99 ms", format!("{:.3}", lookup.1), "-", "");
            // 3b. emails.value pages among 1M.
            emails_pages(&mut table, &big, &admin, SCHEMA, BIG, &one, 2).await;
            big
        }
        Err(store) => {
            table.row(
                "figures among 1,000,000",
                "n/a".into(),
                "-",
                "SKIPPED (bulk insert check failed)",
            );
            store
        }
    };

    // 4. Membership (the newcomer is in none of the groups: they hold the first users).
    let newcomer = user_id(BULK + CONCURRENT - 1);
    let members = membership(&members_store, &admin, SCHEMA, &GROUP_SIZES, &newcomer).await;
    for m in &members {
        say(&format!(
            "group of {}: created in {:.2} s; add+remove p50 {:.3} ms (add {:.3}, remove {:.3}), p99 {:.3} ms (add {:.3}, remove {:.3}); calls over 2 ms: {}/{}",
            m.size,
            m.create_s,
            m.both.0,
            m.add.0,
            m.remove.0,
            m.both.1,
            m.add.1,
            m.remove.1,
            m.slow.0,
            m.slow.1
        ));
        // The target is per operation: one member added, or one removed.
        table.row(
            &format!("add 1 member, group of {}: p50 ms", m.size),
            format!("{:.3}", m.add.0),
            "< 2 ms",
            pass(m.add.0 < 2.0),
        );
        table.row(
            &format!("remove 1 member, group of {}: p50 ms", m.size),
            format!("{:.3}", m.remove.0),
            "< 2 ms",
            pass(m.remove.0 < 2.0),
        );
        table.row(
            "  add+remove pair: p50 ms",
            format!("{:.3}", m.both.0),
            "-",
            "",
        );
        table.row(
            "  add+remove pair: p99 ms",
            format!("{:.3}", m.both.1),
            "-",
            "",
        );
    }
    let ratio = members[members.len() - 1].both.0 / members[0].both.0;
    table.row(
        "  p50 at 100,000 / p50 at 1,000",
        format!("{ratio:.2}x"),
        "independent of size",
        "",
    );
    drop(members_store);

    println!();
    table.print();
}

/// The `emails.value` pages among `users`: `eq` (one user) and `ew` (10%) through the store,
/// and the `ew` page by plain SQL for comparison.
async fn emails_pages(
    table: &mut Table,
    store: &dyn Store,
    admin: &Client,
    schema: &str,
    users: usize,
    one: &str,
    scan_runs: usize,
) {
    let among = if users == BIG { "1,000,000" } else { "100,000" };
    let (eq_ms, total) = page_ms(store, one, 5).await;
    assert_eq!(total, 1);
    say(&format!(
        "{one} among {users}, page of 100 (total {total}): {} ms",
        page_fmt(eq_ms)
    ));
    table.row(
        &format!(r#"page of 100, emails.value eq "…" (1 user) among {among}: ms"#),
        page_fmt(eq_ms),
        "-",
        "",
    );
    let recent = recent_filter(users);
    let (recent_ms, total) = page_ms(store, &recent, 5).await;
    assert_eq!(total, 100);
    say(&format!(
        "{recent} among {users} (total {total}): {} ms",
        page_fmt(recent_ms)
    ));
    table.row(
        &format!(r#"page of 100, meta.lastModified gt "…" (100 users) among {among}: ms"#),
        page_fmt(recent_ms),
        "-",
        "",
    );
    let (ew_ms, total) = page_ms(store, EMAILS_EW, scan_runs).await;
    assert_eq!(total, users / 10);
    say(&format!(
        "{EMAILS_EW} among {users}, page of 100 (total {total}): {} ms (median of {scan_runs})",
        page_fmt(ew_ms)
    ));
    table.row(
        &format!(r#"page of 100, emails.value ew "@example.org" (10%) among {among}: ms"#),
        page_fmt(ew_ms),
        "-",
        "",
    );
    let (sql_ms, total) = page_sql_ms(admin, schema, scan_runs).await;
    assert_eq!(total, users / 10);
    say(&format!(
        "  for comparison, the same page by plain SQL over the emails table (LIKE '%@example.org', not what the store does): {} ms",
        page_fmt(sql_ms)
    ));
    table.row(
        "  the same page by SQL over the emails table: ms",
        page_fmt(sql_ms),
        "-",
        "(not the store)",
    );
}
