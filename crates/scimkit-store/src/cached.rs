//! [`CachedStore`]: reads of Users by id served from memory, for a store that one process
//! writes alone.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::error::StoreError;
use crate::model::{
    AuditRecord, Ctx, Event, EventKind, GroupRef, Member, Page, RequestQuery, RequestRecord, Store,
    Stored, Tenant, TokenRecord, Tombstone,
};
use crate::query::Query;

/// The resource type whose reads are cached.
const USER: &str = "User";

/// A [`Store`] whose `get` of a User is answered from memory when it can be; every other
/// call goes to the wrapped store.
///
/// `GET /Users/{id}` is the request identity providers send most (before each update, after
/// each create, to verify a change), and with SQLite it costs a read transaction, a few index
/// seeks for the user's groups and a JSON parse. The cache keeps the assembled user, `groups`
/// included, and forgets it when any write could change it:
///
/// - a write of a User (create, replace, delete) forgets that user: a user's own writes
///   change no other user, and its `groups` cannot be written (they are read-only);
/// - any other resource write (a Group's create, rename, members or delete; a custom
///   resource's; a purge) forgets every user of the tenant, whose `groups` it may change.
///
/// # Only for a store that this process alone writes
///
/// The cache sees the writes made through it, nothing else: a second process writing the
/// same database would leave it serving stale users. `scimkit serve` wraps its SQLite store
/// only after taking an exclusive lock on the data directory; it never wraps PostgreSQL,
/// which several instances share.
///
/// # Reads racing writes
///
/// A counter (the generation) moves on every write, after the write has committed. A read
/// that misses notes the generation before it reads the store and keeps what it read only if
/// the generation has not moved since: a read that may have seen the state before a write
/// never lands in the cache after that write's invalidation. Writes run in a task of their
/// own, so that a caller that gives up waiting (a request timeout) cannot skip the
/// invalidation of a write that still commits.
#[derive(Clone)]
pub struct CachedStore {
    inner: Arc<dyn Store>,
    cache: Arc<Mutex<Cache>>,
}

impl std::fmt::Debug for CachedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cache = self.lock();
        f.debug_struct("CachedStore")
            .field("entries", &cache.map.len())
            .field("capacity", &cache.capacity)
            .field("generation", &cache.generation)
            .finish_non_exhaustive()
    }
}

/// The cached users, by tenant and id.
#[derive(Debug)]
struct Cache {
    capacity: usize,
    generation: u64,
    /// The stamp of the next entry.
    next_stamp: u64,
    map: HashMap<(String, String), Arc<Entry>>,
    /// Keys in the order they were inserted, for eviction (first in, first out). A key may
    /// also be here after its entry was forgotten; such keys are skipped.
    order: VecDeque<(String, String)>,
}

/// A cached user: the body as compact JSON text, parsed again on each hit. The text is a
/// third of the size of the parsed map and one contiguous allocation: parsing it costs less
/// than cloning the map's scattered allocations, which are rarely in the CPU's cache when
/// many users are held (measured with `perf` under `scimkit-load`).
#[derive(Debug)]
struct Entry {
    /// Unique among the entries this cache ever held: see [`Store::read_stamp`].
    stamp: u64,
    version: u64,
    created: String,
    last_modified: String,
    body: Box<str>,
}

impl Entry {
    fn new(stamp: u64, stored: &Stored) -> Self {
        Self {
            stamp,
            version: stored.version,
            created: stored.created.clone(),
            last_modified: stored.last_modified.clone(),
            body: Value::Object(stored.body.clone())
                .to_string()
                .into_boxed_str(),
        }
    }

    fn to_stored(&self, id: &str) -> Result<Stored, StoreError> {
        Ok(Stored {
            resource_type: USER.to_owned(),
            id: id.to_owned(),
            version: self.version,
            created: self.created.clone(),
            last_modified: self.last_modified.clone(),
            body: serde_json::from_str(&self.body).map_err(StoreError::backend)?,
        })
    }
}

/// What a write may have changed.
enum Scope {
    /// One user.
    User(String, String),
    /// Every user of a tenant.
    Tenant(String),
}

impl CachedStore {
    /// Wraps `inner`, keeping at most `capacity` users (0: none, every call goes through).
    pub fn new(inner: Arc<dyn Store>, capacity: usize) -> Self {
        Self {
            inner,
            cache: Arc::new(Mutex::new(Cache {
                capacity,
                generation: 0,
                next_stamp: 0,
                map: HashMap::new(),
                order: VecDeque::new(),
            })),
        }
    }

