//! The console's pages: tenants and their settings and tokens, and the directory (users,
//! groups, memberships, effective roles).

use std::collections::HashMap;
use std::fmt::Write as _;

use http::{Method, StatusCode};
use scimkit_filter::{AttrExpr, CompValue, CompareOp, Filter};
use scimkit_schema::{AttrPath, ScimError};
use scimkit_store::{Query, Store, StoreError, Stored};
use serde_json::Value;

use super::html::{csrf_field, esc, query_value, seg};
use super::{Answer, Session, Visit};
use crate::access::{JitMode, RoleRule, UserKey};
use crate::service::{PROFILES, Scim};

/// Rows per page of users, groups and members.
const PAGE: usize = 50;

pub(crate) type Result<T> = std::result::Result<T, Answer>;

/// Routes a visit of a logged-in session.
pub(crate) async fn route(scim: &Scim, session: &Session, visit: &Visit) -> Answer {
    let seg: Vec<&str> = visit.segments.iter().map(String::as_str).collect();
    let outcome = match (&visit.method, seg.as_slice()) {
        (&Method::GET, []) => tenants(scim, session).await,
        (&Method::POST, ["tenants"]) => create_tenant(scim, session, visit).await,
        (method, ["t", tenant, rest @ ..]) => {
            if !session.may(tenant) {
                return Answer::Error(
                    StatusCode::FORBIDDEN,
                    format!("this login does not open tenant {tenant}"),
                );
            }
            match scim.store().tenant(tenant).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    return Answer::Error(StatusCode::NOT_FOUND, format!("no tenant {tenant}"));
                }
                Err(e) => return store_error(&e),
            }
            tenant_route(scim, session, visit, method, tenant, rest).await
        }
        _ => Err(not_found()),
    };
    outcome.unwrap_or_else(|answer| answer)
}

async fn tenant_route(
    scim: &Scim,
    session: &Session,
    visit: &Visit,
    method: &Method,
    tenant: &str,
    rest: &[&str],
) -> Result<Answer> {
    match (method, rest) {
        (&Method::GET, []) => overview(scim, session, visit, tenant, None).await,
        (&Method::POST, ["settings"]) => settings(scim, tenant, visit).await,
        (&Method::POST, ["role-rules"]) => role_rules(scim, tenant, visit).await,
        (&Method::POST, ["tokens"]) => create_token(scim, session, tenant, visit).await,
        (&Method::POST, ["tokens", id, "revoke"]) => revoke(scim, tenant, id).await,
        (&Method::GET, ["users"]) => list(scim, tenant, "User", visit).await,
        (&Method::GET, ["groups"]) => list(scim, tenant, "Group", visit).await,
        (&Method::GET, ["users", id]) => user(scim, tenant, id).await,
        (&Method::GET, ["groups", id]) => group(scim, tenant, id, visit).await,
        (&Method::GET, ["log"]) => super::log::requests(scim, tenant, visit).await,
        (&Method::GET, ["health"]) => super::health::health(scim, tenant, visit).await,
        (&Method::GET, ["events"]) => super::events::status(scim, session, tenant).await,
        (&Method::POST, ["events", "retry"]) => super::events::retry(scim, tenant, visit),
        (&Method::POST, ["events", "redeliver"]) => super::events::redeliver(scim, tenant, visit),
        (&Method::GET, ["log", seq]) => super::log::request(scim, tenant, seq).await,
        _ => Err(not_found()),
    }
}

fn not_found() -> Answer {
    Answer::Error(StatusCode::NOT_FOUND, "no such console page".to_owned())
}

pub(crate) fn store_error(e: &StoreError) -> Answer {
    scim_error(&e.to_scim_error())
}

pub(crate) fn scim_error(e: &ScimError) -> Answer {
    let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Answer::Error(status, e.detail.clone().unwrap_or_else(|| e.to_string()))
}

