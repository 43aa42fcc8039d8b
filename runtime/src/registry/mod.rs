//! The registry: which tenants exist, what they may use, who they are (their API tokens),
//! their components, their listeners at which version, and who changed what (the audit
//! log). A listener is registered here without being loaded: running the tenants'
//! listeners on events is the next step ("Tenants 1 of 3").
//!
//! One job, one trait: [`RegistryStore`] keeps the records (the embedded store now,
//! `backends::embedded_registry`; Redis when every process must see the same registry);
//! [`Registry`] holds the rules (ids, bucket patterns, quota ceilings, the queue prefix,
//! revisions, token issue and check, versions) over any store. The operator's TOML
//! listeners are not in it: they are the operator's own, as before.
//!
//! Records are versioned JSON (`v`), as the durable queue's and the invocation log's, so
//! that a store is a map from keys to records with a compare-and-set on a tenant's or a
//! listener's `revision`: what Redis offers too.
//!
//! # Layout
//! - `mod.rs`: [`Registry`], [`RegistryStore`], [`RegistryError`], [`Caller`].
//! - `tenant.rs`: [`Tenant`], its id, quotas and bucket scope.
//! - `token.rs`: API tokens: issue, prefix, hash, check.
//! - `component.rs`: uploaded components, content-addressed.
//! - `listener.rs`: a tenant's listeners and their versions.
//! - `audit.rs`: who changed what, and when.

mod audit;
mod component;
mod listener;
mod tenant;
mod token;

pub use audit::AuditEntry;
pub use listener::{ListenerDefinition, ListenerVersion, TenantListener, REDACTED};

pub use component::StoredComponent;
pub(crate) use component::{digest, COMPONENT_VERSION};

pub(crate) use tenant::glob_matches;
pub use tenant::{BadBucketPattern, BadTenantId, Quotas, Tenant, TenantChange, TenantId};
pub use token::{ApiToken, Issued, TokenScope};

pub(crate) use token::same_bytes;

use crate::limits::LimitError;
use crate::store::StoreError;
use std::sync::Arc;
use std::time::Duration;

/// Longest tenant name (the words, not the id).
const MAX_NAME_LEN: usize = 200;
/// Longest token label.
const MAX_LABEL_LEN: usize = 200;
/// Tenants one list answers at most.
pub(crate) const MAX_PAGE: usize = 1_000;

/// Where the registry's records live. Writes of a tenant compare its revision first, so
/// two processes changing one tenant cannot both win.
#[async_trait::async_trait]
pub trait RegistryStore: Send + Sync + std::fmt::Debug {
    /// The tenant `id`, if it exists.
    async fn tenant(&self, id: &TenantId) -> Result<Option<Tenant>, RegistryError>;

    /// Up to `limit` tenants whose ids sort after `after`, in id order.
    async fn tenants(
        &self,
        after: Option<&TenantId>,
        limit: usize,
    ) -> Result<Vec<Tenant>, RegistryError>;

    /// Writes `tenant` if the stored one is at revision `expected` (`None`: if there is
    /// none); else [`RegistryError::Conflict`].
    async fn put_tenant(&self, tenant: &Tenant, expected: Option<u64>)
        -> Result<(), RegistryError>;

    /// Deletes the tenant and its tokens; whether it existed.
    async fn delete_tenant(&self, id: &TenantId) -> Result<bool, RegistryError>;

    /// Writes a token's record (a new one, or a revoked one).
    async fn put_token(&self, token: &ApiToken) -> Result<(), RegistryError>;

    /// The token whose prefix is `prefix`, if any.
    async fn token(&self, prefix: &str) -> Result<Option<ApiToken>, RegistryError>;

    /// The tenant's tokens, revoked ones included, newest first.
    async fn tokens(&self, tenant: &TenantId) -> Result<Vec<ApiToken>, RegistryError>;

