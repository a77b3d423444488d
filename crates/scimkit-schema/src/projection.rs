//! Projection: which attributes a response carries (RFC 7644 §3.4.2.5, RFC 7643 §2.2
//! `returned`).

use serde_json::{Map, Value};

use crate::attribute::{AttributeDef, Returned};
use crate::path::AttrPath;
use crate::registry::{Bound, Owner, Target};

/// A resolved `attributes` / `excludedAttributes` pair, ready to apply to many resources.
///
/// Paths that name nothing of the resource type are ignored, as RFC 7644 lets a service
/// provider do with attributes it does not know.
#[derive(Debug, Clone)]
pub struct Projection<'r> {
    bound: Bound<'r>,
    /// Whether `attributes` was given (even if it named nothing known): then only what it
    /// names, and `returned: always` attributes, are returned.
    restrict: bool,
    attributes: Vec<Selector>,
    excluded: Vec<Selector>,
}

/// One resolved entry of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Selector {
    /// A whole schema.
    Schema(Owner),
    /// An attribute (index in its schema), with an optional sub-attribute (index).
    Attr(Owner, usize, Option<usize>),
}

impl<'r> Projection<'r> {
    /// Resolves `attributes` and `excludedAttributes` against a resource type.
    pub fn new(bound: Bound<'r>, attributes: &[AttrPath], excluded: &[AttrPath]) -> Self {
        let resolve = |paths: &[AttrPath]| -> Vec<Selector> {
            paths
                .iter()
                .filter_map(|p| match bound.resolve(p)? {
                    Target::Schema(owner) => Some(Selector::Schema(owner)),
                    Target::Attribute { owner, attr, sub } => {
                        let attrs = bound.attributes(owner);
                        let i = attrs.iter().position(|a| std::ptr::eq(a, attr))?;
                        let j = sub.and_then(|s| {
                            attr.sub_attributes.iter().position(|x| std::ptr::eq(x, s))
                        });
                        Some(Selector::Attr(owner, i, j))
                    }
                })
                .collect()
        };
        let restrict = !attributes.is_empty();
        let attributes = resolve(attributes);
        let excluded = resolve(excluded);
        Self {
            bound,
            restrict,
            attributes,
            excluded,
        }
    }

    /// Projects a stored resource: `schemas` and `returned: always` attributes are kept,
    /// `returned: never` ones are dropped, `request` ones are kept only when named in
    /// `attributes`, and `default` ones are kept when `attributes` is empty or names them,
    /// unless `excludedAttributes` names them.
    pub fn apply(&self, resource: &Map<String, Value>) -> Map<String, Value> {
        self.apply_owned(resource.clone())
    }

    /// [`Projection::apply`] on a resource the caller owns: values that are kept whole move
    /// into the result instead of being copied.
    pub fn apply_owned(&self, resource: Map<String, Value>) -> Map<String, Value> {
        let mut out = Map::with_capacity(resource.len());
        for (key, value) in resource {
            if key.eq_ignore_ascii_case("schemas") {
                out.insert(key, value);
                continue;
            }
            if let Some(ext) = self.bound.extension_index(&key) {
                let owner = Owner::Extension(ext);
                if let Value::Object(obj) = value {
                    let projected = self.project_object(owner, obj);
                    if !projected.is_empty() {
                        out.insert(key, Value::Object(projected));
                    }
                }
                continue;
            }
            let found = [Owner::Common, Owner::Core].into_iter().find_map(|owner| {
                let attrs = self.bound.attributes(owner);
                attrs
                    .iter()
                    .position(|a| a.name.eq_ignore_ascii_case(&key))
                    .map(|i| (owner, i))
            });
            match found {
                Some((owner, i)) => {
                    if let Some(v) = self.project_attr(owner, i, value) {
                        out.insert(key, v);
                    }
                }
                // Data no schema describes: returned by default, like a `default` attribute.
                None if !self.restrict => {
                    out.insert(key, value);
                }
                None => {}
            }
        }
        out
    }

    fn project_object(&self, owner: Owner, obj: Map<String, Value>) -> Map<String, Value> {
        let attrs = self.bound.attributes(owner);
        let mut out = Map::new();
        for (key, value) in obj {
            if let Some(i) = attrs.iter().position(|a| a.name.eq_ignore_ascii_case(&key)) {
                if let Some(v) = self.project_attr(owner, i, value) {
                    out.insert(key, v);
                }
            } else if !self.restrict {
                out.insert(key, value);
            }
        }
        out
    }

