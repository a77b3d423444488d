//! The outbox event as a Security Event Token's claims (RFC 8417), in the SCIM profile of
//! RFC 9967: pure functions, no clock (the issue time is an argument) and no IO (the resource,
//! when the caller has it, is an argument too).

use chrono::DateTime;
use scimkit_schema::Registry;
use scimkit_store::{Event, EventKind, Stored};
use serde_json::{Map, Value, json};

/// `urn:ietf:params:scim:event:prov:create:notice` (RFC 9967 §2.4.1).
pub const CREATE_NOTICE: &str = "urn:ietf:params:scim:event:prov:create:notice";
/// `urn:ietf:params:scim:event:prov:create:full` (RFC 9967 §2.4.1).
pub const CREATE_FULL: &str = "urn:ietf:params:scim:event:prov:create:full";
/// `urn:ietf:params:scim:event:prov:patch:notice` (RFC 9967 §2.4.2).
pub const PATCH_NOTICE: &str = "urn:ietf:params:scim:event:prov:patch:notice";
/// `urn:ietf:params:scim:event:prov:patch:full` (RFC 9967 §2.4.2).
pub const PATCH_FULL: &str = "urn:ietf:params:scim:event:prov:patch:full";
/// `urn:ietf:params:scim:event:prov:put:notice` (RFC 9967 §2.4.3).
pub const PUT_NOTICE: &str = "urn:ietf:params:scim:event:prov:put:notice";
/// `urn:ietf:params:scim:event:prov:put:full` (RFC 9967 §2.4.3).
pub const PUT_FULL: &str = "urn:ietf:params:scim:event:prov:put:full";
/// `urn:ietf:params:scim:event:prov:delete` (RFC 9967 §2.4.4).
pub const DELETE: &str = "urn:ietf:params:scim:event:prov:delete";
/// `urn:ietf:params:scim:event:prov:activate` (RFC 9967 §2.4.5).
pub const ACTIVATE: &str = "urn:ietf:params:scim:event:prov:activate";
/// `urn:ietf:params:scim:event:prov:deactivate` (RFC 9967 §2.4.6).
pub const DEACTIVATE: &str = "urn:ietf:params:scim:event:prov:deactivate";

/// scimkit's own event: a user's effective roles changed (the host-app API's group-to-role
/// rules over the user's memberships). Payload: `roles` (now), `added`, `removed`.
pub const ROLES_CHANGED: &str = "urn:scimkit:event:roles-changed";

/// The event URIs this server issues, for `ServiceProviderConfig.securityEvents.eventUris`
/// (RFC 9967 §4).
pub const EVENT_URIS: [&str; 10] = [
    CREATE_NOTICE,
    CREATE_FULL,
    PATCH_NOTICE,
    PATCH_FULL,
    PUT_NOTICE,
    PUT_FULL,
    DELETE,
    ACTIVATE,
    DEACTIVATE,
    ROLES_CHANGED,
];

const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

/// How much a SET tells: RFC 9967 §2.4's two forms of the provisioning events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Detail {
    /// `…:notice`: the names of the attributes that changed (`attributes`); the receiver
    /// reads the values with a SCIM GET of `sub_id.uri`. Shares no attribute values beyond
    /// `externalId`: the default for receivers outside the host application.
    #[default]
    Notice,
    /// `…:full`: the values (`data`): the resource as served after the change, or the PATCH
    /// operation that describes it.
    Full,
}

/// What a SET is issued with, besides the event: who issues it, to whom, when, and in which
/// form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SetParams<'a> {
    /// `iss`: the tenant's SCIM base URL (`https://host/scim/v2/acme`).
    pub issuer: &'a str,
    /// `aud`: the receiver, if it has a configured audience.
    pub audience: Option<&'a str>,
    /// `iat`: seconds since the epoch.
    pub issued_at: i64,
    /// Notice or full.
    pub detail: Detail,
}

