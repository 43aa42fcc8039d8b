//! `wasm-listeners worker --config FILE`: runs the async listeners on the durable queue
//! until SIGTERM or Ctrl-C.

use crate::api;
use crate::config::Config;
use crate::delivery::SystemClock;
use crate::service::{off_loopback_token, Service};
use anyhow::Context;
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
    /// Serve `GET /metrics` (Prometheus text) on this address, e.g. 127.0.0.1:9187. Off
    /// loopback it requires `[server] operator_token` as a bearer token.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<std::net::SocketAddr>,
}

pub(super) async fn run(args: WorkerArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    if config.delivery_redis().is_none() {
        anyhow::bail!(
            "no Redis is configured: on the embedded store, `wasm-listeners serve` runs the async listeners itself (one process owns the store). Workers on other machines need the durable queue on Redis: set [delivery] redis_url (or [queue] redis_url)"
        );
    }
    let (worker, mut source) = Service::worker_with_metrics(&config, Arc::new(SystemClock)).await?;
    if let Some(address) = args.metrics {
        source.token = off_loopback_token(&config, address)?;
        let socket = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address} (--metrics)"))?;
        // The bound address: port 0 picks a free one.
        let address = socket.local_addr()?;
        let router = api::metrics_router(Arc::new(source));
        tracing::info!(%address, "metrics on http://{address}/metrics");
        // Ends with the process: nothing to drain.
        tokio::spawn(async move { axum::serve(socket, router).await });
    }
    tracing::info!(
        inputs = ?worker.inputs().iter().map(|i| i.as_str()).collect::<Vec<_>>(),
        "worker started"
    );
    worker.run(super::serve::shutdown_signal()).await;
    Ok(ExitCode::SUCCESS)
}
