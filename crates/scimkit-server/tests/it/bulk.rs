//! `/Bulk` (RFC 7644 §3.7): bulkId references, circular references, `failOnErrors`, limits,
//! and each operation's status, location and version.

use serde_json::{Value, json};

use crate::support::{
    BULK_REQUEST, BULK_RESPONSE, GROUP, Server, USER, assert_error, sorted, values,
};

fn bulk(operations: Value) -> Value {
    json!({ "schemas": [BULK_REQUEST], "Operations": operations })
}

/// The operations of a BulkResponse.
#[track_caller]
fn operations(body: &Value) -> &Vec<Value> {
    assert_eq!(body["schemas"], json!([BULK_RESPONSE]), "{body}");
    body["Operations"]
        .as_array()
        .unwrap_or_else(|| panic!("no Operations: {body}"))
}

/// The operation with `bulkId`.
#[track_caller]
fn by_bulk_id<'a>(body: &'a Value, bulk_id: &str) -> &'a Value {
    operations(body)
        .iter()
        .find(|o| o["bulkId"] == bulk_id)
        .unwrap_or_else(|| panic!("no operation {bulk_id}: {body}"))
}

/// The id at the end of an operation's `location`.
#[track_caller]
fn location_id(op: &Value) -> String {
    let location = op["location"]
        .as_str()
        .unwrap_or_else(|| panic!("no location: {op}"));
    location.rsplit('/').next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_group_references_a_user_created_in_the_same_request() {
    let s = Server::new().await;
    let reply = s
        .post(
            "/Bulk",
            bulk(json!([
                {
                    "method": "POST",
                    "path": "/Groups",
                    "bulkId": "g1",
                    "data": {
                        "schemas": [GROUP],
                        "displayName": "Tour Guides",
                        "members": [{ "type": "User", "value": "bulkId:u1" }],
                    },
                },
                {
                    "method": "POST",
                    "path": "/Users",
                    "bulkId": "u1",
                    "data": { "schemas": [USER], "userName": "alice", "password": "secret!" },
                },
            ])),
        )
        .await;
    reply.expect(200);
    let ops = operations(&reply.body);
    assert_eq!(ops.len(), 2, "{}", reply.body);
    let user_op = by_bulk_id(&reply.body, "u1");
    let group_op = by_bulk_id(&reply.body, "g1");
    for (op, endpoint) in [(user_op, "/Users/"), (group_op, "/Groups/")] {
        assert_eq!(op["method"], "POST", "{op}");
        assert_eq!(op["status"], "201", "{op}");
        assert_eq!(op["version"], "W/\"1\"", "{op}");
        let location = op["location"].as_str().expect("location");
        assert!(
            location.contains(&format!("/scim/v2/acme{endpoint}")),
            "{op}"
        );
    }
    let uid = location_id(user_op);
    let gid = location_id(group_op);

    let group = s.get(&format!("/Groups/{gid}")).await;
    group.expect(200);
    assert_eq!(
        values(&group.body, "members"),
        std::slice::from_ref(&uid),
        "{}",
        group.body
    );
    assert!(!group.body.to_string().contains("bulkId"), "{}", group.body);
    let user = s.get(&format!("/Users/{uid}")).await;
    user.expect(200);
    assert_eq!(user.body["userName"], "alice");
    assert!(user.body.get("password").is_none());
    assert_eq!(values(&user.body, "groups"), [gid]);
    // The location is the resource's own.
    assert_eq!(user.body["meta"]["location"], user_op["location"]);
}

#[tokio::test]
async fn put_patch_and_delete_operations_report_status_location_and_version() {
    let s = Server::new().await;
    let uid = crate::support::id(&s.create_user("existing").await);
    let other = crate::support::id(&s.create_user("doomed").await);
    let reply = s
        .post(
            "/Bulk",
            bulk(json!([
                {
                    "method": "PUT",
                    "path": format!("/Users/{uid}"),
                    "version": "W/\"1\"",
                    "data": { "schemas": [USER], "userName": "existing", "title": "Put" },
                },
                {
                    "method": "PATCH",
                    "path": format!("/Users/{uid}"),
                    "data": {
                        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{ "op": "replace", "path": "title", "value": "Patched" }],
                    },
                },
                { "method": "DELETE", "path": format!("/Users/{other}") },
                {
                    "method": "PUT",
                    "path": format!("/Users/{uid}"),
                    "version": "W/\"1\"",
                    "data": { "schemas": [USER], "userName": "existing", "title": "Stale" },
                },
            ])),
        )
        .await;
    reply.expect(200);
    let ops = operations(&reply.body);
    assert_eq!(ops.len(), 4, "{}", reply.body);
    assert_eq!(ops[0]["status"], "200", "{}", ops[0]);
    assert_eq!(ops[0]["version"], "W/\"2\"");
    assert!(
        ops[0]["location"]
            .as_str()
            .is_some_and(|l| l.ends_with(&format!("/Users/{uid}")))
    );
    assert_eq!(ops[1]["status"], "200", "{}", ops[1]);
    assert_eq!(ops[1]["version"], "W/\"3\"");
    assert_eq!(ops[2]["status"], "204", "{}", ops[2]);
    assert!(
        ops[2]["location"]
            .as_str()
            .is_some_and(|l| l.ends_with(&format!("/Users/{other}")))
    );
    assert_eq!(ops[3]["status"], "412", "{}", ops[3]);
    assert_eq!(ops[3]["response"]["status"], "412", "{}", ops[3]);
    for op in ops {
        assert!(op["status"].is_string(), "{op}");
    }
    let got = s.get(&format!("/Users/{uid}")).await;
    assert_eq!(got.body["title"], "Patched");
    assert_eq!(got.etag(), "W/\"3\"");
    assert_error(&s.get(&format!("/Users/{other}")).await, 404, None);
}

