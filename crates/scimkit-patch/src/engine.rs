//! The engine: parse a PatchOp, apply its operations in order to a copy of the resource,
//! validate every value written, and report what changed.

use std::collections::BTreeSet;

use scimkit_filter::{
    AttrExpr, CompValue, CompareOp, EvalOptions, Filter, PatchPath, parse_patch_path,
};
use scimkit_schema::messages::{PATCH_OP_URN, PatchOpKind};
use scimkit_schema::{
    AttrPath, AttributeDef, AttributeType, Bound, Mutability, NormalizeOptions, Owner, Target,
    UnknownAttributes, get_ignore_case, normalize_value,
};
use serde_json::{Map, Value};

use crate::error::{PatchError, PatchErrorKind};
use crate::members::{MemberDelta, MemberIndex, Members};
use crate::profile::{Normalizer, Profile};

/// The result of a PATCH that applied, with the new resource ([`apply`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Patched {
    /// The resource after every operation. With a [`MemberIndex`], it has no `members`: the
    /// membership change is in [`Patched::members`].
    pub resource: Map<String, Value>,
    /// Whether anything changed (the resource or its membership). When false, a server keeps
    /// the version and ETag.
    pub changed: bool,
    /// The attributes whose value changed, by canonical name (extension attributes as
    /// `urn:…:name`), in the order first touched.
    pub changed_attributes: Vec<String>,
    /// The membership change of a group (added and removed member ids). With a
    /// [`MemberIndex`] this is the only record of it; without, it is computed from the
    /// `members` list before and after.
    pub members: MemberDelta,
    /// The normalizers that changed how the request was read, in the order they first fired.
    pub normalizers: Vec<Normalizer>,
}

/// What a PATCH applied in place changed ([`apply_in_place`]); the fields mean what they mean
/// on [`Patched`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Change {
    /// Whether anything changed.
    pub changed: bool,
    /// The attributes whose value changed.
    pub changed_attributes: Vec<String>,
    /// The membership change of a group.
    pub members: MemberDelta,
    /// The normalizers that fired.
    pub normalizers: Vec<Normalizer>,
}

/// One parsed operation.
struct Op {
    index: usize,
    kind: PatchOpKind,
    path_text: Option<String>,
    path: Option<PatchPath>,
    value: Option<Value>,
}

/// What a path resolves to.
#[derive(Clone, Copy)]
struct Loc<'r> {
    owner: Owner,
    attr: &'r AttributeDef,
    /// The sub-attribute (`name.familyName`, or after a value filter).
    sub: Option<&'r AttributeDef>,
}

/// The attribute that holds a group's members.
const MEMBERS: &str = "members";

/// Applies a PatchOp request body (`{"schemas": [...], "Operations": [...]}`) to `resource`,
/// a stored resource of `bound`'s type, with the tolerances of `profile`.
///
/// With `members`, the resource is a group whose `members` are not loaded: operations on
/// `members` are checked against the index and returned as a [`MemberDelta`], in
/// O(k log n) for k members changed in a group of n. Without it, `members` (if any) is an
/// ordinary attribute of `resource`.
///
/// The operations apply in order, all or none: on an error, `resource` is untouched and the
/// error names the operation. Every value written is validated against its attribute's
/// schema; read-only, immutable and required attributes are protected.
pub fn apply(
    bound: &Bound<'_>,
    resource: &Map<String, Value>,
    body: Value,
    profile: &Profile,
    members: Option<&dyn MemberIndex>,
) -> Result<Patched, PatchError> {
    let mut copy = resource.clone();
    let change = apply_in_place(bound, &mut copy, body, profile, members)?;
    Ok(Patched {
        resource: copy,
        changed: change.changed,
        changed_attributes: change.changed_attributes,
        members: change.members,
        normalizers: change.normalizers,
    })
}

/// [`apply_in_place`] with the request body as bytes, the way it arrives. A body with the
/// exact member names of RFC 7644 (`schemas`, `Operations`, `op`, `path`, `value`) is read
/// straight into operations, without building a JSON tree for the envelope; any other body
/// is read as [`apply_in_place`] reads it, with the same results and errors.
pub fn apply_slice_in_place(
    bound: &Bound<'_>,
    resource: &mut Map<String, Value>,
    body: &[u8],
    profile: &Profile,
    members: Option<&dyn MemberIndex>,
) -> Result<Change, PatchError> {
    if let Ok(envelope) = serde_json::from_slice::<Envelope>(body) {
        let mut engine = Engine::new(bound, resource, profile, members);
        return engine.complete(|engine| engine.run_envelope(envelope));
    }
    let body: Value = serde_json::from_slice(body)
        .map_err(|e| syntax(format!("the PATCH body is not valid JSON: {e}")))?;
    apply_in_place(bound, resource, body, profile, members)
}

/// The envelope of a PatchOp with RFC member names only (the fast path).
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    schemas: Option<Vec<String>>,
    #[serde(rename = "Operations")]
    operations: Vec<EnvelopeOp>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeOp {
    op: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default, deserialize_with = "present")]
    value: Option<Value>,
}

/// A member that is present, even as `null`, is `Some`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    <Value as serde::Deserialize>::deserialize(d).map(Some)
}

/// [`apply`] on a resource the caller owns (what a store that has just loaded it holds): the
/// resource is changed in place, and only the attributes the operations touch are copied.
/// On an error, every attribute is put back as it was and the error is returned.
pub fn apply_in_place(
    bound: &Bound<'_>,
    resource: &mut Map<String, Value>,
    body: Value,
    profile: &Profile,
    members: Option<&dyn MemberIndex>,
) -> Result<Change, PatchError> {
    let mut engine = Engine::new(bound, resource, profile, members);
    engine.complete(|engine| engine.run_all(body))
}

fn value_options(profile: &Profile) -> NormalizeOptions {
    let mut options = NormalizeOptions::strict();
    options.coerce_shapes = profile.allows(Normalizer::SingleValueForList);
    if profile.allows(Normalizer::IgnoreUnknown) {
        options.unknown_attributes = UnknownAttributes::Ignore;
    }
    options
}

/// One entry of the undo log: the value a place had before its first change (`None`: it was
/// absent). Values are moved here, not copied.
enum Undo {
    /// A top-level member of the resource.
    Key(String, Option<Value>),
    /// A member of an extension object: (extension key, attribute name, old value).
    Inner(String, String, Option<Value>),
}

