//! The invocation log on Redis: `InvocationStore` for [`RedisDelivery`], a sorted set per
//! listener (`{wasm-listeners:listener:NAME}:v1:invocations`, records by end time) in the
//! listener's slot, beside its deliveries (key layout: `redis_delivery.rs`).

use super::redis_delivery::{ListenerKeys, RedisDelivery};
use crate::invocations::{Invocation, InvocationError, InvocationQuery, InvocationStore};
use std::collections::BTreeMap;

/// How many records of one listener a query reads at most to apply its filters.
const INVOCATION_SCAN: usize = 10_000;

#[async_trait::async_trait]
impl InvocationStore for RedisDelivery {
    async fn append(&self, records: &[Invocation]) -> Result<(), InvocationError> {
        // One pipeline per listener: its keys share a slot.
        let mut by_listener: BTreeMap<&str, Vec<&Invocation>> = BTreeMap::new();
        for r in records {
            by_listener.entry(r.listener.as_str()).or_default().push(r);
        }
        for (listener, records) in by_listener {
            let key = ListenerKeys::of(listener).invocations;
            let mut pipe = redis::pipe();
            for r in records {
                let json = serde_json::to_string(r).map_err(InvocationError::Encode)?;
                pipe.cmd("ZADD").arg(&key).arg(r.at_ms).arg(json).ignore();
            }
            self.run_pipe::<()>(&pipe)
                .await
                .map_err(redis_failed("appending records"))?;
        }
        Ok(())
    }

    async fn query(
        &self,
        query: &InvocationQuery,
        listeners: &[String],
    ) -> Result<Vec<Invocation>, InvocationError> {
        let names: Vec<&str> = match &query.listener {
            Some(one) => vec![one.as_str()],
            None => listeners.iter().map(String::as_str).collect(),
        };
        let limit = query.capped_limit();
        let mut found = Vec::new();
        for name in names {
            let mut cmd = redis::cmd("ZRANGE");
            cmd.arg(ListenerKeys::of(name).invocations)
                .arg(query.until_ms.map_or("+inf".to_owned(), |u| u.to_string()))
                .arg(query.since_ms.map_or("-inf".to_owned(), |s| s.to_string()))
                .arg("BYSCORE")
                .arg("REV")
                .arg("LIMIT")
                .arg(0)
                .arg(INVOCATION_SCAN);
            let records: Vec<Vec<u8>> = self
                .query(&cmd)
                .await
                .map_err(redis_failed("querying records"))?;
            for json in records {
                let record: Invocation =
                    serde_json::from_slice(&json).map_err(|source| InvocationError::Decode {
                        store: "Redis",
                        source,
                    })?;
                if query.matches(&record) {
                    found.push(record);
                }
            }
        }
        found.sort_by_key(|r| std::cmp::Reverse((r.at_ms, r.id)));
        found.truncate(limit);
        Ok(found)
    }

    async fn prune(
        &self,
        before_ms: u64,
        max_per_listener: usize,
        listeners: &[String],
    ) -> Result<usize, InvocationError> {
        let mut pruned = 0;
        let keep = i64::try_from(max_per_listener).unwrap_or(i64::MAX);
        for name in listeners {
            let key = ListenerKeys::of(name).invocations;
            let mut pipe = redis::pipe();
            pipe.cmd("ZREMRANGEBYSCORE")
                .arg(&key)
                .arg("-inf")
                .arg(format!("({before_ms}"));
            pipe.cmd("ZREMRANGEBYRANK").arg(&key).arg(0).arg(-keep - 1);
            let (old, over): (usize, usize) = self
                .run_pipe(&pipe)
                .await
                .map_err(redis_failed("pruning records"))?;
            pruned += old + over;
        }
        Ok(pruned)
    }
}

/// A Redis failure while the log was doing `op`.
fn redis_failed(op: &'static str) -> impl FnOnce(redis::RedisError) -> InvocationError {
    move |source| InvocationError::Redis {
        op,
        source: Box::new(source),
    }
}
