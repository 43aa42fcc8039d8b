//! Queue pushes onto Redis lists (`LPUSH`, as kinto-redis does, so `BRPOP` consumers keep
//! working), and the connection to one Redis or a Redis Cluster that this backend and the
//! delivery queue (`redis_delivery.rs`) share the making of.
//!
//! The connection is redis's `ConnectionManager`, created lazily: start-up never waits for
//! Redis nor fails when it is down. A lost connection is re-established on the next push;
//! while Redis is down each push fails within [`RedisOptions::push_timeout`] with a
//! [`QueueBackendError`] (the guest sees `unavailable`, a transient error), and nothing else
//! in the process is held up. The URL may hold a password: messages name `host:port` only.

use crate::config::Secret;
use crate::host::{QueueBackend, QueueBackendError};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::io::tcp::TcpSettings;
use redis::{Client, Cmd, IntoConnectionInfo, Pipeline, RedisError, RedisFuture, Value};
use std::time::Duration;
use tokio::sync::OnceCell;

/// How long one attempt to open a connection (TCP and handshake) may take.
pub(super) const DEFAULT_REDIS_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long Redis may take to answer one command.
pub(super) const DEFAULT_REDIS_RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one push may take in all, reconnecting included: the bound on how long a
/// listener waits for a Redis that is down.
pub(super) const DEFAULT_REDIS_PUSH_TIMEOUT: Duration = Duration::from_secs(2);
/// Attempts after the first when (re)connecting, before the waiting pushes fail; the next
/// push starts a new round.
pub(super) const DEFAULT_REDIS_CONNECT_RETRIES: usize = 2;
/// Pause before the first retry of a connection; it doubles (with jitter) up to the max.
/// `LPUSH` onto a list shorter than `ARGV[2]`, else nothing: the list's new length, or
/// -1 when it was full.
const BOUNDED_LPUSH: &str =
    "if redis.call('LLEN', KEYS[1]) >= tonumber(ARGV[2]) then return -1 end \
     return redis.call('LPUSH', KEYS[1], ARGV[1])";
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(100);
const RECONNECT_MAX_DELAY: Duration = Duration::from_millis(500);

/// Timeouts and retries of the Redis connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RedisOptions {
    /// See [`DEFAULT_REDIS_CONNECT_TIMEOUT`].
    pub connect_timeout: Duration,
    /// See [`DEFAULT_REDIS_RESPONSE_TIMEOUT`].
    pub response_timeout: Duration,
    /// See [`DEFAULT_REDIS_PUSH_TIMEOUT`].
    pub push_timeout: Duration,
    /// See [`DEFAULT_REDIS_CONNECT_RETRIES`].
    pub connect_retries: usize,
}

impl Default for RedisOptions {
    /// Every timeout 2 s, 2 connection retries (100 ms, then up to 500 ms apart).
    fn default() -> Self {
        RedisOptions {
            connect_timeout: DEFAULT_REDIS_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_REDIS_RESPONSE_TIMEOUT,
            push_timeout: DEFAULT_REDIS_PUSH_TIMEOUT,
            connect_retries: DEFAULT_REDIS_CONNECT_RETRIES,
        }
    }
}

/// Why the Redis backend could not be set up (never because Redis is down).
#[derive(Debug, thiserror::Error)]
pub enum RedisSetupError {
    /// `[queue] redis_url` does not parse (redis's text never repeats the URL).
    #[error("[queue] redis_url is not a Redis URL (redis://[user:password@]host:port/db): {0}")]
    InvalidUrl(#[source] RedisError),
    /// Called outside a tokio runtime, which the connection's tasks need.
    #[error("the Redis queue backend for {addr} must be created inside a tokio runtime")]
    NoRuntime {
        /// `host:port`.
        addr: String,
    },
    /// redis refused the connection settings.
    #[error("cannot set up the Redis connection to {addr}: {source}")]
    Setup {
        /// `host:port`.
        addr: String,
        /// What redis said.
        source: RedisError,
    },
}

/// Pushes onto Redis lists with `LPUSH`, reconnecting as needed. Cheap to clone: clones
/// share one multiplexed connection.
#[derive(Clone)]
pub struct RedisQueue {
    conn: std::sync::Arc<SharedConnection>,
    addr: String,
    push_timeout: Duration,
}

impl std::fmt::Debug for RedisQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisQueue")
            .field("addr", &self.addr)
            .finish()
    }
}

impl RedisQueue {
    /// A backend for `url` with [`RedisOptions::default`]. Connects on the first push, so
    /// it succeeds while Redis is down. Must be called inside a tokio runtime.
    pub fn new(url: &Secret) -> Result<RedisQueue, RedisSetupError> {
        RedisQueue::with_options(url, false, RedisOptions::default())
    }

