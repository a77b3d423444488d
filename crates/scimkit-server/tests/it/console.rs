//! The admin console through the core: login, CSRF and origin checks, escaping, tenant
//! scoping, tenants and tokens, settings, and the directory pages.

use bytes::Bytes;
use http::Request;
use serde_json::json;

use crate::support::{Server, USER, id};

/// A console response: status, headers and the page as text.
struct Page {
    status: u16,
    headers: http::HeaderMap,
    html: String,
}

impl Page {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    #[track_caller]
    fn expect(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "{}", self.html);
        self
    }

    /// The value of the page's CSRF field.
    fn csrf(&self) -> String {
        let at = self
            .html
            .find("name=\"csrf\" value=\"")
            .unwrap_or_else(|| panic!("no CSRF field: {}", self.html));
        let rest = &self.html[at + "name=\"csrf\" value=\"".len()..];
        rest[..rest.find('"').expect("a closing quote")].to_owned()
    }
}

/// A browser of the console: the cookie it holds after logging in.
struct Browser<'s> {
    server: &'s Server,
    cookie: Option<String>,
}

impl<'s> Browser<'s> {
    fn new(server: &'s Server) -> Self {
        Self {
            server,
            cookie: None,
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        form: &[(&str, &str)],
        origin: Option<&str>,
    ) -> Page {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        if let Some(cookie) = &self.cookie {
            builder = builder.header("cookie", format!("other=1; {cookie}"));
        }
        if let Some(origin) = origin {
            builder = builder.header("origin", origin);
        }
        let body = if method == "POST" {
            builder = builder.header("content-type", "application/x-www-form-urlencoded");
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(form)
                .finish()
        } else {
            String::new()
        };
        let response = self
            .server
            .scim
            .handle(builder.body(Bytes::from(body)).expect("a request"))
            .await;
        let status = response.status().as_u16();
        let (parts, body) = response.into_parts();
        Page {
            status,
            headers: parts.headers,
            html: String::from_utf8(body.to_vec()).expect("UTF-8"),
        }
    }

    async fn get(&self, path: &str) -> Page {
        self.send("GET", path, &[], None).await
    }

    /// POSTs a form from the page at `from`, with that page's CSRF token.
    async fn submit(&self, from: &str, action: &str, form: &[(&str, &str)]) -> Page {
        let csrf = self.get(from).await.csrf();
        let mut all = form.to_vec();
        all.push(("csrf", &csrf));
        self.send("POST", action, &all, Some("http://localhost"))
            .await
    }

    async fn log_in(&mut self, token: &str) -> Page {
        let page = self
            .send(
                "POST",
                "/console/login",
                &[("token", token)],
                Some("http://localhost"),
            )
            .await;
        let cookie = page.header("set-cookie");
        if let Some(pair) = cookie.split(';').next().filter(|p| !p.is_empty()) {
            self.cookie = Some(pair.to_owned());
        }
        page
    }
}

async fn console_token(server: &Server, tenant: &str) -> String {
    server
        .scim
        .issue_console_token(tenant, Some("tests"), None)
        .await
        .expect("a console token")
        .token
}

/// A server whose operator tenant `default` exists, and a browser logged in as its operator.
async fn operator(server: &Server) -> Browser<'_> {
    server.scim.ensure_tenant("default").await.expect("default");
    let token = console_token(server, "default").await;
    let mut browser = Browser::new(server);
    browser.log_in(&token).await.expect(303);
    browser
}

