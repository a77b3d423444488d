//! Queries: filter, sort, pagination, and the part a backend can answer from an index.

use scimkit_filter::{AttrExpr, CompValue, CompareOp, Filter, ParseError, SortKey, Sorter};
use scimkit_schema::messages::SortOrder;
use scimkit_schema::{AttrPath, Bound};

use crate::error::StoreError;
use crate::model::{Page, Stored};

/// A search: an optional filter, an optional sort, and a page.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct Query {
    /// Which resources match.
    pub filter: Option<Filter>,
    /// The attribute to sort by.
    pub sort_by: Option<AttrPath>,
    /// The sort order.
    pub sort_order: SortOrder,
    /// The 1-based index of the first result (RFC 7644 §3.4.2.4; values below 1 mean 1).
    pub start_index: usize,
    /// The most results to return (`None`: all).
    pub count: Option<usize>,
    /// Cursor pagination (RFC 9865): `Some("")` for the first page, then the `next_cursor` of
    /// the previous page. `None` uses `start_index`.
    pub cursor: Option<String>,
}

impl Query {
    /// Every resource.
    pub fn all() -> Self {
        Self {
            start_index: 1,
            ..Self::default()
        }
    }

    /// The resources matching a filter.
    pub fn filter(filter: &str) -> Result<Self, ParseError> {
        Ok(Self {
            filter: Some(scimkit_filter::parse(filter)?),
            ..Self::all()
        })
    }

    /// Sorted by `path`.
    pub fn sorted(mut self, path: AttrPath, order: SortOrder) -> Self {
        self.sort_by = Some(path);
        self.sort_order = order;
        self
    }

    /// The page after `cursor` (`""` for the first), with at most `count` results.
    pub fn after(mut self, cursor: impl Into<String>, count: usize) -> Self {
        self.cursor = Some(cursor.into());
        self.count = Some(count);
        self
    }

    /// The page starting at `start_index` (1-based) with at most `count` results.
    pub fn page(mut self, start_index: usize, count: usize) -> Self {
        self.start_index = start_index;
        self.count = Some(count);
        self
    }
}

/// An exact lookup a backend can answer from an index: the filter (or one of its `and`
/// operands) is `attr eq "value"` on an indexed attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// `id eq "…"`.
    Id(String),
    /// `userName eq "…"` (case-insensitive).
    UserName(String),
    /// `externalId eq "…"` (case-exact).
    ExternalId(String),
    /// `displayName eq "…"` (case-insensitive).
    DisplayName(String),
    /// `emails.value eq "…"`, `emails eq "…"` or `emails[value eq "…"]` (case-insensitive).
    Email(String),
}

impl Lookup {
    /// The index lookup that narrows `filter`, if any; the filter is still evaluated on the
    /// candidates it returns.
    pub(crate) fn of(filter: &Filter) -> Option<Self> {
        match filter {
            Filter::Attr(AttrExpr::Compare(path, CompareOp::Eq, CompValue::Str(v)))
                if path.sub_attr.is_none() =>
            {
                let urn_ok = path
                    .urn
                    .as_deref()
                    .is_none_or(|u| u.starts_with("urn:ietf:params:scim:schemas:core:2.0:"));
                if !urn_ok {
                    return None;
                }
                let name = path.name.as_str();
                if name.eq_ignore_ascii_case("id") {
                    Some(Self::Id(v.to_string()))
                } else if name.eq_ignore_ascii_case("userName") {
                    Some(Self::UserName(v.as_str().to_lowercase()))
                } else if name.eq_ignore_ascii_case("externalId") {
                    Some(Self::ExternalId(v.to_string()))
                } else if name.eq_ignore_ascii_case("displayName") {
                    Some(Self::DisplayName(v.as_str().to_lowercase()))
                } else if name.eq_ignore_ascii_case("emails") && path.urn.is_none() {
                    // A multi-valued complex attribute compares its `value`.
                    Some(Self::Email(v.as_str().to_lowercase()))
                } else {
                    None
                }
            }
            Filter::Attr(AttrExpr::Compare(path, CompareOp::Eq, CompValue::Str(v)))
                if path.urn.is_none()
                    && path.name.eq_ignore_ascii_case("emails")
                    && path
                        .sub_attr
                        .as_deref()
                        .is_some_and(|s| s.eq_ignore_ascii_case("value")) =>
            {
                Some(Self::Email(v.as_str().to_lowercase()))
            }
            Filter::ValuePath(vp)
                if vp.attr.urn.is_none() && vp.attr.name.eq_ignore_ascii_case("emails") =>
            {
                let inner = |f: &Filter| match f {
                    Filter::Attr(AttrExpr::Compare(p, CompareOp::Eq, CompValue::Str(v)))
                        if p.urn.is_none()
                            && p.sub_attr.is_none()
                            && p.name.eq_ignore_ascii_case("value") =>
                    {
                        Some(Self::Email(v.as_str().to_lowercase()))
                    }
                    _ => None,
                };
                match vp.filter.as_ref() {
                    Filter::And(operands) => operands.iter().find_map(inner),
                    other => inner(other),
                }
            }
            Filter::And(operands) => operands.iter().find_map(Self::of),
            _ => None,
        }
    }
}

