//! The health page: what each IdP (each SCIM token) last did and how often it failed, and,
//! on request, the drift report of reconciliation.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use scimkit_store::RequestQuery;

use super::html::{esc, seg};
use super::pages::{Result, page, scim_error, store_error, tenant_url};
use super::{Answer, Visit};
use crate::reconcile::{ReconcileRequest, UserSummary};
use crate::service::Scim;

/// How many of the newest requests the activity figures cover.
const WINDOW: usize = 1_000;

/// One token's activity in the window.
#[derive(Debug, Default)]
struct Activity {
    requests: usize,
    errors: usize,
    last: String,
    last_error: Option<(u64, String)>,
}

pub(crate) async fn health(scim: &Scim, tenant: &str, visit: &Visit) -> Result<Answer> {
    scim.flush_request_log().await;
    let store = scim.store();
    let recent = store
        .requests(tenant, &RequestQuery::default().with_limit(WINDOW))
        .await
        .map_err(|e| store_error(&e))?;
    let labels: BTreeMap<String, String> = store
        .tokens(tenant)
        .await
        .map_err(|e| store_error(&e))?
        .into_iter()
        .map(|t| (t.id.clone(), t.label.unwrap_or(t.id)))
        .collect();
    let mut by_token: BTreeMap<String, Activity> = BTreeMap::new();
    for r in &recent {
        let token = r.token_id.clone().unwrap_or_default();
        let a = by_token.entry(token).or_default();
        a.requests += 1;
        if a.last.is_empty() {
            a.last = r.at.clone();
        }
        if r.status >= 400 {
            a.errors += 1;
            if a.last_error.is_none() {
                a.last_error = Some((r.seq, format!("{} {} → {}", r.method, r.path, r.status)));
            }
        }
    }
    let errors: usize = by_token.values().map(|a| a.errors).sum();
    let mut body = format!(
        "<p id=\"error-rate\">Of the last {} requests, {} failed ({:.1} %).</p>",
        recent.len(),
        errors,
        if recent.is_empty() {
            0.0
        } else {
            100.0 * errors as f64 / recent.len() as f64
        }
    );
    body.push_str(
        "<h2>Activity per IdP token</h2><table id=\"activity\"><thead><tr><th scope=\"col\">Token</th>\
         <th scope=\"col\">Last request (UTC)</th><th scope=\"col\">Requests</th><th scope=\"col\">Errors</th>\
         <th scope=\"col\">Last error</th></tr></thead><tbody>",
    );
    let log = format!("{}/log", tenant_url(tenant));
    let mut rows: Vec<(&String, &Activity)> = by_token.iter().collect();
    rows.sort_by(|a, b| b.1.last.cmp(&a.1.last));
    for (token, a) in rows {
        let name = if token.is_empty() {
            "(no token)".to_owned()
        } else {
            labels
                .get(token)
                .cloned()
                .unwrap_or_else(|| format!("{token} (not this tenant's)"))
        };
        let last_error = a
            .last_error
            .as_ref()
            .map(|(seq, what)| format!("<a href=\"{log}/{seq}\">{}</a>", esc(what)))
            .unwrap_or_default();
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td{}>{}</td><td>{last_error}</td></tr>",
            esc(&name),
            esc(&a.last),
            a.requests,
            if a.errors > 0 {
                " class=\"status-bad\""
            } else {
                ""
            },
            a.errors
        );
    }
    body.push_str("</tbody></table>");
    if recent.is_empty() {
        body.push_str("<p class=\"muted\" id=\"no-activity\">No SCIM request yet: the IdP has not connected.</p>");
    }

    body.push_str("<h2>Drift</h2>");
    if visit.param("drift") == Some("1") {
        let report = scim
            .reconcile(tenant, &ReconcileRequest::default())
            .await
            .map_err(|e| scim_error(&e))?;
        let _ = write!(
            body,
            "<p id=\"drift\">{} users read: {} created by a login and never adopted by the IdP, \
             {} not refreshed by the IdP for {} minutes, {} duplicate candidates.</p>",
            report.users,
            report.jit_only.len(),
            report.stale.len(),
            report.stale_after_seconds / 60,
            report.duplicates.len()
        );
        for (title, users) in [
            ("Never adopted by the IdP", &report.jit_only),
            ("Not refreshed by the IdP", &report.stale),
        ] {
            if !users.is_empty() {
                let _ = write!(body, "<h3>{title}</h3>{}", user_list(tenant, users));
            }
        }
        if !report.duplicates.is_empty() {
            body.push_str("<h3>Duplicate candidates</h3><ul>");
            for d in report.duplicates.iter().take(50) {
                let links: Vec<String> = d
                    .ids
                    .iter()
                    .map(|id| {
                        format!(
                            "<a href=\"{}/users/{}\">{}</a>",
                            tenant_url(tenant),
                            seg(id),
                            esc(id)
                        )
                    })
                    .collect();
                let _ = write!(
                    body,
                    "<li>same {} <code>{}</code>: {}</li>",
                    d.by,
                    esc(&d.value),
                    links.join(", ")
                );
            }
            body.push_str("</ul>");
        }
        body.push_str("<p class=\"muted\">Fix drift with the app API's reconciliation report (see docs/host-app.md).</p>");
    } else {
        let _ = write!(
            body,
            "<p><a id=\"run-drift\" href=\"{}/health?drift=1\">Run the drift report</a> \
             (reads every user of the tenant).</p>",
            tenant_url(tenant)
        );
    }
    page("Health", Some(tenant), body)
}

fn user_list(tenant: &str, users: &[UserSummary]) -> String {
    let mut out = String::from("<ul>");
    for u in users.iter().take(50) {
        let _ = write!(
            out,
            "<li><a href=\"{}/users/{}\">{}</a> (last change {})</li>",
            tenant_url(tenant),
            seg(&u.id),
            esc(u.user_name.as_deref().unwrap_or(&u.id)),
            esc(&u.last_modified)
        );
    }
    if users.len() > 50 {
        let _ = write!(out, "<li>and {} more</li>", users.len() - 50);
    }
    out.push_str("</ul>");
    out
}
