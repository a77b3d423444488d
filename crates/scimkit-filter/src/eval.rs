//! Evaluation of filters against JSON resources, with the resource type's schemas giving
//! each attribute's type, `caseExact` and multi-valuedness (RFC 7644 §3.4.2.2).

use std::cmp::Ordering;
use std::fmt;
use std::sync::OnceLock;

use chrono::{DateTime, Utc};
use scimkit_schema::{AttributeDef, AttributeType, Bound, Owner, ScimError, ScimType, Target};
pub(crate) use scimkit_schema::{get_ignore_case as get_ci, parse_date_time};
use serde_json::{Map, Value};

use crate::ast::{AttrExpr, AttrPath, CompValue, CompareOp, Filter};

/// How [`Filter::matches_with`] treats what RFC 7644 leaves open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct EvalOptions {
    /// Fail with `invalidFilter` on attributes the resource type does not define, instead of
    /// treating them as absent (no match), which is what RFC 7644 asks by default.
    pub strict: bool,
}

impl EvalOptions {
    /// Unknown attributes are errors.
    pub fn strict() -> Self {
        Self { strict: true }
    }
}

/// A filter that parses but cannot be evaluated against the resource type. Every variant is
/// the client's error, `invalidFilter` (or `invalidValue` for an unsortable `sortBy`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EvalError {
    /// An attribute the resource type does not define, in strict mode.
    UnknownAttribute {
        /// The path as written.
        path: String,
    },
    /// An operator or value that does not apply to the attribute's type (`active gt true`,
    /// `name eq "x"`, `userName eq 5`).
    InvalidComparison {
        /// The path as written.
        path: String,
        /// What is wrong and what would work.
        detail: String,
    },
    /// A `sortBy` attribute that cannot order resources (a complex attribute without a
    /// sub-attribute).
    NotSortable {
        /// The path as written.
        path: String,
        /// What would work.
        detail: String,
    },
}

impl EvalError {
    /// The RFC 7644 §3.12 `scimType`.
    pub fn scim_type(&self) -> ScimType {
        match self {
            Self::UnknownAttribute { .. } | Self::InvalidComparison { .. } => {
                ScimType::InvalidFilter
            }
            Self::NotSortable { .. } => ScimType::InvalidValue,
        }
    }

    /// The RFC 7644 §3.12 error response (status 400).
    pub fn to_scim_error(&self) -> ScimError {
        ScimError::typed(self.scim_type(), self.to_string())
    }
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownAttribute { path } => {
                write!(f, "`{path}` is not an attribute of this resource type")
            }
            Self::InvalidComparison { path, detail } | Self::NotSortable { path, detail } => {
                write!(f, "`{path}`: {detail}")
            }
        }
    }
}

impl std::error::Error for EvalError {}

impl From<EvalError> for ScimError {
    fn from(e: EvalError) -> Self {
        e.to_scim_error()
    }
}

/// `schemas` is not an attribute of any schema, but RFC 7644 §3.4.2.2 lets clients filter
/// on it: a multi-valued, case-insensitive URI.
pub(crate) fn schemas_def() -> &'static AttributeDef {
    static DEF: OnceLock<AttributeDef> = OnceLock::new();
    DEF.get_or_init(|| AttributeDef::new("schemas", AttributeType::Reference).multi_valued())
}

/// The values an attribute path reads, flattened, with the definition that types them.
pub(crate) struct Reading<'v, 'r> {
    pub(crate) def: &'r AttributeDef,
    pub(crate) values: Vec<&'v Value>,
}

fn push_flat<'v>(out: &mut Vec<&'v Value>, v: &'v Value) {
    match v {
        Value::Null => {}
        Value::Array(items) => out.extend(items.iter().filter(|v| !v.is_null())),
        v => out.push(v),
    }
}

