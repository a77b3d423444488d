//! `scimkit serve`, `tenant`, `token` and `log`: the binary as an operator runs it.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

use super::{TempDir, data, listening, scimkit};

/// A running `scimkit serve`, killed on drop.
struct Server {
    child: Child,
    /// What it printed on stdout at start (the bootstrap token), if anything.
    first_line: Option<Value>,
    addr: String,
}

impl Server {
    /// Starts `scimkit serve --data-dir DIR --listen 127.0.0.1:0`; waits for it to listen.
    fn start(dir: &TempDir, env: &[(&str, &str)], expect_token: bool) -> Self {
        Self::start_with(dir, env, expect_token, &[])
    }

    fn start_with(dir: &TempDir, env: &[(&str, &str)], expect_token: bool, args: &[&str]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_scimkit"));
        cmd.args([
            "serve",
            "--data-dir",
            &dir.path("data"),
            "--listen",
            "127.0.0.1:0",
        ])
        .args(args)
        .env("SCIMKIT_LOG", "info")
        .env_remove("SCIMKIT_BOOTSTRAP_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("scimkit serve starts");
        // The log line "listening addr=…" on stderr gives the port.
        let stderr = child.stderr.take().expect("piped");
        let addr = listening::listening_addr(stderr, std::time::Duration::from_secs(60));
        let first_line = if expect_token {
            let mut line = String::new();
            BufReader::new(child.stdout.as_mut().expect("piped"))
                .read_line(&mut line)
                .expect("stdout readable");
            Some(serde_json::from_str(&line).expect("the first line is JSON"))
        } else {
            None
        };
        Self {
            child,
            first_line,
            addr,
        }
    }

    /// One HTTP/1.1 request; returns the status and the JSON body (Null when empty).
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

    /// SIGTERM, then the exit code.
    fn terminate(mut self) -> Option<i32> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        let code = self.child.wait().expect("exits").code();
        std::mem::forget(self);
        code
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn user(name: &str) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name, "password": "hunter2"})
}

#[test]
fn serve_prints_a_token_once_persists_and_stops_on_sigterm() {
    let dir = TempDir::new("serve");
    let server = Server::start(&dir, &[], true);
    let first = server.first_line.clone().expect("a bootstrap token");
    assert_eq!(first["tenant"], "default");
    let token = first["token"].as_str().expect("a token").to_owned();
    assert!(token.starts_with("scimkit_"), "{first}");
    assert_eq!(
        first["base_url"],
        format!("http://{}/scim/v2/default", server.addr)
    );
    let (status, created) = server.request(
        "POST",
        "/scim/v2/default/Users",
        &token,
        Some(&user("bjensen")),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("an id").to_owned();
    assert!(created.get("password").is_none());
    assert_eq!(
        server.terminate(),
        Some(0),
        "SIGTERM stops the server cleanly"
    );

    // Restarted on the same directory: no new token is printed, the old one still works and
    // the user is still there.
    let server = Server::start(&dir, &[], false);
    let (status, got) =
        server.request("GET", &format!("/scim/v2/default/Users/{id}"), &token, None);
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["userName"], "bjensen");
    let (status, _) = server.request("GET", "/scim/v2/default/Users", "wrong", None);
    assert_eq!(status, 401);
    drop(server);
    // The database file is where the flag said.
    assert!(std::path::Path::new(&dir.path("data/scimkit.db")).exists());
}

