//! The endpoints: resources (RFC 7644 §3.3–§3.6), search (§3.4), discovery (§4) and `/Me`.

use std::collections::BTreeSet;

use bytes::Bytes;
use http::header::{self, HeaderName};
use http::{Method, StatusCode};
use scimkit_filter::Filter;
use scimkit_schema::messages::{ListResponse, SearchRequest, SortOrder};
use scimkit_schema::{AttrPath, Mode, ResourceType, ScimType};
use scimkit_store::{Query, StoreError, Stored};
use serde_json::{Map, Value, json};

use crate::service::{Call, Failure, Outcome, Reply, Route, Scim};

/// How many times a write that lost a race with another writer is retried (only when the
/// client did not condition it with `If-Match`).
const RETRIES: usize = 8;

pub(crate) async fn serve(scim: &Scim, call: &Call, route: Route<'_>) -> Outcome {
    match route {
        Route::ServiceProviderConfig => {
            allow(call, &[Method::GET])?;
            let roles = has_roles(scim, call).await?;
            Ok(Reply::json(
                StatusCode::OK,
                crate::discovery::service_provider_config(scim, call, roles),
            ))
        }
        Route::ResourceTypes(id) => {
            allow(call, &[Method::GET])?;
            no_filter(call)?;
            let roles = has_roles(scim, call).await?;
            crate::discovery::resource_types(scim, call, id.as_deref(), roles)
        }
        Route::Schemas(id) => {
            allow(call, &[Method::GET])?;
            no_filter(call)?;
            let roles = has_roles(scim, call).await?;
            crate::discovery::schemas(scim, call, id.as_deref(), roles)
        }
        Route::Roles(id) => {
            allow(call, &[Method::GET])?;
            crate::access::serve_offered(scim, call, crate::access::Grant::Roles, id.as_deref())
                .await
        }
        Route::Entitlements(id) => {
            allow(call, &[Method::GET])?;
            crate::access::serve_offered(
                scim,
                call,
                crate::access::Grant::Entitlements,
                id.as_deref(),
            )
            .await
        }
        Route::Me => Err(Failure::new(
            501,
            None,
            "/Me is not mapped to a resource on this server: the token names a tenant, not a user; use /Users/{id}",
        )),
        Route::Bulk => {
            allow(call, &[Method::POST])?;
            crate::bulk::serve(scim, call).await
        }
        Route::Events => crate::events::serve(scim, call).await,
        Route::RootSearch => {
            allow(call, &[Method::POST])?;
            let params = ListParams::from_body(call)?;
            search_all(scim, call, &params).await
        }
        Route::List(rt) => {
            allow(call, &[Method::GET, Method::POST])?;
            if call.method == Method::POST {
                // Every parameter is checked before anything is written: a 400 changes nothing.
                let shape = Shape::from_query(call)?;
                let body = json_body(call)?;
                let stored = create(scim, call, rt, body).await?;
                let location = location(call, rt, &stored.id);
                Ok(
                    resource_reply(scim, call, rt, stored, &shape, StatusCode::CREATED)?
                        .with_header(header::LOCATION, location),
                )
            } else {
                let params = ListParams::from_query(call)?;
                list(scim, call, rt, &params).await
            }
        }
        Route::Search(rt) => {
            allow(call, &[Method::POST])?;
            let params = ListParams::from_body(call)?;
            list(scim, call, rt, &params).await
        }
        Route::One(rt, id) => {
            allow(
                call,
                &[Method::GET, Method::PUT, Method::PATCH, Method::DELETE],
            )?;
            let condition = Condition::of(call)?;
            match call.method {
                Method::GET => get(scim, call, rt, &id).await,
                Method::PUT => {
                    let shape = Shape::from_query(call)?;
                    let body = json_body(call)?;
                    let stored = replace(scim, call, rt, &id, &body, condition).await?;
                    resource_reply(scim, call, rt, stored, &shape, StatusCode::OK)
                }
                Method::PATCH => {
                    content_type(call)?;
                    let shape = Shape::from_query(call)?;
                    let stored = patch(scim, call, rt, &id, &call.body, condition).await?;
                    let prefer = call
                        .header(HeaderName::from_static("prefer"))
                        .map(str::to_ascii_lowercase)
                        .unwrap_or_default();
                    let projected = call.param("attributes").is_some()
                        || call.param("excludedAttributes").is_some();
                    // RFC 7644 §3.5.2: 200 with the resource, or 204. A group answers 204
                    // (Entra ID's advice: its member list can be huge) unless the client asks
                    // for attributes or `Prefer: return=representation`; anything answers 204
                    // with `Prefer: return=minimal`.
                    let minimal = prefer.contains("return=minimal")
                        || (rt.name == "Group"
                            && !projected
                            && !prefer.contains("return=representation"));
                    if minimal {
                        return Ok(Reply::empty(StatusCode::NO_CONTENT)
                            .with_header(header::ETAG, stored.etag()));
                    }
                    let stored = if rt.name == "Group" {
                        scim.inner
                            .store
                            .get(&call.tenant, &rt.name, &id)
                            .await?
                            .ok_or_else(|| not_found(rt, &id))?
                    } else {
                        stored
                    };
                    resource_reply(scim, call, rt, stored, &shape, StatusCode::OK)
                }
                _ => {
                    delete(scim, call, rt, &id, condition).await?;
                    Ok(Reply::empty(StatusCode::NO_CONTENT))
                }
            }
        }
    }
}

/// Which of roles and entitlements the tenant's rules give values for (then discovery lists
/// the draft's resource types, schemas and `RolesAndEntitlements`).
async fn has_roles(scim: &Scim, call: &Call) -> Result<(bool, bool), Failure> {
    use crate::access::{Grant, offered};
    Ok((
        !offered(scim, &call.tenant, Grant::Roles).await?.is_empty(),
        !offered(scim, &call.tenant, Grant::Entitlements)
            .await?
            .is_empty(),
    ))
}

