//! Instances kept between calls, for listeners that opt in with `calls_per_instance` > 1.
//!
//! A fresh instance per call is the default and what isolates one event from the next. A
//! listener may instead let one instance serve up to `calls_per_instance` of its own calls:
//! what a call leaves in the guest's memory (globals, caches, a parsed configuration) is
//! there for the next call of the same listener, never another listener's. An instance
//! goes back to its listener's idle stack only after a call that ended `ok`: any error,
//! trap, limit or deadline drops it, and so does its last allowed call. The engine keeps
//! at most [`Engine::warm_budget`] idle instances in all (they hold pool slots), and one idle
//! for longer than [`IDLE_LIMIT`] is dropped when its listener next uses its stack.

use super::state::HostState;
use super::Engine;
use crate::bindings::Listener as Bindings;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::Store;

/// How long an idle instance is kept: past it, the memory it holds goes back to the pool.
pub(super) const IDLE_LIMIT: Duration = Duration::from_secs(30);

/// An instance between two calls.
pub(super) struct Warm {
    pub(super) store: Store<HostState>,
    pub(super) bindings: Bindings,
    /// Calls it has served.
    pub(super) calls: u32,
    idle_since: Instant,
    _slot: IdleSlot,
}

/// One of a listener's idle instances counted against the engine's budget while it lives.
struct IdleSlot(Arc<AtomicUsize>);

impl Drop for IdleSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A listener's idle instances, the most recently used last. Shared by its clones.
#[derive(Default)]
pub(super) struct WarmStack {
    idle: Mutex<Vec<Warm>>,
}

impl WarmStack {
    /// The most recently used idle instance, if any is young enough.
    pub(super) fn take(&self) -> Option<Warm> {
        let mut idle = self.lock();
        let warm = idle.pop()?;
        if warm.idle_since.elapsed() < IDLE_LIMIT {
            return Some(warm);
        }
        // The newest is stale, so all are: dropped outside the lock.
        let stale = std::mem::take(&mut *idle);
        drop(idle);
        drop((warm, stale));
        None
    }

    /// Keeps an instance that just served a call for the next one, if the engine's budget
    /// has room; drops the stack's stale instances.
    pub(super) fn keep(
        &self,
        engine: &Engine,
        store: Store<HostState>,
        bindings: Bindings,
        calls: u32,
    ) {
        let Some(slot) = engine.idle_slot() else {
            return;
        };
        let warm = Warm {
            store,
            bindings,
            calls,
            idle_since: Instant::now(),
            _slot: slot,
        };
        let mut idle = self.lock();
        let stale = idle
            .iter()
            .take_while(|w| w.idle_since.elapsed() >= IDLE_LIMIT)
            .count();
        let dropped: Vec<Warm> = idle.drain(..stale).collect();
        idle.push(warm);
        drop(idle);
        drop(dropped);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Warm>> {
        // A poisoned lock only means a thread panicked holding it: the stack is still valid.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Engine {
    /// Idle instances the engine keeps at most, over every listener: as many as calls may
    /// be in flight (`max_instances`); the pool has room for both.
    pub(super) fn warm_budget(&self) -> usize {
        warm_budget(self.config.max_instances)
    }

    /// Counts one more idle instance, unless the budget is spent.
    fn idle_slot(&self) -> Option<IdleSlot> {
        let counter = &self.warm_idle;
        let budget = self.warm_budget();
        let taken = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
            (n < budget).then_some(n + 1)
        });
        taken.ok().map(|_| IdleSlot(counter.clone()))
    }
}

/// See [`Engine::warm_budget`].
pub(super) fn warm_budget(max_instances: u32) -> usize {
    usize::try_from(max_instances).unwrap_or(usize::MAX)
}
