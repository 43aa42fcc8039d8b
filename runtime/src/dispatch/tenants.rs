//! The tenants' listeners as routes: read from the registry whenever its generation moved,
//! loaded at their first event (through the precompiled cache, where their upload left
//! them compiled), and bounded per tenant.
//!
//! Before anything runs, an event must be in the tenant's scope (its buckets) and pass the
//! listener's filters (actions, resources, buckets, collections); then the delivery takes
//! one of the tenant's slots (`quotas.calls_in_flight`: none free, it ends `capacity`
//! without touching another tenant's). The listener runs under the effective policy: the
//! operator's rules, then the tenant's, then its own, each layer only narrowing, its queue
//! pushes confined to the tenant's prefix, its emails counted against the tenant's rate
//! (per minute and per day, all its listeners together), its limits capped by the tenant's ceilings as
//! they are now.
//!
//! A route is one version: a delivery runs the version active when it runs, so a retry
//! after a new `PUT` runs the new version.

use crate::config::Mode;
use crate::engine::longest_call;
use crate::engine::{
    CallReport, Capabilities, CompileChild, CompileError, Engine, Listener, ListenerSpec,
    LoadedComponent, Outcome,
};
use crate::event::{Action, Delivery, Event, Part};
use crate::limits::{LimitError, Limits};
use crate::policy::{EmailPolicy, EmailRate, EmailRules, QueuePolicy, QueueRules};
use crate::registry::{
    glob_matches, ListenerDefinition, ListenerVersion, Registry, RegistryError, Snapshot, Tenant,
    TenantId, TenantListener,
};
use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The operator's rules, the outermost layer of every tenant listener's policy.
#[derive(Debug, Clone)]
pub(crate) struct OperatorRules {
    /// `[email]`'s ceiling.
    pub email: EmailRules,
    /// `[email] default_sender`.
    pub default_sender: Option<String>,
    /// `[queue]`'s ceiling.
    pub queue: QueueRules,
    /// kinto-redis's list, which no listener may push to.
    pub input_list: String,
}

/// Where the tenants' components are, and how they load.
#[derive(Debug, Clone)]
pub(crate) struct Loader {
    /// The serving engine (its precompiled cache holds the uploads' artifacts).
    pub engine: Engine,
    /// Where a component compiles when its artifact is not in the cache.
    pub child: CompileChild,
    /// `<digest>.wasm` files.
    pub components_dir: PathBuf,
}