    /// Keeps a component's bytes (under its digest) and its record for its tenant.
    async fn put_component(
        &self,
        record: &StoredComponent,
        bytes: &[u8],
    ) -> Result<(), RegistryError>;

    /// Removes the tenant's record of component `digest`, and its bytes when no other
    /// tenant has a record of it, unless a version of the tenant's listeners names it:
    /// checked atomically with the removal, as [`RegistryStore::put_listener`] checks that
    /// the component of the version it activates is still the tenant's, so that a `PUT`
    /// racing a release either keeps the component or is refused. Whether it was removed.
    async fn remove_component(
        &self,
        tenant: &TenantId,
        digest: &str,
    ) -> Result<bool, RegistryError>;

    /// The tenant's components, oldest first.
    async fn components(&self, tenant: &TenantId) -> Result<Vec<StoredComponent>, RegistryError>;

    /// The tenant's listener `name`, if it exists.
    async fn listener(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<TenantListener>, RegistryError>;

    /// The tenant's listeners, in name order.
    async fn listeners(&self, tenant: &TenantId) -> Result<Vec<TenantListener>, RegistryError>;

    /// Writes `listener` if the stored one is at revision `expected` (`None`: if there is
    /// none), else [`RegistryError::ListenerConflict`]; and only if the component its
    /// active version runs is still the tenant's, else [`Invalid::UnknownComponent`].
    async fn put_listener(
        &self,
        listener: &TenantListener,
        expected: Option<u64>,
    ) -> Result<(), RegistryError>;

    /// Deletes the tenant's listener `name`; whether it existed.
    async fn delete_listener(&self, tenant: &TenantId, name: &str) -> Result<bool, RegistryError>;

    /// A number that moves with every change of a tenant or a listener (and only grows):
    /// a reader holding a [`Snapshot`] of this generation has the current routes.
    async fn generation(&self) -> Result<u64, RegistryError>;

    /// Every tenant and every listener, as of one generation.
    async fn snapshot(&self) -> Result<Snapshot, RegistryError>;

    /// Appends an entry to the audit log (its `seq` is the store's to give).
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), RegistryError>;

    /// Up to `limit` of the tenant's audit entries older than `before` (all: `None`),
    /// newest first, with their `seq`.
    async fn audit(
        &self,
        tenant: &TenantId,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, RegistryError>;
}

/// Every tenant and listener as of one [`RegistryStore::generation`]: what events are
/// routed by.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// The generation it was read at.
    pub generation: u64,
    /// Every tenant, in id order.
    pub tenants: Vec<Tenant>,
    /// Every listener, by tenant then name.
    pub listeners: Vec<TenantListener>,
}