    /// The number of users held.
    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    /// Whether no user is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Cache> {
        lock(&self.cache)
    }

    /// Runs a write in a task of its own and then forgets what it may have changed, even if
    /// the caller stops waiting.
    async fn write<T, F>(&self, scope: Scope, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let cache = Arc::clone(&self.cache);
        tokio::spawn(async move {
            let out = write.await;
            lock(&cache).forget(&scope);
            out
        })
        .await
        .map_err(StoreError::backend)?
    }
}

fn lock(cache: &Mutex<Cache>) -> MutexGuard<'_, Cache> {
    cache.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Cache {
    fn forget(&mut self, scope: &Scope) {
        self.generation += 1;
        match scope {
            Scope::User(tenant, id) => {
                self.map.remove(&(tenant.clone(), id.clone()));
            }
            Scope::Tenant(tenant) => self.map.retain(|(t, _), _| t != tenant),
        }
    }

    /// Keeps what a read found, unless a write has moved the generation since the read
    /// noted it as `generation`: the read may have seen the state before that write.
    fn insert_if_current(&mut self, generation: u64, key: (String, String), stored: &Stored) {
        if self.capacity == 0 || self.generation != generation {
            return;
        }
        while self.map.len() >= self.capacity {
            match self.order.pop_front() {
                Some(old) => {
                    self.map.remove(&old);
                }
                None => break,
            }
        }
        self.next_stamp += 1;
        let entry = Arc::new(Entry::new(self.next_stamp, stored));
        if self.map.insert(key.clone(), entry).is_none() {
            self.order.push_back(key);
        }
        // Forgotten and refilled keys pile up in `order`; past twice the capacity it is
        // rebuilt from the live keys (their order then is the map's, which only makes the
        // next evictions less exactly first-in first-out).
        if self.order.len() > 2 * self.capacity {
            self.order = self.map.keys().cloned().collect();
        }
    }
}

fn user_scope(tenant: &str, resource_type: &str, id: &str) -> Scope {
    if resource_type == USER {
        Scope::User(tenant.to_owned(), id.to_owned())
    } else {
        Scope::Tenant(tenant.to_owned())
    }
}

#[async_trait]
impl Store for CachedStore {
    async fn create(
        &self,
        tenant: &str,
        resource_type: &str,
        id: &str,
        body: Map<String, Value>,
        ctx: &Ctx,
    ) -> Result<Stored, StoreError> {
        let inner = Arc::clone(&self.inner);
        let (t, rt, i, ctx) = (
            tenant.to_owned(),
            resource_type.to_owned(),
            id.to_owned(),
            ctx.clone(),
        );
        self.write(user_scope(tenant, resource_type, id), async move {
            inner.create(&t, &rt, &i, body, &ctx).await
        })
        .await
    }

