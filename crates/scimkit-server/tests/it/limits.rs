//! Request timeouts.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::support::USER;

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
