//! Group membership: members on creation, PATCH add and filtered remove, and `User.groups`
//! with `direct`/`indirect` for nested groups (RFC 7643 §4.1.2, §4.2; RFC 7644 §3.5.2).

use serde_json::{Value, json};

use crate::support::{Server, id, patch_op, sorted, values};

/// The `type` of group `gid` in a user's `groups`, if it is there.
fn group_type(user: &Value, gid: &str) -> Option<String> {
    user["groups"].as_array()?.iter().find_map(|g| {
        (g["value"] == gid).then(|| g["type"].as_str().unwrap_or_default().to_owned())
    })
}

#[tokio::test]
async fn a_group_created_with_members_lists_them() {
    let s = Server::new().await;
    let a = id(&s.create_user("alice").await);
    let b = id(&s.create_user("bob").await);
    let group = s.create_group("Team", &[&a, &b]).await;
    assert_eq!(values(&group, "members"), sorted(&[&a, &b]), "{group}");
    let gid = id(&group);
    let got = s.get(&format!("/Groups/{gid}")).await;
    got.expect(200);
    assert_eq!(values(&got.body, "members"), sorted(&[&a, &b]));
    // Each member says what it is and where it lives, though only `value` was sent.
    for m in got.body["members"].as_array().expect("members") {
        let v = m["value"].as_str().expect("value");
        assert_eq!(m["type"], "User", "{m}");
        assert_eq!(
            m["$ref"],
            format!("http://localhost/scim/v2/acme/Users/{v}"),
            "{m}"
        );
    }
    // And each user lists the group.
    let alice = s.get(&format!("/Users/{a}")).await.body;
    assert_eq!(
        values(&alice, "groups"),
        std::slice::from_ref(&gid),
        "{alice}"
    );
    assert_eq!(group_type(&alice, &gid).as_deref(), Some("direct"));
    assert_eq!(
        alice["groups"][0]["$ref"],
        format!("http://localhost/scim/v2/acme/Groups/{gid}"),
        "{alice}"
    );
}

#[tokio::test]
async fn patch_adds_members_and_removes_one_by_filter() {
    let s = Server::new().await;
    let a = id(&s.create_user("alice").await);
    let b = id(&s.create_user("bob").await);
    let c = id(&s.create_user("carol").await);
    let gid = id(&s.create_group("Team", &[&a]).await);

    let reply = s
        .patch(
            &format!("/Groups/{gid}"),
            patch_op(json!([{
                "op": "add",
                "path": "members",
                "value": [{ "value": b }, { "value": c }],
            }])),
        )
        .await;
    reply.expect_patched();
    if reply.status == 200 {
        assert_eq!(values(&reply.body, "members"), sorted(&[&a, &b, &c]));
    }
    assert_eq!(reply.etag(), "W/\"2\"");
    let got = s.get(&format!("/Groups/{gid}")).await;
    assert_eq!(values(&got.body, "members"), sorted(&[&a, &b, &c]));
    assert_eq!(got.etag(), "W/\"2\"");

    let reply = s
        .patch(
            &format!("/Groups/{gid}"),
            patch_op(json!([{
                "op": "remove",
                "path": format!("members[value eq \"{b}\"]"),
            }])),
        )
        .await;
    reply.expect_patched();
    if reply.status == 200 {
        assert_eq!(values(&reply.body, "members"), sorted(&[&a, &c]));
    }
    let got = s.get(&format!("/Groups/{gid}")).await;
    assert_eq!(values(&got.body, "members"), sorted(&[&a, &c]));
    let bob = s.get(&format!("/Users/{b}")).await.body;
    assert!(values(&bob, "groups").is_empty(), "{bob}");

    // Entra's shape: capitalised op, members as a value list, with Prefer minimal.
    let reply = s
        .send(
            "PATCH",
            &format!("/Groups/{gid}"),
            Some(patch_op(json!([{
                "op": "Add",
                "path": "members",
                "value": [{ "value": b }],
            }]))),
            &[("prefer", "return=minimal")],
        )
        .await;
    reply.expect(204);
    let got = s.get(&format!("/Groups/{gid}")).await;
    assert_eq!(values(&got.body, "members"), sorted(&[&a, &b, &c]));
}

