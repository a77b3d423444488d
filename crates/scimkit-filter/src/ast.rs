//! The abstract syntax of SCIM filters and paths, and its canonical printer.
//!
//! The types follow the ABNF of RFC 7644 §3.4.2.2 (`FILTER`, `attrExp`, `valuePath`,
//! `compareOp`, `compValue`) and §3.5.2 (`PATH`). They are plain data with public fields so
//! that other crates (the store's SQL translation) can match on them exhaustively.
//!
//! `and` and `or` are n-ary: `a or b or c` is one [`Filter::Or`] with three operands, so a long
//! chain is a flat list, not a deep tree. Parentheses are kept where they change the tree:
//! `(a or b) or c` is an `Or` whose first operand is an `Or`.

use std::fmt;

pub use compact_str::CompactString;

pub use scimkit_schema::AttrPath;

/// A filter expression (RFC 7644 §3.4.2.2, `FILTER` and `valFilter`).
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attrPath pr` or `attrPath compareOp compValue`.
    Attr(AttrExpr),
    /// `attrPath "[" valFilter "]"`: a filter applied to each value of a multi-valued
    /// (or complex) attribute; it matches when one value matches the whole inner filter.
    ValuePath(ValuePath),
    /// `not (filter)`.
    Not(Box<Self>),
    /// `a and b and …`: at least two operands, none of them an unparenthesized `And`.
    And(Vec<Self>),
    /// `a or b or …`: at least two operands, none of them an unparenthesized `Or`.
    Or(Vec<Self>),
}

/// An attribute expression (`attrExp`).
#[derive(Debug, Clone, PartialEq)]
pub enum AttrExpr {
    /// `attrPath pr`: the attribute has a non-empty value.
    Present(AttrPath),
    /// `attrPath compareOp compValue`.
    Compare(AttrPath, CompareOp, CompValue),
}

/// A value path: an attribute and a filter over its values' sub-attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct ValuePath {
    /// The (multi-valued, complex) attribute, without a sub-attribute.
    pub attr: AttrPath,
    /// The filter over one value; its paths name sub-attributes of `attr`. It never contains
    /// another value path.
    pub filter: Box<Filter>,
}

/// A comparison operator (`compareOp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `eq`: equal.
    Eq,
    /// `ne`: not equal.
    Ne,
    /// `co`: contains.
    Co,
    /// `sw`: starts with.
    Sw,
    /// `ew`: ends with.
    Ew,
    /// `gt`: greater than.
    Gt,
    /// `ge`: greater than or equal.
    Ge,
    /// `lt`: less than.
    Lt,
    /// `le`: less than or equal.
    Le,
}

impl CompareOp {
    /// Every operator, in the order of RFC 7644 Table 3.
    pub const ALL: [Self; 9] = [
        Self::Eq,
        Self::Ne,
        Self::Co,
        Self::Sw,
        Self::Ew,
        Self::Gt,
        Self::Lt,
        Self::Ge,
        Self::Le,
    ];

    /// The operator's keyword in lowercase.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Co => "co",
            Self::Sw => "sw",
            Self::Ew => "ew",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
        }
    }

    /// Whether the operator orders values (`gt`, `ge`, `lt`, `le`).
    pub fn is_ordering(self) -> bool {
        matches!(self, Self::Gt | Self::Ge | Self::Lt | Self::Le)
    }

    /// Whether the operator matches substrings (`co`, `sw`, `ew`).
    pub fn is_substring(self) -> bool {
        matches!(self, Self::Co | Self::Sw | Self::Ew)
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A comparison value (`compValue`): a JSON literal.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number without fraction or exponent that fits an `i64`.
    Int(i64),
    /// Any other number.
    Decimal(f64),
    /// A string, unescaped (stored inline when short).
    Str(CompactString),
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("null"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(i) => write!(f, "{i}"),
            // `{:?}` prints the shortest text that reads back as the same f64, and always
            // with a fraction or an exponent, so it stays a decimal.
            Self::Decimal(d) => write!(f, "{d:?}"),
            Self::Str(s) => write_json_string(f, s),
        }
    }
}

/// Writes `s` as a JSON string literal.
pub(crate) fn write_json_string(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let escape = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\u{8}' => "\\b",
            '\u{c}' => "\\f",
            c if (c as u32) < 0x20 => "",
            _ => continue,
        };
        f.write_str(&s[start..i])?;
        if escape.is_empty() {
            write!(f, "\\u{:04x}", c as u32)?;
        } else {
            f.write_str(escape)?;
        }
        start = i + c.len_utf8();
    }
    f.write_str(&s[start..])?;
    f.write_char('"')
}

