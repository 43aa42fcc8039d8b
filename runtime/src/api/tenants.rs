//! Tenants and their API tokens, for the operator:
//!
//! - `POST /v1/tenants` (`{"id": ..., "name", "buckets", "quotas", "disabled"}`): 201.
//! - `GET /v1/tenants?after=ID&limit=N`: in id order, with `next` to page on.
//! - `GET /v1/tenants/{tenant}`; `PATCH` (the fields to change; `If-Match: "<revision>"`
//!   refuses a change made against an older revision: 412); `DELETE`: the tenant and its
//!   tokens, which stop working at once.
//! - `POST /v1/tenants/{tenant}/tokens` (`{"scope": "deploy" | "read-only", "label",
//!   "expires_ms"}`): the token, shown in this answer only. `GET` lists them (prefixes,
//!   never the tokens); `DELETE /v1/tenants/{tenant}/tokens/{prefix}` revokes one.
//!
//! Every answer carrying a tenant carries its revision as the `ETag`.
//!
//! And for any caller: `GET /v1/whoami`, who the token says the caller is.

use super::{ApiError, AppState};
use crate::registry::{ApiToken, Caller, Registry, Tenant, TenantChange, TenantId, TokenScope};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Tenants listed by default.
const DEFAULT_LIMIT: usize = 100;
/// Who calls these routes (they are the operator's).
const OPERATOR: Caller = Caller::Operator;

/// A new tenant: its id, and the fields of a [`TenantChange`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Create {
    id: String,
    name: Option<String>,
    buckets: Option<Vec<String>>,
    quotas: Option<crate::registry::Quotas>,
    disabled: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Page {
    after: Option<String>,
    limit: Option<usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewToken {
    scope: TokenScope,
    #[serde(default)]
    label: String,
    expires_ms: Option<u64>,
}

/// Ms since the epoch, now.
pub(super) fn now_ms() -> u64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH);
    u64::try_from(since.unwrap_or_default().as_millis()).unwrap_or(u64::MAX)
}

fn registry(state: &AppState) -> &Registry {
    &state.registry
}

/// The tenant a path names: one whose id breaks the rule does not exist.
pub(super) fn tenant_id(text: &str) -> Result<TenantId, ApiError> {
    text.parse()
        .map_err(|_| ApiError::NotFound(format!("no tenant `{text}`")))
}

/// A tenant, with its revision as the `ETag`.
fn with_etag(status: StatusCode, tenant: &Tenant) -> Response {
    let etag = format!("\"{}\"", tenant.revision);
    let mut response = (status, Json(tenant)).into_response();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// The revision an `If-Match` header names: `"3"` or `3`.
pub(super) fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or_default().trim();
    let revision = text.trim_start_matches("W/").trim_matches('"');
    revision.parse().map(Some).map_err(|_| {
        ApiError::BadRequest(format!(
            "If-Match: `{text}` is not a revision: send the ETag of the tenant's last answer, such as \"3\""
        ))
    })
}

/// A token's record as answered: everything but its hash.
fn token_view(token: &ApiToken) -> Value {
    json!({
        "prefix": token.prefix,
        "tenant": token.tenant,
        "scope": token.scope,
        "label": token.label,
        "created_ms": token.created_ms,
        "expires_ms": token.expires_ms,
        "revoked_ms": token.revoked_ms,
    })
}

pub(super) async fn create(
    State(state): State<Arc<AppState>>,
    body: Result<Json<Create>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(create) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let id: TenantId = create
        .id
        .parse()
        .map_err(|e: crate::registry::BadTenantId| ApiError::BadRequest(e.to_string()))?;
    let change = TenantChange {
        name: create.name,
        buckets: create.buckets,
        quotas: create.quotas,
        disabled: create.disabled,
    };
    let created = registry(&state).create_tenant(id, change, now_ms()).await?;
    let detail = json!({ "revision": created.revision });
    super::audit(
        &state,
        &OPERATOR,
        &created.id,
        "tenant.create",
        created.id.as_str(),
        detail,
    )
    .await;
    Ok(with_etag(StatusCode::CREATED, &created))
}

pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    page: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(page) = page.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let after = match page.after {
        Some(after) => Some(
            after
                .parse::<TenantId>()
                .map_err(|e| ApiError::BadRequest(format!("after: {e}")))?,
        ),
        None => None,
    };
    let limit = page.limit.unwrap_or(DEFAULT_LIMIT);
    let tenants = registry(&state).tenants(after.as_ref(), limit).await?;
    let next = (tenants.len() >= limit.clamp(1, crate::registry::MAX_PAGE))
        .then(|| tenants.last().map(|t| t.id.clone()))
        .flatten();
    Ok(Json(json!({ "tenants": tenants, "next": next })))
}