struct Engine<'a, 'r> {
    bound: &'a Bound<'r>,
    profile: &'a Profile,
    res: &'a mut Map<String, Value>,
    /// What each change replaced, in order, to put back on an error.
    undo: Vec<Undo>,
    members: Option<Members<'a>>,
    fired: Vec<Normalizer>,
    /// Attributes written, as (owner, canonical name).
    touched: Vec<(Owner, &'r str)>,
    value_options: NormalizeOptions,
}

fn syntax(detail: impl Into<String>) -> PatchError {
    PatchError::new(PatchErrorKind::InvalidSyntax, detail)
}

fn mutability(detail: impl Into<String>) -> PatchError {
    PatchError::new(PatchErrorKind::Mutability, detail)
}

fn no_target(detail: impl Into<String>) -> PatchError {
    PatchError::new(PatchErrorKind::NoTarget, detail)
}

fn invalid_path(detail: impl Into<String>) -> PatchError {
    PatchError::new(PatchErrorKind::InvalidPath, detail)
}

impl<'a, 'r> Engine<'a, 'r> {
    fn new(
        bound: &'a Bound<'r>,
        res: &'a mut Map<String, Value>,
        profile: &'a Profile,
        members: Option<&'a dyn MemberIndex>,
    ) -> Self {
        Self {
            bound,
            profile,
            res,
            undo: Vec::new(),
            members: members.map(Members::new),
            fired: Vec::new(),
            touched: Vec::new(),
            value_options: value_options(profile),
        }
    }

    /// Runs the operations, then the final checks; on any error, puts everything back.
    fn complete(
        &mut self,
        run: impl FnOnce(&mut Self) -> Result<(), PatchError>,
    ) -> Result<Change, PatchError> {
        match run(self).and_then(|()| self.finish()) {
            Ok(change) => Ok(change),
            Err(e) => {
                self.rollback();
                Err(e)
            }
        }
    }

    fn run_envelope(&mut self, envelope: Envelope) -> Result<(), PatchError> {
        match envelope.schemas {
            Some(urns) if urns.iter().any(|u| u.eq_ignore_ascii_case(PATCH_OP_URN)) => {}
            None if self.profile.allows(Normalizer::MissingSchemas) => {
                self.fire(Normalizer::MissingSchemas);
            }
            _ => return Err(syntax(format!("`schemas` must be [\"{PATCH_OP_URN}\"]"))),
        }
        self.check_not_empty(envelope.operations.len())?;
        let mut ops = Vec::with_capacity(envelope.operations.len());
        for (index, raw) in envelope.operations.into_iter().enumerate() {
            ops.push(
                self.make_op(index, &raw.op, raw.path, raw.value)
                    .map_err(|e| e.at(index, None))?,
            );
        }
        for mut op in ops {
            self.run(&mut op)
                .map_err(|e| e.at(op.index, op.path_text.as_deref()))?;
        }
        Ok(())
    }

    /// RFC 7644 §3.5.2: `Operations` holds one or more operations.
    fn check_not_empty(&mut self, count: usize) -> Result<(), PatchError> {
        if count > 0 {
            return Ok(());
        }
        if self.profile.allows(Normalizer::EmptyOperations) {
            self.fire(Normalizer::EmptyOperations);
            return Ok(());
        }
        Err(syntax("`Operations` must hold at least one operation"))
    }

    fn run_all(&mut self, body: Value) -> Result<(), PatchError> {
        let ops = self.parse(body)?;
        for mut op in ops {
            self.run(&mut op)
                .map_err(|e| e.at(op.index, op.path_text.as_deref()))?;
        }
        Ok(())
    }

    /// Records a copy of a top-level member before its first change (for the rare changes
    /// `write` does not log itself).
    fn save(&mut self, key: &str) {
        if !self
            .undo
            .iter()
            .any(|u| matches!(u, Undo::Key(k, _) if k == key))
        {
            self.undo
                .push(Undo::Key(key.to_owned(), self.res.get(key).cloned()));
        }
    }

    /// Puts every change back, newest first.
    fn rollback(&mut self) {
        for entry in self.undo.drain(..).rev() {
            match entry {
                Undo::Key(key, Some(v)) => {
                    self.res.insert(key, v);
                }
                Undo::Key(key, None) => {
                    self.res.shift_remove(&key);
                }
                Undo::Inner(ext, name, old) => {
                    let slot = self
                        .res
                        .entry(ext)
                        .or_insert_with(|| Value::Object(Map::new()));
                    if let Value::Object(obj) = slot {
                        match old {
                            Some(v) => {
                                obj.insert(name, v);
                            }
                            None => {
                                obj.shift_remove(&name);
                            }
                        }
                    }
                }
            }
        }
    }

    /// The value a top-level member had before the request.
    fn before(&self, key: &str) -> Option<&Value> {
        let logged = self.undo.iter().find_map(|u| match u {
            Undo::Key(k, old) if k.eq_ignore_ascii_case(key) => Some(old.as_ref()),
            _ => None,
        });
        match logged {
            Some(old) => old,
            None => get_ignore_case(self.res, key),
        }
    }

    /// The value an attribute had before the request.
    fn before_attr(&self, owner: Owner, name: &str) -> Option<&Value> {
        let Owner::Extension(i) = owner else {
            return self.before(name);
        };
        let urn = &self.bound.extensions[i].0.id;
        let logged = self.undo.iter().find_map(|u| match u {
            Undo::Inner(ext, n, old)
                if ext.eq_ignore_ascii_case(urn) && n.eq_ignore_ascii_case(name) =>
            {
                Some(old.as_ref())
            }
            _ => None,
        });
        match logged {
            Some(old) => old,
            None => self
                .before(urn)
                .and_then(Value::as_object)
                .and_then(|o| get_ignore_case(o, name)),
        }
    }

    fn fire(&mut self, n: Normalizer) {
        if !self.fired.contains(&n) {
            self.fired.push(n);
        }
    }

    /// Reads the request body into operations.
    fn parse(&mut self, body: Value) -> Result<Vec<Op>, PatchError> {
        let Value::Object(mut body) = body else {
            return Err(syntax(
                "the PATCH body must be a JSON object with `schemas` and `Operations`",
            ));
        };
        match get_ignore_case(&body, "schemas") {
            Some(Value::Array(urns))
                if urns.iter().any(|u| {
                    u.as_str()
                        .is_some_and(|u| u.eq_ignore_ascii_case(PATCH_OP_URN))
                }) => {}
            None if self.profile.allows(Normalizer::MissingSchemas) => {
                self.fire(Normalizer::MissingSchemas);
            }
            _ => return Err(syntax(format!("`schemas` must be [\"{PATCH_OP_URN}\"]"))),
        }
        let key = body
            .keys()
            .find(|k| k.eq_ignore_ascii_case("Operations"))
            .cloned();
        let Some(Value::Array(raw_ops)) = key.and_then(|k| body.remove(&k)) else {
            return Err(syntax("`Operations` must be a list of operations"));
        };
        self.check_not_empty(raw_ops.len())?;
        raw_ops
            .into_iter()
            .enumerate()
            .map(|(index, raw)| self.parse_op(index, raw).map_err(|e| e.at(index, None)))
            .collect()
    }

