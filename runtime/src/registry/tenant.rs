//! A tenant: who may run listeners here, on which Kinto buckets, within which quotas.

use crate::limits::Limits;
use crate::policy::EmailRules;
use serde::{Deserialize, Serialize};

/// Version of the tenant record format.
pub(crate) const TENANT_VERSION: u32 = 1;

/// Listeners a tenant may have by default.
pub(crate) const DEFAULT_MAX_LISTENERS: u32 = 10;
/// The largest component a tenant may upload by default: a Python component is ~19 MB.
pub(crate) const DEFAULT_MAX_COMPONENT_BYTES: u64 = 32 * 1024 * 1024;
/// What a tenant's components may take on disk together, by default.
pub(crate) const DEFAULT_MAX_STORED_BYTES: u64 = 256 * 1024 * 1024;
/// Versions kept per listener by default; older ones are dropped, oldest first.
pub(crate) const DEFAULT_VERSIONS_KEPT: u32 = 10;
/// A tenant's listener calls running at once, by default.
pub(crate) const DEFAULT_CALLS_IN_FLIGHT: u32 = 16;
/// Emails a tenant's listeners may send per minute, by default.
pub(crate) const DEFAULT_EMAILS_PER_MINUTE: u32 = 60;
/// Emails a tenant's listeners may send per day, by default.
pub(crate) const DEFAULT_EMAILS_PER_DAY: u32 = 1_000;
/// Items one of a tenant's queues may hold, by default.
pub(crate) const DEFAULT_MAX_QUEUE_LENGTH: u64 = 10_000;
/// Longest tenant id.
const MAX_ID_LEN: usize = 40;

/// A tenant's id: 1 to 40 of `a-z`, `0-9` and `-`, starting with a letter. It names the
/// tenant in URLs, records and queue prefixes, so it is plain and case-free.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    /// The id as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TenantId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A tenant id that breaks the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a tenant id: use 1 to 40 of a-z, 0-9 and `-`, starting with a letter")]
pub struct BadTenantId(pub String);

impl TryFrom<String> for TenantId {
    type Error = BadTenantId;

    fn try_from(id: String) -> Result<Self, Self::Error> {
        let fits = (1..=MAX_ID_LEN).contains(&id.len())
            && id.starts_with(|c: char| c.is_ascii_lowercase())
            && id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        match fits {
            true => Ok(TenantId(id)),
            false => Err(BadTenantId(id)),
        }
    }
}

impl std::str::FromStr for TenantId {
    type Err = BadTenantId;

    fn from_str(id: &str) -> Result<Self, Self::Err> {
        TenantId::try_from(id.to_owned())
    }
}

impl From<TenantId> for String {
    fn from(id: TenantId) -> String {
        id.0
    }
}

/// What a tenant may use. The operator sets them; the tenant's listeners are checked
/// against them before anything runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Quotas {
    /// Listeners at most.
    pub max_listeners: u32,
    /// The largest component, in bytes.
    pub max_component_bytes: u64,
    /// The tenant's components together, in bytes.
    pub max_stored_bytes: u64,
    /// Versions kept per listener.
    pub versions_kept: u32,
    /// The most each of a listener's per-call limits may be (fuel, memory, deadline, the
    /// log capture, the host limits): a listener asking for more is refused.
    pub limits: Limits,
    /// Calls of the tenant's listeners running at once; past it a call ends `capacity`.
    pub calls_in_flight: u32,
    /// Emails per minute, all listeners together.
    pub emails_per_minute: u32,
    /// Emails per day, all listeners together.
    pub emails_per_day: u32,
    /// The senders and recipients the tenant's listeners may use (a layer of the email
    /// policy, between the operator's and the listener's). Default: none.
    pub email: EmailRules,
    /// Whether the tenant may register sync listeners (they run inside Kinto's requests).
    pub sync_allowed: bool,
    /// What every queue name its listeners may push to starts with. Absent: the tenant's
    /// id and a dot (`acme.`); empty: any name (the operator's explicit choice).
    pub queue_prefix: Option<String>,
    /// Items one of its queues may hold: a push onto a queue holding that many answers
    /// `unavailable` (its consumer is behind; the delivery is retried) and pushes nothing.
    pub max_queue_length: u64,
}

impl Default for Quotas {
    fn default() -> Self {
        Quotas {
            max_listeners: DEFAULT_MAX_LISTENERS,
            max_component_bytes: DEFAULT_MAX_COMPONENT_BYTES,
            max_stored_bytes: DEFAULT_MAX_STORED_BYTES,
            versions_kept: DEFAULT_VERSIONS_KEPT,
            limits: Limits::default(),
            calls_in_flight: DEFAULT_CALLS_IN_FLIGHT,
            emails_per_minute: DEFAULT_EMAILS_PER_MINUTE,
            emails_per_day: DEFAULT_EMAILS_PER_DAY,
            email: EmailRules::default(),
            sync_allowed: false,
            queue_prefix: None,
            max_queue_length: DEFAULT_MAX_QUEUE_LENGTH,
        }
    }
}

