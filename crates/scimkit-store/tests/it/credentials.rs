//! Tenants and bearer-token records, checked on every backend.

use scimkit_store::{Ctx, SqliteStore, Store, StoreError, TokenRecord};

use crate::all_backends;

fn at(t: u32) -> Ctx {
    Ctx::at(format!("2026-11-28T12:00:{t:02}Z")).with_token("tok-admin")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A token of `tenant` created at second `t`.
fn token(id: &str, tenant: &str, t: u32) -> TokenRecord {
    TokenRecord::new(
        id,
        tenant,
        format!("sha256-of-{id}"),
        format!("2026-11-28T12:00:{t:02}Z"),
    )
}

fn status(e: &StoreError) -> (u16, Option<&'static str>) {
    (e.status(), e.scim_type().map(|t| t.as_str()))
}

#[test]
fn tenants_are_created_once_listed_by_name() {
    rt().block_on(async {
        for (name, store, _guard) in all_backends().await {
            let acme = store.create_tenant("acme", &at(0)).await.unwrap();
            assert_eq!(
                (acme.name.as_str(), acme.created.as_str()),
                ("acme", "2026-11-28T12:00:00Z"),
                "{name}"
            );
            let err = store.create_tenant("acme", &at(1)).await.unwrap_err();
            assert!(
                matches!(&err, StoreError::TenantExists { name } if name == "acme"),
                "{name}: {err}"
            );
            assert_eq!(status(&err), (409, Some("uniqueness")), "{name}");
            assert_eq!(err.to_string(), "tenant acme already exists");
            // The first creation stands.
            let got = store.tenant("acme").await.unwrap().unwrap();
            assert_eq!(got, acme, "{name}");
            assert!(store.tenant("globex").await.unwrap().is_none(), "{name}");
            // A name that cannot be a tenant's is simply not one.
            assert!(
                store.tenant("Not A Name").await.unwrap().is_none(),
                "{name}"
            );

            // Sorted by name, bytewise: `-` before letters (PostgreSQL too, whatever the
            // database's collation).
            for n in ["zeta9", "ab", "a-b", "0day"] {
                store.create_tenant(n, &at(2)).await.unwrap();
            }
            let names: Vec<String> = store
                .tenants()
                .await
                .unwrap()
                .into_iter()
                .map(|t| t.name)
                .collect();
            assert_eq!(names, ["0day", "a-b", "ab", "acme", "zeta9"], "{name}");
        }
    });
}

#[test]
fn tenant_names_are_checked() {
    let long_ok = "a".repeat(64);
    let too_long = "a".repeat(65);
    rt().block_on(async {
        for (name, store, _guard) in all_backends().await {
            for ok in ["a", "0", "a-", "acme-eu-1", long_ok.as_str()] {
                let t = store.create_tenant(ok, &at(0)).await;
                assert!(t.is_ok(), "{name}: {ok:?}: {t:?}");
            }
            for bad in [
                "",
                "-acme",
                "Acme",
                "ac me",
                "acme_corp",
                "acme.com",
                "acmé",
                "acme/..",
                too_long.as_str(),
            ] {
                let err = store.create_tenant(bad, &at(1)).await.unwrap_err();
                assert!(
                    matches!(err, StoreError::InvalidName(_)),
                    "{name}: {bad:?}: {err}"
                );
                assert_eq!(status(&err), (400, Some("invalidValue")), "{name}");
                assert!(
                    err.to_string()
                        .ends_with("1 to 64 characters of a-z, 0-9 and -, not starting with -"),
                    "{err}"
                );
                assert!(store.tenant(bad).await.unwrap().is_none(), "{name}");
            }
            assert_eq!(store.tenants().await.unwrap().len(), 5, "{name}");
        }
    });
    // The message names the rejected value (cut short when long), says what is allowed, and
    // is the response's detail.
    rt().block_on(async {
        let store = scimkit_store::MemoryStore::new(scimkit_schema::Registry::new());
        let err = store.create_tenant("-acme", &at(0)).await.unwrap_err();
        let detail = "invalid tenant name \"-acme\": a tenant name is 1 to 64 characters of a-z, 0-9 and -, not starting with -";
        assert_eq!(err.to_string(), detail);
        let wire = err.to_scim_error();
        assert_eq!(
            (wire.status, wire.scim_type.map(|t| t.as_str()), wire.detail.as_deref()),
            (400, Some("invalidValue"), Some(detail))
        );
        let err = store
            .create_tenant(&"x".repeat(1000), &at(0))
            .await
            .unwrap_err();
        assert!(err.to_string().len() < 200, "{err}");
    });
}

#[test]
fn tokens_belong_to_a_created_tenant_and_ids_are_unique_across_tenants() {
    rt().block_on(async {
        for (name, store, _guard) in all_backends().await {
            let err = store
                .create_token(token("tok_1", "acme", 0), &at(0))
                .await
                .unwrap_err();
            assert!(
                matches!(&err, StoreError::NotFound { resource_type, id } if resource_type == "Tenant" && id == "acme"),
                "{name}: {err}"
            );
            assert_eq!(err.status(), 404, "{name}");
            assert!(store.token("tok_1").await.unwrap().is_none(), "{name}");

            store.create_tenant("acme", &at(0)).await.unwrap();
            store.create_tenant("globex", &at(0)).await.unwrap();
            store
                .create_token(token("tok_1", "acme", 1), &at(1))
                .await
                .unwrap();
            // The same id again, in the same tenant or another: taken.
            for tenant in ["acme", "globex"] {
                let err = store
                    .create_token(token("tok_1", tenant, 2), &at(2))
                    .await
                    .unwrap_err();
                assert!(
                    matches!(&err, StoreError::IdTaken { resource_type, id } if resource_type == "Token" && id == "tok_1"),
                    "{name}: {err}"
                );
                assert_eq!(status(&err), (409, Some("uniqueness")), "{name}");
            }
            // The first record stands.
            let got = store.token("tok_1").await.unwrap().unwrap();
            assert_eq!(
                (got.tenant.as_str(), got.created.as_str()),
                ("acme", "2026-11-28T12:00:01Z"),
                "{name}"
            );
            assert!(store.tokens("globex").await.unwrap().is_empty(), "{name}");
        }
    });
}

#[test]
fn tokens_are_found_by_id_and_listed_by_creation() {
    rt().block_on(async {
        for (name, store, _guard) in all_backends().await {
            store.create_tenant("acme", &at(0)).await.unwrap();
            store.create_tenant("globex", &at(0)).await.unwrap();
            let full = token("tok_full", "acme", 5)
                .with_label("okta-prod")
                .with_expires("2027-11-28T12:00:00Z");
            store.create_token(full.clone(), &at(5)).await.unwrap();
            // Out of order, and two created in the same second.
            for (id, t) in [("tok_c", 7), ("tok_b", 3), ("tok_a", 7)] {
                store
                    .create_token(token(id, "acme", t), &at(t))
                    .await
                    .unwrap();
            }
            store
                .create_token(token("tok_g", "globex", 1), &at(1))
                .await
                .unwrap();

            // Lookup by id alone, whichever the tenant.
            assert_eq!(store.token("tok_full").await.unwrap(), Some(full), "{name}");
            let g = store.token("tok_g").await.unwrap().unwrap();
            assert_eq!(g.tenant, "globex", "{name}");
            assert_eq!(
                (g.label, g.expires, g.revoked, g.last_used),
                (None, None, None, None),
                "{name}"
            );
            assert_eq!(g.hash, "sha256-of-tok_g", "{name}");
            assert!(store.token("tok_nope").await.unwrap().is_none(), "{name}");
            assert!(store.token("").await.unwrap().is_none(), "{name}");

            let ids = |list: Vec<TokenRecord>| list.into_iter().map(|t| t.id).collect::<Vec<_>>();
            assert_eq!(
                ids(store.tokens("acme").await.unwrap()),
                ["tok_b", "tok_full", "tok_a", "tok_c"],
                "{name}"
            );
            assert_eq!(
                ids(store.tokens("globex").await.unwrap()),
                ["tok_g"],
                "{name}"
            );
            assert!(store.tokens("initech").await.unwrap().is_empty(), "{name}");
        }
    });
}

#[test]
fn a_token_is_revoked_only_through_its_own_tenant_and_once() {
    rt().block_on(async {
        for (name, store, _guard) in all_backends().await {
            store.create_tenant("acme", &at(0)).await.unwrap();
            store.create_tenant("globex", &at(0)).await.unwrap();
            store
                .create_token(token("tok_a", "acme", 1), &at(1))
                .await
                .unwrap();

            // Through another tenant: not found there, and left usable.
            assert!(
                !store.revoke_token("globex", "tok_a", &at(2)).await.unwrap(),
                "{name}"
            );
            assert!(
                !store
                    .revoke_token("initech", "tok_a", &at(2))
                    .await
                    .unwrap(),
                "{name}"
            );
            let a = store.token("tok_a").await.unwrap().unwrap();
            assert_eq!(a.revoked, None, "{name}");
            // No such token at all.
            assert!(
                !store
                    .revoke_token("acme", "tok_nope", &at(2))
                    .await
                    .unwrap(),
                "{name}"
            );

            assert!(
                store.revoke_token("acme", "tok_a", &at(3)).await.unwrap(),
                "{name}"
            );
            let a = store.token("tok_a").await.unwrap().unwrap();
            assert_eq!(a.revoked.as_deref(), Some("2026-11-28T12:00:03Z"), "{name}");
            // Again: still revoked, at the first time.
            assert!(
                store.revoke_token("acme", "tok_a", &at(9)).await.unwrap(),
                "{name}"
            );
            let a = store.token("tok_a").await.unwrap().unwrap();
            assert_eq!(a.revoked.as_deref(), Some("2026-11-28T12:00:03Z"), "{name}");
            // Revoked tokens are still listed (and still found, for a clear 401).
            assert_eq!(store.tokens("acme").await.unwrap(), [a], "{name}");
        }
    });
}

#[test]
fn concurrent_revocations_revoke_once() {
    rt().block_on(async {
        for (name, store, _guard) in all_backends().await {
            store.create_tenant("acme", &at(0)).await.unwrap();
            store
                .create_token(token("tok_a", "acme", 1), &at(1))
                .await
                .unwrap();
            let store: std::sync::Arc<dyn Store> = store.into();
            let tasks: Vec<_> = (0..8)
                .map(|i| {
                    let store = std::sync::Arc::clone(&store);
                    tokio::spawn(
                        async move { store.revoke_token("acme", "tok_a", &at(10 + i)).await },
                    )
                })
                .collect();
            for task in tasks {
                assert!(task.await.unwrap().unwrap(), "{name}");
            }
            let audit = store.audit("acme", 100).await.unwrap();
            let revocations: Vec<&str> = audit
                .iter()
                .filter(|r| r.operation == "token.revoke")
                .map(|r| r.at.as_str())
                .collect();
            let a = store.token("tok_a").await.unwrap().unwrap();
            assert_eq!(revocations.len(), 1, "{name}: {revocations:?}");
            assert_eq!(a.revoked.as_deref(), Some(revocations[0]), "{name}");
        }
    });
}

#[test]
fn touch_records_the_last_use_to_the_minute() {
    rt().block_on(async {
        for (name, store, _guard) in all_backends().await {
            store.create_tenant("acme", &at(0)).await.unwrap();
            store
                .create_token(token("tok_a", "acme", 1), &at(1))
                .await
                .unwrap();
            let last_used = || async {
                store
                    .token("tok_a")
                    .await
                    .unwrap()
                    .unwrap()
                    .last_used
                    .unwrap_or_default()
            };
            assert_eq!(last_used().await, "", "{name}");
            store
                .touch_token("tok_a", "2026-11-28T12:00:05Z")
                .await
                .unwrap();
            assert_eq!(last_used().await, "2026-11-28T12:00:05Z", "{name}");
            // Within the same minute: no write.
            store
                .touch_token("tok_a", "2026-11-28T12:00:59.999Z")
                .await
                .unwrap();
            assert_eq!(last_used().await, "2026-11-28T12:00:05Z", "{name}");
            // The next minute: written.
            store
                .touch_token("tok_a", "2026-11-28T12:01:00Z")
                .await
                .unwrap();
            assert_eq!(last_used().await, "2026-11-28T12:01:00Z", "{name}");
            // An earlier time (another instance's late report): never backwards.
            store
                .touch_token("tok_a", "2026-11-28T11:59:00Z")
                .await
                .unwrap();
            assert_eq!(last_used().await, "2026-11-28T12:01:00Z", "{name}");
            // No such token: nothing happens.
            store
                .touch_token("tok_nope", "2026-11-28T12:02:00Z")
                .await
                .unwrap();
            assert!(store.token("tok_nope").await.unwrap().is_none(), "{name}");
            // Touching writes no audit record.
            assert_eq!(store.audit("acme", 100).await.unwrap().len(), 2, "{name}");
        }
    });
}

#[test]
fn tenant_and_token_changes_are_audited() {
    rt().block_on(async {
        for (name, store, _guard) in all_backends().await {
            store.create_tenant("acme", &at(0)).await.unwrap();
            store.create_tenant("globex", &at(1)).await.unwrap();
            store
                .create_token(token("tok_a", "acme", 2), &at(2))
                .await
                .unwrap();
            store
                .create_token(token("tok_b", "acme", 3), &Ctx::at("2026-11-28T12:00:03Z"))
                .await
                .unwrap();
            store.revoke_token("acme", "tok_a", &at(4)).await.unwrap();
            // Neither a repeated revocation nor failures are recorded.
            store.revoke_token("acme", "tok_a", &at(5)).await.unwrap();
            store.revoke_token("globex", "tok_b", &at(6)).await.unwrap();
            store
                .create_token(token("tok_a", "acme", 7), &at(7))
                .await
                .unwrap_err();
            store.create_tenant("acme", &at(8)).await.unwrap_err();

            let audit = store.audit("acme", 100).await.unwrap();
            let seen: Vec<_> = audit
                .iter()
                .map(|r| {
                    (
                        r.at.as_str(),
                        r.operation.as_str(),
                        r.resource_type.as_str(),
                        r.resource_id.as_str(),
                        r.token_id.as_deref(),
                        r.outcome.as_str(),
                    )
                })
                .collect();
            assert_eq!(
                seen,
                [
                    (
                        "2026-11-28T12:00:04Z",
                        "token.revoke",
                        "Token",
                        "tok_a",
                        Some("tok-admin"),
                        "ok"
                    ),
                    (
                        "2026-11-28T12:00:03Z",
                        "token.create",
                        "Token",
                        "tok_b",
                        None,
                        "ok"
                    ),
                    (
                        "2026-11-28T12:00:02Z",
                        "token.create",
                        "Token",
                        "tok_a",
                        Some("tok-admin"),
                        "ok"
                    ),
                    (
                        "2026-11-28T12:00:00Z",
                        "tenant.create",
                        "Tenant",
                        "acme",
                        Some("tok-admin"),
                        "ok"
                    ),
                ],
                "{name}"
            );
            let globex: Vec<String> = store
                .audit("globex", 100)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.operation)
                .collect();
            assert_eq!(globex, ["tenant.create"], "{name}");
            // Tenants and tokens are not resources: no outbox events.
            assert!(
                store.events("acme", 0, 10).await.unwrap().is_empty(),
                "{name}"
            );
        }
    });
}

