//! Writing an [`Event`] back as Kinto's JSON, and the event id derived from it.

use std::fmt::Write as _;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::kinto::EVENT_CLASSES;
use super::{Change, Event, Objects, Phase};

/// Length of [`Event::id`], in hex digits (128 bits of SHA-256).
const ID_HEX_LEN: usize = 32;

impl Event {
    /// Kinto's `event.payload`, rebuilt from the typed fields and [`Event::extras`], in
    /// Kinto's key order: `timestamp`, `action`, `uri`, `user_id` (`null` when `None`),
    /// `resource_name`, the ids present (`bucket_id`, `collection_id`, `group_id`,
    /// `record_id`), then the extras in their stored order (Kinto puts `account_id` right
    /// after `resource_name`; an account event has no other id, so the order holds).
    pub fn payload(&self) -> Map<String, Value> {
        let mut payload = Map::new();
        payload.insert("timestamp".into(), self.timestamp.into());
        payload.insert("action".into(), self.action.as_str().into());
        payload.insert("uri".into(), self.uri.as_str().into());
        payload.insert("user_id".into(), self.user_id.as_deref().into());
        payload.insert("resource_name".into(), self.resource_name.as_str().into());
        for (key, id) in self.ids() {
            if let Some(id) = id {
                payload.insert(key.into(), id.into());
            }
        }
        for (key, text) in &self.extras {
            payload.insert(key.clone(), json_value(text));
        }
        payload
    }

    /// The event as Kinto gives it to a listener, with the `event_class` of `phase`
    /// (omitted for [`Phase::Unknown`]): `{"event_class", "payload", "impacted_objects"}`
    /// or `{..., "read_objects"}`. Without objects ([`Objects::NotGiven`]) it is the bare
    /// payload, as kinto-redis pushes it.
    pub fn to_kinto_value(&self, phase: Phase) -> Value {
        let (key, objects, is_read): (_, Vec<Value>, _) = match &self.objects {
            Objects::NotGiven => return Value::Object(self.payload()),
            Objects::Changes(changes) => (
                "impacted_objects",
                changes.iter().map(change_value).collect(),
                false,
            ),
            Objects::Read(read) => (
                "read_objects",
                read.iter().map(|text| json_value(text)).collect(),
                true,
            ),
        };
        let mut event = Map::new();
        if let Some(class) = event_class(phase, is_read) {
            event.insert("event_class".into(), class.into());
        }
        event.insert("payload".into(), Value::Object(self.payload()));
        event.insert(key.into(), Value::Array(objects));
        Value::Object(event)
    }

    /// The event id: the first 32 hex digits of the SHA-256 of the compact JSON of
    /// `to_kinto_value(Phase::Unknown)`. The same for the same event (whatever its phase),
    /// different when anything in it differs. Compute it on the whole event, before
    /// [`Event::split`]: every part of an event shares its id.
    pub fn id(&self) -> String {
        let text = self.to_kinto_value(Phase::Unknown).to_string();
        let digest = Sha256::digest(text.as_bytes());
        let mut id = String::with_capacity(ID_HEX_LEN);
        for byte in &digest[..ID_HEX_LEN / 2] {
            // Writing to a String cannot fail.
            let _ = write!(id, "{byte:02x}");
        }
        id
    }

    /// The typed ids with their payload keys, in Kinto's order.
    fn ids(&self) -> [(&'static str, Option<&str>); 4] {
        [
            ("bucket_id", self.bucket_id.as_deref()),
            ("collection_id", self.collection_id.as_deref()),
            ("group_id", self.group_id.as_deref()),
            ("record_id", self.record_id.as_deref()),
        ]
    }
}

/// The class Kinto uses for this phase and kind of event; none for an unknown phase.
fn event_class(phase: Phase, is_read: bool) -> Option<&'static str> {
    let class = EVENT_CLASSES
        .iter()
        .find(|&&(_, p, r)| p == phase && r == is_read);
    class.map(|&(name, ..)| name)
}

/// An `impacted_objects` entry, keys in Kinto's order (`new` before `old`).
fn change_value(change: &Change) -> Value {
    let mut entry = Map::new();
    entry.insert("new".into(), json_value(&change.new));
    if let Some(old) = &change.old {
        entry.insert("old".into(), json_value(old));
    }
    Value::Object(entry)
}

/// The JSON value of a stored text. The parsers only store valid JSON; a text that is not
/// (an event built by hand) is kept as a JSON string rather than dropped.
fn json_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}
