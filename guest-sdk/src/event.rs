//! [`Event`]: a Kinto resource event, typed, with its payload rebuilt as Kinto sent it.

use serde_json::{Map, Value};

use crate::bindings::types;
use crate::objects::{Change, Objects};
use crate::Context;

/// What happened to the resource (Kinto's `ACTIONS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// A resource was created.
    Create,
    /// A resource was updated (`PUT` on an existing one, `PATCH`).
    Update,
    /// A resource was deleted.
    Delete,
    /// Resources were read (only with read listeners configured in Kinto).
    Read,
}

impl Action {
    /// The name Kinto uses: `create`, `update`, `delete` or `read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Read => "read",
        }
    }

    fn from_raw(raw: types::Action) -> Self {
        match raw {
            types::Action::Create => Action::Create,
            types::Action::Update => Action::Update,
            types::Action::Delete => Action::Delete,
            types::Action::Read => Action::Read,
        }
    }
}

/// A Kinto resource event (`event.payload` plus its objects) and the [`Context`] of this
/// call.
///
/// For a merged batch event, [`uri`](Self::uri) and the `*_id` accessors describe only the
/// first subrequest: take each object's own id from [`Change::id`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    action: Action,
    resource_name: String,
    uri: String,
    timestamp: u64,
    user_id: Option<String>,
    bucket_id: Option<String>,
    collection_id: Option<String>,
    group_id: Option<String>,
    record_id: Option<String>,
    extras: Vec<(String, Value)>,
    objects: Objects,
    context: Context,
}

impl Event {
    pub(crate) fn from_raw(raw: types::Event, context: types::Context) -> Self {
        Event {
            action: Action::from_raw(raw.action),
            resource_name: raw.resource_name,
            uri: raw.uri,
            timestamp: raw.timestamp,
            user_id: raw.user_id,
            bucket_id: raw.bucket_id,
            collection_id: raw.collection_id,
            group_id: raw.group_id,
            record_id: raw.record_id,
            extras: raw.extras.into_iter().map(parse_extra).collect(),
            objects: Objects::from_raw(raw.objects),
            context: Context::from_raw(context),
        }
    }

    /// `payload.action`.
    pub fn action(&self) -> Action {
        self.action
    }

    /// `payload.resource_name`: `bucket`, `collection`, `group`, `record`, `account`, ...
    pub fn resource_name(&self) -> &str {
        &self.resource_name
    }

    /// `payload.uri`: the request path without the `/v1` prefix.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    /// `payload.timestamp`: the collection timestamp, in milliseconds since the epoch.
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// `payload.user_id`: the authenticated principal (`basicauth:...`, `account:...`);
    /// `None` for an anonymous request.
    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    /// `payload.bucket_id`, when present.
    pub fn bucket_id(&self) -> Option<&str> {
        self.bucket_id.as_deref()
    }

    /// `payload.collection_id`, when present.
    pub fn collection_id(&self) -> Option<&str> {
        self.collection_id.as_deref()
    }

    /// `payload.group_id`, when present.
    pub fn group_id(&self) -> Option<&str> {
        self.group_id.as_deref()
    }

    /// `payload.record_id`, when present (absent for a `POST` on a plural endpoint, and
    /// only the first record's for a merged batch event).
    pub fn record_id(&self) -> Option<&str> {
        self.record_id.as_deref()
    }

    /// Every other payload key (`account_id`, keys of a newer Kinto, ...), in Kinto's order.
    pub fn extras(&self) -> &[(String, Value)] {
        &self.extras
    }

    /// The value of the payload key `key` among [`extras`](Self::extras).
    pub fn extra(&self, key: &str) -> Option<&Value> {
        self.extras.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The objects the event carries.
    pub fn objects(&self) -> &Objects {
        &self.objects
    }

    /// The changes the event carries, in order; none for a read or when Kinto gave no
    /// objects.
    pub fn changes(&self) -> std::slice::Iter<'_, Change> {
        self.objects.changes()
    }

    /// How and when this call happens.
    pub fn context(&self) -> &Context {
        &self.context
    }

    /// Kinto's `event.payload`, rebuilt with Kinto's keys in Kinto's order: `timestamp`,
    /// `action`, `uri`, `user_id` (`null` when anonymous), `resource_name`, then
    /// `bucket_id`, `collection_id`, `group_id`, `record_id` when present, then the extras.
    /// It is the document kinto-redis pushes onto its queue.
    pub fn payload(&self) -> Value {
        let mut map = Map::new();
        map.insert("timestamp".into(), self.timestamp.into());
        map.insert("action".into(), self.action.as_str().into());
        map.insert("uri".into(), self.uri.clone().into());
        map.insert("user_id".into(), self.user_id.clone().into());
        map.insert("resource_name".into(), self.resource_name.clone().into());
        let ids = [
            ("bucket_id", &self.bucket_id),
            ("collection_id", &self.collection_id),
            ("group_id", &self.group_id),
            ("record_id", &self.record_id),
        ];
        for (key, id) in ids {
            if let Some(id) = id {
                map.insert(key.into(), id.clone().into());
            }
        }
        map.extend(self.extras.iter().cloned());
        Value::Object(map)
    }

    /// [`payload`](Self::payload) as compact JSON text in Kinto's key order: the bytes
    /// kinto-redis pushes onto its queue (`LPUSH kinto.core.events <payload>`).
    pub fn payload_json(&self) -> String {
        // A `Value` always serializes.
        serde_json::to_string(&self.payload()).unwrap_or_default()
    }
}

/// An extra's value is JSON text from the host; text that does not parse (which the host
/// never sends) is kept as a string rather than dropped.
fn parse_extra(extra: types::Extra) -> (String, Value) {
    let value = serde_json::from_str(&extra.value).unwrap_or(Value::String(extra.value));
    (extra.key, value)
}

#[cfg(test)]
mod tests;