#[test]
fn sqlite_keeps_tenants_and_tokens_across_reopening() {
    let dir = crate::TempDir::new("credentials");
    let path = dir.0.join("scimkit.db");
    rt().block_on(async {
        {
            let store = SqliteStore::open(&path, scimkit_schema::Registry::new()).unwrap();
            store.create_tenant("acme", &at(0)).await.unwrap();
            store
                .create_token(token("tok_a", "acme", 1).with_label("okta"), &at(1))
                .await
                .unwrap();
            store
                .create_token(token("tok_b", "acme", 2), &at(2))
                .await
                .unwrap();
            store.revoke_token("acme", "tok_b", &at(3)).await.unwrap();
            store
                .touch_token("tok_a", "2026-11-28T12:05:00Z")
                .await
                .unwrap();
        }
        let store = SqliteStore::open(&path, scimkit_schema::Registry::new()).unwrap();
        assert_eq!(
            store.schema_version().await.unwrap(),
            SqliteStore::SCHEMA_VERSION
        );
        let tenant = store.tenant("acme").await.unwrap().unwrap();
        assert_eq!(tenant.created, "2026-11-28T12:00:00Z");
        let a = store.token("tok_a").await.unwrap().unwrap();
        assert_eq!(
            (
                a.label.as_deref(),
                a.last_used.as_deref(),
                a.revoked.as_deref()
            ),
            (Some("okta"), Some("2026-11-28T12:05:00Z"), None)
        );
        let b = store.token("tok_b").await.unwrap().unwrap();
        assert_eq!(b.revoked.as_deref(), Some("2026-11-28T12:00:03Z"));
        assert_eq!(store.tokens("acme").await.unwrap(), [a, b]);
        // Still unique after reopening.
        let err = store.create_tenant("acme", &at(4)).await.unwrap_err();
        assert!(matches!(err, StoreError::TenantExists { .. }), "{err}");
        let err = store
            .create_token(token("tok_a", "acme", 4), &at(4))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::IdTaken { .. }), "{err}");
    });
}

#[test]
fn postgres_instances_share_tenants_and_tokens() {
    rt().block_on(async {
        let Some((one, schema)) = crate::postgres().await else {
            return;
        };
        let two = schema.open().await;
        one.create_tenant("acme", &at(0)).await.unwrap();
        one.create_token(token("tok_a", "acme", 1), &at(1))
            .await
            .unwrap();
        let err = two.create_tenant("acme", &at(2)).await.unwrap_err();
        assert!(matches!(err, StoreError::TenantExists { .. }), "{err}");
        assert!(two.revoke_token("acme", "tok_a", &at(3)).await.unwrap());
        let a = one.token("tok_a").await.unwrap().unwrap();
        assert_eq!(a.revoked.as_deref(), Some("2026-11-28T12:00:03Z"));
    });
}
