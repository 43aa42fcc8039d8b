//! What a listener's capabilities may do: deny by default, layered.
//!
//! A policy is a list of layers (operator ceiling, then tenant, then listener): a request is
//! permitted only when every layer permits it, so adding a layer can only narrow what is
//! allowed. A layer with an empty allow-list allows nothing.

use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex, PoisonError};

/// Recipients (to, cc and bcc together) of one message.
pub(crate) const DEFAULT_MAX_RECIPIENTS: usize = 50;
/// Bytes of a subject line.
pub(crate) const DEFAULT_MAX_SUBJECT_BYTES: usize = 998;
/// Bytes of a body (plain text and HTML alternative each).
pub(crate) const DEFAULT_MAX_BODY_BYTES: usize = 256 << 10;
/// Messages one call may send; more answer `rate-limited`.
pub(crate) const DEFAULT_MAX_MESSAGES_PER_CALL: u32 = 10;
/// Bytes of one queue payload.
pub(crate) const DEFAULT_MAX_QUEUE_PAYLOAD_BYTES: usize = 1 << 20;
/// Queue names under this prefix are the runtime's own (its input list, delivery records):
/// no listener may push there, whatever its allow-list says.
pub(crate) const RESERVED_QUEUE_PREFIXES: [&str; 2] = ["wasm-listeners:", "{wasm-listeners:"];
/// kinto-redis's list, which the runtime reads its input from: a listener pushing there
/// would feed its own events back to itself.
pub(crate) const KINTO_REDIS_LIST: &str = "kinto.core.events";

/// One pattern of an address allow-list: `*` (any), `@example.org` or `example.org`
/// (any address at that domain), or `name@example.org` (that address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AddressPattern {
    /// Every address.
    Any,
    /// Every address at this domain (lower case).
    Domain(String),
    /// This address (lower case).
    Exact(String),
}

impl AddressPattern {
    /// Parses a pattern as written in configuration.
    pub(crate) fn parse(text: &str) -> AddressPattern {
        let text = text.trim().to_ascii_lowercase();
        match text.as_str() {
            "*" => AddressPattern::Any,
            t if t.contains('@') && !t.starts_with('@') => AddressPattern::Exact(text),
            t => AddressPattern::Domain(t.trim_start_matches('@').to_owned()),
        }
    }

    /// Whether `address` (a bare `user@domain`) matches.
    pub(crate) fn matches(&self, address: &str) -> bool {
        let address = address.to_ascii_lowercase();
        match self {
            AddressPattern::Any => true,
            AddressPattern::Exact(a) => *a == address,
            AddressPattern::Domain(d) => address.rsplit_once('@').is_some_and(|(_, dom)| dom == d),
        }
    }
}

/// One layer of an email policy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmailRules {
    /// Senders this layer allows (patterns, see [`AddressPattern`]). Empty: none.
    pub allowed_senders: Vec<String>,
    /// Recipients (to, cc, bcc) this layer allows. Empty: none.
    pub allowed_recipients: Vec<String>,
}

impl EmailRules {
    /// A layer that allows every sender and recipient (for `invoke`, which only records).
    pub fn allow_all() -> EmailRules {
        EmailRules {
            allowed_senders: vec!["*".into()],
            allowed_recipients: vec!["*".into()],
        }
    }
}

fn any_matches(patterns: &[String], address: &str) -> bool {
    patterns
        .iter()
        .any(|p| AddressPattern::parse(p).matches(address))
}

/// The email policy of one listener: its layers and size caps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailPolicy {
    /// Every layer must permit a sender or recipient.
    pub layers: Vec<EmailRules>,
    /// Sender used when the message names none.
    pub default_sender: Option<String>,
    /// See [`DEFAULT_MAX_RECIPIENTS`].
    pub max_recipients: usize,
    /// See [`DEFAULT_MAX_SUBJECT_BYTES`].
    pub max_subject_bytes: usize,
    /// See [`DEFAULT_MAX_BODY_BYTES`].
    pub max_body_bytes: usize,
    /// See [`DEFAULT_MAX_MESSAGES_PER_CALL`].
    pub max_messages_per_call: u32,
    /// The rate shared by every listener of its tenant, if it has one.
    pub rate: Option<Arc<EmailRate>>,
}

