//! `GET /v1/invocations`: the invocation log, newest first, filtered by `listener`,
//! `outcome`, `event_id`, `since` and `until` (ms since the epoch or RFC 3339), at most
//! `limit` (default 100) records.

use super::{ApiError, AppState};
use crate::engine::OutcomeKind;
use crate::invocations::{parse_time, Invocation, InvocationQuery};
use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use std::sync::Arc;

/// Records a query answers when it names no `limit`.
const DEFAULT_LIMIT: usize = 100;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Params {
    listener: Option<String>,
    outcome: Option<OutcomeKind>,
    event_id: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<usize>,
}

pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<Invocation>>, ApiError> {
    let Query(p) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let (log, listeners) = state.invocations.as_ref().ok_or_else(|| {
        ApiError::NotFound("the invocation log is off ([invocations] enabled = false)".into())
    })?;
    let time = |t: Option<String>| t.map(|t| parse_time(&t)).transpose();
    let query = InvocationQuery {
        listener: p.listener,
        outcome: p.outcome,
        event_id: p.event_id,
        since_ms: time(p.since).map_err(ApiError::BadRequest)?,
        until_ms: time(p.until).map_err(ApiError::BadRequest)?,
        limit: p.limit.unwrap_or(DEFAULT_LIMIT),
    };
    let found = log.query(&query, listeners).await;
    let found = found.map_err(|e| ApiError::Unavailable(format!("{e}; try again later")))?;
    Ok(Json(found))
}
