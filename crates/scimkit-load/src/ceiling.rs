//! The ceiling: a minimal hyper HTTP/1.1 server that answers every request with the same
//! ~400-byte JSON body. It runs on its own multi-threaded tokio runtime, built as
//! `scimkit serve` builds its runtime, with the connection settings of `scimkit-server`'s
//! transport, so that the difference to scenario (a) is the SCIM work (routing, auth, store).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::client::SCIM_JSON;

/// A user as `GET /Users/{id}` returns it, about 400 bytes.
const BODY: &str = r#"{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"id":"0b9c3c3e-5d2a-4c8e-9f4e-1a2b3c4d5e6f","userName":"user00042@load.example","name":{"givenName":"Load","familyName":"User00042"},"displayName":"Load User 00042","emails":[{"value":"user00042@load.example","type":"work","primary":true}],"active":true,"meta":{"resourceType":"User","created":"2026-01-01T00:00:00Z","lastModified":"2026-01-01T00:00:00Z","version":"W/\"1\""}}"#;

/// The running ceiling server; dropping it stops it (outside any async context).
#[derive(Debug)]
pub(crate) struct Ceiling {
    runtime: Option<tokio::runtime::Runtime>,
    pub(crate) addr: SocketAddr,
}

impl Ceiling {
    pub(crate) fn start() -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("ceiling")
            .build()
            .map_err(|e| format!("cannot start the ceiling's runtime: {e}"))?;
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.1:0"))
            .map_err(|e| format!("binding the ceiling server: {e}"))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("the ceiling server's address: {e}"))?;
        runtime.spawn(accept(listener));
        Ok(Self {
            runtime: Some(runtime),
            addr,
        })
    }

    /// The size of every response body, in bytes.
    pub(crate) fn body_len() -> usize {
        BODY.len()
    }
}

impl Drop for Ceiling {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

async fn accept(listener: TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = service_fn(|req: hyper::Request<hyper::body::Incoming>| async move {
            // Read the request body, as the SCIM server does.
            let _ = req.into_body().collect().await;
            let mut response = hyper::Response::new(Full::new(Bytes::from_static(BODY.as_bytes())));
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(SCIM_JSON),
            );
            Ok::<_, Infallible>(response)
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(10))
            .keep_alive(true);
        let conn = builder.serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            let _ = conn.await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_json_of_about_400_bytes() {
        let value: serde_json::Value = serde_json::from_str(BODY).expect("JSON");
        assert!(value.is_object());
        assert!((380..=440).contains(&Ceiling::body_len()), "{}", BODY.len());
    }
}