/// Why a registry operation failed: the caller's mistake (each says what to do) or the
/// store's.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// No tenant has this id.
    #[error("no tenant `{0}`")]
    NoTenant(TenantId),
    /// A tenant with this id exists.
    #[error("tenant `{0}` exists already: change it with PATCH, or pick another id")]
    TenantExists(TenantId),
    /// The tenant has no token with this prefix.
    #[error("tenant `{tenant}` has no token `{prefix}`")]
    NoToken {
        /// The tenant.
        tenant: TenantId,
        /// The prefix asked for.
        prefix: String,
    },
    /// `If-Match` named another revision than the stored one.
    #[error("tenant `{id}` is at revision {current}, not {expected}: read it again and reapply the change")]
    Stale {
        /// The tenant.
        id: TenantId,
        /// The revision the change was made against.
        expected: u64,
        /// The stored revision.
        current: u64,
    },
    /// Another change of the same tenant won the race.
    #[error("tenant `{0}` changed while this change was made: read it again and retry")]
    Conflict(TenantId),
    /// The tenant has no listener of this name.
    #[error("tenant `{tenant}` has no listener `{name}`")]
    NoListener {
        /// The tenant.
        tenant: TenantId,
        /// The name asked for.
        name: String,
    },
    /// The listener has no (kept) version of this number.
    #[error("listener `{tenant}/{name}` has no version {version} (kept: {kept:?})")]
    NoVersion {
        /// The tenant.
        tenant: TenantId,
        /// The listener.
        name: String,
        /// The version asked for.
        version: u32,
        /// The versions kept.
        kept: Vec<u32>,
    },
    /// `If-Match` named another revision of the listener than the stored one.
    #[error("listener `{tenant}/{name}` is at revision {current}, not {expected}: read it again and reapply the change")]
    ListenerStale {
        /// The tenant.
        tenant: TenantId,
        /// The listener.
        name: String,
        /// The revision the change was made against.
        expected: u64,
        /// The stored revision.
        current: u64,
    },
    /// Another change of the same listener won the race.
    #[error(
        "listener `{tenant}/{name}` changed while this change was made: read it again and retry"
    )]
    ListenerConflict {
        /// The tenant.
        tenant: TenantId,
        /// The listener.
        name: String,
    },
    /// A field breaks a rule.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The store failed.
    #[error("registry: {0}")]
    Store(#[from] StoreError),
    /// A record does not encode, or a stored one does not decode.
    #[error("registry: unreadable record {key}: {source}")]
    Record {
        /// Which record.
        key: String,
        /// What serde said.
        source: serde_json::Error,
    },
    /// The system gave no randomness for a token.
    #[error("registry: no random bytes for a token: {0}")]
    Random(#[source] getrandom::Error),
}

/// A field that breaks a rule of the registry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// A tenant id against the rule.
    #[error(transparent)]
    Id(#[from] BadTenantId),
    /// A bucket pattern against the rule.
    #[error("buckets: {0}")]
    Bucket(#[from] BadBucketPattern),
    /// A per-call ceiling the engine cannot honour (zero, or over the engine's maximum).
    #[error("quotas.limits: {0}")]
    Limits(#[from] LimitError),
    /// A quota of zero where one is needed (`versions_kept`, `calls_in_flight`).
    #[error("quotas.{0} is 0: give at least 1")]
    ZeroQuota(&'static str),
    /// A text field over its length.
    #[error("{field} is over {max} characters")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its longest.
        max: usize,
    },
    /// A component over the tenant's size quota.
    #[error("the component is {size} bytes, over tenant `{tenant}`'s quota of {quota} (quotas.max_component_bytes): make it smaller, or ask the operator")]
    ComponentTooLarge {
        /// Whose.
        tenant: TenantId,
        /// Its size.
        size: u64,
        /// The quota.
        quota: u64,
    },
    /// Keeping the component would take the tenant past its stored-bytes quota.
    #[error("tenant `{tenant}` keeps {stored} bytes of components; {size} more would pass its quota of {quota} (quotas.max_stored_bytes): delete unused components, or ask the operator")]
    StoredTooMuch {
        /// Whose.
        tenant: TenantId,
        /// What it keeps.
        stored: u64,
        /// The new component's size.
        size: u64,
        /// The quota.
        quota: u64,
    },
    /// A listener name against the rule.
    #[error("`{0}` is not a listener name: use 1 to 64 of a-z, 0-9, `-` and `_`, starting with a letter")]
    ListenerName(String),
    /// A definition naming a component the tenant has not uploaded.
    #[error("component {0} is not one of the tenant's: upload it first (POST /v1/tenants/{{tenant}}/components)")]
    UnknownComponent(String),
    /// A sync listener of a tenant not granted sync.
    #[error("tenant `{0}` may not register sync listeners (they run inside Kinto's requests): use mode \"async\", or ask the operator for quotas.sync_allowed")]
    SyncNotGranted(TenantId),
    /// One listener more than the quota.
    #[error("tenant `{tenant}` has {max} listeners, its quota (quotas.max_listeners): delete one, or ask the operator")]
    TooManyListeners {
        /// The tenant.
        tenant: TenantId,
        /// The quota.
        max: u32,
    },
    /// A per-call limit over the tenant's ceiling.
    #[error("limits.{limit} = {value} is over tenant `{tenant}`'s ceiling of {ceiling} (quotas.limits.{limit}): lower it, or ask the operator")]
    OverCeiling {
        /// The tenant.
        tenant: TenantId,
        /// Which limit.
        limit: &'static str,
        /// The value asked for.
        value: u64,
        /// The ceiling.
        ceiling: u64,
    },
    /// A queue name or pattern outside the tenant's prefix.
    #[error("queue.allowed: `{pattern}` is outside tenant `{tenant}`'s queues: name queues starting with `{prefix}` (quotas.queue_prefix)")]
    QueueOutsidePrefix {
        /// The tenant.
        tenant: TenantId,
        /// The name or pattern asked for.
        pattern: String,
        /// The prefix.
        prefix: String,
    },
    /// An action Kinto does not have.
    #[error("actions: `{0}` is not an action: use create, update or delete")]
    BadAction(String),
    /// A token that would expire before it is issued.
    #[error(
        "expires_ms {expires_ms} is not after now ({now_ms}): give a time in the future, or none"
    )]
    ExpiryPast {
        /// The expiry asked for.
        expires_ms: u64,
        /// Now.
        now_ms: u64,
    },
}

/// Who is calling, once a token has been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The operator (the operator token, or no token where none is configured).
    Operator,
    /// A tenant, through one of its tokens.
    Tenant {
        /// Which tenant.
        id: TenantId,
        /// What the token may do.
        scope: TokenScope,
        /// The token's prefix (for the audit log).
        token: String,
    },
}

