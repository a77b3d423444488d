//! The host application's API: whether a user may get in, and with which roles.
//!
//! `GET /app/v1/{tenant}/access?userName=…` (or `id`, `externalId`, `email`) answers what an
//! application asks at login and on session refresh: does the user exist, is it active, which
//! groups is it in (directly and through nested groups), and which roles does that give it.
//! It reads the directory as it is now, so a user deprovisioned while an event was lost still
//! cannot start a session. `GET`/`PUT /app/v1/{tenant}/role-rules` read and replace the
//! tenant's group-to-role rules. The same calls are Rust methods of [`Scim`]. The API takes
//! tokens of scope `app` ([`Scim::issue_app_token`]); SCIM tokens do not open it, nor app
//! tokens the SCIM API.

use std::collections::{BTreeMap, BTreeSet};

use http::{Method, StatusCode};
use scimkit_schema::{ScimError, ScimType};
use scimkit_store::{GroupRef, Query, Stored};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::service::{Call, Failure, Outcome, Reply, Scim};

/// Where the app API lives: `/app/v1/{tenant}/…`.
pub(crate) const APP_PATH: &str = "/app/v1/";

/// How the application names a user.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UserKey {
    /// The SCIM `id`.
    Id(String),
    /// `userName` (case-insensitive).
    UserName(String),
    /// `externalId`.
    ExternalId(String),
    /// One of the user's `emails` (case-insensitive); several users with it is an error.
    Email(String),
}

/// Which groups a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum GroupMatch {
    /// Groups with this `displayName` (case-insensitive, as RFC 7643 defines it).
    DisplayName(String),
    /// The group with this `externalId`.
    ExternalId(String),
    /// The group with this `id`.
    Id(String),
}

/// A group-to-role rule: members of a matching group (directly or through nested groups)
/// get these roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RoleRule {
    /// Which groups.
    pub group: GroupMatch,
    /// The roles their members get.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The entitlements their members get.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entitlements: Vec<String>,
}

impl RoleRule {
    /// Members of groups matching `group` get `roles`.
    pub fn new(group: GroupMatch, roles: Vec<String>) -> Self {
        Self {
            group,
            roles,
            entitlements: Vec::new(),
        }
    }

    /// The same, also granting `entitlements`.
    pub fn with_entitlements(mut self, entitlements: Vec<String>) -> Self {
        self.entitlements = entitlements;
        self
    }
}

/// What a rule grants: roles or entitlements (RFC 7643's two multi-valued User attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grant {
    Roles,
    Entitlements,
}

impl Grant {
    /// The User attribute and what the rule grants of it.
    fn attribute(self) -> &'static str {
        match self {
            Self::Roles => "roles",
            Self::Entitlements => "entitlements",
        }
    }

    fn of(self, rule: &RoleRule) -> &[String] {
        match self {
            Self::Roles => &rule.roles,
            Self::Entitlements => &rule.entitlements,
        }
    }
}

/// A group the user is in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct AccessGroup {
    /// The group's id.
    pub id: String,
    /// Its `displayName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<String>,
    /// A direct member, or through nested groups.
    pub direct: bool,
}

/// The answer to an access check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Access {
    /// Whether the directory has the user. A deleted user does not exist.
    pub exists: bool,
    /// Whether the user is active: it exists and `active` is not false (a user the IdP sent
    /// without `active` is active).
    pub active: bool,
    /// The user's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Its `userName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// Its groups, direct and nested, by id.
    pub groups: Vec<AccessGroup>,
    /// Its effective roles, sorted: the `roles` values the IdP set on the user, and the roles
    /// the tenant's rules give its groups. Derived at each check, never stored.
    pub roles: Vec<String>,
    /// Its effective entitlements, sorted, derived the same way.
    pub entitlements: Vec<String>,
}

impl Access {
    fn nobody() -> Self {
        Self {
            exists: false,
            active: false,
            id: None,
            user_name: None,
            groups: Vec::new(),
            roles: Vec::new(),
            entitlements: Vec::new(),
        }
    }
}

