//! The events module end to end over the memory store: SET claims for each kind of event,
//! hook delivery and its resumption, push delivery to a hyper receiver on `127.0.0.1:0`
//! (retries, RFC 8935 errors), and the RFC 8936 poll endpoint.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use scimkit_schema::Registry;
use scimkit_store::{Ctx, EventKind, Member, MemoryStore, Store};
use serde_json::{Map, Value, json};

use super::*;
use crate::config::Config;
use crate::env::FixedEnv;
use crate::service::Call;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const ORIGIN: &str = "https://scim.example.com";
const ISS: &str = "https://scim.example.com/scim/v2/acme";
const NOW: &str = "2026-11-28T12:00:00.000Z";
/// `NOW` in seconds since the epoch.
const NOW_S: i64 = 1_795_867_200;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    super::lock(m)
}

/// A service with tenant `acme` and a token for it, on a clock stopped at `NOW`.
async fn service() -> (Scim, String) {
    let registry = Registry::new();
    let store = Arc::new(MemoryStore::new(registry.clone()));
    let config = Config {
        public_url: Some(ORIGIN.into()),
        rate_limit: None,
        ..Config::default()
    };
    let scim = Scim::with_env(store, registry, config, Arc::new(FixedEnv::at(NOW)));
    scim.create_tenant("acme").await.unwrap();
    let token = scim.issue_token("acme", None, None).await.unwrap().token;
    (scim, token)
}

async fn send(scim: &Scim, token: &str, method: Method, path: &str, body: Value) -> (u16, Value) {
    let body = if body.is_null() {
        Bytes::new()
    } else {
        Bytes::from(body.to_string())
    };
    let request = http::Request::builder()
        .method(method)
        .uri(format!("/scim/v2/acme{path}"))
        .header("Authorization", format!("Bearer {token}"))
        .header("Content-Type", "application/scim+json")
        .body(body)
        .unwrap();
    let response = scim.handle(request).await;
    let status = response.status().as_u16();
    let body = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
    (status, body)
}