#[tokio::test]
async fn the_console_needs_a_console_token() {
    let server = Server::new().await;
    server.scim.ensure_tenant("default").await.unwrap();
    let mut browser = Browser::new(&server);
    let page = browser.get("/console").await;
    assert_eq!(
        (page.status, page.header("location")),
        (303, "/console/login")
    );
    let login = browser.get("/console/login").await;
    login.expect(200);
    assert!(login.html.contains("name=\"token\""), "{}", login.html);
    assert!(login.header("content-type").starts_with("text/html"));

    // A SCIM token is not a console login, nor is anything else.
    for wrong in [server.token.as_str(), "scimkit_0123456789abcdef_00", ""] {
        let refused = browser.log_in(wrong).await;
        refused.expect(401);
        assert!(
            refused.html.contains("id=\"login-error\""),
            "{}",
            refused.html
        );
        assert!(browser.cookie.is_none());
    }

    let token = console_token(&server, "default").await;
    let page = browser.log_in(&token).await;
    page.expect(303);
    let cookie = page.header("set-cookie");
    assert!(
        cookie.contains("HttpOnly")
            && cookie.contains("SameSite=Strict")
            && cookie.contains("Path=/console"),
        "{cookie}"
    );
    let tenants = browser.get("/console").await;
    tenants.expect(200);
    assert!(tenants.html.contains(">acme</a>"), "{}", tenants.html);
    // Every page forbids inline script and framing, and is not cached.
    assert!(
        tenants
            .header("content-security-policy")
            .contains("script-src 'self'")
    );
    assert!(
        tenants
            .header("content-security-policy")
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(tenants.header("x-frame-options"), "DENY");
    assert_eq!(tenants.header("cache-control"), "no-store");
    // `no-referrer` would make browsers send `Origin: null` on the console's own forms.
    assert_eq!(tenants.header("referrer-policy"), "same-origin");
    let null_origin = browser
        .send(
            "POST",
            "/console/tenants",
            &[("name", "x"), ("csrf", &tenants.csrf())],
            Some("null"),
        )
        .await;
    null_origin.expect(403);
    assert_eq!(browser.get("/console/assets/console.css").await.status, 200);

    // Logging out forgets the cookie; revoking the token ends every session with it.
    let again = browser.submit("/console", "/console/logout", &[]).await;
    again.expect(303);
    assert!(again.header("set-cookie").contains("Max-Age=0"));
    let mut other = Browser::new(&server);
    other.log_in(&token).await.expect(303);
    let id = token.split('_').nth(1).expect("an id").to_owned();
    assert!(server.scim.revoke_token("default", &id).await.unwrap());
    assert_eq!(
        other.get("/console").await.status,
        303,
        "the revoked token's session ends"
    );
}

#[tokio::test]
async fn forms_need_the_pages_csrf_token_and_this_origin() {
    let server = Server::new().await;
    let browser = operator(&server).await;
    let no_token = browser
        .send("POST", "/console/tenants", &[("name", "evil")], None)
        .await;
    no_token.expect(403);
    let wrong = browser
        .send(
            "POST",
            "/console/tenants",
            &[("name", "evil"), ("csrf", "00")],
            None,
        )
        .await;
    wrong.expect(403);
    let csrf = browser.get("/console").await.csrf();
    let cross = browser
        .send(
            "POST",
            "/console/tenants",
            &[("name", "evil"), ("csrf", &csrf)],
            Some("https://attacker.example"),
        )
        .await;
    cross.expect(403);
    assert!(server.scim.store().tenant("evil").await.unwrap().is_none());

    let created = browser
        .submit("/console", "/console/tenants", &[("name", "globex")])
        .await;
    assert_eq!(
        (created.status, created.header("location")),
        (303, "/console/t/globex")
    );
    assert!(
        server
            .scim
            .store()
            .tenant("globex")
            .await
            .unwrap()
            .is_some()
    );
    let bad = browser
        .submit("/console", "/console/tenants", &[("name", "Not A Name")])
        .await;
    assert_eq!(bad.status, 400, "{}", bad.html);
}

#[tokio::test]
async fn what_the_idp_sent_is_escaped() {
    let server = Server::new().await;
    let hostile = "<script>alert('x')</script>\"><img src=x onerror=alert(1)>";
    let user = server
        .create_user_with(json!({"schemas": [USER], "userName": hostile, "displayName": hostile}))
        .await;
    let browser = operator(&server).await;
    for path in [
        "/console/t/acme/users".to_owned(),
        format!("/console/t/acme/users/{}", id(&user)),
    ] {
        let page = browser.get(&path).await;
        page.expect(200);
        assert!(
            !page.html.contains("<script>alert"),
            "{path}: {}",
            page.html
        );
        assert!(!page.html.contains("<img src=x"), "{path}");
        assert!(
            page.html
                .contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn a_tenants_login_opens_that_tenant_only() {
    let server = Server::new().await;
    server.tenant("globex").await;
    let token = console_token(&server, "acme").await;
    let mut browser = Browser::new(&server);
    browser.log_in(&token).await.expect(303);
    let home = browser.get("/console").await;
    assert_eq!(
        (home.status, home.header("location")),
        (303, "/console/t/acme")
    );
    browser.get("/console/t/acme").await.expect(200);
    browser.get("/console/t/acme/users").await.expect(200);
    browser.get("/console/t/globex").await.expect(403);
    browser.get("/console/t/globex/users").await.expect(403);
    let create = browser
        .submit("/console/t/acme", "/console/tenants", &[("name", "mine")])
        .await;
    create.expect(403);
    assert!(server.scim.store().tenant("mine").await.unwrap().is_none());
}

#[tokio::test]
async fn tokens_are_created_shown_once_listed_and_revoked() {
    let server = Server::new().await;
    let browser = operator(&server).await;
    let created = browser
        .submit(
            "/console/t/acme",
            "/console/t/acme/tokens",
            &[
                ("label", "okta"),
                ("scope", "scim"),
                ("expires_in_days", "30"),
            ],
        )
        .await;
    created.expect(200);
    let start = created
        .html
        .find("id=\"new-token\">")
        .expect("the new token")
        + "id=\"new-token\">".len();
    let token = &created.html[start..start + created.html[start..].find('<').unwrap()];
    assert!(token.starts_with("scimkit_"), "{token}");
    // The token works on the SCIM API…
    let reply = server.send_as(token, "GET", "/Users", None, &[]).await;
    reply.expect(200);
    // …is listed (without its secret), and shown only once.
    let overview = browser.get("/console/t/acme").await;
    assert!(overview.html.contains(">okta<"), "{}", overview.html);
    assert!(
        !overview.html.contains(token),
        "the secret is not shown again"
    );
    let id = token.split('_').nth(1).unwrap();
    let revoked = browser
        .submit(
            "/console/t/acme",
            &format!("/console/t/acme/tokens/{id}/revoke"),
            &[],
        )
        .await;
    revoked.expect(303);
    assert_eq!(
        server
            .send_as(token, "GET", "/Users", None, &[])
            .await
            .status,
        401
    );
    let none = browser
        .submit(
            "/console/t/acme",
            "/console/t/acme/tokens/ffffffffffffffff/revoke",
            &[],
        )
        .await;
    none.expect(404);
}

#[tokio::test]
async fn the_overview_gives_the_absolute_scim_base_url() {
    let server = Server::new().await;
    let browser = operator(&server).await;
    let page = browser.get("/console/t/acme").await;
    page.expect(200);
    // The harness's requests say `Host: localhost`.
    assert!(
        page.html
            .contains("<code id=\"base-url\">http://localhost/scim/v2/acme</code>"),
        "{}",
        page.html
    );
}

#[tokio::test]
async fn settings_and_role_rules_are_saved() {
    let server = Server::new().await;
    let browser = operator(&server).await;
    browser
        .submit(
            "/console/t/acme",
            "/console/t/acme/settings",
            &[
                ("profile", "entra"),
                ("jit", "hybrid"),
                ("soft_delete", "on"),
            ],
        )
        .await
        .expect(303);
    let store = server.scim.store();
    assert_eq!(
        store.profile("acme").await.unwrap().as_deref(),
        Some("entra")
    );
    assert!(store.soft_delete("acme").await.unwrap());
    let page = browser.get("/console/t/acme").await;
    assert!(
        page.html.contains("<option value=\"entra\" selected>"),
        "{}",
        page.html
    );
    assert!(page.html.contains("<option value=\"hybrid\" selected>"));

    let rules = r#"[{"group": {"displayName": "Admins"}, "roles": ["admin"]}]"#;
    browser
        .submit(
            "/console/t/acme",
            "/console/t/acme/role-rules",
            &[("rules", rules)],
        )
        .await
        .expect(303);
    assert_eq!(server.scim.role_rules("acme").await.unwrap().len(), 1);
    let bad = browser
        .submit(
            "/console/t/acme",
            "/console/t/acme/role-rules",
            &[("rules", "{not json")],
        )
        .await;
    bad.expect(200);
    assert!(bad.html.contains("id=\"rules-error\""), "{}", bad.html);
    assert_eq!(
        server.scim.role_rules("acme").await.unwrap().len(),
        1,
        "unchanged"
    );
}

#[tokio::test]
async fn the_directory_searches_shows_groups_roles_and_pages_members() {
    let server = Server::new().await;
    let ann = server.create_user("ann@example.com").await;
    server.create_user("bob@example.com").await;
    let admins = server.create_group("Admins", &[&id(&ann)]).await;
    let all = server.create_group("All", &[&id(&admins)]).await;
    server
        .scim
        .set_role_rules(
            "acme",
            &[serde_json::from_value(
                json!({"group": {"displayName": "Admins"}, "roles": ["admin"]}),
            )
            .unwrap()],
        )
        .await
        .unwrap();
    let browser = operator(&server).await;

    let found = browser
        .get("/console/t/acme/users?filter=userName%20sw%20%22ann%22")
        .await;
    found.expect(200);
    assert!(found.html.contains("ann@example.com") && !found.html.contains("bob@example.com"));
    assert!(found.html.contains("1 users match"), "{}", found.html);

    let broken = browser
        .get("/console/t/acme/users?filter=userName%20eq")
        .await;
    broken.expect(200);
    let error = &broken.html[broken
        .html
        .find("id=\"filter-error\"")
        .expect("the filter error")..];
    assert!(
        error.contains('^'),
        "the caret points at the error: {error}"
    );

    let page = browser
        .get(&format!("/console/t/acme/users/{}", id(&ann)))
        .await;
    page.expect(200);
    assert!(
        page.html.contains(">Admins</a></td><td>direct<"),
        "{}",
        page.html
    );
    assert!(
        page.html.contains(">All</a></td><td>indirect<"),
        "{}",
        page.html
    );
    assert!(
        page.html.contains("<code>admin</code>"),
        "the effective role"
    );

    let groups = browser
        .get(&format!("/console/t/acme/groups/{}", id(&all)))
        .await;
    assert!(
        groups.html.contains(">Admins</a></td><td>Group<"),
        "{}",
        groups.html
    );

    // A large group is shown a page at a time.
    let mut ids = Vec::new();
    for i in 0..120 {
        ids.push(id(&server.create_user(&format!("member{i:03}")).await));
    }
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let big = server.create_group("Big", &refs).await;
    let first = browser
        .get(&format!("/console/t/acme/groups/{}", id(&big)))
        .await;
    assert!(first.html.contains("120 direct members"), "{}", first.html);
    assert_eq!(first.html.matches("<td>User</td>").count(), 50);
    assert!(first.html.contains("rel=\"next\""));
    let last = browser
        .get(&format!("/console/t/acme/groups/{}?start=101", id(&big)))
        .await;
    assert_eq!(last.html.matches("<td>User</td>").count(), 20);
    assert!(!last.html.contains("rel=\"next\""));

    browser
        .get("/console/t/acme/users/nobody")
        .await
        .expect(404);
    browser.get("/console/t/nowhere").await.expect(404);
    browser.get("/console/t/acme/nothing").await.expect(404);
}

#[tokio::test]
async fn the_provisioning_log_shows_each_request_its_error_and_a_hint() {
    let server = Server::new().await;
    let other = server.tenant("globex").await;
    let created = server
        .create_user_with(json!({"schemas": [USER], "userName": "ann", "password": "hunter2"}))
        .await;
    let duplicate = server
        .post(
            "/Users",
            json!({"schemas": [USER], "userName": "ann", "password": "hunter2"}),
        )
        .await;
    duplicate.expect(409);
    server
        .scim
        .set_profile("acme", Some("entra"))
        .await
        .unwrap();
    server
        .patch(
            &format!("/Users/{}", id(&created)),
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                   "Operations": [{"op": "Replace", "path": "active", "value": "False"}]}),
        )
        .await
        .expect(200);
    server
        .send_as("scimkit_0000000000000000_00", "GET", "/Users", None, &[])
        .await;
    server
        .send_as(&other, "GET", "/scim/v2/globex/Users", None, &[])
        .await
        .expect(200);
    let browser = operator(&server).await;

    let log = browser.get("/console/t/acme/log").await;
    log.expect(200);
    let rows: Vec<&str> = log.html.split("<tr><td>").skip(1).collect();
    assert_eq!(rows.len(), 4, "{}", log.html);
    // Newest first: the refused token, the PATCH, the duplicate, the creation.
    assert!(
        rows[0].contains(">401<") && rows[3].contains(">201<"),
        "{rows:?}"
    );
    assert!(rows[1].contains("PATCH"), "{}", rows[1]);
    assert!(
        !rows[1].contains("<td></td><td><code>"),
        "the PATCH's normalizers are listed: {}",
        rows[1]
    );
    assert!(
        !log.html.contains("/scim/v2/globex"),
        "another tenant's requests are not shown"
    );

    let errors = browser.get("/console/t/acme/log?errors=1").await;
    let error_rows = errors.html.matches("class=\"status-bad\"").count();
    assert_eq!(error_rows, 2, "{}", errors.html);
    let link = &errors.html[errors.html.find("/console/t/acme/log/").unwrap()..];
    let link = &link[..link.find('"').unwrap()];

    // The most recent error is the refused token.
    let refused = browser.get(link).await;
    refused.expect(200);
    assert!(refused.html.contains("id=\"hint\""), "{}", refused.html);
    assert!(refused.html.contains("token"), "{}", refused.html);

    // The duplicate: its SCIM error and a hint, and no password anywhere.
    let duplicate_link = link.rsplit('/').next().unwrap().parse::<u64>().unwrap() - 2;
    let page = browser
        .get(&format!("/console/t/acme/log/{duplicate_link}"))
        .await;
    page.expect(200);
    let detail = &page.html[page.html.find("id=\"error-detail\"").expect("the error")..];
    assert!(detail.contains("uniqueness"), "{detail}");
    assert!(page.html.contains("already exists"), "the hint");
    assert!(page.html.contains("[redacted]"), "{}", page.html);
    assert!(!page.html.contains("hunter2"));
    let first = browser
        .get(&format!("/console/t/acme/log/{}", duplicate_link - 1))
        .await;
    assert!(!first.html.contains("hunter2"));
    assert!(
        first
            .html
            .contains(&format!("/console/t/acme/users/{}", id(&created))),
        "links the created user"
    );

    // Filters by resource and time, and a bad time is explained.
    let groups = browser.get("/console/t/acme/log?resource=Group").await;
    assert!(
        groups.html.contains("id=\"no-requests\""),
        "{}",
        groups.html
    );
    let future = browser
        .get("/console/t/acme/log?since=2100-01-01T00:00")
        .await;
    assert!(future.html.contains("id=\"no-requests\""));
    let bad = browser.get("/console/t/acme/log?since=yesterday").await;
    assert!(bad.html.contains("is not a time"), "{}", bad.html);
    browser.get("/console/t/acme/log/999999").await.expect(404);
}

/// A push receiver (RFC 8935) on 127.0.0.1 that answers every SET with the status and body
/// it is told to, and counts what it accepted.
struct Receiver {
    url: String,
    answer: std::sync::Arc<std::sync::Mutex<(u16, &'static str)>>,
}

impl Receiver {
    async fn start() -> Self {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/events", listener.local_addr().unwrap());
        let answer = std::sync::Arc::new(std::sync::Mutex::new((202, "")));
        let shared = std::sync::Arc::clone(&answer);
        tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let shared = std::sync::Arc::clone(&shared);
                tokio::spawn(async move {
                    // Read the head and the body (Content-Length), then answer and close.
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 4096];
                    loop {
                        let Ok(n) = socket.read(&mut chunk).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        let text = String::from_utf8_lossy(&buf).to_string();
                        if let Some(end) = text.find("\r\n\r\n") {
                            let length = text[..end]
                                .lines()
                                .find_map(|l| {
                                    l.to_ascii_lowercase()
                                        .strip_prefix("content-length:")
                                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                                })
                                .unwrap_or(0);
                            if buf.len() >= end + 4 + length {
                                break;
                            }
                        }
                    }
                    let (status, body) = *shared.lock().unwrap();
                    let response = format!(
                        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                });
            }
        });
        Self { url, answer }
    }

    fn answer(&self, status: u16, body: &'static str) {
        *self.answer.lock().unwrap() = (status, body);
    }
}