impl<'a> SetParams<'a> {
    /// A SET issued by `issuer` at `issued_at`, to no particular audience, in notice form.
    pub fn new(issuer: &'a str, issued_at: i64) -> Self {
        Self {
            issuer,
            audience: None,
            issued_at,
            detail: Detail::Notice,
        }
    }

    /// The same, for `audience`.
    pub fn audience(mut self, audience: Option<&'a str>) -> Self {
        self.audience = audience;
        self
    }

    /// The same, in form `detail`.
    pub fn detail(mut self, detail: Detail) -> Self {
        self.detail = detail;
        self
    }
}

/// The `jti` of a tenant's event: `<tenant>.<seq>`. The same on every delivery of the event
/// (receivers deduplicate by it) and unique within the server: tenant names have no `.`, and
/// `seq` is unique within a tenant.
pub fn jti(tenant: &str, seq: u64) -> String {
    format!("{tenant}.{seq}")
}

/// The tenant and `seq` of a [`jti`], if it is one.
pub fn parse_jti(jti: &str) -> Option<(&str, u64)> {
    let (tenant, seq) = jti.rsplit_once('.')?;
    if tenant.is_empty() || seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((tenant, seq.parse().ok()?))
}

/// The claims of the SET for `event` of `tenant`, whose resource types `registry` describes.
///
/// `resource` is the resource as it is now (a [`Store::get`](scimkit_store::Store::get)),
/// if it still exists. It supplies `sub_id.externalId`, and for `created` and `updated` the
/// payload: when its version is the event's, the payload describes exactly that state
/// (`data` in [`Detail::Full`], its attribute names in [`Detail::Notice`]), as a GET would
/// serve it (so without `returned: never` or `request` attributes); when the resource
/// has changed since (or is gone), a full SET degrades to a notice, and the notice lists the
/// attributes the resource has now (none once deleted): a later SET of the same feed tells
/// the rest.
///
/// | event | SET event URI | payload |
/// |---|---|---|
/// | `created` | `prov:create:{notice,full}` | `attributes`, or `data`: the resource as served |
/// | `updated` | `prov:put:{notice,full}` | `attributes`, or `data`: the resource as served |
/// | `renamed` | `prov:patch:{notice,full}` | `["displayName"]`, or a `replace` PatchOp |
/// | `members_added` | `prov:patch:{notice,full}` | `["members"]`, or an `add` PatchOp |
/// | `members_removed` | `prov:patch:{notice,full}` | `["members"]`, or `remove` PatchOps |
/// | `deactivated` | `prov:deactivate` | `{}` |
/// | `reactivated` | `prov:activate` | `{}` |
/// | `deleted` | `prov:delete` | `{}` |
///
/// Every payload but `prov:delete`'s (which has none, RFC 9967 §2.4.4) carries `version`, the
/// resource's ETag after the change.
pub fn set_claims(
    tenant: &str,
    event: &Event,
    resource: Option<&Stored>,
    registry: &Registry,
    params: &SetParams<'_>,
) -> Value {
    let endpoint = endpoint_of(registry, &event.resource_type);
    // The resource as a GET without `attributes` would serve it.
    let served = resource.map(|r| {
        let full = r.to_resource(Some(params.issuer), &endpoint);
        match registry.bind(&r.resource_type) {
            Some(bound) => bound.project(&full, &[], &[]),
            None => full,
        }
    });
    let resource = resource.zip(served.as_ref());
    let mut claims = Map::new();
    claims.insert("iss".into(), Value::String(params.issuer.to_owned()));
    claims.insert("iat".into(), Value::from(params.issued_at));
    claims.insert("jti".into(), Value::String(jti(tenant, event.seq)));
    if let Some(aud) = params.audience {
        claims.insert("aud".into(), Value::String(aud.to_owned()));
    }
    claims.insert("txn".into(), Value::String(txn(tenant, event)));
    if let Some(toe) = DateTime::parse_from_rfc3339(&event.at)
        .ok()
        .map(|t| t.timestamp())
    {
        claims.insert("toe".into(), Value::from(toe));
    }
    claims.insert("sub_id".into(), subject(event, &endpoint, resource));
    let (uri, payload) = payload(event, resource, params);
    let mut events = Map::new();
    events.insert(uri.to_owned(), Value::Object(payload));
    claims.insert("events".into(), Value::Object(events));
    Value::Object(claims)
}

