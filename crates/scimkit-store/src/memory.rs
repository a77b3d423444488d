//! The in-memory backend: for tests and for embedding without persistence.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use async_trait::async_trait;
use scimkit_schema::Registry;
use serde_json::{Map, Value, json};

use crate::error::StoreError;
use crate::model::{
    AuditRecord, Ctx, Event, EventKind, GroupRef, Member, Page, RequestQuery, RequestRecord, Store,
    Stored, Tenant, TokenRecord, Tombstone, UniqueKey, change_events, check_tenant_name,
    check_version, dedupe_members, email_keys, is_tenant_name, minute, split_members, unique_keys,
    user_name_key,
};
use crate::query::{self, Lookup, Query};

/// Resources kept in memory, behind one lock (every call is short and never waits while
/// holding it).
#[derive(Debug)]
pub struct MemoryStore {
    registry: Registry,
    data: Mutex<Data>,
}

#[derive(Debug, Default)]
struct Data {
    /// Each tenant's resources, outbox and audit log, made on first use.
    dirs: BTreeMap<String, TenantData>,
    /// The tenants created with [`Store::create_tenant`], by name.
    tenants: BTreeMap<String, Tenant>,
    /// Every tenant's tokens, by id.
    tokens: BTreeMap<String, TokenRecord>,
}

#[derive(Debug, Default)]
struct TenantData {
    resources: BTreeMap<(String, String), Stored>,
    user_names: BTreeMap<String, String>,
    /// lowercased `emails.value` → user ids.
    emails: BTreeMap<String, BTreeSet<String>>,
    /// consumer → last acknowledged event.
    acks: BTreeMap<String, u64>,
    /// group id → member id → member.
    members: BTreeMap<String, BTreeMap<String, Member>>,
    /// member id → group ids.
    member_of: BTreeMap<String, BTreeSet<String>>,
    events: Vec<Event>,
    audit: Vec<AuditRecord>,
    soft_delete: bool,
    profile: Option<String>,
    role_rules: Option<Value>,
    jit: Option<Value>,
    origins: BTreeMap<String, String>,
    tombstones: Vec<Tombstone>,
    /// The provisioning log, by `seq`.
    requests: BTreeMap<u64, RequestRecord>,
    /// The last `seq` the log assigned: kept apart from `requests`, which a prune may empty,
    /// so that numbers are never reused.
    request_seq: u64,
    /// (resource type, attribute, value) → the id holding it, for `uniqueness: server`
    /// attributes other than `userName`.
    uniques: BTreeMap<(String, String, String), String>,
}

impl MemoryStore {
    /// An empty store for resources of `registry`'s types.
    pub fn new(registry: Registry) -> Self {
        Self {
            registry,
            data: Mutex::new(Data::default()),
        }
    }

    fn all<T>(&self, f: impl FnOnce(&mut Data) -> T) -> T {
        let mut data = self
            .data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut data)
    }

    fn with<T>(&self, tenant: &str, f: impl FnOnce(&mut TenantData) -> T) -> T {
        self.all(|data| f(data.dirs.entry(tenant.to_owned()).or_default()))
    }
}

impl TenantData {
    fn event(
        &mut self,
        kind: EventKind,
        rt: &str,
        id: &str,
        version: Option<u64>,
        at: &str,
        data: Value,
    ) {
        let seq = self.events.len() as u64 + 1;
        self.events.push(Event {
            seq,
            kind,
            resource_type: rt.to_owned(),
            resource_id: id.to_owned(),
            version,
            at: at.to_owned(),
            data,
        });
    }

    fn audit(&mut self, ctx: &Ctx, operation: &str, rt: &str, id: &str) {
        self.audit.push(AuditRecord {
            at: ctx.now.clone(),
            token_id: ctx.token_id.clone(),
            operation: operation.to_owned(),
            resource_type: rt.to_owned(),
            resource_id: id.to_owned(),
            outcome: "ok".to_owned(),
        });
    }

