//! The SCIM 2.0 filter language (RFC 7644 §3.4.2.2).
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod ast;
mod error;
mod parser;

pub use ast::{AttrExpr, AttrPath, CompValue, CompareOp, Filter, PatchPath, ValuePath};
pub use error::{ErrorKind, Grammar, ParseError, Span};
pub use parser::{DEFAULT_MAX_LEN, DEFAULT_NEST_LIMIT, Parser};
pub(crate) use scimkit_schema::is_attr_name;

/// Parses a filter with the default limits.
pub fn parse(input: &str) -> Result<Filter, ParseError> {
    Parser::new().parse_filter(input)
}