    async fn get(
        &self,
        tenant: &str,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<Stored>, StoreError> {
        if resource_type != USER {
            return self.inner.get(tenant, resource_type, id).await;
        }
        let key = (tenant.to_owned(), id.to_owned());
        let (hit, generation) = {
            let cache = self.lock();
            (cache.map.get(&key).cloned(), cache.generation)
        };
        if let Some(hit) = hit {
            return hit.to_stored(id).map(Some);
        }
        let read = self.inner.get(tenant, resource_type, id).await?;
        if let Some(stored) = &read {
            self.lock().insert_if_current(generation, key, stored);
        }
        Ok(read)
    }

    fn read_stamp(&self, tenant: &str, resource_type: &str, id: &str) -> Option<u64> {
        if resource_type != USER {
            return None;
        }
        let key = (tenant.to_owned(), id.to_owned());
        self.lock().map.get(&key).map(|e| e.stamp)
    }

    async fn load(
        &self,
        tenant: &str,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<Stored>, StoreError> {
        self.inner.load(tenant, resource_type, id).await
    }

    async fn replace(
        &self,
        tenant: &str,
        resource_type: &str,
        id: &str,
        body: Map<String, Value>,
        if_version: Option<u64>,
        ctx: &Ctx,
    ) -> Result<Stored, StoreError> {
        let inner = Arc::clone(&self.inner);
        let (t, rt, i, ctx) = (
            tenant.to_owned(),
            resource_type.to_owned(),
            id.to_owned(),
            ctx.clone(),
        );
        self.write(user_scope(tenant, resource_type, id), async move {
            inner.replace(&t, &rt, &i, body, if_version, &ctx).await
        })
        .await
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
        let inner = Arc::clone(&self.inner);
        let (t, g, ctx) = (tenant.to_owned(), group_id.to_owned(), ctx.clone());
        let (added, removed) = (added.to_vec(), removed.to_vec());
        self.write(Scope::Tenant(tenant.to_owned()), async move {
            inner
                .change_members(&t, &g, &added, &removed, if_version, &ctx)
                .await
        })
        .await
    }

    async fn delete(
        &self,
        tenant: &str,
        resource_type: &str,
        id: &str,
        if_version: Option<u64>,
        ctx: &Ctx,
    ) -> Result<(), StoreError> {
        let inner = Arc::clone(&self.inner);
        let (t, rt, i, ctx) = (
            tenant.to_owned(),
            resource_type.to_owned(),
            id.to_owned(),
            ctx.clone(),
        );
        self.write(user_scope(tenant, resource_type, id), async move {
            inner.delete(&t, &rt, &i, if_version, &ctx).await
        })
        .await
    }

    async fn search(
        &self,
        tenant: &str,
        resource_type: &str,
        query: &Query,
    ) -> Result<Page, StoreError> {
        self.inner.search(tenant, resource_type, query).await
    }

    async fn is_member(
        &self,
        tenant: &str,
        group_id: &str,
        member_id: &str,
    ) -> Result<bool, StoreError> {
        self.inner.is_member(tenant, group_id, member_id).await
    }

    async fn member_ids(&self, tenant: &str, group_id: &str) -> Result<Vec<String>, StoreError> {
        self.inner.member_ids(tenant, group_id).await
    }

    async fn member_page(
        &self,
        tenant: &str,
        group_id: &str,
        skip: usize,
        count: usize,
    ) -> Result<(usize, Vec<String>), StoreError> {
        self.inner.member_page(tenant, group_id, skip, count).await
    }

    async fn groups_of(&self, tenant: &str, member_id: &str) -> Result<Vec<GroupRef>, StoreError> {
        self.inner.groups_of(tenant, member_id).await
    }

    async fn events(
        &self,
        tenant: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError> {
        self.inner.events(tenant, after, limit).await
    }

    async fn audit(&self, tenant: &str, limit: usize) -> Result<Vec<AuditRecord>, StoreError> {
        self.inner.audit(tenant, limit).await
    }

    async fn append_event(
        &self,
        tenant: &str,
        kind: EventKind,
        resource_type: &str,
        resource_id: &str,
        data: &Value,
        ctx: &Ctx,
    ) -> Result<u64, StoreError> {
        self.inner
            .append_event(tenant, kind, resource_type, resource_id, data, ctx)
            .await
    }

    async fn record_failure(
        &self,
        tenant: &str,
        ctx: &Ctx,
        operation: &str,
        resource_type: &str,
        resource_id: &str,
        outcome: &str,
    ) -> Result<(), StoreError> {
        self.inner
            .record_failure(tenant, ctx, operation, resource_type, resource_id, outcome)
            .await
    }

    async fn ack(&self, tenant: &str, consumer: &str, seq: u64) -> Result<(), StoreError> {
        self.inner.ack(tenant, consumer, seq).await
    }

    async fn acked(&self, tenant: &str, consumer: &str) -> Result<u64, StoreError> {
        self.inner.acked(tenant, consumer).await
    }

    async fn consumers(&self, tenant: &str) -> Result<Vec<(String, u64)>, StoreError> {
        self.inner.consumers(tenant).await
    }

    async fn set_soft_delete(&self, tenant: &str, on: bool) -> Result<(), StoreError> {
        self.inner.set_soft_delete(tenant, on).await
    }

    async fn soft_delete(&self, tenant: &str) -> Result<bool, StoreError> {
        self.inner.soft_delete(tenant).await
    }

    async fn set_profile(&self, tenant: &str, profile: Option<&str>) -> Result<(), StoreError> {
        self.inner.set_profile(tenant, profile).await
    }

    async fn profile(&self, tenant: &str) -> Result<Option<String>, StoreError> {
        self.inner.profile(tenant).await
    }

    async fn set_role_rules(&self, tenant: &str, rules: Option<&Value>) -> Result<(), StoreError> {
        self.inner.set_role_rules(tenant, rules).await
    }

    async fn role_rules(&self, tenant: &str) -> Result<Option<Value>, StoreError> {
        self.inner.role_rules(tenant).await
    }

    async fn set_jit(&self, tenant: &str, settings: Option<&Value>) -> Result<(), StoreError> {
        self.inner.set_jit(tenant, settings).await
    }

    async fn jit(&self, tenant: &str) -> Result<Option<Value>, StoreError> {
        self.inner.jit(tenant).await
    }

    async fn set_origin(
        &self,
        tenant: &str,
        id: &str,
        origin: Option<&str>,
    ) -> Result<(), StoreError> {
        self.inner.set_origin(tenant, id, origin).await
    }

    async fn origin(&self, tenant: &str, id: &str) -> Result<Option<String>, StoreError> {
        self.inner.origin(tenant, id).await
    }

    async fn tombstones(&self, tenant: &str, limit: usize) -> Result<Vec<Tombstone>, StoreError> {
        self.inner.tombstones(tenant, limit).await
    }

    async fn purge(&self, tenant: &str, before: &str) -> Result<usize, StoreError> {
        // Tombstones are never read by `get`; forgetting the tenant costs little and keeps the
        // rule simple: every resource write that is not one user's forgets the tenant.
        let inner = Arc::clone(&self.inner);
        let (t, b) = (tenant.to_owned(), before.to_owned());
        self.write(Scope::Tenant(tenant.to_owned()), async move {
            inner.purge(&t, &b).await
        })
        .await
    }

    // The request log changes no resource: nothing to forget.
    async fn log_requests(
        &self,
        tenant: &str,
        records: &[RequestRecord],
    ) -> Result<u64, StoreError> {
        self.inner.log_requests(tenant, records).await
    }

    async fn requests(
        &self,
        tenant: &str,
        query: &RequestQuery,
    ) -> Result<Vec<RequestRecord>, StoreError> {
        self.inner.requests(tenant, query).await
    }

    async fn request(&self, tenant: &str, seq: u64) -> Result<Option<RequestRecord>, StoreError> {
        self.inner.request(tenant, seq).await
    }

    async fn prune_requests(&self, tenant: &str, keep: usize) -> Result<usize, StoreError> {
        self.inner.prune_requests(tenant, keep).await
    }

    async fn create_tenant(&self, name: &str, ctx: &Ctx) -> Result<Tenant, StoreError> {
        self.inner.create_tenant(name, ctx).await
    }

    async fn tenant(&self, name: &str) -> Result<Option<Tenant>, StoreError> {
        self.inner.tenant(name).await
    }

    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        self.inner.tenants().await
    }

    async fn create_token(&self, record: TokenRecord, ctx: &Ctx) -> Result<(), StoreError> {
        self.inner.create_token(record, ctx).await
    }

    async fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.inner.token(id).await
    }

    async fn tokens(&self, tenant: &str) -> Result<Vec<TokenRecord>, StoreError> {
        self.inner.tokens(tenant).await
    }

    async fn revoke_token(&self, tenant: &str, id: &str, ctx: &Ctx) -> Result<bool, StoreError> {
        self.inner.revoke_token(tenant, id, ctx).await
    }

    async fn touch_token(&self, id: &str, at: &str) -> Result<(), StoreError> {
        self.inner.touch_token(id, at).await
    }
}

#[cfg(test)]
mod tests {
    use std::task::Poll;

