//! The sandboxed engine: compiles components, checks them against the contract, and runs
//! calls under fuel, memory and wall-clock limits.
//!
//! One [`Engine`] per process: a wasmtime engine with the pooling allocator, a linker with
//! WASI (deny-by-default) and the four capabilities, and a thread that advances the epoch
//! for deadlines. [`Engine::load`] checks and pre-instantiates a component;
//! [`Engine::listener`] binds it to a name, settings, limits, policies and backends.

//!
//! # Layout
//! - `mod.rs`: [`Engine`], its configuration and its epoch thread.
//! - `check.rs`: is this a listener component? ([`CheckError`]).
//! - `proposals.rs`: the WebAssembly proposals a listener may use, each decision and why.
//! - `deadline.rs`: a call's deadline, checked against the clock at every epoch tick.
//! - `artifact.rs`: precompiled components on disk, authenticated; the one module of the
//!   crate allowed `unsafe` (wasmtime's deserialisation).
//! - `apart.rs`: compiling in a child process under CPU, memory and wall-clock limits.
//! - `listener.rs`: [`Listener`], a component bound to its configuration, and one call.
//! - `state.rs`: the store's data and the linker (WASI granting nothing, the capabilities).
//! - `warm.rs`: instances kept between calls, for listeners that opt in.
//! - `limiter.rs`: the memory limit of one call.
//! - `convert.rs`: host types to the generated WIT types.
//! - `outcome.rs`: the one place traps and limits become an [`Outcome`].

mod apart;
mod artifact;
mod check;
mod convert;
mod deadline;
mod limiter;
mod listener;
mod outcome;
mod proposals;
mod state;
mod warm;

pub(crate) use apart::child_main as compile_child_main;
pub use apart::{CompileChild, CompileError};
pub use artifact::ArtifactCacheConfig;
pub use check::{CheckError, ComponentInfo};
pub(crate) use listener::longest_call;
pub use listener::{Capabilities, Listener, ListenerSpec};
pub use outcome::{CallReport, ErrorKind, Outcome, OutcomeKind, UnknownOutcome};

use crate::bindings::ListenerPre;
use crate::limits::{
    LimitError, DEFAULT_EPOCH_TICK, DEFAULT_IDLE_INSTANCE_LIMIT, DEFAULT_MAX_INSTANCES,
    DEFAULT_MAX_MEMORY_BYTES,
};
use crate::progress::Compiling;
use artifact::ArtifactCache;
use state::HostState;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Enabled, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Bytes of each memory slot kept resident between calls: resetting them costs less than
/// unmapping and faulting them in again (17-19 µs per event instead of 27-38 µs).
const DEFAULT_KEEP_RESIDENT_BYTES: usize = 2 << 20;
/// Bytes of each table slot reset in place with `memset` between calls instead of
/// `madvise`d away. Buys: together with eager table initialisation
/// ([`EAGER_TABLE_INIT`]), two concurrent calls went from 29,000 to 53,000 calls/s for
/// `send-email` on 2 cores (BENCHMARKS.md; `madvise` on a table slot is a TLB shootdown
/// across cores). Costs: the touched part of a used table slot stays resident, at most
/// 1 MiB a slot; a Rust guest's tables fill a few KiB. 64 KiB was tried for Python and
/// JavaScript guests (many larger tables): within noise for them in a full run, and the
/// Rust engine rows read lower in the run after it (bench/runs/engine): reverted.
const TABLE_KEEP_RESIDENT_BYTES: usize = 1 << 20;
/// Slots decommitted together, one `madvise` pass instead of one a slot. Buys: two
/// concurrent `queue-forward` calls went from 38,000 to 51,000 calls/s with the table
/// knobs on (little without them). Costs: up to `batch - 1` freed slots a CPU (at most 16
/// CPUs) keep their touched memory beyond `keep_resident_bytes` until the batch is
/// flushed; a slot is only reused once its decommit is done, so nothing crosses calls.
const DECOMMIT_BATCH_SIZE: usize = 32;
/// Tables are initialised when an instance is made, not entry by entry on first use:
/// lazy initialisation writes to table pages during the call (copy-on-write faults, then
/// `madvise` on reset). Buys: see [`TABLE_KEEP_RESIDENT_BYTES`]. Costs: instantiation
/// copies every table element up front: a few hundred for a Rust guest, tens of thousands
/// for SpiderMonkey, whose calls were ~1.5 ms faster with lazy initialisation in one
/// smoke-length trial (bench/notes.md): a trade kept for Rust guests, open for review.
const EAGER_TABLE_INIT: bool = true;

