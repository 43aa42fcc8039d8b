//! The durable queue of async deliveries on the embedded store, in plain terms (names,
//! ids, JSON records): `backends::embedded_delivery` maps the worker's interface onto it.
//! Every operation that changes more than one row is one transaction, so a crash leaves
//! either all of it or none.

use super::{Store, StoreError};
use rusqlite::{params, OptionalExtension, Transaction, TransactionBehavior};

/// An input entry as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredEntry {
    pub(crate) id: i64,
    pub(crate) event: Vec<u8>,
    pub(crate) source: String,
}

/// A pending delivery's row: `(listener, delivery id, due_ms, record JSON)`.
pub(crate) type PendingRow = (String, String, i64, String);

/// What one batch's outcomes change, in plain terms (see `delivery::Settlement`).
#[derive(Debug, Default)]
pub(crate) struct StoreSettlement {
    /// Pending deliveries written (inserted or replaced), lease cleared.
    pub(crate) retry: Vec<PendingRow>,
    /// Dead letters `(listener, delivery id, record)`: parked, and no longer pending.
    pub(crate) dead: Vec<(String, String, String)>,
    /// Pending deliveries removed `(listener, delivery id)`.
    pub(crate) done: Vec<(String, String)>,
    /// Rejected entries `(input, record)`.
    pub(crate) rejected: Vec<(String, String)>,
    /// Input entries removed.
    pub(crate) ack: Vec<i64>,
    /// Bounds: the oldest beyond them are dropped and counted.
    pub(crate) max_dead: usize,
    pub(crate) max_rejected: usize,
}

impl Store {
    /// Appends an entry to `input`; returns its id.
    pub(crate) async fn delivery_append(
        &self,
        input: &str,
        event: &[u8],
        source: &str,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        let (input, event, source) = (input.to_owned(), event.to_vec(), source.to_owned());
        self.run(move |conn| {
            let sql = "INSERT INTO delivery_entries (input, event, source, added_ms) VALUES (?1, ?2, ?3, ?4)";
            conn.execute(sql, params![input, event, source, now_ms])?;
            Ok(conn.last_insert_rowid())
        })
        .await
    }

