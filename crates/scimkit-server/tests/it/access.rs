//! The host application's API: access checks and group-to-role rules, over HTTP and in Rust.

use proptest::prelude::*;
use serde_json::json;

use crate::support::{Server, USER, assert_error, id, patch_op};
use scimkit_server::{GroupMatch, RoleRule, UserKey};

/// acme with an app token; returns it.
async fn app_token(s: &Server) -> String {
    s.scim
        .issue_app_token("acme", Some("app"), None)
        .await
        .expect("an app token")
        .token
}

/// `engineering` contains `backend`, which contains bob; `everyone` contains `engineering`.
async fn directory(s: &Server) -> (String, String, String, String) {
    let bob = s
        .create_user_with(json!({
            "schemas": [USER], "userName": "bob", "externalId": "E-1",
            "emails": [{"value": "bob@example.com", "type": "work"}],
            "roles": [{"value": "auditor"}],
        }))
        .await;
    let bob = id(&bob);
    let backend = id(&s.create_group("backend", &[&bob]).await);
    let engineering = id(&s.create_group("Engineering", &[&backend]).await);
    let everyone = id(&s.create_group("everyone", &[&engineering]).await);
    (bob, backend, engineering, everyone)
}

#[tokio::test]
async fn an_access_check_names_groups_and_derives_roles() {
    let s = Server::new().await;
    let app = app_token(&s).await;
    let (bob, backend, engineering, everyone) = directory(&s).await;
    // The externalId rule needs the group's externalId.
    s.patch(
        &format!("/Groups/{everyone}"),
        patch_op(json!([{"op": "add", "path": "externalId", "value": "G-ALL"}])),
    )
    .await
    .expect_patched();
    let rules = json!({"rules": [
        {"group": {"displayName": "ENGINEERING"}, "roles": ["deploy", "read"]},
        {"group": {"externalId": "G-ALL"}, "roles": ["read", "chat"]},
        {"group": {"id": backend}, "roles": ["db"]},
        {"group": {"displayName": "sales"}, "roles": ["crm"]},
    ]});
    s.send_as(&app, "PUT", "/app/v1/acme/role-rules", Some(rules), &[])
        .await
        .expect(200);
    for query in [
        "userName=BOB",
        "externalId=E-1",
        "email=bob@example.com",
        &format!("id={bob}"),
    ] {
        let got = s
            .send_as(
                &app,
                "GET",
                &format!("/app/v1/acme/access?{query}"),
                None,
                &[],
            )
            .await;
        got.expect(200);
        let a = &got.body;
        assert_eq!(
            (&a["exists"], &a["active"], &a["id"]),
            (&json!(true), &json!(true), &json!(bob)),
            "{query}: {a}"
        );
        assert_eq!(a["userName"], "bob");
        assert_eq!(
            a["roles"],
            json!(["auditor", "chat", "db", "deploy", "read"]),
            "{a}"
        );
        let groups: Vec<(String, bool)> = a["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                (
                    g["id"].as_str().unwrap().to_owned(),
                    g["direct"].as_bool().unwrap(),
                )
            })
            .collect();
        let mut expected = vec![
            (backend.clone(), true),
            (engineering.clone(), false),
            (everyone.clone(), false),
        ];
        expected.sort_by(|a, b| a.0.cmp(&b.0));
        let mut groups = groups;
        groups.sort();
        assert_eq!(groups, expected);
    }
}

#[tokio::test]
async fn deprovisioning_shows_at_once() {
    let s = Server::new().await;
    let app = app_token(&s).await;
    let (bob, backend, _, _) = directory(&s).await;
    let check = |q: &'static str| {
        let (s, app) = (&s, app.clone());
        async move {
            s.send_as(&app, "GET", &format!("/app/v1/acme/access?{q}"), None, &[])
                .await
                .body
        }
    };
    s.scim
        .set_role_rules(
            "acme",
            &[RoleRule::new(
                GroupMatch::Id(backend.clone()),
                vec!["db".into()],
            )],
        )
        .await
        .unwrap();
    assert_eq!(
        check("userName=bob").await["roles"],
        json!(["auditor", "db"])
    );
    // Removed from the group: the role goes with it, no cache to wait for.
    s.patch(
        &format!("/Groups/{backend}"),
        patch_op(json!([{"op": "remove", "path": format!("members[value eq \"{bob}\"]")}])),
    )
    .await;
    assert_eq!(check("userName=bob").await["roles"], json!(["auditor"]));
    // Deactivated: still there, not active.
    s.patch(
        &format!("/Users/{bob}"),
        patch_op(json!([{"op": "Replace", "path": "active", "value": "False"}])),
    )
    .await
    .expect(200);
    let a = check("userName=bob").await;
    assert_eq!(
        (&a["exists"], &a["active"]),
        (&json!(true), &json!(false)),
        "{a}"
    );
    // Deleted: gone.
    s.delete(&format!("/Users/{bob}")).await.expect(204);
    let a = check("userName=bob").await;
    assert_eq!(
        a,
        json!({"exists": false, "active": false, "groups": [], "roles": [], "entitlements": []})
    );
    // The Rust call answers the same.
    let a = s
        .scim
        .access("acme", &UserKey::UserName("bob".into()))
        .await
        .unwrap();
    assert!(!a.exists && !a.active);
}

