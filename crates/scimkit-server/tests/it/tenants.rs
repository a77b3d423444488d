//! Tenants are separate directories: a token opens one tenant, and nothing of one tenant is
//! visible from another.

use bytes::Bytes;
use serde_json::json;

use crate::support::{SEARCH, Server, USER, assert_error, bare, id, patch_op};

#[tokio::test]
async fn a_token_of_tenant_a_on_tenant_b_is_401() {
    let s = Server::new().await;
    let globex = s.tenant("globex").await;
    let reply = s
        .send_as(&s.token, "GET", "/scim/v2/globex/Users", None, &[])
        .await;
    assert_error(&reply, 401, None);
    assert!(reply.header("www-authenticate").starts_with("Bearer"));
    let reply = s.send_as(&globex, "GET", "/Users", None, &[]).await;
    assert_error(&reply, 401, None);
    // A tenant that does not exist answers as a wrong token does.
    let reply = s
        .send_as(&s.token, "GET", "/scim/v2/nobody/Users", None, &[])
        .await;
    assert_error(&reply, 401, None);
    // Each token opens its own tenant.
    s.send_as(&globex, "GET", "/scim/v2/globex/Users", None, &[])
        .await
        .expect(200);
    s.get("/Users").await.expect(200);
}

#[tokio::test]
async fn a_resource_of_tenant_a_is_404_on_tenant_b() {
    let s = Server::new().await;
    let globex = s.tenant("globex").await;
    let uid = id(&s.create_user("acme.user").await);
    let gid = id(&s.create_group("Acme Group", &[&uid]).await);
    for path in [format!("/Users/{uid}"), format!("/Groups/{gid}")] {
        let on_b = format!("/scim/v2/globex{path}");
        assert_error(
            &s.send_as(&globex, "GET", &on_b, None, &[]).await,
            404,
            None,
        );
        assert_error(
            &s.send_as(
                &globex,
                "PATCH",
                &on_b,
                Some(patch_op(
                    json!([{ "op": "replace", "path": "displayName", "value": "pwned" }]),
                )),
                &[],
            )
            .await,
            404,
            None,
        );
        assert_error(
            &s.send_as(&globex, "DELETE", &on_b, None, &[]).await,
            404,
            None,
        );
    }
    let reply = s
        .send_as(
            &globex,
            "PUT",
            &format!("/scim/v2/globex/Users/{uid}"),
            Some(json!({ "schemas": [USER], "userName": "acme.user" })),
            &[],
        )
        .await;
    assert_error(&reply, 404, None);
    // Untouched on A.
    let got = s.get(&format!("/Users/{uid}")).await;
    got.expect(200);
    assert_eq!(got.etag(), "W/\"1\"");
    assert_eq!(s.get(&format!("/Groups/{gid}")).await.etag(), "W/\"1\"");
}

#[tokio::test]
async fn lists_never_include_another_tenants_resources() {
    let s = Server::new().await;
    let globex = s.tenant("globex").await;
    s.create_user("shared.name").await;
    s.create_group("Acme Group", &[]).await;
    // The same userName is free in another tenant.
    let reply = s
        .send_as(
            &globex,
            "POST",
            "/scim/v2/globex/Users",
            Some(json!({ "schemas": [USER], "userName": "shared.name" })),
            &[],
        )
        .await;
    reply.expect(201);
    let globex_user = id(&reply.body);
    assert!(reply.header("location").contains("/scim/v2/globex/Users/"));

    let reply = s
        .send_as(&globex, "GET", "/scim/v2/globex/Users", None, &[])
        .await;
    reply.expect(200);
    assert_eq!(reply.body["totalResults"], 1);
    assert_eq!(reply.names("id"), std::slice::from_ref(&globex_user));
    let reply = s
        .send_as(&globex, "GET", "/scim/v2/globex/Groups", None, &[])
        .await;
    assert_eq!(reply.body["totalResults"], 0);
    assert_eq!(reply.body["Resources"], json!([]));
    let reply = s
        .send_as(
            &globex,
            "POST",
            "/scim/v2/globex/.search",
            Some(json!({ "schemas": [SEARCH] })),
            &[],
        )
        .await;
    reply.expect(200);
    assert_eq!(reply.body["totalResults"], 1);

    let reply = s.get("/Users").await;
    assert_eq!(reply.body["totalResults"], 1);
    assert_ne!(reply.names("id"), [globex_user]);
}

#[tokio::test]
async fn a_member_id_from_another_tenant_links_nothing_across_tenants() {
    let s = Server::new().await;
    let globex = s.tenant("globex").await;
    let reply = s
        .send_as(
            &globex,
            "POST",
            "/scim/v2/globex/Users",
            Some(json!({ "schemas": [USER], "userName": "outsider" })),
            &[],
        )
        .await;
    reply.expect(201);
    let outsider = id(&reply.body);
    let reply = s
        .post(
            "/Groups",
            json!({
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Cross",
                "members": [{ "value": outsider }],
            }),
        )
        .await;
    // The server may refuse the dangling member or keep it as an opaque value; either way the
    // other tenant's user does not become a member of this tenant's group.
    assert!(
        [201, 400, 404].contains(&reply.status),
        "{}: {}",
        reply.status,
        reply.body
    );
    let got = s
        .send_as(
            &globex,
            "GET",
            &format!("/scim/v2/globex/Users/{outsider}"),
            None,
            &[],
        )
        .await;
    got.expect(200);
    assert!(
        got.body["groups"].as_array().is_none_or(Vec::is_empty),
        "{}",
        got.body
    );
    let reply = s
        .send_as(&globex, "GET", "/scim/v2/globex/Groups", None, &[])
        .await;
    assert_eq!(reply.body["totalResults"], 0);
}

#[tokio::test]
async fn percent_encoded_tenant_names_do_not_cross_tenants() {
    let s = Server::new().await;
    s.tenant("globex").await;
    let reply = s
        .raw(
            bare("GET", "/scim/v2/%61cme/Users")
                .header("authorization", format!("Bearer {}", s.token))
                .body(Bytes::new())
                .expect("a request"),
        )
        .await;
    // `%61cme` is `acme`: its own token opens it.
    reply.expect(200);
    let reply = s
        .raw(
            bare("GET", "/scim/v2/globex%2F..%2Facme/Users")
                .header("authorization", format!("Bearer {}", s.token))
                .body(Bytes::new())
                .expect("a request"),
        )
        .await;
    assert_eq!(reply.status, 401, "{}", reply.body);
}