/// The SQL dialect a [`Prefilter`] is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// `?N` placeholders; text compares bytewise (BINARY), so prefix ranges are exact.
    Sqlite,
    /// `$N` placeholders; text compares by the database's collation, so prefixes use
    /// `starts_with`.
    Postgres,
}

/// A `WHERE` condition that narrows a search to a superset of the filter's matches, using the
/// indexed columns (`id`, `userName`, `externalId`, `displayName`) and the `emails` table.
/// The filter is still evaluated on every row it returns, so the result does not depend on
/// how much of the filter was translated. Placeholders start at 3 (1 and 2 are the tenant
/// and the resource type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prefilter {
    pub(crate) sql: String,
    pub(crate) args: Vec<String>,
    /// Whether the condition selects exactly the matches of the whole filter, so that the
    /// rows need not be read to be evaluated: every part was translated, on string
    /// attributes whose column holds their values as the evaluator compares them.
    pub(crate) exact: bool,
}

/// An indexed column: its SQL name and whether it holds the lowercased value.
#[derive(Debug, Clone, Copy)]
enum Column {
    Id,
    UserName,
    ExternalId,
    DisplayName,
    Email,
}

/// How far (in milliseconds) a stored `modified_ms` may be from the floor of the time its
/// `modified` text names: the Rust writer is exact, PostgreSQL's migration rounds to
/// microseconds first. Time conditions widen by this much, so they stay a superset.
const MODIFIED_SLACK_MS: i64 = 1;

/// `meta.lastModified` as the integer the `modified_ms` column holds: milliseconds since
/// the epoch, floored; `None` when `text` is not a dateTime the filter evaluator reads (the
/// evaluator matches no such value, so the row need not be found).
pub(crate) fn modified_ms(text: &str) -> Option<i64> {
    scimkit_schema::parse_date_time(text).map(|t| t.timestamp_millis())
}

impl Column {
    fn name(self) -> &'static str {
        match self {
            Self::Id => "id",
            Self::UserName => "user_name",
            Self::ExternalId => "external_id",
            Self::DisplayName => "display_name",
            Self::Email => "email",
        }
    }

    fn lowercased(self) -> bool {
        matches!(self, Self::UserName | Self::DisplayName | Self::Email)
    }
}

impl Prefilter {
    /// The condition for `filter` on resources of the `bound` type, or `None` when no part
    /// of it narrows the search.
    pub(crate) fn of(filter: &Filter, dialect: Dialect, bound: &Bound<'_>) -> Option<Self> {
        let mut args = Vec::new();
        let mut translator = Translator {
            dialect,
            bound,
            args: &mut args,
            exact: true,
        };
        let sql = translator.translate(filter)?;
        let exact = translator.exact;
        Some(Self { sql, args, exact })
    }
}

/// Writes a [`Prefilter`]: the dialect, the resource type (whose attribute definitions say
/// which comparisons a lowercased column answers), and the arguments gathered so far.
struct Translator<'a, 'b> {
    dialect: Dialect,
    bound: &'a Bound<'a>,
    args: &'b mut Vec<String>,
    /// Cleared by any part translated to a superset, or left out.
    exact: bool,
}

impl Translator<'_, '_> {
    /// A placeholder for the next argument, `value`.
    fn arg(&mut self, value: String) -> String {
        self.args.push(value);
        let n = self.args.len() + 2;
        match self.dialect {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
        }
    }

    /// Whether the attribute at `path` compares case-insensitively (so a lowercased column
    /// orders its values as the evaluator does).
    fn case_insensitive(&self, path: &AttrPath) -> bool {
        match self.bound.resolve(path) {
            Some(scimkit_schema::Target::Attribute { attr, sub, .. }) => {
                !sub.unwrap_or(attr).case_exact
            }
            _ => false,
        }
    }

    /// Whether the attribute at `path` is a string (its column holds every value it has).
    fn is_string(&self, path: &AttrPath) -> bool {
        match self.bound.resolve(path) {
            Some(scimkit_schema::Target::Attribute { attr, sub, .. }) => matches!(
                sub.unwrap_or(attr).kind,
                scimkit_schema::AttributeType::String
            ),
            _ => false,
        }
    }

    /// Whether the column of `path` holds its values as the evaluator compares them: a
    /// string attribute, in a column that is lowercased only if the attribute is
    /// case-insensitive.
    fn column_is_exact(&self, path: &AttrPath, column: Column) -> bool {
        self.is_string(path) && (!column.lowercased() || self.case_insensitive(path))
    }

