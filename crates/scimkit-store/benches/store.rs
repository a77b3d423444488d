//! Store speed: `cargo bench -p scimkit-store --bench store`, for the memory and SQLite
//! backends (every figure goes through the async `Store` trait unless said otherwise).
//!
//! 1. Bulk load of 100,000 users, one `Store::create` per user: users/s and seconds.
//! 2. `userName eq "…"` (`search`) among 1,000,000 users on SQLite (and among the 100,000 of
//!    the step above, on both backends): p50 and p99 over 1,000 random lookups.
//!    Target: p50 under 1 ms on SQLite.
//! 3. A page of 100 users filtered on `emails.value` among 100,000: `ew "@example.org"`
//!    (10% of the users match) and `eq "…"` (one user): ms per page, with where the time of the
//!    `ew` page goes on SQLite (its steps replayed outside the store), and one `ew` page among
//!    1,000,000 on SQLite with the peak memory it takes.
//! 4. Adding then removing one member of a group of 1,000, 10,000 and 100,000 members (the
//!    group created by one `create` with its `members`) with `change_members`. Target: under
//!    2 ms whatever the size, judged on the p50 (the p99 is shown, and flagged when over).
//! 5. Resident memory (VmRSS) of a process holding the 1,000,000-user SQLite store open after a
//!    few lookups (target: under 150 MB), and of one holding a memory store of 100,000 users.
//!    Each is measured in a child process (this binary, re-run with a private argument).
//!
//! The 1,000,000-user SQLite file is built once and kept in `target/bench-data/` (with a note
//! of how it was built, and reused while the schema and the user generator are unchanged).
//! It is built through `create` while the projected time stays under 6 minutes; past that, the
//! rest is written by a direct bulk insert into the same tables, which this bench first checks
//! writes exactly the rows `create` writes.
//!
//! Without `--bench` (as under `cargo test --all-targets`) it only runs a smoke check on 100
//! users.

#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags, params};
use scimkit_schema::Registry;
use scimkit_store::{Ctx, MemoryStore, Query, SqliteStore, Store};
use serde_json::{Map, Value, json};

/// Users of the bulk load (and of the emails, membership and memory-store figures).
const BULK: usize = 100_000;
/// Users of the lookup and resident-memory figures on SQLite.
const BIG: usize = 1_000_000;
/// Building the 1M file through `create` stops when its projected time passes this.
const CREATE_BUDGET: Duration = Duration::from_secs(360);
/// Bump when `user()`, `user_id()` or `when()` change: it invalidates the cached 1M file.
const DATA_FORMAT: &str = "scimkit-store bench users v1";

const LOOKUPS: usize = 1_000;
const MEMBER_ROUNDS: usize = 200;
const MEMBER_WARMUP: usize = 10;
const GROUP_SIZES: [usize; 3] = [1_000, 10_000, 100_000];
const EMAILS_EW: &str = r#"emails.value ew "@example.org""#;

#[path = "support/common.rs"]
mod common;
use common::*;

impl Table {
    fn row(&mut self, what: &str, memory: String, sqlite: String, target: &str, result: &str) {
        self.push(what, vec![memory, sqlite], target, result);
    }
}

/// `VmRSS`, `VmHWM`… of this process, in kB (Linux only).
fn proc_status_kb(key: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line[key.len()..]
        .trim_start_matches(':')
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

fn mem_available_kb() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
    line["MemAvailable:".len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

// ---------------------------------------------------------------------------------------------
// Files.

/// `target/bench-data`: this binary is `<target>/<profile>/deps/store-<hash>`.
fn data_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the bench binary's path");
    let target = exe
        .ancestors()
        .nth(3)
        .map_or_else(std::env::temp_dir, Path::to_path_buf);
    let dir = target.join("bench-data");
    std::fs::create_dir_all(&dir).expect("target/bench-data");
    dir
}

fn side(db: &Path, suffix: &str) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn remove_db(db: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = std::fs::remove_file(side(db, suffix));
    }
}

fn file_mb(db: &Path) -> f64 {
    ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(side(db, s)).ok())
        .map(|m| m.len() as f64 / 1_048_576.0)
        .sum()
}

