//! The case file of `wasm-listeners test`: TOML or JSON, read into [`Case`]s.
//!
//! ```toml
//! [[case]]
//! name = "record creation sends the tutorial's email"
//! event = { fixture = "events.json", index = 0 }   # or: event = { json = '{"payload": {...}}' }
//! settings = { from = "postmaster@localhost", recipients = "ops@example.org" }
//! limits = { fuel = 100_000_000, memory_mib = 64, deadline_ms = 1000 }
//! [case.expect]                   # an absent key is not checked; [] means "none"
//! outcome = "ok"                  # ok | transient | permanent | out-of-fuel | memory-limit
//!                                 # | deadline | trap | host-limit
//! error = "..."                   # the listener error's message (a trap's: a part of it)
//! emails = [{ from = "...", to = ["..."], subject = "...", body = "..." }]
//! pushes = [{ queue = "eventqueue", payload = '{"action":"create"}' }]
//! ```

use crate::event::{self, Incoming};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why a case file cannot be used; each says where and what to change.
#[derive(Debug, thiserror::Error)]
pub(super) enum CaseFileError {
    #[error("cannot read {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path} is not a valid case file: {error} (see `wasm-listeners test --help`)")]
    Syntax { path: PathBuf, error: String },
    #[error("{path} holds no case: add at least one `[[case]]` table")]
    Empty { path: PathBuf },
    #[error("case `{case}`: {error}")]
    Event { case: String, error: String },
}

/// A case file: its cases, in order.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    #[serde(rename = "case", default)]
    cases: Vec<Case>,
}

/// One case: an event, the listener's settings and limits, what must happen.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Case {
    pub(super) name: String,
    event: EventSource,
    #[serde(default)]
    pub(super) settings: BTreeMap<String, String>,
    #[serde(default)]
    pub(super) limits: CaseLimits,
    #[serde(default)]
    pub(super) expect: Expect,
}

/// Where a case's event comes from.
#[derive(Debug, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
enum EventSource {
    /// A file of Kinto events (one, or a list: `index` picks one), relative to the case file.
    Fixture {
        fixture: PathBuf,
        #[serde(default)]
        index: usize,
    },
    /// The event as JSON text.
    Json { json: String },
}

/// Limits that override the defaults for one case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CaseLimits {
    pub(super) fuel: Option<u64>,
    pub(super) memory_mib: Option<u64>,
    pub(super) deadline_ms: Option<u64>,
}

/// What must happen; `None` is not checked.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Expect {
    pub(super) outcome: Option<ExpectedOutcome>,
    pub(super) error: Option<String>,
    pub(super) emails: Option<Vec<ExpectedEmail>>,
    pub(super) pushes: Option<Vec<ExpectedPush>>,
}

/// An outcome as a case names it: a listener error by its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(super) enum ExpectedOutcome {
    Ok,
    Transient,
    Permanent,
    OutOfFuel,
    MemoryLimit,
    Deadline,
    Trap,
    HostLimit,
}

impl ExpectedOutcome {
    pub(super) fn name(self) -> &'static str {
        match self {
            ExpectedOutcome::Ok => "ok",
            ExpectedOutcome::Transient => "transient",
            ExpectedOutcome::Permanent => "permanent",
            ExpectedOutcome::OutOfFuel => "out-of-fuel",
            ExpectedOutcome::MemoryLimit => "memory-limit",
            ExpectedOutcome::Deadline => "deadline",
            ExpectedOutcome::Trap => "trap",
            ExpectedOutcome::HostLimit => "host-limit",
        }
    }
}

/// An email that must have been sent; an absent field is not compared (nor are
/// `Message-ID` and `Date`, which the runtime's SMTP backend adds).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExpectedEmail {
    pub(super) from: Option<String>,
    pub(super) to: Option<Vec<String>>,
    pub(super) cc: Option<Vec<String>>,
    pub(super) bcc: Option<Vec<String>>,
    pub(super) reply_to: Option<String>,
    pub(super) subject: Option<String>,
    pub(super) body: Option<String>,
    pub(super) html_body: Option<String>,
}

/// A queue push that must have been made; the payload is compared as JSON when both sides
/// parse, as text otherwise.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExpectedPush {
    pub(super) queue: Option<String>,
    pub(super) payload: Option<String>,
}

/// Reads a case file: JSON when its name ends in `.json`, TOML otherwise.
pub(super) fn read(path: &Path) -> Result<Vec<Case>, CaseFileError> {
    let text = std::fs::read_to_string(path).map_err(|error| CaseFileError::Read {
        path: path.to_owned(),
        error,
    })?;
    let syntax = |error: String| CaseFileError::Syntax {
        path: path.to_owned(),
        error,
    };
    let file: CaseFile = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| syntax(e.to_string()))?
    } else {
        toml::from_str(&text).map_err(|e| syntax(e.to_string()))?
    };
    if file.cases.is_empty() {
        return Err(CaseFileError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(file.cases)
}

impl Case {
    /// The case's event; a fixture path is taken relative to the case file's folder.
    pub(super) fn event(&self, case_file: &Path) -> Result<Incoming, CaseFileError> {
        let error = |error: String| CaseFileError::Event {
            case: self.name.clone(),
            error,
        };
        let (bytes, shown, index) = match &self.event {
            EventSource::Fixture { fixture, index } => {
                let folder = case_file.parent().unwrap_or(Path::new("."));
                let path = folder.join(fixture);
                let bytes = std::fs::read(&path)
                    .map_err(|e| error(format!("cannot read {}: {e}", path.display())))?;
                (bytes, path.display().to_string(), *index)
            }
            EventSource::Json { json } => (json.clone().into_bytes(), "`json`".to_owned(), 0),
        };
        let mut events = event::parse_events(&bytes).map_err(|e| error(format!("{shown}: {e}")))?;
        let count = events.len();
        if index >= count {
            let last = count.max(1) - 1;
            return Err(error(format!(
                "{shown} holds {count} event(s): `index` takes 0 to {last}"
            )));
        }
        Ok(events.swap_remove(index))
    }
}
