//! When a failed delivery is tried again: the retry schedule, its jitter, and the clock
//! every due time is read from (injected, so tests check due times without waiting).

use crate::config::{DEFAULT_JITTER, DEFAULT_RETRY_SCHEDULE};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How long a delivery waits after `capacity` (no free instance): the attempt is not
/// counted, it is only put back.
pub(crate) const CAPACITY_PAUSE: Duration = Duration::from_secs(1);

/// The pauses between attempts: attempt `n + 1` is due `pauses[n - 1]` (jittered) after
/// attempt `n` failed; after the last pause's attempt, the delivery is dead.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrySchedule {
    /// The pause after each failed attempt, in order.
    pub pauses: Vec<Duration>,
    /// The jitter, a fraction of each pause (0.2: ±20 %).
    pub jitter: f64,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        RetrySchedule {
            pauses: DEFAULT_RETRY_SCHEDULE.to_vec(),
            jitter: DEFAULT_JITTER,
        }
    }
}

impl RetrySchedule {
    /// Attempts in all: the first, and one after each pause.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.pauses.len()).map_or(u32::MAX, |n| n.saturating_add(1))
    }

    /// The pause after attempt `attempt` (1-based) failed, jittered; `None` when that was
    /// the last attempt.
    pub(crate) fn pause_after(&self, attempt: u32) -> Option<Duration> {
        let index = usize::try_from(attempt).ok()?.checked_sub(1)?;
        let pause = self.pauses.get(index)?;
        let factor = 1.0 + self.jitter * (2.0 * fastrand::f64() - 1.0);
        Some(pause.mul_f64(factor.max(0.0)))
    }

    /// The bounds of the jittered pause after attempt `attempt` (for tests and docs).
    pub fn bounds_after(&self, attempt: u32) -> Option<(Duration, Duration)> {
        let index = usize::try_from(attempt).ok()?.checked_sub(1)?;
        let pause = self.pauses.get(index)?;
        let low = pause.mul_f64((1.0 - self.jitter).max(0.0));
        Some((low, pause.mul_f64(1.0 + self.jitter)))
    }
}

/// Where the worker reads the time of due dates and leases: milliseconds since the Unix
/// epoch. The system clock in production; a [`ManualClock`] in tests.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
}

/// The system's wall clock (shared by every worker on every machine: due times are
/// absolute, so they mean the same on all of them).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
    }
}

/// A clock that moves only when told to. Clones share the time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicU64>);

impl ManualClock {
    /// A clock showing `now_ms`.
    pub fn at(now_ms: u64) -> ManualClock {
        ManualClock(Arc::new(AtomicU64::new(now_ms)))
    }

    /// Moves the clock to `now_ms`.
    pub fn set(&self, now_ms: u64) {
        self.0.store(now_ms, Ordering::SeqCst);
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_stay_within_the_jitter_and_end_after_the_last() {
        let schedule = RetrySchedule {
            pauses: vec![Duration::from_secs(10), Duration::from_secs(100)],
            jitter: 0.2,
        };
        assert_eq!(schedule.max_attempts(), 3);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let pause = schedule.pause_after(1).unwrap();
            assert!((8_000..=12_000).contains(&pause.as_millis()), "{pause:?}");
            seen.insert(pause.as_millis() / 500);
        }
        assert!(seen.len() > 3, "jitter spreads the pauses: {seen:?}");
        let second = schedule.pause_after(2).unwrap();
        assert!((80_000..=120_000).contains(&second.as_millis()));
        assert_eq!(schedule.pause_after(3), None, "three attempts, then dead");
        assert_eq!(schedule.pause_after(0), None);
    }

    #[test]
    fn the_manual_clock_moves_when_told() {
        let clock = ManualClock::at(1_000);
        let shared = clock.clone();
        shared.advance(Duration::from_secs(5));
        assert_eq!(clock.now_ms(), 6_000);
        clock.set(42);
        assert_eq!(shared.now_ms(), 42);
    }
}
