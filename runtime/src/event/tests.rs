//! Unit tests of parsing and rebuilding; the fixture round trip is in `tests/all/roundtrip.rs`.

use serde_json::{json, Value};

use super::{
    parse_event, parse_events, parse_value, Action, Change, Event, EventError, Incoming, Objects,
    Phase,
};

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/fixtures/kinto-events/",
            $name
        ))
    };
}

fn payload() -> Value {
    json!({
        "timestamp": 1795827036452_u64,
        "action": "create",
        "uri": "/buckets/shop/collections/orders/records/r1",
        "user_id": "account:carol",
        "resource_name": "record",
        "bucket_id": "shop",
        "collection_id": "orders",
        "record_id": "r1"
    })
}

fn listener_event() -> Value {
    json!({
        "event_class": "ResourceChanged",
        "payload": payload(),
        "impacted_objects": [{"new": {"id": "r1", "last_modified": 1795827036452_u64}}]
    })
}

/// `value` with `edit` applied to it.
fn edited(mut value: Value, edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    edit(value.as_object_mut().expect("an object"));
    value
}

fn with_payload_edit(edit: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
    edited(listener_event(), |event| {
        let payload = event["payload"].as_object_mut().expect("an object");
        edit(payload);
    })
}

fn error_of(value: Value) -> EventError {
    parse_value(value).expect_err("the event should be refused")
}

fn parsed(value: Value) -> Incoming {
    parse_value(value).expect("the event should parse")
}

// ---- errors -------------------------------------------------------------------------

#[test]
fn not_json_gives_serde_message_with_position() {
    let error = parse_event(b"{\n  \"payload\": }").unwrap_err();
    assert!(matches!(error, EventError::NotJson(_)), "{error:?}");
    let message = error.to_string();
    assert!(message.starts_with("not JSON: "), "{message}");
    assert!(message.ends_with("at line 2 column 14"), "{message}");
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let depth = 10_000;
    let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let error = parse_event(deep.as_bytes()).unwrap_err();
    assert!(
        error.to_string().contains("recursion limit exceeded"),
        "{error}"
    );
    let nested = format!(
        r#"{{"payload": {}, "impacted_objects": [{{"new": {}1{}}}]}}"#,
        payload(),
        r#"{"a":"#.repeat(depth),
        "}".repeat(depth)
    );
    assert!(matches!(
        parse_events(nested.as_bytes()),
        Err(EventError::NotJson(_))
    ));
}

#[test]
fn non_object_names_what_was_found() {
    let error = parse_event(b"[]").unwrap_err();
    assert!(matches!(
        error,
        EventError::NotAnObject { found: "an array" }
    ));
    assert_eq!(
        error.to_string(),
        "expected a JSON object (a Kinto event) but found an array"
    );
    let error = parse_events(b"42").unwrap_err();
    assert!(matches!(
        error,
        EventError::NotAnObject { found: "a number" }
    ));
}

#[test]
fn error_in_a_list_names_the_index() {
    let list = json!([listener_event(), listener_event(), "oops"]).to_string();
    let error = parse_events(list.as_bytes()).unwrap_err();
    let EventError::InList {
        index: 2,
        error: inner,
    } = &error
    else {
        panic!("{error:?}")
    };
    assert!(matches!(
        **inner,
        EventError::NotAnObject { found: "a string" }
    ));
    assert!(error
        .to_string()
        .starts_with("event at index 2 of the list: expected"));
}

#[test]
fn object_without_payload_or_action_is_not_an_event() {
    let error = error_of(json!({"event_class": "ResourceChanged", "impacted_objects": []}));
    assert!(matches!(error, EventError::NotAnEvent), "{error:?}");
    assert!(error.to_string().contains("`payload`"));
}

#[test]
fn unknown_top_level_key_is_named() {
    let error = error_of(edited(listener_event(), |e| {
        e.insert("objects".into(), json!([]));
    }));
    assert!(matches!(&error, EventError::UnknownKey { key } if key == "objects"));
    assert!(error
        .to_string()
        .starts_with("unknown top-level key `objects`: "));
}

#[test]
fn keys_beginning_with_underscore_are_ignored() {
    let with_capture = edited(listener_event(), |e| {
        e.insert("_capture".into(), json!({"delivered_via": "test"}));
    });
    assert_eq!(parsed(with_capture), parsed(listener_event()));
}

