//! `/Bulk` (RFC 7644 §3.7): operations in one request, with `bulkId` cross-references.
//!
//! Operations run in request order, except that an operation waits until the operations whose
//! `bulkId`s it references have run. When creations reference each other in a cycle (group A
//! lists group B as a member and B lists A, the RFC's own example), the cycle is broken where a
//! reference is a group member: that group is created without the pending members, which are
//! added once their resources exist. A cycle through any other attribute cannot be broken;
//! its operations fail with 409. A reference to an unknown `bulkId`, or to an operation that
//! failed, fails the referencing operation with 400 `invalidValue`.

use std::collections::{BTreeMap, BTreeSet};

use http::StatusCode;
use scimkit_schema::messages::{BulkRequest, BulkResponse, BulkResponseOperation};
use scimkit_schema::{ResourceType, ScimType};
use scimkit_store::Member;
use serde_json::Value;

use crate::resources::{self, Condition};
use crate::service::{Call, Failure, Outcome, Reply, Scim};

const PREFIX: &str = "bulkId:";

/// One operation, as parsed.
struct Op {
    method: String,
    bulk_id: Option<String>,
    version: Option<String>,
    path: String,
    data: Option<Value>,
    /// The bulkIds it references (in `path` and `data`).
    refs: BTreeSet<String>,
}

/// How an operation ended.
enum Done {
    Ok(BulkResponseOperation),
    Failed(BulkResponseOperation),
}

