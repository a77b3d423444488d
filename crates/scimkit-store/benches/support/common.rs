//! What the SQLite and PostgreSQL benchmarks share, so their figures compare: the generated
//! users and groups, and the measuring helpers.

// Each bench binary uses its own part of this module.
#![allow(dead_code)]

use std::ops::Range;
use std::time::Duration;

use serde_json::{Map, Value, json};

pub(crate) const TENANT: &str = "acme";
pub(crate) const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub(crate) const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub(crate) const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

// ---------------------------------------------------------------------------------------------
// The users.

pub(crate) const GIVEN: [&str; 16] = [
    "Barbara",
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Susan",
    "Richard",
    "Jessica",
    "Joseph",
];
pub(crate) const FAMILY: [&str; 16] = [
    "Jensen",
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
];
pub(crate) const DEPARTMENTS: [&str; 6] = [
    "Tour Operations",
    "Engineering",
    "Sales",
    "Finance",
    "Support",
    "Legal",
];

pub(crate) fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A UUID-looking id, random-ordered (as ids a server assigns are), unique per `i`.
pub(crate) fn user_id(i: usize) -> String {
    let h = splitmix(i as u64);
    let l = splitmix(h);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xffff,
        l >> 48,
        l & 0xffff_ffff_ffff
    )
}

pub(crate) fn names(i: usize) -> (&'static str, &'static str) {
    (
        GIVEN[i % GIVEN.len()],
        FAMILY[(i / GIVEN.len()) % FAMILY.len()],
    )
}

pub(crate) fn user_name(i: usize) -> String {
    let (given, family) = names(i);
    format!("{given}.{family}{i}@contoso.com")
}

/// The work email: `@example.org` for one user in ten, `@example.com` otherwise.
pub(crate) fn email(i: usize) -> String {
    let (given, family) = names(i);
    let domain = if i % 10 == 3 {
        "example.org"
    } else {
        "example.com"
    };
    format!(
        "{}.{}{i}@{domain}",
        given.to_lowercase(),
        family.to_lowercase()
    )
}

/// Creation time: one user a second from 2026-01-01.
pub(crate) fn when(i: usize) -> String {
    let (day, rest) = (i / 86_400, i % 86_400);
    format!(
        "2026-01-{:02}T{:02}:{:02}:{:02}Z",
        day + 1,
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

pub(crate) fn user(i: usize) -> Map<String, Value> {
    let (given, family) = names(i);
    obj(json!({
        "schemas": [USER, ENTERPRISE],
        "externalId": format!("ext-{i:07}"),
        "userName": user_name(i),
        "name": {"formatted": format!("{given} {family}"), "familyName": family, "givenName": given},
        "displayName": format!("{given} {family}"),
        "title": "Tour Guide",
        "active": true,
        "emails": [{"value": email(i), "type": "work", "primary": true}],
        "phoneNumbers": [{"value": format!("+1 555 {:07}", i % 10_000_000), "type": "work"}],
        ENTERPRISE: {"employeeNumber": format!("{i}"), "department": DEPARTMENTS[i % DEPARTMENTS.len()]}
    }))
}

pub(crate) fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => unreachable!("an object"),
    }
}

pub(crate) fn group(id_range: Range<usize>) -> Map<String, Value> {
    let members: Vec<Value> = id_range
        .clone()
        .map(|i| json!({"value": user_id(i), "type": "User"}))
        .collect();
    obj(json!({
        "schemas": [GROUP],
        "displayName": format!("Group of {}", id_range.len()),
        "members": members,
    }))
}

// ---------------------------------------------------------------------------------------------
// Measuring.

/// A small deterministic generator for picking users.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.0 = splitmix(self.0);
        (self.0 % n as u64) as usize
    }
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// p50 and p99 in ms.
pub(crate) fn percentiles(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let at = |q: usize| ms(times[(times.len() * q / 100).min(times.len() - 1)]);
    (at(50), at(99))
}

pub(crate) fn median(mut times: Vec<Duration>) -> f64 {
    times.sort();
    ms(times[times.len() / 2])
}

pub(crate) fn page_fmt(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.3}")
    } else {
        format!("{ms:.1}")
    }
}

pub(crate) fn pass(ok: bool) -> &'static str {
    if ok { "PASS" } else { "FAIL" }
}

/// Adds `newcomer` to group `gid` and removes it again, `warmup + rounds` times, checking each
/// version; returns the timings of the last `rounds` adds, removes, and add+remove pairs.
pub(crate) async fn member_rounds(
    store: &dyn scimkit_store::Store,
    gid: &str,
    newcomer: &str,
    first_version: u64,
    rounds: usize,
    warmup: usize,
) -> (Vec<Duration>, Vec<Duration>, Vec<Duration>) {
    let ctx = scimkit_store::Ctx::at("2026-02-01T00:00:00Z");
    let mut joining = scimkit_store::Member::new(newcomer);
    joining.kind = Some("User".into());
    let (added, leaving) = ([joining], [newcomer.to_owned()]);
    let mut version = first_version;
    let (mut adds, mut removes, mut boths) = (Vec::new(), Vec::new(), Vec::new());
    for k in 0..rounds + warmup {
        let t = std::time::Instant::now();
        let after_add = store
            .change_members(TENANT, gid, &added, &[], None, &ctx)
            .await
            .expect("add");
        let add = t.elapsed();
        let t = std::time::Instant::now();
        let after_remove = store
            .change_members(TENANT, gid, &[], &leaving, None, &ctx)
            .await
            .expect("remove");
        let remove = t.elapsed();
        assert_eq!(
            (after_add.version, after_remove.version),
            (version + 1, version + 2)
        );
        version += 2;
        if k >= warmup {
            adds.push(add);
            removes.push(remove);
            boths.push(add + remove);
        }
    }
    assert!(
        !store
            .is_member(TENANT, gid, newcomer)
            .await
            .expect("is_member")
    );
    (adds, removes, boths)
}

