//! The objects an event carries: Kinto's `impacted_objects` or `read_objects`.

use std::sync::OnceLock;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::bindings::types;
use crate::Error;

/// The objects of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Objects {
    /// Kinto gave no objects: a kinto-redis queue entry carries the payload alone.
    /// Distinct from an empty list.
    NotGiven,
    /// `impacted_objects` of a create, update or delete, in Kinto's order: one entry per
    /// changed object (a batch request merges several changes into one event).
    Changes(Vec<Change>),
    /// `read_objects` of a read (empty for a `HEAD` request).
    Read(Vec<Object>),
}

/// One entry of Kinto's `impacted_objects`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The object before the change; `None` on create.
    pub old: Option<Object>,
    /// The object after the change. On delete, Kinto's tombstone
    /// (`{"id", "last_modified", "deleted": true}`). With `Response-Behavior: light`,
    /// only the fields the request changed (no `id`).
    pub new: Object,
}

/// One Kinto object (record, collection, bucket, ...), as the JSON text Kinto gave.
#[derive(Debug, Clone)]
pub struct Object {
    json: String,
    /// The `id`, parsed on first use.
    id: OnceLock<Option<String>>,
}

impl Objects {
    pub(crate) fn from_raw(raw: types::Objects) -> Self {
        match raw {
            types::Objects::NotGiven => Objects::NotGiven,
            types::Objects::Changes(list) => {
                Objects::Changes(list.into_iter().map(Change::from_raw).collect())
            }
            types::Objects::Read(list) => {
                Objects::Read(list.into_iter().map(Object::from_json).collect())
            }
        }
    }

    /// The changes, in order; none for `NotGiven` and `Read`.
    pub fn changes(&self) -> std::slice::Iter<'_, Change> {
        match self {
            Objects::Changes(changes) => changes.iter(),
            Objects::NotGiven | Objects::Read(_) => [].iter(),
        }
    }
}

impl Change {
    fn from_raw(raw: types::Change) -> Self {
        Change {
            old: raw.old.map(Object::from_json),
            new: Object::from_json(raw.new),
        }
    }

    /// The changed object's own `id`: `new`'s, else `old`'s (a light response leaves it
    /// out of `new`). Not the event's `record_id`, which names only the first object of
    /// a merged batch event.
    pub fn id(&self) -> Option<&str> {
        self.new
            .id()
            .or_else(|| self.old.as_ref().and_then(Object::id))
    }

    /// `new`, deserialized into `T`.
    pub fn new_as<T: DeserializeOwned>(&self) -> Result<T, Error> {
        self.new.as_()
    }

    /// `old`, deserialized into `T`; `None` on create.
    pub fn old_as<T: DeserializeOwned>(&self) -> Result<Option<T>, Error> {
        self.old.as_ref().map(Object::as_).transpose()
    }
}

impl Object {
    /// An object from its JSON text.
    pub fn from_json(json: impl Into<String>) -> Self {
        Object {
            json: json.into(),
            id: OnceLock::new(),
        }
    }

    /// The JSON text, as Kinto gave it.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The parsed JSON (`Null` if the text is not JSON, which the host never sends).
    pub fn value(&self) -> Value {
        serde_json::from_str(&self.json).unwrap_or(Value::Null)
    }

    /// The object deserialized into `T`. A mismatch is a permanent [`Error`]: the same
    /// object will not fit better on a retry.
    pub fn as_<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_str(&self.json)
            .map_err(|e| Error::permanent(format!("object does not have the expected shape: {e}")))
    }

    /// The object's `id`, when it has a string one.
    pub fn id(&self) -> Option<&str> {
        self.id.get_or_init(|| parse_id(&self.json)).as_deref()
    }
}

/// Objects are equal when their JSON text is.
impl PartialEq for Object {
    fn eq(&self, other: &Self) -> bool {
        self.json == other.json
    }
}

impl Eq for Object {}

/// Reads only the `id` key; every other key is skipped without being built.
fn parse_id(json: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct IdOnly {
        id: Option<Value>,
    }
    match serde_json::from_str::<IdOnly>(json) {
        Ok(IdOnly {
            id: Some(Value::String(id)),
        }) => Some(id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(old: Option<&str>, new: &str) -> Change {
        Change {
            old: old.map(Object::from_json),
            new: Object::from_json(new),
        }
    }

    #[test]
    fn id_prefers_new_then_old() {
        assert_eq!(
            change(Some(r#"{"id":"a"}"#), r#"{"id":"b"}"#).id(),
            Some("b")
        );
        assert_eq!(
            change(Some(r#"{"id":"a"}"#), r#"{"title":"light"}"#).id(),
            Some("a")
        );
        assert_eq!(change(None, r#"{"title":"x"}"#).id(), None);
    }

    #[test]
    fn id_ignores_non_string_ids_and_bad_json() {
        assert_eq!(Object::from_json(r#"{"id": 3}"#).id(), None);
        assert_eq!(Object::from_json("not json").id(), None);
        assert_eq!(
            Object::from_json(r#"{"a":{"id":"inner"},"id":"x\"y"}"#).id(),
            Some("x\"y")
        );
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Record {
        id: String,
        title: String,
    }

    #[test]
    fn new_as_and_old_as_deserialize() {
        let c = change(None, r#"{"id":"r1","title":"hi","last_modified":1}"#);
        let expected = Record {
            id: "r1".into(),
            title: "hi".into(),
        };
        assert_eq!(c.new_as::<Record>(), Ok(expected));
        assert_eq!(c.old_as::<Record>(), Ok(None));
    }

    #[test]
    fn shape_mismatch_is_permanent() {
        let c = change(None, r#"{"id":"r1"}"#);
        let err = c.new_as::<Record>().unwrap_err();
        assert!(matches!(&err, Error::Permanent(m) if m.contains("missing field `title`")));
    }

    #[test]
    fn changes_is_empty_unless_changes() {
        assert_eq!(Objects::NotGiven.changes().count(), 0);
        assert_eq!(
            Objects::Read(vec![Object::from_json("{}")])
                .changes()
                .count(),
            0
        );
        let objects = Objects::Changes(vec![change(None, "{}"), change(None, "{}")]);
        assert_eq!(objects.changes().count(), 2);
    }
}
