//! `GET /metrics`: the runtime's metrics as Prometheus text (OpenMetrics), on `serve` and
//! on `worker`, behind the operator token when served off loopback.

use super::{check_token, ApiError};
use crate::config::Secret;
use crate::delivery::DeliveryQueue;
use crate::engine::Engine;
use crate::event::Input;
use crate::metrics::{Metrics, Scrape, CONTENT_TYPE};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// What `GET /metrics` reads: the counters, and the gauges read at scrape time.
#[derive(Debug)]
pub(crate) struct MetricsSource {
    pub(crate) metrics: Arc<Metrics>,
    /// Its instances in use.
    pub(crate) engine: Engine,
    /// The durable queue and the inputs whose depth is shown, when async listeners exist.
    pub(crate) queue: Option<(Arc<dyn DeliveryQueue>, Vec<Input>)>,
    /// Required as a bearer token when set (served off loopback).
    pub(crate) token: Option<Secret>,
}

impl MetricsSource {
    /// The text, with each input's depth read now (an input whose depth cannot be read,
    /// Redis being down, is left at its last value, with a log line).
    pub(crate) async fn render(&self) -> String {
        let mut depths = Vec::new();
        if let Some((queue, inputs)) = &self.queue {
            for input in inputs {
                match queue.depth(*input).await {
                    Ok(depth) => depths.push((input.to_string(), depth)),
                    Err(e) => {
                        tracing::warn!(%input, error = %e, "metrics: cannot read the queue's depth")
                    }
                }
            }
        }
        let loads = self.engine.compile_stats();
        self.metrics.render(&Scrape {
            depths,
            instances: self.engine.instances_in_use(),
            idle: self.engine.instances_idle(),
            compiled: loads.compiled,
            artifacts_loaded: loads.artifacts_loaded,
            artifacts_refused: loads.artifacts_refused,
        })
    }
}

/// The `/metrics` route over `source`.
pub(crate) fn metrics_router(source: Arc<MetricsSource>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route_layer(axum::middleware::from_fn_with_state(
            source.clone(),
            require_token,
        ))
        .with_state(source)
}

async fn metrics(State(source): State<Arc<MetricsSource>>) -> Response {
    let text = source.render().await;
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

async fn require_token(
    State(source): State<Arc<MetricsSource>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    check_token(source.token.as_ref(), &request)?;
    Ok(next.run(request).await)
}
