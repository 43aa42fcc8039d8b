//! Per-call limits and the engine's ceilings: every limit has a name, a default, a config
//! knob and a typed outcome.
//!
//! The defaults fit the example listeners in every guest language with room to spare
//! (`../shared/TOOLCHAINS.md` has the measured costs): a SpiderMonkey listener building a
//! 10 KB email burns about 28 M fuel, a Python no-op about 0.16 M.

use serde::{Deserialize, Serialize};
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

/// Lines of log kept per call, whatever their length: an empty line costs a line, so a
/// guest logging empty lines in a loop fills the capture as surely as one logging long
/// ones. The rest is dropped and the report says so (`log_truncated`).
pub(crate) const DEFAULT_LOG_CAPTURE_LINES: usize = 1_000;

/// Queue pushes one call may make: the push past it ends the call with
/// [`crate::Outcome::HostLimit`] ([`HostLimit::QueuePushes`]) before it reaches the
/// backend. Room for a listener that forwards every object of a large batch one by one.
pub(crate) const DEFAULT_MAX_QUEUE_PUSHES: u32 = 1_000;

/// Payload bytes one call may push, all pushes together: the push that would pass it ends
/// the call with [`HostLimit::QueueBytes`] before it reaches the backend. Sixteen pushes of
/// the largest payload the default policy allows (1 MiB).
pub(crate) const DEFAULT_MAX_QUEUE_BYTES: usize = 16 << 20;

/// Bytes a guest may hand the host in one host call (wasmtime's "hostcall fuel": strings
/// and lists copied out of the guest's memory before any host code sees them). Past it
/// the call ends with [`HostLimit::HostcallBytes`]. wasmtime's default is 128 MiB; the
/// largest value the contract takes is a queue payload (1 MiB by default) or an email
/// (256 KiB of body and as much HTML), so 4 MiB leaves room and bounds what a `log` line
/// of any claimed length costs before it is cut.
pub(crate) const DEFAULT_HOSTCALL_BYTES: usize = 4 << 20;

/// Resource handles one call may hold at once (WASI streams, pollables, the guest's own
/// resources), in wasmtime's handle tables and in the host's resource table. Past it the
/// call ends with [`HostLimit::Handles`]. wasmtime's defaults are 100,000 and 1,000,000;
/// a Python or JavaScript guest holds a few dozen.
pub(crate) const DEFAULT_MAX_HANDLES: usize = 10_000;

/// Bytes one `wasi:random` call may ask for (`get-random-bytes`,
/// `get-insecure-random-bytes`): the host allocates them before the guest sees them. Past
/// it the call ends with [`HostLimit::RandomBytes`]. wasmtime's default is 64 MiB; language
/// runtimes ask for a few dozen bytes to seed their hash maps.
pub(crate) const DEFAULT_MAX_RANDOM_BYTES: u64 = 1 << 20;

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

/// How often the engine's epoch advances (`[engine] epoch_tick_ms`): a call running wasm
/// code has its deadline compared with the clock at every tick, so a deadline fires
/// neither before it is due nor more than one tick after. Also the shortest deadline a
/// listener may have. A tick costs a thread wake-up and, in every running call, one check.
pub(crate) const DEFAULT_EPOCH_TICK: Duration = Duration::from_millis(10);

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
    /// The deadline is shorter than the engine's epoch tick, so it could not be kept.
    #[error("limits.deadline_ms = {deadline_ms} is below the engine's epoch tick: the smallest deadline is {tick_ms} ms ([engine] epoch_tick_ms)")]
    DeadlineBelowTick {
        /// The listener's deadline, in milliseconds.
        deadline_ms: u128,
        /// The tick, in milliseconds.
        tick_ms: u128,
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

/// A per-call bound on what the host holds or copies for a guest; a call past one ends with
/// [`crate::Outcome::HostLimit`], naming it. Each is a field of [`Limits`] (its
/// configuration key is [`HostLimit::key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostLimit {
    /// Queue pushes in one call ([`Limits::max_queue_pushes`]).
    QueuePushes,
    /// Payload bytes pushed in one call ([`Limits::max_queue_bytes`]).
    QueueBytes,
    /// Bytes copied out of the guest in one host call ([`Limits::hostcall_bytes`]).
    HostcallBytes,
    /// Resource handles held at once ([`Limits::max_handles`]).
    Handles,
    /// Bytes asked of `wasi:random` in one host call ([`Limits::max_random_bytes`]).
    RandomBytes,
}

impl HostLimit {
    /// Every host limit, in the order of [`Limits`].
    pub const ALL: [HostLimit; 5] = [
        HostLimit::QueuePushes,
        HostLimit::QueueBytes,
        HostLimit::HostcallBytes,
        HostLimit::Handles,
        HostLimit::RandomBytes,
    ];