#[tokio::test]
async fn the_app_api_and_the_scim_api_take_their_own_tokens() {
    let s = Server::new().await;
    let app = app_token(&s).await;
    directory(&s).await;
    // A SCIM token does not open the app API, nor an app token the SCIM API.
    let r = s
        .send("GET", "/app/v1/acme/access?userName=bob", None, &[])
        .await;
    assert_error(&r, 401, None);
    let r = s.send_as(&app, "GET", "/Users", None, &[]).await;
    assert_error(&r, 401, None);
    // Another tenant's app token.
    s.tenant("beta").await;
    let beta_app = s
        .scim
        .issue_app_token("beta", None, None)
        .await
        .unwrap()
        .token;
    let r = s
        .send_as(
            &beta_app,
            "GET",
            "/app/v1/acme/access?userName=bob",
            None,
            &[],
        )
        .await;
    assert_error(&r, 401, None);
    let r = s
        .send_as(
            &beta_app,
            "GET",
            "/app/v1/beta/access?userName=bob",
            None,
            &[],
        )
        .await;
    assert_eq!(r.body["exists"], false);
}

#[tokio::test]
async fn bad_app_requests_get_scim_errors() {
    let s = Server::new().await;
    let app = app_token(&s).await;
    directory(&s).await;
    s.create_user_with(
        json!({"schemas": [USER], "userName": "twin", "emails": [{"value": "bob@example.com"}]}),
    )
    .await;
    let get = |q: &str| {
        let path = format!("/app/v1/acme/{q}");
        let (s, app) = (&s, app.clone());
        async move { s.send_as(&app, "GET", &path, None, &[]).await }
    };
    assert_error(&get("access").await, 400, Some("invalidValue"));
    assert_error(
        &get("access?userName=a&id=b").await,
        400,
        Some("invalidValue"),
    );
    assert_error(
        &get("access?email=bob@example.com").await,
        409,
        Some("uniqueness"),
    );
    assert_error(&get("nothing").await, 404, None);
    let r = s
        .send_as(
            &app,
            "PUT",
            "/app/v1/acme/role-rules",
            Some(json!({"rules": [{"group": {"name": "x"}}]})),
            &[],
        )
        .await;
    assert_error(&r, 400, Some("invalidSyntax"));
    let r = s
        .send_as(
            &app,
            "POST",
            "/app/v1/acme/access?userName=bob",
            Some(json!({})),
            &[],
        )
        .await;
    assert_error(&r, 405, None);
    // Rules read back as written.
    let rules = json!({"rules": [{"group": {"displayName": "x"}, "roles": ["a"]}]});
    s.send_as(
        &app,
        "PUT",
        "/app/v1/acme/role-rules",
        Some(rules.clone()),
        &[],
    )
    .await
    .expect(200);
    assert_eq!(get("role-rules").await.body, rules);
}