impl Scim {
    /// Checks whether a user may get in, and with which roles (see the module docs).
    pub async fn access(&self, tenant: &str, key: &UserKey) -> Result<Access, ScimError> {
        self.access_inner(tenant, key).await.map_err(|f| f.error)
    }

    async fn access_inner(&self, tenant: &str, key: &UserKey) -> Result<Access, Failure> {
        let store = &self.inner.store;
        let found = match key {
            // The user as stored: its groups are read once, below.
            UserKey::Id(id) => store.load(tenant, "User", id).await?,
            other => {
                let filter = match other {
                    UserKey::UserName(v) => format!("userName eq {}", quote(v)),
                    UserKey::ExternalId(v) => format!("externalId eq {}", quote(v)),
                    UserKey::Email(v) => format!("emails.value eq {}", quote(v)),
                    UserKey::Id(_) => unreachable!("handled above"),
                };
                let page = store
                    .search(tenant, "User", &Query::filter(&filter)?.page(1, 2))
                    .await?;
                if page.total > 1 {
                    return Err(Failure::typed(
                        ScimType::Uniqueness,
                        format!(
                            "{} users match {filter}; name the user by id, userName or externalId",
                            page.total
                        ),
                    ));
                }
                page.resources.into_iter().next()
            }
        };
        let Some(user) = found else {
            return Ok(Access::nobody());
        };
        let groups: Vec<GroupRef> = store.groups_of(tenant, &user.id).await?;
        let rules = self.role_rules_inner(tenant).await?;
        let roles = self
            .grants_with(tenant, &user, &groups, &rules, Grant::Roles)
            .await?;
        let entitlements = self
            .grants_with(tenant, &user, &groups, &rules, Grant::Entitlements)
            .await?;
        Ok(Access {
            exists: true,
            active: user.body.get("active").and_then(Value::as_bool) != Some(false),
            id: Some(user.id.clone()),
            user_name: user
                .body
                .get("userName")
                .and_then(Value::as_str)
                .map(str::to_owned),
            groups: groups
                .into_iter()
                .map(|g| AccessGroup {
                    id: g.id,
                    display: g.display,
                    direct: g.direct,
                })
                .collect(),
            roles,
            entitlements,
        })
    }

    /// The user's roles under `rules`.
    async fn roles_with(
        &self,
        tenant: &str,
        user: &Stored,
        groups: &[GroupRef],
        rules: &[RoleRule],
    ) -> Result<Vec<String>, Failure> {
        self.grants_with(tenant, user, groups, rules, Grant::Roles)
            .await
    }