pub(crate) fn page(title: impl Into<String>, tenant: Option<&str>, body: String) -> Result<Answer> {
    Ok(Answer::Page {
        title: title.into(),
        tenant: tenant.map(str::to_owned),
        body,
    })
}

pub(crate) fn tenant_url(tenant: &str) -> String {
    format!("/console/t/{}", seg(tenant))
}

// ---- Tenants ------------------------------------------------------------------------------

async fn tenants(scim: &Scim, session: &Session) -> Result<Answer> {
    if !session.operator() {
        return Ok(Answer::Redirect(tenant_url(session.tenant())));
    }
    let store = scim.store();
    let all = store.tenants().await.map_err(|e| store_error(&e))?;
    let mut body = String::from(
        "<table id=\"tenants\"><thead><tr><th scope=\"col\">Tenant</th><th scope=\"col\">Created</th>\
         <th scope=\"col\">IdP profile</th><th scope=\"col\">Soft delete</th></tr></thead><tbody>",
    );
    for t in &all {
        let profile = store.profile(&t.name).await.map_err(|e| store_error(&e))?;
        let soft = store
            .soft_delete(&t.name)
            .await
            .map_err(|e| store_error(&e))?;
        let _ = write!(
            body,
            "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>",
            tenant_url(&t.name),
            esc(&t.name),
            esc(&t.created),
            esc(profile.as_deref().unwrap_or("default")),
            if soft { "on" } else { "off" }
        );
    }
    body.push_str("</tbody></table>");
    let _ = write!(
        body,
        "<h2>Create a tenant</h2><form class=\"stack\" method=\"post\" action=\"/console/tenants\">{}\
         <label for=\"name\">Name</label>\
         <input type=\"text\" id=\"name\" name=\"name\" required pattern=\"[a-z0-9][a-z0-9-]{{0,63}}\" \
         aria-describedby=\"name-help\">\
         <p id=\"name-help\" class=\"muted\">1 to 64 characters of a–z, 0–9 and -, not starting with -.</p>\
         <button type=\"submit\" id=\"create-tenant\">Create</button></form>",
        csrf_field(session)
    );
    page("Tenants", None, body)
}

async fn create_tenant(scim: &Scim, session: &Session, visit: &Visit) -> Result<Answer> {
    if !session.operator() {
        return Err(Answer::Error(
            StatusCode::FORBIDDEN,
            "only an operator's login (a console token of tenant default) creates tenants"
                .to_owned(),
        ));
    }
    let name = visit.field("name").unwrap_or_default().trim();
    scim.create_tenant(name).await.map_err(|e| scim_error(&e))?;
    Ok(Answer::Redirect(tenant_url(name)))
}

// ---- One tenant: settings, role rules, tokens ---------------------------------------------

