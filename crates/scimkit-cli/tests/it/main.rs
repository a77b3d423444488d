//! Integration tests of the `scimkit` binary.
//!
//! Every test runs the real binary and checks the whole contract of the subcommand: the exit
//! code, what is on stdout (one JSON document: the normalized resource on exit 0, the
//! RFC 7644 §3.12 error on exit 2, nothing on exit 1) and what is on stderr (nothing unless
//! exit 1).
//!
//! Inputs are the RFC 7643 §8 fixtures of `scimkit-schema`, the documents and schema
//! directories under `tests/data/` (see its README), and small documents written inline and
//! fed on standard input.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Value, json};

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
const ACME: &str = "urn:acme:params:scim:schemas:extension:acme:2.0:User";
const DEVICE: &str = "urn:acme:params:scim:schemas:core:2.0:Device";
const ERROR: &str = "urn:ietf:params:scim:api:messages:2.0:Error";

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

/// What one run of the binary produced.
#[derive(Debug)]
struct Run {
    /// The exit code (`None` if killed by a signal).
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Exit 0, nothing on stderr, and exactly one JSON document (plus a newline) on stdout,
    /// which is returned.
    #[track_caller]
    fn success(&self) -> Value {
        assert_eq!(self.code, Some(0), "expected exit 0: {self:#?}");
        assert_eq!(self.stderr, "", "expected nothing on stderr: {self:#?}");
        self.stdout_json()
    }

    /// Exit 2, nothing on stderr, and an RFC 7644 §3.12 error on stdout: the error schema,
    /// status `"400"` as a string, the given `scimType` and a `detail`, which is returned.
    #[track_caller]
    fn rejected(&self, scim_type: &str) -> String {
        assert_eq!(self.code, Some(2), "expected exit 2: {self:#?}");
        assert_eq!(self.stderr, "", "expected nothing on stderr: {self:#?}");
        let error = self.stdout_json();
        let keys: Vec<&str> = keys(&error);
        assert_eq!(
            keys,
            ["schemas", "status", "scimType", "detail"],
            "{self:#?}"
        );
        assert_eq!(error["schemas"], json!([ERROR]), "{self:#?}");
        assert_eq!(
            error["status"],
            json!("400"),
            "status is a string: {self:#?}"
        );
        assert_eq!(error["scimType"], json!(scim_type), "{self:#?}");
        let detail = error["detail"].as_str().expect("detail is a string");
        assert!(!detail.trim().is_empty(), "{self:#?}");
        detail.to_owned()
    }

    /// Exit 1, nothing on stdout, and a message on stderr, which is returned.
    #[track_caller]
    fn usage_error(&self) -> &str {
        assert_eq!(self.code, Some(1), "expected exit 1: {self:#?}");
        assert_eq!(self.stdout, "", "expected nothing on stdout: {self:#?}");
        assert!(
            !self.stderr.trim().is_empty(),
            "expected a message on stderr: {self:#?}"
        );
        &self.stderr
    }

    /// Like [`Run::usage_error`], for an error of `scimkit` itself (not of argument
    /// parsing): a single `scimkit: …` line.
    #[track_caller]
    fn io_error(&self) -> &str {
        let stderr = self.usage_error();
        assert!(stderr.starts_with("scimkit: "), "{self:#?}");
        assert_eq!(stderr.lines().count(), 1, "{self:#?}");
        stderr
    }

    #[track_caller]
    fn stdout_json(&self) -> Value {
        assert!(
            self.stdout.ends_with('\n'),
            "stdout ends with a newline: {self:#?}"
        );
        // `from_str` fails on anything but whitespace after the document.
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is one JSON document ({e}): {self:#?}"))
    }
}

/// Runs `scimkit` with `args` and an empty, closed standard input.
fn scimkit<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Run {
    run(args, None)
}

/// Runs `scimkit` with `args`, writing `input` to its standard input.
fn scimkit_stdin<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>, input: &str) -> Run {
    run(args, Some(input.as_bytes().to_vec()))
}

fn run<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>, input: Option<Vec<u8>>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scimkit"))
        .args(args)
        // Plain, uncoloured clap messages whatever the environment says.
        .env("NO_COLOR", "1")
        .env_remove("CLICOLOR_FORCE")
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the scimkit binary runs");
    // Write from another thread so a large input cannot deadlock against a full stdout pipe.
    let writer = input.map(|input| {
        let mut stdin = child.stdin.take().expect("stdin is piped");
        std::thread::spawn(move || {
            // The binary may exit (usage error) before reading: a broken pipe is fine.
            let _ = stdin.write_all(&input);
        })
    });
    let output = child.wait_with_output().expect("scimkit finishes");
    if let Some(writer) = writer {
        writer.join().expect("the stdin writer does not panic");
    }
    Run {
        code: output.status.code(),
        stdout: String::from_utf8(output.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(output.stderr).expect("stderr is UTF-8"),
    }
}

/// A file of the RFC 7643 §8 fixtures.
fn fixture(name: &str) -> String {
    format!(
        "{}/../scimkit-schema/tests/fixtures/rfc7643/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// A file or directory under `tests/data/`.
fn data(path: &str) -> String {
    format!("{}/tests/data/{path}", env!("CARGO_MANIFEST_DIR"))
}

fn read_json(path: impl AsRef<Path>) -> Value {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The keys of a JSON object, in order.
fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect()
}

/// `value` without the top-level members `names`.
fn without(mut value: Value, names: &[&str]) -> Value {
    let object = value.as_object_mut().expect("an object");
    for name in names {
        assert!(object.remove(*name).is_some(), "`{name}` was there");
    }
    value
}

/// A fresh directory under the system temp directory, removed on drop.
#[derive(Debug)]
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("scimkit-cli-it-{}-{n}-{tag}", std::process::id()));
        if path.exists() {
            std::fs::remove_dir_all(&path).expect("a stale temp dir can be removed");
        }
        std::fs::create_dir_all(&path).expect("the temp dir can be created");
        Self(path)
    }

    /// Writes `contents` to `name` (which may contain `/`) in the directory.
    fn write(&self, name: &str, contents: &str) -> String {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("the parent dir can be created");
        }
        std::fs::write(&path, contents).expect("the temp file can be written");
        path.to_str().expect("temp paths are UTF-8").to_owned()
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

// ---------------------------------------------------------------------------------------
// RFC 7643 §8 examples
// ---------------------------------------------------------------------------------------

