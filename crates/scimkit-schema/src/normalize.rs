//! Validation and normalization of create (`POST`) and replace (`PUT`) bodies.
//!
//! [`Bound::normalize`] takes a parsed request body and returns the resource as it would be
//! stored: attribute names in their canonical casing and in schema order, `null` and empty
//! values removed (RFC 7643 §2.5), read-only input dropped (§2.2), values type-checked and
//! coerced (§2.3), `schemas` consistent with the extension objects (§3), at most one
//! `primary` value (§2.4), required attributes present, and, on replace, immutable
//! attributes unchanged (RFC 7644 §3.5.1). Normalizing a normalized resource returns it
//! unchanged.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde_json::{Map, Number, Value};

use crate::attribute::{AttributeDef, AttributeType, Mutability};
use crate::error::{Loc, SchemaError, describe};
use crate::path::AttrPath;
use crate::registry::{Bound, Owner, Registry, Target};

/// What to do with attributes that no schema of the resource type defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UnknownAttributes {
    /// Fail with `invalidSyntax`, naming the attribute. The default.
    #[default]
    Reject,
    /// Drop them silently, as RFC 7644 lets a service provider do with attributes it does
    /// not support; what IdPs need when they send attributes of their own.
    Ignore,
}

/// What to do with schema URNs in `schemas` that the resource type does not have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UnknownSchemas {
    /// Fail with `invalidValue`, naming the URN. The default.
    #[default]
    Reject,
    /// Drop the URN (and any object under that key) from the resource. Entra ID adds
    /// `http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group` and
    /// misspelled extension URNs.
    Ignore,
}

/// How strictly [`Bound::normalize`] reads its input.
///
/// [`NormalizeOptions::strict`] (the default) follows RFC 7643 to the letter;
/// [`NormalizeOptions::lenient`] accepts what real identity providers send, each tolerance
/// named by its own field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct NormalizeOptions {
    /// Policy for attributes no schema defines.
    pub unknown_attributes: UnknownAttributes,
    /// Policy for unknown URNs in `schemas`.
    pub unknown_schemas: UnknownSchemas,
    /// Accept strings for booleans (`"True"`, `"false"`, as Entra ID sends for `active`)
    /// and numbers (`"42"`), and numbers or booleans for strings.
    pub coerce_strings: bool,
    /// Accept a single value where a list is expected (OneLogin's `emails` object), a
    /// one-element list where a single value is expected, and a bare value for a complex
    /// attribute that has a `value` sub-attribute (Entra ID's `manager` as a bare id).
    pub coerce_shapes: bool,
    /// Fill in a missing `schemas`, a missing core URN, and extension URNs whose object is
    /// present but not listed.
    pub infer_schemas: bool,
}

impl NormalizeOptions {
    /// RFC 7643 to the letter: every tolerance off.
    pub fn strict() -> Self {
        Self::default()
    }

    /// Every tolerance on: what lets Entra ID, Okta, OneLogin and the others succeed.
    pub fn lenient() -> Self {
        Self {
            unknown_attributes: UnknownAttributes::Ignore,
            unknown_schemas: UnknownSchemas::Ignore,
            coerce_strings: true,
            coerce_shapes: true,
            infer_schemas: true,
        }
    }
}

/// Which tolerances of [`NormalizeOptions`] a body needed: the lenient readings that
/// applied, so that a server can show which IdP deviations it absorbed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Tolerances(u8);

impl Tolerances {
    /// A string for a boolean or number, or a number or boolean for a string
    /// ([`NormalizeOptions::coerce_strings`]).
    pub const STRING_VALUES: Self = Self(1);
    /// A single value for a list, a one-element list for a single value, a bare value for a
    /// complex attribute, or one URN string for `schemas`
    /// ([`NormalizeOptions::coerce_shapes`]).
    pub const VALUE_SHAPES: Self = Self(2);
    /// `schemas` missing, or missing the core URN or an extension whose object is present
    /// ([`NormalizeOptions::infer_schemas`]).
    pub const INFERRED_SCHEMAS: Self = Self(4);
    /// An attribute no schema defines was dropped ([`UnknownAttributes::Ignore`]).
    pub const UNKNOWN_ATTRIBUTES: Self = Self(8);
    /// A URN no schema of the resource type has was dropped ([`UnknownSchemas::Ignore`]).
    pub const UNKNOWN_SCHEMAS: Self = Self(16);

    const NAMES: [(Self, &'static str); 5] = [
        (Self::STRING_VALUES, "string-values"),
        (Self::VALUE_SHAPES, "value-shapes"),
        (Self::INFERRED_SCHEMAS, "inferred-schemas"),
        (Self::UNKNOWN_ATTRIBUTES, "ignore-unknown"),
        (Self::UNKNOWN_SCHEMAS, "ignore-unknown-schemas"),
    ];

    /// Whether no tolerance applied.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every tolerance of `other` applied.
    pub fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The names of the tolerances that applied, in a fixed order (`string-values`,
    /// `value-shapes`, `inferred-schemas`, `ignore-unknown`, `ignore-unknown-schemas`).
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .into_iter()
            .filter(move |(t, _)| self.contains(*t))
            .map(|(_, name)| name)
    }
}

impl std::ops::BitOr for Tolerances {
    type Output = Self;

