//! The one place where traps and limits become an [`Outcome`].

use super::limiter::MemoryLimitExceeded;
use crate::event::Part;
use crate::host::{DeadlineExceeded, Email, LogLine, QueuePush};
use crate::limits::{HostLimit, HostLimitExceeded};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use wasmtime::component::ResourceTableError;
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
    /// The call went past one of its host limits (what the host holds or copies for it:
    /// queue pushes, bytes handed to a host call, resource handles, random bytes).
    HostLimit {
        /// Which one.
        limit: HostLimit,
    },
    /// The listener could not be made ready (its component could not be read or loaded):
    /// nothing ran; try again later.
    Unavailable {
        /// Why.
        message: String,
    },
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
            Outcome::Deadline | Outcome::Capacity | Outcome::Unavailable { .. } => true,
            Outcome::Ok
            | Outcome::OutOfFuel
            | Outcome::MemoryLimit
            | Outcome::Trap { .. }
            | Outcome::HostLimit { .. } => false,
        }
    }

    /// The variant's name as printed and serialised (`ok`, `out-of-fuel`, ...).
    pub fn name(&self) -> &'static str {
        self.kind().name()
    }

    /// Which outcome it is, without its details: what records and metrics keep.
    pub fn kind(&self) -> OutcomeKind {
        match self {
            Outcome::Ok => OutcomeKind::Ok,
            Outcome::ListenerError { .. } => OutcomeKind::ListenerError,
            Outcome::OutOfFuel => OutcomeKind::OutOfFuel,
            Outcome::MemoryLimit => OutcomeKind::MemoryLimit,
            Outcome::Deadline => OutcomeKind::Deadline,
            Outcome::Trap { .. } => OutcomeKind::Trap,
            Outcome::Capacity => OutcomeKind::Capacity,
            Outcome::HostLimit { .. } => OutcomeKind::HostLimit,
            Outcome::Unavailable { .. } => OutcomeKind::Unavailable,
        }
    }
}

/// An [`Outcome`]'s variant alone, named as the outcome is serialised (`ok`,
/// `listener-error`, ...): the outcome of an invocation record, a metric label, a query's
/// filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutcomeKind {
    /// [`Outcome::Ok`].
    Ok,
    /// [`Outcome::ListenerError`].
    ListenerError,
    /// [`Outcome::OutOfFuel`].
    OutOfFuel,
    /// [`Outcome::MemoryLimit`].
    MemoryLimit,
    /// [`Outcome::Deadline`].
    Deadline,
    /// [`Outcome::Trap`].
    Trap,
    /// [`Outcome::Capacity`].
    Capacity,
    /// [`Outcome::HostLimit`].
    HostLimit,
    /// [`Outcome::Unavailable`].
    Unavailable,
}

impl OutcomeKind {
    /// Every kind, in declaration order.
    pub const ALL: [OutcomeKind; 9] = [
        OutcomeKind::Ok,
        OutcomeKind::ListenerError,
        OutcomeKind::OutOfFuel,
        OutcomeKind::MemoryLimit,
        OutcomeKind::Deadline,
        OutcomeKind::Trap,
        OutcomeKind::Capacity,
        OutcomeKind::HostLimit,
        OutcomeKind::Unavailable,
    ];

    /// Its name (`ok`, `out-of-fuel`, ...).
    pub fn name(self) -> &'static str {
        match self {
            OutcomeKind::Ok => "ok",
            OutcomeKind::ListenerError => "listener-error",
            OutcomeKind::OutOfFuel => "out-of-fuel",
            OutcomeKind::MemoryLimit => "memory-limit",
            OutcomeKind::Deadline => "deadline",
            OutcomeKind::Trap => "trap",
            OutcomeKind::Capacity => "capacity",
            OutcomeKind::HostLimit => "host-limit",
            OutcomeKind::Unavailable => "unavailable",
        }
    }
}

impl std::fmt::Display for OutcomeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is no outcome's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an outcome: give one of ok, listener-error, out-of-fuel, memory-limit, deadline, trap, capacity, host-limit, unavailable")]
pub struct UnknownOutcome(pub String);

