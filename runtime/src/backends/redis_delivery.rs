//! [`RedisDelivery`]: the durable delivery queue on Redis or a Redis Cluster.
//!
//! # Key layout, version 1
//! Every key of one input, or of one listener, shares a hash tag (`{...}`), so every
//! multi-key command and script stays in one slot of a cluster.
//!
//! | key | type | what |
//! |---|---|---|
//! | `{wasm-listeners:runtime}:v1:stream` | stream | the runtime's input: fields `v` (`1`), `event` (listener-shape JSON), `source` (`http`, `kinto-plugin`) |
//! | `LIST` | list | kinto-redis's list (`kinto.core.events`): `LPUSH`ed bare payloads |
//! | `{LIST}:wasm-listeners:v1:stream` | stream | the list's entries, moved there by a script (`RPOP` + `XADD`, one atomic step): fields `v`, `payload` |
//! | `{INPUT}...:v1:rejected` | list | rejected entries (JSON, newest first), bounded; `...:rejected:dropped` counts the dropped |
//! | `{wasm-listeners:listener:NAME}:v1:pending` | sorted set | a listener's pending deliveries by due time (ms); a taken one is leased by moving its score to the lease's end |
//! | `{wasm-listeners:listener:NAME}:v1:deliveries` | hash | delivery id -> pending delivery (JSON) |
//! | `{wasm-listeners:listener:NAME}:v1:dead` | hash | delivery id -> dead letter (JSON); `:dead:order` (sorted set by time) bounds it, `:dead:dropped` counts the dropped |
//! | `{wasm-listeners:listener:NAME}:v1:invocations` | sorted set | the listener's invocation log: records (JSON, `invocations::Invocation`, unique by their `id`) by end time (ms) |
//!
//! Both streams are read by the consumer group `wasm-listeners` (`XREADGROUP`); an entry
//! is acknowledged and deleted (`XACK` + `XDEL`) once its outcomes are kept, and one that
//! a dead worker left is reclaimed with `XAUTOCLAIM`. The streams are never trimmed (a
//! trim would drop pending entries): deleting acknowledged entries keeps them short.
//! Redis work is batched: one round trip takes a batch (script and read pipelined), one
//! pipeline per slot writes its outcomes, one acknowledges it.

use super::redis::{RedisTarget, SharedConnection};
use crate::config::Secret;
use crate::delivery::{
    source_from_name, source_name, Counts, DeadLetter, DeliveryQueue, Pending, QueueError,
    RawEntry, Rejected, Settlement, FORMAT_VERSION,
};
use crate::event::{Input, Source};
use redis::streams::{StreamAutoClaimReply, StreamReadReply};
use redis::{Pipeline, RedisError, Value};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The consumer group every worker joins.
pub(crate) const GROUP: &str = "wasm-listeners";
/// The runtime input's stream.
pub(crate) const RUNTIME_STREAM: &str = "{wasm-listeners:runtime}:v1:stream";
/// How often one worker looks for entries a dead worker left, per input.
const RECLAIM_EVERY: Duration = Duration::from_secs(1);

/// Moves up to `ARGV[1]` entries from kinto-redis's list (oldest first) to the stream.
const FEED: &str = r"
local items = redis.call('RPOP', KEYS[1], ARGV[1])
if not items then return 0 end
for _, item in ipairs(items) do
  redis.call('XADD', KEYS[2], '*', 'v', '1', 'payload', item)
end
return #items
";

/// Takes up to `ARGV[3]` pending deliveries due at `ARGV[1]`, leasing each until `ARGV[2]`.
const TAKE_DUE: &str = r"
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
local out = {}
for _, id in ipairs(ids) do
  local data = redis.call('HGET', KEYS[2], id)
  if data then
    redis.call('ZADD', KEYS[1], 'XX', ARGV[2], id)
    table.insert(out, data)
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
";

