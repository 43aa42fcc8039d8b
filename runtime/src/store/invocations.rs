//! The invocation log on the embedded store, in plain terms (columns and JSON records):
//! `backends::embedded_delivery` maps the log's interface onto it.

use super::{Store, StoreError};
use rusqlite::{params, TransactionBehavior};

/// A record to append: `(at_ms, listener, outcome, event id, record JSON)`.
pub(crate) type InvocationRow = (i64, String, String, String, String);

/// What a query filters on (`None`: any).
#[derive(Debug, Default)]
pub(crate) struct InvocationFilter {
    pub(crate) listener: Option<String>,
    pub(crate) outcome: Option<String>,
    pub(crate) event_id: Option<String>,
    pub(crate) since_ms: i64,
    pub(crate) until_ms: i64,
    pub(crate) limit: i64,
}

impl Store {
    /// Appends records in one transaction.
    pub(crate) async fn invocations_append(
        &self,
        rows: Vec<InvocationRow>,
    ) -> Result<(), StoreError> {
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO invocations (at_ms, listener, outcome, event_id, record) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for (at_ms, listener, outcome, event_id, record) in &rows {
                    insert.execute(params![at_ms, listener, outcome, event_id, record])?;
                }
            }
            tx.commit()
        })
        .await
    }

    /// The records `filter` wants, newest first.
    pub(crate) async fn invocations_query(
        &self,
        filter: InvocationFilter,
    ) -> Result<Vec<String>, StoreError> {
        self.run(move |conn| {
            let mut select = conn.prepare_cached(
                "SELECT record FROM invocations \
                 WHERE (?1 IS NULL OR listener = ?1) AND (?2 IS NULL OR outcome = ?2) \
                 AND (?3 IS NULL OR event_id = ?3) AND at_ms >= ?4 AND at_ms <= ?5 \
                 ORDER BY at_ms DESC, seq DESC LIMIT ?6",
            )?;
            let f = &filter;
            let rows = select.query_map(
                params![f.listener, f.outcome, f.event_id, f.since_ms, f.until_ms, f.limit],
                |row| row.get(0),
            )?;
            rows.collect()
        })
        .await
    }

    /// Deletes records that ended before `before_ms`, then, for each of `listeners`, all
    /// but its newest `max_per_listener` (the last written); returns how many went. Each
    /// step walks an index.
    pub(crate) async fn invocations_prune(
        &self,
        before_ms: i64,
        max_per_listener: i64,
        listeners: Vec<String>,
    ) -> Result<usize, StoreError> {
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut pruned = tx.execute("DELETE FROM invocations WHERE at_ms < ?1", [before_ms])?;
            {
                let mut trim = tx.prepare_cached(
                    "DELETE FROM invocations WHERE listener = ?1 AND seq <= \
                     (SELECT seq FROM invocations WHERE listener = ?1 \
                      ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
                )?;
                for listener in &listeners {
                    pruned += trim.execute(params![listener, max_per_listener])?;
                }
            }
            tx.commit()?;
            Ok(pruned)
        })
        .await
    }
}