async fn overview(
    scim: &Scim,
    session: &Session,
    visit: &Visit,
    tenant: &str,
    issued: Option<(&str, &str)>,
) -> Result<Answer> {
    let store = scim.store();
    let profile = store.profile(tenant).await.map_err(|e| store_error(&e))?;
    let soft = store
        .soft_delete(tenant)
        .await
        .map_err(|e| store_error(&e))?;
    let jit = scim.jit(tenant).await.map_err(|e| scim_error(&e))?;
    let rules = scim.role_rules(tenant).await.map_err(|e| scim_error(&e))?;
    let tokens = store.tokens(tenant).await.map_err(|e| store_error(&e))?;
    let base = tenant_url(tenant);
    let csrf = csrf_field(session);
    let mut body = String::new();

    if let Some((token, scope)) = issued {
        let _ = write!(
            body,
            "<div class=\"notice\" role=\"status\"><p>New {} token, shown this once (only its hash is kept):</p>\
             <pre id=\"new-token\">{}</pre></div>",
            esc(if scope == "scim" { "SCIM" } else { scope }),
            esc(token)
        );
    }

    let _ = write!(
        body,
        "<p>SCIM base URL (the tenant URL an IdP asks for): <code id=\"base-url\">{}</code></p>",
        esc(&scim.base_url(&visit.origin, tenant))
    );

    // Settings.
    let mut profiles = String::new();
    for name in std::iter::once("default").chain(PROFILES) {
        let selected = profile.as_deref().unwrap_or("default") == name;
        let _ = write!(
            profiles,
            "<option value=\"{name}\"{}>{name}</option>",
            if selected { " selected" } else { "" }
        );
    }
    let mut modes = String::new();
    for (mode, label) in [
        (JitMode::ScimOnly, "scim-only"),
        (JitMode::JitOnly, "jit-only"),
        (JitMode::Hybrid, "hybrid"),
    ] {
        let _ = write!(
            modes,
            "<option value=\"{label}\"{}>{label}</option>",
            if jit.mode == mode { " selected" } else { "" }
        );
    }
    let _ = write!(
        body,
        "<h2>Settings</h2><form class=\"stack\" method=\"post\" action=\"{base}/settings\">{csrf}\
         <label for=\"profile\">IdP profile</label><select id=\"profile\" name=\"profile\">{profiles}</select>\
         <label for=\"jit\">Just-in-time provisioning</label><select id=\"jit\" name=\"jit\">{modes}</select>\
         <label><input type=\"checkbox\" id=\"soft-delete\" name=\"soft_delete\" value=\"on\"{}> \
         Soft delete (keep deleted resources' last state until purged)</label>\
         <button type=\"submit\" id=\"save-settings\">Save settings</button></form>",
        if soft { " checked" } else { "" }
    );

    // Role rules.
    let rules_json = serde_json::to_string_pretty(&rules).unwrap_or_else(|_| "[]".to_owned());
    let _ = write!(
        body,
        "<h2>Role rules</h2><form class=\"stack\" method=\"post\" action=\"{base}/role-rules\">{csrf}\
         <label for=\"rules\">Rules (JSON: a list of {{\"group\": {{\"displayName\": …}}, \"roles\": […], \"entitlements\": […]}})</label>\
         <textarea id=\"rules\" name=\"rules\" rows=\"8\">{}</textarea>\
         <button type=\"submit\" id=\"save-rules\">Save rules</button></form>",
        esc(&rules_json)
    );

    // Tokens.
    body.push_str(
        "<h2>Tokens</h2><table id=\"tokens\"><thead><tr><th scope=\"col\">Id</th><th scope=\"col\">Label</th>\
         <th scope=\"col\">Scope</th><th scope=\"col\">Created</th><th scope=\"col\">Last used</th>\
         <th scope=\"col\">Expires</th><th scope=\"col\">State</th><th scope=\"col\"></th></tr></thead><tbody>",
    );
    for t in &tokens {
        let state = if t.revoked.is_some() {
            "revoked"
        } else {
            "active"
        };
        let revoke = if t.revoked.is_none() {
            format!(
                "<form class=\"inline\" method=\"post\" action=\"{base}/tokens/{}/revoke\" \
                 data-confirm=\"Revoke this token? Whoever uses it is refused from now on.\">{csrf}\
                 <button type=\"submit\" class=\"danger\">Revoke</button></form>",
                seg(&t.id)
            )
        } else {
            String::new()
        };
        let _ = write!(
            body,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{state}</td><td>{revoke}</td></tr>",
            esc(&t.id),
            esc(t.label.as_deref().unwrap_or("")),
            esc(t.scope.as_deref().unwrap_or("scim")),
            esc(&t.created),
            esc(t.last_used.as_deref().unwrap_or("never")),
            esc(t.expires.as_deref().unwrap_or("never")),
        );
    }
    body.push_str("</tbody></table>");
    let _ = write!(
        body,
        "<h3>Create a token</h3><form class=\"stack\" method=\"post\" action=\"{base}/tokens\">{csrf}\
         <label for=\"label\">Label (e.g. the IdP it is for)</label><input type=\"text\" id=\"label\" name=\"label\">\
         <label for=\"scope\">Opens</label><select id=\"scope\" name=\"scope\">\
         <option value=\"scim\">the SCIM API (for the IdP)</option>\
         <option value=\"app\">the host application's API</option>\
         <option value=\"console\">this console</option></select>\
         <label for=\"expires\">Expires after (days; empty: never)</label>\
         <input type=\"number\" id=\"expires\" name=\"expires_in_days\" min=\"1\">\
         <button type=\"submit\" id=\"create-token\">Create token</button></form>"
    );
    page(format!("Tenant {tenant}"), Some(tenant), body)
}