/// What the engine can honour, against which tenants' ceilings are checked.
#[derive(Debug, Clone, Copy)]
pub struct EngineBounds {
    /// `[engine] max_memory_bytes`.
    pub max_memory_bytes: u64,
    /// `[engine] epoch_tick_ms`.
    pub epoch_tick: Duration,
}

/// The registry's rules over a [`RegistryStore`].
#[derive(Debug, Clone)]
pub struct Registry {
    store: Arc<dyn RegistryStore>,
    bounds: EngineBounds,
}

impl Registry {
    /// A registry on `store`, checking ceilings against `bounds`.
    pub fn new(store: Arc<dyn RegistryStore>, bounds: EngineBounds) -> Registry {
        Registry { store, bounds }
    }

    /// Creates tenant `id` from `change` (missing fields take their defaults).
    pub async fn create_tenant(
        &self,
        id: TenantId,
        change: TenantChange,
        now_ms: u64,
    ) -> Result<Tenant, RegistryError> {
        let mut tenant = Tenant {
            v: tenant::TENANT_VERSION,
            id,
            name: String::new(),
            buckets: Vec::new(),
            quotas: Quotas::default(),
            disabled: false,
            revision: 1,
            created_ms: now_ms,
            updated_ms: now_ms,
        };
        self.apply(&mut tenant, change)?;
        match self.store.put_tenant(&tenant, None).await {
            Err(RegistryError::Conflict(id)) => Err(RegistryError::TenantExists(id)),
            done => done.map(|()| tenant),
        }
    }

    /// The tenant `id`.
    pub async fn tenant(&self, id: &TenantId) -> Result<Tenant, RegistryError> {
        let found = self.store.tenant(id).await?;
        found.ok_or_else(|| RegistryError::NoTenant(id.clone()))
    }

    /// Up to `limit` (at most [`MAX_PAGE`]) tenants after `after`, in id order.
    pub async fn tenants(
        &self,
        after: Option<&TenantId>,
        limit: usize,
    ) -> Result<Vec<Tenant>, RegistryError> {
        self.store.tenants(after, limit.clamp(1, MAX_PAGE)).await
    }

