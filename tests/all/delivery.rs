//! What a listener receives: per-object ids in merged batch events, parts of large events,
//! and the kinto-redis payload forwarded to a queue.

use crate::helpers::{self, delivery, fixture_event, Recorder};
use wasm_listeners::{Capabilities, Outcome, Part};
use wasm_listeners::{Change, Objects};

fn logged_objects(report: &wasm_listeners::CallReport) -> Vec<String> {
    let lines = report.log.iter().map(|l| l.message.clone());
    lines.filter(|m| m.starts_with("object ")).collect()
}

#[tokio::test]
async fn merged_batch_event_gives_each_objects_own_id() {
    let engine = helpers::engine();
    let incoming = fixture_event("batch-create-put.json", 0);
    assert_eq!(incoming.event.record_id.as_deref(), Some("b1"));
    let l = helpers::listener(&engine, "misbehave", &[("mode", "objects")]).await;
    let report = l
        .call(&incoming.event, &delivery(&incoming), Part::WHOLE)
        .await;
    assert_eq!(report.outcome, Outcome::Ok);
    let ids: Vec<String> = logged_objects(&report);
    assert_eq!(ids, ["object 0 id=b1", "object 1 id=b2", "object 2 id=b3"]);
}

#[tokio::test]
async fn large_event_arrives_in_parts_in_order_and_whole() {
    let engine = helpers::engine();
    let mut incoming = fixture_event("record-create.json", 0);
    let changes: Vec<Change> = (0..40)
        .map(|i| Change {
            old: None,
            new: format!(r#"{{"id":"r{i}","pad":"{}"}}"#, "x".repeat(100)),
        })
        .collect();
    incoming.event.objects = Objects::Changes(changes);
    let mut spec = helpers::open_spec("parts", &[("mode", "objects")]);
    spec.limits.max_objects_bytes = 1000;
    let l = engine
        .listener(
            &helpers::load(&engine, "misbehave").await,
            spec,
            Capabilities::record_only(),
        )
        .unwrap();
    let reports = l.deliver(&incoming.event, &delivery(&incoming)).await;
    assert!(reports.len() >= 5, "{} parts", reports.len());
    let count = reports.len() as u32;
    let mut seen = Vec::new();
    for (i, r) in reports.iter().enumerate() {
        assert_eq!(r.outcome, Outcome::Ok);
        assert_eq!(
            r.part,
            Part {
                index: i as u32 + 1,
                count
            }
        );
        let heard = format!("part {} of {count}", i + 1);
        assert!(r.log.iter().any(|l| l.message == heard), "{:?}", r.log);
        seen.extend(
            logged_objects(r)
                .into_iter()
                .map(|m| m.split("id=").nth(1).unwrap().to_owned()),
        );
    }
    let expected: Vec<String> = (0..40).map(|i| format!("r{i}")).collect();
    assert_eq!(seen, expected, "every object once, in order");
}

#[tokio::test]
async fn queue_forward_pushes_the_payload_to_the_configured_list() {
    let engine = helpers::engine();
    let recorder = Recorder::default();
    let caps = recorder.capabilities();
    let spec = helpers::open_spec("forward", &[("listname", "kinto-jobs")]);
    let l = engine
        .listener(&helpers::load(&engine, "queue-forward").await, spec, caps)
        .unwrap();
    let incoming = fixture_event("group-create.json", 0);
    let report = l
        .call(&incoming.event, &delivery(&incoming), Part::WHOLE)
        .await;
    assert_eq!(report.outcome, Outcome::Ok, "{:?}", report.log);
    let pushes = recorder.pushes.lock().unwrap().clone();
    assert_eq!(pushes.len(), 1);
    assert_eq!(pushes[0].queue, "kinto-jobs");
    let pushed: serde_json::Value = serde_json::from_slice(&pushes[0].payload).unwrap();
    assert_eq!(pushed, serde_json::Value::Object(incoming.event.payload()));
}

#[tokio::test]
async fn queue_policy_is_checked_before_the_backend() {
    let engine = helpers::engine();
    let recorder = Recorder::default();
    let caps = recorder.capabilities();
    let mut spec = helpers::open_spec("forward", &[("listname", "wasm-listeners:input")]);
    spec.queue =
        wasm_listeners::QueuePolicy::deny_all().with_layer(wasm_listeners::QueueRules::allow_all());
    let l = engine
        .listener(&helpers::load(&engine, "queue-forward").await, spec, caps)
        .unwrap();
    let incoming = fixture_event("record-create.json", 0);
    let report = l
        .call(&incoming.event, &delivery(&incoming), Part::WHOLE)
        .await;
    match report.outcome {
        Outcome::ListenerError { message, .. } => {
            assert!(message.contains("reserved"), "{message}")
        }
        other => panic!("expected the guest to fail with not-permitted, got {other:?}"),
    }
    assert!(recorder.pushes.lock().unwrap().is_empty());
}

/// kinto-redis's own bytes: for every entry it pushed in the fixtures, queue-forward, fed the
/// parsed entry, pushes the very same string, so existing queue consumers see no change.
#[tokio::test]
async fn queue_forward_pushes_kinto_redis_bytes_exactly() {
    let engine = helpers::engine();
    let recorder = Recorder::default();
    let caps = recorder.capabilities();
    let spec = helpers::open_spec("forward", &[]);
    let loaded = helpers::load(&engine, "queue-forward").await;
    let l = engine.listener(&loaded, spec, caps).unwrap();
    let mut raw_entries = Vec::new();
    for file in [
        "redis-queue-entries.json",
        "redis-queue-entries-emailer.json",
    ] {
        let bytes = std::fs::read(helpers::fixture(file)).unwrap();
        let scenarios: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        for scenario in scenarios.as_array().unwrap() {
            for raw in scenario["lrange"].as_array().unwrap() {
                raw_entries.push(raw.as_str().unwrap().to_owned());
            }
        }
    }
    assert_eq!(raw_entries.len(), 34);
    for raw in &raw_entries {
        let incoming = wasm_listeners::parse_event(raw.as_bytes()).unwrap();
        let report = l
            .call(&incoming.event, &delivery(&incoming), Part::WHOLE)
            .await;
        assert_eq!(report.outcome, Outcome::Ok);
    }
    let pushes = recorder.pushes.lock().unwrap().clone();
    let pushed: Vec<String> = pushes
        .iter()
        .map(|p| String::from_utf8(p.payload.clone()).unwrap())
        .collect();
    assert_eq!(pushed, raw_entries);
}
