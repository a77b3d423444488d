//! `/ServiceProviderConfig`, `/ResourceTypes` and `/Schemas` (RFC 7644 §4), generated from the
//! registry and the configuration: a feature is claimed only when it is on.

use http::StatusCode;
use scimkit_schema::messages::{
    AuthenticationScheme, BulkConfig, FilterConfig, ListResponse, Meta, ServiceProviderConfig,
    Supported,
};
use scimkit_schema::{ResourceType, Schema};
use serde_json::{Value, json};

use crate::service::{Call, Failure, Outcome, Reply, Scim};

pub(crate) fn service_provider_config(scim: &Scim, call: &Call, roles: (bool, bool)) -> Value {
    let config = &scim.inner.config;
    let mut spc = ServiceProviderConfig::new();
    spc.documentation_uri =
        Some("https://github.com/scimkit/scimkit/blob/main/docs/server.md".into());
    spc.patch = Supported::new(true);
    let mut bulk = BulkConfig::default();
    bulk.supported = true;
    bulk.max_operations = config.bulk_max_operations as u64;
    bulk.max_payload_size = config.max_payload_size as u64;
    spc.bulk = bulk;
    let mut filter = FilterConfig::default();
    filter.supported = true;
    filter.max_results = config.max_results as u64;
    spc.filter = filter;
    // Passwords are accepted and discarded, never stored: no password change.
    spc.change_password = Supported::new(false);
    spc.sort = Supported::new(true);
    spc.etag = Supported::new(true);
    let mut scheme = AuthenticationScheme::default();
    scheme.kind = Some("oauthbearertoken".into());
    scheme.name = "OAuth Bearer Token".into();
    scheme.description =
        "A bearer token issued for this tenant (`scimkit token create --tenant NAME`)".into();
    scheme.spec_uri = Some("https://www.rfc-editor.org/rfc/rfc6750".into());
    scheme.primary = Some(true);
    spc.authentication_schemes = vec![scheme];
    // RFC 9865 §5.
    spc.pagination = Some(json!({
        "cursor": true,
        "index": true,
        "defaultPaginationMethod": "index",
        "defaultPageSize": config.default_count,
        "maxPageSize": config.max_results,
    }));
    let mut meta = Meta::default();
    meta.resource_type = Some("ServiceProviderConfig".into());
    meta.location = Some(format!("{}/ServiceProviderConfig", call.base_url));
    spc.meta = Some(meta);
    let mut out = serde_json::to_value(spc).unwrap_or_default();
    // draft-ietf-scim-roles-entitlements-01 §3.1: `/Roles` lists the role values the
    // tenant's rules give; there is no `/Entitlements`. Claimed only when the tenant has
    // rules (strict RFC 7643 clients refuse the draft's un-namespaced key otherwise).
    if roles.0 || roles.1 {
        out["RolesAndEntitlements"] = json!({
            "roles": {"supported": roles.0, "multipleRolesSupported": roles.0},
            "entitlements": {"supported": roles.1, "multipleEntitlementsSupported": roles.1},
        });
    }
    // RFC 9967 §4: the events this server issues, claimed only when a way to receive them is
    // on (polling configured, or a dispatcher running).
    if crate::events::enabled(scim) {
        out["securityEvents"] = json!({"eventUris": crate::events::EVENT_URIS});
    }
    out
}

/// The draft's Role resource type (draft-ietf-scim-roles-entitlements-01), listed for a
/// tenant whose role rules give values to offer.
fn role_resource_type() -> ResourceType {
    ResourceType::new("Role", "/Roles", crate::access::ROLE_SCHEMA)
        .describe("The roles the application grants (read-only; from the tenant's role rules)")
}

/// The draft's Entitlement resource type.
fn entitlement_resource_type() -> ResourceType {
    ResourceType::new(
        "Entitlement",
        "/Entitlements",
        crate::access::ENTITLEMENT_SCHEMA,
    )
    .describe("The entitlements the application grants (read-only; from the tenant's role rules)")
}

/// The Role or Entitlement schema (the draft's samples, the attributes scimkit serves).
fn offered_schema(id: &str, name: &str) -> Option<Schema> {
    let attr = |name: &str, kind: &str, required: bool, description: &str| {
        json!({
            "name": name, "type": kind, "multiValued": false, "description": description,
            "required": required, "caseExact": false, "mutability": "readOnly",
            "returned": "default", "uniqueness": "none",
        })
    };
    Schema::from_json(json!({
        "id": id,
        "name": name,
        "description": format!("{name} schema"),
        "attributes": [
            attr("value", "string", true, "The value."),
            attr("display", "string", false, "A human-readable name, primarily used for display purposes."),
            attr("type", "string", false, "A label indicating the function."),
            attr("supported", "boolean", true, "Whether it is supported and usable."),
        ],
    }))
    .ok()
}

pub(crate) fn resource_types(
    scim: &Scim,
    call: &Call,
    id: Option<&str>,
    roles: (bool, bool),
) -> Outcome {
    let mut all: Vec<ResourceType> = scim.inner.registry.resource_types().to_vec();
    if roles.0 {
        all.push(role_resource_type());
    }
    if roles.1 {
        all.push(entitlement_resource_type());
    }
    match id {
        Some(id) => {
            let rt = all
                .iter()
                .find(|rt| rt.id == id)
                .ok_or_else(|| Failure::new(404, None, format!("no resource type {id}")))?;
            Ok(Reply::json(
                StatusCode::OK,
                rt.to_representation(Some(&call.base_url)),
            ))
        }
        None => {
            let items: Vec<Value> = all
                .iter()
                .map(|rt| rt.to_representation(Some(&call.base_url)))
                .collect();
            Ok(list(items))
        }
    }
}

/// The schemas of the served resource types (core and extensions).
pub(crate) fn schemas(scim: &Scim, call: &Call, id: Option<&str>, roles: (bool, bool)) -> Outcome {
    let registry = &scim.inner.registry;
    let mut served: Vec<Schema> = registry
        .schemas()
        .iter()
        .filter(|s| {
            registry.resource_types().iter().any(|rt| {
                rt.schema == s.id || rt.schema_extensions.iter().any(|e| e.schema == s.id)
            })
        })
        .cloned()
        .collect();
    if roles.0 {
        served.extend(offered_schema(crate::access::ROLE_SCHEMA, "Role"));
    }
    if roles.1 {
        served.extend(offered_schema(
            crate::access::ENTITLEMENT_SCHEMA,
            "Entitlement",
        ));
    }
    match id {
        Some(id) => {
            let schema = served
                .iter()
                .find(|s| s.id == id)
                .ok_or_else(|| Failure::new(404, None, format!("no schema {id}")))?;
            Ok(Reply::json(
                StatusCode::OK,
                schema.to_representation(Some(&call.base_url)),
            ))
        }
        None => Ok(list(
            served
                .iter()
                .map(|s| s.to_representation(Some(&call.base_url)))
                .collect(),
        )),
    }
}

fn list(items: Vec<Value>) -> Reply {
    let n = items.len() as u64;
    Reply::json(
        StatusCode::OK,
        serde_json::to_value(ListResponse::new(items, n, 1)).unwrap_or_default(),
    )
}