    /// A superset condition for `filter`: `and` keeps the operands it can translate, `or`
    /// needs all of them, anything else translates only if it is a comparison on an indexed
    /// column. `not` is left to the evaluator (the complement of a superset is not one).
    fn translate(&mut self, filter: &Filter) -> Option<String> {
        match filter {
            Filter::And(operands) => {
                let parts: Vec<String> =
                    operands.iter().filter_map(|f| self.translate(f)).collect();
                if parts.len() < operands.len() {
                    self.exact = false;
                }
                (!parts.is_empty()).then(|| format!("({})", parts.join(" AND ")))
            }
            Filter::Or(operands) => {
                let mark = self.args.len();
                let mut parts = Vec::with_capacity(operands.len());
                for f in operands {
                    let Some(part) = self.translate(f) else {
                        self.args.truncate(mark);
                        return None;
                    };
                    parts.push(part);
                }
                Some(format!("({})", parts.join(" OR ")))
            }
            Filter::Attr(AttrExpr::Compare(path, op, CompValue::Str(v))) => {
                if is_last_modified(path) {
                    // Widened by the slack: a superset.
                    self.exact = false;
                    return self.time(*op, v.as_str());
                }
                let column = column(path)?;
                let ordering_ok = self.case_insensitive(path);
                let exact = self.column_is_exact(path, column);
                self.compare(column, *op, v.as_str(), ordering_ok, exact)
            }
            Filter::Attr(AttrExpr::Present(path)) => {
                // `pr` holds for a value that is not null, not "" and not []; the columns
                // hold the non-null strings (and emails every `value`).
                let column = column(path)?;
                if !self.is_string(path) {
                    // A column holds only string values; `pr` also holds for others.
                    return None;
                }
                if matches!(column, Column::Email) && path.sub_attr.is_none() {
                    // `emails pr` also holds for an entry without a `value`.
                    return None;
                }
                // A column may hold values `pr` does not count (an empty string).
                self.exact = false;
                Some(self.in_table(column, format!("{} IS NOT NULL", column.name())))
            }
            Filter::ValuePath(vp)
                if vp.attr.urn.is_none() && vp.attr.name.eq_ignore_ascii_case("emails") =>
            {
                // Inside `emails[…]`, `value` comparisons narrow; `and` keeps those it finds.
                let mut value_path = vp.attr.clone();
                value_path.sub_attr = Some("value".into());
                let ordering_ok = self.case_insensitive(&value_path);
                let exact = self.column_is_exact(&value_path, Column::Email);
                let inner = |this: &mut Self, f: &Filter| match f {
                    Filter::Attr(AttrExpr::Compare(p, op, CompValue::Str(v)))
                        if p.urn.is_none()
                            && p.sub_attr.is_none()
                            && p.name.eq_ignore_ascii_case("value") =>
                    {
                        this.compare(Column::Email, *op, v.as_str(), ordering_ok, exact)
                    }
                    _ => None,
                };
                match vp.filter.as_ref() {
                    Filter::And(operands) => {
                        // Each operand may hold for another email of the resource: the
                        // conjunction of their conditions is a superset.
                        self.exact = false;
                        let parts: Vec<String> =
                            operands.iter().filter_map(|f| inner(self, f)).collect();
                        (!parts.is_empty()).then(|| format!("({})", parts.join(" AND ")))
                    }
                    other => {
                        let translated = inner(self, other);
                        if translated.is_none() {
                            self.exact = false;
                        }
                        translated
                    }
                }
            }
            _ => None,
        }
    }

    /// `column op value` as SQL, for the operators an index (or the emails table) answers
    /// on the stored (lowercased where the attribute is case-insensitive) values. Ordering
    /// operators need `ordering_ok` on a lowercased column: lowercasing keeps `eq`, `sw`, `ew`
    /// and `co` matches, but not the order of case-exact values.
    ///
    /// `exact_column` says whether the column holds the attribute's values as the evaluator
    /// compares them ([`Translator::column_is_exact`]); the condition is then exact unless
    /// the operator's SQL is wider.
    fn compare(
        &mut self,
        column: Column,
        op: CompareOp,
        value: &str,
        ordering_ok: bool,
        exact_column: bool,
    ) -> Option<String> {
        let value = if column.lowercased() {
            value.to_lowercase()
        } else {
            value.to_owned()
        };
        let col = column.name();
        // Text order is the evaluator's (code points, which UTF-8 bytes follow): SQLite
        // compares BINARY; PostgreSQL's database collation may not, so ordering uses "C".
        let ordered = match self.dialect {
            Dialect::Sqlite => col.to_owned(),
            Dialect::Postgres => format!("({col} COLLATE \"C\")"),
        };
        // SQLite's LIKE ignores ASCII case: exact only on a lowercased column (the pattern is
        // lowercased too).
        let like_exact = self.dialect == Dialect::Postgres || column.lowercased();
        let mut exact = exact_column;
        let cond = match op {
            CompareOp::Eq => format!("{col} = {}", self.arg(value)),
            CompareOp::Sw => match self.dialect {
                // UTF-8 orders bytewise as code points do: the strings starting with `p` are
                // those in [p, p with its last character incremented).
                Dialect::Sqlite => match prefix_end(&value) {
                    Some(end) => {
                        let (a, b) = (self.arg(value), self.arg(end));
                        format!("({col} >= {a} AND {col} < {b})")
                    }
                    None => {
                        exact = false;
                        format!("{col} >= {}", self.arg(value))
                    }
                },
                Dialect::Postgres => format!("starts_with({col}, {})", self.arg(value)),
            },
            CompareOp::Ew => {
                exact &= like_exact;
                let p = self.arg(format!("%{}", escape_like(&value)));
                format!("{col} LIKE {p} ESCAPE '\\'")
            }
            CompareOp::Co => {
                exact &= like_exact;
                let p = self.arg(format!("%{}%", escape_like(&value)));
                format!("{col} LIKE {p} ESCAPE '\\'")
            }
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
                if ordering_ok || !column.lowercased() =>
            {
                format!("{ordered} {} {}", sql_op(op), self.arg(value))
            }
            _ => return None,
        };
        self.exact &= exact;
        Some(self.in_table(column, cond))
    }

