//! [`EmbeddedDelivery`]: the durable queue of async deliveries on the embedded SQLite store,
//! when no Redis is configured (its invocation log: `embedded_invocations.rs`). Same records, same guarantees as on Redis
//! (`redis_delivery.rs`), for one machine: `serve` appends committed events and runs the
//! worker loop on the same file; what a crash left taken is taken again after the claim
//! idle time. Only the runtime's own input exists here (kinto-redis's list is on Redis).

use crate::delivery::{
    source_from_name, source_name, Clock, Counts, DeadLetter, DeliveryQueue, Pending, QueueError,
    RawEntry, Rejected, Settlement, SystemClock,
};
use crate::event::{Input, Source};
use crate::store::{Store, StoreSettlement};
use serde::de::DeserializeOwned;
use std::time::Duration;

/// The durable queue in the embedded store.
#[derive(Debug, Clone)]
pub(crate) struct EmbeddedDelivery {
    pub(super) store: Store,
}

impl EmbeddedDelivery {
    /// The queue in `store`'s file.
    pub(crate) fn new(store: Store) -> EmbeddedDelivery {
        EmbeddedDelivery { store }
    }

    /// Hands back what a previous run of the owning process had taken (it crashed or was
    /// cut at shutdown): `serve` calls it once at start, before its worker runs.
    pub(crate) async fn recover(&self) -> Result<usize, QueueError> {
        let released = self
            .store
            .delivery_release_all()
            .await
            .map_err(QueueError::Store)?;
        if released > 0 {
            tracing::info!(
                entries = released,
                "taken again: the entries a previous run left in flight"
            );
        }
        Ok(released)
    }
}

#[async_trait::async_trait]
impl DeliveryQueue for EmbeddedDelivery {
    async fn enqueue(&self, event: &[u8], source: Source) -> Result<String, QueueError> {
        let input = Input::Runtime.as_str();
        let id = self
            .store
            .delivery_append(input, event, source_name(source), now_ms())
            .await
            .map_err(QueueError::Store)?;
        Ok(id.to_string())
    }

    async fn take(
        &self,
        input: Input,
        max: usize,
        claim_idle: Duration,
    ) -> Result<Vec<RawEntry>, QueueError> {
        if input != Input::Runtime {
            return Ok(Vec::new());
        }
        let now = now_ms();
        let stale = now.saturating_sub(millis(claim_idle));
        let taken = self
            .store
            .delivery_take(input.as_str(), max, now, stale)
            .await;
        let entries = taken.map_err(QueueError::Store)?.into_iter().map(|e| {
            let source = source_from_name(&e.source);
            RawEntry {
                input,
                id: e.id.to_string(),
                problem: source
                    .is_none()
                    .then(|| format!("unknown source `{}`", e.source)),
                source: source.unwrap_or(Source::Http),
                event: e.event,
            }
        });
        Ok(entries.collect())
    }

    async fn take_due(
        &self,
        listener: &str,
        now_ms: u64,
        lease: Duration,
        max: usize,
    ) -> Result<Vec<Pending>, QueueError> {
        let now = i64::try_from(now_ms).unwrap_or(i64::MAX);
        let until = now.saturating_add(millis(lease));
        let records = self
            .store
            .delivery_take_due(listener, now, until, max)
            .await;
        records
            .map_err(QueueError::Store)?
            .iter()
            .map(|r| from_json(r))
            .collect()
    }

    async fn settle(
        &self,
        settlement: Settlement,
        max_dead: usize,
        max_rejected: usize,
    ) -> Result<(), QueueError> {
        let mut s = StoreSettlement {
            max_dead,
            max_rejected,
            ..StoreSettlement::default()
        };
        for pending in &settlement.retry {
            s.retry.push(pending_row(pending)?);
        }
        for letter in &settlement.dead {
            let p = &letter.pending;
            s.dead
                .push((p.listener.clone(), p.id.clone(), to_json(letter)?));
        }
        s.done = settlement.done;
        for rejected in &settlement.rejected {
            s.rejected
                .push((rejected.input.to_string(), to_json(rejected)?));
        }
        for (input, id) in &settlement.ack {
            // Only the runtime's input lives here; an id that is not ours is not stored.
            if let (Input::Runtime, Ok(id)) = (input, id.parse()) {
                s.ack.push(id);
            }
        }
        self.store
            .delivery_settle(s)
            .await
            .map_err(QueueError::Store)
    }

