//! Backend equivalence (issue item 8): for generated directories and generated queries, the
//! SQLite backend returns what the in-memory backend returns — the same `total` and the same
//! page of resources (id, version, created, lastModified, body) in the same order — or both
//! fail with the same status and `scimType`.
//!
//! The in-memory backend is the reference: it narrows candidates by `id` (and, for Users,
//! `userName` and `emails.value`) and evaluates the rest with `scimkit-filter`. SQLite pushes
//! `id`, `userName`, `externalId`, `displayName` and `emails.value` equality (`emails eq`,
//! `emails.value eq`, `emails[value eq …]`), alone or as an operand of a top-level `and`,
//! down to its indexes, then evaluates the filter on the rows the index returns. The
//! generated filters use exactly those forms often, and everything else the evaluator
//! supports around them.
//!
//! - `sqlite_search_equals_memory_search` (proptest, 200 cases; `PROPTEST_CASES` overrides):
//!   a directory of 0–25 users (some `userName`s colliding case-insensitively: both
//!   backends must reject the same creates) and 0–5 groups, later title changes, member
//!   changes and deletions, then 1–9 searches with generated filters, sorting and paging.
//! - `pushed_down_lookups_match_the_evaluator`: every pushed-down form, by hand, with the
//!   expected ids.
//!
//! Two disagreements are known; the main property avoids them (filters are always
//! evaluable, member ids are never repeated) and ignored tests keep their minimal cases:
//! `invalid_filter_errors_do_not_depend_on_the_index` (with its property,
//! `sqlite_search_equals_memory_search_with_invalid_filters`) and
//! `duplicate_members_keep_the_same_value`.

use std::fmt;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::Union;
use scimkit_schema::messages::SortOrder;
use scimkit_schema::{AttrPath, Mode, NormalizeOptions, Registry};
use scimkit_store::{
    Ctx, Member, MemoryStore, Page, PgStore, Query, SqliteStore, Store, StoreError,
};
use serde_json::{Map, Value, json};

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use crate::all_backends;

const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

// Value pools: data and filters draw from the same ones (with case changes), so filters
// match often. Non-ASCII values exercise the case-insensitive paths (`Zoë`, `straße`, the
// Kelvin sign, which lowercases to `k`).
const NAMES: &[&str] = &[
    "alice",
    "Alice",
    "bob",
    "BOB",
    "carol",
    "dave",
    "eve.adams",
    "Zoë",
    "ZOË",
    "straße",
    "STRASSE",
    "kelvin",
    "\u{212A}elvin",
    "frank_1",
];
const TITLES: &[&str] = &[
    "Engineer",
    "engineer",
    "Senior Engineer",
    "Manager",
    "Tour Guide",
    "Größe",
];
const DISPLAY_NAMES: &[&str] = &[
    "Babs Jensen",
    "babs jensen",
    "Admins",
    "ADMINS",
    "Ops",
    "ops team",
    "Zoë Ω",
];
const EXTERNAL_IDS: &[&str] = &["ext-1", "EXT-1", "ext-2", "e-3", "Ext-ß"];
const EMAILS: &[&str] = &[
    "a@example.com",
    "A@Example.COM",
    "b@example.org",
    "zoë@example.com",
    "ops@example.net",
];
const EMAIL_TYPES: &[&str] = &["work", "home", "other"];
const GIVEN_NAMES: &[&str] = &["Barbara", "barbara", "Zoë", "Ann"];
const DEPARTMENTS: &[&str] = &["Sales", "sales", "R&D", "Tour Operations"];
/// Substrings for `co`/`sw`/`ew` and orderings.
const FRAGMENTS: &[&str] = &[
    "a", "A", "e", "ex", "EX", ".com", "example", "ë", "Ë", "ß", "ss", "-1", "ops", "",
];

fn time(second: u8) -> String {
    format!("2026-11-28T12:00:{second:02}Z")
}

fn ctx(second: u8) -> Ctx {
    Ctx::at(time(second)).with_token("tok-eq")
}

fn normalize(rt: &str, body: Value) -> Map<String, Value> {
    Registry::new()
        .normalize(
            Some(rt),
            body.clone(),
            Mode::Create,
            &NormalizeOptions::strict(),
        )
        .unwrap_or_else(|e| panic!("generated an invalid {rt} body {body}: {e}"))
        .1
}

// ---------------------------------------------------------------------------------------
// Directories
// ---------------------------------------------------------------------------------------

/// A generated user, with an optional later replacement.
#[derive(Clone, Debug)]
struct UserSpec {
    body: Map<String, Value>,
    at: u8,
    /// Replaced at this second (10..20) with this title (`None`: none) and, if given,
    /// this one work email instead of its emails.
    retitle: Option<(Option<&'static str>, Option<&'static str>, u8)>,
}