pub(crate) async fn serve(scim: &Scim, call: &Call) -> Outcome {
    let body = resources::json_body(call)?;
    let request: BulkRequest = serde_json::from_value(body).map_err(|e| {
        Failure::typed(
            ScimType::InvalidSyntax,
            format!("the body is not a BulkRequest: {e}"),
        )
    })?;
    let max = scim.inner.config.bulk_max_operations;
    if request.operations.len() > max {
        return Err(Failure::new(
            413,
            None,
            format!(
                "the request has {} operations; the most this server accepts is {max} (maxOperations in /ServiceProviderConfig)",
                request.operations.len()
            ),
        ));
    }
    let mut ops = Vec::with_capacity(request.operations.len());
    let mut by_bulk_id: BTreeMap<String, usize> = BTreeMap::new();
    for (i, o) in request.operations.into_iter().enumerate() {
        let mut refs = BTreeSet::new();
        references(&o.path, &mut refs);
        if let Some(data) = &o.data {
            references_in(data, &mut refs);
        }
        if let Some(id) = &o.bulk_id
            && by_bulk_id.insert(id.clone(), i).is_some()
        {
            return Err(Failure::typed(
                ScimType::InvalidValue,
                format!("bulkId {id:?} is used by more than one operation; each must be unique"),
            ));
        }
        ops.push(Op {
            method: o.method.to_ascii_uppercase(),
            bulk_id: o.bulk_id,
            version: o.version,
            path: o.path,
            data: o.data,
            refs,
        });
    }
    let fail_on = request.fail_on_errors.map(|n| n.max(1) as usize);

    let mut done: Vec<Option<Done>> = (0..ops.len()).map(|_| None).collect();
    // bulkId -> the id of the resource its operation created.
    let mut created: BTreeMap<String, String> = BTreeMap::new();
    // Members left out to break a cycle: (group id, bulkId of the member, the member value).
    let mut deferred: Vec<(String, String, Value)> = Vec::new();
    let mut errors = 0;

    'run: loop {
        if fail_on.is_some_and(|n| errors >= n) {
            break;
        }
        // The first pending operation whose references are all settled.
        let settled = |r: &String, done: &[Option<Done>]| match by_bulk_id.get(r) {
            None => true,
            Some(&j) => done[j].is_some(),
        };
        let next = (0..ops.len())
            .find(|&i| done[i].is_none() && ops[i].refs.iter().all(|r| settled(r, &done)));
        let (i, skip_members) = match next {
            Some(i) => (i, BTreeSet::new()),
            None => {
                let pending: Vec<usize> = (0..ops.len()).filter(|&i| done[i].is_none()).collect();
                if pending.is_empty() {
                    break 'run;
                }
                // A cycle: break it at the first group creation whose pending references
                // are all members.
                let breakable = pending.iter().copied().find_map(|i| {
                    let op = &ops[i];
                    let waiting: BTreeSet<String> = op
                        .refs
                        .iter()
                        .filter(|r| !settled(r, &done))
                        .cloned()
                        .collect();
                    let in_members = op.data.as_ref().map(member_refs).unwrap_or_default();
                    (op.method == "POST"
                        && waiting.is_subset(&in_members)
                        && op.refs.difference(&in_members).all(|r| settled(r, &done)))
                    .then_some((i, waiting))
                });
                match breakable {
                    Some(found) => found,
                    None => {
                        let cycle: Vec<String> = pending.iter().map(|i| i.to_string()).collect();
                        for &i in &pending {
                            let f = Failure::new(
                                409,
                                None,
                                format!(
                                    "operations {} reference each other's bulkId in a cycle that cannot be broken (only group members can be added after creation)",
                                    cycle.join(", ")
                                ),
                            );
                            done[i] = Some(failed(&ops[i], f));
                        }
                        break 'run;
                    }
                }
            }
        };
        let result = run(
            scim,
            call,
            &ops[i],
            &created,
            &by_bulk_id,
            &done,
            &skip_members,
        )
        .await;
        match result {
            Ok((entry, new_id)) => {
                if let (Some(bulk_id), Some(id)) = (&ops[i].bulk_id, &new_id) {
                    created.insert(bulk_id.clone(), id.clone());
                }
                if let (Some(id), Some(data)) = (&new_id, &ops[i].data) {
                    for member in members(data) {
                        if let Some(r) = member
                            .get("value")
                            .and_then(Value::as_str)
                            .and_then(|v| v.strip_prefix(PREFIX))
                            && skip_members.contains(r)
                        {
                            deferred.push((id.clone(), r.to_owned(), member.clone()));
                        }
                    }
                }
                done[i] = Some(Done::Ok(entry));
            }
            Err(f) => {
                let op = &ops[i];
                let mut segments = op.path.trim_start_matches('/').split('/');
                let endpoint = segments.next().unwrap_or_default();
                let rt = scim
                    .inner
                    .registry
                    .resource_types()
                    .iter()
                    .find(|t| t.endpoint.trim_start_matches('/') == endpoint)
                    .map_or(endpoint, |t| t.name.as_str());
                let id = segments.next().unwrap_or_default();
                resources::audit_failure(scim, call, &op.method, rt, id, &f).await;
                done[i] = Some(failed(op, f));
                errors += 1;
            }
        }
    }

    // The members left out of cycles, now that their resources exist; the group's entry then
    // reports the version it ends at.
    for (group, bulk_id, member) in deferred {
        let Some(id) = created.get(&bulk_id) else {
            continue;
        };
        let mut value = member.clone();
        value["value"] = Value::String(id.clone());
        if let Some(m) = Member::from_json(&value) {
            let stored = scim
                .inner
                .store
                .change_members(&call.tenant, &group, &[m], &[], None, &call.ctx())
                .await?;
            let owner = ops
                .iter()
                .position(|op| op.bulk_id.as_ref().and_then(|b| created.get(b)) == Some(&group));
            if let Some(Some(Done::Ok(entry))) = owner.map(|i| &mut done[i]) {
                entry.version = Some(stored.etag());
            }
        }
    }

    let operations = done
        .into_iter()
        .flatten()
        .map(|d| match d {
            Done::Ok(e) | Done::Failed(e) => e,
        })
        .collect();
    Ok(Reply::json(
        StatusCode::OK,
        serde_json::to_value(BulkResponse::new(operations)).unwrap_or_default(),
    ))
}

