//! Host types -> the generated WIT types.

use crate::bindings::types as wit;
use crate::event::{Action, Change, Delivery, Event, Objects, Part, Phase, Source};

pub(crate) fn event(e: &Event) -> wit::Event {
    wit::Event {
        action: action(e.action),
        resource_name: e.resource_name.clone(),
        uri: e.uri.clone(),
        timestamp: e.timestamp,
        user_id: e.user_id.clone(),
        bucket_id: e.bucket_id.clone(),
        collection_id: e.collection_id.clone(),
        group_id: e.group_id.clone(),
        record_id: e.record_id.clone(),
        extras: e.extras.iter().map(extra).collect(),
        objects: objects(&e.objects),
    }
}

fn extra((key, value): &(String, String)) -> wit::Extra {
    wit::Extra {
        key: key.clone(),
        value: value.clone(),
    }
}

fn objects(o: &Objects) -> wit::Objects {
    match o {
        Objects::NotGiven => wit::Objects::NotGiven,
        Objects::Read(list) => wit::Objects::Read(list.clone()),
        Objects::Changes(list) => {
            let change = |c: &Change| wit::Change {
                old: c.old.clone(),
                new: c.new.clone(),
            };
            wit::Objects::Changes(list.iter().map(change).collect())
        }
    }
}

fn action(a: Action) -> wit::Action {
    match a {
        Action::Create => wit::Action::Create,
        Action::Update => wit::Action::Update,
        Action::Delete => wit::Action::Delete,
        Action::Read => wit::Action::Read,
    }
}

pub(crate) fn context(d: &Delivery, listener: &str, part: Part) -> wit::Context {
    wit::Context {
        event_id: d.event_id.clone(),
        attempt: d.attempt,
        phase: match d.phase {
            Phase::BeforeCommit => wit::Phase::BeforeCommit,
            Phase::AfterCommit => wit::Phase::AfterCommit,
            Phase::Unknown => wit::Phase::Unknown,
        },
        source: match d.source {
            Source::Http => wit::Source::Http,
            Source::KintoPlugin => wit::Source::KintoPlugin,
            Source::KintoRedis => wit::Source::KintoRedis,
            Source::Cli => wit::Source::Cli,
        },
        listener: listener.to_owned(),
        part: wit::Part {
            index: part.index,
            count: part.count,
        },
    }
}
