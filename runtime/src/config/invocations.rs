//! `[invocations]`: the invocation log (every listener call's record) and its retention.

use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// Records older than this are deleted.
pub(crate) const DEFAULT_MAX_AGE: Duration = Duration::from_secs(7 * 24 * 3600);
/// Records kept per listener, the newest.
pub(crate) const DEFAULT_MAX_PER_LISTENER: usize = 10_000;
/// A record's captured log is cut at this many bytes.
pub(crate) const DEFAULT_LOG_BYTES: usize = 4096;

/// `[invocations]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct InvocationsConfig {
    /// Whether calls are recorded. Default true.
    pub enabled: bool,
    /// How long records are kept (`"7d"`, `"12h"`). Default 7 days.
    #[serde(deserialize_with = "duration")]
    pub max_age: Duration,
    /// Records kept per listener, the newest. Default 10,000.
    pub max_per_listener: usize,
    /// A record's captured log is cut at this many bytes. Default 4096.
    pub log_bytes: usize,
}

impl Default for InvocationsConfig {
    fn default() -> Self {
        InvocationsConfig {
            enabled: true,
            max_age: DEFAULT_MAX_AGE,
            max_per_listener: DEFAULT_MAX_PER_LISTENER,
            log_bytes: DEFAULT_LOG_BYTES,
        }
    }
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let word = String::deserialize(d)?;
    humantime::parse_duration(&word).map_err(|e| {
        serde::de::Error::custom(format!(
            "`{word}` is not a duration such as \"7d\" or \"12h\": {e}"
        ))
    })
}
