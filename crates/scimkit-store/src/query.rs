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
    let cmp = |a: &SortKey, b: &SortKey| match &sorter {
        Some(sorter) => sorter.compare_keys(a, b),
        None => a.cmp_ascending(b),
    };
    let mut keyed: Vec<(SortKey, Stored)> = Vec::with_capacity(candidates.len());
    for mut c in candidates {
        // The filter and the sort key may read `id` and `meta`, which the stored body does
        // not hold: add them for the moment (no copy of the body), then take them out.
        let added_id = !c.body.contains_key("id");
        let added_meta = !c.body.contains_key("meta");
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
        let keep = match &query.filter {
            None => true,
            Some(f) => f
                .matches(&c.body, bound)
                .map_err(|e| StoreError::Filter(e.to_string()))?,
        };
        let key = keep.then(|| match &sorter {
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
        if let Some(key) = key {
            keyed.push((key, c));
        }
    }
    keyed.sort_by(|(a, x), (b, y)| cmp(a, b).then_with(|| x.id.cmp(&y.id)));
    let total = keyed.len();
    let count = query.count.unwrap_or(usize::MAX);
    let Some(cursor) = &query.cursor else {
        let skip = query.start_index.max(1) - 1;
        let resources = keyed
            .into_iter()
            .skip(skip)
            .take(count)
            .map(|(_, s)| s)
            .collect();
        return Ok(Page {
            total,
            resources,
            next_cursor: None,
        });
    };
    // Cursor pagination (RFC 9865): the page starts after the position the cursor names, so
    // writes between pages neither repeat nor skip the resources that stay put.
    let start = match cursor.as_str() {
        "" => 0,
        token => {
            let (key, id) = decode_cursor(token)?;
            keyed
                .partition_point(|(k, s)| cmp(k, &key).then_with(|| s.id.as_str().cmp(&id)).is_le())
        }
    };
    let rest = keyed.len() - start;
    let page: Vec<(SortKey, Stored)> = keyed.into_iter().skip(start).take(count).collect();
    let next_cursor = (rest > page.len() && !page.is_empty()).then(|| {
        let (key, last) = page.last().expect("not empty");
        encode_cursor(key, &last.id)
    });
    Ok(Page {
        total,
        resources: page.into_iter().map(|(_, s)| s).collect(),
        next_cursor,
    })
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