/// The model: roles = the user's own, plus those of every rule whose group the user reaches
/// through the member graph (any depth, cycles included).
fn closure(edges: &[(usize, usize)], start_groups: &[usize], rules: &[(usize, u8)]) -> Vec<String> {
    let mut seen = std::collections::BTreeSet::new();
    let mut stack: Vec<usize> = start_groups.to_vec();
    while let Some(g) = stack.pop() {
        if seen.insert(g) {
            // g is a member of every parent p with an edge (g, p).
            stack.extend(edges.iter().filter(|(c, _)| *c == g).map(|(_, p)| *p));
        }
    }
    let mut roles: Vec<String> = rules
        .iter()
        .filter(|(g, _)| seen.contains(g))
        .map(|(_, r)| format!("r{r}"))
        .collect();
    roles.sort();
    roles.dedup();
    roles
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Effective roles equal the transitive closure of membership over the rules, with
    /// cycles in the group graph.
    #[test]
    fn effective_roles_are_the_closure_of_membership(
        n in 1usize..7,
        edges in prop::collection::vec((0usize..7, 0usize..7), 0..14),
        direct in prop::collection::vec(0usize..7, 0..3),
        rules in prop::collection::vec((0usize..7, 0u8..5), 0..8),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let edges: Vec<(usize, usize)> = edges.into_iter().filter(|(a, b)| *a < n && *b < n && a != b).collect();
        let direct: Vec<usize> = direct.into_iter().filter(|g| *g < n).collect();
        let rules: Vec<(usize, u8)> = rules.into_iter().filter(|(g, _)| *g < n).collect();
        let got = rt.block_on(async {
            let s = Server::new().await;
            let user = id(&s.create_user("p").await);
            let mut groups = Vec::new();
            for g in 0..n {
                groups.push(id(&s.create_group(&format!("g{g}"), &[]).await));
            }
            let add = |group: usize, member: String| {
                let path = format!("/Groups/{}", groups[group]);
                let body = patch_op(json!([{"op": "add", "path": "members", "value": [{"value": member}]}]));
                (path, body)
            };
            let mut writes = Vec::new();
            for &(child, parent) in &edges {
                writes.push(add(parent, groups[child].clone()));
            }
            for &g in &direct {
                writes.push(add(g, user.clone()));
            }
            for (path, body) in writes {
                s.patch(&path, body).await.expect_patched();
            }
            let rule_list: Vec<RoleRule> = rules
                .iter()
                .map(|(g, r)| RoleRule::new(GroupMatch::DisplayName(format!("G{g}")), vec![format!("r{r}")]))
                .collect();
            s.scim.set_role_rules("acme", &rule_list).await.unwrap();
            s.scim.access("acme", &UserKey::Id(user)).await.unwrap().roles
        });
        prop_assert_eq!(got, closure(&edges, &direct, &rules));
    }
}

/// The `roles_changed` events of the outbox after `after`, as (user, added, removed).
async fn role_events(
    s: &Server,
    after: u64,
) -> Vec<(String, serde_json::Value, serde_json::Value)> {
    s.scim
        .store()
        .events("acme", after, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind.as_str() == "roles_changed")
        .map(|e| {
            (
                e.resource_id,
                e.data["added"].clone(),
                e.data["removed"].clone(),
            )
        })
        .collect()
}

async fn last_seq(s: &Server) -> u64 {
    s.scim
        .store()
        .events("acme", 0, 100_000)
        .await
        .unwrap()
        .last()
        .map_or(0, |e| e.seq)
}

#[tokio::test]
async fn role_changes_are_events_for_the_users_concerned() {
    let s = Server::new().await;
    let app = app_token(&s).await;
    let (bob, backend, engineering, _) = directory(&s).await;
    // No rules, no role events.
    assert!(role_events(&s, 0).await.is_empty());

    // A rule gives bob a role through the nested groups.
    let mark = last_seq(&s).await;
    let rules = json!({"rules": [{"group": {"displayName": "Engineering"}, "roles": ["deploy"]}]});
    s.send_as(&app, "PUT", "/app/v1/acme/role-rules", Some(rules), &[])
        .await
        .expect(200);
    assert_eq!(
        role_events(&s, mark).await,
        [(bob.clone(), json!(["deploy"]), json!([]))]
    );

    // Alice joins backend: she gains it; bob is not concerned.
    let alice = id(&s.create_user("alice").await);
    let mark = last_seq(&s).await;
    s.patch(
        &format!("/Groups/{backend}"),
        patch_op(json!([{"op": "add", "path": "members", "value": [{"value": alice}]}])),
    )
    .await
    .expect_patched();
    assert_eq!(
        role_events(&s, mark).await,
        [(alice.clone(), json!(["deploy"]), json!([]))]
    );

    // Renaming Engineering takes the role from both.
    let mark = last_seq(&s).await;
    s.patch(
        &format!("/Groups/{engineering}"),
        patch_op(json!([{"op": "replace", "path": "displayName", "value": "R&D"}])),
    )
    .await
    .expect_patched();
    let mut got = role_events(&s, mark).await;
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected = vec![
        (alice.clone(), json!([]), json!(["deploy"])),
        (bob.clone(), json!([]), json!(["deploy"])),
    ];
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, expected);

    // Back, then deleting backend takes it from its members.
    s.patch(
        &format!("/Groups/{engineering}"),
        patch_op(json!([{"op": "replace", "path": "displayName", "value": "Engineering"}])),
    )
    .await
    .expect_patched();
    let mark = last_seq(&s).await;
    s.delete(&format!("/Groups/{backend}")).await.expect(204);
    let mut got = role_events(&s, mark).await;
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, expected);
    // The event is delivered as scimkit's own SET URI.
    assert!(scimkit_server::events::EVENT_URIS.contains(&"urn:scimkit:event:roles-changed"));
}

