//! How long the console takes to build each page on a large tenant: 100,000 users, all of
//! them members of one group, and a full provisioning log (10,000 requests, some failed), on
//! SQLite, through `Scim::handle` (no sockets, no browser).
//!
//! `cargo bench -p scimkit-server --bench console` (add `-- --smoke` for a quick check with
//! 2,000 users, `-- --keep` to keep the database for a look with `sqlite3`, and
//! `-- --postgres URL` to measure on a fresh schema of that PostgreSQL database instead).

#![allow(clippy::print_stdout)]

#[path = "support/core.rs"]
#[allow(dead_code, reason = "each bench uses part of what the benches share")]
mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use scimkit_server::Scim;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let smoke = args.iter().any(|a| a == "--smoke");
    let keep = args.iter().any(|a| a == "--keep");
    let postgres = args
        .iter()
        .position(|a| a == "--postgres")
        .map(|i| args.get(i + 1).expect("--postgres needs a URL").clone());
    let (users, rounds) = if smoke { (2_000, 20) } else { (100_000, 200) };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(users, rounds, postgres.as_deref(), keep));
}

/// Sends a SCIM request and returns the status and body.
async fn scim_call(
    scim: &Scim,
    token: &str,
    method: &str,
    path: &str,
    body: String,
) -> (u16, serde_json::Value) {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/scim+json")
        .body(Bytes::from(body))
        .expect("request");
    let resp = scim.handle(req).await;
    let status = resp.status().as_u16();
    let body = serde_json::from_slice(resp.body()).unwrap_or(serde_json::Value::Null);
    (status, body)
}

async fn run(users: usize, rounds: usize, postgres: Option<&str>, keep: bool) {
    let (scim, store, token, data) = common::core("scimkit-console-bench", postgres).await;
    scim.ensure_tenant("default").await.expect("default");

    let load_started = Instant::now();
    let mut ids = Vec::with_capacity(users);
    for i in 0..users {
        let body = format!(
            r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"user{i}@example.com","name":{{"givenName":"U","familyName":"Ser{i}"}},"displayName":"User {i}","active":true,"emails":[{{"value":"user{i}@example.com","type":"work","primary":true}}]}}"#
        );
        let (status, v) = scim_call(&scim, &token, "POST", "/scim/v2/acme/Users", body).await;
        assert_eq!(status, 201);
        ids.push(v["id"].as_str().expect("id").to_owned());
    }
    // Every user joins one group, 1,000 at a time, as IdPs push large groups.
    let (status, group) = scim_call(
        &scim,
        &token,
        "POST",
        "/scim/v2/acme/Groups",
        r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:Group"],"displayName":"Everyone"}"#
            .to_owned(),
    )
    .await;
    assert_eq!(status, 201);
    let group = group["id"].as_str().expect("id").to_owned();
    for chunk in ids.chunks(1_000) {
        let members: Vec<serde_json::Value> = chunk
            .iter()
            .map(|id| serde_json::json!({"value": id}))
            .collect();
        let patch = serde_json::json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": members}],
        });
        let (status, _) = scim_call(
            &scim,
            &token,
            "PATCH",
            &format!("/scim/v2/acme/Groups/{group}"),
            patch.to_string(),
        )
        .await;
        assert!(status == 200 || status == 204, "{status}");
    }
    // Some refused requests, so that "errors only" has something to find.
    for i in 0..200 {
        let body = format!(
            r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"user{i}@example.com"}}"#
        );
        let (status, _) = scim_call(&scim, &token, "POST", "/scim/v2/acme/Users", body).await;
        assert_eq!(status, 409);
    }
    scim.flush_request_log().await;
    data.analyze().await;
    let load = load_started.elapsed();

    let console = scim
        .issue_console_token("default", Some("bench"), None)
        .await
        .expect("console token")
        .token;
    let login = http::Request::post("/console/login")
        .header("host", "localhost")
        .header("origin", "http://localhost")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Bytes::from(format!("token={console}")))
        .expect("request");
    let resp = scim.handle(login).await;
    assert_eq!(resp.status(), 303);
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_owned();

    let newest = store
        .requests("acme", &scimkit_store::RequestQuery::default())
        .await
        .expect("log")
        .first()
        .map(|r| r.seq)
        .expect("a logged request");
    let last_page = users.saturating_sub(49).max(1);
    let pages = [
        ("tenants", "/console".to_owned()),
        ("tenant settings and tokens", "/console/t/acme".to_owned()),
        ("users, first page", "/console/t/acme/users".to_owned()),
        (
            "users, filter userName eq",
            "/console/t/acme/users?filter=userName+eq+%22user77%40example.com%22".to_owned(),
        ),
        (
            "users, filter userName sw (11 %)",
            "/console/t/acme/users?filter=userName+sw+%22user1%22".to_owned(),
        ),
        (
            "users, filter title eq (none; no index)",
            "/console/t/acme/users?filter=title+eq+%22CEO%22".to_owned(),
        ),
        (
            "users, filter displayName sw (all)",
            "/console/t/acme/users?filter=displayName+sw+%22User%22".to_owned(),
        ),
        ("groups", "/console/t/acme/groups".to_owned()),
        (
            "user detail (groups, roles)",
            format!("/console/t/acme/users/{}", ids[users / 2]),
        ),
        (
            "group, first page of members",
            format!("/console/t/acme/groups/{group}"),
        ),
        (
            "group, last page of members",
            format!("/console/t/acme/groups/{group}?start={last_page}"),
        ),
        ("log, newest", "/console/t/acme/log".to_owned()),
        (
            "log, errors only",
            "/console/t/acme/log?errors=1".to_owned(),
        ),
        (
            "log, Groups only",
            "/console/t/acme/log?resource=Group".to_owned(),
        ),
        ("log, one request", format!("/console/t/acme/log/{newest}")),
        ("events", "/console/t/acme/events".to_owned()),
        ("health", "/console/t/acme/health".to_owned()),
    ];

    println!(
        "scimkit-server console bench: {}, {users} users in one group, {} log entries kept; loaded in {:.1} s",
        if postgres.is_some() {
            "PostgreSQL"
        } else {
            "SQLite"
        },
        store
            .requests(
                "acme",
                &scimkit_store::RequestQuery::default().with_limit(100_000)
            )
            .await
            .map_or(0, |r| r.len()),
        load.as_secs_f64()
    );
    println!(
        "{:<40} {:>10} {:>10} {:>10}",
        "page", "p50 ms", "p99 ms", "KiB"
    );
    for (name, path) in pages {
        let mut times = Vec::with_capacity(rounds);
        let mut size = 0;
        for _ in 0..rounds + rounds / 10 {
            let req = http::Request::get(&path)
                .header("host", "localhost")
                .header("cookie", &cookie)
                .body(Bytes::new())
                .expect("request");
            let t = Instant::now();
            let resp = scim.handle(req).await;
            times.push(t.elapsed());
            assert_eq!(resp.status(), 200, "{path}");
            size = resp.body().len();
        }
        let mut times: Vec<Duration> = times.split_off(rounds / 10);
        times.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{name:<40} {:>10.2} {:>10.2} {:>10.1}",
            ms(times[times.len() / 2]),
            ms(times[times.len() * 99 / 100]),
            size as f64 / 1024.0
        );
    }
    if keep {
        println!("data kept: {}", data.describe());
    } else {
        data.remove().await;
    }
}