    fn index_emails(&mut self, id: &str, before: &[String], after: &[String]) {
        for k in before {
            if let Some(ids) = self.emails.get_mut(k) {
                ids.remove(id);
                if ids.is_empty() {
                    self.emails.remove(k);
                }
            }
        }
        for k in after {
            self.emails
                .entry(k.clone())
                .or_default()
                .insert(id.to_owned());
        }
    }

    /// Fails if another resource holds one of `keys`.
    fn claim_uniques(&self, rt: &str, id: &str, keys: &[UniqueKey]) -> Result<(), StoreError> {
        for k in keys {
            let slot = (rt.to_owned(), k.attr.clone(), k.value.clone());
            if self.uniques.get(&slot).is_some_and(|owner| owner != id) {
                return Err(k.taken());
            }
        }
        Ok(())
    }

    fn set_uniques(&mut self, rt: &str, id: &str, old: &[UniqueKey], new: &[UniqueKey]) {
        for k in old {
            self.uniques
                .remove(&(rt.to_owned(), k.attr.clone(), k.value.clone()));
        }
        for k in new {
            self.uniques.insert(
                (rt.to_owned(), k.attr.clone(), k.value.clone()),
                id.to_owned(),
            );
        }
    }

    fn claim_user_name(
        &self,
        key: Option<&String>,
        id: &str,
        body: &Map<String, Value>,
    ) -> Result<(), StoreError> {
        let taken = key.is_some_and(|k| self.user_names.get(k).is_some_and(|owner| owner != id));
        if taken {
            return Err(StoreError::Uniqueness {
                attribute: "userName".into(),
                value: body
                    .get("userName")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            });
        }
        Ok(())
    }

    /// Sets a group's members to exactly `members`, returning (added, removed) ids.
    fn set_members(&mut self, group: &str, members: Vec<Member>) -> (Vec<String>, Vec<String>) {
        let old: BTreeSet<String> = self
            .members
            .get(group)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let new: BTreeSet<String> = members.iter().map(|m| m.value.clone()).collect();
        let removed: Vec<String> = old.difference(&new).cloned().collect();
        let added: Vec<Member> = members
            .into_iter()
            .filter(|m| !old.contains(&m.value))
            .collect();
        let added_ids = added.iter().map(|m| m.value.clone()).collect();
        self.apply_members(group, &added, &removed);
        (added_ids, removed)
    }

    fn apply_members(&mut self, group: &str, added: &[Member], removed: &[String]) {
        let table = self.members.entry(group.to_owned()).or_default();
        for id in removed {
            table.remove(id);
            if let Some(groups) = self.member_of.get_mut(id) {
                groups.remove(group);
            }
        }
        for m in added {
            table.insert(m.value.clone(), m.clone());
            self.member_of
                .entry(m.value.clone())
                .or_default()
                .insert(group.to_owned());
        }
    }

    fn assemble(&self, stored: &Stored) -> Stored {
        let mut out = stored.clone();
        if stored.resource_type == "Group" {
            let members: Vec<Value> = self
                .members
                .get(&stored.id)
                .into_iter()
                .flat_map(|m| m.values())
                .map(Member::to_json)
                .collect();
            if !members.is_empty() {
                out.body.insert("members".into(), Value::Array(members));
            }
        }
        if stored.resource_type == "User" {
            let groups: Vec<Value> = self
                .groups_of(&stored.id)
                .iter()
                .map(GroupRef::to_json)
                .collect();
            if !groups.is_empty() {
                out.body.insert("groups".into(), Value::Array(groups));
            }
        }
        out
    }

