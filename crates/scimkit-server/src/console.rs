//! The admin console: server-rendered HTML pages under `/console`, for the operators of a
//! scimkit server and their customers' admins, to see and fix provisioning without reading
//! logs.
//!
//! # Who may log in
//!
//! A console token (`scimkit token create --tenant T --scope console`) is the login. One of
//! tenant `default` (the operator's) opens every tenant and may create tenants; one of another
//! tenant opens that tenant only. The login form takes the token once and keeps it in a
//! cookie that scripts cannot read (`HttpOnly`), sent to `/console` only, never from another
//! site (`SameSite=Strict`), and `Secure` when the public URL is `https`. Each request checks
//! it as the SCIM API checks bearer tokens: revoking the token logs its sessions out.
//!
//! # CSRF and XSS
//!
//! Every form that changes something carries a token derived from the login (an HMAC of a
//! fixed string keyed by the console token) and is refused without it; a request whose
//! `Origin` is another site is refused too. Every value shown is HTML-escaped ([`esc`]), the
//! pages load no inline script (the `Content-Security-Policy` forbids it), and no page may be
//! framed.

mod events;
mod health;
mod html;
mod log;
mod pages;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use hmac::Mac;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use scimkit_store::TokenRecord;
use subtle::ConstantTimeEq;

use crate::service::Scim;

pub(crate) use html::esc;

/// Where the console is served.
pub(crate) const PATH: &str = "/console";

/// The scope of console tokens.
pub(crate) const SCOPE: &str = "console";

/// The tenant whose console tokens open every tenant.
pub(crate) const OPERATOR_TENANT: &str = "default";

/// The cookie that holds the console token.
const COOKIE: &str = "scimkit_console";

const CSS: &str = include_str!("console/console.css");
const JS: &str = include_str!("console/console.js");

/// Who is logged in.
#[derive(Debug)]
pub(crate) struct Session {
    record: Arc<TokenRecord>,
    /// The form token that proves a POST comes from a console page.
    csrf: String,
}

impl Session {
    /// Whether this login opens every tenant.
    pub(crate) fn operator(&self) -> bool {
        self.record.tenant == OPERATOR_TENANT
    }

    /// Whether this login opens `tenant`.
    pub(crate) fn may(&self, tenant: &str) -> bool {
        self.operator() || self.record.tenant == tenant
    }

    /// The tenant of the login's token.
    pub(crate) fn tenant(&self) -> &str {
        &self.record.tenant
    }

