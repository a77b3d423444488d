//! Resources: a generic JSON resource with case-insensitive access by attribute path, and typed
//! views of Users and Groups that keep what they do not model.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::builtin::ENTERPRISE_USER;
use crate::messages::{Extra, Meta};
use crate::normalize::get_ignore_case;
use crate::path::AttrPath;

/// A SCIM resource as a JSON object, read by attribute path.
///
/// Attribute names are matched case-insensitively (RFC 7643 §2.1). A path whose URN is the
/// key of an extension object in the resource reads inside that object; any other URN (the
/// core schema's) reads the top level.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Resource(pub Map<String, Value>);

impl Resource {
    /// Wraps a JSON object.
    pub fn new(attrs: Map<String, Value>) -> Self {
        Self(attrs)
    }

    /// The JSON object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// The JSON object, by value.
    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }

    /// The value of `id`.
    pub fn id(&self) -> Option<&str> {
        get_ignore_case(&self.0, "id").and_then(Value::as_str)
    }

    /// The URNs in `schemas`.
    pub fn schemas(&self) -> impl Iterator<Item = &str> {
        get_ignore_case(&self.0, "schemas")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
    }

    /// The top-level attribute, extension attribute, or sub-attribute of a singular complex
    /// attribute that `path` names. For a sub-attribute of a multi-valued attribute, the first
    /// value's; see [`Resource::values`] for all of them.
    pub fn get(&self, path: &AttrPath) -> Option<&Value> {
        self.values(path).next()
    }

    /// Every value `path` names, flattening multi-valued attributes: `emails.value` yields
    /// each email address, `emails` each email object.
    pub fn values<'a>(&'a self, path: &AttrPath) -> impl Iterator<Item = &'a Value> + 'a {
        let base = self.container(path.urn.as_deref());
        let attr = base
            .and_then(|m| get_ignore_case(m, &path.name))
            .filter(|v| !v.is_null());
        let sub = path.sub_attr.clone();
        let items: Box<dyn Iterator<Item = &'a Value> + 'a> = match attr {
            None => Box::new(std::iter::empty()),
            Some(Value::Array(items)) => Box::new(items.iter()),
            Some(v) => Box::new(std::iter::once(v)),
        };
        items.filter_map(move |v| match &sub {
            None => Some(v),
            Some(sub) => v
                .as_object()
                .and_then(|o| get_ignore_case(o, sub))
                .filter(|v| !v.is_null()),
        })
    }

    /// The object that holds the attributes of the schema `urn`.
    fn container(&self, urn: Option<&str>) -> Option<&Map<String, Value>> {
        match urn {
            None => Some(&self.0),
            Some(urn) => match get_ignore_case(&self.0, urn) {
                Some(Value::Object(ext)) => Some(ext),
                _ => Some(&self.0),
            },
        }
    }
}

impl From<Map<String, Value>> for Resource {
    fn from(map: Map<String, Value>) -> Self {
        Self(map)
    }
}

/// The components of a user's name (RFC 7643 §4.1.1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Name {
    /// The full name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    /// The family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// The given name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// The middle name(s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    /// The honorific prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honorific_prefix: Option<String>,
    /// The honorific suffix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub honorific_suffix: Option<String>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A value of a multi-valued attribute (RFC 7643 §2.4): `emails`, `phoneNumbers`, `ims`,
/// `photos`, `entitlements`, `roles`, `x509Certificates`, and `groups`/`members` references.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MultiValue {
    /// The value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// A reference to the resource the value names (`groups`, `members`).
    #[serde(rename = "$ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// A display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    /// The value's function, e.g. `work`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Whether this is the preferred value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A physical mailing address (RFC 7643 §4.1.2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Address {
    /// The full address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formatted: Option<String>,
    /// The street address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub street_address: Option<String>,
    /// The city.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
    /// The state or region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The postal code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// The country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// `work`, `home` or `other`.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Whether this is the preferred address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<bool>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A typed view of a User (RFC 7643 §4.1). Extension objects and attributes it does not
/// model stay in `extra`, so converting a resource to a `User` and back loses nothing.
///
/// The view expects canonical attribute names, as [`normalize`](crate::Bound::normalize)
/// writes them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct User {
    /// The schema URNs.
    #[serde(default)]
    pub schemas: Vec<String>,
    /// The service provider's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The client's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The unique user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// The name components.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<Name>,
    /// The display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The nickname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nick_name: Option<String>,
    /// The profile URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile_url: Option<String>,
    /// The title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The user type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_type: Option<String>,
    /// The preferred language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_language: Option<String>,
    /// The locale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// The time zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The administrative status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
    /// The password (write-only; never in responses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// Email addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emails: Vec<MultiValue>,
    /// Phone numbers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phone_numbers: Vec<MultiValue>,
    /// Instant messaging addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ims: Vec<MultiValue>,
    /// Photo URLs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub photos: Vec<MultiValue>,
    /// Mailing addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<Address>,
    /// Group memberships (read-only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<MultiValue>,
    /// Entitlements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entitlements: Vec<MultiValue>,
    /// Roles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<MultiValue>,
    /// X.509 certificates (base64 DER).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub x509_certificates: Vec<MultiValue>,
    /// Metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Extension objects and other attributes.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The Enterprise User extension (RFC 7643 §4.3).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EnterpriseUser {
    /// The employee number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub employee_number: Option<String>,
    /// The cost center.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost_center: Option<String>,
    /// The organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// The division.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub division: Option<String>,
    /// The department.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub department: Option<String>,
    /// The manager.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager: Option<Manager>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A user's manager (RFC 7643 §4.3).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Manager {
    /// The manager's `id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The manager's URI.
    #[serde(rename = "$ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// The manager's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Anything else.
    #[serde(flatten)]
    pub extra: Extra,
}

impl User {
    /// Reads a User from a resource.
    pub fn from_resource(resource: Resource) -> Result<Self, serde_json::Error> {
        serde_json::from_value(Value::Object(resource.0))
    }

    /// The resource this view holds, with everything it did not model.
    pub fn into_resource(self) -> Resource {
        match serde_json::to_value(self).expect("users serialize") {
            Value::Object(map) => Resource(map),
            _ => unreachable!("a user serializes to an object"),
        }
    }

    /// The Enterprise User extension, if present and well-formed.
    pub fn enterprise(&self) -> Option<EnterpriseUser> {
        get_ignore_case(&self.extra, ENTERPRISE_USER)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// The primary email, else the first.
    pub fn primary_email(&self) -> Option<&str> {
        self.emails
            .iter()
            .find(|e| e.primary == Some(true))
            .or_else(|| self.emails.first())
            .and_then(|e| e.value.as_deref())
    }
}

/// A typed view of a Group (RFC 7643 §4.2).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Group {
    /// The schema URNs.
    #[serde(default)]
    pub schemas: Vec<String>,
    /// The service provider's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The client's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// The members.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<MultiValue>,
    /// Metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Extension objects and other attributes.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Group {
    /// Reads a Group from a resource.
    pub fn from_resource(resource: Resource) -> Result<Self, serde_json::Error> {
        serde_json::from_value(Value::Object(resource.0))
    }

    /// The resource this view holds, with everything it did not model.
    pub fn into_resource(self) -> Resource {
        match serde_json::to_value(self).expect("groups serialize") {
            Value::Object(map) => Resource(map),
            _ => unreachable!("a group serializes to an object"),
        }
    }
}