    /// Direct groups, then the groups those are in, breadth first; a cycle ends the walk.
    fn groups_of(&self, id: &str) -> Vec<GroupRef> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        // A queue, so that every direct group is visited (and marked direct) before any group
        // reached through another.
        let mut frontier: std::collections::VecDeque<(String, bool)> = self
            .member_of
            .get(id)
            .into_iter()
            .flatten()
            .map(|g| (g.clone(), true))
            .collect();
        while let Some((group, direct)) = frontier.pop_front() {
            if !seen.insert(group.clone()) {
                continue;
            }
            let display = self
                .resources
                .get(&("Group".to_owned(), group.clone()))
                .and_then(|g| g.body.get("displayName"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            frontier.extend(
                self.member_of
                    .get(&group)
                    .into_iter()
                    .flatten()
                    .map(|g| (g.clone(), false)),
            );
            out.push(GroupRef {
                id: group,
                display,
                direct,
            });
        }
        out.sort();
        out
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn create(
        &self,
        tenant: &str,
        rt: &str,
        id: &str,
        body: Map<String, Value>,
        ctx: &Ctx,
    ) -> Result<Stored, StoreError> {
        self.with(tenant, |t| {
            let key = (rt.to_owned(), id.to_owned());
            if t.resources.contains_key(&key) {
                return Err(StoreError::IdTaken {
                    resource_type: rt.to_owned(),
                    id: id.to_owned(),
                });
            }
            let user_name = user_name_key(rt, &body);
            t.claim_user_name(user_name.as_ref(), id, &body)?;
            let uniques = unique_keys(&self.registry, rt, &body);
            t.claim_uniques(rt, id, &uniques)?;
            t.set_uniques(rt, id, &[], &uniques);
            let (body, members) = split_members(rt, body);
            let stored = Stored {
                resource_type: rt.to_owned(),
                id: id.to_owned(),
                version: 1,
                created: ctx.now.clone(),
                last_modified: ctx.now.clone(),
                body,
            };
            if let Some(k) = user_name {
                t.user_names.insert(k, id.to_owned());
            }
            t.index_emails(id, &[], &email_keys(rt, &stored.body));
            t.resources.insert(key, stored.clone());
            t.event(EventKind::Created, rt, id, Some(1), &ctx.now, json!({}));
            let (added, _) = t.set_members(id, members);
            if !added.is_empty() {
                t.event(
                    EventKind::MembersAdded,
                    rt,
                    id,
                    Some(1),
                    &ctx.now,
                    json!({"members": added}),
                );
            }
            t.audit(ctx, "create", rt, id);
            Ok(t.assemble(&stored))
        })
    }

    async fn get(&self, tenant: &str, rt: &str, id: &str) -> Result<Option<Stored>, StoreError> {
        Ok(self.with(tenant, |t| {
            t.resources
                .get(&(rt.to_owned(), id.to_owned()))
                .map(|s| t.assemble(s))
        }))
    }

    async fn load(&self, tenant: &str, rt: &str, id: &str) -> Result<Option<Stored>, StoreError> {
        Ok(self.with(tenant, |t| {
            t.resources.get(&(rt.to_owned(), id.to_owned())).cloned()
        }))
    }

    async fn replace(
        &self,
        tenant: &str,
        rt: &str,
        id: &str,
        body: Map<String, Value>,
        if_version: Option<u64>,
        ctx: &Ctx,
    ) -> Result<Stored, StoreError> {
        self.with(tenant, |t| {
            let key = (rt.to_owned(), id.to_owned());
            let current = t
                .resources
                .get(&key)
                .cloned()
                .ok_or_else(|| StoreError::NotFound {
                    resource_type: rt.to_owned(),
                    id: id.to_owned(),
                })?;
            check_version(&current, if_version)?;
            let new_name = user_name_key(rt, &body);
            t.claim_user_name(new_name.as_ref(), id, &body)?;
            let new_uniques = unique_keys(&self.registry, rt, &body);
            t.claim_uniques(rt, id, &new_uniques)?;
            let (body, members) = split_members(rt, body);
            let events = change_events(rt, &current.body, &body);
            let (added, removed) = if rt == "Group" {
                t.set_members(id, members)
            } else {
                (Vec::new(), Vec::new())
            };
            if events.is_empty() && added.is_empty() && removed.is_empty() {
                return Ok(t.assemble(&current));
            }
            if let Some(old) = user_name_key(rt, &current.body) {
                t.user_names.remove(&old);
            }
            if let Some(k) = new_name {
                t.user_names.insert(k, id.to_owned());
            }
            let old_uniques = unique_keys(&self.registry, rt, &current.body);
            t.set_uniques(rt, id, &old_uniques, &new_uniques);
            t.index_emails(id, &email_keys(rt, &current.body), &email_keys(rt, &body));
            let version = current.version + 1;
            let stored = Stored {
                version,
                last_modified: ctx.now.clone(),
                body,
                ..current
            };
            t.resources.insert(key, stored.clone());
            for (kind, data) in events {
                t.event(kind, rt, id, Some(version), &ctx.now, data);
            }
            if !added.is_empty() {
                t.event(
                    EventKind::MembersAdded,
                    rt,
                    id,
                    Some(version),
                    &ctx.now,
                    json!({"members": added}),
                );
            }
            if !removed.is_empty() {
                t.event(
                    EventKind::MembersRemoved,
                    rt,
                    id,
                    Some(version),
                    &ctx.now,
                    json!({"members": removed}),
                );
            }
            t.audit(ctx, "replace", rt, id);
            Ok(t.assemble(&stored))
        })
    }

    async fn change_members(
        &self,
        tenant: &str,
        group_id: &str,
        added: &[Member],
        removed: &[String],
        if_version: Option<u64>,
        ctx: &Ctx,
    ) -> Result<Stored, StoreError> {
        self.with(tenant, |t| {
            let key = ("Group".to_owned(), group_id.to_owned());
            let current = t
                .resources
                .get(&key)
                .cloned()
                .ok_or_else(|| StoreError::NotFound {
                    resource_type: "Group".into(),
                    id: group_id.to_owned(),
                })?;
            check_version(&current, if_version)?;
            let table = t.members.get(group_id);
            let present = |id: &str| table.is_some_and(|m| m.contains_key(id));
            let added: Vec<Member> = dedupe_members(
                added
                    .iter()
                    .filter(|m| !present(&m.value))
                    .cloned()
                    .collect(),
            );
            let removed: Vec<String> = removed.iter().filter(|id| present(id)).cloned().collect();
            if added.is_empty() && removed.is_empty() {
                return Ok(current);
            }
            t.apply_members(group_id, &added, &removed);
            let version = current.version + 1;
            let stored = Stored {
                version,
                last_modified: ctx.now.clone(),
                ..current
            };
            t.resources.insert(key, stored.clone());
            if !added.is_empty() {
                let ids: Vec<&str> = added.iter().map(|m| m.value.as_str()).collect();
                t.event(
                    EventKind::MembersAdded,
                    "Group",
                    group_id,
                    Some(version),
                    &ctx.now,
                    json!({"members": ids}),
                );
            }
            if !removed.is_empty() {
                t.event(
                    EventKind::MembersRemoved,
                    "Group",
                    group_id,
                    Some(version),
                    &ctx.now,
                    json!({"members": removed}),
                );
            }
            t.audit(ctx, "members", "Group", group_id);
            Ok(stored)
        })
    }

    async fn delete(
        &self,
        tenant: &str,
        rt: &str,
        id: &str,
        if_version: Option<u64>,
        ctx: &Ctx,
    ) -> Result<(), StoreError> {
        self.with(tenant, |t| {
            let key = (rt.to_owned(), id.to_owned());
            let current = t
                .resources
                .get(&key)
                .cloned()
                .ok_or_else(|| StoreError::NotFound {
                    resource_type: rt.to_owned(),
                    id: id.to_owned(),
                })?;
            check_version(&current, if_version)?;
            if t.soft_delete {
                let resource = t.assemble(&current);
                t.tombstones.push(Tombstone {
                    resource,
                    deleted_at: ctx.now.clone(),
                    token_id: ctx.token_id.clone(),
                });
            }
            t.resources.remove(&key);
            if let Some(k) = user_name_key(rt, &current.body) {
                t.user_names.remove(&k);
            }
            let uniques = unique_keys(&self.registry, rt, &current.body);
            t.set_uniques(rt, id, &uniques, &[]);
            t.index_emails(id, &email_keys(rt, &current.body), &[]);
            // Its memberships: as a member (rows whose type is this resource's or unknown),
            // and, for a group, as a group. A User and a Group may share an id.
            let groups: Vec<String> = t.member_of.get(id).into_iter().flatten().cloned().collect();
            for g in &groups {
                let removed = t.members.get_mut(g).is_some_and(|m| {
                    let ours = m.get(id).is_some_and(|x| {
                        x.kind.as_deref().is_none_or(|k| k.eq_ignore_ascii_case(rt))
                    });
                    ours && m.remove(id).is_some()
                });
                if removed && let Some(of) = t.member_of.get_mut(id) {
                    of.remove(g);
                }
            }
            if t.member_of.get(id).is_some_and(BTreeSet::is_empty) {
                t.member_of.remove(id);
            }
            if rt == "Group"
                && let Some(members) = t.members.remove(id)
            {
                for m in members.keys() {
                    if let Some(groups) = t.member_of.get_mut(m) {
                        groups.remove(id);
                    }
                }
            }
            t.event(EventKind::Deleted, rt, id, None, &ctx.now, json!({}));
            t.audit(ctx, "delete", rt, id);
            Ok(())
        })
    }

    async fn search(&self, tenant: &str, rt: &str, q: &Query) -> Result<Page, StoreError> {
        let bound = self
            .registry
            .bind(rt)
            .ok_or_else(|| StoreError::Filter(format!("unknown resource type {rt}")))?;
        let candidates = self.with(tenant, |t| {
            let lookup = q.filter.as_ref().and_then(Lookup::of);
            let with_members = q.filter.as_ref().is_some_and(query::reads_members);
            let pick = |s: &Stored| {
                if with_members {
                    t.assemble(s)
                } else {
                    s.clone()
                }
            };
            match lookup {
                Some(Lookup::Id(id)) => t
                    .resources
                    .get(&(rt.to_owned(), id))
                    .map(pick)
                    .into_iter()
                    .collect(),
                Some(Lookup::UserName(name)) if rt == "User" => t
                    .user_names
                    .get(&name)
                    .and_then(|id| t.resources.get(&(rt.to_owned(), id.clone())))
                    .map(pick)
                    .into_iter()
                    .collect(),
                Some(Lookup::Email(email)) if rt == "User" => t
                    .emails
                    .get(&email)
                    .into_iter()
                    .flatten()
                    .filter_map(|id| t.resources.get(&(rt.to_owned(), id.clone())))
                    .map(pick)
                    .collect(),
                _ => t
                    .resources
                    .range((rt.to_owned(), String::new())..)
                    .take_while(|((r, _), _)| r == rt)
                    .map(|(_, s)| pick(s))
                    .collect::<Vec<_>>(),
            }
        });
        query::finish(candidates, q, &bound)
    }

    async fn is_member(
        &self,
        tenant: &str,
        group_id: &str,
        member_id: &str,
    ) -> Result<bool, StoreError> {
        Ok(self.with(tenant, |t| {
            t.members
                .get(group_id)
                .is_some_and(|m| m.contains_key(member_id))
        }))
    }

    async fn member_ids(&self, tenant: &str, group_id: &str) -> Result<Vec<String>, StoreError> {
        Ok(self.with(tenant, |t| {
            t.members
                .get(group_id)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        }))
    }

    async fn groups_of(&self, tenant: &str, member_id: &str) -> Result<Vec<GroupRef>, StoreError> {
        Ok(self.with(tenant, |t| t.groups_of(member_id)))
    }

    async fn events(
        &self,
        tenant: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        Ok(self.with(tenant, |t| {
            t.events
                .iter()
                .filter(|e| e.seq > after)
                .take(limit)
                .cloned()
                .collect()
        }))
    }

    async fn append_event(
        &self,
        tenant: &str,
        kind: EventKind,
        rt: &str,
        id: &str,
        data: &Value,
        ctx: &Ctx,
    ) -> Result<u64, StoreError> {
        Ok(self.with(tenant, |t| {
            t.event(kind, rt, id, None, &ctx.now, data.clone());
            t.events.len() as u64
        }))
    }

    async fn record_failure(
        &self,
        tenant: &str,
        ctx: &Ctx,
        operation: &str,
        rt: &str,
        id: &str,
        outcome: &str,
    ) -> Result<(), StoreError> {
        self.with(tenant, |t| {
            t.audit.push(AuditRecord {
                at: ctx.now.clone(),
                token_id: ctx.token_id.clone(),
                operation: operation.to_owned(),
                resource_type: rt.to_owned(),
                resource_id: id.to_owned(),
                outcome: outcome.to_owned(),
            });
        });
        Ok(())
    }

    async fn audit(&self, tenant: &str, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        Ok(self.with(tenant, |t| {
            t.audit.iter().rev().take(limit).cloned().collect()
        }))
    }

    async fn ack(&self, tenant: &str, consumer: &str, seq: u64) -> Result<(), StoreError> {
        self.with(tenant, |t| {
            let slot = t.acks.entry(consumer.to_owned()).or_insert(0);
            *slot = (*slot).max(seq);
        });
        Ok(())
    }

    async fn acked(&self, tenant: &str, consumer: &str) -> Result<u64, StoreError> {
        Ok(self.with(tenant, |t| t.acks.get(consumer).copied().unwrap_or(0)))
    }

    async fn consumers(&self, tenant: &str) -> Result<Vec<(String, u64)>, StoreError> {
        // A BTreeMap of Strings: already in byte order.
        Ok(self.with(tenant, |t| {
            t.acks.iter().map(|(c, seq)| (c.clone(), *seq)).collect()
        }))
    }

    async fn set_soft_delete(&self, tenant: &str, on: bool) -> Result<(), StoreError> {
        self.with(tenant, |t| t.soft_delete = on);
        Ok(())
    }

    async fn soft_delete(&self, tenant: &str) -> Result<bool, StoreError> {
        Ok(self.with(tenant, |t| t.soft_delete))
    }

    async fn set_profile(&self, tenant: &str, profile: Option<&str>) -> Result<(), StoreError> {
        self.with(tenant, |t| t.profile = profile.map(str::to_owned));
        Ok(())
    }

    async fn profile(&self, tenant: &str) -> Result<Option<String>, StoreError> {
        Ok(self.with(tenant, |t| t.profile.clone()))
    }

    async fn set_role_rules(&self, tenant: &str, rules: Option<&Value>) -> Result<(), StoreError> {
        self.with(tenant, |t| t.role_rules = rules.cloned());
        Ok(())
    }

    async fn set_jit(&self, tenant: &str, settings: Option<&Value>) -> Result<(), StoreError> {
        self.with(tenant, |t| t.jit = settings.cloned());
        Ok(())
    }

    async fn jit(&self, tenant: &str) -> Result<Option<Value>, StoreError> {
        Ok(self.with(tenant, |t| t.jit.clone()))
    }

    async fn set_origin(
        &self,
        tenant: &str,
        id: &str,
        origin: Option<&str>,
    ) -> Result<(), StoreError> {
        self.with(tenant, |t| match origin {
            Some(o) => {
                t.origins.insert(id.to_owned(), o.to_owned());
            }
            None => {
                t.origins.remove(id);
            }
        });
        Ok(())
    }

    async fn origin(&self, tenant: &str, id: &str) -> Result<Option<String>, StoreError> {
        Ok(self.with(tenant, |t| t.origins.get(id).cloned()))
    }

    async fn role_rules(&self, tenant: &str) -> Result<Option<Value>, StoreError> {
        Ok(self.with(tenant, |t| t.role_rules.clone()))
    }

    async fn tombstones(&self, tenant: &str, limit: usize) -> Result<Vec<Tombstone>, StoreError> {
        Ok(self.with(tenant, |t| {
            t.tombstones.iter().take(limit).cloned().collect()
        }))
    }

    async fn purge(&self, tenant: &str, before: &str) -> Result<usize, StoreError> {
        Ok(self.with(tenant, |t| {
            let n = t.tombstones.len();
            t.tombstones.retain(|x| x.deleted_at.as_str() >= before);
            n - t.tombstones.len()
        }))
    }

    async fn log_requests(
        &self,
        tenant: &str,
        records: &[RequestRecord],
    ) -> Result<u64, StoreError> {
        if records.is_empty() {
            return Ok(0);
        }
        Ok(self.with(tenant, |t| {
            for record in records {
                t.request_seq += 1;
                let mut record = record.clone();
                record.seq = t.request_seq;
                t.requests.insert(record.seq, record);
            }
            t.request_seq
        }))
    }

    async fn requests(
        &self,
        tenant: &str,
        query: &RequestQuery,
    ) -> Result<Vec<RequestRecord>, StoreError> {
        Ok(self.with(tenant, |t| {
            t.requests
                .values()
                .rev()
                .filter(|r| query.matches(r))
                .take(query.limit)
                .cloned()
                .collect()
        }))
    }

    async fn request(&self, tenant: &str, seq: u64) -> Result<Option<RequestRecord>, StoreError> {
        Ok(self.with(tenant, |t| t.requests.get(&seq).cloned()))
    }

    async fn prune_requests(&self, tenant: &str, keep: usize) -> Result<usize, StoreError> {
        Ok(self.with(tenant, |t| {
            let removed = t.requests.len().saturating_sub(keep);
            if let Some(&first_kept) = t.requests.keys().nth(removed) {
                t.requests = t.requests.split_off(&first_kept);
            } else {
                t.requests.clear();
            }
            removed
        }))
    }

    async fn create_tenant(&self, name: &str, ctx: &Ctx) -> Result<Tenant, StoreError> {
        check_tenant_name(name)?;
        self.all(|d| {
            if d.tenants.contains_key(name) {
                return Err(StoreError::TenantExists {
                    name: name.to_owned(),
                });
            }
            let tenant = Tenant {
                name: name.to_owned(),
                created: ctx.now.clone(),
            };
            d.tenants.insert(name.to_owned(), tenant.clone());
            d.dirs
                .entry(name.to_owned())
                .or_default()
                .audit(ctx, "tenant.create", "Tenant", name);
            Ok(tenant)
        })
    }

    async fn tenant(&self, name: &str) -> Result<Option<Tenant>, StoreError> {
        if !is_tenant_name(name) {
            return Ok(None);
        }
        Ok(self.all(|d| d.tenants.get(name).cloned()))
    }

    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        Ok(self.all(|d| d.tenants.values().cloned().collect()))
    }

    async fn create_token(&self, record: TokenRecord, ctx: &Ctx) -> Result<(), StoreError> {
        self.all(move |d| {
            if !d.tenants.contains_key(&record.tenant) {
                return Err(StoreError::NotFound {
                    resource_type: "Tenant".into(),
                    id: record.tenant,
                });
            }
            if d.tokens.contains_key(&record.id) {
                return Err(StoreError::IdTaken {
                    resource_type: "Token".into(),
                    id: record.id,
                });
            }
            d.dirs.entry(record.tenant.clone()).or_default().audit(
                ctx,
                "token.create",
                "Token",
                &record.id,
            );
            d.tokens.insert(record.id.clone(), record);
            Ok(())
        })
    }

    async fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        Ok(self.all(|d| d.tokens.get(id).cloned()))
    }