/// Where attribute names are looked up: the resource, or one value of a complex attribute
/// (inside `[…]`).
#[derive(Clone, Copy)]
enum Scope<'v, 'r> {
    Resource(&'v Map<String, Value>),
    Element(&'r AttributeDef, &'v Value),
}

struct Evaluator<'a, 'r> {
    /// The resource type; `None` when evaluating one value of a complex attribute.
    bound: Option<&'a Bound<'r>>,
    options: EvalOptions,
}

impl Filter {
    /// Whether `resource` (a stored resource of `bound`'s type) matches, with RFC 7644's
    /// defaults (unknown attributes match nothing).
    ///
    /// ```
    /// use scimkit_schema::Registry;
    /// use serde_json::json;
    ///
    /// let registry = Registry::new();
    /// let users = registry.bind("User").unwrap();
    /// let user = json!({"userName": "BJensen", "emails": [{"value": "b@example.com", "type": "work"}]});
    /// let filter = scimkit_filter::parse(r#"userName eq "bjensen" and emails[type eq "work"]"#)?;
    /// assert!(filter.matches(user.as_object().unwrap(), &users)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn matches(
        &self,
        resource: &Map<String, Value>,
        bound: &Bound<'_>,
    ) -> Result<bool, EvalError> {
        self.matches_with(resource, bound, EvalOptions::default())
    }

    /// [`Filter::matches`] with options.
    pub fn matches_with(
        &self,
        resource: &Map<String, Value>,
        bound: &Bound<'_>,
        options: EvalOptions,
    ) -> Result<bool, EvalError> {
        Evaluator {
            bound: Some(bound),
            options,
        }
        .eval(self, Scope::Resource(resource))
    }

    /// Checks, without any resource, that every comparison in the filter fits its
    /// attribute's type (and, with `options.strict`, that every attribute exists): the errors
    /// [`Filter::matches_with`] would raise on some resource, raised for all of them. A store
    /// calls this before searching, so an ill-typed filter fails the same way whether or not
    /// an index narrowed the candidates, and on an empty directory too.
    pub fn check(&self, bound: &Bound<'_>, options: EvalOptions) -> Result<(), EvalError> {
        let empty = Map::new();
        Evaluator {
            bound: Some(bound),
            options,
        }
        .check(self, Scope::Resource(&empty))
    }

    /// Whether one value of the complex attribute `attr` matches, as inside `attr[…]`: the
    /// filter's paths name `attr`'s sub-attributes. This is how a PATCH engine selects the
    /// values a `members[value eq "…"]` path targets.
    pub fn matches_value(
        &self,
        value: &Value,
        attr: &AttributeDef,
        options: EvalOptions,
    ) -> Result<bool, EvalError> {
        Evaluator {
            bound: None,
            options,
        }
        .eval(self, Scope::Element(attr, value))
    }
}

