//! The harness: a [`Scim`] over the memory store with a fixed clock, a tenant and its token,
//! and helpers that send a request through [`Scim::handle`] and parse the answer.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request};
use scimkit_schema::Registry;
use scimkit_server::{Config, Env, FixedEnv, Scim};
use scimkit_store::{CachedStore, MemoryStore, Store};
use serde_json::{Value, json};

pub(crate) const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub(crate) const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub(crate) const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub(crate) const LIST: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub(crate) const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub(crate) const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub(crate) const BULK_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
pub(crate) const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

/// The time the clock starts at.
pub(crate) const START: &str = "2026-11-28T12:00:00Z";

/// A service with tenant `acme` and a token for it.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) scim: Scim,
    pub(crate) env: Arc<FixedEnv>,
    /// The bearer token of `acme`.
    pub(crate) token: String,
    /// Its id.
    pub(crate) token_id: String,
}

/// A response, with its body parsed (`Value::Null` when empty).
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Value,
    pub(crate) raw: Bytes,
}

impl Reply {
    /// A header as a string.
    #[track_caller]
    pub(crate) fn header(&self, name: &str) -> &str {
        match self.headers.get(name) {
            Some(v) => v.to_str().expect("an ASCII header"),
            None => panic!(
                "no {name} header in the {} response: {:?}",
                self.status, self.headers
            ),
        }
    }

    /// The `ETag` header.
    #[track_caller]
    pub(crate) fn etag(&self) -> &str {
        self.header("etag")
    }

    /// `Resources` of a ListResponse.
    #[track_caller]
    pub(crate) fn resources(&self) -> &Vec<Value> {
        assert_eq!(self.body["schemas"], json!([LIST]), "{}", self.body);
        self.body["Resources"]
            .as_array()
            .unwrap_or_else(|| panic!("no Resources array: {}", self.body))
    }

    /// The `field` of each of `Resources`, as strings.
    #[track_caller]
    pub(crate) fn names(&self, field: &str) -> Vec<String> {
        self.resources()
            .iter()
            .map(|r| r[field].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Asserts a successful PATCH: 200 with the resource, or 204 without a body (RFC 7644
    /// §3.5.2 allows either), with the new ETag in both cases.
    #[track_caller]
    pub(crate) fn expect_patched(&self) -> &Self {
        match self.status {
            200 => assert!(self.body.get("id").is_some(), "{}", self.body),
            204 => assert!(self.raw.is_empty(), "{:?}", self.raw),
            other => panic!("expected 200 or 204, got {other}: {}", self.body),
        }
        assert!(self.etag().starts_with("W/\""), "{}", self.etag());
        self
    }

    /// Asserts the status, with the body in the message.
    #[track_caller]
    pub(crate) fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status, status,
            "expected {status}, got {}: {}",
            self.status, self.body
        );
        self
    }
}

/// Asserts an RFC 7644 §3.12 error: the status line, and a body with the Error schema,
/// `status` as a string, the given `scimType` (or none), and a non-empty `detail`.
#[track_caller]
pub(crate) fn assert_error(reply: &Reply, status: u16, scim_type: Option<&str>) {
    assert_eq!(
        reply.status, status,
        "expected {status}, got {}: {}",
        reply.status, reply.body
    );
    let body = &reply.body;
    assert_eq!(body["schemas"], json!([ERROR]), "{body}");
    assert_eq!(body["status"], json!(status.to_string()), "{body}");
    assert_eq!(
        body.get("scimType").and_then(Value::as_str),
        scim_type,
        "{body}"
    );
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(!detail.trim().is_empty(), "no detail: {body}");
    let ct = reply.header("content-type");
    assert!(
        ct.starts_with("application/scim+json") || ct.starts_with("application/json"),
        "{ct}"
    );
}

/// A request with no `Authorization` header.
pub(crate) fn bare(method: &str, uri: &str) -> http::request::Builder {
    Request::builder().method(method).uri(uri)
}

impl Server {
    /// The default configuration without a rate limit (the fixed clock never refills it).
    pub(crate) async fn new() -> Self {
        Self::with_config(|_| {}).await
    }

    /// The default configuration (rate limit off), changed by `change`.
    pub(crate) async fn with_config(change: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::default();
        config.rate_limit = None;
        change(&mut config);
        let env = Arc::new(FixedEnv::at(START));
        // Behind the cache of users that `scimkit serve` puts in front of SQLite, so that
        // every test also checks that reads follow writes through it (the cache holds users
        // read by id; the server keeps their rendered responses while the cache's entry
        // lasts). `cache.rs` checks the cache itself.
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new(Registry::new()));
        let scim = Scim::with_env(
            Arc::new(CachedStore::new(store, 1_000)),
            Registry::new(),
            config,
            Arc::clone(&env) as Arc<dyn Env>,
        );
        scim.create_tenant("acme").await.expect("tenant acme");
        let issued = scim
            .issue_token("acme", Some("tests"), None)
            .await
            .expect("a token");
        Self {
            scim,
            env,
            token: issued.token,
            token_id: issued.id,
        }
    }