/// Core instances, memories and tables one component may hold: Python and JavaScript
/// components bundle several core modules (TOOLCHAINS.md).
const MAX_CORE_INSTANCES_PER_COMPONENT: u32 = 50;
const MAX_MEMORIES_PER_COMPONENT: u32 = 4;
const MAX_TABLES_PER_COMPONENT: u32 = 32;
const MAX_TABLE_ELEMENTS: usize = 100_000;

/// Engine-wide settings: the size of the instance pool.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// See [`DEFAULT_MAX_INSTANCES`].
    pub max_instances: u32,
    /// See [`DEFAULT_MAX_MEMORY_BYTES`].
    pub max_memory_bytes: u64,
    /// See [`DEFAULT_KEEP_RESIDENT_BYTES`].
    pub keep_resident_bytes: usize,
    /// How long an instance kept for reuse (`calls_per_instance` > 1) may stay idle before
    /// its memory goes back to the pool (`[engine] idle_instance_ms`). Default 30 s.
    pub idle_instance_limit: Duration,
    /// See [`DEFAULT_EPOCH_TICK`] (`[engine] epoch_tick_ms`).
    pub epoch_tick: Duration,
    /// Where compiled components are kept between runs; `None` compiles at every load.
    /// Default `None`; `serve` and `worker` keep them under their data folder, the other
    /// commands in the user's cache folder.
    pub artifacts: Option<ArtifactCacheConfig>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_instances: DEFAULT_MAX_INSTANCES,
            max_memory_bytes: DEFAULT_MAX_MEMORY_BYTES,
            keep_resident_bytes: DEFAULT_KEEP_RESIDENT_BYTES,
            idle_instance_limit: DEFAULT_IDLE_INSTANCE_LIMIT,
            epoch_tick: DEFAULT_EPOCH_TICK,
            artifacts: None,
        }
    }
}

/// Compiles, checks and runs listener components. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    wasmtime: wasmtime::Engine,
    linker: Arc<Linker<HostState>>,
    config: EngineConfig,
    /// Advances the epoch every [`EngineConfig::epoch_tick`].
    _ticker: Arc<Periodic>,
    /// Instances alive now (calls in flight), for metrics.
    in_use: Arc<AtomicUsize>,
    /// Idle instances kept for listeners that reuse them (`warm.rs`), counted and swept.
    warm_idle: Arc<AtomicUsize>,
    warm_stacks: Arc<warm::WarmStacks>,
    /// Drops idle instances past their limit, four times per limit.
    _sweeper: Arc<Periodic>,
    artifacts: Option<Arc<ArtifactCache>>,
    stats: Arc<Stats>,
}

/// How components were loaded, since the engine started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompileStats {
    /// Components compiled (`Component::new`): only the compile path counts here.
    pub compiled: u64,
    /// Components loaded from a verified artifact.
    pub artifacts_loaded: u64,
    /// Artifacts refused (altered, foreign, unreadable by wasmtime), then compiled again.
    pub artifacts_refused: u64,
}

#[derive(Debug, Default)]
struct Stats {
    compiled: AtomicU64,
    artifacts_loaded: AtomicU64,
    artifacts_refused: AtomicU64,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.config)
            .finish()
    }
}

impl Engine {
    /// An engine with its instance pool, linker and epoch thread.
    pub fn new(config: EngineConfig) -> anyhow::Result<Engine> {
        let wasmtime = wasmtime::Engine::new(&wasmtime_config(&config))
            .map_err(|e| anyhow::anyhow!("cannot create the wasmtime engine: {e:#}"))?;
        let mut linker = Linker::new(&wasmtime);
        state::add_to_linker(&mut linker)
            .map_err(|e| anyhow::anyhow!("cannot link the host interfaces: {e:#}"))?;
        let artifacts = match &config.artifacts {
            Some(c) => Some(Arc::new(ArtifactCache::open(c, &wasmtime)?)),
            None => None,
        };
        let warm_stacks = Arc::new(warm::WarmStacks::new(config.idle_instance_limit));
        let stacks = warm_stacks.clone();
        // Four sweeps per limit; never a busy loop, whatever the limit.
        let every = (config.idle_instance_limit / 4).max(config.epoch_tick);
        let sweeper = Periodic::start("wasm-listeners-idle-sweep", every, move || stacks.sweep())
            .map_err(|e| anyhow::anyhow!("cannot start the idle-instance thread: {e}"))?;
        let epochs = wasmtime.clone();
        let ticker = Periodic::start("wasm-listeners-epoch", config.epoch_tick, move || {
            epochs.increment_epoch();
        })
        .map_err(|e| anyhow::anyhow!("cannot start the epoch thread: {e}"))?;
        Ok(Engine {
            wasmtime,
            linker: Arc::new(linker),
            config,
            _ticker: Arc::new(ticker),
            in_use: Arc::default(),
            warm_idle: Arc::default(),
            warm_stacks,
            _sweeper: Arc::new(sweeper),
            artifacts,
            stats: Arc::default(),
        })
    }