    /// `meta.lastModified op time` on the `modified_ms` column, widened by the slack.
    fn time(&mut self, op: CompareOp, text: &str) -> Option<String> {
        let t = modified_ms(text)?;
        let (low, high) = match op {
            CompareOp::Eq => (Some(t), Some(t)),
            CompareOp::Gt | CompareOp::Ge => (Some(t), None),
            CompareOp::Lt | CompareOp::Le => (None, Some(t)),
            _ => return None,
        };
        let dialect = self.dialect;
        let cast = |p: String| match dialect {
            Dialect::Sqlite => format!("CAST({p} AS INTEGER)"),
            Dialect::Postgres => format!("{p}::TEXT::BIGINT"),
        };
        let mut parts = Vec::new();
        if let Some(low) = low {
            let p = self.arg(low.saturating_sub(MODIFIED_SLACK_MS).to_string());
            parts.push(format!("modified_ms >= {}", cast(p)));
        }
        if let Some(high) = high {
            let p = self.arg(high.saturating_add(MODIFIED_SLACK_MS).to_string());
            parts.push(format!("modified_ms <= {}", cast(p)));
        }
        Some(if parts.len() == 1 {
            parts.remove(0)
        } else {
            format!("({})", parts.join(" AND "))
        })
    }

    /// `cond` on the resource's row, or on its rows of the emails table.
    fn in_table(&self, column: Column, cond: String) -> String {
        match column {
            Column::Email => {
                let tenant = match self.dialect {
                    Dialect::Sqlite => "?1",
                    Dialect::Postgres => "$1",
                };
                format!("id IN (SELECT id FROM emails WHERE tenant = {tenant} AND {cond})")
            }
            _ => cond,
        }
    }
}

/// The SQL operator of an ordering comparison.
fn sql_op(op: CompareOp) -> &'static str {
    match op {
        CompareOp::Gt => ">",
        CompareOp::Ge => ">=",
        CompareOp::Lt => "<",
        _ => "<=",
    }
}

/// Whether `path` is a core path (no URN, or a core schema's).
fn is_core(path: &AttrPath) -> bool {
    path.urn
        .as_deref()
        .is_none_or(|u| u.starts_with("urn:ietf:params:scim:schemas:core:2.0:"))
}

/// Whether `path` is `meta.lastModified`.
fn is_last_modified(path: &AttrPath) -> bool {
    is_core(path)
        && path.name.eq_ignore_ascii_case("meta")
        && path
            .sub_attr
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("lastModified"))
}

/// The indexed column `path` names, if any.
fn column(path: &AttrPath) -> Option<Column> {
    if !is_core(path) {
        return None;
    }
    let is = |n: &str| path.name.eq_ignore_ascii_case(n);
    match path.sub_attr.as_deref() {
        None if is("id") => Some(Column::Id),
        None if is("userName") => Some(Column::UserName),
        None if is("externalId") => Some(Column::ExternalId),
        None if is("displayName") => Some(Column::DisplayName),
        // A multi-valued complex attribute compares its `value`.
        None if is("emails") && path.urn.is_none() => Some(Column::Email),
        Some(sub) if is("emails") && path.urn.is_none() && sub.eq_ignore_ascii_case("value") => {
            Some(Column::Email)
        }
        _ => None,
    }
}

/// The smallest string greater than every string that starts with `prefix`, if any.
fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last) + 1..=0x10FFFF).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// `s` with LIKE's wildcards and the escape character escaped (`ESCAPE '\'`).
fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Whether a filter reads a group's `members` (so candidates need them assembled).
pub(crate) fn reads_members(filter: &Filter) -> bool {
    let mut found = false;
    filter.for_each_attr_expr(&mut |expr, parent| {
        let path = match expr {
            AttrExpr::Present(p) | AttrExpr::Compare(p, _, _) => p,
        };
        let name = parent.map_or(path.name.as_str(), |p| p.name.as_str());
        found |= name.eq_ignore_ascii_case("members");
    });
    found
}

/// Filters, sorts and pages candidates (the backend-independent part of a search).
pub(crate) fn finish(
    candidates: Vec<Stored>,
    query: &Query,
    bound: &Bound<'_>,
) -> Result<Page, StoreError> {
    let mut selection = Selection::new(query, bound)?;
    for c in candidates {
        selection.offer(c)?;
    }
    Ok(selection.page())
}

/// A search without a filter or `sortBy`, in the default order (creation time, then id), which
/// a backend answers from its `(tenant, type, created, id)` index: a count, and one page read
/// with `LIMIT`, instead of a scan that parses every resource of the type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InOrder {
    /// Only resources after this `(created, id)` (a cursor's position).
    pub(crate) after: Option<(String, String)>,
    /// How many to skip first (`startIndex - 1`).
    pub(crate) offset: usize,
    /// How many to read at most (`None`: all); one more than the page with a cursor, to know
    /// whether another page follows.
    pub(crate) limit: Option<usize>,
    /// Whether the page is a cursor page (it then gets a `next_cursor`).
    cursor: bool,
    count: Option<usize>,
}

