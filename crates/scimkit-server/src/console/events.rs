//! The events page: where each consumer of a tenant's events stands (delivered, retrying,
//! given up), with buttons to retry now and to deliver a given-up event again.

use std::fmt::Write as _;

use http::StatusCode;

use super::html::{csrf_field, esc};
use super::pages::{Result, page, tenant_url};
use super::{Answer, Session, Visit};
use crate::events::{EventsMonitor, attached, lock};
use crate::service::Scim;

pub(crate) async fn status(scim: &Scim, session: &Session, tenant: &str) -> Result<Answer> {
    let (polling, consumers) = crate::events::poll::consumer_statuses(scim, tenant)
        .await
        .map_err(|f| {
            let status =
                StatusCode::from_u16(f.error.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            Answer::Error(status, f.error.detail.unwrap_or_default())
        })?;
    let base = format!("{}/events", tenant_url(tenant));
    let csrf = csrf_field(session);
    let mut body = format!(
        "<p>Polling (RFC 8936): {}.</p>",
        if polling { "on" } else { "off" }
    );
    if consumers.is_empty() {
        body.push_str(
            "<p id=\"no-consumers\" class=\"muted\">No consumer reads this tenant's events: \
             configure push receivers (<code>[[push]]</code>) or polling (<code>events_poll_secret</code>) \
             in the server's settings.</p>",
        );
        return page("Events", Some(tenant), body);
    }
    body.push_str(
        "<table id=\"consumers\"><thead><tr><th scope=\"col\">Consumer</th><th scope=\"col\">Delivered up to</th>\
         <th scope=\"col\">Waiting</th><th scope=\"col\">State</th><th scope=\"col\">Delivered</th>\
         <th scope=\"col\">Given up</th><th scope=\"col\"></th></tr></thead><tbody>",
    );
    for c in &consumers {
        let (state, retrying) = match (&c.next_attempt, &c.last_error) {
            (Some(next), error) => (
                format!(
                    "<span class=\"status-bad\">retrying</span> ({} failed attempts; next at {}){}",
                    c.attempts,
                    esc(next),
                    error
                        .as_ref()
                        .map(|e| format!(": {}", esc(e)))
                        .unwrap_or_default()
                ),
                true,
            ),
            (None, Some(error)) if c.failed > 0 => {
                (format!("delivering; last refusal: {}", esc(error)), false)
            }
            _ if c.pending == 0 => ("up to date".to_owned(), false),
            _ => ("delivering".to_owned(), false),
        };
        let retry = if retrying && monitor_of(scim, &c.consumer, tenant).is_some() {
            format!(
                "<form class=\"inline\" method=\"post\" action=\"{base}/retry\">{csrf}\
                 <input type=\"hidden\" name=\"consumer\" value=\"{}\">\
                 <button type=\"submit\">Retry now</button></form>",
                esc(&c.consumer)
            )
        } else {
            String::new()
        };
        let _ = write!(
            body,
            "<tr><td><code>{}</code></td><td>{} of {}</td><td>{}</td><td>{state}</td><td>{}</td><td>{}</td><td>{retry}</td></tr>",
            esc(&c.consumer),
            c.acked,
            c.newest,
            c.pending,
            c.delivered,
            c.failed
        );
    }
    body.push_str("</tbody></table>");

    let failures: Vec<_> = consumers
        .iter()
        .flat_map(|c| c.failures.iter().map(move |f| (c, f)))
        .collect();
    if !failures.is_empty() {
        body.push_str(
            "<h2>Events given up on</h2><table id=\"failures\"><thead><tr><th scope=\"col\">Consumer</th>\
             <th scope=\"col\">Event</th><th scope=\"col\">Refusal</th><th scope=\"col\">When</th>\
             <th scope=\"col\"></th></tr></thead><tbody>",
        );
        for (c, f) in failures {
            let redeliver = if monitor_of(scim, &c.consumer, tenant).is_some() {
                format!(
                    "<form class=\"inline\" method=\"post\" action=\"{base}/redeliver\">{csrf}\
                     <input type=\"hidden\" name=\"consumer\" value=\"{}\">\
                     <input type=\"hidden\" name=\"seq\" value=\"{}\">\
                     <button type=\"submit\">Redeliver</button></form>",
                    esc(&c.consumer),
                    f.seq
                )
            } else {
                String::new()
            };
            let _ = write!(
                body,
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}{}</td><td>{}</td><td>{redeliver}</td></tr>",
                esc(&c.consumer),
                esc(&f.jti),
                esc(&f.err),
                f.description
                    .as_ref()
                    .map(|d| format!(": {}", esc(d)))
                    .unwrap_or_default(),
                esc(&f.at)
            );
        }
        body.push_str("</tbody></table>");
    }
    page("Events", Some(tenant), body)
}

/// The running dispatcher that serves `consumer` in `tenant`.
fn monitor_of(scim: &Scim, consumer: &str, tenant: &str) -> Option<EventsMonitor> {
    lock(&attached(scim).monitors)
        .iter()
        .find(|m| m.serves(consumer, tenant))
        .cloned()
}

pub(crate) fn retry(scim: &Scim, tenant: &str, visit: &Visit) -> Result<Answer> {
    let consumer = visit.field("consumer").unwrap_or_default();
    let done = monitor_of(scim, consumer, tenant).is_some_and(|m| m.retry_now(consumer, tenant));
    if !done {
        return Err(Answer::Error(
            StatusCode::NOT_FOUND,
            format!("no running consumer {consumer} of tenant {tenant}"),
        ));
    }
    Ok(Answer::Redirect(format!("{}/events", tenant_url(tenant))))
}

pub(crate) fn redeliver(scim: &Scim, tenant: &str, visit: &Visit) -> Result<Answer> {
    let consumer = visit.field("consumer").unwrap_or_default();
    let seq: u64 = visit
        .field("seq")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            Answer::Error(
                StatusCode::BAD_REQUEST,
                "name an event by its seq".to_owned(),
            )
        })?;
    let done =
        monitor_of(scim, consumer, tenant).is_some_and(|m| m.redeliver(consumer, tenant, seq));
    if !done {
        return Err(Answer::Error(
            StatusCode::NOT_FOUND,
            format!("{consumer} has not given up on event {seq} of tenant {tenant}"),
        ));
    }
    Ok(Answer::Redirect(format!("{}/events", tenant_url(tenant))))
}