    /// The user's own values of the granted attribute, and what the rules give its groups.
    async fn grants_with(
        &self,
        tenant: &str,
        user: &Stored,
        groups: &[GroupRef],
        rules: &[RoleRule],
        grant: Grant,
    ) -> Result<Vec<String>, Failure> {
        let mut roles: BTreeSet<String> = user
            .body
            .get(grant.attribute())
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r.get("value").and_then(Value::as_str))
            .map(str::to_owned)
            .collect();
        if rules.is_empty() || groups.is_empty() {
            return Ok(roles.into_iter().collect());
        }
        // externalIds are read only when a rule names one.
        let by_external = rules
            .iter()
            .any(|r| matches!(r.group, GroupMatch::ExternalId(_)));
        for g in groups {
            let external = if by_external {
                self.inner
                    .store
                    .load(tenant, "Group", &g.id)
                    .await?
                    .and_then(|s| {
                        s.body
                            .get("externalId")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
            } else {
                None
            };
            for rule in rules {
                let applies = match &rule.group {
                    GroupMatch::Id(id) => *id == g.id,
                    GroupMatch::DisplayName(name) => g
                        .display
                        .as_deref()
                        .is_some_and(|d| d.to_lowercase() == name.to_lowercase()),
                    GroupMatch::ExternalId(e) => external.as_deref() == Some(e.as_str()),
                };
                if applies {
                    roles.extend(grant.of(rule).iter().cloned());
                }
            }
        }
        Ok(roles.into_iter().collect())
    }

    /// Replaces the tenant's group-to-role rules. Access checks use them at once.
    pub async fn set_role_rules(&self, tenant: &str, rules: &[RoleRule]) -> Result<(), ScimError> {
        self.set_role_rules_inner(tenant, rules, None)
            .await
            .map_err(|f| f.error)
    }

    pub(crate) async fn set_role_rules_inner(
        &self,
        tenant: &str,
        rules: &[RoleRule],
        token_id: Option<&str>,
    ) -> Result<(), Failure> {
        let value = serde_json::to_value(rules).map_err(|e| {
            Failure::typed(
                ScimType::InvalidValue,
                format!("the rules do not serialize: {e}"),
            )
        })?;
        let old = self.role_rules_inner(tenant).await?;
        // The users whose roles may change: those under a group either set of rules names.
        let mut groups = BTreeSet::new();
        for rule in old.iter().chain(rules) {
            groups.extend(self.groups_matching(tenant, &rule.group).await?);
        }
        let users = self
            .users_under(tenant, groups.into_iter().collect())
            .await?;
        let before = self.roles_of(tenant, &users, &old).await?;
        self.inner
            .store
            .set_role_rules(tenant, (!rules.is_empty()).then_some(&value))
            .await?;
        let after = self.roles_of(tenant, &users, rules).await?;
        self.emit_role_changes(tenant, &before, &after, token_id)
            .await
    }

    /// The groups a rule's match names.
    async fn groups_matching(&self, tenant: &str, m: &GroupMatch) -> Result<Vec<String>, Failure> {
        let filter = match m {
            GroupMatch::Id(id) => return Ok(vec![id.clone()]),
            GroupMatch::DisplayName(v) => format!("displayName eq {}", quote(v)),
            GroupMatch::ExternalId(v) => format!("externalId eq {}", quote(v)),
        };
        let page = self
            .inner
            .store
            .search(tenant, "Group", &Query::filter(&filter)?)
            .await?;
        Ok(page.resources.into_iter().map(|g| g.id).collect())
    }

    /// The users among `roots` and under them through group membership (cycles end).
    pub(crate) async fn users_under(
        &self,
        tenant: &str,
        roots: Vec<String>,
    ) -> Result<BTreeSet<String>, Failure> {
        let store = &self.inner.store;
        let mut users = BTreeSet::new();
        let mut seen = BTreeSet::new();
        let mut todo = roots;
        while let Some(id) = todo.pop() {
            if !seen.insert(id.clone()) {
                continue;
            }
            if store.load(tenant, "User", &id).await?.is_some() {
                users.insert(id);
            } else if store.load(tenant, "Group", &id).await?.is_some() {
                todo.extend(store.member_ids(tenant, &id).await?);
            }
        }
        Ok(users)
    }

    /// The effective roles of `users` under `rules`, as the directory is now.
    async fn roles_of(
        &self,
        tenant: &str,
        users: &BTreeSet<String>,
        rules: &[RoleRule],
    ) -> Result<BTreeMap<String, BTreeSet<String>>, Failure> {
        let store = &self.inner.store;
        let mut out = BTreeMap::new();
        for id in users {
            let roles = match store.load(tenant, "User", id).await? {
                Some(user) => {
                    let groups = store.groups_of(tenant, id).await?;
                    self.roles_with(tenant, &user, &groups, rules).await?
                }
                None => Vec::new(),
            };
            out.insert(id.clone(), roles.into_iter().collect());
        }
        Ok(out)
    }

    /// A `roles_changed` event for each user whose roles differ.
    async fn emit_role_changes(
        &self,
        tenant: &str,
        before: &BTreeMap<String, BTreeSet<String>>,
        after: &BTreeMap<String, BTreeSet<String>>,
        token_id: Option<&str>,
    ) -> Result<(), Failure> {
        let empty = BTreeSet::new();
        let ids: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
        for id in ids {
            let (old, new) = (
                before.get(id).unwrap_or(&empty),
                after.get(id).unwrap_or(&empty),
            );
            if old == new {
                continue;
            }
            let data = json!({
                "roles": new,
                "added": new.difference(old).collect::<Vec<_>>(),
                "removed": old.difference(new).collect::<Vec<_>>(),
            });
            let mut ctx = scimkit_store::Ctx::at(self.inner.env.timestamp());
            if let Some(t) = token_id {
                ctx = ctx.with_token(t);
            }
            self.inner
                .store
                .append_event(
                    tenant,
                    scimkit_store::EventKind::RolesChanged,
                    "User",
                    id,
                    &data,
                    &ctx,
                )
                .await?;
        }
        Ok(())
    }

    /// Before a change that can move users' roles (a membership or a group's name): the
    /// roles of the users under `roots`, or `None` when the tenant has no rules.
    pub(crate) async fn role_snapshot(
        &self,
        tenant: &str,
        roots: Vec<String>,
    ) -> Result<Option<RoleSnapshot>, Failure> {
        let rules = self.role_rules_inner(tenant).await?;
        if rules.is_empty() || roots.is_empty() {
            return Ok(None);
        }
        let users = self.users_under(tenant, roots.clone()).await?;
        let before = self.roles_of(tenant, &users, &rules).await?;
        Ok(Some(RoleSnapshot {
            roots,
            rules,
            before,
        }))
    }

    /// After the change: a `roles_changed` event for each user under the roots (then or now)
    /// whose roles moved.
    pub(crate) async fn finish_role_snapshot(
        &self,
        tenant: &str,
        snapshot: Option<RoleSnapshot>,
        token_id: Option<&str>,
    ) -> Result<(), Failure> {
        let Some(snap) = snapshot else {
            return Ok(());
        };
        let mut users = self.users_under(tenant, snap.roots).await?;
        users.extend(snap.before.keys().cloned());
        let after = self.roles_of(tenant, &users, &snap.rules).await?;
        self.emit_role_changes(tenant, &snap.before, &after, token_id)
            .await
    }

    /// The tenant's group-to-role rules.
    pub async fn role_rules(&self, tenant: &str) -> Result<Vec<RoleRule>, ScimError> {
        self.role_rules_inner(tenant).await.map_err(|f| f.error)
    }

    async fn role_rules_inner(&self, tenant: &str) -> Result<Vec<RoleRule>, Failure> {
        match self.inner.store.role_rules(tenant).await? {
            None => Ok(Vec::new()),
            Some(v) => serde_json::from_value(v).map_err(|e| {
                Failure::new(500, None, format!("the stored role rules do not read: {e}"))
            }),
        }
    }
}

/// How a tenant's users come to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum JitMode {
    /// Only the IdP creates users (by SCIM); a login of an unknown user is refused.
    #[default]
    ScimOnly,
    /// Only logins create users; SCIM writes to `/Users` are refused (403).
    JitOnly,
    /// Both: a login of an unknown user creates it, and when the IdP later pushes the same
    /// person by SCIM, the JIT-created record is adopted instead of duplicated.
    Hybrid,
}