#[test]
fn rfc_8_1_minimal_user_keeps_only_user_name() {
    let out = scimkit(["validate", &fixture("8.1-minimal-user.json")]).success();
    // `id` and `meta` are read-only: assigned by the service provider, never stored from
    // the request.
    assert_eq!(
        out,
        json!({ "schemas": [USER], "userName": "bjensen@example.com" })
    );
    assert_eq!(keys(&out), ["schemas", "userName"]);
}

#[test]
fn rfc_8_2_full_user_drops_read_only_attributes_and_orders_by_schema() {
    let path = fixture("8.2-full-user.json");
    let out = scimkit(["validate", &path]).success();

    // Everything but the read-only `id`, `meta` and `groups` is kept, value for value
    // (object comparison ignores key order).
    let expected = without(read_json(&path), &["id", "meta", "groups"]);
    assert_eq!(out, expected);

    // Attributes come out in the order of the User schema, `schemas` and the common
    // attributes first.
    assert_eq!(
        keys(&out),
        [
            "schemas",
            "externalId",
            "userName",
            "name",
            "displayName",
            "nickName",
            "profileUrl",
            "title",
            "userType",
            "preferredLanguage",
            "locale",
            "timezone",
            "active",
            "password",
            "emails",
            "phoneNumbers",
            "ims",
            "photos",
            "addresses",
            "x509Certificates",
        ]
    );
    // Sub-attributes too: the fixture has `type` first in `addresses`.
    assert_eq!(
        keys(&out["addresses"][0]),
        [
            "formatted",
            "streetAddress",
            "locality",
            "region",
            "postalCode",
            "country",
            "type",
            "primary",
        ]
    );
}

#[test]
fn rfc_8_3_enterprise_user_keeps_the_extension() {
    let path = fixture("8.3-enterprise-user.json");
    let out = scimkit(["validate", &path]).success();

    let mut expected = without(read_json(&path), &["id", "meta", "groups"]);
    // `manager.displayName` is read-only in the Enterprise User schema (§4.3).
    let manager = expected[ENTERPRISE]["manager"]
        .as_object_mut()
        .expect("the fixture has a manager");
    assert!(manager.remove("displayName").is_some());
    assert_eq!(out, expected);

    assert_eq!(out["schemas"], json!([USER, ENTERPRISE]));
    assert_eq!(keys(&out).last(), Some(&ENTERPRISE));
    assert_eq!(
        keys(&out[ENTERPRISE]),
        [
            "employeeNumber",
            "costCenter",
            "organization",
            "division",
            "department",
            "manager",
        ]
    );
    assert_eq!(keys(&out[ENTERPRISE]["manager"]), ["value", "$ref"]);
}

#[test]
fn rfc_8_4_group_with_inferred_resource_type() {
    let path = fixture("8.4-group.json");
    let out = scimkit(["validate", &path]).success();
    assert_eq!(out, without(read_json(&path), &["id", "meta"]));
    assert_eq!(keys(&out), ["schemas", "displayName", "members"]);
    assert_eq!(out["members"].as_array().map(Vec::len), Some(2));
}

#[test]
fn rfc_8_4_group_with_resource_type_given() {
    let path = fixture("8.4-group.json");
    let inferred = scimkit(["validate", &path]).success();
    // The flag names a resource type by id or name, case-insensitively.
    for name in ["Group", "group", "GROUP"] {
        let given = scimkit(["validate", "--resource-type", name, &path]).success();
        assert_eq!(given, inferred, "--resource-type {name}");
        assert_eq!(
            given.to_string(),
            inferred.to_string(),
            "same key order with --resource-type {name}"
        );
    }
}

#[test]
fn rfc_examples_normalize_to_a_fixed_point() {
    // What `validate` prints is what a server stores; validating it again changes nothing.
    for name in [
        "8.1-minimal-user.json",
        "8.2-full-user.json",
        "8.3-enterprise-user.json",
        "8.4-group.json",
    ] {
        let first = scimkit(["validate", &fixture(name)]);
        let first_json = first.success();
        let second = scimkit_stdin(["validate", "-"], &first.stdout);
        assert_eq!(second.success(), first_json, "{name}");
        assert_eq!(second.stdout, first.stdout, "{name}: byte for byte");
    }
}

// ---------------------------------------------------------------------------------------
// Input and resource type selection
// ---------------------------------------------------------------------------------------

#[test]
fn stdin_gives_the_same_result_as_a_file() {
    for name in ["8.2-full-user.json", "8.4-group.json"] {
        let path = fixture(name);
        let text = std::fs::read_to_string(&path).expect("fixture");
        let from_file = scimkit(["validate", &path]);
        let from_stdin = scimkit_stdin(["validate", "-"], &text);
        assert_eq!(from_stdin.success(), from_file.success(), "{name}");
        assert_eq!(from_stdin.stdout, from_file.stdout, "{name}");
    }
}

#[test]
fn stdin_with_resource_type_given() {
    let out = scimkit_stdin(
        ["validate", "--resource-type", "Group", "-"],
        &json!({ "schemas": [GROUP], "displayName": "Tour Guides" }).to_string(),
    )
    .success();
    assert_eq!(
        out,
        json!({ "schemas": [GROUP], "displayName": "Tour Guides" })
    );
}

#[test]
fn names_and_urns_come_out_canonical() {
    let input = json!({
        "SCHEMAS": ["URN:IETF:PARAMS:SCIM:SCHEMAS:CORE:2.0:USER",
                    "urn:ietf:params:scim:schemas:extension:ENTERPRISE:2.0:User"],
        "USERNAME": "bjensen",
        "urn:ietf:params:scim:schemas:core:2.0:User:displayName": "Babs",
        "NAME": { "givenname": "Barbara", "FAMILYNAME": "Jensen" },
        "Emails": [{ "Primary": true, "VALUE": "b@example.com" }],
        "ID": "2819c223",
        "META": { "created": "2010-01-23T04:56:22Z" },
        "GROUPS": [{ "value": "e9e30dba" }],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user": { "EMPLOYEENUMBER": "701984" }
    });
    let out = scimkit_stdin(["validate", "-"], &input.to_string()).success();
    assert_eq!(
        out,
        json!({
            "schemas": [USER, ENTERPRISE],
            "userName": "bjensen",
            "name": { "familyName": "Jensen", "givenName": "Barbara" },
            "displayName": "Babs",
            "emails": [{ "value": "b@example.com", "primary": true }],
            ENTERPRISE: { "employeeNumber": "701984" }
        })
    );
    assert_eq!(
        keys(&out),
        [
            "schemas",
            "userName",
            "name",
            "displayName",
            "emails",
            ENTERPRISE
        ]
    );
    assert_eq!(keys(&out["name"]), ["familyName", "givenName"]);
    assert_eq!(keys(&out["emails"][0]), ["value", "primary"]);
}

