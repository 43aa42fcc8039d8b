//! What the durable queue holds, as the worker reads and writes it: input entries, pending
//! deliveries (retries), dead letters and rejected entries. Every record is JSON with a
//! version field, so another program (the Kinto plugin, an operator's script) can read it.

use crate::engine::Outcome;
use crate::event::{Input, Source};
use crate::host::LogLine;
use serde::{Deserialize, Serialize};

/// The version of every record's format (`"v"`), and of the key layout.
pub const FORMAT_VERSION: u32 = 1;

/// An entry as taken from an input, not yet read as an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    /// Its input.
    pub input: Input,
    /// Its id in the input (a Redis stream id): unique per entry, even for equal bytes.
    pub id: String,
    /// The event's bytes: the listener-shape JSON (runtime input) or the bare payload
    /// (kinto-redis).
    pub event: Vec<u8>,
    /// How the event reached the input.
    pub source: Source,
    /// Set when the entry is not in the input's format (a missing field, an unknown
    /// version): the worker parks it as rejected.
    pub problem: Option<String>,
}

/// What the worker keeps of an outcome: the outcome and the call's captured log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastAttempt {
    /// The outcome's name (`listener-error`, `deadline`, ...).
    pub outcome: String,
    /// The outcome as printed (with the listener's message).
    pub detail: String,
    /// The part that ended so (1-based).
    pub part: u32,
    /// When the attempt ended, in ms since the Unix epoch.
    pub at_ms: u64,
    /// The captured log of its last call.
    pub log: Vec<LogLine>,
}

impl LastAttempt {
    pub(crate) fn new(outcome: &Outcome, part: u32, at_ms: u64, log: Vec<LogLine>) -> Self {
        LastAttempt {
            outcome: outcome.name().to_owned(),
            detail: outcome.to_string(),
            part,
            at_ms,
            log,
        }
    }
}

/// One input entry's delivery to one listener, between attempts: what a retry needs, and
/// what a dead letter shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// [`FORMAT_VERSION`].
    pub v: u32,
    /// `<input>:<entry id>`: the delivery's key with the listener's name. Not the event
    /// id: two equal entries are two deliveries.
    pub id: String,
    /// The listener.
    pub listener: String,
    /// The input the entry came from.
    pub input: Input,
    /// How the event reached the input (`http`, `kinto-plugin`, `kinto-redis`).
    pub source: String,
    /// The event's bytes as the input held them (UTF-8 JSON: it parsed).
    pub event: String,
    /// The number of the next attempt (1-based; the guest sees it).
    pub attempt: u32,
    /// The attempt that began the current round of the schedule (1, or the first attempt
    /// after a replay): the schedule counts from it.
    pub round_start: u32,
    /// The part the next attempt starts from (earlier parts ended `ok`).
    pub from_part: u32,
    /// When the first attempt ran, in ms since the Unix epoch.
    pub first_ms: u64,
    /// When the next attempt is due, in ms since the Unix epoch.
    pub due_ms: u64,
    /// The attempt before, if any.
    pub last: Option<LastAttempt>,
}

impl Pending {
    /// The delivery's key for an input entry.
    pub fn id_for(input: Input, entry_id: &str) -> String {
        format!("{input}:{entry_id}")
    }
}

/// A delivery that will not be tried again by itself: its last state and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The delivery as it was after its last attempt (`attempt` is the next one's number).
    #[serde(flatten)]
    pub pending: Pending,
    /// When it was parked, in ms since the Unix epoch.
    pub dead_ms: u64,
    /// Why: `permanent` (the outcome cannot pass on retry) or `exhausted` (no attempt left).
    pub reason: DeadReason,
}

/// Why a delivery is dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeadReason {
    /// A permanent listener error, a trap, out-of-fuel or memory-limit.
    Permanent,
    /// Every attempt of the schedule failed.
    Exhausted,
}

/// An input entry that is not a Kinto event, kept with the reason and its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    /// [`FORMAT_VERSION`].
    pub v: u32,
    /// The input.
    pub input: Input,
    /// The entry's id in the input.
    pub entry_id: String,
    /// What is wrong with it.
    pub reason: String,
    /// The entry's bytes, when they are UTF-8.
    pub text: Option<String>,
    /// The entry's bytes in base64, when they are not.
    pub base64: Option<String>,
    /// When it was parked, in ms since the Unix epoch.
    pub at_ms: u64,
}

impl Rejected {
    pub(crate) fn new(entry: &RawEntry, reason: String, at_ms: u64) -> Rejected {
        use base64::Engine as _;
        let (text, base64) = match std::str::from_utf8(&entry.event) {
            Ok(text) => (Some(text.to_owned()), None),
            Err(_) => (
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(&entry.event)),
            ),
        };
        Rejected {
            v: FORMAT_VERSION,
            input: entry.input,
            entry_id: entry.id.clone(),
            reason,
            text,
            base64,
            at_ms,
        }
    }
}

/// `source` as records write it.
pub(crate) fn source_name(source: Source) -> &'static str {
    match source {
        Source::Http => "http",
        Source::KintoPlugin => "kinto-plugin",
        Source::KintoRedis => "kinto-redis",
        Source::Cli => "cli",
    }
}

/// `source` as records write it, read back.
pub(crate) fn source_from_name(name: &str) -> Option<Source> {
    [
        Source::Http,
        Source::KintoPlugin,
        Source::KintoRedis,
        Source::Cli,
    ]
    .into_iter()
    .find(|s| source_name(*s) == name)
}
