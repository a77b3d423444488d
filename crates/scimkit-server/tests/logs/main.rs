//! What the logs may contain. Its own test binary: `tracing` caches per call site whether
//! anyone listens, process-wide, so a subscriber installed by one test races with the
//! other tests' threads in a shared binary.

use std::io::Write;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use scimkit_schema::Registry;
use scimkit_server::{Config, Scim};
use scimkit_store::MemoryStore;
use serde_json::json;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

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
            let registry = Registry::new();
            let scim = Scim::new(
                Arc::new(MemoryStore::new(registry.clone())),
                registry,
                Config::default(),
            );
            scim.create_tenant("acme").await.unwrap();
            let token = scim.issue_token("acme", None, None).await.unwrap().token;
            let post = |body: serde_json::Value| {
                http::Request::post("/scim/v2/acme/Users")
                    .header("authorization", format!("Bearer {token}"))
                    .header("content-type", "application/scim+json")
                    .body(Bytes::from(body.to_string()))
                    .unwrap()
            };
            let created = scim
                .handle(post(
                    json!({"schemas": [USER], "userName": "logged", "password": "hunter2-secret"}),
                ))
                .await;
            assert_eq!(created.status(), 201);
            // A failing request logs its error, still without the token.
            let dup = scim
                .handle(post(json!({"schemas": [USER], "userName": "logged"})))
                .await;
            assert_eq!(dup.status(), 409);
            token.clone()
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
