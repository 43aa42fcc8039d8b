//! The running service: turns a configuration into the engine, the backends, the listeners
//! and the HTTP API, and serves until told to stop.

use crate::api::{self, AppState, CompileQueue, Deliveries, MetricsSource, Uploads};
use crate::backends::{
    EmbeddedDelivery, EmbeddedQueue, EmbeddedRegistry, OutboxBackend, RedisDelivery, RedisQueue,
    SmtpBackend,
};
use crate::config::{Config, ListenerConfig, Mode, Secret};
use crate::delivery::{
    AsyncRoute, Clock, DeliveryQueue, Enqueuer, RetrySchedule, SystemClock, Worker, WorkerSettings,
};
use crate::dispatch::{Dispatcher, Loader, OperatorRules, Route, TenantRoutes};
use crate::engine::{
    ArtifactCacheConfig, Capabilities, CompileChild, Engine, EngineConfig, ListenerSpec,
};
use crate::event::Input;
use crate::host::{EmailBackend, QueueBackend};
use crate::invocations::{InvocationSettings, InvocationStore, Recorder};
use crate::metrics::Metrics;
use crate::policy::{EmailPolicy, QueuePolicy};
use crate::registry::{EngineBounds, Registry};
use crate::store::Store;
use anyhow::{bail, Context};
use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// A service ready to serve: every listener loaded, checked and bound to its backends.
#[derive(Debug, Clone)]
pub struct Service {
    state: Arc<AppState>,
    listeners: usize,
    /// The async listeners' worker, when the durable queue is the embedded store: `serve`
    /// runs it beside the API (on Redis, `wasm-listeners worker` processes run it).
    worker: Option<Worker>,
}

impl Service {
    /// Builds everything `serve` needs. Refuses, naming the listener, when a component
    /// fails its check or its settings are refused; never because Redis or the SMTP server
    /// is down (they are reached on first use).
    pub async fn build(config: &Config) -> anyhow::Result<Service> {
        let listeners = Listeners::set_up(config).await?;
        let metrics = Arc::new(Metrics::new());
        let log = Service::invocation_store(config)?;
        let recorder = recorder(config, log.clone());
        // The embedded store's file, opened once: the registry's, and the durable queue's
        // when no Redis is configured.
        let store = Store::open(config.store_path())?;
        let registry = registry(config, &store);
        // Uploaded components compile apart and load through the precompiled cache.
        let uploads = match listeners.engine.config().artifacts {
            Some(_) => Some(Uploads {
                engine: listeners.engine.clone(),
                components_dir: store.components_dir(),
                child: CompileChild::current()
                    .context("finding the running binary for the compile child")?,
                // Half the cores compile (one thread each), the rest keep serving.
                compiles: CompileQueue::new(
                    std::thread::available_parallelism().map_or(1, |n| n.get() / 2),
                ),
            }),
            None => None,
        };
        let tenants = uploads.as_ref().map(|u| {
            let loader = Loader {
                engine: u.engine.clone(),
                child: u.child.clone(),
                components_dir: u.components_dir.clone(),
            };
            let capabilities = listeners.capabilities.clone();
            TenantRoutes::new(
                registry.clone(),
                loader,
                capabilities,
                operator_rules(config),
            )
        });
        let (queue, worker) = if listeners.asynchronous.is_empty() && tenants.is_none() {
            (None, None)
        } else if config.delivery_redis().is_none() {
            // The embedded store: this process owns its queue and runs its worker.
            let embedded = EmbeddedDelivery::new(store);
            embedded.recover().await?;
            let queue: Arc<dyn DeliveryQueue> = Arc::new(embedded);
            let routes = listeners.asynchronous.clone();
            let clock = Arc::new(SystemClock);
            let (m, r) = (metrics.clone(), recorder.clone());
            let w = worker(config, routes, tenants.clone(), queue.clone(), clock, m, r)?;
            (Some(queue), Some(w))
        } else {
            (Some(Service::delivery_queue(config)?), None)
        };
        let metrics_source = MetricsSource {
            metrics: metrics.clone(),
            engine: listeners.engine.clone(),
            queue: queue
                .clone()
                .map(|q| (q, listeners.inputs(tenants.is_some()))),
            token: off_loopback_token(config, config.server.listen)?,
        };
        let (enqueuer, deliveries) = match queue {
            Some(queue) => {
                let asynchronous = listeners.asynchronous.iter();
                let takes_runtime = asynchronous
                    .clone()
                    .filter(|r| r.inputs.contains(&Input::Runtime));
                let enqueuer = Enqueuer::new(
                    queue.clone(),
                    takes_runtime.map(|r| r.route.clone()).collect(),
                    tenants.clone(),
                );
                let names = asynchronous
                    .map(|r| r.route.listener.name().to_owned())
                    .collect();
                (
                    Some(enqueuer),
                    Some(Deliveries {
                        queue,
                        listeners: names,
                    }),
                )
            }
            None => (None, None),
        };
        let state = AppState {
            dispatcher: Dispatcher::new(listeners.sync, tenants.clone(), metrics, recorder),
            tenants,
            invocations: log.map(|log| (log, listener_names(config))),
            metrics: Arc::new(metrics_source),
            enqueuer,
            deliveries,
            operator_token: config.server.operator_token.clone(),
            registry,
            uploads,
            max_body_bytes: config.server.max_body_bytes,
        };
        Ok(Service {
            state: Arc::new(state),
            listeners: config.listeners.len(),
            worker,
        })
    }