    fn bitor(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// Whether a body creates a resource or replaces an existing one.
#[derive(Debug, Clone, Copy)]
pub enum Mode<'a> {
    /// `POST`: no existing resource.
    Create,
    /// `PUT`: immutable attributes of `existing` (a stored, normalized resource) must not
    /// change, and carry over when omitted.
    Replace {
        /// The stored resource.
        existing: &'a Map<String, Value>,
    },
}

impl Registry {
    /// Normalizes `body` as a resource of `resource_type`, or of the type whose core schema
    /// its `schemas` names when `resource_type` is `None`. Returns the resource type's name
    /// and the normalized resource.
    pub fn normalize(
        &self,
        resource_type: Option<&str>,
        body: Value,
        mode: Mode<'_>,
        options: &NormalizeOptions,
    ) -> Result<(String, Map<String, Value>), SchemaError> {
        self.normalize_reporting(resource_type, body, mode, options)
            .map(|(name, resource, _)| (name, resource))
    }

    /// [`Registry::normalize`], and which tolerances the body needed.
    pub fn normalize_reporting(
        &self,
        resource_type: Option<&str>,
        body: Value,
        mode: Mode<'_>,
        options: &NormalizeOptions,
    ) -> Result<(String, Map<String, Value>, Tolerances), SchemaError> {
        let name = match resource_type {
            Some(name) => self
                .resource_type(name)
                .map(|rt| rt.name.clone())
                .ok_or_else(|| SchemaError::UnknownResourceType {
                    detail: format!(
                        "unknown resource type `{name}`; known: {}",
                        self.type_names()
                    ),
                })?,
            None => self.infer_type(&body)?,
        };
        let bound = self.bind(&name).ok_or_else(|| SchemaError::InvalidSchema {
            schema: name.clone(),
            detail: "the resource type references a schema that is not defined".into(),
        })?;
        let (resource, tolerances) = bound.normalize_reporting(body, mode, options)?;
        Ok((name, resource, tolerances))
    }

    fn type_names(&self) -> String {
        let names: Vec<String> = self
            .resource_types()
            .iter()
            .map(|rt| format!("{} ({})", rt.name, rt.schema))
            .collect();
        names.join(", ")
    }

    fn infer_type(&self, body: &Value) -> Result<String, SchemaError> {
        let Some(body) = body.as_object() else {
            return Err(not_an_object(body));
        };
        let schemas: Vec<&str> = match get_ignore_case(body, "schemas") {
            Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
            Some(Value::String(one)) => vec![one.as_str()],
            None | Some(Value::Null) => Vec::new(),
            Some(other) => return Err(schemas_not_a_list(other)),
        };
        self.resource_type_for(schemas.iter().copied())
            .map(|rt| rt.name.clone())
            .ok_or_else(|| SchemaError::UnknownResourceType {
                detail: format!(
                    "`schemas` names no core schema of a known resource type; known: {}",
                    self.type_names()
                ),
            })
    }
}

fn not_an_object(body: &Value) -> SchemaError {
    SchemaError::InvalidSyntax {
        detail: format!(
            "the request body must be a JSON object, found {}",
            describe(body)
        ),
    }
}

fn schemas_not_a_list(found: &Value) -> SchemaError {
    SchemaError::InvalidSyntax {
        detail: format!(
            "`schemas` must be a list of URN strings, found {}",
            describe(found)
        ),
    }
}

/// The member of `map` named `name`, matched case-insensitively as RFC 7643 §2.1 asks of
/// attribute names (an exact match is tried first).
pub fn get_ignore_case<'m>(map: &'m Map<String, Value>, name: &str) -> Option<&'m Value> {
    map.get(name).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// One schema's attributes being collected: a slot per definition, holding the key as the
/// client wrote it (for error messages) and the normalized value.
struct Slots<'r> {
    defs: &'r [AttributeDef],
    values: Vec<Option<(String, Value)>>,
}

impl<'r> Slots<'r> {
    fn new(defs: &'r [AttributeDef]) -> Self {
        Self {
            defs,
            values: (0..defs.len()).map(|_| None).collect(),
        }
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.defs
            .iter()
            .position(|a| a.name.eq_ignore_ascii_case(name))
    }

    fn put(
        &mut self,
        i: usize,
        key: String,
        value: Value,
        loc: &Loc<'_>,
    ) -> Result<(), SchemaError> {
        if let Some((first, _)) = &self.values[i] {
            return Err(SchemaError::InvalidSyntax {
                detail: format!(
                    "attribute `{}` is given twice (as `{first}` and `{key}`)",
                    Loc::Attr(loc, &self.defs[i].name)
                ),
            });
        }
        self.values[i] = Some((key, value));
        Ok(())
    }

