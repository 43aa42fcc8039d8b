//! Shared test helpers: guest programs built from source once per run, engines, listeners
//! and events.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;
use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use wasm_listeners::{
    parse_events, Capabilities, Delivery, Email, EmailBackend, EmailBackendError, Engine,
    EngineConfig, Incoming, Listener, ListenerSpec, LoadedComponent, QueueBackend,
    QueueBackendError, QueuePush, RecordOnly, Source,
};

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A Kinto fixture file of `tests/fixtures/kinto-events`.
pub fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures/kinto-events").join(name)
}

/// The `index`-th event of a fixture file.
pub fn fixture_event(name: &str, index: usize) -> Incoming {
    let bytes = std::fs::read(fixture(name)).expect("reading fixture");
    let mut events = parse_events(&bytes).expect("parsing fixture");
    events.swap_remove(index)
}

/// The path of an example listener (`examples/<name>`), built for wasm32-wasip2 from
/// source the first time a test asks (guest test programs are built by the harness).
pub fn guest(name: &str) -> PathBuf {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = BUILT.get_or_init(build_examples);
    let dir = dir.as_ref().unwrap_or_else(|e| panic!("{e}"));
    dir.join(format!("{}.wasm", name.replace('-', "_")))
}

fn build_examples() -> Result<PathBuf, String> {
    let examples = repo().join("examples");
    let target = examples.join("target");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--target", "wasm32-wasip2"])
        .current_dir(&examples)
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .map_err(|e| format!("cannot run cargo to build the example guests: {e}"))?;
    if !status.success() {
        return Err(format!("building the example guests failed: {status} (is the wasm32-wasip2 target installed? `rustup target add wasm32-wasip2`)"));
    }
    Ok(target.join("wasm32-wasip2/release"))
}

/// Tests that keep both cores busy for long (compiling Python and JavaScript components)
/// and tests whose timing depends on a real Kinto answering in time never overlap: the
/// first take [`heavy`] (shared among them), the second [`timing_sensitive`]. A tokio
/// lock: the async tests hold it across their awaits (each test has its own runtime).
static CPU: RwLock<()> = RwLock::const_new(());

/// Held by a test that keeps the cores busy; many may hold it at once. Outside a runtime.
pub fn heavy() -> RwLockReadGuard<'static, ()> {
    CPU.blocking_read()
}

/// [`heavy`], for an async test.
pub async fn heavy_async() -> RwLockReadGuard<'static, ()> {
    CPU.read().await
}

/// Held by a test that must not be starved of CPU; alone while it runs.
pub async fn timing_sensitive() -> RwLockWriteGuard<'static, ()> {
    CPU.write().await
}

/// Logs of the code under test, shown only when `TEST_LOG` is set (e.g. `TEST_LOG=1 cargo
/// test -- --nocapture`).
pub fn init_logging() {
    if std::env::var_os("TEST_LOG").is_some() {
        let filter = tracing_subscriber::EnvFilter::new("debug");
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    }
}

/// One engine per test (they are cheap), with a small pool.
pub fn engine() -> Engine {
    engine_with(EngineConfig {
        max_instances: 8,
        ..EngineConfig::default()
    })
}

pub fn engine_with(config: EngineConfig) -> Engine {
    init_logging();
    Engine::new(config).expect("engine")
}

/// Loads an example guest.
pub async fn load(engine: &Engine, name: &str) -> LoadedComponent {
    let bytes = std::fs::read(guest(name)).expect("reading guest");
    let loaded = engine.load(&bytes).await;
    loaded.unwrap_or_else(|e| panic!("loading {name}: {e}"))
}

/// A spec that allows every sender, recipient and queue, with `settings`.
pub fn open_spec(name: &str, settings: &[(&str, &str)]) -> ListenerSpec {
    let mut spec = ListenerSpec::permit_all(name);
    spec.settings = settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    spec
}

/// A listener of guest `guest` with `settings`, backends that only record.
pub async fn listener(engine: &Engine, guest: &str, settings: &[(&str, &str)]) -> Listener {
    let spec = open_spec(guest, settings);
    engine
        .listener(
            &load(engine, guest).await,
            spec,
            Capabilities::record_only(),
        )
        .expect("listener")
}

/// The delivery of `incoming` from the CLI, first attempt.
pub fn delivery(incoming: &Incoming) -> Delivery {
    incoming.first_delivery(Source::Cli)
}

/// Backends whose email and queue calls never return, and that say when one started.
#[derive(Debug, Default, Clone)]
pub struct Hanging {
    pub entered: Arc<tokio::sync::Notify>,
}

#[async_trait::async_trait]
impl EmailBackend for Hanging {
    async fn send(&self, _: &Email, _: Instant) -> Result<(), EmailBackendError> {
        self.entered.notify_one();
        std::future::pending().await
    }
}

#[async_trait::async_trait]
impl QueueBackend for Hanging {
    async fn push(&self, _: &str, _: &[u8], _: Option<u64>) -> Result<(), QueueBackendError> {
        self.entered.notify_one();
        std::future::pending().await
    }
}

/// A queue backend that keeps what it was given.
#[derive(Debug, Default, Clone)]
pub struct Recorder {
    pub pushes: Arc<Mutex<Vec<QueuePush>>>,
}

impl Recorder {
    /// Backends that record emails in the report and queue pushes here.
    pub fn capabilities(&self) -> Capabilities {
        Capabilities {
            email: Arc::new(RecordOnly),
            queue: Arc::new(self.clone()),
        }
    }
}

#[async_trait::async_trait]
impl QueueBackend for Recorder {
    async fn push(
        &self,
        queue: &str,
        payload: &[u8],
        _: Option<u64>,
    ) -> Result<(), QueueBackendError> {
        let mut pushes = self.pushes.lock().unwrap();
        pushes.push(QueuePush {
            queue: queue.to_owned(),
            payload: payload.to_vec(),
        });
        Ok(())
    }
}

/// Waits until `condition` holds, checking it every 5 ms; fails naming `what` after 4,000
/// checks (20 s and more), so that a condition that never comes fails instead of hanging.
pub async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..4_000 {
        if condition() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("waited in vain: {what}");
}

/// The `wasm-listeners` binary built for this test run.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wasm-listeners"))
}