/// 405 unless the method is one of `methods`.
fn allow(call: &Call, methods: &[Method]) -> Result<(), Failure> {
    if methods.contains(&call.method) {
        return Ok(());
    }
    let list: Vec<&str> = methods.iter().map(Method::as_str).collect();
    Err(Failure::new(
        405,
        None,
        format!(
            "{} is not allowed here; this endpoint answers {}",
            call.method,
            list.join(", ")
        ),
    )
    .with_header(header::ALLOW, list.join(", ")))
}

/// RFC 7644 §4: discovery endpoints take no filter (403).
fn no_filter(call: &Call) -> Result<(), Failure> {
    if call.param("filter").is_some() {
        return Err(Failure::new(
            403,
            None,
            "discovery endpoints do not support filtering (RFC 7644 §4); list them without `filter`",
        ));
    }
    Ok(())
}

/// 415 unless the body is JSON: `application/scim+json`, `application/json` or another JSON
/// type. A missing Content-Type is accepted (Okta's test suite sends none).
fn content_type(call: &Call) -> Result<(), Failure> {
    let Some(ct) = call.header(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let media = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media.ends_with("/json") || media.ends_with("+json") {
        return Ok(());
    }
    Err(Failure::new(
        415,
        None,
        format!("the body is {media}; send application/scim+json (or application/json)"),
    ))
}

/// The request body as JSON.
pub(crate) fn json_body(call: &Call) -> Result<Value, Failure> {
    content_type(call)?;
    parse_json(&call.body)
}

pub(crate) fn parse_json(body: &Bytes) -> Result<Value, Failure> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Failure::typed(
            ScimType::InvalidSyntax,
            "the request has no body; send a JSON object",
        ));
    }
    serde_json::from_slice(body).map_err(|e| {
        Failure::typed(
            ScimType::InvalidSyntax,
            format!("the request body is not valid JSON: {e}"),
        )
    })
}

/// An `If-Match` precondition (RFC 7644 §3.14, RFC 9110 §13.1.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Condition {
    /// None given: the server may retry a write that lost a race.
    None,
    /// `*`: the resource must exist.
    Any,
    /// The resource must be at one of these versions (`If-Match` may list several ETags).
    Versions(Vec<u64>),
}

impl Condition {
    fn of(call: &Call) -> Result<Self, Failure> {
        match call.header(header::IF_MATCH) {
            None => Ok(Self::None),
            Some(v) => Self::parse(v).ok_or_else(|| {
                Failure::new(
                    412,
                    None,
                    format!("If-Match {v} names no version of this resource; send the ETag from the last read, e.g. W/\"3\""),
                )
            }),
        }
    }

    /// `*`, or the ETags (`W/"3"` or `"3"`) that name versions.
    pub(crate) fn parse(value: &str) -> Option<Self> {
        if value.trim() == "*" {
            return Some(Self::Any);
        }
        let versions: Vec<u64> = value
            .split(',')
            .filter_map(|tag| {
                let tag = tag.trim();
                let tag = tag.strip_prefix("W/").unwrap_or(tag);
                tag.strip_prefix('"')?.strip_suffix('"')?.parse().ok()
            })
            .collect();
        (!versions.is_empty()).then_some(Self::Versions(versions))
    }

    /// Whether the client named versions (then a lost race is its 412, not a retry).
    fn names_versions(&self) -> bool {
        matches!(self, Self::Versions(_))
    }

    /// The version a write is conditioned on: the one read, when the client named versions
    /// (and the read matched one of them).
    fn pin(&self, read: &Stored) -> Option<u64> {
        self.names_versions().then_some(read.version)
    }

    /// The first version named, for messages.
    fn expected(&self) -> u64 {
        match self {
            Self::Versions(v) => v.first().copied().unwrap_or_default(),
            _ => 0,
        }
    }

    /// Checks the condition against the stored version.
    fn check(&self, stored: &Stored) -> Result<(), Failure> {
        match self {
            Self::Versions(v) if !v.contains(&stored.version) => {
                Err(mismatch(self.expected(), stored.version))
            }
            _ => Ok(()),
        }
    }
}

fn mismatch(expected: u64, current: u64) -> Failure {
    Failure::new(
        412,
        None,
        format!(
            "the resource changed: it is at version W/\"{current}\", the request expected W/\"{expected}\"; read it again and retry"
        ),
    )
}

fn not_found(rt: &ResourceType, id: &str) -> Failure {
    Failure::new(404, None, format!("{} {id} not found", rt.name))
}

/// `attributes` and `excludedAttributes`.
#[derive(Debug, Default)]
pub(crate) struct Shape {
    attributes: Vec<AttrPath>,
    excluded: Vec<AttrPath>,
}

impl Shape {
    pub(crate) fn from_query(call: &Call) -> Result<Self, Failure> {
        Self::parse(call.param("attributes"), call.param("excludedAttributes"))
    }

    pub(crate) fn parse(attributes: Option<&str>, excluded: Option<&str>) -> Result<Self, Failure> {
        let list = |name: &str, v: Option<&str>| -> Result<Vec<AttrPath>, Failure> {
            match v {
                None => Ok(Vec::new()),
                Some(v) => AttrPath::parse_list(v)
                    .map_err(|e| Failure::typed(ScimType::InvalidValue, format!("`{name}`: {e}"))),
            }
        };
        Ok(Self {
            attributes: list("attributes", attributes)?,
            excluded: list("excludedAttributes", excluded)?,
        })
    }

