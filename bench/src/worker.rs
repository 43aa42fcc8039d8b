//! Row 5: the runtime's durable async worker (the `queue-forward` guest on kinto-redis's
//! list, from a configuration as a user writes it) against the Kinto tutorial's worker
//! (`BLPOP`, `json.loads`, `RPUSH` per event), both draining the same count of distinct
//! kinto-redis entries from one local `redis-server` into the list `derived`.

use crate::measure::{self, Scale};
use crate::report::{Ratio, Row, Side, Target};
use crate::servers::{self, Guests, Server};
use redis::aio::MultiplexedConnection;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasm_listeners::{Config, Service, SystemClock, Worker};

/// kinto-redis's list, which both workers drain.
const SOURCE: &str = "kinto.core.events";
/// Where both workers push what they derive from each event.
const SINK: &str = "derived";
/// Lanes of our worker, chosen with [`BATCH`] by measurement: our side alone, 50,000
/// entries a trial, eight trials per setting over two interleaved runs, median events/s
/// (our process's CPU µs per event) on 2 cores: 1 × 16: 9,576 (129); 2 × 16 (the
/// defaults): 11,905 (124); 2 × 32: 12,294 (128); 2 × 64: 11,445 (144); 2 × 128: 11,681
/// (144); 2 × 256: 12,419 (141); 4 × 16: 11,900 (135); 4 × 32: 13,039 (130); 4 × 64:
/// 12,989-13,135 (132-133); 4 × 128: 12,602 (138); 8 × 16: 11,688 (142); 8 × 32: 11,420
/// (150). Single trials spread by ±20 %: past one lane, the settings are within the noise;
/// the process is CPU-bound (bench/notes.md).
const LANES: usize = 4;
/// Entries a lane takes at once: see [`LANES`].
const BATCH: usize = 64;
/// Calls one instance serves in the row's second configuration (`calls_per_instance`):
/// what a listener that opts in to reuse gets; the first keeps the default, a fresh
/// instance per event.
const CALLS_PER_INSTANCE: u32 = 1_000;
/// Entries per pipeline when filling the list.
const FILL_CHUNK: usize = 1_000;
/// How often the sink's length is read while our worker runs.
const POLL: Duration = Duration::from_millis(2);
/// A trial fails when the sink has not grown for this long.
const STALL: Duration = Duration::from_secs(10);

pub(crate) async fn rows(guests: &Guests, scale: Scale) -> anyhow::Result<Vec<Row>> {
    let redis = Server::redis()?;
    let url = format!("redis://127.0.0.1:{}/", redis.port);
    let mut conn = redis::Client::open(url.as_str())?
        .get_multiplexed_async_connection()
        .await?;
    let dir = tempfile::tempdir()?;
    let fresh = Config::parse(&config(guests, &url, 1), dir.path())?;
    let fresh = Service::worker(&fresh, Arc::new(SystemClock)).await?;
    let reused = Config::parse(&config(guests, &url, CALLS_PER_INSTANCE), dir.path())?;
    let reused = Service::worker(&reused, Arc::new(SystemClock)).await?;
    let payload = record_create_payload()?;
    let n = scale.entries();
    let tutorial_args = [redis.port.to_string(), n.to_string()];
    let ((ours, ours_reused), tutorial) = measure::alternate_pair(
        scale.trials(),
        || {
            let (mut conn, payload) = (conn.clone(), &payload);
            let (fresh, reused) = (fresh.clone(), reused.clone());
            async move {
                fill(&mut conn, payload, n).await?;
                let fresh = drain(&mut conn, fresh, n).await?;
                fill(&mut conn, payload, n).await?;
                Ok((fresh, drain(&mut conn, reused, n).await?))
            }
        },
        || {
            let (mut conn, payload, args) = (conn.clone(), &payload, &tutorial_args);
            async move {
                fill(&mut conn, payload, n).await?;
                servers::anchor_rate("tutorial_worker.py", args).await
            }
        },
    )
    .await?;
    redis::cmd("FLUSHALL").query_async::<()>(&mut conn).await?;
    let tutorial = || {
        Some(Side::new(
            "tutorial worker (BLPOP, json.loads, RPUSH per event)",
            tutorial,
        ))
    };
    Ok(vec![
        Row {
            group: "worker",
            name: "kinto-redis entries, queue-forward".into(),
            ours: Side::new(
                format!("runtime worker (queue-forward, {LANES} lanes, batch {BATCH})"),
                ours,
            ),
            theirs: tutorial(),
            ratio: Ratio::Rate,
            target: Some(Target::AtLeast(5.0)),
        },
        Row {
            group: "worker",
            name: format!(
                "kinto-redis entries, queue-forward, calls_per_instance = {CALLS_PER_INSTANCE}"
            ),
            ours: Side::new(
                format!("runtime worker, an instance serving up to {CALLS_PER_INSTANCE} events"),
                ours_reused,
            ),
            theirs: tutorial(),
            ratio: Ratio::Rate,
            target: Some(Target::AtLeast(5.0)),
        },
    ])
}

