//! The table test: every case of `tests/fixtures/cases.json`.
//!
//! A case is a stored resource (`resource`, of `resource_type`), a PatchOp body as sent
//! (`patch`), a profile by name, and optionally `members_index`: the ids of the group's members
//! when `members` is not loaded (the engine then works in delta mode). `expect` is either the
//! success (`resource`, `changed`, `changed_attributes`, `members.added`/`members.removed` ids,
//! `normalizers` by name, in the order they fired) or the error (`scimType`, `operation`,
//! and a substring of the message). The expectations come from RFC 7644 §3.5.2 and the
//! identity providers' documentation, not from the engine's output.
//!
//! - `"repeat": true` applies the patch again to the result (with the index updated by the
//!   delta): an idempotent request must then change nothing.
//! - `"known_bug": "reason"` records the correct expectation for behaviour the engine gets
//!   wrong. The case runs but does not fail the test: it is listed on stderr, with whether it
//!   still fails.
//!
//! Every failing case is collected and reported in one assertion.

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::panic::{self, AssertUnwindSafe};

use scimkit_patch::{MemberIndex, Patched, Profile, apply};
use scimkit_schema::{Bound, Registry};
use serde_json::{Map, Value};

/// The keys a case may have; anything else is a typo in the fixture.
const CASE_KEYS: [&str; 10] = [
    "name",
    "source",
    "resource_type",
    "profile",
    "members_index",
    "resource",
    "patch",
    "expect",
    "repeat",
    "known_bug",
];

/// Reads `tests/fixtures/cases.json`: a JSON array of case objects.
fn cases() -> Vec<Value> {
    let path = format!("{}/tests/fixtures/cases.json", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    match serde_json::from_str(&text) {
        Ok(Value::Array(cases)) => cases,
        Ok(_) => panic!("{path}: expected a JSON array of cases"),
        Err(e) => panic!("{path}: {e}"),
    }
}

#[track_caller]
fn str_field<'a>(value: &'a Value, key: &str) -> &'a str {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("malformed case: no string field `{key}`"))
}

#[track_caller]
fn object_field<'a>(value: &'a Value, key: &str) -> &'a Map<String, Value> {
    value
        .get(key)
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("malformed case: no object field `{key}`"))
}

/// A list of strings (ids, attribute names, normalizer names).
#[track_caller]
fn strings(value: &Value, what: &str) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("malformed case: `{what}` is not a list"))
        .iter()
        .map(|v| {
            v.as_str()
                .unwrap_or_else(|| panic!("malformed case: `{what}` holds a non-string"))
                .to_owned()
        })
        .collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn json(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_else(|e| format!("<unprintable: {e}>"))
}

/// Collects the differences found in one case.
#[derive(Debug, Default)]
struct Problems(Vec<String>);

impl Problems {
    /// Records a difference when `expected != actual`.
    fn check<T: PartialEq + Debug + ?Sized>(&mut self, what: &str, expected: &T, actual: &T) {
        if expected != actual {
            self.0.push(format!(
                "{what}:\n      expected: {expected:?}\n      actual:   {actual:?}"
            ));
        }
    }

    /// Records a difference between two JSON values, printed as JSON.
    fn check_json(&mut self, what: &str, expected: &Value, actual: &Value) {
        if expected != actual {
            self.0.push(format!(
                "{what}:\n      expected: {}\n      actual:   {}",
                json(expected),
                json(actual)
            ));
        }
    }

    fn push(&mut self, problem: String) {
        self.0.push(problem);
    }
}

/// The tally of the table: cases run, failures, and known bugs.
#[derive(Debug, Default)]
struct Report {
    total: usize,
    failures: Vec<String>,
    known_bugs: Vec<String>,
}

