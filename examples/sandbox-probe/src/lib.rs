//! A test program, not a showcase: it tries to reach what the sandbox must deny (a file,
//! the network, the environment) and logs one line per probe, for the runtime's tests
//! to check. It returns `Ok` whatever it finds.
//!
//! Log lines (stable, matched by tests):
//! - `probe file: denied: <error>` or `probe file: OPENED <n> bytes` (reads `/etc/passwd`)
//! - `probe tcp: denied: <error>`, `probe tcp: CONNECTED` or `probe tcp: skipped`
//!   (connects to the `host:port` in setting `connect`)
//! - `probe env: absent (<n> vars)` or `probe env: VISIBLE=<value> (<n> vars)` (reads the
//!   variable named by setting `env`, default `HOME`, and counts every variable)
//!
//! Build and run (from `examples/`):
//!
//! ```sh
//! cargo build --release --target wasm32-wasip2
//! wasm-listeners invoke target/wasm32-wasip2/release/sandbox_probe.wasm \
//!     --event ../tests/fixtures/kinto-events/record-create.json \
//!     --setting connect=127.0.0.1:4000 --setting env=HOME
//! ```

use std::net::TcpStream;

use wasm_listeners_sdk::{export_listener, info, Event, Listener, Result, Settings};

/// The variable read when the `env` setting is absent.
const DEFAULT_ENV: &str = "HOME";

/// Probes the sandbox's walls.
struct SandboxProbe;

impl Listener for SandboxProbe {
    fn handle(_event: Event) -> Result<()> {
        info!("probe file: {}", probe_file("/etc/passwd"));
        let settings = Settings::load();
        info!("probe tcp: {}", probe_tcp(settings.get("connect")));
        let env = settings.get("env").unwrap_or(DEFAULT_ENV);
        info!("probe env: {}", probe_env(env));
        Ok(())
    }
}

fn probe_file(path: &str) -> String {
    match std::fs::read(path) {
        Ok(bytes) => format!("OPENED {} bytes", bytes.len()),
        Err(e) => format!("denied: {e}"),
    }
}

fn probe_tcp(address: Option<&str>) -> String {
    let Some(address) = address else {
        return "skipped (no connect setting)".into();
    };
    match TcpStream::connect(address) {
        Ok(_) => "CONNECTED".into(),
        Err(e) => format!("denied: {e}"),
    }
}

fn probe_env(name: &str) -> String {
    let count = std::env::vars_os().count();
    match std::env::var_os(name) {
        Some(value) => format!("VISIBLE={} ({count} vars)", value.to_string_lossy()),
        None => format!("absent ({count} vars)"),
    }
}

export_listener!(SandboxProbe);