#[test]
fn resource_type_given_overrides_schemas() {
    // A User document validated as a Group: `userName` is not a Group attribute.
    let user = fixture("8.1-minimal-user.json");
    let detail = scimkit(["validate", "--resource-type", "Group", &user]).rejected("invalidSyntax");
    assert!(detail.contains("`userName`"), "{detail}");

    // A Group validated as a User: `members` is not a User attribute.
    let group = fixture("8.4-group.json");
    let detail = scimkit(["validate", "--resource-type", "User", &group]).rejected("invalidSyntax");
    assert!(detail.contains("`members`"), "{detail}");
}

#[test]
fn resource_type_cannot_be_inferred_without_schemas() {
    let body = json!({ "displayName": "Tour Guides" }).to_string();
    // Strict: nothing names the resource type.
    let detail = scimkit_stdin(["validate", "-"], &body).rejected("invalidValue");
    assert!(detail.contains("`schemas`"), "{detail}");
    // Strict with the type given: `schemas` is still required.
    let detail = scimkit_stdin(["validate", "--resource-type", "Group", "-"], &body)
        .rejected("invalidValue");
    assert!(detail.contains("`schemas`"), "{detail}");
    // Lenient with the type given: `schemas` is filled in.
    let out = scimkit_stdin(
        ["validate", "--lenient", "--resource-type", "Group", "-"],
        &body,
    )
    .success();
    assert_eq!(
        out,
        json!({ "schemas": [GROUP], "displayName": "Tour Guides" })
    );
}

#[test]
fn unknown_resource_type_is_a_usage_error() {
    // The flag is the operator's input, not the document's: a bad flag value is a usage
    // error (exit 1, message on stderr, nothing on stdout).
    let run = scimkit([
        "validate",
        "--resource-type",
        "Gruop",
        &fixture("8.4-group.json"),
    ]);
    let stderr = run.io_error();
    assert!(stderr.contains("Gruop"), "{stderr}");
}

// ---------------------------------------------------------------------------------------
// Rejected documents (exit 2)
// ---------------------------------------------------------------------------------------

#[test]
fn invalid_json_is_invalid_syntax() {
    for text in [
        "",
        "{",
        "{\"schemas\": [\"urn:ietf:params:scim:schemas:core:2.0:User\"], \"userName\": }",
        "{\"userName\": \"a\",}",
        "not json",
        "{} {}",
    ] {
        let detail = scimkit_stdin(["validate", "-"], text).rejected("invalidSyntax");
        assert!(detail.contains("not valid JSON"), "{text:?}: {detail}");
    }

    // The same from a file, whatever the other flags.
    let dir = TempDir::new("invalid-json");
    let path = dir.write("user.json", "{\"userName\": \"bjensen\"");
    scimkit(["validate", &path]).rejected("invalidSyntax");
    scimkit(["validate", "--lenient", "--resource-type", "User", &path]).rejected("invalidSyntax");
}

#[test]
fn body_that_is_not_an_object_is_rejected() {
    let detail = scimkit_stdin(["validate", "--resource-type", "User", "-"], "[1, 2]")
        .rejected("invalidSyntax");
    assert!(detail.contains("JSON object"), "{detail}");
    // Also when the resource type is to be inferred from the (absent) `schemas`.
    for body in ["\"bjensen\"", "[{}]", "null", "42"] {
        let detail = scimkit_stdin(["validate", "-"], body).rejected("invalidSyntax");
        assert!(detail.contains("JSON object"), "{body}: {detail}");
    }
}

#[test]
fn wrong_type_names_the_attribute_path() {
    let cases = [
        (json!({ "active": "yes" }), "`active`"),
        (json!({ "name": { "givenName": 42 } }), "`name.givenName`"),
        (
            json!({ "emails": [{ "value": "a@example.com" }, { "value": "b@example.com", "primary": "true" }] }),
            "`emails[1].primary`",
        ),
        (
            json!({ "emails": { "value": "a@example.com" } }),
            "`emails`",
        ),
        (json!({ "userName": ["bjensen"] }), "`userName`"),
        (
            json!({ ENTERPRISE: { "manager": "26118915" } }),
            "`urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager`",
        ),
    ];
    for (extra, path) in cases {
        let mut body = json!({ "schemas": [USER, ENTERPRISE], "userName": "bjensen" });
        for (k, v) in extra.as_object().expect("object") {
            body[k] = v.clone();
        }
        let detail = scimkit_stdin(["validate", "-"], &body.to_string()).rejected("invalidValue");
        assert!(detail.contains(path), "{body}: {detail}");
        assert!(detail.contains("expected"), "{body}: {detail}");
    }
}

#[test]
fn missing_user_name_is_rejected() {
    for body in [
        json!({ "schemas": [USER] }),
        json!({ "schemas": [USER], "userName": null }),
        json!({ "schemas": [USER], "displayName": "Babs", "id": "2819c223" }),
    ] {
        let detail = scimkit_stdin(["validate", "-"], &body.to_string()).rejected("invalidValue");
        assert_eq!(detail, "`userName` is required", "{body}");
    }
    // Lenient does not make a required attribute optional.
    let detail = scimkit_stdin(
        ["validate", "--lenient", "-"],
        &json!({ "schemas": [USER] }).to_string(),
    )
    .rejected("invalidValue");
    assert_eq!(detail, "`userName` is required");
}

#[test]
fn unknown_attribute_is_invalid_syntax_when_strict() {
    let body = json!({ "schemas": [USER], "userName": "bjensen", "shoeSize": 44 }).to_string();
    let detail = scimkit_stdin(["validate", "-"], &body).rejected("invalidSyntax");
    assert!(detail.contains("`shoeSize`"), "{detail}");

    let out = scimkit_stdin(["validate", "--lenient", "-"], &body).success();
    assert_eq!(out, json!({ "schemas": [USER], "userName": "bjensen" }));
}

// ---------------------------------------------------------------------------------------
// Strict and lenient
// ---------------------------------------------------------------------------------------