/// The schema (`sqlite_master` rows) and `user_version` of a database file.
type Schema = (Vec<(String, String, Option<String>)>, i64);

fn schema_of(db: &Path) -> rusqlite::Result<Schema> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut stmt = conn.prepare("SELECT type, name, sql FROM sqlite_master ORDER BY name")?;
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let version = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    Ok((rows, version))
}

/// Every row of every table, sorted, for comparing two databases.
type Dump = Vec<(String, Vec<Vec<rusqlite::types::Value>>)>;

fn dump(db: &Path) -> rusqlite::Result<Dump> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = Vec::new();
    for table in tables {
        let columns = conn
            .prepare(&format!("SELECT * FROM \"{table}\""))?
            .column_count();
        let order: Vec<String> = (1..=columns).map(|c| c.to_string()).collect();
        let mut stmt = conn.prepare(&format!(
            "SELECT * FROM \"{table}\" ORDER BY {}",
            order.join(", ")
        ))?;
        let rows = stmt
            .query_map([], |r| (0..columns).map(|c| r.get(c)).collect())?
            .collect::<rusqlite::Result<_>>()?;
        out.push((table, rows));
    }
    Ok(out)
}

/// The bench's fast path: writes users `range` straight into the tables, in one transaction,
/// with the rows `SqliteStore::create` writes for them (resource, emails index, `created`
/// event, audit record). `check_bulk_insert` compares it with `create`.
fn bulk_insert(db: &Path, range: Range<usize>) -> rusqlite::Result<()> {
    let mut conn = Connection::open(db)?;
    conn.execute_batch("PRAGMA cache_size = -1048576; PRAGMA synchronous = OFF;")?;
    let tx = conn.transaction()?;
    {
        let mut seq: i64 = tx.query_row(
            "SELECT COALESCE(MAX(seq), 0) FROM events WHERE tenant = ?1",
            [TENANT],
            |r| r.get(0),
        )?;
        let mut resource = tx.prepare(
            "INSERT INTO resources (tenant, type, id, version, created, modified, user_name, external_id, display_name, body)
             VALUES (?1, 'User', ?2, 1, ?3, ?3, ?4, ?5, ?6, ?7)",
        )?;
        let mut email =
            tx.prepare("INSERT OR IGNORE INTO emails (tenant, id, email) VALUES (?1, ?2, ?3)")?;
        let mut event = tx.prepare(
            "INSERT INTO events (tenant, seq, kind, type, resource_id, version, at, data)
             VALUES (?1, ?2, 'created', 'User', ?3, 1, ?4, '{}')",
        )?;
        let mut audit = tx.prepare(
            "INSERT INTO audit (tenant, at, token_id, operation, type, resource_id, outcome)
             VALUES (?1, ?2, NULL, 'create', 'User', ?3, 'ok')",
        )?;
        for i in range {
            let body = user(i);
            let (id, at) = (user_id(i), when(i));
            let lower = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_lowercase);
            let external_id = body.get("externalId").and_then(Value::as_str);
            let text = serde_json::to_string(&body).expect("JSON");
            resource.execute(params![
                TENANT,
                id,
                at,
                lower("userName"),
                external_id,
                lower("displayName"),
                text
            ])?;
            let mut emails: Vec<String> = body
                .get("emails")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|e| e.get("value").and_then(Value::as_str))
                .map(str::to_lowercase)
                .collect();
            emails.sort();
            emails.dedup();
            for e in emails {
                email.execute(params![TENANT, id, e])?;
            }
            seq += 1;
            event.execute(params![TENANT, seq, id, at])?;
            audit.execute(params![TENANT, at, id])?;
        }
    }
    tx.commit()?;
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    Ok(())
}

