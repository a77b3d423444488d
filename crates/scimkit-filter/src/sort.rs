//! Sorting by `sortBy` and `sortOrder` (RFC 7644 §3.4.2.3).

use std::cmp::Ordering;

use chrono::{DateTime, Utc};
use scimkit_schema::messages::SortOrder;
use scimkit_schema::{AttributeDef, AttributeType, Bound, Owner, Target};
use serde_json::{Map, Value};

use crate::ast::AttrPath;
use crate::eval::{EvalError, get_ci, parse_date_time, schemas_def};

/// The value a resource sorts by, extracted once per resource.
#[derive(Debug, Clone, PartialEq)]
pub enum SortKey {
    /// No value: sorts after every value in ascending order, before in descending.
    Missing,
    /// A boolean (`false` before `true`).
    Bool(bool),
    /// A number.
    Number(f64),
    /// A dateTime, chronologically.
    Time(DateTime<Utc>),
    /// A string: lowercased unless the attribute is `caseExact`, compared by Unicode code
    /// points.
    Text(String),
}

impl SortKey {
    fn rank(&self) -> u8 {
        match self {
            Self::Bool(_) => 0,
            Self::Number(_) => 1,
            Self::Time(_) => 2,
            Self::Text(_) => 3,
            Self::Missing => 4,
        }
    }

    /// Ascending order of two keys; `Missing` last.
    pub fn cmp_ascending(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::Bool(a), Self::Bool(b)) => a.cmp(b),
            (Self::Number(a), Self::Number(b)) => a.total_cmp(b),
            (Self::Time(a), Self::Time(b)) => a.cmp(b),
            (Self::Text(a), Self::Text(b)) => a.cmp(b),
            (a, b) => a.rank().cmp(&b.rank()),
        }
    }
}

/// A `sortBy` attribute resolved against a resource type, with its `sortOrder`.
///
/// Multi-valued attributes sort by their primary value, else their first; a multi-valued
/// complex attribute named without a sub-attribute sorts by its `value`. Resources without a
/// value sort last in ascending order and first in descending order. An attribute the
/// resource type does not define gives every resource [`SortKey::Missing`], so the order is
/// the input order (sort stably).
#[derive(Debug, Clone)]
pub struct Sorter<'r> {
    target: Option<(Owner, &'r AttributeDef, Option<&'r AttributeDef>)>,
    extension_urn: Option<&'r str>,
    is_schemas: bool,
    order: SortOrder,
}

impl<'r> Sorter<'r> {
    /// Resolves `path` for sorting resources of `bound`'s type.
    pub fn new(bound: &Bound<'r>, path: &AttrPath, order: SortOrder) -> Result<Self, EvalError> {
        let not_sortable = |detail: &str| EvalError::NotSortable {
            path: path.to_string(),
            detail: detail.to_owned(),
        };
        let is_schemas = path.urn.is_none()
            && path.sub_attr.is_none()
            && path.name.eq_ignore_ascii_case("schemas");
        let target = match bound.resolve(path) {
            _ if is_schemas => None,
            Some(Target::Attribute { owner, attr, sub }) => {
                let effective = sub.unwrap_or(attr);
                if effective.kind == AttributeType::Complex {
                    let has_value = attr.multi_valued && attr.sub_attribute("value").is_some();
                    if !has_value {
                        return Err(not_sortable(
                            "a complex attribute sorts by a sub-attribute, e.g. `name.familyName`",
                        ));
                    }
                }
                Some((owner, attr, sub))
            }
            Some(Target::Schema(_)) => {
                return Err(not_sortable(
                    "names a whole schema; name one of its attributes",
                ));
            }
            None => None,
        };
        let extension_urn = match target {
            Some((Owner::Extension(i), _, _)) => Some(bound.extensions[i].0.id.as_str()),
            _ => None,
        };
        Ok(Self {
            target,
            extension_urn,
            is_schemas,
            order,
        })
    }

    /// The key `resource` sorts by.
    pub fn key(&self, resource: &Map<String, Value>) -> SortKey {
        if self.is_schemas {
            let first = get_ci(resource, "schemas")
                .and_then(Value::as_array)
                .and_then(|a| a.first());
            return first.map_or(SortKey::Missing, |v| key_of(schemas_def(), v));
        }
        let Some((_, attr, sub)) = self.target else {
            return SortKey::Missing;
        };
        let container = match self.extension_urn {
            Some(urn) => get_ci(resource, urn).and_then(Value::as_object),
            None => Some(resource),
        };
        let Some(raw) = container.and_then(|c| get_ci(c, &attr.name)) else {
            return SortKey::Missing;
        };
        // The primary value of a multi-valued attribute, else the first.
        let chosen = match raw {
            Value::Array(items) => items
                .iter()
                .find(|v| v.get("primary") == Some(&Value::Bool(true)))
                .or_else(|| items.first()),
            v => Some(v),
        };
        let Some(chosen) = chosen else {
            return SortKey::Missing;
        };
        let (def, value) = match sub {
            Some(sub) => (sub, chosen.as_object().and_then(|o| get_ci(o, &sub.name))),
            None if attr.kind == AttributeType::Complex => match attr.sub_attribute("value") {
                Some(value_def) => (
                    value_def,
                    chosen.as_object().and_then(|o| get_ci(o, "value")),
                ),
                None => return SortKey::Missing,
            },
            None => (attr, Some(chosen)),
        };
        match value {
            // A multi-valued sub-attribute: its first value.
            Some(Value::Array(items)) => items.first().map_or(SortKey::Missing, |v| key_of(def, v)),
            Some(v) => key_of(def, v),
            None => SortKey::Missing,
        }
    }

    /// Compares two resources in the requested order.
    pub fn compare(&self, a: &Map<String, Value>, b: &Map<String, Value>) -> Ordering {
        self.compare_keys(&self.key(a), &self.key(b))
    }

    /// Compares two keys in the requested order: missing values last when ascending, first
    /// when descending.
    pub fn compare_keys(&self, a: &SortKey, b: &SortKey) -> Ordering {
        let asc = a.cmp_ascending(b);
        match self.order {
            SortOrder::Ascending => asc,
            SortOrder::Descending => asc.reverse(),
        }
    }

    /// Sorts `resources` stably in place, extracting each key once.
    pub fn sort(&self, resources: &mut Vec<Map<String, Value>>) {
        let mut keyed: Vec<(SortKey, Map<String, Value>)> =
            resources.drain(..).map(|r| (self.key(&r), r)).collect();
        keyed.sort_by(|(a, _), (b, _)| self.compare_keys(a, b));
        resources.extend(keyed.into_iter().map(|(_, r)| r));
    }
}

fn key_of(def: &AttributeDef, v: &Value) -> SortKey {
    match (def.kind, v) {
        (_, Value::Null) => SortKey::Missing,
        (_, Value::Bool(b)) => SortKey::Bool(*b),
        (_, Value::Number(n)) => n.as_f64().map_or(SortKey::Missing, SortKey::Number),
        (AttributeType::DateTime, Value::String(s)) => match parse_date_time(s) {
            Some(t) => SortKey::Time(t),
            None => SortKey::Text(s.to_lowercase()),
        },
        (_, Value::String(s)) if def.case_exact || def.kind == AttributeType::Binary => {
            SortKey::Text(s.clone())
        }
        (_, Value::String(s)) => SortKey::Text(s.to_lowercase()),
        _ => SortKey::Missing,
    }
}
