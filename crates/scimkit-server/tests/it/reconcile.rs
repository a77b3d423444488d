//! Reconciliation: drift between the directory and the application, and its fixes.

use std::time::Duration;

use serde_json::json;

use crate::support::{Server, USER, assert_error, id, patch_op};
use scimkit_server::{JitMode, JitSettings};

#[tokio::test]
async fn drift_is_reported_and_fixed_when_asked() {
    let s = Server::new().await;
    let app = s
        .scim
        .issue_app_token("acme", None, None)
        .await
        .unwrap()
        .token;
    s.scim
        .set_jit("acme", &JitSettings::new(JitMode::Hybrid))
        .await
        .unwrap();
    let a = id(&s
        .create_user_with(
            json!({"schemas": [USER], "userName": "a", "emails": [{"value": "X@example.com"}]}),
        )
        .await);
    let b = id(&s
        .create_user_with(
            json!({"schemas": [USER], "userName": "b", "emails": [{"value": "x@example.com"}]}),
        )
        .await);
    let c = id(&s
        .create_user_with(json!({"schemas": [USER], "userName": "c", "displayName": "Sam Lee"}))
        .await);
    let d = id(&s
        .create_user_with(json!({"schemas": [USER], "userName": "d", "name": {"givenName": "Sam", "familyName": "Lee"}}))
        .await);
    let login = s
        .send_as(
            &app,
            "POST",
            "/app/v1/acme/logins",
            Some(json!({"subject": "sub-j", "email": "j@example.com", "emailVerified": true})),
            &[],
        )
        .await;
    let j = login.body["access"]["id"].as_str().unwrap().to_owned();
    // Three hours later the IdP changes a and deactivates b; c and d are stale.
    s.advance(Duration::from_secs(3 * 3600));
    s.patch(
        &format!("/Users/{a}"),
        patch_op(json!([{"op": "replace", "path": "title", "value": "Eng"}])),
    )
    .await
    .expect(200);
    s.patch(
        &format!("/Users/{b}"),
        patch_op(json!([{"op": "replace", "path": "active", "value": false}])),
    )
    .await
    .expect(200);

    let ask = json!({"appActive": ["A", "ghost", b], "staleAfterSeconds": 7200, "fix": ["deactivate-jit-only"]});
    let r = s
        .send_as(
            &app,
            "POST",
            "/app/v1/acme/reports/reconciliation",
            Some(ask.clone()),
            &[],
        )
        .await;
    r.expect(200);
    let rep = &r.body;
    assert_eq!(rep["users"], 5);
    let ids = |v: &serde_json::Value| -> Vec<String> {
        let mut out: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_owned())
            .collect();
        out.sort();
        out
    };
    assert_eq!(ids(&rep["jitOnly"]), vec![j.clone()]);
    let mut stale = vec![c.clone(), d.clone()];
    stale.sort();
    assert_eq!(ids(&rep["stale"]), stale, "{rep}");
    assert_eq!(
        rep["activeInAppOnly"],
        json!([{"key": "ghost", "reason": "missing"}, {"key": b, "reason": "inactive", "id": b}])
    );
    let dups: Vec<(String, String)> = rep["duplicates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["by"].as_str().unwrap().to_owned(),
                d["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        dups,
        [
            ("email".to_owned(), "x@example.com".to_owned()),
            ("name".to_owned(), "sam lee".to_owned())
        ]
    );
    // A dry run proposes, changes nothing.
    assert_eq!(
        rep["fixes"],
        json!([{"id": j, "fix": "deactivate-jit-only", "action": "deactivate", "applied": false}])
    );
    assert_eq!(s.get(&format!("/Users/{j}")).await.body["active"], true);

    // Applied: the account is deactivated, audited, and raises an event.
    let mut apply = ask;
    apply["apply"] = json!(true);
    let r = s
        .send_as(
            &app,
            "POST",
            "/app/v1/acme/reports/reconciliation",
            Some(apply),
            &[],
        )
        .await;
    assert_eq!(r.body["fixes"][0]["applied"], true, "{}", r.body);
    assert_eq!(s.get(&format!("/Users/{j}")).await.body["active"], false);
    let events = s.scim.store().events("acme", 0, 1000).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.resource_id == j && e.kind.as_str() == "deactivated")
    );
    let audit = s.scim.store().audit("acme", 5).await.unwrap();
    assert_eq!(
        (audit[0].resource_id.as_str(), audit[0].token_id.is_some()),
        (j.as_str(), true)
    );
    // Nothing left to fix.
    let again = s.scim.reconcile("acme", &Default::default()).await.unwrap();
    assert!(again.fixes.is_empty());
}

#[tokio::test]
async fn reconciliation_requests_are_checked() {
    let s = Server::new().await;
    let app = s
        .scim
        .issue_app_token("acme", None, None)
        .await
        .unwrap()
        .token;
    let r = s
        .send_as(
            &app,
            "POST",
            "/app/v1/acme/reports/reconciliation",
            Some(json!({"fix": ["delete-all"]})),
            &[],
        )
        .await;
    assert_error(&r, 400, Some("invalidSyntax"));
    let r = s
        .send_as(
            &app,
            "GET",
            "/app/v1/acme/reports/reconciliation",
            None,
            &[],
        )
        .await;
    assert_error(&r, 405, None);
    let r = s
        .send(
            "POST",
            "/app/v1/acme/reports/reconciliation",
            Some(json!({})),
            &[],
        )
        .await;
    assert_error(&r, 401, None);
    // An empty body is a report with the defaults.
    let r = s
        .send_as(
            &app,
            "POST",
            "/app/v1/acme/reports/reconciliation",
            None,
            &[],
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["staleAfterSeconds"], 7200);
}