    fn parse_op(&mut self, index: usize, raw: Value) -> Result<Op, PatchError> {
        let Value::Object(mut raw) = raw else {
            return Err(syntax(
                "an operation must be an object with `op`, `path` and `value`",
            ));
        };
        let take = |raw: &mut Map<String, Value>, name: &str| {
            raw.remove(name).or_else(|| {
                let key = raw.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned();
                key.and_then(|k| raw.remove(&k))
            })
        };
        let op = match take(&mut raw, "op") {
            Some(Value::String(op)) => op,
            Some(other) => return Err(syntax(format!("`op` must be a string, found {other}"))),
            None => return Err(syntax("`op` is required")),
        };
        let path_text = match take(&mut raw, "path") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) => Some(p),
            Some(other) => return Err(syntax(format!("`path` must be a string, found {other}"))),
        };
        let value = take(&mut raw, "value");
        self.make_op(index, &op, path_text, value)
    }

    /// An operation from its parts.
    fn make_op(
        &mut self,
        index: usize,
        op: &str,
        path_text: Option<String>,
        value: Option<Value>,
    ) -> Result<Op, PatchError> {
        let kind: PatchOpKind = op.parse().map_err(|_| {
            syntax(format!(
                "unknown `op` \"{op}\"; expected \"add\", \"remove\" or \"replace\""
            ))
        })?;
        if op != kind.as_str() {
            if !self.profile.allows(Normalizer::OpCase) {
                return Err(syntax(format!(
                    "`op` must be \"{kind}\" in lowercase, found \"{op}\""
                )));
            }
            self.fire(Normalizer::OpCase);
        }
        let path = match &path_text {
            Some(text) => Some(parse_patch_path(text).map_err(|e| {
                let mut err = invalid_path(e.to_string());
                err.path = Some(text.clone());
                err
            })?),
            None => None,
        };
        if value.is_none() && kind != PatchOpKind::Remove {
            return Err(syntax(format!("`{kind}` requires a `value`")));
        }
        Ok(Op {
            index,
            kind,
            path_text,
            path,
            value,
        })
    }

    fn run(&mut self, op: &mut Op) -> Result<(), PatchError> {
        let value = op.value.take();
        match (&op.path, op.kind) {
            (None, PatchOpKind::Remove) => Err(no_target("`remove` requires a `path`")),
            (None, kind) => self.pathless(kind, value.unwrap_or(Value::Null)),
            (Some(path), kind) => self.at_path(kind, path, value),
        }
    }

    /// Resolves a PATCH path: `None` for a whole extension schema.
    fn resolve(&self, path: &PatchPath) -> Result<Result<Loc<'r>, usize>, PatchError> {
        match self.bound.resolve(&path.attr) {
            Some(Target::Attribute { owner, attr, sub }) => {
                let sub = match (&path.sub_attr, sub) {
                    (Some(name), None) => Some(attr.sub_attribute(name).ok_or_else(|| {
                        invalid_path(format!("`{}` has no sub-attribute `{name}`", attr.name))
                    })?),
                    (_, sub) => sub,
                };
                if sub.is_some() && attr.kind != AttributeType::Complex {
                    return Err(invalid_path(format!("`{}` is not complex", attr.name)));
                }
                Ok(Ok(Loc { owner, attr, sub }))
            }
            Some(Target::Schema(Owner::Extension(i)))
                if path.filter.is_none() && path.sub_attr.is_none() =>
            {
                Ok(Err(i))
            }
            _ => Err(invalid_path(format!(
                "`{}` is not an attribute of {}",
                path.attr, self.bound.resource_type.name
            ))),
        }
    }

    fn at_path(
        &mut self,
        kind: PatchOpKind,
        path: &PatchPath,
        value: Option<Value>,
    ) -> Result<(), PatchError> {
        match self.resolve(path)? {
            Ok(loc) => self.apply_at(kind, loc, path.filter.as_ref(), value),
            Err(ext) => self.whole_extension(kind, ext, value),
        }
    }

    /// `add`/`replace`/`remove` of a whole extension object.
    fn whole_extension(
        &mut self,
        kind: PatchOpKind,
        ext: usize,
        value: Option<Value>,
    ) -> Result<(), PatchError> {
        let schema = self.bound.extensions[ext].0;
        if kind == PatchOpKind::Remove {
            for attr in &schema.attributes {
                let loc = Loc {
                    owner: Owner::Extension(ext),
                    attr,
                    sub: None,
                };
                if self.current(loc.owner, attr).is_some() {
                    self.apply_at(PatchOpKind::Remove, loc, None, None)?;
                }
            }
            return Ok(());
        }
        let Some(Value::Object(map)) = value else {
            return Err(syntax(format!(
                "the value for extension {} must be an object",
                schema.id
            )));
        };
        for (key, v) in map {
            self.pathless_key(kind, Owner::Extension(ext), &key, v)?;
        }
        Ok(())
    }

    /// `add`/`replace` without a path: each key of the value object is an attribute.
    fn pathless(&mut self, kind: PatchOpKind, value: Value) -> Result<(), PatchError> {
        let Value::Object(map) = value else {
            return Err(syntax(format!(
                "a `{kind}` without a `path` needs an object of attributes as its `value`"
            )));
        };
        for (key, v) in map {
            if key.eq_ignore_ascii_case("schemas") {
                continue;
            }
            if let Some(ext) = self.bound.extension_index(&key) {
                self.whole_extension(kind, ext, Some(v))
                    .map_err(|e| keyed(e, &key))?;
                continue;
            }
            self.pathless_key(kind, Owner::Core, &key, v)
                .map_err(|e| keyed(e, &key))?;
        }
        Ok(())
    }

    /// One key of a path-less value, in the schema of `owner` (core, or an extension object).
    fn pathless_key(
        &mut self,
        kind: PatchOpKind,
        owner: Owner,
        key: &str,
        v: Value,
    ) -> Result<(), PatchError> {
        let plain = match owner {
            Owner::Extension(i) => self
                .bound
                .attributes(owner)
                .iter()
                .find(|a| a.name.eq_ignore_ascii_case(key))
                .map(|a| (Owner::Extension(i), a)),
            _ => self.bound.find(key),
        };
        if let Some((owner, attr)) = plain {
            if !attr.is_writable() && self.profile.allows(Normalizer::IgnoreReadOnly) {
                self.fire(Normalizer::IgnoreReadOnly);
                return Ok(());
            }
            let loc = Loc {
                owner,
                attr,
                sub: None,
            };
            return self.apply_at(kind, loc, None, Some(v));
        }
        // A key that is a path: `name.givenName`, `urn:…:User:manager`, `emails[…].value`.
        if matches!(owner, Owner::Core | Owner::Common)
            && let Ok(path) = parse_patch_path(key)
        {
            let is_path =
                path.filter.is_some() || path.attr.sub_attr.is_some() || path.attr.urn.is_some();
            if is_path && self.resolve(&path).is_ok() {
                if !self.profile.allows(Normalizer::PathKeys) {
                    return Err(invalid_path(format!(
                        "`{key}` is a path; a path-less `{kind}` takes attribute names as keys"
                    )));
                }
                self.fire(Normalizer::PathKeys);
                return self.at_path(kind, &path, Some(v));
            }
        }
        if self.profile.allows(Normalizer::IgnoreUnknown) {
            self.fire(Normalizer::IgnoreUnknown);
            return Ok(());
        }
        Err(invalid_path(format!(
            "`{key}` is not an attribute of {}",
            self.bound.resource_type.name
        )))
    }

    // ---- the resource ----

    fn container(&self, owner: Owner) -> Option<&Map<String, Value>> {
        match owner {
            Owner::Common | Owner::Core => Some(&*self.res),
            Owner::Extension(i) => {
                get_ignore_case(self.res, &self.bound.extensions[i].0.id).and_then(Value::as_object)
            }
        }
    }

    fn current(&self, owner: Owner, attr: &AttributeDef) -> Option<&Value> {
        self.container(owner)
            .and_then(|c| get_ignore_case(c, &attr.name))
            .filter(|v| !v.is_null())
    }

    /// Writes (or, with `None`, removes) an attribute's value under its canonical name,
    /// logging what it replaces.
    fn write(&mut self, owner: Owner, attr: &'r AttributeDef, value: Option<Value>) {
        let first = !self
            .touched
            .iter()
            .any(|(o, n)| *o == owner && *n == attr.name);
        if first {
            self.touched.push((owner, &attr.name));
        }
        let name = &attr.name;
        let ext_key = match owner {
            Owner::Common | Owner::Core => None,
            Owner::Extension(i) => {
                let urn = &self.bound.extensions[i].0.id;
                let key = if self.res.contains_key(urn) {
                    urn.clone()
                } else {
                    self.res
                        .keys()
                        .find(|k| k.eq_ignore_ascii_case(urn))
                        .cloned()
                        .unwrap_or_else(|| urn.clone())
                };
                let present = matches!(self.res.get(&key), Some(Value::Object(_)));
                if !present {
                    let old = self.res.insert(key.clone(), Value::Object(Map::new()));
                    self.undo.push(Undo::Key(key.clone(), old));
                }
                Some(key)
            }
        };
        let container = match &ext_key {
            None => &mut *self.res,
            Some(key) => self
                .res
                .get_mut(key)
                .and_then(Value::as_object_mut)
                .expect("made an object above"),
        };
        // The same attribute under another casing goes (rare: stored resources are canonical).
        let mut logged = Vec::new();
        if container
            .keys()
            .any(|k| k != name && k.eq_ignore_ascii_case(name))
        {
            let stale: Vec<String> = container
                .keys()
                .filter(|k| *k != name && k.eq_ignore_ascii_case(name))
                .cloned()
                .collect();
            for k in stale {
                let old = container.shift_remove(&k);
                logged.push((k, old));
            }
        }
        let old = match value {
            Some(v) => container.insert(name.clone(), v),
            None => container.shift_remove(name),
        };
        if first {
            logged.push((name.clone(), old));
        }
        for (k, old) in logged {
            self.undo.push(match &ext_key {
                None => Undo::Key(k, old),
                Some(ext) => Undo::Inner(ext.clone(), k, old),
            });
        }
    }

    /// Validates a value for `attr` (a whole attribute value: a list for multi-valued ones).
    fn validate(
        &mut self,
        attr: &AttributeDef,
        mut value: Value,
        path: &str,
    ) -> Result<Option<Value>, PatchError> {
        if self.profile.allows(Normalizer::StringBooleans)
            && coerce_booleans(attr, &mut value, true)
        {
            self.fire(Normalizer::StringBooleans);
        }
        if self.value_options.coerce_shapes && odd_shape(attr, &value) {
            self.fire(Normalizer::SingleValueForList);
        }
        if self.value_options.unknown_attributes == UnknownAttributes::Ignore
            && has_unknown_keys(attr, &value)
        {
            self.fire(Normalizer::IgnoreUnknown);
        }
        let value = normalize_value(attr, value, path, &self.value_options)
            .map_err(PatchError::from_schema)?;
        // A reference to a resource (a member, a manager) needs the resource's id.
        if attr.sub_attribute("$ref").is_some() {
            let lacking = match &value {
                Some(Value::Array(items)) => items.iter().any(|v| v.get("value").is_none()),
                Some(v @ Value::Object(_)) => v.get("value").is_none(),
                _ => false,
            };
            if lacking {
                return Err(PatchError::new(
                    PatchErrorKind::InvalidValue,
                    format!(
                        "every value of `{path}` needs a `value` (the id of the resource it references)"
                    ),
                ));
            }
        }
        Ok(value)
    }

    /// Validates one value of a multi-valued attribute.
    fn validate_one(
        &mut self,
        attr: &AttributeDef,
        value: Value,
        path: &str,
    ) -> Result<Option<Value>, PatchError> {
        let list = match value {
            Value::Array(mut items) if items.len() == 1 && self.value_options.coerce_shapes => {
                self.fire(Normalizer::SingleValueForList);
                Value::Array(vec![items.remove(0)])
            }
            Value::Array(_) => {
                return Err(syntax(format!(
                    "expected one value of `{}`, found a list",
                    attr.name
                )));
            }
            v => Value::Array(vec![v]),
        };
        let saved = self.value_options.coerce_shapes;
        self.value_options.coerce_shapes = false;
        let result = self.validate(attr, list, path);
        self.value_options.coerce_shapes = saved;
        Ok(result?.and_then(|v| match v {
            Value::Array(mut items) => items.pop(),
            _ => None,
        }))
    }

    fn check_writable(&self, loc: Loc<'r>, kind: PatchOpKind) -> Result<(), PatchError> {
        let name = loc_name(loc);
        if !loc.attr.is_writable() || loc.sub.is_some_and(|s| !s.is_writable()) {
            return Err(mutability(format!("`{name}` is read-only")));
        }
        let _ = kind;
        Ok(())
    }

    /// Applies one operation at a resolved location, with an optional value filter.
    fn apply_at(
        &mut self,
        kind: PatchOpKind,
        loc: Loc<'r>,
        filter: Option<&Filter>,
        value: Option<Value>,
    ) -> Result<(), PatchError> {
        self.check_writable(loc, kind)?;
        let attr = loc.attr;
        if self.members.is_some() && attr.name == MEMBERS && loc.owner == Owner::Core {
            return self.members_op(kind, loc, filter, value);
        }
        if let Some(filter) = filter {
            if !attr.multi_valued || attr.kind != AttributeType::Complex {
                return Err(invalid_path(format!(
                    "a value filter applies to multi-valued complex attributes; `{}` is not one",
                    attr.name
                )));
            }
            return self.filtered(kind, loc, filter, value);
        }
        if let Some(sub) = loc.sub {
            return self.sub_attribute(kind, loc, sub, value);
        }
        let path = loc_name(loc);
        match kind {
            PatchOpKind::Remove => {
                if let (Some(v), true) = (&value, attr.multi_valued)
                    && !v.is_null()
                    && self.profile.allows(Normalizer::RemoveByValue)
                {
                    self.fire(Normalizer::RemoveByValue);
                    return self.remove_listed(loc, value.unwrap_or(Value::Null));
                }
                self.remove_whole(loc)
            }
            PatchOpKind::Add | PatchOpKind::Replace => {
                let new = self.validate(attr, value.unwrap_or(Value::Null), &path)?;
                let Some(new) = new else {
                    // `null` or an empty list: `replace` unassigns, `add` adds nothing.
                    return if kind == PatchOpKind::Replace {
                        self.remove_whole(loc)
                    } else {
                        Ok(())
                    };
                };
                let old = self.current(loc.owner, attr).cloned();
                let merged = match (kind, attr.multi_valued, attr.kind, old) {
                    // `add` to a list appends what is not there yet.
                    (PatchOpKind::Add, true, _, Some(Value::Array(mut items))) => {
                        let Value::Array(new_items) = new else {
                            unreachable!("lists validate to lists")
                        };
                        let mut written = Vec::new();
                        for item in new_items {
                            if !items.iter().any(|x| same_value(attr, x, &item)) {
                                written.push(items.len());
                                items.push(item);
                            }
                        }
                        clear_other_primaries(&mut items, &written);
                        Value::Array(items)
                    }
                    // A singular complex attribute: the sub-attributes given replace theirs.
                    (_, false, AttributeType::Complex, Some(Value::Object(mut obj))) => {
                        let Value::Object(new_obj) = new else {
                            unreachable!("complex values validate to objects")
                        };
                        for (k, v) in new_obj {
                            if let Some(old_key) = obj
                                .keys()
                                .find(|x| x.eq_ignore_ascii_case(&k) && **x != k)
                                .cloned()
                            {
                                obj.remove(&old_key);
                            }
                            obj.insert(k, v);
                        }
                        Value::Object(reorder(obj, &attr.sub_attributes))
                    }
                    (_, _, _, _) => new,
                };
                self.check_immutable(loc, Some(&merged))?;
                self.write(loc.owner, attr, Some(merged));
                Ok(())
            }
        }
    }

    /// An immutable attribute that has a value may not get another.
    fn check_immutable(&self, loc: Loc<'r>, new: Option<&Value>) -> Result<(), PatchError> {
        if loc.attr.mutability != Mutability::Immutable {
            return Ok(());
        }
        match (self.current(loc.owner, loc.attr), new) {
            (Some(old), Some(new)) if old == new => Ok(()),
            (Some(_), _) => Err(mutability(format!(
                "`{}` is immutable and already has a value",
                loc_name(loc)
            ))),
            (None, _) => Ok(()),
        }
    }

    fn remove_whole(&mut self, loc: Loc<'r>) -> Result<(), PatchError> {
        if self.current(loc.owner, loc.attr).is_none() {
            return Ok(());
        }
        if loc.attr.required {
            return Err(mutability(format!(
                "`{}` is required and cannot be removed",
                loc_name(loc)
            )));
        }
        self.check_immutable(loc, None)?;
        self.write(loc.owner, loc.attr, None);
        Ok(())
    }

    /// `remove` with a list of values (the `remove-by-value` normalizer): only those go.
    fn remove_listed(&mut self, loc: Loc<'r>, value: Value) -> Result<(), PatchError> {
        let path = loc_name(loc);
        let Some(Value::Array(listed)) = self.validate(loc.attr, value, &path)? else {
            return Ok(());
        };
        let Some(Value::Array(mut items)) = self.current(loc.owner, loc.attr).cloned() else {
            return Ok(());
        };
        items.retain(|x| !listed.iter().any(|l| same_value(loc.attr, x, l)));
        self.set_list(loc, items)
    }

    /// Writes a list, unassigning the attribute when it is empty.
    fn set_list(&mut self, loc: Loc<'r>, items: Vec<Value>) -> Result<(), PatchError> {
        if items.is_empty() {
            return self.remove_whole(loc);
        }
        self.write(loc.owner, loc.attr, Some(Value::Array(items)));
        Ok(())
    }

    /// `attr.sub` without a filter.
    fn sub_attribute(
        &mut self,
        kind: PatchOpKind,
        loc: Loc<'r>,
        sub: &'r AttributeDef,
        value: Option<Value>,
    ) -> Result<(), PatchError> {
        let path = loc_name(loc);
        let new = match (kind, value) {
            (PatchOpKind::Remove, _) => None,
            (_, value) => self.validate(sub, value.unwrap_or(Value::Null), &path)?,
        };
        if new.is_none() && sub.required && kind != PatchOpKind::Add {
            return Err(mutability(format!(
                "`{path}` is required and cannot be removed"
            )));
        }
        let old = self.current(loc.owner, loc.attr).cloned();
        match &old {
            Some(Value::Array(items)) => {
                check_immutable_sub(items, 0..items.len(), sub, new.as_ref(), &path)?;
            }
            Some(single @ Value::Object(_)) => {
                check_immutable_sub(std::slice::from_ref(single), [0], sub, new.as_ref(), &path)?;
            }
            _ => {}
        }
        if loc.attr.multi_valued {
            // `emails.value` names a sub-attribute of every value: removing it is clear, but
            // writing one value into all of them is not what any client means; RFC 7644
            // selects values with a filter (`emails[type eq "work"].value`).
            if kind != PatchOpKind::Remove {
                return Err(invalid_path(format!(
                    "`{path}` names a sub-attribute of every value of `{}`; select values with a filter, e.g. `{}[type eq \"work\"].{}`",
                    loc.attr.name, loc.attr.name, sub.name
                )));
            }
            let Some(Value::Array(mut items)) = old else {
                return Ok(());
            };
            for item in &mut items {
                set_sub(item, sub, None);
            }
            items.retain(|v| !v.as_object().is_some_and(Map::is_empty));
            return self.set_list(loc, items);
        }
        let mut obj = match old {
            Some(Value::Object(obj)) => obj,
            _ => Map::new(),
        };
        let mut item = Value::Object(std::mem::take(&mut obj));
        set_sub(&mut item, sub, new);
        let Value::Object(obj) = item else {
            unreachable!("objects stay objects")
        };
        let obj = reorder(obj, &loc.attr.sub_attributes);
        if obj.is_empty() {
            return self.remove_whole(loc);
        }
        self.write(loc.owner, loc.attr, Some(Value::Object(obj)));
        Ok(())
    }

    /// `attr[filter]` and `attr[filter].sub`.
    fn filtered(
        &mut self,
        kind: PatchOpKind,
        loc: Loc<'r>,
        filter: &Filter,
        value: Option<Value>,
    ) -> Result<(), PatchError> {
        let path = loc_name(loc);
        let mut items = match self.current(loc.owner, loc.attr).cloned() {
            Some(Value::Array(items)) => items,
            Some(single @ Value::Object(_)) => vec![single],
            _ => Vec::new(),
        };
        let mut matched = Vec::new();
        let mut created = false;
        for (i, item) in items.iter().enumerate() {
            let hit = filter
                .matches_value(item, loc.attr, EvalOptions::default())
                .map_err(|e| PatchError::new(PatchErrorKind::InvalidFilter, e.to_string()))?;
            if hit {
                matched.push(i);
            }
        }
        if kind == PatchOpKind::Remove {
            match loc.sub {
                Some(sub) => {
                    if sub.required {
                        return Err(mutability(format!(
                            "`{path}` is required and cannot be removed"
                        )));
                    }
                    check_immutable_sub(&items, matched.iter().copied(), sub, None, &path)?;
                    for &i in &matched {
                        set_sub(&mut items[i], sub, None);
                    }
                    items.retain(|v| !v.as_object().is_some_and(Map::is_empty));
                }
                None => {
                    let mut i = 0;
                    items.retain(|_| {
                        i += 1;
                        !matched.contains(&(i - 1))
                    });
                }
            }
            if matched.is_empty() {
                return Ok(());
            }
            return self.set_list(loc, items);
        }
        let value = value.unwrap_or(Value::Null);
        if matched.is_empty() {
            // Nothing matches: RFC 7644 says `noTarget`; Entra ID expects a new value.
            let Some(seed) = self
                .profile
                .allows(Normalizer::CreateFilteredTarget)
                .then(|| seed_from_filter(loc.attr, filter))
                .flatten()
            else {
                return Err(no_target(format!(
                    "no value of `{}` matches the filter",
                    loc.attr.name
                )));
            };
            self.fire(Normalizer::CreateFilteredTarget);
            items.push(Value::Object(seed));
            matched.push(items.len() - 1);
            created = true;
        }
        match loc.sub {
            Some(sub) => {
                let new = self.validate(sub, value, &path)?;
                check_immutable_sub(&items, matched.iter().copied(), sub, new.as_ref(), &path)?;
                for &i in &matched {
                    set_sub(&mut items[i], sub, new.clone());
                }
            }
            None => {
                let Some(new) = self.validate_one(loc.attr, value, &path)? else {
                    return Err(syntax(format!("`{kind}` of `{path}` needs a value")));
                };
                for &i in &matched {
                    items[i] = match (kind, &items[i], &new) {
                        // `add` merges into the matched value; `replace` replaces it.
                        (PatchOpKind::Add, Value::Object(old), Value::Object(add)) => {
                            // Merging may set an immutable sub-attribute only where it has none.
                            for (k, v) in add {
                                if let Some(sub) = loc.attr.sub_attribute(k) {
                                    check_immutable_sub(
                                        std::slice::from_ref(&items[i]),
                                        [0],
                                        sub,
                                        Some(v),
                                        &path,
                                    )?;
                                }
                            }
                            let mut obj = old.clone();
                            obj.extend(add.clone());
                            Value::Object(reorder(obj, &loc.attr.sub_attributes))
                        }
                        _ => new.clone(),
                    };
                }
            }
        }
        for &i in &matched {
            if let Value::Object(obj) = &mut items[i] {
                *obj = reorder(std::mem::take(obj), &loc.attr.sub_attributes);
            }
        }
        // A value created for a filter must match it, or the same request would create
        // another one each time it is repeated.
        if created {
            // The created value is validated like any written value (the filter's terms may
            // name the wrong type), then must match the filter.
            let raw = items.pop().expect("just created");
            let Some(new) = self.validate_one(loc.attr, raw, &loc.attr.name)? else {
                return Err(no_target(format!(
                    "no value of `{}` matches the filter",
                    loc.attr.name
                )));
            };
            items.push(new);
            let new = items.last().expect("just pushed");
            if !filter
                .matches_value(new, loc.attr, EvalOptions::default())
                .unwrap_or(false)
            {
                return Err(PatchError::new(
                    PatchErrorKind::InvalidValue,
                    format!(
                        "the new value of `{}` does not match the path's filter `{filter}`",
                        loc.attr.name
                    ),
                ));
            }
        }
        items.retain(|v| !v.as_object().is_some_and(Map::is_empty));
        clear_other_primaries(&mut items, &matched);
        let primaries = items
            .iter()
            .filter(|v| v.get("primary") == Some(&Value::Bool(true)))
            .count();
        if primaries > 1 {
            return Err(PatchError::new(
                PatchErrorKind::InvalidValue,
                format!("`{path}` would make {primaries} values primary"),
            ));
        }
        self.set_list(loc, items)
    }

    /// Operations on `members` against a [`MemberIndex`].
    fn members_op(
        &mut self,
        kind: PatchOpKind,
        loc: Loc<'r>,
        filter: Option<&Filter>,
        value: Option<Value>,
    ) -> Result<(), PatchError> {
        let path = loc_name(loc);
        if loc.sub.is_some() {
            return Err(PatchError::new(
                PatchErrorKind::InvalidPath,
                "member sub-attributes are immutable; add or remove whole members".to_owned(),
            ));
        }
        if let Some(filter) = filter {
            if kind != PatchOpKind::Remove {
                return Err(PatchError::new(
                    PatchErrorKind::InvalidFilter,
                    format!(
                        "`{kind}` with a filter on `members` is not supported; add or remove whole members"
                    ),
                ));
            }
            let ids = member_ids(filter).ok_or_else(|| {
                PatchError::new(
                    PatchErrorKind::InvalidFilter,
                    "filters on `members` must select members by id: `members[value eq \"…\"]`, or several joined by `or`",
                )
            })?;
            let members = self.members.as_mut().expect("checked by the caller");
            for id in ids {
                members.remove(&id);
            }
            return Ok(());
        }
        let listed = match value {
            Some(v) if !v.is_null() => match self.validate(loc.attr, v, &path)? {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        let mut entries = Vec::with_capacity(listed.len());
        for item in listed {
            let id = item
                .get("value")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| {
                    PatchError::new(
                        PatchErrorKind::InvalidValue,
                        format!("every value of `{path}` needs a `value` (the member's id)"),
                    )
                })?;
            entries.push((id, item));
        }
        let by_value = kind == PatchOpKind::Remove && !entries.is_empty();
        if by_value {
            if !self.profile.allows(Normalizer::RemoveByValue) {
                // RFC 7644: `remove` without a filter removes every member, whatever `value` says.
                self.members
                    .as_mut()
                    .expect("checked by the caller")
                    .clear();
                return Ok(());
            }
            self.fire(Normalizer::RemoveByValue);
        }
        let members = self.members.as_mut().expect("checked by the caller");
        match kind {
            PatchOpKind::Remove if by_value => {
                entries.iter().for_each(|(id, _)| members.remove(id));
            }
            PatchOpKind::Remove => members.clear(),
            PatchOpKind::Replace => {
                members.clear();
                entries.into_iter().for_each(|(id, v)| members.add(id, v));
            }
            PatchOpKind::Add => entries.into_iter().for_each(|(id, v)| members.add(id, v)),
        }
        Ok(())
    }

    /// Checks what must hold after all operations, and reports what changed.
    fn finish(&mut self) -> Result<Change, PatchError> {
        if self
            .touched
            .iter()
            .any(|(o, _)| matches!(o, Owner::Extension(_)))
        {
            self.settle_extensions()?;
        }
        self.report()
    }

    /// Extension objects that emptied out disappear, with their URN in `schemas`; new ones
    /// are listed; required ones stay.
    fn settle_extensions(&mut self) -> Result<(), PatchError> {
        let bound = self.bound;
        let mut listed: Vec<&str> = Vec::new();
        for (schema, _) in &bound.extensions {
            let key = if self.res.contains_key(&schema.id) {
                Some(schema.id.clone())
            } else {
                self.res
                    .keys()
                    .find(|k| k.eq_ignore_ascii_case(&schema.id))
                    .cloned()
            };
            match key.as_ref().and_then(|k| self.res.get(k)) {
                Some(Value::Object(obj)) if !obj.is_empty() => listed.push(&schema.id),
                Some(_) => {
                    let key = key.expect("found");
                    let old = self.res.shift_remove(&key);
                    self.undo.push(Undo::Key(key, old));
                }
                None => {}
            }
        }
        if let Some(Value::Array(urns)) = self.res.get("schemas") {
            let is_listed = |u: &str| listed.iter().any(|l| l.eq_ignore_ascii_case(u));
            // Only an extension this request emptied loses its URN; one listed without data
            // before stays listed.
            let touched: Vec<usize> = self
                .touched
                .iter()
                .filter_map(|(o, _)| match o {
                    Owner::Extension(i) => Some(*i),
                    _ => None,
                })
                .collect();
            let emptied = |u: &str| {
                bound
                    .extension_index(u)
                    .is_some_and(|i| touched.contains(&i))
                    && !is_listed(u)
            };
            let stale = urns.iter().any(|u| u.as_str().is_some_and(emptied));
            let missing = listed.iter().any(|l| {
                !urns
                    .iter()
                    .any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(l)))
            });
            if stale || missing {
                let mut urns: Vec<Value> = urns
                    .iter()
                    .filter(|u| u.as_str().is_none_or(|u| !emptied(u)))
                    .cloned()
                    .collect();
                for urn in &listed {
                    if !urns
                        .iter()
                        .any(|u| u.as_str().is_some_and(|u| u.eq_ignore_ascii_case(urn)))
                    {
                        urns.push(Value::String((*urn).to_owned()));
                    }
                }
                self.save("schemas");
                self.res.insert("schemas".into(), Value::Array(urns));
            }
        }
        // Required extensions stay.
        for (schema, required) in &bound.extensions {
            if *required
                && !listed.contains(&schema.id.as_str())
                && self.before(&schema.id).is_some()
            {
                return Err(mutability(format!(
                    "the required extension {} cannot be removed",
                    schema.id
                )));
            }
        }
        Ok(())
    }

    /// What changed.
    fn report(&mut self) -> Result<Change, PatchError> {
        let mut changed_attributes = Vec::new();
        for &(owner, name) in &self.touched {
            let before = self.before_attr(owner, name);
            let after = match owner {
                Owner::Common | Owner::Core => get_ignore_case(self.res, name),
                Owner::Extension(i) => get_ignore_case(self.res, &self.bound.extensions[i].0.id)
                    .and_then(Value::as_object)
                    .and_then(|o| get_ignore_case(o, name)),
            };
            if before != after {
                changed_attributes.push(match owner {
                    Owner::Extension(i) => format!("{}:{name}", self.bound.extensions[i].0.id),
                    _ => name.to_owned(),
                });
            }
        }
        // `schemas` follows the extensions; it is not an attribute of its own to report, but
        // a change to it is a change.
        let schemas_changed = self
            .undo
            .iter()
            .any(|u| matches!(u, Undo::Key(k, _) if k == "schemas"))
            && self.before("schemas") != self.res.get("schemas");
        let members = match self.members.take() {
            Some(members) => members.delta,
            None if self.touched.iter().any(|(_, n)| *n == MEMBERS) => {
                list_delta(self.before(MEMBERS), get_ignore_case(self.res, MEMBERS))
            }
            None => MemberDelta::default(),
        };
        if !members.is_empty() && !changed_attributes.iter().any(|a| a == MEMBERS) {
            changed_attributes.push(MEMBERS.to_owned());
        }
        Ok(Change {
            changed: !changed_attributes.is_empty() || schemas_changed,
            changed_attributes,
            members,
            normalizers: std::mem::take(&mut self.fired),
        })
    }
}