    /// Its name as printed and serialised (`queue-pushes`, ...).
    pub fn name(self) -> &'static str {
        match self {
            HostLimit::QueuePushes => "queue-pushes",
            HostLimit::QueueBytes => "queue-bytes",
            HostLimit::HostcallBytes => "hostcall-bytes",
            HostLimit::Handles => "handles",
            HostLimit::RandomBytes => "random-bytes",
        }
    }

    /// Its key in `[listener.limits]`.
    pub fn key(self) -> &'static str {
        match self {
            HostLimit::QueuePushes => "max_queue_pushes",
            HostLimit::QueueBytes => "max_queue_bytes",
            HostLimit::HostcallBytes => "hostcall_bytes",
            HostLimit::Handles => "max_handles",
            HostLimit::RandomBytes => "max_random_bytes",
        }
    }
}

impl std::fmt::Display for HostLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (limits.{})", self.name(), self.key())
    }
}

/// Trap: a host capability refused to go past one of the call's [`HostLimit`]s. The
/// engine turns it into [`crate::Outcome::HostLimit`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the call went past its host limit {limit}: {detail}")]
pub(crate) struct HostLimitExceeded {
    /// Which limit.
    pub(crate) limit: HostLimit,
    /// What the call asked for, and the limit's value.
    pub(crate) detail: String,
}

/// The limits of one listener's calls. Every field defaults to the constant of the same name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// See [`DEFAULT_LOG_CAPTURE_LINES`].
    pub log_capture_lines: usize,
    /// See [`DEFAULT_MAX_QUEUE_PUSHES`].
    pub max_queue_pushes: u32,
    /// See [`DEFAULT_MAX_QUEUE_BYTES`].
    pub max_queue_bytes: usize,
    /// See [`DEFAULT_HOSTCALL_BYTES`].
    pub hostcall_bytes: usize,
    /// See [`DEFAULT_MAX_HANDLES`].
    pub max_handles: usize,
    /// See [`DEFAULT_MAX_RANDOM_BYTES`].
    pub max_random_bytes: u64,
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
            log_capture_lines: DEFAULT_LOG_CAPTURE_LINES,
            max_queue_pushes: DEFAULT_MAX_QUEUE_PUSHES,
            max_queue_bytes: DEFAULT_MAX_QUEUE_BYTES,
            hostcall_bytes: DEFAULT_HOSTCALL_BYTES,
            max_handles: DEFAULT_MAX_HANDLES,
            max_random_bytes: DEFAULT_MAX_RANDOM_BYTES,
        }
    }
}