async fn settings(scim: &Scim, tenant: &str, visit: &Visit) -> Result<Answer> {
    let profile = visit.field("profile").unwrap_or("default");
    let profile = (profile != "default").then_some(profile);
    scim.set_profile(tenant, profile)
        .await
        .map_err(|e| scim_error(&e))?;
    let mode = match visit.field("jit").unwrap_or("scim-only") {
        "scim-only" => JitMode::ScimOnly,
        "jit-only" => JitMode::JitOnly,
        "hybrid" => JitMode::Hybrid,
        other => {
            return Err(Answer::Error(
                StatusCode::BAD_REQUEST,
                format!("no JIT mode {other}: scim-only, jit-only or hybrid"),
            ));
        }
    };
    let mut jit = scim.jit(tenant).await.map_err(|e| scim_error(&e))?;
    jit.mode = mode;
    scim.set_jit(tenant, &jit)
        .await
        .map_err(|e| scim_error(&e))?;
    scim.store()
        .set_soft_delete(tenant, visit.field("soft_delete") == Some("on"))
        .await
        .map_err(|e| store_error(&e))?;
    Ok(Answer::Redirect(tenant_url(tenant)))
}

async fn role_rules(scim: &Scim, tenant: &str, visit: &Visit) -> Result<Answer> {
    let text = visit.field("rules").unwrap_or("[]");
    let rules: Vec<RoleRule> = match serde_json::from_str(text) {
        Ok(rules) => rules,
        Err(e) => {
            let body = format!(
                "<p class=\"error\" id=\"rules-error\" role=\"alert\">The rules are not a list of role rules: {}</p>\
                 <p><a href=\"{}\">Back to the tenant</a></p>",
                esc(&e.to_string()),
                tenant_url(tenant)
            );
            return page("Role rules not saved", Some(tenant), body);
        }
    };
    scim.set_role_rules(tenant, &rules)
        .await
        .map_err(|e| scim_error(&e))?;
    Ok(Answer::Redirect(tenant_url(tenant)))
}

async fn create_token(
    scim: &Scim,
    session: &Session,
    tenant: &str,
    visit: &Visit,
) -> Result<Answer> {
    let label = visit
        .field("label")
        .map(str::trim)
        .filter(|l| !l.is_empty());
    let expires = match visit.field("expires_in_days").map(str::trim) {
        None | Some("") => None,
        Some(days) => match days.parse::<u32>() {
            Ok(d) if d > 0 => Some(scim.now_utc() + chrono::Duration::days(i64::from(d))),
            _ => {
                return Err(Answer::Error(
                    StatusCode::BAD_REQUEST,
                    format!("expiry in days must be a positive whole number, not {days:?}"),
                ));
            }
        },
    };
    let scope = visit.field("scope").unwrap_or("scim");
    let issued = match scope {
        "scim" => scim.issue_token(tenant, label, expires).await,
        "app" => scim.issue_app_token(tenant, label, expires).await,
        "console" => scim.issue_console_token(tenant, label, expires).await,
        other => {
            return Err(Answer::Error(
                StatusCode::BAD_REQUEST,
                format!("no token scope {other}: scim, app or console"),
            ));
        }
    }
    .map_err(|e| scim_error(&e))?;
    overview(scim, session, visit, tenant, Some((&issued.token, scope))).await
}

