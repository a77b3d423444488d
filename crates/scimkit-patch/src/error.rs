//! PATCH errors: what went wrong, in which operation, at which path.

use std::fmt;

use scimkit_schema::{SchemaError, ScimError, ScimType};

/// The kind of a PATCH failure, one per RFC 7644 Table 9 `scimType` the engine uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PatchErrorKind {
    /// The request is not a PatchOp: not an object, no `Operations`, a missing or unknown
    /// `op`, a missing `value` for `add`/`replace`, a value of the wrong shape.
    InvalidSyntax,
    /// The `path` does not parse or names no attribute of the resource type.
    InvalidPath,
    /// The path selects nothing to operate on (`remove` without a path, `replace` with a
    /// value filter that matches nothing).
    NoTarget,
    /// The operation would change a read-only or immutable attribute, or remove a required
    /// one.
    Mutability,
    /// A value of the wrong type for its attribute.
    InvalidValue,
    /// A value filter in the path cannot be evaluated (a typed comparison error), or is not
    /// supported where it is used.
    InvalidFilter,
}

impl PatchErrorKind {
    /// The RFC 7644 §3.12 `scimType`.
    pub fn scim_type(self) -> ScimType {
        match self {
            Self::InvalidSyntax => ScimType::InvalidSyntax,
            Self::InvalidPath => ScimType::InvalidPath,
            Self::NoTarget => ScimType::NoTarget,
            Self::Mutability => ScimType::Mutability,
            Self::InvalidValue => ScimType::InvalidValue,
            Self::InvalidFilter => ScimType::InvalidFilter,
        }
    }
}

/// A PATCH request that cannot be applied. Every error is the client's (status 400); the
/// message names the operation (0-based, as in the `Operations` array) and its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchError {
    /// What went wrong.
    pub kind: PatchErrorKind,
    /// The index of the operation in `Operations`, when one is at fault.
    pub operation: Option<usize>,
    /// The operation's `path` as sent (or the key of a path-less value).
    pub path: Option<String>,
    /// What was wrong, for a human.
    pub detail: String,
}

impl PatchError {
    pub(crate) fn new(kind: PatchErrorKind, detail: impl Into<String>) -> Self {
        Self {
            kind,
            operation: None,
            path: None,
            detail: detail.into(),
        }
    }

    /// The RFC 7644 §3.12 `scimType`.
    pub fn scim_type(&self) -> ScimType {
        self.kind.scim_type()
    }

    /// The RFC 7644 §3.12 error response (status 400).
    pub fn to_scim_error(&self) -> ScimError {
        ScimError::typed(self.scim_type(), self.to_string())
    }

    pub(crate) fn at(mut self, operation: usize, path: Option<&str>) -> Self {
        self.operation.get_or_insert(operation);
        if self.path.is_none() {
            self.path = path.map(str::to_owned);
        }
        self
    }

    pub(crate) fn from_schema(e: SchemaError) -> Self {
        let kind = match e.scim_type() {
            Some(ScimType::InvalidSyntax) => PatchErrorKind::InvalidSyntax,
            Some(ScimType::Mutability) => PatchErrorKind::Mutability,
            Some(ScimType::InvalidPath) => PatchErrorKind::InvalidPath,
            _ => PatchErrorKind::InvalidValue,
        };
        Self::new(kind, e.to_string())
    }
}

impl fmt::Display for PatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.operation, &self.path) {
            (Some(i), Some(path)) => write!(f, "operation {i} (path `{path}`): {}", self.detail),
            (Some(i), None) => write!(f, "operation {i}: {}", self.detail),
            (None, _) => f.write_str(&self.detail),
        }
    }
}

impl std::error::Error for PatchError {}

impl From<PatchError> for ScimError {
    fn from(e: PatchError) -> Self {
        e.to_scim_error()
    }
}
