//! The operator's configuration: one TOML file, one typed tree of plain data.
//!
//! Unknown keys are refused with their name, defaults are named constants, secrets print as
//! `[redacted]`, and every problem is found at start-up, naming the key or listener.
//! `service` turns the tree into engine settings, listeners and backends.
//! `config/example.toml` at the top of the repository shows every key.
//!
//! # Layout
//! - `mod.rs`: the tree and its loading.
//! - `listener.rs`: one `[[listener]]` block.
//! - `delivery.rs`: `[delivery]`, the durable queue of async listeners.
//! - `secret.rs`: [`Secret`].

mod delivery;
mod invocations;
mod listener;
mod secret;
#[cfg(test)]
mod tests;

pub(crate) use delivery::{DeliveryConfig, DEFAULT_JITTER, DEFAULT_RETRY_SCHEDULE};
pub(crate) use invocations::InvocationsConfig;
pub(crate) use listener::ListenerConfig;
pub use listener::Mode;
pub use secret::Secret;

use crate::event::Input;
use crate::limits::{
    LimitError, DEFAULT_EPOCH_TICK, DEFAULT_IDLE_INSTANCE_LIMIT, DEFAULT_MAX_INSTANCES,
    DEFAULT_MAX_MEMORY_BYTES,
};
use crate::policy::{EmailRules, QueueRules};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where `serve` listens by default: loopback only, so no token is needed.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8888";
/// Largest request body any route accepts.
pub(crate) const DEFAULT_MAX_BODY_BYTES: usize = 4 << 20;
/// Where the embedded store and the outbox live, relative to the configuration file.
pub(crate) const DEFAULT_DATA_DIR: &str = "data";
/// SMTP commands time out after this long.
pub(crate) const DEFAULT_SMTP_TIMEOUT_MS: u64 = 10_000;
/// Idle SMTP connections kept for reuse.
pub(crate) const DEFAULT_SMTP_POOL_SIZE: usize = 4;

/// Why a configuration was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Not TOML, or not the expected shape (the message names the key and line).
    #[error("configuration {path}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What toml/serde said.
        source: toml::de::Error,
    },
    /// Well-formed, but against one of the rules of [`Invalid`].
    #[error("configuration {path}: {rule}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The rule broken.
        #[source]
        rule: Invalid,
    },
}

/// A well-formed configuration that breaks a rule: one variant per rule, each naming the
/// key and, for a listener, the listener.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// `[server] listen` is reachable from other machines and no token guards ingestion.
    #[error("[server] listen = \"{listen}\" is not a loopback address: set [server] operator_token, which event ingestion then requires")]
    ListenWithoutToken {
        /// The address.
        listen: SocketAddr,
    },
    /// Two listeners share a name.
    #[error("two [[listener]] blocks are named `{name}`: names identify listeners in logs, reports and deliveries")]
    DuplicateListener {
        /// The name.
        name: String,
    },
    /// A listener's `name` is empty or blank.
    #[error("a [[listener]] has an empty `name`")]
    EmptyListenerName,
    /// A listener's `name` holds a `/`, which names tenants' listeners (`tenant/name`).
    #[error("listener `{0}`: a `/` in a name is for tenants' listeners (`tenant/name`, in every record): rename it")]
    SlashInListenerName(String),
    /// An async listener takes kinto-redis's list, and no Redis is configured.
    #[error("listener `{listener}` takes the `kinto-redis` input, kinto-redis's list on Redis: set [delivery] redis_url (or [queue] redis_url), or take only the `runtime` input (the embedded store holds it without Redis)")]
    KintoRedisWithoutRedis {
        /// The listener's name.
        listener: String,
    },
    /// `inputs` or `retry_schedule` on a sync listener, which has neither.
    #[error("listener `{listener}`: `{key}` is for mode = \"async\" listeners (a sync listener runs in the caller's request, once)")]
    AsyncKeyOnSync {
        /// The listener's name.
        listener: String,
        /// The key.
        key: &'static str,
    },
    /// `[engine] epoch_tick_ms = 0`.
    #[error("[engine] epoch_tick_ms = 0: the epoch must advance; use {default} (the default) or more", default = DEFAULT_EPOCH_TICK.as_millis())]
    ZeroEpochTick,
    /// `calls_per_instance = 0`.
    #[error("listener `{listener}`: calls_per_instance = 0 would run nothing: use 1 (the default, a fresh instance for every call) or more (an instance serves that many calls)")]
    NoCallPerInstance {
        /// The listener's name.
        listener: String,
    },
    /// A `[delivery]` setting that cannot be used.
    #[error("[delivery] {key}: {why}")]
    Delivery {
        /// The key.
        key: &'static str,
        /// Why.
        why: String,
    },
    /// A listener's `[listener.limits]` cannot be used.
    #[error("listener `{listener}`: {error}")]
    Limits {
        /// The listener's name.
        listener: String,
        /// Which limit, and why.
        #[source]
        error: LimitError,
    },
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[server]`.
    #[serde(default)]
    pub(crate) server: ServerConfig,
    /// `[engine]`.
    #[serde(default)]
    pub(crate) engine: EngineSection,
    /// `[email]`: the operator's email settings and ceiling.
    #[serde(default)]
    pub(crate) email: EmailConfig,
    /// `[queue]`: the operator's queue settings and ceiling.
    #[serde(default)]
    pub(crate) queue: QueueConfig,
    /// `[delivery]`: the durable queue of async listeners.
    #[serde(default)]
    pub(crate) delivery: DeliveryConfig,
    /// `[invocations]`: the invocation log.
    #[serde(default)]
    pub(crate) invocations: InvocationsConfig,
    /// `[[listener]]` blocks, in order: sync listeners run in this order.
    #[serde(default, rename = "listener")]
    pub(crate) listeners: Vec<ListenerConfig>,
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ServerConfig {
    /// Address and port of the HTTP API. Default [`DEFAULT_LISTEN`].
    pub listen: SocketAddr,
    /// Bearer token required by event ingestion. Required when `listen` is not loopback.
    pub operator_token: Option<Secret>,
    /// See [`DEFAULT_MAX_BODY_BYTES`].
    pub max_body_bytes: usize,
    /// Embedded store and outbox folder. Default [`DEFAULT_DATA_DIR`], relative to the file.
    pub data_dir: PathBuf,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: DEFAULT_LISTEN.parse().expect("a valid constant address"),
            operator_token: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
        }
    }
}

/// `[engine]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct EngineSection {
    /// Calls in flight at once (instance pool size).
    pub max_instances: u32,
    /// Largest memory limit a listener may have, in MiB.
    pub max_memory_mib: u64,
    /// Keep compiled components in `<data_dir>/compiled/` (their key in
    /// `<data_dir>/compiled.key`), so a restart compiles nothing. Default true.
    pub precompiled: bool,
    /// How long an instance kept for reuse may stay idle, in milliseconds.
    pub idle_instance_ms: u64,
    /// How often the epoch advances, in milliseconds: the precision of deadlines and the
    /// shortest one a listener may have.
    pub epoch_tick_ms: u64,
}