/// Reloads the events page until it contains `text` (the dispatcher works in the background).
async fn wait_for(browser: &Browser<'_>, path: &str, text: &str) -> Page {
    for _ in 0..200 {
        let page = browser.get(path).await;
        if page.html.contains(text) {
            return page;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!(
        "{path} never showed {text:?}: {}",
        browser.get(path).await.html
    );
}

#[tokio::test]
async fn the_events_page_shows_delivery_and_redelivers_what_was_given_up() {
    use scimkit_server::{Dispatcher, PushTarget};
    let server = Server::new().await;
    let browser = operator(&server).await;
    let quiet = browser.get("/console/t/acme/events").await;
    quiet.expect(200);
    assert!(quiet.html.contains("id=\"no-consumers\""), "{}", quiet.html);

    let receiver = Receiver::start().await;
    receiver.answer(
        400,
        r#"{"err": "invalid_request", "description": "unknown subject"}"#,
    );
    let dispatcher = Dispatcher::new(&server.scim)
        .push(PushTarget::new(
            "audit",
            receiver.url.clone(),
            "shared secret",
        ))
        .poll_interval(std::time::Duration::from_millis(10))
        .backoff(
            std::time::Duration::from_millis(10),
            std::time::Duration::from_millis(20),
        )
        .spawn()
        .expect("a dispatcher");
    server.create_user("ann").await;

    // The receiver refuses the event for good: it is listed, with the refusal.
    let page = wait_for(&browser, "/console/t/acme/events", "id=\"failures\"").await;
    assert!(
        page.html.contains("invalid_request: unknown subject"),
        "{}",
        page.html
    );
    assert!(page.html.contains("push:audit"));

    // Fixed on the receiver's side, the event is delivered again on request.
    receiver.answer(202, "");
    let form = page.html[page.html.find("/events/redeliver").unwrap()..].to_owned();
    let seq_at = form.find("name=\"seq\" value=\"").unwrap() + "name=\"seq\" value=\"".len();
    let seq = &form[seq_at..seq_at + form[seq_at..].find('"').unwrap()];
    browser
        .submit(
            "/console/t/acme/events",
            "/console/t/acme/events/redeliver",
            &[("consumer", "push:audit"), ("seq", seq)],
        )
        .await
        .expect(303);
    let delivered = wait_for(&browser, "/console/t/acme/events", "up to date").await;
    assert!(
        !delivered.html.contains("id=\"failures\""),
        "{}",
        delivered.html
    );
    browser
        .submit(
            "/console/t/acme/events",
            "/console/t/acme/events/redeliver",
            &[("consumer", "push:audit"), ("seq", seq)],
        )
        .await
        .expect(404);

    // An unreachable receiver is retried with backoff; "Retry now" skips the wait.
    receiver.answer(503, "");
    server.create_user("bob").await;
    wait_for(&browser, "/console/t/acme/events", "retrying").await;
    browser
        .submit(
            "/console/t/acme/events",
            "/console/t/acme/events/retry",
            &[("consumer", "push:audit")],
        )
        .await
        .expect(303);
    receiver.answer(202, "");
    wait_for(&browser, "/console/t/acme/events", "up to date").await;
    dispatcher.stop().await;
}

#[tokio::test]
async fn the_health_page_shows_each_idps_activity_errors_and_drift() {
    let server = Server::new().await;
    let browser = operator(&server).await;
    let empty = browser.get("/console/t/acme/health").await;
    empty.expect(200);
    assert!(empty.html.contains("id=\"no-activity\""), "{}", empty.html);

    let okta = server
        .scim
        .issue_token("acme", Some("okta"), None)
        .await
        .unwrap()
        .token;
    for name in ["ann@example.com", "bob@example.com"] {
        server
            .send_as(&okta, "POST", "/Users", Some(json!({"schemas": [USER], "userName": name, "emails": [{"value": "shared@example.com"}]})), &[])
            .await
            .expect(201);
    }
    server
        .send_as(
            &okta,
            "POST",
            "/Users",
            Some(json!({"schemas": [USER], "userName": "ann@example.com"})),
            &[],
        )
        .await
        .expect(409);
    server.get("/Users").await.expect(200);

    let page = browser.get("/console/t/acme/health").await;
    page.expect(200);
    assert!(
        page.html
            .contains("Of the last 4 requests, 1 failed (25.0 %)"),
        "{}",
        page.html
    );
    let okta_row = &page.html[page.html.find("<td>okta</td>").expect("okta's row")..];
    let okta_row = &okta_row[..okta_row.find("</tr>").unwrap()];
    assert!(
        okta_row.contains("<td>3</td>") && okta_row.contains(">1<"),
        "{okta_row}"
    );
    assert!(
        okta_row.contains("/console/t/acme/log/"),
        "links the last error: {okta_row}"
    );
    assert!(
        page.html.contains("<td>tests</td>"),
        "the harness's own token: {}",
        page.html
    );

    assert!(page.html.contains("id=\"run-drift\""));
    let drift = browser.get("/console/t/acme/health?drift=1").await;
    drift.expect(200);
    assert!(drift.html.contains("2 users read"), "{}", drift.html);
    assert!(
        drift.html.contains("1 duplicate candidates"),
        "{}",
        drift.html
    );
    assert!(drift.html.contains("shared@example.com"));
}

/// Every form control of `html` that a person fills has a label: a `<label for>` naming its
/// id, or a `<label>` around it. Hidden fields need none.
fn unlabelled_controls(html: &str) -> Vec<String> {
    let mut missing = Vec::new();
    for tag in ["<input", "<select", "<textarea"] {
        let mut rest = html;
        while let Some(at) = rest.find(tag) {
            let before = &rest[..at];
            let element = &rest[at..at + rest[at..].find('>').unwrap_or(0)];
            rest = &rest[at + tag.len()..];
            if element.contains("type=\"hidden\"") {
                continue;
            }
            let wrapped = before
                .rfind("<label")
                .is_some_and(|l| before.rfind("</label>").is_none_or(|closed| closed < l));
            let named = element
                .split("id=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .is_some_and(|id| html.contains(&format!("<label for=\"{id}\"")));
            if !wrapped && !named {
                missing.push(element.to_owned());
            }
        }
    }
    missing
}

