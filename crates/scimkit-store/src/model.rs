//! The store's data types, the [`Store`] trait, and the rules every backend shares.

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use crate::error::StoreError;
use crate::query::Query;

/// Who makes a change, and when: the values a store must not invent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ctx {
    /// The time of the change, RFC 3339 in UTC (`2026-11-28T12:00:00Z`).
    pub now: String,
    /// The id of the bearer token that authorized it, for the audit log (never the token).
    pub token_id: Option<String>,
}

impl Ctx {
    /// A change at `now`.
    pub fn at(now: impl Into<String>) -> Self {
        Self {
            now: now.into(),
            token_id: None,
        }
    }

    /// The same, made with the token `id`.
    pub fn with_token(mut self, id: impl Into<String>) -> Self {
        self.token_id = Some(id.into());
        self
    }
}

/// A stored resource: its body (without `id` and `meta`) and the store's metadata.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Stored {
    /// The resource type's name.
    pub resource_type: String,
    /// The id.
    pub id: String,
    /// The version, 1 at creation, +1 for each change.
    pub version: u64,
    /// When it was created.
    pub created: String,
    /// When it last changed.
    pub last_modified: String,
    /// The attributes. A Group's `members` and a User's `groups` are assembled from the
    /// member table when read with [`Store::get`].
    pub body: Map<String, Value>,
}

impl Stored {
    /// The weak ETag of the version: `W/"3"`.
    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.version)
    }

    /// The resource as served: the body with `id` and `meta` (RFC 7643 §3.1), `meta.location`
    /// under `base_url` when given (e.g. `https://host/scim/v2/acme`).
    pub fn to_resource(&self, base_url: Option<&str>, endpoint: &str) -> Map<String, Value> {
        self.clone().into_resource(base_url, endpoint)
    }

    /// [`Stored::to_resource`], consuming the resource (its body is moved, not copied).
    pub fn into_resource(self, base_url: Option<&str>, endpoint: &str) -> Map<String, Value> {
        let etag = self.etag();
        let Self {
            resource_type,
            id,
            created,
            last_modified,
            mut body,
            ..
        } = self;
        let mut out = Map::with_capacity(body.len() + 2);
        if let Some(schemas) = body.shift_remove("schemas") {
            out.insert("schemas".into(), schemas);
        }
        let location = base_url
            .map(|base| Value::String(format!("{}{endpoint}/{id}", base.trim_end_matches('/'))));
        out.insert("id".into(), Value::String(id));
        out.extend(body);
        let mut meta = Map::with_capacity(5);
        meta.insert("resourceType".into(), Value::String(resource_type));
        meta.insert("created".into(), Value::String(created));
        meta.insert("lastModified".into(), Value::String(last_modified));
        meta.insert("version".into(), Value::String(etag));
        if let Some(location) = location {
            meta.insert("location".into(), location);
        }
        out.insert("meta".into(), Value::Object(meta));
        out
    }
}

/// A member of a group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub struct Member {
    /// The member's id (`members.value`).
    pub value: String,
    /// `User` or `Group`, when known.
    pub kind: Option<String>,
    /// A display name, as sent.
    pub display: Option<String>,
}

impl Member {
    /// A member with this id.
    pub fn new(value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            kind: None,
            display: None,
        }
    }

    /// Reads a member from a `members` value (`{"value": …, "type": …, "display": …}`).
    pub fn from_json(v: &Value) -> Option<Self> {
        Some(Self {
            value: v.get("value")?.as_str()?.to_owned(),
            kind: v.get("type").and_then(Value::as_str).map(str::to_owned),
            display: v.get("display").and_then(Value::as_str).map(str::to_owned),
        })
    }

    /// The member as a `members` value.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("value".into(), Value::String(self.value.clone()));
        if let Some(display) = &self.display {
            m.insert("display".into(), Value::String(display.clone()));
        }
        if let Some(kind) = &self.kind {
            m.insert("type".into(), Value::String(kind.clone()));
        }
        Value::Object(m)
    }
}

/// A group a user belongs to (`User.groups`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub struct GroupRef {
    /// The group's id.
    pub id: String,
    /// Its `displayName`.
    pub display: Option<String>,
    /// Direct membership, or through nested groups.
    pub direct: bool,
}

impl GroupRef {
    /// The reference as a `groups` value.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("value".into(), Value::String(self.id.clone()));
        if let Some(display) = &self.display {
            m.insert("display".into(), Value::String(display.clone()));
        }
        m.insert(
            "type".into(),
            Value::String(if self.direct { "direct" } else { "indirect" }.into()),
        );
        Value::Object(m)
    }
}

/// A page of search results.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Page {
    /// How many resources match, over all pages.
    pub total: usize,
    /// This page's resources, in order.
    pub resources: Vec<Stored>,
    /// With cursor pagination, the cursor of the next page (`None` on the last one).
    pub next_cursor: Option<String>,
}

/// What happened, for the host application (RFC 7644 does not define events; these are
/// scimkit's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// A resource was created.
    Created,
    /// A resource's attributes changed (other than the cases below).
    Updated,
    /// A user's `active` went from true (or unset) to false.
    Deactivated,
    /// A user's `active` went from false to true.
    Reactivated,
    /// A group's `displayName` changed.
    Renamed,
    /// A resource was deleted.
    Deleted,
    /// Members joined a group.
    MembersAdded,
    /// Members left a group.
    MembersRemoved,
    /// A user's effective roles changed (a membership or a group-to-role rule changed):
    /// written by the server with [`Store::append_event`], `data` says which roles.
    RolesChanged,
}