fn keyed(mut e: PatchError, key: &str) -> PatchError {
    if e.path.is_none() {
        e.path = Some(key.to_owned());
    }
    e
}

fn loc_name(loc: Loc<'_>) -> String {
    match loc.sub {
        Some(sub) => format!("{}.{}", loc.attr.name, sub.name),
        None => loc.attr.name.clone(),
    }
}

/// RFC 7644 §3.5.2: an immutable sub-attribute may get a value where it has none, and keep
/// the one it has; it may not change or go.
fn check_immutable_sub(
    items: &[Value],
    indices: impl IntoIterator<Item = usize>,
    sub: &AttributeDef,
    new: Option<&Value>,
    path: &str,
) -> Result<(), PatchError> {
    if sub.mutability != Mutability::Immutable {
        return Ok(());
    }
    for i in indices {
        let old = items
            .get(i)
            .and_then(Value::as_object)
            .and_then(|o| get_ignore_case(o, &sub.name));
        if let Some(old) = old
            && Some(old) != new
        {
            return Err(mutability(format!(
                "`{path}` is immutable and already has a value"
            )));
        }
    }
    Ok(())
}

/// Sets (or with `None` removes) a sub-attribute of an object value.
fn set_sub(item: &mut Value, sub: &AttributeDef, value: Option<Value>) {
    let Value::Object(obj) = item else { return };
    if let (Some(v), true) = (&value, obj.contains_key(&sub.name)) {
        // In place: the key keeps its position.
        obj.insert(sub.name.clone(), v.clone());
        return;
    }
    if obj.keys().any(|k| k.eq_ignore_ascii_case(&sub.name)) {
        let old: Vec<String> = obj
            .keys()
            .filter(|k| k.eq_ignore_ascii_case(&sub.name))
            .cloned()
            .collect();
        for k in old {
            obj.shift_remove(&k);
        }
    }
    if let Some(v) = value {
        obj.insert(sub.name.clone(), v);
    }
}

