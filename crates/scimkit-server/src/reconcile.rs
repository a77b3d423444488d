//! Reconciliation: where the directory the IdP pushed and the accounts the application holds
//! have drifted apart, and a fix for what scimkit can fix itself.
//!
//! `POST /app/v1/{tenant}/reports/reconciliation` (and [`Scim::reconcile`]) reads every user
//! of the tenant and reports:
//! - accounts the IdP never touched: created by a login (JIT) and never adopted by SCIM;
//! - accounts the IdP has not refreshed for `staleAfterSeconds` (by `meta.lastModified`; by
//!   default three of Entra ID's 40-minute cycles);
//! - users the application says are active (`appActive`, by id or userName) that the directory
//!   does not have, or has as inactive;
//! - duplicate candidates: different users with the same email, or the same name.
//!
//! With `fix`, the flagged accounts that are still active are deactivated (`active: false`):
//! as a dry run (`apply: false`, the default) the report only says what would change; applied,
//! each change is an ordinary write, so it is in the audit log and raises a `deactivated`
//! event the application acts on.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use http::{Method, StatusCode};
use scimkit_schema::{ScimError, ScimType};
use scimkit_store::{Ctx, Query, Stored};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::service::{Call, Failure, Outcome, Reply, Scim};

/// Three sync cycles of Entra ID's provisioning service (about 40 minutes each).
pub const DEFAULT_STALE_AFTER_SECONDS: u64 = 3 * 40 * 60;

/// What a reconciliation should look at and fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ReconcileRequest {
    /// The users the application holds as active, by id or userName.
    #[serde(default)]
    pub app_active: Vec<String>,
    /// How long without a change from the IdP makes an account stale.
    #[serde(default)]
    pub stale_after_seconds: Option<u64>,
    /// Which flagged accounts to deactivate.
    #[serde(default)]
    pub fix: Vec<Fix>,
    /// Apply the fixes (otherwise a dry run).
    #[serde(default)]
    pub apply: bool,
}

/// A fix scimkit can make itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Fix {
    /// Deactivate accounts the IdP never touched.
    DeactivateJitOnly,
    /// Deactivate accounts the IdP has not refreshed.
    DeactivateStale,
}

/// A user, as the report names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct UserSummary {
    /// The id.
    pub id: String,
    /// The userName.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// Whether it is active.
    pub active: bool,
    /// When it last changed.
    pub last_modified: String,
}

/// A user the application holds as active but the directory does not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AppOnly {
    /// The id or userName the application gave.
    pub key: String,
    /// `missing` (no such user) or `inactive`.
    pub reason: &'static str,
    /// The user's id, when it exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// Users that may be one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Duplicate {
    /// `email` or `name`.
    pub by: &'static str,
    /// The shared value (lowercased).
    pub value: String,
    /// The users' ids.
    pub ids: Vec<String>,
}

/// A fix, proposed or made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct FixAction {
    /// The user.
    pub id: String,
    /// Why.
    pub fix: Fix,
    /// `deactivate`.
    pub action: &'static str,
    /// Whether it was made (false in a dry run, or when the write failed).
    pub applied: bool,
    /// Why it failed, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The reconciliation report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ReconcileReport {
    /// Users read.
    pub users: usize,
    /// Accounts the IdP never touched.
    pub jit_only: Vec<UserSummary>,
    /// Accounts not refreshed for the stale period.
    pub stale: Vec<UserSummary>,
    /// The stale period used.
    pub stale_after_seconds: u64,
    /// Active in the application, not in the directory.
    pub active_in_app_only: Vec<AppOnly>,
    /// Duplicate candidates.
    pub duplicates: Vec<Duplicate>,
    /// The fixes proposed (dry run) or made.
    pub fixes: Vec<FixAction>,
    /// Whether fixes were applied.
    pub applied: bool,
}

impl Scim {
    /// Reports drift between the directory and the application, and deactivates what the
    /// request asks to fix (see the module docs).
    pub async fn reconcile(
        &self,
        tenant: &str,
        request: &ReconcileRequest,
    ) -> Result<ReconcileReport, ScimError> {
        self.reconcile_inner(tenant, request, None)
            .await
            .map_err(|f| f.error)
    }

