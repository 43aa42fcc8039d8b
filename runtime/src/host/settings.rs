//! The `settings` capability: the listener's own settings, read-only.

use crate::bindings::settings::Host;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One call's view of its listener's settings.
#[derive(Debug, Clone, Default)]
pub(crate) struct SettingsCtx {
    values: Arc<BTreeMap<String, String>>,
}

impl SettingsCtx {
    /// Settings shared by every call of one listener.
    pub(crate) fn new(values: Arc<BTreeMap<String, String>>) -> SettingsCtx {
        SettingsCtx { values }
    }
}

impl Host for SettingsCtx {
    fn get(&mut self, key: String) -> Option<String> {
        self.values.get(&key).cloned()
    }

    fn all(&mut self) -> Vec<(String, String)> {
        let pairs = self.values.iter();
        pairs.map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}
