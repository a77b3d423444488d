//! Push delivery (RFC 8935): one HTTP POST of a signed SET, and what its answer means.

use std::time::Duration;

use bytes::Bytes;
use http::header;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

/// The media type of a SET (RFC 8417 §7.2).
pub(crate) const SECEVENT_JWT: &str = "application/secevent+jwt";

/// The most of a receiver's answer that is read (an RFC 8935 error is a few hundred bytes).
const MAX_ANSWER: usize = 64 * 1024;

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Accepted (RFC 8935 §2.2: 202; any 2xx is taken as accepted).
    Delivered,
    /// Refused for good: the receiver answered 400 with an RFC 8935 §2.3 error. The SET is
    /// not sent again.
    Rejected {
        err: String,
        description: Option<String>,
    },
    /// Not delivered this time (no answer, a timeout, a 5xx, a 4xx without an RFC 8935
    /// error body): sent again later.
    Retry(String),
}

/// Reads a receiver's answer.
pub(crate) fn classify(status: u16, body: &[u8]) -> Delivery {
    if (200..300).contains(&status) {
        return Delivery::Delivered;
    }
    if status == 400
        && let Ok(Value::Object(error)) = serde_json::from_slice::<Value>(body)
        && let Some(err) = error.get("err").and_then(Value::as_str)
    {
        return Delivery::Rejected {
            err: err.to_owned(),
            description: error
                .get("description")
                .and_then(Value::as_str)
                .map(str::to_owned),
        };
    }
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    let text = text.trim();
    if text.is_empty() {
        Delivery::Retry(format!("the receiver answered {status}"))
    } else {
        Delivery::Retry(format!("the receiver answered {status}: {text}"))
    }
}

/// An HTTP/1.1 client (plain `http://` only: this build has no TLS).
#[derive(Debug, Clone)]
pub(crate) struct Pusher {
    client: Client<HttpConnector, Full<Bytes>>,
    timeout: Duration,
}

impl Pusher {
    pub(crate) fn new(timeout: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeout));
        connector.set_nodelay(true);
        Self {
            client: Client::builder(TokioExecutor::new()).build(connector),
            timeout,
        }
    }

    /// POSTs the compact JWS `set` to `url`.
    pub(crate) async fn post(
        &self,
        url: &http::Uri,
        authorization: Option<&str>,
        set: String,
    ) -> Delivery {
        let mut request = http::Request::post(url.clone())
            .header(header::CONTENT_TYPE, SECEVENT_JWT)
            .header(header::ACCEPT, "application/json");
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        let request = match request.body(Full::new(Bytes::from(set))) {
            Ok(r) => r,
            Err(e) => return Delivery::Retry(format!("the request could not be built: {e}")),
        };
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| chain(&e))?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            Ok::<_, String>((status, body))
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok((status, body))) => classify(status, &body),
            Ok(Err(e)) => Delivery::Retry(e),
            Err(_) => Delivery::Retry(format!("no answer within {} ms", self.timeout.as_millis())),
        }
    }
}

/// An error and its causes, `a: b: c`.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Checks a push URL: `http://host[:port]/path`.
pub(crate) fn parse_url(url: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("{url:?} is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "{url}: this build delivers over plain http only (no TLS); point it at an \
                 HTTPS-terminating proxy on a trusted network, e.g. http://127.0.0.1:8443/events"
            ));
        }
        _ => return Err(format!("{url}: the URL must start with http://")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("{url}: the URL has no host"));
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_classified_as_rfc_8935_says() {
        assert_eq!(classify(202, b""), Delivery::Delivered);
        assert_eq!(classify(200, b"ok"), Delivery::Delivered);
        assert_eq!(
            classify(
                400,
                br#"{"err":"invalid_key","description":"Key ID 12345 has been revoked."}"#
            ),
            Delivery::Rejected {
                err: "invalid_key".into(),
                description: Some("Key ID 12345 has been revoked.".into()),
            }
        );
        assert_eq!(
            classify(400, br#"{"err":"invalid_request"}"#),
            Delivery::Rejected {
                err: "invalid_request".into(),
                description: None,
            }
        );
        // A 400 that is not an RFC 8935 error (a proxy's page) is retried, as are 5xx and
        // the other 4xx (a wrong token or URL is fixed by an operator, and then delivery
        // resumes where it stopped).
        assert_eq!(
            classify(400, b"<html>bad request</html>"),
            Delivery::Retry("the receiver answered 400: <html>bad request</html>".into())
        );
        assert_eq!(
            classify(500, b""),
            Delivery::Retry("the receiver answered 500".into())
        );
        assert!(matches!(classify(401, b""), Delivery::Retry(_)));
        assert!(matches!(classify(404, b""), Delivery::Retry(_)));
        assert!(matches!(classify(302, b""), Delivery::Retry(_)));
    }

    #[test]
    fn urls_must_be_plain_http() {
        assert!(parse_url("http://127.0.0.1:9000/events").is_ok());
        assert!(
            parse_url("https://app.example.com/events")
                .unwrap_err()
                .contains("no TLS")
        );
        assert!(parse_url("ftp://x/").is_err());
        assert!(parse_url("/events").is_err());
        assert!(parse_url("not a url").is_err());
    }
}
