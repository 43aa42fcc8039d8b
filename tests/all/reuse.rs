//! Instances reused across calls (`calls_per_instance`): what one instance serves, when it
//! is dropped, and that each call still starts with its own limits and records.
//!
//! The probe is [`components::count_calls`]: it counts in a global the calls its instance
//! served and fails once past a number, so a test sees which calls shared an instance.

use crate::components::{self, listener, REFUSED};
use crate::helpers::{self, delivery, fixture_event};
use std::num::NonZeroU32;
use std::time::Duration;
use wasm_listeners::{
    Capabilities, EngineConfig, ErrorKind, Listener, ListenerSpec, Outcome, Part,
};

/// `n` calls of `listener` on the record-creation fixture, one after another.
async fn outcomes(listener: &Listener, n: usize) -> Vec<Outcome> {
    let incoming = fixture_event("record-create.json", 0);
    let delivery = delivery(&incoming);
    let mut outcomes = Vec::new();
    for _ in 0..n {
        let report = listener.call(&incoming.event, &delivery, Part::WHOLE).await;
        outcomes.push(report.outcome);
    }
    outcomes
}

fn spec(calls_per_instance: u32) -> ListenerSpec {
    ListenerSpec {
        calls_per_instance: NonZeroU32::new(calls_per_instance).expect("at least 1"),
        ..helpers::open_spec("counter", &[])
    }
}

fn refused() -> Outcome {
    Outcome::ListenerError {
        error: ErrorKind::Transient,
        message: REFUSED.into(),
    }
}

#[tokio::test]
async fn by_default_every_call_gets_a_fresh_instance() {
    let engine = helpers::engine();
    let bytes = components::count_calls(1);
    let counter = listener(&engine, &bytes, spec(1), Capabilities::record_only()).await;
    assert_eq!(outcomes(&counter, 5).await, vec![Outcome::Ok; 5]);
}

#[tokio::test]
async fn an_instance_serves_at_most_calls_per_instance_calls() {
    let engine = helpers::engine();
    // The guest fails past its third call: three calls per instance never get there.
    let bytes = components::count_calls(3);
    let three = listener(&engine, &bytes, spec(3), Capabilities::record_only()).await;
    assert_eq!(outcomes(&three, 10).await, vec![Outcome::Ok; 10]);
    // Four calls per instance do: the fourth call is the instance's fourth.
    let four = listener(&engine, &bytes, spec(4), Capabilities::record_only()).await;
    let seen = outcomes(&four, 8).await;
    let ok = Outcome::Ok;
    let expected = [&[ok.clone(), ok.clone(), ok.clone()][..], &[refused()]].concat();
    assert_eq!(seen[..4], expected[..], "{seen:?}");
    // The failed call dropped its instance: the next calls start on a fresh one.
    assert_eq!(seen[4..], expected[..], "{seen:?}");
    assert_eq!(
        engine.instances_in_use(),
        0,
        "idle instances are not calls in flight"
    );
}

#[tokio::test]
async fn state_carries_over_only_within_one_listener() {
    let engine = helpers::engine();
    let bytes = components::count_calls(1);
    let a = listener(&engine, &bytes, spec(100), Capabilities::record_only()).await;
    let b = listener(&engine, &bytes, spec(100), Capabilities::record_only()).await;
    // `a`'s second call is its instance's second; `b` never gets `a`'s instance.
    assert_eq!(outcomes(&a, 1).await, vec![Outcome::Ok]);
    assert_eq!(outcomes(&b, 1).await, vec![Outcome::Ok]);
    assert_eq!(outcomes(&a, 1).await, vec![refused()]);
    assert_eq!(outcomes(&b, 1).await, vec![refused()]);
    // Clones of a listener share its instances.
    let a2 = a.clone();
    assert_eq!(outcomes(&a, 1).await, vec![Outcome::Ok]);
    assert_eq!(outcomes(&a2, 1).await, vec![refused()]);
}

#[tokio::test]
async fn a_reused_instance_starts_each_call_with_its_own_limits_and_records() {
    let engine = helpers::engine();
    let mut spec = spec(10);
    spec.email.max_messages_per_call = 1;
    let sender = listener(
        &engine,
        &components::send_email(),
        spec,
        Capabilities::record_only(),
    )
    .await;
    let incoming = fixture_event("record-create.json", 0);
    let delivery = delivery(&incoming);
    let mut fuel = Vec::new();
    for call in 1..=4 {
        let report = sender.call(&incoming.event, &delivery, Part::WHOLE).await;
        // A count of messages carried from the previous call would refuse this one.
        assert_eq!(report.outcome, Outcome::Ok, "call {call}: {:?}", report.log);
        assert_eq!(report.emails.len(), 1, "call {call}: only its own message");
        fuel.push(report.fuel_consumed);
    }
    // Fuel is refilled for every call: each consumes what the first did, not the sum.
    assert!(fuel.iter().all(|f| *f > 0 && *f <= fuel[0] * 2), "{fuel:?}");
}

#[tokio::test]
async fn the_engine_keeps_at_most_max_instances_idle_instances() {
    let engine = helpers::engine_with(EngineConfig {
        max_instances: 1,
        ..EngineConfig::default()
    });
    let bytes = components::count_calls(1);
    let a = listener(&engine, &bytes, spec(100), Capabilities::record_only()).await;
    let b = listener(&engine, &bytes, spec(100), Capabilities::record_only()).await;
    // `a` keeps the one idle instance the budget allows; `b`'s is dropped after its call.
    assert_eq!(outcomes(&a, 1).await, vec![Outcome::Ok]);
    assert_eq!(engine.instances_idle(), 1);
    assert_eq!(outcomes(&b, 2).await, vec![Outcome::Ok, Outcome::Ok]);
    assert_eq!(engine.instances_idle(), 1, "the budget is one");
    let again = outcomes(&a, 1).await;
    assert_eq!(again, vec![refused()], "a's instance was kept");
    assert_eq!(engine.instances_idle(), 0);
    // `a`'s failed call dropped it: the budget has room again, for `b`.
    assert_eq!(outcomes(&b, 2).await, vec![Outcome::Ok, refused()]);
}

#[tokio::test]
async fn an_instance_idle_past_the_limit_is_dropped_even_if_its_listener_gets_no_event() {
    let limit = Duration::from_millis(200);
    let engine = helpers::engine_with(EngineConfig {
        max_instances: 1,
        idle_instance_limit: limit,
        ..EngineConfig::default()
    });
    let bytes = components::count_calls(1);
    let quiet = listener(&engine, &bytes, spec(100), Capabilities::record_only()).await;
    let busy = listener(&engine, &bytes, spec(100), Capabilities::record_only()).await;
    // `quiet` takes the budget's one idle instance, then gets no more events.
    assert_eq!(outcomes(&quiet, 1).await, vec![Outcome::Ok]);
    assert_eq!(engine.instances_idle(), 1);
    // No call comes: only the sweeper can drop `quiet`'s idle instance.
    helpers::until("the sweeper drops the idle instance", || {
        engine.instances_idle() == 0
    })
    .await;
    // The sweeper gave its slot back: `busy` keeps its instance (its second call reuses it).
    assert_eq!(outcomes(&busy, 2).await, vec![Outcome::Ok, refused()]);
}