    /// A backend for the Redis Cluster that `seed_url`'s node belongs to.
    pub fn cluster(seed_url: &Secret) -> Result<RedisQueue, RedisSetupError> {
        RedisQueue::with_options(seed_url, true, RedisOptions::default())
    }

    /// A backend for `url` with these timeouts and retries.
    pub(crate) fn with_options(
        url: &Secret,
        cluster: bool,
        options: RedisOptions,
    ) -> Result<RedisQueue, RedisSetupError> {
        let target = RedisTarget::with_options(url, cluster, &options)?;
        let addr = target.addr.clone();
        let push_timeout = options.push_timeout;
        Ok(RedisQueue {
            conn: std::sync::Arc::new(SharedConnection::new(target)),
            addr,
            push_timeout,
        })
    }

    /// `LPUSH`; with `max`, only onto a list shorter than that (one script, so the length
    /// read and the push are one step): whether it pushed.
    async fn lpush(
        &self,
        queue: &str,
        payload: &[u8],
        max: Option<u64>,
    ) -> Result<bool, RedisError> {
        // A clone shares the one multiplexed connection: no lock, pushes are pipelined.
        let mut conn = self.conn.get().await?;
        let Some(max) = max else {
            let mut cmd = redis::cmd("LPUSH");
            cmd.arg(queue).arg(payload);
            return cmd.query_async::<i64>(&mut conn).await.map(|_| true);
        };
        // EVAL, not EVALSHA: the script is short, and a cluster routes it by its one key.
        let mut cmd = redis::cmd("EVAL");
        cmd.arg(BOUNDED_LPUSH)
            .arg(1)
            .arg(queue)
            .arg(payload)
            .arg(max);
        let length: i64 = cmd.query_async(&mut conn).await?;
        Ok(length >= 0)
    }

    /// `LPUSH`, once more when the connection (not the command) failed: the manager answers
    /// with the error of a connection lost earlier and only then reconnects, so without a
    /// second try the first push after Redis comes back would fail. A refused or dropped
    /// connection almost never carried the command; in the rare case it did, the item is
    /// pushed twice, as a retried delivery would push it (at least once).
    async fn lpush_reconnecting(
        &self,
        queue: &str,
        payload: &[u8],
        max: Option<u64>,
    ) -> Result<bool, RedisError> {
        match self.lpush(queue, payload, max).await {
            Err(e) if e.is_connection_refusal() || e.is_connection_dropped() => {
                self.lpush(queue, payload, max).await
            }
            done => done,
        }
    }

    /// Logs a failed push with the server's address and redis's own text, which the guest
    /// never sees: it is told what went wrong, never where.
    fn unavailable(&self, failed: QueueBackendError) -> QueueBackendError {
        let addr = &self.addr;
        match &failed {
            QueueBackendError::Redis { source, .. } => {
                tracing::warn!(%addr, error = %source, "Redis push failed");
            }
            other => tracing::warn!(%addr, error = %other, "Redis push failed"),
        }
        failed
    }
}

/// Where Redis is: one server, or a cluster reached through a seed node.
#[derive(Clone)]
pub(crate) struct RedisTarget {
    kind: TargetKind,
    /// `host:port` of the server or seed node, for the runtime's log.
    pub(crate) addr: String,
}

#[derive(Clone)]
enum TargetKind {
    Single(Client, ConnectionManagerConfig),
    Cluster(ClusterClient),
}

impl RedisTarget {
    /// `url`'s server (a seed node when `cluster`), with the default timeouts.
    pub(crate) fn new(url: &Secret, cluster: bool) -> Result<RedisTarget, RedisSetupError> {
        RedisTarget::with_options(url, cluster, &RedisOptions::default())
    }

    fn with_options(
        url: &Secret,
        cluster: bool,
        options: &RedisOptions,
    ) -> Result<RedisTarget, RedisSetupError> {
        let client = client(url)?;
        let addr = client.get_connection_info().addr().to_string();
        // The connections spawn tasks with `tokio::spawn`, which panics outside a runtime.
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(RedisSetupError::NoRuntime { addr });
        }
        let kind = if cluster {
            let info = client.get_connection_info().clone();
            let built = ClusterClientBuilder::new(vec![info])
                .tcp_settings(TcpSettings::default().set_nodelay(true))
                .connection_timeout(options.connect_timeout)
                .response_timeout(options.response_timeout)
                .build();
            let setup = |source| RedisSetupError::Setup {
                addr: addr.clone(),
                source,
            };
            TargetKind::Cluster(built.map_err(setup)?)
        } else {
            TargetKind::Single(client, manager_config(options))
        };
        Ok(RedisTarget { kind, addr })
    }
}

