//! Protocol messages of RFC 7644 with serde: errors, list responses, PATCH, bulk, search, and
//! the discovery documents of RFC 7643 §5 and §3.1 `meta`.
//!
//! Field names follow the RFC's casing on output. On input, the message URNs are checked by
//! the code that uses a message, not by deserialization, so a server can answer a wrong URN
//! with a precise error.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// `urn:ietf:params:scim:api:messages:2.0:Error`
pub const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
/// `urn:ietf:params:scim:api:messages:2.0:ListResponse`
pub const LIST_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
/// `urn:ietf:params:scim:api:messages:2.0:PatchOp`
pub const PATCH_OP_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
/// `urn:ietf:params:scim:api:messages:2.0:BulkRequest`
pub const BULK_REQUEST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
/// `urn:ietf:params:scim:api:messages:2.0:BulkResponse`
pub const BULK_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
/// `urn:ietf:params:scim:api:messages:2.0:SearchRequest`
pub const SEARCH_REQUEST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
/// `urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig`
pub const SERVICE_PROVIDER_CONFIG_URN: &str =
    "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";

fn urns(urn: &str) -> Vec<String> {
    vec![urn.to_owned()]
}

/// The `scimType` error keywords of RFC 7644 §3.12 (Table 9), plus the cursor errors of
/// RFC 9865.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ScimType {
    /// The filter syntax was invalid, or the operator or comparison value was wrong (400).
    InvalidFilter,
    /// The filter yields more results than the server is willing to process (400).
    TooMany,
    /// One or more unique attribute values are already in use (409).
    Uniqueness,
    /// The change is incompatible with an attribute's mutability (400).
    Mutability,
    /// The request body was invalid or did not conform to the request schema (400).
    InvalidSyntax,
    /// The `path` attribute was invalid or malformed (400).
    InvalidPath,
    /// The path did not yield an attribute or value that could be operated on (400).
    NoTarget,
    /// A required value was missing or a value was incompatible with the attribute (400).
    InvalidValue,
    /// The protocol version is not supported (400).
    InvalidVers,
    /// The request cannot be completed because of sensitive information in the URI (403).
    Sensitive,
    /// The cursor is invalid (RFC 9865, 400).
    InvalidCursor,
    /// The cursor has expired (RFC 9865, 400).
    ExpiredCursor,
}

impl ScimType {
    /// Every keyword, in the order of RFC 7644 Table 9, then RFC 9865.
    pub const ALL: [Self; 12] = [
        Self::InvalidFilter,
        Self::TooMany,
        Self::Uniqueness,
        Self::Mutability,
        Self::InvalidSyntax,
        Self::InvalidPath,
        Self::NoTarget,
        Self::InvalidValue,
        Self::InvalidVers,
        Self::Sensitive,
        Self::InvalidCursor,
        Self::ExpiredCursor,
    ];

    /// The keyword as written on the wire, e.g. `invalidFilter`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidFilter => "invalidFilter",
            Self::TooMany => "tooMany",
            Self::Uniqueness => "uniqueness",
            Self::Mutability => "mutability",
            Self::InvalidSyntax => "invalidSyntax",
            Self::InvalidPath => "invalidPath",
            Self::NoTarget => "noTarget",
            Self::InvalidValue => "invalidValue",
            Self::InvalidVers => "invalidVers",
            Self::Sensitive => "sensitive",
            Self::InvalidCursor => "invalidCursor",
            Self::ExpiredCursor => "expiredCursor",
        }
    }

    /// The HTTP status RFC 7644 Table 9 gives for the keyword.
    pub fn status(self) -> u16 {
        match self {
            Self::Uniqueness => 409,
            Self::Sensitive => 403,
            _ => 400,
        }
    }
}

impl fmt::Display for ScimType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown `scimType` keyword.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scimType `{0}`")]
pub struct UnknownScimType(pub String);

impl FromStr for ScimType {
    type Err = UnknownScimType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownScimType(s.to_owned()))
    }
}

impl Serialize for ScimType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ScimType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The error response of RFC 7644 §3.12.
///
/// `status` is written as a string, as the RFC's examples do; a number is accepted on input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ScimError {
    /// `["urn:ietf:params:scim:api:messages:2.0:Error"]`.
    pub schemas: Vec<String>,
    /// The HTTP status code.
    #[serde(
        serialize_with = "status_as_string",
        deserialize_with = "status_from_any"
    )]
    pub status: u16,
    /// The error keyword, for the 400, 403 and 409 errors that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scim_type: Option<ScimType>,
    /// What was wrong and where, for a human.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

fn status_as_string<S: Serializer>(status: &u16, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(status)
}

fn status_from_any<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => s.trim().parse().map_err(serde::de::Error::custom),
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(|| serde::de::Error::custom("status out of range")),
        other => Err(serde::de::Error::custom(format!(
            "status must be a string, found {other}"
        ))),
    }
}