impl std::str::FromStr for OutcomeKind {
    type Err = UnknownOutcome;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        OutcomeKind::ALL
            .into_iter()
            .find(|k| k.name() == text)
            .ok_or_else(|| UnknownOutcome(text.to_owned()))
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())?;
        match self {
            Outcome::ListenerError { error, message } => write!(f, " ({error}): {message}"),
            Outcome::Trap { message } | Outcome::Unavailable { message } => {
                write!(f, ": {message}")
            }
            Outcome::HostLimit { limit } => write!(f, ": {limit}"),
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
    if let Some(limit) = host_limit(err) {
        return Outcome::HostLimit { limit };
    }
    match err.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => Outcome::OutOfFuel,
        Some(Trap::Interrupt) => Outcome::Deadline,
        _ => Outcome::Trap {
            message: format!("{err:#}"),
        },
    }
}

/// Texts of the traps by which wasmtime enforces the host limits it keeps itself, for
/// which it has no public error type: each is pinned by a test (`tests/all/hostile.rs`)
/// that goes past the limit and expects [`Outcome::HostLimit`] naming it.
const WASMTIME_LIMIT_TEXTS: [(&str, HostLimit); 3] = [
    // `Store::set_hostcall_fuel`.
    (
        "fuel allocated for hostcalls has been exhausted",
        HostLimit::HostcallBytes,
    ),
    // `Store::set_max_component_handles`.
    ("store handle limit exceeded", HostLimit::Handles),
    // `WasiCtxBuilder::max_random_size`: "requested len N exceeds limit M".
    ("requested len", HostLimit::RandomBytes),
];

/// The host limit a trap enforces, if any: ours ([`HostLimitExceeded`]), the host resource
/// table's ([`ResourceTableError::Full`]), or wasmtime's by their text.
fn host_limit(err: &wasmtime::Error) -> Option<HostLimit> {
    if let Some(exceeded) = err.downcast_ref::<HostLimitExceeded>() {
        return Some(exceeded.limit);
    }
    if let Some(ResourceTableError::Full) = err.downcast_ref::<ResourceTableError>() {
        return Some(HostLimit::Handles);
    }
    let text = format!("{err:#}");
    let known = WASMTIME_LIMIT_TEXTS.iter();
    known
        .into_iter()
        .find(|(t, _)| text.contains(t))
        .map(|(_, l)| *l)
}

/// What one call did and cost.
#[derive(Debug, Clone, Serialize)]
pub struct CallReport {
    /// The listener's name.
    pub listener: String,
    /// The version that ran, for a tenant's listener (the operator's have none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
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

impl CallReport {
    /// The report of a call that did not run: `outcome` says why (no slot of its tenant's,
    /// its component unavailable).
    pub fn not_run(listener: &str, part: Part, outcome: Outcome) -> CallReport {
        CallReport {
            listener: listener.to_owned(),
            version: None,
            part,
            outcome,
            fuel_consumed: 0,
            duration: Duration::ZERO,
            peak_memory_bytes: 0,
            log: Vec::new(),
            log_truncated: false,
            emails: Vec::new(),
            queue_pushes: Vec::new(),
        }
    }
}

fn micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_micros().try_into().unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kind's name is how its outcome serialises, and names parse back to kinds.
    #[test]
    fn kinds_are_named_as_outcomes_serialise() {
        let outcomes = [
            Outcome::Ok,
            Outcome::ListenerError {
                error: ErrorKind::Permanent,
                message: "no".into(),
            },
            Outcome::OutOfFuel,
            Outcome::MemoryLimit,
            Outcome::Deadline,
            Outcome::Trap {
                message: "unreachable".into(),
            },
            Outcome::Capacity,
            Outcome::HostLimit {
                limit: HostLimit::Handles,
            },
            Outcome::Unavailable {
                message: "its component is gone".into(),
            },
        ];
        let kinds: Vec<OutcomeKind> = outcomes.iter().map(Outcome::kind).collect();
        assert_eq!(kinds, OutcomeKind::ALL);
        for (outcome, kind) in outcomes.iter().zip(kinds) {
            let json = serde_json::to_value(outcome).unwrap();
            assert_eq!(json["kind"], kind.name());
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.name());
            assert_eq!(kind.name().parse::<OutcomeKind>(), Ok(kind));
        }
        let unknown = "timeout".parse::<OutcomeKind>().unwrap_err().to_string();
        assert!(unknown.contains("`timeout` is not an outcome"), "{unknown}");
    }
}
