//! Request timeouts and what the logs may contain.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::support::{Server, USER};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_the_timeout_is_503_with_retry_after() {
    // SQLite writes go to the blocking pool, so the request waits; 300 creations take longer
    // than the timeout (1 ms).
    let registry = scimkit_schema::Registry::new();
    let store = Arc::new(scimkit_store::SqliteStore::open_in_memory(registry.clone()).unwrap());
    let mut config = scimkit_server::Config::default();
    config.request_timeout = Duration::from_millis(1);
    let scim = scimkit_server::Scim::new(store, registry, config);
    scim.create_tenant("acme").await.unwrap();
    let token = scim.issue_token("acme", None, None).await.unwrap().token;
    let operations: Vec<_> = (0..300)
        .map(|i| json!({"method": "POST", "path": "/Users", "bulkId": format!("b{i}"), "data": {"schemas": [USER], "userName": format!("slow{i}")}}))
        .collect();
    let bulk = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": operations});
    let request = http::Request::post("/scim/v2/acme/Bulk")
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/scim+json")
        .body(bytes::Bytes::from(bulk.to_string()))
        .unwrap();
    let response = scim.handle(request).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(body["status"], "503");
    assert!(
        body["detail"].as_str().unwrap().contains("longer than"),
        "{body}"
    );
}

/// A writer the test reads back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn logs_carry_the_request_id_and_never_a_secret() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let token = tracing::subscriber::with_default(subscriber, || {
        rt.block_on(async {
            let s = Server::new().await;
            s.post(
                "/Users",
                json!({"schemas": [USER], "userName": "logged", "password": "hunter2-secret"}),
            )
            .await
            .expect(201);
            // A failing request logs its error, still without the token.
            s.post("/Users", json!({"schemas": [USER], "userName": "logged"}))
                .await
                .expect(409);
            s.token.clone()
        })
    });
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("answered"), "{logs}");
    assert!(
        logs.contains("request{id="),
        "every line names its request: {logs}"
    );
    for secret in [token.as_str(), "hunter2-secret", "Bearer"] {
        assert!(!logs.contains(secret), "{secret} in the logs: {logs}");
    }
    // Every line logged while serving carries the request span.
    for line in logs
        .lines()
        .filter(|l| l.contains("scimkit_server::service"))
    {
        assert!(line.contains("request{id="), "{line}");
    }
}
