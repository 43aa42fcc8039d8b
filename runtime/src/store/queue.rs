//! The embedded queues: where pushes land when no Redis is configured, and what
//! `wasm-listeners queue pop` reads.

use super::{Store, StoreError};
use rusqlite::{params, OptionalExtension};
use std::time::{SystemTime, UNIX_EPOCH};

/// One item of an embedded queue, still in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueItem {
    id: i64,
    /// The bytes pushed.
    pub payload: Vec<u8>,
}

impl Store {
    /// Appends `payload` to `queue` (as `LPUSH` does to a Redis list).
    pub async fn push(&self, queue: &str, payload: &[u8]) -> Result<(), StoreError> {
        let (queue, payload) = (queue.to_owned(), payload.to_vec());
        self.run(move |conn| {
            let sql = "INSERT INTO queue_items (queue, payload, pushed_at_ms) VALUES (?1, ?2, ?3)";
            conn.execute(sql, params![queue, payload, now_ms()])?;
            Ok(())
        })
        .await
    }

    /// Appends `payload` to `queue` if it holds fewer than `max` items (counted and
    /// appended in one transaction); whether it did.
    pub async fn push_within(
        &self,
        queue: &str,
        payload: &[u8],
        max: u64,
    ) -> Result<bool, StoreError> {
        let (queue, payload) = (queue.to_owned(), payload.to_vec());
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            // Counting stops at `max` (the index by queue is walked no further).
            let held: i64 = tx.query_row(
                "SELECT count(*) FROM (SELECT 1 FROM queue_items WHERE queue = ?1 LIMIT ?2)",
                params![queue, max],
                |row| row.get(0),
            )?;
            if held >= max {
                return Ok(false);
            }
            let sql = "INSERT INTO queue_items (queue, payload, pushed_at_ms) VALUES (?1, ?2, ?3)";
            tx.execute(sql, params![queue, payload, now_ms()])?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    /// Removes and returns the oldest item of `queue` (as `BRPOP` does, without blocking),
    /// or `None` when it is empty.
    ///
    /// One `DELETE ... RETURNING` statement: it takes the write lock before it reads, so
    /// two processes popping at once never get the same item.
    pub async fn pop(&self, queue: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let queue = queue.to_owned();
        self.run(move |conn| {
            let sql = "DELETE FROM queue_items WHERE id = \
                 (SELECT id FROM queue_items WHERE queue = ?1 ORDER BY id LIMIT 1) \
                 RETURNING payload";
            conn.query_row(sql, [queue], |row| row.get(0)).optional()
        })
        .await
    }

    /// The oldest item of `queue`, left in place, or `None` when it is empty: read it, then
    /// [`Store::remove`] it, so that an item is never gone before it was handed on.
    pub async fn oldest(&self, queue: &str) -> Result<Option<QueueItem>, StoreError> {
        let queue = queue.to_owned();
        self.run(move |conn| {
            let sql = "SELECT id, payload FROM queue_items WHERE queue = ?1 ORDER BY id LIMIT 1";
            let item = |row: &rusqlite::Row<'_>| {
                Ok(QueueItem {
                    id: row.get(0)?,
                    payload: row.get(1)?,
                })
            };
            conn.query_row(sql, [queue], item).optional()
        })
        .await
    }

    /// Removes an item [`Store::oldest`] gave; `false` when it was removed already (by
    /// another reader: two readers may both hand on the same item, never lose one).
    pub async fn remove(&self, item: &QueueItem) -> Result<bool, StoreError> {
        let id = item.id;
        self.run(move |conn| {
            let removed = conn.execute("DELETE FROM queue_items WHERE id = ?1", [id])?;
            Ok(removed == 1)
        })
        .await
    }

    /// How many items `queue` holds.
    pub async fn len(&self, queue: &str) -> Result<u64, StoreError> {
        let queue = queue.to_owned();
        self.run(move |conn| {
            let sql = "SELECT COUNT(*) FROM queue_items WHERE queue = ?1";
            conn.query_row(sql, [queue], |row| row.get(0))
        })
        .await
    }
}

/// Milliseconds since the epoch (0 if the clock is before 1970).
fn now_ms() -> i64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
}