#[test]
fn entra_string_boolean_is_rejected_when_strict() {
    let detail = scimkit(["validate", &data("docs/entra-user.json")]).rejected("invalidValue");
    assert!(detail.contains("`active`"), "{detail}");
    assert!(detail.contains("\"False\""), "{detail}");
}

#[test]
fn entra_string_boolean_is_accepted_when_lenient() {
    let path = data("docs/entra-user.json");
    let out = scimkit(["validate", "--lenient", &path]).success();
    let mut expected = without(read_json(&path), &["meta", "roles"]);
    expected["active"] = json!(false);
    assert_eq!(out, expected);
    assert_eq!(out["active"], json!(false));
    // The empty `roles` is unassigned (RFC 7643 §2.5) and dropped.
    assert!(out.get("roles").is_none());
    assert_eq!(
        keys(&out),
        [
            "schemas",
            "externalId",
            "userName",
            "name",
            "displayName",
            "active",
            "emails",
            ENTERPRISE,
        ]
    );
}

#[test]
fn entra_group_schema_urn_is_dropped_only_when_lenient() {
    let path = data("docs/entra-group.json");
    let detail = scimkit(["validate", &path]).rejected("invalidValue");
    assert!(
        detail.contains("http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"),
        "{detail}"
    );

    let out = scimkit(["validate", "--lenient", &path]).success();
    assert_eq!(
        out,
        json!({
            "schemas": [GROUP],
            "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159",
            "displayName": "displayName"
        })
    );
}

#[test]
fn lenient_coerces_shapes_and_infers_schemas() {
    // OneLogin-style single email object, a string boolean, no `schemas`, an enterprise
    // object not listed in `schemas`.
    let body = json!({
        "userName": "bjensen",
        "active": "true",
        "emails": { "value": "b@example.com", "primary": "True" },
        ENTERPRISE: { "employeeNumber": 701984 }
    })
    .to_string();
    scimkit_stdin(["validate", "--resource-type", "User", "-"], &body).rejected("invalidValue");
    let out = scimkit_stdin(
        ["validate", "--lenient", "--resource-type", "User", "-"],
        &body,
    )
    .success();
    assert_eq!(
        out,
        json!({
            "schemas": [USER, ENTERPRISE],
            "userName": "bjensen",
            "active": true,
            "emails": [{ "value": "b@example.com", "primary": true }],
            ENTERPRISE: { "employeeNumber": "701984" }
        })
    );
}

// ---------------------------------------------------------------------------------------
// --schemas DIR: extensions and custom resource types
// ---------------------------------------------------------------------------------------

#[test]
fn extension_from_schemas_dir_is_accepted() {
    let out = scimkit([
        "validate",
        "--schemas",
        &data("schemas/acme"),
        &data("docs/acme-user.json"),
    ])
    .success();
    assert_eq!(
        out,
        json!({
            "schemas": [USER, ACME],
            "userName": "wcoyote@acme.example",
            ACME: {
                "badgeId": "B-1949",
                "clearanceLevel": 2,
                // dateTime values are normalized to UTC.
                "startDate": "1949-09-17T17:00:00Z"
            }
        })
    );
    // In the extension schema's order, not the document's.
    assert_eq!(keys(&out[ACME]), ["badgeId", "clearanceLevel", "startDate"]);
}

#[test]
fn extension_is_unknown_without_schemas_dir() {
    let path = data("docs/acme-user.json");
    let detail = scimkit(["validate", &path]).rejected("invalidValue");
    assert!(detail.contains(ACME), "{detail}");
    // Lenient drops the unknown extension altogether.
    let out = scimkit(["validate", "--lenient", &path]).success();
    assert_eq!(
        out,
        json!({ "schemas": [USER], "userName": "wcoyote@acme.example" })
    );
}

#[test]
fn extension_attributes_are_type_checked() {
    let body = |level: Value| {
        json!({
            "schemas": [USER, ACME],
            "userName": "wcoyote",
            ACME: { "badgeId": "B-1949", "clearanceLevel": level }
        })
        .to_string()
    };
    let acme = data("schemas/acme");
    for bad in [json!("high"), json!(2.5), json!(true), json!([2])] {
        let detail = scimkit_stdin(["validate", "--schemas", &acme, "-"], &body(bad.clone()))
            .rejected("invalidValue");
        assert!(
            detail.contains(&format!("`{ACME}:clearanceLevel`")),
            "{bad}: {detail}"
        );
        assert!(detail.contains("integer"), "{bad}: {detail}");
    }
    // An integral number in float form is an integer.
    let out = scimkit_stdin(["validate", "--schemas", &acme, "-"], &body(json!(3.0))).success();
    assert_eq!(out[ACME]["clearanceLevel"], json!(3));
    // Lenient reads integers from strings; still not from words.
    let out = scimkit_stdin(
        ["validate", "--lenient", "--schemas", &acme, "-"],
        &body(json!(" 4 ")),
    )
    .success();
    assert_eq!(out[ACME]["clearanceLevel"], json!(4));
    scimkit_stdin(
        ["validate", "--lenient", "--schemas", &acme, "-"],
        &body(json!("high")),
    )
    .rejected("invalidValue");

    // An attribute the extension does not define.
    let unknown = json!({
        "schemas": [USER, ACME],
        "userName": "wcoyote",
        ACME: { "badgeId": "B-1949", "shoeSize": 44 }
    })
    .to_string();
    let detail =
        scimkit_stdin(["validate", "--schemas", &acme, "-"], &unknown).rejected("invalidSyntax");
    assert!(detail.contains("shoeSize"), "{detail}");
}

#[test]
fn extension_required_attribute_is_enforced_when_present() {
    let acme = data("schemas/acme");
    // The extension present without its required `badgeId`.
    for ext in [
        json!({ "clearanceLevel": 2 }),
        json!({ "badgeId": null, "clearanceLevel": 2 }),
    ] {
        let body = json!({ "schemas": [USER, ACME], "userName": "wcoyote", ACME: ext });
        let detail = scimkit_stdin(["validate", "--schemas", &acme, "-"], &body.to_string())
            .rejected("invalidValue");
        assert_eq!(detail, format!("`{ACME}:badgeId` is required"), "{body}");
    }
    // The extension is optional: without it, nothing of it is required.
    let out = scimkit_stdin(
        ["validate", "--schemas", &acme, "-"],
        &json!({ "schemas": [USER], "userName": "wcoyote" }).to_string(),
    )
    .success();
    assert_eq!(out, json!({ "schemas": [USER], "userName": "wcoyote" }));
}

