//! The one error type of the HTTP API: client errors say what was wrong and how to fix
//! it. A listener's failure is a verdict, not an error; the durable queue being
//! unreachable is [`ApiError::Unavailable`].

use crate::engine::CompileError;
use crate::registry::{Invalid, RegistryError};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

/// An error answered to an HTTP client.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// The request is malformed: the message names the field and what to do.
    #[error("{0}")]
    BadRequest(String),
    /// The body is over the limit.
    #[error("the request body is over the limit of {limit} bytes ([server] max_body_bytes)")]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// No token where one is needed, or a token that is not (or no longer) valid.
    #[error("send `Authorization: Bearer <token>`: the operator token ([server] operator_token), or on a tenant's routes a live API token of an enabled tenant")]
    Unauthorized,
    /// A valid token that may not do this.
    #[error("{0}")]
    Forbidden(String),

    /// No such listener, input or record: the message says which exist.
    #[error("{0}")]
    NotFound(String),
    /// The durable queue did not answer (Redis down): try again later.
    #[error("{0}")]
    Unavailable(String),
    /// The caller already has as much of something running as it may (a compile).
    #[error("{0}")]
    TooMany(String),
    /// An uploaded component was refused, went past a limit of compilation, or could not
    /// be compiled apart.
    #[error("{0}")]
    Compile(#[from] CompileError),
    /// The registry refused (no such tenant, a stale revision, a bad field) or failed.
    #[error("{0}")]
    Registry(#[from] RegistryError),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Compile(e) => match e {
                CompileError::Refused(_) => StatusCode::BAD_REQUEST,
                CompileError::CpuTime { .. } | CompileError::Memory { .. } => {
                    StatusCode::UNPROCESSABLE_ENTITY
                }
                CompileError::WallClock { .. }
                | CompileError::Spawn { .. }
                | CompileError::Child { .. }
                | CompileError::NoArtifactCache
                | CompileError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
            },
            ApiError::Registry(e) => match e {
                RegistryError::NoTenant(_)
                | RegistryError::NoToken { .. }
                | RegistryError::NoListener { .. }
                | RegistryError::NoVersion { .. } => StatusCode::NOT_FOUND,
                RegistryError::ListenerStale { .. } => StatusCode::PRECONDITION_FAILED,
                RegistryError::ListenerConflict { .. } => StatusCode::CONFLICT,
                RegistryError::TenantExists(_) | RegistryError::Conflict(_) => StatusCode::CONFLICT,
                RegistryError::Stale { .. } => StatusCode::PRECONDITION_FAILED,
                RegistryError::Invalid(Invalid::ComponentTooLarge { .. }) => {
                    StatusCode::PAYLOAD_TOO_LARGE
                }
                RegistryError::Invalid(Invalid::StoredTooMuch { .. }) => StatusCode::CONFLICT,
                RegistryError::Invalid(_) => StatusCode::BAD_REQUEST,
                RegistryError::Store(_)
                | RegistryError::Record { .. }
                | RegistryError::Random(_) => StatusCode::SERVICE_UNAVAILABLE,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if matches!(self, ApiError::Registry(_) | ApiError::Compile(_)) && status.is_server_error()
        {
            tracing::error!(error = %self, "answered {status}");
        }
        let body = serde_json::json!({
            "error": status.canonical_reason().unwrap_or("error"),
            "message": self.to_string(),
        });
        (status, Json(body)).into_response()
    }
}
