//! The deprovisioning report: over HTTP at `/app/v1/{tenant}/reports/deprovisioning` and as
//! `Scim::deprovisioning_report`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Server, assert_error, id, patch_op};
use scimkit_server::reports::SCAN_MAX;
use scimkit_server::{DeliveryState, DeprovisionKind, DeprovisioningReport};
use scimkit_store::{Ctx, EventKind};

const PATH: &str = "/app/v1/acme/reports/deprovisioning";

async fn app_token(s: &Server) -> String {
    s.scim
        .issue_app_token("acme", Some("auditor"), None)
        .await
        .expect("an app token")
        .token
}

async fn set_active(s: &Server, user: &str, active: bool) {
    s.patch(
        &format!("/Users/{user}"),
        patch_op(json!([{"op": "replace", "path": "active", "value": active}])),
    )
    .await
    .expect_patched();
}

/// The `seq` of the outbox event of `kind` for `id` (the first one after `after`).
async fn seq_of(s: &Server, kind: EventKind, id: &str, after: u64) -> u64 {
    s.scim
        .store()
        .events("acme", after, usize::MAX)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.kind == kind && e.resource_id == id)
        .unwrap_or_else(|| panic!("no {kind:?} event of {id}"))
        .seq
}

/// Four users and a group; a minute later alice is deactivated, then bob deleted, then carol
/// deactivated, then carol reactivated, a minute apart. Returns (alice, bob, carol, dave).
async fn history(s: &Server) -> (String, String, String, String) {
    let alice = id(&s.create_user("alice").await);
    let bob = id(&s.create_user("bob").await);
    let carol = id(&s.create_user("carol").await);
    let dave = id(&s.create_user("dave").await);
    s.create_group("eng", &[&alice, &bob]).await;
    s.advance(Duration::from_secs(60));
    set_active(s, &alice, false).await;
    s.advance(Duration::from_secs(60));
    s.delete(&format!("/Users/{bob}")).await.expect(204);
    s.advance(Duration::from_secs(60));
    set_active(s, &carol, false).await;
    s.advance(Duration::from_secs(60));
    set_active(s, &carol, true).await;
    (alice, bob, carol, dave)
}

fn kinds(r: &DeprovisioningReport) -> Vec<(String, DeprovisionKind)> {
    r.entries.iter().map(|e| (e.id.clone(), e.kind)).collect()
}

