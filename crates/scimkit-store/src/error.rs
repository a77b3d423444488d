//! Store errors.

use scimkit_schema::{ScimError, ScimType};

/// Why a store operation failed. The first group is the client's to fix (4xx); the last is
/// the backend's (500), with its cause kept opaque.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No such resource in this tenant (404).
    #[error("{resource_type} {id} not found")]
    NotFound {
        /// The resource type.
        resource_type: String,
        /// The id asked for.
        id: String,
    },
    /// A unique attribute's value is taken (409 `uniqueness`).
    #[error("{attribute} \"{value}\" is already taken in this tenant")]
    Uniqueness {
        /// The attribute, e.g. `userName`.
        attribute: String,
        /// The value.
        value: String,
    },
    /// An id that already exists (409 `uniqueness`).
    #[error("{resource_type} {id} already exists")]
    IdTaken {
        /// The resource type.
        resource_type: String,
        /// The id.
        id: String,
    },
    /// A tenant of that name already exists (409 `uniqueness`).
    #[error("tenant {name} already exists")]
    TenantExists {
        /// The tenant's name.
        name: String,
    },
    /// The resource's version is not the one the write was conditioned on (412).
    #[error(
        "version mismatch: the resource is at version {current}, the request expected {expected}"
    )]
    VersionMismatch {
        /// The version the caller expected.
        expected: u64,
        /// The stored version.
        current: u64,
    },
    /// A filter that cannot be evaluated against the resource type (400 `invalidFilter`).
    #[error("{0}")]
    Filter(String),
    /// A cursor that this server did not issue (400 `invalidCursor`, RFC 9865).
    #[error("{0}")]
    InvalidCursor(String),
    /// A tenant name outside the allowed form: 1 to 64 characters of `a-z`, `0-9` and `-`,
    /// not starting with `-` (400 `invalidValue`). The message says what is allowed.
    #[error("{0}")]
    InvalidName(String),
    /// The backend failed (500); the message is for logs.
    #[error("storage failure: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    pub(crate) fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(e))
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            Self::NotFound { .. } => 404,
            Self::Uniqueness { .. } | Self::IdTaken { .. } | Self::TenantExists { .. } => 409,
            Self::VersionMismatch { .. } => 412,
            Self::Filter(_) | Self::InvalidCursor(_) | Self::InvalidName(_) => 400,
            Self::Backend(_) => 500,
        }
    }

    /// The RFC 7644 §3.12 `scimType`, where one applies.
    pub fn scim_type(&self) -> Option<ScimType> {
        match self {
            Self::Uniqueness { .. } | Self::IdTaken { .. } | Self::TenantExists { .. } => {
                Some(ScimType::Uniqueness)
            }
            Self::Filter(_) => Some(ScimType::InvalidFilter),
            Self::InvalidCursor(_) => Some(ScimType::InvalidCursor),
            Self::InvalidName(_) => Some(ScimType::InvalidValue),
            _ => None,
        }
    }

    /// Whether the backend failed (as opposed to the request).
    pub fn is_backend(&self) -> bool {
        matches!(self, Self::Backend(_))
    }

    /// The RFC 7644 §3.12 error response. Backend details stay out of it.
    pub fn to_scim_error(&self) -> ScimError {
        let detail = if self.is_backend() {
            "the storage backend failed; try again".to_owned()
        } else {
            self.to_string()
        };
        ScimError::new(self.status(), self.scim_type(), detail)
    }
}