    /// Applies `change` to tenant `id`, if it is at revision `if_match` when one is given.
    pub async fn update_tenant(
        &self,
        id: &TenantId,
        change: TenantChange,
        if_match: Option<u64>,
        now_ms: u64,
    ) -> Result<Tenant, RegistryError> {
        let mut tenant = self.tenant(id).await?;
        let current = tenant.revision;
        if let Some(expected) = if_match.filter(|e| *e != current) {
            let id = id.clone();
            return Err(RegistryError::Stale {
                id,
                expected,
                current,
            });
        }
        self.apply(&mut tenant, change)?;
        tenant.revision = current + 1;
        tenant.updated_ms = now_ms;
        self.store.put_tenant(&tenant, Some(current)).await?;
        Ok(tenant)
    }

    /// Deletes tenant `id` and its tokens (which stop working at once).
    pub async fn delete_tenant(&self, id: &TenantId) -> Result<(), RegistryError> {
        match self.store.delete_tenant(id).await? {
            true => Ok(()),
            false => Err(RegistryError::NoTenant(id.clone())),
        }
    }

    /// Issues a token for tenant `id`: the secret is in the answer only.
    pub async fn issue_token(
        &self,
        id: &TenantId,
        scope: TokenScope,
        label: String,
        expires_ms: Option<u64>,
        now_ms: u64,
    ) -> Result<Issued, RegistryError> {
        self.tenant(id).await?;
        too_long("label", &label, MAX_LABEL_LEN)?;
        if let Some(expires_ms) = expires_ms.filter(|e| *e <= now_ms) {
            return Err(Invalid::ExpiryPast { expires_ms, now_ms }.into());
        }
        let issued = token::issue(id.clone(), scope, label, now_ms, expires_ms)
            .map_err(RegistryError::Random)?;
        self.store.put_token(&issued.record).await?;
        Ok(issued)
    }

    /// Tenant `id`'s tokens (revoked ones included), newest first.
    pub async fn tokens(&self, id: &TenantId) -> Result<Vec<ApiToken>, RegistryError> {
        self.tenant(id).await?;
        self.store.tokens(id).await
    }

    /// Revokes tenant `id`'s token `prefix`: it stops working at once. Revoking a revoked
    /// token changes nothing.
    pub async fn revoke_token(
        &self,
        id: &TenantId,
        prefix: &str,
        now_ms: u64,
    ) -> Result<ApiToken, RegistryError> {
        let no_token = || RegistryError::NoToken {
            tenant: id.clone(),
            prefix: prefix.to_owned(),
        };
        let mut token = self.store.token(prefix).await?.ok_or_else(no_token)?;
        if token.tenant != *id {
            return Err(no_token());
        }
        if token.revoked_ms.is_none() {
            token.revoked_ms = Some(now_ms);
            self.store.put_token(&token).await?;
        }
        Ok(token)
    }

    /// The tenant whose live token `given` is, if its tenant exists and is enabled;
    /// `None` for anything else (no such token, revoked, expired, disabled tenant).
    pub async fn authenticate(
        &self,
        given: &str,
        now_ms: u64,
    ) -> Result<Option<Caller>, RegistryError> {
        let Some(prefix) = token::prefix_of(given) else {
            return Ok(None);
        };
        let Some(record) = self.store.token(prefix).await? else {
            return Ok(None);
        };
        if !token::matches(&record, given) || !record.is_live(now_ms) {
            return Ok(None);
        }
        let enabled = self.store.tenant(&record.tenant).await?;
        if enabled.is_none_or(|t| t.disabled) {
            return Ok(None);
        }
        Ok(Some(Caller::Tenant {
            id: record.tenant,
            scope: record.scope,
            token: record.prefix,
        }))
    }

