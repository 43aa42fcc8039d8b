//! wasm-listeners: run Kinto listeners as sandboxed WebAssembly components.
//!
//! Each Kinto event becomes a WIT record (`wit/listener.wit`) handed to listeners compiled
//! to components. A listener can send email and push to queues, each checked against a
//! policy, log, and read its settings: nothing else. Every call runs under a fuel limit, a
//! memory limit and a wall-clock deadline, and ends with one [`Outcome`].
//!
//! # Layout
//!
//! Every module is private; what other crates use is re-exported below.
//!
//! - `cli`: the `wasm-listeners` commands (`check`, `invoke`, `test`, `serve`, `worker`, `queue`,
//!   `deliveries`, `invocations`).
//! - `service`: turns a [`Config`] into the engine, backends, listeners and API; serves.
//! - `api`: the HTTP API (`POST /v1/events`, the durable queue's records, the invocation
//!   log, `GET /metrics`, `GET /healthz`); names no wasmtime type.
//! - `backends`: the real email (SMTP, outbox) and queue (Redis, embedded) backends, and
//!   the durable queue and invocation log on Redis or the embedded store.
//! - `delivery`: async listeners: the durable queue's interface, the worker, retries, dead
//!   letters.
//! - `dispatch`: which listeners an event goes to, in which order, and the verdict.
//! - `invocations`: the invocation log: every call's record, written in batches off the
//!   hot path, queried by listener, outcome, event id and time.
//! - `metrics`: what the runtime counts, as Prometheus text for `GET /metrics`; labels
//!   from the engine's outcomes and the configuration's modes.
//! - `registry`: tenants, what they may use and their API tokens (later: their listeners
//!   and versions), over a store trait (the embedded store now, Redis next).
//! - `engine`: the wasmtime engine, component checks, precompiled artifacts (the one
//!   module allowed `unsafe`), listeners, calls and their [`Outcome`]; owns each call's
//!   store and the linker.
//! - `host`: the capabilities a guest imports (`email`, `queue`, `log`, `settings`), each
//!   with its context, policy check and backend trait.
//! - `bindings`: the one `bindgen!` of the contract; only `engine` and `host` use it.
//! - `store`: the embedded SQLite store for everything that must survive a restart.
//! - `config`: the operator's TOML configuration, plain data checked at start-up.
//! - `policy`: deny-by-default, layered rules for email and queues.
//! - `limits`: per-call limits and host limits, the engine's ceilings, their defaults.
//! - `progress`: the spinner a terminal shows while a component compiles.
//! - `event`: Kinto events in both input shapes, typed and lossless; deliveries and parts.
//! - `address`: email addresses, parsed as lettre parses them.
//!
//! # Dependency order
//!
//! A module uses only modules to its right; modules in one `{}` group do not use each
//! other. `tests/all/layering.rs` reads this line and checks every `crate::` and `super::`
//! path of `runtime/src` against it.
//!
//! `cli -> service -> {api, backends} -> delivery -> dispatch -> {invocations, metrics, registry} -> engine -> host -> {bindings, store, config} -> policy -> limits -> {event, progress} -> address`

mod address;
mod api;
mod backends;
mod bindings;
mod cli;
mod config;
mod delivery;
mod dispatch;
mod engine;
mod event;
mod host;
mod invocations;
mod limits;
mod metrics;
mod policy;
mod progress;
mod registry;
mod service;
mod store;

pub use backends::{
    EmbeddedQueue, OutboxBackend, RedisDelivery, RedisQueue, RedisSetupError, SmtpBackend,
    SmtpConfigError,
};
pub use cli::{run, Cli};
pub use config::{Config, ConfigError, Invalid, Mode, Secret, SmtpConfig, SmtpTls};
pub use delivery::{
    Clock, Counts, DeadLetter, DeadReason, DeliveryQueue, LastAttempt, ManualClock, Pending,
    QueueError, RawEntry, Rejected, RetrySchedule, Settlement, StepReport, SystemClock, Worker,
    FORMAT_VERSION,
};
pub use engine::{
    ArtifactCacheConfig, CallReport, Capabilities, CheckError, CompileChild, CompileError,
    CompileStats, ComponentInfo, Engine, EngineConfig, ErrorKind, Listener, ListenerSpec,
    LoadedComponent, Outcome, OutcomeKind, UnknownOutcome,
};
pub use event::{
    parse_event, parse_events, parse_value, Action, Change, Delivery, Event, EventError, Incoming,
    Input, Objects, Part, Phase, Source,
};
pub use host::{
    Email, EmailBackend, EmailBackendError, LogLevel, LogLine, LogStream, QueueBackend,
    QueueBackendError, QueuePush, RecordOnly,
};
pub use invocations::{
    Invocation, InvocationError, InvocationQuery, InvocationStore, INVOCATION_VERSION,
    MAX_QUERY_LIMIT,
};
pub use limits::{HostLimit, LimitError, Limits};
pub use policy::{EmailPolicy, EmailRules, QueuePolicy, QueueRules};
pub use registry::{
    ApiToken, AuditEntry, BadBucketPattern, BadTenantId, Caller, EngineBounds,
    Invalid as RegistryInvalid, Issued, ListenerDefinition, ListenerVersion, Quotas, Registry,
    RegistryError, RegistryStore, StoredComponent, Tenant, TenantChange, TenantId, TenantListener,
    TokenScope, REDACTED,
};
pub use service::Service;
pub use store::{Store, StoreError};
