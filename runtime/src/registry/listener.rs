//! A tenant's listeners: each a line of immutable, numbered versions, one of them active.
//!
//! A `PUT` of a definition makes the next version and activates it; a rollback activates
//! an earlier version's definition as a new version (the line only grows, so "which
//! version ran" always has one answer); pausing keeps everything and stops deliveries.
//! Versions beyond the tenant's `versions_kept` are dropped, oldest first (never the
//! active one).

use super::tenant::TenantId;
use crate::config::Mode;
use crate::limits::Limits;
use crate::policy::{EmailRules, QueueRules};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Version of the listener record format.
pub(crate) const LISTENER_VERSION: u32 = 1;
/// Longest listener name.
const MAX_NAME_LEN: usize = 64;
/// What a secret setting's value is answered as.
pub const REDACTED: &str = "<redacted>";

/// What a tenant sends to make a version: the `[[listener]]` fields that make sense for an
/// uploaded component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerDefinition {
    /// The component's digest (`POST .../components` answered it).
    pub component: String,
    /// `sync` needs the operator's grant (`quotas.sync_allowed`). Default `async`.
    #[serde(default = "async_mode")]
    pub mode: Mode,
    /// Actions it receives (`create`, `update`, `delete`). Default: all three.
    #[serde(default = "default_actions")]
    pub actions: Vec<String>,
    /// Resource names it receives. Absent: every resource.
    #[serde(default)]
    pub resources: Option<Vec<String>>,
    /// Buckets it receives events of (names or `*` patterns), within its tenant's scope.
    /// Absent: the whole scope.
    #[serde(default)]
    pub buckets: Option<Vec<String>>,
    /// Collections it receives events of (names or `*` patterns). Absent: all; present,
    /// an event of no collection (a bucket's, a group's) is not for it.
    #[serde(default)]
    pub collections: Option<Vec<String>>,
    /// Its settings, read by the guest with `settings.get`.
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    /// Settings never answered nor logged (their values read `<redacted>`).
    #[serde(default)]
    pub secret_settings: Vec<String>,
    /// Its per-call limits, each within the tenant's ceiling. Absent: the defaults, capped
    /// by the ceilings.
    #[serde(default)]
    pub limits: Option<Limits>,
    /// The senders and recipients it may use, within the tenant's.
    #[serde(default)]
    pub email: EmailRules,
    /// The queues it may push to.
    #[serde(default)]
    pub queue: QueueRules,
}

fn async_mode() -> Mode {
    Mode::Async
}

fn default_actions() -> Vec<String> {
    ["create", "update", "delete"].map(String::from).to_vec()
}

impl ListenerDefinition {
    /// A copy whose secret settings read `<redacted>`: what answers show.
    pub fn redacted(&self) -> ListenerDefinition {
        let mut shown = self.clone();
        for (key, value) in shown.settings.iter_mut() {
            if self.secret_settings.contains(key) {
                *value = REDACTED.to_owned();
            }
        }
        shown
    }
}

/// One version of a listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerVersion {
    /// 1, 2, ...: never reused.
    pub number: u32,
    /// What it runs.
    pub definition: ListenerDefinition,
    /// When it was made, ms since the epoch.
    pub created_ms: u64,
    /// Who made it: `operator`, or the token prefix of a tenant's token.
    pub by: String,
    /// The version it rolled back to, when it is a rollback.
    pub rollback_of: Option<u32>,
}

/// A tenant's listener, as the registry keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantListener {
    /// [`LISTENER_VERSION`].
    pub v: u32,
    /// Whose.
    pub tenant: TenantId,
    /// Its name, unique within the tenant (two tenants may both have a `mail`).
    pub name: String,
    /// The active version's number.
    pub active: u32,
    /// Paused: no deliveries run (async ones wait), nothing is deleted.
    pub paused: bool,
    /// Incremented by every change: `If-Match` compares it.
    pub revision: u64,
    /// The versions kept, oldest first.
    pub versions: Vec<ListenerVersion>,
}

impl TenantListener {
    /// The active version.
    pub fn active_version(&self) -> Option<&ListenerVersion> {
        self.versions.iter().find(|v| v.number == self.active)
    }

    /// Its name in records shared by every tenant: `tenant/name`.
    pub fn qualified_name(&self) -> String {
        format!("{}/{}", self.tenant, self.name)
    }

    /// Adds `definition` as the next version, activates it, and drops the oldest
    /// versions past `kept` (never the active one).
    pub(crate) fn push(
        &mut self,
        definition: ListenerDefinition,
        created_ms: u64,
        by: String,
        rollback_of: Option<u32>,
        kept: u32,
    ) -> Vec<ListenerVersion> {
        let number = self.versions.last().map_or(1, |v| v.number + 1);
        self.versions.push(ListenerVersion {
            number,
            definition,
            created_ms,
            by,
            rollback_of,
        });
        self.active = number;
        let kept = usize::try_from(kept.max(1)).unwrap_or(usize::MAX);
        let excess = self.versions.len().saturating_sub(kept);
        self.versions.drain(..excess).collect()
    }
}

/// Whether `name` may name a listener: 1 to 64 of `a-z`, `0-9`, `-` and `_`, starting
/// with a letter.
pub(crate) fn is_listener_name(name: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definition(component: &str) -> ListenerDefinition {
        serde_json::from_value(serde_json::json!({ "component": component })).unwrap()
    }

    #[test]
    fn versions_only_grow_and_the_oldest_go_past_the_quota() {
        let mut l = TenantListener {
            v: LISTENER_VERSION,
            tenant: "acme".parse().unwrap(),
            name: "mail".into(),
            active: 0,
            paused: false,
            revision: 0,
            versions: Vec::new(),
        };
        for n in 1..=4 {
            l.push(definition(&format!("d{n}")), n, "operator".into(), None, 3);
        }
        let numbers: Vec<u32> = l.versions.iter().map(|v| v.number).collect();
        assert_eq!(numbers, [2, 3, 4]);
        assert_eq!(l.active, 4);
        let earlier = l.versions[0].definition.clone();
        l.push(earlier, 5, "operator".into(), Some(2), 3);
        assert_eq!(
            (l.active, l.active_version().unwrap().rollback_of),
            (5, Some(2))
        );
        assert_eq!(l.active_version().unwrap().definition.component, "d2");
        assert_eq!(l.qualified_name(), "acme/mail");
    }

    #[test]
    fn definitions_default_to_async_on_every_action_and_hide_secrets() {
        let mut d = definition("abc");
        assert_eq!(d.mode, Mode::Async);
        assert_eq!(d.actions, ["create", "update", "delete"]);
        d.settings.insert("password".into(), "hunter2".into());
        d.settings.insert("from".into(), "a@example.com".into());
        d.secret_settings.push("password".into());
        let shown = d.redacted();
        assert_eq!(shown.settings["password"], REDACTED);
        assert_eq!(shown.settings["from"], "a@example.com");
        let typo = serde_json::from_value::<ListenerDefinition>(
            serde_json::json!({"component": "abc", "setting": {}}),
        );
        assert!(typo.unwrap_err().to_string().contains("setting"));
    }

    #[test]
    fn listener_names_are_plain() {
        for good in ["mail", "send_email", "a-1"] {
            assert!(is_listener_name(good), "{good}");
        }
        for bad in ["", "Mail", "1mail", "a/b", "a b", &"a".repeat(65)] {
            assert!(!is_listener_name(bad), "{bad}");
        }
    }
}