#[tokio::test]
async fn user_groups_show_direct_and_indirect_membership() {
    let s = Server::new().await;
    let u = id(&s.create_user("nested").await);
    let inner = id(&s.create_group("Inner", &[&u]).await);
    let outer = id(&s.create_group("Outer", &[&inner]).await);
    let top = id(&s.create_group("Top", &[&outer]).await);

    let got = s.get(&format!("/Users/{u}")).await;
    got.expect(200);
    let user = &got.body;
    assert_eq!(
        values(user, "groups"),
        sorted(&[&inner, &outer, &top]),
        "{user}"
    );
    assert_eq!(
        group_type(user, &inner).as_deref(),
        Some("direct"),
        "{user}"
    );
    assert_eq!(
        group_type(user, &outer).as_deref(),
        Some("indirect"),
        "{user}"
    );
    assert_eq!(
        group_type(user, &top).as_deref(),
        Some("indirect"),
        "{user}"
    );
    let inner_entry = user["groups"]
        .as_array()
        .and_then(|l| l.iter().find(|g| g["value"] == inner.as_str()))
        .expect("the inner group");
    assert_eq!(inner_entry["display"], "Inner", "{user}");

    // The outer group lists the inner group as a member of type Group.
    let outer_group = s.get(&format!("/Groups/{outer}")).await.body;
    assert_eq!(
        values(&outer_group, "members"),
        std::slice::from_ref(&inner)
    );
    if let Some(t) = outer_group["members"][0].get("type") {
        assert_eq!(t, "Group", "{outer_group}");
    }

    // Adding the user to Outer directly makes that membership direct.
    s.patch(
        &format!("/Groups/{outer}"),
        patch_op(json!([{ "op": "add", "path": "members", "value": [{ "value": u }] }])),
    )
    .await
    .expect_patched();
    let user = s.get(&format!("/Users/{u}")).await.body;
    assert_eq!(
        group_type(&user, &outer).as_deref(),
        Some("direct"),
        "{user}"
    );
    assert_eq!(
        group_type(&user, &top).as_deref(),
        Some("indirect"),
        "{user}"
    );

    // The list endpoint assembles `groups` too.
    let list = s.get("/Users?filter=userName%20eq%20%22nested%22").await;
    list.expect(200);
    assert_eq!(
        values(&list.resources()[0], "groups"),
        sorted(&[&inner, &outer, &top])
    );
}

#[tokio::test]
async fn deleting_a_user_removes_it_from_its_groups() {
    let s = Server::new().await;
    let a = id(&s.create_user("alice").await);
    let b = id(&s.create_user("bob").await);
    let gid = id(&s.create_group("Team", &[&a, &b]).await);
    s.delete(&format!("/Users/{a}")).await.expect(204);
    let got = s.get(&format!("/Groups/{gid}")).await;
    assert_eq!(values(&got.body, "members"), [b], "{}", got.body);
}

#[tokio::test]
async fn group_patch_with_prefer_return_representation_answers_200_with_members() {
    let s = Server::new().await;
    let a = id(&s.create_user("alice").await);
    let b = id(&s.create_user("bob").await);
    let gid = id(&s.create_group("Team", &[&a]).await);
    let reply = s
        .send(
            "PATCH",
            &format!("/Groups/{gid}"),
            Some(patch_op(json!([
                { "op": "add", "path": "members", "value": [{ "value": b }] },
                { "op": "replace", "path": "displayName", "value": "Team 2" },
            ]))),
            &[("prefer", "return=representation")],
        )
        .await;
    reply.expect(200);
    assert_eq!(reply.body["displayName"], "Team 2");
    assert_eq!(
        values(&reply.body, "members"),
        sorted(&[&a, &b]),
        "{}",
        reply.body
    );
    assert_eq!(reply.etag(), "W/\"2\"");
    assert_eq!(reply.body["meta"]["version"], "W/\"2\"");
}

#[tokio::test]
async fn deleting_a_group_removes_it_from_users_and_parent_groups() {
    let s = Server::new().await;
    let u = id(&s.create_user("alice").await);
    let inner = id(&s.create_group("Inner", &[&u]).await);
    let outer = id(&s.create_group("Outer", &[&inner]).await);
    s.delete(&format!("/Groups/{inner}")).await.expect(204);
    let user = s.get(&format!("/Users/{u}")).await.body;
    assert!(values(&user, "groups").is_empty(), "{user}");
    let outer = s.get(&format!("/Groups/{outer}")).await.body;
    assert!(values(&outer, "members").is_empty(), "{outer}");
}
