use super::*;
use crate::Phase;

fn raw_context() -> types::Context {
    types::Context {
        event_id: "ev-1".into(),
        attempt: 1,
        phase: types::Phase::AfterCommit,
        source: types::Source::Cli,
        listener: "test".into(),
        part: types::Part { index: 1, count: 1 },
    }
}

fn raw_event(objects: types::Objects) -> types::Event {
    types::Event {
        action: types::Action::Create,
        resource_name: "record".into(),
        uri: "/buckets/blog/collections/articles/records/a1".into(),
        timestamp: 1453827335234,
        user_id: Some("basicauth:a1b2".into()),
        bucket_id: Some("blog".into()),
        collection_id: Some("articles".into()),
        group_id: None,
        record_id: Some("a1".into()),
        extras: vec![types::Extra {
            key: "note".into(),
            value: r#"{"x": [1, true]}"#.into(),
        }],
        objects,
    }
}

fn event(raw: types::Event) -> Event {
    Event::from_raw(raw, raw_context())
}

#[test]
fn payload_has_kintos_keys_in_kintos_order() {
    let json = event(raw_event(types::Objects::NotGiven)).payload_json();
    let expected = concat!(
        r#"{"timestamp":1453827335234,"action":"create","#,
        r#""uri":"/buckets/blog/collections/articles/records/a1","#,
        r#""user_id":"basicauth:a1b2","resource_name":"record","bucket_id":"blog","#,
        r#""collection_id":"articles","record_id":"a1","note":{"x":[1,true]}}"#,
    );
    assert_eq!(json, expected);
}

#[test]
fn anonymous_payload_has_null_user_and_no_missing_ids() {
    let mut raw = raw_event(types::Objects::NotGiven);
    raw.user_id = None;
    raw.record_id = None;
    raw.extras.clear();
    let payload = event(raw).payload();
    let keys: Vec<&str> = payload
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let expected = [
        "timestamp",
        "action",
        "uri",
        "user_id",
        "resource_name",
        "bucket_id",
        "collection_id",
    ];
    assert_eq!(keys, expected);
    assert_eq!(payload["user_id"], Value::Null);
}

#[test]
fn unparsable_extra_is_kept_as_a_string() {
    let mut raw = raw_event(types::Objects::NotGiven);
    raw.extras = vec![types::Extra {
        key: "odd".into(),
        value: "{not json".into(),
    }];
    let e = event(raw);
    assert_eq!(e.extra("odd"), Some(&Value::String("{not json".into())));
    assert_eq!(e.extra("note"), None);
}

#[test]
fn batch_change_ids_are_the_objects_own() {
    let change = |id: &str| types::Change {
        old: None,
        new: format!(r#"{{"id":"{id}"}}"#),
    };
    let e = event(raw_event(types::Objects::Changes(vec![
        change("a1"),
        change("a2"),
    ])));
    let ids: Vec<_> = e.changes().map(Change::id).collect();
    assert_eq!(ids, [Some("a1"), Some("a2")]);
    assert_eq!(e.record_id(), Some("a1"));
}

#[test]
fn context_is_carried() {
    let e = event(raw_event(types::Objects::Read(vec![])));
    assert_eq!(e.context().event_id(), "ev-1");
    assert_eq!(e.context().phase(), Phase::AfterCommit);
    assert_eq!((e.context().part_index(), e.context().part_count()), (1, 1));
    assert_eq!(e.objects(), &Objects::Read(vec![]));
}