impl EmailPolicy {
    /// The default: no layer, so nothing is permitted; default caps.
    pub fn deny_all() -> EmailPolicy {
        EmailPolicy {
            layers: Vec::new(),
            default_sender: None,
            max_recipients: DEFAULT_MAX_RECIPIENTS,
            max_subject_bytes: DEFAULT_MAX_SUBJECT_BYTES,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_messages_per_call: DEFAULT_MAX_MESSAGES_PER_CALL,
            rate: None,
        }
    }

    /// Adds a layer (operator ceiling first, the listener's own last).
    pub fn with_layer(mut self, layer: EmailRules) -> EmailPolicy {
        self.layers.push(layer);
        self
    }

    /// Whether every layer permits this sender (and there is at least one layer).
    pub fn permits_sender(&self, address: &str) -> bool {
        !self.layers.is_empty()
            && self
                .layers
                .iter()
                .all(|l| any_matches(&l.allowed_senders, address))
    }

    /// Whether every layer permits this recipient (and there is at least one layer).
    pub fn permits_recipient(&self, address: &str) -> bool {
        !self.layers.is_empty()
            && self
                .layers
                .iter()
                .all(|l| any_matches(&l.allowed_recipients, address))
    }
}

/// Messages a tenant's listeners may send together, per minute and per day (fixed windows
/// of the wall clock): past either, a send answers `rate-limited`. Shared by every call of
/// the tenant's listeners in this process.
#[derive(Debug)]
pub struct EmailRate {
    per_minute: u32,
    per_day: u32,
    /// `(minute, sent in it, day, sent in it)`, windows numbered from the epoch.
    used: Mutex<(u64, u32, u64, u32)>,
}

impl EmailRate {
    /// A rate of `per_minute` and `per_day` messages.
    pub fn new(per_minute: u32, per_day: u32) -> EmailRate {
        EmailRate {
            per_minute,
            per_day,
            used: Mutex::new((0, 0, 0, 0)),
        }
    }

    /// Its bounds: `(per_minute, per_day)`.
    pub fn bounds(&self) -> (u32, u32) {
        (self.per_minute, self.per_day)
    }

    /// Takes room for one message at `now_ms` (ms since the epoch); whether there was.
    pub fn admit(&self, now_ms: u64) -> bool {
        let (minute, day) = (now_ms / 60_000, now_ms / 86_400_000);
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        if used.0 != minute {
            (used.0, used.1) = (minute, 0);
        }
        if used.2 != day {
            (used.2, used.3) = (day, 0);
        }
        if used.1 >= self.per_minute || used.3 >= self.per_day {
            return false;
        }
        used.1 += 1;
        used.3 += 1;
        true
    }
}

/// Two rates are the same when they are one shared counter.
impl PartialEq for EmailRate {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for EmailRate {}

/// One layer of a queue policy: queue names, exact or as a prefix ending in `*`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueRules {
    /// Names this layer allows: `events` (exactly), `tenant-a.*` (prefix), `*` (any).
    /// Empty: none.
    pub allowed: Vec<String>,
}

impl QueueRules {
    /// A layer that allows every (non-reserved) name.
    pub fn allow_all() -> QueueRules {
        QueueRules {
            allowed: vec!["*".into()],
        }
    }

    fn permits(&self, name: &str) -> bool {
        self.allowed.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => p == name,
        })
    }
}

/// The queue policy of one listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuePolicy {
    /// Every layer must permit a name.
    pub layers: Vec<QueueRules>,
    /// Prefixes no listener may push to (the runtime's own keys).
    pub reserved_prefixes: Vec<String>,
    /// Names no listener may push to: the runtime's input lists.
    pub reserved_names: Vec<String>,
    /// See [`DEFAULT_MAX_QUEUE_PAYLOAD_BYTES`].
    pub max_payload_bytes: usize,
    /// Items a queue may hold before a push onto it is refused (a tenant's
    /// `quotas.max_queue_length`); `None`: no bound (the operator's listeners).
    pub max_length: Option<u64>,
}

impl QueuePolicy {
    /// The default: no layer, so nothing is permitted; kinto-redis's default list reserved.
    pub fn deny_all() -> QueuePolicy {
        let policy = QueuePolicy {
            layers: Vec::new(),
            reserved_prefixes: RESERVED_QUEUE_PREFIXES.map(str::to_owned).to_vec(),
            reserved_names: Vec::new(),
            max_payload_bytes: DEFAULT_MAX_QUEUE_PAYLOAD_BYTES,
            max_length: None,
        };
        policy.reserving_input(KINTO_REDIS_LIST)
    }

