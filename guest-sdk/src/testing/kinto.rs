//! Reading Kinto's JSON into [`Event`]s, as the runtime does (`runtime/src/event/kinto.rs`;
//! guest and host share no code), in the two shapes it accepts:
//!
//! 1. a listener's event, `{"event_class"?, "payload", "impacted_objects" | "read_objects"}`,
//!    as the fixtures hold them (keys beginning with `_` are ignored);
//! 2. a bare payload, as kinto-redis pushes it, recognised by `action` at the top level:
//!    no objects ([`Objects::NotGiven`](crate::Objects::NotGiven)), phase unknown.

use std::fmt;

use serde_json::{Map, Value};

use crate::bindings::types;
use crate::Event;

/// The typed payload keys that are kept as ids when their value is a string.
const IDS: [&str; 4] = ["bucket_id", "collection_id", "group_id", "record_id"];

/// Why JSON could not be read as Kinto events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a Kinto event: {}", self.0)
    }
}

impl std::error::Error for ParseError {}

/// Every event of `json`: a JSON list of events (as the fixture files hold them), or one
/// event. See [`event_from_json`] for the shapes and the context each event gets.
pub fn events_from_json(json: &str) -> Result<Vec<Event>, ParseError> {
    let value = serde_json::from_str(json).map_err(|e| error(format!("not JSON: {e}")))?;
    match value {
        Value::Array(items) => items.into_iter().enumerate().map(list_item).collect(),
        value => Ok(vec![parse_event(value)?]),
    }
}

/// The event of `json`, or the first of a JSON list (a fixture's `ResourceChanged`).
///
/// `json` is a listener's event (`{"event_class"?, "payload", "impacted_objects" |
/// "read_objects"}`, keys beginning with `_` ignored) or a bare kinto-redis payload
/// (recognised by `action` at the top level; no objects). The event's
/// [`Context`](crate::Context) is a first delivery on the command line: event id
/// `test-event`, attempt 1, listener `test`, part 1 of 1, source
/// [`Cli`](crate::Source::Cli), phase from `event_class` (`ResourceChanged` and
/// `ResourceRead` before the commit, `After...` after it), else before the commit, as a
/// Kinto listener gets it, and [`Unknown`](crate::Phase::Unknown) for a bare payload.
pub fn event_from_json(json: &str) -> Result<Event, ParseError> {
    let first = events_from_json(json)?.into_iter().next();
    first.ok_or_else(|| error("an empty list holds no event"))
}

fn error(message: impl Into<String>) -> ParseError {
    ParseError(message.into())
}

fn list_item((index, item): (usize, Value)) -> Result<Event, ParseError> {
    parse_event(item).map_err(|ParseError(message)| error(format!("item {index}: {message}")))
}

fn parse_event(value: Value) -> Result<Event, ParseError> {
    let Value::Object(map) = value else {
        return Err(error(format!("{value} is not an object")));
    };
    let (event, phase) = if map.contains_key("payload") {
        listener_shape(map)?
    } else if map.contains_key("action") {
        (parse_payload(map)?, types::Phase::Unknown)
    } else {
        return Err(error("neither `payload` nor `action` at the top level"));
    };
    Ok(Event::from_raw(event, context(phase)))
}

fn context(phase: types::Phase) -> types::Context {
    types::Context {
        event_id: "test-event".into(),
        attempt: 1,
        phase,
        source: types::Source::Cli,
        listener: "test".into(),
        part: types::Part { index: 1, count: 1 },
    }
}

fn listener_shape(mut map: Map<String, Value>) -> Result<(types::Event, types::Phase), ParseError> {
    let payload = map.remove("payload");
    let phase = map
        .remove("event_class")
        .map_or(Ok(types::Phase::BeforeCommit), phase)?;
    let objects = objects(map.remove("impacted_objects"), map.remove("read_objects"))?;
    if let Some(key) = map.keys().find(|key| !key.starts_with('_')) {
        return Err(error(format!("unknown key `{key}`")));
    }
    let Some(Value::Object(payload)) = payload else {
        return Err(error("`payload` is not an object"));
    };
    let event = parse_payload(payload)?;
    Ok((types::Event { objects, ..event }, phase))
}

fn phase(class: Value) -> Result<types::Phase, ParseError> {
    match class.as_str() {
        Some("ResourceChanged" | "ResourceRead") => Ok(types::Phase::BeforeCommit),
        Some("AfterResourceChanged" | "AfterResourceRead") => Ok(types::Phase::AfterCommit),
        _ => Err(error(format!("unknown `event_class` {class}"))),
    }
}