/// Users added (with an optional `display`) and removed, at a second.
type MemberChange = (Vec<(Index, Option<&'static str>)>, Vec<Index>, u8);

/// A generated group: members are users (or earlier groups) picked by index.
#[derive(Clone, Debug)]
struct GroupSpec {
    body: Map<String, Value>,
    members: Vec<(bool, Index, Option<&'static str>)>,
    at: u8,
    /// Members added and removed later, at this second (10..20).
    change: Option<MemberChange>,
}

#[derive(Clone)]
struct Directory {
    users: Vec<UserSpec>,
    groups: Vec<GroupSpec>,
    /// Resources deleted at the end (a group if `true`, else a user), at 12:00:20.
    deleted: Vec<(bool, Index)>,
}

fn user_id(i: usize) -> String {
    format!("u{i:02}")
}

fn group_id(i: usize) -> String {
    format!("g{i:02}")
}

impl Directory {
    /// The members of group `g`, as sent in its body: each id once (see
    /// `duplicate_members_keep_the_same_value`, ignored, for what happens otherwise).
    fn members(&self, g: usize) -> Vec<Value> {
        let mut out = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for (nested, idx, display) in &self.groups[g].members {
            let (id, kind) = match (*nested, self.users.len()) {
                (true, _) if g > 0 => (group_id(idx.index(g)), "Group"),
                (_, 0) => continue,
                (_, n) => (user_id(idx.index(n)), "User"),
            };
            if !seen.insert(id.clone()) {
                continue;
            }
            let mut m = json!({"value": id, "type": kind});
            if let Some(d) = display {
                m["display"] = json!(d);
            }
            out.push(m);
        }
        out
    }

    fn group_body(&self, g: usize) -> Map<String, Value> {
        let mut body = self.groups[g].body.clone();
        let members = self.members(g);
        if !members.is_empty() {
            body.insert("members".into(), Value::Array(members));
        }
        normalize("Group", Value::Object(body))
    }

    /// The later change of group `g`'s members: each added id once (see
    /// `duplicate_members_keep_the_same_value`), none without users.
    fn change(&self, g: usize) -> Option<(Vec<Member>, Vec<String>, u8)> {
        let (added, removed, at) = self.groups[g].change.as_ref()?;
        let n = self.users.len();
        if n == 0 {
            return None;
        }
        let mut seen = std::collections::BTreeSet::new();
        let added = added
            .iter()
            .filter(|(i, _)| seen.insert(i.index(n)))
            .map(|(i, display)| {
                let mut m = Member::new(user_id(i.index(n)));
                m.kind = Some("User".into());
                m.display = display.map(str::to_owned);
                m
            })
            .collect();
        let removed = removed.iter().map(|i| user_id(i.index(n))).collect();
        Some((added, removed, *at))
    }

    /// The resources deleted at the end.
    fn deleted_ids(&self) -> Vec<(&'static str, String)> {
        self.deleted
            .iter()
            .filter_map(
                |(group, i)| match (*group, self.users.len(), self.groups.len()) {
                    (true, _, n @ 1..) => Some(("Group", group_id(i.index(n)))),
                    (false, n @ 1.., _) => Some(("User", user_id(i.index(n)))),
                    _ => None,
                },
            )
            .collect()
    }
}

impl fmt::Debug for Directory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Directory {{")?;
        for (i, u) in self.users.iter().enumerate() {
            write!(
                f,
                "  {} @{}: {}",
                user_id(i),
                time(u.at),
                Value::Object(u.body.clone())
            )?;
            if let Some((title, email, at)) = u.retitle {
                write!(f, "  then title := {title:?}")?;
                if let Some(e) = email {
                    write!(f, ", emails := [{e:?}]")?;
                }
                write!(f, " @{}", time(at))?;
            }
            writeln!(f)?;
        }
        for (i, g) in self.groups.iter().enumerate() {
            write!(
                f,
                "  {} @{}: {}",
                group_id(i),
                time(g.at),
                Value::Object(self.group_body(i))
            )?;
            if let Some((added, removed, at)) = self.change(i) {
                let added: Vec<_> = added.iter().map(|m| (&m.value, &m.display)).collect();
                write!(f, "  then +{added:?} -{removed:?} @{}", time(at))?;
            }
            writeln!(f)?;
        }
        for (rt, id) in self.deleted_ids() {
            writeln!(f, "  delete {rt} {id} @{}", time(20))?;
        }
        write!(f, "}}")
    }
}

/// A pool value, as is, lowercased or uppercased.
fn cased(pool: &'static [&'static str]) -> impl Strategy<Value = String> + Clone {
    (prop::sample::select(pool), 0..3u8).prop_map(|(s, c)| match c {
        0 => s.to_owned(),
        1 => s.to_lowercase(),
        _ => s.to_uppercase(),
    })
}

fn opt<T: Strategy>(s: T) -> impl Strategy<Value = Option<T::Value>> {
    prop::option::weighted(0.6, s)
}

fn user_spec() -> impl Strategy<Value = UserSpec> {
    let emails = prop::collection::vec(
        (
            prop::sample::select(EMAILS),
            opt(prop::sample::select(EMAIL_TYPES)),
        ),
        0..3,
    );
    (
        (
            cased(NAMES),
            opt(prop::sample::select(TITLES)),
            opt(prop::sample::select(DISPLAY_NAMES)),
            opt(prop::sample::select(EXTERNAL_IDS)),
            opt(any::<bool>()),
        ),
        (
            emails,
            opt(any::<Index>()),
            opt(prop::sample::select(GIVEN_NAMES)),
            opt(prop::sample::select(DEPARTMENTS)),
        ),
        0..10u8,
        prop::option::weighted(
            0.25,
            (
                opt(prop::sample::select(TITLES)),
                opt(prop::sample::select(EMAILS)),
                10..20u8,
            ),
        ),
    )
        .prop_map(
            |(
                (user_name, title, display, external, active),
                (emails, primary, given, dept),
                at,
                retitle,
            )| {
                let mut b = json!({"schemas": [USER], "userName": user_name});
                if let Some(v) = title {
                    b["title"] = json!(v);
                }
                if let Some(v) = display {
                    b["displayName"] = json!(v);
                }
                if let Some(v) = external {
                    b["externalId"] = json!(v);
                }
                if let Some(v) = active {
                    b["active"] = json!(v);
                }
                if !emails.is_empty() {
                    let primary = primary.map(|p| p.index(emails.len()));
                    let list: Vec<Value> = emails
                        .iter()
                        .enumerate()
                        .map(|(i, (value, kind))| {
                            let mut e = json!({"value": value});
                            if let Some(k) = kind {
                                e["type"] = json!(k);
                            }
                            if primary == Some(i) {
                                e["primary"] = json!(true);
                            }
                            e
                        })
                        .collect();
                    b["emails"] = Value::Array(list);
                }
                if let Some(v) = given {
                    b["name"] = json!({"givenName": v});
                }
                if let Some(v) = dept {
                    b["schemas"] = json!([USER, ENTERPRISE]);
                    b[ENTERPRISE] = json!({"department": v});
                }
                UserSpec {
                    body: normalize("User", b),
                    at,
                    retitle,
                }
            },
        )
}

fn group_spec() -> impl Strategy<Value = GroupSpec> {
    let member = (
        prop::bool::weighted(0.15),
        any::<Index>(),
        opt(prop::sample::select(NAMES)),
    );
    (
        prop::sample::select(DISPLAY_NAMES),
        opt(prop::sample::select(EXTERNAL_IDS)),
        prop::collection::vec(member, 0..6),
        0..10u8,
        prop::option::weighted(
            0.3,
            (
                prop::collection::vec((any::<Index>(), opt(prop::sample::select(NAMES))), 0..3),
                prop::collection::vec(any::<Index>(), 0..3),
                10..20u8,
            ),
        ),
    )
        .prop_map(|(display, external, members, at, change)| {
            let mut b = json!({"schemas": [GROUP], "displayName": display});
            if let Some(v) = external {
                b["externalId"] = json!(v);
            }
            GroupSpec {
                body: normalize("Group", b),
                members,
                at,
                change,
            }
        })
}

fn directory() -> impl Strategy<Value = Directory> {
    (
        prop::collection::vec(user_spec(), 0..=25),
        prop::collection::vec(group_spec(), 0..=5),
        prop::collection::vec((prop::bool::weighted(0.3), any::<Index>()), 0..3),
    )
        .prop_map(|(users, groups, deleted)| Directory {
            users,
            groups,
            deleted,
        })
}

/// The backend compared with the in-memory reference.
#[derive(Clone, Copy, Debug)]
enum Backend {
    /// A fresh in-memory SQLite database per case.
    Sqlite,
    /// One PostgreSQL schema shared by every case of the test binary, a fresh tenant per
    /// case (tenants are isolated, so cases cannot see each other). `None` from [`load`]
    /// when PostgreSQL is not configured (never under CI, see [`crate::postgres`]).
    Postgres,
}

/// The two stores under comparison and the tenant the case writes to.
struct Pair {
    memory: MemoryStore,
    other: Arc<dyn Store>,
    name: &'static str,
    tenant: String,
}

/// The PostgreSQL store shared by the equivalence tests, created on [`RT`] so that its
/// connections outlive each case. Its schema is left for `.ci/run` to drop (statics are not
/// dropped).
static PG: tokio::sync::OnceCell<Option<(Arc<PgStore>, crate::PgSchema)>> =
    tokio::sync::OnceCell::const_new();

/// The runtime every case runs on: multi-threaded, so PostgreSQL connection tasks keep
/// running between cases and several test threads can `block_on` it at once.
static RT: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
});

