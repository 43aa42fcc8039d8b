//! The host side of the contract: one module per capability, each a context owned by the
//! store's data (`engine` owns the store) and the generated `Host` impl.
//!
//! Every capability checks its policy first and treats every value from the guest as
//! hostile. Guest-visible failures are the WIT error variants; host failures (a deadline
//! passing inside a host call) are traps of the types below, which `engine` turns into an
//! [`crate::Outcome`]. Email and queue reach the outside through a backend trait
//! ([`EmailBackend`], [`QueueBackend`]) that `backends` implements, so the capability logic
//! is tested without a network.

pub(crate) mod email;
pub(crate) mod log;
pub(crate) mod queue;
pub(crate) mod settings;

pub use email::{Email, EmailBackend, EmailBackendError};
pub use log::{LogLevel, LogLine, LogStream};
pub use queue::{QueueBackend, QueueBackendError, QueuePush};

use std::future::Future;
use std::time::Instant;

/// Trap: the call's deadline passed while a host call was waiting.
#[derive(Debug, thiserror::Error)]
#[error("the call's deadline passed while `{capability}` was waiting")]
pub(crate) struct DeadlineExceeded {
    /// The capability that was waiting (`email`, `queue`).
    pub(crate) capability: &'static str,
}

/// Runs a host call's I/O until `deadline`. Epoch interruption only stops wasm code, so
/// every host call that waits goes through here; past the deadline it traps with
/// [`DeadlineExceeded`].
pub(crate) async fn before_deadline<T>(
    deadline: Instant,
    capability: &'static str,
    io: impl Future<Output = T>,
) -> wasmtime::Result<T> {
    match tokio::time::timeout_at(deadline.into(), io).await {
        Ok(value) => Ok(value),
        Err(_) => Err(wasmtime::Error::new(DeadlineExceeded { capability })),
    }
}

/// Backends that send nothing: a message or push only shows in the call's report
/// (`invoke`, `check`, tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct RecordOnly;

#[async_trait::async_trait]
impl EmailBackend for RecordOnly {
    async fn send(&self, _: &Email, _: Instant) -> Result<(), EmailBackendError> {
        Ok(())
    }
}

#[async_trait::async_trait]
impl QueueBackend for RecordOnly {
    async fn push(&self, _: &str, _: &[u8], _: Option<u64>) -> Result<(), QueueBackendError> {
        Ok(())
    }
}