/// Parks a dead letter (`ARGV[1]` id, `ARGV[2]` JSON, `ARGV[3]` time) and ends its pending
/// delivery; drops the oldest over `ARGV[4]` and returns how many it dropped.
const BURY: &str = r"
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
local over = redis.call('ZCARD', KEYS[4]) - tonumber(ARGV[4])
if over > 0 then
  local old = redis.call('ZPOPMIN', KEYS[4], over)
  for i = 1, #old, 2 do redis.call('HDEL', KEYS[3], old[i]) end
  redis.call('INCRBY', KEYS[5], over)
  return over
end
return 0
";

/// Parks a rejected entry (`ARGV[1]` JSON); drops the oldest over `ARGV[2]`.
const REJECT: &str = r"
redis.call('LPUSH', KEYS[1], ARGV[1])
local over = redis.call('LLEN', KEYS[1]) - tonumber(ARGV[2])
if over > 0 then
  redis.call('RPOP', KEYS[1], over)
  redis.call('INCRBY', KEYS[2], over)
  return over
end
return 0
";

/// The keys of one input.
#[derive(Debug, Clone)]
struct InputKeys {
    /// kinto-redis's list (only for that input).
    list: Option<String>,
    stream: String,
    rejected: String,
    rejected_dropped: String,
}

/// The keys of one listener.
pub(super) struct ListenerKeys {
    pending: String,
    deliveries: String,
    dead: String,
    dead_order: String,
    dead_dropped: String,
    pub(super) invocations: String,
}

impl ListenerKeys {
    pub(super) fn of(listener: &str) -> ListenerKeys {
        let tag = format!("{{wasm-listeners:listener:{listener}}}:v1");
        ListenerKeys {
            pending: format!("{tag}:pending"),
            deliveries: format!("{tag}:deliveries"),
            dead: format!("{tag}:dead"),
            dead_order: format!("{tag}:dead:order"),
            dead_dropped: format!("{tag}:dead:dropped"),
            invocations: format!("{tag}:invocations"),
        }
    }
}

/// The delivery queue on Redis (one server, or a cluster).
#[derive(Debug)]
pub struct RedisDelivery {
    conn: SharedConnection,
    consumer: String,
    runtime: InputKeys,
    kinto_redis: InputKeys,
    /// When this worker last looked for a dead worker's entries, per input.
    reclaimed: Mutex<BTreeMap<&'static str, (Instant, String)>>,
}

impl RedisDelivery {
    /// A queue on `url` (a cluster's seed node when `cluster`), reading kinto-redis's
    /// `list`. Connects on first use: Redis may be down at start.
    pub fn new(
        url: &Secret,
        cluster: bool,
        list: &str,
    ) -> Result<RedisDelivery, super::RedisSetupError> {
        let conn = SharedConnection::new(RedisTarget::new(url, cluster)?);
        let consumer = format!(
            "{}-{}-{:08x}",
            hostname(),
            std::process::id(),
            fastrand::u32(..)
        );
        let tag = format!("{{{list}}}:wasm-listeners:v1");
        Ok(RedisDelivery {
            conn,
            consumer,
            runtime: InputKeys {
                list: None,
                stream: RUNTIME_STREAM.to_owned(),
                rejected: "{wasm-listeners:runtime}:v1:rejected".into(),
                rejected_dropped: "{wasm-listeners:runtime}:v1:rejected:dropped".into(),
            },
            kinto_redis: InputKeys {
                list: Some(list.to_owned()),
                stream: format!("{tag}:stream"),
                rejected: format!("{tag}:rejected"),
                rejected_dropped: format!("{tag}:rejected:dropped"),
            },
            reclaimed: Mutex::new(BTreeMap::new()),
        })
    }

    /// This worker's name in the consumer group.
    pub fn consumer(&self) -> &str {
        &self.consumer
    }

    fn keys(&self, input: Input) -> &InputKeys {
        match input {
            Input::Runtime => &self.runtime,
            Input::KintoRedis => &self.kinto_redis,
        }
    }

    pub(super) async fn query<T: redis::FromRedisValue>(
        &self,
        cmd: &redis::Cmd,
    ) -> Result<T, RedisError> {
        let mut conn = self.conn.get().await?;
        cmd.query_async(&mut conn).await
    }