#[tokio::test]
async fn every_form_control_has_a_label() {
    let server = Server::new().await;
    let user = server.create_user("ann").await;
    let group = server.create_group("Staff", &[&id(&user)]).await;
    let browser = operator(&server).await;
    // The check itself tells a bare control from a labelled one.
    assert_eq!(unlabelled_controls("<p><input name=\"q\"></p>").len(), 1);
    assert!(unlabelled_controls("<label>Q <input name=\"q\"></label>").is_empty());
    assert!(unlabelled_controls("<label for=\"q\">Q</label><input id=\"q\">").is_empty());
    let login = Browser::new(&server).get("/console/login").await;
    assert!(
        unlabelled_controls(&login.html).is_empty(),
        "{:?}",
        unlabelled_controls(&login.html)
    );
    for path in [
        "/console".to_owned(),
        "/console/t/acme".to_owned(),
        "/console/t/acme/users".to_owned(),
        "/console/t/acme/groups".to_owned(),
        format!("/console/t/acme/users/{}", id(&user)),
        format!("/console/t/acme/groups/{}", id(&group)),
        "/console/t/acme/log".to_owned(),
        "/console/t/acme/events".to_owned(),
        "/console/t/acme/health".to_owned(),
    ] {
        let page = browser.get(&path).await;
        page.expect(200);
        let missing = unlabelled_controls(&page.html);
        assert!(missing.is_empty(), "{path}: {missing:?}");
        assert!(
            page.html.contains("<html lang=\"en\">") && page.html.contains("<main id=\"main\">"),
            "{path}"
        );
        assert_eq!(
            page.html.matches("<h1>").count(),
            1,
            "{path}: one heading names the page"
        );
        assert!(
            page.html.contains("<a class=\"skip\" href=\"#main\">"),
            "{path}"
        );
        // The section's link, and only it, is the current page.
        let section = path.split('/').nth(4).unwrap_or("");
        let href = match path.as_str() {
            "/console" => "/console".to_owned(),
            _ if section.is_empty() => "/console/t/acme".to_owned(),
            _ => format!("/console/t/acme/{section}"),
        };
        assert_eq!(
            page.html.matches("aria-current=\"page\"").count(),
            1,
            "{path}"
        );
        assert!(
            page.html
                .contains(&format!("<a href=\"{href}\" aria-current=\"page\">")),
            "{path}: {href}"
        );
    }
}