    fn from_lists(attributes: &[String], excluded: &[String]) -> Result<Self, Failure> {
        let join = |l: &[String]| (!l.is_empty()).then(|| l.join(","));
        Self::parse(join(attributes).as_deref(), join(excluded).as_deref())
    }

    /// Whether the top-level attribute `name` can be in the response (so it is worth
    /// assembling).
    fn may_return(&self, name: &str) -> bool {
        let named = |l: &[AttrPath]| l.iter().any(|p| p.name.eq_ignore_ascii_case(name));
        if self
            .excluded
            .iter()
            .any(|p| p.name.eq_ignore_ascii_case(name) && p.sub_attr.is_none())
        {
            return false;
        }
        self.attributes.is_empty() || named(&self.attributes)
    }
}

fn location(call: &Call, rt: &ResourceType, id: &str) -> String {
    format!("{}{}/{id}", call.base_url, rt.endpoint)
}

/// The resource as served: `id`, `meta` (with `location`), projected.
pub(crate) fn present(
    scim: &Scim,
    call: &Call,
    rt: &ResourceType,
    stored: Stored,
    shape: &Shape,
) -> Value {
    let mut full = stored.into_resource(Some(&call.base_url), &rt.endpoint);
    add_refs(scim, call, rt, &mut full);
    match scim.inner.registry.bind(&rt.name) {
        Some(bound) => Value::Object(bound.project_owned(full, &shape.attributes, &shape.excluded)),
        None => Value::Object(full),
    }
}

/// The `$ref` of each group member (by its `type`) and of each of a user's groups: URIs
/// under the tenant's base URL, derived when served rather than stored.
fn add_refs(scim: &Scim, call: &Call, rt: &ResourceType, resource: &mut Map<String, Value>) {
    let endpoint = |type_name: &str| {
        scim.inner
            .registry
            .resource_types()
            .iter()
            .find(|t| t.name == type_name)
            .map(|t| t.endpoint.clone())
    };
    let (attribute, fixed) = match rt.name.as_str() {
        "Group" => ("members", None),
        "User" => ("groups", endpoint("Group")),
        _ => return,
    };
    let Some(Value::Array(items)) = resource.get_mut(attribute) else {
        return;
    };
    for item in items {
        let Value::Object(m) = item else { continue };
        if m.contains_key("$ref") {
            continue;
        }
        let Some(id) = m.get("value").and_then(Value::as_str) else {
            continue;
        };
        let at = fixed
            .clone()
            .or_else(|| m.get("type").and_then(Value::as_str).and_then(endpoint));
        if let Some(at) = at {
            let uri = format!("{}{at}/{id}", call.base_url);
            m.insert("$ref".into(), Value::String(uri));
        }
    }
}

/// Fills in the `type` of members sent without one (Entra ID sends only `value`) from which
/// resource the id names; ids that name nothing in this tenant stay as they are.
pub(crate) async fn type_members(
    scim: &Scim,
    call: &Call,
    members: &mut [Value],
) -> Result<(), Failure> {
    for member in members {
        let Value::Object(m) = member else { continue };
        if m.get("type").and_then(Value::as_str).is_some() {
            continue;
        }
        let Some(id) = m.get("value").and_then(Value::as_str).map(str::to_owned) else {
            continue;
        };
        for kind in ["User", "Group"] {
            if scim
                .inner
                .store
                .load(&call.tenant, kind, &id)
                .await?
                .is_some()
            {
                m.insert("type".into(), Value::String(kind.into()));
                break;
            }
        }
    }
    Ok(())
}

async fn type_body_members(
    scim: &Scim,
    call: &Call,
    rt: &ResourceType,
    body: &mut Map<String, Value>,
) -> Result<(), Failure> {
    if rt.name == "Group"
        && let Some(Value::Array(members)) = body.get_mut("members")
    {
        type_members(scim, call, members).await?;
    }
    Ok(())
}

/// Entra ID requires group names to be unique in a tenant ("Groups must have uniqueness on
/// the displayName value"); RFC 7643 does not. Tenants with the `entra` profile get a 409
/// for a second group of a name (compared as `displayName eq`, case-insensitively). The check
/// reads before the write, so two creations racing with one name can both pass; Entra ID
/// sends a tenant's group operations one at a time.
async fn check_group_name(
    scim: &Scim,
    call: &Call,
    rt: &ResourceType,
    body: &Map<String, Value>,
    except: Option<&str>,
) -> Result<(), Failure> {
    if rt.name != "Group" || call.tolerance.patch.name() != "entra" {
        return Ok(());
    }
    let Some(name) = body.get("displayName").and_then(Value::as_str) else {
        return Ok(());
    };
    let filter = format!("displayName eq {}", Value::String(name.to_owned()));
    let query = Query::filter(&filter)?.page(1, 2);
    let page = scim
        .inner
        .store
        .search(&call.tenant, &rt.name, &query)
        .await?;
    if let Some(other) = page
        .resources
        .iter()
        .find(|r| Some(r.id.as_str()) != except)
    {
        return Err(Failure::typed(
            ScimType::Uniqueness,
            format!(
                "displayName {name:?} is already the name of group {}: Entra ID requires unique group names (tenant profile entra)",
                other.id
            ),
        ));
    }
    Ok(())
}