    /// Builds the worker of the configuration's async listeners, reading due times from
    /// `clock`. Refuses a configuration without async listeners, and a `claim_idle_ms`
    /// shorter than the longest delivery.
    pub async fn worker(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Worker> {
        Ok(Service::worker_with_metrics(config, clock).await?.0)
    }

    /// [`Service::worker`], and what its `GET /metrics` reads.
    pub(crate) async fn worker_with_metrics(
        config: &Config,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<(Worker, MetricsSource)> {
        let listeners = Listeners::set_up(config).await?;
        // The tenants' listeners, from the registry beside the configuration's data.
        let tenants = match listeners.engine.config().artifacts {
            Some(_) => {
                let store = Store::open(config.store_path())?;
                let registry = registry(config, &store);
                let loader = Loader {
                    engine: listeners.engine.clone(),
                    child: CompileChild::current()
                        .context("finding the running binary for the compile child")?,
                    components_dir: store.components_dir(),
                };
                let capabilities = listeners.capabilities.clone();
                Some(TenantRoutes::new(
                    registry,
                    loader,
                    capabilities,
                    operator_rules(config),
                ))
            }
            None => None,
        };
        let queue = match listeners.queue(config)? {
            Some(queue) => queue,
            None if tenants.is_some() => Service::delivery_queue(config)?,
            None => bail!("no listener is mode = \"async\" and tenants are off ([engine] precompiled = false): the worker has nothing to run"),
        };
        let metrics = Arc::new(Metrics::new());
        let recorder = recorder(config, Service::invocation_store(config)?);
        let source = MetricsSource {
            metrics: metrics.clone(),
            engine: listeners.engine.clone(),
            queue: Some((queue.clone(), listeners.inputs(tenants.is_some()))),
            token: None,
        };
        let routes = listeners.asynchronous;
        let worker = worker(config, routes, tenants, queue, clock, metrics, recorder)?;
        Ok((worker, source))
    }

    /// Where the invocation log is kept: Redis when one is configured, else the embedded
    /// store; none when `[invocations] enabled = false`.
    pub fn invocation_store(config: &Config) -> anyhow::Result<Option<Arc<dyn InvocationStore>>> {
        if !config.invocations.enabled {
            return Ok(None);
        }
        let store: Arc<dyn InvocationStore> = match config.delivery_redis() {
            Some((url, cluster)) => Arc::new(RedisDelivery::new(
                url,
                cluster,
                &config.delivery.kinto_redis_list,
            )?),
            None => Arc::new(EmbeddedDelivery::new(Store::open(
                config.invocation_log_path(),
            )?)),
        };
        Ok(Some(store))
    }

    /// The durable queue alone (to list and replay dead letters): on Redis when one is
    /// configured, else in the embedded store.
    pub fn delivery_queue(config: &Config) -> anyhow::Result<Arc<dyn DeliveryQueue>> {
        let Some((url, cluster)) = config.delivery_redis() else {
            let store = Store::open(config.store_path())?;
            return Ok(Arc::new(EmbeddedDelivery::new(store)));
        };
        Ok(Arc::new(RedisDelivery::new(
            url,
            cluster,
            &config.delivery.kinto_redis_list,
        )?))
    }

    /// Serves the API on `socket` until `shutdown` resolves, then finishes the requests in
    /// flight. The caller owns the socket (port 0 in tests) and the shutdown signal. With
    /// the embedded durable queue, the async listeners' worker runs beside the API and
    /// stops with it (its calls in flight finish within the shutdown grace).
    pub async fn run(
        self,
        socket: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let address = socket.local_addr()?;
        let listeners = self.listeners;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let until_stopped = move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            }
        };
        let worker = self.worker.map(|w| {
            tracing::info!(inputs = ?w.inputs(), "running the async listeners on the embedded store");
            tokio::spawn(w.run(until_stopped()))
        });
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        tracing::info!(%address, listeners, "serving on http://{address}");
        axum::serve(socket, api::router(self.state))
            .with_graceful_shutdown(until_stopped())
            .await
            .context("serving HTTP")?;
        if let Some(worker) = worker {
            worker.await.context("the worker task failed")?;
        }
        tracing::info!("stopped");
        Ok(())
    }
}