impl EventKind {
    /// The name used in the outbox, e.g. `deactivated`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Deactivated => "deactivated",
            Self::Reactivated => "reactivated",
            Self::Renamed => "renamed",
            Self::Deleted => "deleted",
            Self::MembersAdded => "members_added",
            Self::MembersRemoved => "members_removed",
            Self::RolesChanged => "roles_changed",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        [
            Self::Created,
            Self::Updated,
            Self::Deactivated,
            Self::Reactivated,
            Self::Renamed,
            Self::Deleted,
            Self::MembersAdded,
            Self::MembersRemoved,
            Self::RolesChanged,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// An entry of a tenant's outbox.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Event {
    /// The position in the tenant's outbox: strictly increasing, gap-free per tenant.
    pub seq: u64,
    /// What happened.
    pub kind: EventKind,
    /// The resource type.
    pub resource_type: String,
    /// The resource's id.
    pub resource_id: String,
    /// The resource's version after the change (absent for deletions).
    pub version: Option<u64>,
    /// When.
    pub at: String,
    /// Details: member ids for membership events, `{}` otherwise.
    pub data: Value,
}

/// An audit record: who changed what, when, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditRecord {
    /// When.
    pub at: String,
    /// The token id that authorized it.
    pub token_id: Option<String>,
    /// `create`, `replace`, `members`, `delete`; `tenant.create`, `token.create`,
    /// `token.revoke`.
    pub operation: String,
    /// The resource type.
    pub resource_type: String,
    /// The resource's id.
    pub resource_id: String,
    /// `ok`, or the error's status and message.
    pub outcome: String,
}

/// A tenant: one SCIM directory with its own base URL and tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tenant {
    /// The name: 1 to 64 characters of `a-z`, `0-9` and `-`, not starting with `-`.
    pub name: String,
    /// When it was created (RFC 3339 UTC, from [`Ctx::now`]).
    pub created: String,
}

/// A bearer token's record. The secret itself is never stored: `hash` is the SHA-256 (or
/// other server-chosen digest) of the secret part, hex, computed by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenRecord {
    /// The public token id (e.g. `tok_3f9a…`), unique across tenants.
    pub id: String,
    /// The tenant the token is for.
    pub tenant: String,
    /// A label for people (`okta-prod`), if any.
    pub label: Option<String>,
    /// The digest of the secret part, hex.
    pub hash: String,
    /// When it was created (RFC 3339 UTC, from [`Ctx::now`]).
    pub created: String,
    /// When it stops being valid (RFC 3339 UTC), or never.
    pub expires: Option<String>,
    /// When it was revoked, if it was.
    pub revoked: Option<String>,
    /// When it was last used (to the minute: see [`Store::touch_token`]), if ever.
    pub last_used: Option<String>,
    /// What the token opens, as the server names it (`None`: the SCIM API).
    pub scope: Option<String>,
}

impl TokenRecord {
    /// A record of token `id` for `tenant`, created at `created`, with no label, no expiry,
    /// never revoked or used.
    pub fn new(
        id: impl Into<String>,
        tenant: impl Into<String>,
        hash: impl Into<String>,
        created: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            tenant: tenant.into(),
            label: None,
            hash: hash.into(),
            created: created.into(),
            expires: None,
            revoked: None,
            last_used: None,
            scope: None,
        }
    }

    /// The same, for `scope` (e.g. `app`) instead of the SCIM API.
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// The same, with a label.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// The same, expiring at `expires` (RFC 3339 UTC).
    pub fn with_expires(mut self, expires: impl Into<String>) -> Self {
        self.expires = Some(expires.into());
        self
    }
}

/// One SCIM request as the provisioning log keeps it (see [`Store::log_requests`]): what an
/// administrator needs to see why a provisioning run did what it did. The store keeps the
/// bodies as given; redacting secrets and truncating large bodies is the caller's job.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RequestRecord {
    /// The request's number in its tenant's log, assigned by the store when the request is
    /// appended (a value given to [`Store::log_requests`] is ignored): increasing, and never
    /// reused, not even after [`Store::prune_requests`] removed the requests before it.
    pub seq: u64,
    /// When the request arrived, RFC 3339 UTC (as [`Ctx::now`]).
    pub at: String,
    /// The id the server gave the request (the one its logs and response headers carry).
    pub request_id: String,
    /// The id of the bearer token that authenticated it, if one did.
    pub token_id: Option<String>,
    /// The HTTP method (`GET`, `PATCH`, …).
    pub method: String,
    /// The path and query, as received.
    pub path: String,
    /// The resource type the path names (`User`, `Group`, …), if any.
    pub resource_type: Option<String>,
    /// The resource id the path names or the response created, if any.
    pub resource_id: Option<String>,
    /// The response's HTTP status.
    pub status: u16,
    /// How long the server took to answer, in microseconds.
    pub duration_us: u64,
    /// The names of the identity-provider profile's normalizers that fired, in the order
    /// they fired.
    pub normalizers: Vec<String>,
    /// The request body, already redacted and truncated by the caller, if kept.
    pub request_body: Option<String>,
    /// The response body, already redacted and truncated by the caller, if kept.
    pub response_body: Option<String>,
}