    use scimkit_schema::Registry;
    use serde_json::json;

    use super::*;
    use crate::MemoryStore;

    fn body(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("an object"),
        }
    }

    fn user(name: &str) -> Map<String, Value> {
        body(json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name}))
    }

    /// The user with a new `displayName` each call, so that every replace is a change.
    fn changed(name: &str) -> Map<String, Value> {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut user = user(name);
        user.insert("displayName".into(), json!(format!("{name} {n}")));
        user
    }

    fn group(name: &str, members: &[&str]) -> Map<String, Value> {
        let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
        body(
            json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                    "displayName": name, "members": members}),
        )
    }

    fn ctx() -> Ctx {
        Ctx::at("2026-11-28T12:00:00Z")
    }

    fn stores(capacity: usize) -> (Arc<MemoryStore>, CachedStore) {
        let inner = Arc::new(MemoryStore::new(Registry::new()));
        let cached = CachedStore::new(Arc::clone(&inner) as Arc<dyn Store>, capacity);
        (inner, cached)
    }

    async fn version(store: &dyn Store, tenant: &str, id: &str) -> u64 {
        store.get(tenant, USER, id).await.unwrap().unwrap().version
    }

    async fn groups(store: &dyn Store, id: &str) -> Value {
        let stored = store.get("acme", USER, id).await.unwrap().unwrap();
        stored.body.get("groups").cloned().unwrap_or(Value::Null)
    }

    #[tokio::test]
    async fn users_are_read_from_memory_until_a_write_through_the_cache() {
        let (inner, cached) = stores(10);
        cached
            .create("acme", USER, "u1", user("ann"), &ctx())
            .await
            .unwrap();
        assert_eq!(version(&cached, "acme", "u1").await, 1);
        assert_eq!(cached.len(), 1);
        // A write behind the cache's back is not seen: the user comes from memory.
        inner
            .replace("acme", USER, "u1", changed("ann"), None, &ctx())
            .await
            .unwrap();
        assert_eq!(version(&cached, "acme", "u1").await, 1);
        // A write through it is.
        cached
            .replace("acme", USER, "u1", changed("ann"), None, &ctx())
            .await
            .unwrap();
        assert_eq!(version(&cached, "acme", "u1").await, 3);
        cached
            .delete("acme", USER, "u1", None, &ctx())
            .await
            .unwrap();
        assert!(cached.get("acme", USER, "u1").await.unwrap().is_none());
        assert!(cached.is_empty(), "a missing user is not held");
    }

    #[tokio::test]
    async fn group_writes_forget_the_tenants_users_and_no_other_tenants() {
        let (inner, cached) = stores(10);
        for (tenant, id) in [("acme", "u1"), ("acme", "u2"), ("other", "u9")] {
            cached
                .create(tenant, USER, id, user(id), &ctx())
                .await
                .unwrap();
            cached.get(tenant, USER, id).await.unwrap();
        }
        assert_eq!(groups(&cached, "u1").await, Value::Null);

        cached
            .create("acme", "Group", "g1", group("Staff", &["u1"]), &ctx())
            .await
            .unwrap();
        assert_eq!(groups(&cached, "u1").await[0]["display"], "Staff");

        cached
            .replace("acme", "Group", "g1", group("Crew", &["u1"]), None, &ctx())
            .await
            .unwrap();
        assert_eq!(groups(&cached, "u1").await[0]["display"], "Crew");

        // Nesting: g2 holds g1, so u1 is in g2 indirectly.
        cached
            .create("acme", "Group", "g2", group("All", &[]), &ctx())
            .await
            .unwrap();
        cached
            .change_members("acme", "g2", &[Member::new("g1")], &[], None, &ctx())
            .await
            .unwrap();
        let both = groups(&cached, "u1").await;
        assert_eq!(both.as_array().map(Vec::len), Some(2), "{both}");

        cached
            .change_members("acme", "g1", &[], &["u1".to_owned()], None, &ctx())
            .await
            .unwrap();
        assert_eq!(groups(&cached, "u1").await, Value::Null);

        cached
            .change_members("acme", "g1", &[Member::new("u2")], &[], None, &ctx())
            .await
            .unwrap();
        cached
            .delete("acme", "Group", "g1", None, &ctx())
            .await
            .unwrap();
        assert_eq!(groups(&cached, "u2").await, Value::Null);

        // None of that touched tenant `other`: its user is still the one in memory.
        inner
            .replace("other", USER, "u9", changed("u9"), None, &ctx())
            .await
            .unwrap();
        assert_eq!(version(&cached, "other", "u9").await, 1);
    }

    #[tokio::test]
    async fn the_read_stamp_changes_with_what_get_returns() {
        let (inner, cached) = stores(10);
        cached
            .create("acme", USER, "u1", user("ann"), &ctx())
            .await
            .unwrap();
        assert_eq!(cached.read_stamp("acme", USER, "u1"), None, "not held yet");
        assert_eq!(
            inner.read_stamp("acme", USER, "u1"),
            None,
            "stores without a cache"
        );
        cached.get("acme", USER, "u1").await.unwrap();
        let first = cached.read_stamp("acme", USER, "u1").expect("held");
        cached.get("acme", USER, "u1").await.unwrap();
        assert_eq!(cached.read_stamp("acme", USER, "u1"), Some(first));
        // A group write changes the user's `groups` without changing its version: the stamp
        // of the entry read after it differs.
        cached
            .create("acme", "Group", "g1", group("Staff", &["u1"]), &ctx())
            .await
            .unwrap();
        assert_eq!(cached.read_stamp("acme", USER, "u1"), None);
        cached.get("acme", USER, "u1").await.unwrap();
        let second = cached.read_stamp("acme", USER, "u1").expect("held");
        assert_ne!(first, second);
        assert_eq!(
            cached.read_stamp("acme", "Group", "g1"),
            None,
            "only users are held"
        );
    }

    #[tokio::test]
    async fn capacity_bounds_what_is_held() {
        let (_inner, cached) = stores(2);
        for id in ["u1", "u2", "u3", "u4"] {
            cached
                .create("acme", USER, id, user(id), &ctx())
                .await
                .unwrap();
            cached.get("acme", USER, id).await.unwrap();
            assert!(cached.len() <= 2);
        }
        // Invalidations and refills leave the eviction order bounded too.
        for _ in 0..100 {
            cached
                .replace("acme", USER, "u4", changed("u4"), None, &ctx())
                .await
                .unwrap();
            cached.get("acme", USER, "u4").await.unwrap();
        }
        assert!(lock(&cached.cache).order.len() <= 4);

        let (_inner, off) = stores(0);
        off.create("acme", USER, "u1", user("u1"), &ctx())
            .await
            .unwrap();
        off.get("acme", USER, "u1").await.unwrap();
        assert!(off.is_empty());
    }

    #[tokio::test]
    async fn a_write_whose_caller_stops_waiting_still_invalidates() {
        let (inner, cached) = stores(10);
        cached
            .create("acme", USER, "u1", user("ann"), &ctx())
            .await
            .unwrap();
        assert_eq!(version(&cached, "acme", "u1").await, 1);
        // The caller polls the write once and gives up (as a request timeout would); the
        // write goes on.
        let now = ctx();
        let mut write = cached.replace("acme", USER, "u1", changed("ann"), None, &now);
        let first = std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await;
        assert!(
            first.is_pending(),
            "the write had not finished when the caller left"
        );
        drop(write);
        while version(inner.as_ref(), "acme", "u1").await == 1 {
            tokio::task::yield_now().await;
        }
        tokio::task::yield_now().await;
        assert_eq!(version(&cached, "acme", "u1").await, 2);
    }

    #[tokio::test]
    async fn a_read_that_began_before_a_write_is_not_kept() {
        let (_inner, cached) = stores(10);
        cached
            .create("acme", USER, "u1", user("ann"), &ctx())
            .await
            .unwrap();
        let before = cached.get("acme", USER, "u1").await.unwrap().unwrap();
        cached
            .replace("acme", USER, "u1", changed("ann"), None, &ctx())
            .await
            .unwrap();
        // A read that noted the generation before that write and returns only now, with
        // the state from before it:
        {
            let mut cache = lock(&cached.cache);
            let noted = cache.generation - 1;
            cache.insert_if_current(noted, ("acme".into(), "u1".into()), &before);
        }
        assert_eq!(version(&cached, "acme", "u1").await, 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn reads_racing_writes_never_leave_a_stale_user() {
        let (inner, cached) = stores(100);
        let ids: Vec<String> = (0..8).map(|i| format!("u{i}")).collect();
        for id in &ids {
            cached
                .create("acme", USER, id, user(id), &ctx())
                .await
                .unwrap();
        }
        let mut tasks = Vec::new();
        for t in 0..8 {
            let cached = cached.clone();
            let ids = ids.clone();
            tasks.push(tokio::spawn(async move {
                for n in 0..300 {
                    let id = &ids[(t + n) % ids.len()];
                    if (t + n) % 3 == 0 {
                        cached
                            .replace("acme", USER, id, changed(id), None, &ctx())
                            .await
                            .unwrap();
                    } else {
                        cached.get("acme", USER, id).await.unwrap();
                    }
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        for id in &ids {
            assert_eq!(
                version(&cached, "acme", id).await,
                version(inner.as_ref(), "acme", id).await,
                "{id}"
            );
        }
    }
}