/// A PATCH operation path (RFC 7644 §3.5.2, `PATH = attrPath / valuePath [subAttr]`).
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute; it carries the sub-attribute when there is no value filter
    /// (`name.familyName`).
    pub attr: AttrPath,
    /// The value filter, for `emails[type eq "work"]`.
    pub filter: Option<Filter>,
    /// The sub-attribute after a value filter, for `emails[type eq "work"].value`.
    pub sub_attr: Option<String>,
}

impl PatchPath {
    /// The path as JSON: `{"attr": "emails", "filter": {…}, "subAttr": "value"}`, with
    /// `filter` and `subAttr` present only when the path has them.
    pub fn to_json(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        out.insert("attr".into(), self.attr.to_string().into());
        if let Some(filter) = &self.filter {
            out.insert("filter".into(), filter.to_json());
        }
        if let Some(sub) = &self.sub_attr {
            out.insert("subAttr".into(), sub.clone().into());
        }
        serde_json::Value::Object(out)
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr)?;
        if let Some(filter) = &self.filter {
            write!(f, "[{filter}]")?;
        }
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl fmt::Display for AttrExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Present(path) => write!(f, "{path} pr"),
            Self::Compare(path, op, value) => write!(f, "{path} {op} {value}"),
        }
    }
}

impl fmt::Display for ValuePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.attr, self.filter)
    }
}

/// Prints the canonical form: lowercase keywords and operators, one space around them,
/// `not (…)`, and parentheses only where the tree needs them.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Attr(expr) => write!(f, "{expr}"),
            Self::ValuePath(vp) => write!(f, "{vp}"),
            Self::Not(inner) => write!(f, "not ({inner})"),
            Self::And(operands) => write_operands(f, operands, " and ", |op| {
                matches!(op, Self::And(_) | Self::Or(_))
            }),
            Self::Or(operands) => {
                write_operands(f, operands, " or ", |op| matches!(op, Self::Or(_)))
            }
        }
    }
}

fn write_operands(
    f: &mut fmt::Formatter<'_>,
    operands: &[Filter],
    sep: &str,
    needs_parens: impl Fn(&Filter) -> bool,
) -> fmt::Result {
    for (i, op) in operands.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        if needs_parens(op) {
            write!(f, "({op})")?;
        } else {
            write!(f, "{op}")?;
        }
    }
    Ok(())
}

impl CompValue {
    /// The value as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Self::Null => Value::Null,
            Self::Bool(b) => Value::Bool(*b),
            Self::Int(i) => Value::from(*i),
            Self::Decimal(d) => serde_json::Number::from_f64(*d).map_or(Value::Null, Value::Number),
            Self::Str(s) => Value::String(s.to_string()),
        }
    }
}

impl Filter {
    /// The tree as JSON, for debugging tools and test vectors:
    /// `{"attr": "userName", "op": "eq", "value": "bjensen"}`, `{"attr": "title", "op": "pr"}`,
    /// `{"attr": "emails", "filter": {…}}`, `{"not": {…}}`, `{"and": […]}`, `{"or": […]}`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Self::Attr(AttrExpr::Present(path)) => json!({"attr": path.to_string(), "op": "pr"}),
            Self::Attr(AttrExpr::Compare(path, op, value)) => {
                json!({"attr": path.to_string(), "op": op.as_str(), "value": value.to_json()})
            }
            Self::ValuePath(vp) => {
                json!({"attr": vp.attr.to_string(), "filter": vp.filter.to_json()})
            }
            Self::Not(inner) => json!({"not": inner.to_json()}),
            Self::And(ops) => json!({"and": ops.iter().map(Self::to_json).collect::<Vec<_>>()}),
            Self::Or(ops) => json!({"or": ops.iter().map(Self::to_json).collect::<Vec<_>>()}),
        }
    }

    /// `path op value`.
    pub fn compare(path: AttrPath, op: CompareOp, value: CompValue) -> Self {
        Self::Attr(AttrExpr::Compare(path, op, value))
    }

    /// `path pr`.
    pub fn present(path: AttrPath) -> Self {
        Self::Attr(AttrExpr::Present(path))
    }

    /// Calls `visit` on every attribute expression, including those inside value paths
    /// (with the value path's attribute as the second argument).
    pub fn for_each_attr_expr<'a>(
        &'a self,
        visit: &mut impl FnMut(&'a AttrExpr, Option<&'a AttrPath>),
    ) {
        self.walk(None, visit);
    }

    fn walk<'a>(
        &'a self,
        parent: Option<&'a AttrPath>,
        visit: &mut impl FnMut(&'a AttrExpr, Option<&'a AttrPath>),
    ) {
        match self {
            Self::Attr(expr) => visit(expr, parent),
            Self::ValuePath(vp) => vp.filter.walk(Some(&vp.attr), visit),
            Self::Not(inner) => inner.walk(parent, visit),
            Self::And(ops) | Self::Or(ops) => ops.iter().for_each(|op| op.walk(parent, visit)),
        }
    }
}
