//! The host-app access check (issue 8's figure): a user in 20 groups nested 3 deep, in a
//! tenant of 100,000 users on SQLite, looked up by userName. Target: p99 under 1 ms.
//!
//! `cargo bench -p scimkit-server --bench access` (add `-- --smoke` for 1,000 users).

#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use scimkit_schema::Registry;
use scimkit_server::{Config, GroupMatch, RoleRule, Scim, UserKey};
use scimkit_store::{Ctx, Member, SqliteStore, Store};
use serde_json::{Map, Value, json};

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().expect("an object").clone()
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke");
    let (users, rounds) = if smoke {
        (1_000, 200)
    } else {
        (100_000, 5_000)
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(run(users, rounds));
}

async fn run(users: usize, rounds: usize) {
    let dir = std::env::temp_dir().join(format!("scimkit-access-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let registry = Registry::new();
    let store =
        Arc::new(SqliteStore::open(dir.join("bench.db"), registry.clone()).expect("sqlite"));
    let scim = Scim::new(
        Arc::clone(&store) as Arc<dyn Store>,
        registry,
        Config::default(),
    );
    let ctx = Ctx::at("2026-11-28T12:00:00Z");
    let started = Instant::now();
    for i in 0..users {
        let body = obj(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": format!("user{i}@example.com"),
            "active": true,
        }));
        store
            .create("acme", "User", &format!("u{i:06}"), body, &ctx)
            .await
            .expect("create");
    }
    let load_s = started.elapsed().as_secs_f64();
    // Level 1: 8 groups the user is in; level 2: 8 groups, each holding one level-1 group;
    // level 3: 4 groups, each holding two level-2 groups. 20 groups, 3 deep.
    let user = "u000042";
    let group = |id: &str, name: &str, members: Vec<(String, &str)>| {
        let members: Vec<Value> = members
            .iter()
            .map(|(m, kind)| json!({"value": m, "type": kind}))
            .collect();
        let body = obj(json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": name,
            "members": members,
        }));
        (id.to_owned(), body)
    };
    let mut groups = Vec::new();
    for k in 0..8 {
        groups.push(group(
            &format!("l1-{k}"),
            &format!("Team {k}"),
            vec![(user.to_owned(), "User")],
        ));
    }
    for k in 0..8 {
        groups.push(group(
            &format!("l2-{k}"),
            &format!("Dept {k}"),
            vec![(format!("l1-{k}"), "Group")],
        ));
    }
    for k in 0..4 {
        groups.push(group(
            &format!("l3-{k}"),
            &format!("Division {k}"),
            vec![
                (format!("l2-{}", 2 * k), "Group"),
                (format!("l2-{}", 2 * k + 1), "Group"),
            ],
        ));
    }
    for (id, body) in groups {
        store
            .create("acme", "Group", &id, body, &ctx)
            .await
            .expect("group");
    }
    // A few other members in each level-1 group, as directories have.
    for k in 0..8 {
        let others: Vec<Member> = (0..50)
            .map(|j| Member::new(format!("u{:06}", 1000 + k * 50 + j)))
            .collect();
        store
            .change_members("acme", &format!("l1-{k}"), &others, &[], None, &ctx)
            .await
            .expect("members");
    }
    let mut rules = Vec::new();
    for k in 0..8 {
        rules.push(RoleRule::new(
            GroupMatch::DisplayName(format!("team {k}")),
            vec![format!("team-{k}")],
        ));
    }
    for k in 0..4 {
        rules.push(RoleRule::new(
            GroupMatch::DisplayName(format!("Division {k}")),
            vec!["staff".into(), format!("div-{k}")],
        ));
    }
    scim.set_role_rules("acme", &rules).await.expect("rules");

    let key = UserKey::UserName("USER42@example.com".into());
    let first = scim.access("acme", &key).await.expect("access");
    assert!(first.exists && first.active);
    assert_eq!(first.groups.len(), 20);
    assert_eq!(first.groups.iter().filter(|g| g.direct).count(), 8);
    assert_eq!(first.roles.len(), 8 + 4 + 1);
    for _ in 0..rounds / 10 {
        scim.access("acme", &key).await.expect("access");
    }
    let mut times: Vec<Duration> = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        let a = scim.access("acme", &key).await.expect("access");
        times.push(t.elapsed());
        assert_eq!(a.groups.len(), 20);
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (p50, p99) = (ms(times[rounds / 2]), ms(times[rounds * 99 / 100]));
    println!(
        "scimkit-server access bench: {users} users in SQLite (created in {load_s:.1} s), a user in 20 groups nested 3 deep, 12 rules"
    );
    println!(
        "access check by userName: p50 {p50:.3} ms, p99 {p99:.3} ms (target p99 < 1 ms: {})",
        if p99 < 1.0 { "PASS" } else { "FAIL" }
    );
    let _ = std::fs::remove_dir_all(&dir);
}
