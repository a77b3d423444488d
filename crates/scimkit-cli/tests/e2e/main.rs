//! End-to-end test of the admin console in a real browser: `scimkit serve` as an operator runs
//! it, Debian's `chromedriver` driving headless Chromium, and an identity provider's SCIM
//! requests over plain HTTP.
//!
//! The walk: log in with a console token made by `scimkit token create`, create a tenant and
//! a SCIM token through the forms, provision a user (and make two requests fail) with that
//! token, find the user with SCIM filters, see a broken filter pointed at with a caret, open
//! the user, and read the provisioning log and one failed request's explanation.
//!
//! Each page visited is saved as `target/console-screenshots/NN-name.png` (under the
//! workspace root), for a human to look at.
//!
//! It needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (`apt-get install chromium
//! chromium-driver`). Without them it is skipped with a message, except when `CI` is set:
//! there it fails, as the console is never left untested in CI.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

#[path = "../support/listening.rs"]
mod listening;

/// How long a page, an element or a process may take to appear.
const PATIENCE: Duration = Duration::from_secs(20);

const TENANT: &str = "acme";
const USER_NAME: &str = "e2e.user@example.com";
/// Markup in a value a client sent: the console must show it as text.
const DISPLAY_NAME: &str = "<b>E2E</b> User";

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

/// Whether the browser is installed: `false` (after saying why) when it is not and the test
/// may be skipped; a panic when it is not and `CI` is set.
fn browser_installed() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} missing: the console's browser test is never skipped in CI \
         (apt-get install -y chromium chromium-driver)",
        missing.join(" and ")
    );
    #[allow(
        clippy::print_stderr,
        reason = "the only way to say why a test did nothing"
    )]
    {
        eprintln!(
            "skipping the console's browser test: {} missing (apt-get install -y chromium chromium-driver)",
            missing.join(" and ")
        );
    }
    false
}

/// A fresh directory under the system temp directory, removed on drop.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("scimkit-cli-e2e-{}-{tag}", std::process::id()));
        if path.exists() {
            std::fs::remove_dir_all(&path).expect("a stale temp dir can be removed");
        }
        std::fs::create_dir_all(&path).expect("the temp dir can be created");
        Self(path)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).to_str().expect("UTF-8").to_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `scimkit ARGS`, which must exit 0 and print one JSON document, returned.
#[track_caller]
fn scimkit(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_scimkit"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the scimkit binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "scimkit {args:?}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("scimkit {args:?}: {e}: {stdout}"))
}

/// A running `scimkit serve`, killed on drop.
#[derive(Debug)]
struct Server {
    child: Child,
    /// `127.0.0.1:PORT`.
    addr: String,
}

impl Server {
    /// Starts `scimkit serve --data-dir DATA --listen 127.0.0.1:0`; waits for it to listen.
    fn start(data: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_scimkit"))
            .args(["serve", "--data-dir", data, "--listen", "127.0.0.1:0"])
            .env("SCIMKIT_LOG", "info")
            .env_remove("SCIMKIT_BOOTSTRAP_TOKEN")
            .stdin(Stdio::null())
            // The bootstrap SCIM token of tenant default is not needed.
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("scimkit serve starts");
        // The log line "listening addr=…" on stderr gives the port.
        let stderr = child.stderr.take().expect("piped");
        let addr = listening::listening_addr(stderr, PATIENCE);
        Self { child, addr }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// One HTTP/1.1 request as an identity provider sends it; returns the status and the
    /// JSON body (Null when empty).
    fn request(&self, method: &str, path: &str, token: &str, body: Option<&Value>) -> (u16, Value) {
        let mut stream = TcpStream::connect(&self.addr).expect("connects");
        let body = body.map(Value::to_string).unwrap_or_default();
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/scim+json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        )
        .expect("writes");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("reads");
        let status = response[9..12].parse().expect("a status code");
        let body = response.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `chromedriver`, in a process group of its own with the browsers it starts, all
/// killed on drop (even when the test panics before closing its session).
#[derive(Debug)]
struct Driver {
    child: Child,
    url: String,
    log: String,
}

impl Driver {
    fn start(dir: &TempDir) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = dir.path("chromedriver.log");
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={log}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        let deadline = Instant::now() + PATIENCE;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver does not listen on port {port}:\n{}",
                driver.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }

    /// The end of chromedriver's log, for failure messages.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// A WebDriver session with headless Chromium.
    async fn session(&self) -> Client {
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".to_owned(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--window-size=1280,900",
                    // Containers often have a tiny /dev/shm; Chromium then crashes on big pages.
                    "--disable-dev-shm-usage",
                ],
            }),
        );
        ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "no WebDriver session with {CHROMIUM}: {e}\n{}",
                    self.log_tail()
                )
            })
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The whole group: chromedriver and the Chromium processes it started.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