impl<'a, 'r> Evaluator<'a, 'r> {
    fn eval<'v>(&self, filter: &Filter, scope: Scope<'v, 'r>) -> Result<bool, EvalError> {
        match filter {
            Filter::Attr(expr) => self.attr_expr(expr, scope),
            Filter::Not(inner) => Ok(!self.eval(inner, scope)?),
            Filter::And(ops) => {
                for op in ops {
                    if !self.eval(op, scope)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Filter::Or(ops) => {
                for op in ops {
                    if self.eval(op, scope)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Filter::ValuePath(vp) => {
                let Some(reading) = self.read(&vp.attr, scope, true)? else {
                    return Ok(false);
                };
                if reading.def.kind != AttributeType::Complex {
                    return Err(EvalError::InvalidComparison {
                        path: vp.attr.to_string(),
                        detail: format!(
                            "a value filter `[…]` applies to complex attributes; this one is a {}",
                            reading.def.kind
                        ),
                    });
                }
                for value in reading.values {
                    if self.eval(&vp.filter, Scope::Element(reading.def, value))? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
        }
    }

    fn check<'v>(&self, filter: &Filter, scope: Scope<'v, 'r>) -> Result<(), EvalError> {
        match filter {
            Filter::Attr(AttrExpr::Present(path)) => self.read(path, scope, true).map(drop),
            Filter::Attr(AttrExpr::Compare(path, op, value)) => {
                if let Some(reading) = self.read(path, scope, false)? {
                    Comparison::new(path, reading.def, *op, value)?;
                }
                Ok(())
            }
            Filter::Not(inner) => self.check(inner, scope),
            Filter::And(ops) | Filter::Or(ops) => {
                ops.iter().try_for_each(|op| self.check(op, scope))
            }
            Filter::ValuePath(vp) => {
                let Some(reading) = self.read(&vp.attr, scope, true)? else {
                    return Ok(());
                };
                if reading.def.kind != AttributeType::Complex {
                    return Err(EvalError::InvalidComparison {
                        path: vp.attr.to_string(),
                        detail: format!(
                            "a value filter `[…]` applies to complex attributes; this one is a {}",
                            reading.def.kind
                        ),
                    });
                }
                self.check(&vp.filter, Scope::Element(reading.def, &Value::Null))
            }
        }
    }

    /// Reads `path` in `scope`. `Ok(None)` when the attribute is unknown (not strict).
    /// `whole` keeps a complex attribute whole instead of reading its `value` sub-attribute.
    fn read<'v>(
        &self,
        path: &AttrPath,
        scope: Scope<'v, 'r>,
        whole: bool,
    ) -> Result<Option<Reading<'v, 'r>>, EvalError> {
        let unknown = || {
            if self.options.strict {
                Err(EvalError::UnknownAttribute {
                    path: path.to_string(),
                })
            } else {
                Ok(None)
            }
        };
        let mut values = Vec::new();
        let def = match scope {
            Scope::Element(parent, element) => {
                let sub = match (&path.urn, &path.sub_attr) {
                    (None, None) => parent.sub_attribute(&path.name),
                    _ => None,
                };
                let Some(sub) = sub else { return unknown() };
                if let Some(v) = element.as_object().and_then(|o| get_ci(o, &sub.name)) {
                    push_flat(&mut values, v);
                }
                sub
            }
            Scope::Resource(resource) => {
                if path.urn.is_none()
                    && path.sub_attr.is_none()
                    && path.name.eq_ignore_ascii_case("schemas")
                {
                    if let Some(v) = get_ci(resource, "schemas") {
                        push_flat(&mut values, v);
                    }
                    return Ok(Some(Reading {
                        def: schemas_def(),
                        values,
                    }));
                }
                let Some(bound) = self.bound else {
                    return unknown();
                };
                let (owner, attr, sub) = match bound.resolve(path) {
                    Some(Target::Attribute { owner, attr, sub }) => (owner, attr, sub),
                    Some(Target::Schema(_)) => {
                        return Err(EvalError::InvalidComparison {
                            path: path.to_string(),
                            detail: "names a whole schema; name one of its attributes".into(),
                        });
                    }
                    None => return unknown(),
                };
                let container = match owner {
                    Owner::Common | Owner::Core => Some(resource),
                    Owner::Extension(i) => {
                        get_ci(resource, &bound.extensions[i].0.id).and_then(Value::as_object)
                    }
                };
                let raw = container.and_then(|c| get_ci(c, &attr.name));
                match (sub, raw) {
                    (Some(sub), Some(raw)) => {
                        let mut parents = Vec::new();
                        push_flat(&mut parents, raw);
                        for p in parents {
                            if let Some(v) = p.as_object().and_then(|o| get_ci(o, &sub.name)) {
                                push_flat(&mut values, v);
                            }
                        }
                        sub
                    }
                    (Some(sub), None) => sub,
                    (None, raw) => {
                        if let Some(raw) = raw {
                            push_flat(&mut values, raw);
                        }
                        attr
                    }
                }
            }
        };
        // A complex attribute without a sub-attribute compares its `value`, when it has one:
        // `emails eq "…"`, `members eq "…"`, and the enterprise `manager eq "…"` that Entra ID
        // sends to check a reference.
        let value_def = def.sub_attribute("value");
        if let (false, AttributeType::Complex, Some(value_def)) = (whole, def.kind, value_def) {
            let inner = values
                .into_iter()
                .filter_map(|v| v.as_object().and_then(|o| get_ci(o, "value")))
                .filter(|v| !v.is_null())
                .collect();
            return Ok(Some(Reading {
                def: value_def,
                values: inner,
            }));
        }
        Ok(Some(Reading { def, values }))
    }

    fn attr_expr<'v>(&self, expr: &AttrExpr, scope: Scope<'v, 'r>) -> Result<bool, EvalError> {
        match expr {
            AttrExpr::Present(path) => {
                let Some(reading) = self.read(path, scope, true)? else {
                    return Ok(false);
                };
                Ok(reading.values.iter().any(|v| is_present(v)))
            }
            AttrExpr::Compare(path, op, value) => {
                let Some(reading) = self.read(path, scope, false)? else {
                    return Ok(false);
                };
                let compare = Comparison::new(path, reading.def, *op, value)?;
                Ok(match compare {
                    Comparison::Null { want_present } => {
                        reading.values.iter().any(|v| is_present(v)) == want_present
                    }
                    compare => reading.values.iter().any(|v| compare.test(v)),
                })
            }
        }
    }
}

/// `pr`: not null, not an empty string, array or object.
fn is_present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => a.iter().any(is_present),
        Value::Object(o) => o.values().any(is_present),
        _ => true,
    }
}