impl InOrder {
    /// The plan of `query`, if it has no filter and no `sortBy`. A cursor this server did not
    /// issue is an error, as on the scanning path; a cursor of another sort order is left to
    /// that path, which answers it the same way.
    pub(crate) fn of(query: &Query) -> Result<Option<Self>, StoreError> {
        if query.filter.is_some() || query.sort_by.is_some() {
            return Ok(None);
        }
        let count = query.count;
        let plan = match query.cursor.as_deref() {
            None => Self {
                after: None,
                offset: query.start_index.max(1) - 1,
                limit: count,
                cursor: false,
                count,
            },
            Some(token) => {
                let after = if token.is_empty() {
                    None
                } else {
                    match decode_cursor(token)? {
                        (SortKey::Text(created), id) => Some((created, id)),
                        _ => return Ok(None),
                    }
                };
                Self {
                    after,
                    offset: 0,
                    limit: count.map(|c| c.saturating_add(1)),
                    cursor: true,
                    count,
                }
            }
        };
        Ok(Some(plan))
    }

    /// The page, from the count of every resource of the type and the rows the backend read
    /// in order.
    pub(crate) fn page(&self, total: usize, mut rows: Vec<Stored>) -> Page {
        if !self.cursor {
            return Page {
                total,
                resources: rows,
                next_cursor: None,
            };
        }
        let count = self.count.unwrap_or(usize::MAX);
        let more = rows.len() > count;
        rows.truncate(count);
        let next_cursor = (more && !rows.is_empty()).then(|| {
            let last = rows.last().expect("not empty");
            encode_cursor(&SortKey::Text(last.created.clone()), &last.id)
        });
        Page {
            total,
            resources: rows,
            next_cursor,
        }
    }
}

/// The query whose page a search selects when the backend's condition answers `query`'s
/// filter exactly: the same without the filter, so that rows need no evaluation. The filter
/// is checked against the schema first, as on every path.
pub(crate) fn answered_exactly(query: &Query, bound: &Bound<'_>) -> Result<Query, StoreError> {
    Selection::new(query, bound)?;
    Ok(Query {
        filter: None,
        ..query.clone()
    })
}

/// A search in progress: candidates are offered one at a time, and only those that can still
/// be on the requested page are kept, so a scan holds O(page) resources, not O(matches)
/// (backends stream their rows into it).
pub(crate) struct Selection<'a> {
    query: &'a Query,
    bound: &'a Bound<'a>,
    sorter: Option<Sorter<'a>>,
    /// The position a cursor names: only matches after it are kept.
    after: Option<(SortKey, String)>,
    /// How many of the first matches (in order) must be kept: `startIndex - 1 + count`, or
    /// `count` after a cursor.
    limit: usize,
    kept: Vec<(SortKey, Stored)>,
    /// Every match.
    total: usize,
    /// Matches after the cursor (all of them without one).
    rest: usize,
}

impl<'a> Selection<'a> {
    /// Checks the filter and the sort attribute against the resource type before any data,
    /// so that errors do not depend on which resources are offered.
    pub(crate) fn new(query: &'a Query, bound: &'a Bound<'a>) -> Result<Self, StoreError> {
        if let Some(f) = &query.filter {
            f.check(bound, scimkit_filter::EvalOptions::default())
                .map_err(|e| StoreError::Filter(e.to_string()))?;
        }
        // Sort with a key per resource, ties broken by id: a total order, which cursors need.
        let sorter = match &query.sort_by {
            Some(path) => Some(
                Sorter::new(bound, path, query.sort_order)
                    .map_err(|e| StoreError::Filter(e.to_string()))?,
            ),
            None => None,
        };
        let count = query.count.unwrap_or(usize::MAX);
        let (after, limit) = match query.cursor.as_deref() {
            None => (None, (query.start_index.max(1) - 1).saturating_add(count)),
            Some("") => (None, count),
            Some(token) => (Some(decode_cursor(token)?), count),
        };
        Ok(Self {
            query,
            bound,
            sorter,
            after,
            limit,
            kept: Vec::new(),
            total: 0,
            rest: 0,
        })
    }

    fn cmp(
        sorter: Option<&Sorter<'_>>,
        a: (&SortKey, &str),
        b: (&SortKey, &str),
    ) -> std::cmp::Ordering {
        let by_key = match sorter {
            Some(sorter) => sorter.compare_keys(a.0, b.0),
            None => a.0.cmp_ascending(b.0),
        };
        by_key.then_with(|| a.1.cmp(b.1))
    }