/// Puts an object's keys in the order of `defs` (unknown keys last).
fn reorder(mut obj: Map<String, Value>, defs: &[AttributeDef]) -> Map<String, Value> {
    // Usually already in order: check without rebuilding.
    let mut last = 0;
    let ordered = obj
        .keys()
        .all(|k| match defs.iter().position(|d| d.name == *k) {
            Some(p) if p >= last => {
                last = p;
                true
            }
            _ => false,
        });
    if ordered {
        return obj;
    }
    let mut out = Map::with_capacity(obj.len());
    for def in defs {
        if let Some(v) = obj.remove(&def.name) {
            out.insert(def.name.clone(), v);
        }
    }
    out.extend(obj);
    out
}

/// Whether two values of a multi-valued attribute are the same value. References to
/// resources (attributes with a `$ref` sub-attribute, like `members`) are the same when their
/// `value` (the id) is; other values when they are equal.
fn same_value(attr: &AttributeDef, a: &Value, b: &Value) -> bool {
    if attr.sub_attribute("$ref").is_some()
        && let (Some(x), Some(y)) = (a.get("value"), b.get("value"))
    {
        return x == y;
    }
    a == b
}

/// RFC 7644 §3.5.2: setting one value's `primary` to true sets it to false on the others.
fn clear_other_primaries(items: &mut [Value], written: &[usize]) {
    let primary_written = written
        .iter()
        .any(|&i| items.get(i).and_then(|v| v.get("primary")) == Some(&Value::Bool(true)));
    if !primary_written {
        return;
    }
    for (i, item) in items.iter_mut().enumerate() {
        if written.contains(&i) {
            continue;
        }
        if let Some(obj) = item.as_object_mut()
            && obj.get("primary") == Some(&Value::Bool(true))
        {
            obj.insert("primary".into(), Value::Bool(false));
        }
    }
}