    /// Checks required attributes and writes the values into `out` in schema order, under
    /// their canonical names. With `defer_immutable`, required immutable attributes are not
    /// checked here: a replace carries them over from the stored resource first.
    fn finish(
        self,
        out: &mut Map<String, Value>,
        loc: &Loc<'_>,
        defer_immutable: bool,
    ) -> Result<(), SchemaError> {
        for (def, slot) in self.defs.iter().zip(self.values) {
            match slot {
                Some((key, value)) => {
                    let key = if key == def.name {
                        key
                    } else {
                        def.name.clone()
                    };
                    out.insert(key, value);
                }
                None if def.required
                    && def.is_writable()
                    && !(defer_immutable && def.mutability == Mutability::Immutable) =>
                {
                    return Err(SchemaError::Required {
                        path: Loc::Attr(loc, &def.name).to_string(),
                    });
                }
                None => {}
            }
        }
        Ok(())
    }
}

struct Normalizer<'o> {
    options: &'o NormalizeOptions,
    /// Whether this is a replace, which carries omitted immutable values over.
    replacing: bool,
    /// The tolerances that applied so far.
    applied: std::cell::Cell<Tolerances>,
}

impl<'r> Bound<'r> {
    /// Validates and normalizes a create or replace body for this resource type.
    ///
    /// The result never holds `id` or `meta` (read-only, assigned by the service provider)
    /// and never holds read-only attributes such as `groups`.
    ///
    /// Checked and normalized: attribute names (canonical casing, schema order), `null` and
    /// empty values (removed, RFC 7643 §2.5), read-only input (ignored, §2.2), types and
    /// coercions (§2.3), `schemas` against the extension objects (§3), at most one `primary`
    /// value (§2.4), required attributes, and, on [`Mode::Replace`], immutable attributes
    /// (RFC 7644 §3.5.1). [`NormalizeOptions`] names each tolerance for real IdPs.
    /// Normalizing a normalized resource returns it unchanged.
    pub fn normalize(
        &self,
        body: Value,
        mode: Mode<'_>,
        options: &NormalizeOptions,
    ) -> Result<Map<String, Value>, SchemaError> {
        self.normalize_reporting(body, mode, options)
            .map(|(resource, _)| resource)
    }

