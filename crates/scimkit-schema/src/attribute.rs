//! Attribute definitions: the characteristics of RFC 7643 §2.2 and §7.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The data type of an attribute (RFC 7643 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum AttributeType {
    /// A sequence of Unicode characters (§2.3.1). The default when `type` is absent.
    #[default]
    String,
    /// `true` or `false` (§2.3.2).
    Boolean,
    /// A real number with at least one digit to the left and right of the period (§2.3.3).
    Decimal,
    /// A whole number with no fractional part (§2.3.4).
    Integer,
    /// An `xsd:dateTime` such as `2008-01-23T04:56:22Z` (§2.3.5).
    DateTime,
    /// Base64-encoded arbitrary binary data (§2.3.6).
    Binary,
    /// A URI for a resource (§2.3.7).
    Reference,
    /// A singular or multi-valued composition of sub-attributes (§2.3.8).
    Complex,
}

impl AttributeType {
    /// The name used in schema representations, e.g. `dateTime`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Boolean => "boolean",
            Self::Decimal => "decimal",
            Self::Integer => "integer",
            Self::DateTime => "dateTime",
            Self::Binary => "binary",
            Self::Reference => "reference",
            Self::Complex => "complex",
        }
    }
}

impl fmt::Display for AttributeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether and how an attribute may be modified (RFC 7643 §7, `mutability`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Mutability {
    /// Set by the service provider only; client input is ignored (§2.2).
    ReadOnly,
    /// May be updated and read at any time. The default.
    #[default]
    ReadWrite,
    /// May be set once (at creation or when unassigned) and never changed after.
    Immutable,
    /// May be set but is never returned (e.g. `password`).
    WriteOnly,
}

/// When an attribute is returned in a response (RFC 7643 §7, `returned`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Returned {
    /// Always returned, whatever `attributes` or `excludedAttributes` say.
    Always,
    /// Never returned.
    Never,
    /// Returned unless excluded, or unless `attributes` names others only. The default.
    #[default]
    Default,
    /// Returned only when named in `attributes`.
    Request,
}

/// How the service provider enforces uniqueness (RFC 7643 §7, `uniqueness`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub enum Uniqueness {
    /// No uniqueness. The default.
    #[default]
    None,
    /// Unique within the service provider's current context (tenant).
    Server,
    /// Globally unique.
    Global,
}

/// The definition of one attribute or sub-attribute (RFC 7643 §7).
///
/// Serializes to and from the `attributes` entries of a schema representation. Absent
/// characteristics take the defaults of RFC 7643 §2.2 when deserialized; serialization writes
/// every characteristic explicitly, so clients never have to know the defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct AttributeDef {
    /// The attribute's name, in its canonical casing.
    pub name: String,
    /// The data type.
    #[serde(rename = "type", default)]
    pub kind: AttributeType,
    /// Whether the attribute holds a list of values.
    #[serde(default)]
    pub multi_valued: bool,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether the attribute must be present.
    #[serde(default)]
    pub required: bool,
    /// Suggested values (RFC 7643 §7); informative, not enforced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub canonical_values: Vec<String>,
    /// Whether string comparisons are case-sensitive.
    #[serde(default)]
    pub case_exact: bool,
    /// Whether and how the attribute may be modified.
    #[serde(default)]
    pub mutability: Mutability,
    /// When the attribute is returned.
    #[serde(default)]
    pub returned: Returned,
    /// How uniqueness is enforced.
    #[serde(default)]
    pub uniqueness: Uniqueness,
    /// For `reference` attributes: the resource types that may be referenced (`User`,
    /// `Group`, `external`, `uri`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_types: Vec<String>,
    /// For `complex` attributes: the sub-attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_attributes: Vec<Self>,
}

impl AttributeDef {
    /// A new attribute with the defaults of RFC 7643 §2.2 (a singular, optional, readWrite,
    /// case-insensitive string returned by default).
    pub fn new(name: impl Into<String>, kind: AttributeType) -> Self {
        Self {
            name: name.into(),
            kind,
            multi_valued: false,
            description: None,
            required: false,
            canonical_values: Vec::new(),
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            reference_types: Vec::new(),
            sub_attributes: Vec::new(),
        }
    }

    /// Sets `multiValued` to true.
    pub fn multi_valued(mut self) -> Self {
        self.multi_valued = true;
        self
    }

    /// Sets `required` to true.
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// Sets `caseExact` to true.
    pub fn case_exact(mut self) -> Self {
        self.case_exact = true;
        self
    }

    /// Sets the description.
    pub fn describe(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Sets `mutability`.
    pub fn mutability(mut self, mutability: Mutability) -> Self {
        self.mutability = mutability;
        self
    }

    /// Sets `returned`.
    pub fn returned(mut self, returned: Returned) -> Self {
        self.returned = returned;
        self
    }

    /// Sets `uniqueness`.
    pub fn uniqueness(mut self, uniqueness: Uniqueness) -> Self {
        self.uniqueness = uniqueness;
        self
    }

    /// Sets `canonicalValues`.
    pub fn canonical_values<I, S>(mut self, values: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.canonical_values = values.into_iter().map(Into::into).collect();
        self
    }

    /// Sets `referenceTypes`.
    pub fn reference_types<I, S>(mut self, types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.reference_types = types.into_iter().map(Into::into).collect();
        self
    }

    /// Sets `subAttributes`.
    pub fn sub_attributes(mut self, subs: impl IntoIterator<Item = Self>) -> Self {
        self.sub_attributes = subs.into_iter().collect();
        self
    }

    /// The sub-attribute named `name`, compared case-insensitively (RFC 7643 §2.1).
    pub fn sub_attribute(&self, name: &str) -> Option<&Self> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// Whether client input for this attribute is accepted (everything but `readOnly`).
    pub fn is_writable(&self) -> bool {
        self.mutability != Mutability::ReadOnly
    }
}
