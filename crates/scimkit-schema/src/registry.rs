//! The registry: every schema and resource type a service provider knows.

use serde_json::Value;

use crate::attribute::AttributeDef;
use crate::builtin;
use crate::error::SchemaError;
use crate::path::AttrPath;
use crate::schema::{RESOURCE_TYPE_SCHEMA, ResourceType, Schema};

/// The schemas and resource types of a service provider.
///
/// [`Registry::new`] holds the built-in schemas of RFC 7643 and the User (with the optional
/// Enterprise User extension) and Group resource types. Custom schemas and resource types are
/// added with [`Registry::add_schema`], [`Registry::add_resource_type`],
/// [`Registry::add_extension`], or from JSON documents with [`Registry::load`].
#[derive(Debug, Clone)]
pub struct Registry {
    schemas: Vec<Schema>,
    resource_types: Vec<ResourceType>,
    common: Vec<AttributeDef>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new()
    }
}

impl Registry {
    /// The built-in schemas and resource types.
    pub fn new() -> Self {
        Self {
            schemas: builtin::all_schemas(),
            resource_types: builtin::resource_types(),
            common: builtin::common_attributes(),
        }
    }

    /// A registry with no schemas and no resource types (only the common attributes `id`,
    /// `externalId` and `meta`).
    pub fn empty() -> Self {
        Self {
            schemas: Vec::new(),
            resource_types: Vec::new(),
            common: builtin::common_attributes(),
        }
    }

    /// Every schema, in the order added.
    pub fn schemas(&self) -> &[Schema] {
        &self.schemas
    }

    /// The schema with URN `urn`, compared case-insensitively.
    pub fn schema(&self, urn: &str) -> Option<&Schema> {
        self.schemas.iter().find(|s| s.id.eq_ignore_ascii_case(urn))
    }

    /// Every resource type, in the order added.
    pub fn resource_types(&self) -> &[ResourceType] {
        &self.resource_types
    }

    /// The resource type whose id or name is `name`, compared case-insensitively.
    pub fn resource_type(&self, name: &str) -> Option<&ResourceType> {
        self.resource_types
            .iter()
            .find(|rt| rt.id.eq_ignore_ascii_case(name) || rt.name.eq_ignore_ascii_case(name))
    }

    /// The common attributes `id`, `externalId` and `meta` (RFC 7643 §3.1).
    pub fn common_attributes(&self) -> &[AttributeDef] {
        &self.common
    }

    /// Adds a schema, replacing one with the same URN (so a deployment can refine a built-in
    /// schema). The schema is checked as [`Schema::from_json`] does.
    pub fn add_schema(&mut self, schema: Schema) -> Result<(), SchemaError> {
        let schema = Schema::from_json(serde_json::to_value(&schema).expect("schemas serialize"))?;
        match self
            .schemas
            .iter_mut()
            .find(|s| s.id.eq_ignore_ascii_case(&schema.id))
        {
            Some(slot) => *slot = schema,
            None => self.schemas.push(schema),
        }
        Ok(())
    }

    /// Adds a resource type, replacing one with the same id. Its core schema and extensions
    /// must already be in the registry.
    pub fn add_resource_type(&mut self, rt: ResourceType) -> Result<(), SchemaError> {
        let fail = |detail: String| SchemaError::InvalidSchema {
            schema: rt.id.clone(),
            detail,
        };
        if rt.id.is_empty() || rt.name.is_empty() {
            return Err(fail("a resource type needs an `id` and a `name`".into()));
        }
        if !rt.endpoint.starts_with('/') {
            return Err(fail(format!(
                "endpoint `{}` must start with `/`",
                rt.endpoint
            )));
        }
        for urn in std::iter::once(&rt.schema).chain(rt.schema_extensions.iter().map(|e| &e.schema))
        {
            if self.schema(urn).is_none() {
                return Err(fail(format!("schema `{urn}` is not defined")));
            }
        }
        for (i, ext) in rt.schema_extensions.iter().enumerate() {
            let dup = rt.schema_extensions[..i]
                .iter()
                .any(|e| e.schema.eq_ignore_ascii_case(&ext.schema));
            if dup || ext.schema.eq_ignore_ascii_case(&rt.schema) {
                return Err(fail(format!("schema `{}` is listed twice", ext.schema)));
            }
        }
        let clash = self.resource_types.iter().find(|other| {
            !other.id.eq_ignore_ascii_case(&rt.id)
                && (other.endpoint.eq_ignore_ascii_case(&rt.endpoint)
                    || other.schema.eq_ignore_ascii_case(&rt.schema))
        });
        if let Some(other) = clash {
            return Err(fail(format!(
                "resource type {} already uses endpoint {} or core schema {}",
                other.id, other.endpoint, other.schema
            )));
        }
        match self
            .resource_types
            .iter_mut()
            .find(|r| r.id.eq_ignore_ascii_case(&rt.id))
        {
            Some(slot) => *slot = rt,
            None => self.resource_types.push(rt),
        }
        Ok(())
    }