    /// [`Bound::normalize`], and which tolerances the body needed.
    pub fn normalize_reporting(
        &self,
        body: Value,
        mode: Mode<'_>,
        options: &NormalizeOptions,
    ) -> Result<(Map<String, Value>, Tolerances), SchemaError> {
        let Value::Object(body) = body else {
            return Err(SchemaError::InvalidSyntax {
                detail: format!(
                    "the request body must be a JSON object, found {}",
                    describe(&body)
                ),
            });
        };
        let n = Normalizer {
            options,
            replacing: matches!(mode, Mode::Replace { .. }),
            applied: std::cell::Cell::new(Tolerances::default()),
        };
        let root = Loc::Root;
        let mut schemas: Option<Value> = None;
        let mut common = Slots::new(self.common);
        let mut core = Slots::new(&self.core.attributes);
        let mut ext_objects: Vec<Option<(String, Value)>> = vec![None; self.extensions.len()];
        let mut ext_slots: Vec<Option<Slots<'r>>> =
            (0..self.extensions.len()).map(|_| None).collect();

        for (key, value) in body {
            if key.eq_ignore_ascii_case("schemas") {
                schemas = Some(value);
            } else if let Some(i) = common.position(&key) {
                if common.defs[i].is_writable() {
                    let v = n.value(&common.defs[i], value, &Loc::Attr(&root, &key))?;
                    if let Some(v) = v {
                        common.put(i, key, v, &root)?;
                    }
                }
            } else if let Some(i) = core.position(&key) {
                self.put_normalized(&n, &mut core, i, key, value, &root)?;
            } else if let Some(i) = self.extension_index(&key) {
                if ext_objects[i].is_some() {
                    return Err(SchemaError::InvalidSyntax {
                        detail: format!("extension `{}` is given twice", self.extensions[i].0.id),
                    });
                }
                ext_objects[i] = Some((key, value));
            } else if key.contains(':') {
                // A URN-qualified attribute used as a key (`urn:…:User:userName`).
                match AttrPath::parse(&key)
                    .ok()
                    .and_then(|p| self.resolve(&p).map(|t| (p, t)))
                {
                    Some((
                        _,
                        Target::Attribute {
                            owner,
                            attr,
                            sub: None,
                        },
                    )) => {
                        let slots = match owner {
                            Owner::Common => {
                                if !attr.is_writable() {
                                    continue;
                                }
                                &mut common
                            }
                            Owner::Core => &mut core,
                            Owner::Extension(e) => ext_slots[e].get_or_insert_with(|| {
                                Slots::new(&self.extensions[e].0.attributes)
                            }),
                        };
                        let i = slots
                            .position(&attr.name)
                            .expect("resolved attributes have a slot");
                        self.put_normalized(&n, slots, i, key, value, &root)?;
                    }
                    // An unknown schema's object (an IdP's own extension).
                    _ if looks_like_schema_urn(&key) => self.unknown_schema(&n, &key)?,
                    _ => n.unknown(&key, &self.core.id, value)?,
                }
            } else {
                n.unknown(&key, &self.core.id, value)?;
            }
        }

        // Extension objects.
        let mut ext_present = vec![false; self.extensions.len()];
        for (i, obj) in ext_objects.into_iter().enumerate() {
            let slots =
                ext_slots[i].get_or_insert_with(|| Slots::new(&self.extensions[i].0.attributes));
            if let Some((key, value)) = obj {
                let urn = &self.extensions[i].0.id;
                let loc = Loc::Urn(urn);
                match value {
                    Value::Null => {}
                    Value::Object(map) => {
                        for (k, v) in map {
                            match slots.position(&k) {
                                Some(j) => self.put_normalized(&n, slots, j, k, v, &loc)?,
                                None => n.unknown(&Loc::Attr(&loc, &k).to_string(), urn, v)?,
                            }
                        }
                    }
                    other => {
                        return Err(SchemaError::WrongType {
                            path: key,
                            expected: "an object of the extension's attributes".into(),
                            found: describe(&other),
                        });
                    }
                }
            }
            ext_present[i] = slots.values.iter().any(Option::is_some);
        }

        let schemas = self.normalize_schemas(&n, schemas, &ext_present)?;

        if let Mode::Replace { existing } = mode {
            self.carry_immutable(existing, &mut core, None)?;
            for (i, slots) in ext_slots.iter_mut().enumerate() {
                let slots = slots.as_mut().expect("every extension has slots");
                let stored =
                    get_ignore_case(existing, &self.extensions[i].0.id).and_then(Value::as_object);
                if let Some(stored) = stored {
                    self.carry_immutable(stored, slots, Some(&self.extensions[i].0.id))?;
                }
            }
        }

        let mut out = Map::with_capacity(core.defs.len() + 3);
        out.insert(
            "schemas".into(),
            Value::Array(
                schemas
                    .iter()
                    .map(|s| Value::String(s.to_string()))
                    .collect(),
            ),
        );
        common.finish(&mut out, &root, false)?;
        core.finish(&mut out, &root, false)?;
        for (i, slots) in ext_slots.into_iter().enumerate() {
            let slots = slots.expect("every extension has slots");
            let (schema, _) = self.extensions[i];
            let listed = schemas.iter().any(|s| s.eq_ignore_ascii_case(&schema.id));
            let mut obj = Map::new();
            if listed {
                slots.finish(&mut obj, &Loc::Urn(&schema.id), false)?;
            }
            if !obj.is_empty() {
                out.insert(schema.id.clone(), Value::Object(obj));
            }
        }
        Ok((out, n.applied.get()))
    }

    /// Applies the unknown-schema policy to `urn`: Ok to drop it, or the error.
    fn unknown_schema(&self, n: &Normalizer<'_>, urn: &str) -> Result<(), SchemaError> {
        match n.options.unknown_schemas {
            UnknownSchemas::Ignore => {
                n.applied(Tolerances::UNKNOWN_SCHEMAS);
                Ok(())
            }
            UnknownSchemas::Reject => Err(SchemaError::UnknownSchema {
                urn: urn.to_owned(),
                resource_type: self.resource_type.name.clone(),
            }),
        }
    }

    fn put_normalized(
        &self,
        n: &Normalizer<'_>,
        slots: &mut Slots<'r>,
        i: usize,
        key: String,
        value: Value,
        loc: &Loc<'_>,
    ) -> Result<(), SchemaError> {
        let def = &slots.defs[i];
        if !def.is_writable() {
            return Ok(());
        }
        if let Some(v) = n.value(def, value, &Loc::Attr(loc, &def.name))? {
            slots.put(i, key, v, loc)?;
        }
        Ok(())
    }

