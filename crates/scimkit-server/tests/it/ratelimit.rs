//! Per-token rate limits: 429 with `Retry-After` (RFC 6585 §4), refilled by the clock.

use std::time::Duration;

use scimkit_server::RateLimit;

use crate::support::{Server, assert_error};

async fn limited() -> Server {
    Server::with_config(|c| c.rate_limit = Some(RateLimit::new(1.0, 2))).await
}

#[tokio::test]
async fn the_request_past_the_burst_is_429_with_retry_after() {
    let s = limited().await;
    s.get("/Users").await.expect(200);
    s.get("/Users").await.expect(200);
    let reply = s.get("/Users").await;
    assert_error(&reply, 429, None);
    let retry: u64 = reply
        .header("retry-after")
        .parse()
        .expect("Retry-After in seconds");
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    // Still limited without time passing.
    assert_error(&s.get("/Users").await, 429, None);
}

#[tokio::test]
async fn a_second_later_a_request_passes() {
    let s = limited().await;
    s.get("/Users").await.expect(200);
    s.get("/Users").await.expect(200);
    assert_error(&s.get("/Users").await, 429, None);
    s.advance(Duration::from_secs(1));
    s.get("/Users").await.expect(200);
    assert_error(&s.get("/Users").await, 429, None);
    // A long pause refills the whole burst, no more.
    s.advance(Duration::from_secs(60));
    s.get("/Users").await.expect(200);
    s.get("/Users").await.expect(200);
    assert_error(&s.get("/Users").await, 429, None);
}

#[tokio::test]
async fn each_token_has_its_own_bucket() {
    let s = limited().await;
    let second = s
        .scim
        .issue_token("acme", Some("second"), None)
        .await
        .expect("a token");
    let globex = s.tenant("globex").await;
    s.get("/Users").await.expect(200);
    s.get("/Users").await.expect(200);
    assert_error(&s.get("/Users").await, 429, None);
    s.send_as(&second.token, "GET", "/Users", None, &[])
        .await
        .expect(200);
    s.send_as(&globex, "GET", "/scim/v2/globex/Users", None, &[])
        .await
        .expect(200);
}

#[tokio::test]
async fn unauthenticated_requests_do_not_drain_a_tokens_bucket() {
    let s = limited().await;
    for _ in 0..5 {
        assert_error(
            &s.send_as("wrong", "GET", "/Users", None, &[]).await,
            401,
            None,
        );
    }
    s.get("/Users").await.expect(200);
    s.get("/Users").await.expect(200);
}
