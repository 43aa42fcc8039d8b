//! The Kinto event model on the host side.
//!
//! These types mirror the `types` interface of `wit/listener.wit` (`event`, `objects`,
//! `change`, `extra`, `phase`, `source`) without naming any wasmtime type: the engine
//! converts them to the generated bindings.
//!
//! # Layout
//! - `mod.rs`: the types.
//! - `kinto.rs`: reading Kinto's JSON (both shapes below) into an [`Event`].
//! - `rebuild.rs`: writing an [`Event`] back as Kinto's JSON, and its [`Event::id`].
//! - `parts.rs`: [`Event::split`], delivering an event too large for one call in parts.
//! - `error.rs`: [`EventError`], what can be wrong with the input.
//!
//! # Input shapes
//! 1. **Listener shape**, as a Kinto listener receives it (and as the fixtures in
//!    `tests/fixtures/kinto-events` hold it): `{"event_class"?, "payload", "impacted_objects"
//!    | "read_objects"}`. Keys beginning with `_` are ignored (the capture plugin added
//!    `_capture`; Kinto did not).
//! 2. **Bare payload**, as kinto-redis pushes it (`LPUSH kinto.core.events <payload>`): the
//!    payload object alone, recognised by `action` at the top level. It carries no objects
//!    ([`Objects::NotGiven`]) and no phase ([`Phase::Unknown`]).
//!
//! # Fidelity
//! Every payload key is kept: the typed ones in fields, all others in [`Event::extras`] as
//! JSON text, in Kinto's order, so [`Event::to_kinto_value`] gives back the value that was
//! parsed. Two documented exceptions: a payload without `user_id` comes back with
//! `"user_id": null` (Kinto always sends the key), and numbers go through `f64` when they
//! do not fit `i64`/`u64` (Kinto sends integers and ordinary decimals only).

mod error;
mod kinto;
mod parts;
mod rebuild;
#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

pub use error::EventError;
pub use kinto::{parse_event, parse_events, parse_value};

/// What happened to the resource: Kinto's `ACTIONS` enum (`payload.action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// `create`: a `PUT` or `POST` that made a new object.
    Create,
    /// `update`: a `PUT` or `PATCH` of an existing object (permissions included).
    Update,
    /// `delete`: a `DELETE`; each object's `new` is Kinto's tombstone.
    Delete,
    /// `read`: a `GET` or `HEAD` (only when a listener asked for reads).
    Read,
}

impl Action {
    /// Every action, in Kinto's order.
    pub const ALL: [Action; 4] = [Action::Create, Action::Update, Action::Delete, Action::Read];

    /// The word Kinto uses: `create`, `update`, `delete` or `read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Read => "read",
        }
    }
}

impl FromStr for Action {
    type Err = EventError;