#[test]
fn extension_object_must_be_listed_in_schemas_when_strict() {
    let acme = data("schemas/acme");
    let body = json!({
        "schemas": [USER],
        "userName": "wcoyote",
        ACME: { "badgeId": "B-1949" }
    })
    .to_string();
    let detail =
        scimkit_stdin(["validate", "--schemas", &acme, "-"], &body).rejected("invalidValue");
    assert!(detail.contains(ACME), "{detail}");
    let out = scimkit_stdin(["validate", "--lenient", "--schemas", &acme, "-"], &body).success();
    assert_eq!(out["schemas"], json!([USER, ACME]));
    assert_eq!(out[ACME], json!({ "badgeId": "B-1949" }));
}

#[test]
fn custom_resource_type_is_inferred_or_given() {
    let acme = data("schemas/acme");
    let path = data("docs/device.json");
    let expected = json!({
        "schemas": [DEVICE],
        "serialNumber": "ACME-RKT-0001",
        "displayName": "Rocket skates",
        "purchased": "2024-03-01T09:00:00Z",
        "owner": {
            "value": "2819c223-7f76-453a-919d-413861904646",
            "display": "Wile E. Coyote"
        }
    });
    let inferred = scimkit(["validate", "--schemas", &acme, &path]).success();
    // `id`, `meta` and the read-only `lastSeen` are dropped.
    assert_eq!(inferred, expected);
    assert_eq!(
        keys(&inferred),
        [
            "schemas",
            "serialNumber",
            "displayName",
            "purchased",
            "owner"
        ]
    );
    for name in ["Device", "device"] {
        let given = scimkit([
            "validate",
            "--schemas",
            &acme,
            "--resource-type",
            name,
            &path,
        ])
        .success();
        assert_eq!(given, expected, "--resource-type {name}");
    }
    // Built-in types are still there next to the custom one.
    scimkit(["validate", "--schemas", &acme, &fixture("8.4-group.json")]).success();
}

#[test]
fn custom_resource_type_is_unknown_without_schemas_dir() {
    let path = data("docs/device.json");
    let detail = scimkit(["validate", &path]).rejected("invalidValue");
    assert!(detail.contains("`schemas`"), "{detail}");
    // Without the directory, `Device` names no resource type at all. Either way it is
    // reported (see `unknown_resource_type_is_a_usage_error` for which way is right).
    let run = scimkit(["validate", "--resource-type", "Device", &path]);
    if run.code == Some(2) {
        run.rejected("invalidValue");
    } else {
        run.io_error();
    }
}

#[test]
fn custom_resource_type_is_validated() {
    let acme = data("schemas/acme");
    let run = |body: Value| scimkit_stdin(["validate", "--schemas", &acme, "-"], &body.to_string());

    let detail = run(json!({ "schemas": [DEVICE], "displayName": "Rocket skates" }))
        .rejected("invalidValue");
    assert_eq!(detail, "`serialNumber` is required");

    let detail =
        run(json!({ "schemas": [DEVICE], "serialNumber": "S1", "purchased": "yesterday" }))
            .rejected("invalidValue");
    assert!(detail.contains("`purchased`"), "{detail}");

    // A complex sub-attribute's `required` applies once the object has a value.
    let detail =
        run(json!({ "schemas": [DEVICE], "serialNumber": "S1", "owner": { "display": "Wile" } }))
            .rejected("invalidValue");
    assert_eq!(detail, "`owner.value` is required");

    let detail = run(json!({ "schemas": [DEVICE], "serialNumber": "S1", "userName": "x" }))
        .rejected("invalidSyntax");
    assert!(detail.contains("`userName`"), "{detail}");

    // A User document is still a User with the directory loaded.
    let detail = run(json!({ "schemas": [USER], "serialNumber": "S1" })).rejected("invalidSyntax");
    assert!(detail.contains("`serialNumber`"), "{detail}");
}

#[test]
fn schemas_dir_reads_only_json_files() {
    let dir = TempDir::new("json-only");
    let acme_ext =
        std::fs::read_to_string(data("schemas/acme/acme-user-extension.json")).expect("test data");
    dir.write("acme.JSON", &acme_ext);
    dir.write("README.md", "# not a schema {");
    dir.write("notes.txt", "{ not json");
    dir.write("old/broken.json", "{ not json");
    let out = scimkit([
        "validate",
        "--schemas",
        &dir.path(""),
        &data("docs/acme-user.json"),
    ])
    .success();
    assert_eq!(out["schemas"], json!([USER, ACME]));
}

#[test]
fn schemas_dir_may_hold_a_list_of_schemas() {
    // A `GET /Schemas` ListResponse saved to one file works as well as one file per schema.
    let dir = TempDir::new("list-response");
    let list = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 3,
        "Resources": [
            read_json(data("schemas/acme/acme-user-extension.json")),
            read_json(data("schemas/acme/device-schema.json")),
            read_json(data("schemas/acme/device-resource-type.json")),
        ]
    });
    dir.write("schemas.json", &list.to_string());
    let schemas = dir.path("");
    scimkit([
        "validate",
        "--schemas",
        &schemas,
        &data("docs/acme-user.json"),
    ])
    .success();
    scimkit(["validate", "--schemas", &schemas, &data("docs/device.json")]).success();
}

// ---------------------------------------------------------------------------------------
// --existing FILE: replace, immutable attributes
// ---------------------------------------------------------------------------------------

/// `docs/device.json` with `change` applied to it.
fn device_with(change: impl FnOnce(&mut Value)) -> String {
    let mut device = read_json(data("docs/device.json"));
    change(&mut device);
    device.to_string()
}

fn replace_device(body: &str) -> Run {
    scimkit_stdin(
        [
            "validate",
            "--schemas",
            &data("schemas/acme"),
            "--existing",
            &data("docs/device-stored.json"),
            "-",
        ],
        body,
    )
}

#[test]
fn existing_immutable_attribute_change_is_mutability() {
    let detail = replace_device(&device_with(|d| d["serialNumber"] = json!("ACME-RKT-0002")))
        .rejected("mutability");
    assert!(detail.contains("`serialNumber`"), "{detail}");
    assert!(detail.contains("immutable"), "{detail}");

    // Case matters: a different casing is a different value (caseExact).
    replace_device(&device_with(|d| d["serialNumber"] = json!("acme-rkt-0001")))
        .rejected("mutability");

    // The same body as a create is fine.
    scimkit_stdin(
        ["validate", "--schemas", &data("schemas/acme"), "-"],
        &device_with(|d| d["serialNumber"] = json!("ACME-RKT-0002")),
    )
    .success();
}

