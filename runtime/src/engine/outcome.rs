//! The one place where traps and limits become an [`Outcome`].

use super::limiter::MemoryLimitExceeded;
use crate::event::Part;
use crate::host::{DeadlineExceeded, Email, LogLine, QueuePush};
use serde::Serialize;
use std::time::Duration;
use wasmtime::{PoolConcurrencyLimitError, Trap};

/// How a listener's error asks to be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorKind {
    /// Retry later.
    Transient,
    /// Give up.
    Permanent,
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ErrorKind::Transient => "transient",
            ErrorKind::Permanent => "permanent",
        })
    }
}

/// How one call ended. Callers (and tests) match on the variants.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Outcome {
    /// The handler returned `ok`.
    Ok,
    /// The handler returned an error.
    ListenerError {
        /// Transient or permanent, as the listener said.
        error: ErrorKind,
        /// The listener's message.
        message: String,
    },
    /// The call burned its fuel.
    OutOfFuel,
    /// The guest asked for more memory than its limit.
    MemoryLimit,
    /// The wall-clock deadline passed (in wasm code or while a host call waited).
    Deadline,
    /// The guest trapped (a panic, an `unreachable`, a bad memory access, ...).
    Trap {
        /// What wasmtime said.
        message: String,
    },
    /// No instance slot was free: try again later.
    Capacity,
}

impl Outcome {
    /// Whether the call succeeded.
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Ok)
    }

    /// Whether trying the same call again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Outcome::ListenerError { error, .. } => *error == ErrorKind::Transient,
            Outcome::Deadline | Outcome::Capacity => true,
            Outcome::Ok | Outcome::OutOfFuel | Outcome::MemoryLimit | Outcome::Trap { .. } => false,
        }
    }

    /// The variant's name as printed and serialised (`ok`, `out-of-fuel`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::ListenerError { .. } => "listener-error",
            Outcome::OutOfFuel => "out-of-fuel",
            Outcome::MemoryLimit => "memory-limit",
            Outcome::Deadline => "deadline",
            Outcome::Trap { .. } => "trap",
            Outcome::Capacity => "capacity",
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())?;
        match self {
            Outcome::ListenerError { error, message } => write!(f, " ({error}): {message}"),
            Outcome::Trap { message } => write!(f, ": {message}"),
            _ => Ok(()),
        }
    }
}

/// Turns the error of an instantiation or a call into an outcome.
pub(crate) fn classify(err: &wasmtime::Error) -> Outcome {
    if err.downcast_ref::<MemoryLimitExceeded>().is_some() {
        return Outcome::MemoryLimit;
    }
    if err.downcast_ref::<DeadlineExceeded>().is_some() {
        return Outcome::Deadline;
    }
    if err.downcast_ref::<PoolConcurrencyLimitError>().is_some() {
        return Outcome::Capacity;
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => Outcome::OutOfFuel,
        Some(Trap::Interrupt) => Outcome::Deadline,
        _ => Outcome::Trap {
            message: format!("{err:#}"),
        },
    }
}

/// What one call did and cost.
#[derive(Debug, Clone, Serialize)]
pub struct CallReport {
    /// The listener's name.
    pub listener: String,
    /// Which part of the event the call carried.
    pub part: Part,
    /// How it ended.
    pub outcome: Outcome,
    /// Fuel burned (instantiation included).
    pub fuel_consumed: u64,
    /// Wall-clock time, instantiation included.
    #[serde(rename = "duration_us", serialize_with = "micros")]
    pub duration: Duration,
    /// The most linear memory the instance held at once.
    pub peak_memory_bytes: u64,
    /// The captured log: `log` import, stdout and stderr.
    pub log: Vec<LogLine>,
    /// Whether lines were dropped because the log was full.
    pub log_truncated: bool,
    /// Messages the email backend accepted.
    pub emails: Vec<Email>,
    /// Payloads the queue backend accepted.
    pub queue_pushes: Vec<QueuePush>,
}

fn micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_micros().try_into().unwrap_or(u64::MAX))
}