    pub(super) async fn run_pipe<T: redis::FromRedisValue>(
        &self,
        pipe: &Pipeline,
    ) -> Result<T, RedisError> {
        let mut conn = self.conn.get().await?;
        pipe.query_async(&mut conn).await
    }

    /// Creates the consumer group (and the stream) when missing.
    async fn ensure_group(&self, stream: &str) -> Result<(), QueueError> {
        let mut cmd = redis::cmd("XGROUP");
        cmd.arg("CREATE")
            .arg(stream)
            .arg(GROUP)
            .arg("0")
            .arg("MKSTREAM");
        match self.query::<()>(&cmd).await {
            Err(e) if says(&e, "BUSYGROUP") => Ok(()),
            done => done.map_err(redis_failed("creating the consumer group")),
        }
    }

    /// New entries: kinto-redis's list fed into its stream first, then read; in one round
    /// trip. Creates the group once when Redis says it is missing.
    async fn read_new(&self, input: Input, max: usize) -> Result<StreamReadReply, QueueError> {
        let keys = self.keys(input);
        let mut pipe = redis::pipe();
        if let Some(list) = &keys.list {
            pipe.cmd("EVAL")
                .arg(FEED)
                .arg(2)
                .arg(list)
                .arg(&keys.stream)
                .arg(max)
                .ignore();
        }
        pipe.cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg(&self.consumer)
            .arg("COUNT")
            .arg(max)
            .arg("STREAMS")
            .arg(&keys.stream)
            .arg(">");
        match self.run_pipe::<(Option<StreamReadReply>,)>(&pipe).await {
            Ok((reply,)) => Ok(reply.unwrap_or_default()),
            // A pipeline's error holds the command's: the group (or the stream) is missing.
            Err(e) if e.to_string().contains("NOGROUP") => {
                self.ensure_group(&keys.stream).await?;
                let (reply,) = self
                    .run_pipe::<(Option<StreamReadReply>,)>(&pipe)
                    .await
                    .map_err(redis_failed(TAKING))?;
                Ok(reply.unwrap_or_default())
            }
            Err(e) => Err(redis_failed(TAKING)(e)),
        }
    }

    /// Entries another worker took more than `claim_idle` ago, at most once a second.
    async fn reclaim(
        &self,
        input: Input,
        max: usize,
        claim_idle: Duration,
    ) -> Result<Vec<redis::streams::StreamId>, QueueError> {
        let cursor = {
            let mut seen = self
                .reclaimed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let entry = seen
                .entry(input.as_str())
                .or_insert_with(|| (Instant::now() - RECLAIM_EVERY, "0-0".into()));
            if entry.0.elapsed() < RECLAIM_EVERY {
                return Ok(Vec::new());
            }
            entry.0 = Instant::now();
            entry.1.clone()
        };
        let keys = self.keys(input);
        let mut cmd = redis::cmd("XAUTOCLAIM");
        cmd.arg(&keys.stream)
            .arg(GROUP)
            .arg(&self.consumer)
            .arg(u64::try_from(claim_idle.as_millis()).unwrap_or(u64::MAX))
            .arg(&cursor)
            .arg("COUNT")
            .arg(max);
        let reply: StreamAutoClaimReply = match self.query(&cmd).await {
            Err(e) if says(&e, "NOGROUP") => return Ok(Vec::new()),
            reply => reply.map_err(redis_failed("reclaiming entries a worker left"))?,
        };
        let mut seen = self
            .reclaimed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(entry) = seen.get_mut(input.as_str()) {
            entry.1 = reply.next_stream_id.clone();
        }
        if !reply.claimed.is_empty() {
            tracing::info!(%input, entries = reply.claimed.len(), "reclaimed entries a worker left unacknowledged");
        }
        Ok(reply.claimed)
    }
}