/// A fresh pair for one case, or `None` when `backend` is not available here.
async fn pair(backend: Backend) -> Option<Pair> {
    static CASE: AtomicUsize = AtomicUsize::new(0);
    let memory = MemoryStore::new(Registry::new());
    match backend {
        Backend::Sqlite => Some(Pair {
            memory,
            other: Arc::new(SqliteStore::open_in_memory(Registry::new()).expect("sqlite opens")),
            name: "sqlite",
            tenant: "t".to_owned(),
        }),
        Backend::Postgres => {
            let pg = PG
                .get_or_init(|| async { crate::postgres().await.map(|(s, g)| (Arc::new(s), g)) })
                .await
                .as_ref()?;
            let n = CASE.fetch_add(1, Ordering::Relaxed);
            Some(Pair {
                memory,
                other: Arc::clone(&pg.0) as Arc<dyn Store>,
                name: "postgres",
                tenant: format!("case{n}"),
            })
        }
    }
}

fn kind(e: &StoreError) -> (u16, Option<&'static str>) {
    (e.status(), e.scim_type().map(|t| t.as_str()))
}

/// Loads `dir` into both stores, checking that every write has the same outcome; `None`
/// when `backend` is not available here.
async fn load(dir: &Directory, backend: Backend) -> Result<Option<Pair>, TestCaseError> {
    let Some(pair) = pair(backend).await else {
        return Ok(None);
    };
    let (m, s, t) = (&pair.memory, &*pair.other, pair.tenant.as_str());
    for (i, u) in dir.users.iter().enumerate() {
        let id = user_id(i);
        let a = m.create(t, "User", &id, u.body.clone(), &ctx(u.at)).await;
        let b = s.create(t, "User", &id, u.body.clone(), &ctx(u.at)).await;
        match (&a, &b) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b, "create {} differs", id),
            (Err(x), Err(y)) => {
                // Colliding userNames are skipped; nothing else may fail.
                prop_assert!(
                    matches!(x, StoreError::Uniqueness { .. })
                        && matches!(y, StoreError::Uniqueness { .. }),
                    "create {}: memory {}, {} {}",
                    id,
                    x,
                    pair.name,
                    y
                );
            }
            _ => prop_assert!(
                false,
                "create {} succeeded on one backend only: memory {:?}, {} {:?}",
                id,
                a.as_ref().map(|_| ()),
                pair.name,
                b.as_ref().map(|_| ())
            ),
        }
    }
    for g in 0..dir.groups.len() {
        let id = group_id(g);
        let body = dir.group_body(g);
        let at = ctx(dir.groups[g].at);
        let a = m.create(t, "Group", &id, body.clone(), &at).await;
        let b = s.create(t, "Group", &id, body, &at).await;
        prop_assert_eq!(
            a.map_err(|e| e.to_string()),
            b.map_err(|e| e.to_string()),
            "create {}",
            id
        );
    }
    // Later changes: versions above 1 and lastModified after created.
    for (i, u) in dir.users.iter().enumerate() {
        let Some((title, email, at)) = u.retitle else {
            continue;
        };
        let mut body = u.body.clone();
        match title {
            Some(t) => body.insert("title".into(), json!(t)),
            None => body.remove("title"),
        };
        if let Some(e) = email {
            body.insert("emails".into(), json!([{"value": e, "type": "work"}]));
        }
        let id = user_id(i);
        let a = m
            .replace(t, "User", &id, body.clone(), None, &ctx(at))
            .await;
        let b = s.replace(t, "User", &id, body, None, &ctx(at)).await;
        match (&a, &b) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b, "replace {}", id),
            (Err(x), Err(y)) => prop_assert_eq!(kind(x), kind(y), "replace {}", id),
            _ => prop_assert!(false, "replace {}: {:?} vs {:?}", id, a, b),
        }
    }
    for g in 0..dir.groups.len() {
        let Some((added, removed, at)) = dir.change(g) else {
            continue;
        };
        let id = group_id(g);
        let a = m
            .change_members(t, &id, &added, &removed, None, &ctx(at))
            .await;
        let b = s
            .change_members(t, &id, &added, &removed, None, &ctx(at))
            .await;
        prop_assert_eq!(
            a.map(|s| (s.version, s.last_modified))
                .map_err(|e| kind(&e)),
            b.map(|s| (s.version, s.last_modified))
                .map_err(|e| kind(&e)),
            "change_members {}",
            id
        );
    }
    for (rt, id) in dir.deleted_ids() {
        let a = m.delete(t, rt, &id, None, &ctx(20)).await;
        let b = s.delete(t, rt, &id, None, &ctx(20)).await;
        prop_assert_eq!(
            a.map_err(|e| kind(&e)),
            b.map_err(|e| kind(&e)),
            "delete {} {}",
            rt,
            id
        );
    }
    Ok(Some(pair))
}