async fn revoke(scim: &Scim, tenant: &str, id: &str) -> Result<Answer> {
    let revoked = scim
        .revoke_token(tenant, id)
        .await
        .map_err(|e| scim_error(&e))?;
    if !revoked {
        return Err(Answer::Error(
            StatusCode::NOT_FOUND,
            format!("tenant {tenant} has no token {id}"),
        ));
    }
    Ok(Answer::Redirect(tenant_url(tenant)))
}

// ---- Directory ----------------------------------------------------------------------------

fn endpoint(resource_type: &str) -> &'static str {
    if resource_type == "Group" {
        "groups"
    } else {
        "users"
    }
}

fn text<'a>(stored: &'a Stored, attribute: &str) -> &'a str {
    stored
        .body
        .get(attribute)
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Users or groups of the tenant, filtered with a SCIM filter, a page at a time.
async fn list(scim: &Scim, tenant: &str, resource_type: &str, visit: &Visit) -> Result<Answer> {
    let filter = visit.param("filter");
    let start: usize = visit
        .param("start")
        .and_then(|s| s.parse().ok())
        .filter(|s| *s >= 1)
        .unwrap_or(1);
    let what = endpoint(resource_type);
    let base = format!("{}/{what}", tenant_url(tenant));
    let mut body = format!(
        "<form method=\"get\" action=\"{base}\" role=\"search\">\
         <label for=\"filter\">SCIM filter</label> \
         <input type=\"text\" id=\"filter\" name=\"filter\" class=\"wide\" value=\"{}\" \
         placeholder=\"{}\"> <button type=\"submit\" id=\"search\">Search</button></form>",
        esc(filter.unwrap_or("")),
        if resource_type == "Group" {
            "displayName sw \"Eng\""
        } else {
            "userName eq \"bjensen@example.com\" or emails.value co \"@example.com\""
        }
    );
    let query = match filter {
        None => Query::all(),
        Some(f) => match Query::filter(f) {
            Ok(q) => q,
            Err(e) => {
                // The parser's message names what it expected and points at where, under the
                // filter, with a caret.
                let _ = write!(
                    body,
                    "<pre class=\"error\" id=\"filter-error\" role=\"alert\">{}</pre>",
                    esc(&e.to_string())
                );
                let title = if resource_type == "Group" {
                    "Groups"
                } else {
                    "Users"
                };
                return page(title, Some(tenant), body);
            }
        },
    };
    let found = scim
        .store()
        .search(tenant, resource_type, &query.page(start, PAGE))
        .await
        .map_err(|e| store_error(&e))?;
    let _ = write!(
        body,
        "<p id=\"total\">{} {} match.</p>",
        found.total,
        if resource_type == "Group" {
            "groups"
        } else {
            "users"
        }
    );
    if resource_type == "Group" {
        body.push_str("<table id=\"results\"><thead><tr><th scope=\"col\">displayName</th><th scope=\"col\">externalId</th><th scope=\"col\">id</th></tr></thead><tbody>");
        for g in &found.resources {
            let _ = write!(
                body,
                "<tr><td><a href=\"{base}/{}\">{}</a></td><td>{}</td><td><code>{}</code></td></tr>",
                seg(&g.id),
                esc(text(g, "displayName")),
                esc(text(g, "externalId")),
                esc(&g.id)
            );
        }
    } else {
        body.push_str("<table id=\"results\"><thead><tr><th scope=\"col\">userName</th><th scope=\"col\">displayName</th><th scope=\"col\">active</th><th scope=\"col\">externalId</th><th scope=\"col\">id</th></tr></thead><tbody>");
        for u in &found.resources {
            let active = u.body.get("active").and_then(Value::as_bool) != Some(false);
            let _ = write!(
                body,
                "<tr><td><a href=\"{base}/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                seg(&u.id),
                esc(text(u, "userName")),
                esc(text(u, "displayName")),
                if active { "yes" } else { "no" },
                esc(text(u, "externalId")),
                esc(&u.id)
            );
        }
    }
    body.push_str("</tbody></table>");
    body.push_str(&pager(&base, filter, start, found.total));
    let title = if resource_type == "Group" {
        "Groups"
    } else {
        "Users"
    };
    page(title, Some(tenant), body)
}

