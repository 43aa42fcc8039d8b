//! The invocation log on the embedded store: `InvocationStore` for [`EmbeddedDelivery`],
//! over `data_dir/invocations.sqlite3` (`store/invocations.rs`).

use super::embedded_delivery::EmbeddedDelivery;
use crate::invocations::{Invocation, InvocationError, InvocationQuery, InvocationStore};
use crate::store::InvocationFilter;

#[async_trait::async_trait]
impl InvocationStore for EmbeddedDelivery {
    async fn append(&self, records: &[Invocation]) -> Result<(), InvocationError> {
        let mut rows = Vec::with_capacity(records.len());
        for r in records {
            let json = serde_json::to_string(r).map_err(InvocationError::Encode)?;
            let at = i64::try_from(r.at_ms).unwrap_or(i64::MAX);
            rows.push((
                at,
                r.listener.clone(),
                r.outcome.name().to_owned(),
                r.event_id.clone(),
                json,
            ));
        }
        let appended = self.store.invocations_append(rows).await;
        appended.map_err(InvocationError::Store)
    }

    async fn query(
        &self,
        query: &InvocationQuery,
        _listeners: &[String],
    ) -> Result<Vec<Invocation>, InvocationError> {
        let to_i64 = |ms: u64| i64::try_from(ms).unwrap_or(i64::MAX);
        let filter = InvocationFilter {
            listener: query.listener.clone(),
            outcome: query.outcome.map(|o| o.name().to_owned()),
            event_id: query.event_id.clone(),
            since_ms: query.since_ms.map_or(0, to_i64),
            until_ms: query.until_ms.map_or(i64::MAX, to_i64),
            limit: i64::try_from(query.capped_limit()).unwrap_or(i64::MAX),
        };
        let records = self.store.invocations_query(filter).await;
        let records = records.map_err(InvocationError::Store)?;
        let decode = |source: serde_json::Error| InvocationError::Decode {
            store: "the store",
            source,
        };
        records
            .iter()
            .map(|r| serde_json::from_str(r).map_err(decode))
            .collect()
    }

    async fn prune(
        &self,
        before_ms: u64,
        max_per_listener: usize,
        listeners: &[String],
    ) -> Result<usize, InvocationError> {
        let before = i64::try_from(before_ms).unwrap_or(i64::MAX);
        let max = i64::try_from(max_per_listener).unwrap_or(i64::MAX);
        let pruned = self
            .store
            .invocations_prune(before, max, listeners.to_vec())
            .await;
        pruned.map_err(InvocationError::Store)
    }
}
