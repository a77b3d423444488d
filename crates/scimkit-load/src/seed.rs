//! Seeding the tenant: users through `POST /Bulk` (up to 1000 operations a request), one
//! group whose members are all of them (added by `PATCH` in batches of 1000), and extra users
//! for the member-add scenario.

use std::collections::BTreeMap;

use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::client::{Conn, Req, Target};

/// The most operations in one `/Bulk` request and members in one `PATCH`.
const BATCH: usize = 1000;

pub(crate) const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub(crate) const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub(crate) const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const BULK_REQUEST: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";

/// What was seeded.
#[derive(Debug)]
pub(crate) struct Seeded {
    /// `(id, userName)` of the seeded users, all members of the group.
    pub(crate) users: Vec<(String, String)>,
    pub(crate) group_id: String,
    /// Ids of users in no group.
    pub(crate) extras: Vec<String>,
}

/// A user as an identity provider creates it.
pub(crate) fn user(user_name: &str, given: &str, family: &str) -> Value {
    json!({
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": given, "familyName": family},
        "displayName": format!("{given} {family}"),
        "emails": [{"value": user_name, "type": "work", "primary": true}],
        "active": true,
    })
}

pub(crate) async fn seed(target: &Target, users: usize, extras: usize) -> Result<Seeded, String> {
    let mut conn = Conn::open(target).await?;
    let names: Vec<String> = (0..users)
        .map(|i| format!("user{i:05}@load.example"))
        .collect();
    let ids = create_users(&mut conn, &names).await?;
    let users: Vec<(String, String)> = ids.into_iter().zip(names).collect();

    let req = Req::with_json(
        Method::POST,
        "/Groups",
        &json!({"schemas": [GROUP_SCHEMA], "displayName": "load-everyone"}),
    );
    let group_id = id_of(
        &req,
        &conn.expect(&req, StatusCode::CREATED).await?.json(&req)?,
    )?;
    for batch in users.chunks(BATCH) {
        let members: Vec<Value> = batch.iter().map(|(id, _)| json!({"value": id})).collect();
        let req = Req::with_json(
            Method::PATCH,
            format!("/Groups/{group_id}"),
            &json!({
                "schemas": [PATCH_OP],
                "Operations": [{"op": "add", "path": "members", "value": members}],
            }),
        );
        let resp = conn.send(&req).await?;
        if !resp.status.is_success() {
            return Err(format!("{req}: {} {}", resp.status, resp.text()));
        }
    }
    let req = Req::get(format!("/Groups/{group_id}?attributes=members"));
    let group = conn.expect(&req, StatusCode::OK).await?.json(&req)?;
    let count = group["members"].as_array().map_or(0, Vec::len);
    if count != users.len() {
        return Err(format!(
            "{req}: the group has {count} members, expected {}",
            users.len()
        ));
    }

    let extra_names: Vec<String> = (0..extras)
        .map(|i| format!("extra{i:04}@load.example"))
        .collect();
    let extras = create_users(&mut conn, &extra_names).await?;
    Ok(Seeded {
        users,
        group_id,
        extras,
    })
}

/// Creates users through `/Bulk` and returns their ids, in order.
async fn create_users(conn: &mut Conn, names: &[String]) -> Result<Vec<String>, String> {
    let mut ids = Vec::with_capacity(names.len());
    for (b, batch) in names.chunks(BATCH).enumerate() {
        let operations: Vec<Value> = batch
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let n = b * BATCH + i;
                json!({
                    "method": "POST",
                    "path": "/Users",
                    "bulkId": format!("u{i}"),
                    "data": user(name, "Load", &format!("User{n:05}")),
                })
            })
            .collect();
        let req = Req::with_json(
            Method::POST,
            "/Bulk",
            &json!({"schemas": [BULK_REQUEST], "Operations": operations}),
        );
        let resp = conn.expect(&req, StatusCode::OK).await?.json(&req)?;
        let mut by_bulk_id = BTreeMap::new();
        for op in resp["Operations"].as_array().into_iter().flatten() {
            let bulk_id = op["bulkId"].as_str().unwrap_or_default();
            let status = match &op["status"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if status != "201" {
                return Err(format!(
                    "{req}: operation {bulk_id} ended with {status}: {}",
                    op["response"]
                ));
            }
            let location = op["location"].as_str().unwrap_or_default();
            let id = location.rsplit('/').next().unwrap_or_default();
            if id.is_empty() {
                return Err(format!("{req}: operation {bulk_id} has no location: {op}"));
            }
            by_bulk_id.insert(bulk_id.to_owned(), id.to_owned());
        }
        for i in 0..batch.len() {
            let id = by_bulk_id
                .remove(&format!("u{i}"))
                .ok_or_else(|| format!("{req}: no result for bulkId u{i}"))?;
            ids.push(id);
        }
    }
    Ok(ids)
}

fn id_of(req: &Req, resource: &Value) -> Result<String, String> {
    resource["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("{req}: the response has no id: {resource}"))
}