fn failed(op: &Op, f: Failure) -> Done {
    let mut entry = BulkResponseOperation::new(op.method.clone(), f.error.status);
    entry.bulk_id = op.bulk_id.clone();
    entry.response = serde_json::to_value(&f.error).ok();
    Done::Failed(entry)
}

/// Runs one operation; returns its response entry and, for a creation, the new id.
async fn run(
    scim: &Scim,
    call: &Call,
    op: &Op,
    created: &BTreeMap<String, String>,
    by_bulk_id: &BTreeMap<String, usize>,
    done: &[Option<Done>],
    skip_members: &BTreeSet<String>,
) -> Result<(BulkResponseOperation, Option<String>), Failure> {
    for r in &op.refs {
        if skip_members.contains(r) {
            continue;
        }
        match by_bulk_id.get(r) {
            None => {
                return Err(Failure::typed(
                    ScimType::InvalidValue,
                    format!("bulkId:{r} names no operation of this request"),
                ));
            }
            Some(&j) if !created.contains_key(r) => {
                let why = match &done[j] {
                    Some(Done::Failed(_)) => "which failed",
                    _ => "which created nothing",
                };
                return Err(Failure::typed(
                    ScimType::InvalidValue,
                    format!("bulkId:{r} refers to operation {j}, {why}"),
                ));
            }
            Some(_) => {}
        }
    }
    let path = substitute(&op.path, created);
    let mut data = op.data.clone().map(|d| substitute_in(d, created));
    if let Some(Value::Object(body)) = &mut data
        && !skip_members.is_empty()
        && let Some(Value::Array(list)) = body.get_mut("members")
    {
        list.retain(|m| {
            !m.get("value")
                .and_then(Value::as_str)
                .and_then(|v| v.strip_prefix(PREFIX))
                .is_some_and(|r| skip_members.contains(r))
        });
    }
    let condition = match &op.version {
        None => Condition::None,
        Some(v) => Condition::parse(v).ok_or_else(|| {
            Failure::new(
                412,
                None,
                format!("version {v} names no version of this resource"),
            )
        })?,
    };
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let rt = |name: &str| -> Result<&ResourceType, Failure> {
        scim.inner
            .registry
            .resource_types()
            .iter()
            .find(|rt| rt.endpoint.trim_start_matches('/') == name)
            .ok_or_else(|| {
                Failure::typed(
                    ScimType::InvalidPath,
                    format!("{path}: no resource type is served at this path"),
                )
            })
    };
    let need_data = || {
        data.clone().ok_or_else(|| {
            Failure::typed(
                ScimType::InvalidSyntax,
                format!("{} {path} needs `data`", op.method),
            )
        })
    };
    let mut entry = BulkResponseOperation::new(op.method.clone(), 200);
    entry.bulk_id = op.bulk_id.clone();
    let (stored, status) = match (op.method.as_str(), segments.as_slice()) {
        ("POST", [name]) => {
            let rt = rt(name)?;
            let stored = resources::create(scim, call, rt, need_data()?).await?;
            entry.location = Some(format!("{}{}/{}", call.base_url, rt.endpoint, stored.id));
            (Some((stored, true)), StatusCode::CREATED)
        }
        ("PUT", [name, id]) => {
            let rt = rt(name)?;
            let stored =
                resources::replace(scim, call, rt, id, &need_data()?, condition.clone()).await?;
            entry.location = Some(format!("{}{}/{}", call.base_url, rt.endpoint, stored.id));
            (Some((stored, false)), StatusCode::OK)
        }
        ("PATCH", [name, id]) => {
            let rt = rt(name)?;
            let body = serde_json::to_vec(&need_data()?).unwrap_or_default();
            let stored = resources::patch(scim, call, rt, id, &body, condition.clone()).await?;
            entry.location = Some(format!("{}{}/{}", call.base_url, rt.endpoint, stored.id));
            (Some((stored, false)), StatusCode::OK)
        }
        ("DELETE", [name, id]) => {
            let rt = rt(name)?;
            resources::delete(scim, call, rt, id, condition).await?;
            entry.location = Some(format!("{}{}/{}", call.base_url, rt.endpoint, id));
            (None, StatusCode::NO_CONTENT)
        }
        ("POST" | "PUT" | "PATCH" | "DELETE", _) => {
            return Err(Failure::typed(
                ScimType::InvalidPath,
                format!(
                    "{} needs path {}",
                    op.method,
                    if op.method == "POST" {
                        "/{endpoint}"
                    } else {
                        "/{endpoint}/{id}"
                    }
                ),
            ));
        }
        (m, _) => {
            return Err(Failure::new(
                405,
                None,
                format!("bulk operations are POST, PUT, PATCH or DELETE, not {m}"),
            ));
        }
    };
    entry.status = status.as_u16();
    let new_id = match stored {
        Some((stored, is_new)) => {
            entry.version = Some(stored.etag());
            is_new.then_some(stored.id)
        }
        None => None,
    };
    Ok((entry, new_id))
}

