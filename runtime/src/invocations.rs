//! The invocation log: every listener call, sync or async, as an [`Invocation`] record
//! (event id, listener, attempt, outcome, fuel, duration, peak memory, captured log, time).
//!
//! Calls hand their reports to a [`Recorder`], which queues them without waiting; a
//! background task writes them in batches to an [`InvocationStore`] (Redis when Redis is
//! configured, so every worker writes to one place; else the embedded store) and applies
//! the retention (age and count per listener) once a minute. A full queue or a failing
//! store drops records (counted, with a log line), never a call.

use crate::config::Mode;
use crate::engine::{CallReport, OutcomeKind};
use crate::event::Delivery;
use crate::host::LogLine;
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// Version of the record format.
pub const INVOCATION_VERSION: u32 = 1;
/// Records waiting to be written at most; past it, new ones are dropped.
const QUEUE_CAPACITY: usize = 10_000;
/// Records written at once at most.
const BATCH: usize = 512;
/// How long the writer lets records gather after the first of a batch: fewer, larger
/// writes (on the embedded store, each is a write transaction that the calls' own queue
/// pushes wait behind), at the price of a record showing up this much later.
const LINGER: Duration = Duration::from_millis(50);
/// How often the retention runs.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// The most records a query answers.
pub const MAX_QUERY_LIMIT: usize = 10_000;

/// One listener call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invocation {
    /// [`INVOCATION_VERSION`].
    pub v: u32,
    /// A number unique to this record (two calls may end in one millisecond).
    pub id: u64,
    /// When the call ended, ms since the epoch.
    pub at_ms: u64,
    /// The event's id: the same on every attempt.
    pub event_id: String,
    /// The listener's name (`tenant/name` for a tenant's).
    pub listener: String,
    /// The version that ran, for a tenant's listener.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// `sync` or `async`.
    pub mode: Mode,
    /// 1 for the first attempt (always 1 for sync calls).
    pub attempt: u32,
    /// Which part of the event (1-based) out of how many.
    pub part: u32,
    /// Parts of the event.
    pub parts: u32,
    /// The outcome (`ok`, `listener-error`, `trap`, ...); its details are in `detail`.
    pub outcome: OutcomeKind,
    /// The outcome in words.
    pub detail: String,
    /// Fuel burnt.
    pub fuel: u64,
    /// Wall-clock time of the call.
    pub duration_us: u64,
    /// The most linear memory the instance held.
    pub peak_memory_bytes: u64,
    /// The captured log, one line per entry (`level stream: message`), cut at the
    /// configured size.
    pub log: String,
    /// Whether the log was cut (here, or already when captured).
    pub log_cut: bool,
}

/// Which records a query wants; newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvocationQuery {
    /// One listener's, or all.
    pub listener: Option<String>,
    /// One outcome's, or all.
    pub outcome: Option<OutcomeKind>,
    /// One event's, or all.
    pub event_id: Option<String>,
    /// Ended at or after, ms since the epoch.
    pub since_ms: Option<u64>,
    /// Ended at or before, ms since the epoch.
    pub until_ms: Option<u64>,
    /// At most this many (capped at [`MAX_QUERY_LIMIT`]).
    pub limit: usize,
}

impl InvocationQuery {
    /// Whether `record` matches the filters (time range included).
    pub fn matches(&self, record: &Invocation) -> bool {
        let is = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        is(&self.listener, &record.listener)
            && self.outcome.is_none_or(|o| o == record.outcome)
            && is(&self.event_id, &record.event_id)
            && self.since_ms.is_none_or(|s| record.at_ms >= s)
            && self.until_ms.is_none_or(|u| record.at_ms <= u)
    }

    /// The limit, capped.
    pub fn capped_limit(&self) -> usize {
        self.limit.clamp(1, MAX_QUERY_LIMIT)
    }
}

/// A time as a query takes it: ms since the epoch, or RFC 3339 (`2026-12-01T15:00:00Z`;
/// without an offset, UTC).
pub(crate) fn parse_time(text: &str) -> Result<u64, String> {
    if let Ok(ms) = text.parse::<u64>() {
        return Ok(ms);
    }
    let time = humantime::parse_rfc3339_weak(text).map_err(|e| {
        format!("`{text}` is not a time: give ms since the epoch or RFC 3339 such as 2026-12-01T15:00:00Z ({e})")
    })?;
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    Ok(millis(since))
}