/// An entry of either stream as a [`RawEntry`].
fn raw_entry(input: Input, entry: &redis::streams::StreamId) -> RawEntry {
    let field = |name: &str| -> Option<Vec<u8>> {
        match entry.map.get(name)? {
            Value::BulkString(bytes) => Some(bytes.clone()),
            Value::SimpleString(s) => Some(s.clone().into_bytes()),
            _ => None,
        }
    };
    let text = |name: &str| field(name).and_then(|b| String::from_utf8(b).ok());
    let mut raw = RawEntry {
        input,
        id: entry.id.clone(),
        event: Vec::new(),
        source: Source::KintoRedis,
        problem: None,
    };
    let version = text("v");
    if version.as_deref() != Some("1") {
        raw.problem = Some(format!(
            "the entry's format version (field `v`) is {version:?}; this worker reads version 1"
        ));
    }
    let (body, source) = match input {
        Input::KintoRedis => (field("payload"), Some(Source::KintoRedis)),
        Input::Runtime => (
            field("event"),
            text("source").as_deref().and_then(source_from_name),
        ),
    };
    match (body, source) {
        (Some(body), Some(source)) => {
            raw.event = body;
            raw.source = source;
        }
        (None, _) => {
            raw.problem = raw.problem.take().or(Some(
                "the entry has no event field (`event`, or `payload` for kinto-redis)".into(),
            ))
        }
        (Some(body), None) => {
            raw.event = body;
            raw.problem = raw.problem.take().or(Some(
                "the entry's `source` is missing or not one of http, kinto-plugin".into(),
            ));
        }
    }
    raw
}

// What the queue was doing, in the errors of operations that fail at several places.
/// [`DeliveryQueue::take`].
const TAKING: &str = "taking entries";
/// [`DeliveryQueue::dead_letters`].
const READING_DEAD: &str = "reading dead letters";
/// [`DeliveryQueue::replay`].
const REPLAYING: &str = "replaying dead letters";
/// [`DeliveryQueue::pending`].
const PENDING: &str = "reading pending deliveries";

/// A Redis failure while the queue was doing `op`.
fn redis_failed(op: &'static str) -> impl FnOnce(RedisError) -> QueueError {
    move |source| QueueError::Redis {
        op,
        source: Box::new(source),
    }
}

/// Whether Redis answered with the error `code` (`NOGROUP`, `BUSYGROUP`).
fn says(e: &RedisError, code: &str) -> bool {
    e.code() == Some(code) || e.to_string().contains(code)
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into())
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, QueueError> {
    serde_json::to_string(value).map_err(|source| QueueError::Encode {
        what: "a record",
        source,
    })
}

fn from_json<T: serde::de::DeserializeOwned>(text: &[u8]) -> Result<T, QueueError> {
    serde_json::from_slice(text).map_err(|source| QueueError::Decode {
        store: "Redis",
        source,
    })
}

#[async_trait::async_trait]
impl DeliveryQueue for RedisDelivery {
    async fn enqueue(&self, event: &[u8], source: Source) -> Result<String, QueueError> {
        let mut cmd = redis::cmd("XADD");
        cmd.arg(RUNTIME_STREAM)
            .arg("*")
            .arg("v")
            .arg(FORMAT_VERSION)
            .arg("event")
            .arg(event)
            .arg("source")
            .arg(source_name(source));
        let appended = self.query(&cmd).await;
        appended.map_err(redis_failed("appending an event"))
    }

    async fn take(
        &self,
        input: Input,
        max: usize,
        claim_idle: Duration,
    ) -> Result<Vec<RawEntry>, QueueError> {
        let reply = self.read_new(input, max).await?;
        let mut entries: Vec<RawEntry> = reply
            .keys
            .iter()
            .flat_map(|k| k.ids.iter())
            .map(|e| raw_entry(input, e))
            .collect();
        // Even when the batch is full: under steady load a dead worker's entries must not
        // wait for a quiet moment. At most once a second, at most `max` more.
        let reclaimed = self.reclaim(input, max, claim_idle).await?;
        entries.extend(reclaimed.iter().map(|e| raw_entry(input, e)));
        Ok(entries)
    }

