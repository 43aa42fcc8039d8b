//! The HTTP API: `POST /v1/events` runs the sync listeners while the caller waits and
//! enqueues committed events for the async ones; the durable queue's records and the
//! invocation log for operators; tenants and their tokens for operators; each tenant's
//! components, listener versions and audit log for its own tokens; `GET /metrics`;
//! `GET /healthz`. Every `/v1` route first finds its [`Caller`] (`identify`). No wasmtime
//! type appears here: the API speaks to `dispatch`, the `registry` and the engine's
//! loading.
//!
//! # Layout
//! - `mod.rs`: the router, its state, body limit and token check.
//! - `events.rs`: `POST /v1/events`.
//! - `deliveries.rs`: dead letters, pending retries and rejected entries, for operators.
//! - `invocations.rs`: `GET /v1/invocations`, the invocation log, for operators.
//! - `metrics.rs`: `GET /metrics` (Prometheus text), on `serve` and on `worker`.
//! - `tenants.rs`: tenants and their API tokens, for the operator; `GET /v1/whoami`.
//! - `components.rs`: a tenant's uploaded components.
//! - `listeners.rs`: a tenant's listeners and their versions.
//! - `error.rs`: [`ApiError`], the one error type.

mod components;
mod deliveries;
mod error;
mod events;
mod invocations;
mod listeners;
mod metrics;
mod tenants;

pub(crate) use components::{CompileQueue, Uploads};
pub(crate) use deliveries::Deliveries;
use error::ApiError;
pub(crate) use metrics::{metrics_router, MetricsSource};

use crate::config::Secret;
use crate::delivery::Enqueuer;
use crate::dispatch::{Dispatcher, TenantRoutes};
use crate::invocations::InvocationStore;
use crate::registry::{same_bytes, AuditEntry, Caller, Registry, TenantId};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{delete, get, post};
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
    /// Required on the operator's routes when set.
    pub(crate) operator_token: Option<Secret>,
    /// Tenants and their tokens.
    pub(crate) registry: Registry,
    /// What uploads need; none without the precompiled cache.
    pub(crate) uploads: Option<Uploads>,
    /// The tenants' listeners (for `invoke`); none without the precompiled cache.
    pub(crate) tenants: Option<TenantRoutes>,
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
        .route("/v1/tenants", post(tenants::create).get(tenants::list))
        .route(
            "/v1/tenants/{tenant}",
            get(tenants::show)
                .patch(tenants::update)
                .delete(tenants::delete),
        )
        .route(
            "/v1/tenants/{tenant}/tokens",
            post(tenants::issue_token).get(tenants::tokens),
        )
        .route(
            "/v1/tenants/{tenant}/tokens/{prefix}",
            delete(tenants::revoke_token),
        )
        .route_layer(axum::middleware::from_fn(require_operator));
    let tenants_own = Router::new()
        .route("/v1/tenants/{tenant}/listeners", get(listeners::list))
        .route(
            "/v1/tenants/{tenant}/listeners/{name}",
            get(listeners::show)
                .put(listeners::put)
                .delete(listeners::delete),
        )
        .route(
            "/v1/tenants/{tenant}/listeners/{name}/versions",
            get(listeners::versions),
        )
        .route(
            "/v1/tenants/{tenant}/listeners/{name}/rollback",
            post(listeners::rollback),
        )
        .route(
            "/v1/tenants/{tenant}/listeners/{name}/invoke",
            post(listeners::invoke),
        )
        .route(
            "/v1/tenants/{tenant}/listeners/{name}/pause",
            post(listeners::pause),
        )
        .route(
            "/v1/tenants/{tenant}/listeners/{name}/resume",
            post(listeners::resume),
        )
        .route(
            "/v1/tenants/{tenant}/listeners/{name}/dead-letters",
            get(deliveries::tenant_dead).delete(deliveries::tenant_purge),
        )
        .route(
            "/v1/tenants/{tenant}/listeners/{name}/dead-letters/replay",
            post(deliveries::tenant_replay),
        )
        .route(
            "/v1/tenants/{tenant}/listeners/{name}/pending",
            get(deliveries::tenant_pending),
        )
        .route(
            "/v1/tenants/{tenant}/invocations",
            get(invocations::list_tenant),
        )
        .route("/v1/tenants/{tenant}/audit", get(tenants::audit));
    let identified = Router::new()
        .merge(guarded)
        .merge(tenants_own)
        .route("/v1/whoami", get(tenants::whoami))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            identify,
        ));
    // Uploads read their body up to the tenant's quota, not `max_body_bytes`.
    let uploads = Router::new()
        .route(
            "/v1/tenants/{tenant}/components",
            post(components::upload).get(components::list),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            identify,
        ))
        .layer(DefaultBodyLimit::disable())
        .with_state(state.clone());
    Router::new()
        .merge(identified)
        .route("/healthz", get(healthz))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limit_body,
        ))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state.clone())
        .merge(uploads)
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