impl Limits {
    /// Each limit as `(name, value)`, durations in ms: every one is looser the larger it is.
    fn fields(&self) -> [(&'static str, u64); 12] {
        let n = |v: usize| v as u64;
        [
            ("fuel", self.fuel),
            ("memory_bytes", self.memory_bytes),
            (
                "deadline_ms",
                u64::try_from(self.deadline.as_millis()).unwrap_or(u64::MAX),
            ),
            ("fuel_yield_interval", self.fuel_yield_interval),
            ("log_capture_bytes", n(self.log_capture_bytes)),
            ("max_objects_bytes", n(self.max_objects_bytes)),
            ("log_capture_lines", n(self.log_capture_lines)),
            ("max_queue_pushes", u64::from(self.max_queue_pushes)),
            ("max_queue_bytes", n(self.max_queue_bytes)),
            ("hostcall_bytes", n(self.hostcall_bytes)),
            ("max_handles", n(self.max_handles)),
            ("max_random_bytes", self.max_random_bytes),
        ]
    }

    /// The first limit over `ceiling`'s: `(name, value, ceiling)`.
    pub fn over(&self, ceiling: &Limits) -> Option<(&'static str, u64, u64)> {
        let pairs = self.fields().into_iter().zip(ceiling.fields());
        pairs
            .filter(|((_, mine), (_, most))| mine > most)
            .map(|((name, mine), (_, most))| (name, mine, most))
            .next()
    }

    /// Each limit the smaller of the two: a default that fits under a ceiling.
    pub fn capped_by(&self, ceiling: &Limits) -> Limits {
        Limits {
            fuel: self.fuel.min(ceiling.fuel),
            memory_bytes: self.memory_bytes.min(ceiling.memory_bytes),
            deadline: self.deadline.min(ceiling.deadline),
            fuel_yield_interval: self.fuel_yield_interval.min(ceiling.fuel_yield_interval),
            log_capture_bytes: self.log_capture_bytes.min(ceiling.log_capture_bytes),
            max_objects_bytes: self.max_objects_bytes.min(ceiling.max_objects_bytes),
            log_capture_lines: self.log_capture_lines.min(ceiling.log_capture_lines),
            max_queue_pushes: self.max_queue_pushes.min(ceiling.max_queue_pushes),
            max_queue_bytes: self.max_queue_bytes.min(ceiling.max_queue_bytes),
            hostcall_bytes: self.hostcall_bytes.min(ceiling.hostcall_bytes),
            max_handles: self.max_handles.min(ceiling.max_handles),
            max_random_bytes: self.max_random_bytes.min(ceiling.max_random_bytes),
        }
    }

    /// Checks the limits against an engine whose pool slots hold `max_memory_bytes` and
    /// whose epoch advances every `epoch_tick`: every limit wasmtime or the engine would
    /// refuse, or silently ignore, is an error here.
    pub fn check(&self, max_memory_bytes: u64, epoch_tick: Duration) -> Result<(), LimitError> {
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
        if self.deadline < epoch_tick {
            return Err(LimitError::DeadlineBelowTick {
                deadline_ms: self.deadline.as_millis(),
                tick_ms: epoch_tick.as_millis(),
            });
        }
        let zeros: [(&'static str, bool, &'static str); 4] = [
            (
                "max_queue_pushes",
                self.max_queue_pushes == 0,
                "every push would end the call",
            ),
            (
                "max_queue_bytes",
                self.max_queue_bytes == 0,
                "every push would end the call",
            ),
            (
                "hostcall_bytes",
                self.hostcall_bytes == 0,
                "every host call taking a string would end the call",
            ),
            (
                "max_handles",
                self.max_handles == 0,
                "no stream or other resource could be opened",
            ),
        ];
        if let Some((key, _, why)) = zeros.into_iter().find(|(_, zero, _)| *zero) {
            return zero(key, why);
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
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_over_its_ceiling_is_named_and_defaults_cap_under_it() {
        let ceiling = Limits {
            fuel: 100,
            deadline: Duration::from_millis(50),
            ..Limits::default()
        };
        assert_eq!(Limits::default().over(&Limits::default()), None);
        let capped = Limits::default().capped_by(&ceiling);
        assert_eq!(
            (capped.fuel, capped.deadline),
            (100, Duration::from_millis(50))
        );
        assert_eq!(capped.over(&ceiling), None);
        assert_eq!(capped.memory_bytes, Limits::default().memory_bytes);
        let slow = Limits {
            deadline: Duration::from_millis(51),
            ..capped
        };
        assert_eq!(slow.over(&ceiling), Some(("deadline_ms", 51, 50)));
    }

    #[test]
    fn zero_limits_and_memory_over_the_maximum_are_refused_by_name() {
        assert_eq!(
            Limits::default().check(DEFAULT_MAX_MEMORY_BYTES, DEFAULT_EPOCH_TICK),
            Ok(())
        );
        let yield_zero = Limits {
            fuel_yield_interval: 0,
            ..Limits::default()
        };
        let e = yield_zero
            .check(DEFAULT_MAX_MEMORY_BYTES, DEFAULT_EPOCH_TICK)
            .unwrap_err();
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
            fuel_zero.check(u64::MAX, DEFAULT_EPOCH_TICK),
            Err(LimitError::Zero { key: "fuel", .. })
        ));
        let big = Limits {
            memory_bytes: 2 << 30,
            ..Limits::default()
        };
        assert!(matches!(
            big.check(1 << 30, DEFAULT_EPOCH_TICK),
            Err(LimitError::MemoryOverMax { .. })
        ));
        let pushes_zero = Limits {
            max_queue_pushes: 0,
            ..Limits::default()
        };
        assert!(matches!(
            pushes_zero.check(u64::MAX, DEFAULT_EPOCH_TICK),
            Err(LimitError::Zero {
                key: "max_queue_pushes",
                ..
            })
        ));
    }

    #[test]
    fn a_deadline_below_one_tick_is_refused_naming_the_smallest() {
        let tick = Duration::from_millis(10);
        let short = Limits {
            deadline: Duration::from_millis(9),
            ..Limits::default()
        };
        let e = short.check(DEFAULT_MAX_MEMORY_BYTES, tick).unwrap_err();
        assert_eq!(
            e,
            LimitError::DeadlineBelowTick {
                deadline_ms: 9,
                tick_ms: 10
            }
        );
        assert!(
            e.to_string().contains("the smallest deadline is 10 ms"),
            "{e}"
        );
        let one_tick = Limits {
            deadline: tick,
            ..Limits::default()
        };
        assert_eq!(one_tick.check(DEFAULT_MAX_MEMORY_BYTES, tick), Ok(()));
    }
}