impl RequestRecord {
    /// A request `request_id` of `method` on `path`, arrived at `at` and answered with
    /// `status`: no token, resource, duration, normalizers or bodies, and `seq` 0 (the store
    /// assigns it).
    pub fn new(
        at: impl Into<String>,
        request_id: impl Into<String>,
        method: impl Into<String>,
        path: impl Into<String>,
        status: u16,
    ) -> Self {
        Self {
            seq: 0,
            at: at.into(),
            request_id: request_id.into(),
            token_id: None,
            method: method.into(),
            path: path.into(),
            resource_type: None,
            resource_id: None,
            status,
            duration_us: 0,
            normalizers: Vec::new(),
            request_body: None,
            response_body: None,
        }
    }

    /// The same, authenticated by the token `id`.
    pub fn with_token(mut self, id: impl Into<String>) -> Self {
        self.token_id = Some(id.into());
        self
    }

    /// The same, about resources of type `resource_type` (`User`, `Group`, …).
    pub fn with_resource_type(mut self, resource_type: impl Into<String>) -> Self {
        self.resource_type = Some(resource_type.into());
        self
    }

    /// The same, about the resource `id`.
    pub fn with_resource_id(mut self, id: impl Into<String>) -> Self {
        self.resource_id = Some(id.into());
        self
    }

    /// The same, answered in `duration_us` microseconds.
    pub fn with_duration_us(mut self, duration_us: u64) -> Self {
        self.duration_us = duration_us;
        self
    }

    /// The same, with these normalizers fired (in this order).
    pub fn with_normalizers<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.normalizers = names.into_iter().map(Into::into).collect();
        self
    }

    /// The same, with the request body (already redacted and truncated).
    pub fn with_request_body(mut self, body: impl Into<String>) -> Self {
        self.request_body = Some(body.into());
        self
    }

    /// The same, with the response body (already redacted and truncated).
    pub fn with_response_body(mut self, body: impl Into<String>) -> Self {
        self.response_body = Some(body.into());
        self
    }
}

/// Which logged requests [`Store::requests`] returns: every condition set must hold. The
/// default is the newest [`RequestQuery::DEFAULT_LIMIT`] requests, whatever they are.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RequestQuery {
    /// Only requests answered with an error (status 400 or above).
    pub errors_only: bool,
    /// Only requests about this resource type (compared exactly).
    pub resource_type: Option<String>,
    /// Only requests about the resource with this id (compared exactly): its creation,
    /// reads, changes and deletion.
    pub resource_id: Option<String>,
    /// Only requests that arrived at or after this time (RFC 3339 UTC, as [`Ctx::now`]).
    /// Times compare as text, bytewise, which orders them correctly as long as they are all
    /// written the same way (UTC, `Z`, the same number of fractional digits).
    pub since: Option<String>,
    /// Only requests that arrived strictly before this time (compared as `since` is).
    pub until: Option<String>,
    /// Only requests with a `seq` below this one: the next page, newest first, passes the
    /// `seq` of the last request of the page before.
    pub before: Option<u64>,
    /// At most this many requests. The store applies no cap of its own: the caller bounds
    /// what it asks for.
    pub limit: usize,
}

impl RequestQuery {
    /// How many requests the default query returns: a screenful.
    pub const DEFAULT_LIMIT: usize = 50;

    /// The same, only requests answered with an error (status 400 or above).
    pub fn errors_only(mut self) -> Self {
        self.errors_only = true;
        self
    }

    /// The same, only requests about resources of type `resource_type`.
    pub fn with_resource_type(mut self, resource_type: impl Into<String>) -> Self {
        self.resource_type = Some(resource_type.into());
        self
    }

    /// The same, only requests about the resource `id`.
    pub fn with_resource_id(mut self, id: impl Into<String>) -> Self {
        self.resource_id = Some(id.into());
        self
    }

    /// The same, only requests that arrived at or after `since`.
    pub fn with_since(mut self, since: impl Into<String>) -> Self {
        self.since = Some(since.into());
        self
    }

    /// The same, only requests that arrived strictly before `until`.
    pub fn with_until(mut self, until: impl Into<String>) -> Self {
        self.until = Some(until.into());
        self
    }

    /// The same, only requests with a `seq` below `before`.
    pub fn with_before(mut self, before: u64) -> Self {
        self.before = Some(before);
        self
    }

    /// The same, at most `limit` requests.
    pub fn with_limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Whether `record` is one the query asks for (`limit` aside): the rule the memory
    /// backend applies, and the SQL of [`RequestQuery::conditions`] states.
    pub(crate) fn matches(&self, record: &RequestRecord) -> bool {
        (!self.errors_only || record.status >= 400)
            && self
                .resource_type
                .as_ref()
                .is_none_or(|rt| record.resource_type.as_ref() == Some(rt))
            && self
                .resource_id
                .as_ref()
                .is_none_or(|id| record.resource_id.as_ref() == Some(id))
            && self
                .since
                .as_ref()
                .is_none_or(|since| record.at.as_str() >= since.as_str())
            && self
                .until
                .as_ref()
                .is_none_or(|until| record.at.as_str() < until.as_str())
            && self.before.is_none_or(|before| record.seq < before)
    }

