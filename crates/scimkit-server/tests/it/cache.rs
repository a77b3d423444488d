//! Users read by id through a [`CachedStore`] (as `scimkit serve` runs SQLite), and the
//! rendered responses the server keeps for them: every read follows every write, and a kept
//! response is served only to a request it answers (same tenant, base URL and projection).
//!
//! [`CachedStore`]: scimkit_store::CachedStore

use serde_json::json;

use crate::support::{Server, USER, id, patch_op};

#[tokio::test]
async fn a_kept_response_is_served_again_until_the_user_changes() {
    let server = Server::new().await;
    let user = server
        .create_user_with(json!({"schemas": [USER], "userName": "ann", "displayName": "Ann"}))
        .await;
    let path = format!("/Users/{}", id(&user));
    let first = server.get(&path).await;
    first.expect(200);
    let second = server.get(&path).await;
    second.expect(200);
    assert_eq!(first.raw, second.raw, "the same bytes");
    assert_eq!(first.etag(), second.etag());

    // `If-None-Match` is answered from the kept response too.
    let etag = first.etag().to_owned();
    let not_modified = server
        .send("GET", &path, None, &[("if-none-match", &etag)])
        .await;
    assert_eq!(not_modified.status, 304);
    assert_eq!(not_modified.etag(), etag);

    server
        .patch(
            &path,
            patch_op(json!([{"op": "replace", "path": "displayName", "value": "Ann B."}])),
        )
        .await
        .expect(200);
    // Twice: the first read after a write fills the cache, the second is served from it.
    server.get(&path).await.expect(200);
    let after = server.get(&path).await;
    after.expect(200);
    assert_eq!(after.body["displayName"], "Ann B.");
    assert_ne!(after.etag(), etag);
    let stale = server
        .send("GET", &path, None, &[("if-none-match", &etag)])
        .await;
    assert_eq!(stale.status, 200, "the old ETag no longer matches");

    let mut replaced = after.body.clone();
    replaced["title"] = json!("Engineer");
    server.put(&path, replaced).await.expect(200);
    server.get(&path).await.expect(200);
    assert_eq!(server.get(&path).await.body["title"], "Engineer");

    server.delete(&path).await.expect(204);
    server.get(&path).await.expect(404);
}

#[tokio::test]
async fn group_changes_reach_the_kept_responses_of_their_members() {
    let server = Server::new().await;
    let user = server.create_user("ann").await;
    let path = format!("/Users/{}", id(&user));
    assert!(server.get(&path).await.body.get("groups").is_none());
    server.get(&path).await.expect(200);

    let group = server.create_group("Staff", &[&id(&user)]).await;
    let gpath = format!("/Groups/{}", id(&group));
    assert_eq!(
        server.get(&path).await.body["groups"][0]["display"],
        "Staff"
    );

    // A rename changes the user's `groups`, not its version.
    let version = server.get(&path).await.etag().to_owned();
    server
        .patch(
            &gpath,
            patch_op(json!([{"op": "replace", "path": "displayName", "value": "Crew"}])),
        )
        .await;
    let renamed = server.get(&path).await;
    assert_eq!(renamed.body["groups"][0]["display"], "Crew");
    assert_eq!(renamed.etag(), version);

    // Nested: the group joins another, and the user is in both.
    let outer = server.create_group("All", &[]).await;
    server
        .patch(
            &format!("/Groups/{}", id(&outer)),
            patch_op(json!([{"op": "add", "path": "members", "value": [{"value": id(&group)}]}])),
        )
        .await;
    let nested = server.get(&path).await;
    let types: Vec<&str> = nested.body["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter_map(|g| g["type"].as_str())
        .collect();
    assert_eq!(types.len(), 2, "{}", nested.body);
    assert!(
        types.contains(&"direct") && types.contains(&"indirect"),
        "{types:?}"
    );

    server.delete(&gpath).await.expect(204);
    let alone = server.get(&path).await;
    assert!(alone.body.get("groups").is_none(), "{}", alone.body);
    let members = server.get(&format!("/Groups/{}", id(&outer))).await;
    assert!(members.body.get("members").is_none(), "{}", members.body);
}

#[tokio::test]
async fn a_kept_response_answers_only_the_same_projection_and_base_url() {
    let server = Server::new().await;
    let user = server
        .create_user_with(json!({"schemas": [USER], "userName": "ann", "title": "Engineer"}))
        .await;
    let path = format!("/Users/{}", id(&user));
    let full = server.get(&path).await;
    assert_eq!(full.body["title"], "Engineer");

    let only = server.get(&format!("{path}?attributes=userName")).await;
    only.expect(200);
    assert!(only.body.get("title").is_none(), "{}", only.body);
    assert_eq!(only.body["userName"], "ann");
    let without = server
        .get(&format!("{path}?excludedAttributes=title"))
        .await;
    assert!(without.body.get("title").is_none(), "{}", without.body);
    assert_eq!(server.get(&path).await.body["title"], "Engineer");
    // A bad parameter is refused even when a response for the resource is kept.
    let bad = server.get(&format!("{path}?attributes=name..x")).await;
    assert_eq!(bad.status, 400, "{}", bad.body);

    let here = full.body["meta"]["location"]
        .as_str()
        .expect("a location")
        .to_owned();
    let elsewhere = server
        .send("GET", &path, None, &[("host", "scim.example.org")])
        .await;
    elsewhere.expect(200);
    let there = elsewhere.body["meta"]["location"]
        .as_str()
        .expect("a location");
    assert!(there.contains("scim.example.org"), "{there}");
    assert_ne!(there, here);

    // Another tenant never gets this tenant's response, nor its user.
    let other = server.tenant("other").await;
    let foreign = server
        .send_as(&other, "GET", &format!("/scim/v2/other{path}"), None, &[])
        .await;
    assert_eq!(foreign.status, 404);
}