/// The worker of `routes` on `queue`, with the configuration's `[delivery]` settings;
/// refuses a `claim_idle_ms` shorter than the longest delivery.
fn worker(
    config: &Config,
    routes: Vec<AsyncRoute>,
    tenants: Option<TenantRoutes>,
    queue: Arc<dyn DeliveryQueue>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    recorder: Recorder,
) -> anyhow::Result<Worker> {
    let d = &config.delivery;
    let mut settings = WorkerSettings {
        batch: d.batch,
        lanes: d.lanes,
        claim_idle: Duration::ZERO,
        max_dead: d.max_dead_letters,
        max_rejected: d.max_rejected,
        max_entry_bytes: d.max_entry_bytes,
        shutdown_grace: Duration::from_millis(d.shutdown_grace_ms),
        max_in_flight: usize::try_from(config.engine.max_instances).unwrap_or(usize::MAX),
        tenant_schedule: RetrySchedule {
            pauses: d.retry_schedule.clone(),
            jitter: d.jitter,
        },
    };
    let with_tenants = |worker: Worker| match &tenants {
        Some(t) => worker.with_tenants(t.clone()),
        None => worker,
    };
    let probe = with_tenants(Worker::new(
        queue.clone(),
        routes.clone(),
        settings.clone(),
        clock.clone(),
        metrics.clone(),
        Recorder::disabled(),
    ));
    let min = probe.min_claim_idle();
    settings.claim_idle = match d.claim_idle_ms.map(Duration::from_millis) {
        Some(set) if set < min => bail!(
            "[delivery] claim_idle_ms = {} is shorter than the longest delivery ({} ms: every part of a {}-byte entry, each call up to its deadline and backstop): another worker would take entries still running",
            set.as_millis(), min.as_millis(), d.max_entry_bytes
        ),
        Some(set) => set,
        None => min,
    };
    Ok(with_tenants(Worker::new(
        queue, routes, settings, clock, metrics, recorder,
    )))
}

/// The registry in `store`, under the engine's bounds.
fn registry(config: &Config, store: &Store) -> Registry {
    Registry::new(
        Arc::new(EmbeddedRegistry::new(store.clone())),
        EngineBounds {
            max_memory_bytes: config.engine.max_memory_bytes(),
            epoch_tick: config.engine.epoch_tick(),
        },
    )
}