    /// The SQL conditions of the query over the `requests` table, each starting with ` AND `,
    /// for the backends to append to `WHERE tenant = <placeholder 1>`, and their arguments
    /// (placeholders from 2). Only the conditions the query sets are written, so that the
    /// errors-only and resource-type indexes can serve the query (SQLite uses a partial
    /// index only when the query states its condition, `status >= 400`, literally). The text
    /// is one of a few dozen, so it may go to a prepared-statement cache.
    pub(crate) fn conditions(&self, dialect: crate::query::Dialect) -> (String, Vec<SqlArg>) {
        let mut sql = String::new();
        let mut args = Vec::new();
        let mut push = |cond: &str, arg: SqlArg| {
            args.push(arg);
            let n = args.len() + 1;
            let placeholder = match dialect {
                crate::query::Dialect::Sqlite => format!("?{n}"),
                crate::query::Dialect::Postgres => format!("${n}"),
            };
            sql.push_str(&format!(" AND {cond} {placeholder}"));
        };
        if let Some(rt) = &self.resource_type {
            push("resource_type =", SqlArg::Text(rt.clone()));
        }
        if let Some(id) = &self.resource_id {
            push("resource_id =", SqlArg::Text(id.clone()));
        }
        if let Some(since) = &self.since {
            push("at >=", SqlArg::Text(since.clone()));
        }
        if let Some(until) = &self.until {
            push("at <", SqlArg::Text(until.clone()));
        }
        if let Some(before) = self.before {
            push("seq <", SqlArg::Int(sql_int(before)));
        }
        if self.errors_only {
            sql.push_str(" AND status >= 400");
        }
        (sql, args)
    }
}

impl Default for RequestQuery {
    /// The newest [`RequestQuery::DEFAULT_LIMIT`] requests.
    fn default() -> Self {
        Self {
            errors_only: false,
            resource_type: None,
            resource_id: None,
            since: None,
            until: None,
            before: None,
            limit: Self::DEFAULT_LIMIT,
        }
    }
}

/// An argument of the SQL that [`RequestQuery::conditions`] writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SqlArg {
    Text(String),
    Int(i64),
}

/// The storage of SCIM resources, per tenant.
#[async_trait]
pub trait Store: Send + Sync {
    /// Creates a resource (a validated body without `id`/`meta`). A Group's `members` go to
    /// the member table. Fails with [`StoreError::Uniqueness`] on a taken `userName`
    /// (case-insensitive) and [`StoreError::IdTaken`] on a taken id.
    async fn create(
        &self,
        tenant: &str,
        resource_type: &str,
        id: &str,
        body: Map<String, Value>,
        ctx: &Ctx,
    ) -> Result<Stored, StoreError>;

