//! Per-call limits and the engine's ceilings: every limit has a name, a default, a config
//! knob and a typed outcome.
//!
//! The defaults fit the example listeners in every guest language with room to spare
//! (`../shared/TOOLCHAINS.md` has the measured costs): a SpiderMonkey listener building a
//! 10 KB email burns about 28 M fuel, a Python no-op about 0.16 M.

use serde::Deserialize;
use std::time::Duration;

/// Fuel a call may burn before it ends with [`crate::Outcome::OutOfFuel`]: about 3.5 times
/// what a SpiderMonkey (JavaScript) listener needs to build a 10 KB email.
pub(crate) const DEFAULT_FUEL: u64 = 100_000_000;

/// Linear memory (all memories of the component together) a call may hold before it ends
/// with [`crate::Outcome::MemoryLimit`]. A Python or JavaScript guest needs 20-60 MiB.
pub(crate) const DEFAULT_MEMORY_BYTES: u64 = 128 << 20;

/// Wall-clock time a call may take, host calls included, before it ends with
/// [`crate::Outcome::Deadline`].
pub(crate) const DEFAULT_DEADLINE: Duration = Duration::from_secs(10);

/// Fuel between two yields to the async executor, so that one CPU-bound call cannot hold a
/// worker thread: 1 M costs CPU-bound code about 12 %, 10 k doubles it (TOOLCHAINS.md).
pub(crate) const DEFAULT_FUEL_YIELD_INTERVAL: u64 = 2_000_000;

/// Bytes of log (the `log` import, stdout and stderr together) kept per call; the rest is
/// dropped and the report says so. Guests can print without bound, the report must not.
pub(crate) const DEFAULT_LOG_CAPTURE_BYTES: usize = 64 << 10;

/// Bytes of objects (their JSON text) handed to one call. A larger event is delivered in
/// parts (`context.part`), never dropped.
pub(crate) const DEFAULT_MAX_OBJECTS_BYTES: usize = 1 << 20;

/// Listener instances alive at once (calls in flight) before a call ends with
/// [`crate::Outcome::Capacity`]: the size of the engine's instance pool (`[engine]
/// max_instances`).
pub(crate) const DEFAULT_MAX_INSTANCES: u32 = 100;

/// How long an instance kept for reuse (`calls_per_instance` > 1) may stay idle before its
/// memory goes back to the pool (`[engine] idle_instance_ms`): long enough to span the gaps
/// of a steady stream of events, short enough that a listener gone quiet gives its memory
/// back soon.
pub(crate) const DEFAULT_IDLE_INSTANCE_LIMIT: Duration = Duration::from_secs(30);

/// The largest memory limit any listener may be given: the size of a pool slot (`[engine]
/// max_memory_mib`).
pub(crate) const DEFAULT_MAX_MEMORY_BYTES: u64 = 256 << 20;

/// Why a listener's limits cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// A limit that must be above zero is zero (`key` is its configuration key).
    #[error("limits.{key} = 0: it must be above 0 ({why})")]
    Zero {
        /// The key, as in `[listener.limits]`.
        key: &'static str,
        /// What a zero would mean.
        why: &'static str,
    },
    /// The memory limit is over the engine's pool slot.
    #[error("limits.memory_bytes = {memory_bytes} is over the engine's maximum of {max_bytes} bytes ([engine] max_memory_mib)")]
    MemoryOverMax {
        /// The listener's limit.
        memory_bytes: u64,
        /// The engine's maximum.
        max_bytes: u64,
    },
}

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

impl Limits {
    /// Checks the limits against an engine whose pool slots hold `max_memory_bytes`: every
    /// limit wasmtime or the engine would refuse, or silently ignore, is an error here.
    pub fn check(&self, max_memory_bytes: u64) -> Result<(), LimitError> {
        let zero = |key, why| Err(LimitError::Zero { key, why });
        if self.fuel == 0 {
            return zero("fuel", "every call would end out of fuel at once");
        }
        if self.deadline.is_zero() {
            return zero(
                "deadline_ms",
                "every call would end at its deadline at once",
            );
        }
        if self.fuel_yield_interval == 0 {
            return zero(
                "fuel_yield_interval",
                "wasmtime cannot yield every 0 units of fuel",
            );
        }
        if self.memory_bytes > max_memory_bytes {
            let memory_bytes = self.memory_bytes;
            let max_bytes = max_memory_bytes;
            return Err(LimitError::MemoryOverMax {
                memory_bytes,
                max_bytes,
            });
        }
        Ok(())
    }
}

mod millis {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_limits_and_memory_over_the_maximum_are_refused_by_name() {
        assert_eq!(Limits::default().check(DEFAULT_MAX_MEMORY_BYTES), Ok(()));
        let yield_zero = Limits {
            fuel_yield_interval: 0,
            ..Limits::default()
        };
        let e = yield_zero.check(DEFAULT_MAX_MEMORY_BYTES).unwrap_err();
        assert!(
            matches!(
                e,
                LimitError::Zero {
                    key: "fuel_yield_interval",
                    ..
                }
            ),
            "{e}"
        );
        assert!(
            e.to_string().starts_with("limits.fuel_yield_interval = 0"),
            "{e}"
        );
        let fuel_zero = Limits {
            fuel: 0,
            ..Limits::default()
        };
        assert!(matches!(
            fuel_zero.check(u64::MAX),
            Err(LimitError::Zero { key: "fuel", .. })
        ));
        let big = Limits {
            memory_bytes: 2 << 30,
            ..Limits::default()
        };
        assert!(matches!(
            big.check(1 << 30),
            Err(LimitError::MemoryOverMax { .. })
        ));
    }
}
