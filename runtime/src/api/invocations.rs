//! `GET /v1/invocations`: the invocation log, newest first, filtered by `listener`,
//! `outcome`, `event_id`, `since` and `until` (ms since the epoch or RFC 3339), at most
//! `limit` (default 100) records. `GET /v1/tenants/{t}/invocations`: a tenant's own.

use super::components::allow;
use super::tenants::tenant_id;
use super::{ApiError, AppState};
use crate::engine::OutcomeKind;
use crate::invocations::{parse_time, Invocation, InvocationQuery, InvocationStore};
use crate::registry::{Caller, TokenScope};
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use serde::Deserialize;
use std::sync::Arc;

/// Records a query answers when it names no `limit`.
const DEFAULT_LIMIT: usize = 100;

#[derive(Debug, Clone, Deserialize)]
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
    let (log, listeners) = log(&state)?;
    let query = query(p, None)?;
    let found = log.query(&query, listeners).await;
    Ok(Json(found.map_err(unavailable)?))
}

/// `GET /v1/tenants/{t}/invocations`: the same, over the tenant's listeners only (`listener`
/// names one of them, without its tenant), through its token or the operator's.
pub(super) async fn list_tenant(
    State(state): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    Extension(caller): Extension<Caller>,
    params: Result<Query<Params>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<Invocation>>, ApiError> {
    let Query(mut p) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let id = tenant_id(&tenant)?;
    allow(&caller, &id, TokenScope::ReadOnly)?;
    let (log, _) = log(&state)?;
    let names: Vec<String> = match p.listener.take() {
        Some(name) => vec![state.registry.listener(&id, &name).await?.qualified_name()],
        None => {
            let listeners = state.registry.listeners(&id).await?;
            listeners.iter().map(|l| l.qualified_name()).collect()
        }
    };
    // One query per listener (a store may be keyed by listener), merged newest first.
    let mut found = Vec::new();
    for name in &names {
        let query = query(
            Params {
                listener: None,
                ..p.clone()
            },
            Some(name.clone()),
        )?;
        found.extend(
            log.query(&query, names.as_slice())
                .await
                .map_err(unavailable)?,
        );
    }
    found.sort_by_key(|r| std::cmp::Reverse((r.at_ms, r.id)));
    found.truncate(p.limit.unwrap_or(DEFAULT_LIMIT));
    Ok(Json(found))
}

fn log(state: &AppState) -> Result<(&Arc<dyn InvocationStore>, &[String]), ApiError> {
    let (log, listeners) = state.invocations.as_ref().ok_or_else(|| {
        ApiError::NotFound("the invocation log is off ([invocations] enabled = false)".into())
    })?;
    Ok((log, listeners))
}

/// The query `p` asks for (of `listener`, when given, instead of `p`'s).
fn query(p: Params, listener: Option<String>) -> Result<InvocationQuery, ApiError> {
    let time = |t: Option<String>| t.map(|t| parse_time(&t)).transpose();
    Ok(InvocationQuery {
        listener: listener.or(p.listener),
        outcome: p.outcome,
        event_id: p.event_id,
        since_ms: time(p.since).map_err(ApiError::BadRequest)?,
        until_ms: time(p.until).map_err(ApiError::BadRequest)?,
        limit: p.limit.unwrap_or(DEFAULT_LIMIT),
    })
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::Unavailable(format!("{e}; try again later"))
}