fn states(r: &DeprovisioningReport) -> Vec<Vec<(&str, DeliveryState)>> {
    r.entries
        .iter()
        .map(|e| {
            e.deliveries
                .iter()
                .map(|d| (d.consumer.as_str(), d.state))
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn the_report_lists_deprovisionings_with_their_deliveries() {
    let s = Server::new().await;
    let (alice, bob, carol, _dave) = history(&s).await;
    let alice_off = seq_of(&s, EventKind::Deactivated, &alice, 0).await;
    let bob_gone = seq_of(&s, EventKind::Deleted, &bob, 0).await;
    let carol_off = seq_of(&s, EventKind::Deactivated, &carol, 0).await;
    let carol_on = seq_of(&s, EventKind::Reactivated, &carol, 0).await;
    assert!(alice_off < bob_gone && bob_gone < carol_off && carol_off < carol_on);

    // No consumer yet: nothing is acknowledged, and nothing is counted pending.
    let r = s.scim.deprovisioning_report("acme", 0, 100).await.unwrap();
    assert_eq!(r.entries.len(), 3);
    assert!(r.consumers.is_empty() && r.pending == 0);
    assert!(r.entries.iter().all(|e| e.deliveries.is_empty()));

    // The sessions hook has handled everything up to bob's deletion, the audit push only
    // alice's deactivation.
    let store = s.scim.store();
    store.ack("acme", "hook:sessions", bob_gone).await.unwrap();
    store.ack("acme", "push:audit", alice_off).await.unwrap();

    let r = s.scim.deprovisioning_report("acme", 0, 100).await.unwrap();
    assert_eq!(r.tenant, "acme");
    assert_eq!((r.since, r.next, r.more), (0, carol_on, false));
    assert_eq!(
        r.consumers
            .iter()
            .map(|c| (c.consumer.as_str(), c.acked))
            .collect::<Vec<_>>(),
        [("hook:sessions", bob_gone), ("push:audit", alice_off)]
    );
    assert_eq!(
        kinds(&r),
        [
            (alice.clone(), DeprovisionKind::Deactivated),
            (bob.clone(), DeprovisionKind::Deleted),
            (carol.clone(), DeprovisionKind::Deactivated),
        ]
    );
    assert_eq!(
        r.entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [alice_off, bob_gone, carol_off]
    );
    assert_eq!(
        r.entries.iter().map(|e| e.at.as_str()).collect::<Vec<_>>(),
        [
            "2026-11-28T12:01:00.000Z",
            "2026-11-28T12:02:00.000Z",
            "2026-11-28T12:03:00.000Z"
        ]
    );
    use DeliveryState::{Acknowledged, Pending};
    assert_eq!(
        states(&r),
        [
            vec![
                ("hook:sessions", Acknowledged),
                ("push:audit", Acknowledged)
            ],
            vec![("hook:sessions", Acknowledged), ("push:audit", Pending)],
            vec![("hook:sessions", Pending), ("push:audit", Pending)],
        ]
    );
    assert_eq!(r.pending, 2);

    let [a, b, c] = &r.entries[..] else {
        panic!("three entries")
    };
    // alice: still there, still inactive.
    assert_eq!(a.user_name.as_deref(), Some("alice"));
    assert!(a.exists && !a.active && !a.reactivated && a.reactivated_at.is_none());
    // bob: gone, and his userName with him.
    assert_eq!(b.user_name, None);
    assert!(!b.exists && !b.active && !b.reactivated);
    // carol: active again since 12:04.
    assert_eq!(c.user_name.as_deref(), Some("carol"));
    assert!(c.exists && c.active && c.reactivated);
    assert_eq!(
        c.reactivated_at.as_deref(),
        Some("2026-11-28T12:04:00.000Z")
    );

    // Once every consumer has caught up, nothing is pending.
    store.ack("acme", "hook:sessions", carol_on).await.unwrap();
    store.ack("acme", "push:audit", carol_on).await.unwrap();
    let r = s.scim.deprovisioning_report("acme", 0, 100).await.unwrap();
    assert_eq!(r.pending, 0);
    assert!(r.entries.iter().all(|e| !e.is_pending()));
}

#[tokio::test]
async fn the_report_pages_with_next() {
    let s = Server::new().await;
    let (alice, bob, carol, _dave) = history(&s).await;
    let carol_on = seq_of(&s, EventKind::Reactivated, &carol, 0).await;

    let mut since = 0;
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    loop {
        let r = s
            .scim
            .deprovisioning_report("acme", since, 1)
            .await
            .unwrap();
        assert!(r.entries.len() <= 1);
        assert_eq!(r.since, since);
        seen.extend(kinds(&r));
        pages.push((r.entries.len(), r.more));
        if !r.more {
            assert_eq!(r.next, carol_on);
            break;
        }
        assert!(r.next > since, "next moves on");
        since = r.next;
    }
    assert_eq!(
        seen,
        [
            (alice, DeprovisionKind::Deactivated),
            (bob, DeprovisionKind::Deleted),
            (carol.clone(), DeprovisionKind::Deactivated),
        ]
    );
    // The third page stops at carol's deactivation, before her reactivation: more to read,
    // and a last page with nothing in it.
    assert_eq!(pages, [(1, true), (1, true), (1, true), (0, false)]);

    // A page that stopped before the reactivation still says carol is active again (the
    // stored user is), without the time it did not read.
    let carol_off = seq_of(&s, EventKind::Deactivated, &carol, 0).await;
    let r = s
        .scim
        .deprovisioning_report("acme", carol_off - 1, 1)
        .await
        .unwrap();
    let e = &r.entries[0];
    assert_eq!((e.seq, e.reactivated, e.active), (carol_off, true, true));
    assert_eq!(e.reactivated_at, None);
    assert_eq!((r.next, r.more), (carol_off, true));

    // limit 0: no entries, and the report says whether there is anything to read.
    let r = s.scim.deprovisioning_report("acme", 0, 0).await.unwrap();
    assert!(r.entries.is_empty());
    assert_eq!((r.next, r.more), (0, true));
    let r = s
        .scim
        .deprovisioning_report("acme", carol_on, 100)
        .await
        .unwrap();
    assert!(r.entries.is_empty());
    assert_eq!((r.next, r.more), (carol_on, false));
}

#[tokio::test]
async fn a_user_deactivated_twice_has_two_entries() {
    let s = Server::new().await;
    let dave = id(&s.create_user("dave").await);
    s.advance(Duration::from_secs(1));
    set_active(&s, &dave, false).await;
    s.advance(Duration::from_secs(1));
    set_active(&s, &dave, true).await;
    s.advance(Duration::from_secs(1));
    set_active(&s, &dave, false).await;
    s.advance(Duration::from_secs(1));
    s.delete(&format!("/Users/{dave}")).await.expect(204);

    let r = s.scim.deprovisioning_report("acme", 0, 100).await.unwrap();
    assert_eq!(
        kinds(&r),
        [
            (dave.clone(), DeprovisionKind::Deactivated),
            (dave.clone(), DeprovisionKind::Deactivated),
            (dave.clone(), DeprovisionKind::Deleted),
        ]
    );
    let flags: Vec<_> = r
        .entries
        .iter()
        .map(|e| (e.at.as_str(), e.reactivated, e.reactivated_at.as_deref()))
        .collect();
    assert_eq!(
        flags,
        [
            (
                "2026-11-28T12:00:01.000Z",
                true,
                Some("2026-11-28T12:00:02.000Z")
            ),
            ("2026-11-28T12:00:03.000Z", false, None),
            ("2026-11-28T12:00:04.000Z", false, None),
        ]
    );
    assert!(r.entries.iter().all(|e| !e.exists && !e.active));
}

#[tokio::test]
async fn a_report_reads_a_bounded_part_of_the_outbox() {
    let s = Server::new().await;
    let store = s.scim.store();
    let ctx = Ctx::at("2026-11-28T12:00:00.000Z");
    for i in 0..SCAN_MAX {
        let body = json!({"userName": format!("u{i}"), "active": true});
        let Value::Object(body) = body else {
            unreachable!()
        };
        store
            .create("acme", "User", &format!("u{i}"), body, &ctx)
            .await
            .unwrap();
    }
    let body = json!({"userName": "u0", "active": false});
    let Value::Object(body) = body else {
        unreachable!()
    };
    store
        .replace(
            "acme",
            "User",
            "u0",
            body,
            None,
            &Ctx::at("2026-11-28T12:05:00.000Z"),
        )
        .await
        .unwrap();

    // The first report reads SCAN_MAX creations and stops; the next one finds u0.
    let r = s.scim.deprovisioning_report("acme", 0, 100).await.unwrap();
    assert!(r.entries.is_empty());
    assert_eq!((r.next, r.more), (SCAN_MAX as u64, true));
    let r = s
        .scim
        .deprovisioning_report("acme", r.next, 100)
        .await
        .unwrap();
    assert_eq!(kinds(&r), [("u0".to_owned(), DeprovisionKind::Deactivated)]);
    assert_eq!(r.entries[0].at, "2026-11-28T12:05:00.000Z");
    assert_eq!((r.next, r.more), (SCAN_MAX as u64 + 1, false));
}

#[tokio::test]
async fn the_report_over_http() {
    let s = Server::new().await;
    let app = app_token(&s).await;
    let (alice, bob, carol, _dave) = history(&s).await;
    let bob_gone = seq_of(&s, EventKind::Deleted, &bob, 0).await;
    s.scim
        .store()
        .ack("acme", "hook:sessions", bob_gone)
        .await
        .unwrap();

    // The answer is the Rust report, in camelCase.
    let got = s.send_as(&app, "GET", PATH, None, &[]).await;
    got.expect(200);
    let rust = s.scim.deprovisioning_report("acme", 0, 100).await.unwrap();
    assert_eq!(got.body, serde_json::to_value(&rust).unwrap());
    let body = &got.body;
    assert_eq!(
        body["consumers"],
        json!([{"consumer": "hook:sessions", "acked": bob_gone}])
    );
    assert_eq!(body["pending"], 1);
    assert_eq!(body["more"], false);
    let first = &body["entries"][0];
    assert_eq!(first["id"], json!(alice));
    assert_eq!(first["kind"], "deactivated");
    assert_eq!(first["userName"], "alice");
    assert_eq!(first["at"], "2026-11-28T12:01:00.000Z");
    assert_eq!(
        first["deliveries"],
        json!([{"consumer": "hook:sessions", "state": "acknowledged"}])
    );
    assert_eq!(body["entries"][1]["kind"], "deleted");
    assert!(body["entries"][1].get("userName").is_none(), "{body}");
    let third = &body["entries"][2];
    assert_eq!(third["id"], json!(carol));
    assert_eq!(
        (&third["reactivated"], &third["reactivatedAt"]),
        (&json!(true), &json!("2026-11-28T12:04:00.000Z"))
    );
    assert_eq!(third["deliveries"][0]["state"], "pending");

    // since and limit.
    let got = s
        .send_as(&app, "GET", &format!("{PATH}?since=0&limit=2"), None, &[])
        .await;
    got.expect(200);
    assert_eq!(got.body["entries"].as_array().unwrap().len(), 2);
    assert_eq!(
        (&got.body["next"], &got.body["more"]),
        (&json!(bob_gone), &json!(true))
    );
    let got = s
        .send_as(
            &app,
            "GET",
            &format!("{PATH}?since={bob_gone}&limit=5000"),
            None,
            &[],
        )
        .await;
    got.expect(200);
    assert_eq!(got.body["entries"][0]["id"], json!(carol));
    assert_eq!(got.body["since"], json!(bob_gone));

    // Bad parameters, another method, a SCIM token.
    for query in ["since=-1", "limit=many", "since=1.5"] {
        let r = s
            .send_as(&app, "GET", &format!("{PATH}?{query}"), None, &[])
            .await;
        assert_error(&r, 400, Some("invalidValue"));
    }
    let r = s.send_as(&app, "POST", PATH, Some(json!({})), &[]).await;
    assert_error(&r, 405, None);
    assert_eq!(r.header("allow"), "GET");
    let r = s.send("GET", PATH, None, &[]).await;
    assert_error(&r, 401, None);
    let r = s
        .send_bytes(None, "GET", PATH, Default::default(), &[])
        .await;
    assert_error(&r, 401, None);
    // Another tenant's app token does not read acme's report.
    s.tenant("beta").await;
    let beta_app = s
        .scim
        .issue_app_token("beta", None, None)
        .await
        .unwrap()
        .token;
    let r = s.send_as(&beta_app, "GET", PATH, None, &[]).await;
    assert_error(&r, 401, None);
    let r = s
        .send_as(
            &beta_app,
            "GET",
            "/app/v1/beta/reports/deprovisioning",
            None,
            &[],
        )
        .await;
    r.expect(200);
    assert_eq!(r.body["entries"], json!([]));
}