/// One multiplexed connection to a server or a cluster, made on first use (start-up
/// never waits for Redis) and remade after a failed attempt. Clones of the connection
/// share it: concurrent commands are pipelined on it.
pub(crate) struct SharedConnection {
    target: RedisTarget,
    conn: OnceCell<Conn>,
}

impl std::fmt::Debug for SharedConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedConnection")
            .field("addr", &self.target.addr)
            .finish()
    }
}

impl SharedConnection {
    pub(crate) fn new(target: RedisTarget) -> SharedConnection {
        SharedConnection {
            target,
            conn: OnceCell::new(),
        }
    }

    /// The connection (a cheap clone). A single server's reconnects by itself; a
    /// cluster's finds the nodes on first use and follows the slots after.
    pub(crate) async fn get(&self) -> Result<Conn, RedisError> {
        let made = self.conn.get_or_try_init(|| async {
            match &self.target.kind {
                TargetKind::Single(client, config) => {
                    let manager =
                        ConnectionManager::new_lazy_with_config(client.clone(), config.clone())?;
                    Ok::<Conn, RedisError>(Conn::Single(manager))
                }
                TargetKind::Cluster(client) => {
                    Ok(Conn::Cluster(client.get_async_connection().await?))
                }
            }
        });
        made.await.cloned()
    }
}

/// A connection to a server or to a cluster.
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// A client for `url` whose connections set `TCP_NODELAY` (redis-rs leaves it off): a
/// command is one small write, which Nagle's algorithm would hold back while an earlier
/// reply's ACK is delayed.
fn client(url: &Secret) -> Result<Client, RedisSetupError> {
    let info = url
        .expose()
        .into_connection_info()
        .map_err(RedisSetupError::InvalidUrl)?;
    let info = info.set_tcp_settings(TcpSettings::default().set_nodelay(true));
    Client::open(info).map_err(RedisSetupError::InvalidUrl)
}

fn manager_config(options: &RedisOptions) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(options.connect_timeout))
        .set_response_timeout(Some(options.response_timeout))
        .set_number_of_retries(options.connect_retries)
        .set_min_delay(RECONNECT_MIN_DELAY)
        .set_max_delay(RECONNECT_MAX_DELAY)
}

#[async_trait::async_trait]
impl QueueBackend for RedisQueue {
    async fn push(
        &self,
        queue: &str,
        payload: &[u8],
        max_length: Option<u64>,
    ) -> Result<(), QueueBackendError> {
        let io = self.lpush_reconnecting(queue, payload, max_length);
        let Ok(pushed) = tokio::time::timeout(self.push_timeout, io).await else {
            let ms = self.push_timeout.as_millis();
            return Err(self.unavailable(QueueBackendError::RedisTimeout { ms }));
        };
        let pushed = pushed.map_err(|source| {
            let reason = guest_visible(&source);
            let source = Box::new(source);
            self.unavailable(QueueBackendError::Redis { reason, source })
        })?;
        match (pushed, max_length) {
            (false, Some(max)) => Err(QueueBackendError::full(queue, max)),
            _ => Ok(()),
        }
    }
}

/// What a guest may read of a Redis error: a server's error reply as Redis gave it (it
/// names no host), else the kind of failure. An I/O error's text can name the address.
fn guest_visible(e: &RedisError) -> String {
    if let Some(code) = e.code() {
        return format!("{code} {}", e.detail().unwrap_or_default());
    }
    let kind = if e.is_timeout() {
        "the server did not answer in time"
    } else if e.is_connection_refusal() {
        "the server refused the connection"
    } else if e.is_connection_dropped() {
        "the connection was lost"
    } else {
        "the command failed"
    };
    kind.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// redis-rs makes the socket from these settings (`io::tcp`): the stream it connects
    /// has `TCP_NODELAY`.
    #[test]
    fn connections_set_nodelay() {
        let client = client(&Secret::new("redis://:pw@127.0.0.1:6379/0")).unwrap();
        assert!(client.get_connection_info().tcp_settings().nodelay());
    }

    /// With nobody listening, a push fails because the connection is refused, after the
    /// configured connection retries: not by waiting out a timeout. Every timeout is an
    /// hour here, so the outcome, not a clock, tells which it was.
    #[tokio::test]
    async fn redis_down_fails_by_refusal_not_by_timeout() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let hour = Duration::from_secs(3600);
        let options = RedisOptions {
            connect_timeout: hour,
            response_timeout: hour,
            push_timeout: hour,
            ..RedisOptions::default()
        };
        let url = Secret::new(format!("redis://127.0.0.1:{port}/"));
        let queue = RedisQueue::with_options(&url, false, options).unwrap();
        for _ in 0..2 {
            match queue.push("q", b"{}", None).await {
                Err(QueueBackendError::Redis { reason, .. }) => {
                    assert_eq!(reason, "the server refused the connection");
                }
                other => panic!("a refusal: {other:?}"),
            }
        }
    }
}