/// The operator's rules, the outer layer of every tenant listener's policy.
fn operator_rules(config: &Config) -> OperatorRules {
    OperatorRules {
        email: config.email.ceiling(),
        default_sender: config.email.default_sender.clone(),
        queue: config.queue.ceiling(),
        input_list: config.delivery.kinto_redis_list.clone(),
    }
}

/// The recorder writing to `log` with the configuration's retention; one that keeps
/// nothing without a log.
fn recorder(config: &Config, log: Option<Arc<dyn InvocationStore>>) -> Recorder {
    let Some(log) = log else {
        return Recorder::disabled();
    };
    let c = &config.invocations;
    let settings = InvocationSettings {
        max_age: c.max_age,
        max_per_listener: c.max_per_listener,
        log_bytes: c.log_bytes,
        listeners: listener_names(config),
    };
    Recorder::start(log, settings)
}

/// Every configured listener's name.
fn listener_names(config: &Config) -> Vec<String> {
    config.listeners.iter().map(|l| l.name.clone()).collect()
}

/// The operator token `GET /metrics` requires when served on `listen` off loopback (then
/// a token must be configured); none on loopback.
pub(crate) fn off_loopback_token(
    config: &Config,
    listen: std::net::SocketAddr,
) -> anyhow::Result<Option<Secret>> {
    if listen.ip().is_loopback() {
        return Ok(None);
    }
    match &config.server.operator_token {
        Some(token) => Ok(Some(token.clone())),
        None => bail!("metrics on {listen}, off loopback, need [server] operator_token: scrapers send it as a bearer token"),
    }
}

/// Every listener of a configuration, loaded, checked and bound, split by mode.
struct Listeners {
    engine: Engine,
    capabilities: Capabilities,
    sync: Vec<Route>,
    asynchronous: Vec<AsyncRoute>,
}

impl Listeners {
    async fn set_up(config: &Config) -> anyhow::Result<Listeners> {
        let engine = Engine::new(engine_config(config))?;
        let capabilities = capabilities(config)?;
        let mut listeners = Listeners {
            engine: engine.clone(),
            capabilities: capabilities.clone(),
            sync: Vec::new(),
            asynchronous: Vec::new(),
        };
        for l in &config.listeners {
            let route = set_up(&engine, config, l, &capabilities).await;
            let route = route.with_context(|| format!("listener `{}`", l.name))?;
            match l.mode {
                Mode::Sync => listeners.sync.push(route),
                Mode::Async => listeners.asynchronous.push(AsyncRoute {
                    route,
                    inputs: l.inputs(),
                    schedule: RetrySchedule {
                        pauses: l
                            .retry_schedule
                            .clone()
                            .unwrap_or_else(|| config.delivery.retry_schedule.clone()),
                        jitter: config.delivery.jitter,
                    },
                }),
            }
        }
        Ok(listeners)
    }

    /// The inputs some async listener takes: the runtime's too when tenants are served
    /// (theirs take it).
    fn inputs(&self, tenants: bool) -> Vec<Input> {
        let mut inputs = Vec::new();
        if tenants {
            inputs.push(Input::Runtime);
        }
        for input in self
            .asynchronous
            .iter()
            .flat_map(|r| r.inputs.iter().copied())
        {
            if !inputs.contains(&input) {
                inputs.push(input);
            }
        }
        inputs
    }

    /// The durable queue, when some listener is async.
    fn queue(&self, config: &Config) -> anyhow::Result<Option<Arc<dyn DeliveryQueue>>> {
        if self.asynchronous.is_empty() {
            return Ok(None);
        }
        Service::delivery_queue(config).map(Some)
    }
}

