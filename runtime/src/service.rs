//! The running service: builds backends, listeners and the HTTP API from a configuration,
//! and serves until told to stop.

use crate::api::{self, AppState};
use crate::backends::embedded_queue::EmbeddedQueue;
use crate::backends::mail::{OutboxBackend, SmtpBackend};
use crate::backends::redis::RedisQueue;
use crate::config::{Config, ListenerConfig, Mode};
use crate::dispatch::{Dispatcher, Route};
use crate::host::email::EmailBackend;
use crate::host::queue::QueueBackend;
use crate::store::Store;
use crate::{Capabilities, Engine};
use anyhow::{bail, Context};
use std::future::Future;
use std::sync::Arc;

/// Builds everything `serve` needs: refuses to start, naming the listener, when a component
/// fails its check or its settings are refused.
pub async fn build(config: &Config) -> anyhow::Result<Arc<AppState>> {
    if let Some(l) = config.listeners.iter().find(|l| l.mode == Mode::Async) {
        bail!(
            "listener `{}`: mode = \"async\" needs the delivery worker, which this version does not have yet; use mode = \"sync\"",
            l.name
        );
    }
    let engine = Engine::new(config.engine_config())?;
    let capabilities = capabilities(config).await?;
    let mut routes = Vec::with_capacity(config.listeners.len());
    for listener in &config.listeners {
        let route = set_up(&engine, config, listener, &capabilities).await;
        routes.push(route.with_context(|| format!("listener `{}`", listener.name))?);
    }
    Ok(Arc::new(AppState {
        dispatcher: Dispatcher::new(routes),
        operator_token: config.server.operator_token.clone(),
        max_body_bytes: config.server.max_body_bytes,
    }))
}

/// Serves the API on `socket` until `shutdown` resolves, then finishes the requests in
/// flight. The caller owns the socket (port 0 in tests) and the shutdown signal.
pub async fn run(
    config: Config,
    socket: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = build(&config).await?;
    let address = socket.local_addr()?;
    tracing::info!(%address, listeners = config.listeners.len(), "serving on http://{address}");
    axum::serve(socket, api::router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .context("serving HTTP")?;
    tracing::info!("stopped");
    Ok(())
}

/// The backends: SMTP when `[email.smtp]` is set, else the outbox folder; Redis when
/// `[queue] redis_url` is set, else the embedded store.
async fn capabilities(config: &Config) -> anyhow::Result<Capabilities> {
    let email: Arc<dyn EmailBackend> = match &config.email.smtp {
        Some(smtp) => Arc::new(SmtpBackend::new(smtp)?),
        None => Arc::new(OutboxBackend::new(config.outbox())?),
    };
    let queue: Arc<dyn QueueBackend> = match &config.queue.redis_url {
        Some(url) => Arc::new(RedisQueue::new(url)?),
        None => Arc::new(EmbeddedQueue::new(Store::open(config.store_path())?)),
    };
    Ok(Capabilities { email, queue })
}

async fn set_up(
    engine: &Engine,
    config: &Config,
    l: &ListenerConfig,
    capabilities: &Capabilities,
) -> anyhow::Result<Route> {
    let path = l.component.display();
    let bytes = std::fs::read(&l.component).with_context(|| format!("cannot read {path}"))?;
    let loaded = engine
        .load(&bytes)
        .await
        .with_context(|| format!("{path}"))?;
    let listener = engine.listener(&loaded, l.spec(config), capabilities.clone())?;
    let verdict = listener.validate_settings().await;
    if !verdict.outcome.is_ok() {
        bail!("its settings were refused: {}", verdict.outcome);
    }
    tracing::info!(
        listener = %l.name,
        component = %path,
        mode = ?l.mode,
        actions = ?l.actions.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
        resources = ?l.resources,
        "listener set up"
    );
    Ok(Route {
        listener,
        actions: l.actions.clone(),
        resources: l.resources.clone(),
    })
}