    /// Takes up to `max` entries of `input` that are new or were taken at or before
    /// `stale_ms` (their worker died), oldest first, marking them taken at `now_ms`.
    pub(crate) async fn delivery_take(
        &self,
        input: &str,
        max: usize,
        now_ms: i64,
        stale_ms: i64,
    ) -> Result<Vec<StoredEntry>, StoreError> {
        let input = input.to_owned();
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let entries = {
                let mut select = tx.prepare_cached(
                    "SELECT id, event, source FROM delivery_entries \
                     WHERE input = ?1 AND (taken_ms IS NULL OR taken_ms <= ?2) ORDER BY id LIMIT ?3",
                )?;
                let rows = select.query_map(params![input, stale_ms, limit(max)], |row| {
                    Ok(StoredEntry {
                        id: row.get(0)?,
                        event: row.get(1)?,
                        source: row.get(2)?,
                    })
                })?;
                rows.collect::<rusqlite::Result<Vec<_>>>()?
            };
            {
                let mut mark =
                    tx.prepare_cached("UPDATE delivery_entries SET taken_ms = ?1 WHERE id = ?2")?;
                for entry in &entries {
                    mark.execute(params![now_ms, entry.id])?;
                }
            }
            tx.commit()?;
            Ok(entries)
        })
        .await
    }

    /// Takes up to `max` of `listener`'s pending deliveries due at `now_ms` and not leased,
    /// soonest first, leasing them until `lease_until_ms`; returns their records.
    pub(crate) async fn delivery_take_due(
        &self,
        listener: &str,
        now_ms: i64,
        lease_until_ms: i64,
        max: usize,
    ) -> Result<Vec<String>, StoreError> {
        let listener = listener.to_owned();
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let due: Vec<(String, String)> = {
                let mut select = tx.prepare_cached(
                    "SELECT id, record FROM delivery_pending \
                     WHERE listener = ?1 AND due_ms <= ?2 AND lease_ms <= ?2 ORDER BY due_ms LIMIT ?3",
                )?;
                let rows = select.query_map(params![listener, now_ms, limit(max)], |row| {
                    Ok((row.get(0)?, row.get(1)?))
                })?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            {
                let mut lease = tx.prepare_cached(
                    "UPDATE delivery_pending SET lease_ms = ?1 WHERE listener = ?2 AND id = ?3",
                )?;
                for (id, _) in &due {
                    lease.execute(params![lease_until_ms, listener, id])?;
                }
            }
            tx.commit()?;
            Ok(due.into_iter().map(|(_, record)| record).collect())
        })
        .await
    }

    /// Applies a batch's outcomes in one transaction: records, then acknowledgements.
    pub(crate) async fn delivery_settle(&self, s: StoreSettlement) -> Result<(), StoreError> {
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            put_pending(&tx, &s.retry)?;
            for (listener, id, record) in &s.dead {
                tx.execute(
                    "DELETE FROM delivery_pending WHERE listener = ?1 AND id = ?2",
                    params![listener, id],
                )?;
                tx.execute(
                    "INSERT OR REPLACE INTO delivery_dead (listener, id, record) VALUES (?1, ?2, ?3)",
                    params![listener, id, record],
                )?;
                bound(&tx, "dead", "delivery_dead", "listener", listener, s.max_dead)?;
            }
            for (listener, id) in &s.done {
                tx.execute(
                    "DELETE FROM delivery_pending WHERE listener = ?1 AND id = ?2",
                    params![listener, id],
                )?;
            }
            for (input, record) in &s.rejected {
                tx.execute(
                    "INSERT INTO delivery_rejected (input, record) VALUES (?1, ?2)",
                    params![input, record],
                )?;
                bound(&tx, "rejected", "delivery_rejected", "input", input, s.max_rejected)?;
            }
            for id in &s.ack {
                tx.execute("DELETE FROM delivery_entries WHERE id = ?1", [id])?;
            }
            tx.commit()
        })
        .await
    }

    /// Hands back everything taken or leased (entries, pending deliveries): for the one
    /// process that owns the file, at its start, so what a crash left in flight runs again
    /// at once instead of after the claim idle time. Returns how many entries.
    pub(crate) async fn delivery_release_all(&self) -> Result<usize, StoreError> {
        self.run(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let entries = tx.execute(
                "UPDATE delivery_entries SET taken_ms = NULL WHERE taken_ms IS NOT NULL",
                [],
            )?;
            tx.execute(
                "UPDATE delivery_pending SET lease_ms = 0 WHERE lease_ms > 0",
                [],
            )?;
            tx.commit()?;
            Ok(entries)
        })
        .await
    }

    /// Writes pending deliveries (replayed dead letters), due as their rows say.
    pub(crate) async fn delivery_put_pending(
        &self,
        rows: Vec<PendingRow>,
    ) -> Result<(), StoreError> {
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            put_pending(&tx, &rows)?;
            tx.commit()
        })
        .await
    }

    /// `listener`'s dead letters (`id`, or all), newest first, at most `max`, with the
    /// count dropped over the bound.
    pub(crate) async fn delivery_dead(
        &self,
        listener: &str,
        id: Option<&str>,
        max: usize,
    ) -> Result<(Vec<String>, u64), StoreError> {
        let (listener, id) = (listener.to_owned(), id.map(str::to_owned));
        self.run(move |conn| {
            let mut select = conn.prepare_cached(
                "SELECT record FROM delivery_dead WHERE listener = ?1 AND (?2 IS NULL OR id = ?2) \
                 ORDER BY seq DESC LIMIT ?3",
            )?;
            let rows = select.query_map(params![listener, id, limit(max)], |row| row.get(0))?;
            let records = rows.collect::<rusqlite::Result<Vec<String>>>()?;
            Ok((records, dropped(conn, "dead", &listener)?))
        })
        .await
    }

    /// Deletes `listener`'s dead letters (`id`, or all); returns how many.
    pub(crate) async fn delivery_purge_dead(
        &self,
        listener: &str,
        id: Option<&str>,
    ) -> Result<usize, StoreError> {
        let (listener, id) = (listener.to_owned(), id.map(str::to_owned));
        self.run(move |conn| {
            conn.execute(
                "DELETE FROM delivery_dead WHERE listener = ?1 AND (?2 IS NULL OR id = ?2)",
                params![listener, id],
            )
        })
        .await
    }

    /// Deletes `listener`'s pending deliveries and dead letters in one transaction; how
    /// many.
    pub(crate) async fn delivery_forget(&self, listener: &str) -> Result<usize, StoreError> {
        let listener = listener.to_owned();
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut deleted = 0;
            for table in ["delivery_pending", "delivery_dead"] {
                let sql = format!("DELETE FROM {table} WHERE listener = ?1");
                deleted += tx.execute(&sql, params![listener])?;
            }
            tx.commit()?;
            Ok(deleted)
        })
        .await
    }

    /// `input`'s rejected entries, newest first, at most `max`, with the count dropped.
    pub(crate) async fn delivery_rejected(
        &self,
        input: &str,
        max: usize,
    ) -> Result<(Vec<String>, u64), StoreError> {
        let input = input.to_owned();
        self.run(move |conn| {
            let mut select = conn.prepare_cached(
                "SELECT record FROM delivery_rejected WHERE input = ?1 ORDER BY seq DESC LIMIT ?2",
            )?;
            let rows = select.query_map(params![input, limit(max)], |row| row.get(0))?;
            let records = rows.collect::<rusqlite::Result<Vec<String>>>()?;
            Ok((records, dropped(conn, "rejected", &input)?))
        })
        .await
    }

    /// Deletes `input`'s rejected entries; returns how many.
    pub(crate) async fn delivery_purge_rejected(&self, input: &str) -> Result<usize, StoreError> {
        let input = input.to_owned();
        self.run(move |conn| {
            conn.execute("DELETE FROM delivery_rejected WHERE input = ?1", [input])
        })
        .await
    }

    /// `listener`'s pending deliveries, soonest first, at most `max`.
    pub(crate) async fn delivery_pending(
        &self,
        listener: &str,
        max: usize,
    ) -> Result<Vec<String>, StoreError> {
        let listener = listener.to_owned();
        self.run(move |conn| {
            let mut select = conn.prepare_cached(
                "SELECT record FROM delivery_pending WHERE listener = ?1 ORDER BY due_ms LIMIT ?2",
            )?;
            let rows = select.query_map(params![listener, limit(max)], |row| row.get(0))?;
            rows.collect()
        })
        .await
    }

    /// How many entries `input` holds, taken or not.
    pub(crate) async fn delivery_depth(&self, input: &str) -> Result<u64, StoreError> {
        let input = input.to_owned();
        self.run(move |conn| {
            conn.query_row(
                "SELECT COUNT(*) FROM delivery_entries WHERE input = ?1",
                [input],
                |row| row.get(0),
            )
        })
        .await
    }
}

