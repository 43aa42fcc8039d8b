//! `wasm-listeners deliveries ...`: what the durable queue holds besides the work in
//! flight: dead letters (list, replay, purge), rejected input entries (list, purge) and
//! pending retries (list). Each prints JSON, one record per line.

use crate::cli::out::say;
use crate::config::{Config, Mode};
use crate::delivery::{Clock, DeliveryQueue, SystemClock};
use crate::event::Input;
use crate::service::Service;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

/// `deliveries` subcommands.
#[derive(Debug, Subcommand)]
pub(super) enum DeliveriesCommand {
    /// Print a listener's dead letters, newest first (JSON lines).
    Dead(ListenerArgs),
    /// Make a listener's dead letters pending again, due now, for a new round of retries.
    Replay(PickArgs),
    /// Delete a listener's dead letters.
    Purge(PickArgs),
    /// Print a listener's pending retries, soonest first (JSON lines).
    Pending(ListenerArgs),
    /// Print an input's rejected entries (`runtime` or `kinto-redis`), newest first.
    Rejected(InputArgs),
    /// Delete an input's rejected entries.
    PurgeRejected(InputArgs),
}

/// A listener and the configuration that locates the queue.
#[derive(Debug, Args)]
pub(super) struct ListenerArgs {
    /// The listener's name.
    listener: String,
    /// The runtime's configuration file.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Print at most this many.
    #[arg(long, default_value_t = 100)]
    max: usize,
}

/// Dead letters: one (`LISTENER --id ID`), a listener's (`LISTENER`) or every async
/// listener's (neither).
#[derive(Debug, Args)]
pub(super) struct PickArgs {
    /// The listener's name; without it, every async listener of the configuration.
    listener: Option<String>,
    /// The runtime's configuration file.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// One dead letter's id (`id` in `deliveries dead`).
    #[arg(long, requires = "listener")]
    id: Option<String>,
}

impl PickArgs {
    /// The configuration, its queue and the listeners picked.
    fn open(&self) -> anyhow::Result<(Arc<dyn DeliveryQueue>, Vec<String>)> {
        let config = Config::load(&self.config)?;
        let queue = Service::delivery_queue(&config)?;
        let listeners = match &self.listener {
            Some(name) => vec![name.clone()],
            None => config
                .listeners
                .iter()
                .filter(|l| l.mode == Mode::Async)
                .map(|l| l.name.clone())
                .collect(),
        };
        Ok((queue, listeners))
    }
}

/// An input and the configuration.
#[derive(Debug, Args)]
pub(super) struct InputArgs {
    /// `runtime` or `kinto-redis`.
    input: Input,
    /// The runtime's configuration file.
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Print at most this many.
    #[arg(long, default_value_t = 100)]
    max: usize,
}

fn queue(config: &Path) -> anyhow::Result<Arc<dyn DeliveryQueue>> {
    Service::delivery_queue(&Config::load(config)?)
}

pub(super) fn print_lines<T: serde::Serialize>(records: &[T]) -> anyhow::Result<()> {
    for record in records {
        say!("{}", serde_json::to_string(record)?);
    }
    Ok(())
}

pub(super) async fn run(command: DeliveriesCommand) -> anyhow::Result<ExitCode> {
    match command {
        DeliveriesCommand::Dead(a) => {
            let (letters, counts) = queue(&a.config)?.dead_letters(&a.listener, a.max).await?;
            print_lines(&letters)?;
            eprintln!(
                "{} dead letter(s) of `{}`; {} dropped over the bound",
                counts.count, a.listener, counts.dropped
            );
        }
        DeliveriesCommand::Replay(a) => {
            let (queue, listeners) = a.open()?;
            for listener in &listeners {
                let n = queue
                    .replay(listener, a.id.as_deref(), SystemClock.now_ms())
                    .await?;
                eprintln!(
                    "{n} dead letter(s) of `{listener}` replayed: a running worker takes them now"
                );
            }
        }
        DeliveriesCommand::Purge(a) => {
            let (queue, listeners) = a.open()?;
            for listener in &listeners {
                let n = queue.purge_dead(listener, a.id.as_deref()).await?;
                eprintln!("{n} dead letter(s) of `{listener}` purged");
            }
        }
        DeliveriesCommand::Pending(a) => {
            print_lines(&queue(&a.config)?.pending(&a.listener, a.max).await?)?;
        }
        DeliveriesCommand::Rejected(a) => {
            let (rejected, counts) = queue(&a.config)?.rejected(a.input, a.max).await?;
            print_lines(&rejected)?;
            eprintln!(
                "{} rejected entr(ies) of `{}`; {} dropped over the bound",
                counts.count, a.input, counts.dropped
            );
        }
        DeliveriesCommand::PurgeRejected(a) => {
            let n = queue(&a.config)?.purge_rejected(a.input).await?;
            eprintln!("{n} rejected entr(ies) of `{}` purged", a.input);
        }
    }
    Ok(ExitCode::SUCCESS)
}
