//! Reliability: crash safety (SQLite and PostgreSQL) and concurrency (every backend).
//!
//! - **Crash** (`sigkill_under_write_load_loses_no_acknowledged_write`): the example
//!   `examples/crash_writer.rs` writes to a SQLite file as fast as it can and prints
//!   `ack <kind> <id> <version>` after each write returns `Ok`; the test kills it with SIGKILL
//!   after 300–800 ms (three rounds on the same file, each continuing after the previous crash)
//!   and checks that no acknowledged write is lost and no change was applied by halves.
//!
//!   Locating the example: Cargo gives integration tests `CARGO_BIN_EXE_<name>` for binaries but
//!   nothing for examples, and `cargo test --test it` does not build examples. So the test runs
//!   `$CARGO build -p scimkit-store --example crash_writer` (with the test's own profile) once —
//!   a no-op taking well under a second when the example is fresh, and the only way not to run a
//!   stale one — and takes the binary from `<profile dir>/examples/`, the profile dir being the
//!   parent of the test binary's `deps/` directory. That covers `cargo test` and
//!   `cargo test --release`; with `--target <triple>` the layout is the same
//!   (`target/<triple>/<profile>`), but the nested build is not told the triple, so the test
//!   then fails with a message saying so rather than running a wrong binary.
//!
//! - **Crash on PostgreSQL** (`…_postgres`): the same writer on a PostgreSQL schema; the client
//!   is killed, the server keeps running, and the same checks hold.
//!
//! - **Concurrency**, on a multi-thread runtime, for the memory store, one SQLite store, two
//!   `SqliteStore`s opened on one file (two connections racing for the write lock), and two
//!   `PgStore` instances (two pools, as two server processes) on one schema: one `userName`
//!   (in 32 casings), one custom `uniqueness: server` value, or one id created by 32 tasks at
//!   once (exactly one wins, the rest get `Uniqueness` / `IdTaken`, never a backend error);
//!   16 read-modify-write loops with `if_version` (no update lost); 32 tasks changing one
//!   group's members (none lost); two stores opening one fresh file at once.
//!
//! Every test ends with [`assert_consistent`]: replaying the outbox gives exactly the stored
//! state (versions, live and deleted resources, every group's members), and each change has
//! exactly one audit record.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use scimkit_schema::Registry;
use scimkit_store::{
    Ctx, EventKind, Member, MemoryStore, PgStore, Query, SqliteStore, Store, StoreError,
};
use serde_json::{Map, Value, json};
use tokio::sync::Barrier;

use crate::{TempDir, postgres};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
/// A limit larger than anything these tests write.
const ALL: usize = 1 << 30;

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn user(name: &str) -> Map<String, Value> {
    obj(json!({"schemas": [USER], "userName": name, "active": true}))
}

fn ctx() -> Ctx {
    Ctx::at("2026-11-28T12:00:00Z").with_token("tok-rel")
}

// ---------------------------------------------------------------------------------------------
// The outbox replayed against the stored state.
// ---------------------------------------------------------------------------------------------

/// What [`assert_consistent`] found.
#[derive(Debug, Default)]
struct Summary {
    /// Resources that exist.
    live: usize,
    /// Resources deleted.
    deleted: usize,
    /// Changes (one audit record each).
    changes: usize,
    /// The live resources' versions.
    versions: BTreeMap<String, u64>,
}

