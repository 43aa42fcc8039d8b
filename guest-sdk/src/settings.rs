//! The listener's own settings, from the runtime's configuration.

use crate::bindings::settings as raw;

/// The value of one setting, if set.
pub fn get(key: &str) -> Option<String> {
    raw::get(key)
}

/// Every setting, sorted by key.
pub fn all() -> Vec<(String, String)> {
    raw::all()
}

/// A set of settings: the ones to check in
/// [`Listener::validate_settings`](crate::Listener::validate_settings), or the current
/// ones from [`Settings::load`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    entries: Vec<(String, String)>,
}

impl Settings {
    /// Settings from `(key, value)` pairs; a later duplicate key is ignored.
    pub fn new(entries: Vec<(String, String)>) -> Self {
        Settings { entries }
    }

    /// The listener's current settings, from the host (one call).
    pub fn load() -> Self {
        Settings::new(all())
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        let found = self.entries.iter().find(|(k, _)| k == key);
        found.map(|(_, value)| value.as_str())
    }

    /// The value of `key`, or a message naming it when it is missing or blank (empty or
    /// only whitespace). The message converts into a permanent
    /// [`Error`](crate::Error) with `?`.
    pub fn require(&self, key: &str) -> Result<&str, String> {
        match self.get(key) {
            None => Err(format!("missing required setting `{key}`")),
            Some(value) if value.trim().is_empty() => Err(format!("setting `{key}` is empty")),
            Some(value) => Ok(value),
        }
    }

    /// Every `(key, value)` pair, in the order given.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        Settings::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn require_names_missing_and_blank_keys() {
        let s = settings(&[("from", "a@x"), ("to", "  ")]);
        assert_eq!(s.require("from"), Ok("a@x"));
        assert_eq!(s.require("to"), Err("setting `to` is empty".to_string()));
        assert_eq!(
            s.require("cc"),
            Err("missing required setting `cc`".to_string())
        );
    }

    #[test]
    fn first_duplicate_wins() {
        assert_eq!(settings(&[("k", "1"), ("k", "2")]).get("k"), Some("1"));
    }
}
