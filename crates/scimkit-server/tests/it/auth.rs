//! Bearer tokens (RFC 6750, RFC 7644 §2): missing, wrong, revoked and expired tokens.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::support::{Reply, START, Server, assert_error, bare};

/// Asserts a 401 with an RFC 7644 error body and a Bearer challenge.
#[track_caller]
fn assert_unauthorized(reply: &Reply) {
    assert_error(reply, 401, None);
    let challenge = reply.header("www-authenticate");
    assert!(challenge.starts_with("Bearer"), "{challenge}");
}

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(START)
        .expect("RFC 3339")
        .with_timezone(&Utc)
}

#[tokio::test]
async fn no_authorization_is_401_with_a_bearer_challenge() {
    let s = Server::new().await;
    let reply = s
        .raw(
            bare("GET", "/scim/v2/acme/Users")
                .body(Bytes::new())
                .expect("a request"),
        )
        .await;
    assert_unauthorized(&reply);
    // Discovery endpoints are behind the token too.
    let reply = s
        .raw(
            bare("GET", "/scim/v2/acme/ServiceProviderConfig")
                .body(Bytes::new())
                .expect("a request"),
        )
        .await;
    assert_unauthorized(&reply);
}

#[tokio::test]
async fn a_wrong_or_malformed_token_is_401() {
    let s = Server::new().await;
    let reply = s.send_as("not-a-token", "GET", "/Users", None, &[]).await;
    assert_unauthorized(&reply);
    // The right id with a wrong secret.
    let mut forged = s.token.clone();
    let last = forged.pop().expect("a character");
    forged.push(if last == '0' { '1' } else { '0' });
    assert_unauthorized(&s.send_as(&forged, "GET", "/Users", None, &[]).await);
    // Not a Bearer scheme.
    for value in [
        format!("Basic {}", s.token),
        s.token.clone(),
        "Bearer ".to_owned(),
    ] {
        let reply = s
            .raw(
                bare("GET", "/scim/v2/acme/Users")
                    .header("authorization", value.as_str())
                    .body(Bytes::new())
                    .expect("a request"),
            )
            .await;
        assert_unauthorized(&reply);
    }
    // The scheme name is case-insensitive.
    let reply = s
        .raw(
            bare("GET", "/scim/v2/acme/Users")
                .header("authorization", format!("bearer {}", s.token))
                .body(Bytes::new())
                .expect("a request"),
        )
        .await;
    reply.expect(200);
}

#[tokio::test]
async fn a_revoked_token_is_401() {
    let s = Server::new().await;
    let other = s
        .scim
        .issue_token("acme", Some("second"), None)
        .await
        .expect("a token");
    s.send_as(&other.token, "GET", "/Users", None, &[])
        .await
        .expect(200);
    assert!(
        s.scim
            .revoke_token("acme", &other.id)
            .await
            .expect("revoked")
    );
    let reply = s.send_as(&other.token, "GET", "/Users", None, &[]).await;
    assert_unauthorized(&reply);
    // The tenant's other token still works.
    s.get("/Users").await.expect(200);
    // Revoking through another tenant does nothing.
    s.tenant("globex").await;
    assert!(
        !s.scim
            .revoke_token("globex", &s.token_id)
            .await
            .expect("answered")
    );
    s.get("/Users").await.expect(200);
}

#[tokio::test]
async fn an_expired_token_is_401() {
    let s = Server::new().await;
    // Issued already expired.
    let past = s
        .scim
        .issue_token(
            "acme",
            Some("past"),
            Some(start() - chrono::Duration::hours(1)),
        )
        .await
        .expect("a token");
    assert_unauthorized(&s.send_as(&past.token, "GET", "/Users", None, &[]).await);

    // Valid for an hour, then not.
    let hour = s
        .scim
        .issue_token(
            "acme",
            Some("hour"),
            Some(start() + chrono::Duration::hours(1)),
        )
        .await
        .expect("a token");
    s.send_as(&hour.token, "GET", "/Users", None, &[])
        .await
        .expect(200);
    s.advance(Duration::from_secs(59 * 60));
    s.send_as(&hour.token, "GET", "/Users", None, &[])
        .await
        .expect(200);
    s.advance(Duration::from_secs(2 * 60));
    let reply = s.send_as(&hour.token, "GET", "/Users", None, &[]).await;
    assert_unauthorized(&reply);
    // The token without an expiry still works.
    s.get("/Users").await.expect(200);
}
