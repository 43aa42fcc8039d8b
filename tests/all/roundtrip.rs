//! Every event Kinto 26.5 emitted in the captured fixtures parses, and rebuilds from its
//! typed fields and extras alone into the same JSON (minus `_capture`, which the capture
//! plugin added), in Kinto's key order.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use wasm_listeners::{parse_event, parse_events, parse_value, Incoming, Objects, Phase};

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/fixtures/kinto-events"
);

/// What the capture recorded in its `scenarios*.json` indexes, one per suite: the files it
/// wrote and how many events and kinto-redis entries each scenario gave.
#[derive(Debug, Default, PartialEq, Eq)]
struct Expected {
    /// Every `.json` file but the indexes: each scenario's file, the filtered events, and
    /// one `redis-queue-entries[-<suite>].json` per suite.
    files: BTreeSet<String>,
    /// `event_count` (listener shape), plus the `filtered_listener_event_classes`.
    listener_events: usize,
    /// `redis_entries`.
    redis_entries: usize,
}

fn expected() -> Expected {
    let mut expected = Expected::default();
    expected
        .files
        .insert("filtered-listener-events.json".into());
    for index in [
        "scenarios.json",
        "scenarios-emailer.json",
        "scenarios-postgresql.json",
    ] {
        let (_, value) = read_json(&Path::new(FIXTURES).join(index));
        let suite = value["suite"].as_str().expect("`suite`");
        let entries = match suite {
            "core" => "redis-queue-entries.json".to_owned(),
            other => format!("redis-queue-entries-{other}.json"),
        };
        expected.files.insert(entries);
        for s in value["scenarios"].as_array().expect("`scenarios`") {
            let count = |key: &str| s[key].as_u64().unwrap_or_else(|| panic!("`{key}`")) as usize;
            let filtered = s["filtered_listener_event_classes"]
                .as_array()
                .map_or(0, Vec::len);
            expected
                .files
                .insert(s["file"].as_str().expect("`file`").to_owned());
            expected.listener_events += count("event_count") + filtered;
            expected.redis_entries += count("redis_entries");
        }
    }
    expected
}

fn json_files() -> Vec<PathBuf> {
    let entries = fs::read_dir(FIXTURES).expect("the fixtures folder");
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("a folder entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .filter(|path| !file_name(path).starts_with("scenarios"))
        .collect();
    files.sort();
    files
}

fn file_name(path: &Path) -> &str {
    path.file_name()
        .and_then(|name| name.to_str())
        .expect("a UTF-8 file name")
}

fn read_json(path: &Path) -> (Vec<u8>, Value) {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let value =
        serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (bytes, value)
}

/// `element` as Kinto built it: without the keys the capture plugin added.
fn as_kinto_built(element: &Value) -> Value {
    let mut element = element.clone();
    let map = element.as_object_mut().expect("an event object");
    map.retain(|key, _| !key.starts_with('_'));
    element
}

/// The rebuilt event equals the fixture element, as JSON values and in key order.
fn assert_rebuilds(incoming: &Incoming, element: &Value, at: &str) {
    let rebuilt = incoming.event.to_kinto_value(incoming.phase);
    let expected = as_kinto_built(element);
    assert_eq!(rebuilt, expected, "{at}");
    assert_eq!(rebuilt.to_string(), expected.to_string(), "{at}: key order");
}

/// Checks a list of events; returns how many.
fn check_event_list(bytes: &[u8], elements: &[Value], at: &str) -> usize {
    let events = parse_events(bytes).unwrap_or_else(|e| panic!("{at}: {e}"));
    assert_eq!(events.len(), elements.len(), "{at}");
    for (index, (incoming, element)) in events.iter().zip(elements).enumerate() {
        assert_ne!(incoming.phase, Phase::Unknown, "{at}[{index}]");
        assert_ne!(incoming.event.objects, Objects::NotGiven, "{at}[{index}]");
        assert_rebuilds(incoming, element, &format!("{at}[{index}]"));
    }
    events.len()
}

/// `filtered-listener-events.json`: `[{"scenario", "events": [...]}]`.
fn check_filtered(value: &Value, at: &str) -> usize {
    let mut count = 0;
    for scenario in value.as_array().expect("a list of scenarios") {
        for element in scenario["events"].as_array().expect("`events`") {
            let incoming = parse_value(element.clone()).unwrap_or_else(|e| panic!("{at}: {e}"));
            assert_rebuilds(
                &incoming,
                element,
                &format!("{at}: {}", scenario["scenario"]),
            );
            count += 1;
        }
    }
    count
}

/// `redis-queue-entries*.json`: every `lrange` string is a bare payload, rebuilt to the
/// very bytes kinto-redis pushed, and equal to its `parsed` twin.
fn check_redis(value: &Value, at: &str) -> usize {
    let mut count = 0;
    for scenario in value.as_array().expect("a list of scenarios") {
        let entries = scenario["lrange"].as_array().expect("`lrange`");
        let parsed = scenario["parsed"].as_array().expect("`parsed`");
        for (entry, twin) in entries.iter().zip(parsed) {
            let at = format!("{at}: {}", scenario["scenario"]);
            let text = entry.as_str().expect("a string entry");
            let incoming = parse_event(text.as_bytes()).unwrap_or_else(|e| panic!("{at}: {e}"));
            assert_eq!(
                (incoming.phase, &incoming.event.objects),
                (Phase::Unknown, &Objects::NotGiven)
            );
            assert_eq!(&incoming.event.to_kinto_value(Phase::Unknown), twin, "{at}");
            assert_eq!(
                Value::Object(incoming.event.payload()).to_string(),
                text,
                "{at}"
            );
            count += 1;
        }
    }
    count
}

#[test]
fn every_fixture_event_rebuilds_to_what_kinto_emitted() {
    let mut seen = Expected::default();
    let (mut listener, mut redis) = (0, 0);
    for path in json_files() {
        let name = file_name(&path);
        let (bytes, value) = read_json(&path);
        if name == "filtered-listener-events.json" {
            listener += check_filtered(&value, name);
        } else if name.starts_with("redis-queue-entries") {
            redis += check_redis(&value, name);
        } else {
            let elements = value.as_array().expect("a list of events");
            listener += check_event_list(&bytes, elements, name);
        }
        seen.files.insert(name.to_owned());
    }
    (seen.listener_events, seen.redis_entries) = (listener, redis);
    let expected = expected();
    assert!(
        expected.listener_events > 0 && expected.redis_entries > 0,
        "{expected:?}"
    );
    assert_eq!(seen, expected, "what the capture's indexes say it recorded");
}

#[test]
fn both_phases_of_a_change_are_the_same_event() {
    let (bytes, _) = read_json(&Path::new(FIXTURES).join("record-update-put.json"));
    let events = parse_events(&bytes).expect("the fixture parses");
    let phases: Vec<Phase> = events.iter().map(|incoming| incoming.phase).collect();
    assert_eq!(phases, [Phase::BeforeCommit, Phase::AfterCommit]);
    assert_eq!(events[0].event, events[1].event);
    assert_eq!(events[0].event.id(), events[1].event.id());
}
