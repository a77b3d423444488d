//! Replay suites: the request sequences each identity provider documents for its whole
//! lifecycle, kept as data in `tests/idp/<idp>.json` at the workspace root (the format is in
//! `tests/idp/README.md`), replayed step by step through [`Scim::handle`] over the memory
//! store, and again through hyper on `127.0.0.1:0` over the SQLite store.
//!
//! Each step is a request and the answer the IdP needs. A step that fails does not stop the
//! replay: every failure of a suite is collected, and the test panics once at the end with
//! the suite, each failed step, its request, and the expected and actual answers. A step that
//! needs a value an earlier failed step should have saved is reported as skipped.
//!
//! [`Scim::handle`]: scimkit_server::Scim::handle

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use scimkit_schema::Registry;
use scimkit_server::{Config, Env, FixedEnv, Scim};
use scimkit_store::{MemoryStore, SqliteStore};
use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::support::START;

/// The tenant every suite runs in.
const TENANT: &str = "acme";

/// The directory of the suites.
fn suite_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/idp")
}

// ---------------------------------------------------------------------------------------
// The data format (see tests/idp/README.md).
// ---------------------------------------------------------------------------------------

/// One IdP's documented sequence.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Suite {
    /// The identity provider (and variant) the sequence comes from.
    idp: String,
    /// What the suite covers, in a sentence or two.
    #[serde(default)]
    description: Option<String>,
    /// The documents the steps are taken from.
    sources: Vec<String>,
    /// The tenant's IdP profile (`Scim::set_profile`), when the suite needs one.
    #[serde(default)]
    profile: Option<String>,
    /// Headers sent with every step (a step's own headers override them; `null` drops one).
    #[serde(default)]
    headers: BTreeMap<String, Option<String>>,
    steps: Vec<Step>,
}

/// One request and the answer the IdP needs.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    name: String,
    /// Why the IdP sends this and needs this answer.
    why: String,
    /// Where that is documented.
    source: Links,
    method: String,
    /// Relative to the tenant's base URL; the query is percent-encoded by the runner.
    path: String,
    #[serde(default)]
    headers: BTreeMap<String, Option<String>>,
    /// A JSON body, sent as compact JSON.
    #[serde(default)]
    body: Option<Value>,
    /// A body sent byte for byte (instead of `body`).
    #[serde(default)]
    raw: Option<String>,
    expect: Expect,
    /// Values to capture from the answer: variable name → JSON pointer (`/Resources/0/id`),
    /// top-level key (`id`), or `header:<name>`.
    #[serde(default)]
    save: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Links {
    One(String),
    Many(Vec<String>),
}

impl Links {
    fn all(&self) -> Vec<&str> {
        match self {
            Self::One(link) => vec![link.as_str()],
            Self::Many(links) => links.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    status: Status,
    /// A subset the answer's body must match (see [`compare`]).
    #[serde(default)]
    body: Option<Value>,
    /// JSON pointers (or top-level keys) that must be unassigned: missing, `null` or `[]`.
    #[serde(default)]
    absent: Vec<String>,
    /// Header name → value (equal, or equal up to `;` parameters), `"*"` (present), or
    /// `null` (absent).
    #[serde(default)]
    headers: BTreeMap<String, Option<String>>,
}

/// One status, or the statuses the IdP accepts.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Status {
    One(u16),
    Any(Vec<u16>),
}

impl Status {
    fn allows(&self, status: u16) -> bool {
        match self {
            Self::One(s) => *s == status,
            Self::Any(all) => all.contains(&status),
        }
    }

    /// The preferred status: the one whose body `expect.body` describes.
    fn first(&self) -> u16 {
        match self {
            Self::One(s) => *s,
            Self::Any(all) => all.first().copied().unwrap_or_default(),
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::One(s) => write!(f, "{s}"),
            Self::Any(all) => {
                let all: Vec<String> = all.iter().map(u16::to_string).collect();
                write!(f, "one of {}", all.join(", "))
            }
        }
    }
}

/// Reads and parses a suite file.
fn load(file: &str) -> Suite {
    let path = suite_dir().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let suite: Suite =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("tests/idp/{file}: {e}"));
    check_shape(file, &suite);
    suite
}