/// The outbox of `tenant` explains the stored state exactly:
///
/// - `seq` runs 1, 2, 3… without gaps;
/// - each resource's events start with `created` at version 1, then each change adds one or
///   more events at the next version (so no change lacks its event), and `deleted` ends them;
/// - the live resources (found by search) are exactly those created and not deleted, each at
///   the version of its last event (so no event lacks its change);
/// - replaying `members_added` / `members_removed` / `deleted` gives every group's members
///   (`member_ids`), and deleted groups have none;
/// - each resource has one audit record per change (distinct event version, or deletion).
///
/// Ids are assumed not to be reused after deletion.
async fn assert_consistent(what: &str, store: &dyn Store, tenant: &str) -> Summary {
    let events = store.events(tenant, 0, ALL).await.unwrap();
    // Per resource: its distinct versions in order, and whether it was deleted.
    let mut history: BTreeMap<(String, String), (Vec<u64>, bool)> = BTreeMap::new();
    let mut members: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let ids = |data: &Value| -> Vec<String> {
        data["members"]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: membership event without members: {data}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, i as u64 + 1, "{what}: outbox seq has a gap");
        let key = (e.resource_type.clone(), e.resource_id.clone());
        let seen = history.get_mut(&key);
        match (e.kind, seen) {
            (EventKind::Created, None) => {
                assert_eq!(e.version, Some(1), "{what}: {e:?}");
                history.insert(key, (vec![1], false));
                if e.resource_type == "Group" {
                    members.insert(e.resource_id.clone(), BTreeSet::new());
                }
            }
            (EventKind::Created, Some(_)) => panic!("{what}: created twice: {e:?}"),
            (_, None) => panic!("{what}: event before `created`: {e:?}"),
            (_, Some((_, true))) => panic!("{what}: event after `deleted`: {e:?}"),
            (EventKind::Deleted, Some((_, deleted))) => {
                assert_eq!(e.version, None, "{what}: {e:?}");
                *deleted = true;
                members.remove(&e.resource_id);
                for set in members.values_mut() {
                    set.remove(&e.resource_id);
                }
            }
            (kind, Some((versions, _))) => {
                let last = *versions.last().unwrap();
                let v = e
                    .version
                    .unwrap_or_else(|| panic!("{what}: no version: {e:?}"));
                assert!(
                    v == last || v == last + 1,
                    "{what}: {} jumps from version {last} to {v}: {e:?}",
                    e.resource_id
                );
                if v == last + 1 {
                    versions.push(v);
                }
                if matches!(kind, EventKind::MembersAdded | EventKind::MembersRemoved) {
                    assert_eq!(e.resource_type, "Group", "{what}: {e:?}");
                    let set = members.get_mut(&e.resource_id).unwrap();
                    for id in ids(&e.data) {
                        let changed = if kind == EventKind::MembersAdded {
                            set.insert(id.clone())
                        } else {
                            set.remove(&id)
                        };
                        assert!(
                            changed,
                            "{what}: {kind:?} of {id} changes nothing in {}: {e:?}",
                            e.resource_id
                        );
                    }
                }
            }
        }
    }

    // The live resources are exactly those created and not deleted, at their last version.
    let mut stored = BTreeMap::new();
    for rt in ["User", "Group"] {
        for s in store
            .search(tenant, rt, &Query::all())
            .await
            .unwrap()
            .resources
        {
            stored.insert((rt.to_owned(), s.id), s.version);
        }
    }
    let expected: BTreeMap<(String, String), u64> = history
        .iter()
        .filter(|(_, (_, deleted))| !deleted)
        .map(|(k, (versions, _))| (k.clone(), *versions.last().unwrap()))
        .collect();
    if stored != expected {
        let diff: Vec<_> = stored
            .iter()
            .filter(|(k, v)| expected.get(*k) != Some(*v))
            .map(|(k, v)| format!("stored {k:?} v{v} vs events {:?}", expected.get(k)))
            .chain(
                expected
                    .iter()
                    .filter(|(k, _)| !stored.contains_key(*k))
                    .map(|(k, v)| format!("events say {k:?} v{v} exists; not stored")),
            )
            .take(10)
            .collect();
        panic!("{what}: stored resources differ from the outbox: {diff:#?}");
    }

    // Members, replayed; deleted groups have no member rows left.
    for ((rt, id), (_, deleted)) in &history {
        if rt != "Group" {
            continue;
        }
        let got: BTreeSet<String> = store
            .member_ids(tenant, id)
            .await
            .unwrap()
            .into_iter()
            .collect();
        let want = if *deleted {
            BTreeSet::new()
        } else {
            members[id].clone()
        };
        assert_eq!(
            got, want,
            "{what}: members of {id} (deleted: {deleted}) differ from the outbox replay"
        );
    }

    // One audit record per change.
    let mut audited: BTreeMap<(String, String), usize> = BTreeMap::new();
    for r in store.audit(tenant, ALL).await.unwrap() {
        assert_eq!(r.outcome, "ok", "{what}: {r:?}");
        *audited
            .entry((r.resource_type.clone(), r.resource_id.clone()))
            .or_default() += 1;
    }
    let changes: BTreeMap<(String, String), usize> = history
        .iter()
        .map(|(k, (versions, deleted))| (k.clone(), versions.len() + usize::from(*deleted)))
        .collect();
    assert_eq!(
        audited, changes,
        "{what}: audit records per resource differ from the changes in the outbox"
    );

    Summary {
        live: expected.len(),
        deleted: history.values().filter(|(_, d)| *d).count(),
        changes: changes.values().sum(),
        versions: expected.into_iter().map(|((_, id), v)| (id, v)).collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// Crash.
// ---------------------------------------------------------------------------------------------

const CRASH_TENANT: &str = "crash";

/// Builds the `crash_writer` example if needed (see the module docs) and returns its path.
fn crash_writer() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/it-<hash>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lives in <target>/<profile>/deps");
    let profile = profile_dir.file_name().and_then(|n| n.to_str()).unwrap();
    let bin = profile_dir
        .join("examples")
        .join(format!("crash_writer{}", std::env::consts::EXE_SUFFIX));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "--quiet", "-p", "scimkit-store", "--example"])
        .arg("crash_writer");
    match profile {
        "debug" => {}
        "release" => {
            build.arg("--release");
        }
        other => {
            build.args(["--profile", other]);
        }
    }
    let out = build.output().expect("cargo runs");
    assert!(
        out.status.success(),
        "building the crash_writer example failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        bin.is_file(),
        "cargo built the crash_writer example, but not at {} (cross-compiling, or an unusual \
         target layout?)",
        bin.display()
    );
    bin
}