#[test]
fn missing_required_fields_are_named() {
    for field in ["action", "resource_name", "uri", "timestamp"] {
        let error = error_of(with_payload_edit(|p| {
            p.shift_remove(field);
        }));
        assert!(matches!(error, EventError::MissingField { field: f } if f == field));
        assert_eq!(
            error.to_string(),
            format!("missing field `{field}` in the event payload: Kinto payloads always carry it")
        );
    }
}

#[test]
fn wrong_types_are_named() {
    let cases = [
        ("uri", json!(3), "`uri` is a number: expected a string"),
        (
            "resource_name",
            json!(null),
            "`resource_name` is null: expected a string",
        ),
        (
            "user_id",
            json!(7),
            "`user_id` is a number: expected a string or null",
        ),
        (
            "action",
            json!(["create"]),
            "`action` is an array: expected a string: create, update, delete or read",
        ),
    ];
    for (field, value, message) in cases {
        let error = error_of(with_payload_edit(|p| {
            p.insert(field.into(), value);
        }));
        assert!(matches!(error, EventError::WrongType { field: f, .. } if f == field));
        assert_eq!(error.to_string(), message);
    }
    let error = error_of(edited(listener_event(), |e| {
        e.insert("payload".into(), json!("text"));
    }));
    assert!(matches!(
        error,
        EventError::WrongType {
            field: "payload",
            found: "a string",
            ..
        }
    ));
}

#[test]
fn unknown_action_lists_the_four() {
    let error = error_of(with_payload_edit(|p| {
        p.insert("action".into(), json!("explode"));
    }));
    assert!(matches!(&error, EventError::UnknownAction { value } if value == "explode"));
    assert_eq!(
        error.to_string(),
        "`action` is \"explode\": expected one of create, update, delete, read"
    );
}

#[test]
fn timestamp_must_be_a_u64() {
    for bad in [
        json!(-1),
        json!(1.5),
        json!("1795827036452"),
        json!(18446744073709551616.0_f64),
    ] {
        let text = bad.to_string();
        let error = error_of(with_payload_edit(|p| {
            p.insert("timestamp".into(), bad);
        }));
        assert!(matches!(&error, EventError::BadTimestamp { found } if *found == text));
        assert!(error
            .to_string()
            .contains("expected a non-negative integer"));
    }
    let max = with_payload_edit(|p| {
        p.insert("timestamp".into(), json!(u64::MAX));
    });
    assert_eq!(parsed(max).event.timestamp, u64::MAX);
}

#[test]
fn event_class_must_be_one_of_the_four() {
    let error = error_of(edited(listener_event(), |e| {
        e.insert("event_class".into(), json!("ResourceCreated"));
    }));
    assert!(
        matches!(&error, EventError::UnknownEventClass { value } if value == "ResourceCreated")
    );
    let message = error.to_string();
    assert!(
        message.contains("ResourceChanged, AfterResourceChanged, ResourceRead, AfterResourceRead")
    );
    let error = error_of(edited(listener_event(), |e| {
        e.insert("event_class".into(), json!(null));
    }));
    assert!(matches!(
        error,
        EventError::WrongType {
            field: "event_class",
            ..
        }
    ));
}

#[test]
fn event_class_must_fit_the_action() {
    let error = error_of(edited(listener_event(), |e| {
        e.insert("event_class".into(), json!("AfterResourceRead"));
    }));
    assert!(matches!(
        error,
        EventError::ClassActionMismatch {
            class: "AfterResourceRead",
            action: Action::Create
        }
    ));
}

#[test]
fn objects_must_fit_the_action() {
    let both = edited(listener_event(), |e| {
        e.insert("read_objects".into(), json!([]));
    });
    assert!(matches!(error_of(both), EventError::BothObjectKinds));

    let impacted_on_read = edited(listener_event(), |e| {
        e.remove("event_class");
        e["payload"]["action"] = json!("read");
    });
    assert!(matches!(
        error_of(impacted_on_read),
        EventError::ImpactedObjectsOnRead
    ));

    let read_on_delete = edited(listener_event(), |e| {
        e.remove("event_class");
        e.remove("impacted_objects");
        e["payload"]["action"] = json!("delete");
        e.insert("read_objects".into(), json!([]));
    });
    let error = error_of(read_on_delete);
    assert!(matches!(
        error,
        EventError::ReadObjectsOnChange {
            action: Action::Delete
        }
    ));
    assert!(error
        .to_string()
        .starts_with("`read_objects` with action `delete`: "));
}