/// Loads `n` users through `create` into one file and through `bulk_insert` into another, and
/// checks that both hold the same rows (an error says where they differ).
async fn check_bulk_insert(dir: &Path, n: usize) -> Result<(), String> {
    let (by_create, by_bulk) = (dir.join("check-create.db"), dir.join("check-bulk.db"));
    remove_db(&by_create);
    remove_db(&by_bulk);
    {
        let store = SqliteStore::open(&by_create, Registry::new()).expect("SQLite opens");
        load(&store, 0..n).await;
    }
    drop(SqliteStore::open(&by_bulk, Registry::new()).expect("SQLite opens"));
    let compared = match bulk_insert(&by_bulk, 0..n) {
        Err(e) => Err(format!("it fails: {e}")),
        Ok(()) => {
            let (a, b) = (
                dump(&by_create).expect("dump"),
                dump(&by_bulk).expect("dump"),
            );
            match a.iter().zip(&b).find(|(x, y)| x != y) {
                Some(((table, ra), (_, rb))) => {
                    let first = ra.iter().zip(rb).find(|(x, y)| x != y);
                    Err(format!(
                        "table {table}: {} rows through create, {} by bulk insert, first difference {first:?}",
                        ra.len(),
                        rb.len()
                    ))
                }
                None if a.len() != b.len() => Err("other tables".into()),
                None => Ok(()),
            }
        }
    };
    remove_db(&by_create);
    remove_db(&by_bulk);
    compared.map_err(|e| {
        format!(
            "the bench's bulk insert no longer writes what SqliteStore::create writes ({e}): \
             update `bulk_insert` in benches/store.rs"
        )
    })
}

// ---------------------------------------------------------------------------------------------
// The store calls.

struct Membership {
    size: usize,
    /// Calls (adds and removes) over 2 ms, and all calls.
    slow: (usize, usize),
    create_s: f64,
    add: (f64, f64),
    remove: (f64, f64),
    both: (f64, f64),
}

