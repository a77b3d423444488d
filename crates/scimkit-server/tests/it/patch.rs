//! PATCH (RFC 7644 §3.5.2): the resource in the answer, `Prefer: return=minimal`, the shapes
//! Entra ID sends, and no-op patches.

use serde_json::json;

use crate::support::{Server, USER, assert_error, id, patch_op};

#[tokio::test]
async fn patch_answers_200_with_the_resource_and_the_new_etag() {
    let s = Server::new().await;
    let uid = id(&s.create_user("bjensen").await);
    let reply = s
        .patch(
            &format!("/Users/{uid}"),
            patch_op(json!([
                { "op": "replace", "path": "displayName", "value": "Babs Jensen" },
                { "op": "add", "path": "emails", "value": [{ "value": "babs@example.com", "type": "work" }] },
            ])),
        )
        .await;
    reply.expect(200);
    assert_eq!(reply.etag(), "W/\"2\"");
    assert_eq!(reply.body["id"], uid.as_str());
    assert_eq!(reply.body["displayName"], "Babs Jensen");
    assert_eq!(reply.body["emails"][0]["value"], "babs@example.com");
    assert_eq!(reply.body["meta"]["version"], "W/\"2\"");
    let got = s.get(&format!("/Users/{uid}")).await;
    assert_eq!(got.body["displayName"], "Babs Jensen");
    assert_eq!(got.etag(), "W/\"2\"");
}

#[tokio::test]
async fn prefer_return_minimal_answers_204_with_the_etag() {
    let s = Server::new().await;
    let uid = id(&s.create_user("bjensen").await);
    let reply = s
        .send(
            "PATCH",
            &format!("/Users/{uid}"),
            Some(patch_op(
                json!([{ "op": "replace", "path": "title", "value": "Lead" }]),
            )),
            &[("prefer", "return=minimal")],
        )
        .await;
    reply.expect(204);
    assert!(reply.raw.is_empty());
    assert_eq!(reply.etag(), "W/\"2\"");
    assert_eq!(s.get(&format!("/Users/{uid}")).await.body["title"], "Lead");
}