    /// Parses Kinto's word (exact, lowercase); the error names the word and the valid ones.
    fn from_str(word: &str) -> Result<Self, Self::Err> {
        Action::ALL
            .into_iter()
            .find(|action| action.as_str() == word)
            .ok_or_else(|| EventError::UnknownAction {
                value: word.to_owned(),
            })
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the event was when Kinto emitted it (WIT `phase`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// `ResourceChanged` / `ResourceRead`: inside the request, before the commit.
    BeforeCommit,
    /// `AfterResourceChanged` / `AfterResourceRead`: after the commit.
    AfterCommit,
    /// Not known: a kinto-redis entry, or an event given without `event_class`.
    Unknown,
}

impl Phase {
    /// The word the API and the contract use: `before-commit`, `after-commit`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::BeforeCommit => "before-commit",
            Phase::AfterCommit => "after-commit",
            Phase::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the event reached the runtime (WIT `source`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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

/// The durable queue an async delivery's event was taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Input {
    /// The runtime's own input queue: `POST /v1/events` (and the Kinto plugin) fill it with
    /// committed events.
    Runtime,
    /// kinto-redis's list (`kinto.core.events` by default): bare payloads, pushed before
    /// Kinto's commit.
    KintoRedis,
}

impl Input {
    /// Both inputs.
    pub const ALL: [Input; 2] = [Input::Runtime, Input::KintoRedis];

    /// Its name in the configuration and the API: `runtime` or `kinto-redis`.
    pub fn as_str(self) -> &'static str {
        match self {
            Input::Runtime => "runtime",
            Input::KintoRedis => "kinto-redis",
        }
    }
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Input {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Input::ALL
            .into_iter()
            .find(|i| i.as_str() == name)
            .ok_or_else(|| {
                format!("unknown input `{name}`: the inputs are `runtime` and `kinto-redis`")
            })
    }
}

/// One entry of Kinto's `impacted_objects` (WIT `change`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The object before the change, as compact JSON text; `None` when Kinto gave no `old`
    /// (a `create`). An explicit `"old": null` is kept as `Some("null")`.
    pub old: Option<String>,
    /// The object after the change, as compact JSON text (a tombstone on `delete`; only the
    /// changed fields with `Response-Behavior: light`).
    pub new: String,
}

/// The objects an event carries (WIT `objects`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Objects {
    /// No objects were given (a kinto-redis entry). Distinct from an empty list.
    NotGiven,
    /// `impacted_objects` of a create, update or delete, in Kinto's order.
    Changes(Vec<Change>),
    /// `read_objects` of a read, each as compact JSON text (empty for a `HEAD`).
    Read(Vec<String>),
}

/// A Kinto resource event: `event.payload` plus its objects (WIT `event`).
///
/// For a merged batch event, `uri` and the `*_id` fields describe the first subrequest of
/// the group only: each object's own `id` is in `objects`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// `payload.action`.
    pub action: Action,
    /// `payload.resource_name`: `bucket`, `collection`, `group`, `record`, `account`, ...
    pub resource_name: String,
    /// `payload.uri`: the request path without `/v1`.
    pub uri: String,
    /// `payload.timestamp`, in milliseconds since the epoch.
    pub timestamp: u64,
    /// `payload.user_id`; `None` for an anonymous request (`null`) or when the key is absent.
    pub user_id: Option<String>,
    /// `payload.bucket_id`, when present and a string.
    pub bucket_id: Option<String>,
    /// `payload.collection_id`, when present and a string.
    pub collection_id: Option<String>,
    /// `payload.group_id`, when present and a string.
    pub group_id: Option<String>,
    /// `payload.record_id`, when present and a string (absent for a `POST` on a plural
    /// endpoint).
    pub record_id: Option<String>,
    /// Every other payload key (`account_id`, a non-string `*_id`, a key of a future Kinto),
    /// in Kinto's order, with its value as compact JSON text.
    pub extras: Vec<(String, String)>,
    /// The objects.
    pub objects: Objects,
}

/// How an event reaches a listener (WIT `context`, less the listener's name and the part).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The event's id ([`Event::id`]): the same on every retry.
    pub event_id: String,
    /// 1 for the first try.
    pub attempt: u32,
    /// Before or after Kinto's commit.
    pub phase: Phase,
    /// How the event arrived.
    pub source: Source,
}

/// Which part of an event one call carries (WIT `part`, 1-based): see [`Event::split`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Part {
    /// 1-based index.
    pub index: u32,
    /// Number of parts.
    pub count: u32,
}

impl Part {
    /// An event delivered whole.
    pub const WHOLE: Part = Part { index: 1, count: 1 };
}

/// An event as it arrived, with the phase its `event_class` told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incoming {
    /// The event.
    pub event: Event,
    /// Before or after the commit; [`Phase::Unknown`] without `event_class`.
    pub phase: Phase,
}

impl Incoming {
    /// Its first delivery (attempt 1) from `source`.
    pub fn first_delivery(&self, source: Source) -> Delivery {
        Delivery {
            event_id: self.event.id(),
            attempt: 1,
            phase: self.phase,
            source,
        }
    }
}