    /// Evaluates the filter on `c` and keeps it if it can be on the page.
    pub(crate) fn offer(&mut self, mut c: Stored) -> Result<(), StoreError> {
        // The filter and the sort key may read `id` and `meta`, which the stored body does
        // not hold: add them for the moment (no copy of the body), then take them out. The
        // default order reads neither.
        let reads_body = self.query.filter.is_some() || self.sorter.is_some();
        let added_id = reads_body && !c.body.contains_key("id");
        let added_meta = reads_body && !c.body.contains_key("meta");
        if added_id {
            c.body
                .insert("id".into(), serde_json::Value::String(c.id.clone()));
        }
        if added_meta {
            c.body.insert(
                "meta".into(),
                serde_json::json!({"created": c.created, "lastModified": c.last_modified, "resourceType": c.resource_type}),
            );
        }
        let keep = match &self.query.filter {
            None => true,
            Some(f) => f
                .matches(&c.body, self.bound)
                .map_err(|e| StoreError::Filter(e.to_string()))?,
        };
        let key = keep.then(|| match &self.sorter {
            Some(sorter) => sorter.key(&c.body),
            // The default order: creation, then id.
            None => SortKey::Text(c.created.clone()),
        });
        if added_meta {
            c.body.shift_remove("meta");
        }
        if added_id {
            c.body.shift_remove("id");
        }
        let Some(key) = key else {
            return Ok(());
        };
        self.total += 1;
        if let Some((after_key, after_id)) = &self.after {
            let here = (&key, c.id.as_str());
            if Self::cmp(self.sorter.as_ref(), here, (after_key, after_id)).is_le() {
                return Ok(());
            }
        }
        self.rest += 1;
        if self.limit == 0 {
            return Ok(());
        }
        self.kept.push((key, c));
        // Keep at most `limit` (amortized: trim when twice as many have gathered).
        if self.kept.len() >= self.limit.saturating_mul(2).max(64) {
            self.trim();
        }
        Ok(())
    }

    fn sort(&mut self) {
        let sorter = self.sorter.as_ref();
        self.kept
            .sort_by(|(a, x), (b, y)| Self::cmp(sorter, (a, &x.id), (b, &y.id)));
    }

    fn trim(&mut self) {
        self.sort();
        self.kept.truncate(self.limit);
    }

    /// The page: index pagination, or the page after the cursor with its `nextCursor`.
    pub(crate) fn page(mut self) -> Page {
        self.trim();
        let count = self.query.count.unwrap_or(usize::MAX);
        if self.query.cursor.is_none() {
            let skip = self.query.start_index.max(1) - 1;
            let resources = self.kept.into_iter().skip(skip).map(|(_, s)| s).collect();
            return Page {
                total: self.total,
                resources,
                next_cursor: None,
            };
        }
        // Cursor pagination (RFC 9865): the page starts after the position the cursor names,
        // so writes between pages neither repeat nor skip the resources that stay put.
        let page: Vec<(SortKey, Stored)> = self.kept.into_iter().take(count).collect();
        let next_cursor = (self.rest > page.len() && !page.is_empty()).then(|| {
            let (key, last) = page.last().expect("not empty");
            encode_cursor(key, &last.id)
        });
        Page {
            total: self.total,
            resources: page.into_iter().map(|(_, s)| s).collect(),
            next_cursor,
        }
    }
}

