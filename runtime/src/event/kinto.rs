//! Reading Kinto's JSON into an [`Event`]: the listener shape and the bare kinto-redis
//! payload (see the `event` module documentation).

use serde_json::{Map, Value};

use super::error::json_kind;
use super::{Action, Change, Event, EventError, Incoming, Objects, Phase};

/// The classes of `kinto.core.events`: name, phase, and whether it is a read class.
pub(super) const EVENT_CLASSES: [(&str, Phase, bool); 4] = [
    ("ResourceChanged", Phase::BeforeCommit, false),
    ("AfterResourceChanged", Phase::AfterCommit, false),
    ("ResourceRead", Phase::BeforeCommit, true),
    ("AfterResourceRead", Phase::AfterCommit, true),
];

/// Parses one event, in either shape.
///
/// serde_json's recursion limit (128 levels) stays on: a deeper input is an
/// [`EventError::NotJson`], not a stack overflow.
pub fn parse_event(bytes: &[u8]) -> Result<Incoming, EventError> {
    parse_value(from_bytes(bytes)?)
}

/// Parses one event, or a JSON list of events (as the fixture files hold them), in order.
/// An error in a list names the element's index ([`EventError::InList`]).
pub fn parse_events(bytes: &[u8]) -> Result<Vec<Incoming>, EventError> {
    match from_bytes(bytes)? {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(index, item)| parse_value(item).map_err(|error| error.in_list(index)))
            .collect(),
        value => Ok(vec![parse_value(value)?]),
    }
}

/// Parses one event already read as JSON: the listener shape when the object has `payload`,
/// the bare kinto-redis payload when it has `action` instead.
///
/// A payload without `user_id` is read as `"user_id": null` (an anonymous request).
pub fn parse_value(value: Value) -> Result<Incoming, EventError> {
    let Value::Object(map) = value else {
        return Err(EventError::NotAnObject {
            found: json_kind(&value),
        });
    };
    if map.contains_key("payload") {
        parse_listener_shape(map)
    } else if map.contains_key("action") {
        let event = parse_payload(map)?;
        Ok(Incoming {
            event,
            phase: Phase::Unknown,
        })
    } else {
        Err(EventError::NotAnEvent)
    }
}

fn from_bytes(bytes: &[u8]) -> Result<Value, EventError> {
    serde_json::from_slice(bytes).map_err(EventError::NotJson)
}

/// The top-level values of a listener-shape event.
#[derive(Default)]
struct TopLevel {
    payload: Option<Value>,
    event_class: Option<Value>,
    impacted_objects: Option<Value>,
    read_objects: Option<Value>,
}

fn parse_listener_shape(map: Map<String, Value>) -> Result<Incoming, EventError> {
    let top = split_top_level(map)?;
    let mut event = parse_payload(payload_object(top.payload)?)?;
    let phase = parse_event_class(top.event_class, event.action)?;
    event.objects = parse_objects(top.impacted_objects, top.read_objects, event.action)?;
    Ok(Incoming { event, phase })
}

fn split_top_level(map: Map<String, Value>) -> Result<TopLevel, EventError> {
    let mut top = TopLevel::default();
    for (key, value) in map {
        let slot = match key.as_str() {
            "payload" => &mut top.payload,
            "event_class" => &mut top.event_class,
            "impacted_objects" => &mut top.impacted_objects,
            "read_objects" => &mut top.read_objects,
            // Not Kinto's: `_capture` was added by the plugin that captured the fixtures.
            _ if key.starts_with('_') => continue,
            _ => return Err(EventError::UnknownKey { key }),
        };
        *slot = Some(value);
    }
    Ok(top)
}

fn payload_object(payload: Option<Value>) -> Result<Map<String, Value>, EventError> {
    match payload {
        Some(Value::Object(map)) => Ok(map),
        Some(other) => Err(EventError::WrongType {
            field: "payload",
            found: json_kind(&other),
            expected: "an object (Kinto's event payload)",
        }),
        None => Err(EventError::NotAnEvent),
    }
}

fn parse_event_class(class: Option<Value>, action: Action) -> Result<Phase, EventError> {
    let Some(class) = class else {
        return Ok(Phase::Unknown);
    };
    let Value::String(name) = class else {
        return Err(EventError::WrongType {
            field: "event_class",
            found: json_kind(&class),
            expected: "a string",
        });
    };
    let Some(&(class, phase, is_read)) = EVENT_CLASSES.iter().find(|(n, ..)| *n == name) else {
        return Err(EventError::UnknownEventClass { value: name });
    };
    if is_read != (action == Action::Read) {
        return Err(EventError::ClassActionMismatch { class, action });
    }
    Ok(phase)
}