#[test]
fn existing_immutable_attribute_unchanged_or_omitted_is_accepted() {
    let expected = scimkit([
        "validate",
        "--schemas",
        &data("schemas/acme"),
        &data("docs/device.json"),
    ])
    .success();
    // Unchanged.
    let out = replace_device(&read_json(data("docs/device.json")).to_string()).success();
    assert_eq!(out, expected);
    // Omitted: carried over from the stored resource.
    let out = replace_device(&device_with(|d| {
        d.as_object_mut().expect("object").remove("serialNumber");
    }))
    .success();
    assert_eq!(out, expected);
    assert_eq!(keys(&out)[1], "serialNumber");
    // Mutable attributes change freely.
    let out = replace_device(&device_with(|d| d["displayName"] = json!("Jet skates"))).success();
    assert_eq!(out["displayName"], json!("Jet skates"));
}

#[test]
fn existing_immutable_sub_attribute_of_singular_complex_is_checked() {
    let detail = replace_device(&device_with(|d| {
        d["owner"]["value"] = json!("someone-else");
    }))
    .rejected("mutability");
    assert!(detail.contains("`owner.value`"), "{detail}");

    // The mutable sibling may change while the immutable one stays.
    let out = replace_device(&device_with(|d| {
        d["owner"]["display"] = json!("W. E. Coyote");
    }))
    .success();
    assert_eq!(
        out["owner"],
        json!({ "value": "2819c223-7f76-453a-919d-413861904646", "display": "W. E. Coyote" })
    );
    // The whole attribute omitted: the immutable sub-attribute carries over, the mutable
    // one is cleared (a replace).
    let out = replace_device(&device_with(|d| {
        d.as_object_mut().expect("object").remove("owner");
    }))
    .success();
    assert_eq!(
        out["owner"],
        json!({ "value": "2819c223-7f76-453a-919d-413861904646" })
    );
}

#[test]
fn existing_omitted_required_immutable_sub_attribute_carries_over() {
    // `owner.value` is required and immutable. Omitting it on replace should keep the
    // stored value, as omitting the required, immutable top-level `serialNumber` does
    // (see `existing_immutable_attribute_unchanged_or_omitted_is_accepted`).
    let out = replace_device(&device_with(|d| {
        d["owner"] = json!({ "display": "W. E. Coyote" });
    }))
    .success();
    assert_eq!(
        out["owner"],
        json!({ "value": "2819c223-7f76-453a-919d-413861904646", "display": "W. E. Coyote" })
    );
    assert_eq!(keys(&out["owner"]), ["value", "display"]);
}

#[test]
fn existing_immutable_extension_attribute_is_checked() {
    let acme = data("schemas/acme");
    let stored = data("docs/acme-user-stored.json");
    let replace = |start: Option<&str>| {
        let mut body = read_json(data("docs/acme-user.json"));
        match start {
            Some(start) => body[ACME]["startDate"] = json!(start),
            None => {
                body[ACME]
                    .as_object_mut()
                    .expect("object")
                    .remove("startDate");
            }
        }
        scimkit_stdin(
            ["validate", "--schemas", &acme, "--existing", &stored, "-"],
            &body.to_string(),
        )
    };
    let detail = replace(Some("1950-01-01T09:00:00Z")).rejected("mutability");
    assert!(detail.contains(&format!("`{ACME}:startDate`")), "{detail}");
    // The same instant written in another time zone is the same value.
    let out = replace(Some("1949-09-17T18:00:00+01:00")).success();
    assert_eq!(out[ACME]["startDate"], json!("1949-09-17T17:00:00Z"));
    // Omitted: carried over.
    let out = replace(None).success();
    assert_eq!(out[ACME]["startDate"], json!("1949-09-17T17:00:00Z"));
    assert_eq!(keys(&out[ACME]), ["badgeId", "clearanceLevel", "startDate"]);
}

#[test]
fn existing_can_be_the_output_of_a_create() {
    // Store what `validate` printed for a create, then validate a replace against it.
    let dir = TempDir::new("round-trip");
    let acme = data("schemas/acme");
    let created = scimkit(["validate", "--schemas", &acme, &data("docs/device.json")]);
    let created_json = created.success();
    let stored = dir.write("stored.json", &created.stdout);

    let put = |body: String| {
        scimkit_stdin(
            ["validate", "--schemas", &acme, "--existing", &stored, "-"],
            &body,
        )
    };
    assert_eq!(put(created.stdout).success(), created_json);
    put(device_with(|d| d["serialNumber"] = json!("ACME-RKT-0009"))).rejected("mutability");
}

#[test]
fn existing_must_be_a_readable_json_object() {
    let dir = TempDir::new("existing");
    let body = data("docs/device.json");
    let acme = data("schemas/acme");
    let cases = [
        (dir.path("missing.json"), "missing.json"),
        (dir.write("array.json", "[]"), "JSON object"),
        (
            dir.write("truncated.json", "{\"serialNumber\": "),
            "not valid JSON",
        ),
        (dir.path(""), ""),
    ];
    for (existing, message) in cases {
        let run = scimkit([
            "validate",
            "--schemas",
            &acme,
            "--existing",
            &existing,
            &body,
        ]);
        let stderr = run.io_error();
        assert!(stderr.contains(message), "{existing}: {stderr}");
    }
}

// ---------------------------------------------------------------------------------------
// Usage and IO errors (exit 1), help (exit 0)
// ---------------------------------------------------------------------------------------

#[test]
fn unknown_flag_is_a_usage_error() {
    let path = fixture("8.1-minimal-user.json");
    let stderr = scimkit(["validate", "--bogus", &path])
        .usage_error()
        .to_owned();
    assert!(stderr.contains("--bogus"), "{stderr}");
    assert!(stderr.contains("Usage:"), "{stderr}");

    let stderr = scimkit(["validate", "--strict", &path])
        .usage_error()
        .to_owned();
    assert!(stderr.contains("--strict"), "{stderr}");
    // Even with a valid document on stdin.
    let run = scimkit_stdin(
        ["validate", "--bogus", "-"],
        &std::fs::read_to_string(&path).expect("fixture"),
    );
    run.usage_error();
}