/// `[engine]` as the engine's settings.
fn engine_config(config: &Config) -> EngineConfig {
    EngineConfig {
        max_instances: config.engine.max_instances,
        max_memory_bytes: config.engine.max_memory_bytes(),
        idle_instance_limit: Duration::from_millis(config.engine.idle_instance_ms),
        epoch_tick: config.engine.epoch_tick(),
        artifacts: config
            .engine
            .precompiled
            .then(|| ArtifactCacheConfig::under(&config.server.data_dir)),
        ..EngineConfig::default()
    }
}

/// The engine's view of a listener: its own rules under the operator's ceilings.
fn spec(config: &Config, l: &ListenerConfig) -> ListenerSpec {
    let mut email = EmailPolicy::deny_all()
        .with_layer(config.email.ceiling())
        .with_layer(l.email.clone());
    email.default_sender = config.email.default_sender.clone();
    let queue = QueuePolicy::deny_all()
        .reserving_input(&config.delivery.kinto_redis_list)
        .with_layer(config.queue.ceiling())
        .with_layer(l.queue.clone());
    ListenerSpec {
        name: l.name.clone(),
        settings: l.settings.clone(),
        limits: l.limits.clone(),
        email,
        queue,
        calls_per_instance: NonZeroU32::new(l.calls_per_instance).unwrap_or(NonZeroU32::MIN),
    }
}

/// The backends: SMTP when `[email.smtp]` is set, else the outbox folder; Redis when
/// `[queue] redis_url` is set, else the embedded store.
fn capabilities(config: &Config) -> anyhow::Result<Capabilities> {
    let email: Arc<dyn EmailBackend> = match &config.email.smtp {
        Some(smtp) => Arc::new(SmtpBackend::new(smtp)?),
        None => Arc::new(OutboxBackend::new(config.outbox())?),
    };
    let queue: Arc<dyn QueueBackend> = match &config.queue.redis_url {
        Some(url) if config.queue.redis_cluster => Arc::new(RedisQueue::cluster(url)?),
        Some(url) => Arc::new(RedisQueue::new(url)?),
        None => Arc::new(EmbeddedQueue::new(Store::open(config.store_path())?)),
    };
    Ok(Capabilities { email, queue })
}

async fn set_up(
    engine: &Engine,
    config: &Config,
    l: &ListenerConfig,
    capabilities: &Capabilities,
) -> anyhow::Result<Route> {
    let path = l.component.display();
    let bytes = std::fs::read(&l.component).with_context(|| format!("cannot read {path}"))?;
    let name = l.component.file_name().map(|n| n.to_string_lossy());
    let loaded = engine
        .load_named(name.as_deref().unwrap_or(&l.name), &bytes)
        .await
        .with_context(|| format!("{path}"))?;
    let listener = engine.listener(&loaded, spec(config, l), capabilities.clone())?;
    let verdict = listener.validate_settings().await;
    if !verdict.outcome.is_ok() {
        bail!("its settings were refused: {}", verdict.outcome);
    }
    tracing::info!(
        listener = %l.name,
        component = %path,
        mode = ?l.mode,
        actions = ?l.actions.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        resources = ?l.resources,
        "listener set up"
    );
    Ok(Route {
        listener,
        actions: l.actions.clone(),
        resources: l.resources.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_listener_gets_its_rules_under_the_operator_ceiling() {
        let text = "[email]\nallowed_recipients = [\"example.org\"]\ndefault_sender = \"k@example.org\"\n[[listener]]\nname = \"a\"\ncomponent = \"a.wasm\"\n[listener.email]\nallowed_senders = [\"*\"]\nallowed_recipients = [\"ops@example.org\", \"x@other.org\"]\n";
        let config = Config::parse(text, Path::new("/etc/wl")).unwrap();
        let spec = spec(&config, &config.listeners[0]);
        assert!(spec.email.permits_recipient("ops@example.org"));
        assert!(
            !spec.email.permits_recipient("x@other.org"),
            "the ceiling holds"
        );
        assert_eq!(spec.email.default_sender.as_deref(), Some("k@example.org"));
        assert!(
            spec.queue.refusal("events").is_some(),
            "no queue by default"
        );
    }
}
