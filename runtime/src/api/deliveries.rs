//! The durable queue's records, for operators (every route needs the operator token when
//! one is set):
//!
//! - `GET /v1/listeners/{listener}/dead-letters?max=N`: newest first, with the count
//!   dropped over the bound.
//! - `POST /v1/listeners/{listener}/dead-letters/replay` (`{"id": ...}` for one, no body
//!   for all) and `POST /v1/dead-letters/replay` (every async listener's): pending again,
//!   due now, for a new round of the schedule.
//! - `DELETE /v1/listeners/{listener}/dead-letters[?id=ID]`: purged.
//! - `GET /v1/listeners/{listener}/pending?max=N`: retries waiting, soonest first.
//! - `GET /v1/inputs/{input}/rejected?max=N` and `DELETE /v1/inputs/{input}/rejected`.
//!
//! A tenant's listener's records, under `/v1/tenants/{t}/listeners/{name}/`: the same
//! `dead-letters`, `dead-letters/replay` and `pending`, through the tenant's token (reading
//! with a read-only one; replaying and purging with a deploy one) or the operator's. The
//! records name the listener `t/name`. Deleting a listener, or its tenant, deletes its
//! pending deliveries and dead letters first (a queue that is down refuses the deletion,
//! 503, and changes nothing); its invocation records age out with everyone's.

use super::components::allow;
use super::tenants::tenant_id;
use super::{ApiError, AppState};
use crate::delivery::{Clock, DeliveryQueue, QueueError, SystemClock};
use crate::event::Input;
use crate::registry::{Caller, TenantListener, TokenScope};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::Extension;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// Records listed by default.
const DEFAULT_MAX: usize = 100;

/// What operators reach: the queue and the async listeners' names.
#[derive(Debug, Clone)]
pub(crate) struct Deliveries {
    /// The durable queue.
    pub(crate) queue: Arc<dyn DeliveryQueue>,
    /// The async listeners, in configuration order.
    pub(crate) listeners: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct ListQuery {
    max: Option<usize>,
}

#[derive(Debug, Deserialize)]
pub(super) struct IdQuery {
    id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayBody {
    id: Option<String>,
}

fn deliveries(state: &AppState) -> Result<&Deliveries, ApiError> {
    state.deliveries.as_ref().ok_or_else(|| {
        ApiError::NotFound("no listener is mode = \"async\": there is no durable queue".into())
    })
}

/// The deliveries, when `listener` is one of its async listeners.
fn for_listener<'a>(state: &'a AppState, listener: &str) -> Result<&'a Deliveries, ApiError> {
    let d = deliveries(state)?;
    if d.listeners.iter().any(|l| l == listener) {
        return Ok(d);
    }
    Err(ApiError::NotFound(format!(
        "no async listener is named `{listener}`; the async listeners are: {}",
        d.listeners.join(", ")
    )))
}

fn unavailable(e: QueueError) -> ApiError {
    ApiError::Unavailable(format!("{e}; try again later"))
}

fn input(name: &str) -> Result<Input, ApiError> {
    name.parse().map_err(ApiError::NotFound)
}

pub(super) async fn list_dead(
    State(state): State<Arc<AppState>>,
    Path(listener): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let d = for_listener(&state, &listener)?;
    dead_letters(&d.queue, &listener, q).await
}

pub(super) async fn replay_listener(
    State(state): State<Arc<AppState>>,
    Path(listener): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let d = for_listener(&state, &listener)?;
    replay(&d.queue, &listener, &body).await
}

pub(super) async fn replay_all(
    State(state): State<Arc<AppState>>,
) -> Result<Json<Value>, ApiError> {
    let d = deliveries(&state)?;
    let mut replayed = 0;
    for listener in &d.listeners {
        replayed += d
            .queue
            .replay(listener, None, SystemClock.now_ms())
            .await
            .map_err(unavailable)?;
    }
    Ok(Json(json!({ "replayed": replayed })))
}

pub(super) async fn purge_dead(
    State(state): State<Arc<AppState>>,
    Path(listener): Path<String>,
    Query(q): Query<IdQuery>,
) -> Result<Json<Value>, ApiError> {
    let d = for_listener(&state, &listener)?;
    purge(&d.queue, &listener, q).await
}

pub(super) async fn list_pending(
    State(state): State<Arc<AppState>>,
    Path(listener): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let d = for_listener(&state, &listener)?;
    pending(&d.queue, &listener, q).await
}

