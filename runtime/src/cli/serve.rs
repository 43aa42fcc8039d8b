//! `wasm-listeners serve --config FILE`

use crate::config::Config;
use crate::service::Service;
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// The configuration file (TOML; see config/example.toml).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
}

pub(super) async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let config = Config::load(&args.config)?;
    let address = config.server.listen;
    let socket = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address} ([server] listen)"))?;
    let service = Service::build(&config).await?;
    service.run(socket, shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub(super) async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {},
                    _ = terminate.recv() => {},
                }
            }
            Err(_) => {
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutting down: finishing the work in flight");
}