impl Default for EngineSection {
    fn default() -> Self {
        EngineSection {
            max_instances: DEFAULT_MAX_INSTANCES,
            max_memory_mib: DEFAULT_MAX_MEMORY_BYTES >> 20,
            precompiled: true,
            idle_instance_ms: u64::try_from(DEFAULT_IDLE_INSTANCE_LIMIT.as_millis())
                .unwrap_or(u64::MAX),
            epoch_tick_ms: u64::try_from(DEFAULT_EPOCH_TICK.as_millis()).unwrap_or(u64::MAX),
        }
    }
}

impl EngineSection {
    /// `max_memory_mib` in bytes.
    pub(crate) fn max_memory_bytes(&self) -> u64 {
        self.max_memory_mib << 20
    }

    /// `epoch_tick_ms` as a duration.
    pub(crate) fn epoch_tick(&self) -> Duration {
        Duration::from_millis(self.epoch_tick_ms)
    }
}

/// `[email]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct EmailConfig {
    /// `[email.smtp]`: send through this server. Without it, messages are written as `.eml`
    /// files into `outbox`.
    pub smtp: Option<SmtpConfig>,
    /// The outbox folder. Default `<data_dir>/outbox`.
    pub outbox: Option<PathBuf>,
    /// Sender of messages that name none.
    pub default_sender: Option<String>,
    /// The operator's ceiling on senders (every listener's own list is checked too).
    /// Default `["*"]`: no ceiling beyond the listeners' lists.
    pub allowed_senders: Vec<String>,
    /// The operator's ceiling on recipients. Default `["*"]`.
    pub allowed_recipients: Vec<String>,
}

impl Default for EmailConfig {
    fn default() -> Self {
        EmailConfig {
            smtp: None,
            outbox: None,
            default_sender: None,
            allowed_senders: vec!["*".into()],
            allowed_recipients: vec!["*".into()],
        }
    }
}

impl EmailConfig {
    /// The operator's layer of every listener's email policy.
    pub(crate) fn ceiling(&self) -> EmailRules {
        EmailRules {
            allowed_senders: self.allowed_senders.clone(),
            allowed_recipients: self.allowed_recipients.clone(),
        }
    }
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text (a local relay, a test server). The tutorial's `tls = false`.
    None,
    /// Plain connection upgraded with STARTTLS (port 587). The tutorial's `tls = true`.
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

/// `[email.smtp]`: the host's SMTP server; never visible to guests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    /// Server host name.
    pub host: String,
    /// Port; default 25 (`none`), 587 (`starttls`) or 465 (`tls`).
    pub port: Option<u16>,
    /// Default `starttls`.
    #[serde(default = "default_tls")]
    pub tls: SmtpTls,
    /// Login, if the server wants one.
    pub username: Option<String>,
    /// Password for `username`.
    pub password: Option<Secret>,
    /// See [`DEFAULT_SMTP_TIMEOUT_MS`].
    #[serde(default = "default_smtp_timeout")]
    pub timeout_ms: u64,
    /// See [`DEFAULT_SMTP_POOL_SIZE`].
    #[serde(default = "default_smtp_pool")]
    pub pool_size: usize,
    /// A PEM file of root certificates to trust besides the web PKI's (a private CA), for
    /// `starttls` and `tls`.
    pub ca_file: Option<PathBuf>,
}