// ---------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------

fn quote(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

fn string_ops() -> impl Strategy<Value = &'static str> + Clone {
    prop::sample::select(&["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"][..])
}

fn value_of(pool: &'static [&'static str]) -> BoxedStrategy<String> {
    prop_oneof![3 => cased(pool), 1 => cased(FRAGMENTS)].boxed()
}

/// `attr eq "…"`: the form SQLite pushes down for `id`, `userName`, `externalId`,
/// `displayName`, `emails.value`.
fn eq_leaf(attr: &'static str, pool: &'static [&'static str]) -> BoxedStrategy<String> {
    cased(pool)
        .prop_map(move |v| format!("{attr} eq {}", quote(&v)))
        .boxed()
}

/// Any comparison on a string attribute, `pr`, `eq null`, `ne null`.
fn text_leaf(attr: &'static str, pool: &'static [&'static str]) -> BoxedStrategy<String> {
    prop_oneof![
        6 => (string_ops(), value_of(pool)).prop_map(move |(op, v)| format!("{attr} {op} {}", quote(&v))),
        1 => Just(format!("{attr} pr")),
        1 => Just(format!("{attr} eq null")),
        1 => Just(format!("{attr} ne null")),
    ]
    .boxed()
}

/// `id eq "…"` and other comparisons on ids, existing or not.
fn id_leaf(prefix: &'static str, n: usize) -> BoxedStrategy<String> {
    prop_oneof![
        4 => (0..n).prop_map(move |i| format!("id eq \"{prefix}{i:02}\"")),
        1 => (0..n).prop_map(move |i| format!("id eq \"{}{i:02}\"", prefix.to_uppercase())),
        1 => (string_ops(), 0..n).prop_map(move |(op, i)| format!("id {op} \"{prefix}{i}\"")),
    ]
    .boxed()
}

fn time_leaf(attr: &'static str) -> BoxedStrategy<String> {
    let ops = prop::sample::select(&["eq", "ne", "gt", "ge", "lt", "le"][..]);
    prop_oneof![
        4 => (ops.clone(), 0..21u8).prop_map(move |(op, s)| format!("{attr} {op} {}", quote(&time(s)))),
        // The same instants with a fraction and another offset (the SQL condition on
        // milliseconds is widened, the evaluator decides).
        1 => (ops, 0..21u8, prop::sample::select(&["", ".5", ".001", ".9999999"][..]))
            .prop_map(move |(op, s, frac)| format!("{attr} {op} \"2026-11-28T13:00:{s:02}{frac}+01:00\"")),
        1 => (0..3u8).prop_map(move |s| format!("{attr} sw \"2026-11-28T12:00:{s}\"")),
        1 => Just(format!("{attr} pr")),
    ]
    .boxed()
}

fn union(arms: Vec<(u32, BoxedStrategy<String>)>) -> BoxedStrategy<String> {
    Union::new_weighted(arms).boxed()
}

/// Filters SQLite answers from an index (alone, or as an operand of an `and`).
fn user_pushdown() -> BoxedStrategy<String> {
    union(vec![
        (4, eq_leaf("userName", NAMES)),
        (
            1,
            eq_leaf("urn:ietf:params:scim:schemas:core:2.0:User:userName", NAMES),
        ),
        (1, eq_leaf("USERNAME", NAMES)),
        (3, eq_leaf("externalId", EXTERNAL_IDS)),
        (3, id_leaf("u", 26)),
        (3, eq_leaf("displayName", DISPLAY_NAMES)),
        (2, eq_leaf("emails.value", EMAILS)),
        (1, eq_leaf("emails", EMAILS)),
        // Every operator on the indexed columns: these conditions may answer the filter
        // exactly, without evaluating the rows.
        (2, text_leaf("userName", NAMES)),
        (2, text_leaf("externalId", EXTERNAL_IDS)),
        (2, text_leaf("displayName", DISPLAY_NAMES)),
        (2, text_leaf("emails.value", EMAILS)),
        (
            2,
            cased(EMAILS)
                .prop_flat_map(|v| {
                    let v = quote(&v);
                    prop_oneof![
                        Just(format!("emails[value eq {v}]")),
                        Just(format!("emails[type eq \"work\" and value eq {v}]")),
                        Just(format!("emails[value eq {v} and primary eq true]")),
                    ]
                })
                .boxed(),
        ),
    ])
}

fn group_pushdown() -> BoxedStrategy<String> {
    union(vec![
        (4, eq_leaf("displayName", DISPLAY_NAMES)),
        (
            1,
            eq_leaf(
                "urn:ietf:params:scim:schemas:core:2.0:Group:displayName",
                DISPLAY_NAMES,
            ),
        ),
        (3, eq_leaf("externalId", EXTERNAL_IDS)),
        (3, id_leaf("g", 6)),
        // Not an attribute of Group: SQLite still looks it up (no rows), memory scans.
        (1, eq_leaf("userName", NAMES)),
        (1, eq_leaf("emails.value", EMAILS)),
        (2, text_leaf("displayName", DISPLAY_NAMES)),
        (2, text_leaf("externalId", EXTERNAL_IDS)),
    ])
}

/// Filters that parse but cannot be evaluated (`invalidFilter`) — on the resources the
/// evaluator reaches.
const INVALID_USER: &[&str] = &[
    "active gt true",
    "title eq true",
    "meta.lastModified gt \"soon\"",
    "name eq \"Barbara\"",
    "userName gt 5",
    "emails[type gt true]",
];
const INVALID_GROUP: &[&str] = &[
    "displayName eq true",
    "meta.lastModified lt \"later\"",
    "members eq 5",
];

fn user_leaf(invalid: u32) -> BoxedStrategy<String> {
    let dept = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department";
    let mut arms = vec![
        (6, user_pushdown()),
        (3, text_leaf("userName", NAMES)),
        (3, text_leaf("title", TITLES)),
        (2, text_leaf("externalId", EXTERNAL_IDS)),
        (2, text_leaf("displayName", DISPLAY_NAMES)),
        (2, text_leaf("name.givenName", GIVEN_NAMES)),
        (2, text_leaf("emails.value", EMAILS)),
        (1, text_leaf("emails", EMAILS)),
        (2, text_leaf(dept, DEPARTMENTS)),
        (1, eq_leaf("department", DEPARTMENTS)),
        (2, time_leaf("meta.lastModified")),
        (1, time_leaf("meta.created")),
        (
            2,
            prop_oneof![
                Just("active eq true".to_owned()),
                Just("active eq false".to_owned()),
                Just("active ne true".to_owned()),
                Just("active pr".to_owned()),
            ]
            .boxed(),
        ),
        (
            3,
            prop_oneof![
                Just("emails[type eq \"work\"]".to_owned()),
                prop::sample::select(EMAIL_TYPES).prop_map(|t| format!("emails.type eq \"{t}\"")),
                value_of(EMAILS)
                    .prop_map(|v| format!("emails[type eq \"work\" and value co {}]", quote(&v))),
                Just("emails[value ew \".com\"]".to_owned()),
                (
                    prop::sample::select(&["gt", "ge", "lt", "le"][..]),
                    value_of(EMAILS)
                )
                    .prop_map(|(op, v)| format!("emails[value {op} {}]", quote(&v))),
                Just("emails[primary eq true]".to_owned()),
                Just("emails pr".to_owned()),
            ]
            .boxed(),
        ),
        // Unknown on User: matches nothing (and makes the backends assemble groups).
        (1, Just("members[value eq \"u01\"]".to_owned()).boxed()),
        (1, Just("nickName eq \"bob\"".to_owned()).boxed()),
    ];
    if invalid > 0 {
        arms.push((
            invalid,
            prop::sample::select(INVALID_USER)
                .prop_map(str::to_owned)
                .boxed(),
        ));
    }
    union(arms)
}

fn group_leaf(invalid: u32) -> BoxedStrategy<String> {
    let member_id = prop_oneof![
        3 => (0..26usize).prop_map(user_id),
        1 => (0..6usize).prop_map(group_id),
    ];
    let mut arms = vec![
        (6, group_pushdown()),
        (3, text_leaf("displayName", DISPLAY_NAMES)),
        (2, text_leaf("externalId", EXTERNAL_IDS)),
        (2, time_leaf("meta.lastModified")),
        (
            5,
            member_id
                .prop_flat_map(|id| {
                    prop_oneof![
                        Just(format!("members[value eq \"{id}\"]")),
                        Just(format!("members eq \"{id}\"")),
                        Just(format!("members.value eq \"{id}\"")),
                        Just(format!("members[value eq \"{id}\" and type eq \"User\"]")),
                    ]
                })
                .boxed(),
        ),
        (
            2,
            prop_oneof![
                Just("members[type eq \"User\"]".to_owned()),
                Just("members[type eq \"Group\"]".to_owned()),
                Just("members pr".to_owned()),
                value_of(NAMES).prop_map(|v| format!("members.display co {}", quote(&v))),
            ]
            .boxed(),
        ),
    ];
    if invalid > 0 {
        arms.push((
            invalid,
            prop::sample::select(INVALID_GROUP)
                .prop_map(str::to_owned)
                .boxed(),
        ));
    }
    union(arms)
}

/// `a and b` binds tighter than `or`: parenthesize an `or` that becomes an operand.
fn operand(f: String) -> String {
    if f.contains(" or ") {
        format!("({f})")
    } else {
        f
    }
}

fn combine(leaf: BoxedStrategy<String>) -> BoxedStrategy<String> {
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            3 => prop::collection::vec(inner.clone(), 2..4)
                .prop_map(|v| v.into_iter().map(operand).collect::<Vec<_>>().join(" and ")),
            3 => prop::collection::vec(inner.clone(), 2..4).prop_map(|v| v.join(" or ")),
            2 => inner.clone().prop_map(|f| format!("not ({f})")),
            1 => inner.prop_map(|f| format!("({f})")),
        ]
    })
    .boxed()
}