impl Report {
    /// Runs `check` on one case, catching panics; `label` names the case in the report.
    fn run(&mut self, label: &str, known_bug: Option<&str>, check: impl FnOnce(&mut Problems)) {
        self.total += 1;
        let mut problems = Problems::default();
        if let Err(panic) = panic::catch_unwind(AssertUnwindSafe(|| check(&mut problems))) {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "(non-string panic)".to_owned());
            problems.push(format!("panicked: {msg}"));
        }
        let details = problems
            .0
            .iter()
            .map(|p| format!("\n    {p}"))
            .collect::<String>();
        match known_bug {
            Some(reason) if problems.0.is_empty() => self.known_bugs.push(format!(
                "{label}\n    known bug: {reason}\n    status: NOW PASSES; remove `known_bug`"
            )),
            Some(reason) => self.known_bugs.push(format!(
                "{label}\n    known bug: {reason}\n    status: still fails{details}"
            )),
            None if problems.0.is_empty() => {}
            None => self.failures.push(format!("{label}{details}")),
        }
    }

    /// Prints the known bugs, then fails with every failing case.
    #[track_caller]
    #[allow(
        clippy::print_stderr,
        reason = "known bugs must show in the test output"
    )]
    fn finish(self, table: &str) {
        for bug in &self.known_bugs {
            eprintln!("KNOWN BUG {table}: {bug}");
        }
        eprintln!(
            "{table}: {} cases, {} failed, {} known bugs",
            self.total,
            self.failures.len(),
            self.known_bugs.len()
        );
        assert!(
            self.failures.is_empty(),
            "{table}: {} of {} cases failed:\n\n{}\n",
            self.failures.len(),
            self.total,
            self.failures.join("\n\n")
        );
    }
}

/// Applies `patch` with an optional member index.
fn run(
    bound: &Bound<'_>,
    resource: &Map<String, Value>,
    patch: &Value,
    profile: &Profile,
    index: Option<&BTreeSet<String>>,
) -> Result<Patched, scimkit_patch::PatchError> {
    apply(
        bound,
        resource,
        patch.clone(),
        profile,
        index.map(|i| i as &dyn MemberIndex),
    )
}

/// The member ids of a delta: (added, removed), sorted.
fn delta_ids(patched: &Patched) -> (Vec<String>, Vec<String>) {
    (
        patched.members.added.keys().cloned().collect(),
        patched.members.removed.iter().cloned().collect(),
    )
}

fn check_case(registry: &Registry, case: &Value, problems: &mut Problems) {
    if let Some(obj) = case.as_object() {
        for key in obj.keys() {
            if !CASE_KEYS.contains(&key.as_str()) {
                problems.push(format!("malformed case: unknown key `{key}`"));
            }
        }
    }
    let resource_type = str_field(case, "resource_type");
    let bound = registry
        .bind(resource_type)
        .unwrap_or_else(|| panic!("malformed case: unknown resource type `{resource_type}`"));
    let profile: Profile = str_field(case, "profile")
        .parse()
        .unwrap_or_else(|e| panic!("malformed case: {e}"));
    let resource = object_field(case, "resource").clone();
    let patch = case
        .get("patch")
        .unwrap_or_else(|| panic!("malformed case: no `patch`"));
    let index: Option<BTreeSet<String>> = case
        .get("members_index")
        .map(|ids| strings(ids, "members_index").into_iter().collect());
    if index.is_some() && resource.contains_key("members") {
        problems.push(
            "malformed case: with `members_index` the resource must not hold `members`".to_owned(),
        );
    }
    let expect = object_field(case, "expect");

    let input = resource.clone();
    let result = run(&bound, &resource, patch, &profile, index.as_ref());
    problems.check_json(
        "input resource (must be untouched)",
        &Value::Object(input),
        &Value::Object(resource),
    );

    match (expect.get("error"), result) {
        (Some(expected), Err(err)) => {
            problems.check(
                "error scimType",
                str_field(expected, "scimType"),
                err.scim_type().as_str(),
            );
            let operation = match expected.get("operation") {
                None | Some(Value::Null) => None,
                Some(n) => Some(
                    n.as_u64()
                        .and_then(|n| usize::try_from(n).ok())
                        .unwrap_or_else(|| panic!("malformed case: `operation` {n}")),
                ),
            };
            problems.check("error operation", &operation, &err.operation);
            let detail = str_field(expected, "detail_contains");
            let message = err.to_string();
            if !message.contains(detail) {
                problems.push(format!(
                    "error message:\n      expected to contain: {detail:?}\n      actual: {message:?}"
                ));
            }
        }
        (Some(expected), Ok(patched)) => problems.push(format!(
            "expected error {}, but the patch applied:\n      resource: {}\n      changed: {} {:?}, members: {}, normalizers: {:?}",
            json(expected),
            json(&Value::Object(patched.resource.clone())),
            patched.changed,
            patched.changed_attributes,
            json(&patched.members.to_json()),
            patched.normalizers.iter().map(|n| n.as_str()).collect::<Vec<_>>(),
        )),
        (None, Err(err)) => problems.push(format!(
            "expected success, got error {} (operation {:?}): {err}",
            err.scim_type().as_str(),
            err.operation
        )),
        (None, Ok(patched)) => {
            check_success(expect, &patched, problems);
            if case.get("repeat").and_then(Value::as_bool) == Some(true) {
                check_repeat(&bound, patch, &profile, index, &patched, problems);
            }
        }
    }
}