#[tokio::test]
async fn idps_read_the_role_values_the_rules_give() {
    let s = Server::new().await;
    let app = app_token(&s).await;
    // No rules: an empty list, and nothing claimed.
    let got = s.get("/Roles").await;
    got.expect(200);
    assert_eq!(got.body["totalResults"], 0);
    let spc = s.get("/ServiceProviderConfig").await.body;
    assert!(spc.get("RolesAndEntitlements").is_none(), "{spc}");
    let rules = json!({"rules": [
        {"group": {"displayName": "a"}, "roles": ["deploy", "read"]},
        {"group": {"displayName": "b"}, "roles": ["read", "admin"]},
    ]});
    s.send_as(&app, "PUT", "/app/v1/acme/role-rules", Some(rules), &[])
        .await
        .expect(200);
    let spc = s.get("/ServiceProviderConfig").await.body;
    assert_eq!(spc["RolesAndEntitlements"]["roles"]["supported"], true);
    assert_eq!(
        spc["RolesAndEntitlements"]["entitlements"]["supported"],
        false
    );
    // The SCIM token reads them (the IdP offers them); values are unique and sorted.
    let got = s.get("/Roles").await;
    let values: Vec<&str> = got.body["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["value"].as_str().unwrap())
        .collect();
    assert_eq!(values, ["admin", "deploy", "read"]);
    assert_eq!(
        got.body["Resources"][0]["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:Role"])
    );
    assert_eq!(s.get("/Roles/deploy").await.body["supported"], true);
    assert_error(&s.get("/Roles/nope").await, 404, None);
    // Discovery lists the Role resource type and schema, as the draft has clients find them.
    let types = s.get("/ResourceTypes").await.body;
    let role = types["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == "Role")
        .expect("a Role resource type")
        .clone();
    assert_eq!(role["endpoint"], "/Roles");
    assert_eq!(role["schema"], "urn:ietf:params:scim:schemas:core:2.0:Role");
    let schema = s
        .get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:Role")
        .await;
    schema.expect(200);
    assert_eq!(schema.body["name"], "Role");
    assert_error(&s.post("/Roles", json!({"value": "x"})).await, 405, None);
}

#[tokio::test]
async fn rules_grant_entitlements_too() {
    let s = Server::new().await;
    let app = app_token(&s).await;
    let (bob, ..) = directory(&s).await;
    let rules = json!({"rules": [
        {"group": {"displayName": "Engineering"}, "roles": ["deploy"], "entitlements": ["license.full"]},
        {"group": {"displayName": "backend"}, "entitlements": ["db.write"]},
    ]});
    s.send_as(
        &app,
        "PUT",
        "/app/v1/acme/role-rules",
        Some(rules.clone()),
        &[],
    )
    .await
    .expect(200);
    // Rules read back as written (a rule without roles reads back with an empty list).
    let got = s
        .send_as(&app, "GET", "/app/v1/acme/role-rules", None, &[])
        .await
        .body;
    assert_eq!(got["rules"][1]["entitlements"], json!(["db.write"]));
    let a = s
        .send_as(
            &app,
            "GET",
            &format!("/app/v1/acme/access?id={bob}"),
            None,
            &[],
        )
        .await
        .body;
    assert_eq!(a["roles"], json!(["auditor", "deploy"]));
    assert_eq!(a["entitlements"], json!(["db.write", "license.full"]));
    // The IdP reads the entitlement values, and discovery claims both.
    let got = s.get("/Entitlements").await.body;
    assert_eq!(got["totalResults"], 2);
    assert_eq!(
        got["Resources"][0]["schemas"],
        json!(["urn:ietf:params:scim:schemas:core:2.0:Entitlement"])
    );
    assert_eq!(
        s.get("/Entitlements/db.write").await.body["value"],
        "db.write"
    );
    let spc = s.get("/ServiceProviderConfig").await.body;
    assert_eq!(
        spc["RolesAndEntitlements"]["entitlements"]["supported"],
        true
    );
    let types = s.get("/ResourceTypes").await.body;
    assert!(
        types["Resources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["endpoint"] == "/Entitlements")
    );
    s.get("/Schemas/urn:ietf:params:scim:schemas:core:2.0:Entitlement")
        .await
        .expect(200);
}
