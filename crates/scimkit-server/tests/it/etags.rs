//! Versions and ETags (RFC 7644 §3.14): `If-Match` on writes, `If-None-Match` on reads.

use serde_json::json;

use crate::support::{GROUP, Server, USER, assert_error, id, patch_op};

#[tokio::test]
async fn a_matching_if_match_lets_writes_through() {
    let s = Server::new().await;
    let uid = id(&s.create_user("bjensen").await);
    let path = format!("/Users/{uid}");
    let reply = s
        .send(
            "PUT",
            &path,
            Some(json!({ "schemas": [USER], "userName": "bjensen", "title": "A" })),
            &[("if-match", "W/\"1\"")],
        )
        .await;
    reply.expect(200);
    assert_eq!(reply.etag(), "W/\"2\"");
    let reply = s
        .send(
            "PATCH",
            &path,
            Some(patch_op(
                json!([{ "op": "replace", "path": "title", "value": "B" }]),
            )),
            &[("if-match", "W/\"2\"")],
        )
        .await;
    reply.expect(200);
    assert_eq!(reply.etag(), "W/\"3\"");
    // The strong form of the same tag matches too.
    let reply = s
        .send(
            "PATCH",
            &path,
            Some(patch_op(
                json!([{ "op": "replace", "path": "title", "value": "C" }]),
            )),
            &[("if-match", "\"3\"")],
        )
        .await;
    reply.expect(200);
    let reply = s
        .send("DELETE", &path, None, &[("if-match", "W/\"4\"")])
        .await;
    reply.expect(204);
}

#[tokio::test]
async fn a_stale_if_match_is_412_and_changes_nothing() {
    let s = Server::new().await;
    let uid = id(&s.create_user("bjensen").await);
    let path = format!("/Users/{uid}");
    s.patch(
        &path,
        patch_op(json!([{ "op": "replace", "path": "title", "value": "now" }])),
    )
    .await
    .expect(200);

    let reply = s
        .send(
            "PUT",
            &path,
            Some(json!({ "schemas": [USER], "userName": "bjensen", "title": "stale" })),
            &[("if-match", "W/\"1\"")],
        )
        .await;
    assert_error(&reply, 412, None);
    let reply = s
        .send(
            "PATCH",
            &path,
            Some(patch_op(
                json!([{ "op": "replace", "path": "title", "value": "stale" }]),
            )),
            &[("if-match", "W/\"1\"")],
        )
        .await;
    assert_error(&reply, 412, None);
    let reply = s
        .send("DELETE", &path, None, &[("if-match", "W/\"1\"")])
        .await;
    assert_error(&reply, 412, None);

    let got = s.get(&path).await;
    got.expect(200);
    assert_eq!(got.etag(), "W/\"2\"");
    assert_eq!(got.body["title"], "now");
}

#[tokio::test]
async fn if_match_star_matches_any_version() {
    let s = Server::new().await;
    let gid = id(&s.create_group("Team", &[]).await);
    let path = format!("/Groups/{gid}");
    let reply = s
        .send(
            "PUT",
            &path,
            Some(json!({ "schemas": [GROUP], "displayName": "Renamed" })),
            &[("if-match", "*")],
        )
        .await;
    reply.expect(200);
    assert_eq!(reply.etag(), "W/\"2\"");
    let reply = s
        .send(
            "PATCH",
            &path,
            Some(patch_op(
                json!([{ "op": "replace", "path": "displayName", "value": "Again" }]),
            )),
            &[("if-match", "*")],
        )
        .await;
    reply.expect_patched();
    assert_eq!(reply.etag(), "W/\"3\"");
    s.send("DELETE", &path, None, &[("if-match", "*")])
        .await
        .expect(204);
    // `*` on a resource that does not exist: 404 (nothing to match).
    let reply = s.send("DELETE", &path, None, &[("if-match", "*")]).await;
    assert_error(&reply, 404, None);
}

#[tokio::test]
async fn if_none_match_with_the_current_etag_is_304_without_a_body() {
    let s = Server::new().await;
    let uid = id(&s.create_user("bjensen").await);
    let path = format!("/Users/{uid}");
    let reply = s
        .send("GET", &path, None, &[("if-none-match", "W/\"1\"")])
        .await;
    assert_eq!(reply.status, 304, "{}", reply.body);
    assert!(reply.raw.is_empty(), "{:?}", reply.raw);
    assert_eq!(reply.etag(), "W/\"1\"");

    // An older tag: the resource.
    s.patch(
        &path,
        patch_op(json!([{ "op": "replace", "path": "title", "value": "new" }])),
    )
    .await
    .expect(200);
    let reply = s
        .send("GET", &path, None, &[("if-none-match", "W/\"1\"")])
        .await;
    reply.expect(200);
    assert_eq!(reply.etag(), "W/\"2\"");
    assert_eq!(reply.body["title"], "new");
    // A list of tags, one current.
    let reply = s
        .send("GET", &path, None, &[("if-none-match", "W/\"1\", W/\"2\"")])
        .await;
    assert_eq!(reply.status, 304);
    assert!(reply.raw.is_empty());
}

#[tokio::test]
async fn etag_header_matches_meta_version_on_every_read_and_write() {
    let s = Server::new().await;
    let created = s
        .post("/Users", json!({ "schemas": [USER], "userName": "v" }))
        .await;
    assert_eq!(created.body["meta"]["version"], created.etag());
    let uid = id(&created.body);
    let path = format!("/Users/{uid}");
    let got = s.get(&path).await;
    assert_eq!(got.body["meta"]["version"], got.etag());
    let put = s
        .put(
            &path,
            json!({ "schemas": [USER], "userName": "v", "title": "t" }),
        )
        .await;
    assert_eq!(put.body["meta"]["version"], put.etag());
    let patched = s
        .patch(
            &path,
            patch_op(json!([{ "op": "replace", "path": "title", "value": "u" }])),
        )
        .await;
    assert_eq!(patched.body["meta"]["version"], patched.etag());
    assert_eq!(patched.etag(), "W/\"3\"");
}

#[tokio::test]
async fn if_match_with_a_list_of_tags_matches_any_of_them() {
    // RFC 7232 §3.1 (which RFC 7644 §3.14 builds on): a list matches when any tag matches.
    let s = Server::new().await;
    let uid = id(&s.create_user("listed").await);
    let path = format!("/Users/{uid}");
    s.patch(
        &path,
        patch_op(json!([{ "op": "replace", "path": "title", "value": "v2" }])),
    )
    .await
    .expect(200);
    let reply = s
        .send(
            "PATCH",
            &path,
            Some(patch_op(
                json!([{ "op": "replace", "path": "title", "value": "v3" }]),
            )),
            &[("if-match", "W/\"1\", W/\"2\"")],
        )
        .await;
    reply.expect(200);
    assert_eq!(reply.etag(), "W/\"3\"");
    // None of them current: 412.
    let reply = s
        .send(
            "PATCH",
            &path,
            Some(patch_op(
                json!([{ "op": "replace", "path": "title", "value": "v4" }]),
            )),
            &[("if-match", "W/\"1\", W/\"2\"")],
        )
        .await;
    assert_error(&reply, 412, None);
}
