//! The provisioning log pages: a tenant's SCIM requests, newest first, with filters, and
//! one request with its bodies, its error and a hint of what to fix in the IdP.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use http::StatusCode;
use scimkit_store::{RequestQuery, RequestRecord};
use serde_json::Value;

use super::html::{esc, query_value, seg};
use super::pages::{Result, page, store_error, tenant_url};
use super::{Answer, Visit};
use crate::service::Scim;

/// Requests per page.
const PAGE: usize = 50;

/// A time from a filter field: RFC 3339, or a `datetime-local` value (`2026-11-28T12:00`, read
/// as UTC), written as the log writes times so that they compare.
fn time_field(text: &str) -> Option<String> {
    let utc = DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
                .iter()
                .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
                .map(|t| t.and_utc())
        })?;
    Some(utc.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// The tenant's requests, newest first.
pub(crate) async fn requests(scim: &Scim, tenant: &str, visit: &Visit) -> Result<Answer> {
    scim.flush_request_log().await;
    let base = format!("{}/log", tenant_url(tenant));
    let errors = visit.param("errors") == Some("1");
    let resource = visit.param("resource");
    let mut query = RequestQuery::default().with_limit(PAGE);
    if errors {
        query = query.errors_only();
    }
    if let Some(rt) = resource {
        query = query.with_resource_type(rt);
    }
    let resource_id = visit.param("id").map(str::trim).filter(|id| !id.is_empty());
    if let Some(id) = resource_id {
        query = query.with_resource_id(id);
    }
    let mut problems = Vec::new();
    for (name, label) in [("since", "From"), ("until", "Until")] {
        if let Some(text) = visit.param(name) {
            match time_field(text) {
                Some(t) if name == "since" => query = query.with_since(t),
                Some(t) => query = query.with_until(t),
                None => problems.push(format!(
                    "{label} {text:?} is not a time: use 2026-11-28T12:00 (UTC) or RFC 3339"
                )),
            }
        }
    }
    if let Some(before) = visit.param("before").and_then(|b| b.parse().ok()) {
        query = query.with_before(before);
    }

    let mut resources = String::from("<option value=\"\">any</option>");
    for rt in scim.registry().resource_types() {
        let _ = write!(
            resources,
            "<option value=\"{0}\"{1}>{0}</option>",
            esc(&rt.name),
            if resource == Some(rt.name.as_str()) {
                " selected"
            } else {
                ""
            }
        );
    }
    let mut body = format!(
        "<form method=\"get\" action=\"{base}\" role=\"search\" class=\"filters\">\
         <label><input type=\"checkbox\" id=\"errors\" name=\"errors\" value=\"1\"{}> Errors only</label> \
         <label for=\"resource\">Resource</label> <select id=\"resource\" name=\"resource\">{resources}</select> \
         <label for=\"resource-id\">id</label> <input type=\"text\" id=\"resource-id\" name=\"id\" value=\"{}\" size=\"20\"> \
         <label for=\"since\">From</label> <input type=\"datetime-local\" id=\"since\" name=\"since\" value=\"{}\"> \
         <label for=\"until\">Until</label> <input type=\"datetime-local\" id=\"until\" name=\"until\" value=\"{}\"> \
         <button type=\"submit\" id=\"filter-log\">Show</button></form>",
        if errors { " checked" } else { "" },
        esc(resource_id.unwrap_or("")),
        esc(visit.param("since").unwrap_or("")),
        esc(visit.param("until").unwrap_or("")),
    );
    for problem in &problems {
        let _ = write!(
            body,
            "<p class=\"error\" role=\"alert\">{}</p>",
            esc(problem)
        );
    }
    let dropped = scim.request_log_dropped();
    if dropped > 0 {
        let _ = write!(
            body,
            "<p class=\"error\">{dropped} requests were not logged: the database fell behind the requests.</p>"
        );
    }
    let found = scim
        .store()
        .requests(tenant, &query)
        .await
        .map_err(|e| store_error(&e))?;
    body.push_str(
        "<table id=\"requests\"><thead><tr><th scope=\"col\">Time (UTC)</th><th scope=\"col\">Method</th>\
         <th scope=\"col\">Path</th><th scope=\"col\">Status</th><th scope=\"col\">ms</th>\
         <th scope=\"col\">Normalizers</th><th scope=\"col\">Token</th></tr></thead><tbody>",
    );
    for r in &found {
        let _ = write!(
            body,
            "<tr><td>{}</td><td>{}</td><td><a href=\"{base}/{}\">{}</a></td><td{}>{}</td><td>{:.1}</td><td>{}</td><td><code>{}</code></td></tr>",
            esc(&r.at),
            esc(&r.method),
            r.seq,
            esc(&r.path),
            if r.status >= 400 {
                " class=\"status-bad\""
            } else {
                ""
            },
            r.status,
            r.duration_us as f64 / 1000.0,
            esc(&r.normalizers.join(", ")),
            esc(r.token_id.as_deref().unwrap_or("")),
        );
    }
    body.push_str("</tbody></table>");
    if found.is_empty() {
        body.push_str("<p class=\"muted\" id=\"no-requests\">No request matches.</p>");
    }
    if found.len() == PAGE
        && let Some(last) = found.last()
    {
        let mut keep = String::new();
        for name in ["errors", "resource", "id", "since", "until"] {
            if let Some(v) = visit.param(name) {
                let _ = write!(keep, "{name}={}&amp;", query_value(v));
            }
        }
        let _ = write!(
            body,
            "<nav class=\"pager\" aria-label=\"Pages\"><a href=\"{base}?{keep}before={}\" rel=\"next\">Older requests</a></nav>",
            last.seq
        );
    }
    page("Provisioning log", Some(tenant), body)
}

/// One request: what came in, what went out, and for an error what to do about it.
pub(crate) async fn request(scim: &Scim, tenant: &str, seq: &str) -> Result<Answer> {
    scim.flush_request_log().await;
    let missing = || Answer::Error(StatusCode::NOT_FOUND, format!("no logged request {seq}"));
    let seq: u64 = seq.parse().map_err(|_| missing())?;
    let r = scim
        .store()
        .request(tenant, seq)
        .await
        .map_err(|e| store_error(&e))?
        .ok_or_else(missing)?;
    let mut body = format!(
        "<p id=\"request-meta\"><strong>{}</strong> <code>{}</code> → <span{}>{}</span> in {:.1} ms, at {} \
         (request id <code>{}</code>, token <code>{}</code>)</p>",
        esc(&r.method),
        esc(&r.path),
        if r.status >= 400 {
            " class=\"status-bad\""
        } else {
            ""
        },
        r.status,
        r.duration_us as f64 / 1000.0,
        esc(&r.at),
        esc(&r.request_id),
        esc(r.token_id.as_deref().unwrap_or("none")),
    );
    if let (Some(rt), Some(id)) = (&r.resource_type, &r.resource_id) {
        let endpoint = if rt == "Group" { "groups" } else { "users" };
        if rt == "User" || rt == "Group" {
            let _ = write!(
                body,
                "<p><a href=\"{}/{endpoint}/{}\">The {} in the directory</a></p>",
                tenant_url(tenant),
                seg(id),
                esc(&rt.to_lowercase())
            );
        }
    }
    if !r.normalizers.is_empty() {
        let _ = write!(
            body,
            "<p id=\"normalizers\">The tenant's IdP profile read this request with: {}</p>",
            esc(&r.normalizers.join(", "))
        );
    }
    if r.status >= 400 {
        let error: Option<Value> = r
            .response_body
            .as_deref()
            .and_then(|b| serde_json::from_str(b).ok());
        let detail = error
            .as_ref()
            .and_then(|e| e.get("detail"))
            .and_then(Value::as_str)
            .unwrap_or("(no detail)");
        let scim_type = error
            .as_ref()
            .and_then(|e| e.get("scimType"))
            .and_then(Value::as_str);
        let _ = write!(
            body,
            "<h2>Error</h2><pre class=\"error\" id=\"error-detail\">{}{}</pre>\
             <h2>What to fix</h2><p id=\"hint\">{}</p>",
            scim_type
                .map(|t| format!("{}: ", esc(t)))
                .unwrap_or_default(),
            esc(detail),
            esc(&hint(&r, scim_type))
        );
    }
    let _ = write!(
        body,
        "<h2>Request body</h2><pre id=\"request-body\">{}</pre><h2>Response body</h2><pre id=\"response-body\">{}</pre>",
        esc(r.request_body.as_deref().unwrap_or("(none kept)")),
        esc(r
            .response_body
            .as_deref()
            .unwrap_or("(none kept: successful reads keep no bodies)")),
    );
    page(format!("Request {}", r.seq), Some(tenant), body)
}

/// What an admin can do in the IdP about a failed request, in plain words.
pub(crate) fn hint(r: &RequestRecord, scim_type: Option<&str>) -> String {
    let what = r
        .resource_type
        .as_deref()
        .unwrap_or("resource")
        .to_lowercase();
    match (r.status, scim_type) {
        (401, _) => "The IdP's token was refused: it is wrong, revoked or expired, or belongs to another tenant. Create a SCIM token on this tenant's page and paste it into the IdP's provisioning settings (the secret token / API token field).".to_owned(),
        (403, _) => "The request is not allowed for this tenant: check its just-in-time mode (jit-only refuses SCIM writes to users) and that the IdP uses this tenant's base URL.".to_owned(),
        (404, _) if r.resource_id.is_some() => format!("The IdP refers to a {what} this tenant does not have: it was deleted here, or created under another tenant. Have the IdP provision it again (in Okta, push the user again; in Entra ID, restart provisioning or use on-demand provisioning)."),
        (404, _) => "No such endpoint: check that the IdP's SCIM base URL ends with /scim/v2/<tenant> (no trailing /Users).".to_owned(),
        (409, Some("uniqueness")) => format!("A {what} with the same unique value (userName, or a group's name) already exists. Make the IdP match existing {what}s before creating (it should look them up by userName or externalId first), or remove the duplicate in the directory."),
        (409, _) => "The request conflicts with the current state: read the resource again and retry.".to_owned(),
        (412, _) => format!("The {what} changed since the IdP read it (its ETag no longer matches). The IdP should read it again and retry; no change is needed in its settings."),
        (400, Some("invalidFilter")) => "The IdP sent a filter this server cannot read; the detail shows where. Check the attribute mapping used for matching (it must be a SCIM attribute such as userName, externalId or emails[type eq \"work\"].value).".to_owned(),
        (400, Some("invalidPath" | "noTarget")) => "A PATCH names an attribute path that does not exist or matches nothing. Check the IdP's attribute mappings: each target must be a SCIM attribute of this schema (see /Schemas), spelled with its URN for extension attributes.".to_owned(),
        (400, Some("invalidValue" | "invalidSyntax")) => "The IdP sent a value of the wrong type or shape (the detail names the attribute). Fix that attribute's mapping in the IdP, or pick the IdP's profile on this tenant's page: profiles accept the IdP's known quirks.".to_owned(),
        (400, Some("mutability")) => "The IdP tried to change an attribute that cannot be changed (such as id or a read-only attribute). Remove that attribute from the IdP's mappings.".to_owned(),
        (400, _) => "The request was malformed (the detail says where). Check the IdP's attribute mappings, or pick the IdP's profile on this tenant's page.".to_owned(),
        (413, _) => "The request was too large: lower the IdP's batch size (members per group update, operations per bulk request).".to_owned(),
        (415, _) => "The IdP sent a body that is not JSON: its SCIM connection must send application/scim+json or application/json.".to_owned(),
        (429, _) => "The IdP sends more requests than the rate limit allows for its token. It retries after the pause it was given; if this lasts, raise rate_limit_per_second in the server's settings.".to_owned(),
        (s, _) if s >= 500 => format!("The server failed. Nothing is wrong in the IdP's settings: it will retry. Look up request id {} in the server's logs.", r.request_id),
        _ => "Read the error's detail above: it names what was wrong and where.".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_from_the_form_compare_with_the_logs() {
        assert_eq!(
            time_field("2026-11-28T12:00").as_deref(),
            Some("2026-11-28T12:00:00.000Z")
        );
        assert_eq!(
            time_field("2026-11-28T13:00:00+01:00").as_deref(),
            Some("2026-11-28T12:00:00.000Z")
        );
        assert_eq!(time_field("yesterday"), None);
    }

    #[test]
    fn every_failure_gets_a_hint_that_names_what_to_do() {
        let at = |status: u16| {
            RequestRecord::new("t", "r1", "POST", "/scim/v2/acme/Users", status)
                .with_resource_type("User")
        };
        assert!(hint(&at(401), None).contains("token"));
        assert!(hint(&at(409), Some("uniqueness")).contains("already exists"));
        assert!(hint(&at(400), Some("invalidFilter")).contains("filter"));
        assert!(hint(&at(503), None).contains("r1"), "names the request id");
        assert!(hint(&at(404).with_resource_id("x"), None).contains("user"));
    }
}