/// A key that identifies a person across a login and the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum JitKey {
    /// The login's `subject` against `externalId`.
    ExternalId,
    /// The login's `userName` (or its email when it has none) against `userName`.
    UserName,
    /// The login's email, only when the IdP verified it, against `emails`.
    Email,
}

/// A tenant's just-in-time provisioning settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct JitSettings {
    /// How users come to be.
    pub mode: JitMode,
    /// The keys a login is matched by, in order.
    pub keys: Vec<JitKey>,
}

impl Default for JitSettings {
    fn default() -> Self {
        Self {
            mode: JitMode::ScimOnly,
            keys: vec![JitKey::ExternalId, JitKey::UserName, JitKey::Email],
        }
    }
}

impl JitSettings {
    /// Settings with `mode` and the default key order (externalId, userName, email).
    pub fn new(mode: JitMode) -> Self {
        Self {
            mode,
            ..Self::default()
        }
    }
}

/// What the application knows of a user logging in (the SSO claims).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Login {
    /// The IdP's stable subject (OIDC `sub`, SAML `NameID`).
    pub subject: String,
    /// The email claim.
    #[serde(default)]
    pub email: Option<String>,
    /// Whether the IdP verified the email.
    #[serde(default)]
    pub email_verified: bool,
    /// A user name claim, if any.
    #[serde(default)]
    pub user_name: Option<String>,
    /// Given name.
    #[serde(default)]
    pub given_name: Option<String>,
    /// Family name.
    #[serde(default)]
    pub family_name: Option<String>,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
}