/// A cursor: the sort key and id of the last resource of a page, as hex-encoded JSON.
fn encode_cursor(key: &SortKey, id: &str) -> String {
    let key = match key {
        SortKey::Missing => serde_json::Value::Null,
        SortKey::Bool(b) => serde_json::json!(b),
        SortKey::Number(n) => serde_json::json!(n),
        SortKey::Time(t) => serde_json::json!({"t": t.to_rfc3339()}),
        SortKey::Text(s) => serde_json::json!(s),
    };
    let text = serde_json::json!([key, id]).to_string();
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_cursor(token: &str) -> Result<(SortKey, String), StoreError> {
    let invalid =
        || StoreError::InvalidCursor(format!("`{token}` is not a cursor this server issued"));
    if !token.len().is_multiple_of(2) || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid());
    }
    let bytes: Vec<u8> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16))
        .collect::<Result<_, _>>()
        .map_err(|_| invalid())?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    let (Some(key), Some(serde_json::Value::String(id))) = (value.get(0), value.get(1)) else {
        return Err(invalid());
    };
    let key = match key {
        serde_json::Value::Null => SortKey::Missing,
        serde_json::Value::Bool(b) => SortKey::Bool(*b),
        serde_json::Value::Number(n) => SortKey::Number(n.as_f64().ok_or_else(invalid)?),
        serde_json::Value::String(s) => SortKey::Text(s.clone()),
        serde_json::Value::Object(o) => {
            let t = o
                .get("t")
                .and_then(serde_json::Value::as_str)
                .ok_or_else(invalid)?;
            let t = scimkit_schema::parse_date_time(t).ok_or_else(invalid)?;
            SortKey::Time(t)
        }
        serde_json::Value::Array(_) => return Err(invalid()),
    };
    Ok((key, id.clone()))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use scimkit_schema::Registry;
    use serde_json::json;

    use super::*;

    const TITLES: &[&str] = &["a", "B", "b", "c", "Engineer", ""];

    /// `n` users; created times and titles collide often, so ties are broken by id.
    fn users(specs: &[(u8, Option<usize>)]) -> Vec<Stored> {
        specs
            .iter()
            .enumerate()
            .map(|(i, (second, title))| {
                let mut body = serde_json::Map::new();
                body.insert("userName".into(), json!(format!("user{i}")));
                if let Some(t) = title {
                    body.insert("title".into(), json!(TITLES[*t]));
                }
                Stored {
                    resource_type: "User".into(),
                    id: format!("{:03}", (i * 37) % 1000),
                    version: 1,
                    created: format!("2026-11-28T12:00:{:02}Z", second % 60),
                    last_modified: format!("2026-11-28T12:00:{:02}Z", second % 60),
                    body,
                }
            })
            .collect()
    }

    /// The order and matches without any trimming: every match kept, one sort at the end.
    fn naive(candidates: &[Stored], query: &Query, bound: &Bound<'_>) -> Vec<String> {
        let all = Query {
            count: None,
            start_index: 1,
            cursor: None,
            ..query.clone()
        };
        let mut selection = Selection::new(&all, bound).unwrap();
        for c in candidates {
            selection.offer(c.clone()).unwrap();
        }
        selection.sort();
        selection.kept.into_iter().map(|(_, s)| s.id).collect()
    }

    fn pre(filter: &str, dialect: Dialect) -> Option<(String, Vec<String>)> {
        let f = scimkit_filter::parse(filter).unwrap();
        let registry = Registry::new();
        let bound = registry.bind("User").unwrap();
        Prefilter::of(&f, dialect, &bound).map(|p| (p.sql, p.args))
    }

    /// Whether the prefilter of `filter` on Users is exact (`None`: no prefilter).
    fn exact(filter: &str, dialect: Dialect) -> Option<bool> {
        let f = scimkit_filter::parse(filter).unwrap();
        let registry = Registry::new();
        let bound = registry.bind("User").unwrap();
        Prefilter::of(&f, dialect, &bound).map(|p| p.exact)
    }

    #[test]
    fn prefilters_say_when_they_are_exact() {
        use Dialect::{Postgres, Sqlite};
        for dialect in [Sqlite, Postgres] {
            for f in [
                r#"userName eq "BJensen""#,
                r#"userName sw "b" or displayName co "jen""#,
                r#"displayName ew "sen" and externalId eq "E-1""#,
                r#"emails.value eq "b@example.com""#,
                r#"emails[value sw "B"]"#,
                r#"id gt "a" and id lt "b""#,
            ] {
                assert_eq!(exact(f, dialect), Some(true), "{f} ({dialect:?})");
            }
            for f in [
                // An operand left to the evaluator.
                r#"userName eq "b" and title eq "Boss""#,
                // Widened by the slack.
                r#"meta.lastModified gt "2026-01-01T00:00:00Z""#,
                // `pr` counts no empty string; the column may hold one.
                "userName pr",
                // Each operand may hold for another email.
                r#"emails[type eq "work" and value eq "b@example.com"]"#,
                r#"emails[value sw "b" and value ew "com"]"#,
                // `emails` itself is complex, not the string its column holds.
                r#"emails eq "b@example.com""#,
            ] {
                assert_eq!(exact(f, dialect), Some(false), "{f} ({dialect:?})");
            }
        }
        // SQLite's LIKE ignores ASCII case: exact on lowercased columns only.
        assert_eq!(exact(r#"externalId co "E-""#, Sqlite), Some(false));
        assert_eq!(exact(r#"externalId co "E-""#, Postgres), Some(true));
        assert_eq!(exact(r#"id ew "7""#, Sqlite), Some(false));
        assert_eq!(exact(r#"userName co "JEN""#, Sqlite), Some(true));
        assert_eq!(exact("userName sw \"\u{10FFFF}\"", Sqlite), Some(false));
        assert_eq!(exact("userName sw \"\u{10FFFF}\"", Postgres), Some(true));
        assert_eq!(exact("not (userName eq \"b\")", Sqlite), None);
    }

    #[test]
    fn prefilters_translate_the_indexed_parts() {
        use Dialect::{Postgres, Sqlite};
        let s = |sql: &str, args: &[&str]| {
            Some((
                sql.to_owned(),
                args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>(),
            ))
        };
        assert_eq!(
            pre(r#"userName eq "BJensen""#, Sqlite),
            s("user_name = ?3", &["bjensen"])
        );
        assert_eq!(
            pre(r#"externalId eq "E-1""#, Postgres),
            s("external_id = $3", &["E-1"])
        );
        assert_eq!(
            pre(r#"userName sw "Bj""#, Sqlite),
            s("(user_name >= ?3 AND user_name < ?4)", &["bj", "bk"])
        );
        assert_eq!(
            pre(r#"userName sw "Bj""#, Postgres),
            s("starts_with(user_name, $3)", &["bj"])
        );
        assert_eq!(
            pre(r#"emails.value ew "@Example.ORG""#, Sqlite),
            s(
                "id IN (SELECT id FROM emails WHERE tenant = ?1 AND email LIKE ?3 ESCAPE '\\')",
                &["%@example.org"]
            )
        );
        // LIKE's wildcards in the value are escaped.
        assert_eq!(
            pre(r#"displayName co "50%_off""#, Postgres),
            s("display_name LIKE $3 ESCAPE '\\'", &["%50\\%\\_off%"])
        );
        // `and` keeps what it can translate; `or` needs every operand.
        assert_eq!(
            pre(
                r#"title eq "x" and (id eq "a" or externalId eq "b")"#,
                Sqlite
            ),
            s("((id = ?3 OR external_id = ?4))", &["a", "b"])
        );
        assert_eq!(pre(r#"id eq "a" or title eq "x""#, Sqlite), None);
        assert_eq!(
            pre(r#"emails[type eq "work" and value sw "A"]"#, Sqlite),
            s(
                "(id IN (SELECT id FROM emails WHERE tenant = ?1 AND (email >= ?3 AND email < ?4)))",
                &["a", "b"]
            )
        );
        // Ordering: SQLite compares bytes; PostgreSQL is told to ("C"), whatever the
        // database's collation.
        assert_eq!(
            pre(r#"userName gt "M""#, Sqlite),
            s("user_name > ?3", &["m"])
        );
        assert_eq!(
            pre(r#"emails.value le "b""#, Postgres),
            s(
                "id IN (SELECT id FROM emails WHERE tenant = $1 AND (email COLLATE \"C\") <= $3)",
                &["b"]
            )
        );
        assert_eq!(
            pre(r#"externalId lt "E""#, Postgres),
            s("(external_id COLLATE \"C\") < $3", &["E"])
        );
        // `pr` on string columns; `emails pr` also holds for entries without a value.
        assert_eq!(
            pre("externalId pr and emails.value pr", Sqlite),
            s(
                "(external_id IS NOT NULL AND id IN (SELECT id FROM emails WHERE tenant = ?1 AND email IS NOT NULL))",
                &[]
            )
        );
        assert_eq!(pre("emails pr", Sqlite), None);
        // meta.lastModified on the integer column, widened by the slack.
        assert_eq!(
            pre(r#"meta.lastModified gt "2026-11-28T12:00:00.500Z""#, Sqlite),
            s("modified_ms >= CAST(?3 AS INTEGER)", &["1795867200499"])
        );
        assert_eq!(
            pre(
                r#"meta.lastModified eq "2026-11-28T13:00:00+01:00""#,
                Postgres
            ),
            s(
                "(modified_ms >= $3::TEXT::BIGINT AND modified_ms <= $4::TEXT::BIGINT)",
                &["1795867199999", "1795867200001"]
            )
        );
        assert_eq!(
            pre(r#"meta.lastModified ne "2026-11-28T12:00:00Z""#, Sqlite),
            None
        );
        // Not translated: negation, extension attributes, non-strings.
        assert_eq!(pre(r#"not (userName eq "a")"#, Sqlite), None);
        assert_eq!(
            pre(
                r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "1""#,
                Sqlite
            ),
            None
        );
        assert_eq!(pre("displayName eq null", Sqlite), None);
    }

    #[test]
    fn prefix_ends_are_the_next_string_after_all_extensions() {
        assert_eq!(prefix_end("ab").as_deref(), Some("ac"));
        assert_eq!(prefix_end("").as_deref(), None);
        // Surrogates are skipped, and a prefix ending in the last code point carries over.
        assert_eq!(prefix_end("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(prefix_end("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_end("\u{10FFFF}").as_deref(), None);
    }

    fn ids(page: &Page) -> Vec<String> {
        page.resources.iter().map(|r| r.id.clone()).collect()
    }

    proptest! {
        /// Trimming while streaming (which happens once more than 64 matches gather) gives
        /// the pages a full sort gives, for index pages and for a walk through cursors.
        #[test]
        fn streamed_pages_equal_a_full_sort(
            specs in prop::collection::vec((any::<u8>(), prop::option::of(0..TITLES.len())), 0..400),
            filtered in any::<bool>(),
            sorted in prop::option::of(any::<bool>()),
            start in 1usize..450,
            count in 0usize..120,
        ) {
            let registry = Registry::new();
            let bound = registry.bind("User").unwrap();
            let candidates = users(&specs);
            let mut query = if filtered { Query::filter("title pr or userName sw \"user1\"").unwrap() } else { Query::all() };
            if let Some(descending) = sorted {
                let order = if descending { SortOrder::Descending } else { SortOrder::Ascending };
                query = query.sorted(AttrPath::new("title"), order);
            }
            let order = naive(&candidates, &query, &bound);

            let q = query.clone().page(start, count);
            let page = finish(candidates.clone(), &q, &bound).unwrap();
            prop_assert_eq!(page.total, order.len());
            let expected: Vec<String> = order.iter().skip(start - 1).take(count).cloned().collect();
            prop_assert_eq!(ids(&page), expected);

            // A walk through cursors visits every match once, in order.
            let step = count.max(1);
            let mut walked = Vec::new();
            let mut cursor = String::new();
            loop {
                let q = query.clone().after(cursor.clone(), step);
                let page = finish(candidates.clone(), &q, &bound).unwrap();
                prop_assert_eq!(page.total, order.len());
                walked.extend(ids(&page));
                match page.next_cursor {
                    Some(next) => cursor = next,
                    None => break,
                }
                prop_assert!(walked.len() <= order.len(), "the walk does not end");
            }
            prop_assert_eq!(walked, order);
        }
    }
}
