//! The hyper/tokio glue: accept connections, read each request body (up to the payload
//! limit), hand the request to [`Scim::handle`], write the response, and shut down
//! gracefully. The only module that knows about sockets.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::service::Scim;

/// How long in-flight requests may take to finish once shutdown starts.
const DRAIN: Duration = Duration::from_secs(30);

/// Serves `scim` on `listener` until `shutdown` completes, then stops accepting and waits
/// (up to 30 s) for the requests in flight.
pub async fn serve(
    scim: Scim,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(x) => x,
                    Err(e) => {
                        // Out of file descriptors and the like: wait, and go on.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let scim = scim.clone();
                let service = service_fn(move |req| {
                    let scim = scim.clone();
                    async move { Ok::<_, std::convert::Infallible>(answer(&scim, req, peer).await) }
                });
                let mut builder = hyper::server::conn::http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(10))
                    .keep_alive(true);
                let conn = builder.serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
            () = &mut shutdown => {
                tracing::info!("shutting down: no new connections; finishing requests in flight");
                break;
            }
        }
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all requests finished"),
        () = tokio::time::sleep(DRAIN) => tracing::warn!("requests still running after {} s; stopping", DRAIN.as_secs()),
    }
    Ok(())
}

/// Reads the body (413 past the limit) and serves the request.
async fn answer(
    scim: &Scim,
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
) -> hyper::Response<Full<Bytes>> {
    let limit = scim.config().max_payload_size;
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, limit).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let too_large = e
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            let (status, detail) = if too_large {
                (
                    413,
                    format!(
                        "the request body is larger than {limit} bytes, the most this server accepts"
                    ),
                )
            } else {
                (400, "the request body could not be read".to_owned())
            };
            tracing::info!(%peer, status, "body refused");
            let error = scimkit_schema::ScimError::new(status, None, detail);
            let body = serde_json::to_vec(&error).unwrap_or_default();
            let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
            *response.status_mut() =
                http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_REQUEST);
            response.headers_mut().insert(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static(crate::service::SCIM_JSON),
            );
            return response;
        }
    };
    let response = scim.handle(http::Request::from_parts(parts, body)).await;
    response.map(Full::new)
}

/// Binds `addr` and serves until Ctrl-C or SIGTERM.
pub async fn run(scim: Scim, addr: SocketAddr) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "listening");
    serve(scim, listener, shutdown_signal()).await
}

/// Completes on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