/// What a login did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct LoginOutcome {
    /// Whether the login created the user.
    pub created: bool,
    /// The key an existing user was found by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_by: Option<JitKey>,
    /// The access check of the user (`exists: false` when refused).
    pub access: Access,
}

/// The origin recorded for users created by a login, and for JIT users the IdP adopted.
pub(crate) const ORIGIN_JIT: &str = "jit";
pub(crate) const ORIGIN_ADOPTED: &str = "scim-adopted";

impl Scim {
    /// Sets the tenant's just-in-time provisioning settings.
    pub async fn set_jit(&self, tenant: &str, settings: &JitSettings) -> Result<(), ScimError> {
        let value = serde_json::to_value(settings).unwrap_or_default();
        self.inner
            .store
            .set_jit(tenant, Some(&value))
            .await
            .map_err(|e| e.to_scim_error())
    }

    /// The tenant's just-in-time provisioning settings (`scim-only` unless set).
    pub async fn jit(&self, tenant: &str) -> Result<JitSettings, ScimError> {
        self.jit_inner(tenant).await.map_err(|f| f.error)
    }

    pub(crate) async fn jit_inner(&self, tenant: &str) -> Result<JitSettings, Failure> {
        match self.inner.store.jit(tenant).await? {
            None => Ok(JitSettings::default()),
            Some(v) => serde_json::from_value(v).map_err(|e| {
                Failure::new(
                    500,
                    None,
                    format!("the stored JIT settings do not read: {e}"),
                )
            }),
        }
    }

    /// A login: finds the user by the tenant's keys in order, or, when the tenant allows it,
    /// creates it (marked as created just in time); answers its access check.
    pub async fn login(&self, tenant: &str, login: &Login) -> Result<LoginOutcome, ScimError> {
        self.login_inner(tenant, login, None)
            .await
            .map_err(|f| f.error)
    }

    pub(crate) async fn login_inner(
        &self,
        tenant: &str,
        login: &Login,
        token_id: Option<&str>,
    ) -> Result<LoginOutcome, Failure> {
        if login.subject.trim().is_empty() {
            return Err(Failure::typed(
                ScimType::InvalidValue,
                "a login needs its `subject`",
            ));
        }
        let settings = self.jit_inner(tenant).await?;
        for key in &settings.keys {
            let value = match key {
                JitKey::ExternalId => Some(login.subject.clone()),
                JitKey::UserName => login.user_name.clone().or_else(|| login.email.clone()),
                JitKey::Email => login.email.clone().filter(|_| login.email_verified),
            };
            let Some(value) = value else { continue };
            let lookup = match key {
                JitKey::ExternalId => UserKey::ExternalId(value),
                JitKey::UserName => UserKey::UserName(value),
                JitKey::Email => UserKey::Email(value),
            };
            match self.access_inner(tenant, &lookup).await {
                Ok(access) if access.exists => {
                    return Ok(LoginOutcome {
                        created: false,
                        matched_by: Some(*key),
                        access,
                    });
                }
                Ok(_) => {}
                // Several users with the email: not a match to link by.
                Err(f) if f.error.scim_type == Some(ScimType::Uniqueness) => {}
                Err(f) => return Err(f),
            }
        }
        if settings.mode == JitMode::ScimOnly {
            return Ok(LoginOutcome {
                created: false,
                matched_by: None,
                access: Access::nobody(),
            });
        }
        let user_name = login
            .user_name
            .clone()
            .or_else(|| login.email.clone())
            .unwrap_or_else(|| login.subject.clone());
        let mut body = json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user_name,
            "externalId": login.subject,
            "active": true,
        });
        if let Some(email) = &login.email {
            body["emails"] = json!([{"value": email, "type": "work", "primary": true}]);
        }
        if login.given_name.is_some() || login.family_name.is_some() {
            body["name"] = json!({"givenName": login.given_name, "familyName": login.family_name});
        }
        if let Some(d) = &login.display_name {
            body["displayName"] = json!(d);
        }
        let (_, resource) = self.inner.registry.normalize(
            Some("User"),
            body,
            scimkit_schema::Mode::Create,
            &scimkit_schema::NormalizeOptions::lenient(),
        )?;
        let id = self.inner.env.new_id();
        let mut ctx = scimkit_store::Ctx::at(self.inner.env.timestamp());
        if let Some(t) = token_id {
            ctx = ctx.with_token(t);
        }
        self.inner
            .store
            .create(tenant, "User", &id, resource, &ctx)
            .await?;
        self.inner
            .store
            .set_origin(tenant, &id, Some(ORIGIN_JIT))
            .await?;
        Ok(LoginOutcome {
            created: true,
            matched_by: None,
            access: self.access_inner(tenant, &UserKey::Id(id)).await?,
        })
    }
}