/// Finds who is calling and hands it to the handlers as a [`Caller`]: the operator token,
/// a tenant's live token, or no token at all where no operator token is configured
/// (loopback only: `[server]` refuses another address without one). Anything else: 401.
async fn identify(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let given = bearer(&request).map(str::to_owned);
    let caller = caller(&state, given).await?;
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

/// The token of `Authorization: Bearer <token>`, if any.
fn bearer(request: &Request) -> Option<&str> {
    let value = request.headers().get(header::AUTHORIZATION)?;
    value.to_str().ok()?.strip_prefix("Bearer ")
}

async fn caller(state: &AppState, given: Option<String>) -> Result<Caller, ApiError> {
    let operator = state.operator_token.as_ref();
    let Some(given) = given else {
        return match operator {
            None => Ok(Caller::Operator),
            Some(_) => Err(ApiError::Unauthorized),
        };
    };
    if operator.is_some_and(|t| same_bytes(given.as_bytes(), t.expose().as_bytes())) {
        return Ok(Caller::Operator);
    }
    let now = tenants::now_ms();
    match state.registry.authenticate(&given, now).await? {
        Some(tenant) => Ok(tenant),
        None => Err(ApiError::Unauthorized),
    }
}

/// Refuses a tenant on the operator's routes.
async fn require_operator(request: Request, next: Next) -> Result<Response, ApiError> {
    match request.extensions().get::<Caller>() {
        Some(Caller::Operator) => Ok(next.run(request).await),
        Some(Caller::Tenant { id, .. }) => Err(ApiError::Forbidden(format!(
            "this route is the operator's: tenant `{id}`'s token cannot use it"
        ))),
        None => Err(ApiError::Unauthorized),
    }
}

/// Refuses a request without `Authorization: Bearer <token>` when a token is required
/// (`GET /metrics` off loopback).
fn check_token(token: Option<&Secret>, request: &Request) -> Result<(), ApiError> {
    let Some(token) = token else {
        return Ok(());
    };
    let given = bearer(request);
    if !given.is_some_and(|g| same_bytes(g.as_bytes(), token.expose().as_bytes())) {
        return Err(ApiError::Unauthorized);
    }
    Ok(())
}

/// Who `caller` is, in records: `operator`, or `token <prefix>`.
fn who(caller: &Caller) -> String {
    match caller {
        Caller::Operator => "operator".into(),
        Caller::Tenant { token, .. } => format!("token {token}"),
    }
}

/// Appends to the audit log what `caller` did to `tenant`'s `target`. The change stands if
/// the log cannot be written: that is logged.
async fn audit(
    state: &AppState,
    caller: &Caller,
    tenant: &TenantId,
    action: &str,
    target: &str,
    detail: serde_json::Value,
) {
    let at = tenants::now_ms();
    let entry = AuditEntry::new(
        tenant.clone(),
        who(caller),
        action,
        target.to_owned(),
        detail,
        at,
    );
    if let Err(e) = state.registry.record(&entry).await {
        tracing::error!(%tenant, action, target, "the audit log could not be written: {e}");
    }
}
