//! A tenant's components:
//!
//! - `POST /v1/tenants/{tenant}/components[?validate_only=true]`: the component's bytes as
//!   the body (up to the tenant's `quotas.max_component_bytes`, read as it comes, not the
//!   event routes' `max_body_bytes`). The upload answers once the component is checked
//!   and compiled (apart, in the compile child): 201 with its digest, size, contract
//!   version and imports; 200 for bytes the tenant already has (the same component); with
//!   `validate_only`, 200 and nothing kept. A refusal is a 4xx naming the problem.
//! - `GET /v1/tenants/{tenant}/components`: the tenant's components, oldest first.
//!
//! A tenant's deploy token uploads (its read-only token lists); the operator may do both
//! for any tenant. Another tenant's token gets 404: it learns nothing of the tenant.

use super::tenants::{now_ms, tenant_id};
use super::{ApiError, AppState};
use crate::engine::{CompileChild, Engine};
use crate::registry::{digest, Caller, StoredComponent, TenantId, TokenScope};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// What uploads need: the engine that checks and loads, and the compile child.
#[derive(Debug, Clone)]
pub(crate) struct Uploads {
    /// The serving engine (its precompiled cache receives the artifacts).
    pub(crate) engine: Engine,
    /// Where and under which limits components compile.
    pub(crate) child: CompileChild,
    /// Where the components' bytes are (`<digest>.wasm`).
    pub(crate) components_dir: std::path::PathBuf,
    /// Whose compiles run, and in which order.
    pub(crate) compiles: CompileQueue,
}

/// The uploads' compiles: at most `slots` compile children at once, in arrival order, and
/// at most one compile per tenant (its next upload, sent meanwhile, is answered 429): one
/// tenant's uploads cannot fill the queue, and each waits behind at most one of every
/// other tenant's.
#[derive(Debug, Clone)]
pub(crate) struct CompileQueue {
    slots: Arc<tokio::sync::Semaphore>,
    compiling: Arc<std::sync::Mutex<std::collections::HashSet<TenantId>>>,
}

/// A tenant's turn in the queue: its compile, while it lasts.
pub(crate) struct CompileTurn {
    queue: CompileQueue,
    tenant: TenantId,
}

impl CompileQueue {
    /// A queue of `slots` compile children at once (at least one).
    pub(crate) fn new(slots: usize) -> CompileQueue {
        CompileQueue {
            slots: Arc::new(tokio::sync::Semaphore::new(slots.max(1))),
            compiling: Arc::default(),
        }
    }

