//! Asynchronous delivery: every event reaches every matching async listener at least
//! once, from a durable queue, with retries on a schedule and dead letters for what keeps
//! failing.
//!
//! An *input* holds entries (the runtime's own input, which `POST /v1/events` and the
//! Kinto plugin fill with committed events, and kinto-redis's list). A worker takes a
//! batch of entries, and each entry *fans out* into one *delivery* per matching listener
//! that takes that input. The entry is acknowledged once every delivery has an outcome
//! kept: `ok`, a retry due later ([`RetrySchedule`]), or a dead letter. A worker that dies
//! leaves its entries unacknowledged: another takes them after the claim idle time. So a
//! delivery runs at least once, and more than once only around a crash or a queue that
//! failed between running and settling; `(event id, listener, part)` is the idempotency
//! key listeners use for their side effects.
//!
//! # Layout
//! - `mod.rs`: the [`Enqueuer`] `POST /v1/events` uses.
//! - `worker.rs`: [`Worker`]: steps, fan-out, outcomes, the run loop and shutdown.
//! - `queue.rs`: [`DeliveryQueue`], the durable store's interface.
//! - `records.rs`: what the store holds, as versioned JSON.
//! - `schedule.rs`: the retry schedule and the injected clock.

mod queue;
mod records;
mod schedule;
mod worker;

pub use queue::{Counts, DeliveryQueue, QueueError, Settlement};
pub(crate) use records::{source_from_name, source_name};
pub use records::{
    DeadLetter, DeadReason, LastAttempt, Pending, RawEntry, Rejected, FORMAT_VERSION,
};
pub use schedule::{Clock, ManualClock, RetrySchedule, SystemClock};
pub(crate) use worker::AsyncRoute;
pub(crate) use worker::WorkerSettings;
pub use worker::{StepReport, Worker};

use crate::config::Mode;
use crate::dispatch::{Route, TenantRoutes};
use crate::event::{Incoming, Source};
use std::sync::Arc;

/// Puts events on the runtime's input for the async listeners that take it.
#[derive(Debug, Clone)]
pub(crate) struct Enqueuer {
    queue: Arc<dyn DeliveryQueue>,
    /// The async listeners that take the runtime's input.
    routes: Vec<Route>,
    /// The tenants' listeners, when tenants are served (they take the runtime's input).
    tenants: Option<TenantRoutes>,
}

impl Enqueuer {
    pub(crate) fn new(
        queue: Arc<dyn DeliveryQueue>,
        routes: Vec<Route>,
        tenants: Option<TenantRoutes>,
    ) -> Enqueuer {
        Enqueuer {
            queue,
            routes,
            tenants,
        }
    }

    /// Enqueues the event when some async listener wants it; returns how many deliveries
    /// that makes (0: nothing was enqueued).
    pub(crate) async fn enqueue(
        &self,
        incoming: &Incoming,
        source: Source,
    ) -> Result<usize, QueueError> {
        let event = &incoming.event;
        let wanted = self
            .routes
            .iter()
            .filter(|r| r.wants(event.action, &event.resource_name));
        let mut deliveries = wanted.count();
        let mut unsure = false;
        if let Some(tenants) = &self.tenants {
            match tenants.for_event(event, Mode::Async).await {
                Ok(routes) => deliveries += routes.len(),
                Err(e) => {
                    // The worker reads the tenants' listeners again when it takes it.
                    tracing::warn!(error = %e, "cannot read the tenants' listeners: enqueueing the event anyway");
                    unsure = true;
                }
            }
        }
        if deliveries > 0 || unsure {
            let json = event.to_kinto_value(incoming.phase);
            let bytes = serde_json::to_vec(&json).map_err(|source| QueueError::Encode {
                what: "the event",
                source,
            })?;
            self.queue.enqueue(&bytes, source).await?;
        }
        Ok(deliveries)
    }
}