    /// Reads a resource, with a Group's `members` and a User's `groups` assembled.
    async fn get(
        &self,
        tenant: &str,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<Stored>, StoreError>;

    /// A number that changes whenever what [`get`](Store::get) returns for the resource may
    /// have changed, when the store can tell without reading it; `None` when it cannot (the
    /// default). A store that caches reads ([`CachedStore`](crate::CachedStore)) answers for
    /// what it holds, so that a caller can keep something derived from a read (a rendered
    /// response) for as long as the stamp stays the same.
    fn read_stamp(&self, tenant: &str, resource_type: &str, id: &str) -> Option<u64> {
        let _ = (tenant, resource_type, id);
        None
    }

    /// Reads a resource as stored: without a Group's `members` or a User's `groups` (what a
    /// PATCH of a large group needs: the member table is asked per id instead).
    async fn load(
        &self,
        tenant: &str,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<Stored>, StoreError>;

    /// Replaces a resource's body (a Group's `members` included), if its version is
    /// `if_version` when given.
    async fn replace(
        &self,
        tenant: &str,
        resource_type: &str,
        id: &str,
        body: Map<String, Value>,
        if_version: Option<u64>,
        ctx: &Ctx,
    ) -> Result<Stored, StoreError>;

    /// Adds and removes members of a group (ids already present or absent are ignored),
    /// bumping its version if membership changed. Touches only the listed rows.
    async fn change_members(
        &self,
        tenant: &str,
        group_id: &str,
        added: &[Member],
        removed: &[String],
        if_version: Option<u64>,
        ctx: &Ctx,
    ) -> Result<Stored, StoreError>;

    /// Deletes a resource and its memberships (as member and as group).
    async fn delete(
        &self,
        tenant: &str,
        resource_type: &str,
        id: &str,
        if_version: Option<u64>,
        ctx: &Ctx,
    ) -> Result<(), StoreError>;

    /// Lists and searches, with filter, sort and pagination.
    async fn search(
        &self,
        tenant: &str,
        resource_type: &str,
        query: &Query,
    ) -> Result<Page, StoreError>;

    /// Whether `member_id` is a direct member of the group.
    async fn is_member(
        &self,
        tenant: &str,
        group_id: &str,
        member_id: &str,
    ) -> Result<bool, StoreError>;

    /// The ids of a group's direct members, sorted.
    async fn member_ids(&self, tenant: &str, group_id: &str) -> Result<Vec<String>, StoreError>;

    /// A page of a group's direct members in the order of [`Store::member_ids`]: the ids
    /// after the first `skip`, at most `count` of them, and how many direct members the group
    /// has. The SQL backends read only the page from their member index; this default reads
    /// every id.
    async fn member_page(
        &self,
        tenant: &str,
        group_id: &str,
        skip: usize,
        count: usize,
    ) -> Result<(usize, Vec<String>), StoreError> {
        let ids = self.member_ids(tenant, group_id).await?;
        let total = ids.len();
        Ok((total, ids.into_iter().skip(skip).take(count).collect()))
    }

    /// The groups a resource belongs to, directly and through nested groups (cycles end).
    async fn groups_of(&self, tenant: &str, member_id: &str) -> Result<Vec<GroupRef>, StoreError>;

    /// The tenant's events after `after` (a `seq`), oldest first, at most `limit`.
    async fn events(
        &self,
        tenant: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Event>, StoreError>;

    /// The tenant's audit records, newest first, at most `limit`.
    async fn audit(&self, tenant: &str, limit: usize) -> Result<Vec<AuditRecord>, StoreError>;

    /// Appends an event that no resource write carries (e.g. `roles_changed`, which follows
    /// from a membership or a rule), with the tenant's next sequence number; returns it.
    async fn append_event(
        &self,
        tenant: &str,
        kind: EventKind,
        resource_type: &str,
        resource_id: &str,
        data: &Value,
        ctx: &Ctx,
    ) -> Result<u64, StoreError>;

    /// Records a change that was refused or failed: `outcome` says how (e.g. `409
    /// uniqueness: userName "bjensen" is already taken`). Successful changes write their own
    /// record in their transaction; a failed one has none to write it in.
    async fn record_failure(
        &self,
        tenant: &str,
        ctx: &Ctx,
        operation: &str,
        resource_type: &str,
        resource_id: &str,
        outcome: &str,
    ) -> Result<(), StoreError>;

    /// Records that `consumer` has processed the tenant's events up to `seq` (an ack never
    /// moves backwards).
    async fn ack(&self, tenant: &str, consumer: &str, seq: u64) -> Result<(), StoreError>;

    /// The last `seq` that `consumer` acknowledged (0: none): where it resumes reading.
    async fn acked(&self, tenant: &str, consumer: &str) -> Result<u64, StoreError>;

    /// Every consumer that has acknowledged some of the tenant's events (called [`ack`] for
    /// it), with the last `seq` it acknowledged, sorted by name (bytewise on every backend).
    ///
    /// [`ack`]: Store::ack
    async fn consumers(&self, tenant: &str) -> Result<Vec<(String, u64)>, StoreError>;

    /// Turns soft delete on or off for `tenant` (off unless set). With it on, a deleted
    /// resource vanishes exactly as with it off (404, memberships gone, `userName` free again,
    /// a `deleted` event), and in the same transaction its last state is kept as a
    /// [`Tombstone`] until [`purge`](Store::purge)d.
    async fn set_soft_delete(&self, tenant: &str, on: bool) -> Result<(), StoreError>;

    /// Whether soft delete is on for `tenant`.
    async fn soft_delete(&self, tenant: &str) -> Result<bool, StoreError>;

    /// Sets the name of `tenant`'s identity-provider profile (which tolerances the server
    /// reads its requests with), or clears it. The store keeps the name; the server gives it
    /// meaning.
    async fn set_profile(&self, tenant: &str, profile: Option<&str>) -> Result<(), StoreError>;

    /// The name of `tenant`'s identity-provider profile, if one is set.
    async fn profile(&self, tenant: &str) -> Result<Option<String>, StoreError>;

    /// Replaces `tenant`'s group-to-role rules (a JSON document the server defines), or
    /// clears them.
    async fn set_role_rules(&self, tenant: &str, rules: Option<&Value>) -> Result<(), StoreError>;

    /// `tenant`'s group-to-role rules, if set.
    async fn role_rules(&self, tenant: &str) -> Result<Option<Value>, StoreError>;

    /// Replaces `tenant`'s just-in-time provisioning settings (a JSON document the server
    /// defines), or clears them.
    async fn set_jit(&self, tenant: &str, settings: Option<&Value>) -> Result<(), StoreError>;

    /// `tenant`'s just-in-time provisioning settings, if set.
    async fn jit(&self, tenant: &str) -> Result<Option<Value>, StoreError>;

    /// Records how resource `id` came to be (e.g. `jit`, `scim`), or forgets it.
    async fn set_origin(
        &self,
        tenant: &str,
        id: &str,
        origin: Option<&str>,
    ) -> Result<(), StoreError>;

    /// How resource `id` came to be, if recorded.
    async fn origin(&self, tenant: &str, id: &str) -> Result<Option<String>, StoreError>;

    /// The tenant's tombstones, oldest deletion first, at most `limit`.
    async fn tombstones(&self, tenant: &str, limit: usize) -> Result<Vec<Tombstone>, StoreError>;

    /// Removes the tenant's tombstones of deletions strictly before `before` (a time in the
    /// format of [`Ctx::now`]); returns how many were removed.
    async fn purge(&self, tenant: &str, before: &str) -> Result<usize, StoreError>;

    /// Appends `records`, requests served for `tenant`, to its provisioning log, in the
    /// order given and in one transaction: all of them or none. Each gets the tenant's next
    /// `seq` (the `seq` given is ignored); numbers are never reused, not even after
    /// [`prune_requests`](Store::prune_requests) removed every request. Returns the last
    /// `seq` assigned (0 when `records` is empty: nothing is written).
    ///
    /// A slice, so that a server logging every request can write those of a moment in one
    /// transaction instead of one transaction each.
    async fn log_requests(
        &self,
        tenant: &str,
        records: &[RequestRecord],
    ) -> Result<u64, StoreError>;

    /// The tenant's logged requests that match `query`, newest (highest `seq`) first, at most
    /// `query.limit`.
    async fn requests(
        &self,
        tenant: &str,
        query: &RequestQuery,
    ) -> Result<Vec<RequestRecord>, StoreError>;

    /// The tenant's logged request `seq`, if the log holds it (a pruned one is gone).
    async fn request(&self, tenant: &str, seq: u64) -> Result<Option<RequestRecord>, StoreError>;

    /// Removes all but the newest `keep` requests of the tenant's log; returns how many were
    /// removed. The numbering goes on after the removed requests.
    async fn prune_requests(&self, tenant: &str, keep: usize) -> Result<usize, StoreError>;

    /// Creates the tenant `name` at `ctx.now`, with a `tenant.create` audit record (in the
    /// same transaction). Fails with [`StoreError::InvalidName`] unless the name is 1 to 64
    /// characters of `a-z`, `0-9` and `-`, not starting with `-`, and with
    /// [`StoreError::TenantExists`] if the tenant exists.
    ///
    /// Resource calls do not require a created tenant (a tenant's resources are simply the
    /// ones stored under its name); the server uses these records to know which tenants it
    /// serves.
    async fn create_tenant(&self, name: &str, ctx: &Ctx) -> Result<Tenant, StoreError>;

    /// The tenant `name`, if it was created (`None` too for a name that cannot be one).
    async fn tenant(&self, name: &str) -> Result<Option<Tenant>, StoreError>;

    /// Every tenant, sorted by name.
    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError>;

    /// Stores a token's record (as given: the caller sets `created`, normally to `ctx.now`),
    /// with a `token.create` audit record in its tenant (in the same transaction). Fails with
    /// [`StoreError::NotFound`] (`resource_type` `Tenant`) if the tenant was not created, and
    /// with [`StoreError::IdTaken`] (`resource_type` `Token`) if a token of any tenant has
    /// the id.
    async fn create_token(&self, record: TokenRecord, ctx: &Ctx) -> Result<(), StoreError>;

    /// The token `id`, of whichever tenant: the authentication path, one read of the primary
    /// key.
    async fn token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError>;

    /// The tenant's tokens, revoked and expired ones included, by `created` then `id`.
    async fn tokens(&self, tenant: &str) -> Result<Vec<TokenRecord>, StoreError>;

    /// Revokes the token `id` of `tenant` at `ctx.now`, with a `token.revoke` audit record
    /// (in the same transaction). Returns false when `tenant` has no such token: a token of
    /// another tenant is never revoked. Revoking a revoked token returns true and changes
    /// nothing (the first revocation's time stays; no second audit record).
    async fn revoke_token(&self, tenant: &str, id: &str, ctx: &Ctx) -> Result<bool, StoreError>;

    /// Records that the token `id` was used at `at` (RFC 3339 UTC), to the minute: the write
    /// is skipped when `last_used` is already in the same minute or a later one, so the
    /// authentication path writes at most once a minute per token. No such token: nothing
    /// happens.
    async fn touch_token(&self, id: &str, at: &str) -> Result<(), StoreError>;
}

/// The most characters a tenant name has.
pub(crate) const TENANT_NAME_MAX: usize = 64;

/// Whether `name` can be a tenant's: 1 to 64 characters of `a-z`, `0-9` and `-`, not
/// starting with `-`.
pub(crate) fn is_tenant_name(name: &str) -> bool {
    (1..=TENANT_NAME_MAX).contains(&name.len())
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// [`is_tenant_name`], as the error a client sees.
pub(crate) fn check_tenant_name(name: &str) -> Result<(), StoreError> {
    if is_tenant_name(name) {
        return Ok(());
    }
    let mut shown: String = name.chars().take(TENANT_NAME_MAX + 1).collect();
    if shown.len() < name.len() {
        shown.push('…');
    }
    Err(StoreError::InvalidName(format!(
        "invalid tenant name {shown:?}: a tenant name is 1 to {TENANT_NAME_MAX} characters of \
         a-z, 0-9 and -, not starting with -"
    )))
}

/// The minute of an RFC 3339 time (`2026-11-28T12:00`), which [`Store::touch_token`]
/// compares: its first 16 characters (the whole text when shorter). Backends compare the
/// same prefix in SQL (`substr(…, 1, 16)`, which counts characters too).
pub(crate) fn minute(t: &str) -> &str {
    t.char_indices().nth(16).map_or(t, |(i, _)| &t[..i])
}

/// What a soft delete keeps of a resource, for audit, until purged.
#[derive(Debug, Clone, PartialEq)]
pub struct Tombstone {
    /// The resource as it was when deleted (its last version), with a Group's `members` and
    /// a User's `groups` as they were.
    pub resource: Stored,
    /// When it was deleted.
    pub deleted_at: String,
    /// The token that deleted it.
    pub token_id: Option<String>,
}

/// The lowercased `emails.value`s of a User body, kept in an index by the backends.
pub(crate) fn email_keys(resource_type: &str, body: &Map<String, Value>) -> Vec<String> {
    if resource_type != "User" {
        return Vec::new();
    }
    let mut keys: Vec<String> = body
        .get("emails")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("value").and_then(Value::as_str))
        .map(str::to_lowercase)
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The events a change from `before` to `after` raises (shared by the backends).
pub(crate) fn change_events(
    resource_type: &str,
    before: &Map<String, Value>,
    after: &Map<String, Value>,
) -> Vec<(EventKind, Value)> {
    let mut out = Vec::new();
    let active = |m: &Map<String, Value>| m.get("active").and_then(Value::as_bool);
    let name = |m: &Map<String, Value>| m.get("displayName").cloned();
    let without = |m: &Map<String, Value>| {
        let mut m = m.clone();
        m.remove("members");
        m
    };
    let mut handled = false;
    if resource_type == "User" {
        match (active(before), active(after)) {
            (Some(true) | None, Some(false)) => {
                out.push((EventKind::Deactivated, json!({})));
                handled = true;
            }
            (Some(false), Some(true)) => {
                out.push((EventKind::Reactivated, json!({})));
                handled = true;
            }
            _ => {}
        }
    }
    if resource_type == "Group" && name(before) != name(after) {
        out.push((EventKind::Renamed, json!({"displayName": name(after)})));
        handled = true;
    }
    if !handled && without(before) != without(after) {
        out.push((EventKind::Updated, json!({})));
    }
    out
}

/// The `userName` uniqueness key of a User body: lowercased (RFC 7643: caseExact false).
pub(crate) fn user_name_key(resource_type: &str, body: &Map<String, Value>) -> Option<String> {
    (resource_type == "User")
        .then(|| {
            body.get("userName")
                .and_then(Value::as_str)
                .map(str::to_lowercase)
        })
        .flatten()
}

/// Splits a Group body into the body without `members` and its members.
pub(crate) fn split_members(
    resource_type: &str,
    mut body: Map<String, Value>,
) -> (Map<String, Value>, Vec<Member>) {
    if resource_type != "Group" {
        return (body, Vec::new());
    }
    let members = match body.remove("members") {
        Some(Value::Array(items)) => items.iter().filter_map(Member::from_json).collect(),
        _ => Vec::new(),
    };
    (body, dedupe_members(members))
}

/// One entry per member id, the first one sent.
pub(crate) fn dedupe_members(members: Vec<Member>) -> Vec<Member> {
    let mut seen = std::collections::BTreeSet::new();
    members
        .into_iter()
        .filter(|m| seen.insert(m.value.clone()))
        .collect()
}

/// The indexed columns of a body: the lowercased `userName` (Users), `externalId`, and the
/// lowercased `displayName`.
pub(crate) fn indexed(
    resource_type: &str,
    body: &Map<String, Value>,
) -> (Option<String>, Option<String>, Option<String>) {
    let external_id = body
        .get("externalId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let display = body
        .get("displayName")
        .and_then(Value::as_str)
        .map(str::to_lowercase);
    (user_name_key(resource_type, body), external_id, display)
}

/// A conditional write's check: the stored version must be the expected one.
pub(crate) fn check_version(current: &Stored, if_version: Option<u64>) -> Result<(), StoreError> {
    match if_version {
        Some(expected) if expected != current.version => Err(StoreError::VersionMismatch {
            expected,
            current: current.version,
        }),
        _ => Ok(()),
    }
}

/// Who joins and who leaves when a group's members become `new` (ids `old` before).
pub(crate) fn member_diff(
    old: &std::collections::BTreeSet<String>,
    new: Vec<Member>,
) -> (Vec<Member>, Vec<String>) {
    let new_ids: std::collections::BTreeSet<&str> = new.iter().map(|m| m.value.as_str()).collect();
    let removed = old
        .iter()
        .filter(|m| !new_ids.contains(m.as_str()))
        .cloned()
        .collect();
    let added = new
        .into_iter()
        .filter(|m| !old.contains(&m.value))
        .collect();
    (added, removed)
}

/// The membership events of a change.
pub(crate) fn membership_events(added: &[Member], removed: &[String]) -> Vec<(EventKind, Value)> {
    let mut out = Vec::new();
    if !added.is_empty() {
        let ids: Vec<&str> = added.iter().map(|m| m.value.as_str()).collect();
        out.push((EventKind::MembersAdded, json!({"members": ids})));
    }
    if !removed.is_empty() {
        out.push((EventKind::MembersRemoved, json!({"members": removed})));
    }
    out
}

/// `n` as an SQL integer: counts and sequence numbers beyond `i64::MAX` (such as a limit of
/// `usize::MAX`, meaning "all") saturate instead of wrapping to a negative number.
pub(crate) fn sql_int<T: TryInto<i64>>(n: T) -> i64 {
    n.try_into().unwrap_or(i64::MAX)
}

/// One value of a `uniqueness: server` (or `global`) attribute of a resource, other than
/// `userName` (which has a column of its own) and `id` (the primary key), as the backends'
/// unique index stores it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct UniqueKey {
    /// The attribute's full path, lowercased: `urn:…:employeeNumber`, or
    /// `urn:…:badges.serial` for a sub-attribute.
    pub(crate) attr: String,
    /// The value: lowercased unless the attribute is caseExact; JSON text if not a string.
    pub(crate) value: String,
    /// How the error names the attribute and the value (as sent).
    pub(crate) shown_attr: String,
    pub(crate) shown_value: String,
}

impl UniqueKey {
    /// The error when another resource holds this value.
    pub(crate) fn taken(&self) -> StoreError {
        StoreError::Uniqueness {
            attribute: self.shown_attr.clone(),
            value: self.shown_value.clone(),
        }
    }
}

/// An attribute (or sub-attribute) with `uniqueness: server` or `global` of a resource type,
/// other than `userName` and `id`.
struct UniqueDef<'r> {
    /// The schema that defines it.
    urn: &'r str,
    /// Whether that schema is an extension (its attributes sit under the URN in a body).
    extension: bool,
    attr: &'r scimkit_schema::AttributeDef,
    sub: Option<&'r scimkit_schema::AttributeDef>,
}

impl UniqueDef<'_> {
    fn path(&self) -> String {
        match self.sub {
            Some(sub) => format!("{}:{}.{}", self.urn, self.attr.name, sub.name),
            None => format!("{}:{}", self.urn, self.attr.name),
        }
    }
}

fn unique_defs<'r>(bound: &scimkit_schema::Bound<'r>) -> Vec<UniqueDef<'r>> {
    use scimkit_schema::Uniqueness;
    let core_is_user = bound
        .core
        .id
        .eq_ignore_ascii_case(scimkit_schema::builtin::USER);
    let schemas = std::iter::once((bound.core, false))
        .chain(bound.extensions.iter().map(|(s, _)| (*s, true)));
    let mut out = Vec::new();
    for (schema, extension) in schemas {
        for attr in &schema.attributes {
            if !extension && core_is_user && attr.name.eq_ignore_ascii_case("userName") {
                continue; // the user_name column
            }
            if attr.sub_attributes.is_empty() {
                if attr.uniqueness != Uniqueness::None {
                    out.push(UniqueDef {
                        urn: &schema.id,
                        extension,
                        attr,
                        sub: None,
                    });
                }
                continue;
            }
            for sub in attr
                .sub_attributes
                .iter()
                .filter(|s| s.uniqueness != Uniqueness::None)
            {
                out.push(UniqueDef {
                    urn: &schema.id,
                    extension,
                    attr,
                    sub: Some(sub),
                });
            }
        }
    }
    out
}