/// The browser, driven page by page, saving a screenshot of each.
struct Browser<'a> {
    client: Client,
    server: &'a Server,
    shots: PathBuf,
    shot: usize,
}

impl Browser<'_> {
    /// Opens a console path.
    async fn open(&self, path: &str) {
        let url = self.server.url(path);
        self.client
            .goto(&url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// Waits until the browser is on a page whose path (and query) satisfies `want`; returns
    /// it. After a click that submits a form, this is how we know the next page is there
    /// (its elements may have the ids of the last page's).
    async fn wait_for_path(&self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let url = self.client.current_url().await.expect("a current URL");
            let path = match url.query() {
                Some(q) => format!("{}?{q}", url.path()),
                None => url.path().to_owned(),
            };
            if want(&path) {
                return path;
            }
            if Instant::now() > deadline {
                panic!(
                    "never reached {what}: still on {url}\n{}",
                    self.page_text().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The element matching a CSS selector, waited for.
    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(element) => element,
            Err(e) => {
                let url = self.client.current_url().await.map(|u| u.to_string());
                panic!(
                    "no {css} on {}: {e}\n{}",
                    url.unwrap_or_default(),
                    self.page_text().await
                )
            }
        }
    }

    /// The visible text of the element matching `css`.
    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("element text")
    }

    /// How many elements match `css` now.
    async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .expect("find_all")
            .len()
    }

    /// Types `text` into the (emptied) field matching `css`.
    async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("the field clears");
        field.send_keys(text).await.expect("the field takes keys");
    }

    async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("clickable");
    }

    /// The page's visible text, for failure messages.
    async fn page_text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(body) => body.text().await.unwrap_or_default(),
            Err(e) => format!("(no page: {e})"),
        }
    }

    /// Saves the page as `NN-name.png`.
    async fn screenshot(&mut self, name: &str) {
        self.shot += 1;
        let png = self.client.screenshot().await.expect("a screenshot");
        let path = self.shots.join(format!("{:02}-{name}.png", self.shot));
        std::fs::write(&path, png)
            .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    }
}

/// `target/console-screenshots` under the workspace root, emptied of earlier runs' PNGs.
fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots");
    std::fs::create_dir_all(&dir).expect("the screenshot directory can be created");
    for entry in std::fs::read_dir(&dir).expect("readable").flatten() {
        if entry.path().extension().is_some_and(|e| e == "png") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    dir.canonicalize().expect("the screenshot directory exists")
}