/// Roles before a change, to compare with after it.
#[derive(Debug)]
pub(crate) struct RoleSnapshot {
    roots: Vec<String>,
    rules: Vec<RoleRule>,
    before: BTreeMap<String, BTreeSet<String>>,
}

fn quote(v: &str) -> String {
    Value::String(v.to_owned()).to_string()
}

/// The schema of the draft's Role resource (draft-ietf-scim-roles-entitlements-01 §3.2).
pub const ROLE_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Role";

/// The schema of the draft's Entitlement resource (§3.3).
pub const ENTITLEMENT_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Entitlement";

/// The values the tenant's rules grant, as the roles and entitlements draft's Role or
/// Entitlement resources (read-only; `id` is the value).
pub(crate) async fn offered(
    scim: &Scim,
    tenant: &str,
    grant: Grant,
) -> Result<Vec<Value>, Failure> {
    let schema = match grant {
        Grant::Roles => ROLE_SCHEMA,
        Grant::Entitlements => ENTITLEMENT_SCHEMA,
    };
    let values: BTreeSet<String> = scim
        .role_rules_inner(tenant)
        .await?
        .iter()
        .flat_map(|r| grant.of(r).to_vec())
        .collect();
    Ok(values
        .into_iter()
        .map(|v| {
            json!({
                "schemas": [schema],
                "id": v,
                "value": v,
                "display": v,
                "supported": true,
            })
        })
        .collect())
}

/// `GET {base}/{tenant}/Roles[/{id}]` or `/Entitlements[/{id}]` on the SCIM API, for IdPs to
/// offer the values.
pub(crate) async fn serve_offered(
    scim: &Scim,
    call: &Call,
    grant: Grant,
    id: Option<&str>,
) -> Outcome {
    let items = offered(scim, &call.tenant, grant).await?;
    match id {
        Some(id) => items
            .into_iter()
            .find(|r| r["id"] == id)
            .map(|r| Reply::json(StatusCode::OK, r))
            .ok_or_else(|| Failure::new(404, None, format!("no {} {id}", grant.attribute()))),
        None => {
            let n = items.len() as u64;
            Ok(Reply::json(
                StatusCode::OK,
                serde_json::to_value(scimkit_schema::messages::ListResponse::new(items, n, 1))
                    .unwrap_or_default(),
            ))
        }
    }
}