/// Creates user `name` through the API; returns its id.
async fn create_user(scim: &Scim, token: &str, name: &str) -> String {
    let (status, body) = send(
        scim,
        token,
        Method::POST,
        "/Users",
        json!({"schemas": [USER], "userName": name, "active": true}),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn deactivate(scim: &Scim, token: &str, id: &str) {
    let patch = json!({"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let (status, body) = send(scim, token, Method::PATCH, &format!("/Users/{id}"), patch).await;
    assert_eq!(status, 200, "{body}");
}

/// Waits (up to 10 s) until `check` holds.
async fn eventually<F, Fut>(what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..1000 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

async fn status_of(handle: &DispatcherHandle, consumer: &str) -> ConsumerStatus {
    handle
        .status(Some("acme"))
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.consumer == consumer)
        .unwrap()
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

// ---------------------------------------------------------------------------------------
// SET claims

/// Every kind of event, each turned into a SET right after the change (as a dispatcher
/// does), in both forms.
#[tokio::test]
async fn set_claims_for_every_kind_of_event() {
    let store = MemoryStore::new(Registry::new());
    let at = |s: &str| Ctx::at(format!("2026-11-28T12:00:0{s}.000Z"));
    let t = "acme";
    let notice = SetParams::new(ISS, NOW_S).audience(Some("https://app.example.com"));
    let full = notice.detail(Detail::Full);
    // The SETs of the events the last change raised, as (notice, full).
    async fn sets(
        store: &MemoryStore,
        after: u64,
        notice: &SetParams<'_>,
        full: &SetParams<'_>,
    ) -> Vec<(Value, Value)> {
        let mut out = Vec::new();
        let registry = Registry::new();
        for e in store.events("acme", after, 100).await.unwrap() {
            let r = store
                .get("acme", &e.resource_type, &e.resource_id)
                .await
                .unwrap();
            out.push((
                set_claims("acme", &e, r.as_ref(), &registry, notice),
                set_claims("acme", &e, r.as_ref(), &registry, full),
            ));
        }
        out
    }

    // created (with a `returned: never` attribute, which no SET shows; the server strips
    // passwords before storing, but a SET must not rely on that)
    let body = obj(
        json!({"schemas": [USER], "userName": "bjensen", "externalId": "ext-1", "active": true, "password": "t1meMa$heen"}),
    );
    store.create(t, "User", "u1", body, &at("1")).await.unwrap();
    let [(n, f)] = sets(&store, 0, &notice, &full).await.try_into().unwrap();
    assert_eq!(
        f,
        json!({
            "iss": ISS,
            "iat": NOW_S,
            "jti": "acme.1",
            "aud": "https://app.example.com",
            "txn": "acme:User:u1:1",
            "toe": NOW_S + 1,
            "sub_id": {"format": "scim", "uri": "/Users/u1", "id": "u1", "externalId": "ext-1"},
            "events": {CREATE_FULL: {
                "version": "W/\"1\"",
                "data": {
                    "schemas": [USER],
                    "id": "u1",
                    "userName": "bjensen",
                    "externalId": "ext-1",
                    "active": true,
                    "meta": {
                        "resourceType": "User",
                        "created": "2026-11-28T12:00:01.000Z",
                        "lastModified": "2026-11-28T12:00:01.000Z",
                        "version": "W/\"1\"",
                        "location": "https://scim.example.com/scim/v2/acme/Users/u1",
                    },
                },
            }},
        })
    );
    assert_eq!(
        n["events"],
        json!({CREATE_NOTICE: {"version": "W/\"1\"", "attributes": ["id", "userName", "externalId", "active"]}})
    );
    assert_eq!(n["sub_id"], f["sub_id"]);

    // updated: a PUT-shaped event, since the outbox knows the new state, not the request.
    let body = obj(
        json!({"schemas": [USER], "userName": "bjensen", "externalId": "ext-1", "active": true, "displayName": "Babs"}),
    );
    store
        .replace(t, "User", "u1", body, None, &at("2"))
        .await
        .unwrap();
    let [(n, f)] = sets(&store, 1, &notice, &full).await.try_into().unwrap();
    assert_eq!(n["jti"], "acme.2");
    assert_eq!(n["txn"], "acme:User:u1:2");
    assert_eq!(
        n["events"],
        json!({PUT_NOTICE: {"version": "W/\"2\"", "attributes": ["userName", "externalId", "active", "displayName"]}})
    );
    assert_eq!(f["events"][PUT_FULL]["data"]["displayName"], "Babs");
    assert_eq!(f["events"][PUT_FULL]["data"]["meta"]["version"], "W/\"2\"");

    // deactivated, reactivated: the same SET in both forms.
    let body = obj(
        json!({"schemas": [USER], "userName": "bjensen", "externalId": "ext-1", "active": false}),
    );
    store
        .replace(t, "User", "u1", body, None, &at("3"))
        .await
        .unwrap();
    let [(n, f)] = sets(&store, 2, &notice, &full).await.try_into().unwrap();
    assert_eq!(n, f);
    assert_eq!(
        n,
        json!({
            "iss": ISS,
            "iat": NOW_S,
            "jti": "acme.3",
            "aud": "https://app.example.com",
            "txn": "acme:User:u1:3",
            "toe": NOW_S + 3,
            "sub_id": {"format": "scim", "uri": "/Users/u1", "id": "u1", "externalId": "ext-1"},
            "events": {DEACTIVATE: {"version": "W/\"3\""}},
        })
    );
    let body = obj(
        json!({"schemas": [USER], "userName": "bjensen", "externalId": "ext-1", "active": true}),
    );
    store
        .replace(t, "User", "u1", body, None, &at("4"))
        .await
        .unwrap();
    let [(n, f)] = sets(&store, 3, &notice, &full).await.try_into().unwrap();
    assert_eq!(n, f);
    assert_eq!(n["events"], json!({ACTIVATE: {"version": "W/\"4\""}}));

    // A group created with a member: two events of one change, one txn.
    let body =
        obj(json!({"schemas": [GROUP], "displayName": "Admins", "members": [{"value": "u1"}]}));
    store
        .create(t, "Group", "g1", body, &at("5"))
        .await
        .unwrap();
    let [(n1, f1), (n2, f2)] = sets(&store, 4, &notice, &full).await.try_into().unwrap();
    assert_eq!(
        (&n1["jti"], &n2["jti"]),
        (&json!("acme.5"), &json!("acme.6"))
    );
    assert_eq!(n1["txn"], "acme:Group:g1:1");
    assert_eq!(n2["txn"], "acme:Group:g1:1");
    assert_eq!(
        n1["sub_id"],
        json!({"format": "scim", "uri": "/Groups/g1", "id": "g1"})
    );
    assert_eq!(
        n1["events"],
        json!({CREATE_NOTICE: {"version": "W/\"1\"", "attributes": ["id", "displayName", "members"]}})
    );
    assert_eq!(
        f1["events"][CREATE_FULL]["data"]["members"][0]["value"],
        "u1"
    );
    assert_eq!(
        n2["events"],
        json!({PATCH_NOTICE: {"version": "W/\"1\"", "attributes": ["members"]}})
    );
    assert_eq!(
        f2["events"],
        json!({PATCH_FULL: {"version": "W/\"1\"", "data": {
            "schemas": [PATCH],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": "u1"}]}],
        }}})
    );

    // renamed
    let body =
        obj(json!({"schemas": [GROUP], "displayName": "Staff", "members": [{"value": "u1"}]}));
    store
        .replace(t, "Group", "g1", body, None, &at("6"))
        .await
        .unwrap();
    let [(n, f)] = sets(&store, 6, &notice, &full).await.try_into().unwrap();
    assert_eq!(
        n["events"],
        json!({PATCH_NOTICE: {"version": "W/\"2\"", "attributes": ["displayName"]}})
    );
    assert_eq!(
        f["events"],
        json!({PATCH_FULL: {"version": "W/\"2\"", "data": {
            "schemas": [PATCH],
            "Operations": [{"op": "replace", "path": "displayName", "value": "Staff"}],
        }}})
    );

    // members removed
    store
        .change_members(t, "g1", &[], &["u1".to_owned()], None, &at("7"))
        .await
        .unwrap();
    let [(n, f)] = sets(&store, 7, &notice, &full).await.try_into().unwrap();
    assert_eq!(
        n["events"],
        json!({PATCH_NOTICE: {"version": "W/\"3\"", "attributes": ["members"]}})
    );
    assert_eq!(
        f["events"],
        json!({PATCH_FULL: {"version": "W/\"3\"", "data": {
            "schemas": [PATCH],
            "Operations": [{"op": "remove", "path": "members[value eq \"u1\"]"}],
        }}})
    );
    // members added (to an existing group)
    store
        .change_members(t, "g1", &[Member::new("u1")], &[], None, &at("8"))
        .await
        .unwrap();
    let [(_, f)] = sets(&store, 8, &notice, &full).await.try_into().unwrap();
    assert_eq!(
        f["events"][PATCH_FULL]["data"]["Operations"],
        json!([{"op": "add", "path": "members", "value": [{"value": "u1"}]}])
    );

    // deleted: no payload at all (RFC 9967 §2.4.4), no externalId left to tell.
    store.delete(t, "User", "u1", None, &at("9")).await.unwrap();
    let [(n, f)] = sets(&store, 9, &notice, &full).await.try_into().unwrap();
    assert_eq!(n, f);
    assert_eq!(
        n,
        json!({
            "iss": ISS,
            "iat": NOW_S,
            "jti": "acme.10",
            "aud": "https://app.example.com",
            "txn": "acme:User:u1:deleted",
            "toe": NOW_S + 9,
            "sub_id": {"format": "scim", "uri": "/Users/u1", "id": "u1"},
            "events": {DELETE: {}},
        })
    );

    let kinds: Vec<EventKind> = store
        .events(t, 0, 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.kind)
        .collect();
    use EventKind::*;
    assert_eq!(
        kinds,
        [
            Created,
            Updated,
            Deactivated,
            Reactivated,
            Created,
            MembersAdded,
            Renamed,
            MembersRemoved,
            MembersAdded,
            Deleted
        ]
    );
}

/// A SET issued after the resource changed again describes no state it never had: the full
/// form degrades to a notice of the attributes the resource has now; once the resource is
/// gone, to an empty list.
#[tokio::test]
async fn a_late_set_does_not_invent_the_old_state() {
    let store = MemoryStore::new(Registry::new());
    let ctx = Ctx::at(NOW);
    let body = obj(json!({"schemas": [USER], "userName": "bjensen"}));
    store
        .create("acme", "User", "u1", body, &ctx)
        .await
        .unwrap();
    let body = obj(json!({"schemas": [USER], "userName": "bjensen", "title": "CEO"}));
    store
        .replace("acme", "User", "u1", body, None, &ctx)
        .await
        .unwrap();
    let created = store.events("acme", 0, 1).await.unwrap().remove(0);
    let now = store.get("acme", "User", "u1").await.unwrap();
    let full = SetParams::new(ISS, NOW_S).detail(Detail::Full);
    let registry = Registry::new();
    let claims = set_claims("acme", &created, now.as_ref(), &registry, &full);
    assert_eq!(
        claims["events"],
        json!({CREATE_NOTICE: {"version": "W/\"1\"", "attributes": ["id", "userName", "title"]}})
    );
    assert!(claims.get("aud").is_none());
    let claims = set_claims("acme", &created, None, &registry, &full);
    assert_eq!(
        claims["events"],
        json!({CREATE_NOTICE: {"version": "W/\"1\"", "attributes": []}})
    );
}

// ---------------------------------------------------------------------------------------
// Hooks

#[derive(Debug, Default)]
struct Recorder {
    /// (tenant, jti, event URI) of each event handled.
    seen: Mutex<Vec<(String, String, String)>>,
    /// Calls that are still to fail.
    fail: Mutex<u32>,
}

#[async_trait]
impl EventHook for Recorder {
    async fn on_event(&self, tenant: &str, event: &DeliveredEvent) -> Result<(), String> {
        {
            let mut fail = lock(&self.fail);
            if *fail > 0 {
                *fail -= 1;
                return Err("the session store is down".into());
            }
        }
        assert_eq!(event.jti, jti(tenant, event.event.seq));
        assert_eq!(event.claims["jti"], event.jti.as_str());
        lock(&self.seen).push((tenant.into(), event.jti.clone(), event.event_uri().into()));
        Ok(())
    }
}

fn quick(scim: &Scim) -> Dispatcher {
    Dispatcher::new(scim)
        .poll_interval(Duration::from_millis(10))
        .backoff(Duration::from_millis(20), Duration::from_millis(80))
        .push_timeout(Duration::from_secs(5))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_get_events_in_order_and_resume_after_a_restart() {
    let (scim, token) = service().await;
    let a = create_user(&scim, &token, "alice").await;
    let b = create_user(&scim, &token, "bob").await;
    deactivate(&scim, &token, &a).await;

    let first = Arc::new(Recorder::default());
    *lock(&first.fail) = 1;
    let handle = quick(&scim)
        .hook("sessions", first.clone())
        .spawn()
        .unwrap();
    eventually("the hook has seen 3 events", || async {
        lock(&first.seen).len() == 3
    })
    .await;
    eventually("the hook's position is acknowledged", || async {
        status_of(&handle, "hook:sessions").await.acked == 3
    })
    .await;
    let status = status_of(&handle, "hook:sessions").await;
    assert_eq!(
        (
            status.newest,
            status.pending,
            status.delivered,
            status.retries,
            status.attempts
        ),
        (3, 0, 3, 1, 0),
        "{status:?}"
    );
    assert_eq!(status.last_error, None);
    handle.stop().await;
    // alice was deactivated before her creation went out: that SET cannot carry her state
    // at creation, so it is a notice.
    assert_eq!(
        *lock(&first.seen),
        [
            (
                "acme".to_owned(),
                "acme.1".to_owned(),
                CREATE_NOTICE.to_owned()
            ),
            ("acme".into(), "acme.2".into(), CREATE_FULL.into()),
            ("acme".into(), "acme.3".into(), DEACTIVATE.into()),
        ]
    );

    // While no dispatcher runs, events wait in the outbox.
    let (status, _) = send(
        &scim,
        &token,
        Method::DELETE,
        &format!("/Users/{b}"),
        Value::Null,
    )
    .await;
    assert_eq!(status, 204);
    let c = create_user(&scim, &token, "carol").await;

    // A new dispatcher, the same consumer: it resumes after the acknowledged position.
    let second = Arc::new(Recorder::default());
    let handle = quick(&scim)
        .hook("sessions", second.clone())
        .spawn()
        .unwrap();
    eventually("the new hook has seen 2 events", || async {
        lock(&second.seen).len() == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    handle.stop().await;
    let seen = lock(&second.seen).clone();
    assert_eq!(
        seen,
        [
            ("acme".to_owned(), "acme.4".to_owned(), DELETE.to_owned()),
            ("acme".into(), "acme.5".into(), CREATE_FULL.into()),
        ]
    );
    assert!(!c.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_is_read_batch_after_batch_without_waiting() {
    let (scim, token) = service().await;
    for i in 0..5 {
        create_user(&scim, &token, &format!("user{i}")).await;
    }
    let hook = Arc::new(Recorder::default());
    // An interval far longer than the test: everything goes out in the first pass.
    let handle = Dispatcher::new(&scim)
        .poll_interval(Duration::from_secs(60))
        .batch(2)
        .hook("h", hook.clone())
        .spawn()
        .unwrap();
    eventually("the hook has seen 5 events", || async {
        lock(&hook.seen).len() == 5
    })
    .await;
    handle.stop().await;
    let jtis: Vec<String> = lock(&hook.seen).iter().map(|s| s.1.clone()).collect();
    assert_eq!(jtis, ["acme.1", "acme.2", "acme.3", "acme.4", "acme.5"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_hook_is_retried_and_others_go_on() {
    #[derive(Debug)]
    struct Panics(Mutex<bool>);
    #[async_trait]
    impl EventHook for Panics {
        async fn on_event(&self, _: &str, _: &DeliveredEvent) -> Result<(), String> {
            let first = std::mem::replace(&mut *lock(&self.0), false);
            assert!(!first, "the hook's first call panics");
            Ok(())
        }
    }
    let (scim, token) = service().await;
    create_user(&scim, &token, "alice").await;
    let other = Arc::new(Recorder::default());
    let handle = quick(&scim)
        .hook("panics", Arc::new(Panics(Mutex::new(true))))
        .hook("other", other.clone())
        .spawn()
        .unwrap();
    eventually("both consumers are through", || async {
        let all = handle.status(None).await.unwrap();
        all.len() == 2 && all.iter().all(|s| s.acked == 1)
    })
    .await;
    let status = status_of(&handle, "hook:panics").await;
    assert_eq!((status.retries, status.delivered), (1, 1));
    handle.stop().await;
}

// ---------------------------------------------------------------------------------------
// Push

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Received {
    content_type: String,
    accept: String,
    authorization: Option<String>,
    body: String,
}

/// A receiver on `127.0.0.1:0` answering each request with `answer(n, set)` (`n` counts
/// from 0).
async fn receiver<F>(answer: F) -> (SocketAddr, Arc<Mutex<Vec<Received>>>)
where
    F: Fn(usize, &str) -> (u16, &'static str) + Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(Mutex::new(Vec::new()));
    let answer = Arc::new(answer);
    let log = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let log = log.clone();
            let answer = answer.clone();
            let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let log = log.clone();
                let answer = answer.clone();
                async move {
                    let header = |n: &str| {
                        req.headers()
                            .get(n)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned)
                    };
                    let mut got = Received {
                        content_type: header("content-type").unwrap_or_default(),
                        accept: header("accept").unwrap_or_default(),
                        authorization: header("authorization"),
                        body: String::new(),
                    };
                    let body = req.into_body().collect().await.unwrap().to_bytes();
                    got.body = String::from_utf8(body.to_vec()).unwrap();
                    let n = {
                        let mut log = lock(&log);
                        log.push(got.clone());
                        log.len() - 1
                    };
                    let (status, body) = answer(n, &got.body);
                    let mut response = http::Response::new(Full::new(Bytes::from(body)));
                    *response.status_mut() = StatusCode::from_u16(status).unwrap();
                    if !body.is_empty() {
                        response.headers_mut().insert(
                            "content-type",
                            http::HeaderValue::from_static("application/json"),
                        );
                    }
                    Ok::<_, Infallible>(response)
                }
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, received)
}

fn jti_of(set: &str, secret: &[u8]) -> String {
    let claims = verify_hs256(set, secret).unwrap();
    claims["jti"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_retries_with_backoff_until_accepted_in_order() {
    let (scim, token) = service().await;
    let (addr, received) = receiver(|n, _| if n < 2 { (500, "") } else { (202, "") }).await;
    for name in ["alice", "bob", "carol"] {
        create_user(&scim, &token, name).await;
    }
    let target = PushTarget::new("app", format!("http://{addr}/events"), "s3cret")
        .audience("https://app.example.com")
        .authorization("Bearer receiver-token");
    let handle = quick(&scim).push(target).spawn().unwrap();
    eventually("three events are acknowledged", || async {
        status_of(&handle, "push:app").await.acked == 3
    })
    .await;
    let status = status_of(&handle, "push:app").await;
    handle.stop().await;

    assert_eq!(
        (
            status.delivered,
            status.failed,
            status.retries,
            status.attempts,
            status.pending
        ),
        (3, 0, 2, 0, 0),
        "{status:?}"
    );
    assert_eq!(status.last_error, None);
    assert_eq!(status.next_attempt, None);
    let received = lock(&received).clone();
    let jtis: Vec<String> = received
        .iter()
        .map(|r| jti_of(&r.body, b"s3cret"))
        .collect();
    // The first event twice refused (500), then accepted; the others once each, in order.
    assert_eq!(jtis, ["acme.1", "acme.1", "acme.1", "acme.2", "acme.3"]);
    for r in &received {
        assert_eq!(r.content_type, "application/secevent+jwt");
        assert_eq!(r.accept, "application/json");
        assert_eq!(r.authorization.as_deref(), Some("Bearer receiver-token"));
        let claims = verify_hs256(&r.body, b"s3cret").unwrap();
        assert_eq!(claims["aud"], "https://app.example.com");
        assert_eq!(claims["iss"], ISS);
        assert!(claims["events"].get(CREATE_NOTICE).is_some(), "{claims}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rfc_8935_error_gives_up_on_that_event_only() {
    let (scim, token) = service().await;
    let (addr, received) = receiver(|_, set| {
        if jti_of(set, b"k") == "acme.2" {
            (
                400,
                r#"{"err":"invalid_request","description":"unknown user"}"#,
            )
        } else {
            (202, "")
        }
    })
    .await;
    let a = create_user(&scim, &token, "alice").await;
    deactivate(&scim, &token, &a).await;
    create_user(&scim, &token, "bob").await;
    let handle = quick(&scim)
        .push(PushTarget::new("app", format!("http://{addr}/"), "k").detail(Detail::Full))
        .spawn()
        .unwrap();
    eventually("three events are acknowledged", || async {
        status_of(&handle, "push:app").await.acked == 3
    })
    .await;
    let status = status_of(&handle, "push:app").await;
    handle.stop().await;
    assert_eq!((status.delivered, status.failed, status.retries), (2, 1, 0));
    // The last error is cleared by the next delivery; the failure stays on record.
    assert_eq!(status.last_error, None);
    assert_eq!(status.failures.len(), 1);
    let failure = &status.failures[0];
    assert_eq!(
        (
            failure.jti.as_str(),
            failure.seq,
            failure.err.as_str(),
            failure.description.as_deref()
        ),
        ("acme.2", 2, "invalid_request", Some("unknown user"))
    );
    let jtis: Vec<String> = lock(&received)
        .iter()
        .map(|r| jti_of(&r.body, b"k"))
        .collect();
    assert_eq!(jtis, ["acme.1", "acme.2", "acme.3"]);
    // The audience defaults to the URL; the full form carries the resource (bob's: alice's
    // creation went out after her deactivation, as a notice).
    let first = verify_hs256(&lock(&received)[0].body, b"k").unwrap();
    assert_eq!(first["aud"], format!("http://{addr}/"));
    assert!(first["events"].get(CREATE_NOTICE).is_some(), "{first}");
    let third = verify_hs256(&lock(&received)[2].body, b"k").unwrap();
    assert_eq!(third["events"][CREATE_FULL]["data"]["userName"], "bob");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_receiver_is_retried_and_shown() {
    let (scim, token) = service().await;
    // A port nobody listens on: bind, note it, close.
    let addr = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap()
    };
    create_user(&scim, &token, "alice").await;
    let handle = quick(&scim)
        .push(PushTarget::new("down", format!("http://{addr}/"), "k").tenant("acme"))
        .spawn()
        .unwrap();
    eventually("two attempts failed", || async {
        status_of(&handle, "push:down").await.retries >= 2
    })
    .await;
    let status = status_of(&handle, "push:down").await;
    handle.stop().await;
    assert_eq!((status.acked, status.pending, status.delivered), (0, 1, 0));
    assert!(status.attempts >= 2);
    assert!(status.next_attempt.is_some());
    assert!(status.last_error.is_some());
}

#[tokio::test]
async fn push_targets_are_checked_when_spawned() {
    let (scim, _) = service().await;
    let err = Dispatcher::new(&scim)
        .push(PushTarget::new(
            "app",
            "https://app.example.com/events",
            "k",
        ))
        .spawn()
        .unwrap_err();
    assert!(err.to_string().contains("no TLS"), "{err}");
    let recorder: Arc<dyn EventHook> = Arc::new(Recorder::default());
    let err = Dispatcher::new(&scim)
        .hook("x", recorder.clone())
        .hook("x", recorder)
        .spawn()
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "event consumer hook:x: two consumers have this name"
    );
    let target = PushTarget::new("app", "http://x/", "very secret");
    assert!(!format!("{target:?}").contains("very secret"));
}

// ---------------------------------------------------------------------------------------
// Poll

fn poll_call(method: Method, body: Value) -> Call {
    Call {
        tenant: "acme".into(),
        token_id: "tok".into(),
        base_url: ISS.into(),
        tolerance: std::sync::Arc::new(crate::service::Tolerance {
            patch: scimkit_patch::Profile::lenient(),
            normalize: scimkit_schema::NormalizeOptions::lenient(),
        }),
        method,
        query: Vec::new(),
        headers: HeaderMap::new(),
        body: if body.is_null() {
            Bytes::new()
        } else {
            Bytes::from(body.to_string())
        },
        now: NOW.into(),
    }
}

async fn poll(scim: &Scim, body: Value) -> Value {
    let reply = serve(scim, &poll_call(Method::POST, body)).await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    reply.body.unwrap()
}

/// The jtis of a poll answer, in order, each SET checked against the secret.
fn jtis(answer: &Value) -> Vec<String> {
    answer["sets"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(jti, set)| {
            assert_eq!(jti_of(set.as_str().unwrap(), b"poll-secret"), *jti);
            jti.clone()
        })
        .collect()
}

#[tokio::test]
async fn poll_fetches_acknowledges_and_fetches_newer() {
    let (scim, token) = service().await;
    let err = serve(&scim, &poll_call(Method::POST, json!({})))
        .await
        .unwrap_err();
    assert_eq!(err.error.status, 404);

    configure(
        &scim,
        EventsConfig::polling("poll-secret")
            .audience("https://app.example.com/poll")
            .long_poll(Duration::from_millis(300)),
    );
    let a = create_user(&scim, &token, "alice").await;
    create_user(&scim, &token, "bob").await;
    deactivate(&scim, &token, &a).await;

    let answer = poll(&scim, json!({"maxEvents": 2, "returnImmediately": true})).await;
    assert_eq!(jtis(&answer), ["acme.1", "acme.2"]);
    assert_eq!(answer["moreAvailable"], true);
    let set = answer["sets"]["acme.1"].as_str().unwrap();
    let claims = verify_hs256(set, b"poll-secret").unwrap();
    assert_eq!(claims["iss"], ISS);
    assert_eq!(claims["aud"], "https://app.example.com/poll");
    assert_eq!(claims["iat"], NOW_S);
    assert!(claims["events"].get(CREATE_NOTICE).is_some());

    // Unacknowledged SETs come again.
    let again = poll(&scim, json!({"maxEvents": 2, "returnImmediately": true})).await;
    assert_eq!(jtis(&again), ["acme.1", "acme.2"]);

    // Acknowledged ones do not; a jti of another tenant or not issued yet changes nothing.
    let answer = poll(
        &scim,
        json!({"ack": ["acme.1", "acme.2", "other.3", "acme.99"], "returnImmediately": true}),
    )
    .await;
    assert_eq!(jtis(&answer), ["acme.3"]);
    assert_eq!(answer["moreAvailable"], false);
    let claims = verify_hs256(answer["sets"]["acme.3"].as_str().unwrap(), b"poll-secret").unwrap();
    assert!(claims["events"].get(DEACTIVATE).is_some());

    // Acknowledge only (maxEvents 0): nothing returned, even though nothing waits.
    let answer = poll(&scim, json!({"ack": ["acme.3"], "maxEvents": 0})).await;
    assert_eq!(answer, json!({"sets": {}, "moreAvailable": false}));

    // A long poll with nothing new waits, boundedly, and returns nothing.
    let started = std::time::Instant::now();
    let answer = poll(&scim, json!({})).await;
    assert!(started.elapsed() >= Duration::from_millis(250));
    assert_eq!(answer, json!({"sets": {}, "moreAvailable": false}));

    // A long poll returns as soon as an event arrives.
    let (scim2, token2) = (scim.clone(), token.clone());
    let later = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        create_user(&scim2, &token2, "carol").await
    });
    let answer = poll(&scim, json!({"returnImmediately": false})).await;
    later.await.unwrap();
    assert_eq!(jtis(&answer), ["acme.4"]);

    // An error report acknowledges too, and shows in the status.
    let answer = poll(
        &scim,
        json!({"setErrs": {"acme.4": {"err": "invalid_key", "description": "which key?"}}, "returnImmediately": true}),
    )
    .await;
    assert_eq!(jtis(&answer), Vec::<String>::new());
    let reply = serve(&scim, &poll_call(Method::GET, Value::Null))
        .await
        .unwrap();
    let status = reply.body.unwrap();
    assert_eq!(status["tenant"], "acme");
    assert_eq!(status["polling"], true);
    let poll_row = &status["consumers"][0];
    assert_eq!(poll_row["consumer"], "poll");
    assert_eq!(poll_row["acked"], 4);
    assert_eq!(poll_row["newest"], 4);
    assert_eq!(poll_row["pending"], 0);
    assert_eq!(poll_row["delivered"], 3);
    assert_eq!(poll_row["failed"], 1);
    assert_eq!(poll_row["failures"][0]["jti"], "acme.4");
    assert_eq!(poll_row["failures"][0]["err"], "invalid_key");
    assert_eq!(poll_row["lastError"], "acme.4: invalid_key: which key?");
}

#[tokio::test]
async fn poll_requests_are_checked() {
    let (scim, _) = service().await;
    configure(&scim, EventsConfig::polling("poll-secret").max_events(2));
    let err = serve(&scim, &poll_call(Method::POST, json!({"ack": "acme.1"})))
        .await
        .unwrap_err();
    assert_eq!(err.error.status, 400);
    let err = serve(&scim, &poll_call(Method::DELETE, Value::Null))
        .await
        .unwrap_err();
    assert_eq!(err.error.status, 405);
    // An empty body is a poll with the defaults.
    let mut call = poll_call(Method::POST, Value::Null);
    call.body = Bytes::from_static(b"{\"returnImmediately\":true}");
    assert!(serve(&scim, &call).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_endpoint_shows_the_dispatcher_of_the_service() {
    let (scim, token) = service().await;
    create_user(&scim, &token, "alice").await;
    let hook = Arc::new(Recorder::default());
    let handle = quick(&scim).hook("sessions", hook.clone()).spawn().unwrap();
    eventually("the hook has seen the event", || async {
        lock(&hook.seen).len() == 1
    })
    .await;
    eventually("acknowledged", || async {
        status_of(&handle, "hook:sessions").await.acked == 1
    })
    .await;
    let reply = serve(&scim, &poll_call(Method::GET, Value::Null))
        .await
        .unwrap();
    let body = reply.body.unwrap();
    assert_eq!(body["polling"], false);
    assert_eq!(
        body["consumers"],
        json!([{
            "consumer": "hook:sessions",
            "tenant": "acme",
            "acked": 1,
            "newest": 1,
            "pending": 0,
            "attempts": 0,
            "retries": 0,
            "lastError": null,
            "nextAttempt": null,
            "delivered": 1,
            "failed": 0,
            "failures": [],
        }])
    );
    handle.stop().await;
    // Stopped: no longer shown.
    let reply = serve(&scim, &poll_call(Method::GET, Value::Null))
        .await
        .unwrap();
    assert_eq!(reply.body.unwrap()["consumers"], json!([]));
}

#[tokio::test]
async fn newest_seq_finds_the_end_of_the_outbox() {
    let store = MemoryStore::new(Registry::new());
    assert_eq!(dispatch::newest_seq(&store, "acme", 0).await.unwrap(), 0);
    for i in 0..37 {
        let body = obj(json!({"schemas": [USER], "userName": format!("u{i}")}));
        store
            .create("acme", "User", &format!("u{i}"), body, &Ctx::at(NOW))
            .await
            .unwrap();
        let n = i + 1;
        for floor in [0, n / 2, n] {
            assert_eq!(
                dispatch::newest_seq(&store, "acme", floor).await.unwrap(),
                n
            );
        }
    }
}