    fn project_attr(&self, owner: Owner, i: usize, value: Value) -> Option<Value> {
        let def = &self.bound.attributes(owner)[i];
        match def.returned {
            Returned::Never => return None,
            Returned::Always => {
                return Some(strip_subs(def, value, |sub| {
                    sub.returned != Returned::Never
                }));
            }
            Returned::Default | Returned::Request => {}
        }
        let whole_schema = |list: &[Selector]| list.contains(&Selector::Schema(owner));
        let named_whole = |list: &[Selector]| list.contains(&Selector::Attr(owner, i, None));
        let named_subs = |list: &[Selector]| -> Vec<usize> {
            list.iter()
                .filter_map(|s| match s {
                    Selector::Attr(o, a, Some(j)) if *o == owner && *a == i => Some(*j),
                    _ => None,
                })
                .collect()
        };

        if self.restrict {
            let whole = named_whole(&self.attributes) || whole_schema(&self.attributes);
            let subs = named_subs(&self.attributes);
            if !whole && subs.is_empty() {
                return None;
            }
            let excluded_subs = named_subs(&self.excluded);
            let keep = |j: usize, sub: &AttributeDef| match sub.returned {
                Returned::Never => false,
                Returned::Always => true,
                _ if excluded_subs.contains(&j) => false,
                Returned::Request => subs.contains(&j),
                Returned::Default => whole || subs.contains(&j),
            };
            return non_empty(strip_subs_indexed(def, value, keep));
        }

        if def.returned == Returned::Request {
            return None;
        }
        if named_whole(&self.excluded) || whole_schema(&self.excluded) {
            return None;
        }
        let excluded_subs = named_subs(&self.excluded);
        let keep = |j: usize, sub: &AttributeDef| match sub.returned {
            Returned::Never | Returned::Request => false,
            Returned::Always => true,
            Returned::Default => !excluded_subs.contains(&j),
        };
        non_empty(strip_subs_indexed(def, value, keep))
    }
}

fn non_empty(v: Value) -> Option<Value> {
    match &v {
        Value::Object(m) if m.is_empty() => None,
        Value::Array(a) if a.is_empty() => None,
        _ => Some(v),
    }
}

fn strip_subs(def: &AttributeDef, value: Value, keep: impl Fn(&AttributeDef) -> bool) -> Value {
    strip_subs_indexed(def, value, |_, sub| keep(sub))
}

/// Keeps the sub-attributes of a complex value (or of each value of a multi-valued one) for
/// which `keep(index, def)` holds; values without a definition are kept. Works in place.
fn strip_subs_indexed(
    def: &AttributeDef,
    value: Value,
    keep: impl Fn(usize, &AttributeDef) -> bool,
) -> Value {
    if def.sub_attributes.is_empty() {
        return value;
    }
    let strip = |obj: &mut Map<String, Value>| {
        obj.retain(|k, _| {
            match def
                .sub_attributes
                .iter()
                .position(|s| s.name.eq_ignore_ascii_case(k))
            {
                Some(j) => keep(j, &def.sub_attributes[j]),
                None => true,
            }
        });
    };
    match value {
        Value::Object(mut obj) => {
            strip(&mut obj);
            Value::Object(obj)
        }
        Value::Array(mut items) => {
            for item in &mut items {
                if let Value::Object(obj) = item {
                    strip(obj);
                }
            }
            items.retain(|v| !matches!(v, Value::Object(m) if m.is_empty()));
            Value::Array(items)
        }
        other => other,
    }
}

impl<'r> Bound<'r> {
    /// Projects `resource` for a response; shorthand for [`Projection::new`] and
    /// [`Projection::apply`].
    pub fn project(
        &self,
        resource: &Map<String, Value>,
        attributes: &[AttrPath],
        excluded: &[AttrPath],
    ) -> Map<String, Value> {
        Projection::new(self.clone(), attributes, excluded).apply(resource)
    }

    /// [`Bound::project`] of a resource the caller owns (no copy of what is kept whole).
    pub fn project_owned(
        &self,
        resource: Map<String, Value>,
        attributes: &[AttrPath],
        excluded: &[AttrPath],
    ) -> Map<String, Value> {
        Projection::new(self.clone(), attributes, excluded).apply_owned(resource)
    }
}
