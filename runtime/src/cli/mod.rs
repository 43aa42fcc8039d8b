//! The `wasm-listeners` command line: one module per command.
//!
//! Exit status: 0 when everything went well, 1 when a component was refused or a call did
//! not end `ok`, 2 when the command could not run (unreadable file, bad event, bad option).

mod check;
mod deliveries;
mod invocations;
mod invoke;
mod out;
mod queue;
mod remote;
mod report;
mod serve;
mod test;
mod worker;

use crate::cli::out::say;
use crate::engine::{ArtifactCacheConfig, Engine, EngineConfig, ListenerSpec, LoadedComponent};
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Run Kinto listeners as sandboxed WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "wasm-listeners", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check that a file is a listener component this runtime can run.
    Check(check::CheckArgs),
    /// Run a listener once on an event; emails and queue pushes are recorded, not sent.
    Invoke(invoke::InvokeArgs),
    /// Run a listener on the cases of a file and compare what it did with what they expect.
    Test(test::TestArgs),
    /// Serve the HTTP API: `POST /v1/events` runs the sync listeners of the configuration.
    Serve(serve::ServeArgs),
    /// Read the embedded store's queues (where pushes land when no Redis is configured).
    #[command(subcommand)]
    Queue(queue::QueueCommand),
    /// Run the async listeners of the configuration on the durable queue.
    Worker(worker::WorkerArgs),
    /// Inspect the durable queue: dead letters (list, replay, purge), rejected entries,
    /// pending retries.
    #[command(subcommand)]
    Deliveries(deliveries::DeliveriesCommand),
    /// Print the invocation log (every listener call), newest first, filtered.
    Invocations(invocations::InvocationsArgs),
    /// Manage tenants and their tokens on a running runtime (the operator's token).
    Tenants(remote::TenantsArgs),
    /// Upload and manage a tenant's listeners on a running runtime (its token).
    Listeners(remote::ListenersArgs),
    /// Compiles the component on standard input under limits, for `serve` (internal).
    #[command(hide = true)]
    CompileChild(CompileChildArgs),
}

/// Arguments of the internal `compile-child`.
#[derive(Debug, clap::Args)]
struct CompileChildArgs {
    /// CPU time, in seconds.
    #[arg(long)]
    cpu_secs: u64,
    /// Address space, in bytes.
    #[arg(long)]
    address_space_bytes: u64,
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    // No async runtime: the child compiles and exits; the API's clients block.
    match cli.command {
        Command::CompileChild(args) => {
            return crate::engine::compile_child_main(args.cpu_secs, args.address_space_bytes)
        }
        Command::Tenants(args) => return remote::tenants(args),
        Command::Listeners(args) => return remote::listeners(args),
        _ => {}
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Check(args) => check::run(args).await,
            Command::Invoke(args) => invoke::run(args).await,
            Command::Test(args) => test::run(args).await,
            Command::Queue(command) => queue::run(command).await,
            Command::Serve(args) => serve::run(args).await,
            Command::Worker(args) => worker::run(args).await,
            Command::Deliveries(command) => deliveries::run(command).await,
            Command::Invocations(args) => invocations::run(args).await,
            Command::CompileChild(_) | Command::Tenants(_) | Command::Listeners(_) => {
                unreachable!("run before the runtime starts")
            }
        }
    });
    result.unwrap_or_else(|e| fail(format!("{e:#}")))
}

fn fail(message: String) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

/// `--setting key=value`.
fn parse_setting(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not key=value")),
    }
}

/// Reads a component file, naming it in the error.
fn read_component(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))
}

/// The engine the commands use: a small pool, one call at a time, compiled components
/// kept in the user's cache folder (see [`user_cache`]).
fn engine() -> anyhow::Result<Engine> {
    Engine::new(EngineConfig {
        max_instances: 4,
        artifacts: user_cache().map(|root| ArtifactCacheConfig::under(&root)),
        ..EngineConfig::default()
    })
}

/// Where `check`, `invoke` and `test` keep compiled components: `$WASM_LISTENERS_CACHE`,
/// else `$XDG_CACHE_HOME/wasm-listeners`, else `~/.cache/wasm-listeners`; none (compile
/// every time) when `WASM_LISTENERS_CACHE` is empty or no home is known.
fn user_cache() -> Option<PathBuf> {
    let var = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(explicit) = std::env::var_os("WASM_LISTENERS_CACHE") {
        return (!explicit.is_empty()).then(|| PathBuf::from(explicit));
    }
    let xdg = var("XDG_CACHE_HOME").or_else(|| var("HOME").map(|home| home.join(".cache")));
    xdg.map(|cache| cache.join("wasm-listeners"))
}

/// A listener whose policies permit everything (nothing leaves: emails and pushes are only
/// recorded, so every sender, recipient and queue is allowed and the author sees what the
/// listener would do), with `settings` and whichever limits are given.
fn recording_spec(
    name: &str,
    settings: impl IntoIterator<Item = (String, String)>,
    fuel: Option<u64>,
    memory_mib: Option<u64>,
    deadline_ms: Option<u64>,
) -> ListenerSpec {
    let mut spec = ListenerSpec::permit_all(name);
    spec.settings = settings.into_iter().collect();
    if let Some(fuel) = fuel {
        spec.limits.fuel = fuel;
    }
    if let Some(mib) = memory_mib {
        spec.limits.memory_bytes = mib << 20;
    }
    if let Some(ms) = deadline_ms {
        spec.limits.deadline = std::time::Duration::from_millis(ms);
    }
    spec
}

/// Reads and loads a component file (checked, compiled or from its artifact), named by its
/// file; `None` once a refusal is printed (`refused: FILE: why`), for exit status 1.
async fn load_or_refuse(engine: &Engine, path: &Path) -> anyhow::Result<Option<LoadedComponent>> {
    let bytes = read_component(path)?;
    let name = path.file_name().map(|n| n.to_string_lossy());
    let name = name.as_deref().unwrap_or("component");
    match engine.load_named(name, &bytes).await {
        Ok(loaded) => Ok(Some(loaded)),
        Err(refusal) => {
            say!("refused: {}: {refusal}", path.display());
            Ok(None)
        }
    }
}