    async fn reconcile_inner(
        &self,
        tenant: &str,
        request: &ReconcileRequest,
        token_id: Option<&str>,
    ) -> Result<ReconcileReport, Failure> {
        let store = &self.inner.store;
        let now: DateTime<Utc> = self.inner.env.now();
        let stale_after = request
            .stale_after_seconds
            .unwrap_or(DEFAULT_STALE_AFTER_SECONDS);
        let cutoff = now
            - chrono::Duration::seconds(
                i64::try_from(stale_after)
                    .unwrap_or(i64::MAX / 2)
                    .min(i64::MAX / 2),
            );

        // Every user, a page at a time through cursors.
        let mut users: Vec<Stored> = Vec::new();
        let mut cursor = String::new();
        loop {
            let page = store
                .search(tenant, "User", &Query::all().after(cursor.clone(), 1000))
                .await?;
            users.extend(page.resources);
            match page.next_cursor {
                Some(next) => cursor = next,
                None => break,
            }
        }

        let summary = |u: &Stored| UserSummary {
            id: u.id.clone(),
            user_name: u
                .body
                .get("userName")
                .and_then(Value::as_str)
                .map(str::to_owned),
            active: u.body.get("active").and_then(Value::as_bool) != Some(false),
            last_modified: u.last_modified.clone(),
        };
        let mut jit_only = Vec::new();
        let mut stale = Vec::new();
        let mut by_email: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut by_name: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for u in &users {
            let origin = store.origin(tenant, &u.id).await?;
            if origin.as_deref() == Some(crate::access::ORIGIN_JIT) {
                jit_only.push(summary(u));
            } else if scimkit_schema::parse_date_time(&u.last_modified).is_some_and(|t| t < cutoff)
            {
                stale.push(summary(u));
            }
            for e in u
                .body
                .get("emails")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|e| e.get("value").and_then(Value::as_str))
            {
                by_email
                    .entry(e.to_lowercase())
                    .or_default()
                    .insert(u.id.clone());
            }
            let name = u
                .body
                .get("displayName")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .or_else(|| {
                    let n = u.body.get("name")?;
                    let given = n.get("givenName").and_then(Value::as_str).unwrap_or("");
                    let family = n.get("familyName").and_then(Value::as_str).unwrap_or("");
                    let full = format!("{given} {family}").trim().to_owned();
                    (!full.is_empty()).then_some(full)
                });
            if let Some(name) = name {
                by_name
                    .entry(name.to_lowercase())
                    .or_default()
                    .insert(u.id.clone());
            }
        }
        let mut duplicates = Vec::new();
        for (by, map) in [("email", by_email), ("name", by_name)] {
            for (value, ids) in map {
                if ids.len() > 1 {
                    duplicates.push(Duplicate {
                        by,
                        value,
                        ids: ids.into_iter().collect(),
                    });
                }
            }
        }

        // What the application holds as active.
        let mut active_in_app_only = Vec::new();
        for key in &request.app_active {
            let found = users.iter().find(|u| {
                u.id == *key
                    || u.body
                        .get("userName")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.to_lowercase() == key.to_lowercase())
            });
            match found {
                None => active_in_app_only.push(AppOnly {
                    key: key.clone(),
                    reason: "missing",
                    id: None,
                }),
                Some(u) if u.body.get("active").and_then(Value::as_bool) == Some(false) => {
                    active_in_app_only.push(AppOnly {
                        key: key.clone(),
                        reason: "inactive",
                        id: Some(u.id.clone()),
                    });
                }
                Some(_) => {}
            }
        }

        // Fixes: deactivate flagged accounts that are still active.
        let mut fixes = Vec::new();
        for (fix, flagged) in [
            (Fix::DeactivateJitOnly, &jit_only),
            (Fix::DeactivateStale, &stale),
        ] {
            if !request.fix.contains(&fix) {
                continue;
            }
            for u in flagged.iter().filter(|u| u.active) {
                let mut action = FixAction {
                    id: u.id.clone(),
                    fix,
                    action: "deactivate",
                    applied: false,
                    error: None,
                };
                if request.apply {
                    match self.deactivate(tenant, &u.id, token_id).await {
                        Ok(()) => action.applied = true,
                        Err(f) => action.error = Some(f.error.to_string()),
                    }
                }
                fixes.push(action);
            }
        }
        if request.apply && !fixes.is_empty() {
            tracing::info!(tenant, fixes = fixes.len(), "reconciliation applied fixes");
        }
        Ok(ReconcileReport {
            users: users.len(),
            jit_only,
            stale,
            stale_after_seconds: stale_after,
            active_in_app_only,
            duplicates,
            fixes,
            applied: request.apply,
        })
    }

    /// Sets `active: false` on a user, conditioned on the version read (an ordinary write:
    /// audited, and a `deactivated` event).
    async fn deactivate(
        &self,
        tenant: &str,
        id: &str,
        token_id: Option<&str>,
    ) -> Result<(), Failure> {
        let store = &self.inner.store;
        let Some(user) = store.load(tenant, "User", id).await? else {
            return Err(Failure::new(404, None, format!("User {id} not found")));
        };
        let mut body = user.body.clone();
        body.insert("active".into(), Value::Bool(false));
        let mut ctx = Ctx::at(self.inner.env.timestamp());
        if let Some(t) = token_id {
            ctx = ctx.with_token(t);
        }
        store
            .replace(tenant, "User", id, body, Some(user.version), &ctx)
            .await?;
        Ok(())
    }
}

/// `POST /app/v1/{tenant}/reports/reconciliation`.
pub(crate) async fn serve(scim: &Scim, call: &Call) -> Outcome {
    if call.method != Method::POST {
        return Err(Failure::new(405, None, "this endpoint answers POST")
            .with_header(http::header::ALLOW, "POST"));
    }
    let request: ReconcileRequest = if call.body.iter().all(u8::is_ascii_whitespace) {
        ReconcileRequest::default()
    } else {
        serde_json::from_value(crate::resources::json_body(call)?).map_err(|e| {
            Failure::typed(
                ScimType::InvalidSyntax,
                format!(
                    "send {{\"appActive\": [ids or userNames], \"staleAfterSeconds\": n, \"fix\": [\"deactivate-jit-only\", \"deactivate-stale\"], \"apply\": false}}: {e}"
                ),
            )
        })?
    };
    let report = scim
        .reconcile_inner(&call.tenant, &request, Some(&call.token_id))
        .await?;
    Ok(Reply::json(
        StatusCode::OK,
        serde_json::to_value(report).unwrap_or_default(),
    ))
}
