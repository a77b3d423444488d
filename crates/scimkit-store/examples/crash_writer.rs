//! A writer for the crash tests (`tests/it/reliability.rs`): writes to a SQLite or PostgreSQL
//! store as fast as it can, forever, and prints one line per write *after* the store acknowledged it, flushed
//! before the next write starts:
//!
//! ```text
//! ack <kind> <id> <version>      kind: create | group | members | replace | delete
//! ```
//!
//! (`delete` lines carry `-` as the version.) The test kills it with SIGKILL at some point and
//! checks that every acknowledged write survived and that no change was applied by halves.
//!
//! Usage: `cargo run -p scimkit-store --example crash_writer -- <db path> <start index>`, or
//! `… -- <postgres URL> <start index> <schema>` for PostgreSQL.
//! The writer is sequential, so at most one write is in flight when it is killed. With
//! iteration `n` counting from `start`:
//!
//! - every iteration creates User `u{n}` (userName `user{n}`);
//! - every 10th creates Group `g{n}` with members `u{n-1}`, `u{n-2}`, `u{n-3}`;
//! - every 3rd adds `u{n}` to the latest group and removes its oldest member;
//! - every 5th replaces `u{n-2}` with a new `title`;
//! - every 7th deletes `u{n-5}`.
//!
//! Every write changes something (so each one appends exactly one audit record); the ids of
//! later iterations never collide with earlier ones as long as start indexes of successive
//! runs on one database are far apart (the test uses multiples of 1 000 000).

use std::io::Write;

use scimkit_schema::Registry;
use scimkit_store::{Ctx, Member, PgStore, SqliteStore, Store};
use serde_json::{Map, Value, json};

const TENANT: &str = "crash";
const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("an object literal"),
    }
}

fn user(n: u64, title: Option<&str>) -> Map<String, Value> {
    let mut u = json!({"schemas": [USER], "userName": format!("user{n}"), "active": true});
    if let Some(title) = title {
        u["title"] = json!(title);
    }
    obj(u)
}

fn fail(msg: &str) -> ! {
    let _ = writeln!(std::io::stderr(), "crash_writer: {msg}");
    std::process::exit(2)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(path), Some(start)) = (args.next(), args.next()) else {
        fail("usage: crash_writer <db path | postgres URL> <start index> [schema]");
    };
    let schema = args.next();
    let Ok(start) = start.parse::<u64>() else {
        fail("the start index must be an integer");
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(&format!("runtime: {e}")));
    rt.block_on(run(&path, start, schema.as_deref()));
}

async fn open(path: &str, schema: Option<&str>) -> Box<dyn Store> {
    if path.starts_with("postgres://") || path.starts_with("postgresql://") {
        let store = PgStore::connect(path, schema, Registry::new())
            .await
            .unwrap_or_else(|e| fail(&format!("connect to PostgreSQL: {e}")));
        Box::new(store)
    } else {
        let store = SqliteStore::open(path, Registry::new())
            .unwrap_or_else(|e| fail(&format!("open {path}: {e}")));
        Box::new(store)
    }
}

async fn run(path: &str, start: u64, schema: Option<&str>) {
    let store = open(path, schema).await;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut ack = |kind: &str, id: &str, version: Option<u64>| {
        let version = version.map_or_else(|| "-".to_owned(), |v| v.to_string());
        // A write is acknowledged once this line is in the pipe.
        if writeln!(out, "ack {kind} {id} {version}")
            .and_then(|()| out.flush())
            .is_err()
        {
            std::process::exit(0); // the reader is gone
        }
    };
    let ctx = Ctx::at("2026-11-28T12:00:00Z").with_token("crash-writer");
    let mut latest_group: Option<(String, Vec<String>)> = None;
    for n in start.. {
        let check = |what: &str, r: Result<u64, scimkit_store::StoreError>| {
            r.unwrap_or_else(|e| fail(&format!("{what} failed at n={n}: {e}")))
        };

        let id = format!("u{n}");
        let v = check(
            "create",
            store
                .create(TENANT, "User", &id, user(n, None), &ctx)
                .await
                .map(|s| s.version),
        );
        ack("create", &id, Some(v));

        if n % 10 == 0 && n >= start + 3 {
            let id = format!("g{n}");
            let members: Vec<String> = (1..=3).map(|k| format!("u{}", n - k)).collect();
            let values: Vec<Value> = members
                .iter()
                .map(|m| json!({"value": m, "type": "User"}))
                .collect();
            let body = obj(
                json!({"schemas": [GROUP], "displayName": format!("group {n}"), "members": values}),
            );
            let v = check(
                "group create",
                store
                    .create(TENANT, "Group", &id, body, &ctx)
                    .await
                    .map(|s| s.version),
            );
            ack("group", &id, Some(v));
            latest_group = Some((id, members));
        }

        if n % 3 == 0
            && let Some((group, members)) = latest_group.as_mut()
        {
            let removed: Vec<String> = if members.is_empty() {
                Vec::new()
            } else {
                vec![members.remove(0)]
            };
            let added = [Member::new(format!("u{n}"))];
            members.push(format!("u{n}"));
            let v = check(
                "change_members",
                store
                    .change_members(TENANT, group, &added, &removed, None, &ctx)
                    .await
                    .map(|s| s.version),
            );
            ack("members", group, Some(v));
        }

        if n % 5 == 0 && n >= start + 2 {
            let id = format!("u{}", n - 2);
            let title = format!("title set at {n}");
            let v = check(
                "replace",
                store
                    .replace(TENANT, "User", &id, user(n - 2, Some(&title)), None, &ctx)
                    .await
                    .map(|s| s.version),
            );
            ack("replace", &id, Some(v));
        }

        if n % 7 == 0 && n >= start + 5 {
            let id = format!("u{}", n - 5);
            check(
                "delete",
                store
                    .delete(TENANT, "User", &id, None, &ctx)
                    .await
                    .map(|()| 0),
            );
            if let Some((_, members)) = latest_group.as_mut() {
                members.retain(|m| *m != id);
            }
            ack("delete", &id, None);
        }
    }
}