/// `txn` (RFC 8417 §2.2, RFC 9967 §2.2): the store change the event comes from. The events of
/// one change (a group created with members, a PUT that renames a group and changes its
/// members) share it: the resource and the version the change produced.
fn txn(tenant: &str, event: &Event) -> String {
    match event.version {
        Some(v) => format!("{tenant}:{}:{}:{v}", event.resource_type, event.resource_id),
        None => format!(
            "{tenant}:{}:{}:deleted",
            event.resource_type, event.resource_id
        ),
    }
}

/// The endpoint a resource type is served at (`/Users`), or `/<name>` for a type no longer
/// in the registry.
fn endpoint_of(registry: &Registry, resource_type: &str) -> String {
    registry
        .resource_types()
        .iter()
        .find(|rt| rt.name == resource_type)
        .map_or_else(|| format!("/{resource_type}"), |rt| rt.endpoint.clone())
}

/// A stored resource and its served form.
type Resource<'r> = Option<(&'r Stored, &'r Map<String, Value>)>;

/// `sub_id` (RFC 9967 §2.1, RFC 9493): format `scim`, the relative `uri`, the `id`, and the
/// `externalId` when the resource has one.
fn subject(event: &Event, endpoint: &str, resource: Resource<'_>) -> Value {
    let mut sub = Map::new();
    sub.insert("format".into(), Value::String("scim".into()));
    sub.insert(
        "uri".into(),
        Value::String(format!(
            "/{}/{}",
            endpoint.trim_matches('/'),
            event.resource_id
        )),
    );
    sub.insert("id".into(), Value::String(event.resource_id.clone()));
    if let Some(external) = resource
        .and_then(|(_, served)| served.get("externalId"))
        .and_then(Value::as_str)
    {
        sub.insert("externalId".into(), Value::String(external.to_owned()));
    }
    Value::Object(sub)
}

