//! `wasm-listeners invocations --config FILE [filters]`: the invocation log, newest first,
//! one JSON record per line.

use super::deliveries::print_lines;
use crate::config::Config;
use crate::engine::OutcomeKind;
use crate::invocations::{parse_time, InvocationQuery};
use crate::service::Service;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `invocations`.
#[derive(Debug, Args)]
pub(super) struct InvocationsArgs {
    /// The runtime's configuration file (it says where the log is kept).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Only this listener's calls.
    #[arg(long)]
    listener: Option<String>,
    /// Only calls with this outcome (`ok`, `listener-error`, `trap`, `out-of-fuel`,
    /// `memory-limit`, `deadline`, `capacity`, `host-limit`).
    #[arg(long)]
    outcome: Option<OutcomeKind>,
    /// Only this event's calls.
    #[arg(long)]
    event_id: Option<String>,
    /// Calls that ended at or after (ms since the epoch, or RFC 3339).
    #[arg(long, value_parser = parse_time)]
    since: Option<u64>,
    /// Calls that ended at or before (ms since the epoch, or RFC 3339).
    #[arg(long, value_parser = parse_time)]
    until: Option<u64>,
    /// Print at most this many.
    #[arg(long, default_value_t = 100)]
    limit: usize,
}

pub(super) async fn run(args: InvocationsArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let Some(log) = Service::invocation_store(&config)? else {
        anyhow::bail!(
            "the invocation log is off in {} ([invocations] enabled = false)",
            args.config.display()
        );
    };
    let listeners: Vec<String> = config.listeners.iter().map(|l| l.name.clone()).collect();
    let query = InvocationQuery {
        listener: args.listener,
        outcome: args.outcome,
        event_id: args.event_id,
        since_ms: args.since,
        until_ms: args.until,
        limit: args.limit,
    };
    print_lines(&log.query(&query, &listeners).await?)?;
    Ok(ExitCode::SUCCESS)
}