#[test]
fn a_sqlite_data_directory_has_one_server_whose_reads_follow_every_write() {
    let dir = TempDir::new("one-server");
    let server = Server::start(&dir, &[], true);
    let token = server.first_line.clone().expect("a token")["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let base = "/scim/v2/default";
    let (status, created) =
        server.request("POST", &format!("{base}/Users"), &token, Some(&user("ann")));
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().expect("an id").to_owned();
    let get = || {
        server
            .request("GET", &format!("{base}/Users/{id}"), &token, None)
            .1
    };
    assert_eq!(get()["userName"], "ann");

    // Each write is seen by the next read of the user, though the server keeps users read by
    // id in memory.
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "Ann A."}]});
    let (status, _) = server.request("PATCH", &format!("{base}/Users/{id}"), &token, Some(&patch));
    assert_eq!(status, 200);
    assert_eq!(get()["displayName"], "Ann A.");
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Staff", "members": [{"value": id}]});
    let (status, group) = server.request("POST", &format!("{base}/Groups"), &token, Some(&group));
    assert_eq!(status, 201, "{group}");
    let gid = group["id"].as_str().expect("an id").to_owned();
    assert_eq!(get()["groups"][0]["display"], "Staff");
    let rename = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "displayName", "value": "Crew"}]});
    let (status, _) = server.request(
        "PATCH",
        &format!("{base}/Groups/{gid}"),
        &token,
        Some(&rename),
    );
    assert!(status == 200 || status == 204, "{status}");
    assert_eq!(get()["groups"][0]["display"], "Crew");
    let (status, _) = server.request("DELETE", &format!("{base}/Groups/{gid}"), &token, None);
    assert_eq!(status, 204);
    assert!(get().get("groups").is_none(), "{}", get());
    let (status, _) = server.request("DELETE", &format!("{base}/Users/{id}"), &token, None);
    assert_eq!(status, 204);
    assert_eq!(
        server
            .request("GET", &format!("{base}/Users/{id}"), &token, None)
            .0,
        404
    );

    // A second server on the same directory is refused, with the reason...
    let second = scimkit([
        "serve",
        "--data-dir",
        &dir.path("data"),
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(second.code, Some(1), "{}", second.stderr);
    assert!(
        second
            .stderr
            .contains("is served by another `scimkit serve`")
            && second.stderr.contains("PostgreSQL"),
        "{}",
        second.stderr
    );
    // ...while the administration commands still work beside the server.
    let tenants = scimkit(["tenant", "list", "--data-dir", &dir.path("data")]);
    assert_eq!(tenants.code, Some(0), "{}", tenants.stderr);
    assert!(tenants.stdout.contains("default"), "{}", tenants.stdout);

    // Once the first server has stopped, the directory can be served again.
    assert_eq!(server.terminate(), Some(0));
    let again = Server::start(&dir, &[], false);
    assert_eq!(
        again
            .request("GET", &format!("{base}/Users/{id}"), &token, None)
            .0,
        404
    );
}

#[test]
fn bootstrap_token_from_the_environment() {
    let dir = TempDir::new("bootstrap");
    let server = Server::start(
        &dir,
        &[("SCIMKIT_BOOTSTRAP_TOKEN", "automation-chose-this")],
        true,
    );
    assert_eq!(
        server.first_line.as_ref().unwrap()["token"],
        "automation-chose-this"
    );
    let (status, body) = server.request(
        "GET",
        "/scim/v2/default/Users",
        "automation-chose-this",
        None,
    );
    assert_eq!((status, &body["totalResults"]), (200, &json!(0)), "{body}");
    drop(server);
    // Set again on restart, it is the same token (nothing new is issued).
    let server = Server::start(
        &dir,
        &[("SCIMKIT_BOOTSTRAP_TOKEN", "automation-chose-this")],
        false,
    );
    let (status, _) = server.request(
        "GET",
        "/scim/v2/default/Users",
        "automation-chose-this",
        None,
    );
    assert_eq!(status, 200);
}

#[test]
fn tenants_and_tokens_are_managed_from_the_command_line() {
    let dir = TempDir::new("admin");
    let data = dir.path("data");
    let created = scimkit([
        "tenant",
        "create",
        "acme",
        "--label",
        "okta",
        "--data-dir",
        &data,
    ])
    .success();
    assert_eq!(created["tenant"], "acme");
    assert_eq!(created["base_url"], "http://127.0.0.1:8080/scim/v2/acme");
    let first_id = created["id"].as_str().unwrap().to_owned();
    let first_token = created["token"].as_str().unwrap().to_owned();

    let second = scimkit([
        "token",
        "create",
        "--tenant",
        "acme",
        "--expires-in-days",
        "30",
        "--data-dir",
        &data,
    ])
    .success();
    assert_eq!(second["tenant"], "acme");
    assert!(second["expires"].is_string(), "{second}");
    assert_ne!(second["token"], first_token);

    let app = scimkit([
        "token",
        "create",
        "--tenant",
        "acme",
        "--scope",
        "app",
        "--data-dir",
        &data,
    ])
    .success();
    assert_eq!(app["scope"], "app");
    assert_eq!(app["base_url"], "http://127.0.0.1:8080/app/v1/acme");
    scimkit([
        "token",
        "revoke",
        "--tenant",
        "acme",
        app["id"].as_str().unwrap(),
        "--data-dir",
        &data,
    ])
    .success();
    let listed = scimkit(["token", "list", "--tenant", "acme", "--data-dir", &data]).success();
    let listed = listed.as_array().expect("a list");
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[2]["scope"], "app");
    // No secret and no hash is ever printed by `list`.
    let text = serde_json::to_string(listed).unwrap();
    assert!(
        !text.contains(&first_token) && !text.contains("hash"),
        "{text}"
    );
    assert_eq!(listed[0]["label"], "okta");

    let revoked = scimkit([
        "token",
        "revoke",
        "--tenant",
        "acme",
        &first_id,
        "--data-dir",
        &data,
    ])
    .success();
    assert_eq!(revoked["revoked"], true);
    let listed = scimkit(["token", "list", "--tenant", "acme", "--data-dir", &data]).success();
    assert!(listed[0]["revoked"].is_string(), "{listed}");
    // Another tenant cannot revoke it; an unknown id is an error.
    let other = scimkit([
        "token",
        "revoke",
        "--tenant",
        "default",
        &first_id,
        "--data-dir",
        &data,
    ]);
    assert_eq!(other.code, Some(1), "{other:?}");

    // The audit log records what happened.
    let log = scimkit(["log", "--tenant", "acme", "--data-dir", &data]).success();
    let ops: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["operation"].as_str())
        .collect();
    for op in ["tenant.create", "token.create", "token.revoke"] {
        assert!(ops.contains(&op), "{op} missing from {ops:?}");
    }

    // Bad names and duplicates are refused with a message.
    let bad = scimkit(["tenant", "create", "Bad_Name", "--data-dir", &data]);
    assert_eq!(bad.code, Some(1));
    assert!(bad.stderr.contains("tenant name"), "{bad:?}");
    let dup = scimkit(["tenant", "create", "acme", "--data-dir", &data]);
    assert_eq!(dup.code, Some(1));
    // The tenant's IdP profile.
    let set = scimkit([
        "tenant",
        "set-profile",
        "acme",
        "entra",
        "--data-dir",
        &data,
    ])
    .success();
    assert_eq!(set["profile"], "entra");
    let bad = scimkit([
        "tenant",
        "set-profile",
        "acme",
        "azure",
        "--data-dir",
        &data,
    ]);
    assert_eq!(bad.code, Some(1));
    assert!(bad.stderr.contains("onelogin"), "{bad:?}");
    let reset = scimkit([
        "tenant",
        "set-profile",
        "acme",
        "default",
        "--data-dir",
        &data,
    ])
    .success();
    assert_eq!(reset["profile"], "default");
    let soft = scimkit([
        "tenant",
        "set-soft-delete",
        "acme",
        "on",
        "--data-dir",
        &data,
    ])
    .success();
    assert_eq!(soft["soft_delete"], true);
    let tenants = scimkit(["tenant", "list", "--data-dir", &data]).success();
    assert_eq!(tenants[0]["tenant"], "acme");
}

