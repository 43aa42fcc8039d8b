//! The embedded queues: where pushes land when no Redis is configured, and what
//! `wasm-listeners queue pop` reads.

use super::{Store, StoreError};
use rusqlite::{params, OptionalExtension};
use std::time::{SystemTime, UNIX_EPOCH};

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