fn put_pending(tx: &Transaction<'_>, rows: &[PendingRow]) -> rusqlite::Result<()> {
    let mut put = tx.prepare_cached(
        "INSERT OR REPLACE INTO delivery_pending (listener, id, due_ms, lease_ms, record) \
         VALUES (?1, ?2, ?3, 0, ?4)",
    )?;
    for (listener, id, due_ms, record) in rows {
        put.execute(params![listener, id, due_ms, record])?;
    }
    Ok(())
}

/// Drops the oldest rows of `table` for `name` beyond `max`, counting them in
/// `delivery_dropped` under (`kind`, `name`).
fn bound(
    tx: &Transaction<'_>,
    kind: &str,
    table: &str,
    column: &str,
    name: &str,
    max: usize,
) -> rusqlite::Result<()> {
    let sql = format!(
        "DELETE FROM {table} WHERE {column} = ?1 AND seq NOT IN \
         (SELECT seq FROM {table} WHERE {column} = ?1 ORDER BY seq DESC LIMIT ?2)"
    );
    let removed = tx.execute(&sql, params![name, limit(max)])?;
    if removed > 0 {
        tracing::warn!(
            kind,
            name,
            removed,
            max,
            "over the bound: the oldest records were dropped"
        );
        tx.execute(
            "INSERT INTO delivery_dropped (kind, name, count) VALUES (?1, ?2, ?3) \
             ON CONFLICT (kind, name) DO UPDATE SET count = count + excluded.count",
            params![kind, name, removed as i64],
        )?;
    }
    Ok(())
}

fn dropped(conn: &rusqlite::Connection, kind: &str, name: &str) -> rusqlite::Result<u64> {
    let count: Option<i64> = conn
        .query_row(
            "SELECT count FROM delivery_dropped WHERE kind = ?1 AND name = ?2",
            [kind, name],
            |row| row.get(0),
        )
        .optional()?;
    Ok(count.map_or(0, |c| u64::try_from(c).unwrap_or(0)))
}

/// A count as SQLite's `LIMIT` takes it.
fn limit(max: usize) -> i64 {
    i64::try_from(max).unwrap_or(i64::MAX)
}