fn pager(base: &str, filter: Option<&str>, start: usize, total: usize) -> String {
    let filter = filter
        .map(|f| format!("filter={}&amp;", query_value(f)))
        .unwrap_or_default();
    let mut out = String::from("<nav class=\"pager\" aria-label=\"Pages\">");
    // A start past the end (typed in, or left from before a deletion) leads back to the last
    // page rather than to one more empty page before it.
    let last_page = total.saturating_sub(1) / PAGE * PAGE + 1;
    let previous = if start > total {
        last_page
    } else {
        start.saturating_sub(PAGE).max(1)
    };
    if start > 1 && total > 0 {
        let _ = write!(
            out,
            "<a href=\"{base}?{filter}start={previous}\" rel=\"prev\">Previous {PAGE}</a>"
        );
    }
    if start <= total {
        let shown_to = start.saturating_add(PAGE - 1).min(total);
        let _ = write!(
            out,
            "<span class=\"muted\">{start}–{shown_to} of {total}</span>"
        );
    } else if total > 0 {
        let _ = write!(out, "<span class=\"muted\">past the last of {total}</span>");
    }
    if start.saturating_add(PAGE) <= total {
        let _ = write!(
            out,
            "<a href=\"{base}?{filter}start={}\" rel=\"next\">Next {PAGE}</a>",
            start + PAGE
        );
    }
    out.push_str("</nav>");
    out
}