    /// The `schemas` of the output: the core URN, then each extension listed or present, in
    /// the resource type's order and canonical casing.
    fn normalize_schemas(
        &self,
        n: &Normalizer<'_>,
        schemas: Option<Value>,
        ext_present: &[bool],
    ) -> Result<Vec<&'r str>, SchemaError> {
        let infer = n.options.infer_schemas;
        let mut core_listed = false;
        let mut listed = vec![false; self.extensions.len()];
        match schemas {
            None | Some(Value::Null) if infer => {
                n.applied(Tolerances::INFERRED_SCHEMAS);
                core_listed = true;
            }
            None | Some(Value::Null) => {
                return Err(SchemaError::SchemasMismatch {
                    detail: format!("`schemas` is required; expected [\"{}\"]", self.core.id),
                });
            }
            Some(Value::String(one)) if n.options.coerce_shapes => {
                n.applied(Tolerances::VALUE_SHAPES);
                self.list_schemas(n, [Value::String(one)], &mut core_listed, &mut listed)?;
            }
            Some(Value::Array(items)) => {
                self.list_schemas(n, items, &mut core_listed, &mut listed)?;
            }
            Some(other) => return Err(schemas_not_a_list(&other)),
        }
        if !core_listed && infer {
            n.applied(Tolerances::INFERRED_SCHEMAS);
        }
        if !core_listed && !infer {
            return Err(SchemaError::SchemasMismatch {
                detail: format!(
                    "`schemas` must include the core schema \"{}\"",
                    self.core.id
                ),
            });
        }
        let mut out = vec![self.core.id.as_str()];
        for (i, (schema, required)) in self.extensions.iter().enumerate() {
            if ext_present[i] && !listed[i] && !infer {
                return Err(SchemaError::SchemasMismatch {
                    detail: format!(
                        "the body has attributes of extension \"{}\" but `schemas` does not list it",
                        schema.id
                    ),
                });
            }
            if ext_present[i] && !listed[i] {
                n.applied(Tolerances::INFERRED_SCHEMAS);
            }
            if listed[i] || ext_present[i] {
                out.push(schema.id.as_str());
            } else if *required {
                return Err(SchemaError::SchemasMismatch {
                    detail: format!("the required extension \"{}\" is missing", schema.id),
                });
            }
        }
        Ok(out)
    }

    /// Marks the core schema and the extensions that `items` lists.
    fn list_schemas(
        &self,
        n: &Normalizer<'_>,
        items: impl IntoIterator<Item = Value>,
        core_listed: &mut bool,
        listed: &mut [bool],
    ) -> Result<(), SchemaError> {
        for item in items {
            let Value::String(urn) = item else {
                return Err(schemas_not_a_list(&item));
            };
            let urn = urn.trim();
            if urn.eq_ignore_ascii_case(&self.core.id) {
                *core_listed = true;
            } else if let Some(i) = self.extension_index(urn) {
                listed[i] = true;
            } else {
                self.unknown_schema(n, urn)?;
            }
        }
        Ok(())
    }

    /// On replace: an immutable attribute that already has a value keeps it; a different new
    /// value is a `mutability` error (RFC 7644 §3.5.1).
    fn carry_immutable(
        &self,
        stored: &Map<String, Value>,
        slots: &mut Slots<'r>,
        urn: Option<&str>,
    ) -> Result<(), SchemaError> {
        for (i, def) in slots.defs.iter().enumerate() {
            let old = get_ignore_case(stored, &def.name);
            let path = || match urn {
                Some(urn) => format!("{urn}:{}", def.name),
                None => def.name.clone(),
            };
            if def.mutability == Mutability::Immutable {
                match (old, &slots.values[i]) {
                    (Some(old), Some((_, new))) if !same_value(def, old, new) => {
                        return Err(SchemaError::Mutability { path: path() });
                    }
                    (Some(old), None) => slots.values[i] = Some((def.name.clone(), old.clone())),
                    _ => {}
                }
            } else if def.kind == AttributeType::Complex && !def.multi_valued {
                // Immutable sub-attributes of a singular complex attribute.
                let Some(Value::Object(old)) = old else {
                    continue;
                };
                for sub in def
                    .sub_attributes
                    .iter()
                    .filter(|s| s.mutability == Mutability::Immutable)
                {
                    let Some(old_sub) = get_ignore_case(old, &sub.name) else {
                        continue;
                    };
                    let new_obj = match &mut slots.values[i] {
                        Some((_, Value::Object(obj))) => obj,
                        Some(_) => continue,
                        slot @ None => {
                            *slot = Some((def.name.clone(), Value::Object(Map::new())));
                            match slot {
                                Some((_, Value::Object(obj))) => obj,
                                _ => unreachable!("just inserted an object"),
                            }
                        }
                    };
                    match new_obj.get(&sub.name) {
                        Some(new_sub) if !same_value(sub, old_sub, new_sub) => {
                            return Err(SchemaError::Mutability {
                                path: format!("{}.{}", path(), sub.name),
                            });
                        }
                        Some(_) => {}
                        None => {
                            new_obj.insert(sub.name.clone(), old_sub.clone());
                            let sorted = reorder(std::mem::take(new_obj), &def.sub_attributes);
                            *new_obj = sorted;
                        }
                    }
                }
            }
            // Required immutable sub-attributes were left to this point (see `finish`).
            if let (AttributeType::Complex, false, Some((_, Value::Object(obj)))) =
                (def.kind, def.multi_valued, &slots.values[i])
            {
                let missing = def.sub_attributes.iter().find(|s| {
                    s.required
                        && s.mutability == Mutability::Immutable
                        && get_ignore_case(obj, &s.name).is_none()
                });
                if let Some(sub) = missing {
                    return Err(SchemaError::Required {
                        path: format!("{}.{}", path(), sub.name),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Whether two stored values of an attribute are the same: strings compare
/// case-insensitively unless the attribute is `caseExact` (dateTimes are already in UTC).
fn same_value(def: &AttributeDef, a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) if !def.case_exact => {
            x.eq_ignore_ascii_case(y) || x.to_lowercase() == y.to_lowercase()
        }
        _ => a == b,
    }
}

/// Validates and normalizes one attribute's value, as [`Bound::normalize`] does for each
/// attribute of a body: type checks and coercions, `null` and empty values (`Ok(None)`),
/// read-only sub-attributes dropped, at most one `primary`. `path` names the attribute in
/// error messages (e.g. `emails[type eq "work"].value`). This is what the PATCH engine runs on
/// each value it writes.
pub fn normalize_value(
    def: &AttributeDef,
    value: Value,
    path: &str,
    options: &NormalizeOptions,
) -> Result<Option<Value>, SchemaError> {
    let n = Normalizer {
        options,
        replacing: false,
        applied: std::cell::Cell::new(Tolerances::default()),
    };
    n.value(def, value, &Loc::Path(path))
}

/// Puts `obj`'s keys in the order of `defs`.
fn reorder(mut obj: Map<String, Value>, defs: &[AttributeDef]) -> Map<String, Value> {
    let mut out = Map::with_capacity(obj.len());
    for def in defs {
        if let Some(v) = obj.remove(&def.name) {
            out.insert(def.name.clone(), v);
        }
    }
    out.extend(obj);
    out
}

fn looks_like_schema_urn(key: &str) -> bool {
    crate::path::has_urn_prefix(key) || key.starts_with("http://") || key.starts_with("https://")
}

impl Normalizer<'_> {
    /// Notes that `tolerance` applied.
    fn applied(&self, tolerance: Tolerances) {
        self.applied.set(self.applied.get() | tolerance);
    }

    fn unknown(&self, path: &str, schema: &str, value: Value) -> Result<(), SchemaError> {
        // An unknown attribute that is null carries no data: nothing to reject.
        if value.is_null() {
            return Ok(());
        }
        if self.options.unknown_attributes == UnknownAttributes::Ignore {
            self.applied(Tolerances::UNKNOWN_ATTRIBUTES);
            return Ok(());
        }
        Err(SchemaError::UnknownAttribute {
            path: path.to_owned(),
            schema: schema.to_owned(),
        })
    }

    /// Normalizes one attribute's value; `None` when it is unassigned (null or empty).
    fn value(
        &self,
        def: &AttributeDef,
        value: Value,
        loc: &Loc<'_>,
    ) -> Result<Option<Value>, SchemaError> {
        if value.is_null() {
            return Ok(None);
        }
        if !def.multi_valued {
            let value = match value {
                Value::Array(mut items) if self.options.coerce_shapes && items.len() <= 1 => {
                    self.applied(Tolerances::VALUE_SHAPES);
                    match items.pop() {
                        Some(v) => v,
                        None => return Ok(None),
                    }
                }
                v => v,
            };
            return self.single(def, value, loc);
        }
        let items = match value {
            Value::Array(items) => items,
            single if self.options.coerce_shapes => {
                self.applied(Tolerances::VALUE_SHAPES);
                vec![single]
            }
            other => {
                return Err(SchemaError::WrongType {
                    path: loc.to_string(),
                    expected: format!("an array of {}", type_name(def)),
                    found: describe(&other),
                });
            }
        };
        let mut out = Vec::with_capacity(items.len());
        let mut primaries = 0;
        for (i, item) in items.into_iter().enumerate() {
            if let Some(v) = self.single(def, item, &Loc::Index(loc, i))? {
                if v.get("primary") == Some(&Value::Bool(true)) {
                    primaries += 1;
                }
                out.push(v);
            }
        }
        if primaries > 1 {
            return Err(SchemaError::MultiplePrimary {
                path: loc.to_string(),
                count: primaries,
            });
        }
        Ok((!out.is_empty()).then_some(Value::Array(out)))
    }

    /// Normalizes one value (an element of a multi-valued attribute, or a singular value).
    fn single(
        &self,
        def: &AttributeDef,
        value: Value,
        loc: &Loc<'_>,
    ) -> Result<Option<Value>, SchemaError> {
        let wrong = |value: &Value| SchemaError::WrongType {
            path: loc.to_string(),
            expected: type_name(def).to_owned(),
            found: describe(value),
        };
        let coerce = self.options.coerce_strings;
        let v = match (def.kind, value) {
            (_, Value::Null) => return Ok(None),
            (AttributeType::Complex, Value::Object(map)) => return self.complex(def, map, loc),
            (AttributeType::Complex, v)
                if self.options.coerce_shapes && !v.is_array() && !v.is_object() =>
            {
                match def.sub_attribute("value") {
                    Some(_) => {
                        self.applied(Tolerances::VALUE_SHAPES);
                        let mut map = Map::new();
                        map.insert("value".into(), v);
                        return self.complex(def, map, loc);
                    }
                    None => return Err(wrong(&v)),
                }
            }
            (AttributeType::String | AttributeType::Reference, v @ Value::String(_)) => v,
            (AttributeType::String, Value::Number(n)) if coerce => {
                self.applied(Tolerances::STRING_VALUES);
                Value::String(n.to_string())
            }
            (AttributeType::String, Value::Bool(b)) if coerce => {
                self.applied(Tolerances::STRING_VALUES);
                Value::String(b.to_string())
            }
            (AttributeType::Boolean, v @ Value::Bool(_)) => v,
            (AttributeType::Boolean, Value::String(s)) if coerce => {
                self.applied(Tolerances::STRING_VALUES);
                let t = s.trim();
                if t.eq_ignore_ascii_case("true") {
                    Value::Bool(true)
                } else if t.eq_ignore_ascii_case("false") {
                    Value::Bool(false)
                } else {
                    return Err(wrong(&Value::String(s)));
                }
            }
            (AttributeType::Integer, Value::Number(n)) => {
                integer(&n).ok_or_else(|| wrong(&Value::Number(n)))?
            }
            (AttributeType::Integer, Value::String(s)) if coerce => {
                self.applied(Tolerances::STRING_VALUES);
                match s.trim().parse::<i64>() {
                    Ok(i) => Value::from(i),
                    Err(_) => return Err(wrong(&Value::String(s))),
                }
            }
            (AttributeType::Decimal, v @ Value::Number(_)) => v,
            (AttributeType::Decimal, Value::String(s)) if coerce => {
                self.applied(Tolerances::STRING_VALUES);
                match s.trim().parse::<f64>().ok().and_then(Number::from_f64) {
                    Some(n) => Value::Number(n),
                    None => return Err(wrong(&Value::String(s))),
                }
            }
            (AttributeType::DateTime, Value::String(s)) => match normalize_date_time(&s) {
                Some(t) => Value::String(t),
                None => {
                    return Err(SchemaError::WrongType {
                        path: loc.to_string(),
                        expected: "an xsd:dateTime such as \"2008-01-23T04:56:22Z\"".into(),
                        found: describe(&Value::String(s)),
                    });
                }
            },
            (AttributeType::Binary, Value::String(s)) => {
                if !is_base64(&s) {
                    return Err(SchemaError::WrongType {
                        path: loc.to_string(),
                        expected: "base64-encoded binary (RFC 4648 §4)".into(),
                        found: describe(&Value::String(s)),
                    });
                }
                Value::String(s)
            }
            (_, v) => return Err(wrong(&v)),
        };
        Ok(Some(v))
    }

    fn complex(
        &self,
        def: &AttributeDef,
        map: Map<String, Value>,
        loc: &Loc<'_>,
    ) -> Result<Option<Value>, SchemaError> {
        let mut slots = Slots::new(&def.sub_attributes);
        for (key, value) in map {
            match slots.position(&key) {
                Some(i) => {
                    let sub = &slots.defs[i];
                    if !sub.is_writable() {
                        continue;
                    }
                    if let Some(v) = self.value(sub, value, &Loc::Attr(loc, &sub.name))? {
                        slots.put(i, key, v, loc)?;
                    }
                }
                None => self.unknown(&Loc::Attr(loc, &key).to_string(), &def.name, value)?,
            }
        }
        if slots.values.iter().all(Option::is_none) {
            // An object without any value is unassigned; its required sub-attributes are not
            // asked for.
            return Ok(None);
        }
        let mut out = Map::with_capacity(slots.values.len());
        slots.finish(&mut out, loc, self.replacing && !def.multi_valued)?;
        Ok(Some(Value::Object(out)))
    }
}

fn type_name(def: &AttributeDef) -> &'static str {
    match def.kind {
        AttributeType::String => "a string",
        AttributeType::Boolean => "a boolean",
        AttributeType::Decimal => "a decimal number",
        AttributeType::Integer => "an integer",
        AttributeType::DateTime => "an xsd:dateTime string",
        AttributeType::Binary => "a base64 string",
        AttributeType::Reference => "a URI reference string",
        AttributeType::Complex => "an object",
    }
}

fn integer(n: &Number) -> Option<Value> {
    if n.is_i64() || n.is_u64() {
        return Some(Value::Number(n.clone()));
    }
    let f = n.as_f64()?;
    // 2^63 as f64; anything below fits an i64 exactly when it has no fraction.
    if f.fract() == 0.0 && f.abs() < 9_223_372_036_854_775_808.0 {
        Some(Value::from(f as i64))
    } else {
        None
    }
}

/// Parses an xsd:dateTime (`2008-01-23T04:56:22Z`, with an offset, fractional seconds, or
/// no zone, which is taken as UTC).
pub fn parse_date_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    // xsd:dateTime needs the `T` separator; RFC 3339 parsing in chrono also accepts a space.
    if !matches!(s.as_bytes().get(10), Some(b'T' | b't')) {
        return None;
    }
    match DateTime::parse_from_rfc3339(s) {
        Ok(t) => Some(t.with_timezone(&Utc)),
        Err(_) => Some(
            NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()?
                .and_utc(),
        ),
    }
}

/// Parses an xsd:dateTime and writes it in RFC 3339 UTC form (`Z`), keeping fractional
/// seconds only when present. A value without a time zone is taken as UTC.
pub fn normalize_date_time(s: &str) -> Option<String> {
    Some(parse_date_time(s)?.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

fn is_base64(s: &str) -> bool {
    let body = s.trim_end_matches('=');
    let padding = s.len() - body.len();
    padding <= 2
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
        && (padding == 0 || s.len().is_multiple_of(4))
        && body.len() % 4 != 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    /// The names of the tolerances `body` needs as a User under lenient options.
    fn needed(body: Value) -> Vec<&'static str> {
        let registry = Registry::new();
        let (_, _, t) = registry
            .normalize_reporting(
                Some("User"),
                body,
                Mode::Create,
                &NormalizeOptions::lenient(),
            )
            .expect("lenient options accept the body");
        t.names().collect()
    }

    #[test]
    fn each_tolerance_is_reported_by_name() {
        use serde_json::json;
        let base = || json!({"schemas": [USER], "userName": "bjensen"});
        assert!(needed(base()).is_empty());
        let with = |k: &str, v: Value| {
            let mut b = base();
            b[k] = v;
            b
        };
        assert_eq!(needed(with("active", json!("True"))), ["string-values"]);
        assert_eq!(needed(with("displayName", json!(42))), ["string-values"]);
        assert_eq!(needed(with("displayName", json!(false))), ["string-values"]);
        assert_eq!(
            needed(with("emails", json!({"value": "b@example.com"}))),
            ["value-shapes"]
        );
        assert_eq!(
            needed(with("displayName", json!(["Babs"]))),
            ["value-shapes"]
        );
        assert_eq!(needed(with("schemas", json!(USER))), ["value-shapes"]);
        assert_eq!(needed(json!({"userName": "bjensen"})), ["inferred-schemas"]);
        assert_eq!(
            needed(with("schemas", json!(["urn:example:other"]))),
            ["inferred-schemas", "ignore-unknown-schemas"]
        );
        let mut manager = base();
        manager[ENTERPRISE] = json!({"manager": "26118915-6090-4610-87e4-49d8ca9f808d"});
        assert_eq!(needed(manager), ["value-shapes", "inferred-schemas"]);
        assert_eq!(
            needed(with("favouriteColour", json!("green"))),
            ["ignore-unknown"]
        );
        assert!(needed(with("favouriteColour", Value::Null)).is_empty());
        assert_eq!(
            needed(with("urn:example:idp:1.0:Thing", json!({"a": 1}))),
            ["ignore-unknown-schemas"]
        );
        let mut many = with("active", json!("false"));
        many["nickName"] = json!(7);
        many["emails"] = json!({"value": "b@example.com"});
        assert_eq!(needed(many), ["string-values", "value-shapes"]);
    }

    #[test]
    fn date_times_normalize_to_utc() {
        assert_eq!(
            normalize_date_time("2008-01-23T04:56:22Z").unwrap(),
            "2008-01-23T04:56:22Z"
        );
        assert_eq!(
            normalize_date_time("2008-01-23T06:56:22+02:00").unwrap(),
            "2008-01-23T04:56:22Z"
        );
        assert_eq!(
            normalize_date_time("2008-01-23T04:56:22.250Z").unwrap(),
            "2008-01-23T04:56:22.250Z"
        );
        assert_eq!(
            normalize_date_time("2008-01-23T04:56:22").unwrap(),
            "2008-01-23T04:56:22Z"
        );
        for bad in [
            "2008-01-23",
            "yesterday",
            "2008-01-23 04:56:22Z",
            "2008-13-23T04:56:22Z",
            "",
        ] {
            assert!(normalize_date_time(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn base64_check() {
        for good in ["", "TWFu", "TWE=", "TQ==", "TWFuTWE"] {
            assert!(is_base64(good), "{good}");
        }
        for bad in ["T", "TQ===", "TW!u", "TW Fu", "=TWF"] {
            assert!(!is_base64(bad), "{bad}");
        }
    }

    #[test]
    fn integers_accept_integral_floats_only() {
        let n = |s: &str| serde_json::from_str::<Number>(s).unwrap();
        assert_eq!(integer(&n("5")), Some(Value::from(5)));
        assert_eq!(integer(&n("5.0")), Some(Value::from(5)));
        assert_eq!(integer(&n("5.5")), None);
        assert_eq!(integer(&n("1e300")), None);
    }
}
