//! HTTP-level behaviour (RFC 7644 §3.1, §3.8, §3.12): media types in and out, bad JSON,
//! methods, unknown endpoints and the payload limit.

use bytes::Bytes;
use serde_json::json;

use crate::support::{Server, USER, assert_error, id, patch_op};

fn user_bytes(user_name: &str) -> Bytes {
    Bytes::from(
        serde_json::to_vec(&json!({ "schemas": [USER], "userName": user_name })).expect("JSON"),
    )
}

#[tokio::test]
async fn json_content_types_and_a_missing_content_type_are_accepted() {
    let s = Server::new().await;
    for (i, ct) in [
        Some("application/scim+json"),
        Some("application/json"),
        Some("application/scim+json; charset=utf-8"),
        Some("application/json;charset=UTF-8"),
        None,
    ]
    .into_iter()
    .enumerate()
    {
        let headers: Vec<(&str, &str)> = ct.map(|c| ("content-type", c)).into_iter().collect();
        let reply = s
            .send_bytes(
                Some(&s.token),
                "POST",
                "/Users",
                user_bytes(&format!("ct{i}")),
                &headers,
            )
            .await;
        assert_eq!(reply.status, 201, "{ct:?}: {}", reply.body);
        let uid = id(&reply.body);
        let patch = Bytes::from(
            serde_json::to_vec(&patch_op(
                json!([{ "op": "replace", "path": "title", "value": "x" }]),
            ))
            .expect("JSON"),
        );
        let reply = s
            .send_bytes(
                Some(&s.token),
                "PATCH",
                &format!("/Users/{uid}"),
                patch,
                &headers,
            )
            .await;
        assert_eq!(reply.status, 200, "{ct:?}: {}", reply.body);
    }
}

#[tokio::test]
async fn a_non_json_content_type_is_415() {
    let s = Server::new().await;
    let uid = id(&s.create_user("existing").await);
    let plain = [("content-type", "text/plain")];
    let reply = s
        .send_bytes(Some(&s.token), "POST", "/Users", user_bytes("x"), &plain)
        .await;
    assert_error(&reply, 415, None);
    let reply = s
        .send_bytes(
            Some(&s.token),
            "PUT",
            &format!("/Users/{uid}"),
            user_bytes("existing"),
            &plain,
        )
        .await;
    assert_error(&reply, 415, None);
    let reply = s
        .send_bytes(
            Some(&s.token),
            "PATCH",
            &format!("/Users/{uid}"),
            Bytes::from_static(
                br#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[]}"#,
            ),
            &plain,
        )
        .await;
    assert_error(&reply, 415, None);
    let reply = s
        .send_bytes(
            Some(&s.token),
            "POST",
            "/Users",
            user_bytes("y"),
            &[("content-type", "application/x-www-form-urlencoded")],
        )
        .await;
    assert_error(&reply, 415, None);
    // Nothing was created.
    assert_eq!(s.get("/Users").await.body["totalResults"], 1);
}