    async fn tokens(&self, tenant: &str) -> Result<Vec<TokenRecord>, StoreError> {
        let mut out: Vec<TokenRecord> = self.all(|d| {
            d.tokens
                .values()
                .filter(|t| t.tenant == tenant)
                .cloned()
                .collect()
        });
        out.sort_by(|a, b| (&a.created, &a.id).cmp(&(&b.created, &b.id)));
        Ok(out)
    }

    async fn revoke_token(&self, tenant: &str, id: &str, ctx: &Ctx) -> Result<bool, StoreError> {
        Ok(self.all(|d| {
            let Some(token) = d.tokens.get_mut(id).filter(|t| t.tenant == tenant) else {
                return false;
            };
            if token.revoked.is_none() {
                token.revoked = Some(ctx.now.clone());
                d.dirs.entry(tenant.to_owned()).or_default().audit(
                    ctx,
                    "token.revoke",
                    "Token",
                    id,
                );
            }
            true
        }))
    }

    async fn touch_token(&self, id: &str, at: &str) -> Result<(), StoreError> {
        self.all(|d| {
            if let Some(token) = d.tokens.get_mut(id)
                && token
                    .last_used
                    .as_deref()
                    .is_none_or(|last| minute(last) < minute(at))
            {
                token.last_used = Some(at.to_owned());
            }
        });
        Ok(())
    }
}