/// Why a tenant's listener could not be made ready: its deliveries end `unavailable`
/// (retried when async).
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadError {
    /// The component's file is gone or unreadable.
    #[error("cannot read component {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The component no longer loads (the compile child failed, say).
    #[error("cannot load its component: {0}")]
    Load(#[from] CompileError),
    /// Its limits no longer fit the engine.
    #[error("its limits: {0}")]
    Limits(#[from] LimitError),
}

/// One version of a tenant's listener, with its tenant as it was at that generation.
#[derive(Debug, Clone)]
pub(crate) struct TenantRoute {
    /// Whose.
    pub tenant: Arc<Tenant>,
    /// `tenant/name`: its name in records, logs and metrics.
    pub name: String,
    /// The active version's number.
    pub version: u32,
    /// Paused: a sync run skips it; the worker keeps its deliveries waiting.
    pub paused: bool,
    definition: Arc<ListenerDefinition>,
    actions: Vec<Action>,
}

impl TenantRoute {
    /// `version` of `listener`, of `tenant`.
    pub(crate) fn new(
        tenant: Arc<Tenant>,
        listener: &TenantListener,
        version: &ListenerVersion,
    ) -> TenantRoute {
        let actions = version.definition.actions.iter();
        TenantRoute {
            tenant,
            name: listener.qualified_name(),
            version: version.number,
            paused: listener.paused,
            actions: actions.filter_map(|a| a.parse().ok()).collect(),
            definition: Arc::new(version.definition.clone()),
        }
    }

    /// Sync or async.
    pub(crate) fn mode(&self) -> Mode {
        self.definition.mode
    }

    /// Whether `event` is in the tenant's scope and passes the listener's filters.
    pub(crate) fn wants(&self, event: &Event) -> bool {
        let d = &self.definition;
        let bucket = event.bucket_id.as_deref();
        let matches = |filter: &Option<Vec<String>>, value: Option<&str>| {
            filter.as_ref().is_none_or(|patterns| {
                value.is_some_and(|v| patterns.iter().any(|p| glob_matches(p, v)))
            })
        };
        self.tenant.covers(bucket)
            && self.actions.contains(&event.action)
            && d.resources
                .as_ref()
                .is_none_or(|r| r.contains(&event.resource_name))
            && matches(&d.buckets, bucket)
            && matches(&d.collections, event.collection_id.as_deref())
    }

    /// What its loaded listener is kept under: a new version or a change of its tenant
    /// (ceilings, lists, prefix) loads it again.
    fn key(&self) -> (String, u32, u64) {
        (self.name.clone(), self.version, self.tenant.revision)
    }
}

/// The routes of one registry generation.
#[derive(Debug, Default)]
struct Table {
    generation: Option<u64>,
    /// By tenant id, then listener name.
    routes: Vec<TenantRoute>,
}

impl Table {
    fn new(snapshot: Snapshot) -> Table {
        let tenants: HashMap<TenantId, Arc<Tenant>> = snapshot
            .tenants
            .into_iter()
            .filter(|t| !t.disabled)
            .map(|t| (t.id.clone(), Arc::new(t)))
            .collect();
        let routes = snapshot.listeners.into_iter().filter_map(|l| {
            let tenant = tenants.get(&l.tenant)?.clone();
            Some(TenantRoute::new(tenant, &l, l.active_version()?))
        });
        Table {
            generation: Some(snapshot.generation),
            routes: routes.collect(),
        }
    }
}

/// The tenants' listeners, kept current with the registry.
#[derive(Debug, Clone)]
pub(crate) struct TenantRoutes {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Registry,
    loader: Loader,
    capabilities: Capabilities,
    operator: OperatorRules,
    table: tokio::sync::Mutex<Arc<Table>>,
    loaded: Mutex<HashMap<(String, u32, u64), Listener>>,
    slots: Slots,
    /// Each tenant's email rate.
    rates: Mutex<HashMap<TenantId, Arc<EmailRate>>>,
}

impl TenantRoutes {
    pub(crate) fn new(
        registry: Registry,
        loader: Loader,
        capabilities: Capabilities,
        operator: OperatorRules,
    ) -> TenantRoutes {
        TenantRoutes {
            inner: Arc::new(Inner {
                registry,
                loader,
                capabilities,
                operator,
                table: tokio::sync::Mutex::new(Arc::default()),
                loaded: Mutex::default(),
                slots: Slots::default(),
                rates: Mutex::default(),
            }),
        }
    }

    /// The routes as of the registry's generation now: one read of the generation, and a
    /// snapshot when it moved.
    async fn current(&self) -> Result<Arc<Table>, RegistryError> {
        let registry = &self.inner.registry;
        let generation = registry.generation().await?;
        let mut table = self.inner.table.lock().await;
        if table.generation == Some(generation) {
            return Ok(table.clone());
        }
        let fresh = Arc::new(Table::new(registry.snapshot().await?));
        let routed: HashSet<_> = fresh.routes.iter().map(TenantRoute::key).collect();
        lock(&self.inner.loaded).retain(|key, _| routed.contains(key));
        *table = fresh.clone();
        Ok(fresh)
    }

    /// The routes of `mode` that `event` is for, by tenant id then listener name; paused
    /// ones included (a sync run skips them, the worker keeps their deliveries waiting).
    pub(crate) async fn for_event(
        &self,
        event: &Event,
        mode: Mode,
    ) -> Result<Vec<TenantRoute>, RegistryError> {
        let table = self.current().await?;
        let wanted = table.routes.iter();
        let wanted = wanted.filter(|r| r.mode() == mode && r.wants(event));
        Ok(wanted.cloned().collect())
    }

    /// Every async route (their due retries are taken per listener).
    pub(crate) async fn asynchronous(&self) -> Result<Vec<TenantRoute>, RegistryError> {
        let table = self.current().await?;
        let routes = table.routes.iter().filter(|r| r.mode() == Mode::Async);
        Ok(routes.cloned().collect())
    }

    /// Runs `route` on `event` from part `from`, in one of its tenant's slots; the reports
    /// name the version. No slot free: one `capacity` report; the listener not loadable:
    /// one `unavailable` report.
    pub(crate) async fn deliver_from(
        &self,
        route: &TenantRoute,
        event: &Event,
        delivery: &Delivery,
        from: u32,
    ) -> Vec<CallReport> {
        let part = Part {
            index: from,
            count: from,
        };
        let tenant = &route.tenant;
        let slot = self
            .inner
            .slots
            .take(&tenant.id, tenant.quotas.calls_in_flight);
        let mut reports = match slot {
            None => vec![CallReport::not_run(&route.name, part, Outcome::Capacity)],
            Some(_slot) => match self.listener(route).await {
                Ok(listener) => listener.deliver_from(event, delivery, from).await,
                Err(e) => {
                    tracing::warn!(listener = %route.name, version = route.version, error = %e, "a tenant's listener is unavailable");
                    let message = e.to_string();
                    let outcome = Outcome::Unavailable { message };
                    vec![CallReport::not_run(&route.name, part, outcome)]
                }
            },
        };
        for report in &mut reports {
            report.version = Some(route.version);
        }
        reports
    }

    /// Runs `route` on `event` as it would run, under its effective policy, on backends
    /// that only record: what it would send and push is in the reports, and nothing is
    /// sent (`invoke`). Loaded for this call alone, in none of the tenant's slots.
    pub(crate) async fn invoke(
        &self,
        route: &TenantRoute,
        event: &Event,
        delivery: &Delivery,
    ) -> Result<Vec<CallReport>, LoadError> {
        let loaded = self.load(route).await?;
        let spec = self.spec(route);
        let engine = &self.inner.loader.engine;
        let listener = engine.listener(&loaded, spec, Capabilities::record_only())?;
        let mut reports = listener.deliver(event, delivery).await;
        for report in &mut reports {
            report.version = Some(route.version);
        }
        Ok(reports)
    }

    /// How long a tenant's call within `limits` may run at most, on these backends.
    pub(crate) fn longest_call(&self, limits: &Limits) -> std::time::Duration {
        longest_call(limits.deadline, &self.inner.capabilities)
    }

    /// The tenant's email rate: one counter for all its listeners (a new one when the
    /// operator changed its bounds).
    fn rate(&self, tenant: &Tenant) -> Arc<EmailRate> {
        let q = &tenant.quotas;
        let bounds = (q.emails_per_minute, q.emails_per_day);
        let mut rates = lock(&self.inner.rates);
        let rate = rates
            .entry(tenant.id.clone())
            .or_insert_with(|| Arc::new(EmailRate::new(bounds.0, bounds.1)));
        if rate.bounds() != bounds {
            *rate = Arc::new(EmailRate::new(bounds.0, bounds.1));
        }
        rate.clone()
    }

    /// The route's listener: loaded once per version (and tenant revision), through the
    /// precompiled cache.
    async fn listener(&self, route: &TenantRoute) -> Result<Listener, LoadError> {
        let key = route.key();
        if let Some(listener) = lock(&self.inner.loaded).get(&key) {
            return Ok(listener.clone());
        }
        let loaded = self.load(route).await?;
        let spec = self.spec(route);
        let capabilities = self.inner.capabilities.clone();
        let listener = self
            .inner
            .loader
            .engine
            .listener(&loaded, spec, capabilities)?;
        lock(&self.inner.loaded).insert(key, listener.clone());
        Ok(listener)
    }

    /// The route's component, through the precompiled cache.
    async fn load(&self, route: &TenantRoute) -> Result<LoadedComponent, LoadError> {
        let loader = &self.inner.loader;
        let digest = &route.definition.component;
        let path = loader.components_dir.join(format!("{digest}.wasm"));
        let bytes = match tokio::fs::read(&path).await {
            Ok(bytes) => bytes,
            Err(source) => return Err(LoadError::Read { path, source }),
        };
        let loaded = loader.engine.load_apart(&route.name, &bytes, &loader.child);
        Ok(loaded.await?)
    }

    /// The route's effective rules: operator, then tenant, then listener.
    fn spec(&self, route: &TenantRoute) -> ListenerSpec {
        let operator = &self.inner.operator;
        let (tenant, definition) = (&route.tenant, &route.definition);
        let mut email = EmailPolicy::deny_all()
            .with_layer(operator.email.clone())
            .with_layer(tenant.quotas.email.clone())
            .with_layer(definition.email.clone());
        email.default_sender = operator.default_sender.clone();
        email.rate = Some(self.rate(tenant));
        let prefix = QueueRules {
            allowed: vec![format!("{}*", tenant.queue_prefix())],
        };
        let mut queue = QueuePolicy::deny_all()
            .reserving_input(&operator.input_list)
            .with_layer(operator.queue.clone())
            .with_layer(prefix)
            .with_layer(definition.queue.clone());
        queue.max_length = Some(tenant.quotas.max_queue_length);
        let limits = definition.limits.clone().unwrap_or_default();
        ListenerSpec {
            name: route.name.clone(),
            settings: definition.settings.clone(),
            limits: limits.capped_by(&tenant.quotas.limits),
            email,
            queue,
            calls_per_instance: NonZeroU32::MIN,
        }
    }
}

/// Each tenant's calls in flight: its own semaphore, sized by its quota.
#[derive(Debug, Default)]
struct Slots(Mutex<HashMap<TenantId, (u32, Arc<Semaphore>)>>);

impl Slots {
    /// One of `tenant`'s `bound` slots, if one is free (never another tenant's).
    fn take(&self, tenant: &TenantId, bound: u32) -> Option<OwnedSemaphorePermit> {
        let semaphore = {
            let mut slots = lock(&self.0);
            let fresh = || (bound, Arc::new(Semaphore::new(bound as usize)));
            let entry = slots.entry(tenant.clone()).or_insert_with(fresh);
            if entry.0 != bound {
                // The operator changed the bound: calls in flight keep their old slots.
                *entry = fresh();
            }
            entry.1.clone()
        };
        semaphore.try_acquire_owned().ok()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_at_its_bound_gets_no_slot_and_takes_none_of_another_tenants() {
        let slots = Slots::default();
        let (acme, beta): (TenantId, TenantId) = ("acme".parse().unwrap(), "beta".parse().unwrap());
        let first = slots.take(&acme, 2).expect("a first slot");
        let _second = slots.take(&acme, 2).expect("a second slot");
        assert!(slots.take(&acme, 2).is_none(), "acme is at its bound");
        let _beta = slots.take(&beta, 1).expect("beta's own slot");
        assert!(slots.take(&beta, 1).is_none(), "beta is at its bound");
        drop(first);
        let _again = slots.take(&acme, 2).expect("a slot freed is free again");
        assert!(slots.take(&acme, 3).is_some(), "a new bound: new slots");
    }
}