    /// How components were loaded so far: compiled, or from an artifact.
    pub fn compile_stats(&self) -> CompileStats {
        CompileStats {
            compiled: self.stats.compiled.load(Ordering::Relaxed),
            artifacts_loaded: self.stats.artifacts_loaded.load(Ordering::Relaxed),
            artifacts_refused: self.stats.artifacts_refused.load(Ordering::Relaxed),
        }
    }

    /// The engine's settings.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Listener instances alive now: calls in flight.
    pub fn instances_in_use(&self) -> usize {
        self.in_use.load(Ordering::Relaxed)
    }

    /// Instances kept for reuse between calls now, over every listener.
    pub fn instances_idle(&self) -> usize {
        self.warm_idle.load(Ordering::Relaxed)
    }

    /// Counts one instance alive until the guard is dropped; `None` when `max_instances`
    /// calls are in flight already (the call ends with [`Outcome::Capacity`]). The bound is
    /// kept here, not by the pool running out: the pool also holds the idle instances of
    /// listeners that reuse them.
    pub(crate) fn instance_alive(&self) -> Option<InstanceAlive> {
        let max = usize::try_from(self.config.max_instances).unwrap_or(usize::MAX);
        let counted = self
            .in_use
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < max).then_some(n + 1)
            });
        counted.ok().map(|_| InstanceAlive(self.in_use.clone()))
    }

    /// The wasmtime engine underneath, configured as above (pooling allocator, fuel,
    /// epochs ticking), for an embedder that runs components beside the runtime's: the
    /// benchmark's bare-wasmtime row runs on it, so both sides share one configuration.
    pub fn wasmtime_engine(&self) -> &wasmtime::Engine {
        &self.wasmtime
    }

    /// Checks `bytes` against the contract, compiles and pre-instantiates it, then
    /// instantiates it once under default limits: its start code must finish and its exports
    /// must have the contract's signatures.
    pub async fn load(&self, bytes: &[u8]) -> Result<LoadedComponent, CheckError> {
        self.load_named("component", bytes).await
    }

    /// [`load`](Self::load), naming the component (its file) in the terminal's progress
    /// line while it compiles.
    pub async fn load_named(
        &self,
        name: &str,
        bytes: &[u8],
    ) -> Result<LoadedComponent, CheckError> {
        check::reject_non_component(bytes)?;
        // Compiling a large component takes seconds of CPU: off the async threads.
        let (engine, name, owned) = (self.clone(), name.to_owned(), bytes.to_vec());
        let compiled = tokio::task::spawn_blocking(move || engine.component(&name, &owned));
        let component = compiled
            .await
            .map_err(|e| CheckError::Invalid(format!("the compile task failed: {e}")))??;
        let info = check::check_component(&self.wasmtime, &component)?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| CheckError::Link(format!("{e:#}")))?;
        let pre = ListenerPre::new(pre).map_err(|e| CheckError::Signature(format!("{e:#}")))?;
        let loaded = LoadedComponent { pre, info };
        let spec = ListenerSpec::new("check");
        // Default limits always fit the engine's maximum: nothing to refuse here.
        let trial = self.bind(&loaded, spec, Capabilities::record_only());
        trial.trial().await?;
        Ok(loaded)
    }

    /// [`load_named`](Self::load_named), compiling in `child` (a process under CPU,
    /// memory and wall-clock limits) when the precompiled cache has no artifact for
    /// `bytes` yet: the artifact goes into the cache and loads from there, verified.
    pub async fn load_apart(
        &self,
        name: &str,
        bytes: &[u8],
        child: &CompileChild,
    ) -> Result<LoadedComponent, CompileError> {
        check::reject_non_component(bytes)?;
        let cache = self
            .artifacts
            .as_ref()
            .ok_or(CompileError::NoArtifactCache)?;
        let path = cache.path(bytes);
        if !path.exists() {
            let artifact = match apart::compile(child, bytes).await {
                Err(CompileError::Refused(CheckError::Invalid(message))) => {
                    return Err(CompileError::Refused(refusal(bytes, message)));
                }
                compiled => compiled?,
            };
            cache
                .store_serialized(&path, &artifact)
                .map_err(CompileError::Store)?;
        }
        Ok(self.load_named(name, bytes).await?)
    }

    /// Binds a loaded component to a listener's configuration; refuses limits the engine
    /// cannot honour (see [`crate::Limits::check`]).
    pub fn listener(
        &self,
        component: &LoadedComponent,
        spec: ListenerSpec,
        capabilities: Capabilities,
    ) -> Result<Listener, LimitError> {
        spec.limits
            .check(self.config.max_memory_bytes, self.config.epoch_tick)?;
        Ok(self.bind(component, spec, capabilities))
    }

    /// The component of `bytes`: from its verified artifact when there is one, else
    /// compiled (and its artifact stored).
    fn component(&self, name: &str, bytes: &[u8]) -> Result<Component, CheckError> {
        let cached = self
            .artifacts
            .as_ref()
            .map(|cache| (cache, cache.path(bytes)));
        if let Some((cache, path)) = &cached {
            match cache.load(&self.wasmtime, path) {
                Ok(Some(component)) => {
                    self.stats.artifacts_loaded.fetch_add(1, Ordering::Relaxed);
                    return Ok(component);
                }
                Ok(None) => {}
                Err(refused) => {
                    self.stats.artifacts_refused.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%refused, "precompiled artifact refused: compiling again");
                    // Replaced below; a failure to remove it shows when storing.
                    let _ = std::fs::remove_file(path);
                }
            }
        }
        let progress = Compiling::start(name, bytes.len());
        let component =
            Component::new(&self.wasmtime, bytes).map_err(|e| refusal(bytes, format!("{e:#}")))?;
        self.stats.compiled.fetch_add(1, Ordering::Relaxed);
        drop(progress);
        if let Some((cache, path)) = &cached {
            if let Err(e) = cache.store(path, &component) {
                let path = path.display();
                tracing::warn!(%path, "cannot store the precompiled artifact: {e:#}");
            }
        }
        Ok(component)
    }

    fn bind(&self, c: &LoadedComponent, spec: ListenerSpec, caps: Capabilities) -> Listener {
        Listener::new(self.clone(), c.pre.clone(), spec, caps)
    }
}

