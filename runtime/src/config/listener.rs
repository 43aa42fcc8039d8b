//! One `[[listener]]` block.

use super::Invalid;
use crate::event::{Action, Input};
use crate::limits::Limits;
use crate::policy::{EmailRules, QueueRules};
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// When a listener runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Inside the caller's request, on events before commit: the caller waits for the
    /// outcome, as a Kinto listener does.
    #[default]
    Sync,
    /// From the durable queue, on committed events, by workers.
    Async,
}

/// A listener, as configured. Kinto's `kinto.event_listeners.<name>.*` keys map as:
/// `use` -> `component`, `actions` -> `actions`, `resources` -> `resources`, every other
/// key -> `settings` (SMTP `server`/`tls`/`username`/`password` go to `[email.smtp]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListenerConfig {
    /// Its name: in logs, reports and the guest's `context.listener`.
    pub name: String,
    /// The component file (relative to the configuration file).
    pub component: PathBuf,
    /// Default `sync`.
    #[serde(default)]
    pub mode: Mode,
    /// Actions it receives. Default, as in Kinto: create, update, delete.
    #[serde(default = "default_actions", deserialize_with = "actions")]
    pub actions: Vec<Action>,
    /// Resource names it receives (`bucket`, `collection`, `group`, `record`, ...).
    /// Absent: every resource.
    pub resources: Option<Vec<String>>,
    /// Its settings (strings), read by the guest with `settings.get`.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// `[listener.limits]`: per-call limits.
    #[serde(default)]
    pub limits: Limits,
    /// `[listener.email]`: the senders and recipients it may use. Default: none.
    #[serde(default)]
    pub email: EmailRules,
    /// `[listener.queue]`: the queues it may push to. Default: none.
    #[serde(default)]
    pub queue: QueueRules,
    /// Async only: the inputs it takes entries from (`runtime`, `kinto-redis`). Default:
    /// the runtime's own.
    pub inputs: Option<Vec<Input>>,
    /// Async only: its own retry schedule (pauses after each failed attempt, `"5s"`,
    /// `"10m"`, ...), instead of `[delivery] retry_schedule`.
    #[serde(default, deserialize_with = "super::delivery::durations_opt")]
    pub retry_schedule: Option<Vec<Duration>>,
    /// How many of its calls one instance may serve. Default 1: a fresh instance for every
    /// call. More: an instance that ended a call `ok` serves the next one, keeping what the
    /// guest left in its memory (faster, above all for Python and JavaScript; the events of
    /// this listener are then not isolated from one another).
    #[serde(default = "one_call")]
    pub calls_per_instance: u32,
}

fn one_call() -> u32 {
    1
}

fn default_actions() -> Vec<Action> {
    vec![Action::Create, Action::Update, Action::Delete]
}

fn actions<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Action>, D::Error> {
    let words = Vec::<String>::deserialize(d)?;
    let parse = |w: &String| w.parse::<Action>().map_err(serde::de::Error::custom);
    words.iter().map(parse).collect()
}

impl ListenerConfig {
    pub(super) fn check(&self, max_memory_bytes: u64, epoch_tick: Duration) -> Result<(), Invalid> {
        if self.name.trim().is_empty() {
            return Err(Invalid::EmptyListenerName);
        }
        if self.name.contains('/') {
            return Err(Invalid::SlashInListenerName(self.name.clone()));
        }
        let limits = self.limits.check(max_memory_bytes, epoch_tick);
        limits.map_err(|error| Invalid::Limits {
            listener: self.name.clone(),
            error,
        })?;
        let async_keys = [
            ("inputs", self.inputs.is_some()),
            ("retry_schedule", self.retry_schedule.is_some()),
        ];
        if self.mode == Mode::Sync {
            if let Some((key, _)) = async_keys.into_iter().find(|(_, set)| *set) {
                let listener = self.name.clone();
                return Err(Invalid::AsyncKeyOnSync { listener, key });
            }
        }
        if self.calls_per_instance == 0 {
            let listener = self.name.clone();
            return Err(Invalid::NoCallPerInstance { listener });
        }
        if self.inputs.as_ref().is_some_and(Vec::is_empty) {
            return Err(Invalid::Delivery {
                key: "inputs",
                why: format!(
                    "listener `{}` takes no input: name `runtime`, `kinto-redis` or both",
                    self.name
                ),
            });
        }
        Ok(())
    }

    /// The inputs it takes (the runtime's own by default).
    pub(crate) fn inputs(&self) -> Vec<Input> {
        self.inputs.clone().unwrap_or_else(|| vec![Input::Runtime])
    }
}