/// Records a refused or failed change in the tenant's audit log (a successful one is
/// recorded by the store, in its transaction). The outcome is the status, `scimType` and
/// detail the client got. A failure to record is logged, not returned: the client's answer
/// does not depend on it.
pub(crate) async fn audit_failure(
    scim: &Scim,
    call: &Call,
    method: &str,
    rt: &str,
    id: &str,
    failure: &Failure,
) {
    let operation = match method {
        "POST" => "create",
        "PUT" => "replace",
        "PATCH" => "patch",
        "DELETE" => "delete",
        other => other,
    };
    let e = &failure.error;
    let outcome = match (e.scim_type, &e.detail) {
        (Some(t), Some(d)) => format!("{} {t}: {d}", e.status),
        (None, Some(d)) => format!("{}: {d}", e.status),
        (Some(t), None) => format!("{} {t}", e.status),
        (None, None) => e.status.to_string(),
    };
    if let Err(err) = scim
        .inner
        .store
        .record_failure(&call.tenant, &call.ctx(), operation, rt, id, &outcome)
        .await
    {
        tracing::warn!(error = %err, "could not record a failed change in the audit log");
    }
}

fn resource_reply(
    scim: &Scim,
    call: &Call,
    rt: &ResourceType,
    stored: Stored,
    shape: &Shape,
    status: StatusCode,
) -> Outcome {
    let etag = stored.etag();
    Ok(Reply::json(status, present(scim, call, rt, stored, shape)).with_header(header::ETAG, etag))
}

/// What is never stored: `password` (scimkit does not authenticate users; the SPC says
/// `changePassword` is unsupported) and the read-only attributes the store derives.
fn strip(rt: &ResourceType, body: &mut Map<String, Value>) {
    body.remove("password");
    if rt.name == "User" {
        body.remove("groups");
    }
}

/// The member ids a group body lists.
fn member_ids_of(body: &Map<String, Value>) -> BTreeSet<String> {
    body.get("members")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("value").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// The resources whose users' roles a change of group `id` from `before` to `after` can move:
/// the members that joined or left, and the group itself when its name or externalId (what
/// role rules match) changed.
fn role_roots(id: &str, before: &Map<String, Value>, after: &Map<String, Value>) -> Vec<String> {
    let (old, new) = (member_ids_of(before), member_ids_of(after));
    let mut roots: Vec<String> = old.symmetric_difference(&new).cloned().collect();
    if before.get("displayName") != after.get("displayName")
        || before.get("externalId") != after.get("externalId")
    {
        roots.push(id.to_owned());
    }
    roots
}

/// In a `jit-only` tenant users come from logins only: SCIM writes to them are refused.
async fn refuse_if_jit_only(scim: &Scim, call: &Call, rt: &ResourceType) -> Result<(), Failure> {
    if rt.name == "User"
        && scim.jit_inner(&call.tenant).await?.mode == crate::access::JitMode::JitOnly
    {
        return Err(Failure::new(
            403,
            None,
            "this tenant creates users just in time, at login (JIT mode jit-only): SCIM does not write its users",
        ));
    }
    Ok(())
}

/// In a `hybrid` tenant, a SCIM creation of a person who logged in before (a user created
/// just in time, matched by `externalId` or `userName`) adopts that record instead of making a
/// second one: the IdP's body replaces it, and the creation answers 201 with its id, once.
/// A later creation of the same person is a duplicate (409) like any other.
async fn adopt_jit_user(
    scim: &Scim,
    call: &Call,
    rt: &ResourceType,
    resource: &Map<String, Value>,
) -> Result<Option<Stored>, Failure> {
    let settings = scim.jit_inner(&call.tenant).await?;
    if settings.mode != crate::access::JitMode::Hybrid {
        return Ok(None);
    }
    let store = &scim.inner.store;
    for (attr, value) in [
        ("externalId", resource.get("externalId")),
        ("userName", resource.get("userName")),
    ] {
        let Some(Value::String(v)) = value else {
            continue;
        };
        let filter = format!("{attr} eq {}", Value::String(v.clone()));
        let page = store
            .search(&call.tenant, &rt.name, &Query::filter(&filter)?.page(1, 10))
            .await?;
        for candidate in page.resources {
            let origin = store.origin(&call.tenant, &candidate.id).await?;
            if origin.as_deref() != Some(crate::access::ORIGIN_JIT) {
                continue;
            }
            let stored = store
                .replace(
                    &call.tenant,
                    &rt.name,
                    &candidate.id,
                    resource.clone(),
                    Some(candidate.version),
                    &call.ctx(),
                )
                .await?;
            store
                .set_origin(
                    &call.tenant,
                    &candidate.id,
                    Some(crate::access::ORIGIN_ADOPTED),
                )
                .await?;
            tracing::info!(id = %candidate.id, "a user created just in time was adopted by SCIM");
            return Ok(Some(stored));
        }
    }
    Ok(None)
}

/// Normalizes a create or replace body with the tenant's tolerances, and notes in the log
/// which of them the body needed.
fn normalize(
    scim: &Scim,
    call: &Call,
    rt: &ResourceType,
    body: Value,
    mode: Mode<'_>,
) -> Result<Map<String, Value>, Failure> {
    let (_, resource, tolerances) = scim.inner.registry.normalize_reporting(
        Some(&rt.name),
        body,
        mode,
        &call.tolerance.normalize,
    )?;
    if !tolerances.is_empty() {
        let fired: Vec<&str> = tolerances.names().collect();
        tracing::info!(profile = call.tolerance.patch.name(), normalizers = ?fired, "body read with IdP tolerances");
        crate::requestlog::fired(fired.iter().map(|n| (*n).to_owned()));
    }
    Ok(resource)
}

pub(crate) async fn create(
    scim: &Scim,
    call: &Call,
    rt: &ResourceType,
    body: Value,
) -> Result<Stored, Failure> {
    refuse_if_jit_only(scim, call, rt).await?;
    let mut resource = normalize(scim, call, rt, body, Mode::Create)?;
    strip(rt, &mut resource);
    type_body_members(scim, call, rt, &mut resource).await?;
    check_group_name(scim, call, rt, &resource, None).await?;
    if rt.name == "User"
        && let Some(adopted) = adopt_jit_user(scim, call, rt, &resource).await?
    {
        return Ok(adopted);
    }
    let id = scim.inner.env.new_id();
    let snapshot = if rt.name == "Group" {
        let roots = member_ids_of(&resource).into_iter().collect();
        scim.role_snapshot(&call.tenant, roots).await?
    } else {
        None
    };
    let stored = scim
        .inner
        .store
        .create(&call.tenant, &rt.name, &id, resource, &call.ctx())
        .await?;
    scim.finish_role_snapshot(&call.tenant, snapshot, Some(&call.token_id))
        .await?;
    Ok(stored)
}

async fn get(scim: &Scim, call: &Call, rt: &ResourceType, id: &str) -> Outcome {
    let store = &scim.inner.store;
    // The stamp before the read: if the resource changes between the two, the stamp after
    // differs and what is rendered now is never served under it.
    let stamp = store.read_stamp(&call.tenant, &rt.name, id);
    let view = View::of(call, rt, id);
    if let Some(stamp) = stamp {
        let hit = lock_rendered(scim).find(&view, stamp);
        if let Some((etag, body)) = hit {
            return Ok(match not_modified(call, &etag) {
                Some(reply) => reply,
                None => Reply::raw_json(StatusCode::OK, body).with_header(header::ETAG, etag),
            });
        }
    }
    let stored = store
        .get(&call.tenant, &rt.name, id)
        .await?
        .ok_or_else(|| not_found(rt, id))?;
    let etag = stored.etag();
    if let Some(reply) = not_modified(call, &etag) {
        return Ok(reply);
    }
    let shape = Shape::from_query(call)?;
    // A `Value` always serializes (its map keys are strings), as in `render`.
    let body = Bytes::from(
        serde_json::to_vec(&present(scim, call, rt, stored, &shape)).unwrap_or_default(),
    );
    if let Some(stamp) = stamp {
        lock_rendered(scim).keep(view, stamp, etag.clone(), body.clone());
    }
    Ok(Reply::raw_json(StatusCode::OK, body).with_header(header::ETAG, etag))
}

/// `304 Not Modified` when `If-None-Match` names `etag` (or is `*`).
fn not_modified(call: &Call, etag: &str) -> Option<Reply> {
    let tags = call.header(header::IF_NONE_MATCH)?;
    let matches = tags.trim() == "*"
        || tags
            .split(',')
            .any(|t| t.trim().trim_start_matches("W/") == etag.trim_start_matches("W/"));
    matches.then(|| Reply::empty(StatusCode::NOT_MODIFIED).with_header(header::ETAG, etag))
}

fn lock_rendered(scim: &Scim) -> std::sync::MutexGuard<'_, Rendered> {
    scim.inner
        .rendered
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// What a `GET {resource}/{id}` response depends on besides the resource: the tenant, the
/// base URL (in `meta.location` and `$ref`s) and the projection parameters.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct View {
    tenant: String,
    resource_type: String,
    id: String,
    base_url: String,
    attributes: Option<String>,
    excluded: Option<String>,
}