fn objects(impacted: Option<Value>, read: Option<Value>) -> Result<types::Objects, ParseError> {
    match (impacted, read) {
        (None, None) => Ok(types::Objects::NotGiven),
        (Some(list), None) => {
            let changes = list_of(list, "impacted_objects")?.into_iter().map(change);
            Ok(types::Objects::Changes(changes.collect::<Result<_, _>>()?))
        }
        (None, Some(list)) => {
            let objects = list_of(list, "read_objects")?;
            Ok(types::Objects::Read(
                objects.iter().map(Value::to_string).collect(),
            ))
        }
        (Some(_), Some(_)) => Err(error("both `impacted_objects` and `read_objects`")),
    }
}

fn list_of(value: Value, field: &str) -> Result<Vec<Value>, ParseError> {
    match value {
        Value::Array(items) => Ok(items),
        _ => Err(error(format!("`{field}` is not a list"))),
    }
}

/// One entry of `impacted_objects`: `new`, and `old` except on create.
fn change(item: Value) -> Result<types::Change, ParseError> {
    let Value::Object(mut map) = item else {
        return Err(error(format!("impacted object {item} is not an object")));
    };
    let new = map
        .remove("new")
        .ok_or_else(|| error("impacted object without `new`"))?;
    let old = map.remove("old").map(|old| old.to_string());
    Ok(types::Change {
        old,
        new: new.to_string(),
    })
}

/// Reads a payload, keeping every key: the typed ones in fields, the others as extras in
/// Kinto's order.
fn parse_payload(payload: Map<String, Value>) -> Result<types::Event, ParseError> {
    let mut reader = PayloadReader::default();
    for (key, value) in payload {
        reader.read(key, value)?;
    }
    reader.finish()
}

/// The payload fields read so far; `finish` checks the required ones.
#[derive(Default)]
struct PayloadReader {
    action: Option<types::Action>,
    resource_name: Option<String>,
    uri: Option<String>,
    timestamp: Option<u64>,
    user_id: Option<String>,
    ids: [Option<String>; 4],
    extras: Vec<types::Extra>,
}

impl PayloadReader {
    fn read(&mut self, key: String, value: Value) -> Result<(), ParseError> {
        match key.as_str() {
            "action" => self.action = Some(action(&value)?),
            "resource_name" => self.resource_name = Some(string(value, "resource_name")?),
            "uri" => self.uri = Some(string(value, "uri")?),
            "timestamp" => self.timestamp = Some(timestamp(&value)?),
            "user_id" if value.is_null() => self.user_id = None,
            "user_id" => self.user_id = Some(string(value, "user_id")?),
            _ => self.read_other(key, value),
        }
        Ok(())
    }

    /// An id when it is a string (as Kinto always sends it), else an extra.
    fn read_other(&mut self, key: String, value: Value) {
        let slot = IDS.iter().position(|id| *id == key);
        match (slot, value) {
            (Some(slot), Value::String(id)) => self.ids[slot] = Some(id),
            (_, value) => self.extras.push(types::Extra {
                key,
                value: value.to_string(),
            }),
        }
    }

    fn finish(self) -> Result<types::Event, ParseError> {
        let [bucket_id, collection_id, group_id, record_id] = self.ids;
        Ok(types::Event {
            action: required(self.action, "action")?,
            resource_name: required(self.resource_name, "resource_name")?,
            uri: required(self.uri, "uri")?,
            timestamp: required(self.timestamp, "timestamp")?,
            user_id: self.user_id,
            bucket_id,
            collection_id,
            group_id,
            record_id,
            extras: self.extras,
            objects: types::Objects::NotGiven,
        })
    }
}

fn required<T>(value: Option<T>, field: &str) -> Result<T, ParseError> {
    value.ok_or_else(|| error(format!("`payload.{field}` is missing")))
}

fn string(value: Value, field: &str) -> Result<String, ParseError> {
    match value {
        Value::String(text) => Ok(text),
        other => Err(error(format!("`payload.{field}` is {other}, not a string"))),
    }
}

fn action(value: &Value) -> Result<types::Action, ParseError> {
    match value.as_str() {
        Some("create") => Ok(types::Action::Create),
        Some("update") => Ok(types::Action::Update),
        Some("delete") => Ok(types::Action::Delete),
        Some("read") => Ok(types::Action::Read),
        _ => Err(error(format!(
            "`payload.action` is {value}, not create, update, delete or read"
        ))),
    }
}

fn timestamp(value: &Value) -> Result<u64, ParseError> {
    let bad = || error(format!("`payload.timestamp` is {value}, not milliseconds"));
    value.as_u64().ok_or_else(bad)
}

#[cfg(test)]
mod tests;
