//! The HTTP client: one keep-alive HTTP/1.1 connection per task (hyper's `conn::http1`
//! handshake over a tokio `TcpStream`), so that the number of connections is exact.

use std::fmt;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Method, StatusCode, header};
use http_body_util::{BodyExt, Empty, Full, combinators::BoxBody};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The media type of SCIM messages (RFC 7644 §3.1).
pub(crate) const SCIM_JSON: &str = "application/scim+json";

type Body = BoxBody<Bytes, std::convert::Infallible>;

/// Where requests go: the socket, the path prefix of the tenant, and the bearer token.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) addr: SocketAddr,
    /// The path of the tenant's base URL (`/scim/v2/default`), or `""` for the ceiling.
    pub(crate) base_path: String,
    pub(crate) token: Option<String>,
}

/// One request to send, relative to the target's base path.
#[derive(Debug, Clone)]
pub(crate) struct Req {
    pub(crate) method: Method,
    /// Path and query below the base path, e.g. `/Users/123`.
    pub(crate) path: String,
    pub(crate) body: Option<Bytes>,
}

impl Req {
    pub(crate) fn get(path: impl Into<String>) -> Self {
        Self {
            method: Method::GET,
            path: path.into(),
            body: None,
        }
    }

    pub(crate) fn with_json(
        method: Method,
        path: impl Into<String>,
        body: &serde_json::Value,
    ) -> Self {
        Self {
            method,
            path: path.into(),
            body: Some(Bytes::from(body.to_string())),
        }
    }
}

impl fmt::Display for Req {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// A response, read whole.
#[derive(Debug)]
pub(crate) struct Resp {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
}

impl Resp {
    /// The body as JSON, or an error naming the request.
    pub(crate) fn json(&self, req: &Req) -> Result<serde_json::Value, String> {
        serde_json::from_slice(&self.body).map_err(|e| {
            format!(
                "{req}: the response body is not JSON ({e}): {}",
                self.text()
            )
        })
    }

    /// The body as text, cut to 600 characters, for messages.
    pub(crate) fn text(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        match text.char_indices().nth(600) {
            Some((i, _)) => format!("{}… ({} bytes)", &text[..i], self.body.len()),
            None => text.into_owned(),
        }
    }
}

/// One keep-alive connection.
#[derive(Debug)]
pub(crate) struct Conn {
    target: Target,
    host: String,
    sender: SendRequest<Body>,
}

impl Conn {
    pub(crate) async fn open(target: &Target) -> Result<Self, String> {
        let stream = TcpStream::connect(target.addr)
            .await
            .map_err(|e| format!("connecting to {}: {e}", target.addr))?;
        stream
            .set_nodelay(true)
            .map_err(|e| format!("TCP_NODELAY on {}: {e}", target.addr))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("HTTP/1.1 handshake with {}: {e}", target.addr))?;
        tokio::spawn(async move {
            // Ends when the sender is dropped or the peer closes; errors surface on requests.
            let _ = conn.await;
        });
        Ok(Self {
            target: target.clone(),
            host: target.addr.to_string(),
            sender,
        })
    }

    /// Sends `req` and reads the whole response. Any status is `Ok`; `Err` is a transport
    /// failure (the connection is then unusable: open another).
    pub(crate) async fn send(&mut self, req: &Req) -> Result<Resp, String> {
        let uri = format!("{}{}", self.target.base_path, req.path);
        let mut builder = http::Request::builder()
            .method(req.method.clone())
            .uri(&uri)
            .header(header::HOST, &self.host)
            .header(header::ACCEPT, SCIM_JSON);
        if let Some(token) = &self.target.token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body: Body = match &req.body {
            Some(b) => {
                builder = builder.header(header::CONTENT_TYPE, SCIM_JSON);
                Full::new(b.clone()).boxed()
            }
            None => Empty::new().boxed(),
        };
        let request = builder
            .body(body)
            .map_err(|e| format!("{req}: cannot build the request: {e}"))?;
        self.sender
            .ready()
            .await
            .map_err(|e| format!("{req}: connection not ready: {e}"))?;
        let response = self
            .sender
            .send_request(request)
            .await
            .map_err(|e| format!("{req}: {e}"))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("{req}: reading the response body: {e}"))?
            .to_bytes();
        Ok(Resp { status, body })
    }

    /// Sends `req` and fails unless the status is `expected`.
    pub(crate) async fn expect(&mut self, req: &Req, expected: StatusCode) -> Result<Resp, String> {
        let resp = self.send(req).await?;
        if resp.status != expected {
            return Err(format!(
                "{req}: expected {expected}, got {}: {}",
                resp.status,
                resp.text()
            ));
        }
        Ok(resp)
    }
}

/// A small, fast, non-cryptographic random number generator (SplitMix64): enough to pick
/// seeded ids without a dependency.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Percent-encodes a query parameter value (everything but RFC 3986 unreserved characters).
pub(crate) fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            encode_query_value(r#"userName eq "a.b@x""#),
            "userName%20eq%20%22a.b%40x%22"
        );
    }

    #[test]
    fn below_stays_in_range() {
        let mut rng = Rng::new(7);
        assert!((0..1000).all(|_| rng.below(3) < 3));
    }
}
