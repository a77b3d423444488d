//! Queries: filter, sort, pagination, and the part a backend can answer from an index.

use scimkit_filter::{AttrExpr, CompValue, CompareOp, Filter, ParseError, Sorter};
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
    let mut matched = Vec::with_capacity(candidates.len());
    for c in candidates {
        let keep = match &query.filter {
            None => true,
            Some(f) => {
                // `id` is not in the stored body; the filter may ask for it.
                let mut view = c.body.clone();
                view.insert("id".into(), serde_json::Value::String(c.id.clone()));
                view.insert(
                    "meta".into(),
                    serde_json::json!({"created": c.created, "lastModified": c.last_modified, "resourceType": c.resource_type}),
                );
                f.matches(&view, bound)
                    .map_err(|e| StoreError::Filter(e.to_string()))?
            }
        };
        if keep {
            matched.push(c);
        }
    }
    match &query.sort_by {
        Some(path) => {
            let sorter = Sorter::new(bound, path, query.sort_order)
                .map_err(|e| StoreError::Filter(e.to_string()))?;
            let mut keyed: Vec<_> = matched
                .into_iter()
                .map(|s| (sorter.key(&with_meta(&s)), s))
                .collect();
            keyed.sort_by(|(a, x), (b, y)| sorter.compare_keys(a, b).then_with(|| x.id.cmp(&y.id)));
            matched = keyed.into_iter().map(|(_, s)| s).collect();
        }
        // A stable order for pagination: creation order, then id.
        None => matched.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id))),
    }
    let total = matched.len();
    let skip = query.start_index.max(1) - 1;
    let resources = matched
        .into_iter()
        .skip(skip)
        .take(query.count.unwrap_or(usize::MAX))
        .collect();
    Ok(Page { total, resources })
}

fn with_meta(s: &Stored) -> serde_json::Map<String, serde_json::Value> {
    let mut view = s.body.clone();
    view.insert("id".into(), serde_json::Value::String(s.id.clone()));
    view.insert(
        "meta".into(),
        serde_json::json!({"created": s.created, "lastModified": s.last_modified}),
    );
    view
}
