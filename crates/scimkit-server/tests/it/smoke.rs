//! Through real hyper on `127.0.0.1:0`: raw HTTP/1.1 over a TCP socket, the payload limit
//! enforced while reading the body, and graceful shutdown.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use crate::support::{Server, USER};

/// A response read off the socket.
#[derive(Debug)]
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Raw {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Sends one request (`Connection: close`) and reads the whole response.
async fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&[u8]>,
) -> Raw {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nAccept: application/scim+json\r\nConnection: close\r\n"
    );
    if let Some(body) = body {
        head.push_str(&format!(
            "Content-Type: application/scim+json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("writes");
    if let Some(body) = body {
        stream.write_all(body).await.expect("writes the body");
    }
    stream.flush().await.expect("flushes");
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut bytes))
        .await
        .expect("the server answers within 10 s")
        .expect("reads");
    parse(&bytes)
}

/// Parses an HTTP/1.1 response with a Content-Length (or read to the end).
fn parse(bytes: &[u8]) -> Raw {
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end: {}", String::from_utf8_lossy(bytes)));
    let head = std::str::from_utf8(&bytes[..end]).expect("an ASCII head");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("a status line");
    let mut parts = status_line.splitn(3, ' ');
    assert_eq!(parts.next(), Some("HTTP/1.1"), "{status_line}");
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = bytes[end + 4..].to_vec();
    if let Some(len) = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        assert!(body.len() >= len, "a short body");
        body.truncate(len);
    }
    Raw {
        status,
        headers,
        body,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_and_get_through_hyper_then_shut_down_gracefully() {
    let s = Server::with_config(|c| c.max_payload_size = 2048).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("an address");
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(scimkit_server::transport::serve(
        s.scim.clone(),
        listener,
        async {
            rx.await.ok();
        },
    ));

    let body =
        serde_json::to_vec(&json!({ "schemas": [USER], "userName": "smoke" })).expect("JSON");
    let created = exchange(addr, "POST", "/scim/v2/acme/Users", &s.token, Some(&body)).await;
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let user = created.json();
    let id = user["id"].as_str().expect("an id").to_owned();
    let location = created.header("location").expect("Location").to_owned();
    assert_eq!(location, format!("http://{addr}/scim/v2/acme/Users/{id}"));
    assert_eq!(user["meta"]["location"], location.as_str());
    assert_eq!(created.header("etag"), Some("W/\"1\""));
    assert!(
        created
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/scim+json"))
    );

    let got = exchange(
        addr,
        "GET",
        &format!("/scim/v2/acme/Users/{id}"),
        &s.token,
        None,
    )
    .await;
    assert_eq!(got.status, 200, "{}", String::from_utf8_lossy(&got.body));
    assert_eq!(got.json()["userName"], "smoke");
    assert_eq!(got.header("etag"), Some("W/\"1\""));

    // A wrong token over the socket: 401 with the challenge.
    let denied = exchange(addr, "GET", "/scim/v2/acme/Users", "wrong", None).await;
    assert_eq!(denied.status, 401);
    assert!(
        denied
            .header("www-authenticate")
            .is_some_and(|c| c.starts_with("Bearer"))
    );

    // A body over max_payload_size: 413, read off the socket.
    let big = serde_json::to_vec(&json!({
        "schemas": [USER],
        "userName": "big",
        "displayName": "x".repeat(3000),
    }))
    .expect("JSON");
    let refused = exchange(addr, "POST", "/scim/v2/acme/Users", &s.token, Some(&big)).await;
    assert_eq!(
        refused.status,
        413,
        "{}",
        String::from_utf8_lossy(&refused.body)
    );
    let error = refused.json();
    assert_eq!(
        error["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    assert_eq!(error["status"], "413");
    assert!(!error["detail"].as_str().unwrap_or_default().is_empty());

    tx.send(()).expect("the server listens for shutdown");
    let finished = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("graceful shutdown finishes within 10 s")
        .expect("the server task does not panic");
    finished.expect("serve returns Ok");
    // No new connections after shutdown.
    assert!(TcpStream::connect(addr).await.is_err());
    // Only the one user was created.
    assert_eq!(s.get("/Users").await.body["totalResults"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_an_idle_keep_alive_connection() {
    let s = Server::new().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("an address");
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(scimkit_server::transport::serve(
        s.scim.clone(),
        listener,
        async {
            rx.await.ok();
        },
    ));
    // A keep-alive connection that stays open after one answer.
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    let request = format!(
        "GET /scim/v2/acme/ServiceProviderConfig HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\r\n",
        s.token
    );
    stream.write_all(request.as_bytes()).await.expect("writes");
    let mut buf = vec![0u8; 64 * 1024];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .expect("an answer")
        .expect("reads");
    assert!(
        buf[..n].starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&buf[..n])
    );

    tx.send(()).expect("the server listens for shutdown");
    // The idle connection is closed and serve returns, well before the 30 s drain.
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("graceful shutdown closes idle connections")
        .expect("no panic")
        .expect("serve returns Ok");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the connection is closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_a_request_in_flight() {
    let s = Server::new().await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let addr = listener.local_addr().expect("an address");
    let (tx, rx) = oneshot::channel::<()>();
    let server = tokio::spawn(scimkit_server::transport::serve(
        s.scim.clone(),
        listener,
        async {
            rx.await.ok();
        },
    ));
    // A request whose body is half sent when shutdown starts.
    let body =
        serde_json::to_vec(&json!({ "schemas": [USER], "userName": "inflight" })).expect("JSON");
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    let head = format!(
        "POST /scim/v2/acme/Users HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        s.token,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("writes");
    stream.write_all(&body[..10]).await.expect("writes");
    stream.flush().await.expect("flushes");
    tokio::time::sleep(Duration::from_millis(100)).await;
    tx.send(()).expect("shutdown starts");
    tokio::time::sleep(Duration::from_millis(100)).await;
    // New connections are refused, the one in flight goes on.
    assert!(TcpStream::connect(addr).await.is_err());
    stream
        .write_all(&body[10..])
        .await
        .expect("the rest is accepted");
    let mut bytes = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut bytes))
        .await
        .expect("answered")
        .expect("reads");
    let raw = parse(&bytes);
    assert_eq!(raw.status, 201, "{}", String::from_utf8_lossy(&raw.body));
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("shutdown completes once the request is answered")
        .expect("no panic")
        .expect("serve returns Ok");
    assert_eq!(s.get("/Users").await.body["totalResults"], 1);
}
