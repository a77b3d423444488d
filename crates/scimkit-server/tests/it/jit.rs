//! Just-in-time provisioning without duplicates: logins create or link users, and the IdP's
//! SCIM push adopts what a login created.

use serde_json::json;

use crate::support::{Server, USER, assert_error, id};
use scimkit_server::{JitMode, JitSettings, Login};

async fn app_token(s: &Server) -> String {
    s.scim
        .issue_app_token("acme", None, None)
        .await
        .unwrap()
        .token
}

fn login(subject: &str, email: &str) -> serde_json::Value {
    json!({"subject": subject, "email": email, "emailVerified": true, "givenName": "Ann", "familyName": "Lee"})
}

#[tokio::test]
async fn scim_only_tenants_link_but_never_create() {
    let s = Server::new().await;
    let app = app_token(&s).await;
    let known = s
        .create_user_with(
            json!({"schemas": [USER], "userName": "ann@example.com", "externalId": "sub-1"}),
        )
        .await;
    let r = s
        .send_as(
            &app,
            "POST",
            "/app/v1/acme/logins",
            Some(login("sub-1", "x@example.com")),
            &[],
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["created"], false);
    assert_eq!(r.body["matchedBy"], "externalId");
    assert_eq!(r.body["access"]["id"], id(&known).as_str());
    // Unknown person: refused, nothing created.
    let r = s
        .send_as(
            &app,
            "POST",
            "/app/v1/acme/logins",
            Some(login("sub-2", "bo@example.com")),
            &[],
        )
        .await;
    assert_eq!(
        (&r.body["created"], &r.body["access"]["exists"]),
        (&json!(false), &json!(false)),
        "{}",
        r.body
    );
    assert_eq!(s.get("/Users").await.body["totalResults"], 1);
}

#[tokio::test]
async fn hybrid_logins_create_once_and_scim_adopts_them() {
    let s = Server::new().await;
    let app = app_token(&s).await;
    s.send_as(
        &app,
        "PUT",
        "/app/v1/acme/jit",
        Some(json!({"mode": "hybrid", "keys": ["externalId", "userName", "email"]})),
        &[],
    )
    .await
    .expect(200);
    let first = s
        .send_as(
            &app,
            "POST",
            "/app/v1/acme/logins",
            Some(login("sub-9", "ann@example.com")),
            &[],
        )
        .await;
    first.expect(200);
    assert_eq!(first.body["created"], true, "{}", first.body);
    let jit_id = first.body["access"]["id"].as_str().unwrap().to_owned();
    assert_eq!(first.body["access"]["userName"], "ann@example.com");
    // The same person again: linked, not created.
    let again = s
        .send_as(
            &app,
            "POST",
            "/app/v1/acme/logins",
            Some(login("sub-9", "ann@example.com")),
            &[],
        )
        .await;
    assert_eq!(
        (&again.body["created"], &again.body["matchedBy"]),
        (&json!(false), &json!("externalId"))
    );
    assert_eq!(again.body["access"]["id"], jit_id.as_str());
    // The IdP pushes her by SCIM: the JIT record is adopted (201, same id), with the IdP's data.
    let pushed = s
        .post(
            "/Users",
            json!({"schemas": [USER], "userName": "ann@example.com", "externalId": "sub-9", "displayName": "Ann Lee (IdP)"}),
        )
        .await;
    pushed.expect(201);
    assert_eq!(id(&pushed.body), jit_id);
    assert_eq!(pushed.body["displayName"], "Ann Lee (IdP)");
    assert_eq!(s.get("/Users").await.body["totalResults"], 1);
    // Once adopted, the same push again is a true duplicate.
    let dup = s
        .post(
            "/Users",
            json!({"schemas": [USER], "userName": "ann@example.com", "externalId": "sub-9"}),
        )
        .await;
    assert_error(&dup, 409, Some("uniqueness"));
    assert_eq!(
        s.scim
            .store()
            .origin("acme", &jit_id)
            .await
            .unwrap()
            .as_deref(),
        Some("scim-adopted")
    );
}

#[tokio::test]
async fn a_verified_email_links_an_idp_created_user() {
    let s = Server::new().await;
    s.scim
        .set_jit("acme", &JitSettings::new(JitMode::Hybrid))
        .await
        .unwrap();
    let known = s
        .create_user_with(json!({"schemas": [USER], "userName": "c.doe", "emails": [{"value": "cd@example.com"}]}))
        .await;
    let mut claims = Login::default();
    claims.subject = "sub-new".into();
    claims.email = Some("CD@example.com".into());
    claims.email_verified = true;
    let out = s.scim.login("acme", &claims).await.unwrap();
    assert!(!out.created);
    assert_eq!(out.access.id.as_deref(), Some(id(&known).as_str()));
    assert_eq!(out.matched_by, Some(scimkit_server::JitKey::Email));
}

#[tokio::test]
async fn jit_only_tenants_refuse_scim_writes_to_users() {
    let s = Server::new().await;
    let app = app_token(&s).await;
    s.scim
        .set_jit("acme", &JitSettings::new(JitMode::JitOnly))
        .await
        .unwrap();
    let r = s
        .post("/Users", json!({"schemas": [USER], "userName": "x"}))
        .await;
    assert_error(&r, 403, None);
    let r = s
        .send_as(
            &app,
            "POST",
            "/app/v1/acme/logins",
            Some(login("sub-3", "z@example.com")),
            &[],
        )
        .await;
    assert_eq!(r.body["created"], true);
    // Groups are still the IdP's.
    s.create_group("g", &[]).await;
    // Bad requests and the other API's token.
    assert_error(
        &s.send_as(
            &app,
            "POST",
            "/app/v1/acme/logins",
            Some(json!({"email": "x"})),
            &[],
        )
        .await,
        400,
        Some("invalidSyntax"),
    );
    assert_error(
        &s.send_as(
            &app,
            "POST",
            "/app/v1/acme/logins",
            Some(json!({"subject": " "})),
            &[],
        )
        .await,
        400,
        Some("invalidValue"),
    );
    assert_error(
        &s.send("POST", "/app/v1/acme/logins", Some(login("a", "b")), &[])
            .await,
        401,
        None,
    );
    let got = s.send_as(&app, "GET", "/app/v1/acme/jit", None, &[]).await;
    assert_eq!(got.body["mode"], "jit-only");
}