#[tokio::test]
async fn fail_on_errors_stops_after_that_many_errors() {
    let s = Server::new().await;
    s.create_user("taken").await;
    let reply = s
        .post(
            "/Bulk",
            json!({
                "schemas": [BULK_REQUEST],
                "failOnErrors": 1,
                "Operations": [
                    { "method": "POST", "path": "/Users", "bulkId": "a", "data": { "schemas": [USER], "userName": "first" } },
                    { "method": "POST", "path": "/Users", "bulkId": "b", "data": { "schemas": [USER], "userName": "taken" } },
                    { "method": "POST", "path": "/Users", "bulkId": "c", "data": { "schemas": [USER], "userName": "never" } },
                ],
            }),
        )
        .await;
    reply.expect(200);
    let ops = operations(&reply.body);
    assert_eq!(ops.len(), 2, "{}", reply.body);
    assert_eq!(by_bulk_id(&reply.body, "a")["status"], "201");
    let failed = by_bulk_id(&reply.body, "b");
    assert_eq!(failed["status"], "409", "{failed}");
    assert_eq!(failed["response"]["scimType"], "uniqueness", "{failed}");
    assert_eq!(
        failed["response"]["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"])
    );
    assert!(failed.get("location").is_none() || failed["location"].is_null());
    let names = s.get("/Users?sortBy=userName").await.names("userName");
    assert_eq!(names, ["first", "taken"]);

    // failOnErrors 2: goes on past the first error.
    let reply = s
        .post(
            "/Bulk",
            json!({
                "schemas": [BULK_REQUEST],
                "failOnErrors": 2,
                "Operations": [
                    { "method": "POST", "path": "/Users", "bulkId": "x", "data": { "schemas": [USER], "userName": "taken" } },
                    { "method": "POST", "path": "/Users", "bulkId": "y", "data": { "schemas": [USER], "userName": "second" } },
                    { "method": "POST", "path": "/Users", "bulkId": "z", "data": { "schemas": [USER], "userName": "TAKEN" } },
                    { "method": "POST", "path": "/Users", "bulkId": "w", "data": { "schemas": [USER], "userName": "never" } },
                ],
            }),
        )
        .await;
    reply.expect(200);
    assert_eq!(operations(&reply.body).len(), 3, "{}", reply.body);
    assert_eq!(by_bulk_id(&reply.body, "y")["status"], "201");

    // Without failOnErrors, every operation runs.
    let reply = s
        .post(
            "/Bulk",
            bulk(json!([
                { "method": "POST", "path": "/Users", "data": { "schemas": [USER], "userName": "taken" } },
                { "method": "POST", "path": "/Users", "data": { "schemas": [USER], "userName": "third" } },
            ])),
        )
        .await;
    reply.expect(200);
    let ops = operations(&reply.body);
    assert_eq!(ops.len(), 2);
    assert_eq!(ops[0]["status"], "409");
    assert_eq!(ops[1]["status"], "201");
}