impl ScimError {
    /// An error with the given status, keyword and detail.
    pub fn new(status: u16, scim_type: Option<ScimType>, detail: impl Into<String>) -> Self {
        Self {
            schemas: urns(ERROR_URN),
            status,
            scim_type,
            detail: Some(detail.into()),
        }
    }

    /// An error with a keyword, using the keyword's status.
    pub fn typed(scim_type: ScimType, detail: impl Into<String>) -> Self {
        Self::new(scim_type.status(), Some(scim_type), detail)
    }
}

impl fmt::Display for ScimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.status)?;
        if let Some(t) = self.scim_type {
            write!(f, " {t}")?;
        }
        if let Some(d) = &self.detail {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ScimError {}

/// `meta` (RFC 7643 §3.1): the resource's metadata.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Meta {
    /// The resource type's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// When the resource was created (xsd:dateTime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// When the resource last changed (xsd:dateTime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// The resource's URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The version, an ETag such as `W/"3"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// A list response (RFC 7644 §3.4.2), with the cursor fields of RFC 9865.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ListResponse<T = Value> {
    /// `["urn:ietf:params:scim:api:messages:2.0:ListResponse"]`.
    pub schemas: Vec<String>,
    /// The total number of results matching the query.
    pub total_results: u64,
    /// The 1-based index of the first result in this page (index pagination).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_index: Option<u64>,
    /// The number of results in this page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items_per_page: Option<u64>,
    /// The cursor of the next page (RFC 9865).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// The cursor of the previous page (RFC 9865).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_cursor: Option<String>,
    /// The results. Always written, even when empty, since several IdPs require it.
    #[serde(rename = "Resources", default = "Vec::new")]
    pub resources: Vec<T>,
}

impl<T> ListResponse<T> {
    /// A page of results for index pagination.
    pub fn new(resources: Vec<T>, total_results: u64, start_index: u64) -> Self {
        Self {
            schemas: urns(LIST_RESPONSE_URN),
            total_results,
            start_index: Some(start_index),
            items_per_page: Some(resources.len() as u64),
            next_cursor: None,
            previous_cursor: None,
            resources,
        }
    }
}

/// A PATCH operation keyword (RFC 7644 §3.5.2). Parsed case-insensitively, since Entra ID
/// sends `Add`, `Replace` and `Remove`; written in lowercase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PatchOpKind {
    /// `add`
    Add,
    /// `remove`
    Remove,
    /// `replace`
    Replace,
}

impl PatchOpKind {
    /// The keyword in lowercase.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Add => "add",
            Self::Remove => "remove",
            Self::Replace => "replace",
        }
    }
}

impl fmt::Display for PatchOpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PatchOpKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        [Self::Add, Self::Remove, Self::Replace]
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown PATCH op `{s}`; expected add, remove or replace"))
    }
}

impl Serialize for PatchOpKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PatchOpKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A PATCH request (RFC 7644 §3.5.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PatchOp {
    /// `["urn:ietf:params:scim:api:messages:2.0:PatchOp"]`.
    pub schemas: Vec<String>,
    /// The operations, applied in order.
    #[serde(rename = "Operations", alias = "operations")]
    pub operations: Vec<PatchOperation>,
}

impl PatchOp {
    /// A request with the given operations.
    pub fn new(operations: Vec<PatchOperation>) -> Self {
        Self {
            schemas: urns(PATCH_OP_URN),
            operations,
        }
    }
}

/// One PATCH operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PatchOperation {
    /// `add`, `remove` or `replace`.
    pub op: PatchOpKind,
    /// The target path; absent for path-less `add` and `replace`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The value; `None` when absent (as for `remove`), `Some(Value::Null)` when sent as
    /// `null`, so the PATCH engine can tell the two apart.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub value: Option<Value>,
}

impl PatchOperation {
    /// An operation.
    pub fn new(op: PatchOpKind, path: Option<String>, value: Option<Value>) -> Self {
        Self { op, path, value }
    }
}

/// Deserializes a field that is present, even as `null`, as `Some`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// A bulk request (RFC 7644 §3.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BulkRequest {
    /// `["urn:ietf:params:scim:api:messages:2.0:BulkRequest"]`.
    pub schemas: Vec<String>,
    /// Stop after this many errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_on_errors: Option<u32>,
    /// The operations.
    #[serde(rename = "Operations", alias = "operations")]
    pub operations: Vec<BulkOperation>,
}

/// One operation of a bulk request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BulkOperation {
    /// `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: String,
    /// A client-chosen id that later operations reference as `bulkId:<id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_id: Option<String>,
    /// The version (ETag) the resource must have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The resource path, e.g. `/Users` or `/Groups/{id}`.
    pub path: String,
    /// The body of the operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// A bulk response (RFC 7644 §3.7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BulkResponse {
    /// `["urn:ietf:params:scim:api:messages:2.0:BulkResponse"]`.
    pub schemas: Vec<String>,
    /// One entry per operation performed.
    #[serde(rename = "Operations", alias = "operations")]
    pub operations: Vec<BulkResponseOperation>,
}

