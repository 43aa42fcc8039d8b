//! The delivery of an event to this listener: which event, which try, which part.

use crate::bindings::types;

/// How and when this call happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    event_id: String,
    attempt: u32,
    phase: Phase,
    source: Source,
    listener: String,
    part_index: u32,
    part_count: u32,
}

/// Where the event was when Kinto emitted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Inside the request, before the transaction commits: a permanent error can still
    /// make Kinto fail the request and roll back.
    BeforeCommit,
    /// After the commit: the change is stored.
    AfterCommit,
    /// Not known, as for a kinto-redis queue entry.
    Unknown,
}

/// How the event reached the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// `POST /v1/events` on the runtime's HTTP API.
    Http,
    /// The wasm-listeners Kinto plugin.
    KintoPlugin,
    /// A kinto-redis queue entry.
    KintoRedis,
    /// `wasm-listeners invoke` on a listener author's machine.
    Cli,
}

impl Context {
    pub(crate) fn from_raw(raw: types::Context) -> Self {
        Context {
            event_id: raw.event_id,
            attempt: raw.attempt,
            phase: Phase::from_raw(raw.phase),
            source: Source::from_raw(raw.source),
            listener: raw.listener,
            part_index: raw.part.index,
            part_count: raw.part.count,
        }
    }

    /// Identifies the event: the same on every retry, for every listener and every part.
    /// With [`part_index`](Self::part_index), the idempotency key for side effects.
    pub fn event_id(&self) -> &str {
        &self.event_id
    }

    /// 1 for the first try, 2 for the first retry, ...
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Before or after Kinto's commit.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// How the event arrived.
    pub fn source(&self) -> Source {
        self.source
    }

    /// This listener's name in the runtime's configuration.
    pub fn listener(&self) -> &str {
        &self.listener
    }

    /// 1-based index of the part this call carries. An event whose objects exceed the
    /// per-call size limit arrives in several calls, each with a slice of the objects.
    pub fn part_index(&self) -> u32 {
        self.part_index
    }

    /// Number of parts of the event (1 when delivered whole).
    pub fn part_count(&self) -> u32 {
        self.part_count
    }
}

impl Phase {
    fn from_raw(raw: types::Phase) -> Self {
        match raw {
            types::Phase::BeforeCommit => Phase::BeforeCommit,
            types::Phase::AfterCommit => Phase::AfterCommit,
            types::Phase::Unknown => Phase::Unknown,
        }
    }
}

impl Source {
    fn from_raw(raw: types::Source) -> Self {
        match raw {
            types::Source::Http => Source::Http,
            types::Source::KintoPlugin => Source::KintoPlugin,
            types::Source::KintoRedis => Source::KintoRedis,
            types::Source::Cli => Source::Cli,
        }
    }
}