#[test]
fn missing_or_extra_arguments_are_usage_errors() {
    let path = fixture("8.1-minimal-user.json");
    let runs = [
        scimkit(Vec::<&str>::new()),
        scimkit(["validate"]),
        scimkit(["validate", "--resource-type"]),
        scimkit(["validate", &path, "--schemas"]),
        scimkit(["validate", &path, &path]),
        scimkit(["frobnicate", &path]),
    ];
    for run in runs {
        run.usage_error();
    }
}

#[test]
fn missing_file_is_an_io_error() {
    let dir = TempDir::new("missing-file");
    let missing = dir.path("no-such-user.json");
    let stderr = scimkit(["validate", &missing]).io_error().to_owned();
    assert!(stderr.contains("no-such-user.json"), "{stderr}");
    // A directory is not a document either.
    scimkit(["validate", &dir.path("")]).io_error();
}

#[test]
fn missing_or_unreadable_schemas_dir_is_an_io_error() {
    let dir = TempDir::new("schemas-dir");
    let user = fixture("8.1-minimal-user.json");
    let stderr = scimkit(["validate", "--schemas", &dir.path("nowhere"), &user])
        .io_error()
        .to_owned();
    assert!(stderr.contains("nowhere"), "{stderr}");
    // A file where a directory is expected.
    let file = dir.write("schema.json", "{}");
    scimkit(["validate", "--schemas", &file, &user]).io_error();
}

#[test]
fn broken_schema_in_dir_is_a_usage_error() {
    let user = fixture("8.1-minimal-user.json");
    let cases = [
        // An attribute of an unknown type, next to a good schema.
        ("schemas/broken", "bad-attribute-type.json"),
        // A file that is not JSON.
        ("schemas/malformed", "truncated.json"),
        // A resource type whose core schema is not defined.
        ("schemas/dangling", "laptop-resource-type.json"),
    ];
    for (dir, file) in cases {
        let stderr = scimkit(["validate", "--schemas", &data(dir), &user])
            .io_error()
            .to_owned();
        assert!(stderr.contains(file), "{dir}: {stderr}");
    }
    // More specific messages.
    let stderr = scimkit(["validate", "--schemas", &data("schemas/broken"), &user])
        .io_error()
        .to_owned();
    assert!(stderr.contains("number"), "{stderr}");
    let stderr = scimkit(["validate", "--schemas", &data("schemas/dangling"), &user])
        .io_error()
        .to_owned();
    assert!(
        stderr.contains("urn:acme:params:scim:schemas:core:2.0:Laptop"),
        "{stderr}"
    );
}

#[test]
fn schema_errors_found_on_the_fly_are_usage_errors() {
    let dir = TempDir::new("bad-schemas");
    let user = fixture("8.1-minimal-user.json");
    let cases = [
        ("empty-id.json", json!({ "id": "", "attributes": [] })),
        (
            "bad-name.json",
            json!({ "id": "urn:x:1", "attributes": [{ "name": "shoe size", "type": "string" }] }),
        ),
        (
            "twice.json",
            json!({ "id": "urn:x:2", "attributes": [
                { "name": "size", "type": "string" }, { "name": "Size", "type": "integer" }
            ] }),
        ),
        (
            "subs-on-string.json",
            json!({ "id": "urn:x:3", "attributes": [
                { "name": "size", "type": "string", "subAttributes": [{ "name": "unit" }] }
            ] }),
        ),
        ("scalar.json", json!(42)),
    ];
    for (name, schema) in cases {
        let sub = dir.path(name.trim_end_matches(".json"));
        let file = dir.write(
            &format!("{}/{name}", name.trim_end_matches(".json")),
            &schema.to_string(),
        );
        let stderr = scimkit(["validate", "--schemas", &sub, &user])
            .io_error()
            .to_owned();
        assert!(stderr.contains(name), "{file}: {stderr}");
    }
}

#[test]
fn usage_errors_win_over_document_errors() {
    // A broken schema directory is reported even when the document is bad too.
    let run = scimkit_stdin(
        ["validate", "--schemas", &data("schemas/broken"), "-"],
        "{ not json",
    );
    run.io_error();
    let run = scimkit_stdin(
        [
            "validate",
            "--existing",
            &data("docs/no-such-file.json"),
            "-",
        ],
        "{ not json",
    );
    run.io_error();
}

#[test]
fn help_and_version_exit_0() {
    for args in [
        vec!["--help"],
        vec!["-h"],
        vec!["help"],
        vec!["help", "validate"],
        vec!["validate", "--help"],
    ] {
        let run = scimkit(&args);
        assert_eq!(run.code, Some(0), "{args:?}: {run:#?}");
        assert_eq!(run.stderr, "", "{args:?}: {run:#?}");
        assert!(run.stdout.contains("Usage: scimkit"), "{args:?}: {run:#?}");
    }
    let run = scimkit(["validate", "--help"]);
    for flag in [
        "--resource-type",
        "--schemas",
        "--lenient",
        "--existing",
        "FILE|-",
    ] {
        assert!(run.stdout.contains(flag), "{flag}: {}", run.stdout);
    }

    let run = scimkit(["--version"]);
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(run.stderr, "");
    assert_eq!(
        run.stdout,
        format!("scimkit {}\n", env!("CARGO_PKG_VERSION"))
    );
}

// ---- scimkit filter ----

#[test]
fn filter_parse_prints_canonical_form_and_tree() {
    let out = scimkit([
        "filter",
        "parse",
        r#"USERNAME Eq "bjensen"  AND not(title pr)"#,
    ])
    .success();
    assert_eq!(
        out,
        json!({
            "canonical": r#"USERNAME eq "bjensen" and not (title pr)"#,
            "ast": {"and": [
                {"attr": "USERNAME", "op": "eq", "value": "bjensen"},
                {"not": {"attr": "title", "op": "pr"}}
            ]}
        })
    );
}

