//! Errors of the schema layer, each mapped to an RFC 7644 §3.12 `scimType` and status.

use std::fmt;

use crate::messages::{ScimError, ScimType};

/// What went wrong while loading schemas or validating, normalizing or addressing a resource.
///
/// Variants are grouped by blame: the first group is bad client input (400), the second a
/// registry that was configured wrongly (the operator's mistake, reported as 500 by a server
/// and as a usage error by the CLI). [`SchemaError::to_scim_error`] turns any of them into the
/// wire error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    // ---- the client sent bad input ----
    /// The body is not structured as a SCIM resource (not an object, `schemas` not a list of
    /// strings, an attribute given twice in different casings).
    #[error("{detail}")]
    InvalidSyntax {
        /// What was wrong and where.
        detail: String,
    },
    /// An attribute that no schema of the resource type defines, under the
    /// [`UnknownAttributes::Reject`](crate::UnknownAttributes::Reject) policy.
    #[error("`{path}` is not an attribute of {schema}")]
    UnknownAttribute {
        /// Where the attribute was found, e.g. `name.nickname`.
        path: String,
        /// The schema URN it was looked up in.
        schema: String,
    },
    /// A schema URN in `schemas` (or an extension key) that the resource type does not
    /// have.
    #[error("unknown schema `{urn}` for resource type {resource_type}")]
    UnknownSchema {
        /// The URN.
        urn: String,
        /// The resource type.
        resource_type: String,
    },
    /// `schemas` does not name a core schema of any known resource type, or names another
    /// one than the endpoint's.
    #[error("{detail}")]
    UnknownResourceType {
        /// What was expected and what was found.
        detail: String,
    },
    /// `schemas` and the body disagree (an extension present but not listed, the core
    /// schema missing, a required extension absent).
    #[error("{detail}")]
    SchemasMismatch {
        /// What was expected and what was found.
        detail: String,
    },
    /// A value of the wrong type.
    #[error("`{path}`: expected {expected}, found {found}")]
    WrongType {
        /// Where, e.g. `emails[1].primary`.
        path: String,
        /// What the schema wants, e.g. `boolean`.
        expected: String,
        /// What was sent, e.g. `string "yes"`.
        found: String,
    },
    /// A required attribute is missing (or null).
    #[error("`{path}` is required")]
    Required {
        /// Where.
        path: String,
    },
    /// More than one value of a multi-valued attribute has `primary: true` (RFC 7643 §2.4).
    #[error("`{path}` has {count} values with `primary: true`; at most one is allowed")]
    MultiplePrimary {
        /// The multi-valued attribute.
        path: String,
        /// How many values claimed primary.
        count: usize,
    },
    /// An attempt to change an immutable attribute that already has a value.
    #[error("`{path}` is immutable and already has a value; the new value differs")]
    Mutability {
        /// Where.
        path: String,
    },
    /// An attribute path that is malformed or names nothing.
    #[error("invalid attribute path `{path}`: {detail}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// What was wrong.
        detail: String,
    },

    // ---- the registry is configured wrongly ----
    /// A schema or resource type definition that cannot be used.
    #[error("invalid schema definition {schema}: {detail}")]
    InvalidSchema {
        /// The schema (or resource type) id, when known.
        schema: String,
        /// What was wrong.
        detail: String,
    },
}

impl SchemaError {
    /// The RFC 7644 §3.12 `scimType`, if the error is the client's.
    pub fn scim_type(&self) -> Option<ScimType> {
        Some(match self {
            Self::InvalidSyntax { .. } | Self::UnknownAttribute { .. } => ScimType::InvalidSyntax,
            Self::UnknownSchema { .. }
            | Self::UnknownResourceType { .. }
            | Self::SchemasMismatch { .. }
            | Self::WrongType { .. }
            | Self::Required { .. }
            | Self::MultiplePrimary { .. } => ScimType::InvalidValue,
            Self::Mutability { .. } => ScimType::Mutability,
            Self::InvalidPath { .. } => ScimType::InvalidPath,
            Self::InvalidSchema { .. } => return None,
        })
    }

    /// The HTTP status: 400 for the client's errors, 500 for configuration errors.
    pub fn status(&self) -> u16 {
        if self.is_client_error() { 400 } else { 500 }
    }

    /// Whether the client is to blame (and may fix the request).
    pub fn is_client_error(&self) -> bool {
        !matches!(self, Self::InvalidSchema { .. })
    }

    /// The RFC 7644 §3.12 error response for this error.
    pub fn to_scim_error(&self) -> ScimError {
        ScimError::new(self.status(), self.scim_type(), self.to_string())
    }
}

impl From<SchemaError> for ScimError {
    fn from(e: SchemaError) -> Self {
        e.to_scim_error()
    }
}

/// A location inside a resource, built up while walking it and rendered only for errors
/// (`emails[1].value`, `urn:…:enterprise:2.0:User:manager.value`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Loc<'a> {
    Root,
    Urn(&'a str),
    /// An attribute path given as text (by a caller outside the walk, e.g. a PATCH path).
    Path(&'a str),
    Attr(&'a Self, &'a str),
    Index(&'a Self, usize),
}

impl fmt::Display for Loc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Root => Ok(()),
            Self::Urn(text) | Self::Path(text) => f.write_str(text),
            Self::Attr(parent, name) => match parent {
                Self::Root => f.write_str(name),
                Self::Urn(_) => write!(f, "{parent}:{name}"),
                _ => write!(f, "{parent}.{name}"),
            },
            Self::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

/// A short description of a JSON value for error messages: its type and a clipped preview.
pub(crate) fn describe(value: &serde_json::Value) -> String {
    use serde_json::Value;
    fn clip(s: &str) -> String {
        const MAX: usize = 64;
        match s.char_indices().nth(MAX) {
            Some((cut, _)) => format!("{}…", &s[..cut]),
            None => s.to_owned(),
        }
    }
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {:?}", clip(s)),
        Value::Array(a) => format!("an array of {} values", a.len()),
        Value::Object(_) => "an object".into(),
    }
}