    /// Checks that tenant `id` may keep `size` more bytes of component: its size quota and
    /// its stored total. Returns the component it already has with `digest`, if any (an
    /// upload of the same bytes is the same component).
    pub async fn room_for(
        &self,
        id: &TenantId,
        digest: &str,
        size: u64,
    ) -> Result<Option<StoredComponent>, RegistryError> {
        let tenant = self.tenant(id).await?;
        let quotas = &tenant.quotas;
        if size > quotas.max_component_bytes {
            let (tenant, quota) = (id.clone(), quotas.max_component_bytes);
            return Err(Invalid::ComponentTooLarge {
                tenant,
                size,
                quota,
            }
            .into());
        }
        let kept = self.store.components(id).await?;
        if let Some(same) = kept.iter().find(|c| c.digest == digest) {
            return Ok(Some(same.clone()));
        }
        let stored: u64 = kept.iter().map(|c| c.size).sum();
        if stored.saturating_add(size) > quotas.max_stored_bytes {
            let (tenant, quota) = (id.clone(), quotas.max_stored_bytes);
            return Err(Invalid::StoredTooMuch {
                tenant,
                stored,
                size,
                quota,
            }
            .into());
        }
        Ok(None)
    }

    /// Keeps a checked component for its tenant (after [`Registry::room_for`]).
    pub async fn add_component(
        &self,
        record: &StoredComponent,
        bytes: &[u8],
    ) -> Result<(), RegistryError> {
        self.store.put_component(record, bytes).await
    }

    /// Tenant `id`'s components, oldest first.
    pub async fn components(&self, id: &TenantId) -> Result<Vec<StoredComponent>, RegistryError> {
        self.tenant(id).await?;
        self.store.components(id).await
    }

    /// Checks `definition` for tenant `id`'s listener `name` against every rule the
    /// registry knows (the name, the component, sync, the ceilings, the actions) and fills
    /// in the limits it omits. The component's own `validate-settings` is the caller's to
    /// run (it needs the engine) before [`Registry::put_listener`].
    pub async fn check_definition(
        &self,
        id: &TenantId,
        name: &str,
        mut definition: ListenerDefinition,
    ) -> Result<ListenerDefinition, RegistryError> {
        if !listener::is_listener_name(name) {
            return Err(Invalid::ListenerName(name.to_owned()).into());
        }
        let tenant = self.tenant(id).await?;
        let components = self.store.components(id).await?;
        if !components.iter().any(|c| c.digest == definition.component) {
            return Err(Invalid::UnknownComponent(definition.component).into());
        }
        if definition.mode == crate::config::Mode::Sync && !tenant.quotas.sync_allowed {
            return Err(Invalid::SyncNotGranted(id.clone()).into());
        }
        let prefix = tenant.queue_prefix();
        if let Some(outside) = definition
            .queue
            .allowed
            .iter()
            .find(|p| !p.starts_with(&prefix))
        {
            return Err(Invalid::QueueOutsidePrefix {
                tenant: id.clone(),
                pattern: outside.clone(),
                prefix,
            }
            .into());
        }
        let filters = [&definition.buckets, &definition.collections];
        for pattern in filters.into_iter().flatten().flatten() {
            tenant::check_bucket_pattern(pattern).map_err(Invalid::Bucket)?;
        }
        for action in &definition.actions {
            if action.parse::<crate::event::Action>().is_err() {
                return Err(Invalid::BadAction(action.clone()).into());
            }
        }
        let ceiling = &tenant.quotas.limits;
        let limits = match &definition.limits {
            Some(limits) => limits.clone(),
            None => crate::limits::Limits::default().capped_by(ceiling),
        };
        if let Some((limit, value, ceiling)) = limits.over(ceiling) {
            let tenant = id.clone();
            return Err(Invalid::OverCeiling {
                tenant,
                limit,
                value,
                ceiling,
            }
            .into());
        }
        let bounds = self.bounds;
        let checked = limits.check(bounds.max_memory_bytes, bounds.epoch_tick);
        checked.map_err(Invalid::Limits)?;
        definition.limits = Some(limits);
        Ok(definition)
    }