    pub(crate) fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// A request to a console page, parsed.
#[derive(Debug)]
pub(crate) struct Visit {
    pub(crate) method: Method,
    /// The path segments after `/console`, percent-decoded.
    pub(crate) segments: Vec<String>,
    pub(crate) query: HashMap<String, String>,
    /// The form fields of a POST.
    pub(crate) form: HashMap<String, String>,
    /// Where clients reach the server (`public_url`, or the request's host), for the URLs a
    /// page shows.
    pub(crate) origin: String,
}

impl Visit {
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.query
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub(crate) fn field(&self, name: &str) -> Option<&str> {
        self.form.get(name).map(String::as_str)
    }
}

/// What a page handler answers.
#[derive(Debug)]
pub(crate) enum Answer {
    /// An HTML page: its title, the tenant it belongs to (for the navigation) and its body.
    Page {
        title: String,
        tenant: Option<String>,
        body: String,
    },
    /// `303 See Other` to a console path.
    Redirect(String),
    /// An error page.
    Error(StatusCode, String),
}

/// Serves a request under `/console`.
pub(crate) async fn serve(scim: &Scim, req: Request<Bytes>) -> Response<Bytes> {
    let (parts, body) = req.into_parts();
    let rest = parts
        .uri
        .path()
        .strip_prefix(PATH)
        .unwrap_or_default()
        .trim_start_matches('/');
    let segments: Vec<String> = if rest.is_empty() {
        Vec::new()
    } else {
        rest.split('/')
            .map(crate::service::percent_decode)
            .collect()
    };
    let query: HashMap<String, String> = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let form: HashMap<String, String> = if parts.method == Method::POST {
        form_urlencoded::parse(&body).into_owned().collect()
    } else {
        HashMap::new()
    };
    let visit = Visit {
        method: parts.method.clone(),
        segments,
        query,
        form,
        origin: scim.origin(&parts.headers),
    };
    let secure = scim
        .config()
        .public_url
        .as_deref()
        .is_some_and(|u| u.starts_with("https://"));
    let seg: Vec<&str> = visit.segments.iter().map(String::as_str).collect();

    match (&visit.method, seg.as_slice()) {
        (&Method::GET, ["assets", "console.css"]) => return asset(CSS, "text/css; charset=utf-8"),
        (&Method::GET, ["assets", "console.js"]) => {
            return asset(JS, "text/javascript; charset=utf-8");
        }
        (&Method::GET, ["login"]) => return page_response(StatusCode::OK, &html::login(None)),
        (&Method::POST, ["login"]) => {
            if !same_origin(scim, &parts.headers) {
                return forbidden_origin();
            }
            let token = visit.field("token").unwrap_or_default().trim().to_owned();
            return match login(scim, &token).await {
                Some(_) => {
                    let mut response = redirect("/console");
                    set_cookie(&mut response, &cookie(&token, secure));
                    response
                }
                None => page_response(
                    StatusCode::UNAUTHORIZED,
                    &html::login(Some(
                        "That token does not open the console: use a console token \
                         (scimkit token create --tenant default --scope console) that is \
                         neither revoked nor expired.",
                    )),
                ),
            };
        }
        _ => {}
    }

    let Some(session) = session(scim, &parts.headers).await else {
        return redirect("/console/login");
    };
    if visit.method == Method::POST {
        if !same_origin(scim, &parts.headers) {
            return forbidden_origin();
        }
        let sent = visit.field("csrf").unwrap_or_default();
        if !bool::from(sent.as_bytes().ct_eq(session.csrf.as_bytes())) {
            let page = html::layout(
                "Form expired",
                None,
                &session,
                &visit.segments,
                "<p class=\"error\">This form was not sent from a current console page. Reload the page and try again.</p>",
            );
            return page_response(StatusCode::FORBIDDEN, &page);
        }
        if seg.as_slice() == ["logout"] {
            let mut response = redirect("/console/login");
            set_cookie(
                &mut response,
                &format!("{COOKIE}=; Path={PATH}; Max-Age=0; HttpOnly; SameSite=Strict"),
            );
            return response;
        }
    }
    let answer = pages::route(scim, &session, &visit).await;
    match answer {
        Answer::Page {
            title,
            tenant,
            body,
        } => page_response(
            StatusCode::OK,
            &html::layout(&title, tenant.as_deref(), &session, &visit.segments, &body),
        ),
        Answer::Redirect(to) => redirect(&to),
        Answer::Error(status, detail) => page_response(
            status,
            &html::layout(
                "Not available",
                None,
                &session,
                &visit.segments,
                &format!("<p class=\"error\" id=\"page-error\">{}</p>", esc(&detail)),
            ),
        ),
    }
}

/// The console token's record, if `token` is a valid console token.
async fn login(scim: &Scim, token: &str) -> Option<Arc<TokenRecord>> {
    if token.is_empty() {
        return None;
    }
    scim.verify_token(token, |_| true, Some(SCOPE)).await.ok()
}

/// The session of the console cookie, if it holds a valid console token.
async fn session(scim: &Scim, headers: &http::HeaderMap) -> Option<Session> {
    let token = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())?;
    let record = login(scim, &token).await?;
    Some(Session {
        record,
        csrf: csrf_of(&token),
    })
}

/// The form token of a login: an HMAC-SHA256 of a fixed string keyed by the console token,
/// so that only pages served to that login can carry it.
fn csrf_of(token: &str) -> String {
    let mac = crate::events::jws::mac(token.as_bytes(), b"scimkit console form");
    crate::env::hex(&mac.finalize().into_bytes())
}

/// Whether the request's `Origin` (when the browser sends one) is this server.
fn same_origin(scim: &Scim, headers: &http::HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    if let Some(public) = &scim.config().public_url {
        return public.trim_end_matches('/').eq_ignore_ascii_case(origin);
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host))
}

fn forbidden_origin() -> Response<Bytes> {
    page_response(
        StatusCode::FORBIDDEN,
        &html::bare(
            "Refused",
            "<p class=\"error\">This form was sent from another site.</p>",
        ),
    )
}

fn cookie(token: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={token}; Path={PATH}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

fn set_cookie(response: &mut Response<Bytes>, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
}

/// The headers every console response has: no caching, no framing, no inline script, no
/// sniffing, no referrer to other sites.
fn secured(mut builder: http::response::Builder) -> http::response::Builder {
    for (name, value) in [
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        // Not `no-referrer`: with it, browsers send `Origin: null` on the console's own form
        // posts, which the origin check must refuse. `same-origin` keeps referrers on the site.
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        builder = builder.header(name, value);
    }
    builder
}

fn finish(builder: http::response::Builder, body: Bytes) -> Response<Bytes> {
    builder.body(body).unwrap_or_else(|_| {
        let mut r = Response::new(Bytes::new());
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

fn page_response(status: StatusCode, html: &str) -> Response<Bytes> {
    let builder = secured(Response::builder().status(status))
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8");
    finish(builder, Bytes::from(html.to_owned()))
}

fn asset(text: &'static str, content_type: &'static str) -> Response<Bytes> {
    let builder = secured(Response::builder().status(StatusCode::OK))
        .header(header::CONTENT_TYPE, content_type);
    finish(builder, Bytes::from_static(text.as_bytes()))
}

fn redirect(to: &str) -> Response<Bytes> {
    let builder =
        secured(Response::builder().status(StatusCode::SEE_OTHER)).header(header::LOCATION, to);
    finish(builder, Bytes::new())
}