/// What the writers acknowledged, over all rounds.
#[derive(Debug, Default)]
struct Ledger {
    /// Acknowledged writes.
    acks: usize,
    /// id → the highest acknowledged version, or `None` once deleted.
    ids: BTreeMap<String, Option<u64>>,
}

impl Ledger {
    fn record(&mut self, line: &str) {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let ["ack", kind, id, version] = parts[..] else {
            panic!("unexpected line from crash_writer: {line:?}");
        };
        self.acks += 1;
        if kind == "delete" {
            self.ids.insert(id.to_owned(), None);
            return;
        }
        let version: u64 = version.parse().unwrap();
        let slot = self.ids.entry(id.to_owned()).or_insert(Some(0));
        let acked = slot.expect("a write acknowledged after the deletion");
        *slot = Some(acked.max(version));
    }
}

/// Kill delays in 300–800 ms, one from each third of the range, varying between runs.
fn kill_delays() -> [Duration; 3] {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as u64 ^ d.as_secs());
    let mut x = seed | 1;
    let mut next = || {
        // xorshift64
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % 167
    };
    [300, 467, 634].map(|base| Duration::from_millis(base + next()))
}

/// One round: start the writer on `target` (a file, or a PostgreSQL URL and schema) at
/// `start`, let it write for `delay` after its first ack, kill it, and return the complete ack
/// lines it printed.
fn crash_round(writer: &Path, target: &[&OsStr], start: u64, delay: Duration) -> Vec<String> {
    let mut child = Command::new(writer)
        .arg(target[0])
        .arg(start.to_string())
        .args(&target[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("crash_writer starts");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    let mut first = String::new();
    // Blocks until the first ack, or EOF if the writer died.
    stdout.read_line(&mut first).unwrap();
    let started = Instant::now();
    let reader = std::thread::spawn(move || {
        // Every line the writer flushed is in the pipe even after the kill: read to EOF.
        // A line cut short (no newline) was not acknowledged.
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            match stdout.read_line(&mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) if line.ends_with('\n') => lines.push(line.trim_end().to_owned()),
                Ok(_) => break,
            }
        }
        lines
    });
    if first.ends_with('\n') {
        lines.push(first.trim_end().to_owned());
        std::thread::sleep(delay.saturating_sub(started.elapsed()));
    }
    child.kill().expect("SIGKILL"); // On Unix, Child::kill sends SIGKILL.
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(9),
            "crash_writer ended by itself ({status}) instead of being killed: {stderr}"
        );
    }
    #[cfg(not(unix))]
    let _ = status;
    lines.extend(reader.join().unwrap());
    assert!(
        lines.len() >= 10,
        "crash_writer acknowledged only {} writes: {stderr}",
        lines.len()
    );
    lines
}