#[tokio::test]
async fn more_than_max_operations_is_413() {
    let s = Server::with_config(|c| c.bulk_max_operations = 3).await;
    let op = |n: usize| json!({ "method": "POST", "path": "/Users", "bulkId": format!("u{n}"), "data": { "schemas": [USER], "userName": format!("u{n}") } });
    let reply = s
        .post("/Bulk", bulk(Value::Array((0..4).map(op).collect())))
        .await;
    assert_error(&reply, 413, None);
    assert_eq!(s.get("/Users").await.body["totalResults"], 0);
    let reply = s
        .post("/Bulk", bulk(Value::Array((0..3).map(op).collect())))
        .await;
    reply.expect(200);
    assert_eq!(operations(&reply.body).len(), 3);
    assert_eq!(s.get("/Users").await.body["totalResults"], 3);
}

#[tokio::test]
async fn circular_group_references_are_resolved() {
    let s = Server::new().await;
    let reply = s
        .post(
            "/Bulk",
            bulk(json!([
                {
                    "method": "POST",
                    "path": "/Groups",
                    "bulkId": "A",
                    "data": {
                        "schemas": [GROUP],
                        "displayName": "Group A",
                        "members": [{ "type": "Group", "value": "bulkId:B" }],
                    },
                },
                {
                    "method": "POST",
                    "path": "/Groups",
                    "bulkId": "B",
                    "data": {
                        "schemas": [GROUP],
                        "displayName": "Group B",
                        "members": [
                            { "type": "Group", "value": "bulkId:A" },
                            { "type": "User", "value": "bulkId:U" },
                        ],
                    },
                },
                {
                    "method": "POST",
                    "path": "/Users",
                    "bulkId": "U",
                    "data": { "schemas": [USER], "userName": "in.a.cycle" },
                },
            ])),
        )
        .await;
    reply.expect(200);
    assert_eq!(operations(&reply.body).len(), 3, "{}", reply.body);
    let u = by_bulk_id(&reply.body, "U");
    assert_eq!(u["status"], "201", "{}", reply.body);
    let u_id = location_id(u);
    let a = by_bulk_id(&reply.body, "A");
    let b = by_bulk_id(&reply.body, "B");
    assert_eq!(a["status"], "201", "{}", reply.body);
    assert_eq!(b["status"], "201", "{}", reply.body);
    let a_id = location_id(a);
    let b_id = location_id(b);
    let group_a = s.get(&format!("/Groups/{a_id}")).await;
    let group_b = s.get(&format!("/Groups/{b_id}")).await;
    group_a.expect(200);
    group_b.expect(200);
    assert_eq!(
        values(&group_a.body, "members"),
        std::slice::from_ref(&b_id),
        "{}",
        group_a.body
    );
    assert_eq!(
        values(&group_b.body, "members"),
        sorted(&[&a_id, &u_id]),
        "{}",
        group_b.body
    );
    // The user's groups walk the cycle once: B direct, A indirect.
    let user = s.get(&format!("/Users/{u_id}")).await;
    user.expect(200);
    assert_eq!(
        values(&user.body, "groups"),
        sorted(&[&a_id, &b_id]),
        "{}",
        user.body
    );
    for g in user.body["groups"].as_array().expect("groups") {
        let expected = if g["value"] == b_id.as_str() {
            "direct"
        } else {
            "indirect"
        };
        assert_eq!(g["type"], expected, "{}", user.body);
    }
}

#[tokio::test]
async fn each_operation_reports_the_version_its_resource_ends_at() {
    // RFC 7644 §3.7: `version` is the resource's current version. A group created without
    // its pending members to break a cycle, then given them, is at a later version than
    // the creation's.
    let s = Server::new().await;
    let reply = s
        .post(
            "/Bulk",
            bulk(json!([
                {
                    "method": "POST",
                    "path": "/Groups",
                    "bulkId": "A",
                    "data": { "schemas": [GROUP], "displayName": "A", "members": [{ "value": "bulkId:B" }] },
                },
                {
                    "method": "POST",
                    "path": "/Groups",
                    "bulkId": "B",
                    "data": { "schemas": [GROUP], "displayName": "B", "members": [{ "value": "bulkId:A" }] },
                },
            ])),
        )
        .await;
    reply.expect(200);
    for bulk_id in ["A", "B"] {
        let op = by_bulk_id(&reply.body, bulk_id);
        let got = s.get(&format!("/Groups/{}", location_id(op))).await;
        got.expect(200);
        assert_eq!(
            op["version"].as_str(),
            Some(got.etag()),
            "operation {bulk_id} reports {} but the group is at {}",
            op["version"],
            got.etag()
        );
        // A client that uses the reported version as If-Match is not refused.
        let reply = s
            .send(
                "PATCH",
                &format!("/Groups/{}", location_id(op)),
                Some(crate::support::patch_op(json!([
                    { "op": "replace", "path": "displayName", "value": format!("{bulk_id}2") },
                ]))),
                &[("if-match", op["version"].as_str().unwrap_or_default())],
            )
            .await;
        reply.expect_patched();
    }
}

