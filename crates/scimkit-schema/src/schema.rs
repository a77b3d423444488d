//! Schemas (RFC 7643 §7) and resource types (§6).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::AttributeDef;
use crate::error::SchemaError;
use crate::messages::Meta;

/// The URN of the schema that describes schemas (RFC 7643 §7).
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";
/// The URN of the schema that describes resource types (RFC 7643 §6).
pub const RESOURCE_TYPE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";

/// A schema: a URN-identified list of attribute definitions (RFC 7643 §7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Schema {
    /// The schema URN, e.g. `urn:ietf:params:scim:schemas:core:2.0:User`.
    pub id: String,
    /// Human-readable name, e.g. `User`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The top-level attributes.
    #[serde(default)]
    pub attributes: Vec<AttributeDef>,
}

impl Schema {
    /// A schema with the given URN, name and attributes.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        attributes: impl IntoIterator<Item = AttributeDef>,
    ) -> Self {
        Self {
            id: id.into(),
            name: Some(name.into()),
            description: None,
            attributes: attributes.into_iter().collect(),
        }
    }

    /// Sets the description.
    pub fn describe(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The top-level attribute named `name`, compared case-insensitively.
    pub fn attribute(&self, name: &str) -> Option<&AttributeDef> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// Reads a schema from its RFC 7643 §7 JSON representation.
    ///
    /// Checks what the rest of the toolkit relies on: a non-empty `id`, attribute names that
    /// are valid `ATTRNAME`s (RFC 7644 §3.10) and unique per level, and sub-attributes only on
    /// complex attributes.
    pub fn from_json(value: Value) -> Result<Self, SchemaError> {
        let schema: Self =
            serde_json::from_value(value).map_err(|e| SchemaError::InvalidSchema {
                schema: String::new(),
                detail: e.to_string(),
            })?;
        schema.check()?;
        Ok(schema)
    }

    fn check(&self) -> Result<(), SchemaError> {
        let fail = |detail: String| SchemaError::InvalidSchema {
            schema: self.id.clone(),
            detail,
        };
        if self.id.trim().is_empty() {
            return Err(fail("the schema has an empty `id`".into()));
        }
        check_attributes(&self.attributes, None).map_err(fail)
    }

    /// The representation served at `/Schemas/{id}` (RFC 7643 §7, §8.7): the schema plus
    /// `schemas` and `meta`, with `meta.location` under `base_url` when given.
    pub fn to_representation(&self, base_url: Option<&str>) -> Value {
        let mut out = Map::new();
        out.insert("schemas".into(), Value::from(vec![SCHEMA_SCHEMA]));
        let Value::Object(body) = serde_json::to_value(self).expect("schemas serialize") else {
            unreachable!("a schema serializes to an object")
        };
        out.extend(body);
        let meta = Meta {
            resource_type: Some("Schema".into()),
            location: base_url.map(|b| format!("{}/Schemas/{}", b.trim_end_matches('/'), self.id)),
            ..Meta::default()
        };
        out.insert(
            "meta".into(),
            serde_json::to_value(meta).expect("meta serializes"),
        );
        Value::Object(out)
    }
}

fn check_attributes(attrs: &[AttributeDef], parent: Option<&str>) -> Result<(), String> {
    for (i, attr) in attrs.iter().enumerate() {
        let full = match parent {
            Some(p) => format!("{p}.{}", attr.name),
            None => attr.name.clone(),
        };
        if !is_attr_name(&attr.name) {
            return Err(format!(
                "`{full}` is not a valid attribute name (RFC 7644 §3.10 ATTRNAME)"
            ));
        }
        if attrs[..i]
            .iter()
            .any(|a| a.name.eq_ignore_ascii_case(&attr.name))
        {
            return Err(format!("attribute `{full}` is defined twice"));
        }
        if attr.kind == crate::AttributeType::Complex {
            check_attributes(&attr.sub_attributes, Some(&full))?;
        } else if !attr.sub_attributes.is_empty() {
            return Err(format!(
                "attribute `{full}` has sub-attributes but is not complex"
            ));
        }
    }
    Ok(())
}

/// Whether `name` matches `ATTRNAME = ALPHA *(nameChar)`, `nameChar = "-" / "_" / DIGIT /
/// ALPHA`, extended with a leading `$` for `$ref` (RFC 7644 §3.10, RFC 7643 §2.1).
pub fn is_attr_name(name: &str) -> bool {
    let rest = name.strip_prefix('$').unwrap_or(name);
    let mut chars = rest.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// An extension schema attached to a resource type (RFC 7643 §6, `schemaExtensions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SchemaExtension {
    /// The extension's schema URN.
    pub schema: String,
    /// Whether every resource of the type must carry the extension.
    #[serde(default)]
    pub required: bool,
}

impl SchemaExtension {
    /// An extension reference.
    pub fn new(schema: impl Into<String>, required: bool) -> Self {
        Self {
            schema: schema.into(),
            required,
        }
    }
}

/// A resource type: a core schema plus extensions, served at an endpoint (RFC 7643 §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ResourceType {
    /// The resource type's id, e.g. `User`.
    pub id: String,
    /// The resource type's name, e.g. `User`; used in `meta.resourceType`.
    pub name: String,
    /// The endpoint path relative to the base URL, e.g. `/Users`.
    pub endpoint: String,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The core schema URN.
    pub schema: String,
    /// The extension schemas.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schema_extensions: Vec<SchemaExtension>,
}

impl ResourceType {
    /// A resource type whose id and name are both `name`.
    pub fn new(
        name: impl Into<String>,
        endpoint: impl Into<String>,
        schema: impl Into<String>,
    ) -> Self {
        let name = name.into();
        Self {
            id: name.clone(),
            name,
            endpoint: endpoint.into(),
            description: None,
            schema: schema.into(),
            schema_extensions: Vec::new(),
        }
    }

    /// Sets the description.
    pub fn describe(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Adds an extension schema.
    pub fn with_extension(mut self, schema: impl Into<String>, required: bool) -> Self {
        self.schema_extensions
            .push(SchemaExtension::new(schema, required));
        self
    }

    /// The extension with URN `urn`, compared case-insensitively.
    pub fn extension(&self, urn: &str) -> Option<&SchemaExtension> {
        self.schema_extensions
            .iter()
            .find(|e| e.schema.eq_ignore_ascii_case(urn))
    }

    /// The representation served at `/ResourceTypes/{id}` (RFC 7643 §6, §8.6).
    pub fn to_representation(&self, base_url: Option<&str>) -> Value {
        let mut out = Map::new();
        out.insert("schemas".into(), Value::from(vec![RESOURCE_TYPE_SCHEMA]));
        let Value::Object(body) = serde_json::to_value(self).expect("resource types serialize")
        else {
            unreachable!("a resource type serializes to an object")
        };
        out.extend(body);
        let meta = Meta {
            resource_type: Some("ResourceType".into()),
            location: base_url
                .map(|b| format!("{}/ResourceTypes/{}", b.trim_end_matches('/'), self.id)),
            ..Meta::default()
        };
        out.insert(
            "meta".into(),
            serde_json::to_value(meta).expect("meta serializes"),
        );
        Value::Object(out)
    }
}