    /// Creates another tenant and returns a token for it.
    pub(crate) async fn tenant(&self, name: &str) -> String {
        self.scim.create_tenant(name).await.expect("a tenant");
        self.scim
            .issue_token(name, Some("tests"), None)
            .await
            .expect("a token")
            .token
    }

    /// Moves the clock forward.
    pub(crate) fn advance(&self, by: Duration) {
        self.env.advance(by);
    }

    /// `path` under acme's base URL, unless it is absolute (`/scim/...`).
    pub(crate) fn uri(path: &str) -> String {
        if path.starts_with("/scim/") || path.starts_with("/app/") {
            path.to_owned()
        } else {
            format!("/scim/v2/acme{path}")
        }
    }

    /// Sends a built request as it is.
    pub(crate) async fn raw(&self, request: Request<Bytes>) -> Reply {
        let response = self.scim.handle(request).await;
        let status = response.status().as_u16();
        let (parts, raw) = response.into_parts();
        let body = if raw.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&raw).unwrap_or_else(|e| {
                panic!(
                    "the {status} response is not JSON ({e}): {}",
                    String::from_utf8_lossy(&raw)
                )
            })
        };
        Reply {
            status,
            headers: parts.headers,
            body,
            raw,
        }
    }

    /// Sends `method path` with `token` (none when `None`), `body` as bytes, and `headers`.
    pub(crate) async fn send_bytes(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Bytes,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut builder = bare(method, &Self::uri(path));
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        self.raw(builder.body(body).expect("a request")).await
    }

    /// Sends `method path` with acme's token, `body` as `application/scim+json` (unless
    /// `headers` name a Content-Type), and `headers`.
    pub(crate) async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        self.send_as(&self.token, method, path, body, headers).await
    }

    /// [`Self::send`] with another token.
    pub(crate) async fn send_as(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        let bytes = match body {
            Some(body) => {
                if !headers
                    .iter()
                    .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
                {
                    all.push(("content-type", "application/scim+json"));
                }
                Bytes::from(serde_json::to_vec(&body).expect("JSON"))
            }
            None => Bytes::new(),
        };
        self.send_bytes(Some(token), method, path, bytes, &all)
            .await
    }

    pub(crate) async fn get(&self, path: &str) -> Reply {
        self.send("GET", path, None, &[]).await
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> Reply {
        self.send("POST", path, Some(body), &[]).await
    }

    pub(crate) async fn put(&self, path: &str, body: Value) -> Reply {
        self.send("PUT", path, Some(body), &[]).await
    }

    pub(crate) async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send("PATCH", path, Some(body), &[]).await
    }

    pub(crate) async fn delete(&self, path: &str) -> Reply {
        self.send("DELETE", path, None, &[]).await
    }

    /// Creates user `user_name` (201 asserted) and returns it.
    pub(crate) async fn create_user(&self, user_name: &str) -> Value {
        self.create_user_with(json!({ "schemas": [USER], "userName": user_name }))
            .await
    }

    /// Creates a user from `body` (201 asserted) and returns it.
    pub(crate) async fn create_user_with(&self, body: Value) -> Value {
        let reply = self.post("/Users", body).await;
        reply.expect(201);
        reply.body
    }

    /// Creates group `name` with the given member ids (201 asserted) and returns it.
    pub(crate) async fn create_group(&self, name: &str, members: &[&str]) -> Value {
        let members: Vec<Value> = members.iter().map(|id| json!({ "value": id })).collect();
        let reply = self
            .post(
                "/Groups",
                json!({ "schemas": [GROUP], "displayName": name, "members": members }),
            )
            .await;
        reply.expect(201);
        reply.body
    }
}

/// The `id` of a resource.
#[track_caller]
pub(crate) fn id(resource: &Value) -> String {
    resource["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id: {resource}"))
        .to_owned()
}

/// A PatchOp message with `operations`.
pub(crate) fn patch_op(operations: Value) -> Value {
    json!({ "schemas": [PATCH_OP], "Operations": operations })
}

/// The `value`s of a multi-valued attribute (`members`, `groups`), sorted.
pub(crate) fn values(resource: &Value, attribute: &str) -> Vec<String> {
    let mut out: Vec<String> = resource[attribute]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|m| m["value"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Sorted strings, for comparing sets of ids.
pub(crate) fn sorted<S: AsRef<str>>(items: &[S]) -> Vec<String> {
    let mut out: Vec<String> = items.iter().map(|s| s.as_ref().to_owned()).collect();
    out.sort();
    out
}
