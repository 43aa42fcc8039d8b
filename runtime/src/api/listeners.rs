//! A tenant's listeners and their versions (the tenant's deploy token changes, its
//! read-only token reads; the operator does both for any tenant):
//!
//! - `PUT /v1/tenants/{t}/listeners/{name}`: a definition (the component's digest, mode,
//!   actions, resources, settings, secret settings, limits, email and queue rules) becomes
//!   the next version and is activated, once the registry's rules and the component's own
//!   `validate-settings` accept it. `If-Match: "<revision>"` refuses a lost update (412).
//!   201 for a new listener, 200 for a new version.
//! - `GET /v1/tenants/{t}/listeners`, `GET .../listeners/{name}`: with the active version.
//! - `GET .../listeners/{name}/versions`: the versions kept, newest first.
//! - `POST .../listeners/{name}/rollback` (`{"version": N}`): version N's definition,
//!   activated again as a new version.
//! - `POST .../listeners/{name}/pause`, `.../resume`; `DELETE .../listeners/{name}`.
//! - `POST .../listeners/{name}/invoke[?version=N]`: a version run on the event in the
//!   body, its effects recorded, not sent.
//!
//! Secret settings are answered as `<redacted>`.

use super::components::allow;
use super::tenants::{if_match, now_ms, tenant_id};
use super::{ApiError, AppState};
use crate::dispatch::TenantRoute;
use crate::engine::{Capabilities, ListenerSpec, Outcome};
use crate::event::{self, Source};
use crate::registry::{
    Caller, ListenerDefinition, ListenerVersion, RegistryError, TenantId, TenantListener,
    TokenScope,
};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Rollback {
    version: u32,
}

fn version_view(v: &ListenerVersion) -> Value {
    json!({
        "number": v.number,
        "definition": v.definition.redacted(),
        "created_ms": v.created_ms,
        "by": v.by,
        "rollback_of": v.rollback_of,
    })
}

fn view(l: &TenantListener) -> Value {
    json!({
        "tenant": l.tenant,
        "name": l.name,
        "active": l.active,
        "paused": l.paused,
        "revision": l.revision,
        "active_version": l.active_version().map(version_view),
    })
}

