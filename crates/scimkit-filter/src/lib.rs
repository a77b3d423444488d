//! The SCIM 2.0 filter language (RFC 7644 §3.4.2.2): a parser built on nom, a public AST with
//! a canonical printer, an evaluator over JSON resources, and a `sortBy` comparator. PATCH
//! paths (§3.5.2) and attribute paths (`sortBy`, `attributes`, `excludedAttributes`) share
//! the same path types.
//!
//! This crate does **not** translate filters to SQL (that is `scimkit-store`), apply PATCH
//! operations (`scimkit-patch`), or do any IO. The parser module knows nothing about schemas;
//! only evaluation and sorting read them, through [`scimkit_schema::Bound`].
//!
//! ```text
//! scimkit-cli ─► scimkit-server ─► scimkit-store ─► scimkit-patch ─► scimkit-filter ─► scimkit-schema
//! ```
//!
//! # Example
//!
//! ```
//! use scimkit_filter::{AttrExpr, CompValue, CompareOp, Filter};
//! use scimkit_schema::Registry;
//! use serde_json::json;
//!
//! let filter = scimkit_filter::parse(r#"USERNAME Eq "bjensen" and emails[type eq "work"]"#)?;
//! // The canonical form: lowercase keywords, single spaces.
//! assert_eq!(filter.to_string(), r#"USERNAME eq "bjensen" and emails[type eq "work"]"#);
//! let Filter::And(operands) = &filter else { unreachable!() };
//! assert!(matches!(
//!     &operands[0],
//!     Filter::Attr(AttrExpr::Compare(path, CompareOp::Eq, CompValue::Str(v))) if path.name == "USERNAME" && v == "bjensen"
//! ));
//!
//! // Evaluation uses the schema: userName is case-insensitive.
//! let registry = Registry::new();
//! let users = registry.bind("User").unwrap();
//! let user = json!({"userName": "BJensen", "emails": [{"value": "bjensen@example.com", "type": "work"}]});
//! assert!(filter.matches(user.as_object().unwrap(), &users)?);
//!
//! // Errors say where, what was expected and what was found.
//! let err = scimkit_filter::parse(r#"userName equals "bjensen""#).unwrap_err();
//! assert_eq!(err.offset(), 9);
//! assert_eq!(err.to_string(), "\
//! invalid filter: the operator `equals` at byte 9 is not supported; use eq, ne, co, sw, ew, gt, ge, lt, le or pr
//!   userName equals \"bjensen\"
//!            ^^^^^^");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Entry points
//!
//! - [`parse`] / [`Parser::parse_filter`]: `filter` parameters.
//! - [`parse_patch_path`]: PATCH `path` (`attr`, `attr.sub`, `attr[filter]`, `attr[filter].sub`,
//!   URN-qualified forms).
//! - [`parse_attr_path`], [`parse_attr_list`]: `sortBy`, `attributes`, `excludedAttributes`.
//! - [`Filter::matches`]: evaluation; [`Sorter`]: ordering.
//!
//! # Crate features
//!
//! None.
//!
//! # Input limits
//!
//! Input longer than [`Parser::max_len`] (default 64 KiB) and nesting of parentheses, `not`
//! and brackets deeper than [`Parser::nest_limit`] (default 64) are rejected with an error.
//! `and`/`or` chains are flat lists, not nested trees, so a chain of any length costs no stack.
//! Parsing is linear in the input length; it never panics.
//!
//! # Conformance
//!
//! - [RFC 7644 §3.4.2.2](https://www.rfc-editor.org/rfc/rfc7644#section-3.4.2.2): the whole
//!   filter grammar, with the errata's optional space after `not`. Keywords, operators and
//!   attribute names are case-insensitive; `true`, `false` and `null` too. Whitespace where the
//!   ABNF has `SP` may be any run of spaces, tabs and line breaks.
//! - §3.4.2.3 sorting, §3.5.2 PATCH paths, §3.10 attribute notation.
//! - Evaluation: any-match on multi-valued attributes (also for `ne`: some value differs);
//!   `eq null` matches an absent attribute and `ne null` a present one; a comparison with an
//!   absent attribute is false.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod ast;
mod error;
mod eval;
#[doc(hidden)]
pub mod fuzzing;
mod parser;
mod sort;

use std::str::FromStr;

pub use ast::{AttrExpr, AttrPath, CompValue, CompareOp, Filter, PatchPath, ValuePath};
pub use error::{ErrorKind, Grammar, ParseError, Span};
pub use eval::{EvalError, EvalOptions};
pub use parser::{DEFAULT_MAX_LEN, DEFAULT_NEST_LIMIT, Parser};
pub(crate) use scimkit_schema::is_attr_name;
pub use sort::{SortKey, Sorter};

/// Parses a filter with the default limits.
pub fn parse(input: &str) -> Result<Filter, ParseError> {
    Parser::new().parse_filter(input)
}

/// Parses a PATCH path with the default limits.
pub fn parse_patch_path(input: &str) -> Result<PatchPath, ParseError> {
    Parser::new().parse_patch_path(input)
}

/// Parses one attribute path (`sortBy`).
pub fn parse_attr_path(input: &str) -> Result<AttrPath, ParseError> {
    Parser::new().parse_attr_path(input)
}

/// Parses a comma-separated attribute list (`attributes`, `excludedAttributes`).
pub fn parse_attr_list(input: &str) -> Result<Vec<AttrPath>, ParseError> {
    Parser::new().parse_attr_list(input)
}

impl FromStr for Filter {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        parse(s)
    }
}

impl FromStr for PatchPath {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        parse_patch_path(s)
    }
}