/// A tenant, as the registry keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// [`TENANT_VERSION`].
    pub v: u32,
    /// Its id.
    pub id: TenantId,
    /// Who it is, in words (for the operator).
    pub name: String,
    /// The Kinto buckets its listeners may get events from: names, or patterns where `*`
    /// stands for any run of characters (`shop-*`). Empty: none.
    pub buckets: Vec<String>,
    /// What it may use.
    pub quotas: Quotas,
    /// A disabled tenant's tokens are refused and its listeners get no events.
    pub disabled: bool,
    /// Incremented by every change: `If-Match` compares it.
    pub revision: u64,
    /// When it was created, ms since the epoch.
    pub created_ms: u64,
    /// When it last changed, ms since the epoch.
    pub updated_ms: u64,
}

impl Tenant {
    /// Whether an event of bucket `bucket` is in its scope (an event of no bucket never
    /// is).
    pub fn covers(&self, bucket: Option<&str>) -> bool {
        bucket.is_some_and(|b| self.buckets.iter().any(|p| glob_matches(p, b)))
    }

    /// The prefix its listeners' queue names are confined to.
    pub fn queue_prefix(&self) -> String {
        let prefix = self.quotas.queue_prefix.as_ref();
        prefix.map_or_else(|| format!("{}.", self.id), String::clone)
    }
}

/// What the operator sends to create a tenant or change one; a missing field keeps its
/// value (its default, on creation).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantChange {
    /// See [`Tenant::name`].
    pub name: Option<String>,
    /// See [`Tenant::buckets`].
    pub buckets: Option<Vec<String>>,
    /// See [`Tenant::quotas`]: given whole (its own missing fields take their defaults).
    pub quotas: Option<Quotas>,
    /// See [`Tenant::disabled`].
    pub disabled: Option<bool>,
}

/// A bucket pattern that cannot match a Kinto bucket id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a bucket name or pattern: use Kinto's bucket id characters (a-z, A-Z, 0-9, `-`, `_`) and `*` for any run of them")]
pub struct BadBucketPattern(pub String);

/// Checks a bucket pattern: Kinto's bucket id characters and `*`.
pub(crate) fn check_bucket_pattern(pattern: &str) -> Result<(), BadBucketPattern> {
    let fits = !pattern.is_empty()
        && pattern
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '*'));
    match fits {
        true => Ok(()),
        false => Err(BadBucketPattern(pattern.to_owned())),
    }
}

/// Whether `text` matches `pattern`, where `*` stands for any run of characters (none
/// included) and every other character for itself.
pub(crate) fn glob_matches(pattern: &str, text: &str) -> bool {
    let mut pieces = pattern.split('*');
    // The first piece anchors the start; the last, the end; the ones between are found
    // leftmost, which is enough when `*` is the only wildcard.
    let first = pieces.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let mut pieces: Vec<&str> = pieces.collect();
    let Some(last) = pieces.pop() else {
        return rest.is_empty();
    };
    for piece in pieces {
        match rest.find(piece) {
            Some(at) => rest = &rest[at + piece.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_runs_of_anything() {
        let cases = [
            ("shop", "shop", true),
            ("shop", "shops", false),
            ("shop-*", "shop-", true),
            ("shop-*", "shop-eu", true),
            ("shop-*", "shop", false),
            ("*", "", true),
            ("*-eu", "shop-eu", true),
            ("*-eu", "shop-us", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxcyyb", false),
            ("a*a", "a", false),
            ("a*a", "aa", true),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(glob_matches(pattern, text), expected, "{pattern} ~ {text}");
        }
    }

    #[test]
    fn ids_are_plain_lowercase_names() {
        for good in ["a", "acme", "team-7", &"a".repeat(40)] {
            assert_eq!(good.parse::<TenantId>().unwrap().as_str(), good);
        }
        for bad in [
            "",
            "Acme",
            "7up",
            "-a",
            "a_b",
            "a.b",
            "a/b",
            &"a".repeat(41),
        ] {
            let e = bad.parse::<TenantId>().unwrap_err();
            assert!(e.to_string().contains("is not a tenant id"), "{e}");
        }
        let parsed: Result<TenantId, _> = serde_json::from_str("\"Acme\"");
        assert!(parsed.is_err(), "deserialising checks the rule too");
    }

    #[test]
    fn bucket_patterns_use_kinto_characters_and_stars() {
        for good in ["shop", "shop-*", "*", "a_b-C9"] {
            assert_eq!(check_bucket_pattern(good), Ok(()));
        }
        for bad in ["", "shop/records", "a b", "shop?"] {
            assert!(check_bucket_pattern(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn quotas_default_field_by_field() {
        let q: Quotas = serde_json::from_str(r#"{"max_listeners": 3}"#).unwrap();
        assert_eq!(q.max_listeners, 3);
        assert_eq!(q.versions_kept, DEFAULT_VERSIONS_KEPT);
        assert!(!q.sync_allowed, "sync is granted, never a default");
        let unknown = serde_json::from_str::<Quotas>(r#"{"max_listener": 3}"#).unwrap_err();
        assert!(unknown.to_string().contains("max_listener"), "{unknown}");
    }
}
