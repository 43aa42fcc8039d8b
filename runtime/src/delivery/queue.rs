//! [`DeliveryQueue`]: the durable store the worker takes entries from and records outcomes
//! in. Redis (`backends::redis_delivery`) and the embedded store
//! (`backends::embedded_delivery`) implement it.

use super::records::{DeadLetter, Pending, RawEntry, Rejected, FORMAT_VERSION};
use crate::event::{Input, Source};
use crate::store::StoreError;
use std::time::Duration;

/// Why the durable queue could not do what was asked (Redis down, an unexpected reply, a
/// record that does not read). The worker logs it, waits and tries again: nothing it took
/// is acknowledged. No variant's text holds a Redis URL (nor its password).
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Redis failed, or could not be reached, while the queue was doing `op`.
    #[error("delivery queue: redis: {op}: {source}")]
    Redis {
        /// What the queue was doing (`taking entries`, `settling a batch`, ...).
        op: &'static str,
        /// What the Redis client said (kept opaque here: `redis` stays in `backends`).
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The embedded store failed (its text names the file).
    #[error("delivery queue: {0}")]
    Store(#[from] StoreError),
    /// What the queue was to write does not encode as JSON.
    #[error("delivery queue: cannot encode {what}: {source}")]
    Encode {
        /// What was being encoded (`a record`, `the event`).
        what: &'static str,
        /// What serde_json said.
        source: serde_json::Error,
    },
    /// A record read back does not decode as this worker's [`FORMAT_VERSION`].
    #[error(
        "delivery queue: unreadable record in {store}: it does not read as version {version}: {source}",
        version = FORMAT_VERSION
    )]
    Decode {
        /// Where the record was (`Redis`, `the store`).
        store: &'static str,
        /// What serde_json said.
        source: serde_json::Error,
    },
}

/// What one batch's outcomes change, applied by [`DeliveryQueue::settle`] in this order:
/// every record first, then the acknowledgements, so nothing is acknowledged whose
/// outcome was not kept.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settlement {
    /// Deliveries to try again (new, or rescheduled): written, due at `due_ms`.
    pub retry: Vec<Pending>,
    /// Deliveries that are dead: parked in their listener's dead letters, and no longer
    /// pending.
    pub dead: Vec<DeadLetter>,
    /// Pending deliveries that ended `ok` on a retry: removed. `(listener, delivery id)`.
    pub done: Vec<(String, String)>,
    /// Input entries that are not events: parked.
    pub rejected: Vec<Rejected>,
    /// Input entries every matching listener has an outcome for: acknowledged and deleted.
    pub ack: Vec<(Input, String)>,
}

impl Settlement {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.retry.is_empty()
            && self.dead.is_empty()
            && self.done.is_empty()
            && self.rejected.is_empty()
            && self.ack.is_empty()
    }
}

/// How many records a listing or a purge touched, and how many were dropped over the bound.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Records listed, replayed or purged.
    pub count: usize,
    /// Records dropped since the store began because the bound was reached.
    pub dropped: u64,
}

/// The durable queue of asynchronous deliveries.
#[async_trait::async_trait]
pub trait DeliveryQueue: Send + Sync + std::fmt::Debug {
    /// Appends an event (listener-shape JSON) to the runtime's input; returns its entry id.
    async fn enqueue(&self, event: &[u8], source: Source) -> Result<String, QueueError>;

    /// Up to `max` new entries of `input` for this worker, then up to `max` that a worker
    /// took more than `claim_idle` ago without acknowledging them (it died).
    async fn take(
        &self,
        input: Input,
        max: usize,
        claim_idle: Duration,
    ) -> Result<Vec<RawEntry>, QueueError>;

    /// Up to `max` of `listener`'s pending deliveries due at `now_ms`, each leased to this
    /// worker until `now_ms + lease` (after which another worker may take it).
    async fn take_due(
        &self,
        listener: &str,
        now_ms: u64,
        lease: Duration,
        max: usize,
    ) -> Result<Vec<Pending>, QueueError>;

    /// Writes a batch's outcomes, then acknowledges its entries.
    async fn settle(
        &self,
        settlement: Settlement,
        max_dead: usize,
        max_rejected: usize,
    ) -> Result<(), QueueError>;

    /// `listener`'s dead letters, newest first, at most `max`.
    async fn dead_letters(
        &self,
        listener: &str,
        max: usize,
    ) -> Result<(Vec<DeadLetter>, Counts), QueueError>;

    /// Makes `listener`'s dead letters (`id`, or all) pending again, due at `now_ms`, for a
    /// new round of the schedule; returns how many.
    async fn replay(
        &self,
        listener: &str,
        id: Option<&str>,
        now_ms: u64,
    ) -> Result<usize, QueueError>;

    /// Deletes `listener`'s dead letters (`id`, or all); returns how many.
    async fn purge_dead(&self, listener: &str, id: Option<&str>) -> Result<usize, QueueError>;

    /// Deletes everything `listener` has here: its pending deliveries and its dead letters
    /// (its listener or its tenant was deleted); returns how many.
    async fn forget(&self, listener: &str) -> Result<usize, QueueError>;

    /// `input`'s rejected entries, newest first, at most `max`.
    async fn rejected(
        &self,
        input: Input,
        max: usize,
    ) -> Result<(Vec<Rejected>, Counts), QueueError>;

    /// Deletes `input`'s rejected entries; returns how many.
    async fn purge_rejected(&self, input: Input) -> Result<usize, QueueError>;

    /// `listener`'s pending deliveries (retries waiting), at most `max`, soonest first.
    async fn pending(&self, listener: &str, max: usize) -> Result<Vec<Pending>, QueueError>;

    /// How many entries `input` holds, taken or not (for metrics).
    async fn depth(&self, input: Input) -> Result<u64, QueueError>;
}