    fn compiling(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<TenantId>> {
        self.compiling
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `tenant`'s turn, unless one of its compiles is running or waiting.
    pub(crate) fn enter(&self, tenant: &TenantId) -> Result<CompileTurn, ApiError> {
        if !self.compiling().insert(tenant.clone()) {
            return Err(ApiError::TooMany(format!(
                "a component of tenant `{tenant}` is compiling: send this one when it is answered"
            )));
        }
        Ok(CompileTurn {
            queue: self.clone(),
            tenant: tenant.clone(),
        })
    }
}

impl CompileTurn {
    /// Waits for a compile slot (in arrival order).
    pub(crate) async fn slot(&self) -> tokio::sync::OwnedSemaphorePermit {
        let slots = self.queue.slots.clone();
        // Never closed: the queue owns the semaphore.
        slots
            .acquire_owned()
            .await
            .unwrap_or_else(|_| unreachable!("the compile queue's semaphore is never closed"))
    }
}

impl Drop for CompileTurn {
    fn drop(&mut self) {
        self.queue.compiling().remove(&self.tenant);
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UploadOptions {
    #[serde(default)]
    validate_only: bool,
}

/// Refuses `caller` on tenant `id`'s resources unless it is the operator or that tenant
/// with a token of `needs` (a deploy token does everything a read-only one does).
pub(super) fn allow(caller: &Caller, id: &TenantId, needs: TokenScope) -> Result<(), ApiError> {
    match caller {
        Caller::Operator => Ok(()),
        Caller::Tenant { id: own, .. } if own != id => {
            Err(ApiError::NotFound(format!("no tenant `{id}`")))
        }
        Caller::Tenant { scope, .. } if needs == TokenScope::Deploy && *scope != needs => {
            Err(ApiError::Forbidden(
                "this token is read-only: changes need a deploy token of the tenant".into(),
            ))
        }
        Caller::Tenant { .. } => Ok(()),
    }
}

fn view(c: &StoredComponent) -> Value {
    json!({
        "digest": c.digest,
        "size": c.size,
        "contract": c.contract,
        "imports": c.imports,
        "tenant": c.tenant,
        "uploaded_ms": c.uploaded_ms,
    })
}

pub(super) async fn upload(
    State(state): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    Extension(caller): Extension<Caller>,
    options: Result<Query<UploadOptions>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = tenant_id(&tenant)?;
    allow(&caller, &id, TokenScope::Deploy)?;
    let Query(options) = options.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let uploads = state.uploads.as_ref().ok_or_else(|| {
        ApiError::Unavailable(
            "uploads need the precompiled cache: set [engine] precompiled = true".into(),
        )
    })?;
    let quota = state.registry.tenant(&id).await?.quotas.max_component_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let over = |size: u64| {
        ApiError::Registry(
            crate::registry::Invalid::ComponentTooLarge {
                tenant: id.clone(),
                size,
                quota,
            }
            .into(),
        )
    };
    if let Some(size) = declared.filter(|s| *s > quota) {
        return Err(over(size));
    }
    let limit = usize::try_from(quota).unwrap_or(usize::MAX);
    // Read as it comes, and no further than the quota.
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|e| match declared {
            // Within the declared length (checked above): the body itself failed.
            Some(_) => {
                ApiError::BadRequest(format!("the component's bytes could not be read: {e}"))
            }
            // No length declared: the stream went past the quota.
            None => over(quota.saturating_add(1)),
        })?;
    let size = bytes.len() as u64;
    let digest = digest(&bytes);
    if let Some(same) = state.registry.room_for(&id, &digest, size).await? {
        return Ok((StatusCode::OK, Json(view(&same))));
    }
    let turn = uploads.compiles.enter(&id)?;
    let slot = turn.slot().await;
    let loaded = load(&uploads.engine, &uploads.child, &digest, &bytes).await;
    drop((slot, turn));
    let loaded = loaded?;
    let record = StoredComponent {
        v: crate::registry::COMPONENT_VERSION,
        tenant: id,
        digest,
        size,
        contract: loaded.version,
        imports: loaded.imports,
        uploaded_ms: now_ms(),
    };
    if options.validate_only {
        return Ok((StatusCode::OK, Json(view(&record))));
    }
    state.registry.add_component(&record, &bytes).await?;
    let detail = json!({ "size": size });
    super::audit(
        &state,
        &caller,
        &record.tenant,
        "component.upload",
        &record.digest,
        detail,
    )
    .await;
    Ok((StatusCode::CREATED, Json(view(&record))))
}

/// Checks and compiles `bytes` apart: what the check found.
pub(super) async fn load(
    engine: &Engine,
    child: &CompileChild,
    digest: &str,
    bytes: &[u8],
) -> Result<crate::engine::ComponentInfo, ApiError> {
    let name = format!("upload {}", &digest[..12]);
    Ok(engine.load_apart(&name, bytes, child).await?.info)
}

pub(super) async fn list(
    State(state): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    let id = tenant_id(&tenant)?;
    allow(&caller, &id, TokenScope::ReadOnly)?;
    let components = state.registry.components(&id).await?;
    let views: Vec<Value> = components.iter().map(view).collect();
    Ok(Json(json!({ "components": views })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_compiles_one_component_at_a_time_and_others_are_not_held_by_it() {
        let queue = CompileQueue::new(1);
        let (acme, beta): (TenantId, TenantId) = ("acme".parse().unwrap(), "beta".parse().unwrap());
        let turn = queue.enter(&acme).expect("acme's first");
        let again = queue
            .enter(&acme)
            .err()
            .expect("acme's second waits for none: 429");
        assert!(
            matches!(again, ApiError::TooMany(ref m) if m.contains("`acme` is compiling")),
            "{again}"
        );
        let _beta = queue.enter(&beta).expect("beta is not held by acme's turn");
        drop(turn);
        assert!(queue.enter(&acme).is_ok(), "acme's turn ended");
    }
}