impl View {
    fn of(call: &Call, rt: &ResourceType, id: &str) -> Self {
        Self {
            tenant: call.tenant.clone(),
            resource_type: rt.name.clone(),
            id: id.to_owned(),
            base_url: call.base_url.clone(),
            attributes: call.param("attributes").map(str::to_owned),
            excluded: call.param("excludedAttributes").map(str::to_owned),
        }
    }
}

/// Rendered `GET {resource}/{id}` bodies with their ETags, each valid while the store's
/// [`read_stamp`](scimkit_store::Store::read_stamp) of the resource is the one it was
/// rendered under. At most [`RENDERED`] are kept; past that, all are dropped at once (they
/// are rebuilt by the next reads).
#[derive(Debug, Default)]
pub(crate) struct Rendered {
    map: std::collections::HashMap<View, (u64, String, Bytes)>,
}

/// The most rendered responses kept.
const RENDERED: usize = 10_000;

impl Rendered {
    fn find(&self, view: &View, stamp: u64) -> Option<(String, Bytes)> {
        self.map
            .get(view)
            .filter(|(s, _, _)| *s == stamp)
            .map(|(_, etag, body)| (etag.clone(), body.clone()))
    }

    fn keep(&mut self, view: View, stamp: u64, etag: String, body: Bytes) {
        if self.map.len() >= RENDERED && !self.map.contains_key(&view) {
            self.map.clear();
        }
        self.map.insert(view, (stamp, etag, body));
    }
}

pub(crate) async fn replace(
    scim: &Scim,
    call: &Call,
    rt: &ResourceType,
    id: &str,
    body: &Value,
    condition: Condition,
) -> Result<Stored, Failure> {
    refuse_if_jit_only(scim, call, rt).await?;
    let store = &scim.inner.store;
    for attempt in 0..RETRIES {
        let current = store
            .get(&call.tenant, &rt.name, id)
            .await?
            .ok_or_else(|| not_found(rt, id))?;
        condition.check(&current)?;
        let mode = Mode::Replace {
            existing: &current.body,
        };
        let mut resource = normalize(scim, call, rt, body.clone(), mode)?;
        strip(rt, &mut resource);
        type_body_members(scim, call, rt, &mut resource).await?;
        check_group_name(scim, call, rt, &resource, Some(id)).await?;
        let snapshot = if rt.name == "Group" {
            let roots = role_roots(id, &current.body, &resource);
            scim.role_snapshot(&call.tenant, roots).await?
        } else {
            None
        };
        let written = store
            .replace(
                &call.tenant,
                &rt.name,
                id,
                resource,
                Some(current.version),
                &call.ctx(),
            )
            .await;
        if let Some(stored) = settle(written, &condition)? {
            scim.finish_role_snapshot(&call.tenant, snapshot, Some(&call.token_id))
                .await?;
            return Ok(stored);
        }
        backoff(attempt).await;
    }
    Err(busy())
}