#[tokio::test]
async fn invalid_json_is_400_invalid_syntax() {
    let s = Server::new().await;
    let uid = id(&s.create_user("existing").await);
    let bad =
        Bytes::from_static(b"{\"schemas\": [\"urn:ietf:params:scim:schemas:core:2.0:User\"], ");
    let json_ct = [("content-type", "application/scim+json")];
    for (method, path) in [
        ("POST", "/Users".to_owned()),
        ("PUT", format!("/Users/{uid}")),
        ("PATCH", format!("/Users/{uid}")),
        ("POST", "/Users/.search".to_owned()),
        ("POST", "/.search".to_owned()),
        ("POST", "/Bulk".to_owned()),
    ] {
        let reply = s
            .send_bytes(Some(&s.token), method, &path, bad.clone(), &json_ct)
            .await;
        assert_eq!(reply.status, 400, "{method} {path}: {}", reply.body);
        assert_error(&reply, 400, Some("invalidSyntax"));
    }
    // An empty body where one is needed.
    let reply = s
        .send_bytes(Some(&s.token), "POST", "/Users", Bytes::new(), &json_ct)
        .await;
    assert_error(&reply, 400, Some("invalidSyntax"));
    // JSON that is not an object.
    let reply = s
        .send_bytes(
            Some(&s.token),
            "POST",
            "/Users",
            Bytes::from_static(b"[1, 2]"),
            &json_ct,
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let scim_type = reply.body["scimType"].as_str().map(str::to_owned);
    assert_error(&reply, 400, scim_type.as_deref());
}

#[tokio::test]
async fn a_wrong_method_is_405_with_allow() {
    let s = Server::new().await;
    let uid = id(&s.create_user("existing").await);
    for (method, path, allowed) in [
        ("DELETE", "/Users".to_owned(), &["GET", "POST"][..]),
        ("PUT", "/Users".to_owned(), &["GET", "POST"][..]),
        ("PATCH", "/Groups".to_owned(), &["GET", "POST"][..]),
        ("POST", "/ServiceProviderConfig".to_owned(), &["GET"][..]),
        ("DELETE", "/ResourceTypes".to_owned(), &["GET"][..]),
        ("PUT", "/Schemas".to_owned(), &["GET"][..]),
        ("GET", "/Bulk".to_owned(), &["POST"][..]),
        (
            "POST",
            format!("/Users/{uid}"),
            &["GET", "PUT", "PATCH", "DELETE"][..],
        ),
    ] {
        let body = (method != "GET" && method != "DELETE")
            .then(|| json!({ "schemas": [USER], "userName": "m" }));
        let reply = s.send(method, &path, body, &[]).await;
        assert_eq!(reply.status, 405, "{method} {path}: {}", reply.body);
        assert_error(&reply, 405, None);
        let allow: Vec<String> = reply
            .header("allow")
            .split(',')
            .map(|m| m.trim().to_owned())
            .collect();
        for m in allowed {
            assert!(
                allow.iter().any(|a| a == m),
                "{method} {path}: Allow {allow:?}"
            );
        }
        assert!(
            !allow.iter().any(|a| a == method),
            "{method} {path}: Allow {allow:?}"
        );
    }
    // Nothing was deleted.
    s.get(&format!("/Users/{uid}")).await.expect(200);
}

#[tokio::test]
async fn an_unknown_endpoint_is_404() {
    let s = Server::new().await;
    for path in [
        "/Widgets",
        "/Widgets/1",
        "/Users/a/b",
        "/",
        "/scim/v2/",
        "/scim/v1/acme/Users",
        "/scim/elsewhere",
    ] {
        let reply = s.send("GET", path, None, &[]).await;
        assert_eq!(reply.status, 404, "{path}: {}", reply.body);
        assert_error(&reply, 404, None);
    }
}

#[tokio::test]
async fn a_body_over_max_payload_size_is_413() {
    let s = Server::with_config(|c| c.max_payload_size = 2048).await;
    let big = json!({
        "schemas": [USER],
        "userName": "big",
        "displayName": "x".repeat(3000),
    });
    let reply = s.post("/Users", big).await;
    assert_error(&reply, 413, None);
    let reply = s
        .post(
            "/Bulk",
            json!({
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                "Operations": [{ "method": "POST", "path": "/Users", "data": { "userName": "y".repeat(3000) } }],
            }),
        )
        .await;
    assert_error(&reply, 413, None);
    // Just under the limit passes.
    let small = json!({ "schemas": [USER], "userName": "small", "displayName": "x".repeat(1500) });
    s.post("/Users", small).await.expect(201);
    assert_eq!(s.get("/Users").await.body["totalResults"], 1);
}

#[tokio::test]
async fn accept_application_json_gets_application_json() {
    let s = Server::new().await;
    let uid = id(&s.create_user("accept").await);
    let path = format!("/Users/{uid}");
    let reply = s
        .send("GET", &path, None, &[("accept", "application/json")])
        .await;
    reply.expect(200);
    assert!(reply.header("content-type").starts_with("application/json"));
    let reply = s.send("GET", &path, None, &[]).await;
    assert!(
        reply
            .header("content-type")
            .starts_with("application/scim+json")
    );
    let reply = s
        .send("GET", &path, None, &[("accept", "application/scim+json")])
        .await;
    assert!(
        reply
            .header("content-type")
            .starts_with("application/scim+json")
    );
    let reply = s.send("GET", &path, None, &[("accept", "*/*")]).await;
    assert!(
        reply
            .header("content-type")
            .starts_with("application/scim+json")
    );
    // Errors follow Accept too.
    let reply = s
        .send(
            "GET",
            "/Users/missing",
            None,
            &[("accept", "application/json")],
        )
        .await;
    assert_error(&reply, 404, None);
    assert!(reply.header("content-type").starts_with("application/json"));
    // And lists.
    let reply = s
        .send("GET", "/Users", None, &[("accept", "application/json")])
        .await;
    assert!(reply.header("content-type").starts_with("application/json"));
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let s = Server::new().await;
    let reply = s.get("/Users").await;
    assert!(!reply.header("x-request-id").is_empty());
    let reply = s
        .send("GET", "/Users", None, &[("x-request-id", "abc-123")])
        .await;
    assert_eq!(reply.header("x-request-id"), "abc-123");
}

#[tokio::test]
async fn refused_changes_are_in_the_audit_log_with_their_outcome() {
    let s = Server::new().await;
    s.create_user("audited").await;
    let dup = s
        .post("/Users", json!({"schemas": [USER], "userName": "AUDITED"}))
        .await;
    assert_error(&dup, 409, Some("uniqueness"));
    let missing = s
        .patch(
            "/Users/nope",
            json!({"Operations": [{"op": "remove", "path": "title"}]}),
        )
        .await;
    assert_error(&missing, 404, None);
    let log = s.scim.store().audit("acme", 10).await.unwrap();
    let outcomes: Vec<(&str, &str)> = log
        .iter()
        .map(|r| (r.operation.as_str(), r.outcome.as_str()))
        .collect();
    assert!(
        outcomes[0].0 == "patch" && outcomes[0].1.starts_with("404"),
        "{outcomes:?}"
    );
    assert!(
        outcomes[1].0 == "create" && outcomes[1].1.starts_with("409 uniqueness"),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[2], ("create", "ok"));
    assert_eq!(log[0].token_id.as_deref(), Some(s.token_id.as_str()));
    // Reads are not changes: a 404 on GET is not audited.
    let before = s.scim.store().audit("acme", 100).await.unwrap().len();
    s.get("/Users/nope").await.expect(404);
    assert_eq!(
        s.scim.store().audit("acme", 100).await.unwrap().len(),
        before
    );
}