/// A comparison checked against the attribute's type once, then applied to each value.
enum Comparison<'f> {
    /// `eq null` (the attribute has no value) or `ne null` (it has one).
    Null {
        want_present: bool,
    },
    Bool(CompareOp, bool),
    Number(CompareOp, f64),
    Time(CompareOp, DateTime<Utc>),
    Text {
        op: CompareOp,
        needle: std::borrow::Cow<'f, str>,
        case_exact: bool,
    },
}

impl<'f> Comparison<'f> {
    fn new(
        path: &AttrPath,
        def: &AttributeDef,
        op: CompareOp,
        value: &'f CompValue,
    ) -> Result<Self, EvalError> {
        let fail = |detail: String| EvalError::InvalidComparison {
            path: path.to_string(),
            detail,
        };
        if let CompValue::Null = value {
            return match op {
                CompareOp::Eq => Ok(Self::Null {
                    want_present: false,
                }),
                CompareOp::Ne => Ok(Self::Null { want_present: true }),
                _ => Err(fail(format!(
                    "`{op} null` compares nothing; use `pr` or `not (… pr)`"
                ))),
            };
        }
        match def.kind {
            AttributeType::Complex => Err(fail(
                "a complex attribute cannot be compared; name a sub-attribute, e.g. `name.familyName`".into(),
            )),
            AttributeType::Boolean => match (op, value) {
                (CompareOp::Eq | CompareOp::Ne, CompValue::Bool(b)) => Ok(Self::Bool(op, *b)),
                (CompareOp::Eq | CompareOp::Ne, _) => {
                    Err(fail(format!("is a boolean; compare it with true or false, not {value}")))
                }
                _ => Err(fail(format!("`{op}` is not defined for boolean attributes; use eq or ne"))),
            },
            AttributeType::Integer | AttributeType::Decimal => {
                if op.is_substring() {
                    return Err(fail(format!("`{op}` is not defined for numbers; use eq, ne, gt, ge, lt or le")));
                }
                match value {
                    CompValue::Int(i) => Ok(Self::Number(op, *i as f64)),
                    CompValue::Decimal(d) => Ok(Self::Number(op, *d)),
                    _ => Err(fail(format!("is a number; compare it with a number, not {value}"))),
                }
            }
            AttributeType::DateTime if !op.is_substring() => {
                let CompValue::Str(text) = value else {
                    return Err(fail(format!("is a dateTime; compare it with a quoted xsd:dateTime, not {value}")));
                };
                let t = parse_date_time(text).ok_or_else(|| {
                    fail(format!("{value} is not an xsd:dateTime such as \"2011-05-13T04:42:34Z\""))
                })?;
                Ok(Self::Time(op, t))
            }
            AttributeType::Binary if op.is_ordering() => {
                Err(fail(format!("`{op}` is not defined for binary attributes; use eq, ne, co, sw or ew")))
            }
            AttributeType::String
            | AttributeType::Reference
            | AttributeType::Binary
            | AttributeType::DateTime => {
                let CompValue::Str(text) = value else {
                    return Err(fail(format!("is a {}; compare it with a quoted string, not {value}", def.kind)));
                };
                let case_exact = def.case_exact || def.kind == AttributeType::Binary;
                let needle = if case_exact {
                    std::borrow::Cow::Borrowed(text.as_str())
                } else {
                    std::borrow::Cow::Owned(text.as_str().to_lowercase())
                };
                Ok(Self::Text { op, needle, case_exact })
            }
        }
    }