#[tokio::test]
async fn a_reference_to_an_unknown_bulk_id_fails_that_operation_with_400() {
    let s = Server::new().await;
    let reply = s
        .post(
            "/Bulk",
            bulk(json!([
                {
                    "method": "POST",
                    "path": "/Users",
                    "bulkId": "ok",
                    "data": { "schemas": [USER], "userName": "fine" },
                },
                {
                    "method": "POST",
                    "path": "/Groups",
                    "bulkId": "g",
                    "data": {
                        "schemas": [GROUP],
                        "displayName": "Dangling",
                        "members": [{ "value": "bulkId:nowhere" }],
                    },
                },
            ])),
        )
        .await;
    reply.expect(200);
    assert_eq!(by_bulk_id(&reply.body, "ok")["status"], "201");
    let failed = by_bulk_id(&reply.body, "g");
    assert_eq!(failed["status"], "400", "{failed}");
    let response = &failed["response"];
    assert_eq!(response["status"], "400", "{failed}");
    assert_eq!(response["scimType"], "invalidValue", "{failed}");
    assert!(!response["detail"].as_str().unwrap_or_default().is_empty());
    let groups = s.get("/Groups").await;
    assert_eq!(groups.body["totalResults"], 0, "{}", groups.body);
}

#[tokio::test]
async fn a_reference_to_a_failed_operation_fails_too() {
    let s = Server::new().await;
    s.create_user("taken").await;
    let reply = s
        .post(
            "/Bulk",
            bulk(json!([
                { "method": "POST", "path": "/Users", "bulkId": "dup", "data": { "schemas": [USER], "userName": "taken" } },
                {
                    "method": "POST",
                    "path": "/Groups",
                    "bulkId": "g",
                    "data": { "schemas": [GROUP], "displayName": "G", "members": [{ "value": "bulkId:dup" }] },
                },
            ])),
        )
        .await;
    reply.expect(200);
    assert_eq!(by_bulk_id(&reply.body, "dup")["status"], "409");
    assert_eq!(by_bulk_id(&reply.body, "g")["status"], "400");
}

#[tokio::test]
async fn bulk_ids_in_paths_are_resolved() {
    let s = Server::new().await;
    let reply = s
        .post(
            "/Bulk",
            bulk(json!([
                { "method": "POST", "path": "/Users", "bulkId": "u", "data": { "schemas": [USER], "userName": "pathy" } },
                {
                    "method": "PATCH",
                    "path": "/Users/bulkId:u",
                    "data": {
                        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                        "Operations": [{ "op": "replace", "path": "title", "value": "Resolved" }],
                    },
                },
            ])),
        )
        .await;
    reply.expect(200);
    let ops = operations(&reply.body);
    assert_eq!(ops.len(), 2);
    assert_eq!(ops[1]["status"], "200", "{}", reply.body);
    let uid = location_id(&ops[0]);
    assert_eq!(location_id(&ops[1]), uid);
    let got = s.get(&format!("/Users/{uid}")).await;
    assert_eq!(got.body["title"], "Resolved");
}

#[tokio::test]
async fn malformed_bulk_requests() {
    let s = Server::new().await;
    // Duplicate bulkIds.
    let reply = s
        .post(
            "/Bulk",
            bulk(json!([
                { "method": "POST", "path": "/Users", "bulkId": "same", "data": { "schemas": [USER], "userName": "a" } },
                { "method": "POST", "path": "/Users", "bulkId": "same", "data": { "schemas": [USER], "userName": "b" } },
            ])),
        )
        .await;
    assert_error(&reply, 400, Some("invalidValue"));
    // No Operations.
    let reply = s.post("/Bulk", json!({ "schemas": [BULK_REQUEST] })).await;
    assert_error(&reply, 400, Some("invalidSyntax"));
    // An operation on an unknown endpoint fails alone.
    let reply = s
        .post(
            "/Bulk",
            bulk(json!([
                { "method": "POST", "path": "/Widgets", "data": { "schemas": [USER], "userName": "w" } },
                { "method": "POST", "path": "/Users", "data": { "schemas": [USER], "userName": "u" } },
            ])),
        )
        .await;
    reply.expect(200);
    let ops = operations(&reply.body);
    assert_eq!(ops[0]["status"], "400", "{}", reply.body);
    assert_eq!(ops[1]["status"], "201", "{}", reply.body);
    let ids = s.get("/Users").await.names("userName");
    assert_eq!(sorted(&ids), ["u"]);
}
