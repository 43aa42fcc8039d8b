//! What can be wrong with an event given to the runtime.

use serde_json::Value;

use super::Action;

/// Why bytes or a JSON value are not a Kinto event. Each message says what was wrong and
/// what a valid event holds instead.
#[derive(thiserror::Error, Debug)]
#[non_exhaustive]
pub enum EventError {
    /// The bytes are not JSON (or nest deeper than serde_json's limit of 128).
    #[error("not JSON: {0}")]
    NotJson(serde_json::Error),

    /// The JSON is not an object.
    #[error("expected a JSON object (a Kinto event) but found {found}")]
    NotAnObject {
        /// The JSON type found, with its article (`an array`).
        found: &'static str,
    },

    /// One element of a list of events is wrong.
    #[error("event at index {index} of the list: {error}")]
    InList {
        /// 0-based index of the element.
        index: usize,
        /// What is wrong with it.
        error: Box<EventError>,
    },

    /// An object with neither `payload` nor `action` at the top level.
    #[error(
        "expected a Kinto event: an object with `payload` (as a Kinto listener receives it) \
         or a bare payload with `action` (a kinto-redis queue entry), but this object has neither"
    )]
    NotAnEvent,

    /// A top-level key that is not part of a Kinto event.
    #[error(
        "unknown top-level key `{key}`: a Kinto event has `payload`, an optional `event_class`, \
         and `impacted_objects` or `read_objects` (keys beginning with `_` are ignored)"
    )]
    UnknownKey {
        /// The key.
        key: String,
    },

    /// A required payload field is absent.
    #[error("missing field `{field}` in the event payload: Kinto payloads always carry it")]
    MissingField {
        /// The field.
        field: &'static str,
    },

    /// A value of the wrong JSON type.
    #[error("`{field}` is {found}: expected {expected}")]
    WrongType {
        /// Where the value is (`payload`, `uri`, `impacted_objects`, ...).
        field: &'static str,
        /// The JSON type found, with its article.
        found: &'static str,
        /// What Kinto puts there.
        expected: &'static str,
    },

    /// `action` is not one of Kinto's four words.
    #[error("`action` is {value:?}: expected one of create, update, delete, read")]
    UnknownAction {
        /// The word given.
        value: String,
    },

    /// `timestamp` is not a non-negative integer that fits in 64 bits.
    #[error(
        "`timestamp` is {found}: expected a non-negative integer \
         (milliseconds since the epoch) that fits in 64 bits"
    )]
    BadTimestamp {
        /// The value given, as JSON text.
        found: String,
    },

    /// `event_class` is not one of the four classes of `kinto.core.events`.
    #[error(
        "`event_class` is {value:?}: expected one of ResourceChanged, AfterResourceChanged, \
         ResourceRead, AfterResourceRead"
    )]
    UnknownEventClass {
        /// The class given.
        value: String,
    },

    /// A read class with a write action, or the reverse.
    #[error(
        "`event_class` is {class} but `action` is `{action}`: ResourceRead and \
         AfterResourceRead go with `read`, ResourceChanged and AfterResourceChanged with \
         create, update and delete"
    )]
    ClassActionMismatch {
        /// The class given.
        class: &'static str,
        /// The payload's action.
        action: Action,
    },

    /// Both `impacted_objects` and `read_objects`.
    #[error("the event has both `impacted_objects` and `read_objects`: Kinto sends at most one")]
    BothObjectKinds,

    /// `impacted_objects` on a read.
    #[error("`impacted_objects` with action `read`: a read event carries `read_objects`")]
    ImpactedObjectsOnRead,

    /// `read_objects` on a create, update or delete.
    #[error(
        "`read_objects` with action `{action}`: a create, update or delete event carries \
         `impacted_objects`"
    )]
    ReadObjectsOnChange {
        /// The payload's action.
        action: Action,
    },

    /// An `impacted_objects` entry that is not an object.
    #[error("`impacted_objects[{index}]` is {found}: expected an object {{\"old\"?: ..., \"new\": ...}}")]
    ChangeNotObject {
        /// 0-based index of the entry.
        index: usize,
        /// The JSON type found, with its article.
        found: &'static str,
    },

    /// An `impacted_objects` entry with a key other than `old` and `new`.
    #[error(
        "`impacted_objects[{index}]` has an unknown key `{key}`: expected only `old` and `new`"
    )]
    ChangeUnknownKey {
        /// 0-based index of the entry.
        index: usize,
        /// The key.
        key: String,
    },

    /// An `impacted_objects` entry without `new`.
    #[error(
        "`impacted_objects[{index}]` has no `new`: Kinto gives the object after the change \
         (a tombstone for a delete)"
    )]
    ChangeMissingNew {
        /// 0-based index of the entry.
        index: usize,
    },
}

impl EventError {
    /// Wraps this error as the one of element `index` of a list.
    pub(crate) fn in_list(self, index: usize) -> Self {
        EventError::InList {
            index,
            error: Box::new(self),
        }
    }
}

/// The JSON type of `value` with its article, for messages: `an array`, `a string`, ...
pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