/// Creates a group of each size (members: the first users), then adds and removes `newcomer`.
async fn membership(store: &dyn Store, sizes: &[usize], newcomer: &str) -> Vec<Membership> {
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
// Child processes for resident memory.

/// Runs this binary with `args` and reads its `key=value` report.
fn child(args: &[&str]) -> Vec<(String, String)> {
    let exe = std::env::current_exe().expect("the bench binary's path");
    let out = Command::new(exe).args(args).output().expect("child runs");
    assert!(
        out.status.success(),
        "child {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn get<'a>(report: &'a [(String, String)], key: &str) -> Option<&'a str> {
    report
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn kb_of(report: &[(String, String)], key: &str) -> Option<u64> {
    get(report, key).and_then(|v| v.parse().ok())
}

fn report_kb(key: &str) -> String {
    format!("{key}={}", proc_status_kb(key).unwrap_or(0))
}

/// `--child-rss-sqlite <file> <users>`: opens the store, runs 10 lookups, reports VmRSS; then
/// (when there is room) one `emails.value ew` page (a full scan), and the peak it took.
fn child_rss_sqlite(db: &str, users: usize) {
    let before = report_kb("VmRSS");
    runtime().block_on(async {
        let store = SqliteStore::open(db, Registry::new()).expect("SQLite opens");
        let mut rng = Rng(7);
        for _ in 0..10 {
            let i = rng.below(users);
            let page = store
                .search(TENANT, "User", &lookup_query(i))
                .await
                .expect("search");
            assert_eq!(page.total, 1);
        }
        println!(
            "before_{before} {} {}",
            report_kb("VmRSS"),
            report_kb("VmHWM")
        );
        if mem_available_kb().is_some_and(|kb| kb > 12 * 1024 * 1024) {
            let query = Query::filter(EMAILS_EW).expect("filter").page(1, 100);
            let t = Instant::now();
            let page = store.search(TENANT, "User", &query).await.expect("search");
            assert_eq!(page.total, users / 10);
            println!("scan_ms={:.0} scan_{}", ms(t.elapsed()), report_kb("VmHWM"));
        }
    });
}

/// `--child-rss-memory <users>`: loads a memory store, runs 10 lookups, reports VmRSS.
fn child_rss_memory(users: usize) {
    let before = report_kb("VmRSS");
    runtime().block_on(async {
        let store = MemoryStore::new(Registry::new());
        load(&store, 0..users).await;
        let mut rng = Rng(7);
        for _ in 0..10 {
            let page = store
                .search(TENANT, "User", &lookup_query(rng.below(users)))
                .await
                .expect("search");
            assert_eq!(page.total, 1);
        }
        println!(
            "before_{before} {} {}",
            report_kb("VmRSS"),
            report_kb("VmHWM")
        );
    });
}

// ---------------------------------------------------------------------------------------------
// Where the time of an `emails.value` page goes on SQLite, replayed outside the store.

fn emails_breakdown(db: &Path, filter: &str) -> Vec<(&'static str, f64)> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open");
    let registry = Registry::new();
    let bound = registry.bind("User").expect("User");
    let parsed = scimkit_filter::parse(filter).expect("filter");
    let mut steps = Vec::new();

    let t = Instant::now();
    let mut stmt = conn
        .prepare("SELECT id, version, created, modified, body FROM resources WHERE tenant = ?1 AND type = ?2")
        .expect("prepare");
    let rows: Vec<(String, i64, String, String, String)> = stmt
        .query_map(params![TENANT, "User"], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .expect("query")
        .collect::<rusqlite::Result<_>>()
        .expect("rows");
    steps.push((
        "SQL: SELECT every User row (no index applies)",
        ms(t.elapsed()),
    ));

    let t = Instant::now();
    let bodies: Vec<Map<String, Value>> = rows
        .iter()
        .map(|r| serde_json::from_str(&r.4).expect("JSON"))
        .collect();
    steps.push(("serde_json: parse every body", ms(t.elapsed())));

    let t = Instant::now();
    let mut matched = Vec::new();
    for (row, body) in rows.iter().zip(&bodies) {
        let mut view = body.clone();
        view.insert("id".into(), Value::String(row.0.clone()));
        view.insert(
            "meta".into(),
            json!({"created": row.2, "lastModified": row.3, "resourceType": "User"}),
        );
        if parsed.matches(&view, &bound).expect("matches") {
            matched.push(row);
        }
    }
    steps.push((
        "query::finish: clone body + id/meta + filter, every row",
        ms(t.elapsed()),
    ));

    let t = Instant::now();
    let mut n = 0;
    for body in &bodies {
        n += usize::from(parsed.matches(body, &bound).expect("matches"));
    }
    std::hint::black_box(n);
    steps.push(("  of which the filter alone", ms(t.elapsed())));

    let t = Instant::now();
    matched.sort_by(|a, b| a.2.cmp(&b.2).then_with(|| a.0.cmp(&b.0)));
    steps.push(("sort the matches by created, id", ms(t.elapsed())));

    // For comparison (not what the store does): the same filter in SQL, with JSON1 on the
    // bodies, then with the emails index table (`email LIKE '%…'` scans that index).
    let t = Instant::now();
    let sql = "SELECT COUNT(*) OVER (), id FROM resources r WHERE tenant = ?1 AND type = 'User'
         AND EXISTS (SELECT 1 FROM json_each(r.body, '$.emails') e WHERE lower(e.value ->> '$.value') LIKE '%@example.org')
         ORDER BY created, id LIMIT 100";
    let total: i64 = conn
        .prepare(sql)
        .expect("prepare")
        .query_map([TENANT], |r| r.get(0))
        .expect("query")
        .next()
        .transpose()
        .expect("row")
        .unwrap_or(0);
    assert_eq!(usize::try_from(total).ok(), Some(matched.len()));
    steps.push((
        "alternative: the filter in SQL over the bodies (json_each), page of 100",
        ms(t.elapsed()),
    ));
    let t = Instant::now();
    let sql = "SELECT COUNT(*) OVER (), id FROM resources WHERE tenant = ?1 AND type = 'User'
         AND id IN (SELECT id FROM emails WHERE tenant = ?1 AND email LIKE '%@example.org')
         ORDER BY created, id LIMIT 100";
    let total: i64 = conn
        .prepare(sql)
        .expect("prepare")
        .query_map([TENANT], |r| r.get(0))
        .expect("query")
        .next()
        .transpose()
        .expect("row")
        .unwrap_or(0);
    assert_eq!(usize::try_from(total).ok(), Some(matched.len()));
    steps.push((
        "alternative: SQL over the emails index table (LIKE '%…'), page of 100",
        ms(t.elapsed()),
    ));
    steps
}

// ---------------------------------------------------------------------------------------------
// The 1,000,000-user SQLite file.

/// The cached file if it is valid, with the note of how it was built.
fn cached_million(dir: &Path, db: &Path, note: &Path) -> Option<String> {
    let text = std::fs::read_to_string(note).ok()?;
    if text.lines().next() != Some(DATA_FORMAT) || !db.exists() {
        return None;
    }
    let probe = dir.join("schema-probe.db");
    remove_db(&probe);
    drop(SqliteStore::open(&probe, Registry::new()).ok()?);
    let fresh = schema_of(&probe).ok();
    remove_db(&probe);
    if schema_of(db).ok()? != fresh? {
        return None;
    }
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
    let users: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM resources WHERE tenant = ?1 AND type = 'User'",
            [TENANT],
            |r| r.get(0),
        )
        .ok()?;
    (usize::try_from(users).ok()? == BIG)
        .then(|| text.lines().skip(1).collect::<Vec<_>>().join("\n"))
}

/// Extends `partial` (a copy of the 100k-user file, loaded in `first_s`) to 1M users through
/// `create` while the projection stays under budget (or all the way when `bulk_ok` is false),
/// then by bulk insert; returns the note.
async fn build_million(partial: &Path, first_s: f64, bulk_ok: bool) -> String {
    const CHUNK: usize = 50_000;
    let mut done = BULK;
    let mut spent = first_s;
    let mut lines = vec![format!(
        "users 0..{BULK} through create: {first_s:.1} s ({:.0} users/s)",
        BULK as f64 / first_s
    )];
    {
        let store = SqliteStore::open(partial, Registry::new()).expect("SQLite opens");
        while done < BIG {
            let t = Instant::now();
            let end = (done + CHUNK).min(BIG);
            load(&store, done..end).await;
            let chunk_s = t.elapsed().as_secs_f64();
            spent += chunk_s;
            let rate = (end - done) as f64 / chunk_s;
            done = end;
            let projected = spent + (BIG - done) as f64 / rate;
            say(&format!(
                "  1M file through create: {done} users, {spent:.0} s so far, last {CHUNK} at {rate:.0} users/s, projected {projected:.0} s for 1M"
            ));
            if bulk_ok && projected > CREATE_BUDGET.as_secs_f64() && done < BIG {
                lines.push(format!(
                    "users {BULK}..{done} through create: {:.1} s (last chunk {rate:.0} users/s); projected total through create {projected:.0} s > budget {} s",
                    spent - first_s,
                    CREATE_BUDGET.as_secs()
                ));
                break;
            }
        }
    }
    if done < BIG {
        say(&format!(
            "  switching to the bench's direct bulk insert for users {done}..{BIG}"
        ));
        let t = Instant::now();
        bulk_insert(partial, done..BIG).expect("bulk insert");
        lines.push(format!(
            "users {done}..{BIG} by the bench's direct bulk insert (one transaction, same rows as create): {:.1} s",
            t.elapsed().as_secs_f64()
        ));
    } else {
        lines.push(format!(
            "all {BIG} users through create: {spent:.1} s ({:.0} users/s)",
            BIG as f64 / spent
        ));
    }
    lines.join("\n")
}

// ---------------------------------------------------------------------------------------------

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .map(|i| args[i + 1..].to_vec())
    };
    if let Some(rest) = arg("--child-rss-sqlite") {
        child_rss_sqlite(&rest[0], rest[1].parse().expect("users"));
        return;
    }
    if let Some(rest) = arg("--child-rss-memory") {
        child_rss_memory(rest[0].parse().expect("users"));
        return;
    }
    if !args.iter().any(|a| a == "--bench") {
        runtime().block_on(smoke());
        println!("checked the store calls on 100 users (run with `cargo bench` to measure)");
        return;
    }
    let started = Instant::now();
    runtime().block_on(bench());
    println!("run time: {:.1} s", started.elapsed().as_secs_f64());
}

/// A quick check that every measured call works, on 100 users.
async fn smoke() {
    const N: usize = 100;
    let guard = Scratch(data_dir().join(format!("smoke-{}", std::process::id())));
    let dir = &guard.0;
    std::fs::create_dir_all(dir).expect("smoke dir");
    let db = dir.join("smoke.db");
    let sqlite = SqliteStore::open(&db, Registry::new()).expect("SQLite opens");
    let memory = MemoryStore::new(Registry::new());
    for store in [&sqlite as &dyn Store, &memory] {
        load(store, 0..N).await;
        assert_eq!(lookups(store, N, 10, 1).await.len(), 10);
        assert_eq!(page_ms(store, EMAILS_EW, 1).await.1, N / 10);
        let one = format!(r#"emails.value eq "{}""#, email(42));
        assert_eq!(page_ms(store, &one, 1).await.1, 1);
        load(store, N..N + 1).await;
        let figures = membership(store, &[10], &user_id(N)).await;
        assert_eq!(figures.len(), 1);
    }
    assert!(proc_status_kb("VmRSS").is_some_and(|kb| kb > 0) || !cfg!(target_os = "linux"));
    drop(sqlite);
    if let Err(e) = check_bulk_insert(dir, N).await {
        panic!("{e}");
    }
}

/// A directory removed on drop (also when a check panics).
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn bench() {
    let dir = data_dir();
    let mut table = Table::new(&["memory", "sqlite"]);
    say(&format!(
        "scimkit-store bench: {} CPUs, data in {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        dir.display()
    ));

    // 1. Bulk load.
    let load_db = dir.join("load-100k.db");
    remove_db(&load_db);
    let sqlite = SqliteStore::open(&load_db, Registry::new()).expect("SQLite opens");
    let t = Instant::now();
    let sqlite_times = load(&sqlite, 0..BULK).await;
    let sqlite_load = t.elapsed().as_secs_f64();
    let slow: Vec<Duration> = sqlite_times
        .iter()
        .copied()
        .filter(|d| *d > Duration::from_millis(2))
        .collect();
    let slow_s = slow.iter().sum::<Duration>().as_secs_f64();
    let sqlite_creates = percentiles(sqlite_times);
    say(&format!(
        "bulk load {BULK} users through create, sqlite: {sqlite_load:.1} s, {:.0} users/s, file {:.0} MB; {} creates over 2 ms took {slow_s:.1} s ({:.0}% of the load)",
        BULK as f64 / sqlite_load,
        file_mb(&load_db),
        slow.len(),
        100.0 * slow_s / sqlite_load
    ));
    let memory = MemoryStore::new(Registry::new());
    let t = Instant::now();
    let memory_creates = percentiles(load(&memory, 0..BULK).await);
    let memory_load = t.elapsed().as_secs_f64();
    say(&format!(
        "bulk load {BULK} users through create, memory: {memory_load:.1} s, {:.0} users/s",
        BULK as f64 / memory_load
    ));
    table.row(
        "bulk load 100,000 users via create: users/s",
        format!("{:.0}", BULK as f64 / memory_load),
        format!("{:.0}", BULK as f64 / sqlite_load),
        "-",
        "",
    );
    table.row(
        "  total seconds",
        format!("{memory_load:.1}"),
        format!("{sqlite_load:.1}"),
        "-",
        "",
    );
    table.row(
        "  one create: p50 ms",
        format!("{:.3}", memory_creates.0),
        format!("{:.3}", sqlite_creates.0),
        "-",
        "",
    );
    table.row(
        "  one create: p99 ms",
        format!("{:.3}", memory_creates.1),
        format!("{:.3}", sqlite_creates.1),
        "-",
        "",
    );

    // The 1M file: reuse it, or start it from a copy of the 100k file.
    let big_db = dir.join("users-1m.db");
    let big_note = dir.join("users-1m.txt");
    // The bulk insert must still write what `create` writes, for a new file and for a cached one
    // (which may hold bulk-inserted rows).
    let bulk_check = check_bulk_insert(&dir, 1_000).await;
    let cached = if bulk_check.is_ok() {
        cached_million(&dir, &big_db, &big_note)
    } else {
        None
    };
    let partial = dir.join("users-1m.partial.db");
    let sqlite = if cached.is_none() {
        drop(sqlite);
        remove_db(&partial);
        std::fs::copy(&load_db, &partial).expect("copy the 100k file");
        SqliteStore::open(&load_db, Registry::new()).expect("SQLite opens")
    } else {
        sqlite
    };

    // 2a. Lookups among 100k.
    let mem_lookup = percentiles(lookups(&memory, BULK, LOOKUPS, 11).await);
    let sql_lookup = percentiles(lookups(&sqlite, BULK, LOOKUPS, 11).await);
    say(&format!(
        "userName eq among {BULK}: memory p50 {:.3} ms p99 {:.3} ms; sqlite p50 {:.3} ms p99 {:.3} ms",
        mem_lookup.0, mem_lookup.1, sql_lookup.0, sql_lookup.1
    ));
    table.row(
        "userName eq among 100,000: p50 ms",
        format!("{:.3}", mem_lookup.0),
        format!("{:.3}", sql_lookup.0),
        "-",
        "",
    );
    table.row(
        "  p99 ms",
        format!("{:.3}", mem_lookup.1),
        format!("{:.3}", sql_lookup.1),
        "-",
        "",
    );

    // 3. emails.value pages.
    let one = format!(r#"emails.value eq "{}""#, email(4242));
    for (filter, label, expected) in [
        (
            EMAILS_EW,
            r#"page of 100, emails.value ew "@example.org" (10%): ms"#,
            BULK / 10,
        ),
        (
            one.as_str(),
            r#"page of 100, emails.value eq "…" (1 user): ms"#,
            1,
        ),
    ] {
        let (m, mt) = page_ms(&memory, filter, 5).await;
        let (s, st) = page_ms(&sqlite, filter, 5).await;
        assert_eq!((mt, st), (expected, expected));
        say(&format!(
            "{filter} among {BULK}, page of 100 (total {st}): memory {} ms, sqlite {} ms",
            page_fmt(m),
            page_fmt(s)
        ));
        table.row(label, page_fmt(m), page_fmt(s), "-", "");
        if filter == EMAILS_EW {
            for (step, step_ms) in emails_breakdown(&load_db, filter) {
                say(&format!("    sqlite, {step}: {step_ms:.1} ms"));
            }
        }
    }

    let recent = recent_filter(BULK);
    let (m, mt) = page_ms(&memory, &recent, 5).await;
    let (s, st) = page_ms(&sqlite, &recent, 5).await;
    assert_eq!((mt, st), (100, 100));
    say(&format!(
        "{recent} among {BULK} (total {st}): memory {} ms, sqlite {} ms",
        page_fmt(m),
        page_fmt(s)
    ));
    table.row(
        "page of 100, meta.lastModified gt \"…\" (100 users): ms",
        page_fmt(m),
        page_fmt(s),
        "-",
        "",
    );

    // 4. Membership.
    load(&memory, BULK..BULK + 1).await;
    load(&sqlite, BULK..BULK + 1).await;
    let newcomer = user_id(BULK);
    let mem_members = membership(&memory, &GROUP_SIZES, &newcomer).await;
    let sql_members = membership(&sqlite, &GROUP_SIZES, &newcomer).await;
    for (m, s) in mem_members.iter().zip(&sql_members) {
        say(&format!(
            "group of {}: created in memory {:.2} s / sqlite {:.2} s; add+remove p50 memory {:.3} ms, sqlite {:.3} ms (add {:.3}, remove {:.3}), p99 sqlite {:.3} ms; calls over 2 ms: memory {}/{}, sqlite {}/{}",
            m.size,
            m.create_s,
            s.create_s,
            m.both.0,
            s.both.0,
            s.add.0,
            s.remove.0,
            s.both.1,
            m.slow.0,
            m.slow.1,
            s.slow.0,
            s.slow.1
        ));
        let ok = m.both.0 < 2.0 && s.both.0 < 2.0;
        table.row(
            &format!("add+remove 1 member, group of {}: p50 ms", m.size),
            format!("{:.3}", m.both.0),
            format!("{:.3}", s.both.0),
            "< 2 ms",
            pass(ok),
        );
        let p99_ok = m.both.1 < 2.0 && s.both.1 < 2.0;
        table.row(
            "  p99 ms",
            format!("{:.3}", m.both.1),
            format!("{:.3}", s.both.1),
            "-",
            if p99_ok { "" } else { "(p99 over 2 ms)" },
        );
    }
    let ratio = |f: &[Membership]| f[f.len() - 1].both.0 / f[0].both.0;
    table.row(
        "  p50 at 100,000 / p50 at 1,000",
        format!("{:.2}x", ratio(&mem_members)),
        format!("{:.2}x", ratio(&sql_members)),
        "independent of size",
        "",
    );
    drop(memory);
    drop(sqlite);

    // 5b. Resident memory of a memory store of 100k users.
    let rss = child(&["--child-rss-memory", &BULK.to_string()]);
    let (before, after) = (kb_of(&rss, "before_VmRSS"), kb_of(&rss, "VmRSS"));
    say(&format!(
        "memory store of {BULK} users, child process: VmRSS {:.0} MB (at start {:.0} MB, peak {:.0} MB)",
        mb(after.unwrap_or(0)),
        mb(before.unwrap_or(0)),
        mb(kb_of(&rss, "VmHWM").unwrap_or(0))
    ));

    // 2b and 5a. The 1M SQLite file.
    let how = match cached {
        Some(how) => {
            say("1M-user SQLite file: reused from an earlier run, built as follows:");
            how
        }
        None => {
            say("1M-user SQLite file: building (kept for later runs)");
            let bulk_ok = match bulk_check {
                Ok(()) => {
                    say(
                        "  checked: the bench's bulk insert writes the same rows as create (1,000 users)",
                    );
                    true
                }
                Err(e) => {
                    say(&format!(
                        "  WARNING: {e}; building through create only, however long"
                    ));
                    false
                }
            };
            let how = build_million(&partial, sqlite_load, bulk_ok).await;
            remove_db(&big_db);
            std::fs::rename(&partial, &big_db).expect("rename the 1M file");
            std::fs::write(&big_note, format!("{DATA_FORMAT}\n{how}\n")).expect("write the note");
            how
        }
    };
    for line in how.lines() {
        say(&format!("  {line}"));
    }
    say(&format!("  file: {:.0} MB", file_mb(&big_db)));
    remove_db(&load_db);

    let big = SqliteStore::open(&big_db, Registry::new()).expect("SQLite opens");
    let big_lookup = percentiles(lookups(&big, BIG, LOOKUPS, 13).await);
    drop(big);
    say(&format!(
        "userName eq among {BIG}, sqlite: p50 {:.3} ms, p99 {:.3} ms",
        big_lookup.0, big_lookup.1
    ));
    table.row(
        "userName eq among 1,000,000: p50 ms",
        "n/a".into(),
        format!("{:.3}", big_lookup.0),
        "< 1 ms (sqlite)",
        pass(big_lookup.0 < 1.0),
    );
    table.row(
        "  p99 ms",
        "n/a".into(),
        format!("{:.3}", big_lookup.1),
        "-",
        "",
    );

    let rss_big = child(&[
        "--child-rss-sqlite",
        big_db.to_str().expect("a UTF-8 path"),
        &BIG.to_string(),
    ]);
    let big_rss = kb_of(&rss_big, "VmRSS").unwrap_or(0);
    say(&format!(
        "sqlite store of {BIG} users open after 10 lookups, child process: VmRSS {:.1} MB (at start {:.1} MB)",
        mb(big_rss),
        mb(kb_of(&rss_big, "before_VmRSS").unwrap_or(0))
    ));
    table.row(
        "VmRSS holding 1,000,000 users (sqlite) / 100,000 (memory): MB",
        format!("{:.0}", mb(after.unwrap_or(0))),
        format!("{:.1}", mb(big_rss)),
        "< 150 MB (sqlite)",
        pass(big_rss > 0 && mb(big_rss) < 150.0),
    );
    match (get(&rss_big, "scan_ms"), kb_of(&rss_big, "scan_VmHWM")) {
        (Some(scan_ms), Some(peak)) => {
            say(&format!(
                "one emails.value ew page among {BIG} (sqlite, same child, after the VmRSS above): {scan_ms} ms, peak VmRSS {:.0} MB",
                mb(peak)
            ));
            table.row(
                r#"page of 100, emails.value ew "@example.org" among 1,000,000: ms"#,
                "n/a".into(),
                scan_ms.to_owned(),
                "-",
                "",
            );
            table.row(
                "  peak VmRSS during that page: MB",
                "n/a".into(),
                format!("{:.0}", mb(peak)),
                "-",
                "",
            );
        }
        _ => say("(skipped the emails.value ew page among 1M: under 12 GB available)"),
    }

    println!();
    table.print();
}