async fn user(scim: &Scim, tenant: &str, id: &str) -> Result<Answer> {
    let store = scim.store();
    let stored = store
        .get(tenant, "User", id)
        .await
        .map_err(|e| store_error(&e))?
        .ok_or_else(|| Answer::Error(StatusCode::NOT_FOUND, format!("no user {id}")))?;
    let access = scim
        .access(tenant, &UserKey::Id(id.to_owned()))
        .await
        .map_err(|e| scim_error(&e))?;
    let mut body = String::new();
    let _ = write!(
        body,
        "<p>id <code>{}</code> · version {} · created {} · last modified {} · {}</p>",
        esc(&stored.id),
        stored.version,
        esc(&stored.created),
        esc(&stored.last_modified),
        if access.active {
            "active"
        } else {
            "<strong class=\"status-bad\">inactive</strong>"
        }
    );
    body.push_str(&log_link(tenant, &stored.id, "this user"));
    body.push_str("<h2>Groups</h2>");
    match stored.body.get("groups").and_then(Value::as_array) {
        Some(groups) if !groups.is_empty() => {
            body.push_str("<table id=\"groups\"><thead><tr><th scope=\"col\">Group</th><th scope=\"col\">Membership</th></tr></thead><tbody>");
            for g in groups {
                let gid = g.get("value").and_then(Value::as_str).unwrap_or("");
                let _ = write!(
                    body,
                    "<tr><td><a href=\"{}/groups/{}\">{}</a></td><td>{}</td></tr>",
                    tenant_url(tenant),
                    seg(gid),
                    esc(g.get("display").and_then(Value::as_str).unwrap_or(gid)),
                    esc(g.get("type").and_then(Value::as_str).unwrap_or(""))
                );
            }
            body.push_str("</tbody></table>");
        }
        _ => body.push_str("<p id=\"groups\" class=\"muted\">In no group.</p>"),
    }
    let _ = write!(
        body,
        "<h2>Effective roles</h2><p id=\"roles\">{}</p><h2>Effective entitlements</h2><p id=\"entitlements\">{}</p>",
        list_or_none(&access.roles),
        list_or_none(&access.entitlements)
    );
    let mut shown = stored.body.clone();
    shown.remove("groups");
    let _ = write!(
        body,
        "<h2>Attributes</h2><pre id=\"attributes\">{}</pre>",
        esc(&serde_json::to_string_pretty(&shown).unwrap_or_default())
    );
    let title = format!("User {}", text(&stored, "userName"));
    page(title, Some(tenant), body)
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "<span class=\"muted\">none</span>".to_owned()
    } else {
        items
            .iter()
            .map(|i| format!("<code>{}</code>", esc(i)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A group and its direct members, a page at a time: only the page's member ids are read
/// from the member table (sorted), and only the page's members.
async fn group(scim: &Scim, tenant: &str, id: &str, visit: &Visit) -> Result<Answer> {
    let store = scim.store();
    let stored = store
        .load(tenant, "Group", id)
        .await
        .map_err(|e| store_error(&e))?
        .ok_or_else(|| Answer::Error(StatusCode::NOT_FOUND, format!("no group {id}")))?;
    let start: usize = visit
        .param("start")
        .and_then(|s| s.parse().ok())
        .filter(|s| *s >= 1)
        .unwrap_or(1);
    let (total, ids) = store
        .member_page(tenant, id, start - 1, PAGE)
        .await
        .map_err(|e| store_error(&e))?;
    let mut body = String::new();
    let _ = write!(
        body,
        "<p>id <code>{}</code> · version {} · externalId {} · <span id=\"member-count\">{} direct members</span></p>",
        esc(&stored.id),
        stored.version,
        esc(text(&stored, "externalId")),
        total
    );
    body.push_str(&log_link(tenant, &stored.id, "this group"));
    body.push_str("<h2>Members</h2><table id=\"members\"><thead><tr><th scope=\"col\">Member</th><th scope=\"col\">Type</th><th scope=\"col\">id</th></tr></thead><tbody>");
    let names = member_names(store.as_ref(), tenant, &ids).await?;
    for member in &ids {
        let (kind, name) = names
            .get(member)
            .map_or(("User", member.as_str()), |(k, n)| (*k, n.as_str()));
        let _ = write!(
            body,
            "<tr><td><a href=\"{}/{}/{}\">{}</a></td><td>{kind}</td><td><code>{}</code></td></tr>",
            tenant_url(tenant),
            endpoint(kind),
            seg(member),
            esc(name),
            esc(member)
        );
    }
    body.push_str("</tbody></table>");
    body.push_str(&pager(
        &format!("{}/groups/{}", tenant_url(tenant), seg(id)),
        None,
        start,
        total,
    ));
    let title = format!("Group {}", text(&stored, "displayName"));
    page(title, Some(tenant), body)
}

/// A link to the provisioning log of one resource.
fn log_link(tenant: &str, id: &str, what: &str) -> String {
    format!(
        "<p><a id=\"resource-log\" href=\"{}/log?id={}\">Requests about {what}</a> in the provisioning log</p>",
        tenant_url(tenant),
        query_value(id)
    )
}

/// Whether each member is a User or a Group, and its name: one search per resource type for
/// the whole page (an `or` of `id eq`, which the store answers from its key), not a read per
/// member. A member found as neither is left out.
async fn member_names(
    store: &dyn Store,
    tenant: &str,
    ids: &[String],
) -> Result<HashMap<String, (&'static str, String)>> {
    let mut names = HashMap::new();
    let id_path = AttrPath::parse("id").expect("`id` is a path");
    for (rt, name) in [("User", "userName"), ("Group", "displayName")] {
        let mut missing: Vec<Filter> = ids
            .iter()
            .filter(|id| !names.contains_key(*id))
            .map(|id| {
                Filter::Attr(AttrExpr::Compare(
                    id_path.clone(),
                    CompareOp::Eq,
                    CompValue::Str(id.as_str().into()),
                ))
            })
            .collect();
        let filter = match missing.len() {
            0 => break,
            1 => missing.remove(0),
            _ => Filter::Or(missing),
        };
        let mut query = Query::all();
        query.filter = Some(filter);
        let found = store
            .search(tenant, rt, &query)
            .await
            .map_err(|e| store_error(&e))?;
        for r in found.resources {
            let text = text(&r, name).to_owned();
            names.insert(r.id, (rt, text));
        }
    }
    Ok(names)
}
