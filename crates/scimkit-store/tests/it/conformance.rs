//! The Store contract, checked on every backend.

use scimkit_schema::AttrPath;
use scimkit_schema::messages::SortOrder;
use scimkit_store::{Ctx, EventKind, Member, Query, RequestQuery, RequestRecord, StoreError};
use serde_json::{Map, Value, json};

use crate::all_backends;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn user(name: &str) -> Map<String, Value> {
    obj(
        json!({"schemas": [USER], "userName": name, "active": true, "emails": [{"value": format!("{name}@example.com"), "type": "work"}]}),
    )
}

fn group(name: &str, members: &[&str]) -> Map<String, Value> {
    let members: Vec<Value> = members
        .iter()
        .map(|m| json!({"value": m, "type": "User"}))
        .collect();
    let mut g = json!({"schemas": [GROUP], "displayName": name});
    if !members.is_empty() {
        g["members"] = Value::Array(members);
    }
    obj(g)
}

fn at(t: u32) -> Ctx {
    Ctx::at(format!("2026-11-28T12:00:{t:02}Z")).with_token("tok-1")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn create_get_replace_delete_with_versions() {
    rt().block_on(async {
        for (name, store, _dir) in all_backends().await {
            let created = store
                .create("acme", "User", "u1", user("bjensen"), &at(0))
                .await
                .unwrap();
            assert_eq!(
                (created.version, created.etag().as_str()),
                (1, "W/\"1\""),
                "{name}"
            );
            assert_eq!(created.created, "2026-11-28T12:00:00Z");
            let got = store.get("acme", "User", "u1").await.unwrap().unwrap();
            assert_eq!(got.body["userName"], "bjensen", "{name}");

            // Replace with the right version, then with a stale one.
            let mut body = user("bjensen");
            body.insert("title".into(), json!("Tour Guide"));
            let replaced = store
                .replace("acme", "User", "u1", body.clone(), Some(1), &at(1))
                .await
                .unwrap();
            assert_eq!(replaced.version, 2, "{name}");
            assert_eq!(replaced.last_modified, "2026-11-28T12:00:01Z");
            assert_eq!(replaced.created, "2026-11-28T12:00:00Z");
            let err = store
                .replace("acme", "User", "u1", user("bjensen"), Some(1), &at(2))
                .await
                .unwrap_err();
            assert!(
                matches!(
                    err,
                    StoreError::VersionMismatch {
                        expected: 1,
                        current: 2
                    }
                ),
                "{name}: {err}"
            );
            assert_eq!(err.status(), 412);
            // The same body again changes nothing: the version stays.
            let same = store
                .replace("acme", "User", "u1", body, None, &at(3))
                .await
                .unwrap();
            assert_eq!(same.version, 2, "{name}");

            // Delete with a stale version fails; with none it succeeds; then 404.
            assert_eq!(
                store
                    .delete("acme", "User", "u1", Some(1), &at(4))
                    .await
                    .unwrap_err()
                    .status(),
                412
            );
            store
                .delete("acme", "User", "u1", None, &at(4))
                .await
                .unwrap();
            assert!(
                store.get("acme", "User", "u1").await.unwrap().is_none(),
                "{name}"
            );
            let err = store
                .delete("acme", "User", "u1", None, &at(5))
                .await
                .unwrap_err();
            assert_eq!(err.status(), 404, "{name}");
            let err = store
                .replace("acme", "User", "u1", user("x"), None, &at(5))
                .await
                .unwrap_err();
            assert!(matches!(err, StoreError::NotFound { .. }), "{name}");
        }
    });
}

#[test]
fn user_name_is_unique_per_tenant_case_insensitively() {
    rt().block_on(async {
        for (name, store, _dir) in all_backends().await {
            store
                .create("acme", "User", "u1", user("bjensen"), &at(0))
                .await
                .unwrap();
            let err = store
                .create("acme", "User", "u2", user("BJensen"), &at(1))
                .await
                .unwrap_err();
            assert!(
                matches!(err, StoreError::Uniqueness { .. }),
                "{name}: {err}"
            );
            assert_eq!(
                (err.status(), err.scim_type().map(|t| t.as_str())),
                (409, Some("uniqueness"))
            );
            // Another tenant may use it.
            store
                .create("globex", "User", "u1", user("bjensen"), &at(1))
                .await
                .unwrap();
            // Renaming onto a taken name fails; renaming oneself is fine; the old name frees up.
            store
                .create("acme", "User", "u2", user("babs"), &at(2))
                .await
                .unwrap();
            let err = store
                .replace("acme", "User", "u2", user("BJENSEN"), None, &at(3))
                .await
                .unwrap_err();
            assert_eq!(err.status(), 409, "{name}");
            store
                .replace("acme", "User", "u1", user("barbara"), None, &at(3))
                .await
                .unwrap();
            store
                .create("acme", "User", "u3", user("bjensen"), &at(4))
                .await
                .unwrap();
            // An id that exists.
            let err = store
                .create("acme", "User", "u3", user("other"), &at(5))
                .await
                .unwrap_err();
            assert!(matches!(err, StoreError::IdTaken { .. }), "{name}: {err}");
            // A failed write changed nothing.
            assert_eq!(
                store.get("acme", "User", "u2").await.unwrap().unwrap().body["userName"],
                "babs"
            );
        }
    });
}

#[test]
fn tenants_never_see_each_other() {
    rt().block_on(async {
        for (name, store, _dir) in all_backends().await {
            store
                .create("acme", "User", "u1", user("a"), &at(0))
                .await
                .unwrap();
            store
                .create("acme", "Group", "g1", group("G", &["u1"]), &at(0))
                .await
                .unwrap();
            assert!(
                store.get("globex", "User", "u1").await.unwrap().is_none(),
                "{name}"
            );
            assert_eq!(
                store
                    .search("globex", "User", &Query::all())
                    .await
                    .unwrap()
                    .total,
                0
            );
            assert_eq!(
                store
                    .delete("globex", "User", "u1", None, &at(1))
                    .await
                    .unwrap_err()
                    .status(),
                404
            );
            assert!(store.member_ids("globex", "g1").await.unwrap().is_empty());
            assert!(store.events("globex", 0, 10).await.unwrap().is_empty());
            assert!(store.audit("globex", 10).await.unwrap().is_empty());
            // A resource type is its own namespace too.
            assert!(store.get("acme", "Group", "u1").await.unwrap().is_none());
        }
    });
}

#[test]
fn membership_is_relational_and_groups_are_derived() {
    rt().block_on(async {
        for (name, store, _dir) in all_backends().await {
            for u in ["u1", "u2", "u3"] {
                store
                    .create("acme", "User", u, user(u), &at(0))
                    .await
                    .unwrap();
            }
            store
                .create(
                    "acme",
                    "Group",
                    "staff",
                    group("Staff", &["u1", "u2"]),
                    &at(1),
                )
                .await
                .unwrap();
            store
                .create("acme", "Group", "all", group("All", &[]), &at(1))
                .await
                .unwrap();
            // Nested: staff is in all; all is in staff (a cycle).
            let g = store
                .change_members("acme", "all", &[Member::new("staff")], &[], Some(1), &at(2))
                .await
                .unwrap();
            assert_eq!(g.version, 2, "{name}");
            store
                .change_members("acme", "staff", &[Member::new("all")], &[], None, &at(2))
                .await
                .unwrap();
            let groups = store.groups_of("acme", "u1").await.unwrap();
            let view: Vec<(&str, bool)> =
                groups.iter().map(|g| (g.id.as_str(), g.direct)).collect();
            assert_eq!(view, [("all", false), ("staff", true)], "{name}");
            let u1 = store.get("acme", "User", "u1").await.unwrap().unwrap();
            assert_eq!(
                u1.body["groups"][1],
                json!({"value": "staff", "display": "Staff", "type": "direct"}),
                "{name}"
            );

            // Adding a present member and removing an absent one change nothing.
            let before = store
                .get("acme", "Group", "staff")
                .await
                .unwrap()
                .unwrap()
                .version;
            let after = store
                .change_members(
                    "acme",
                    "staff",
                    &[Member::new("u1")],
                    &["u3".into()],
                    None,
                    &at(3),
                )
                .await
                .unwrap();
            assert_eq!(after.version, before, "{name}");
            assert!(store.is_member("acme", "staff", "u1").await.unwrap());
            assert!(!store.is_member("acme", "staff", "u3").await.unwrap());

            // Replace a group's members through its body.
            store
                .replace(
                    "acme",
                    "Group",
                    "staff",
                    group("Staff", &["u2", "u3"]),
                    None,
                    &at(4),
                )
                .await
                .unwrap();
            assert_eq!(
                store.member_ids("acme", "staff").await.unwrap(),
                ["u2", "u3"],
                "{name}"
            );
            let staff = store.get("acme", "Group", "staff").await.unwrap().unwrap();
            assert_eq!(staff.body["members"].as_array().unwrap().len(), 2);

            // Deleting a user removes its memberships; deleting a group removes its rows.
            store
                .delete("acme", "User", "u2", None, &at(5))
                .await
                .unwrap();
            assert_eq!(
                store.member_ids("acme", "staff").await.unwrap(),
                ["u3"],
                "{name}"
            );
            store
                .delete("acme", "Group", "staff", None, &at(6))
                .await
                .unwrap();
            assert!(store.member_ids("acme", "staff").await.unwrap().is_empty());
            assert!(
                store.groups_of("acme", "u3").await.unwrap().is_empty(),
                "{name}"
            );
            let err = store
                .change_members("acme", "nope", &[], &[], None, &at(7))
                .await
                .unwrap_err();
            assert_eq!(err.status(), 404);
        }
    });
}

#[test]
fn every_change_has_an_event_and_an_audit_record() {
    rt().block_on(async {
        for (name, store, _dir) in all_backends().await {
            store
                .create("acme", "User", "u1", user("a"), &at(0))
                .await
                .unwrap();
            let mut off = user("a");
            off.insert("active".into(), json!(false));
            store
                .replace("acme", "User", "u1", off, None, &at(1))
                .await
                .unwrap();
            store
                .replace("acme", "User", "u1", user("a"), None, &at(2))
                .await
                .unwrap();
            let mut titled = user("a");
            titled.insert("title".into(), json!("x"));
            store
                .replace("acme", "User", "u1", titled, None, &at(3))
                .await
                .unwrap();
            store
                .create("acme", "Group", "g1", group("G", &["u1"]), &at(4))
                .await
                .unwrap();
            store
                .replace("acme", "Group", "g1", group("H", &["u1"]), None, &at(5))
                .await
                .unwrap();
            store
                .change_members("acme", "g1", &[], &["u1".into()], None, &at(6))
                .await
                .unwrap();
            store
                .delete("acme", "User", "u1", None, &at(7))
                .await
                .unwrap();

            let events = store.events("acme", 0, 100).await.unwrap();
            let kinds: Vec<(u64, EventKind, &str)> = events
                .iter()
                .map(|e| (e.seq, e.kind, e.resource_id.as_str()))
                .collect();
            assert_eq!(
                kinds,
                [
                    (1, EventKind::Created, "u1"),
                    (2, EventKind::Deactivated, "u1"),
                    (3, EventKind::Reactivated, "u1"),
                    (4, EventKind::Updated, "u1"),
                    (5, EventKind::Created, "g1"),
                    (6, EventKind::MembersAdded, "g1"),
                    (7, EventKind::Renamed, "g1"),
                    (8, EventKind::MembersRemoved, "g1"),
                    (9, EventKind::Deleted, "u1"),
                ],
                "{name}"
            );
            assert_eq!(events[7].data, json!({"members": ["u1"]}), "{name}");
            assert_eq!(events[1].at, "2026-11-28T12:00:01Z");
            // Reading from a cursor.
            let rest = store.events("acme", 7, 100).await.unwrap();
            assert_eq!(
                rest.iter().map(|e| e.seq).collect::<Vec<_>>(),
                [8, 9],
                "{name}"
            );
            // "Everything": limits and cursors beyond i64::MAX saturate, never wrap.
            let all = store.events("acme", 0, usize::MAX).await.unwrap();
            assert_eq!(all.len(), events.len(), "{name}");
            assert!(
                store.events("acme", u64::MAX, 10).await.unwrap().is_empty(),
                "{name}"
            );
            assert_eq!(
                store.audit("acme", usize::MAX).await.unwrap().len(),
                8,
                "{name}"
            );

            let audit = store.audit("acme", 100).await.unwrap();
            assert_eq!(audit.len(), 8, "{name}");
            assert_eq!(
                (audit[0].operation.as_str(), audit[0].resource_id.as_str()),
                ("delete", "u1")
            );
            assert_eq!(audit[0].token_id.as_deref(), Some("tok-1"));
            assert_eq!(audit[0].outcome, "ok");
        }
    });
}

#[test]
fn search_filters_sorts_and_pages() {
    rt().block_on(async {
        for (name, store, _dir) in all_backends().await {
            for (i, n) in ["carol", "alice", "Bob", "dave", "eve"].iter().enumerate() {
                let mut u = user(n);
                if i % 2 == 0 {
                    u.insert("title".into(), json!("Engineer"));
                }
                u.insert("externalId".into(), json!(format!("ext-{i}")));
                store
                    .create("acme", "User", &format!("u{i}"), u, &at(i as u32))
                    .await
                    .unwrap();
            }
            let ids = |page: &scimkit_store::Page| {
                page.resources
                    .iter()
                    .map(|r| r.id.clone())
                    .collect::<Vec<_>>()
            };

            let page = store
                .search(
                    "acme",
                    "User",
                    &Query::filter(r#"userName eq "BOB""#).unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(
                (page.total, ids(&page)),
                (1, vec!["u2".to_owned()]),
                "{name}"
            );
            let page = store
                .search(
                    "acme",
                    "User",
                    &Query::filter(r#"externalId eq "ext-3""#).unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(ids(&page), ["u3"], "{name}");
            let page = store
                .search(
                    "acme",
                    "User",
                    &Query::filter(r#"externalId eq "EXT-3""#).unwrap(),
                )
                .await
                .unwrap();
            assert_eq!(page.total, 0, "{name}: externalId is caseExact");
            let page = store
                .search("acme", "User", &Query::filter(r#"id eq "u4""#).unwrap())
                .await
                .unwrap();
            assert_eq!(ids(&page), ["u4"], "{name}");
            let q =
                Query::filter(r#"title eq "engineer" and emails[value ew "example.com"]"#).unwrap();
            let page = store.search("acme", "User", &q).await.unwrap();
            assert_eq!(ids(&page), ["u0", "u2", "u4"], "{name}");
            let q = Query::filter("title pr")
                .unwrap()
                .sorted(AttrPath::new("userName"), SortOrder::Descending);
            assert_eq!(
                ids(&store.search("acme", "User", &q).await.unwrap()),
                ["u4", "u0", "u2"],
                "{name}"
            );
            let q = Query::all()
                .sorted(AttrPath::new("userName"), SortOrder::Ascending)
                .page(2, 2);
            let page = store.search("acme", "User", &q).await.unwrap();
            assert_eq!(
                (page.total, ids(&page)),
                (5, vec!["u2".to_owned(), "u0".to_owned()]),
                "{name}"
            );
            // Default order is creation order; a page past the end is empty.
            assert_eq!(
                ids(&store
                    .search("acme", "User", &Query::all().page(5, 10))
                    .await
                    .unwrap()),
                ["u4"]
            );
            assert!(
                store
                    .search("acme", "User", &Query::all().page(9, 10))
                    .await
                    .unwrap()
                    .resources
                    .is_empty()
            );
            // meta.lastModified is filterable and sortable.
            let q = Query::filter(r#"meta.lastModified gt "2026-11-28T12:00:02Z""#).unwrap();
            assert_eq!(
                ids(&store.search("acme", "User", &q).await.unwrap()),
                ["u3", "u4"],
                "{name}"
            );
            // A filter that cannot be evaluated is the client's error.
            let err = store
                .search("acme", "User", &Query::filter("active gt true").unwrap())
                .await
                .unwrap_err();
            assert_eq!(
                (err.status(), err.scim_type().map(|t| t.as_str())),
                (400, Some("invalidFilter"))
            );
        }
    });
}

#[test]
fn group_search_by_member() {
    rt().block_on(async {
        for (name, store, _dir) in all_backends().await {
            store
                .create("acme", "Group", "g1", group("Alpha", &["u1", "u2"]), &at(0))
                .await
                .unwrap();
            store
                .create("acme", "Group", "g2", group("Beta", &["u2"]), &at(1))
                .await
                .unwrap();
            // Entra's membership check: id eq … and members eq ….
            let q = Query::filter(r#"id eq "g1" and members eq "u1""#).unwrap();
            assert_eq!(
                store.search("acme", "Group", &q).await.unwrap().total,
                1,
                "{name}"
            );
            let q = Query::filter(r#"members[value eq "u2"]"#).unwrap();
            assert_eq!(
                store.search("acme", "Group", &q).await.unwrap().total,
                2,
                "{name}"
            );
            let q = Query::filter(r#"displayName eq "ALPHA""#).unwrap();
            assert_eq!(
                store.search("acme", "Group", &q).await.unwrap().total,
                1,
                "{name}"
            );
        }
    });
}

#[test]
fn sqlite_persists_and_migrates_once() {
    let dir = crate::TempDir::new("persist");
    let path = dir.0.join("scimkit.db");
    rt().block_on(async {
        {
            let store =
                scimkit_store::SqliteStore::open(&path, scimkit_schema::Registry::new()).unwrap();
            assert_eq!(
                store.schema_version().await.unwrap(),
                scimkit_store::SqliteStore::SCHEMA_VERSION
            );
            use scimkit_store::Store as _;
            store
                .create("acme", "User", "u1", user("a"), &at(0))
                .await
                .unwrap();
            let logged = [request(1, "POST", "/Users", 201).with_normalizers(["n1"])];
            store.log_requests("acme", &logged).await.unwrap();
        }
        let store =
            scimkit_store::SqliteStore::open(&path, scimkit_schema::Registry::new()).unwrap();
        assert_eq!(
            store.schema_version().await.unwrap(),
            scimkit_store::SqliteStore::SCHEMA_VERSION
        );
        use scimkit_store::Store as _;
        assert_eq!(
            store.get("acme", "User", "u1").await.unwrap().unwrap().body["userName"],
            "a"
        );
        assert_eq!(store.events("acme", 0, 10).await.unwrap().len(), 1);
        let logged = store.request("acme", 1).await.unwrap().unwrap();
        assert_eq!(logged.normalizers, ["n1"]);
        // The numbering survives too.
        let next = [request(2, "GET", "/Users", 200)];
        assert_eq!(store.log_requests("acme", &next).await.unwrap(), 2);
    });
}

#[test]
fn email_lookups_use_the_index_and_follow_changes() {
    rt().block_on(async {
        for (name, store, _dir) in all_backends().await {
            store
                .create("acme", "User", "u1", user("bjensen"), &at(0))
                .await
                .unwrap();
            store
                .create("acme", "User", "u2", user("babs"), &at(1))
                .await
                .unwrap();
            for filter in [
                r#"emails.value eq "BJENSEN@example.com""#,
                r#"emails eq "bjensen@example.com""#,
                r#"emails[type eq "work" and value eq "bjensen@example.com"]"#,
                r#"emails[value eq "bjensen@example.com"] and userName pr"#,
            ] {
                let page = store
                    .search("acme", "User", &Query::filter(filter).unwrap())
                    .await
                    .unwrap();
                assert_eq!(
                    page.resources
                        .iter()
                        .map(|r| r.id.as_str())
                        .collect::<Vec<_>>(),
                    ["u1"],
                    "{name}: {filter}"
                );
            }
            // The index follows replace and delete.
            let mut moved = user("bjensen");
            moved.insert("emails".into(), json!([{"value": "new@example.com"}]));
            store
                .replace("acme", "User", "u1", moved, None, &at(2))
                .await
                .unwrap();
            let q = Query::filter(r#"emails.value eq "bjensen@example.com""#).unwrap();
            assert_eq!(
                store.search("acme", "User", &q).await.unwrap().total,
                0,
                "{name}"
            );
            let q = Query::filter(r#"emails.value eq "new@example.com""#).unwrap();
            assert_eq!(
                store.search("acme", "User", &q).await.unwrap().total,
                1,
                "{name}"
            );
            store
                .delete("acme", "User", "u1", None, &at(3))
                .await
                .unwrap();
            assert_eq!(
                store.search("acme", "User", &q).await.unwrap().total,
                0,
                "{name}"
            );
            // Another tenant's emails are not found.
            let q = Query::filter(r#"emails.value eq "babs@example.com""#).unwrap();
            assert_eq!(
                store.search("globex", "User", &q).await.unwrap().total,
                0,
                "{name}"
            );
        }
    });
}

#[test]
fn consumers_ack_events_and_resume() {
    rt().block_on(async {
        for (name, store, _dir) in all_backends().await {
            for i in 0..3 {
                store
                    .create(
                        "acme",
                        "User",
                        &format!("u{i}"),
                        user(&format!("n{i}")),
                        &at(i),
                    )
                    .await
                    .unwrap();
            }
            assert_eq!(store.acked("acme", "app").await.unwrap(), 0, "{name}");
            store.ack("acme", "app", 2).await.unwrap();
            store.ack("acme", "app", 1).await.unwrap(); // never backwards
            let from = store.acked("acme", "app").await.unwrap();
            assert_eq!(from, 2, "{name}");
            let rest = store.events("acme", from, 10).await.unwrap();
            assert_eq!(
                rest.iter()
                    .map(|e| e.resource_id.as_str())
                    .collect::<Vec<_>>(),
                ["u2"],
                "{name}"
            );
            assert_eq!(store.acked("acme", "other").await.unwrap(), 0);
            assert_eq!(store.acked("globex", "app").await.unwrap(), 0);
        }
    });
}

#[test]
fn consumers_are_listed_by_name_with_their_positions() {
    rt().block_on(async {
        for (name, store, _dir) in all_backends().await {
            for i in 0..4 {
                store
                    .create(
                        "acme",
                        "User",
                        &format!("u{i}"),
                        user(&format!("n{i}")),
                        &at(i),
                    )
                    .await
                    .unwrap();
            }
            assert!(store.consumers("acme").await.unwrap().is_empty(), "{name}");
            // Reading a position creates no consumer.
            assert_eq!(store.acked("acme", "push:app").await.unwrap(), 0, "{name}");
            assert!(store.consumers("acme").await.unwrap().is_empty(), "{name}");

            store.ack("acme", "push:app", 3).await.unwrap();
            store.ack("acme", "push:app", 1).await.unwrap(); // never backwards
            store.ack("acme", "hook:sessions", 2).await.unwrap();
            store.ack("acme", "Poll", 4).await.unwrap(); // upper case sorts first, bytewise
            store.ack("acme", "hook:audit", 0).await.unwrap();
            store.ack("globex", "hook:other", 9).await.unwrap();
            assert_eq!(
                store.consumers("acme").await.unwrap(),
                [
                    ("Poll".to_owned(), 4),
                    ("hook:audit".to_owned(), 0),
                    ("hook:sessions".to_owned(), 2),
                    ("push:app".to_owned(), 3),
                ],
                "{name}"
            );
            assert_eq!(
                store.consumers("globex").await.unwrap(),
                [("hook:other".to_owned(), 9)],
                "{name}"
            );
            assert!(
                store.consumers("initech").await.unwrap().is_empty(),
                "{name}"
            );
        }
    });
}

#[test]
fn sqlite_migration_2_backfills_the_email_index() {
    let dir = crate::TempDir::new("migrate");
    let path = dir.0.join("v1.db");
    {
        // A database at schema version 1 with a user in it.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE resources (tenant TEXT NOT NULL, type TEXT NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL,
               created TEXT NOT NULL, modified TEXT NOT NULL, user_name TEXT, external_id TEXT, display_name TEXT,
               body TEXT NOT NULL, PRIMARY KEY (tenant, type, id)) WITHOUT ROWID;
             CREATE UNIQUE INDEX resources_user_name ON resources (tenant, user_name) WHERE user_name IS NOT NULL;
             CREATE INDEX resources_external_id ON resources (tenant, type, external_id);
             CREATE INDEX resources_display_name ON resources (tenant, type, display_name);
             CREATE TABLE members (tenant TEXT NOT NULL, group_id TEXT NOT NULL, member_id TEXT NOT NULL, kind TEXT,
               display TEXT, PRIMARY KEY (tenant, group_id, member_id)) WITHOUT ROWID;
             CREATE INDEX members_by_member ON members (tenant, member_id, group_id);
             CREATE TABLE events (tenant TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, type TEXT NOT NULL,
               resource_id TEXT NOT NULL, version INTEGER, at TEXT NOT NULL, data TEXT NOT NULL,
               PRIMARY KEY (tenant, seq)) WITHOUT ROWID;
             CREATE TABLE audit (tenant TEXT NOT NULL, at TEXT NOT NULL, token_id TEXT, operation TEXT NOT NULL,
               type TEXT NOT NULL, resource_id TEXT NOT NULL, outcome TEXT NOT NULL);
             CREATE INDEX audit_by_tenant ON audit (tenant);
             PRAGMA user_version = 1;",
        )
        .unwrap();
        conn.execute(
            "INSERT INTO resources VALUES ('acme', 'User', 'u1', 1, 't', '2026-11-28T13:00:05+01:00', 'bjensen', NULL, NULL, ?1)",
            [json!({"schemas": [USER], "userName": "bjensen", "emails": [{"value": "BJ@Example.com"}]}).to_string()],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO resources VALUES ('acme', 'User', 'u2', 1, 't', 'not a time', 'other', NULL, NULL, ?1)",
            [json!({"schemas": [USER], "userName": "other"}).to_string()],
        )
        .unwrap();
    }
    rt().block_on(async {
        use scimkit_store::Store as _;
        let store =
            scimkit_store::SqliteStore::open(&path, scimkit_schema::Registry::new()).unwrap();
        assert_eq!(
            store.schema_version().await.unwrap(),
            scimkit_store::SqliteStore::SCHEMA_VERSION
        );
        let q = Query::filter(r#"emails.value eq "bj@example.com""#).unwrap();
        assert_eq!(store.search("acme", "User", &q).await.unwrap().total, 1);
        // Migration 6 filled `modified_ms` from the text (a time it cannot read stays NULL,
        // and the evaluator matches no such value either).
        let q = Query::filter(r#"meta.lastModified ge "2026-11-28T12:00:05Z""#).unwrap();
        let page = store.search("acme", "User", &q).await.unwrap();
        assert_eq!(
            page.resources
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>(),
            ["u1"]
        );
        let q = Query::filter(r#"meta.lastModified gt "2026-11-28T12:00:05Z""#).unwrap();
        assert_eq!(store.search("acme", "User", &q).await.unwrap().total, 0);
    });
}

#[test]
fn postgres_migration_4_backfills_the_time_index() {
    rt().block_on(async {
        let Some((store, schema)) = crate::postgres().await else {
            return;
        };
        use scimkit_store::Store as _;
        store
            .create("acme", "User", "u1", user("bjensen"), &Ctx::at("2026-11-28T13:00:05.250+01:00"))
            .await
            .unwrap();
        let latest = store.schema_version().await.unwrap();
        drop(store);
        // Back to schema version 3: the column and its index gone, as before the migration,
        // and the later migrations' tables too.
        let url = std::env::var("SCIMKIT_TEST_POSTGRES_URL").unwrap();
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        let task = tokio::spawn(conn);
        client
            .batch_execute(&format!(
                "SET search_path = {0}; ALTER TABLE resources DROP COLUMN modified_ms; DROP TABLE tokens, tenants; ALTER TABLE tenant_settings DROP COLUMN profile; ALTER TABLE tenant_settings DROP COLUMN role_rules; ALTER TABLE tenant_settings DROP COLUMN jit; DROP TABLE origins; DROP TABLE requests, request_seq; DROP INDEX resources_in_order;
                 DELETE FROM scimkit_migrations WHERE version >= 4",
                schema.name
            ))
            .await
            .unwrap();
        drop(client);
        let _ = task.await;
        let store = schema.open().await;
        assert_eq!(store.schema_version().await.unwrap(), latest);
        let found = |f: &'static str| {
            let store = store.clone();
            async move { store.search("acme", "User", &Query::filter(f).unwrap()).await.unwrap().total }
        };
        assert_eq!(found(r#"meta.lastModified ge "2026-11-28T12:00:05.250Z""#).await, 1);
        assert_eq!(found(r#"meta.lastModified gt "2026-11-28T12:00:05.250Z""#).await, 0);
        assert_eq!(found(r#"meta.lastModified lt "2026-11-28T12:00:05.251Z""#).await, 1);
    });
}

#[test]
fn cursor_pages_are_stable_under_writes() {
    rt().block_on(async {
        for (name, store, _dir) in all_backends().await {
            for i in 0..7 {
                store
                    .create(
                        "acme",
                        "User",
                        &format!("u{i}"),
                        user(&format!("n{i}")),
                        &at(i),
                    )
                    .await
                    .unwrap();
            }
            let sorted = |q: Query| q.sorted(AttrPath::new("userName"), SortOrder::Ascending);
            let first = store
                .search("acme", "User", &sorted(Query::all().after("", 3)))
                .await
                .unwrap();
            let ids = |p: &scimkit_store::Page| {
                p.resources.iter().map(|r| r.id.clone()).collect::<Vec<_>>()
            };
            assert_eq!(ids(&first), ["u0", "u1", "u2"], "{name}");
            let cursor = first.next_cursor.clone().expect("more pages");
            // Writes between pages: one before the cursor is deleted, one after is added.
            store
                .delete("acme", "User", "u1", None, &at(20))
                .await
                .unwrap();
            store
                .create("acme", "User", "u9", user("n4a"), &at(21))
                .await
                .unwrap();
            let second = store
                .search("acme", "User", &sorted(Query::all().after(cursor, 3)))
                .await
                .unwrap();
            assert_eq!(
                ids(&second),
                ["u3", "u4", "u9"],
                "{name}: nothing repeated or skipped"
            );
            let third = store
                .search(
                    "acme",
                    "User",
                    &sorted(Query::all().after(second.next_cursor.clone().unwrap(), 3)),
                )
                .await
                .unwrap();
            assert_eq!(ids(&third), ["u5", "u6"], "{name}");
            assert_eq!(third.next_cursor, None, "{name}: the last page");
            // The default order works with cursors too, and a made-up cursor is refused.
            let page = store
                .search("acme", "User", &Query::all().after("", 10))
                .await
                .unwrap();
            assert_eq!(page.resources.len(), 7);
            let err = store
                .search("acme", "User", &Query::all().after("zz", 2))
                .await
                .unwrap_err();
            assert_eq!(
                (err.status(), err.scim_type().map(|t| t.as_str())),
                (400, Some("invalidCursor")),
                "{name}"
            );
        }
    });
}

/// Soft delete (per tenant, off by default): a deleted resource vanishes exactly as with a
/// hard delete, and its last state stays as a tombstone, with its memberships, until purged.
#[test]
fn soft_delete_keeps_a_tombstone_until_purged() {
    let mut retitled = user("bjensen");
    retitled.insert("title".into(), json!("Tour Guide"));
    rt().block_on(async {
        for (name, store, _guard) in all_backends().await {
            let retitled = retitled.clone();
            assert!(
                !store.soft_delete("acme").await.unwrap(),
                "{name}: off by default"
            );
            // Off: a delete leaves nothing behind.
            store
                .create("acme", "User", "u0", user("zed"), &at(0))
                .await
                .unwrap();
            store
                .delete("acme", "User", "u0", None, &at(1))
                .await
                .unwrap();
            assert!(
                store.tombstones("acme", 10).await.unwrap().is_empty(),
                "{name}"
            );

            store.set_soft_delete("acme", true).await.unwrap();
            assert!(store.soft_delete("acme").await.unwrap(), "{name}");
            assert!(
                !store.soft_delete("globex").await.unwrap(),
                "{name}: per tenant"
            );
            store
                .create("acme", "User", "u1", user("bjensen"), &at(2))
                .await
                .unwrap();
            store
                .create("acme", "User", "u2", user("jsmith"), &at(3))
                .await
                .unwrap();
            store
                .create(
                    "acme",
                    "Group",
                    "g1",
                    group("Admins", &["u1", "u2"]),
                    &at(4),
                )
                .await
                .unwrap();
            store
                .replace("acme", "User", "u1", retitled, None, &at(5))
                .await
                .unwrap();

            store
                .delete("acme", "User", "u1", Some(2), &at(10))
                .await
                .unwrap();
            // Gone from SCIM, exactly as a hard delete.
            assert!(
                store.get("acme", "User", "u1").await.unwrap().is_none(),
                "{name}"
            );
            let q = Query::filter(r#"userName eq "bjensen""#).unwrap();
            assert_eq!(
                store.search("acme", "User", &q).await.unwrap().total,
                0,
                "{name}"
            );
            assert_eq!(
                store.member_ids("acme", "g1").await.unwrap(),
                ["u2"],
                "{name}"
            );
            assert_eq!(
                store
                    .delete("acme", "User", "u1", None, &at(11))
                    .await
                    .unwrap_err()
                    .status(),
                404,
                "{name}"
            );
            // The userName is free again.
            store
                .create("acme", "User", "u3", user("BJensen"), &at(12))
                .await
                .unwrap();
            store
                .delete("acme", "Group", "g1", None, &at(13))
                .await
                .unwrap();

            let tombs = store.tombstones("acme", 10).await.unwrap();
            assert_eq!(tombs.len(), 2, "{name}");
            let (t1, t2) = (&tombs[0], &tombs[1]);
            assert_eq!(
                (
                    t1.resource.resource_type.as_str(),
                    t1.resource.id.as_str(),
                    t1.resource.version
                ),
                ("User", "u1", 2),
                "{name}"
            );
            assert_eq!(t1.resource.created, "2026-11-28T12:00:02Z", "{name}");
            assert_eq!(t1.resource.last_modified, "2026-11-28T12:00:05Z", "{name}");
            assert_eq!(t1.deleted_at, "2026-11-28T12:00:10Z", "{name}");
            assert_eq!(t1.token_id.as_deref(), Some("tok-1"), "{name}");
            assert_eq!(
                t1.resource.body["title"], "Tour Guide",
                "{name}: its last state"
            );
            assert_eq!(
                t1.resource.body["groups"][0]["value"], "g1",
                "{name}: its groups then"
            );
            assert_eq!(t2.resource.id, "g1", "{name}");
            assert_eq!(
                t2.resource.body["members"],
                json!([{"value": "u2", "type": "User"}]),
                "{name}: its members then"
            );
            assert_eq!(
                store.tombstones("acme", 1).await.unwrap().len(),
                1,
                "{name}"
            );
            assert!(
                store.tombstones("globex", 10).await.unwrap().is_empty(),
                "{name}"
            );
            // Events and audit as for any delete.
            let deleted = store
                .events("acme", 0, usize::MAX)
                .await
                .unwrap()
                .into_iter()
                .filter(|e| e.kind == EventKind::Deleted)
                .count();
            assert_eq!(deleted, 3, "{name}");

            // A failed delete keeps no tombstone.
            assert_eq!(
                store
                    .delete("acme", "User", "u2", Some(9), &at(14))
                    .await
                    .unwrap_err()
                    .status(),
                412,
                "{name}"
            );
            assert_eq!(
                store.tombstones("acme", 10).await.unwrap().len(),
                2,
                "{name}"
            );

            // Purging removes the records of deletions strictly before the time given.
            assert_eq!(
                store.purge("globex", "2026-11-29T00:00:00Z").await.unwrap(),
                0
            );
            assert_eq!(
                store.purge("acme", "2026-11-28T12:00:10Z").await.unwrap(),
                0,
                "{name}"
            );
            assert_eq!(
                store.purge("acme", "2026-11-28T12:00:11Z").await.unwrap(),
                1,
                "{name}"
            );
            let left = store.tombstones("acme", 10).await.unwrap();
            assert_eq!(left.len(), 1, "{name}");
            assert_eq!(left[0].resource.id, "g1", "{name}");

            // Turned off again: deletes leave nothing.
            store.set_soft_delete("acme", false).await.unwrap();
            store
                .delete("acme", "User", "u2", None, &at(15))
                .await
                .unwrap();
            assert_eq!(
                store.tombstones("acme", 10).await.unwrap().len(),
                1,
                "{name}"
            );
        }
    });
}

const ACME: &str = "urn:acme:params:scim:schemas:extension:acme:2.0:User";

/// A registry whose User extension has unique attributes: `employeeId` (case-insensitive),
/// `badge` (an integer), and `devices.serial` (a caseExact sub-attribute of a multi-valued
/// complex attribute).
pub(crate) fn acme_registry() -> scimkit_schema::Registry {
    let mut registry = scimkit_schema::Registry::new();
    let schema = json!({
        "id": ACME,
        "name": "AcmeUser",
        "attributes": [
            {"name": "employeeId", "type": "string", "uniqueness": "server"},
            {"name": "badge", "type": "integer", "uniqueness": "global"},
            {"name": "nickname", "type": "string"},
            {"name": "devices", "type": "complex", "multiValued": true, "subAttributes": [
                {"name": "serial", "type": "string", "caseExact": true, "uniqueness": "server"},
                {"name": "kind", "type": "string"}
            ]}
        ]
    });
    registry.load([("acme.json", schema)]).unwrap();
    registry
}

pub(crate) fn acme_user(name: &str, acme: Value) -> Map<String, Value> {
    obj(json!({"schemas": [USER, ACME], "userName": name, ACME: acme}))
}

/// Every backend, built with `registry` (PostgreSQL when configured, as in `all_backends`).
async fn backends_with(registry: &scimkit_schema::Registry) -> Vec<crate::Backend> {
    let dir = crate::TempDir::new("uniques");
    let sqlite =
        scimkit_store::SqliteStore::open(dir.0.join("scimkit.db"), registry.clone()).unwrap();
    let mut out: Vec<crate::Backend> = vec![
        (
            "memory",
            Box::new(scimkit_store::MemoryStore::new(registry.clone())),
            None,
        ),
        ("sqlite", Box::new(sqlite), Some(Box::new(dir))),
    ];
    if let Some((store, schema)) = crate::postgres().await {
        drop(store);
        let store = scimkit_store::PgStore::connect(
            &std::env::var("SCIMKIT_TEST_POSTGRES_URL").unwrap(),
            Some(&schema.name),
            registry.clone(),
        )
        .await
        .unwrap();
        out.push(("postgres", Box::new(store), Some(Box::new(schema))));
    }
    out
}

/// `uniqueness: server` (and `global`) attributes of custom schemas are unique per tenant
/// and resource type, honoring caseExact, in the database: a violation is 409 `uniqueness`,
/// and values are released by replace and delete.
#[test]
fn custom_unique_attributes_are_enforced() {
    let registry = acme_registry();
    rt().block_on(async {
        for (name, store, _guard) in backends_with(&registry).await {
            let taken = |r: Result<scimkit_store::Stored, StoreError>, what: &str| {
                let e = r.expect_err(what);
                assert_eq!(
                    (e.status(), e.scim_type().map(|t| t.as_str())),
                    (409, Some("uniqueness")),
                    "{name}: {what}: {e}"
                );
                e.to_string()
            };
            let u1 = acme_user(
                "alice",
                json!({"employeeId": "E-1", "badge": 7, "nickname": "al",
                       "devices": [{"serial": "SN-1", "kind": "laptop"}, {"serial": "SN-2"}]}),
            );
            store.create("acme", "User", "u1", u1.clone(), &at(0)).await.unwrap();

            // employeeId is caseExact false: "e-1" collides with "E-1".
            let msg = taken(
                store
                    .create("acme", "User", "u2", acme_user("bob", json!({"employeeId": "e-1"})), &at(1))
                    .await,
                "employeeId",
            );
            assert!(msg.contains("employeeId") && msg.contains("e-1"), "{name}: {msg}");
            taken(
                store
                    .create("acme", "User", "u2", acme_user("bob", json!({"badge": 7})), &at(1))
                    .await,
                "badge",
            );
            taken(
                store
                    .create("acme", "User", "u2", acme_user("bob", json!({"devices": [{"serial": "SN-2"}]})), &at(1))
                    .await,
                "devices.serial",
            );
            // serial is caseExact: "sn-2" is another value; a non-unique attribute may repeat.
            store
                .create(
                    "acme",
                    "User",
                    "u2",
                    acme_user("bob", json!({"employeeId": "E-2", "nickname": "al", "devices": [{"serial": "sn-2"}]})),
                    &at(1),
                )
                .await
                .unwrap();
            // Failed creates left nothing behind.
            assert_eq!(store.search("acme", "User", &Query::all()).await.unwrap().total, 2, "{name}");
            // Another tenant has its own values.
            store.create("globex", "User", "u1", u1.clone(), &at(2)).await.unwrap();

            // A replace may keep its own values, cannot take another's, and releases the
            // values it drops.
            let mut kept = u1.clone();
            kept.insert("title".into(), json!("Engineer"));
            store.replace("acme", "User", "u1", kept, None, &at(3)).await.unwrap();
            taken(
                store
                    .replace("acme", "User", "u2", acme_user("bob", json!({"employeeId": "E-1"})), None, &at(4))
                    .await,
                "replace onto a taken employeeId",
            );
            assert_eq!(store.get("acme", "User", "u2").await.unwrap().unwrap().version, 1, "{name}");
            store
                .replace("acme", "User", "u1", acme_user("alice", json!({"employeeId": "E-9"})), None, &at(5))
                .await
                .unwrap();
            store
                .create("acme", "User", "u3", acme_user("carol", json!({"employeeId": "E-1", "badge": 7, "devices": [{"serial": "SN-1"}]})), &at(6))
                .await
                .unwrap();
            // A delete releases its values.
            taken(
                store
                    .create("acme", "User", "u4", acme_user("dave", json!({"employeeId": "e-9"})), &at(7))
                    .await,
                "E-9 before the delete",
            );
            store.delete("acme", "User", "u1", None, &at(8)).await.unwrap();
            store
                .create("acme", "User", "u4", acme_user("dave", json!({"employeeId": "e-9"})), &at(9))
                .await
                .unwrap();
        }
    });
}

/// A store opened with schemas whose unique attributes changed re-indexes what it holds.
#[test]
fn the_unique_index_follows_the_schemas() {
    let dir = crate::TempDir::new("uniques-reindex");
    let path = dir.0.join("scimkit.db");
    rt().block_on(async {
        use scimkit_store::{SqliteStore, Store as _};
        // Written without the extension's uniqueness known.
        {
            let mut schema = acme_registry().schema(ACME).unwrap().clone();
            for a in &mut schema.attributes {
                a.uniqueness = scimkit_schema::Uniqueness::None;
                for s in &mut a.sub_attributes {
                    s.uniqueness = scimkit_schema::Uniqueness::None;
                }
            }
            let mut registry = scimkit_schema::Registry::new();
            registry.add_schema(schema).unwrap();
            registry.add_extension("User", ACME, false).unwrap();
            let store = SqliteStore::open(&path, registry).unwrap();
            store
                .create(
                    "acme",
                    "User",
                    "u1",
                    acme_user("alice", json!({"employeeId": "E-1"})),
                    &at(0),
                )
                .await
                .unwrap();
        }
        let store = SqliteStore::open(&path, acme_registry()).unwrap();
        let e = store
            .create(
                "acme",
                "User",
                "u2",
                acme_user("bob", json!({"employeeId": "e-1"})),
                &at(1),
            )
            .await
            .unwrap_err();
        assert_eq!(e.status(), 409, "{e}");
    });
}

/// A User and a Group may share an id: deleting one leaves the other's memberships alone.
#[test]
fn deleting_a_user_keeps_the_members_of_a_group_with_the_same_id() {
    rt().block_on(async {
        for (name, store, _guard) in all_backends().await {
            store
                .create("acme", "User", "x", user("xavier"), &at(0))
                .await
                .unwrap();
            store
                .create("acme", "User", "u1", user("alice"), &at(1))
                .await
                .unwrap();
            store
                .create("acme", "Group", "x", group("X", &["u1"]), &at(2))
                .await
                .unwrap();
            let mut outer = group("Outer", &["x"]);
            outer["members"][0]["type"] = json!("Group");
            store
                .create("acme", "Group", "g2", outer, &at(3))
                .await
                .unwrap();
            store
                .create("acme", "Group", "g3", group("Has user x", &["x"]), &at(4))
                .await
                .unwrap();

            store
                .delete("acme", "User", "x", None, &at(5))
                .await
                .unwrap();
            assert_eq!(
                store.member_ids("acme", "x").await.unwrap(),
                ["u1"],
                "{name}: group x keeps its members"
            );
            assert_eq!(
                store.member_ids("acme", "g2").await.unwrap(),
                ["x"],
                "{name}: group x stays in g2"
            );
            assert!(
                store.member_ids("acme", "g3").await.unwrap().is_empty(),
                "{name}: user x leaves g3"
            );

            store
                .delete("acme", "Group", "x", None, &at(6))
                .await
                .unwrap();
            assert!(
                store.member_ids("acme", "x").await.unwrap().is_empty(),
                "{name}"
            );
            assert!(
                store.member_ids("acme", "g2").await.unwrap().is_empty(),
                "{name}"
            );
        }
    });
}

/// A group a user is in directly stays `direct` even when it is also reached through another
/// of the user's groups.
#[test]
fn a_group_both_direct_and_inherited_is_direct() {
    rt().block_on(async {
        for (name, store, _guard) in all_backends().await {
            store
                .create("acme", "User", "u1", user("alice"), &at(0))
                .await
                .unwrap();
            store
                .create("acme", "Group", "gb", group("B", &["u1"]), &at(1))
                .await
                .unwrap();
            let mut a = group("A", &["u1", "gb"]);
            a["members"][1]["type"] = json!("Group");
            store
                .create("acme", "Group", "ga", a, &at(2))
                .await
                .unwrap();
            let groups = store.groups_of("acme", "u1").await.unwrap();
            let flags: Vec<(&str, bool)> =
                groups.iter().map(|g| (g.id.as_str(), g.direct)).collect();
            assert_eq!(flags, [("ga", true), ("gb", true)], "{name}");
        }
    });
}

#[test]
fn load_reads_without_assembling_members_or_groups() {
    rt().block_on(async {
        for (name, store, _dir) in all_backends().await {
            store
                .create("acme", "User", "u1", user("bjensen"), &at(1))
                .await
                .unwrap();
            store
                .create("acme", "Group", "g1", group("eng", &["u1"]), &at(2))
                .await
                .unwrap();
            let got = store.get("acme", "Group", "g1").await.unwrap().unwrap();
            assert_eq!(got.body["members"][0]["value"], "u1", "{name}");
            let loaded = store.load("acme", "Group", "g1").await.unwrap().unwrap();
            assert!(
                loaded.body.get("members").is_none(),
                "{name}: {:?}",
                loaded.body
            );
            assert_eq!(
                (loaded.version, &loaded.id),
                (got.version, &got.id),
                "{name}"
            );
            let user = store.load("acme", "User", "u1").await.unwrap().unwrap();
            assert!(user.body.get("groups").is_none(), "{name}");
            assert!(
                store
                    .get("acme", "User", "u1")
                    .await
                    .unwrap()
                    .unwrap()
                    .body
                    .contains_key("groups"),
                "{name}"
            );
            assert!(
                store.load("other", "Group", "g1").await.unwrap().is_none(),
                "{name}"
            );
        }
    });
}

#[test]
fn a_tenant_profile_is_kept_apart_from_soft_delete() {
    rt().block_on(async {
        for (name, store, _dir) in all_backends().await {
            assert_eq!(store.profile("acme").await.unwrap(), None, "{name}");
            store.set_soft_delete("acme", true).await.unwrap();
            store.set_profile("acme", Some("entra")).await.unwrap();
            assert_eq!(
                store.profile("acme").await.unwrap().as_deref(),
                Some("entra"),
                "{name}"
            );
            assert!(store.soft_delete("acme").await.unwrap(), "{name}");
            // Set before soft delete on another tenant: soft delete stays off.
            store.set_profile("beta", Some("okta")).await.unwrap();
            assert!(!store.soft_delete("beta").await.unwrap(), "{name}");
            store.set_profile("acme", None).await.unwrap();
            assert_eq!(store.profile("acme").await.unwrap(), None, "{name}");
            assert_eq!(
                store.profile("beta").await.unwrap().as_deref(),
                Some("okta"),
                "{name}"
            );
        }
    });
}

#[test]
fn dense_nesting_is_walked_completely() {
    // 15 layers of two groups, each group a member of both groups of the next layer: 2^15
    // paths from the user to the top, more than one query follows (SQLite then walks level
    // by level). Every group is found once, and only the first layer is direct.
    rt().block_on(async {
        for (name, store, _dir) in all_backends().await {
            store
                .create("acme", "User", "u", user("dense"), &at(1))
                .await
                .unwrap();
            let layers = 15;
            for layer in 0..layers {
                for k in 0..2 {
                    let members: Vec<String> = if layer == 0 {
                        vec!["u".to_owned()]
                    } else {
                        vec![format!("g{}-0", layer - 1), format!("g{}-1", layer - 1)]
                    };
                    let refs: Vec<&str> = members.iter().map(String::as_str).collect();
                    store
                        .create(
                            "acme",
                            "Group",
                            &format!("g{layer}-{k}"),
                            group(&format!("L{layer}K{k}"), &refs),
                            &at(2),
                        )
                        .await
                        .unwrap();
                }
            }
            let groups = store.groups_of("acme", "u").await.unwrap();
            assert_eq!(groups.len(), 2 * layers, "{name}");
            let direct: Vec<&str> = groups
                .iter()
                .filter(|g| g.direct)
                .map(|g| g.id.as_str())
                .collect();
            assert_eq!(direct, ["g0-0", "g0-1"], "{name}");
            let got = store.get("acme", "User", "u").await.unwrap().unwrap();
            assert_eq!(
                got.body["groups"].as_array().unwrap().len(),
                2 * layers,
                "{name}"
            );
            assert_eq!(
                groups
                    .iter()
                    .find(|g| g.id == "g14-1")
                    .and_then(|g| g.display.as_deref()),
                Some("L14K1"),
                "{name}"
            );
        }
    });
}

#[test]
fn failed_changes_are_audited_too() {
    rt().block_on(async {
        for (name, store, _dir) in all_backends().await {
            store
                .create("acme", "User", "u1", user("bjensen"), &at(1))
                .await
                .unwrap();
            store
                .record_failure(
                    "acme",
                    &at(2),
                    "create",
                    "User",
                    "",
                    "409 uniqueness: userName \"bjensen\" is already taken",
                )
                .await
                .unwrap();
            let log = store.audit("acme", 10).await.unwrap();
            assert_eq!(log.len(), 2, "{name}");
            assert_eq!(
                log[0].outcome, "409 uniqueness: userName \"bjensen\" is already taken",
                "{name}"
            );
            assert_eq!(log[0].token_id.as_deref(), Some("tok-1"), "{name}");
            assert_eq!(log[1].outcome, "ok", "{name}");
            assert!(store.audit("other", 10).await.unwrap().is_empty(), "{name}");
        }
    });
}

#[test]
fn role_rules_and_token_scopes_are_kept() {
    rt().block_on(async {
        for (name, store, _dir) in all_backends().await {
            assert_eq!(store.role_rules("acme").await.unwrap(), None, "{name}");
            let rules = json!([{"group": {"displayName": "Admins"}, "roles": ["admin"]}]);
            store.set_role_rules("acme", Some(&rules)).await.unwrap();
            store.set_profile("acme", Some("okta")).await.unwrap();
            assert_eq!(
                store.role_rules("acme").await.unwrap(),
                Some(rules),
                "{name}"
            );
            assert_eq!(
                store.profile("acme").await.unwrap().as_deref(),
                Some("okta"),
                "{name}"
            );
            store.set_role_rules("acme", None).await.unwrap();
            assert_eq!(store.role_rules("acme").await.unwrap(), None, "{name}");

            store.create_tenant("acme", &at(1)).await.unwrap();
            let app = scimkit_store::TokenRecord::new("t-app", "acme", "h", "2026-11-28T12:00:00Z")
                .with_scope("app");
            store.create_token(app, &at(1)).await.unwrap();
            let got = store.token("t-app").await.unwrap().unwrap();
            assert_eq!(got.scope.as_deref(), Some("app"), "{name}");
            let scim =
                scimkit_store::TokenRecord::new("t-scim", "acme", "h", "2026-11-28T12:00:00Z");
            store.create_token(scim, &at(1)).await.unwrap();
            assert_eq!(
                store.token("t-scim").await.unwrap().unwrap().scope,
                None,
                "{name}"
            );
        }
    });
}

#[test]
fn jit_settings_and_origins_are_kept_per_tenant() {
    rt().block_on(async {
        for (name, store, _dir) in all_backends().await {
            assert_eq!(store.jit("acme").await.unwrap(), None, "{name}");
            let settings = json!({"mode": "hybrid", "keys": ["externalId", "email"]});
            store.set_jit("acme", Some(&settings)).await.unwrap();
            assert_eq!(store.jit("acme").await.unwrap(), Some(settings), "{name}");
            assert_eq!(store.jit("beta").await.unwrap(), None, "{name}");
            store.set_origin("acme", "u1", Some("jit")).await.unwrap();
            assert_eq!(
                store.origin("acme", "u1").await.unwrap().as_deref(),
                Some("jit"),
                "{name}"
            );
            assert_eq!(store.origin("beta", "u1").await.unwrap(), None, "{name}");
            store.set_origin("acme", "u1", Some("scim")).await.unwrap();
            assert_eq!(
                store.origin("acme", "u1").await.unwrap().as_deref(),
                Some("scim"),
                "{name}"
            );
            store.set_origin("acme", "u1", None).await.unwrap();
            assert_eq!(store.origin("acme", "u1").await.unwrap(), None, "{name}");
        }
    });
}

#[test]
fn events_no_write_carries_are_appended_in_order() {
    rt().block_on(async {
        for (name, store, _dir) in all_backends().await {
            store
                .create("acme", "User", "u1", user("bjensen"), &at(1))
                .await
                .unwrap();
            let data = json!({"added": ["admin"], "removed": [], "roles": ["admin"]});
            let seq = store
                .append_event("acme", EventKind::RolesChanged, "User", "u1", &data, &at(2))
                .await
                .unwrap();
            assert_eq!(seq, 2, "{name}");
            let events = store.events("acme", 1, 10).await.unwrap();
            assert_eq!(events.len(), 1, "{name}");
            assert_eq!(
                (events[0].kind, events[0].seq, &events[0].data),
                (EventKind::RolesChanged, 2, &data),
                "{name}"
            );
            assert_eq!(EventKind::RolesChanged.as_str(), "roles_changed");
            // The next write continues the sequence.
            store
                .delete("acme", "User", "u1", None, &at(3))
                .await
                .unwrap();
            assert_eq!(
                store.events("acme", 2, 10).await.unwrap()[0].seq,
                3,
                "{name}"
            );
        }
    });
}

/// A request logged at second `t` of the test's minute, with the request id `req-<t>`.
fn request(t: u32, method: &str, path: &str, status: u16) -> RequestRecord {
    RequestRecord::new(
        format!("2026-11-28T12:00:{t:02}Z"),
        format!("req-{t}"),
        method,
        path,
        status,
    )
}

/// The seqs of `records`, in order.
fn seqs(records: &[RequestRecord]) -> Vec<u64> {
    records.iter().map(|r| r.seq).collect()
}

/// Six requests at seconds 1 to 6: Users and Groups, two of them errors.
fn request_mix() -> Vec<RequestRecord> {
    vec![
        request(1, "POST", "/Users", 201)
            .with_resource_type("User")
            .with_resource_id("u1"),
        request(2, "GET", "/Users/u1", 200)
            .with_resource_type("User")
            .with_resource_id("u1"),
        request(3, "POST", "/Groups", 409).with_resource_type("Group"),
        request(4, "GET", "/ServiceProviderConfig", 200),
        request(5, "PATCH", "/Users/u9", 404)
            .with_resource_type("User")
            .with_resource_id("u9"),
        request(6, "PATCH", "/Groups/g1", 200)
            .with_resource_type("Group")
            .with_resource_id("g1"),
    ]
}

#[test]
fn request_log_numbers_each_tenant_apart() {
    rt().block_on(async {
        for (name, store, _dir) in all_backends().await {
            assert_eq!(store.log_requests("acme", &[]).await.unwrap(), 0, "{name}");
            let first = [request(1, "GET", "/Users", 200)];
            assert_eq!(
                store.log_requests("acme", &first).await.unwrap(),
                1,
                "{name}"
            );
            let batch = [
                request(2, "GET", "/Users/u1", 200),
                request(3, "DELETE", "/Users/u1", 204),
            ];
            assert_eq!(
                store.log_requests("acme", &batch).await.unwrap(),
                3,
                "{name}"
            );
            // Another tenant starts its own numbering, and the first goes on from where it was.
            let beta = [request(4, "GET", "/Groups", 200)];
            assert_eq!(
                store.log_requests("beta", &beta).await.unwrap(),
                1,
                "{name}"
            );
            let later = [request(5, "GET", "/Groups", 200)];
            assert_eq!(
                store.log_requests("acme", &later).await.unwrap(),
                4,
                "{name}"
            );

            let acme = store
                .requests("acme", &RequestQuery::default())
                .await
                .unwrap();
            assert_eq!(seqs(&acme), [4, 3, 2, 1], "{name}: newest first");
            // In the order given: a batch's first record gets the lower number.
            let ids: Vec<&str> = acme.iter().map(|r| r.request_id.as_str()).collect();
            assert_eq!(ids, ["req-5", "req-3", "req-2", "req-1"], "{name}");

            // Tenants never see each other's requests, by list or by number.
            let beta = store
                .requests("beta", &RequestQuery::default())
                .await
                .unwrap();
            assert_eq!(
                beta.iter()
                    .map(|r| (r.seq, r.request_id.as_str()))
                    .collect::<Vec<_>>(),
                [(1, "req-4")],
                "{name}"
            );
            assert_eq!(
                store.request("beta", 1).await.unwrap().unwrap().request_id,
                "req-4",
                "{name}"
            );
            assert_eq!(
                store.request("acme", 1).await.unwrap().unwrap().request_id,
                "req-1",
                "{name}"
            );
            assert_eq!(store.request("beta", 2).await.unwrap(), None, "{name}");
            assert!(
                store
                    .requests("other", &RequestQuery::default())
                    .await
                    .unwrap()
                    .is_empty(),
                "{name}"
            );
        }
    });
}

#[test]
fn request_log_keeps_every_field() {
    rt().block_on(async {
        for (name, store, _dir) in all_backends().await {
            let mut full = RequestRecord::new(
                "2026-11-28T12:00:01.250Z",
                "req-full",
                "PATCH",
                "/Users/u1?attributes=userName%2Cemails",
                200,
            )
            .with_token("tok-1")
            .with_resource_type("User")
            .with_resource_id("u1")
            .with_duration_us(u64::from(u32::MAX) + 7)
            .with_normalizers(["okta.patch-path", "entra.active-string"])
            .with_request_body(r#"{"Operations":[{"op":"replace","value":{"active":"False"}}]}"#)
            .with_response_body("{\"id\":\"u1\",\"displayName\":\"Zoë \\\"Z\\\" ☃\"}");
            // The store numbers the records; a seq given is ignored.
            full.seq = 999;
            let mut bare = RequestRecord::new("2026-11-28T12:00:02Z", "req-bare", "GET", "/", 500);
            bare.seq = 999;
            let last = store
                .log_requests("acme", &[full.clone(), bare.clone()])
                .await
                .unwrap();
            assert_eq!(last, 2, "{name}");
            full.seq = 1;
            bare.seq = 2;
            assert_eq!(
                store.request("acme", 1).await.unwrap(),
                Some(full.clone()),
                "{name}"
            );
            assert_eq!(
                store.request("acme", 2).await.unwrap(),
                Some(bare.clone()),
                "{name}"
            );
            // What the bare record sent as absent (and came back so, above).
            assert_eq!(
                (bare.token_id, bare.resource_type, bare.request_body),
                (None, None, None)
            );
            assert!(bare.normalizers.is_empty());
            assert_eq!(
                store
                    .requests("acme", &RequestQuery::default())
                    .await
                    .unwrap(),
                [
                    store.request("acme", 2).await.unwrap().unwrap(),
                    full.clone()
                ],
                "{name}: listed as read one by one"
            );
            assert_eq!(store.request("acme", 3).await.unwrap(), None, "{name}");
            assert_eq!(store.request("acme", 0).await.unwrap(), None, "{name}");
        }
    });
}

#[test]
fn request_log_filters_by_status_type_and_time() {
    rt().block_on(async {
        for (name, store, _dir) in all_backends().await {
            store.log_requests("acme", &request_mix()).await.unwrap();
            // Another tenant's matching requests never show.
            store.log_requests("beta", &request_mix()).await.unwrap();
            let found = |q: RequestQuery| {
                let store = &store;
                async move { seqs(&store.requests("acme", &q).await.unwrap()) }
            };
            let all = RequestQuery::default();
            assert_eq!(found(all.clone()).await, [6, 5, 4, 3, 2, 1], "{name}");
            assert_eq!(
                found(all.clone().errors_only()).await,
                [5, 3],
                "{name}: 409 and 404"
            );
            assert_eq!(
                found(all.clone().with_resource_type("User")).await,
                [5, 2, 1],
                "{name}"
            );
            assert_eq!(
                found(all.clone().with_resource_type("Group")).await,
                [6, 3],
                "{name}"
            );
            assert_eq!(
                found(all.clone().with_resource_type("user")).await,
                Vec::<u64>::new(),
                "{name}: resource types compare exactly"
            );
            assert_eq!(
                found(all.clone().errors_only().with_resource_type("User")).await,
                [5],
                "{name}"
            );
            // One resource's requests.
            assert_eq!(
                found(all.clone().with_resource_id("u1")).await,
                [2, 1],
                "{name}"
            );
            assert_eq!(
                found(all.clone().with_resource_id("u9").errors_only()).await,
                [5],
                "{name}"
            );
            assert_eq!(
                found(all.clone().with_resource_id("U1")).await,
                Vec::<u64>::new(),
                "{name}: ids compare exactly"
            );
            // `since` is inclusive, `until` exclusive.
            assert_eq!(
                found(all.clone().with_since("2026-11-28T12:00:04Z")).await,
                [6, 5, 4],
                "{name}"
            );
            assert_eq!(
                found(all.clone().with_until("2026-11-28T12:00:04Z")).await,
                [3, 2, 1],
                "{name}"
            );
            assert_eq!(
                found(
                    all.clone()
                        .with_since("2026-11-28T12:00:02Z")
                        .with_until("2026-11-28T12:00:05Z")
                )
                .await,
                [4, 3, 2],
                "{name}"
            );
            assert_eq!(
                found(
                    all.clone()
                        .with_since("2026-11-28T12:00:02Z")
                        .with_until("2026-11-28T12:00:05Z")
                        .errors_only()
                        .with_resource_type("Group")
                        .with_before(4)
                        .with_limit(5)
                )
                .await,
                [3],
                "{name}: every condition at once"
            );
            assert_eq!(
                found(all.clone().with_limit(2)).await,
                [6, 5],
                "{name}: the newest within the limit"
            );
            assert_eq!(
                found(all.clone().errors_only().with_limit(1)).await,
                [5],
                "{name}: the limit counts matches, not rows scanned"
            );
            assert_eq!(
                found(all.clone().with_limit(0)).await,
                Vec::<u64>::new(),
                "{name}"
            );
            assert_eq!(RequestQuery::default().limit, RequestQuery::DEFAULT_LIMIT);
        }
    });
}

#[test]
fn request_log_pages_backwards_with_before() {
    rt().block_on(async {
        for (name, store, _dir) in all_backends().await {
            store.log_requests("acme", &request_mix()).await.unwrap();
            store.log_requests("acme", &request_mix()).await.unwrap();
            // Pages of 5, newest first, each after the last seq of the page before.
            let mut pages = Vec::new();
            let mut query = RequestQuery::default().with_limit(5);
            loop {
                let page = seqs(&store.requests("acme", &query).await.unwrap());
                let Some(&last) = page.last() else { break };
                pages.push(page);
                query = query.with_before(last);
            }
            assert_eq!(
                pages,
                [vec![12, 11, 10, 9, 8], vec![7, 6, 5, 4, 3], vec![2, 1]],
                "{name}"
            );
            // Paging through errors only: the filter and `before` together.
            let page = seqs(
                &store
                    .requests(
                        "acme",
                        &RequestQuery::default().errors_only().with_before(11),
                    )
                    .await
                    .unwrap(),
            );
            assert_eq!(page, [9, 5, 3], "{name}");
        }
    });
}

#[test]
fn request_log_prune_keeps_the_newest() {
    rt().block_on(async {
        for (name, store, _dir) in all_backends().await {
            store.log_requests("acme", &request_mix()).await.unwrap();
            store.log_requests("beta", &request_mix()).await.unwrap();
            let all = RequestQuery::default();
            assert_eq!(store.prune_requests("acme", 10).await.unwrap(), 0, "{name}");
            assert_eq!(store.prune_requests("acme", 6).await.unwrap(), 0, "{name}");
            assert_eq!(store.prune_requests("acme", 4).await.unwrap(), 2, "{name}");
            assert_eq!(
                seqs(&store.requests("acme", &all).await.unwrap()),
                [6, 5, 4, 3],
                "{name}"
            );
            assert_eq!(store.request("acme", 2).await.unwrap(), None, "{name}");
            assert_eq!(store.prune_requests("acme", 1).await.unwrap(), 3, "{name}");
            assert_eq!(
                seqs(&store.requests("acme", &all).await.unwrap()),
                [6],
                "{name}"
            );
            // Pruning one tenant's log leaves the others alone.
            assert_eq!(
                seqs(&store.requests("beta", &all).await.unwrap()),
                [6, 5, 4, 3, 2, 1],
                "{name}"
            );
            // Emptied, the log numbers on from where it was: a seq names one request only.
            assert_eq!(store.prune_requests("acme", 0).await.unwrap(), 1, "{name}");
            assert!(
                store.requests("acme", &all).await.unwrap().is_empty(),
                "{name}"
            );
            assert_eq!(store.prune_requests("acme", 0).await.unwrap(), 0, "{name}");
            let next = [request(7, "GET", "/Users", 200)];
            assert_eq!(
                store.log_requests("acme", &next).await.unwrap(),
                7,
                "{name}"
            );
            assert_eq!(
                seqs(&store.requests("acme", &all).await.unwrap()),
                [7],
                "{name}"
            );
            assert_eq!(
                store.prune_requests("nobody", 0).await.unwrap(),
                0,
                "{name}"
            );
        }
    });
}

#[test]
fn member_pages_are_slices_of_the_sorted_members() {
    rt().block_on(async {
        for (name, store, _dir) in all_backends().await {
            let ids: Vec<String> = (0..23).map(|i| format!("u{:02}", (i * 7) % 23)).collect();
            for id in &ids {
                store
                    .create("acme", "User", id, user(id), &at(0))
                    .await
                    .unwrap();
            }
            let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
            store
                .create("acme", "Group", "big", group("Big", &refs), &at(1))
                .await
                .unwrap();
            // Another tenant's group of the same id is not counted.
            store
                .create("other", "Group", "big", group("Big", &[]), &at(1))
                .await
                .unwrap();
            let all = store.member_ids("acme", "big").await.unwrap();
            let mut sorted = ids.clone();
            sorted.sort();
            assert_eq!(all, sorted, "{name}");
            for (skip, count) in [(0, 5), (5, 5), (20, 5), (23, 5), (40, 5), (0, 0), (0, 100)] {
                let (total, page) = store.member_page("acme", "big", skip, count).await.unwrap();
                assert_eq!(total, 23, "{name}");
                let expected: Vec<String> = all.iter().skip(skip).take(count).cloned().collect();
                assert_eq!(page, expected, "{name}: skip {skip}, count {count}");
            }
            assert_eq!(
                store.member_page("other", "big", 0, 10).await.unwrap(),
                (0, Vec::new()),
                "{name}"
            );
            assert_eq!(
                store.member_page("acme", "missing", 0, 10).await.unwrap(),
                (0, Vec::new()),
                "{name}"
            );
        }
    });
}

#[test]
fn extreme_pages_are_answered_on_every_backend() {
    rt().block_on(async {
        for (name, store, _dir) in all_backends().await {
            for (i, u) in ["u1", "u2", "u3"].into_iter().enumerate() {
                store
                    .create("acme", "User", u, user(u), &at(i as u32))
                    .await
                    .unwrap();
            }
            for filter in [None, Some("userName pr")] {
                let base = || match filter {
                    Some(f) => Query::filter(f).unwrap(),
                    None => Query::all(),
                };
                for (start, count) in [
                    (usize::MAX, usize::MAX),
                    (1, usize::MAX),
                    (usize::MAX, 1),
                    (3, 0),
                ] {
                    let page = store
                        .search("acme", "User", &base().page(start, count))
                        .await
                        .unwrap();
                    assert_eq!(page.total, 3, "{name} {filter:?} {start} {count}");
                    let expected = if start == 1 { 3 } else { 0 };
                    assert_eq!(
                        page.resources.len(),
                        expected,
                        "{name} {filter:?} {start} {count}"
                    );
                }
                let all = store
                    .search("acme", "User", &base().after("", usize::MAX))
                    .await
                    .unwrap();
                assert_eq!(all.resources.len(), 3, "{name} {filter:?}");
                assert_eq!(all.next_cursor, None, "{name} {filter:?}");
                let one = store
                    .search("acme", "User", &base().after("", 1))
                    .await
                    .unwrap();
                let next = one.next_cursor.clone().expect("a next page");
                let rest = store
                    .search("acme", "User", &base().after(next, usize::MAX))
                    .await
                    .unwrap();
                let ids: Vec<&str> = one
                    .resources
                    .iter()
                    .chain(&rest.resources)
                    .map(|r| r.id.as_str())
                    .collect();
                assert_eq!(ids, ["u1", "u2", "u3"], "{name} {filter:?}");
            }
        }
    });
}
