//! Creating, reading, replacing and deleting Users and Groups (RFC 7644 §3.3, §3.4.1, §3.5.1,
//! §3.6).

use std::time::Duration;

use serde_json::json;

use crate::support::{GROUP, Server, USER, assert_error, id, values};

#[tokio::test]
async fn post_user_answers_201_with_location_etag_and_the_resource() {
    let s = Server::new().await;
    let reply = s
        .post(
            "/Users",
            json!({
                "schemas": [USER],
                "userName": "bjensen@example.com",
                "name": { "givenName": "Barbara", "familyName": "Jensen" },
                "emails": [{ "value": "bjensen@example.com", "type": "work", "primary": true }],
                "active": true,
            }),
        )
        .await;
    reply.expect(201);
    let body = &reply.body;
    let id = id(body);
    assert!(!id.is_empty());
    assert_eq!(body["schemas"], json!([USER]));
    assert_eq!(body["userName"], "bjensen@example.com");
    assert_eq!(body["name"]["givenName"], "Barbara");
    assert_eq!(body["active"], true);
    assert_eq!(body["meta"]["resourceType"], "User");
    assert_eq!(body["meta"]["created"], body["meta"]["lastModified"]);
    assert_eq!(body["meta"]["version"], "W/\"1\"");
    let location = reply.header("location");
    assert_eq!(body["meta"]["location"], location);
    assert!(
        location.ends_with(&format!("/scim/v2/acme/Users/{id}")),
        "{location}"
    );
    assert_eq!(reply.etag(), "W/\"1\"");
    assert!(
        reply
            .header("content-type")
            .starts_with("application/scim+json")
    );
}

#[tokio::test]
async fn a_password_is_accepted_but_never_returned_nor_stored() {
    let s = Server::new().await;
    let reply = s
        .post(
            "/Users",
            json!({ "schemas": [USER], "userName": "pw", "password": "t1meMa$heen" }),
        )
        .await;
    reply.expect(201);
    assert!(reply.body.get("password").is_none(), "{}", reply.body);
    assert!(!String::from_utf8_lossy(&reply.raw).contains("t1meMa$heen"));
    let id = id(&reply.body);

    let got = s.get(&format!("/Users/{id}")).await;
    got.expect(200);
    assert!(got.body.get("password").is_none(), "{}", got.body);
    // Asking for it by name does not return it either (returned: never).
    let got = s.get(&format!("/Users/{id}?attributes=password")).await;
    got.expect(200);
    assert!(got.body.get("password").is_none(), "{}", got.body);

    // Nor through PUT.
    let put = s
        .put(
            &format!("/Users/{id}"),
            json!({ "schemas": [USER], "userName": "pw", "password": "an0ther$ecret" }),
        )
        .await;
    put.expect(200);
    assert!(put.body.get("password").is_none(), "{}", put.body);

    let stored = s
        .scim
        .store()
        .get("acme", "User", &id)
        .await
        .expect("the store answers")
        .expect("the user is stored");
    assert!(!stored.body.contains_key("password"), "{:?}", stored.body);
    let text = serde_json::to_string(&stored.body).expect("JSON");
    assert!(!text.contains("t1meMa$heen") && !text.contains("an0ther$ecret"));
}

#[tokio::test]
async fn get_user_by_id_answers_200_with_etag() {
    let s = Server::new().await;
    let created = s.create_user("bjensen").await;
    let id = id(&created);
    let reply = s.get(&format!("/Users/{id}")).await;
    reply.expect(200);
    assert_eq!(reply.etag(), "W/\"1\"");
    assert_eq!(reply.body["id"], id.as_str());
    assert_eq!(reply.body["userName"], "bjensen");
    assert_eq!(reply.body["meta"], created["meta"]);
}

#[tokio::test]
async fn get_unknown_id_answers_404() {
    let s = Server::new().await;
    let reply = s.get("/Users/2819c223-7f76-453a-919d-413861904646").await;
    assert_error(&reply, 404, None);
    let reply = s.get("/Groups/nope").await;
    assert_error(&reply, 404, None);
}

#[tokio::test]
async fn put_replaces_the_user_and_bumps_the_version() {
    let s = Server::new().await;
    let created = s
        .create_user_with(json!({
            "schemas": [USER],
            "userName": "bjensen",
            "displayName": "Babs",
            "title": "Tour Guide",
        }))
        .await;
    let id = id(&created);
    s.advance(Duration::from_secs(60));
    let reply = s
        .put(
            &format!("/Users/{id}"),
            json!({ "schemas": [USER], "userName": "bjensen", "title": "Guide", "active": false }),
        )
        .await;
    reply.expect(200);
    assert_eq!(reply.etag(), "W/\"2\"");
    assert_eq!(reply.body["meta"]["version"], "W/\"2\"");
    assert_eq!(reply.body["id"], id.as_str());
    assert_eq!(reply.body["title"], "Guide");
    assert_eq!(reply.body["active"], false);
    // PUT replaces: what the body leaves out is cleared.
    assert!(reply.body.get("displayName").is_none(), "{}", reply.body);
    assert_eq!(reply.body["meta"]["created"], created["meta"]["created"]);
    assert_ne!(
        reply.body["meta"]["lastModified"],
        created["meta"]["lastModified"]
    );

    let got = s.get(&format!("/Users/{id}")).await;
    got.expect(200);
    assert_eq!(got.etag(), "W/\"2\"");
    assert_eq!(got.body["title"], "Guide");
    assert!(got.body.get("displayName").is_none());
}