/// A conditional write's result: the resource, or `None` when it lost a race with another
/// writer and may be retried (only when the client gave no `If-Match`: then the race is the
/// server's own read-modify-write, not the client's).
fn settle<T>(written: Result<T, StoreError>, condition: &Condition) -> Result<Option<T>, Failure> {
    match written {
        Ok(stored) => Ok(Some(stored)),
        Err(StoreError::VersionMismatch { current, .. }) if condition.names_versions() => {
            Err(mismatch(condition.expected(), current))
        }
        Err(StoreError::VersionMismatch { .. }) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn busy() -> Failure {
    Failure::new(
        503,
        None,
        "the resource kept changing while this request was applied; retry",
    )
    .with_header(header::RETRY_AFTER, "1")
}

/// A group's membership as far as a PATCH asked: the ids it names, looked up in the member
/// table beforehand. Asking about any other id, or for the whole list, is recorded, and the
/// PATCH is then run again against the full list.
struct Prefetched {
    present: BTreeSet<String>,
    asked: BTreeSet<String>,
    missed: std::cell::Cell<bool>,
}

impl scimkit_patch::MemberIndex for Prefetched {
    fn contains(&self, id: &str) -> bool {
        if !self.asked.contains(id) {
            self.missed.set(true);
        }
        self.present.contains(id)
    }

    fn ids(&self) -> Vec<String> {
        self.missed.set(true);
        Vec::new()
    }
}

/// The strings a PATCH body mentions (values, and quoted literals in paths): the member ids
/// it can add or remove are among them.
fn mentioned(body: &Value, out: &mut BTreeSet<String>) {
    match body {
        Value::String(s) => {
            out.insert(s.clone());
            // `members[value eq "id"]`: the quoted literals of a path.
            let mut rest = s.as_str();
            while let Some(open) = rest.find('"') {
                let tail = &rest[open + 1..];
                let Some(close) = tail.find('"') else { break };
                out.insert(tail[..close].to_owned());
                rest = &tail[close + 1..];
            }
        }
        Value::Array(items) => items.iter().for_each(|v| mentioned(v, out)),
        Value::Object(m) => m.values().for_each(|v| mentioned(v, out)),
        _ => {}
    }
}

/// The most member ids a PATCH may name before the full member list is read instead of
/// asking for each.
const PREFETCH_LIMIT: usize = 1000;

pub(crate) async fn patch(
    scim: &Scim,
    call: &Call,
    rt: &ResourceType,
    id: &str,
    body: &[u8],
    condition: Condition,
) -> Result<Stored, Failure> {
    refuse_if_jit_only(scim, call, rt).await?;
    let store = &scim.inner.store;
    let bound = scim
        .inner
        .registry
        .bind(&rt.name)
        .ok_or_else(|| not_found(rt, id))?;
    let profile = &call.tolerance.patch;
    let is_group = rt.name == "Group";
    let mut candidates = BTreeSet::new();
    if is_group {
        mentioned(&parse_json(&Bytes::copy_from_slice(body))?, &mut candidates);
    }
    for attempt in 0..RETRIES {
        // A group's members are not loaded: the member table answers for the ids the PATCH
        // names, so adding or removing a few members of a huge group stays cheap.
        let current = if is_group {
            store.load(&call.tenant, &rt.name, id).await?
        } else {
            store.get(&call.tenant, &rt.name, id).await?
        }
        .ok_or_else(|| not_found(rt, id))?;
        condition.check(&current)?;
        let mut resource = current.body.clone();
        strip(rt, &mut resource);
        let change = if is_group {
            let mut present = BTreeSet::new();
            if candidates.len() <= PREFETCH_LIMIT {
                for c in &candidates {
                    if store.is_member(&call.tenant, id, c).await? {
                        present.insert(c.clone());
                    }
                }
            }
            let index = Prefetched {
                present,
                asked: if candidates.len() <= PREFETCH_LIMIT {
                    candidates.clone()
                } else {
                    BTreeSet::new()
                },
                missed: std::cell::Cell::new(false),
            };
            let mut attempt = resource.clone();
            let change = scimkit_patch::apply_slice_in_place(
                &bound,
                &mut attempt,
                body,
                profile,
                Some(&index),
            )?;
            if index.missed.get() {
                // The PATCH replaces or clears the list, or names members in a way the
                // prefetch did not foresee: run it against every member id.
                let all: BTreeSet<String> = store
                    .member_ids(&call.tenant, id)
                    .await?
                    .into_iter()
                    .collect();
                scimkit_patch::apply_slice_in_place(
                    &bound,
                    &mut resource,
                    body,
                    profile,
                    Some(&all),
                )?
            } else {
                resource = attempt;
                change
            }
        } else {
            scimkit_patch::apply_slice_in_place(&bound, &mut resource, body, profile, None)?
        };
        if !change.normalizers.is_empty() {
            let fired: Vec<&str> = change.normalizers.iter().map(|n| n.as_str()).collect();
            tracing::info!(profile = call.tolerance.patch.name(), normalizers = ?fired, "PATCH read with IdP tolerances");
            crate::requestlog::fired(fired.iter().map(|n| (*n).to_owned()));
        }
        if !change.changed {
            return Ok(current);
        }
        strip(rt, &mut resource);
        if change.changed_attributes.iter().any(|a| a == "displayName") {
            check_group_name(scim, call, rt, &resource, Some(id)).await?;
        }
        let snapshot = if is_group {
            let mut roots: Vec<String> = change.members.added.keys().cloned().collect();
            roots.extend(change.members.removed.iter().cloned());
            if change
                .changed_attributes
                .iter()
                .any(|a| a == "displayName" || a == "externalId")
            {
                roots.push(id.to_owned());
            }
            scim.role_snapshot(&call.tenant, roots).await?
        } else {
            None
        };
        let only_members = change.changed_attributes.iter().all(|a| a == "members");
        let written = if is_group && only_members {
            let mut values: Vec<Value> = change.members.added.values().cloned().collect();
            type_members(scim, call, &mut values).await?;
            let added: Vec<scimkit_store::Member> = values
                .iter()
                .filter_map(scimkit_store::Member::from_json)
                .collect();
            let removed: Vec<String> = change.members.removed.iter().cloned().collect();
            // Adding and removing members commute (the store skips ids already in or out),
            // so without `If-Match` concurrent member changes to one group do not conflict:
            // only a client's precondition ties this write to a version.
            store
                .change_members(
                    &call.tenant,
                    id,
                    &added,
                    &removed,
                    condition.pin(&current),
                    &call.ctx(),
                )
                .await
        } else {
            if is_group {
                // Attributes and members at once: one replace with the whole list, so that
                // both change in one transaction.
                let full = store
                    .get(&call.tenant, &rt.name, id)
                    .await?
                    .ok_or_else(|| not_found(rt, id))?;
                let mut members: std::collections::BTreeMap<String, Value> = full
                    .body
                    .get("members")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|m| Some((m.get("value")?.as_str()?.to_owned(), m.clone())))
                    .collect();
                for r in &change.members.removed {
                    members.remove(r);
                }
                for (k, v) in &change.members.added {
                    members.insert(k.clone(), v.clone());
                }
                let mut members: Vec<Value> = members.into_values().collect();
                type_members(scim, call, &mut members).await?;
                resource.insert("members".into(), Value::Array(members));
            }
            store
                .replace(
                    &call.tenant,
                    &rt.name,
                    id,
                    resource,
                    Some(current.version),
                    &call.ctx(),
                )
                .await
        };
        if let Some(stored) = settle(written, &condition)? {
            scim.finish_role_snapshot(&call.tenant, snapshot, Some(&call.token_id))
                .await?;
            return Ok(stored);
        }
        backoff(attempt).await;
    }
    Err(busy())
}

/// A short, growing pause before retrying a write that lost a race, so that writers of one
/// resource spread out instead of colliding again.
async fn backoff(attempt: usize) {
    let ms = 1u64 << attempt.min(6);
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

pub(crate) async fn delete(
    scim: &Scim,
    call: &Call,
    rt: &ResourceType,
    id: &str,
    condition: Condition,
) -> Result<(), Failure> {
    refuse_if_jit_only(scim, call, rt).await?;
    let store = &scim.inner.store;
    for attempt in 0..RETRIES {
        let current = store
            .load(&call.tenant, &rt.name, id)
            .await?
            .ok_or_else(|| not_found(rt, id))?;
        condition.check(&current)?;
        let snapshot = if rt.name == "Group" {
            scim.role_snapshot(&call.tenant, vec![id.to_owned()])
                .await?
        } else {
            None
        };
        let deleted = store
            .delete(
                &call.tenant,
                &rt.name,
                id,
                condition.pin(&current),
                &call.ctx(),
            )
            .await;
        match deleted {
            // Deleted by someone else in the meantime: gone, as asked.
            Err(StoreError::NotFound { .. }) => return Err(not_found(rt, id)),
            other => {
                if settle(other, &condition)?.is_some() {
                    scim.finish_role_snapshot(&call.tenant, snapshot, Some(&call.token_id))
                        .await?;
                    return Ok(());
                }
            }
        }
        backoff(attempt).await;
    }
    Err(busy())
}

/// A list or search request's parameters (query string or `SearchRequest` body).
#[derive(Debug, Default)]
pub(crate) struct ListParams {
    filter: Option<String>,
    sort_by: Option<String>,
    sort_order: Option<String>,
    start_index: Option<String>,
    count: Option<String>,
    cursor: Option<String>,
    shape: Shape,
}

impl ListParams {
    fn from_query(call: &Call) -> Result<Self, Failure> {
        let p = |n: &str| call.param(n).map(str::to_owned);
        Ok(Self {
            filter: p("filter"),
            sort_by: p("sortBy"),
            sort_order: p("sortOrder"),
            start_index: p("startIndex"),
            count: p("count"),
            cursor: p("cursor"),
            shape: Shape::from_query(call)?,
        })
    }

    fn from_body(call: &Call) -> Result<Self, Failure> {
        let body = json_body(call)?;
        let req: SearchRequest = serde_json::from_value(body).map_err(|e| {
            Failure::typed(
                ScimType::InvalidSyntax,
                format!("the body is not a SearchRequest: {e}"),
            )
        })?;
        Ok(Self {
            filter: req.filter,
            sort_by: req.sort_by,
            sort_order: req.sort_order.map(|o| o.as_str().to_owned()),
            start_index: req.start_index.map(|n| n.to_string()),
            count: req.count.map(|n| n.to_string()),
            cursor: req.cursor,
            shape: Shape::from_lists(&req.attributes, &req.excluded_attributes)?,
        })
    }

    /// The store query, with the page size capped at `max_results`.
    fn query(&self, scim: &Scim, call: &Call) -> Result<Query, Failure> {
        let config = &scim.inner.config;
        let mut q = match &self.filter {
            Some(f) if !f.trim().is_empty() => {
                // Unquoted values (Entra ID's documented `externalId eq jyoung`) are read as
                // strings unless the tenant reads requests strictly.
                let strict = call.tolerance.patch.name() == "strict";
                let quoted = scimkit_filter::Parser::new().parse_filter(f);
                let filter = match quoted {
                    Ok(filter) => filter,
                    // The same parse with unquoted values allowed: when only it succeeds,
                    // the unquoted values are what it needed, and the log says so.
                    Err(_) if !strict => {
                        let filter = scimkit_filter::Parser::new()
                            .bare_strings(true)
                            .parse_filter(f)?;
                        crate::requestlog::fired(["bare-strings".to_owned()]);
                        filter
                    }
                    Err(e) => return Err(e.into()),
                };
                let mut q = Query::all();
                q.filter = Some(filter);
                q
            }
            _ => Query::all(),
        };
        let number = |name: &str, v: &Option<String>| -> Result<Option<i64>, Failure> {
            v.as_deref()
                .map(|s| {
                    s.trim().parse::<i64>().map_err(|_| {
                        Failure::typed(
                            ScimType::InvalidValue,
                            format!("`{name}` must be an integer, found {s:?}"),
                        )
                    })
                })
                .transpose()
        };
        // RFC 7644 §3.4.2.4: startIndex below 1 means 1; a negative count means 0.
        let start = number("startIndex", &self.start_index)?;
        let count = number("count", &self.count)?
            .map_or(config.default_count, |c| {
                usize::try_from(c.max(0)).unwrap_or(usize::MAX)
            })
            .min(config.max_results);
        if let Some(sort_by) = &self.sort_by {
            let path = AttrPath::parse(sort_by)
                .map_err(|e| Failure::typed(ScimType::InvalidValue, format!("`sortBy`: {e}")))?;
            let order = match self.sort_order.as_deref() {
                None => SortOrder::Ascending,
                Some(o) => o.parse().map_err(|_| {
                    Failure::typed(
                        ScimType::InvalidValue,
                        format!("`sortOrder` must be \"ascending\" or \"descending\", found {o:?}"),
                    )
                })?,
            };
            q = q.sorted(path, order);
        }
        match &self.cursor {
            Some(cursor) => {
                if start.is_some() {
                    return Err(Failure::typed(
                        ScimType::InvalidValue,
                        "`startIndex` and `cursor` cannot be combined: pick index or cursor pagination",
                    ));
                }
                Ok(q.after(cursor.clone(), count))
            }
            None => {
                let start = usize::try_from(start.unwrap_or(1).max(1)).unwrap_or(usize::MAX);
                Ok(q.page(start, count))
            }
        }
    }
}

async fn list(scim: &Scim, call: &Call, rt: &ResourceType, params: &ListParams) -> Outcome {
    let query = params.query(scim, call)?;
    let page = scim
        .inner
        .store
        .search(&call.tenant, &rt.name, &query)
        .await?;
    let resources = present_all(scim, call, rt, page.resources, &params.shape).await?;
    Ok(Reply::json(
        StatusCode::OK,
        list_body(&query, page.total, resources, page.next_cursor),
    ))
}

/// A page of resources as served. A search returns bodies as stored; a Group's `members` and
/// a User's `groups` are assembled only when the response can show them.
async fn present_all(
    scim: &Scim,
    call: &Call,
    rt: &ResourceType,
    page: Vec<Stored>,
    shape: &Shape,
) -> Result<Vec<Value>, Failure> {
    let assemble = derived_attribute(rt).is_some_and(|a| shape.may_return(a));
    let mut out = Vec::with_capacity(page.len());
    for stored in page {
        let stored = if assemble {
            scim.inner
                .store
                .get(&call.tenant, &rt.name, &stored.id)
                .await?
                .unwrap_or(stored)
        } else {
            stored
        };
        out.push(present(scim, call, rt, stored, shape));
    }
    Ok(out)
}

/// The attribute a resource type's reads assemble from the member table.
fn derived_attribute(rt: &ResourceType) -> Option<&'static str> {
    match rt.name.as_str() {
        "User" => Some("groups"),
        "Group" => Some("members"),
        _ => None,
    }
}

fn list_body(query: &Query, total: usize, resources: Vec<Value>, next: Option<String>) -> Value {
    let mut response = ListResponse::new(resources, total as u64, query.start_index.max(1) as u64);
    if query.cursor.is_some() {
        response.start_index = None;
        response.next_cursor = next;
    }
    serde_json::to_value(response).unwrap_or_else(|_| json!({}))
}

/// `POST /.search` at the root: every resource type, in the order of `/ResourceTypes`.
async fn search_all(scim: &Scim, call: &Call, params: &ListParams) -> Outcome {
    if params.sort_by.is_some() || params.cursor.is_some() {
        return Err(Failure::typed(
            ScimType::InvalidValue,
            "a search at the root spans resource types: sort and cursors work per endpoint (POST /Users/.search)",
        ));
    }
    let query = params.query(scim, call)?;
    let filter: Option<Filter> = query.filter.clone();
    let wanted_start = query.start_index.max(1) - 1;
    let count = query.count.unwrap_or(usize::MAX);
    let mut total = 0;
    let mut resources = Vec::new();
    for rt in scim.inner.registry.resource_types() {
        let mut q = Query::all();
        q.filter = filter.clone();
        // Skip the results before the page, counting them.
        let skip = wanted_start.saturating_sub(total);
        let take = count.saturating_sub(resources.len());
        let page = scim
            .inner
            .store
            .search(&call.tenant, &rt.name, &q.page(skip + 1, take))
            .await?;
        total += page.total;
        resources.extend(present_all(scim, call, rt, page.resources, &params.shape).await?);
    }
    Ok(Reply::json(
        StatusCode::OK,
        list_body(&query, total, resources, None),
    ))
}
