//! Instances kept between calls, for listeners that opt in with `calls_per_instance` > 1.
//!
//! A fresh instance per call is the default and what isolates one event from the next. A
//! listener may instead let one instance serve up to `calls_per_instance` of its own calls:
//! what a call leaves in the guest's memory (globals, caches, a parsed configuration) is
//! there for the next call of the same listener, never another listener's. An instance
//! goes back to its listener's idle stack only after a call that ended `ok`: any error,
//! trap, limit or deadline drops it, and so does its last allowed call. The engine keeps
//! at most [`idle_budget`] idle instances in all (they hold pool slots), and a
//! thread of its own drops those idle for longer than
//! [`EngineConfig::idle_instance_limit`](super::EngineConfig::idle_instance_limit), so a
//! listener that gets no more events gives its memory back.

use super::state::HostState;
use super::Engine;
use crate::bindings::Listener as Bindings;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};
use wasmtime::Store;

/// An instance between two calls.
pub(super) struct Warm {
    pub(super) store: Store<HostState>,
    pub(super) bindings: Bindings,
    /// Calls it has served.
    pub(super) calls: u32,
    idle_since: Instant,
    _slot: IdleSlot,
}

/// One idle instance counted against the engine's budget while it lives.
struct IdleSlot(Arc<AtomicUsize>);

impl Drop for IdleSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A listener's idle instances, the most recently used last. Shared by its clones.
pub(super) struct WarmStack {
    idle: Mutex<Vec<Warm>>,
    /// How long one may stay idle.
    limit: Duration,
}

impl WarmStack {
    fn new(limit: Duration) -> WarmStack {
        WarmStack {
            idle: Mutex::default(),
            limit,
        }
    }

    /// A stack for a listener that does not reuse instances: it stays empty.
    pub(super) fn unused() -> Arc<WarmStack> {
        Arc::new(WarmStack::new(Duration::ZERO))
    }

    /// The most recently used idle instance, if one is young enough.
    pub(super) fn take(&self) -> Option<Warm> {
        let warm = self.lock().pop()?;
        (!self.stale(&warm)).then_some(warm)
    }

    fn stale(&self, warm: &Warm) -> bool {
        warm.idle_since.elapsed() >= self.limit
    }

    /// Keeps an instance that just served a call for the next one, if the engine's budget
    /// has room.
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
        self.lock().push(Warm {
            store,
            bindings,
            calls,
            idle_since: Instant::now(),
            _slot: slot,
        });
    }

    /// Drops the instances idle past the limit (the oldest, at the bottom).
    fn drop_stale(&self) {
        let stale: Vec<Warm> = {
            let mut idle = self.lock();
            let n = idle.iter().take_while(|w| self.stale(w)).count();
            idle.drain(..n).collect()
        };
        // Dropped outside the lock: tearing a store down returns its memory to the pool.
        drop(stale);
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Warm>> {
        // A poisoned lock only means a thread panicked holding it: the stack is still valid.
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Every reusing listener's idle stack, for the sweeper; a stack goes with its listener.
pub(super) struct WarmStacks {
    stacks: Mutex<Vec<Weak<WarmStack>>>,
    limit: Duration,
}

impl WarmStacks {
    pub(super) fn new(limit: Duration) -> WarmStacks {
        WarmStacks {
            stacks: Mutex::default(),
            limit,
        }
    }

    /// A new stack, swept until its listener is gone.
    pub(super) fn register(&self) -> Arc<WarmStack> {
        let stack = Arc::new(WarmStack::new(self.limit));
        let mut stacks = self.stacks.lock().unwrap_or_else(|e| e.into_inner());
        stacks.retain(|s| s.strong_count() > 0);
        stacks.push(Arc::downgrade(&stack));
        stack
    }

    /// Drops every stack's instances idle past the limit.
    pub(super) fn sweep(&self) {
        let live: Vec<Arc<WarmStack>> = {
            let stacks = self.stacks.lock().unwrap_or_else(|e| e.into_inner());
            stacks.iter().filter_map(Weak::upgrade).collect()
        };
        for stack in live {
            stack.drop_stale();
        }
    }
}

impl Engine {
    /// Counts one more idle instance, unless the budget ([`idle_budget`]) is spent.
    fn idle_slot(&self) -> Option<IdleSlot> {
        let counter = &self.warm_idle;
        let budget = usize::try_from(idle_budget(self.config.max_instances)).unwrap_or(usize::MAX);
        let taken = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
            (n < budget).then_some(n + 1)
        });
        taken.ok().map(|_| IdleSlot(counter.clone()))
    }
}

/// Idle instances the engine keeps at most, over every listener: as many as calls may be in
/// flight (`max_instances`); the pool has room for both.
pub(super) fn idle_budget(max_instances: u32) -> u32 {
    max_instances
}