/// The event URI and its payload.
fn payload(
    event: &Event,
    resource: Resource<'_>,
    params: &SetParams<'_>,
) -> (&'static str, Map<String, Value>) {
    let mut out = Map::new();
    if let Some(v) = event.version {
        out.insert("version".into(), Value::String(format!("W/\"{v}\"")));
    }
    // The resource exactly as the event left it, if that is what the store has now.
    let exact = resource.filter(|(r, _)| Some(r.version) == event.version);
    let full = params.detail == Detail::Full;
    let uri = match event.kind {
        EventKind::Created | EventKind::Updated => {
            let created = event.kind == EventKind::Created;
            match exact {
                Some((_, served)) if full => {
                    out.insert("data".into(), Value::Object(served.clone()));
                    if created { CREATE_FULL } else { PUT_FULL }
                }
                _ => {
                    let names = resource.map(|(_, served)| attribute_names(served, created));
                    out.insert("attributes".into(), Value::Array(names.unwrap_or_default()));
                    if created { CREATE_NOTICE } else { PUT_NOTICE }
                }
            }
        }
        EventKind::Renamed => {
            if full {
                let name = event
                    .data
                    .get("displayName")
                    .cloned()
                    .unwrap_or(Value::Null);
                let op = if name.is_null() {
                    json!({"op": "remove", "path": "displayName"})
                } else {
                    json!({"op": "replace", "path": "displayName", "value": name})
                };
                out.insert("data".into(), patch_op(vec![op]));
                PATCH_FULL
            } else {
                out.insert("attributes".into(), json!(["displayName"]));
                PATCH_NOTICE
            }
        }
        EventKind::MembersAdded | EventKind::MembersRemoved => {
            if full {
                let ids = member_ids(&event.data);
                let ops = if event.kind == EventKind::MembersAdded {
                    let values: Vec<Value> = ids.iter().map(|id| json!({"value": id})).collect();
                    vec![json!({"op": "add", "path": "members", "value": values})]
                } else {
                    ids.iter()
                        .map(|id| {
                            json!({
                                "op": "remove",
                                "path": format!("members[value eq {}]", filter_string(id)),
                            })
                        })
                        .collect()
                };
                out.insert("data".into(), patch_op(ops));
                PATCH_FULL
            } else {
                out.insert("attributes".into(), json!(["members"]));
                PATCH_NOTICE
            }
        }
        EventKind::RolesChanged => {
            for key in ["roles", "added", "removed"] {
                if let Some(v) = event.data.get(key) {
                    out.insert(key.into(), v.clone());
                }
            }
            ROLES_CHANGED
        }
        EventKind::Deactivated => DEACTIVATE,
        EventKind::Reactivated => ACTIVATE,
        EventKind::Deleted => {
            out.clear();
            DELETE
        }
        // A kind added to the store later: say that the resource changed, and which
        // attributes it has.
        _ => {
            let names = resource.map(|(_, served)| attribute_names(served, false));
            out.insert("attributes".into(), Value::Array(names.unwrap_or_default()));
            PUT_NOTICE
        }
    };
    (uri, out)
}

/// A PatchOp message (RFC 7644 §3.5.2) with `operations`.
fn patch_op(operations: Vec<Value>) -> Value {
    json!({"schemas": [PATCH_OP], "Operations": operations})
}

/// The member ids of a membership event's data (`{"members": [ids]}`).
fn member_ids(data: &Value) -> Vec<&str> {
    data.get("members")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

/// `s` as a filter's string literal (RFC 7644 §3.4.2.2: a JSON string).
fn filter_string(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// The names of the served resource's attributes as RFC 9967's notices list them: the
/// top-level attributes, without `schemas` and `meta`, and with `id` only for a creation
/// (Figures 5 and 9). An extension's attributes are named by the extension's URN.
fn attribute_names(served: &Map<String, Value>, with_id: bool) -> Vec<Value> {
    let mut names = Vec::with_capacity(served.len() + 1);
    if with_id {
        names.push(Value::String("id".into()));
    }
    names.extend(
        served
            .keys()
            .filter(|k| *k != "schemas" && *k != "meta" && *k != "id")
            .map(|k| Value::String(k.clone())),
    );
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jtis_round_trip() {
        assert_eq!(jti("acme", 42), "acme.42");
        assert_eq!(parse_jti("acme.42"), Some(("acme", 42)));
        assert_eq!(parse_jti("a-b.1"), Some(("a-b", 1)));
        assert_eq!(parse_jti("acme"), None);
        assert_eq!(parse_jti(".4"), None);
        assert_eq!(parse_jti("acme."), None);
        assert_eq!(parse_jti("acme.-4"), None);
        assert_eq!(parse_jti("acme.+4"), None);
        assert_eq!(parse_jti("acme.99999999999999999999999"), None);
    }

    #[test]
    fn filter_strings_are_json_strings() {
        assert_eq!(filter_string("u1"), r#""u1""#);
        assert_eq!(filter_string(r#"a"b\c"#), r#""a\"b\\c""#);
    }

    #[test]
    fn every_uri_but_scimkits_own_is_registered_by_rfc_9967() {
        for uri in EVENT_URIS.into_iter().filter(|u| *u != ROLES_CHANGED) {
            assert!(uri.starts_with("urn:ietf:params:scim:event:prov:"), "{uri}");
        }
    }
}