/// Searches after this many untimed ones.
pub(crate) const LOOKUP_WARMUP: usize = 50;

pub(crate) fn lookup_query(i: usize) -> scimkit_store::Query {
    scimkit_store::Query::filter(&format!(r#"userName eq "{}""#, user_name(i))).expect("filter")
}

/// Latencies of `count` random `userName eq` searches among `users` (after a warm-up).
pub(crate) async fn lookups(
    store: &dyn scimkit_store::Store,
    users: usize,
    count: usize,
    seed: u64,
) -> Vec<Duration> {
    let mut rng = Rng(seed);
    let mut times = Vec::with_capacity(count);
    for k in 0..count + LOOKUP_WARMUP {
        let i = rng.below(users);
        let query = lookup_query(i);
        let t = std::time::Instant::now();
        let page = store.search(TENANT, "User", &query).await.expect("search");
        let dt = t.elapsed();
        assert_eq!(page.total, 1, "user {i}");
        assert_eq!(page.resources[0].id, user_id(i));
        if k >= LOOKUP_WARMUP {
            times.push(dt);
        }
    }
    times
}

/// The users modified after the 101st newest of `users` (100 of them): a filter IdPs send
/// for incremental syncs, answered from the `modified_ms` index.
pub(crate) fn recent_filter(users: usize) -> String {
    format!(r#"meta.lastModified gt "{}""#, when(users - 101))
}

/// Median ms of a page of 100 (after one warm-up run), with the total it reports.
pub(crate) async fn page_ms(
    store: &dyn scimkit_store::Store,
    filter: &str,
    runs: usize,
) -> (f64, usize) {
    let query = scimkit_store::Query::filter(filter)
        .expect("filter")
        .page(1, 100);
    let mut times = Vec::new();
    let mut total = 0;
    for k in 0..=runs {
        let t = std::time::Instant::now();
        let page = store.search(TENANT, "User", &query).await.expect("search");
        if k > 0 {
            times.push(t.elapsed());
        }
        total = page.total;
        assert_eq!(page.resources.len(), total.min(100));
    }
    (median(times), total)
}

/// Creates users `range`, one `create` each; returns the latency of each call.
pub(crate) async fn load(store: &dyn scimkit_store::Store, range: Range<usize>) -> Vec<Duration> {
    let mut times = Vec::with_capacity(range.len());
    for i in range {
        let body = user(i);
        let (id, ctx) = (user_id(i), scimkit_store::Ctx::at(when(i)));
        let t = std::time::Instant::now();
        store
            .create(TENANT, "User", &id, body, &ctx)
            .await
            .expect("create");
        times.push(t.elapsed());
    }
    times
}

/// The final table: a measurement, one value per backend, the target and the result.
pub(crate) struct Table {
    backends: Vec<&'static str>,
    /// `[what, values…, target, result]`.
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(backends: &[&'static str]) -> Self {
        Self {
            backends: backends.to_vec(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, what: &str, values: Vec<String>, target: &str, result: &str) {
        assert_eq!(values.len(), self.backends.len(), "one value per backend");
        let mut row = vec![what.to_owned()];
        row.extend(values);
        row.extend([target.to_owned(), result.to_owned()]);
        self.rows.push(row);
    }

    /// Prints the rows under a header: the measurement and target left-aligned, values
    /// right-aligned.
    pub(crate) fn print(&self) {
        let mut header = vec!["measurement".to_owned()];
        header.extend(self.backends.iter().map(|b| (*b).to_owned()));
        header.extend(["target".to_owned(), "result".to_owned()]);
        let rows: Vec<&Vec<String>> = std::iter::once(&header).chain(&self.rows).collect();
        let last = header.len() - 1;
        let widths: Vec<usize> = (0..last)
            .map(|k| rows.iter().map(|r| r[k].len()).max().unwrap_or(0))
            .collect();
        for r in rows {
            let mut line = String::new();
            for (k, cell) in r.iter().enumerate() {
                if k == last {
                    line.push_str(cell);
                } else if k == 0 || k == last - 1 {
                    line.push_str(&format!("{cell:<w$}  ", w = widths[k]));
                } else {
                    line.push_str(&format!("{cell:>w$}  ", w = widths[k]));
                }
            }
            println!("{}", line.trim_end());
        }
    }
}

/// Prints a progress line at once.
pub(crate) fn say(text: &str) {
    use std::io::Write as _;
    println!("{text}");
    let _ = std::io::stdout().flush();
}