/// A listener, with its revision as the `ETag`.
fn answer(status: StatusCode, listener: &TenantListener) -> Response {
    let mut response = (status, Json(view(listener))).into_response();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", listener.revision)) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

/// Runs the component's `validate-settings` on `definition`'s settings: refused, a 400
/// with the listener's own explanation.
async fn validate_settings(
    state: &AppState,
    id: &TenantId,
    name: &str,
    definition: &ListenerDefinition,
) -> Result<(), ApiError> {
    let uploads = state.uploads.as_ref().ok_or_else(|| {
        ApiError::Unavailable(
            "listeners of tenants need the precompiled cache: set [engine] precompiled = true"
                .into(),
        )
    })?;
    let path = uploads
        .components_dir
        .join(format!("{}.wasm", definition.component));
    let bytes = tokio::fs::read(&path).await.map_err(|e| {
        tracing::error!(path = %path.display(), "cannot read a component: {e}");
        ApiError::Unavailable(format!(
            "component {} cannot be read now; try again later",
            definition.component
        ))
    })?;
    let loading = format!("listener {id}/{name}");
    let loaded = uploads.engine.load_apart(&loading, &bytes, &uploads.child);
    let loaded = loaded.await?;
    let mut spec = ListenerSpec::new(format!("{id}/{name}"));
    spec.settings = definition.settings.clone();
    spec.limits = definition.limits.clone().unwrap_or_default();
    let listener = uploads
        .engine
        .listener(&loaded, spec, Capabilities::record_only())
        .map_err(|e| ApiError::BadRequest(format!("limits: {e}")))?;
    match listener.validate_settings().await.outcome {
        Outcome::Ok => Ok(()),
        Outcome::ListenerError { message, .. } => Err(ApiError::BadRequest(format!(
            "the component refused these settings (validate-settings): {message}"
        ))),
        other => Err(ApiError::BadRequest(format!(
            "the component's validate-settings did not end ok: {other}"
        ))),
    }
}

pub(super) async fn put(
    State(state): State<Arc<AppState>>,
    Path((tenant, name)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Json<ListenerDefinition>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let id = tenant_id(&tenant)?;
    allow(&caller, &id, TokenScope::Deploy)?;
    let Json(definition) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let expected = if_match(&headers)?;
    let definition = state
        .registry
        .check_definition(&id, &name, definition)
        .await?;
    validate_settings(&state, &id, &name, &definition).await?;
    let put = state.registry.put_listener(
        &id,
        &name,
        definition,
        expected,
        super::who(&caller),
        now_ms(),
    );
    let (listener, created) = put.await?;
    let detail = json!({ "version": listener.active, "component": listener.active_version().map(|v| &v.definition.component) });
    super::audit(&state, &caller, &id, "listener.put", &name, detail).await;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(answer(status, &listener))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InvokeQuery {
    version: Option<u32>,
}

/// `POST .../listeners/{name}/invoke[?version=N]`: runs version N (the active one by
/// default) on the Kinto event in the body, under its effective policy, on backends that
/// only record: the answer has each call's outcome, log, and the emails and queue pushes
/// it would have made; nothing is sent.
pub(super) async fn invoke(
    State(state): State<Arc<AppState>>,
    Path((tenant, name)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<InvokeQuery>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = tenant_id(&tenant)?;
    allow(&caller, &id, TokenScope::Deploy)?;
    let tenants = state.tenants.as_ref().ok_or_else(|| {
        ApiError::Unavailable("listeners of tenants need [engine] precompiled = true".into())
    })?;
    let the_tenant = Arc::new(state.registry.tenant(&id).await?);
    let listener = state.registry.listener(&id, &name).await?;
    let number = q.version.unwrap_or(listener.active);
    let version = listener.versions.iter().find(|v| v.number == number);
    let version = version.ok_or_else(|| RegistryError::NoVersion {
        tenant: id.clone(),
        name: name.clone(),
        version: number,
        kept: listener.versions.iter().map(|v| v.number).collect(),
    })?;
    let events = event::parse_events(&body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let [incoming] = <[_; 1]>::try_from(events).map_err(|events: Vec<_>| {
        ApiError::BadRequest(format!(
            "the body holds {} events: invoke runs one",
            events.len()
        ))
    })?;
    let route = TenantRoute::new(the_tenant, &listener, version);
    let delivery = incoming.first_delivery(Source::Http);
    let reports = tenants.invoke(&route, &incoming.event, &delivery).await;
    let reports = reports.map_err(|e| ApiError::Unavailable(format!("{e}; try again later")))?;
    Ok(Json(json!({
        "listener": route.name,
        "version": number,
        "wanted": route.wants(&incoming.event),
        "calls": reports,
    })))
}

pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    let id = tenant_id(&tenant)?;
    allow(&caller, &id, TokenScope::ReadOnly)?;
    let listeners = state.registry.listeners(&id).await?;
    let views: Vec<Value> = listeners.iter().map(view).collect();
    Ok(Json(json!({ "listeners": views })))
}

pub(super) async fn show(
    State(state): State<Arc<AppState>>,
    Path((tenant, name)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let id = tenant_id(&tenant)?;
    allow(&caller, &id, TokenScope::ReadOnly)?;
    let listener = state.registry.listener(&id, &name).await?;
    Ok(answer(StatusCode::OK, &listener))
}

pub(super) async fn versions(
    State(state): State<Arc<AppState>>,
    Path((tenant, name)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    let id = tenant_id(&tenant)?;
    allow(&caller, &id, TokenScope::ReadOnly)?;
    let listener = state.registry.listener(&id, &name).await?;
    let views: Vec<Value> = listener.versions.iter().rev().map(version_view).collect();
    Ok(Json(
        json!({ "active": listener.active, "versions": views }),
    ))
}

pub(super) async fn rollback(
    State(state): State<Arc<AppState>>,
    Path((tenant, name)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Json<Rollback>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let id = tenant_id(&tenant)?;
    allow(&caller, &id, TokenScope::Deploy)?;
    let Json(rollback) = body.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let expected = if_match(&headers)?;
    let listener = state
        .registry
        .rollback(
            &id,
            &name,
            rollback.version,
            expected,
            super::who(&caller),
            now_ms(),
        )
        .await?;
    let detail = json!({ "version": listener.active, "rollback_of": rollback.version });
    super::audit(&state, &caller, &id, "listener.rollback", &name, detail).await;
    Ok(answer(StatusCode::OK, &listener))
}

async fn set_paused(
    state: &AppState,
    tenant: &str,
    name: &str,
    caller: &Caller,
    paused: bool,
) -> Result<Response, ApiError> {
    let id = tenant_id(tenant)?;
    allow(caller, &id, TokenScope::Deploy)?;
    let listener = state.registry.set_paused(&id, name, paused).await?;
    let action = if paused {
        "listener.pause"
    } else {
        "listener.resume"
    };
    super::audit(state, caller, &id, action, name, json!({})).await;
    Ok(answer(StatusCode::OK, &listener))
}

pub(super) async fn pause(
    State(state): State<Arc<AppState>>,
    Path((tenant, name)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    set_paused(&state, &tenant, &name, &caller, true).await
}

pub(super) async fn resume(
    State(state): State<Arc<AppState>>,
    Path((tenant, name)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    set_paused(&state, &tenant, &name, &caller, false).await
}

pub(super) async fn delete(
    State(state): State<Arc<AppState>>,
    Path((tenant, name)): Path<(String, String)>,
    Extension(caller): Extension<Caller>,
) -> Result<StatusCode, ApiError> {
    let id = tenant_id(&tenant)?;
    allow(&caller, &id, TokenScope::Deploy)?;
    let listener = state.registry.listener(&id, &name).await?;
    super::deliveries::forget(&state, &[listener]).await?;
    state.registry.delete_listener(&id, &name).await?;
    super::audit(&state, &caller, &id, "listener.delete", &name, json!({})).await;
    Ok(StatusCode::NO_CONTENT)
}