#[tokio::test]
async fn put_with_id_meta_and_groups_in_the_body_as_okta_sends_succeeds() {
    let s = Server::new().await;
    let created = s.create_user("okta.user@example.com").await;
    let uid = id(&created);
    let group = s.create_group("Engineering", &[&uid]).await;
    let gid = id(&group);
    // Okta PUTs back what it read, read-only attributes included.
    let mut body = s.get(&format!("/Users/{uid}")).await.body;
    body["displayName"] = json!("Okta User");
    body["groups"] = json!([{ "value": "some-other-group", "display": "Forged" }]);
    body["meta"]["created"] = json!("1999-01-01T00:00:00Z");
    let reply = s.put(&format!("/Users/{uid}"), body).await;
    reply.expect(200);
    assert_eq!(reply.body["id"], uid.as_str());
    assert_eq!(reply.body["displayName"], "Okta User");
    assert_eq!(reply.etag(), "W/\"2\"");
    // Read-only attributes come from the server, not from the body.
    assert_eq!(reply.body["meta"]["created"], created["meta"]["created"]);
    let got = s.get(&format!("/Users/{uid}")).await;
    assert_eq!(
        values(&got.body, "groups"),
        std::slice::from_ref(&gid),
        "{}",
        got.body
    );

    // A group PUT with id and meta too.
    let mut body = group.clone();
    body["displayName"] = json!("Engineers");
    let reply = s.put(&format!("/Groups/{gid}"), body).await;
    reply.expect(200);
    assert_eq!(reply.body["displayName"], "Engineers");
    assert_eq!(reply.body["id"], gid.as_str());
    assert_eq!(values(&reply.body, "members"), [uid], "{}", reply.body);
}

#[tokio::test]
async fn put_unknown_id_answers_404() {
    let s = Server::new().await;
    let reply = s
        .put(
            "/Users/missing",
            json!({ "schemas": [USER], "userName": "ghost" }),
        )
        .await;
    assert_error(&reply, 404, None);
}

#[tokio::test]
async fn delete_answers_204_then_the_resource_is_gone() {
    let s = Server::new().await;
    let id = id(&s.create_user("bjensen").await);
    let reply = s.delete(&format!("/Users/{id}")).await;
    reply.expect(204);
    assert!(reply.raw.is_empty());
    assert_error(&s.get(&format!("/Users/{id}")).await, 404, None);
    // Deleting again: 404.
    assert_error(&s.delete(&format!("/Users/{id}")).await, 404, None);
    // The userName is free again.
    s.create_user("bjensen").await;
}

#[tokio::test]
async fn duplicate_user_name_is_409_uniqueness_case_insensitively() {
    let s = Server::new().await;
    s.create_user("bjensen@example.com").await;
    let reply = s
        .post(
            "/Users",
            json!({ "schemas": [USER], "userName": "BJensen@Example.COM" }),
        )
        .await;
    assert_error(&reply, 409, Some("uniqueness"));

    // A PUT that takes another user's userName is refused the same way.
    let other = id(&s.create_user("other").await);
    let reply = s
        .put(
            &format!("/Users/{other}"),
            json!({ "schemas": [USER], "userName": "BJENSEN@example.com" }),
        )
        .await;
    assert_error(&reply, 409, Some("uniqueness"));
}

#[tokio::test]
async fn groups_post_get_put_delete() {
    let s = Server::new().await;
    let reply = s
        .post(
            "/Groups",
            json!({ "schemas": [GROUP], "displayName": "Tour Guides" }),
        )
        .await;
    reply.expect(201);
    let gid = id(&reply.body);
    assert_eq!(reply.etag(), "W/\"1\"");
    assert_eq!(reply.body["meta"]["resourceType"], "Group");
    assert_eq!(reply.body["meta"]["location"], reply.header("location"));
    assert!(
        reply
            .header("location")
            .ends_with(&format!("/scim/v2/acme/Groups/{gid}"))
    );

    let got = s.get(&format!("/Groups/{gid}")).await;
    got.expect(200);
    assert_eq!(got.etag(), "W/\"1\"");
    assert_eq!(got.body["displayName"], "Tour Guides");

    let put = s
        .put(
            &format!("/Groups/{gid}"),
            json!({ "schemas": [GROUP], "displayName": "Guides" }),
        )
        .await;
    put.expect(200);
    assert_eq!(put.etag(), "W/\"2\"");
    assert_eq!(put.body["displayName"], "Guides");

    s.delete(&format!("/Groups/{gid}")).await.expect(204);
    assert_error(&s.get(&format!("/Groups/{gid}")).await, 404, None);
}