fn check_success(expect: &Map<String, Value>, patched: &Patched, problems: &mut Problems) {
    let field = |key: &str| {
        expect
            .get(key)
            .unwrap_or_else(|| panic!("malformed case: `expect` has no `{key}`"))
    };
    problems.check_json(
        "resource",
        field("resource"),
        &Value::Object(patched.resource.clone()),
    );
    problems.check(
        "changed",
        &field("changed").as_bool().expect("`changed` is a boolean"),
        &patched.changed,
    );
    problems.check(
        "changed_attributes",
        &strings(field("changed_attributes"), "changed_attributes"),
        &patched.changed_attributes,
    );
    let members = field("members");
    let (added, removed) = delta_ids(patched);
    problems.check(
        "members.added",
        &sorted(strings(&members["added"], "members.added")),
        &added,
    );
    problems.check(
        "members.removed",
        &sorted(strings(&members["removed"], "members.removed")),
        &removed,
    );
    let fired: Vec<String> = patched
        .normalizers
        .iter()
        .map(|n| n.as_str().to_owned())
        .collect();
    problems.check(
        "normalizers",
        &strings(field("normalizers"), "normalizers"),
        &fired,
    );
}

/// Applies the patch again to its own result: nothing may change.
fn check_repeat(
    bound: &Bound<'_>,
    patch: &Value,
    profile: &Profile,
    index: Option<BTreeSet<String>>,
    first: &Patched,
    problems: &mut Problems,
) {
    let index = index.map(|mut ids| {
        for id in &first.members.removed {
            ids.remove(id);
        }
        ids.extend(first.members.added.keys().cloned());
        ids
    });
    match run(bound, &first.resource, patch, profile, index.as_ref()) {
        Ok(again) => {
            problems.check_json(
                "repeat: resource",
                &Value::Object(first.resource.clone()),
                &Value::Object(again.resource.clone()),
            );
            problems.check("repeat: changed", &false, &again.changed);
            problems.check(
                "repeat: changed_attributes",
                &Vec::<String>::new(),
                &again.changed_attributes,
            );
            problems.check(
                "repeat: members (added, removed)",
                &(Vec::new(), Vec::new()),
                &delta_ids(&again),
            );
        }
        Err(err) => problems.push(format!(
            "repeat: expected success, got error {}: {err}",
            err.scim_type().as_str()
        )),
    }
}

#[test]
fn cases_json() {
    let registry = Registry::new();
    let mut report = Report::default();
    let mut names = BTreeSet::new();
    for (n, case) in cases().iter().enumerate() {
        let name = case.get("name").and_then(Value::as_str).unwrap_or("?");
        let source = case.get("source").and_then(Value::as_str).unwrap_or("");
        let label = format!("#{n} {name} ({source})");
        let duplicate = !names.insert(name.to_owned());
        let known_bug = case.get("known_bug").and_then(Value::as_str);
        report.run(&label, known_bug, |problems| {
            if duplicate {
                problems.push(format!("malformed case: duplicate name `{name}`"));
            }
            check_case(&registry, case, problems);
        });
    }
    report.finish("cases.json");
}
