//! The `queue` capability: policy and size checks, then a backend pushes the payload; the
//! call's pushes are bounded in count and bytes.

use super::before_deadline;
use crate::bindings::queue::{Host, PushError};
use crate::limits::{HostLimit, HostLimitExceeded, Limits};
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

/// Why a backend did not push. The guest is told [`QueueBackendError::guest_reason`] (as
/// `push-error::unavailable`, a transient error): what went wrong, not where.
#[derive(Debug, thiserror::Error)]
pub enum QueueBackendError {
    /// Redis did not answer within the push timeout (reconnecting included).
    #[error("queue backend unavailable: redis: no answer within {ms} ms")]
    RedisTimeout {
        /// The push timeout, in ms.
        ms: u128,
    },
    /// Redis failed the push.
    #[error("queue backend unavailable: redis: {reason}")]
    Redis {
        /// What went wrong, naming no host (a server's error reply as Redis gave it, else
        /// the kind of failure): what the guest is told.
        reason: String,
        /// What the Redis client said (it may name the server's address: for the runtime's
        /// log only; kept opaque here: `redis` stays in `backends`).
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The embedded store failed the push. The guest is told the store's text, which
    /// names the store's file.
    #[error("queue backend unavailable: {0}")]
    Store(#[from] crate::store::StoreError),
    /// The queue holds as many items as it may: nothing was pushed.
    #[error("queue `{queue}` holds {max} items, the most its tenant's queues may hold (quotas.max_queue_length): its consumer is behind; try later")]
    Full {
        /// The queue.
        queue: String,
        /// The bound.
        max: u64,
    },
}

impl QueueBackendError {
    /// `queue` is full at `max` items ([`QueueBackend::push`]'s bound).
    pub fn full(queue: &str, max: u64) -> QueueBackendError {
        let queue = queue.to_owned();
        QueueBackendError::Full { queue, max }
    }

    /// What the guest is told, without the `queue backend unavailable: ` prefix.
    pub fn guest_reason(&self) -> String {
        match self {
            QueueBackendError::RedisTimeout { ms } => format!("redis: no answer within {ms} ms"),
            QueueBackendError::Redis { reason, .. } => format!("redis: {reason}"),
            QueueBackendError::Store(e) => e.to_string(),
            full @ QueueBackendError::Full { .. } => full.to_string(),
        }
    }
}

/// Pushes payloads that passed the policy (`LPUSH`, as kinto-redis does).
#[async_trait::async_trait]
pub trait QueueBackend: Send + Sync + 'static {
    /// Pushes `payload` onto the head of `queue`; with `max_length`, only if the queue
    /// holds fewer items than that (checked and pushed in one step), else
    /// [`QueueBackendError::Full`].
    async fn push(
        &self,
        queue: &str,
        payload: &[u8],
        max_length: Option<u64>,
    ) -> Result<(), QueueBackendError>;
}

/// What one call may push in all: [`Limits::max_queue_pushes`] and
/// [`Limits::max_queue_bytes`]. The records of a call's pushes keep their payloads, and a
/// guest can push in a loop: without this bound, one call held gigabytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueBudget {
    pushes: u32,
    bytes: usize,
}

impl QueueBudget {
    /// The budget of a call under `limits`.
    pub(crate) fn of(limits: &Limits) -> QueueBudget {
        QueueBudget {
            pushes: limits.max_queue_pushes,
            bytes: limits.max_queue_bytes,
        }
    }
}

/// One call's queue capability.
pub(crate) struct QueueCtx {
    policy: Arc<QueuePolicy>,
    backend: Arc<dyn QueueBackend>,
    deadline: Instant,
    budget: QueueBudget,
    /// Pushes handed to the backend in this call so far, accepted or not.
    attempts: u32,
    /// Their payload bytes.
    attempted_bytes: usize,
    /// Pushes the backend accepted during this call.
    pub(crate) pushed: Vec<QueuePush>,
}

impl QueueCtx {
    /// A context for one call that must end by `deadline`.
    pub(crate) fn new(
        policy: Arc<QueuePolicy>,
        backend: Arc<dyn QueueBackend>,
        deadline: Instant,
        budget: QueueBudget,
    ) -> QueueCtx {
        QueueCtx {
            policy,
            backend,
            deadline,
            budget,
            attempts: 0,
            attempted_bytes: 0,
            pushed: Vec::new(),
        }
    }

    /// Starts the next call on a reused instance: its own deadline and record.
    pub(crate) fn next_call(&mut self, deadline: Instant) {
        self.deadline = deadline;
        self.attempts = 0;
        self.attempted_bytes = 0;
        self.pushed.clear();
    }

    /// Counts a push against the call's budget, or ends the call (a trap) if the push
    /// would take it past the budget: that push does not reach the backend. Pushes the
    /// backend refused count too: each cost a round trip.
    fn spend(&mut self, payload: &[u8]) -> Result<(), HostLimitExceeded> {
        let max = self.budget.pushes;
        if self.attempts >= max {
            let detail = format!("push {} of one call, at most {max}", self.attempts + 1);
            let limit = HostLimit::QueuePushes;
            return Err(HostLimitExceeded { limit, detail });
        }
        let bytes = self.attempted_bytes.saturating_add(payload.len());
        if bytes > self.budget.bytes {
            let max = self.budget.bytes;
            let detail = format!("{bytes} payload bytes pushed by one call, at most {max}");
            let limit = HostLimit::QueueBytes;
            return Err(HostLimitExceeded { limit, detail });
        }
        self.attempts += 1;
        self.attempted_bytes = bytes;
        Ok(())
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
        self.spend(&payload)?;
        let io = self.backend.push(&name, &payload, self.policy.max_length);
        Ok(match before_deadline(self.deadline, "queue", io).await? {
            Ok(()) => {
                self.pushed.push(QueuePush {
                    queue: name,
                    payload,
                });
                Ok(())
            }
            Err(failed) => Err(PushError::Unavailable(failed.guest_reason())),
        })
    }
}