    /// Makes `definition` (checked) the next version of tenant `id`'s listener `name` and
    /// activates it; creates the listener if it is new (within the tenant's quota).
    /// Whether it was created.
    pub async fn put_listener(
        &self,
        id: &TenantId,
        name: &str,
        definition: ListenerDefinition,
        if_match: Option<u64>,
        by: String,
        now_ms: u64,
    ) -> Result<(TenantListener, bool), RegistryError> {
        let tenant = self.tenant(id).await?;
        let found = self.store.listener(id, name).await?;
        let created = found.is_none();
        let mut listener = match found {
            Some(l) => l,
            None => {
                let count = self.store.listeners(id).await?.len();
                let max = tenant.quotas.max_listeners;
                if count >= usize::try_from(max).unwrap_or(usize::MAX) {
                    let tenant = id.clone();
                    return Err(Invalid::TooManyListeners { tenant, max }.into());
                }
                TenantListener {
                    v: listener::LISTENER_VERSION,
                    tenant: id.clone(),
                    name: name.to_owned(),
                    active: 0,
                    paused: false,
                    revision: 0,
                    versions: Vec::new(),
                }
            }
        };
        let expected = (!created).then_some(listener.revision);
        check_revision(&listener, if_match)?;
        let kept = tenant.quotas.versions_kept;
        let dropped = listener.push(definition, now_ms, by, None, kept);
        listener.revision += 1;
        self.store.put_listener(&listener, expected).await?;
        self.release(id, &dropped).await?;
        Ok((listener, created))
    }

    /// See [`RegistryStore::generation`].
    pub async fn generation(&self) -> Result<u64, RegistryError> {
        self.store.generation().await
    }

    /// See [`RegistryStore::snapshot`].
    pub async fn snapshot(&self) -> Result<Snapshot, RegistryError> {
        self.store.snapshot().await
    }

    /// Tenant `id`'s listener `name`.
    pub async fn listener(
        &self,
        id: &TenantId,
        name: &str,
    ) -> Result<TenantListener, RegistryError> {
        self.tenant(id).await?;
        let found = self.store.listener(id, name).await?;
        found.ok_or_else(|| RegistryError::NoListener {
            tenant: id.clone(),
            name: name.to_owned(),
        })
    }

    /// Tenant `id`'s listeners, in name order.
    pub async fn listeners(&self, id: &TenantId) -> Result<Vec<TenantListener>, RegistryError> {
        self.tenant(id).await?;
        self.store.listeners(id).await
    }

    /// Activates version `version`'s definition again, as a new version.
    pub async fn rollback(
        &self,
        id: &TenantId,
        name: &str,
        version: u32,
        if_match: Option<u64>,
        by: String,
        now_ms: u64,
    ) -> Result<TenantListener, RegistryError> {
        let tenant = self.tenant(id).await?;
        let mut listener = self.listener(id, name).await?;
        check_revision(&listener, if_match)?;
        let Some(earlier) = listener.versions.iter().find(|v| v.number == version) else {
            return Err(RegistryError::NoVersion {
                tenant: id.clone(),
                name: name.to_owned(),
                version,
                kept: listener.versions.iter().map(|v| v.number).collect(),
            });
        };
        let definition = earlier.definition.clone();
        let expected = Some(listener.revision);
        let kept = tenant.quotas.versions_kept;
        let dropped = listener.push(definition, now_ms, by, Some(version), kept);
        listener.revision += 1;
        self.store.put_listener(&listener, expected).await?;
        self.release(id, &dropped).await?;
        Ok(listener)
    }