    async fn dead_letters(
        &self,
        listener: &str,
        max: usize,
    ) -> Result<(Vec<DeadLetter>, Counts), QueueError> {
        let (records, dropped) = self
            .store
            .delivery_dead(listener, None, max)
            .await
            .map_err(QueueError::Store)?;
        let letters: Vec<DeadLetter> = records
            .iter()
            .map(|r| from_json(r))
            .collect::<Result<_, _>>()?;
        let count = letters.len();
        Ok((letters, Counts { count, dropped }))
    }

    async fn replay(
        &self,
        listener: &str,
        id: Option<&str>,
        now_ms: u64,
    ) -> Result<usize, QueueError> {
        let (records, _) = self
            .store
            .delivery_dead(listener, id, usize::MAX)
            .await
            .map_err(QueueError::Store)?;
        let mut rows = Vec::with_capacity(records.len());
        for record in &records {
            let letter: DeadLetter = from_json(record)?;
            let mut pending = letter.pending;
            pending.round_start = pending.attempt;
            pending.due_ms = now_ms;
            rows.push(pending_row(&pending)?);
        }
        let count = rows.len();
        // Pending first, then the dead letters go: a crash between the two leaves a
        // delivery both pending and dead (replayed once more), never neither.
        self.store
            .delivery_put_pending(rows)
            .await
            .map_err(QueueError::Store)?;
        self.purge_dead(listener, id).await?;
        Ok(count)
    }

    async fn purge_dead(&self, listener: &str, id: Option<&str>) -> Result<usize, QueueError> {
        let purged = self.store.delivery_purge_dead(listener, id).await;
        purged.map_err(QueueError::Store)
    }

    async fn forget(&self, listener: &str) -> Result<usize, QueueError> {
        let forgotten = self.store.delivery_forget(listener).await;
        forgotten.map_err(QueueError::Store)
    }

    async fn rejected(
        &self,
        input: Input,
        max: usize,
    ) -> Result<(Vec<Rejected>, Counts), QueueError> {
        let (records, dropped) = self
            .store
            .delivery_rejected(input.as_str(), max)
            .await
            .map_err(QueueError::Store)?;
        let rejected: Vec<Rejected> = records
            .iter()
            .map(|r| from_json(r))
            .collect::<Result<_, _>>()?;
        let count = rejected.len();
        Ok((rejected, Counts { count, dropped }))
    }

    async fn purge_rejected(&self, input: Input) -> Result<usize, QueueError> {
        let purged = self.store.delivery_purge_rejected(input.as_str()).await;
        purged.map_err(QueueError::Store)
    }

    async fn pending(&self, listener: &str, max: usize) -> Result<Vec<Pending>, QueueError> {
        let records = self.store.delivery_pending(listener, max).await;
        records
            .map_err(QueueError::Store)?
            .iter()
            .map(|r| from_json(r))
            .collect()
    }

    async fn depth(&self, input: Input) -> Result<u64, QueueError> {
        let depth = self.store.delivery_depth(input.as_str()).await;
        depth.map_err(QueueError::Store)
    }
}

fn pending_row(p: &Pending) -> Result<crate::store::PendingRow, QueueError> {
    let due = i64::try_from(p.due_ms).unwrap_or(i64::MAX);
    Ok((p.listener.clone(), p.id.clone(), due, to_json(p)?))
}

fn to_json(value: &impl serde::Serialize) -> Result<String, QueueError> {
    serde_json::to_string(value).map_err(|source| QueueError::Encode {
        what: "a record",
        source,
    })
}

fn from_json<T: DeserializeOwned>(text: &str) -> Result<T, QueueError> {
    serde_json::from_str(text).map_err(|source| QueueError::Decode {
        store: "the store",
        source,
    })
}

/// Now, from the clock the worker reads, in the store's integer type.
fn now_ms() -> i64 {
    i64::try_from(SystemClock.now_ms()).unwrap_or(i64::MAX)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