// ---------------------------------------------------------------------------------------
// The walk
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn an_operator_sets_up_a_tenant_and_follows_its_provisioning_in_the_console() {
    if !browser_installed() {
        return;
    }
    let dir = TempDir::new("console");
    let data = dir.path("data");
    let server = Server::start(&data);
    // A console login of the operator's tenant, made beside the running server.
    let login = scimkit(&[
        "token",
        "create",
        "--tenant",
        "default",
        "--scope",
        "console",
        "--data-dir",
        &data,
    ]);
    let console_token = login["token"].as_str().expect("a token").to_owned();
    let driver = Driver::start(&dir);
    let mut b = Browser {
        client: driver.session().await,
        server: &server,
        shots: screenshot_dir(),
        shot: 0,
    };

    // Logging in lands on the tenants.
    b.open("/console/login").await;
    b.find("#token").await;
    b.screenshot("login").await;
    b.fill("#token", &console_token).await;
    b.click("#login").await;
    b.wait_for_path("the tenants", |p| p == "/console").await;
    let tenants = b.text("#tenants").await;
    assert!(tenants.contains("default"), "{tenants}");
    b.screenshot("tenants").await;

    // A new tenant, through the form.
    b.fill("#name", TENANT).await;
    b.click("#create-tenant").await;
    let overview = format!("/console/t/{TENANT}");
    b.wait_for_path("the new tenant", |p| p == overview).await;
    assert_eq!(b.text("#tenant-name").await, TENANT);
    assert_eq!(
        b.text("#base-url").await,
        format!("http://{}/scim/v2/{TENANT}", server.addr),
        "the SCIM base URL the IdP is given: where the browser reached the server"
    );

    // A SCIM token for the IdP, shown once.
    b.fill("#label", "okta (e2e)").await;
    b.find("#scope")
        .await
        .select_by_value("scim")
        .await
        .expect("scope scim");
    b.click("#create-token").await;
    b.wait_for_path("the token's page", |p| p == format!("{overview}/tokens"))
        .await;
    let scim_token = b.text("#new-token").await.trim().to_owned();
    assert!(scim_token.starts_with("scimkit_"), "{scim_token}");
    let tokens = b.text("#tokens").await;
    assert!(tokens.contains("okta (e2e)"), "{tokens}");
    b.screenshot("tenant-new-token").await;

    // The IdP provisions a user with it, and sends two requests that fail.
    let users = format!("/scim/v2/{TENANT}/Users");
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": USER_NAME,
        "displayName": DISPLAY_NAME,
        "emails": [{"value": USER_NAME, "type": "work", "primary": true}],
    });
    let (status, created) = server.request("POST", &users, &scim_token, Some(&user));
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("an id").to_owned();
    let (status, conflict) = server.request("POST", &users, &scim_token, Some(&user));
    assert_eq!(
        (status, &conflict["scimType"]),
        (409, &json!("uniqueness")),
        "{conflict}"
    );
    let conflict_detail = conflict["detail"].as_str().expect("a detail").to_owned();
    let (status, bad_filter) = server.request(
        "GET",
        &format!("{users}?filter=userName%20eq"),
        &scim_token,
        None,
    );
    assert_eq!(
        (status, &bad_filter["scimType"]),
        (400, &json!("invalidFilter")),
        "{bad_filter}"
    );

    // The directory lists the user; its display name's markup is text.
    let users_page = format!("{overview}/users");
    b.open(&users_page).await;
    let results = b.text("#results").await;
    assert!(
        results.contains(USER_NAME) && results.contains(DISPLAY_NAME),
        "{results}"
    );
    assert_eq!(
        b.count("#results b").await,
        0,
        "markup from a client rendered"
    );
    b.screenshot("users").await;

    // SCIM filters find it, or not.
    b.fill("#filter", "userName eq \"nobody@example.com\"")
        .await;
    b.click("#search").await;
    b.wait_for_path("a search for nobody", |p| p.contains("nobody"))
        .await;
    assert!(
        b.text("#total").await.starts_with("0 "),
        "{}",
        b.page_text().await
    );
    assert_eq!(b.count("#results tbody tr").await, 0);
    b.fill(
        "#filter",
        "emails.value co \"@example.com\" and userName sw \"e2e.\"",
    )
    .await;
    b.click("#search").await;
    b.wait_for_path("a search by email", |p| p.contains("emails.value"))
        .await;
    assert!(
        b.text("#total").await.starts_with("1 "),
        "{}",
        b.page_text().await
    );
    assert!(b.text("#results").await.contains(USER_NAME));

    // A broken filter is pointed at with a caret.
    b.fill("#filter", "userName eq").await;
    b.click("#search").await;
    b.wait_for_path("a broken search", |p| p.ends_with("filter=userName+eq"))
        .await;
    let error = b.text("#filter-error").await;
    assert!(error.contains('^'), "{error}");
    assert_eq!(b.count("#results").await, 0, "no results beside the error");
    b.screenshot("filter-error").await;

    // The user's page, opened from the list.
    b.open(&users_page).await;
    b.find("#results").await;
    b.client
        .find(Locator::LinkText(USER_NAME))
        .await
        .expect("a link to the user")
        .click()
        .await
        .expect("clickable");
    b.wait_for_path("the user's page", |p| p == format!("{users_page}/{id}"))
        .await;
    let attributes = b.text("#attributes").await;
    assert!(
        attributes.contains(&format!("\"userName\": \"{USER_NAME}\"")),
        "{attributes}"
    );
    assert!(
        attributes.contains(&format!("\"displayName\": \"{DISPLAY_NAME}\"")),
        "the display name's markup is shown as text: {attributes}"
    );
    assert_eq!(
        b.count("#attributes b").await,
        0,
        "markup from a client rendered"
    );
    b.screenshot("user").await;

    // From the user's page to the requests about the user: its creation only (the
    // conflicting POST and the failed search named no existing user).
    b.click("#resource-log").await;
    b.wait_for_path("the user's requests", |p| {
        p.ends_with(&format!("/log?id={id}"))
    })
    .await;
    assert_eq!(
        b.count("#requests tbody tr").await,
        1,
        "{}",
        b.page_text().await
    );
    assert!(b.text("#requests").await.contains("POST"));

    // The provisioning log: the three SCIM requests, newest first; the failed ones marked.
    let log_page = format!("{overview}/log");
    b.open(&log_page).await;
    b.find("#requests").await;
    let rows = b
        .client
        .find_all(Locator::Css("#requests tbody tr"))
        .await
        .expect("rows");
    let mut seen = Vec::new();
    for row in &rows {
        let cells = row
            .find_all(Locator::Css("td"))
            .await
            .expect("a row's cells");
        assert!(cells.len() >= 5, "time, method, path, status, duration");
        let mut texts = Vec::new();
        for cell in &cells[..5] {
            texts.push(cell.text().await.expect("a cell's text").trim().to_owned());
        }
        let bad = cells[3]
            .attr("class")
            .await
            .expect("class")
            .is_some_and(|c| c.split_whitespace().any(|c| c == "status-bad"));
        let link = row
            .find(Locator::Css("a"))
            .await
            .expect("a row links to its request")
            .attr("href")
            .await
            .expect("href")
            .unwrap_or_default();
        seen.push((texts, bad, link));
    }
    let summary: Vec<(&str, &str, bool)> = seen
        .iter()
        .map(|(t, bad, _)| (t[1].as_str(), t[3].as_str(), *bad))
        .collect();
    assert_eq!(
        summary,
        [
            ("GET", "400", true),
            ("POST", "409", true),
            ("POST", "201", false)
        ],
        "method, status and status-bad of each row, newest first: {seen:?}"
    );
    for (texts, _, link) in &seen {
        assert!(!texts[0].is_empty() && !texts[4].is_empty(), "{texts:?}");
        assert!(texts[2].contains(&users), "the path: {texts:?}");
        let seq = link
            .strip_prefix(&format!("{log_page}/"))
            .unwrap_or_else(|| panic!("a row links to {log_page}/SEQ, not {link:?}"));
        assert!(
            !seq.is_empty() && seq.bytes().all(|c| c.is_ascii_digit()),
            "{link}"
        );
    }
    b.screenshot("log").await;

    // The conflicting POST explained: the SCIM error, a hint, and both bodies.
    rows[1]
        .find(Locator::Css("a"))
        .await
        .expect("a link")
        .click()
        .await
        .expect("clickable");
    let conflict_page = seen[1].2.clone();
    b.wait_for_path("the failed request", |p| p == conflict_page)
        .await;
    let detail = b.text("#error-detail").await;
    assert!(
        detail.contains(&conflict_detail),
        "{detail:?} shows {conflict_detail:?}"
    );
    assert!(!b.text("#hint").await.trim().is_empty(), "a hint");
    let request_body = b.text("#request-body").await;
    assert!(
        request_body.contains(USER_NAME) && request_body.contains(DISPLAY_NAME),
        "{request_body}"
    );
    let response_body = b.text("#response-body").await;
    assert!(response_body.contains("uniqueness"), "{response_body}");
    assert_eq!(
        b.count("#request-body b, #response-body b").await,
        0,
        "markup from a client rendered"
    );
    b.screenshot("failed-request").await;

    // A group with the user: the groups list and the group's members.
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "E2E Staff",
        "members": [{"value": id}],
    });
    let (status, created_group) = server.request(
        "POST",
        &format!("/scim/v2/{TENANT}/Groups"),
        &scim_token,
        Some(&group),
    );
    assert_eq!(status, 201, "{created_group}");
    b.open(&format!("{overview}/groups")).await;
    assert!(b.text("#results").await.contains("E2E Staff"));
    b.screenshot("groups").await;
    b.find("#results a").await.click().await.expect("clickable");
    let members = b.text("#members").await;
    assert!(members.contains(USER_NAME), "{members}");
    b.screenshot("group").await;

    // Events (no consumer is configured for this server) and health (the IdP's activity).
    b.open(&format!("{overview}/events")).await;
    assert!(!b.text("#no-consumers").await.is_empty());
    b.screenshot("events").await;
    b.open(&format!("{overview}/health")).await;
    let activity = b.text("#activity").await;
    assert!(activity.contains("okta (e2e)"), "{activity}");
    b.screenshot("health").await;

    b.client.close().await.expect("the session ends");
    drop(driver);
    drop(server);
}