/// A filter for `rt`, with pushed-down forms alone, first or last in an `and`, and
/// anywhere else. `invalid` weighs the filters that cannot be evaluated.
fn filter(rt: &'static str, invalid: u32) -> BoxedStrategy<String> {
    let (leaf, pushdown) = if rt == "User" {
        (user_leaf(invalid), user_pushdown())
    } else {
        (group_leaf(invalid), group_pushdown())
    };
    let any = combine(leaf);
    prop_oneof![
        4 => any.clone(),
        2 => pushdown.clone(),
        3 => (pushdown.clone(), any.clone()).prop_map(|(p, f)| format!("{p} and {}", operand(f))),
        2 => (any, pushdown).prop_map(|(f, p)| format!("{} and {p}", operand(f))),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------------------
// Searches
// ---------------------------------------------------------------------------------------

#[derive(Clone)]
struct Search {
    rt: &'static str,
    filter: Option<String>,
    sort: Option<(&'static str, SortOrder)>,
    start_index: usize,
    count: Option<usize>,
    /// Walk every page with cursors (RFC 9865) instead of one `startIndex` page.
    cursor: bool,
}

impl fmt::Debug for Search {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GET /{}s?", self.rt)?;
        if let Some(filter) = &self.filter {
            write!(f, "filter={filter}&")?;
        }
        if let Some((by, order)) = self.sort {
            write!(f, "sortBy={by}&sortOrder={order:?}&")?;
        }
        if self.cursor {
            write!(f, "cursor")?;
        } else {
            write!(f, "startIndex={}", self.start_index)?;
        }
        if let Some(c) = self.count {
            write!(f, "&count={c}")?;
        }
        Ok(())
    }
}

impl Search {
    fn query(&self) -> Query {
        let mut q = match &self.filter {
            Some(f) => Query::filter(f).unwrap_or_else(|e| panic!("generated {f:?}: {e}")),
            None => Query::all(),
        };
        if let Some((by, order)) = self.sort {
            q = q.sorted(AttrPath::parse(by).expect("sortBy parses"), order);
        }
        q.start_index = self.start_index;
        q.count = self.count;
        q
    }
}

fn search(invalid: u32) -> impl Strategy<Value = Search> {
    let order = prop_oneof![Just(SortOrder::Ascending), Just(SortOrder::Descending)];
    let user_sort = prop::sample::select(
        &[
            "userName",
            "title",
            "emails.value",
            "meta.lastModified",
            "externalId",
        ][..],
    );
    let group_sort = prop::sample::select(
        &[
            "displayName",
            "externalId",
            "meta.lastModified",
            "members.value",
        ][..],
    );
    let user = (
        Just("User"),
        prop::option::weighted(0.85, filter("User", invalid)),
        prop::option::weighted(0.5, (user_sort, order.clone())),
    );
    let group = (
        Just("Group"),
        prop::option::weighted(0.85, filter("Group", invalid)),
        prop::option::weighted(0.5, (group_sort, order)),
    );
    (
        prop_oneof![3 => user, 1 => group],
        prop_oneof![2 => 0..2usize, 1 => 0..8usize],
        prop::option::weighted(0.6, 0..8usize),
        prop::bool::weighted(0.25),
    )
        .prop_map(|((rt, filter, sort), start_index, count, cursor)| Search {
            rt,
            filter,
            sort,
            start_index,
            count,
            cursor,
        })
}

/// What a page shows of each resource, in order.
type Row = (String, u64, String, String, Map<String, Value>);

fn rows(page: &Page) -> Vec<Row> {
    page.resources
        .iter()
        .map(|r| {
            (
                r.id.clone(),
                r.version,
                r.created.clone(),
                r.last_modified.clone(),
                r.body.clone(),
            )
        })
        .collect()
}

fn show(r: &Result<Page, StoreError>) -> String {
    match r {
        Ok(p) => {
            let ids: Vec<String> = p
                .resources
                .iter()
                .map(|s| format!("{}@v{}", s.id, s.version))
                .collect();
            format!("Ok(total {}, {ids:?}, next {:?})", p.total, p.next_cursor)
        }
        Err(e) => format!("Err({:?}: {e})", kind(e)),
    }
}

/// Runs `s` on both stores; `Err` describes a disagreement. With `cursor`, every page is
/// compared, and so is each page's next cursor, which the next page is read after.
async fn compare(pair: &Pair, s: &Search) -> Result<(), String> {
    let mut q = s.query();
    if !s.cursor {
        return compare_page(pair, s, &q).await.map(|_| ());
    }
    q.cursor = Some(String::new());
    // Every page holds at least one resource, so a walk ends after at most as many pages as
    // there are resources (the directories are small).
    for _ in 0..200 {
        match compare_page(pair, s, &q).await? {
            Some(next) => q.cursor = Some(next),
            None => return Ok(()),
        }
    }
    Err(format!("{s:?}: the cursor walk did not end"))
}

/// Runs one page of `s` on both stores: the next cursor they agree on, if any.
async fn compare_page(pair: &Pair, s: &Search, q: &Query) -> Result<Option<String>, String> {
    let a = pair.memory.search(&pair.tenant, s.rt, q).await;
    let b = pair.other.search(&pair.tenant, s.rt, q).await;
    let same = match (&a, &b) {
        (Ok(x), Ok(y)) => {
            x.total == y.total && rows(x) == rows(y) && x.next_cursor == y.next_cursor
        }
        (Err(x), Err(y)) => kind(x) == kind(y),
        _ => false,
    };
    if same {
        return Ok(a.ok().and_then(|p| p.next_cursor));
    }
    let name = pair.name;
    let mut msg = format!(
        "{s:?} (cursor {:?})\n  memory: {}\n  {name}: {}",
        q.cursor,
        show(&a),
        show(&b)
    );
    if let (Ok(x), Ok(y)) = (&a, &b) {
        let (x, y) = (rows(x), rows(y));
        if let Some((rx, ry)) = x.iter().zip(&y).find(|(rx, ry)| rx != ry) {
            msg += &format!("\n  first difference:\n    memory {rx:?}\n    {name} {ry:?}");
        }
    }
    Err(msg)
}

async fn check(
    dir: &Directory,
    searches: &[Search],
    backend: Backend,
) -> Result<(), TestCaseError> {
    let Some(pair) = load(dir, backend).await? else {
        return Ok(());
    };
    for s in searches {
        if let Err(msg) = compare(&pair, s).await {
            return Err(TestCaseError::fail(msg));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(200),
        // No proptest-regressions files: a failure prints its minimal case.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Valid filters (every one can be evaluated on every resource): the backends agree on
    /// totals, order, ids, versions, timestamps and bodies.
    #[test]
    fn sqlite_search_equals_memory_search(
        dir in directory(),
        searches in prop::collection::vec(search(0), 1..10),
    ) {
        RT.block_on(check(&dir, &searches, Backend::Sqlite))?;
    }

    /// The same against PostgreSQL (a fresh tenant per case in one schema).
    #[test]
    fn postgres_search_equals_memory_search(
        dir in directory(),
        searches in prop::collection::vec(search(0), 1..10),
    ) {
        RT.block_on(check(&dir, &searches, Backend::Postgres))?;
    }

    /// The same with filters that parse but cannot be evaluated on some resources
    /// (`active gt true`, `displayName eq true`, …): both backends should fail alike.
    #[test]
    fn sqlite_search_equals_memory_search_with_invalid_filters(
        dir in directory(),
        searches in prop::collection::vec(search(3), 1..10),
    ) {
        RT.block_on(check(&dir, &searches, Backend::Sqlite))?;
    }

    /// Invalid filters against PostgreSQL.
    #[test]
    fn postgres_search_equals_memory_search_with_invalid_filters(
        dir in directory(),
        searches in prop::collection::vec(search(3), 1..10),
    ) {
        RT.block_on(check(&dir, &searches, Backend::Postgres))?;
    }
}

// ---------------------------------------------------------------------------------------
// Known disagreements (minimal cases), ignored until src/ is fixed
// ---------------------------------------------------------------------------------------

/// Runs each (resource type, filter) on both stores and lists where they disagree.
async fn disagreements(pair: &Pair, cases: &[(&'static str, &str)]) -> Vec<String> {
    let mut out = Vec::new();
    for (rt, filter) in cases {
        let s = Search {
            rt,
            filter: Some((*filter).to_owned()),
            sort: None,
            start_index: 1,
            count: None,
            cursor: false,
        };
        if let Err(msg) = compare(pair, &s).await {
            out.push(msg);
        }
    }
    out
}

/// An `invalidFilter` error depends on which resources the evaluator reaches. SQLite
/// narrows the candidates with `externalId eq` and `displayName eq` (and, on Groups, with
/// `userName eq` and `emails.value eq`); memory does not and evaluates every resource. So
/// with one user `{"userName": "alice"}` and one group `{"displayName": "Admins"}`, each
/// filter below is 400 `invalidFilter` on memory and 200 with no results on SQLite.
#[test]
fn invalid_filter_errors_do_not_depend_on_the_index() {
    RT.block_on(async {
        let dir = Directory {
            users: vec![UserSpec {
                body: normalize("User", json!({"schemas": [USER], "userName": "alice"})),
                at: 0,
                retitle: None,
            }],
            groups: vec![GroupSpec {
                body: normalize(
                    "Group",
                    json!({"schemas": [GROUP], "displayName": "Admins"}),
                ),
                members: Vec::new(),
                at: 1,
                change: None,
            }],
            deleted: Vec::new(),
        };
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let Some(pair) = load(&dir, backend).await.unwrap() else {
                continue;
            };
            let found = disagreements(
                &pair,
                &[
                    ("User", r#"title eq true and externalId eq "x""#),
                    ("User", r#"title eq true and displayName eq "x""#),
                    ("Group", r#"displayName eq true and externalId eq "x""#),
                    ("Group", r#"displayName eq true and displayName eq "x""#),
                    ("Group", r#"displayName eq true and userName eq "x""#),
                    ("Group", r#"displayName eq true and emails.value eq "x""#),
                ],
            )
            .await;
            assert!(found.is_empty(), "{}", found.join("\n"));
        }
    });
}

/// A member id listed twice with different `display` (or `type`): memory keeps the last
/// (its member map is overwritten), SQLite the first (`INSERT OR IGNORE`, and
/// `change_members` drops later duplicates). Reads that assemble `members` then differ.
#[test]
fn duplicate_members_keep_the_same_value() {
    RT.block_on(async {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            duplicate_members_case(backend).await;
        }
    });
}

async fn duplicate_members_case(backend: Backend) {
    {
        let empty_dir = Directory {
            users: Vec::new(),
            groups: Vec::new(),
            deleted: Vec::new(),
        };
        let Some(pair) = load(&empty_dir, backend).await.unwrap() else {
            return;
        };
        let t = pair.tenant.as_str();
        let body = normalize(
            "Group",
            json!({"schemas": [GROUP], "displayName": "Admins", "members": [
                {"value": "u00", "type": "User"},
                {"value": "u00", "type": "User", "display": "alice"},
            ]}),
        );
        let empty = normalize("Group", json!({"schemas": [GROUP], "displayName": "Ops"}));
        let mut twice = vec![Member::new("u00"), Member::new("u00")];
        twice[1].display = Some("alice".into());
        for store in [&pair.memory as &dyn Store, &*pair.other] {
            store
                .create(t, "Group", "g00", body.clone(), &ctx(0))
                .await
                .unwrap();
            store
                .create(t, "Group", "g01", empty.clone(), &ctx(1))
                .await
                .unwrap();
            store
                .change_members(t, "g01", &twice, &[], None, &ctx(2))
                .await
                .unwrap();
        }
        let found = disagreements(&pair, &[("Group", r#"members[value eq "u00"]"#)]).await;
        assert!(found.is_empty(), "{}", found.join("\n"));
    }
}

// ---------------------------------------------------------------------------------------
// Pushed-down lookups, by hand
// ---------------------------------------------------------------------------------------

/// Every pushed-down lookup, alone and inside an `and`, against a directory built by hand:
/// each backend returns the expected ids, and the backends return the same pages.
#[test]
fn pushed_down_lookups_match_the_evaluator() {
    let users = [
        json!({"schemas": [USER], "userName": "bjensen", "displayName": "Babs Jensen", "externalId": "ext-1",
               "title": "Tour Guide", "active": true, "emails": [{"value": "bjensen@example.com", "type": "work"}]}),
        json!({"schemas": [USER], "userName": "Zoë", "displayName": "ZOË Ω", "externalId": "EXT-1", "active": false,
               "emails": [{"value": "zoë@example.com", "type": "home"}, {"value": "BJensen@Example.com", "type": "other"}]}),
        json!({"schemas": [USER], "userName": "\u{212A}elvin", "displayName": "babs jensen", "externalId": "ext-3", "active": true}),
        json!({"schemas": [USER], "userName": "jsmith"}),
    ];
    let groups = [
        json!({"schemas": [GROUP], "displayName": "Admins", "externalId": "grp-1",
               "members": [{"value": "u1", "type": "User"}, {"value": "u2", "type": "User"}]}),
        json!({"schemas": [GROUP], "displayName": "admins", "members": [{"value": "u3", "type": "User"}]}),
        json!({"schemas": [GROUP], "displayName": "Ops", "externalId": "GRP-1", "members": [{"value": "g1", "type": "Group"}]}),
    ];
    let cases: &[(&str, &str, &[&str])] = &[
        // userName: case-insensitive, Unicode lowercase (the Kelvin sign is a `k`).
        ("User", r#"userName eq "BJENSEN""#, &["u1"]),
        ("User", r#"userName eq "ZOË""#, &["u2"]),
        ("User", r#"userName eq "kelvin""#, &["u3"]),
        ("User", r#"userName eq "nobody""#, &[]),
        (
            "User",
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "JSmith""#,
            &["u4"],
        ),
        // externalId: case-exact.
        ("User", r#"externalId eq "ext-1""#, &["u1"]),
        ("User", r#"externalId eq "EXT-1""#, &["u2"]),
        ("User", r#"externalId eq "Ext-1""#, &[]),
        // id: case-exact, per resource type.
        ("User", r#"id eq "u3""#, &["u3"]),
        ("User", r#"id eq "U3""#, &[]),
        ("User", r#"id eq "g1""#, &[]),
        // displayName: case-insensitive, on Users too.
        ("User", r#"displayName eq "BABS JENSEN""#, &["u1", "u3"]),
        ("User", r#"displayName eq "zoë ω""#, &["u2"]),
        // emails.value: case-insensitive, any of the values; three spellings.
        (
            "User",
            r#"emails.value eq "BJENSEN@example.com""#,
            &["u1", "u2"],
        ),
        ("User", r#"emails eq "ZOË@EXAMPLE.COM""#, &["u2"]),
        (
            "User",
            r#"emails[value eq "bjensen@example.com"]"#,
            &["u1", "u2"],
        ),
        (
            "User",
            r#"emails[type eq "work" and value eq "bjensen@example.com"]"#,
            &["u1"],
        ),
        ("User", r#"emails[value eq "nobody@example.com"]"#, &[]),
        // The same lookups as an operand of `and`, first, last and nested.
        (
            "User",
            r#"userName eq "bjensen" and active eq true"#,
            &["u1"],
        ),
        ("User", r#"userName eq "bjensen" and active eq false"#, &[]),
        (
            "User",
            r#"active eq false and externalId eq "EXT-1""#,
            &["u2"],
        ),
        (
            "User",
            r#"title pr and displayName eq "babs jensen""#,
            &["u1"],
        ),
        (
            "User",
            r#"id eq "u1" and (userName eq "jsmith" or title pr)"#,
            &["u1"],
        ),
        (
            "User",
            r#"active eq false and emails[value eq "bjensen@example.com"]"#,
            &["u2"],
        ),
        (
            "User",
            r#"active pr and (displayName eq "Babs Jensen" and externalId eq "ext-3")"#,
            &["u3"],
        ),
        // Not pushed down: `or`, `not`.
        (
            "User",
            r#"userName eq "bjensen" or externalId eq "EXT-1""#,
            &["u1", "u2"],
        ),
        (
            "User",
            r#"not (userName eq "bjensen")"#,
            &["u2", "u3", "u4"],
        ),
        // Groups.
        ("Group", r#"displayName eq "ADMINS""#, &["g1", "g2"]),
        (
            "Group",
            r#"urn:ietf:params:scim:schemas:core:2.0:Group:displayName eq "ops""#,
            &["g3"],
        ),
        ("Group", r#"externalId eq "grp-1""#, &["g1"]),
        ("Group", r#"externalId eq "GRP-1""#, &["g3"]),
        ("Group", r#"id eq "g2""#, &["g2"]),
        (
            "Group",
            r#"displayName eq "admins" and members[value eq "u3"]"#,
            &["g2"],
        ),
        (
            "Group",
            r#"members eq "g1" and externalId eq "GRP-1""#,
            &["g3"],
        ),
        ("Group", r#"userName eq "bjensen""#, &[]),
        ("Group", r#"emails.value eq "bjensen@example.com""#, &[]),
    ];
    RT.block_on(async {
        let mut results: Vec<(&str, Vec<Result<Page, String>>)> = Vec::new();
        for (name, store, _guard) in all_backends().await {
            for (i, u) in users.iter().enumerate() {
                let body = normalize("User", u.clone());
                store
                    .create("t", "User", &format!("u{}", i + 1), body, &ctx(i as u8))
                    .await
                    .unwrap();
            }
            for (i, g) in groups.iter().enumerate() {
                let body = normalize("Group", g.clone());
                store
                    .create(
                        "t",
                        "Group",
                        &format!("g{}", i + 1),
                        body,
                        &ctx(10 + i as u8),
                    )
                    .await
                    .unwrap();
            }
            let mut mine = Vec::new();
            for (rt, filter, expected) in cases {
                let q = Query::filter(filter).unwrap();
                let page = store.search("t", rt, &q).await;
                let ids: Vec<&str> = page
                    .as_ref()
                    .map(|p| p.resources.iter().map(|r| r.id.as_str()).collect())
                    .unwrap_or_default();
                assert_eq!(&ids, expected, "{name}: {rt} {filter}: {}", show(&page));
                mine.push(page.map_err(|e| e.to_string()));
            }
            // A pushed-down lookup with sorting and paging.
            let q = Query::filter(r#"displayName eq "babs jensen""#)
                .unwrap()
                .sorted(AttrPath::new("userName"), SortOrder::Descending)
                .page(2, 1);
            let page = store.search("t", "User", &q).await.unwrap();
            let ids: Vec<&str> = page.resources.iter().map(|r| r.id.as_str()).collect();
            assert_eq!((page.total, ids), (2, vec!["u1"]), "{name}");
            results.push((name, mine));
        }
        assert!(results.len() >= 2);
        let (reference, rest) = results.split_first().unwrap();
        assert_eq!(reference.0, "memory");
        for (name, theirs) in rest {
            for (i, (m, s)) in reference.1.iter().zip(theirs).enumerate() {
                let same = match (m, s) {
                    (Ok(m), Ok(s)) => m.total == s.total && rows(m) == rows(s),
                    (m, s) => m.as_ref().err() == s.as_ref().err(),
                };
                assert!(same, "{:?}: memory and {name} differ", cases[i]);
            }
        }
    });
}

/// Each rule of `Prefilter::exact`, on a directory built to break it: a filter whose SQL
/// condition is a superset must still be evaluated, so the backends agree with memory.
#[test]
fn conditions_that_are_supersets_are_still_evaluated() {
    RT.block_on(async {
        let user = |at: u8, body: Value| UserSpec {
            body: normalize("User", body),
            at,
            retitle: None,
        };
        let dir = Directory {
            users: vec![
                user(
                    0,
                    json!({"schemas": [USER], "userName": "ann", "externalId": "EXT-1",
                           "emails": [{"value": "ann@example.com", "type": "work"},
                                      {"value": "ann@home.org", "type": "home"}]}),
                ),
                user(
                    1,
                    json!({"schemas": [USER], "userName": "bob", "externalId": "ext-2",
                           "displayName": "", "title": "Boss"}),
                ),
            ],
            groups: Vec::new(),
            deleted: Vec::new(),
        };
        for backend in [Backend::Sqlite, Backend::Postgres] {
            let Some(pair) = load(&dir, backend).await.unwrap() else {
                continue;
            };
            let found = disagreements(
                &pair,
                &[
                    // SQLite's LIKE ignores ASCII case; externalId is case-exact.
                    ("User", r#"externalId co "EXT""#),
                    ("User", r#"externalId ew "T-2""#),
                    ("User", r#"id co "U""#),
                    // `pr` does not count an empty string.
                    ("User", "displayName pr"),
                    // Two conditions of `emails[…]` must hold for one email.
                    ("User", r#"emails[type eq "work" and value ew "home.org"]"#),
                    ("User", r#"emails[value sw "ann@e" and value ew ".org"]"#),
                    // An operand left to the evaluator.
                    ("User", r#"userName sw "" and title eq "Boss""#),
                    ("User", r#"userName eq "bob" and not (title eq "Boss")"#),
                ],
            )
            .await;
            assert!(found.is_empty(), "{}", found.join("\n"));
        }
    });
}