pub(super) async fn show(
    State(state): State<Arc<AppState>>,
    Path(tenant): Path<String>,
) -> Result<Response, ApiError> {
    let tenant = registry(&state).tenant(&tenant_id(&tenant)?).await?;
    Ok(with_etag(StatusCode::OK, &tenant))
}

pub(super) async fn update(
    State(state): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: Result<Json<TenantChange>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let id = tenant_id(&tenant)?;
    let Json(change) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let expected = if_match(&headers)?;
    let fields = changed_fields(&change);
    let updated = registry(&state)
        .update_tenant(&id, change, expected, now_ms())
        .await?;
    let detail = json!({ "revision": updated.revision, "fields": fields });
    super::audit(&state, &OPERATOR, &id, "tenant.update", id.as_str(), detail).await;
    Ok(with_etag(StatusCode::OK, &updated))
}

pub(super) async fn delete(
    State(state): State<Arc<AppState>>,
    Path(tenant): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = tenant_id(&tenant)?;
    let listeners = registry(&state).listeners(&id).await?;
    super::deliveries::forget(&state, &listeners).await?;
    registry(&state).delete_tenant(&id).await?;
    super::audit(
        &state,
        &OPERATOR,
        &id,
        "tenant.delete",
        id.as_str(),
        json!({}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn issue_token(
    State(state): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    body: Result<Json<NewToken>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = tenant_id(&tenant)?;
    let Json(new) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let issued = registry(&state)
        .issue_token(&id, new.scope, new.label, new.expires_ms, now_ms())
        .await?;
    let record = &issued.record;
    let detail = json!({ "scope": record.scope, "expires_ms": record.expires_ms });
    super::audit(
        &state,
        &OPERATOR,
        &id,
        "token.issue",
        &record.prefix,
        detail,
    )
    .await;
    let mut answer = token_view(record);
    answer["token"] = json!(issued.token);
    Ok((StatusCode::CREATED, Json(answer)))
}

pub(super) async fn tokens(
    State(state): State<Arc<AppState>>,
    Path(tenant): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let tokens = registry(&state).tokens(&tenant_id(&tenant)?).await?;
    let views: Vec<Value> = tokens.iter().map(token_view).collect();
    Ok(Json(json!({ "tokens": views })))
}

pub(super) async fn revoke_token(
    State(state): State<Arc<AppState>>,
    Path((tenant, prefix)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let id = tenant_id(&tenant)?;
    let revoked = registry(&state)
        .revoke_token(&id, &prefix, now_ms())
        .await?;
    super::audit(&state, &OPERATOR, &id, "token.revoke", &prefix, json!({})).await;
    Ok(Json(token_view(&revoked)))
}

pub(super) async fn whoami(Extension(caller): Extension<Caller>) -> Json<Value> {
    Json(match caller {
        Caller::Operator => json!({ "caller": "operator" }),
        Caller::Tenant { id, scope, token } => {
            json!({ "caller": "tenant", "tenant": id, "scope": scope, "token": token })
        }
    })
}

/// The fields a change sets, by name (for the audit log: names, not values).
fn changed_fields(change: &TenantChange) -> Vec<&'static str> {
    let set = [
        ("name", change.name.is_some()),
        ("buckets", change.buckets.is_some()),
        ("quotas", change.quotas.is_some()),
        ("disabled", change.disabled.is_some()),
    ];
    set.into_iter()
        .filter(|(_, s)| *s)
        .map(|(f, _)| f)
        .collect()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AuditPage {
    before: Option<u64>,
    limit: Option<usize>,
}

/// `GET /v1/tenants/{tenant}/audit?before=SEQ&limit=N`: who changed what, newest first
/// (the tenant's tokens, or the operator; a deleted tenant's history for the operator).
pub(super) async fn audit(
    State(state): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    Extension(caller): Extension<Caller>,
    page: Result<Query<AuditPage>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = tenant_id(&tenant)?;
    super::components::allow(&caller, &id, TokenScope::ReadOnly)?;
    let Query(page) = page.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let limit = page.limit.unwrap_or(DEFAULT_LIMIT);
    let entries = registry(&state).audit(&id, page.before, limit).await?;
    let next = entries
        .last()
        .map(|e| e.seq)
        .filter(|_| entries.len() >= limit);
    Ok(Json(json!({ "entries": entries, "next_before": next })))
}