#[test]
fn object_lists_must_be_lists() {
    let error = error_of(edited(listener_event(), |e| {
        e.insert("impacted_objects".into(), json!({"new": {}}));
    }));
    assert_eq!(
        error.to_string(),
        "`impacted_objects` is an object: expected a list"
    );
}

#[test]
fn bad_changes_name_their_index() {
    let with_changes = |changes: Value| {
        error_of(edited(listener_event(), |e| {
            e.insert("impacted_objects".into(), changes);
        }))
    };
    let ok = json!({"new": {}});
    let error = with_changes(json!([ok, "x"]));
    assert!(matches!(
        error,
        EventError::ChangeNotObject {
            index: 1,
            found: "a string"
        }
    ));
    let error = with_changes(json!([ok, ok, {"new": {}, "older": {}}]));
    assert!(matches!(&error, EventError::ChangeUnknownKey { index: 2, key } if key == "older"));
    assert!(error
        .to_string()
        .starts_with("`impacted_objects[2]` has an unknown key `older`"));
    let error = with_changes(json!([{"old": {}}]));
    assert!(matches!(error, EventError::ChangeMissingNew { index: 0 }));
    assert!(error
        .to_string()
        .starts_with("`impacted_objects[0]` has no `new`"));
}

// ---- values -------------------------------------------------------------------------

#[test]
fn action_words() {
    for action in Action::ALL {
        assert_eq!(action.as_str().parse::<Action>().unwrap(), action);
        assert_eq!(action.to_string(), action.as_str());
    }
    let error = "Create".parse::<Action>().unwrap_err();
    assert_eq!(
        error.to_string(),
        "`action` is \"Create\": expected one of create, update, delete, read"
    );
}

#[test]
fn listener_shape_gives_typed_fields_and_phase() {
    let incoming = parsed(listener_event());
    assert_eq!(incoming.phase, Phase::BeforeCommit);
    let event = incoming.event;
    assert_eq!(event.action, Action::Create);
    assert_eq!(event.timestamp, 1795827036452);
    assert_eq!(event.user_id.as_deref(), Some("account:carol"));
    assert_eq!(event.record_id.as_deref(), Some("r1"));
    assert_eq!(event.group_id, None);
    assert!(event.extras.is_empty());
    let new = r#"{"id":"r1","last_modified":1795827036452}"#.to_owned();
    assert_eq!(
        event.objects,
        Objects::Changes(vec![Change { old: None, new }])
    );
}

#[test]
fn phases_of_the_four_classes() {
    let phase = |class: &str, action: &str, objects: &str| {
        let event = json!({"event_class": class, "payload": payload(), objects: []});
        parsed(edited(event, |e| e["payload"]["action"] = json!(action))).phase
    };
    assert_eq!(
        phase("ResourceChanged", "update", "impacted_objects"),
        Phase::BeforeCommit
    );
    assert_eq!(
        phase("AfterResourceChanged", "delete", "impacted_objects"),
        Phase::AfterCommit
    );
    assert_eq!(
        phase("ResourceRead", "read", "read_objects"),
        Phase::BeforeCommit
    );
    assert_eq!(
        phase("AfterResourceRead", "read", "read_objects"),
        Phase::AfterCommit
    );
    let without_class = edited(listener_event(), |e| {
        e.remove("event_class");
    });
    assert_eq!(parsed(without_class).phase, Phase::Unknown);
}

#[test]
fn bare_payload_is_a_kinto_redis_entry() {
    let incoming = parse_event(payload().to_string().as_bytes()).unwrap();
    assert_eq!(incoming.phase, Phase::Unknown);
    assert_eq!(incoming.event.objects, Objects::NotGiven);
    assert_eq!(incoming.event.to_kinto_value(Phase::AfterCommit), payload());
}

#[test]
fn payload_without_objects_is_not_given() {
    let incoming = parsed(json!({"payload": payload()}));
    assert_eq!(incoming.event.objects, Objects::NotGiven);
    assert_eq!(incoming.event.to_kinto_value(Phase::Unknown), payload());
}