/// The value a `create-filtered-target` creates: the filter's `eq` terms joined by `and`
/// (`type eq "work"` gives `{"type": "work"}`). `None` when the filter says anything else.
fn seed_from_filter(attr: &AttributeDef, filter: &Filter) -> Option<Map<String, Value>> {
    let mut seed = Map::new();
    let mut add = |f: &Filter| -> Option<()> {
        match f {
            Filter::Attr(AttrExpr::Compare(path, CompareOp::Eq, value))
                if path.urn.is_none()
                    && path.sub_attr.is_none()
                    && attr.sub_attribute(&path.name).is_some() =>
            {
                let v = match value {
                    CompValue::Str(s) => Value::String(s.to_string()),
                    CompValue::Bool(b) => Value::Bool(*b),
                    CompValue::Int(i) => Value::from(*i),
                    CompValue::Decimal(d) => Value::from(*d),
                    CompValue::Null => return None,
                };
                seed.insert(path.name.to_string(), v);
                Some(())
            }
            _ => None,
        }
    };
    match filter {
        Filter::And(operands) => operands.iter().try_for_each(&mut add)?,
        single => add(single)?,
    }
    Some(seed)
}

/// The member ids a `members[…]` filter selects, if it is `value eq "id"` or several of those
/// joined by `or`.
fn member_ids(filter: &Filter) -> Option<Vec<String>> {
    let one = |f: &Filter| match f {
        Filter::Attr(AttrExpr::Compare(
            AttrPath {
                urn: None,
                name,
                sub_attr: None,
                ..
            },
            CompareOp::Eq,
            CompValue::Str(id),
        )) if name.eq_ignore_ascii_case("value") => Some(id.to_string()),
        _ => None,
    };
    match filter {
        Filter::Or(operands) => operands.iter().map(one).collect(),
        single => one(single).map(|id| vec![id]),
    }
}