/// The worker's configuration, as a user writes it: `queue-forward` on kinto-redis's list,
/// pushing onto [`SINK`], an instance serving `calls_per_instance` events.
fn config(guests: &Guests, url: &str, calls_per_instance: u32) -> String {
    let component = guests.queue_forward.display();
    format!(
        r#"[queue]
redis_url = "{url}"

[delivery]
lanes = {LANES}
batch = {BATCH}

[[listener]]
name = "forward"
component = "{component}"
mode = "async"
inputs = ["kinto-redis"]
calls_per_instance = {calls_per_instance}
[listener.settings]
listname = "{SINK}"
[listener.queue]
allowed = ["{SINK}"]
"#
    )
}

/// The entry kinto-redis pushed for a record creation, from the fixtures (parsed, in
/// Kinto's order).
fn record_create_payload() -> anyhow::Result<Value> {
    let path = servers::repo().join("tests/fixtures/kinto-events/redis-queue-entries.json");
    let entries: Vec<Value> = serde_json::from_slice(&std::fs::read(path)?)?;
    let entry = entries
        .iter()
        .find(|e| e["scenario"] == "record-create")
        .and_then(|e| e["lrange"][0].as_str())
        .ok_or_else(|| anyhow::anyhow!("no record-create entry in redis-queue-entries.json"))?;
    Ok(serde_json::from_str(entry)?)
}

/// The `i`-th distinct entry: the record-create payload with its own timestamp, record
/// id and URI (as Kinto writes a creation with that id).
fn entry(payload: &Value, i: usize) -> anyhow::Result<String> {
    let mut entry = payload.clone();
    let base = payload["timestamp"].as_u64().unwrap_or_default();
    let id = format!("rec-{i}");
    let uri = format!("{}/{id}", payload["uri"].as_str().unwrap_or_default());
    entry["timestamp"] = (base + i as u64).into();
    entry["uri"] = uri.into();
    entry["record_id"] = id.into();
    Ok(serde_json::to_string(&entry)?)
}

/// Empties Redis (kinto-redis's list, the sink, every key of the runtime's delivery queue)
/// and `LPUSH`es `count` distinct entries onto kinto-redis's list, pipelined.
async fn fill(
    conn: &mut MultiplexedConnection,
    payload: &Value,
    count: usize,
) -> anyhow::Result<()> {
    redis::cmd("FLUSHALL").query_async::<()>(conn).await?;
    for start in (0..count).step_by(FILL_CHUNK) {
        let mut pipe = redis::pipe();
        for i in start..(start + FILL_CHUNK).min(count) {
            pipe.cmd("LPUSH")
                .arg(SOURCE)
                .arg(entry(payload, i)?)
                .ignore();
        }
        pipe.query_async::<()>(conn).await?;
    }
    let filled: usize = redis::cmd("LLEN").arg(SOURCE).query_async(conn).await?;
    anyhow::ensure!(filled == count, "filled {filled} entries, not {count}");
    Ok(())
}

/// Events per second of `worker` running (as `wasm-listeners worker` does) until the sink
/// holds `count` entries.
async fn drain(
    conn: &mut MultiplexedConnection,
    worker: Worker,
    count: usize,
) -> anyhow::Result<f64> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let started = Instant::now();
    let running = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));
    let waited = delivered(conn, count).await;
    let elapsed = started.elapsed();
    let _ = stop.send(());
    running.await?;
    waited?;
    Ok(count as f64 / elapsed.as_secs_f64())
}

/// Waits until the sink holds `count` entries; fails when it stops growing.
async fn delivered(conn: &mut MultiplexedConnection, count: usize) -> anyhow::Result<()> {
    let (mut seen, mut grew) = (0, Instant::now());
    while seen < count {
        tokio::time::sleep(POLL).await;
        let len: usize = redis::cmd("LLEN").arg(SINK).query_async(conn).await?;
        if len > seen {
            (seen, grew) = (len, Instant::now());
        }
        anyhow::ensure!(
            grew.elapsed() < STALL,
            "the sink stopped at {seen} of {count} entries"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every entry is distinct and reads as a record creation with its own id.
    #[test]
    fn entries_are_distinct_record_creations() {
        let payload = record_create_payload().unwrap();
        let (a, b) = (entry(&payload, 0).unwrap(), entry(&payload, 1).unwrap());
        assert_ne!(a, b);
        for text in [a, b] {
            let event = wasm_listeners::parse_event(text.as_bytes()).unwrap();
            assert!(event.event.record_id.is_some(), "{text}");
        }
    }
}