/// The database file is sound, seen by a connection of its own: `integrity_check` is `ok`
/// and no member row belongs to a group that does not exist.
fn assert_sound_file(what: &str, db: &Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let integrity: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(integrity, ["ok"], "{what}: PRAGMA integrity_check");
    let orphans: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM members m WHERE NOT EXISTS (SELECT 1 FROM resources r \
             WHERE r.tenant = m.tenant AND r.type = 'Group' AND r.id = m.group_id)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        orphans, 0,
        "{what}: member rows of groups that do not exist"
    );
}

#[test]
fn sigkill_under_write_load_loses_no_acknowledged_write() {
    let writer = crash_writer();
    let dir = TempDir::new("crash");
    let db = dir.0.join("crash.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    crash_rounds(&writer, &[db.as_os_str()], |what| {
        assert_sound_file(what, &db);
        rt.block_on(async { Box::new(SqliteStore::open(&db, Registry::new()).unwrap()) as _ })
    });
}

/// The crash test against PostgreSQL: the writer is killed, the server keeps running; no
/// acknowledged write is lost and no transaction is half applied.
#[test]
fn sigkill_under_write_load_loses_no_acknowledged_write_postgres() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let Some((store, schema)) = rt.block_on(postgres()) else {
        return;
    };
    drop(store); // the schema is migrated; each round's check opens a store of its own
    let writer = crash_writer();
    let url = std::env::var("SCIMKIT_TEST_POSTGRES_URL").unwrap();
    let target = [OsStr::new(&url), OsStr::new(&schema.name)];
    crash_rounds(&writer, &target, |what| {
        rt.block_on(async {
            assert_sound_schema(what, &url, &schema.name).await;
            Box::new(schema.open().await) as _
        })
    });
}

/// Three crash rounds on `target`, each continuing where the previous one was killed; after
/// each, `reopen` checks the raw database and returns a store on it, on which every
/// acknowledged write must be found and the outbox must replay to the stored state.
fn crash_rounds(writer: &Path, target: &[&OsStr], mut reopen: impl FnMut(&str) -> Box<dyn Store>) {
    let delays = kill_delays();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut ledger = Ledger::default();
    for (round, delay) in delays.iter().enumerate() {
        let what =
            format!("round {round} (killed {delay:?} after the first ack; delays {delays:?})");
        let lines = crash_round(writer, target, round as u64 * 1_000_000, *delay);
        for line in &lines {
            ledger.record(line);
        }
        let store = reopen(&what);
        rt.block_on(check_after_crash(&what, &*store, &ledger, round + 1));
    }
}

/// After `rounds` crashes: every acknowledged write is there, and at most one unacknowledged
/// write per round (the one in flight at the kill) committed.
async fn check_after_crash(what: &str, store: &dyn Store, ledger: &Ledger, rounds: usize) {
    let summary = assert_consistent(what, store, CRASH_TENANT).await;
    // Created ids exist at their acknowledged version or later; deleted ones are gone. A
    // delete may have committed without its ack (the write in flight at the kill): the
    // outbox says so.
    let deleted: BTreeSet<String> = store
        .events(CRASH_TENANT, 0, usize::MAX)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == EventKind::Deleted)
        .map(|e| e.resource_id)
        .collect();
    for (id, acked) in &ledger.ids {
        let stored = summary.versions.get(id);
        match acked {
            Some(v) => assert!(
                stored.is_some_and(|s| s >= v) || (stored.is_none() && deleted.contains(id)),
                "{what}: {id} acknowledged at version {v}, stored: {stored:?}"
            ),
            None => assert_eq!(stored, None, "{what}: {id} acknowledged as deleted"),
        }
    }
    // The writer is sequential: beyond the acknowledged writes, at most one per round may
    // have committed.
    assert!(
        (ledger.acks..=ledger.acks + rounds).contains(&summary.changes),
        "{what}: {} changes stored, {} acknowledged, {rounds} rounds",
        summary.changes,
        ledger.acks
    );
    assert!(
        summary.live > 0 && summary.deleted > 0,
        "{what}: {summary:?}"
    );
}

