//! `[delivery]`: the durable queue of async listeners, and how workers take from it.

use super::{Invalid, Secret, DEFAULT_MAX_BODY_BYTES};
use crate::policy::KINTO_REDIS_LIST;
use serde::{Deserialize, Deserializer};
use std::time::Duration;

/// The default pauses after each failed attempt, in the spirit of Svix's schedule
/// (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h): eight attempts over about 28 hours.
pub(crate) const DEFAULT_RETRY_SCHEDULE: [Duration; 7] = [
    Duration::from_secs(5),
    Duration::from_secs(5 * 60),
    Duration::from_secs(30 * 60),
    Duration::from_secs(2 * 3600),
    Duration::from_secs(5 * 3600),
    Duration::from_secs(10 * 3600),
    Duration::from_secs(10 * 3600),
];

/// Each pause is drawn in `[pause × (1 - JITTER), pause × (1 + JITTER)]`, so deliveries
/// that failed together (a backend down) do not all come back at the same instant.
pub(crate) const DEFAULT_JITTER: f64 = 0.2;

/// Entries (and, per listener, due retries) one step takes.
pub(crate) const DEFAULT_BATCH: usize = 16;
/// Steps running at once in one worker process: a slow call holds up its own lane only.
pub(crate) const DEFAULT_LANES: usize = 2;
/// Dead letters kept per listener; older ones are dropped (and counted, with a log line).
pub(crate) const DEFAULT_MAX_DEAD_LETTERS: usize = 10_000;
/// Rejected entries kept per input.
pub(crate) const DEFAULT_MAX_REJECTED: usize = 10_000;
/// How long `SIGTERM` waits for the calls in flight.
pub(crate) const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// `[delivery]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct DeliveryConfig {
    /// The durable queue's Redis. Default: `[queue] redis_url`.
    pub redis_url: Option<Secret>,
    /// `redis_url` is one node of a Redis Cluster.
    pub redis_cluster: bool,
    /// kinto-redis's list (its `kinto.event_listeners.redis.listname`). Default
    /// `kinto.core.events`.
    pub kinto_redis_list: String,
    /// The pauses after each failed attempt (`"5s"`, `"5m"`, `"2h"`, ...): attempts in all
    /// are one more than the pauses. Default: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    #[serde(deserialize_with = "durations")]
    pub retry_schedule: Vec<Duration>,
    /// Each pause is drawn within ± this fraction of it. Default 0.2.
    pub jitter: f64,
    /// Entries (and due retries per listener) a worker's lane takes at once.
    pub batch: usize,
    /// Lanes of one worker process: batches in flight at once.
    pub lanes: usize,
    /// How long a worker's unacknowledged entry waits before another worker takes it, in
    /// ms. Default: the shortest safe value (the longest delivery, plus a second).
    pub claim_idle_ms: Option<u64>,
    /// Dead letters kept per listener.
    pub max_dead_letters: usize,
    /// Rejected entries kept per input.
    pub max_rejected: usize,
    /// Largest input entry read as an event. Default: `[server] max_body_bytes`'s default.
    pub max_entry_bytes: usize,
    /// How long `SIGTERM` waits for the calls in flight, in ms.
    pub shutdown_grace_ms: u64,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            redis_url: None,
            redis_cluster: false,
            kinto_redis_list: KINTO_REDIS_LIST.to_owned(),
            retry_schedule: DEFAULT_RETRY_SCHEDULE.to_vec(),
            jitter: DEFAULT_JITTER,
            batch: DEFAULT_BATCH,
            lanes: DEFAULT_LANES,
            claim_idle_ms: None,
            max_dead_letters: DEFAULT_MAX_DEAD_LETTERS,
            max_rejected: DEFAULT_MAX_REJECTED,
            max_entry_bytes: DEFAULT_MAX_BODY_BYTES,
            shutdown_grace_ms: u64::try_from(DEFAULT_SHUTDOWN_GRACE.as_millis())
                .unwrap_or(u64::MAX),
        }
    }
}

impl DeliveryConfig {
    pub(super) fn check(&self) -> Result<(), Invalid> {
        let invalid = |key, why: &str| {
            Err(Invalid::Delivery {
                key,
                why: why.to_owned(),
            })
        };
        if self.kinto_redis_list.contains(['{', '}']) || self.kinto_redis_list.is_empty() {
            return invalid("kinto_redis_list", "must be a list name without `{` or `}` (the runtime's keys for it are tagged with the name in braces, to share its cluster slot)");
        }
        if !(0.0..1.0).contains(&self.jitter) {
            return invalid(
                "jitter",
                "must be at least 0 and below 1 (a fraction of each pause)",
            );
        }
        for (key, value) in [
            ("batch", self.batch),
            ("lanes", self.lanes),
            ("max_dead_letters", self.max_dead_letters),
            ("max_rejected", self.max_rejected),
            ("max_entry_bytes", self.max_entry_bytes),
        ] {
            if value == 0 {
                return invalid(key, "must be above 0");
            }
        }
        Ok(())
    }
}

fn durations<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
    let words = Vec::<String>::deserialize(d)?;
    words
        .iter()
        .map(|w| duration(w).map_err(serde::de::Error::custom))
        .collect()
}

pub(super) fn durations_opt<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<Duration>>, D::Error> {
    durations(d).map(Some)
}

fn duration(word: &str) -> Result<Duration, String> {
    humantime::parse_duration(word)
        .map_err(|e| format!("`{word}` is not a duration such as \"30s\", \"5m\" or \"2h\": {e}"))
}