#[tokio::test]
async fn entra_style_capitalised_op_and_string_boolean_work() {
    let s = Server::new().await;
    let uid = id(&s
        .create_user_with(json!({ "schemas": [USER], "userName": "entra", "active": true }))
        .await);
    let reply = s
        .patch(
            &format!("/Users/{uid}"),
            patch_op(json!([{ "op": "Replace", "path": "active", "value": "False" }])),
        )
        .await;
    reply.expect(200);
    assert_eq!(reply.body["active"], false, "{}", reply.body);
    assert_eq!(s.get(&format!("/Users/{uid}")).await.body["active"], false);

    // Entra's path-less form, with a value object.
    let reply = s
        .patch(
            &format!("/Users/{uid}"),
            patch_op(
                json!([{ "op": "Replace", "value": { "active": "True", "displayName": "E" } }]),
            ),
        )
        .await;
    reply.expect(200);
    assert_eq!(reply.body["active"], true, "{}", reply.body);
    assert_eq!(reply.body["displayName"], "E");

    // Entra's "Add" of a filtered path.
    let reply = s
        .patch(
            &format!("/Users/{uid}"),
            patch_op(json!([{
                "op": "Add",
                "path": "emails[type eq \"work\"].value",
                "value": "entra@example.com",
            }])),
        )
        .await;
    reply.expect(200);
    let emails = reply.body["emails"].as_array().cloned().unwrap_or_default();
    assert!(
        emails
            .iter()
            .any(|e| e["type"] == "work" && e["value"] == "entra@example.com"),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn a_patch_that_changes_nothing_keeps_the_version() {
    let s = Server::new().await;
    let created = s
        .create_user_with(json!({ "schemas": [USER], "userName": "same", "displayName": "Same" }))
        .await;
    let uid = id(&created);
    let reply = s
        .patch(
            &format!("/Users/{uid}"),
            patch_op(json!([{ "op": "replace", "path": "displayName", "value": "Same" }])),
        )
        .await;
    reply.expect(200);
    assert_eq!(reply.etag(), "W/\"1\"");
    assert_eq!(
        reply.body["meta"]["lastModified"],
        created["meta"]["lastModified"]
    );
    // Removing what is not there changes nothing either.
    let reply = s
        .patch(
            &format!("/Users/{uid}"),
            patch_op(json!([{ "op": "remove", "path": "title" }])),
        )
        .await;
    reply.expect(200);
    assert_eq!(reply.etag(), "W/\"1\"");
    assert_eq!(s.get(&format!("/Users/{uid}")).await.etag(), "W/\"1\"");
}

#[tokio::test]
async fn patch_unknown_id_answers_404() {
    let s = Server::new().await;
    let reply = s
        .patch(
            "/Users/missing",
            patch_op(json!([{ "op": "replace", "path": "active", "value": false }])),
        )
        .await;
    assert_error(&reply, 404, None);
}

#[tokio::test]
async fn remove_without_a_path_is_400_no_target() {
    let s = Server::new().await;
    let uid = id(&s.create_user("bjensen").await);
    let reply = s
        .patch(
            &format!("/Users/{uid}"),
            patch_op(json!([{ "op": "remove" }])),
        )
        .await;
    assert_error(&reply, 400, Some("noTarget"));
    // Nothing changed.
    assert_eq!(s.get(&format!("/Users/{uid}")).await.etag(), "W/\"1\"");
}

#[tokio::test]
async fn a_failing_operation_applies_none_of_the_patch() {
    let s = Server::new().await;
    let uid = id(&s.create_user("atomic").await);
    let reply = s
        .patch(
            &format!("/Users/{uid}"),
            patch_op(json!([
                { "op": "replace", "path": "displayName", "value": "Changed" },
                { "op": "bogus", "path": "title", "value": "x" },
            ])),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let scim_type = reply.body["scimType"].as_str().map(str::to_owned);
    assert_error(&reply, 400, scim_type.as_deref());
    let got = s.get(&format!("/Users/{uid}")).await;
    assert!(got.body.get("displayName").is_none(), "{}", got.body);
    assert_eq!(got.etag(), "W/\"1\"");
}

#[tokio::test]
async fn patching_read_only_attributes_is_400_mutability() {
    let s = Server::new().await;
    let uid = id(&s.create_user("ro").await);
    for (path, value) in [
        ("id", json!("other")),
        ("meta.created", json!("2020-01-01T00:00:00Z")),
        ("groups", json!([{ "value": "g" }])),
    ] {
        let reply = s
            .patch(
                &format!("/Users/{uid}"),
                patch_op(json!([{ "op": "replace", "path": path, "value": value }])),
            )
            .await;
        assert_error(&reply, 400, Some("mutability"));
    }
    assert_eq!(s.get(&format!("/Users/{uid}")).await.etag(), "W/\"1\"");
}

#[tokio::test]
async fn patch_errors_name_the_problem() {
    let s = Server::new().await;
    s.create_user("taken").await;
    let uid = id(&s.create_user("mine").await);
    let reply = s
        .patch(
            &format!("/Users/{uid}"),
            patch_op(json!([{ "op": "replace", "path": "userName", "value": "TAKEN" }])),
        )
        .await;
    assert_error(&reply, 409, Some("uniqueness"));
    let reply = s
        .patch(
            &format!("/Users/{uid}"),
            patch_op(json!([{ "op": "add", "path": "noSuchAttribute", "value": "x" }])),
        )
        .await;
    assert_error(&reply, 400, Some("invalidPath"));
    let reply = s
        .patch(
            &format!("/Users/{uid}"),
            patch_op(json!([{ "op": "replace", "path": "emails[type eq", "value": "x" }])),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let scim_type = reply.body["scimType"].as_str().map(str::to_owned);
    assert!(
        matches!(scim_type.as_deref(), Some("invalidPath" | "invalidFilter")),
        "{}",
        reply.body
    );
    assert_error(&reply, 400, scim_type.as_deref());
    assert_eq!(s.get(&format!("/Users/{uid}")).await.etag(), "W/\"1\"");
}

#[tokio::test]
async fn entra_sets_the_manager_through_the_extension_path() {
    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let s = Server::new().await;
    let boss = id(&s.create_user("boss").await);
    let uid = id(&s.create_user("report").await);
    let reply = s
        .patch(
            &format!("/Users/{uid}"),
            patch_op(json!([{
                "op": "Add",
                "path": format!("{ENTERPRISE}:manager"),
                "value": boss,
            }])),
        )
        .await;
    reply.expect(200);
    assert_eq!(
        reply.body[ENTERPRISE]["manager"]["value"],
        boss.as_str(),
        "{}",
        reply.body
    );
    let got = s.get(&format!("/Users/{uid}")).await;
    assert_eq!(got.body[ENTERPRISE]["manager"]["value"], boss.as_str());
    let schemas = got.body["schemas"].as_array().expect("schemas");
    assert!(schemas.contains(&json!(ENTERPRISE)), "{}", got.body);
    // And removes it.
    let reply = s
        .patch(
            &format!("/Users/{uid}"),
            patch_op(json!([{ "op": "Remove", "path": format!("{ENTERPRISE}:manager") }])),
        )
        .await;
    reply.expect(200);
    assert!(
        reply
            .body
            .get(ENTERPRISE)
            .is_none_or(|e| e.get("manager").is_none()),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn a_tenant_profile_chooses_the_tolerances() {
    let s = Server::new().await;
    let user = s.create_user("profiled").await;
    let uid = id(&user);
    let entra = patch_op(json!([{"op": "Replace", "path": "active", "value": "False"}]));
    // The default (lenient) reads Entra ID's capitalised op and string boolean.
    s.patch(&format!("/Users/{uid}"), entra.clone())
        .await
        .expect(200);
    // Strict refuses them, naming the operation.
    s.scim.set_profile("acme", Some("strict")).await.unwrap();
    let refused = s.patch(&format!("/Users/{uid}"), entra.clone()).await;
    assert_error(&refused, 400, Some("invalidSyntax"));
    // Entra's profile reads them again.
    s.scim.set_profile("acme", Some("Entra")).await.unwrap();
    s.patch(&format!("/Users/{uid}"), entra).await.expect(200);
    // An unknown profile is refused with the list of names.
    let err = s.scim.set_profile("acme", Some("azure")).await.unwrap_err();
    assert!(err.to_string().contains("entra"), "{err}");
}
