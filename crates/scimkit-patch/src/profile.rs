//! Named normalizers (each a documented tolerance for what a real identity provider sends)
//! and the profiles that group them.

use std::fmt;
use std::str::FromStr;

/// One tolerance in front of the RFC-pure engine. The name (`as_str`) is what configuration
/// files, logs and `--explain` use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Normalizer {
    /// `op-case`: `op` in any case (`Add`, `Replace`, `Remove`), as Entra ID sends without
    /// the `aadOptscim062020` flag. RFC 7644 writes the values in lowercase.
    OpCase,
    /// `missing-schemas`: a PatchOp body without `schemas`, as Okta's group rename sends.
    MissingSchemas,
    /// `string-booleans`: `"True"`, `"false"` for boolean attributes, as Entra ID sends for
    /// `active`.
    StringBooleans,
    /// `path-keys`: in a path-less `add`/`replace`, keys of `value` that are paths
    /// (`"name.givenName"`, `"urn:…:enterprise:2.0:User:manager"`,
    /// `"emails[type eq \"work\"].value"`), as Entra ID sends with `aadOptscim062020`.
    PathKeys,
    /// `ignore-read-only`: read-only attributes inside a path-less value (Okta's group rename
    /// carries `id`) are ignored instead of failing with `mutability`.
    IgnoreReadOnly,
    /// `ignore-unknown`: attributes the resource type does not define, in values and path-less
    /// keys, are ignored instead of failing.
    IgnoreUnknown,
    /// `create-filtered-target`: `add`/`replace` on a value-filter path that matches nothing
    /// (`emails[type eq "work"].value`) creates one value holding the filter's `eq` terms and
    /// the new sub-attribute. RFC 7644 §3.5.2.3 says `replace` fails with `noTarget` here;
    /// Entra ID expects the value to be created.
    CreateFilteredTarget,
    /// `remove-by-value`: `remove` of a multi-valued attribute with a `value` list removes only
    /// the listed values (Entra ID and JumpCloud remove group members this way). RFC 7644
    /// §3.5.2.2 ignores `value` on `remove` and would remove every member.
    RemoveByValue,
    /// `empty-operations`: a PatchOp with an empty `Operations` list changes nothing instead
    /// of failing (Microsoft's SCIM validator sends one).
    EmptyOperations,
    /// `single-value-list`: a single value where a list is expected (OneLogin's `emails`
    /// object), a one-element list where a single value is expected, a bare id for a complex
    /// attribute with a `value` sub-attribute (Entra ID's `manager`).
    SingleValueForList,
}

impl Normalizer {
    /// Every normalizer.
    pub const ALL: [Self; 10] = [
        Self::OpCase,
        Self::MissingSchemas,
        Self::StringBooleans,
        Self::PathKeys,
        Self::IgnoreReadOnly,
        Self::IgnoreUnknown,
        Self::CreateFilteredTarget,
        Self::RemoveByValue,
        Self::EmptyOperations,
        Self::SingleValueForList,
    ];

    /// The normalizer's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpCase => "op-case",
            Self::MissingSchemas => "missing-schemas",
            Self::StringBooleans => "string-booleans",
            Self::PathKeys => "path-keys",
            Self::IgnoreReadOnly => "ignore-read-only",
            Self::IgnoreUnknown => "ignore-unknown",
            Self::CreateFilteredTarget => "create-filtered-target",
            Self::RemoveByValue => "remove-by-value",
            Self::EmptyOperations => "empty-operations",
            Self::SingleValueForList => "single-value-list",
        }
    }
}

impl fmt::Display for Normalizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of normalizers: which tolerances the engine applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    name: &'static str,
    enabled: Vec<Normalizer>,
}

impl Profile {
    /// `strict`: RFC 7644 behavior only.
    pub fn strict() -> Self {
        Self::of("strict", &[])
    }

    /// `lenient` (the default): every normalizer, so that any IdP works out of the box.
    pub fn lenient() -> Self {
        Self::of("lenient", &Normalizer::ALL)
    }

    /// `entra`: Microsoft Entra ID, with or without the `aadOptscim062020` flag.
    pub fn entra() -> Self {
        use Normalizer::*;
        Self::of(
            "entra",
            &[
                OpCase,
                StringBooleans,
                PathKeys,
                IgnoreUnknown,
                CreateFilteredTarget,
                RemoveByValue,
                EmptyOperations,
                SingleValueForList,
            ],
        )
    }

    /// `okta`: group rename without `schemas` and with `id` in the value.
    pub fn okta() -> Self {
        use Normalizer::*;
        Self::of("okta", &[MissingSchemas, IgnoreReadOnly])
    }

    /// `google`: Google Workspace documents no deviation; only the tolerances that cannot change
    /// the meaning of an RFC-conformant request.
    pub fn google() -> Self {
        use Normalizer::*;
        Self::of("google", &[OpCase, MissingSchemas])
    }

    /// `onelogin`: single objects for lists from admin-written templates, and member removal by
    /// value list.
    pub fn onelogin() -> Self {
        use Normalizer::*;
        Self::of(
            "onelogin",
            &[SingleValueForList, StringBooleans, RemoveByValue],
        )
    }

    /// `jumpcloud`: member removal by value list, Entra-style.
    pub fn jumpcloud() -> Self {
        use Normalizer::*;
        Self::of("jumpcloud", &[RemoveByValue, OpCase])
    }

    /// A profile with these normalizers.
    pub fn of(name: &'static str, normalizers: &[Normalizer]) -> Self {
        Self {
            name,
            enabled: normalizers.to_vec(),
        }
    }

    /// Every named profile.
    pub fn all() -> [Self; 7] {
        [
            Self::strict(),
            Self::lenient(),
            Self::entra(),
            Self::okta(),
            Self::google(),
            Self::onelogin(),
            Self::jumpcloud(),
        ]
    }

    /// The profile's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The normalizers it enables.
    pub fn normalizers(&self) -> &[Normalizer] {
        &self.enabled
    }

    /// Whether it enables `n`.
    pub fn allows(&self, n: Normalizer) -> bool {
        self.enabled.contains(&n)
    }
}

impl Default for Profile {
    fn default() -> Self {
        Self::lenient()
    }
}

impl FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::all()
            .into_iter()
            .find(|p| p.name.eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown profile `{s}`; known: strict, lenient, entra, okta, google, onelogin, jumpcloud"))
    }
}