/// `/app/v1/{tenant}/{what…}`.
pub(crate) async fn serve(scim: &Scim, call: &Call, what: &[String]) -> Outcome {
    let seg: Vec<&str> = what.iter().map(String::as_str).collect();
    match seg.as_slice() {
        ["access"] => {
            if call.method != Method::GET {
                return Err(not_allowed("GET"));
            }
            let keys = [
                ("id", UserKey::Id as fn(String) -> UserKey),
                ("userName", UserKey::UserName),
                ("externalId", UserKey::ExternalId),
                ("email", UserKey::Email),
            ];
            let given: Vec<UserKey> = keys
                .iter()
                .filter_map(|(name, make)| call.param(name).map(|v| make(v.to_owned())))
                .collect();
            let [key] = given.as_slice() else {
                return Err(Failure::typed(
                    ScimType::InvalidValue,
                    "name the user with exactly one of the parameters id, userName, externalId or email",
                ));
            };
            let access = scim.access_inner(&call.tenant, key).await?;
            Ok(Reply::json(
                StatusCode::OK,
                serde_json::to_value(access).unwrap_or_default(),
            ))
        }
        ["logins"] => {
            if call.method != Method::POST {
                return Err(not_allowed("POST"));
            }
            let body = crate::resources::json_body(call)?;
            let login: Login = serde_json::from_value(body).map_err(|e| {
                Failure::typed(
                    ScimType::InvalidSyntax,
                    format!("send {{\"subject\": \"…\", \"email\": \"…\", \"emailVerified\": true, …}}: {e}"),
                )
            })?;
            let outcome = scim
                .login_inner(&call.tenant, &login, Some(&call.token_id))
                .await?;
            Ok(Reply::json(
                StatusCode::OK,
                serde_json::to_value(outcome).unwrap_or_default(),
            ))
        }
        ["jit"] => match call.method {
            Method::GET => Ok(Reply::json(
                StatusCode::OK,
                serde_json::to_value(scim.jit_inner(&call.tenant).await?).unwrap_or_default(),
            )),
            Method::PUT => {
                let body = crate::resources::json_body(call)?;
                let settings: JitSettings = serde_json::from_value(body).map_err(|e| {
                    Failure::typed(
                        ScimType::InvalidSyntax,
                        format!("send {{\"mode\": \"scim-only\" | \"jit-only\" | \"hybrid\", \"keys\": [\"externalId\", \"userName\", \"email\"]}}: {e}"),
                    )
                })?;
                scim.set_jit(&call.tenant, &settings)
                    .await
                    .map_err(|error| Failure {
                        error,
                        headers: Vec::new(),
                    })?;
                Ok(Reply::json(
                    StatusCode::OK,
                    serde_json::to_value(settings).unwrap_or_default(),
                ))
            }
            _ => Err(not_allowed("GET, PUT")),
        },
        ["role-rules"] => match call.method {
            Method::GET => {
                let rules = scim.role_rules_inner(&call.tenant).await?;
                Ok(Reply::json(StatusCode::OK, json!({"rules": rules})))
            }
            Method::PUT => {
                let body = crate::resources::json_body(call)?;
                let rules: Vec<RoleRule> = serde_json::from_value(
                    body.get("rules").cloned().unwrap_or(Value::Null),
                )
                .map_err(|e| {
                    Failure::typed(
                        ScimType::InvalidSyntax,
                        format!(
                            "send {{\"rules\": [{{\"group\": {{\"displayName\": \"…\"}}, \"roles\": [\"…\"]}}]}} (or externalId, id): {e}"
                        ),
                    )
                })?;
                scim.set_role_rules_inner(&call.tenant, &rules, Some(&call.token_id))
                    .await?;
                Ok(Reply::json(StatusCode::OK, json!({"rules": rules})))
            }
            _ => Err(not_allowed("GET, PUT")),
        },
        ["reports", "deprovisioning"] => crate::reports::serve_deprovisioning(scim, call).await,
        ["reports", "reconciliation"] => crate::reconcile::serve(scim, call).await,
        _ => Err(Failure::new(
            404,
            None,
            "no such endpoint: the app API serves /access, /logins, /jit, /role-rules, /reports/deprovisioning and /reports/reconciliation",
        )),
    }
}

fn not_allowed(allow: &str) -> Failure {
    Failure::new(405, None, format!("this endpoint answers {allow}"))
        .with_header(http::header::ALLOW, allow)
}