#[test]
fn custom_resource_types_from_a_schema_directory_are_served() {
    let dir = TempDir::new("custom");
    let schemas = data("schemas/acme");
    let server = Server::start_with(
        &dir,
        &[("SCIMKIT_BOOTSTRAP_TOKEN", "t")],
        true,
        &["--schemas", &schemas],
    );
    let device = json!({
        "schemas": ["urn:acme:params:scim:schemas:core:2.0:Device"],
        "serialNumber": "ACME-RKT-0001",
        "displayName": "Rocket skates",
    });
    let (status, created) = server.request("POST", "/scim/v2/default/Devices", "t", Some(&device));
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["meta"]["resourceType"], "Device");
    // `serialNumber` has uniqueness server: a second device with it is refused.
    let (status, dup) = server.request("POST", "/scim/v2/default/Devices", "t", Some(&device));
    assert_eq!(
        (status, &dup["scimType"]),
        (409, &json!("uniqueness")),
        "{dup}"
    );
    // An admin command run without --schemas leaves the unique index alone.
    scimkit([
        "token",
        "list",
        "--tenant",
        "default",
        "--data-dir",
        &dir.path("data"),
    ])
    .success();
    let (status, dup) = server.request("POST", "/scim/v2/default/Devices", "t", Some(&device));
    assert_eq!(status, 409, "{dup}");
    let (status, list) = server.request(
        "GET",
        "/scim/v2/default/Devices?filter=serialNumber%20eq%20%22ACME-RKT-0001%22",
        "t",
        None,
    );
    assert_eq!((status, &list["totalResults"]), (200, &json!(1)), "{list}");
    let (_, types) = server.request("GET", "/scim/v2/default/ResourceTypes", "t", None);
    let names: Vec<&str> = types["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&"Device"), "{names:?}");
    let (status, schema) = server.request(
        "GET",
        "/scim/v2/default/Schemas/urn:acme:params:scim:schemas:core:2.0:Device",
        "t",
        None,
    );
    assert_eq!(
        (status, &schema["name"]),
        (200, &json!("Device")),
        "{schema}"
    );
}