    /// Attaches the extension schema `urn` (already added) to the resource type
    /// `resource_type`.
    pub fn add_extension(
        &mut self,
        resource_type: &str,
        urn: &str,
        required: bool,
    ) -> Result<(), SchemaError> {
        let mut rt = self.resource_type(resource_type).cloned().ok_or_else(|| {
            SchemaError::InvalidSchema {
                schema: urn.to_owned(),
                detail: format!("no resource type `{resource_type}` to extend"),
            }
        })?;
        let canonical = self
            .schema(urn)
            .map(|s| s.id.clone())
            .unwrap_or_else(|| urn.to_owned());
        match rt
            .schema_extensions
            .iter_mut()
            .find(|e| e.schema.eq_ignore_ascii_case(urn))
        {
            Some(ext) => ext.required = required,
            None => rt
                .schema_extensions
                .push(crate::SchemaExtension::new(canonical, required)),
        }
        self.add_resource_type(rt)
    }

    /// Loads schemas and resource types from JSON documents, each named by its source (a file
    /// name) for error messages.
    ///
    /// A document is a schema (RFC 7643 §7), a resource type (§6), an array of either, or a
    /// `ListResponse` of them (what `GET /Schemas` returns). Schemas are added first, then
    /// resource types. An extension schema that no loaded resource type references is
    /// attached, as optional, to the resource type named by the last `:`-separated segment of
    /// its URN (`urn:acme:params:scim:schemas:extension:acme:2.0:User` extends `User`); any
    /// other unreferenced schema is only registered.
    pub fn load<I, S>(&mut self, documents: I) -> Result<(), SchemaError>
    where
        I: IntoIterator<Item = (S, Value)>,
        S: AsRef<str>,
    {
        let mut schemas = Vec::new();
        let mut types = Vec::new();
        for (source, doc) in documents {
            let source = source.as_ref();
            let items = match doc {
                Value::Array(items) => items,
                Value::Object(mut obj) => match obj.remove("Resources") {
                    Some(Value::Array(items)) => items,
                    Some(_) => return Err(invalid(source, "`Resources` must be an array")),
                    None => vec![Value::Object(obj)],
                },
                _ => return Err(invalid(source, "expected a JSON object or array")),
            };
            for item in items {
                if is_resource_type(&item) {
                    let rt: ResourceType = serde_json::from_value(item)
                        .map_err(|e| invalid(source, &format!("resource type: {e}")))?;
                    types.push((source.to_owned(), rt));
                } else {
                    let schema = Schema::from_json(item).map_err(|e| match e {
                        SchemaError::InvalidSchema { schema, detail } => {
                            let at = if schema.is_empty() {
                                String::new()
                            } else {
                                format!(" {schema}")
                            };
                            invalid(source, &format!("schema{at}: {detail}"))
                        }
                        other => other,
                    })?;
                    if schemas
                        .iter()
                        .any(|(_, s): &(String, Schema)| s.id.eq_ignore_ascii_case(&schema.id))
                    {
                        return Err(invalid(
                            source,
                            &format!("schema {} is defined twice", schema.id),
                        ));
                    }
                    schemas.push((source.to_owned(), schema));
                }
            }
        }
        for (_, schema) in &schemas {
            self.add_schema(schema.clone())?;
        }
        for (source, rt) in types {
            self.add_resource_type(rt).map_err(|e| within(&source, e))?;
        }
        for (source, schema) in schemas {
            let referenced = self.resource_types.iter().any(|rt| {
                rt.schema.eq_ignore_ascii_case(&schema.id) || rt.extension(&schema.id).is_some()
            });
            if referenced {
                continue;
            }
            let target = schema.id.rsplit(':').next().unwrap_or_default();
            if self.resource_type(target).is_some() {
                self.add_extension(target, &schema.id, false)
                    .map_err(|e| within(&source, e))?;
            }
        }
        Ok(())
    }

    /// The resource type whose core schema appears in `schemas`.
    pub fn resource_type_for<'a>(
        &self,
        schemas: impl IntoIterator<Item = &'a str>,
    ) -> Option<&ResourceType> {
        let schemas: Vec<&str> = schemas.into_iter().collect();
        self.resource_types.iter().find(|rt| {
            schemas
                .iter()
                .any(|s| s.trim().eq_ignore_ascii_case(&rt.schema))
        })
    }

    /// The resource type `name` with its schemas looked up, ready for validation, path
    /// resolution and projection.
    pub fn bind(&self, name: &str) -> Option<Bound<'_>> {
        let rt = self.resource_type(name)?;
        self.bind_type(rt)
    }

    fn bind_type<'r>(&'r self, rt: &'r ResourceType) -> Option<Bound<'r>> {
        let core = self.schema(&rt.schema)?;
        let extensions = rt
            .schema_extensions
            .iter()
            .map(|e| Some((self.schema(&e.schema)?, e.required)))
            .collect::<Option<Vec<_>>>()?;
        Some(Bound {
            resource_type: rt,
            core,
            extensions,
            common: &self.common,
        })
    }
}