    async fn take_due(
        &self,
        listener: &str,
        now_ms: u64,
        lease: Duration,
        max: usize,
    ) -> Result<Vec<Pending>, QueueError> {
        let keys = ListenerKeys::of(listener);
        let lease_end = now_ms.saturating_add(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX));
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(TAKE_DUE)
            .arg(2)
            .arg(&keys.pending)
            .arg(&keys.deliveries)
            .arg(now_ms)
            .arg(lease_end)
            .arg(max);
        let found: Vec<Vec<u8>> = self
            .query(&cmd)
            .await
            .map_err(redis_failed("taking due deliveries"))?;
        found.iter().map(|json| from_json(json)).collect()
    }

    async fn settle(
        &self,
        s: Settlement,
        max_dead: usize,
        max_rejected: usize,
    ) -> Result<(), QueueError> {
        // Records first, one pipeline per listener (one slot each), all at once.
        let mut per_listener: BTreeMap<&str, Pipeline> = BTreeMap::new();
        for p in &s.retry {
            let keys = ListenerKeys::of(&p.listener);
            let pipe = per_listener.entry(&p.listener).or_insert_with(redis::pipe);
            pipe.cmd("HSET")
                .arg(&keys.deliveries)
                .arg(&p.id)
                .arg(to_json(p)?)
                .ignore();
            pipe.cmd("ZADD")
                .arg(&keys.pending)
                .arg(p.due_ms)
                .arg(&p.id)
                .ignore();
        }
        for (listener, id) in &s.done {
            let keys = ListenerKeys::of(listener);
            let pipe = per_listener.entry(listener).or_insert_with(redis::pipe);
            pipe.cmd("ZREM").arg(&keys.pending).arg(id).ignore();
            pipe.cmd("HDEL").arg(&keys.deliveries).arg(id).ignore();
        }
        for d in &s.dead {
            let keys = ListenerKeys::of(&d.pending.listener);
            let pipe = per_listener
                .entry(&d.pending.listener)
                .or_insert_with(redis::pipe);
            pipe.cmd("EVAL")
                .arg(BURY)
                .arg(5)
                .arg(&keys.pending)
                .arg(&keys.deliveries)
                .arg(&keys.dead)
                .arg(&keys.dead_order)
                .arg(&keys.dead_dropped)
                .arg(&d.pending.id)
                .arg(to_json(d)?)
                .arg(d.dead_ms)
                .arg(max_dead);
        }
        let writes = per_listener.iter().map(|(listener, pipe)| async move {
            let written = self.run_pipe(pipe).await;
            let dropped: Vec<Value> = written.map_err(redis_failed("settling a batch"))?;
            let dropped: i64 = dropped
                .iter()
                .filter_map(|v| redis::from_redis_value::<i64>(v.clone()).ok())
                .sum();
            if dropped > 0 {
                tracing::warn!(
                    listener,
                    dropped,
                    max_dead,
                    "dead letters over the bound: the oldest were dropped"
                );
            }
            Ok::<(), QueueError>(())
        });
        for result in futures::future::join_all(writes).await {
            result?;
        }
        // Then the inputs: rejected entries, acknowledgements.
        let mut per_input: BTreeMap<&str, (Input, Pipeline, Vec<&str>)> = BTreeMap::new();
        for r in &s.rejected {
            let keys = self.keys(r.input);
            let (_, pipe, _) = per_input
                .entry(r.input.as_str())
                .or_insert_with(|| (r.input, redis::pipe(), Vec::new()));
            pipe.cmd("EVAL")
                .arg(REJECT)
                .arg(2)
                .arg(&keys.rejected)
                .arg(&keys.rejected_dropped)
                .arg(to_json(r)?)
                .arg(max_rejected)
                .ignore();
        }
        for (input, id) in &s.ack {
            let (_, _, ids) = per_input
                .entry(input.as_str())
                .or_insert_with(|| (*input, redis::pipe(), Vec::new()));
            ids.push(id);
        }
        let acks = per_input
            .into_values()
            .map(|(input, mut pipe, ids)| async move {
                let stream = &self.keys(input).stream;
                if !ids.is_empty() {
                    pipe.cmd("XACK").arg(stream).arg(GROUP).arg(&ids).ignore();
                    pipe.cmd("XDEL").arg(stream).arg(&ids).ignore();
                }
                let acked = self.run_pipe::<()>(&pipe).await;
                acked.map_err(redis_failed("acknowledging a batch"))
            });
        for result in futures::future::join_all(acks).await {
            result?;
        }
        Ok(())
    }

    async fn dead_letters(
        &self,
        listener: &str,
        max: usize,
    ) -> Result<(Vec<DeadLetter>, Counts), QueueError> {
        let keys = ListenerKeys::of(listener);
        let mut pipe = redis::pipe();
        let last = isize::try_from(max).unwrap_or(isize::MAX).saturating_sub(1);
        pipe.cmd("ZREVRANGE").arg(&keys.dead_order).arg(0).arg(last);
        pipe.cmd("GET").arg(&keys.dead_dropped);
        let (ids, dropped): (Vec<String>, Option<u64>) = self
            .run_pipe(&pipe)
            .await
            .map_err(redis_failed(READING_DEAD))?;
        let letters = if ids.is_empty() {
            Vec::new()
        } else {
            let mut cmd = redis::cmd("HMGET");
            cmd.arg(&keys.dead).arg(&ids);
            let found: Vec<Option<Vec<u8>>> =
                self.query(&cmd).await.map_err(redis_failed(READING_DEAD))?;
            found
                .iter()
                .flatten()
                .map(|json| from_json(json))
                .collect::<Result<_, _>>()?
        };
        let counts = Counts {
            count: letters.len(),
            dropped: dropped.unwrap_or(0),
        };
        Ok((letters, counts))
    }

    async fn replay(
        &self,
        listener: &str,
        id: Option<&str>,
        now_ms: u64,
    ) -> Result<usize, QueueError> {
        let keys = ListenerKeys::of(listener);
        let letters: Vec<DeadLetter> = match id {
            Some(id) => {
                let mut cmd = redis::cmd("HGET");
                cmd.arg(&keys.dead).arg(id);
                let found: Option<Vec<u8>> =
                    self.query(&cmd).await.map_err(redis_failed(REPLAYING))?;
                found
                    .map(|json| from_json(&json))
                    .transpose()?
                    .into_iter()
                    .collect()
            }
            None => {
                let mut cmd = redis::cmd("HVALS");
                cmd.arg(&keys.dead);
                let found: Vec<Vec<u8>> =
                    self.query(&cmd).await.map_err(redis_failed(REPLAYING))?;
                found
                    .iter()
                    .map(|json| from_json(json))
                    .collect::<Result<_, _>>()?
            }
        };
        if letters.is_empty() {
            return Ok(0);
        }
        let mut pipe = redis::pipe();
        pipe.atomic();
        for letter in &letters {
            let mut pending = letter.pending.clone();
            pending.round_start = pending.attempt;
            pending.due_ms = now_ms;
            pipe.cmd("HSET")
                .arg(&keys.deliveries)
                .arg(&pending.id)
                .arg(to_json(&pending)?)
                .ignore();
            pipe.cmd("ZADD")
                .arg(&keys.pending)
                .arg(now_ms)
                .arg(&pending.id)
                .ignore();
            pipe.cmd("HDEL").arg(&keys.dead).arg(&pending.id).ignore();
            pipe.cmd("ZREM")
                .arg(&keys.dead_order)
                .arg(&pending.id)
                .ignore();
        }
        let written = self.run_pipe::<()>(&pipe).await;
        written.map_err(redis_failed(REPLAYING))?;
        tracing::info!(listener, replayed = letters.len(), "dead letters replayed");
        Ok(letters.len())
    }

    async fn purge_dead(&self, listener: &str, id: Option<&str>) -> Result<usize, QueueError> {
        let keys = ListenerKeys::of(listener);
        let mut pipe = redis::pipe();
        pipe.atomic();
        match id {
            Some(id) => {
                pipe.cmd("HDEL").arg(&keys.dead).arg(id);
                pipe.cmd("ZREM").arg(&keys.dead_order).arg(id).ignore();
            }
            None => {
                pipe.cmd("HLEN").arg(&keys.dead);
                pipe.cmd("DEL")
                    .arg(&keys.dead)
                    .arg(&keys.dead_order)
                    .ignore();
            }
        }
        let purged = self.run_pipe(&pipe).await;
        let (count,): (usize,) = purged.map_err(redis_failed("purging dead letters"))?;
        Ok(count)
    }

    async fn forget(&self, listener: &str) -> Result<usize, QueueError> {
        let keys = ListenerKeys::of(listener);
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("HLEN").arg(&keys.deliveries);
        pipe.cmd("HLEN").arg(&keys.dead);
        pipe.cmd("DEL")
            .arg(&keys.pending)
            .arg(&keys.deliveries)
            .arg(&keys.dead)
            .arg(&keys.dead_order)
            .arg(&keys.dead_dropped)
            .ignore();
        let forgotten = self.run_pipe(&pipe).await;
        let (pending, dead): (usize, usize) =
            forgotten.map_err(redis_failed("forgetting a listener"))?;
        Ok(pending + dead)
    }

    async fn rejected(
        &self,
        input: Input,
        max: usize,
    ) -> Result<(Vec<Rejected>, Counts), QueueError> {
        let keys = self.keys(input);
        let last = isize::try_from(max).unwrap_or(isize::MAX).saturating_sub(1);
        let mut pipe = redis::pipe();
        pipe.cmd("LRANGE").arg(&keys.rejected).arg(0).arg(last);
        pipe.cmd("GET").arg(&keys.rejected_dropped);
        let (found, dropped): (Vec<Vec<u8>>, Option<u64>) = self
            .run_pipe(&pipe)
            .await
            .map_err(redis_failed("reading rejected entries"))?;
        let rejected: Vec<Rejected> = found
            .iter()
            .map(|json| from_json(json))
            .collect::<Result<_, _>>()?;
        let counts = Counts {
            count: rejected.len(),
            dropped: dropped.unwrap_or(0),
        };
        Ok((rejected, counts))
    }

    async fn purge_rejected(&self, input: Input) -> Result<usize, QueueError> {
        let keys = self.keys(input);
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.cmd("LLEN").arg(&keys.rejected);
        pipe.cmd("DEL").arg(&keys.rejected).ignore();
        let purged = self.run_pipe(&pipe).await;
        let (count,): (usize,) = purged.map_err(redis_failed("purging rejected entries"))?;
        Ok(count)
    }

    async fn pending(&self, listener: &str, max: usize) -> Result<Vec<Pending>, QueueError> {
        let keys = ListenerKeys::of(listener);
        let last = isize::try_from(max).unwrap_or(isize::MAX).saturating_sub(1);
        let mut cmd = redis::cmd("ZRANGE");
        cmd.arg(&keys.pending).arg(0).arg(last);
        let ids: Vec<String> = self.query(&cmd).await.map_err(redis_failed(PENDING))?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(&keys.deliveries).arg(&ids);
        let found: Vec<Option<Vec<u8>>> = self.query(&cmd).await.map_err(redis_failed(PENDING))?;
        found.iter().flatten().map(|json| from_json(json)).collect()
    }

    async fn depth(&self, input: Input) -> Result<u64, QueueError> {
        // The stream keeps its entries until they are acknowledged; kinto-redis's list
        // holds those not moved into it yet. Both keys share one slot.
        let keys = self.keys(input);
        let mut pipe = redis::pipe();
        pipe.cmd("XLEN").arg(&keys.stream);
        if let Some(list) = &keys.list {
            pipe.cmd("LLEN").arg(list);
        }
        let lengths: Vec<u64> = self
            .run_pipe(&pipe)
            .await
            .map_err(redis_failed("reading the depth"))?;
        Ok(lengths.iter().sum())
    }
}