    /// Whether one stored value satisfies the comparison. Values of the wrong JSON type
    /// never do.
    fn test(&self, v: &Value) -> bool {
        match self {
            Self::Null { .. } => false,
            Self::Bool(op, b) => match v.as_bool() {
                Some(x) => (x == *b) == (*op == CompareOp::Eq),
                None => false,
            },
            Self::Number(op, n) => match v.as_f64() {
                Some(x) => ordered(*op, x.partial_cmp(n)),
                None => false,
            },
            Self::Time(op, t) => match v.as_str().and_then(parse_date_time) {
                Some(x) => ordered(*op, Some(x.cmp(t))),
                None => false,
            },
            Self::Text {
                op,
                needle,
                case_exact,
            } => {
                let Some(s) = v.as_str() else { return false };
                if !*case_exact && s.is_ascii() {
                    // The needle is already lowercase; an ASCII value is compared without
                    // allocating its lowercase copy.
                    let (h, n) = (s.as_bytes(), needle.as_bytes());
                    return match op {
                        CompareOp::Co => {
                            n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
                        }
                        CompareOp::Sw => h.len() >= n.len() && h[..n.len()].eq_ignore_ascii_case(n),
                        CompareOp::Ew => {
                            h.len() >= n.len() && h[h.len() - n.len()..].eq_ignore_ascii_case(n)
                        }
                        op => ordered(
                            *op,
                            Some(h.iter().map(u8::to_ascii_lowercase).cmp(n.iter().copied())),
                        ),
                    };
                }
                let hay = if *case_exact {
                    std::borrow::Cow::Borrowed(s)
                } else {
                    std::borrow::Cow::Owned(s.to_lowercase())
                };
                match op {
                    CompareOp::Co => hay.contains(needle.as_ref()),
                    CompareOp::Sw => hay.starts_with(needle.as_ref()),
                    CompareOp::Ew => hay.ends_with(needle.as_ref()),
                    op => ordered(*op, Some(hay.as_ref().cmp(needle.as_ref()))),
                }
            }
        }
    }
}

fn ordered(op: CompareOp, ord: Option<Ordering>) -> bool {
    let Some(ord) = ord else { return false };
    match op {
        CompareOp::Eq => ord == Ordering::Equal,
        CompareOp::Ne => ord != Ordering::Equal,
        CompareOp::Gt => ord == Ordering::Greater,
        CompareOp::Ge => ord != Ordering::Less,
        CompareOp::Lt => ord == Ordering::Less,
        CompareOp::Le => ord != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}