/// Every (resource type, lowercased attribute path) the unique index covers for `registry`.
/// Backends record it, and re-index when it changes (a schema added or changed).
pub(crate) fn unique_attrs(
    registry: &scimkit_schema::Registry,
) -> std::collections::BTreeSet<(String, String)> {
    let mut out = std::collections::BTreeSet::new();
    for rt in registry.resource_types() {
        if let Some(bound) = registry.bind(&rt.name) {
            for def in unique_defs(&bound) {
                out.insert((rt.name.clone(), def.path().to_lowercase()));
            }
        }
    }
    out
}

/// The unique values of `body`, a resource of type `resource_type`, by the schemas in
/// `registry` (custom schemas and extensions included). `global` uniqueness is enforced like
/// `server`, within the tenant: across tenants it would let one tenant learn another's data.
pub(crate) fn unique_keys(
    registry: &scimkit_schema::Registry,
    resource_type: &str,
    body: &Map<String, Value>,
) -> Vec<UniqueKey> {
    use scimkit_schema::{AttributeDef, get_ignore_case};

    fn scalar(def: &AttributeDef, v: &Value) -> Option<(String, String)> {
        match v {
            Value::Null | Value::Array(_) | Value::Object(_) => None,
            Value::String(s) if def.case_exact => Some((s.clone(), s.clone())),
            Value::String(s) => Some((s.to_lowercase(), s.clone())),
            other => Some((other.to_string(), other.to_string())),
        }
    }
    fn items<'v>(def: &AttributeDef, v: &'v Value) -> Vec<&'v Value> {
        match v {
            Value::Array(items) if def.multi_valued => items.iter().collect(),
            other => vec![other],
        }
    }

    let Some(bound) = registry.bind(resource_type) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for def in unique_defs(&bound) {
        let holder = if def.extension {
            match get_ignore_case(body, def.urn) {
                Some(Value::Object(obj)) => obj,
                _ => continue,
            }
        } else {
            body
        };
        let Some(v) = get_ignore_case(holder, &def.attr.name) else {
            continue;
        };
        let path = def.path();
        for item in items(def.attr, v) {
            let found = match def.sub {
                None => scalar(def.attr, item),
                Some(sub) => item
                    .as_object()
                    .and_then(|o| get_ignore_case(o, &sub.name))
                    .and_then(|x| scalar(sub, x)),
            };
            if let Some((value, shown)) = found {
                out.push(UniqueKey {
                    attr: path.to_lowercase(),
                    value,
                    shown_attr: path.clone(),
                    shown_value: shown,
                });
            }
        }
    }
    // One resource may repeat a value (two equal entries of a multi-valued attribute).
    out.sort();
    out.dedup_by(|a, b| a.attr == b.attr && a.value == b.value);
    out
}