/// Why `bytes` did not compile: the refused proposal it uses, if any, else what wasmtime
/// said.
fn refusal(bytes: &[u8], wasmtime_said: String) -> CheckError {
    match proposals::refused_in(bytes) {
        Some(p) => CheckError::Proposal {
            proposal: p.name,
            why: p.why,
        },
        None => CheckError::Invalid(wasmtime_said),
    }
}

/// One instance counted in [`Engine::instances_in_use`] while this lives.
pub(crate) struct InstanceAlive(Arc<AtomicUsize>);

impl Drop for InstanceAlive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A component that passed [`Engine::load`], ready to instantiate.
#[derive(Clone)]
pub struct LoadedComponent {
    pre: ListenerPre<HostState>,
    /// What the check found.
    pub info: ComponentInfo,
}

impl std::fmt::Debug for LoadedComponent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedComponent")
            .field("info", &self.info)
            .finish()
    }
}

/// What decides the machine code: the proposals, fuel, epochs, table initialisation. The
/// serving engine and the compile child (`apart.rs`) both start from it, so an artifact
/// of either loads in the other.
fn compilation_config() -> Config {
    let mut config = Config::new();
    proposals::pin(&mut config);
    config
        .consume_fuel(true)
        .epoch_interruption(true)
        .table_lazy_init(!EAGER_TABLE_INIT);
    config
}

fn wasmtime_config(c: &EngineConfig) -> Config {
    // Room for the calls in flight and for the idle instances kept for reuse besides.
    let slots = c
        .max_instances
        .saturating_add(warm::idle_budget(c.max_instances));
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(slots)
        .total_stacks(slots)
        .total_core_instances(slots * MAX_CORE_INSTANCES_PER_COMPONENT)
        .total_memories(slots * MAX_MEMORIES_PER_COMPONENT)
        .total_tables(slots * MAX_TABLES_PER_COMPONENT)
        .max_core_instances_per_component(MAX_CORE_INSTANCES_PER_COMPONENT)
        .max_memories_per_component(MAX_MEMORIES_PER_COMPONENT)
        .max_tables_per_component(MAX_TABLES_PER_COMPONENT)
        .table_elements(MAX_TABLE_ELEMENTS)
        .max_memory_size(c.max_memory_bytes as usize)
        .linear_memory_keep_resident(c.keep_resident_bytes)
        .table_keep_resident(TABLE_KEEP_RESIDENT_BYTES)
        .decommit_batch_size(DECOMMIT_BATCH_SIZE)
        .pagemap_scan(Enabled::Auto);
    let mut config = compilation_config();
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config
}

/// A plain thread running `work` every `every` until dropped (then woken to stop), not a
/// tokio task: the epoch must advance even when every executor thread is busy running
/// guest code, and an engine may be made outside a runtime.
struct Periodic {
    stop: Arc<AtomicBool>,
    thread: std::thread::Thread,
}

impl Periodic {
    fn start(
        name: &str,
        every: Duration,
        work: impl Fn() + Send + 'static,
    ) -> std::io::Result<Periodic> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::park_timeout(every);
                    work();
                }
            })?;
        let thread = handle.thread().clone();
        Ok(Periodic { stop, thread })
    }
}

impl Drop for Periodic {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.unpark();
    }
}