#[tokio::test]
async fn post_without_required_user_name_is_400() {
    let s = Server::new().await;
    let reply = s
        .post("/Users", json!({ "schemas": [USER], "displayName": "x" }))
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let scim_type = reply.body["scimType"].as_str().unwrap_or_default();
    assert!(
        ["invalidValue", "invalidSyntax"].contains(&scim_type),
        "{}",
        reply.body
    );
    assert_error(&reply, 400, Some(scim_type));
}

#[tokio::test]
async fn put_with_another_id_in_the_body_keeps_the_url_id() {
    let s = Server::new().await;
    let uid = id(&s.create_user("stays").await);
    let reply = s
        .put(
            &format!("/Users/{uid}"),
            json!({ "schemas": [USER], "id": "something-else", "userName": "stays", "title": "T" }),
        )
        .await;
    reply.expect(200);
    assert_eq!(reply.body["id"], uid.as_str());
    assert_error(&s.get("/Users/something-else").await, 404, None);
    let list = s.get("/Users").await;
    assert_eq!(list.body["totalResults"], 1);
    assert_eq!(list.names("id"), [uid]);
}

#[tokio::test]
async fn enterprise_extension_round_trips() {
    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let s = Server::new().await;
    let reply = s
        .post(
            "/Users",
            json!({
                "schemas": [USER, ENTERPRISE],
                "userName": "ext",
                ENTERPRISE: { "employeeNumber": "701984", "department": "Tour Operations" },
            }),
        )
        .await;
    reply.expect(201);
    let uid = id(&reply.body);
    let got = s.get(&format!("/Users/{uid}")).await;
    got.expect(200);
    assert_eq!(got.body[ENTERPRISE]["employeeNumber"], "701984");
    assert_eq!(got.body[ENTERPRISE]["department"], "Tour Operations");
    let schemas = got.body["schemas"].as_array().expect("schemas");
    assert!(schemas.contains(&json!(ENTERPRISE)), "{}", got.body);
    assert!(schemas.contains(&json!(USER)), "{}", got.body);
}

#[tokio::test]
async fn locations_use_the_public_url_or_the_host_header() {
    let s = Server::new().await;
    let reply = s
        .send(
            "POST",
            "/Users",
            Some(json!({ "schemas": [USER], "userName": "hosted" })),
            &[("host", "scim.example.com:8443")],
        )
        .await;
    reply.expect(201);
    let uid = id(&reply.body);
    assert_eq!(
        reply.header("location"),
        format!("http://scim.example.com:8443/scim/v2/acme/Users/{uid}")
    );
    assert_eq!(reply.body["meta"]["location"], reply.header("location"));

    let s = Server::with_config(|c| c.public_url = Some("https://scim.example.com".into())).await;
    let reply = s
        .send(
            "POST",
            "/Users",
            Some(json!({ "schemas": [USER], "userName": "public" })),
            &[("host", "internal:8080")],
        )
        .await;
    reply.expect(201);
    let uid = id(&reply.body);
    assert_eq!(
        reply.header("location"),
        format!("https://scim.example.com/scim/v2/acme/Users/{uid}")
    );
    let got = s.get(&format!("/Users/{uid}")).await;
    assert_eq!(got.body["meta"]["location"], reply.header("location"));
}

// A 4xx answer means the request was not applied (RFC 7644 §3.12): a client that sees 400 and
// retries must not find its write already done (409 on a retried POST).

#[tokio::test]
async fn post_with_an_invalid_attributes_parameter_creates_nothing() {
    let s = Server::new().await;
    let reply = s
        .post(
            "/Users?attributes=emails%5B",
            json!({ "schemas": [USER], "userName": "not.created" }),
        )
        .await;
    assert_error(&reply, 400, Some("invalidValue"));
    let list = s.get("/Users").await;
    assert_eq!(
        list.body["totalResults"], 0,
        "the POST answered 400 but created the user: {}",
        list.body
    );
}

#[tokio::test]
async fn put_with_an_invalid_attributes_parameter_changes_nothing() {
    let s = Server::new().await;
    let uid = id(&s.create_user("kept").await);
    let reply = s
        .put(
            &format!("/Users/{uid}?attributes=a..b"),
            json!({ "schemas": [USER], "userName": "kept", "title": "Changed" }),
        )
        .await;
    assert_error(&reply, 400, Some("invalidValue"));
    let got = s.get(&format!("/Users/{uid}")).await;
    assert_eq!(
        got.etag(),
        "W/\"1\"",
        "the PUT answered 400 but was applied: {}",
        got.body
    );
}

#[tokio::test]
async fn patch_with_an_invalid_excluded_attributes_parameter_changes_nothing() {
    let s = Server::new().await;
    let uid = id(&s.create_user("kept").await);
    let reply = s
        .patch(
            &format!("/Users/{uid}?excludedAttributes=x%20y"),
            crate::support::patch_op(
                json!([{ "op": "replace", "path": "title", "value": "Patched" }]),
            ),
        )
        .await;
    assert_error(&reply, 400, Some("invalidValue"));
    let got = s.get(&format!("/Users/{uid}")).await;
    assert_eq!(
        got.etag(),
        "W/\"1\"",
        "the PATCH answered 400 but was applied: {}",
        got.body
    );
}