fn parse_objects(
    impacted: Option<Value>,
    read: Option<Value>,
    action: Action,
) -> Result<Objects, EventError> {
    match (impacted, read) {
        (Some(_), Some(_)) => Err(EventError::BothObjectKinds),
        (Some(_), None) if action == Action::Read => Err(EventError::ImpactedObjectsOnRead),
        (Some(list), None) => parse_changes(list).map(Objects::Changes),
        (None, Some(_)) if action != Action::Read => {
            Err(EventError::ReadObjectsOnChange { action })
        }
        (None, Some(list)) => {
            let items = list_items(list, "read_objects")?;
            Ok(Objects::Read(items.iter().map(Value::to_string).collect()))
        }
        (None, None) => Ok(Objects::NotGiven),
    }
}

fn list_items(value: Value, field: &'static str) -> Result<Vec<Value>, EventError> {
    match value {
        Value::Array(items) => Ok(items),
        other => Err(EventError::WrongType {
            field,
            found: json_kind(&other),
            expected: "a list",
        }),
    }
}

fn parse_changes(list: Value) -> Result<Vec<Change>, EventError> {
    let items = list_items(list, "impacted_objects")?
        .into_iter()
        .enumerate();
    items
        .map(|(index, item)| parse_change(index, item))
        .collect()
}

fn parse_change(index: usize, item: Value) -> Result<Change, EventError> {
    let Value::Object(map) = item else {
        let found = json_kind(&item);
        return Err(EventError::ChangeNotObject { index, found });
    };
    let (mut old, mut new) = (None, None);
    for (key, value) in map {
        match key.as_str() {
            "old" => old = Some(value.to_string()),
            "new" => new = Some(value.to_string()),
            _ => return Err(EventError::ChangeUnknownKey { index, key }),
        }
    }
    let new = new.ok_or(EventError::ChangeMissingNew { index })?;
    Ok(Change { old, new })
}

/// Reads a payload object into an [`Event`] without objects.
fn parse_payload(payload: Map<String, Value>) -> Result<Event, EventError> {
    let mut reader = PayloadReader::default();
    for (key, value) in payload {
        reader.read(key, value)?;
    }
    reader.finish()
}

/// The payload fields read so far; the required ones are checked by `finish`.
#[derive(Default)]
struct PayloadReader {
    action: Option<Action>,
    resource_name: Option<String>,
    uri: Option<String>,
    timestamp: Option<u64>,
    user_id: Option<String>,
    bucket_id: Option<String>,
    collection_id: Option<String>,
    group_id: Option<String>,
    record_id: Option<String>,
    extras: Vec<(String, String)>,
}

impl PayloadReader {
    fn read(&mut self, key: String, value: Value) -> Result<(), EventError> {
        match key.as_str() {
            "action" => self.action = Some(parse_action(value)?),
            "resource_name" => self.resource_name = Some(string(value, "resource_name")?),
            "uri" => self.uri = Some(string(value, "uri")?),
            "timestamp" => self.timestamp = Some(parse_timestamp(value)?),
            "user_id" => self.user_id = parse_user_id(value)?,
            _ => self.read_other(key, value),
        }
        Ok(())
    }

    /// An id when it is a string (as Kinto always sends it), else an extra: nothing is lost.
    fn read_other(&mut self, key: String, value: Value) {
        let id = match key.as_str() {
            "bucket_id" => Some(&mut self.bucket_id),
            "collection_id" => Some(&mut self.collection_id),
            "group_id" => Some(&mut self.group_id),
            "record_id" => Some(&mut self.record_id),
            _ => None,
        };
        match (id, value) {
            (Some(id), Value::String(text)) => *id = Some(text),
            (_, value) => self.extras.push((key, value.to_string())),
        }
    }

    fn finish(self) -> Result<Event, EventError> {
        Ok(Event {
            action: required(self.action, "action")?,
            resource_name: required(self.resource_name, "resource_name")?,
            uri: required(self.uri, "uri")?,
            timestamp: required(self.timestamp, "timestamp")?,
            user_id: self.user_id,
            bucket_id: self.bucket_id,
            collection_id: self.collection_id,
            group_id: self.group_id,
            record_id: self.record_id,
            extras: self.extras,
            objects: Objects::NotGiven,
        })
    }
}

fn required<T>(value: Option<T>, field: &'static str) -> Result<T, EventError> {
    value.ok_or(EventError::MissingField { field })
}

fn string(value: Value, field: &'static str) -> Result<String, EventError> {
    match value {
        Value::String(text) => Ok(text),
        other => Err(EventError::WrongType {
            field,
            found: json_kind(&other),
            expected: "a string",
        }),
    }
}

fn parse_action(value: Value) -> Result<Action, EventError> {
    match value {
        Value::String(word) => word.parse(),
        other => Err(EventError::WrongType {
            field: "action",
            found: json_kind(&other),
            expected: "a string: create, update, delete or read",
        }),
    }
}

fn parse_timestamp(value: Value) -> Result<u64, EventError> {
    value.as_u64().ok_or_else(|| EventError::BadTimestamp {
        found: value.to_string(),
    })
}

fn parse_user_id(value: Value) -> Result<Option<String>, EventError> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => Ok(Some(text)),
        other => Err(EventError::WrongType {
            field: "user_id",
            found: json_kind(&other),
            expected: "a string or null",
        }),
    }
}
