//! Discovery (RFC 7644 §4): `/ServiceProviderConfig`, `/ResourceTypes`, `/Schemas`, and
//! `/Me` (§3.11).

use serde_json::{Value, json};

use crate::support::{Server, USER, assert_error};

const SPC: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
const SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

#[tokio::test]
async fn service_provider_config_says_what_is_supported() {
    let s = Server::with_config(|c| {
        c.bulk_max_operations = 3;
        c.max_payload_size = 4096;
        c.max_results = 50;
    })
    .await;
    let reply = s.get("/ServiceProviderConfig").await;
    reply.expect(200);
    let spc = &reply.body;
    assert_eq!(spc["schemas"], json!([SPC]), "{spc}");
    assert_eq!(spc["patch"]["supported"], true);
    assert_eq!(spc["bulk"]["supported"], true);
    assert_eq!(spc["bulk"]["maxOperations"], 3);
    assert_eq!(spc["bulk"]["maxPayloadSize"], 4096);
    assert_eq!(spc["filter"]["supported"], true);
    assert_eq!(spc["filter"]["maxResults"], 50);
    assert_eq!(spc["changePassword"]["supported"], false);
    assert_eq!(spc["sort"]["supported"], true);
    assert_eq!(spc["etag"]["supported"], true);
    let schemes = spc["authenticationSchemes"]
        .as_array()
        .expect("authenticationSchemes");
    assert!(!schemes.is_empty());
    for scheme in schemes {
        assert!(scheme["type"].is_string(), "{scheme}");
        assert!(
            !scheme["name"].as_str().unwrap_or_default().is_empty(),
            "{scheme}"
        );
        assert!(
            !scheme["description"]
                .as_str()
                .unwrap_or_default()
                .is_empty(),
            "{scheme}"
        );
    }
    assert_eq!(spc["meta"]["resourceType"], "ServiceProviderConfig");
    assert!(
        spc["meta"]["location"]
            .as_str()
            .is_some_and(|l| l.ends_with("/scim/v2/acme/ServiceProviderConfig")),
        "{spc}"
    );
    // The defaults.
    let s = Server::new().await;
    let spc = s.get("/ServiceProviderConfig").await.body;
    assert_eq!(spc["bulk"]["maxOperations"], 1000);
    assert_eq!(spc["bulk"]["maxPayloadSize"], 1024 * 1024);
    assert_eq!(spc["filter"]["maxResults"], 1000);
}

#[tokio::test]
async fn resource_types_list_and_one() {
    let s = Server::new().await;
    let reply = s.get("/ResourceTypes").await;
    reply.expect(200);
    let names = reply.names("name");
    assert!(names.contains(&"User".to_owned()), "{names:?}");
    assert!(names.contains(&"Group".to_owned()), "{names:?}");
    assert_eq!(reply.body["totalResults"], reply.resources().len());
    for rt in reply.resources() {
        assert_eq!(rt["schemas"], json!([RESOURCE_TYPE]), "{rt}");
        assert!(
            rt["endpoint"].is_string() && rt["schema"].is_string(),
            "{rt}"
        );
    }

    let reply = s.get("/ResourceTypes/User").await;
    reply.expect(200);
    let user = &reply.body;
    assert_eq!(user["id"], "User");
    assert_eq!(user["name"], "User");
    assert_eq!(user["endpoint"], "/Users");
    assert_eq!(user["schema"], USER);
    let extensions = user["schemaExtensions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        extensions.iter().any(|e| e["schema"] == ENTERPRISE),
        "{user}"
    );
    assert!(
        user["meta"]["location"]
            .as_str()
            .is_some_and(|l| l.ends_with("/ResourceTypes/User")),
        "{user}"
    );
    s.get("/ResourceTypes/Group").await.expect(200);

    assert_error(&s.get("/ResourceTypes/Widget").await, 404, None);
}

#[tokio::test]
async fn schemas_list_and_one() {
    let s = Server::new().await;
    let reply = s.get("/Schemas").await;
    reply.expect(200);
    let ids = reply.names("id");
    for urn in [
        USER,
        "urn:ietf:params:scim:schemas:core:2.0:Group",
        ENTERPRISE,
    ] {
        assert!(ids.contains(&urn.to_owned()), "{urn} not in {ids:?}");
    }
    assert_eq!(reply.body["totalResults"], ids.len());

    let reply = s.get(&format!("/Schemas/{USER}")).await;
    reply.expect(200);
    let schema = &reply.body;
    assert_eq!(schema["id"], USER);
    assert_eq!(schema["schemas"], json!([SCHEMA]), "{schema}");
    let attributes = schema["attributes"].as_array().expect("attributes");
    let user_name = attributes
        .iter()
        .find(|a| a["name"] == "userName")
        .expect("userName");
    assert_eq!(user_name["uniqueness"], "server");
    assert_eq!(user_name["required"], true);
    let password = attributes
        .iter()
        .find(|a| a["name"] == "password")
        .expect("password");
    assert_eq!(password["returned"], "never");
    assert_eq!(password["mutability"], "writeOnly");
    assert!(
        schema["meta"]["location"]
            .as_str()
            .is_some_and(|l| l.ends_with(&format!("/Schemas/{USER}"))),
        "{}",
        schema["meta"]
    );
    assert_error(
        &s.get("/Schemas/urn:example:no:such:schema").await,
        404,
        None,
    );
}

#[tokio::test]
async fn filtering_discovery_endpoints_is_403() {
    let s = Server::new().await;
    for path in [
        "/Schemas?filter=id%20eq%20%22x%22",
        "/ResourceTypes?filter=name%20eq%20%22User%22",
    ] {
        let reply = s.get(path).await;
        assert_error(&reply, 403, None);
    }
}

#[tokio::test]
async fn me_is_501() {
    let s = Server::new().await;
    assert_error(&s.get("/Me").await, 501, None);
    let reply = s
        .post("/Me", json!({ "schemas": [USER], "userName": "me" }))
        .await;
    assert_error(&reply, 501, None);
}

#[tokio::test]
async fn discovery_answers_follow_accept() {
    let s = Server::new().await;
    let reply = s
        .send(
            "GET",
            "/ServiceProviderConfig",
            None,
            &[("accept", "application/json")],
        )
        .await;
    reply.expect(200);
    assert!(reply.header("content-type").starts_with("application/json"));
    assert!(reply.body.is_object() && reply.body != Value::Null);
}
