use std::path::PathBuf;

use serde_json::Value;

use super::*;
use crate::{Action, Objects, Phase, Source};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/kinto-events")
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixtures().join(name)).unwrap()
}

/// The fixture files that hold listener events (not the indexes and queue dumps).
fn event_files() -> Vec<(String, Value)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let other = ["scenarios", "redis-", "filtered-"];
        if name.ends_with(".json") && !other.iter().any(|p| name.starts_with(p)) {
            let value = serde_json::from_str(&fixture(&name)).unwrap();
            files.push((name, value));
        }
    }
    files
}

fn expected_phase(item: &Value) -> Phase {
    match item["event_class"].as_str().unwrap() {
        "ResourceChanged" | "ResourceRead" => Phase::BeforeCommit,
        _ => Phase::AfterCommit,
    }
}

fn objects_as_values(objects: &Objects) -> Value {
    match objects {
        Objects::NotGiven => Value::Null,
        Objects::Read(list) => list.iter().map(|o| o.value()).collect(),
        Objects::Changes(list) => list
            .iter()
            .map(|c| match &c.old {
                None => serde_json::json!({ "new": c.new.value() }),
                Some(old) => serde_json::json!({ "old": old.value(), "new": c.new.value() }),
            })
            .collect(),
    }
}

#[test]
fn every_fixture_event_keeps_its_payload_phase_and_objects() {
    let mut seen = 0;
    for (name, items) in event_files() {
        let events = events_from_json(&fixture(&name)).unwrap();
        let items = items.as_array().unwrap();
        assert_eq!(events.len(), items.len(), "{name}");
        for (event, item) in events.iter().zip(items) {
            assert_eq!(event.payload(), item["payload"], "{name}");
            assert_eq!(event.context().phase(), expected_phase(item), "{name}");
            let objects = item.get("impacted_objects").or(item.get("read_objects"));
            assert_eq!(
                &objects_as_values(event.objects()),
                objects.unwrap(),
                "{name}"
            );
            seen += 1;
        }
    }
    assert!(seen >= 90, "only {seen} events read");
}

/// kinto-redis's own bytes: every entry it pushed reads as a bare payload whose rebuilt
/// JSON is the very same string.
#[test]
fn every_kinto_redis_entry_round_trips_byte_for_byte() {
    let mut seen = 0;
    for file in [
        "redis-queue-entries.json",
        "redis-queue-entries-emailer.json",
    ] {
        let scenarios: Value = serde_json::from_str(&fixture(file)).unwrap();
        for scenario in scenarios.as_array().unwrap() {
            for raw in scenario["lrange"].as_array().unwrap() {
                let raw = raw.as_str().unwrap();
                let event = event_from_json(raw).unwrap();
                assert_eq!(event.payload_json(), raw);
                assert_eq!(event.objects(), &Objects::NotGiven);
                assert_eq!(event.context().phase(), Phase::Unknown);
                seen += 1;
            }
        }
    }
    assert_eq!(seen, 34);
}

#[test]
fn the_first_event_of_a_list_with_the_default_context() {
    let event = event_from_json(&fixture("record-create.json")).unwrap();
    assert_eq!(event.action(), Action::Create);
    assert_eq!(event.record_id(), None);
    let user = "basicauth:afd289f70866c5056cfe30d1e03c16a329d0869745a0c26701bd8704f7dbff60";
    assert_eq!(event.user_id(), Some(user));
    let ids: Vec<_> = event.changes().map(|c| c.id()).collect();
    assert_eq!(ids, [Some("785d2fe5-113c-4d8c-9682-01579f7ab758")]);
    let context = event.context();
    assert_eq!(
        (context.event_id(), context.listener()),
        ("test-event", "test")
    );
    assert_eq!((context.attempt(), context.source()), (1, Source::Cli));
    assert_eq!((context.part_index(), context.part_count()), (1, 1));
    assert_eq!(context.phase(), Phase::BeforeCommit);
}

#[test]
fn anonymous_users_ids_of_other_types_and_missing_event_class() {
    let json = r#"{"payload": {"timestamp": 5, "action": "read", "uri": "/buckets",
        "user_id": null, "resource_name": "bucket", "bucket_id": 7, "note": [1]},
        "read_objects": [{"id": "b"}], "_ignored": true}"#;
    let event = event_from_json(json).unwrap();
    assert_eq!((event.user_id(), event.bucket_id()), (None, None));
    let extras = [
        ("bucket_id".to_string(), Value::from(7)),
        ("note".into(), Value::from(vec![1])),
    ];
    assert_eq!(event.extras(), extras);
    assert_eq!(event.context().phase(), Phase::BeforeCommit);
    assert_eq!(
        event.objects(),
        &Objects::Read(vec![crate::Object::from_json(r#"{"id":"b"}"#)])
    );
}

#[test]
fn errors_say_what_is_wrong() {
    let error = |json: &str| event_from_json(json).unwrap_err().to_string();
    assert_eq!(
        error("[]"),
        "not a Kinto event: an empty list holds no event"
    );
    assert!(error("{").starts_with("not a Kinto event: not JSON: "));
    let payload = r#"{"timestamp": 1, "action": "create", "resource_name": "bucket"}"#;
    assert_eq!(
        error(payload),
        "not a Kinto event: `payload.uri` is missing"
    );
    let listed = format!(r#"[{payload}, 3]"#);
    assert!(error(&listed).contains("item 0: `payload.uri` is missing"));
    let typo = r#"{"payload": {}, "impacted_object": []}"#;
    assert_eq!(
        error(typo),
        "not a Kinto event: unknown key `impacted_object`"
    );
    let read = r#"{"payload": {}, "event_class": "Changed"}"#;
    assert_eq!(
        error(read),
        r#"not a Kinto event: unknown `event_class` "Changed""#
    );
    let action = r#"{"action": "patch"}"#;
    assert!(error(action).contains(r#"`payload.action` is "patch""#));
}
