//! wasm-listeners: run Kinto listeners as sandboxed WebAssembly components.
//!
//! Each Kinto event becomes a WIT record (`wit/listener.wit`) handed to listeners compiled
//! to components. A listener can send email and push to queues, each checked against a
//! policy, log, and read its settings: nothing else. Every call runs under a fuel limit, a
//! memory limit and a wall-clock deadline, and ends with one [`Outcome`].
//!
//! # Layout
//!
//! - [`event`]: Kinto events in both input shapes (listener event, kinto-redis payload), typed
//!   and lossless; splitting large events into parts.
//! - [`engine`]: the wasmtime engine, component checks ([`engine::check`]), listeners, calls
//!   and their [`Outcome`].
//! - [`host`]: the capabilities a guest imports (`email`, `queue`, `log`, `settings`), each
//!   with its context, policy check and backend trait.
//! - `bindings`: the one `bindgen!` of the contract; only `engine` and `host` use it.
//! - [`backends`]: the real email (SMTP, outbox) and queue (Redis, embedded) backends.
//! - [`store`]: the embedded SQLite store for everything that must survive a restart.
//! - [`policy`]: deny-by-default, layered rules for email and queues.
//! - [`limits`]: per-call limits and their defaults.
//! - [`config`]: the operator's TOML configuration, checked at start-up.
//! - [`dispatch`]: which listeners an event goes to, in which order, and the verdict.
//! - [`api`]: the HTTP API (`POST /v1/events`, `GET /healthz`); names no wasmtime type.
//! - [`service`]: builds backends, listeners and the API from a [`config::Config`]; serves.
//! - [`cli`]: the `wasm-listeners` commands (`check`, `invoke`, `serve`, `queue`).
//!
//! Dependencies point one way: `cli -> service -> {api, backends, store} -> dispatch -> engine
//! -> host -> bindings -> wit/`, with `event`, `config`, `policy` and `limits` as leaves.

pub mod api;
pub mod backends;
mod bindings;
pub mod cli;
pub mod config;
pub mod dispatch;
pub mod engine;
pub mod event;
pub mod host;
pub mod limits;
pub mod policy;
pub mod service;
pub mod store;

pub use engine::outcome::{CallReport, ErrorKind, Outcome, Part};
pub use engine::{Capabilities, Delivery, Engine, EngineConfig, Listener, ListenerSpec};
pub use limits::Limits;
