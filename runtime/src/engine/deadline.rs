//! A call's wall-clock deadline in wasm code: the epoch is armed one tick at a time, and at
//! every tick the call's deadline is compared with the clock.
//!
//! Counting ticks instead (a deadline of `n` ms armed as `n / tick + 1` ticks) starts from
//! an arbitrary phase of the tick: a 3 ms deadline fired anywhere between 0 and 10 ms, a
//! 19 ms one could fire at 10 ms. Comparing the clock at every tick, a deadline fires
//! neither before it is due nor more than one tick after (a deadline shorter than a tick
//! is refused: [`crate::Limits::check`]).
//!
//! [`on_tick`] is also where a scheduler will hold a call back to share the CPU between
//! tenants: it would return [`UpdateDeadline::YieldCustom`] with the future that waits
//! for the tenant's turn.

use std::time::{Duration, Instant};
use wasmtime::UpdateDeadline;

/// Time a guest may still run after an email the server accepted past the deadline, to
/// return: the call then ends with what the guest says, not with a deadline that would
/// make a retry send the message twice. Granted once per late message.
pub(super) const LATE_COMMIT_GRACE: Duration = Duration::from_secs(1);

/// The clock of deadlines: tokio's, so that a test on paused time (`tokio::time::pause`)
/// controls it; outside a paused runtime it is the system's monotonic clock.
pub(crate) fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// What a tick decides for a call running wasm code.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Tick {
    /// Run on; check again at the next tick.
    Continue,
    /// The deadline has passed: interrupt the call.
    Interrupt,
}

/// Decides at one tick: `deadline` is the call's, moved on by [`LATE_COMMIT_GRACE`] when,
/// once it has passed, `late_commit` says an email was accepted past it.
pub(super) fn on_tick(
    now: Instant,
    deadline: &mut Instant,
    late_commit: impl FnOnce() -> bool,
) -> Tick {
    if now < *deadline {
        return Tick::Continue;
    }
    if late_commit() {
        *deadline = now + LATE_COMMIT_GRACE;
        return Tick::Continue;
    }
    Tick::Interrupt
}

impl Tick {
    /// As wasmtime's epoch callback answers: one more tick, or a trap.
    pub(super) fn into_update(self) -> wasmtime::Result<UpdateDeadline> {
        match self {
            // One tick at a time: the next check is at the next tick.
            Tick::Continue => Ok(UpdateDeadline::Continue(1)),
            Tick::Interrupt => Err(wasmtime::Trap::Interrupt.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tick_interrupts_at_the_deadline_and_not_before() {
        let start = Instant::now();
        let mut deadline = start + Duration::from_millis(15);
        let before = start + Duration::from_millis(14);
        let never = || panic!("a late commit is only asked for once the deadline passed");
        assert_eq!(on_tick(before, &mut deadline, never), Tick::Continue);
        assert_eq!(on_tick(deadline, &mut deadline, || false), Tick::Interrupt);
    }

    #[test]
    fn a_late_commit_moves_the_deadline_once() {
        let start = Instant::now();
        let mut deadline = start;
        let now = start + Duration::from_millis(3);
        assert_eq!(on_tick(now, &mut deadline, || true), Tick::Continue);
        assert_eq!(deadline, now + LATE_COMMIT_GRACE);
        let later = deadline + Duration::from_millis(1);
        assert_eq!(on_tick(later, &mut deadline, || false), Tick::Interrupt);
    }
}