/// Why the invocation log could not be written or read. No variant's text holds a Redis
/// URL (nor its password).
#[derive(Debug, thiserror::Error)]
pub enum InvocationError {
    /// Redis failed, or could not be reached, while the log was doing `op`.
    #[error("invocation log: redis: {op}: {source}")]
    Redis {
        /// What the log was doing (`appending records`, `querying`, `pruning`).
        op: &'static str,
        /// What the Redis client said (kept opaque here: `redis` stays in `backends`).
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The embedded store failed (its text names the file).
    #[error("invocation log: {0}")]
    Store(#[from] crate::store::StoreError),
    /// A record does not encode as JSON.
    #[error("invocation log: cannot encode a record: {0}")]
    Encode(#[source] serde_json::Error),
    /// A record read back does not decode as an [`Invocation`].
    #[error("invocation log: unreadable record in {store}: {source}")]
    Decode {
        /// Where the record was (`Redis`, `the store`).
        store: &'static str,
        /// What serde_json said.
        source: serde_json::Error,
    },
}

/// Where invocation records are kept.
#[async_trait::async_trait]
pub trait InvocationStore: Send + Sync + std::fmt::Debug {
    /// Appends records.
    async fn append(&self, records: &[Invocation]) -> Result<(), InvocationError>;

    /// The records `query` wants, newest first. `listeners` names every configured
    /// listener (a store keyed by listener reads theirs when the query names none).
    async fn query(
        &self,
        query: &InvocationQuery,
        listeners: &[String],
    ) -> Result<Vec<Invocation>, InvocationError>;

    /// Deletes records that ended before `before_ms`, and all but the newest
    /// `max_per_listener` of each listener's; returns how many went.
    async fn prune(
        &self,
        before_ms: u64,
        max_per_listener: usize,
        listeners: &[String],
    ) -> Result<usize, InvocationError>;
}

/// Retention and size of what is kept.
#[derive(Debug, Clone)]
pub(crate) struct InvocationSettings {
    /// Records older than this are deleted.
    pub(crate) max_age: Duration,
    /// Each listener keeps at most this many, the newest.
    pub(crate) max_per_listener: usize,
    /// A record's captured log is cut at this many bytes.
    pub(crate) log_bytes: usize,
    /// Every configured listener.
    pub(crate) listeners: Vec<String>,
}

/// Hands call reports to the invocation log's writer, without waiting. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Recorder {
    inner: Option<Arc<RecorderInner>>,
}

#[derive(Debug)]
struct RecorderInner {
    tx: mpsc::Sender<Invocation>,
    log_bytes: usize,
    next_id: AtomicU64,
    dropped: AtomicU64,
}

impl Recorder {
    /// A recorder that keeps nothing (`[invocations] enabled = false`, tests).
    pub(crate) fn disabled() -> Recorder {
        Recorder { inner: None }
    }

    /// Starts the writer task on `store`; it ends once every clone of the recorder is
    /// dropped, after writing what was queued.
    pub(crate) fn start(store: Arc<dyn InvocationStore>, settings: InvocationSettings) -> Recorder {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let inner = RecorderInner {
            tx,
            log_bytes: settings.log_bytes,
            next_id: AtomicU64::new(fastrand::u64(..) >> 16),
            dropped: AtomicU64::new(0),
        };
        tokio::spawn(write_loop(rx, store, settings));
        Recorder {
            inner: Some(Arc::new(inner)),
        }
    }

    /// Records each call of one delivery.
    pub(crate) fn record(&self, mode: Mode, delivery: &Delivery, reports: &[CallReport]) {
        let Some(inner) = &self.inner else {
            return;
        };
        let at_ms = now_ms();
        for r in reports {
            let (log, log_cut) = render_log(&r.log, inner.log_bytes);
            let record = Invocation {
                v: INVOCATION_VERSION,
                id: inner.next_id.fetch_add(1, Ordering::Relaxed),
                at_ms,
                event_id: delivery.event_id.clone(),
                listener: r.listener.clone(),
                version: r.version,
                mode,
                attempt: delivery.attempt,
                part: r.part.index,
                parts: r.part.count,
                outcome: r.outcome.kind(),
                detail: r.outcome.to_string(),
                fuel: r.fuel_consumed,
                duration_us: u64::try_from(r.duration.as_micros()).unwrap_or(u64::MAX),
                peak_memory_bytes: r.peak_memory_bytes,
                log,
                log_cut: log_cut || r.log_truncated,
            };
            if inner.tx.try_send(record).is_err() {
                let dropped = inner.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if dropped.is_power_of_two() {
                    tracing::warn!(
                        dropped,
                        "invocation log: the writer is behind; records dropped"
                    );
                }
            }
        }
    }
}

/// Takes batches off the queue and writes them; prunes once a [`PRUNE_EVERY`].
async fn write_loop(
    mut rx: mpsc::Receiver<Invocation>,
    store: Arc<dyn InvocationStore>,
    settings: InvocationSettings,
) {
    let mut pruned_at = None::<tokio::time::Instant>;
    // The configured listeners, and every other one written since the start (tenants'
    // listeners come and go): each keeps at most `max_per_listener`.
    let mut listeners: std::collections::BTreeSet<String> =
        settings.listeners.iter().cloned().collect();
    let mut appended = 0;
    let prune_after = (settings.max_per_listener / 10).max(100);
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let due = pruned_at.is_none_or(|t| t.elapsed() >= PRUNE_EVERY);
        if due || appended >= prune_after {
            pruned_at = Some(tokio::time::Instant::now());
            appended = 0;
            let before = now_ms().saturating_sub(millis(settings.max_age));
            let names: Vec<String> = listeners.iter().cloned().collect();
            let pruned = store.prune(before, settings.max_per_listener, &names).await;
            if let Err(e) = pruned {
                tracing::warn!(error = %e, "invocation log: retention failed; trying again later");
            }
        }
        let wait = tokio::time::timeout(PRUNE_EVERY, rx.recv_many(&mut batch, BATCH));
        match wait.await {
            Ok(0) => return,
            Ok(_) => {
                if batch.len() < BATCH {
                    tokio::time::sleep(LINGER).await;
                    while batch.len() < BATCH {
                        match rx.try_recv() {
                            Ok(record) => batch.push(record),
                            Err(_) => break,
                        }
                    }
                }
                appended += batch.len();
                for record in &batch {
                    if !listeners.contains(&record.listener) {
                        listeners.insert(record.listener.clone());
                    }
                }
                if let Err(e) = store.append(&batch).await {
                    tracing::warn!(error = %e, records = batch.len(), "invocation log: records dropped");
                }
                batch.clear();
            }
            Err(_idle) => {}
        }
    }
}

/// The captured log as text, one line per entry, cut at `max` bytes (on a character
/// boundary); whether it was cut.
fn render_log(lines: &[LogLine], max: usize) -> (String, bool) {
    let mut text = String::new();
    for line in lines {
        let _ = writeln!(text, "{:?} {:?}: {}", line.level, line.stream, line.message);
    }
    if text.len() <= max {
        return (text, false);
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    (text, true)
}

fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    millis(since)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::{LogLevel, LogStream};

    #[test]
    fn the_log_is_cut_on_a_character_boundary() {
        let line = |m: &str| LogLine {
            level: LogLevel::Info,
            stream: LogStream::Log,
            message: m.to_owned(),
        };
        let (text, cut) = render_log(&[line("héllo"), line("world")], 1 << 10);
        assert!(!cut);
        assert_eq!(text.lines().count(), 2, "{text}");
        let (short, cut) = render_log(&[line("ééééé")], 12);
        assert!(
            cut && short.len() <= 12 && short.is_char_boundary(short.len()),
            "{short}"
        );
    }

    #[test]
    fn times_are_epoch_ms_or_rfc_3339() {
        assert_eq!(parse_time("1800000000000"), Ok(1_800_000_000_000));
        assert_eq!(parse_time("2027-01-15T08:00:00Z"), Ok(1_800_000_000_000));
        let bad = parse_time("yesterday").unwrap_err();
        assert!(bad.contains("RFC 3339"), "{bad}");
    }

    #[test]
    fn a_query_filters_by_every_field_it_names() {
        let record = Invocation {
            v: 1,
            id: 1,
            at_ms: 1_000,
            event_id: "e".into(),
            listener: "l".into(),
            version: None,
            mode: Mode::Sync,
            attempt: 1,
            part: 1,
            parts: 1,
            outcome: OutcomeKind::Ok,
            detail: "ok".into(),
            fuel: 1,
            duration_us: 1,
            peak_memory_bytes: 1,
            log: String::new(),
            log_cut: false,
        };
        let all = InvocationQuery::default();
        assert!(all.matches(&record));
        let q = |f: fn(&mut InvocationQuery)| {
            let mut q = InvocationQuery::default();
            f(&mut q);
            q.matches(&record)
        };
        assert!(!q(|q| q.listener = Some("other".into())));
        assert!(!q(|q| q.outcome = Some(OutcomeKind::Trap)));
        assert!(!q(|q| q.event_id = Some("f".into())));
        assert!(!q(|q| q.since_ms = Some(1_001)));
        assert!(!q(|q| q.until_ms = Some(999)));
        assert!(q(|q| {
            q.since_ms = Some(1_000);
            q.until_ms = Some(1_000);
        }));
    }
}