fn invalid(source: &str, detail: &str) -> SchemaError {
    SchemaError::InvalidSchema {
        schema: source.to_owned(),
        detail: detail.to_owned(),
    }
}

/// An error about a definition, located in the source it came from.
fn within(source: &str, e: SchemaError) -> SchemaError {
    match e {
        SchemaError::InvalidSchema { schema, detail } => {
            invalid(source, &format!("{schema}: {detail}"))
        }
        other => invalid(source, &other.to_string()),
    }
}

fn is_resource_type(item: &Value) -> bool {
    let listed = item
        .get("schemas")
        .and_then(Value::as_array)
        .is_some_and(|s| {
            s.iter().any(|u| {
                u.as_str()
                    .is_some_and(|u| u.eq_ignore_ascii_case(RESOURCE_TYPE_SCHEMA))
            })
        });
    listed || (item.get("endpoint").is_some() && item.get("attributes").is_none())
}

/// Which schema of a resource type an attribute belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Owner {
    /// The common attributes `id`, `externalId`, `meta`.
    Common,
    /// The core schema.
    Core,
    /// The extension at this index of [`Bound::extensions`].
    Extension(usize),
}

/// What an [`AttrPath`] names within a resource type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'r> {
    /// A whole schema, e.g. `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User`.
    Schema(Owner),
    /// An attribute, possibly a sub-attribute of it.
    Attribute {
        /// The schema it belongs to.
        owner: Owner,
        /// The attribute.
        attr: &'r AttributeDef,
        /// The sub-attribute, if the path named one.
        sub: Option<&'r AttributeDef>,
    },
}

/// A resource type with its schemas resolved (from [`Registry::bind`]).
#[derive(Debug, Clone)]
pub struct Bound<'r> {
    /// The resource type.
    pub resource_type: &'r ResourceType,
    /// Its core schema.
    pub core: &'r Schema,
    /// Its extension schemas, with whether each is required.
    pub extensions: Vec<(&'r Schema, bool)>,
    /// The common attributes.
    pub common: &'r [AttributeDef],
}

impl<'r> Bound<'r> {
    /// The index of the extension with URN `urn` (case-insensitive).
    pub fn extension_index(&self, urn: &str) -> Option<usize> {
        self.extensions
            .iter()
            .position(|(s, _)| s.id.eq_ignore_ascii_case(urn))
    }

    /// The URN of the schema an attribute belongs to (the core URN for common attributes).
    pub fn urn(&self, owner: Owner) -> &'r str {
        match owner {
            Owner::Common | Owner::Core => &self.core.id,
            Owner::Extension(i) => &self.extensions[i].0.id,
        }
    }

    /// The attribute definitions of a schema of this type.
    pub fn attributes(&self, owner: Owner) -> &'r [AttributeDef] {
        match owner {
            Owner::Common => self.common,
            Owner::Core => &self.core.attributes,
            Owner::Extension(i) => &self.extensions[i].0.attributes,
        }
    }

    /// Looks up a top-level attribute by name: common attributes, then the core schema, then
    /// the extensions in order (RFC 7644 §3.10 lets clients omit the URN when unambiguous).
    pub fn find(&self, name: &str) -> Option<(Owner, &'r AttributeDef)> {
        let owners = [Owner::Common, Owner::Core]
            .into_iter()
            .chain((0..self.extensions.len()).map(Owner::Extension));
        for owner in owners {
            if let Some(a) = self
                .attributes(owner)
                .iter()
                .find(|a| a.name.eq_ignore_ascii_case(name))
            {
                return Some((owner, a));
            }
        }
        None
    }

    /// What `path` names, or `None` if it names nothing of this resource type.
    pub fn resolve(&self, path: &AttrPath) -> Option<Target<'r>> {
        let (owner, attr) = match &path.urn {
            None => self.find(&path.name)?,
            Some(urn) => {
                if urn.eq_ignore_ascii_case(&self.core.id) {
                    [Owner::Common, Owner::Core]
                        .into_iter()
                        .find_map(|o| Some((o, self.lookup(o, &path.name)?)))?
                } else if let Some(i) = self.extension_index(urn) {
                    (
                        Owner::Extension(i),
                        self.lookup(Owner::Extension(i), &path.name)?,
                    )
                } else if path.sub_attr.is_none() {
                    // `urn:…:enterprise:2.0:User` parses as URN `urn:…:2.0` + name `User`.
                    let whole = format!("{urn}:{}", path.name);
                    if whole.eq_ignore_ascii_case(&self.core.id) {
                        return Some(Target::Schema(Owner::Core));
                    }
                    return self
                        .extension_index(&whole)
                        .map(|i| Target::Schema(Owner::Extension(i)));
                } else {
                    return None;
                }
            }
        };
        let sub = match &path.sub_attr {
            None => None,
            Some(sub) => Some(attr.sub_attribute(sub)?),
        };
        Some(Target::Attribute { owner, attr, sub })
    }

    fn lookup(&self, owner: Owner, name: &str) -> Option<&'r AttributeDef> {
        self.attributes(owner)
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}
