//! The listener's own settings, from the runtime's configuration.

use std::fmt;

use crate::imports;

/// A listener's settings: the current ones from [`Settings::load`], or the ones to check
/// in [`Listener::validate_settings`](crate::Listener::validate_settings).
///
/// ```
/// use wasm_listeners_sdk::{Settings, SettingsError};
///
/// let settings = Settings::from_iter([("from", "kinto@example.com"), ("to", " ")]);
/// assert_eq!(settings.require("from"), Ok("kinto@example.com"));
/// assert_eq!(settings.require("to"), Err(SettingsError::Empty("to".into())));
/// assert_eq!(settings.get("cc"), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    entries: Vec<(String, String)>,
}

/// A setting that is missing or unusable. Its text names the key, for the operator to
/// fix; with `?` in a handler it becomes a permanent [`Error`](crate::Error).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsError {
    /// The key is not set.
    Missing(String),
    /// The key is set to an empty or blank value.
    Empty(String),
    /// The key's value is not acceptable, for the reason given.
    Invalid {
        /// The key.
        key: String,
        /// What is wrong with its value.
        reason: String,
    },
}

impl Settings {
    /// The listener's current settings, from the host (one call).
    pub fn load() -> Self {
        imports::settings().into_iter().collect()
    }

    /// The value of `key`, if set (the first one, if given twice).
    pub fn get(&self, key: &str) -> Option<&str> {
        let found = self.entries.iter().find(|(k, _)| k == key);
        found.map(|(_, value)| value.as_str())
    }

    /// The value of `key`; an error naming it when it is missing or blank (empty or only
    /// whitespace).
    pub fn require(&self, key: &str) -> Result<&str, SettingsError> {
        match self.get(key) {
            None => Err(SettingsError::Missing(key.to_owned())),
            Some(value) if value.trim().is_empty() => Err(SettingsError::Empty(key.to_owned())),
            Some(value) => Ok(value),
        }
    }

    /// Every `(key, value)` pair, in the order given (the host gives them sorted by key).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Settings from `(key, value)` pairs, in order.
impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Settings {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(pairs: I) -> Self {
        let entries = pairs.into_iter().map(|(k, v)| (k.into(), v.into()));
        Settings {
            entries: entries.collect(),
        }
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingsError::Missing(key) => write!(f, "missing required setting `{key}`"),
            SettingsError::Empty(key) => write!(f, "setting `{key}` is empty"),
            SettingsError::Invalid { key, reason } => {
                write!(f, "setting `{key}` is invalid: {reason}")
            }
        }
    }
}

impl std::error::Error for SettingsError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn require_names_missing_and_blank_keys() {
        let s = Settings::from_iter([("from", "a@x"), ("to", "  ")]);
        assert_eq!(s.require("from"), Ok("a@x"));
        assert_eq!(s.require("to"), Err(SettingsError::Empty("to".into())));
        assert_eq!(s.require("cc"), Err(SettingsError::Missing("cc".into())));
    }

    #[test]
    fn errors_name_the_key() {
        let texts = [
            SettingsError::Missing("cc".into()).to_string(),
            SettingsError::Empty("to".into()).to_string(),
            SettingsError::Invalid {
                key: "mib".into(),
                reason: "not a number".into(),
            }
            .to_string(),
        ];
        let expected = [
            "missing required setting `cc`",
            "setting `to` is empty",
            "setting `mib` is invalid: not a number",
        ];
        assert_eq!(texts, expected);
    }

    #[test]
    fn first_duplicate_wins_and_order_is_kept() {
        let s = Settings::from_iter([("k", "1"), ("a", "2"), ("k", "3")]);
        assert_eq!(s.get("k"), Some("1"));
        let keys: Vec<&str> = s.iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["k", "a", "k"]);
    }
}