/// What every suite must hold: sources, and a reason and a link on every step.
fn check_shape(file: &str, suite: &Suite) {
    assert!(!suite.idp.trim().is_empty(), "{file}: no idp");
    assert!(!suite.sources.is_empty(), "{file}: no sources");
    if let Some(d) = &suite.description {
        assert!(!d.trim().is_empty(), "{file}: an empty description");
    }
    for link in &suite.sources {
        assert!(link.starts_with("https://"), "{file}: source {link:?}");
    }
    let mut names = std::collections::BTreeSet::new();
    for (i, step) in suite.steps.iter().enumerate() {
        let at = format!("{file} step {i} ({})", step.name);
        assert!(names.insert(step.name.as_str()), "{at}: duplicate name");
        assert!(!step.why.trim().is_empty(), "{at}: no why");
        let links = step.source.all();
        assert!(!links.is_empty(), "{at}: no source");
        for link in links {
            assert!(link.starts_with("https://"), "{at}: source {link:?}");
        }
        assert!(
            step.body.is_none() || step.raw.is_none(),
            "{at}: both body and raw"
        );
        assert!(step.path.starts_with('/'), "{at}: a path starts with /");
        if let Status::Any(all) = &step.expect.status {
            assert!(!all.is_empty(), "{at}: an empty status list");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Substitution and matching.
// ---------------------------------------------------------------------------------------

/// Replaces `${name}` in `text`. A missing variable is an `Err` naming it.
fn subst_str(text: &str, vars: &BTreeMap<String, Value>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            return Err(format!("an unclosed ${{ in {text:?}"));
        };
        let name = &after[..end];
        match vars.get(name) {
            Some(Value::String(s)) => out.push_str(s),
            Some(other) => out.push_str(&other.to_string()),
            None => return Err(format!("${{{name}}}")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Replaces `${name}` in every string and key of `value`; a string that is exactly
/// `"${name}"` becomes the saved value itself (which need not be a string).
fn subst(value: &Value, vars: &BTreeMap<String, Value>) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix("${").and_then(|r| r.strip_suffix('}'))
                && !name.contains(['{', '}', '$'])
            {
                vars.get(name)
                    .cloned()
                    .ok_or_else(|| format!("${{{name}}}"))?
            } else {
                Value::String(subst_str(s, vars)?)
            }
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| subst(v, vars))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (k, v) in map {
                out.insert(subst_str(k, vars)?, subst(v, vars)?);
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// The JSON type name of a value, as `{"$type": …}` spells it.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Compares `actual` with the expected subset, pushing one line per mismatch.
///
/// - An object matches when every expected key is present and its value matches (extra
///   keys are fine).
/// - An array matches an array of the **same length** whose elements can be paired with
///   the expected ones in any order (each expected element takes the first unpaired actual
///   element it matches).
/// - `{"$contains": [..]}` matches an array that has each listed element (any order, any
///   length).
/// - `{"$type": "string"}` matches any value of that JSON type.
/// - Anything else must be equal.
fn compare(expected: &Value, actual: &Value, at: &str, out: &mut Vec<String>) {
    if let Value::Object(map) = expected
        && map.len() == 1
    {
        if let Some(Value::String(ty)) = map.get("$type") {
            if type_name(actual) != ty {
                out.push(format!("{at}: expected a {ty}, got {actual}"));
            }
            return;
        }
        if let Some(wanted) = map.get("$contains") {
            let (Value::Array(wanted), Value::Array(items)) = (wanted, actual) else {
                out.push(format!(
                    "{at}: expected an array containing {wanted}, got {actual}"
                ));
                return;
            };
            for w in wanted {
                if !items.iter().any(|a| matches(w, a)) {
                    out.push(format!("{at}: no element matches {w}"));
                }
            }
            return;
        }
    }
    match (expected, actual) {
        (Value::Object(want), Value::Object(have)) => {
            for (key, w) in want {
                let here = format!("{at}/{key}");
                match have.get(key) {
                    Some(a) => compare(w, a, &here, out),
                    None => out.push(format!("{here}: missing (expected {w})")),
                }
            }
        }
        (Value::Array(want), Value::Array(have)) => {
            if want.len() != have.len() {
                out.push(format!(
                    "{at}: expected {} elements, got {}: {actual}",
                    want.len(),
                    have.len()
                ));
                return;
            }
            let mut used = vec![false; have.len()];
            for (i, w) in want.iter().enumerate() {
                let found = have
                    .iter()
                    .enumerate()
                    .position(|(j, a)| !used[j] && matches(w, a));
                match found {
                    Some(j) => used[j] = true,
                    None => out.push(format!("{at}/{i}: no element matches {w}")),
                }
            }
        }
        _ if expected == actual => {}
        _ => out.push(format!("{at}: expected {expected}, got {actual}")),
    }
}

fn matches(expected: &Value, actual: &Value) -> bool {
    let mut out = Vec::new();
    compare(expected, actual, "", &mut out);
    out.is_empty()
}

/// A JSON pointer (`/a/0/b`), or a top-level key.
fn locate<'v>(body: &'v Value, at: &str) -> Option<&'v Value> {
    if at.starts_with('/') {
        body.pointer(at)
    } else {
        body.get(at)
    }
}

/// Percent-encodes the query of `path` (spaces, quotes, brackets, `+`…), leaving `&`, `=`
/// and existing `%XX` escapes alone so that pre-encoded queries pass unchanged.
fn encode_path(path: &str) -> String {
    let Some((before, query)) = path.split_once('?') else {
        return path.to_owned();
    };
    let mut out = String::with_capacity(path.len() + 16);
    out.push_str(before);
    out.push('?');
    for b in query.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~&=%".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Transports.
// ---------------------------------------------------------------------------------------

/// An answer, from either transport.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Where a suite is replayed.
#[derive(Debug, Clone, Copy)]
enum Transport {
    /// [`Scim::handle`] over the memory store with a fixed clock.
    Core,
    /// hyper on `127.0.0.1:0` over the in-memory SQLite store, raw HTTP/1.1 over TCP.
    Http,
}

/// A running server for one suite.
#[derive(Debug)]
enum Target {
    Core(Scim),
    Http {
        addr: SocketAddr,
        stop: Option<oneshot::Sender<()>>,
        task: tokio::task::JoinHandle<std::io::Result<()>>,
    },
}

/// The server's default configuration, without the rate limit (suites send bursts).
fn config() -> Config {
    let mut config = Config::default();
    config.rate_limit = None;
    config
}

/// A fresh server with tenant `acme`; returns it and the tenant's token.
async fn start(transport: Transport, profile: Option<&str>) -> (Target, String) {
    let registry = Registry::new();
    let scim = match transport {
        Transport::Core => Scim::with_env(
            Arc::new(MemoryStore::new(registry.clone())),
            registry,
            config(),
            Arc::new(FixedEnv::at(START)) as Arc<dyn Env>,
        ),
        Transport::Http => Scim::new(
            Arc::new(SqliteStore::open_in_memory(registry.clone()).expect("an SQLite store")),
            registry,
            config(),
        ),
    };
    scim.create_tenant(TENANT).await.expect("tenant acme");
    if let Some(profile) = profile {
        scim.set_profile(TENANT, Some(profile))
            .await
            .expect("a known profile");
    }
    let token = scim
        .issue_token(TENANT, Some("idp replay"), None)
        .await
        .expect("a token")
        .token;
    let target = match transport {
        Transport::Core => Target::Core(scim),
        Transport::Http => {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
            let addr = listener.local_addr().expect("an address");
            let (tx, rx) = oneshot::channel::<()>();
            let task = tokio::spawn(scimkit_server::transport::serve(scim, listener, async {
                rx.await.ok();
            }));
            Target::Http {
                addr,
                stop: Some(tx),
                task,
            }
        }
    };
    (target, token)
}

impl Target {
    /// The tenant's base URL as the server writes it in `Location` and `meta.location`.
    fn base_url(&self) -> String {
        match self {
            Self::Core(_) => format!("http://localhost/scim/v2/{TENANT}"),
            Self::Http { addr, .. } => format!("http://{addr}/scim/v2/{TENANT}"),
        }
    }

    async fn send(
        &self,
        method: &str,
        uri: &str,
        headers: &[(String, String)],
        body: Vec<u8>,
    ) -> Answer {
        match self {
            Self::Core(scim) => {
                let mut builder = ::http::Request::builder().method(method).uri(uri);
                for (n, v) in headers {
                    builder = builder.header(n.as_str(), v.as_str());
                }
                let request = builder.body(Bytes::from(body)).expect("a request");
                let response = scim.handle(request).await;
                let (parts, body) = response.into_parts();
                Answer {
                    status: parts.status.as_u16(),
                    headers: parts
                        .headers
                        .iter()
                        .map(|(n, v)| {
                            (
                                n.as_str().to_owned(),
                                String::from_utf8_lossy(v.as_bytes()).into_owned(),
                            )
                        })
                        .collect(),
                    body: body.to_vec(),
                }
            }
            Self::Http { addr, .. } => exchange(*addr, method, uri, headers, &body).await,
        }
    }

    /// Shuts the HTTP server down and waits for it.
    async fn stop(self) {
        if let Self::Http { stop, task, .. } = self {
            if let Some(tx) = stop {
                let _ = tx.send(());
            }
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .expect("the server shuts down")
                .expect("no panic")
                .expect("serve returns Ok");
        }
    }
}

/// Sends one request over a new connection (`Connection: close`) and reads the answer.
async fn exchange(
    addr: SocketAddr,
    method: &str,
    uri: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Answer {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    let mut head = format!("{method} {uri} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (n, v) in headers {
        let _ = write!(head, "{n}: {v}\r\n");
    }
    if !body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH") {
        let _ = write!(head, "Content-Length: {}\r\n", body.len());
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("writes");
    stream.write_all(body).await.expect("writes the body");
    stream.flush().await.expect("flushes");
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut bytes))
        .await
        .expect("the server answers within 10 s")
        .expect("reads");
    parse_http(&bytes)
}

/// Parses an HTTP/1.1 response (Content-Length, chunked, or read to the end).
fn parse_http(bytes: &[u8]) -> Answer {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end: {}", String::from_utf8_lossy(bytes)));
    let head = std::str::from_utf8(&bytes[..end]).expect("an ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("a status line");
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status code in {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &bytes[end + 4..];
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let body = if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        dechunk(rest)
    } else if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        assert!(rest.len() >= len, "a short body");
        rest[..len].to_vec()
    } else {
        rest.to_vec()
    };
    Answer {
        status,
        headers,
        body,
    }
}

/// Decodes a chunked body.
fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size line");
        let size_text = std::str::from_utf8(&rest[..line_end]).expect("ASCII");
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .expect("a hex chunk size");
        rest = &rest[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

// ---------------------------------------------------------------------------------------
// The replay.
// ---------------------------------------------------------------------------------------

/// Longest body text shown in a failure.
const SHOW: usize = 3000;

fn show(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "(empty)".to_owned();
    }
    let text = match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_default(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    };
    if text.len() > SHOW {
        let mut cut = SHOW;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}… ({} bytes)", &text[..cut], text.len())
    } else {
        text
    }
}

/// The request a step sends, after substitution.
#[derive(Debug)]
struct Request {
    uri: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// What a step expects, after substitution (which happens after the step's own `save`, so
/// that it can name values of the same answer, such as `${base_url}/Users/${user_id}`).
#[derive(Debug)]
struct Wanted {
    body: Option<Value>,
    headers: Vec<(String, Option<String>)>,
    absent: Vec<String>,
}

fn request(
    suite: &Suite,
    step: &Step,
    token: &str,
    vars: &BTreeMap<String, Value>,
) -> Result<Request, String> {
    let path = subst_str(&step.path, vars)?;
    let uri = format!("/scim/v2/{TENANT}{}", encode_path(&path));
    let body = match (&step.body, &step.raw) {
        (Some(body), _) => serde_json::to_vec(&subst(body, vars)?).expect("JSON"),
        (None, Some(raw)) => subst_str(raw, vars)?.into_bytes(),
        (None, None) => Vec::new(),
    };
    // Defaults, then the suite's headers, then the step's; `null` removes a header.
    let mut merged: Vec<(String, Option<String>)> =
        vec![("Authorization".into(), Some(format!("Bearer {token}")))];
    if !body.is_empty() {
        merged.push(("Content-Type".into(), Some("application/scim+json".into())));
    }
    for (name, value) in suite.headers.iter().chain(&step.headers) {
        merged.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        merged.push((name.clone(), value.clone()));
    }
    let mut headers = Vec::new();
    for (name, value) in merged {
        if let Some(value) = value {
            headers.push((name, subst_str(&value, vars)?));
        }
    }
    Ok(Request { uri, headers, body })
}

fn wanted(step: &Step, vars: &BTreeMap<String, Value>) -> Result<Wanted, String> {
    let body = step
        .expect
        .body
        .as_ref()
        .map(|b| subst(b, vars))
        .transpose()?;
    let mut headers = Vec::new();
    for (name, value) in &step.expect.headers {
        let value = value.as_deref().map(|v| subst_str(v, vars)).transpose()?;
        headers.push((name.clone(), value));
    }
    let absent = step
        .expect
        .absent
        .iter()
        .map(|a| subst_str(a, vars))
        .collect::<Result<_, _>>()?;
    Ok(Wanted {
        body,
        headers,
        absent,
    })
}

/// Checks an answer against a step's expectations; returns one line per mismatch.
fn check(step: &Step, wanted: &Wanted, answer: &Answer) -> Vec<String> {
    let mut out = Vec::new();
    if !step.expect.status.allows(answer.status) {
        out.push(format!(
            "status: expected {}, got {}",
            step.expect.status, answer.status
        ));
    }
    let json = if answer.body.is_empty() {
        None
    } else {
        match serde_json::from_slice::<Value>(&answer.body) {
            Ok(v) => Some(v),
            Err(e) => {
                out.push(format!("the body is not JSON: {e}"));
                None
            }
        }
    };
    if answer.status == 204 && !answer.body.is_empty() {
        out.push("a 204 answer has a body".to_owned());
    }
    // With alternatives (`[200, 204]`), the body is checked only against the first.
    if step.expect.status.first() == answer.status {
        if let Some(want) = &wanted.body {
            match &json {
                Some(have) => compare(want, have, "body", &mut out),
                None => out.push(format!("body: expected {want}, got no JSON body")),
            }
        }
        // Unassigned: missing, `null`, or `[]` (RFC 7643 §2.5 makes them the same state).
        for at in &wanted.absent {
            match json.as_ref().and_then(|j| locate(j, at)) {
                None | Some(Value::Null) => {}
                Some(Value::Array(items)) if items.is_empty() => {}
                Some(have) => out.push(format!("body {at}: expected absent, got {have}")),
            }
        }
    }
    for (name, want) in &wanted.headers {
        let have = answer.header(name);
        match (want.as_deref(), have) {
            (None, None) | (Some("*"), Some(_)) => {}
            (None, Some(h)) => out.push(format!("header {name}: expected absent, got {h:?}")),
            (Some(w), Some(h))
                if h == w
                    || h.strip_prefix(w)
                        .is_some_and(|r| r.trim_start().starts_with(';')) => {}
            (Some(w), h) => out.push(format!("header {name}: expected {w:?}, got {h:?}")),
        }
    }
    out
}

/// Replays one suite file on one transport and panics with every failed step.
async fn replay(file: &str, transport: Transport) {
    let suite = load(file);
    let (target, token) = start(transport, suite.profile.as_deref()).await;
    let mut vars: BTreeMap<String, Value> = BTreeMap::new();
    vars.insert("base_url".into(), Value::String(target.base_url()));
    vars.insert("token".into(), Value::String(token.clone()));
    let mut failures = Vec::new();
    for (i, step) in suite.steps.iter().enumerate() {
        let title = format!("step {} `{}`", i + 1, step.name);
        let request = match request(&suite, step, &token, &vars) {
            Ok(r) => r,
            Err(missing) => {
                failures.push(format!(
                    "{title}: skipped: needs {missing}, which an earlier failed step should have saved\n"
                ));
                continue;
            }
        };
        let answer = target
            .send(
                &step.method,
                &request.uri,
                &request.headers,
                request.body.clone(),
            )
            .await;
        let mut mismatches = Vec::new();
        let json = serde_json::from_slice::<Value>(&answer.body).ok();
        for (var, at) in &step.save {
            let value = match at.strip_prefix("header:") {
                Some(name) => answer.header(name).map(|h| Value::String(h.to_owned())),
                None => json.as_ref().and_then(|j| locate(j, at).cloned()),
            };
            match value {
                Some(v) => {
                    vars.insert(var.clone(), v);
                }
                None => mismatches.push(format!("save {var}: nothing at {at}")),
            }
        }
        let wanted = match wanted(step, &vars) {
            Ok(w) => w,
            Err(missing) => {
                mismatches.push(format!("the expectation needs {missing}"));
                Wanted {
                    body: None,
                    headers: Vec::new(),
                    absent: Vec::new(),
                }
            }
        };
        mismatches.extend(check(step, &wanted, &answer));
        if mismatches.is_empty() {
            continue;
        }
        let mut report = String::new();
        let _ = writeln!(report, "{title} failed");
        let _ = writeln!(report, "  why: {}", step.why);
        let _ = writeln!(report, "  source: {}", step.source.all().join(" "));
        let _ = writeln!(report, "  request: {} {}", step.method, request.uri);
        if !request.body.is_empty() {
            let _ = writeln!(report, "  request body: {}", show(&request.body));
        }
        let _ = writeln!(report, "  mismatches:");
        for m in &mismatches {
            let _ = writeln!(report, "    - {m}");
        }
        let _ = writeln!(report, "  expected status: {}", step.expect.status);
        if let Some(want) = &wanted.body {
            let _ = writeln!(
                report,
                "  expected body (subset): {}",
                serde_json::to_string_pretty(want).unwrap_or_default()
            );
        }
        let _ = writeln!(report, "  actual status: {}", answer.status);
        let _ = writeln!(report, "  actual body: {}", show(&answer.body));
        failures.push(report);
    }
    target.stop().await;
    assert!(
        failures.is_empty(),
        "\n{} ({file}) via {transport:?}: {} of {} steps failed\n\n{}",
        suite.idp,
        failures.len(),
        suite.steps.len(),
        failures.join("\n")
    );
}

/// One test per suite per transport, so that CI output names the IdP.
macro_rules! suites {
    ($($name:ident => $file:literal,)*) => {
        /// The suite files the tests below replay.
        const FILES: &[&str] = &[$($file),*];

        mod core {
            $(
                #[tokio::test]
                async fn $name() {
                    super::replay($file, super::Transport::Core).await;
                }
            )*
        }

        mod http {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::replay($file, super::Transport::Http).await;
                }
            )*
        }
    };
}

suites! {
    entra => "entra.json",
    entra_aadoptscim062020 => "entra-aadoptscim062020.json",
    okta => "okta.json",
    google_workspace => "google-workspace.json",
    onelogin => "onelogin.json",
    jumpcloud => "jumpcloud.json",
    ping => "ping.json",
    rippling => "rippling.json",
    generic_rfc => "generic-rfc.json",
}

#[test]
fn every_suite_file_is_replayed() {
    let mut on_disk: Vec<String> = std::fs::read_dir(suite_dir())
        .expect("tests/idp exists")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = FILES.iter().map(|f| (*f).to_owned()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "add new suite files to the suites! list");
}

#[test]
fn the_matcher_pairs_arrays_and_reports_paths() {
    use serde_json::json;
    let actual = json!({"a": [{"v": 1, "x": 0}, {"v": 2}], "b": "s", "c": [1, 2, 3]});
    assert!(matches(&json!({"a": [{"v": 2}, {"v": 1}]}), &actual));
    assert!(!matches(&json!({"a": [{"v": 2}]}), &actual));
    assert!(matches(&json!({"c": {"$contains": [3, 1]}}), &actual));
    assert!(matches(&json!({"b": {"$type": "string"}}), &actual));
    assert!(!matches(&json!({"d": null}), &actual));
    let mut out = Vec::new();
    compare(
        &json!({"a": [{"v": 1}, {"v": 3}]}),
        &actual,
        "body",
        &mut out,
    );
    assert_eq!(
        out,
        vec!["body/a/1: no element matches {\"v\":3}".to_owned()]
    );
    assert_eq!(
        encode_path("/Users?filter=userName eq \"a+b@x\"&count=1"),
        "/Users?filter=userName%20eq%20%22a%2Bb%40x%22&count=1"
    );
    let mut vars = BTreeMap::new();
    vars.insert("id".to_owned(), json!("42"));
    vars.insert("n".to_owned(), json!(7));
    assert_eq!(
        subst(&json!({"p": "/Users/${id}", "n": "${n}"}), &vars),
        Ok(json!({"p": "/Users/42", "n": 7}))
    );
    assert_eq!(subst_str("${nope}", &vars), Err("${nope}".to_owned()));
}
