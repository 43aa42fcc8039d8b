//! `wasm-listeners worker --config FILE`: runs the async listeners on the durable queue
//! until SIGTERM or Ctrl-C.

use crate::config::Config;
use crate::delivery::SystemClock;
use crate::service::Service;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

/// Arguments of `worker`.
#[derive(Debug, Args)]
pub(super) struct WorkerArgs {
    /// The configuration file (TOML; see config/example.toml).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

pub(super) async fn run(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    if config.delivery_redis().is_none() {
        anyhow::bail!(
            "no Redis is configured: on the embedded store, `wasm-listeners serve` runs the async listeners itself (one process owns the store). Workers on other machines need the durable queue on Redis: set [delivery] redis_url (or [queue] redis_url)"
        );
    }
    let worker = Service::worker(&config, Arc::new(SystemClock)).await?;
    tracing::info!(
        inputs = ?worker.inputs().iter().map(|i| i.as_str()).collect::<Vec<_>>(),
        "worker started"
    );
    worker.run(super::serve::shutdown_signal()).await;
    Ok(ExitCode::SUCCESS)
}
