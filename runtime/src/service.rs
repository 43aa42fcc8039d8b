//! The running service: turns a configuration into the engine, the backends, the listeners
//! and the HTTP API, and serves until told to stop.

use crate::api::{self, AppState};
use crate::backends::{EmbeddedQueue, OutboxBackend, RedisQueue, SmtpBackend};
use crate::config::{Config, ListenerConfig, Mode};
use crate::dispatch::{Dispatcher, Route};
use crate::engine::{Capabilities, Engine, EngineConfig, ListenerSpec};
use crate::host::{EmailBackend, QueueBackend};
use crate::policy::{EmailPolicy, QueuePolicy};
use crate::store::Store;
use anyhow::{bail, Context};
use std::future::Future;
use std::sync::Arc;

/// A service ready to serve: every listener loaded, checked and bound to its backends.
#[derive(Debug, Clone)]
pub struct Service {
    state: Arc<AppState>,
    listeners: usize,
}

impl Service {
    /// Builds everything `serve` needs. Refuses, naming the listener, when a component
    /// fails its check or its settings are refused; never because Redis or the SMTP server
    /// is down (they are reached on first use).
    pub async fn build(config: &Config) -> anyhow::Result<Service> {
        if let Some(l) = config.listeners.iter().find(|l| l.mode == Mode::Async) {
            bail!(
                "listener `{}`: mode = \"async\" needs the delivery worker, which this version does not have yet; use mode = \"sync\"",
                l.name
            );
        }
        let engine = Engine::new(engine_config(config))?;
        let capabilities = capabilities(config)?;
        let mut routes = Vec::with_capacity(config.listeners.len());
        for listener in &config.listeners {
            let route = set_up(&engine, config, listener, &capabilities).await;
            routes.push(route.with_context(|| format!("listener `{}`", listener.name))?);
        }
        let state = AppState {
            dispatcher: Dispatcher::new(routes),
            operator_token: config.server.operator_token.clone(),
            max_body_bytes: config.server.max_body_bytes,
        };
        let listeners = config.listeners.len();
        Ok(Service {
            state: Arc::new(state),
            listeners,
        })
    }

    /// Serves the API on `socket` until `shutdown` resolves, then finishes the requests in
    /// flight. The caller owns the socket (port 0 in tests) and the shutdown signal.
    pub async fn run(
        self,
        socket: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let address = socket.local_addr()?;
        let listeners = self.listeners;
        tracing::info!(%address, listeners, "serving on http://{address}");
        axum::serve(socket, api::router(self.state))
            .with_graceful_shutdown(shutdown)
            .await
            .context("serving HTTP")?;
        tracing::info!("stopped");
        Ok(())
    }
}

/// `[engine]` as the engine's settings.
fn engine_config(config: &Config) -> EngineConfig {
    EngineConfig {
        max_instances: config.engine.max_instances,
        max_memory_bytes: config.engine.max_memory_bytes(),
        ..EngineConfig::default()
    }
}

/// The engine's view of a listener: its own rules under the operator's ceilings.
fn spec(config: &Config, l: &ListenerConfig) -> ListenerSpec {
    let mut email = EmailPolicy::deny_all()
        .with_layer(config.email.ceiling())
        .with_layer(l.email.clone());
    email.default_sender = config.email.default_sender.clone();
    let queue = QueuePolicy::deny_all()
        .with_layer(config.queue.ceiling())
        .with_layer(l.queue.clone());
    ListenerSpec {
        name: l.name.clone(),
        settings: l.settings.clone(),
        limits: l.limits.clone(),
        email,
        queue,
    }
}

/// The backends: SMTP when `[email.smtp]` is set, else the outbox folder; Redis when
/// `[queue] redis_url` is set, else the embedded store.
fn capabilities(config: &Config) -> anyhow::Result<Capabilities> {
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
    let listener = engine.listener(&loaded, spec(config, l), capabilities.clone())?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_listener_gets_its_rules_under_the_operator_ceiling() {
        let text = "[email]\nallowed_recipients = [\"example.org\"]\ndefault_sender = \"k@example.org\"\n[[listener]]\nname = \"a\"\ncomponent = \"a.wasm\"\n[listener.email]\nallowed_senders = [\"*\"]\nallowed_recipients = [\"ops@example.org\", \"x@other.org\"]\n";
        let config = Config::parse(text, Path::new("/etc/wl")).unwrap();
        let spec = spec(&config, &config.listeners[0]);
        assert!(spec.email.permits_recipient("ops@example.org"));
        assert!(
            !spec.email.permits_recipient("x@other.org"),
            "the ceiling holds"
        );
        assert_eq!(spec.email.default_sender.as_deref(), Some("k@example.org"));
        assert!(
            spec.queue.refusal("events").is_some(),
            "no queue by default"
        );
    }
}