#[tokio::test]
async fn the_log_names_the_tolerances_a_create_or_replace_body_needed() {
    let server = Server::new().await;
    // OneLogin's `emails` as an object, Entra ID's string boolean.
    let created = server
        .post(
            "/Users",
            json!({"schemas": [USER], "userName": "ann", "active": "True",
                   "emails": {"value": "ann@example.com"}}),
        )
        .await;
    created.expect(201);
    let created = created.body;
    // A replace without `schemas`, with an attribute no schema defines.
    server
        .put(
            &format!("/Users/{}", id(&created)),
            json!({"userName": "ann", "favouriteColour": "green"}),
        )
        .await
        .expect(200);
    // A body that needs nothing.
    server
        .post("/Users", json!({"schemas": [USER], "userName": "bob"}))
        .await
        .expect(201);
    // Entra ID's unquoted filter value, then the same filter quoted.
    server
        .get("/Users?filter=userName%20eq%20bob")
        .await
        .expect(200);
    server
        .get("/Users?filter=userName%20eq%20%22bob%22")
        .await
        .expect(200);
    let browser = operator(&server).await;
    let log = browser.get("/console/t/acme/log").await;
    let all: Vec<&str> = log.html.split("<tr><td>").skip(1).collect();
    assert_eq!(all.len(), 5, "{}", log.html);
    assert!(all[0].contains("<td></td>"), "quoted: {}", all[0]);
    assert!(all[1].contains("<td>bare-strings</td>"), "{}", all[1]);
    let rows = &all[2..];
    assert!(
        rows[0].contains("<td></td>"),
        "bob needed nothing: {}",
        rows[0]
    );
    assert!(
        rows[1].contains("inferred-schemas, ignore-unknown"),
        "{}",
        rows[1]
    );
    assert!(
        rows[2].contains("string-values, value-shapes"),
        "{}",
        rows[2]
    );
    let seq = |row: &str| {
        let at = row.find("/console/t/acme/log/").unwrap() + "/console/t/acme/log/".len();
        row[at..at + row[at..].find('"').unwrap()].to_owned()
    };
    let detail = browser
        .get(&format!("/console/t/acme/log/{}", seq(rows[2])))
        .await;
    detail.expect(200);
    assert!(
        detail
            .html
            .contains("read this request with: string-values, value-shapes"),
        "{}",
        detail.html
    );

    // Under the strict profile nothing is tolerated, so nothing is named: the same body is
    // refused.
    server
        .scim
        .set_profile("acme", Some("strict"))
        .await
        .unwrap();
    server
        .post(
            "/Users",
            json!({"schemas": [USER], "userName": "cy", "active": "True"}),
        )
        .await
        .expect(400);
    let log = browser.get("/console/t/acme/log").await;
    let newest = log.html.split("<tr><td>").nth(1).unwrap();
    assert!(
        newest.contains(">400<") && newest.contains("<td></td>"),
        "{newest}"
    );
}