/// The PostgreSQL counterpart of [`assert_sound_file`]: no member row belongs to a group that
/// does not exist (PostgreSQL's own consistency is the server's business).
async fn assert_sound_schema(what: &str, url: &str, schema: &str) {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    let sql = format!(
        "SELECT COUNT(*) FROM {schema}.members m WHERE NOT EXISTS (SELECT 1 FROM \
         {schema}.resources r WHERE r.tenant = m.tenant AND r.type = 'Group' AND r.id = m.group_id)"
    );
    let orphans: i64 = client.query_one(&sql, &[]).await.unwrap().get(0);
    assert_eq!(
        orphans, 0,
        "{what}: member rows of groups that do not exist"
    );
    drop(client);
    let _ = conn.await;
}

// ---------------------------------------------------------------------------------------------
// Concurrency.
// ---------------------------------------------------------------------------------------------

const TENANT: &str = "acme";

/// A configuration raced on: a name, its stores, and the guard of its files or schema.
type Racer = (&'static str, Vec<Arc<dyn Store>>, Option<Box<dyn Any>>);

/// The store configurations raced on: the memory store, one SQLite store, two
/// `SqliteStore`s on one file, and, with PostgreSQL, two `PgStore` instances (two pools, as
/// two server processes would have) on one schema. Task `i` uses store `i % len`.
async fn racers() -> Vec<Racer> {
    racers_with(&Registry::new()).await
}

/// [`racers`] with the schemas of `registry`.
async fn racers_with(registry: &Registry) -> Vec<Racer> {
    let one = TempDir::new("one-conn");
    let mut out: Vec<Racer> = vec![
        (
            "memory",
            vec![Arc::new(MemoryStore::new(registry.clone()))],
            None,
        ),
        (
            "sqlite",
            vec![Arc::new(
                SqliteStore::open(one.0.join("one.db"), registry.clone()).unwrap(),
            )],
            Some(Box::new(one)),
        ),
    ];
    if let Some((a, schema)) = postgres().await {
        drop(a);
        let url = std::env::var("SCIMKIT_TEST_POSTGRES_URL").unwrap();
        let open = || PgStore::connect(&url, Some(&schema.name), registry.clone());
        let (a, b) = (open().await.unwrap(), open().await.unwrap());
        out.push((
            "postgres, two store instances",
            vec![Arc::new(a), Arc::new(b)],
            Some(Box::new(schema)),
        ));
    }
    let dir = TempDir::new("two-conns");
    let path = dir.0.join("shared.db");
    let a = SqliteStore::open(&path, registry.clone()).unwrap();
    let b = SqliteStore::open(&path, registry.clone()).unwrap();
    out.push((
        "sqlite, two connections",
        vec![Arc::new(a), Arc::new(b)],
        Some(Box::new(dir)),
    ));
    out
}

/// A `uniqueness: server` attribute of a custom extension claimed by 32 tasks at once (in
/// different casings, by users of different userNames): exactly one wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn one_custom_unique_value_claimed_by_32_tasks_at_once_is_taken_once() {
    const N: usize = 32;
    let registry = crate::conformance::acme_registry();
    for (name, stores, _guard) in racers_with(&registry).await {
        for round in 0..4 {
            let base = format!("emp-{round}");
            let results = race(&stores, N, |i, store| {
                let id = format!("c{round}-{i}");
                let body = crate::conformance::acme_user(
                    &format!("user-{round}-{i}"),
                    json!({"employeeId": casing(&base, i)}),
                );
                async move {
                    let r = store.create(TENANT, "User", &id, body, &ctx()).await;
                    (id, r)
                }
            })
            .await;
            let mut winners = Vec::new();
            for (id, r) in results {
                match r {
                    Ok(_) => winners.push(id),
                    Err(StoreError::Uniqueness { attribute, .. })
                        if attribute.ends_with(":employeeId") => {}
                    Err(e) => panic!("{name}, round {round}: {id} failed with {e:?}"),
                }
            }
            assert_eq!(winners.len(), 1, "{name}, round {round}: {winners:?}");
        }
        let summary = assert_consistent(name, &*stores[0], TENANT).await;
        assert_eq!(summary.live, 4, "{name}");
    }
}