    /// Reserves an input list of the runtime (kinto-redis's), and its own keys (the
    /// list's name in braces begins them).
    pub fn reserving_input(mut self, list: &str) -> QueuePolicy {
        self.reserved_names.push(list.to_owned());
        self.reserved_prefixes.push(format!("{{{list}}}"));
        self
    }

    /// Adds a layer.
    pub fn with_layer(mut self, layer: QueueRules) -> QueuePolicy {
        self.layers.push(layer);
        self
    }

    /// Why `name` may not be pushed to, or `None` when it may.
    pub fn refusal(&self, name: &str) -> Option<String> {
        if self.reserved_names.iter().any(|n| n == name) {
            return Some(format!("queue `{name}` is the runtime's input list"));
        }
        if let Some(p) = self.reserved_prefixes.iter().find(|p| name.starts_with(*p)) {
            return Some(format!(
                "queue `{name}` is reserved for the runtime (prefix `{p}`)"
            ));
        }
        if self.layers.is_empty() || !self.layers.iter().all(|l| l.permits(name)) {
            return Some(format!(
                "queue `{name}` is not in this listener's allowed queues"
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_counts_per_minute_and_per_day() {
        let rate = EmailRate::new(2, 3);
        let t0 = 1_800_000_000_000 / 86_400_000 * 86_400_000; // a day's first ms
        assert!(rate.admit(t0));
        assert!(rate.admit(t0 + 1));
        assert!(!rate.admit(t0 + 59_999), "two a minute");
        assert!(rate.admit(t0 + 60_000), "a new minute");
        assert!(
            !rate.admit(t0 + 120_000),
            "three a day, whatever the minute"
        );
        assert!(rate.admit(t0 + 86_400_000), "a new day");
    }

    #[test]
    fn address_patterns() {
        assert!(AddressPattern::parse("*").matches("a@b.org"));
        assert!(AddressPattern::parse("@Example.org").matches("x@example.ORG"));
        assert!(AddressPattern::parse("example.org").matches("x@example.org"));
        assert!(!AddressPattern::parse("example.org").matches("x@evil-example.org"));
        assert!(AddressPattern::parse("ops@example.org").matches("OPS@example.org"));
        assert!(!AddressPattern::parse("ops@example.org").matches("dev@example.org"));
    }

    #[test]
    fn layers_intersect_and_empty_denies() {
        let none = EmailPolicy::deny_all();
        assert!(!none.permits_recipient("a@example.org"));
        let op = EmailRules {
            allowed_senders: vec!["*".into()],
            allowed_recipients: vec!["example.org".into()],
        };
        let listener = EmailRules {
            allowed_senders: vec!["*".into()],
            allowed_recipients: vec!["ops@example.org".into(), "x@other.org".into()],
        };
        let p = EmailPolicy::deny_all().with_layer(op).with_layer(listener);
        assert!(p.permits_recipient("ops@example.org"));
        assert!(
            !p.permits_recipient("dev@example.org"),
            "listener layer narrows"
        );
        assert!(
            !p.permits_recipient("x@other.org"),
            "operator ceiling holds"
        );
    }

    #[test]
    fn queue_names() {
        let p = QueuePolicy::deny_all().with_layer(QueueRules {
            allowed: vec!["events".into(), "t1.*".into()],
        });
        assert_eq!(p.refusal("events"), None);
        assert_eq!(p.refusal("t1.jobs"), None);
        assert!(p.refusal("t2.jobs").is_some());
        let all = QueuePolicy::deny_all().with_layer(QueueRules::allow_all());
        assert!(all
            .refusal("wasm-listeners:input")
            .unwrap()
            .contains("reserved"));
        assert!(QueuePolicy::deny_all().refusal("events").is_some());
        let reserving = all.reserving_input("custom.events");
        assert!(reserving.refusal("custom.events").is_some());
        for name in [
            "kinto.core.events",
            "{kinto.core.events}:wasm-listeners:v1:stream",
            "{wasm-listeners:runtime}:v1:stream",
        ] {
            assert!(reserving.refusal(name).is_some(), "{name}");
        }
        assert_eq!(reserving.refusal("kinto.core.events.copy"), None);
    }
}
