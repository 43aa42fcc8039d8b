//! Pushing to queues: Redis lists (`LPUSH`, as kinto-redis does, so `BRPOP` consumers keep
//! working), or the runtime's embedded store when no Redis is configured.

use std::fmt;

use crate::imports;

/// Pushes `payload` onto the head of the list `name`, if the listener's policy allows
/// that queue. In a host-side test, [`testing::Host`](crate::testing::Host) records it
/// instead.
///
/// ```no_run
/// # fn main() -> wasm_listeners_sdk::Result<()> {
/// wasm_listeners_sdk::queue::push("eventqueue", r#"{"action": "create"}"#)?;
/// # Ok(())
/// # }
/// ```
pub fn push(name: &str, payload: impl AsRef<[u8]>) -> Result<(), PushError> {
    imports::push(name, payload.as_ref())
}

/// Why a push failed. Converts into [`Error`](crate::Error): `Unavailable` is transient,
/// the rest permanent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushError {
    /// The policy forbids this queue name (named in the text).
    NotPermitted(String),
    /// The payload is over the size limit (named in the text).
    TooLarge(String),
    /// The queue backend is unreachable; try later.
    Unavailable(String),
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::NotPermitted(s) => write!(f, "queue not permitted: {s}"),
            PushError::TooLarge(s) => write!(f, "queue payload too large: {s}"),
            PushError::Unavailable(s) => write!(f, "queue unavailable: {s}"),
        }
    }
}

impl std::error::Error for PushError {}
