//! Per-call limits: every limit has a name, a default, a config knob and a typed outcome.
//!
//! The defaults fit the example listeners in every guest language with room to spare
//! (`../shared/TOOLCHAINS.md` has the measured costs): a SpiderMonkey listener building a
//! 10 KB email burns about 28 M fuel, a Python no-op about 0.16 M.

use serde::Deserialize;
use std::time::Duration;

/// Fuel a call may burn before it ends with [`crate::Outcome::OutOfFuel`]: about 3.5 times
/// what a SpiderMonkey (JavaScript) listener needs to build a 10 KB email.
pub const DEFAULT_FUEL: u64 = 100_000_000;

/// Linear memory (all memories of the component together) a call may hold before it ends
/// with [`crate::Outcome::MemoryLimit`]. A Python or JavaScript guest needs 20-60 MiB.
pub const DEFAULT_MEMORY_BYTES: u64 = 128 << 20;

/// Wall-clock time a call may take, host calls included, before it ends with
/// [`crate::Outcome::Deadline`].
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);

/// Fuel between two yields to the async executor, so that one CPU-bound call cannot hold a
/// worker thread: 1 M costs CPU-bound code about 12 %, 10 k doubles it (TOOLCHAINS.md).
pub const DEFAULT_FUEL_YIELD_INTERVAL: u64 = 2_000_000;

/// Bytes of log (the `log` import, stdout and stderr together) kept per call; the rest is
/// dropped and the report says so. Guests can print without bound, the report must not.
pub const DEFAULT_LOG_CAPTURE_BYTES: usize = 64 << 10;

/// Bytes of objects (their JSON text) handed to one call. A larger event is delivered in
/// parts (`context.part`), never dropped.
pub const DEFAULT_MAX_OBJECTS_BYTES: usize = 1 << 20;

/// The limits of one listener's calls. Every field defaults to the constant of the same name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// See [`DEFAULT_FUEL`].
    pub fuel: u64,
    /// See [`DEFAULT_MEMORY_BYTES`].
    pub memory_bytes: u64,
    /// See [`DEFAULT_DEADLINE`]. In configuration: milliseconds (`deadline_ms`).
    #[serde(rename = "deadline_ms", with = "millis")]
    pub deadline: Duration,
    /// See [`DEFAULT_FUEL_YIELD_INTERVAL`].
    pub fuel_yield_interval: u64,
    /// See [`DEFAULT_LOG_CAPTURE_BYTES`].
    pub log_capture_bytes: usize,
    /// See [`DEFAULT_MAX_OBJECTS_BYTES`].
    pub max_objects_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: DEFAULT_FUEL,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            deadline: DEFAULT_DEADLINE,
            fuel_yield_interval: DEFAULT_FUEL_YIELD_INTERVAL,
            log_capture_bytes: DEFAULT_LOG_CAPTURE_BYTES,
            max_objects_bytes: DEFAULT_MAX_OBJECTS_BYTES,
        }
    }
}

mod millis {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