#[tokio::test]
async fn hostile_query_parameters_get_a_page_or_a_clear_refusal() {
    let server = Server::new().await;
    let user = server.create_user("ann").await;
    let group = server.create_group("Staff", &[&id(&user)]).await;
    let browser = operator(&server).await;
    let values = [
        "",
        "0",
        "-1",
        "1.5",
        "18446744073709551615",
        "99999999999999999999999",
        "%00",
        "%FF%FE",
        "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "userName%20eq",
        "((((((((((((((((((((",
        "2026-13-45T99:99",
        "a%22%20or%20%221%22%3D%221",
    ];
    let pages = [
        ("/console/t/acme/users", &["filter", "start"][..]),
        ("/console/t/acme/groups", &["filter", "start"][..]),
        (
            &*format!("/console/t/acme/groups/{}", id(&group)),
            &["start"][..],
        ),
        (
            "/console/t/acme/log",
            &["errors", "resource", "since", "until", "before"][..],
        ),
        ("/console/t/acme/health", &["drift"][..]),
    ];
    for (path, params) in pages {
        for param in params {
            for value in values {
                let url = format!("{path}?{param}={value}");
                let page = browser.get(&url).await;
                assert!(
                    page.status == 200 || page.status == 400,
                    "{url}: {} {}",
                    page.status,
                    page.html
                );
                assert!(!page.html.contains("<script>"), "{url}: markup got through");
            }
        }
    }
    // A start past the end leads back to the last page.
    let past = browser.get("/console/t/acme/users?start=500").await;
    past.expect(200);
    assert!(past.html.contains("past the last of 1"), "{}", past.html);
    assert!(
        past.html.contains("start=1\" rel=\"prev\""),
        "{}",
        past.html
    );
    // Segments that are not ids.
    for path in [
        "/console/t/acme/log/abc",
        "/console/t/acme/log/-1",
        "/console/t/acme/log/99999999999999999999999",
        "/console/t/acme/users/%00",
        "/console/t/%3Cb%3E/users",
    ] {
        let page = browser.get(path).await;
        assert!(
            matches!(page.status, 400 | 403 | 404),
            "{path}: {} {}",
            page.status,
            page.html
        );
        assert!(!page.html.contains("<b>"), "{path}");
    }
}

