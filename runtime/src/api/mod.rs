//! The HTTP API: `POST /v1/events` runs the sync listeners while the caller waits and
//! enqueues committed events for the async ones; the durable queue's records and the
//! invocation log for operators; `GET /metrics`; `GET /healthz`. No wasmtime type appears here: the API speaks to `dispatch`.
//!
//! # Layout
//! - `mod.rs`: the router, its state, body limit and token check.
//! - `events.rs`: `POST /v1/events`.
//! - `deliveries.rs`: dead letters, pending retries and rejected entries, for operators.
//! - `invocations.rs`: `GET /v1/invocations`, the invocation log, for operators.
//! - `metrics.rs`: `GET /metrics` (Prometheus text), on `serve` and on `worker`.
//! - `error.rs`: [`ApiError`], the one error type.

mod deliveries;
mod error;
mod events;
mod invocations;
mod metrics;

pub(crate) use deliveries::Deliveries;
use error::ApiError;
pub(crate) use metrics::{metrics_router, MetricsSource};

use crate::config::Secret;
use crate::delivery::Enqueuer;
use crate::dispatch::Dispatcher;
use crate::invocations::InvocationStore;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use std::sync::Arc;

/// What every handler shares.
#[derive(Debug)]
pub(crate) struct AppState {
    /// The configured sync listeners.
    pub(crate) dispatcher: Dispatcher,
    /// The durable queue of the async listeners, when some are configured.
    pub(crate) enqueuer: Option<Enqueuer>,
    /// The same queue's records, for operators.
    pub(crate) deliveries: Option<Deliveries>,
    /// Required on ingestion when set.
    pub(crate) operator_token: Option<Secret>,
    /// Largest body any route accepts.
    pub(crate) max_body_bytes: usize,
    /// What `GET /metrics` reads.
    pub(crate) metrics: Arc<MetricsSource>,
    /// The invocation log and every listener's name, when it is kept.
    pub(crate) invocations: Option<(Arc<dyn InvocationStore>, Vec<String>)>,
}

/// The API's routes over `state`.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    let limit = state.max_body_bytes;
    let guarded = Router::new()
        .route("/v1/events", post(events::post_events))
        .route(
            "/v1/listeners/{listener}/dead-letters",
            get(deliveries::list_dead).delete(deliveries::purge_dead),
        )
        .route(
            "/v1/listeners/{listener}/dead-letters/replay",
            post(deliveries::replay_listener),
        )
        .route("/v1/dead-letters/replay", post(deliveries::replay_all))
        .route(
            "/v1/listeners/{listener}/pending",
            get(deliveries::list_pending),
        )
        .route("/v1/invocations", get(invocations::list))
        .route(
            "/v1/inputs/{input}/rejected",
            get(deliveries::list_rejected).delete(deliveries::purge_rejected),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_token,
        ));
    Router::new()
        .merge(guarded)
        .route("/healthz", get(healthz))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limit_body,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state.clone())
        .merge(metrics_router(state.metrics.clone()))
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Refuses, on every route, a body whose declared length is over the limit; a body without
/// a declared length is cut at the limit when a handler reads it (`DefaultBodyLimit`).
async fn limit_body(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let limit = state.max_body_bytes;
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(ApiError::TooLarge { limit });
    }
    Ok(next.run(request).await)
}

async fn require_token(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    check_token(state.operator_token.as_ref(), &request)?;
    Ok(next.run(request).await)
}

/// Refuses a request without `Authorization: Bearer <token>` when a token is required.
fn check_token(token: Option<&Secret>, request: &Request) -> Result<(), ApiError> {
    let Some(token) = token else {
        return Ok(());
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !given.is_some_and(|g| same_secret(g.as_bytes(), token.expose().as_bytes())) {
        return Err(ApiError::Unauthorized);
    }
    Ok(())
}

/// Compares without stopping at the first difference, so timing does not tell how much of
/// a guessed token was right.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    let differences = given
        .iter()
        .zip(expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    given.len() == expected.len() && differences == 0
}