/// The bulkIds referenced in `text` (`bulkId:<id>`, the id ending at a quote, slash,
/// bracket, comma or space).
fn references(text: &str, out: &mut BTreeSet<String>) {
    let mut rest = text;
    while let Some(at) = rest.find(PREFIX) {
        let tail = &rest[at + PREFIX.len()..];
        let end = tail
            .find(['"', '/', ']', ',', ' ', ')'])
            .unwrap_or(tail.len());
        if end > 0 {
            out.insert(tail[..end].to_owned());
        }
        rest = &tail[end..];
    }
}

fn references_in(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::String(s) => references(s, out),
        Value::Array(items) => items.iter().for_each(|i| references_in(i, out)),
        Value::Object(m) => m.values().for_each(|i| references_in(i, out)),
        _ => {}
    }
}

/// `text` with every resolved `bulkId:<id>` replaced by the id it created.
fn substitute(text: &str, created: &BTreeMap<String, String>) -> String {
    let mut refs = BTreeSet::new();
    references(text, &mut refs);
    let mut out = text.to_owned();
    // Longest first, so that `bulkId:ab` does not rewrite part of `bulkId:abc`.
    let mut refs: Vec<String> = refs.into_iter().collect();
    refs.sort_by_key(|r| std::cmp::Reverse(r.len()));
    for r in refs {
        if let Some(id) = created.get(&r) {
            out = out.replace(&format!("{PREFIX}{r}"), id);
        }
    }
    out
}

fn substitute_in(v: Value, created: &BTreeMap<String, String>) -> Value {
    match v {
        Value::String(s) => Value::String(substitute(&s, created)),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|i| substitute_in(i, created))
                .collect(),
        ),
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| (k, substitute_in(v, created)))
                .collect(),
        ),
        other => other,
    }
}

/// The `members` values of a creation's data.
fn members(data: &Value) -> Vec<&Value> {
    data.get("members")
        .and_then(Value::as_array)
        .map(|l| l.iter().collect())
        .unwrap_or_default()
}

/// The bulkIds referenced as `members[].value`.
fn member_refs(data: &Value) -> BTreeSet<String> {
    members(data)
        .into_iter()
        .filter_map(|m| m.get("value").and_then(Value::as_str))
        .filter_map(|v| v.strip_prefix(PREFIX))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_found_and_substituted() {
        let mut refs = BTreeSet::new();
        references(
            r#"members[value eq "bulkId:ab"] or /Groups/bulkId:abc"#,
            &mut refs,
        );
        assert_eq!(refs.into_iter().collect::<Vec<_>>(), ["ab", "abc"]);
        let created = BTreeMap::from([
            ("ab".to_owned(), "1".to_owned()),
            ("abc".to_owned(), "2".to_owned()),
        ]);
        assert_eq!(
            substitute(r#"x bulkId:ab y /Groups/bulkId:abc"#, &created),
            "x 1 y /Groups/2"
        );
    }
}
