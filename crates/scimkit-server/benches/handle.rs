//! The protocol core's cost per request, without sockets: `Scim::handle` on a SQLite store of
//! 10,000 users, next to the store calls it makes, so that the server's own overhead shows.
//!
//! `cargo bench -p scimkit-server --bench handle` (add `-- --smoke` for a quick check).

#![allow(clippy::print_stdout)]

#[path = "support/core.rs"]
#[allow(dead_code, reason = "each bench uses part of what the benches share")]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

const USERS: usize = 10_000;

fn main() {
    let smoke = std::env::args().any(|a| a == "--smoke");
    let (users, rounds) = if smoke { (200, 200) } else { (USERS, 20_000) };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(users, rounds));
}

async fn run(users: usize, rounds: usize) {
    let (scim, store, token, data) = common::core("scimkit-handle-bench", None).await;
    let mut ids = Vec::with_capacity(users);
    for i in 0..users {
        let body = format!(
            r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"user{i}@example.com","name":{{"givenName":"U","familyName":"Ser{i}"}},"displayName":"User {i}","active":true,"emails":[{{"value":"user{i}@example.com","type":"work","primary":true}}]}}"#
        );
        let req = http::Request::post("/scim/v2/acme/Users")
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/scim+json")
            .body(Bytes::from(body))
            .expect("request");
        let resp = scim.handle(req).await;
        assert_eq!(resp.status(), 201);
        let v: serde_json::Value = serde_json::from_slice(resp.body()).expect("json");
        ids.push(v["id"].as_str().expect("id").to_owned());
    }
    let pick = |k: usize| &ids[(k * 7919) % ids.len()];
    // Half the users belong to one group, as in a directory where most people are in some
    // group: their reads assemble `groups`.
    let members: Vec<serde_json::Value> = ids
        .iter()
        .step_by(2)
        .map(|id| serde_json::json!({"value": id}))
        .collect();
    let group = serde_json::json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Everyone (half)",
        "members": members,
    });
    let req = http::Request::post("/scim/v2/acme/Groups")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/scim+json")
        .body(Bytes::from(group.to_string()))
        .expect("request");
    assert_eq!(scim.handle(req).await.status(), 201);

    let get = measure(rounds, |k| {
        let req = http::Request::get(format!("/scim/v2/acme/Users/{}", pick(k)))
            .header("authorization", format!("Bearer {token}"))
            .body(Bytes::new())
            .expect("request");
        let scim = scim.clone();
        async move {
            let resp = scim.handle(req).await;
            assert_eq!(resp.status(), 200);
        }
    })
    .await;
    let token_id = token.split('_').nth(1).expect("id").to_owned();
    let lookup = measure(rounds, |_| {
        let store = Arc::clone(&store);
        let token_id = token_id.clone();
        async move {
            store
                .token(&token_id)
                .await
                .expect("token")
                .expect("exists");
        }
    })
    .await;
    let store_get = measure(rounds, |k| {
        let store = Arc::clone(&store);
        let id = pick(k).clone();
        async move {
            store
                .get("acme", "User", &id)
                .await
                .expect("get")
                .expect("exists");
        }
    })
    .await;
    let grouped = ids[0].clone();
    let store_groups = measure(rounds, |_| {
        let store = Arc::clone(&store);
        let id = grouped.clone();
        async move {
            assert_eq!(store.groups_of("acme", &id).await.expect("groups").len(), 1);
        }
    })
    .await;
    let store_load = measure(rounds, |k| {
        let store = Arc::clone(&store);
        let id = pick(k).clone();
        async move {
            store
                .load("acme", "User", &id)
                .await
                .expect("load")
                .expect("exists");
        }
    })
    .await;
    // The same GETs from 32 tasks at once on this (multi-threaded) runtime: what the core
    // sustains when requests overlap, without sockets.
    let tasks = 32;
    let started = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let scim = scim.clone();
        let token = token.clone();
        let ids: Vec<String> = (0..rounds / tasks)
            .map(|k| pick(k * tasks + t).clone())
            .collect();
        handles.push(tokio::spawn(async move {
            for id in ids {
                let req = http::Request::get(format!("/scim/v2/acme/Users/{id}"))
                    .header("authorization", format!("Bearer {token}"))
                    .body(Bytes::new())
                    .expect("request");
                assert_eq!(scim.handle(req).await.status(), 200);
            }
        }));
    }
    for h in handles {
        h.await.expect("task");
    }
    let concurrent = (rounds / tasks * tasks) as f64 / started.elapsed().as_secs_f64();
    println!(
        "scimkit-server handle bench: {users} users in SQLite, {rounds} sequential requests each"
    );
    println!(
        "Scim::handle GET /Users/{{id}} from {tasks} concurrent tasks on {} CPUs: {concurrent:.0} requests/s",
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    println!("{:<48} {:>10} {:>10}", "call", "p50 µs", "p99 µs");
    for (name, (p50, p99)) in [
        ("Scim::handle GET /Users/{id}", get),
        ("  Store::token (auth lookup)", lookup),
        ("  Store::get (with groups)", store_get),
        ("  Store::load (no groups)", store_load),
        ("  Store::groups_of (a user in one group)", store_groups),
    ] {
        println!("{name:<48} {p50:>10.1} {p99:>10.1}");
    }
    data.remove().await;
}

async fn measure<F, Fut>(rounds: usize, mut f: F) -> (f64, f64)
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = ()>,
{
    for k in 0..rounds / 10 {
        f(k).await;
    }
    let mut times: Vec<Duration> = Vec::with_capacity(rounds);
    for k in 0..rounds {
        let t = Instant::now();
        f(k).await;
        times.push(t.elapsed());
    }
    times.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    (us(times[rounds / 2]), us(times[rounds * 99 / 100]))
}