/// The delta between two `members` lists.
fn list_delta(before: Option<&Value>, after: Option<&Value>) -> MemberDelta {
    let ids = |v: Option<&Value>| -> Vec<(String, Value)> {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|m| Some((m.get("value")?.as_str()?.to_owned(), m.clone())))
            .collect()
    };
    let before = ids(before);
    let after = ids(after);
    let before_ids: BTreeSet<&str> = before.iter().map(|(id, _)| id.as_str()).collect();
    let after_ids: BTreeSet<&str> = after.iter().map(|(id, _)| id.as_str()).collect();
    let mut delta = MemberDelta::default();
    for (id, v) in &after {
        if !before_ids.contains(id.as_str()) {
            delta.added.insert(id.clone(), v.clone());
        }
    }
    for (id, _) in &before {
        if !after_ids.contains(id.as_str()) {
            delta.removed.insert(id.clone());
        }
    }
    delta
}

/// Turns `"True"`/`"false"` strings into booleans where `attr` (or its sub-attributes) is
/// boolean. `whole` is true for a whole attribute value (a list for multi-valued ones).
fn coerce_booleans(attr: &AttributeDef, value: &mut Value, whole: bool) -> bool {
    match value {
        Value::Array(items) if whole && attr.multi_valued => {
            let mut any = false;
            for item in items {
                any |= coerce_booleans(attr, item, false);
            }
            any
        }
        Value::Object(obj) if attr.kind == AttributeType::Complex => {
            let mut any = false;
            for (k, v) in obj.iter_mut() {
                if let Some(sub) = attr.sub_attribute(k) {
                    any |= coerce_booleans(sub, v, true);
                }
            }
            any
        }
        Value::String(s) if attr.kind == AttributeType::Boolean => {
            let b = if s.trim().eq_ignore_ascii_case("true") {
                true
            } else if s.trim().eq_ignore_ascii_case("false") {
                false
            } else {
                return false;
            };
            *value = Value::Bool(b);
            true
        }
        _ => false,
    }
}

/// Whether a value (or any value of a list) has sub-attribute keys `attr` does not define.
fn has_unknown_keys(attr: &AttributeDef, value: &Value) -> bool {
    match value {
        Value::Array(items) => items.iter().any(|v| has_unknown_keys(attr, v)),
        Value::Object(obj) if attr.kind == AttributeType::Complex => obj
            .iter()
            .any(|(k, v)| !v.is_null() && attr.sub_attribute(k).is_none()),
        _ => false,
    }
}

/// Whether `value` has a shape only `single-value-list` accepts.
fn odd_shape(attr: &AttributeDef, value: &Value) -> bool {
    match (attr.multi_valued, value) {
        (true, Value::Array(_)) | (_, Value::Null) => false,
        (true, _) => true,
        (false, Value::Array(_)) => true,
        (false, Value::Object(_)) => false,
        (false, _) => attr.kind == AttributeType::Complex,
    }
}
