//! The registry: which tenants exist, what they may use, and who they are (their API
//! tokens). Later: their listeners, at which version, and the components behind them.
//!
//! One job, one trait: [`RegistryStore`] keeps the records (the embedded store now,
//! `backends::embedded_registry`; Redis when every process must see the same registry);
//! [`Registry`] holds the rules (ids, bucket patterns, quota ceilings, revisions, token
//! issue and check) over any store. The operator's TOML listeners are not in it: they
//! are the operator's own, as before.
//!
//! Records are versioned JSON (`v`), as the durable queue's and the invocation log's, so
//! that a store is a map from keys to records with a compare-and-set on the tenant's
//! `revision`: what Redis offers too.
//!
//! # Layout
//! - `mod.rs`: [`Registry`], [`RegistryStore`], [`RegistryError`], [`Caller`].
//! - `tenant.rs`: [`Tenant`], its id, quotas and bucket scope.
//! - `token.rs`: API tokens: issue, prefix, hash, check.
//! - `component.rs`: uploaded components, content-addressed.

mod component;
mod tenant;
mod token;

pub use component::StoredComponent;
pub(crate) use component::{digest, COMPONENT_VERSION};

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

    /// The tenant's components, oldest first.
    async fn components(&self, tenant: &TenantId) -> Result<Vec<StoredComponent>, RegistryError>;
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
