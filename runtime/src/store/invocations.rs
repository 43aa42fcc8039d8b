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
    /// Appends records and trims each of their listeners to about its newest
    /// `max_per_listener` (records ending in the same millisecond as the cut stay), in one
    /// transaction.
    pub(crate) async fn invocations_append(
        &self,
        rows: Vec<InvocationRow>,
        max_per_listener: i64,
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
                let listeners: std::collections::BTreeSet<&String> =
                    rows.iter().map(|(_, l, ..)| l).collect();
                let mut trim = tx.prepare_cached(
                    "DELETE FROM invocations WHERE listener = ?1 AND at_ms < \
                     (SELECT at_ms FROM invocations WHERE listener = ?1 \
                      ORDER BY at_ms DESC LIMIT 1 OFFSET ?2)",
                )?;
                for listener in listeners {
                    trim.execute(params![listener, max_per_listener])?;
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

    /// Deletes records that ended before `before_ms`, then all but the newest
    /// `max_per_listener` of each listener's; returns how many went.
    pub(crate) async fn invocations_prune(
        &self,
        before_ms: i64,
        max_per_listener: i64,
    ) -> Result<usize, StoreError> {
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let old = tx.execute("DELETE FROM invocations WHERE at_ms < ?1", [before_ms])?;
            let over = tx.execute(
                "DELETE FROM invocations WHERE seq IN (SELECT seq FROM (SELECT seq, \
                 ROW_NUMBER() OVER (PARTITION BY listener ORDER BY seq DESC) AS n \
                 FROM invocations) WHERE n > ?1)",
                [max_per_listener],
            )?;
            tx.commit()?;
            Ok(old + over)
        })
        .await
    }
}
