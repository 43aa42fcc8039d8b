//! The `queue` capability: policy and size checks, then a backend pushes the payload.

use super::before_deadline;
use crate::bindings::queue::{Host, PushError};
use crate::policy::QueuePolicy;
use std::sync::Arc;
use std::time::Instant;

/// One payload pushed onto one queue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct QueuePush {
    /// The list's name.
    pub queue: String,
    /// The bytes pushed (serialised as text, invalid UTF-8 replaced).
    #[serde(serialize_with = "lossy_text")]
    pub payload: Vec<u8>,
}

fn lossy_text<S: serde::Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(bytes))
}

/// Why a backend did not push.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("queue backend unavailable: {0}")]
pub struct QueueBackendError(pub String);

/// Pushes payloads that passed the policy (`LPUSH`, as kinto-redis does).
#[async_trait::async_trait]
pub trait QueueBackend: Send + Sync + 'static {
    /// Pushes `payload` onto the head of `queue`.
    async fn push(&self, queue: &str, payload: &[u8]) -> Result<(), QueueBackendError>;
}

/// One call's queue capability.
pub(crate) struct QueueCtx {
    policy: Arc<QueuePolicy>,
    backend: Arc<dyn QueueBackend>,
    deadline: Instant,
    /// Pushes the backend accepted during this call.
    pub(crate) pushed: Vec<QueuePush>,
}

impl QueueCtx {
    /// A context for one call that must end by `deadline`.
    pub(crate) fn new(
        policy: Arc<QueuePolicy>,
        backend: Arc<dyn QueueBackend>,
        deadline: Instant,
    ) -> QueueCtx {
        QueueCtx {
            policy,
            backend,
            deadline,
            pushed: Vec::new(),
        }
    }

    /// Starts the next call on a reused instance: its own deadline and record.
    pub(crate) fn next_call(&mut self, deadline: Instant) {
        self.deadline = deadline;
        self.pushed.clear();
    }

    fn admit(&self, name: &str, payload: &[u8]) -> Result<(), PushError> {
        if let Some(why) = self.policy.refusal(name) {
            return Err(PushError::NotPermitted(why));
        }
        let max = self.policy.max_payload_bytes;
        if payload.len() > max {
            let why = format!("payload is {} bytes, at most {max} allowed", payload.len());
            return Err(PushError::TooLarge(why));
        }
        Ok(())
    }
}

impl Host for QueueCtx {
    async fn push(
        &mut self,
        name: String,
        payload: Vec<u8>,
    ) -> wasmtime::Result<Result<(), PushError>> {
        if let Err(refused) = self.admit(&name, &payload) {
            return Ok(Err(refused));
        }
        let io = self.backend.push(&name, &payload);
        Ok(match before_deadline(self.deadline, "queue", io).await? {
            Ok(()) => {
                self.pushed.push(QueuePush {
                    queue: name,
                    payload,
                });
                Ok(())
            }
            Err(QueueBackendError(why)) => Err(PushError::Unavailable(why)),
        })
    }
}
