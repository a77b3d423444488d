//! Attribute paths: `[URI ":"] ATTRNAME *1subAttr` (RFC 7644 §3.10).
//!
//! This is the path type shared by the whole toolkit: `scimkit-filter` produces it from
//! filters, PATCH paths and `sortBy`, and this crate resolves it against a resource type and
//! uses it to read resources and to project them.

use std::fmt;

use compact_str::CompactString;

use crate::error::SchemaError;
use crate::schema::is_attr_name;

/// An attribute path: an optional schema URN, an attribute name and an optional
/// sub-attribute name, e.g. `name.familyName` or
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`.
///
/// Names keep the casing they were written in; comparisons against schemas are
/// case-insensitive (RFC 7643 §2.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct AttrPath {
    /// The schema URN prefix, without the `:` that separates it from the name.
    pub urn: Option<String>,
    /// The attribute name (stored inline when short, as names almost always are).
    pub name: CompactString,
    /// The sub-attribute name.
    pub sub_attr: Option<CompactString>,
}

impl AttrPath {
    /// A path to a top-level attribute without a URN.
    pub fn new(name: impl Into<CompactString>) -> Self {
        Self {
            urn: None,
            name: name.into(),
            sub_attr: None,
        }
    }

    /// The path with a schema URN prefix.
    pub fn with_urn(mut self, urn: impl Into<String>) -> Self {
        self.urn = Some(urn.into());
        self
    }

    /// The path with a sub-attribute.
    pub fn with_sub_attr(mut self, sub: impl Into<CompactString>) -> Self {
        self.sub_attr = Some(sub.into());
        self
    }

    /// Parses `[URI ":"] ATTRNAME ["." ATTRNAME]`.
    ///
    /// A path that begins with `urn:` (in any case) is split at its last `:`; what follows
    /// must be an attribute name with an optional sub-attribute. Surrounding whitespace is
    /// not allowed. For the complete grammar with value filters, use `scimkit-filter`.
    pub fn parse(input: &str) -> Result<Self, SchemaError> {
        let fail = |detail: &str| SchemaError::InvalidPath {
            path: input.to_owned(),
            detail: detail.to_owned(),
        };
        let (urn, rest) = if has_urn_prefix(input) {
            match input.rfind(':') {
                Some(i) if i > 4 => (Some(&input[..i]), &input[i + 1..]),
                _ => {
                    return Err(fail(
                        "a URN prefix must be followed by `:` and an attribute name",
                    ));
                }
            }
        } else {
            (None, input)
        };
        let (name, sub) = match rest.split_once('.') {
            Some((name, sub)) => (name, Some(sub)),
            None => (rest, None),
        };
        if name.is_empty() {
            return Err(fail("expected an attribute name"));
        }
        if !is_attr_name(name) {
            return Err(fail(&format!(
                "`{name}` is not an attribute name (a letter, then letters, digits, `-` or `_`)"
            )));
        }
        if let Some(sub) = sub.filter(|s| !is_attr_name(s)) {
            return Err(fail(&format!(
                "`{sub}` is not a sub-attribute name (a letter, then letters, digits, `-` or `_`)"
            )));
        }
        Ok(Self {
            urn: urn.map(str::to_owned),
            name: name.into(),
            sub_attr: sub.map(Into::into),
        })
    }

    /// Parses a comma-separated list, as in the `attributes` and `excludedAttributes` query
    /// parameters (RFC 7644 §3.4.2.5). Whitespace around entries is ignored; empty entries are
    /// skipped.
    pub fn parse_list(input: &str) -> Result<Vec<Self>, SchemaError> {
        input
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(Self::parse)
            .collect()
    }
}

/// Whether `s` begins with `urn:` in any casing.
pub(crate) fn has_urn_prefix(s: &str) -> bool {
    s.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:"))
}

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(urn) = &self.urn {
            write!(f, "{urn}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for AttrPath {
    type Err = SchemaError;

    fn from_str(s: &str) -> Result<Self, SchemaError> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_sub_and_urn_forms() {
        assert_eq!(
            AttrPath::parse("userName").unwrap(),
            AttrPath::new("userName")
        );
        assert_eq!(
            AttrPath::parse("name.familyName").unwrap(),
            AttrPath::new("name").with_sub_attr("familyName")
        );
        let p = AttrPath::parse(
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        )
        .unwrap();
        assert_eq!(
            p.urn.as_deref(),
            Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")
        );
        assert_eq!(p.name, "manager");
        assert_eq!(p.sub_attr.as_deref(), Some("value"));
        assert_eq!(
            p.to_string(),
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"
        );
        assert_eq!(
            AttrPath::parse("members.$ref").unwrap().sub_attr.as_deref(),
            Some("$ref")
        );
    }

    #[test]
    fn rejects_malformed_paths() {
        for bad in [
            "",
            "1abc",
            "name.",
            ".x",
            "a.b.c",
            "urn:",
            "name familyName",
            "emails[type eq \"work\"]",
        ] {
            let err = AttrPath::parse(bad).unwrap_err();
            assert_eq!(err.scim_type(), Some(crate::ScimType::InvalidPath), "{bad}");
        }
    }

    #[test]
    fn parses_lists() {
        let list = AttrPath::parse_list(" userName, name.givenName ,,emails").unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list[1].sub_attr.as_deref(), Some("givenName"));
    }
}
