//! `wasm-listeners queue pop NAME --config FILE [--count N]` and
//! `wasm-listeners queue len NAME --config FILE`: read the embedded store's queues, where
//! pushes land when no Redis is configured. Safe while `serve` runs on the same store.

use crate::cli::out::say;
use crate::config::Config;
use crate::store::Store;
use anyhow::Context;
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `queue` subcommands.
#[derive(Debug, Subcommand)]
pub(super) enum QueueCommand {
    /// Print the oldest items of a queue, each on its own line, as text, removing each
    /// once it is printed.
    Pop(PopArgs),
    /// Print how many items a queue holds.
    Len(QueueArgs),
}

/// The queue and the configuration that locates the store.
#[derive(Debug, Args)]
pub(super) struct QueueArgs {
    /// The queue's name.
    name: String,
    /// The runtime's configuration file: the store is `<[server] data_dir>/wasm-listeners.sqlite3`.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

/// Arguments of `queue pop`.
#[derive(Debug, Args)]
pub(super) struct PopArgs {
    #[command(flatten)]
    queue: QueueArgs,
    /// Pop up to this many items (oldest first).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    count: u64,
}

pub(super) async fn run(command: QueueCommand) -> anyhow::Result<ExitCode> {
    match command {
        QueueCommand::Pop(args) => pop(args).await,
        QueueCommand::Len(args) => len(args).await,
    }
}

async fn pop(args: PopArgs) -> anyhow::Result<ExitCode> {
    let name = &args.queue.name;
    let store = open(&args.queue.config)?;
    let mut popped = 0;
    while popped < args.count {
        let item = store.oldest(name).await;
        let Some(item) = item.with_context(|| format!("reading queue `{name}`"))? else {
            break;
        };
        // Printed first, removed after: a failed write (a closed pipe) loses nothing.
        print_line(&item.payload)?;
        let removed = store.remove(&item).await;
        removed.with_context(|| format!("removing a printed item from queue `{name}`"))?;
        popped += 1;
    }
    if popped < args.count {
        eprintln!("queue `{name}` is empty ({popped} item(s) popped)");
    }
    Ok(ExitCode::SUCCESS)
}

async fn len(args: QueueArgs) -> anyhow::Result<ExitCode> {
    let store = open(&args.config)?;
    let count = store.len(&args.name).await;
    say!(
        "{}",
        count.with_context(|| format!("counting queue `{}`", args.name))?
    );
    Ok(ExitCode::SUCCESS)
}

/// Opens the store the configuration at `config` names.
fn open(config: &Path) -> anyhow::Result<Store> {
    let loaded = Config::load(config)?;
    let path = loaded.store_path();
    Store::open(&path).with_context(|| format!("opening the store of {}", config.display()))
}

/// Writes one payload as text (invalid UTF-8 replaced) and a newline, flushed at once:
/// the item is removed from the store only once this succeeded.
fn print_line(payload: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(String::from_utf8_lossy(payload).as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .context("writing to stdout")
}