#[test]
fn null_and_absent_user_id_are_none_and_rebuild_as_null() {
    let null = parsed(with_payload_edit(|p| {
        p.insert("user_id".into(), json!(null));
    }));
    let absent = parsed(with_payload_edit(|p| {
        p.shift_remove("user_id");
    }));
    assert_eq!(null.event.user_id, None);
    assert_eq!(absent, null);
    assert_eq!(absent.event.payload()["user_id"], json!(null));
}

#[test]
fn non_string_id_is_kept_in_extras() {
    let incoming = parsed(with_payload_edit(|p| {
        p.insert("bucket_id".into(), json!({"odd": [1, 2]}));
        p.insert("account_id".into(), json!("carol"));
    }));
    let event = &incoming.event;
    assert_eq!(event.bucket_id, None);
    let extras = vec![
        ("bucket_id".to_owned(), r#"{"odd":[1,2]}"#.to_owned()),
        ("account_id".to_owned(), r#""carol""#.to_owned()),
    ];
    assert_eq!(event.extras, extras);
    assert_eq!(event.payload()["bucket_id"], json!({"odd": [1, 2]}));
}

#[test]
fn explicit_null_old_is_kept() {
    let incoming = parsed(edited(listener_event(), |e| {
        e.insert(
            "impacted_objects".into(),
            json!([{"new": {"id": "x"}, "old": null}]),
        );
    }));
    let Objects::Changes(changes) = &incoming.event.objects else {
        panic!("{:?}", incoming.event.objects)
    };
    assert_eq!(changes[0].old.as_deref(), Some("null"));
    let rebuilt = incoming.event.to_kinto_value(Phase::Unknown);
    assert_eq!(rebuilt["impacted_objects"][0]["old"], json!(null));
}

#[test]
fn batch_event_payload_names_only_the_first_object() {
    let events = parse_events(fixture!("batch-create-put.json")).unwrap();
    assert_eq!(events.len(), 2);
    let event = &events[0].event;
    assert_eq!(event.record_id.as_deref(), Some("b1"));
    assert_eq!(event.uri, "/buckets/shop/collections/orders/records/b1");
    let Objects::Changes(changes) = &event.objects else {
        panic!("{:?}", event.objects)
    };
    let ids: Vec<Value> = changes
        .iter()
        .map(|change| serde_json::from_str::<Value>(&change.new).unwrap()["id"].clone())
        .collect();
    assert_eq!(ids, [json!("b1"), json!("b2"), json!("b3")]);
    assert_eq!(
        (events[0].phase, events[1].phase),
        (Phase::BeforeCommit, Phase::AfterCommit)
    );
    assert_eq!(events[0].event, events[1].event);
}

#[test]
fn head_read_has_an_empty_list_not_no_objects() {
    let events = parse_events(fixture!("records-head.json")).unwrap();
    let event = &events[0].event;
    assert_eq!(event.objects, Objects::Read(vec![]));
    assert_ne!(event.objects, Objects::NotGiven);
    let rebuilt = event.to_kinto_value(Phase::BeforeCommit);
    assert_eq!(rebuilt["read_objects"], json!([]));
    assert_eq!(rebuilt["event_class"], json!("ResourceRead"));
    let not_given = Event {
        objects: Objects::NotGiven,
        ..event.clone()
    };
    assert_ne!(not_given.id(), event.id());
}

#[test]
fn rebuild_without_phase_omits_event_class() {
    let rebuilt = parsed(listener_event())
        .event
        .to_kinto_value(Phase::Unknown);
    let mut expected = listener_event();
    expected.as_object_mut().unwrap().remove("event_class");
    assert_eq!(rebuilt, expected);
}

#[test]
fn event_id_is_stable_and_depends_on_the_event() {
    let event = parsed(listener_event()).event;
    let id = event.id();
    assert_eq!(id.len(), 32);
    assert!(id
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert_eq!(parsed(listener_event()).event.id(), id);
    let after = edited(listener_event(), |e| {
        e.insert("event_class".into(), json!("AfterResourceChanged"));
    });
    assert_eq!(
        parsed(after).event.id(),
        id,
        "the phase is not part of the id"
    );
    let later = Event {
        timestamp: event.timestamp + 1,
        ..event.clone()
    };
    assert_ne!(later.id(), id);
}