impl BulkResponse {
    /// A response with the given operation results.
    pub fn new(operations: Vec<BulkResponseOperation>) -> Self {
        Self {
            schemas: urns(BULK_RESPONSE_URN),
            operations,
        }
    }
}

/// The result of one bulk operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BulkResponseOperation {
    /// The URI of the resource created or changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// The method of the operation.
    pub method: String,
    /// The operation's `bulkId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bulk_id: Option<String>,
    /// The resource's new version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The HTTP status, as a string.
    #[serde(
        serialize_with = "status_as_string",
        deserialize_with = "status_from_any"
    )]
    pub status: u16,
    /// The error body of a failed operation (or the resource, when requested).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
}

impl BulkResponseOperation {
    /// The result of an operation.
    pub fn new(method: impl Into<String>, status: u16) -> Self {
        Self {
            location: None,
            method: method.into(),
            bulk_id: None,
            version: None,
            status,
            response: None,
        }
    }
}

/// `ascending` or `descending` (RFC 7644 §3.4.2.3); parsed case-insensitively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum SortOrder {
    /// Smallest first. The default.
    #[default]
    Ascending,
    /// Largest first.
    Descending,
}

impl SortOrder {
    /// The keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ascending => "ascending",
            Self::Descending => "descending",
        }
    }
}

impl FromStr for SortOrder {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if s.eq_ignore_ascii_case("ascending") {
            Ok(Self::Ascending)
        } else if s.eq_ignore_ascii_case("descending") {
            Ok(Self::Descending)
        } else {
            Err(format!(
                "sortOrder must be `ascending` or `descending`, found `{s}`"
            ))
        }
    }
}

impl Serialize for SortOrder {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for SortOrder {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// A query sent with `POST /.search` (RFC 7644 §3.4.3), with RFC 9865's `cursor`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SearchRequest {
    /// `["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]`.
    pub schemas: Vec<String>,
    /// Attributes to return.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<String>,
    /// Attributes not to return.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded_attributes: Vec<String>,
    /// The filter expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    /// The attribute to sort by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_by: Option<String>,
    /// The sort order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort_order: Option<SortOrder>,
    /// The 1-based index of the first result (values below 1 mean 1, RFC 7644 §3.4.2.4, so
    /// negative ones are accepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_index: Option<i64>,
    /// The page size (a negative value means 0, RFC 7644 §3.4.2.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    /// The cursor (RFC 9865).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// `{"supported": bool}`, the shape of several service provider features.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Supported {
    /// Whether the feature is supported.
    pub supported: bool,
}

impl Supported {
    /// The feature with the given support.
    pub fn new(supported: bool) -> Self {
        Self { supported }
    }
}

/// Bulk support (RFC 7643 §5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct BulkConfig {
    /// Whether `/Bulk` is supported.
    pub supported: bool,
    /// The most operations in one request.
    pub max_operations: u64,
    /// The largest request body in bytes.
    pub max_payload_size: u64,
}

/// Filter support (RFC 7643 §5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct FilterConfig {
    /// Whether filtering is supported.
    pub supported: bool,
    /// The most results a filtered query returns.
    pub max_results: u64,
}

/// An authentication scheme (RFC 7643 §5).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AuthenticationScheme {
    /// `oauth`, `oauth2`, `oauthbearertoken`, `httpbasic` or `httpdigest`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The scheme's name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// The specification's URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_uri: Option<String>,
    /// Documentation's URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documentation_uri: Option<String>,
    /// Whether this is the preferred scheme.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
}

/// The service provider configuration (RFC 7643 §5), served at `/ServiceProviderConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ServiceProviderConfig {
    /// `["urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"]`.
    pub schemas: Vec<String>,
    /// Where the service provider's documentation lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documentation_uri: Option<String>,
    /// PATCH support.
    pub patch: Supported,
    /// Bulk support.
    pub bulk: BulkConfig,
    /// Filter support.
    pub filter: FilterConfig,
    /// Password change support.
    pub change_password: Supported,
    /// Sorting support.
    pub sort: Supported,
    /// ETag support.
    pub etag: Supported,
    /// The authentication schemes.
    pub authentication_schemes: Vec<AuthenticationScheme>,
    /// Cursor pagination support (RFC 9865); absent when not configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagination: Option<Value>,
    /// Metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
}

impl ServiceProviderConfig {
    /// A configuration with every feature off and no authentication scheme; set what the
    /// server really supports.
    pub fn new() -> Self {
        Self {
            schemas: urns(SERVICE_PROVIDER_CONFIG_URN),
            documentation_uri: None,
            patch: Supported::default(),
            bulk: BulkConfig::default(),
            filter: FilterConfig::default(),
            change_password: Supported::default(),
            sort: Supported::default(),
            etag: Supported::default(),
            authentication_schemes: Vec::new(),
            pagination: None,
            meta: None,
        }
    }
}

impl Default for ServiceProviderConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// Extra attributes kept by typed views: unknown attributes and extension objects.
pub type Extra = Map<String, Value>;