/// `base` with the letters upper-cased where the bits of `i` say so.
fn casing(base: &str, i: usize) -> String {
    base.chars()
        .enumerate()
        .map(|(k, c)| {
            if (i >> (k % 7)) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

/// Runs `n` tasks at once (released together by a barrier), task `i` on store `i % len`.
async fn race<T, F, Fut>(stores: &[Arc<dyn Store>], n: usize, f: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize, Arc<dyn Store>) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let fut = f(i, Arc::clone(&stores[i % stores.len()]));
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                fut.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.expect("a task panicked"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn one_user_name_created_by_32_tasks_at_once_is_taken_once() {
    const N: usize = 32;
    for (name, stores, _dir) in racers().await {
        for round in 0..8 {
            let base = format!("bjensen{round}");
            let results = race(&stores, N, |i, store| {
                let user_name = casing(&base, i);
                let id = format!("r{round}-{i}");
                async move {
                    let r = store
                        .create(TENANT, "User", &id, user(&user_name), &ctx())
                        .await;
                    (id, r)
                }
            })
            .await;
            let mut winners = Vec::new();
            for (id, r) in results {
                match r {
                    Ok(s) => winners.push((id, s.version)),
                    Err(StoreError::Uniqueness { attribute, .. }) if attribute == "userName" => {}
                    Err(e) => panic!("{name}, round {round}: {id} failed with {e:?}"),
                }
            }
            assert_eq!(winners.len(), 1, "{name}, round {round}: {winners:?}");
            let page = stores[0]
                .search(
                    TENANT,
                    "User",
                    &Query::filter(&format!("userName eq \"{}\"", base.to_uppercase())).unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(page.total, 1, "{name}, round {round}");
            assert_eq!(page.resources[0].id, winners[0].0, "{name}, round {round}");
        }
        let summary = assert_consistent(name, &*stores[0], TENANT).await;
        assert_eq!(summary.live, 8, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn one_id_created_by_32_tasks_at_once_is_created_once() {
    const N: usize = 32;
    for (name, stores, _dir) in racers().await {
        for round in 0..4 {
            let id = format!("same{round}");
            let results = race(&stores, N, |i, store| {
                let (id, user_name) = (id.clone(), format!("same{round}-{i}"));
                async move {
                    store
                        .create(TENANT, "User", &id, user(&user_name), &ctx())
                        .await
                        .map(|s| s.body["userName"].clone())
                }
            })
            .await;
            let mut winners = Vec::new();
            for r in results {
                match r {
                    Ok(user_name) => winners.push(user_name),
                    Err(StoreError::IdTaken { .. }) => {}
                    Err(e) => panic!("{name}, round {round}: {e:?}"),
                }
            }
            assert_eq!(winners.len(), 1, "{name}, round {round}: {winners:?}");
            let got = stores[0].get(TENANT, "User", &id).await.unwrap().unwrap();
            assert_eq!(got.body["userName"], winners[0], "{name}, round {round}");
        }
        assert_consistent(name, &*stores[0], TENANT).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn conditional_replaces_from_16_tasks_lose_no_update() {
    const N: usize = 16;
    for (name, stores, _dir) in racers().await {
        stores[0]
            .create(TENANT, "User", "u1", user("counter"), &ctx())
            .await
            .unwrap();
        // Each task appends its marker to `title`: read, modify, replace if unchanged, retry.
        let attempts = race(&stores, N, |i, store| async move {
            for attempt in 1..=2000 {
                let current = store.get(TENANT, "User", "u1").await.unwrap().unwrap();
                let mut body = current.body.clone();
                let title = body.get("title").and_then(Value::as_str).unwrap_or("");
                let title = format!("{title} m{i}").trim_start().to_owned();
                body.insert("title".into(), Value::String(title));
                match store
                    .replace(TENANT, "User", "u1", body, Some(current.version), &ctx())
                    .await
                {
                    Ok(s) => {
                        assert_eq!(s.version, current.version + 1);
                        return attempt;
                    }
                    Err(StoreError::VersionMismatch { .. }) => tokio::task::yield_now().await,
                    Err(e) => panic!("task {i}: {e:?}"),
                }
            }
            panic!("task {i}: no success in 2000 attempts");
        })
        .await;
        let got = stores[0].get(TENANT, "User", "u1").await.unwrap().unwrap();
        assert_eq!(got.version, 1 + N as u64, "{name}: {:?}", got.body);
        let mut markers: Vec<&str> = got.body["title"].as_str().unwrap().split(' ').collect();
        markers.sort_unstable();
        let mut want: Vec<String> = (0..N).map(|i| format!("m{i}")).collect();
        want.sort_unstable();
        assert_eq!(markers, want, "{name}: every task's update is kept, once");
        assert!(
            attempts.iter().sum::<usize>() >= N,
            "{name}: attempts {attempts:?}"
        );
        let summary = assert_consistent(name, &*stores[0], TENANT).await;
        assert_eq!(summary.changes, 1 + N, "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 8)]
async fn concurrent_member_changes_to_one_group_lose_none() {
    const N: usize = 32;
    for (name, stores, _dir) in racers().await {
        let group = obj(json!({"schemas": [GROUP], "displayName": "crowd"}));
        stores[0]
            .create(TENANT, "Group", "g1", group, &ctx())
            .await
            .unwrap();
        // Task i adds m{i} and x{i}, then removes x{i}: two changes each.
        race(&stores, N, |i, store| async move {
            let keep = Member::new(format!("m{i}"));
            let drop = Member::new(format!("x{i}"));
            let s = store
                .change_members(TENANT, "g1", &[keep, drop.clone()], &[], None, &ctx())
                .await
                .unwrap_or_else(|e| panic!("task {i} add: {e:?}"));
            assert!(s.version >= 2);
            store
                .change_members(TENANT, "g1", &[], &[drop.value], None, &ctx())
                .await
                .unwrap_or_else(|e| panic!("task {i} remove: {e:?}"));
        })
        .await;
        let got: BTreeSet<String> = stores[0]
            .member_ids(TENANT, "g1")
            .await
            .unwrap()
            .into_iter()
            .collect();
        let want: BTreeSet<String> = (0..N).map(|i| format!("m{i}")).collect();
        assert_eq!(got, want, "{name}");
        let g = stores[0].get(TENANT, "Group", "g1").await.unwrap().unwrap();
        assert_eq!(g.version, 1 + 2 * N as u64, "{name}");
        let summary = assert_consistent(name, &*stores[0], TENANT).await;
        assert_eq!(summary.changes, 1 + 2 * N, "{name}");
    }
}

/// BUG (src/sqlite.rs, `SqliteStore::setup` / `migrate`): stores opening one *fresh* file at
/// the same moment (say, two server processes started together) can fail to open, with
///
/// - `table resources already exists`: `migrate` reads `PRAGMA user_version` outside any
///   transaction, so both see 0 and both run migration 1; the second one's `CREATE TABLE`
///   fails once the first commits;
/// - `database is locked`: `PRAGMA journal_mode = WAL` runs before `PRAGMA busy_timeout` is
///   set (same batch, earlier statement), so a lock held by the other opener fails at once.
///
/// Fix: set the busy timeout first (`Connection::busy_timeout`), and run each migration in an
/// IMMEDIATE transaction that re-reads `user_version` inside it.
#[test]
fn stores_opening_one_fresh_file_at_once_all_work() {
    const OPENERS: usize = 4;
    let dir = TempDir::new("open-race");
    let mut failures: BTreeMap<String, usize> = BTreeMap::new();
    let rounds = 25;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let migrations = rt.block_on(async {
        let fresh = SqliteStore::open_in_memory(Registry::new()).unwrap();
        fresh.schema_version().await.unwrap()
    });
    for round in 0..rounds {
        let path = dir.0.join(format!("fresh{round}.db"));
        let barrier = Arc::new(std::sync::Barrier::new(OPENERS));
        let opened: Vec<_> = (0..OPENERS)
            .map(|_| {
                let (path, barrier) = (path.clone(), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    SqliteStore::open(&path, Registry::new())
                })
            })
            .collect();
        for (i, t) in opened.into_iter().enumerate() {
            let store = match t.join().unwrap() {
                Ok(store) => store,
                Err(e) => {
                    *failures.entry(e.to_string()).or_default() += 1;
                    continue;
                }
            };
            rt.block_on(async {
                assert_eq!(store.schema_version().await.unwrap(), migrations);
                store
                    .create(
                        TENANT,
                        "User",
                        &format!("u{i}"),
                        user(&format!("n{i}")),
                        &ctx(),
                    )
                    .await
                    .unwrap();
            });
        }
    }
    assert!(
        failures.is_empty(),
        "opens that failed, of {} ({OPENERS} at once on a fresh file, {rounds} times): {failures:#?}",
        OPENERS * rounds
    );
}
