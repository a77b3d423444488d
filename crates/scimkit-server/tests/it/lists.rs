//! Lists and searches (RFC 7644 §3.4.2, §3.4.3; RFC 9865 cursors): filters, sorting, index
//! and cursor paging, `attributes`/`excludedAttributes`, and POST `.search`.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{GROUP, SEARCH, Server, USER, assert_error, id};

/// `value` percent-encoded for a query string.
pub(crate) fn enc(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// `/Users?filter=<filter>`.
fn filtered(filter: &str) -> String {
    format!("/Users?filter={}", enc(filter))
}

/// Creates users `u01` … `u{n}` (in that order).
async fn users(s: &Server, n: usize) -> Vec<String> {
    let mut ids = Vec::new();
    for i in 1..=n {
        ids.push(id(&s.create_user(&format!("u{i:02}")).await));
    }
    ids
}

#[tokio::test]
async fn filter_user_name_eq_is_case_insensitive() {
    let s = Server::new().await;
    let bid = id(&s.create_user("bjensen@example.com").await);
    s.create_user("jsmith@example.com").await;
    let reply = s
        .get(&filtered(r#"userName eq "BJensen@Example.com""#))
        .await;
    reply.expect(200);
    assert_eq!(reply.body["totalResults"], 1);
    assert_eq!(reply.body["itemsPerPage"], 1);
    assert_eq!(reply.body["startIndex"], 1);
    assert_eq!(reply.resources()[0]["id"], bid.as_str());
    assert_eq!(
        reply.resources()[0]["meta"]["location"]
            .as_str()
            .map(|l| l.ends_with(&format!("/Users/{bid}"))),
        Some(true)
    );
}

#[tokio::test]
async fn filter_on_a_value_path_sub_attribute_as_entra_sends() {
    let s = Server::new().await;
    let work = id(&s
        .create_user_with(json!({
            "schemas": [USER],
            "userName": "w",
            "emails": [
                { "value": "home@example.com", "type": "home" },
                { "value": "work@example.com", "type": "work" },
            ],
        }))
        .await);
    s.create_user_with(json!({
        "schemas": [USER],
        "userName": "h",
        "emails": [{ "value": "work@example.com", "type": "home" }],
    }))
    .await;
    let reply = s
        .get(&filtered(
            r#"emails[type eq "work"].value eq "work@example.com""#,
        ))
        .await;
    reply.expect(200);
    assert_eq!(reply.body["totalResults"], 1, "{}", reply.body);
    assert_eq!(reply.resources()[0]["id"], work.as_str());
    // The RFC's own form.
    let reply = s
        .get(&filtered(
            r#"emails[type eq "work" and value eq "work@example.com"]"#,
        ))
        .await;
    reply.expect(200);
    assert_eq!(reply.names("id"), [work]);
}

#[tokio::test]
async fn filter_on_meta_last_modified() {
    let s = Server::new().await;
    s.create_user("early").await;
    s.advance(Duration::from_secs(3600));
    let late = id(&s.create_user("late").await);
    let reply = s
        .get(&filtered(r#"meta.lastModified gt "2026-11-28T12:30:00Z""#))
        .await;
    reply.expect(200);
    assert_eq!(reply.body["totalResults"], 1, "{}", reply.body);
    assert_eq!(reply.names("id"), [late]);
    let reply = s
        .get(&filtered(r#"meta.lastModified lt "2026-11-28T12:30:00Z""#))
        .await;
    assert_eq!(reply.names("userName"), ["early"]);
}

#[tokio::test]
async fn no_match_is_an_empty_list_response() {
    let s = Server::new().await;
    s.create_user("someone").await;
    let reply = s.get(&filtered(r#"userName eq "nobody""#)).await;
    reply.expect(200);
    assert_eq!(
        reply.body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:ListResponse"])
    );
    assert_eq!(reply.body["totalResults"], 0);
    assert_eq!(reply.body["Resources"], json!([]));
    // On an empty tenant too, and for groups.
    let reply = s.get("/Groups").await;
    reply.expect(200);
    assert_eq!(reply.body["totalResults"], 0);
    assert_eq!(reply.body["Resources"], json!([]));
}

#[tokio::test]
async fn sort_by_and_sort_order() {
    let s = Server::new().await;
    for name in ["carol", "Alice", "bob"] {
        s.create_user(name).await;
    }
    let reply = s.get("/Users?sortBy=userName").await;
    reply.expect(200);
    assert_eq!(reply.names("userName"), ["Alice", "bob", "carol"]);
    let reply = s.get("/Users?sortBy=userName&sortOrder=descending").await;
    assert_eq!(reply.names("userName"), ["carol", "bob", "Alice"]);
    let reply = s.get("/Users?sortBy=userName&sortOrder=ascending").await;
    assert_eq!(reply.names("userName"), ["Alice", "bob", "carol"]);
    let reply = s.get("/Users?sortBy=userName&sortOrder=sideways").await;
    assert_error(&reply, 400, Some("invalidValue"));
}

#[tokio::test]
async fn index_paging_with_start_index_and_count() {
    let s = Server::new().await;
    users(&s, 7).await;
    let reply = s.get("/Users?sortBy=userName&startIndex=3&count=2").await;
    reply.expect(200);
    assert_eq!(reply.body["totalResults"], json!(7));
    assert_eq!(reply.body["itemsPerPage"], json!(2));
    assert_eq!(reply.body["startIndex"], json!(3));
    assert_eq!(reply.names("userName"), ["u03", "u04"]);

    // Walking every page visits every user once.
    let mut seen = Vec::new();
    let mut start = 1;
    loop {
        let reply = s
            .get(&format!(
                "/Users?sortBy=userName&startIndex={start}&count=3"
            ))
            .await;
        reply.expect(200);
        assert_eq!(reply.body["totalResults"], 7);
        assert_eq!(reply.body["startIndex"], start);
        let names = reply.names("userName");
        if names.is_empty() {
            break;
        }
        start += names.len();
        seen.extend(names);
    }
    let expected: Vec<String> = (1..=7).map(|i| format!("u{i:02}")).collect();
    assert_eq!(seen, expected);

    // Past the end: an empty page with the total.
    let reply = s.get("/Users?startIndex=50&count=5").await;
    reply.expect(200);
    assert_eq!(reply.body["totalResults"], 7);
    assert_eq!(reply.body["itemsPerPage"], 0);
    assert_eq!(reply.body["Resources"], json!([]));
}

#[tokio::test]
async fn count_zero_negative_count_and_start_index_zero() {
    let s = Server::new().await;
    users(&s, 3).await;
    // count=0: only the total (RFC 7644 §3.4.2.4).
    let reply = s.get("/Users?count=0").await;
    reply.expect(200);
    assert_eq!(reply.body["totalResults"], 3);
    assert_eq!(reply.body["itemsPerPage"], 0);
    assert_eq!(reply.body["Resources"], json!([]));
    // A negative count is read as 0.
    let reply = s.get("/Users?count=-5").await;
    reply.expect(200);
    assert_eq!(reply.body["totalResults"], 3);
    assert_eq!(reply.body["Resources"], json!([]));
    // A startIndex below 1 is read as 1.
    let reply = s.get("/Users?sortBy=userName&startIndex=0&count=2").await;
    reply.expect(200);
    assert_eq!(reply.body["startIndex"], 1);
    assert_eq!(reply.names("userName"), ["u01", "u02"]);
    let reply = s.get("/Users?sortBy=userName&startIndex=-3").await;
    reply.expect(200);
    assert_eq!(reply.body["startIndex"], 1);
    assert_eq!(reply.body["itemsPerPage"], 3);
    // A count that is not a number is refused.
    assert_error(&s.get("/Users?count=ten").await, 400, Some("invalidValue"));
}

#[tokio::test]
async fn count_is_capped_at_max_results() {
    let s = Server::with_config(|c| {
        c.max_results = 3;
        c.default_count = 2;
    })
    .await;
    users(&s, 5).await;
    let reply = s.get("/Users?count=100").await;
    reply.expect(200);
    assert_eq!(reply.body["totalResults"], 5);
    assert_eq!(reply.body["itemsPerPage"], 3);
    assert_eq!(reply.resources().len(), 3);
    // No count: the default page size.
    let reply = s.get("/Users").await;
    assert_eq!(reply.body["itemsPerPage"], 2);
}

#[tokio::test]
async fn cursor_paging_visits_every_resource_once() {
    let s = Server::new().await;
    let ids = users(&s, 7).await;
    let mut seen = Vec::new();
    let mut cursor = String::new();
    let mut pages = 0;
    loop {
        let reply = s
            .get(&format!("/Users?count=3&cursor={}", enc(&cursor)))
            .await;
        reply.expect(200);
        assert_eq!(reply.body["totalResults"], 7, "{}", reply.body);
        assert!(reply.body.get("startIndex").is_none(), "{}", reply.body);
        let page = reply.names("id");
        assert_eq!(reply.body["itemsPerPage"], page.len());
        seen.extend(page);
        pages += 1;
        assert!(pages <= 5, "the cursors do not end: {}", reply.body);
        match reply.body.get("nextCursor").and_then(Value::as_str) {
            Some(next) => {
                assert!(!next.is_empty());
                cursor = next.to_owned();
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 7, "{seen:?}");
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique, ids.iter().collect::<BTreeSet<_>>());

    // A cursor that was never issued is refused.
    let reply = s.get("/Users?cursor=not-a-cursor").await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    let scim_type = reply.body["scimType"].as_str().map(str::to_owned);
    assert_error(&reply, 400, scim_type.as_deref());
}

#[tokio::test]
async fn cursor_with_start_index_is_400() {
    let s = Server::new().await;
    users(&s, 2).await;
    let reply = s.get("/Users?cursor=&startIndex=1").await;
    assert_error(&reply, 400, Some("invalidValue"));
}

#[tokio::test]
async fn attributes_and_excluded_attributes() {
    let s = Server::new().await;
    let uid = id(&s
        .create_user_with(json!({
            "schemas": [USER],
            "userName": "shape",
            "displayName": "Shape",
            "emails": [{ "value": "s@example.com", "type": "work" }],
        }))
        .await);
    s.create_group("With members", &[&uid]).await;

    let reply = s.get("/Users?attributes=displayName").await;
    reply.expect(200);
    let user = &reply.resources()[0];
    assert_eq!(user["displayName"], "Shape");
    // `returned: always` attributes stay.
    assert_eq!(user["id"], uid.as_str());
    assert!(user.get("emails").is_none(), "{user}");
    assert!(user.get("userName").is_none() || user["userName"] == "shape");

    let reply = s.get("/Users?excludedAttributes=emails,displayName").await;
    let user = &reply.resources()[0];
    assert!(user.get("emails").is_none(), "{user}");
    assert!(user.get("displayName").is_none(), "{user}");
    assert_eq!(user["userName"], "shape");
    assert_eq!(user["id"], uid.as_str());

    // On one resource.
    let reply = s
        .get(&format!("/Users/{uid}?attributes=emails.value"))
        .await;
    reply.expect(200);
    assert_eq!(reply.body["emails"][0]["value"], "s@example.com");
    assert!(
        reply.body["emails"][0].get("type").is_none(),
        "{}",
        reply.body
    );
    assert!(reply.body.get("displayName").is_none());

    // Entra lists groups without their members.
    let reply = s.get("/Groups?excludedAttributes=members").await;
    reply.expect(200);
    let group = &reply.resources()[0];
    assert_eq!(group["displayName"], "With members");
    assert!(group.get("members").is_none(), "{group}");
    assert!(group.get("id").is_some());
    let reply = s
        .get(&format!(
            "/Groups?excludedAttributes=members&filter={}",
            enc(r#"displayName eq "With members""#)
        ))
        .await;
    assert_eq!(reply.body["totalResults"], 1);
    assert!(reply.resources()[0].get("members").is_none());
}

#[tokio::test]
async fn an_invalid_filter_is_400_invalid_filter_with_detail() {
    let s = Server::new().await;
    for bad in [
        r#"userName eq"#,
        r#"userName xx "a""#,
        r#"(userName eq "a""#,
        r#"userName eq "unterminated"#,
    ] {
        let reply = s.get(&filtered(bad)).await;
        assert_error(&reply, 400, Some("invalidFilter"));
    }
}

#[tokio::test]
async fn unknown_query_parameters_are_ignored() {
    let s = Server::new().await;
    s.create_user("entra").await;
    let reply = s
        .get(&format!(
            "/Users?aadOptscim062020&filter={}",
            enc(r#"userName eq "entra""#)
        ))
        .await;
    reply.expect(200);
    assert_eq!(reply.body["totalResults"], 1);
    let reply = s.get("/Users?aadOptscim062020=1&foo=bar").await;
    reply.expect(200);
    assert_eq!(reply.body["totalResults"], 1);
}

#[tokio::test]
async fn post_search_on_an_endpoint() {
    let s = Server::new().await;
    users(&s, 4).await;
    let reply = s
        .post(
            "/Users/.search",
            json!({
                "schemas": [SEARCH],
                "filter": "userName sw \"u0\"",
                "sortBy": "userName",
                "sortOrder": "descending",
                "startIndex": 1,
                "count": 2,
                "attributes": ["userName"],
            }),
        )
        .await;
    reply.expect(200);
    assert_eq!(reply.body["totalResults"], 4);
    assert_eq!(reply.body["itemsPerPage"], 2);
    assert_eq!(reply.names("userName"), ["u04", "u03"]);
    assert!(reply.resources()[0].get("meta").is_none());

    let reply = s
        .post(
            "/Users/.search",
            json!({ "schemas": [SEARCH], "filter": "userName eq" }),
        )
        .await;
    assert_error(&reply, 400, Some("invalidFilter"));
    // GET on .search is not a search.
    let reply = s.get("/Users/.search").await;
    assert_error(&reply, 405, None);
    assert!(reply.header("allow").contains("POST"));
}

#[tokio::test]
async fn post_search_at_the_root_spans_resource_types() {
    let s = Server::new().await;
    let uid = id(&s.create_user("root").await);
    let gid = id(&s.create_group("Root Group", &[]).await);
    let reply = s.post("/.search", json!({ "schemas": [SEARCH] })).await;
    reply.expect(200);
    assert_eq!(reply.body["totalResults"], 2, "{}", reply.body);
    let found: BTreeSet<String> = reply.names("id").into_iter().collect();
    assert_eq!(found, BTreeSet::from([uid.clone(), gid.clone()]));
    let types: BTreeSet<String> = reply
        .resources()
        .iter()
        .map(|r| {
            r["meta"]["resourceType"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        types,
        BTreeSet::from(["Group".to_owned(), "User".to_owned()])
    );

    let reply = s
        .post(
            "/.search",
            json!({ "schemas": [SEARCH], "filter": "displayName eq \"Root Group\"" }),
        )
        .await;
    reply.expect(200);
    assert_eq!(reply.names("id"), [gid]);

    let reply = s
        .post(
            "/.search",
            json!({ "schemas": [SEARCH], "filter": "userName eq \"ROOT\"" }),
        )
        .await;
    reply.expect(200);
    assert_eq!(reply.names("id"), [uid]);

    // Paging across resource types.
    let reply = s
        .post(
            "/.search",
            json!({ "schemas": [SEARCH], "startIndex": 2, "count": 1 }),
        )
        .await;
    reply.expect(200);
    assert_eq!(reply.body["totalResults"], 2);
    assert_eq!(reply.body["startIndex"], 2);
    assert_eq!(reply.resources().len(), 1);

    // GET at the root is not a search.
    assert_error(&s.get("/.search").await, 405, None);
}

#[tokio::test]
async fn lists_of_groups_filter_and_show_members() {
    let s = Server::new().await;
    let uid = id(&s.create_user("member").await);
    let gid = id(&s
        .post(
            "/Groups",
            json!({ "schemas": [GROUP], "displayName": "Ops", "members": [{ "value": uid }] }),
        )
        .await
        .body);
    s.create_group("Dev", &[]).await;
    let reply = s
        .get(&format!(
            "/Groups?filter={}",
            enc(r#"displayName eq "ops""#)
        ))
        .await;
    reply.expect(200);
    assert_eq!(reply.names("id"), [gid]);
    assert_eq!(reply.resources()[0]["members"][0]["value"], uid.as_str());
    let reply = s
        .get(&format!(
            "/Groups?filter={}",
            enc(&format!(r#"members[value eq "{uid}"]"#))
        ))
        .await;
    reply.expect(200);
    assert_eq!(reply.names("displayName"), ["Ops"]);
}

#[tokio::test]
async fn filter_operators_through_the_query_string() {
    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
    let s = Server::new().await;
    s.create_user_with(json!({
        "schemas": [USER, ENTERPRISE],
        "userName": "bjensen",
        "title": "Guide",
        "active": true,
        ENTERPRISE: { "employeeNumber": "42" },
    }))
    .await;
    s.create_user_with(json!({ "schemas": [USER], "userName": "jsmith", "active": false }))
        .await;
    s.create_user("nobody").await;
    for (filter, expected) in [
        (r#"userName co "JEN""#, &["bjensen"][..]),
        (r#"userName sw "j""#, &["jsmith"][..]),
        (r#"userName ew "ODY""#, &["nobody"][..]),
        ("title pr", &["bjensen"][..]),
        ("active eq true", &["bjensen"][..]),
        ("active eq false", &["jsmith"][..]),
        (r#"userName ne "bjensen""#, &["jsmith", "nobody"][..]),
        (r#"not (userName eq "bjensen")"#, &["jsmith", "nobody"][..]),
        (
            r#"userName eq "bjensen" or userName eq "jsmith""#,
            &["bjensen", "jsmith"][..],
        ),
        (r#"title pr and active eq true"#, &["bjensen"][..]),
        (
            &format!(r#"{ENTERPRISE}:employeeNumber eq "42""#),
            &["bjensen"][..],
        ),
        (
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "jsmith""#,
            &["jsmith"][..],
        ),
        (
            r#"meta.resourceType eq "User""#,
            &["bjensen", "jsmith", "nobody"][..],
        ),
    ] {
        let reply = s
            .get(&format!("/Users?sortBy=userName&filter={}", enc(filter)))
            .await;
        assert_eq!(reply.status, 200, "{filter}: {}", reply.body);
        assert_eq!(reply.names("userName"), expected, "{filter}");
        assert_eq!(reply.body["totalResults"], expected.len(), "{filter}");
    }
}

#[tokio::test]
async fn a_start_index_that_is_not_a_number_is_400() {
    let s = Server::new().await;
    assert_error(
        &s.get("/Users?startIndex=abc").await,
        400,
        Some("invalidValue"),
    );
}

#[tokio::test]
async fn post_search_at_the_root_returns_members_and_groups() {
    // `members` and `groups` are `returned: default` (RFC 7643 §4.1.2, §4.2): a root search
    // returns them as the endpoint's own list does.
    let s = Server::new().await;
    let uid = id(&s.create_user("member").await);
    let gid = id(&s.create_group("Team", &[&uid]).await);
    let reply = s.post("/.search", json!({ "schemas": [SEARCH] })).await;
    reply.expect(200);
    let find = |wanted: &str| {
        reply
            .resources()
            .iter()
            .find(|r| r["id"] == wanted)
            .cloned()
            .unwrap_or_else(|| panic!("{wanted} not found: {}", reply.body))
    };
    let group = find(&gid);
    assert_eq!(
        crate::support::values(&group, "members"),
        std::slice::from_ref(&uid),
        "{group}"
    );
    let user = find(&uid);
    assert_eq!(
        crate::support::values(&user, "groups"),
        std::slice::from_ref(&gid),
        "{user}"
    );
}

// RFC 7644 §3.4.2.4, for GET and POST alike: a negative count is 0, a startIndex below 1
// is 1.

#[tokio::test]
async fn post_search_reads_a_negative_count_as_zero() {
    let s = Server::new().await;
    users(&s, 2).await;
    let reply = s
        .post(
            "/Users/.search",
            json!({ "schemas": [SEARCH], "count": -1 }),
        )
        .await;
    reply.expect(200);
    assert_eq!(reply.body["totalResults"], 2);
    assert_eq!(reply.body["Resources"], json!([]));
}

#[tokio::test]
async fn post_search_reads_a_start_index_below_one_as_one() {
    let s = Server::new().await;
    users(&s, 2).await;
    for start in [0, -4] {
        let reply = s
            .post(
                "/Users/.search",
                json!({ "schemas": [SEARCH], "startIndex": start, "sortBy": "userName" }),
            )
            .await;
        reply.expect(200);
        assert_eq!(reply.body["startIndex"], 1);
        assert_eq!(reply.names("userName"), ["u01", "u02"]);
    }
}

#[tokio::test]
async fn cursor_paging_follows_sort_by() {
    let s = Server::new().await;
    users(&s, 5).await;
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..5 {
        let reply = s
            .get(&format!(
                "/Users?sortBy=userName&sortOrder=descending&count=2&cursor={}",
                enc(&cursor)
            ))
            .await;
        reply.expect(200);
        seen.extend(reply.names("userName"));
        match reply.body.get("nextCursor").and_then(Value::as_str) {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen, ["u05", "u04", "u03", "u02", "u01"]);
}

#[tokio::test]
async fn extreme_paging_numbers_answer_a_page_or_a_clear_error() {
    let server = Server::new().await;
    for name in ["ann", "bob", "cy"] {
        server.create_user(name).await;
    }
    for (start, count) in [
        ("9223372036854775807", "9223372036854775807"),
        ("-9223372036854775808", "-9223372036854775808"),
        ("1", "9223372036854775807"),
        ("9223372036854775807", "1"),
        ("0", "0"),
    ] {
        for extra in ["", "&filter=userName%20pr", "&sortBy=userName"] {
            let path = format!("/Users?startIndex={start}&count={count}{extra}");
            let reply = server.get(&path).await;
            reply.expect(200);
            assert_eq!(reply.body["totalResults"], 3, "{path}");
        }
    }
    for bad in ["99999999999999999999", "1e3", "one"] {
        let reply = server.get(&format!("/Users?startIndex={bad}")).await;
        reply.expect(400);
        assert_eq!(reply.body["scimType"], "invalidValue");
    }
    // Cursor pages with the largest count.
    let reply = server.get("/Users?cursor=&count=9223372036854775807").await;
    reply.expect(200);
    assert_eq!(reply.body["Resources"].as_array().map(Vec::len), Some(3));
}