    /// Pauses or resumes tenant `id`'s listener `name`.
    pub async fn set_paused(
        &self,
        id: &TenantId,
        name: &str,
        paused: bool,
    ) -> Result<TenantListener, RegistryError> {
        let mut listener = self.listener(id, name).await?;
        if listener.paused != paused {
            let expected = Some(listener.revision);
            listener.paused = paused;
            listener.revision += 1;
            self.store.put_listener(&listener, expected).await?;
        }
        Ok(listener)
    }

    /// Deletes tenant `id`'s listener `name` and its versions.
    pub async fn delete_listener(&self, id: &TenantId, name: &str) -> Result<(), RegistryError> {
        let listener = self.listener(id, name).await?;
        match self.store.delete_listener(id, name).await? {
            true => self.release(id, &listener.versions).await,
            false => Err(RegistryError::NoListener {
                tenant: id.clone(),
                name: name.to_owned(),
            }),
        }
    }

    /// Removes the tenant's components that `gone` (versions dropped or deleted) used and
    /// no version of its listeners uses any more (their bytes too, when no other tenant
    /// has them). A component uploaded and not used yet is never removed.
    async fn release(&self, id: &TenantId, gone: &[ListenerVersion]) -> Result<(), RegistryError> {
        if gone.is_empty() {
            return Ok(());
        }
        let listeners = self.store.listeners(id).await?;
        let used: std::collections::HashSet<&str> = listeners
            .iter()
            .flat_map(|l| l.versions.iter())
            .map(|v| v.definition.component.as_str())
            .collect();
        let mut released = std::collections::BTreeSet::new();
        for version in gone {
            let digest = version.definition.component.as_str();
            if !used.contains(digest) && released.insert(digest) {
                self.store.remove_component(id, digest).await?;
            }
        }
        Ok(())
    }

    /// Appends `entry` to the audit log.
    pub async fn record(&self, entry: &AuditEntry) -> Result<(), RegistryError> {
        self.store.append_audit(entry).await
    }

    /// Up to `limit` (at most 1,000) of tenant `id`'s audit entries older than `before`,
    /// newest first. A deleted tenant's history stays readable by the operator.
    pub async fn audit(
        &self,
        id: &TenantId,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, RegistryError> {
        let limit = limit.clamp(1, audit::MAX_AUDIT_PAGE);
        self.store.audit(id, before, limit).await
    }

    /// Applies `change` to `tenant`, checking every rule.
    fn apply(&self, tenant: &mut Tenant, change: TenantChange) -> Result<(), Invalid> {
        if let Some(name) = change.name {
            too_long("name", &name, MAX_NAME_LEN)?;
            tenant.name = name;
        }
        if let Some(buckets) = change.buckets {
            for pattern in &buckets {
                tenant::check_bucket_pattern(pattern)?;
            }
            tenant.buckets = buckets;
        }
        if let Some(quotas) = change.quotas {
            let bounds = self.bounds;
            quotas
                .limits
                .check(bounds.max_memory_bytes, bounds.epoch_tick)?;
            if quotas.versions_kept == 0 {
                return Err(Invalid::ZeroQuota("versions_kept"));
            }
            if quotas.calls_in_flight == 0 {
                return Err(Invalid::ZeroQuota("calls_in_flight"));
            }
            tenant.quotas = quotas;
        }
        if let Some(disabled) = change.disabled {
            tenant.disabled = disabled;
        }
        Ok(())
    }
}

fn too_long(field: &'static str, text: &str, max: usize) -> Result<(), Invalid> {
    match text.chars().count() > max {
        true => Err(Invalid::TooLong { field, max }),
        false => Ok(()),
    }
}

/// Refuses a change made against another revision than `listener`'s.
fn check_revision(listener: &TenantListener, if_match: Option<u64>) -> Result<(), RegistryError> {
    match if_match.filter(|e| *e != listener.revision) {
        Some(expected) => Err(RegistryError::ListenerStale {
            tenant: listener.tenant.clone(),
            name: listener.name.clone(),
            expected,
            current: listener.revision,
        }),
        None => Ok(()),
    }
}