/// The queue and the records' name of tenant `tenant`'s listener `name` (`tenant/name`),
/// once the caller may act on it with `needs`: another tenant's token gets a 404.
async fn tenant_listener(
    state: &AppState,
    caller: &Caller,
    (tenant, name): (String, String),
    needs: TokenScope,
) -> Result<(Arc<dyn DeliveryQueue>, String), ApiError> {
    let id = tenant_id(&tenant)?;
    allow(caller, &id, needs)?;
    let listener = state.registry.listener(&id, &name).await?;
    let d = deliveries(state)?;
    Ok((d.queue.clone(), listener.qualified_name()))
}

pub(super) async fn tenant_dead(
    State(state): State<Arc<AppState>>,
    Path(path): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let (queue, listener) = tenant_listener(&state, &caller, path, TokenScope::ReadOnly).await?;
    dead_letters(&queue, &listener, q).await
}

pub(super) async fn tenant_replay(
    State(state): State<Arc<AppState>>,
    Path(path): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let (queue, listener) = tenant_listener(&state, &caller, path, TokenScope::Deploy).await?;
    replay(&queue, &listener, &body).await
}

pub(super) async fn tenant_purge(
    State(state): State<Arc<AppState>>,
    Path(path): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<IdQuery>,
) -> Result<Json<Value>, ApiError> {
    let (queue, listener) = tenant_listener(&state, &caller, path, TokenScope::Deploy).await?;
    purge(&queue, &listener, q).await
}

pub(super) async fn tenant_pending(
    State(state): State<Arc<AppState>>,
    Path(path): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let (queue, listener) = tenant_listener(&state, &caller, path, TokenScope::ReadOnly).await?;
    pending(&queue, &listener, q).await
}

/// Deletes the pending deliveries and dead letters of `listeners` (about to be deleted,
/// or their tenant): first, so that a queue that is down leaves everything as it was.
pub(super) async fn forget(state: &AppState, listeners: &[TenantListener]) -> Result<(), ApiError> {
    let Some(d) = &state.deliveries else {
        return Ok(());
    };
    for listener in listeners {
        let name = listener.qualified_name();
        let forgotten = d.queue.forget(&name).await.map_err(unavailable)?;
        tracing::info!(listener = %name, forgotten, "a deleted listener's deliveries forgotten");
    }
    Ok(())
}

async fn dead_letters(
    queue: &Arc<dyn DeliveryQueue>,
    listener: &str,
    q: ListQuery,
) -> Result<Json<Value>, ApiError> {
    let max = q.max.unwrap_or(DEFAULT_MAX);
    let found = queue.dead_letters(listener, max).await;
    let (letters, counts) = found.map_err(unavailable)?;
    Ok(Json(
        json!({ "dead_letters": letters, "count": counts.count, "dropped": counts.dropped }),
    ))
}

async fn replay(
    queue: &Arc<dyn DeliveryQueue>,
    listener: &str,
    body: &[u8],
) -> Result<Json<Value>, ApiError> {
    let id = if body.is_empty() {
        None
    } else {
        let body: ReplayBody = serde_json::from_slice(body).map_err(|e| {
            ApiError::BadRequest(format!(
                "the body is {{\"id\": \"<dead letter id>\"}}, or empty for all: {e}"
            ))
        })?;
        body.id
    };
    let replayed = queue
        .replay(listener, id.as_deref(), SystemClock.now_ms())
        .await
        .map_err(unavailable)?;
    if id.is_some() && replayed == 0 {
        return Err(ApiError::NotFound(format!(
            "listener `{listener}` has no dead letter with that id"
        )));
    }
    Ok(Json(json!({ "replayed": replayed })))
}

async fn purge(
    queue: &Arc<dyn DeliveryQueue>,
    listener: &str,
    q: IdQuery,
) -> Result<Json<Value>, ApiError> {
    let purged = queue.purge_dead(listener, q.id.as_deref()).await;
    Ok(Json(json!({ "purged": purged.map_err(unavailable)? })))
}

async fn pending(
    queue: &Arc<dyn DeliveryQueue>,
    listener: &str,
    q: ListQuery,
) -> Result<Json<Value>, ApiError> {
    let pending = queue.pending(listener, q.max.unwrap_or(DEFAULT_MAX)).await;
    Ok(Json(json!({ "pending": pending.map_err(unavailable)? })))
}

pub(super) async fn list_rejected(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let d = deliveries(&state)?;
    let (rejected, counts) = d
        .queue
        .rejected(input(&name)?, q.max.unwrap_or(DEFAULT_MAX))
        .await
        .map_err(unavailable)?;
    Ok(Json(
        json!({ "rejected": rejected, "count": counts.count, "dropped": counts.dropped }),
    ))
}

pub(super) async fn purge_rejected(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let d = deliveries(&state)?;
    let purged = d
        .queue
        .purge_rejected(input(&name)?)
        .await
        .map_err(unavailable)?;
    Ok(Json(json!({ "purged": purged })))
}