#[test]
fn filter_parse_error_has_offset_and_caret() {
    let run = scimkit(["filter", "parse", r#"userName equals "bjensen""#]);
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert_eq!(run.stderr, "");
    let error = run.stdout_json();
    assert_eq!(error["scimType"], "invalidFilter");
    assert_eq!(error["status"], "400");
    assert_eq!(error["offset"], 9);
    assert_eq!(
        error["detail"],
        "invalid filter: the operator `equals` at byte 9 is not supported; use eq, ne, co, sw, ew, gt, ge, lt, le or pr\n  userName equals \"bjensen\"\n           ^^^^^^"
    );
}

#[test]
fn filter_parse_path() {
    let out = scimkit([
        "filter",
        "parse",
        "--path",
        r#"emails[type eq "work"].value"#,
    ])
    .success();
    assert_eq!(out["canonical"], r#"emails[type eq "work"].value"#);
    assert_eq!(out["ast"]["subAttr"], "value");
    let run = scimkit(["filter", "parse", "--path", "emails[type eq]"]);
    assert_eq!(run.code, Some(2), "{run:#?}");
    assert_eq!(run.stdout_json()["scimType"], "invalidPath");
}

#[test]
fn filter_eval_uses_the_schema() {
    let user = fixture("8.2-full-user.json");
    // userName is caseExact false; the enterprise extension is not in 8.2.
    let run = scimkit([
        "filter",
        "eval",
        r#"userName eq "BJENSEN@example.com""#,
        user.as_str(),
    ]);
    assert_eq!(run.success(), json!(true));
    let run = scimkit([
        "filter",
        "eval",
        r#"emails[type eq "work" and value ew ".org"]"#,
        user.as_str(),
    ]);
    assert_eq!(run.success(), json!(false));
    let run = scimkit([
        "filter",
        "eval",
        r#"meta.lastModified gt "2011-05-13T04:42:33Z""#,
        user.as_str(),
    ]);
    assert_eq!(run.success(), json!(true));
    // Typed comparisons are checked.
    let detail =
        scimkit(["filter", "eval", "active gt true", user.as_str()]).rejected("invalidFilter");
    assert!(detail.contains("not defined for boolean"), "{detail}");
    // Unknown attributes match nothing, or fail with --strict.
    let run = scimkit(["filter", "eval", "shoeSize pr", user.as_str()]);
    assert_eq!(run.success(), json!(false));
    scimkit(["filter", "eval", "--strict", "shoeSize pr", user.as_str()]).rejected("invalidFilter");
    // From stdin, with the type given.
    let run = scimkit_stdin(
        [
            "filter",
            "eval",
            "--resource-type",
            "Group",
            r#"members.value eq "x""#,
            "-",
        ],
        r#"{"displayName": "g", "members": [{"value": "x"}]}"#,
    );
    assert_eq!(run.success(), json!(true));
}

#[test]
fn filter_eval_errors() {
    let user = fixture("8.2-full-user.json");
    let run = scimkit(["filter", "eval", "userName eq", user.as_str()]);
    assert_eq!(run.code, Some(2));
    assert_eq!(run.stdout_json()["scimType"], "invalidFilter");
    scimkit_stdin(["filter", "eval", "title pr", "-"], "[1]").rejected("invalidSyntax");
    scimkit_stdin(["filter", "eval", "title pr", "-"], "{").rejected("invalidSyntax");
    scimkit_stdin(["filter", "eval", "title pr", "-"], "{}").rejected("invalidValue");
    scimkit(["filter", "eval", "title pr", "/nonexistent/user.json"]).io_error();
    scimkit([
        "filter",
        "eval",
        "--resource-type",
        "Nope",
        "title pr",
        user.as_str(),
    ])
    .io_error();
}

// ---- scimkit patch ----

/// Writes `value` as JSON to a file in `dir` and returns its path.
fn write_json(dir: &TempDir, name: &str, value: &Value) -> String {
    let path = dir.0.join(name);
    std::fs::write(&path, serde_json::to_vec(value).unwrap()).unwrap();
    path.display().to_string()
}

fn group_and_entra_patch(dir: &TempDir) -> (String, String) {
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "id": "g1", "displayName": "Tour Guides",
        "members": [{"value": "u1", "display": "Babs"}, {"value": "u2"}]
    });
    let patch = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "Remove", "path": "members", "value": [{"value": "u1"}]},
            {"op": "Add", "path": "members", "value": [{"value": "u3"}]}
        ]
    });
    (
        write_json(dir, "group.json", &group),
        write_json(dir, "patch.json", &patch),
    )
}

#[test]
fn patch_apply_prints_the_resource() {
    let dir = TempDir::new("patch");
    let (group, patch) = group_and_entra_patch(&dir);
    let out = scimkit(["patch", "apply", "--resource", &group, "--patch", &patch]).success();
    assert_eq!(out["members"], json!([{"value": "u2"}, {"value": "u3"}]));
    assert_eq!(out["id"], "g1");
}

#[test]
fn patch_apply_explain() {
    let dir = TempDir::new("patch");
    let (group, patch) = group_and_entra_patch(&dir);
    let out = scimkit([
        "patch",
        "apply",
        "--explain",
        "--profile",
        "entra",
        "--resource",
        &group,
        "--patch",
        &patch,
    ])
    .success();
    assert_eq!(out["changed"], true);
    assert_eq!(out["changedAttributes"], json!(["members"]));
    assert_eq!(out["profile"], "entra");
    assert_eq!(out["normalizers"], json!(["op-case", "remove-by-value"]));
    assert_eq!(
        out["members"],
        json!({"added": [{"value": "u3"}], "removed": ["u1"]})
    );
}

#[test]
fn patch_apply_strict_profile_and_errors() {
    let dir = TempDir::new("patch");
    let (group, patch) = group_and_entra_patch(&dir);
    let detail = scimkit([
        "patch",
        "apply",
        "--profile",
        "strict",
        "--resource",
        &group,
        "--patch",
        &patch,
    ])
    .rejected("invalidSyntax");
    assert!(detail.starts_with("operation 0:"), "{detail}");
    let bad = write_json(
        &dir,
        "bad.json",
        &json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": [{"op": "remove", "path": "displayName"}]}),
    );
    let detail =
        scimkit(["patch", "apply", "--resource", &group, "--patch", &bad]).rejected("mutability");
    assert!(detail.contains("displayName"), "{detail}");
    scimkit([
        "patch",
        "apply",
        "--profile",
        "nope",
        "--resource",
        &group,
        "--patch",
        &patch,
    ])
    .io_error();
    scimkit([
        "patch",
        "apply",
        "--resource",
        "/nonexistent.json",
        "--patch",
        &patch,
    ])
    .io_error();
    // The patch from stdin.
    let run = scimkit_stdin(
        ["patch", "apply", "--resource", &group, "--patch", "-"],
        r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"replace","path":"displayName","value":"Guides"}]}"#,
    );
    assert_eq!(run.success()["displayName"], "Guides");
    scimkit_stdin(
        ["patch", "apply", "--resource", &group, "--patch", "-"],
        "{",
    )
    .rejected("invalidSyntax");
}

#[path = "../support/listening.rs"]
mod listening;
mod serve;