/// The PostgreSQL URL for tests, or `None` outside CI when it is not set (in CI it must be).
fn postgres_url() -> Option<String> {
    match std::env::var("SCIMKIT_TEST_POSTGRES_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!(
                "SCIMKIT_TEST_POSTGRES_URL must be set in CI: the PostgreSQL tests are never skipped there"
            )
        }
        Err(_) => None,
    }
}

#[test]
fn two_instances_share_one_postgres_database() {
    let Some(url) = postgres_url() else { return };
    let schema = format!("scimkit_it_cli_{}", std::process::id());
    let dir_a = TempDir::new("pg-a");
    let dir_b = TempDir::new("pg-b");
    let args = [
        "--database",
        url.as_str(),
        "--database-schema",
        schema.as_str(),
    ];
    let a = Server::start_with(
        &dir_a,
        &[("SCIMKIT_BOOTSTRAP_TOKEN", "shared")],
        true,
        &args,
    );
    let b = Server::start_with(
        &dir_b,
        &[("SCIMKIT_BOOTSTRAP_TOKEN", "shared")],
        false,
        &args,
    );
    let (status, created) = a.request(
        "POST",
        "/scim/v2/default/Users",
        "shared",
        Some(&user("pat")),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    // The other instance reads it, and enforces uniqueness against it.
    let (status, got) = b.request(
        "GET",
        &format!("/scim/v2/default/Users/{id}"),
        "shared",
        None,
    );
    assert_eq!((status, &got["userName"]), (200, &json!("pat")), "{got}");
    let (status, dup) = b.request(
        "POST",
        "/scim/v2/default/Users",
        "shared",
        Some(&user("PAT")),
    );
    assert_eq!(status, 409, "{dup}");
    drop((a, b));
    // Nothing was written to the SQLite data directories.
    assert!(!std::path::Path::new(&dir_a.path("data/scimkit.db")).exists());
    let _ = Command::new("psql")
        .args([
            url.as_str(),
            "-qc",
            &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        ])
        .output();
}

#[test]
fn events_are_polled_as_signed_sets_and_acknowledged() {
    let dir = TempDir::new("events");
    let config = dir.write("scimkit.toml", "events_poll_secret = \"poll-secret\"\n");
    let server = Server::start_with(
        &dir,
        &[("SCIMKIT_BOOTSTRAP_TOKEN", "t")],
        true,
        &["--config", &config],
    );
    // The service provider config says which events it issues, now that polling is on.
    let (_, spc) = server.request("GET", "/scim/v2/default/ServiceProviderConfig", "t", None);
    let uris = spc["securityEvents"]["eventUris"]
        .as_array()
        .expect("eventUris");
    assert!(
        uris.iter()
            .any(|u| u == "urn:ietf:params:scim:event:prov:deactivate"),
        "{spc}"
    );

    let (_, created) = server.request("POST", "/scim/v2/default/Users", "t", Some(&user("ev")));
    let id = created["id"].as_str().unwrap();
    let deactivate = json!({"Operations": [{"op": "replace", "path": "active", "value": false}]});
    let (status, _) = server.request(
        "PATCH",
        &format!("/scim/v2/default/Users/{id}"),
        "t",
        Some(&deactivate),
    );
    assert_eq!(status, 200);

    let poll = json!({"maxEvents": 10, "returnImmediately": true});
    let (status, got) = server.request("POST", "/scim/v2/default/Events", "t", Some(&poll));
    assert_eq!(status, 200, "{got}");
    let sets = got["sets"].as_object().expect("sets");
    assert_eq!(sets.len(), 2, "created and deactivated: {got}");
    for (jti, set) in sets {
        let jws = set.as_str().expect("a compact JWS");
        assert_eq!(jws.split('.').count(), 3, "{jti}: {jws}");
    }
    // Acknowledged, they are not served again.
    let acks: Vec<&String> = sets.keys().collect();
    let ack = json!({"ack": acks, "maxEvents": 10, "returnImmediately": true});
    let (status, again) = server.request("POST", "/scim/v2/default/Events", "t", Some(&ack));
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        again["sets"].as_object().map(|m| m.len()),
        Some(0),
        "{again}"
    );
    // Another tenant's token cannot read this tenant's events.
    let (status, _) = server.request("POST", "/scim/v2/default/Events", "other", Some(&poll));
    assert_eq!(status, 401);
}