impl SmtpConfig {
    /// The configured port, or the usual one for the TLS mode.
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            SmtpTls::None => 25,
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
        })
    }
}

fn default_tls() -> SmtpTls {
    SmtpTls::Starttls
}
fn default_smtp_timeout() -> u64 {
    DEFAULT_SMTP_TIMEOUT_MS
}
fn default_smtp_pool() -> usize {
    DEFAULT_SMTP_POOL_SIZE
}

/// `[queue]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct QueueConfig {
    /// `redis://[user:password@]host:port/db`. Without it, pushes land in the embedded
    /// store (`wasm-listeners queue pop NAME` reads them back).
    pub redis_url: Option<Secret>,
    /// `redis_url` is one node of a Redis Cluster (the others are found from it).
    pub redis_cluster: bool,
    /// The operator's ceiling on queue names. Default `["*"]`.
    pub allowed: Vec<String>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            redis_url: None,
            redis_cluster: false,
            allowed: vec!["*".into()],
        }
    }
}

impl QueueConfig {
    /// The operator's layer of every listener's queue policy.
    pub(crate) fn ceiling(&self) -> QueueRules {
        QueueRules {
            allowed: self.allowed.clone(),
        }
    }
}

impl Config {
    /// Reads, parses and checks a configuration file. Relative paths in it are relative to
    /// the file's folder.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Config::parse(&text, base).map_err(|e| e.at(path))
    }

    /// Parses and checks configuration text; relative paths are joined to `base`.
    pub fn parse(text: &str, base: &Path) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: PathBuf::new(),
            source,
        })?;
        config.check().map_err(|rule| ConfigError::Invalid {
            path: PathBuf::new(),
            rule,
        })?;
        config.resolve_paths(base);
        Ok(config)
    }

    fn check(&self) -> Result<(), Invalid> {
        let listen = self.server.listen;
        if !listen.ip().is_loopback() && self.server.operator_token.is_none() {
            return Err(Invalid::ListenWithoutToken { listen });
        }
        if self.engine.epoch_tick_ms == 0 {
            return Err(Invalid::ZeroEpochTick);
        }
        let max_memory = self.engine.max_memory_bytes();
        let tick = self.engine.epoch_tick();
        let mut names = std::collections::HashSet::new();
        for l in &self.listeners {
            if !names.insert(l.name.as_str()) {
                let name = l.name.clone();
                return Err(Invalid::DuplicateListener { name });
            }
            l.check(max_memory, tick)?;
            let takes_list = l.mode == Mode::Async && l.inputs().contains(&Input::KintoRedis);
            if takes_list && self.delivery_redis().is_none() {
                let listener = l.name.clone();
                return Err(Invalid::KintoRedisWithoutRedis { listener });
            }
        }
        self.delivery.check()
    }

    /// The durable queue's Redis: `[delivery] redis_url`, else `[queue] redis_url`; and
    /// whether it is a cluster's node.
    pub(crate) fn delivery_redis(&self) -> Option<(&Secret, bool)> {
        match (&self.delivery.redis_url, &self.queue.redis_url) {
            (Some(url), _) => Some((url, self.delivery.redis_cluster)),
            (None, Some(url)) => Some((url, self.queue.redis_cluster)),
            (None, None) => None,
        }
    }

    fn resolve_paths(&mut self, base: &Path) {
        let join = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        join(&mut self.server.data_dir);
        if let Some(outbox) = &mut self.email.outbox {
            join(outbox);
        }
        if let Some(ca_file) = self.email.smtp.as_mut().and_then(|s| s.ca_file.as_mut()) {
            join(ca_file);
        }
        for l in &mut self.listeners {
            join(&mut l.component);
        }
    }

    /// The outbox folder: `[email] outbox`, else `<data_dir>/outbox`.
    pub fn outbox(&self) -> PathBuf {
        let default = || self.server.data_dir.join("outbox");
        self.email.outbox.clone().unwrap_or_else(default)
    }

    /// The embedded store's file: `<data_dir>/wasm-listeners.sqlite3`.
    pub fn store_path(&self) -> PathBuf {
        self.server.data_dir.join("wasm-listeners.sqlite3")
    }

    /// The embedded invocation log's file, beside the store: a file of its own, so its
    /// volume (a record per call) never holds up the queues' writes or checkpoints.
    pub fn invocation_log_path(&self) -> PathBuf {
        self.server.data_dir.join("invocations.sqlite3")
    }
}

impl ConfigError {
    fn at(self, file: &Path) -> ConfigError {
        match self {
            ConfigError::Parse { source, .. } => ConfigError::Parse {
                path: file.to_owned(),
                source,
            },
            ConfigError::Invalid { rule, .. } => ConfigError::Invalid {
                path: file.to_owned(),
                rule,
            },
            read => read,
        }
    }
}