#[tokio::test]
async fn a_resource_page_links_to_its_own_requests() {
    let server = Server::new().await;
    let ann = server.create_user("ann").await;
    let bob = server.create_user("bob").await;
    server
        .patch(
            &format!("/Users/{}", id(&ann)),
            json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                   "Operations": [{"op": "replace", "path": "active", "value": false}]}),
        )
        .await
        .expect(200);
    server
        .get(&format!("/Users/{}", id(&bob)))
        .await
        .expect(200);
    let staff = server.create_group("Staff", &[&id(&bob)]).await;
    let browser = operator(&server).await;

    let user = browser
        .get(&format!("/console/t/acme/users/{}", id(&ann)))
        .await;
    let link = format!("/console/t/acme/log?id={}", id(&ann));
    assert!(
        user.html
            .contains(&format!("id=\"resource-log\" href=\"{link}\"")),
        "{}",
        user.html
    );
    let log = browser.get(&link).await;
    log.expect(200);
    let rows: Vec<&str> = log.html.split("<tr><td>").skip(1).collect();
    assert_eq!(
        rows.len(),
        2,
        "ann's creation and change only: {}",
        log.html
    );
    assert!(
        rows[0].contains("PATCH") && rows[1].contains("POST"),
        "{rows:?}"
    );
    assert!(
        log.html
            .contains(&format!("name=\"id\" value=\"{}\"", id(&ann))),
        "the form shows the id"
    );

    let group = browser
        .get(&format!("/console/t/acme/groups/{}", id(&staff)))
        .await;
    assert!(group.html.contains("id=\"resource-log\""));
    let log = browser
        .get(&format!("/console/t/acme/log?id={}", id(&staff)))
        .await;
    assert_eq!(log.html.split("<tr><td>").count() - 1, 1, "{}", log.html);
    // Another id, or none of this tenant's, finds nothing.
    let none = browser.get("/console/t/acme/log?id=nobody").await;
    assert!(none.html.contains("id=\"no-requests\""));
}
