//! One test per limit: fuel, memory, deadline (in wasm and in a hanging host call),
//! capacity; and the engine keeps serving after each.
//!
//! Every test builds its own component from WAT (`components`): none depends on an
//! example's build. A host call that hangs is against a backend that never answers
//! (`helpers::Hanging`), in paused tokio time: its deadline fires at once, in real time.

use crate::components::{self, listener};
use crate::helpers::{self, delivery, fixture_event, Hanging};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasm_listeners::{CallReport, Capabilities, Engine, EngineConfig, Listener, Outcome, Part};

const EVENT: &str = "record-create.json";

/// One call of `listener` on the record-creation fixture.
async fn call(listener: &Listener) -> CallReport {
    let incoming = fixture_event(EVENT, 0);
    let delivery = delivery(&incoming);
    listener.call(&incoming.event, &delivery, Part::WHOLE).await
}

#[tokio::test]
async fn spinning_runs_out_of_fuel_and_the_engine_goes_on() {
    let engine = helpers::engine();
    let spec = helpers::open_spec("spin", &[]);
    let spin = listener(
        &engine,
        &components::spin(),
        spec,
        Capabilities::record_only(),
    )
    .await;
    let report = call(&spin).await;
    assert_eq!(report.outcome, Outcome::OutOfFuel);
    assert!(
        report.fuel_consumed >= spin.limits().fuel,
        "{}",
        report.fuel_consumed
    );

    let spec = helpers::open_spec("email", &[]);
    let email = listener(
        &engine,
        &components::send_email(),
        spec,
        Capabilities::record_only(),
    )
    .await;
    let after = call(&email).await;
    assert_eq!(after.outcome, Outcome::Ok, "{:?}", after.log);
    assert_eq!(after.emails.len(), 1);
    let again = call(&spin).await;
    assert_eq!(
        again.outcome,
        Outcome::OutOfFuel,
        "a fresh store every call"
    );
}

#[tokio::test]
async fn memory_limit_ends_the_call_and_reports_peak() {
    let engine = helpers::engine();
    let grow = components::grow(48);
    let mut spec = helpers::open_spec("grow", &[]);
    spec.limits.memory_bytes = 32 << 20;
    let tight = listener(&engine, &grow, spec.clone(), Capabilities::record_only()).await;
    let report = call(&tight).await;
    assert_eq!(report.outcome, Outcome::MemoryLimit, "{:?}", report.log);
    assert!(report.peak_memory_bytes <= 32 << 20);

    spec.limits.memory_bytes = 96 << 20;
    let roomy = listener(&engine, &grow, spec, Capabilities::record_only()).await;
    let report = call(&roomy).await;
    assert_eq!(report.outcome, Outcome::Ok, "{:?}", report.log);
    assert!(
        report.peak_memory_bytes >= 48 << 20,
        "{}",
        report.peak_memory_bytes
    );
}

/// In real time: the epoch thread that interrupts wasm code ticks in real time.
#[tokio::test]
async fn deadline_stops_wasm_code_that_has_fuel_to_spare() {
    let engine = helpers::engine();
    let mut spec = helpers::open_spec("spin", &[]);
    spec.limits.fuel = u64::MAX / 4;
    spec.limits.deadline = Duration::from_millis(300);
    let spin = listener(
        &engine,
        &components::spin(),
        spec,
        Capabilities::record_only(),
    )
    .await;
    // Fuel for years: only the deadline can end it (how exactly, `deadlines`).
    let report = call(&spin).await;
    assert_eq!(report.outcome, Outcome::Deadline);
}

/// A listener that pushes to a queue whose backend never answers.
async fn hanging_listener(engine: &Engine, deadline: Duration, hang: &Hanging) -> Listener {
    let mut spec = helpers::open_spec("hangs", &[]);
    spec.limits.deadline = deadline;
    let caps = Capabilities {
        email: Arc::new(hang.clone()),
        queue: Arc::new(hang.clone()),
    };
    listener(engine, &components::push_queue(), spec, caps).await
}

/// How far tokio's clock has moved since `since`, an instant of it. With time paused it
/// moves only when the runtime has nothing to do but wait for a timer: then it jumps to
/// it. The engine measures deadlines on this clock.
fn tokio_clock_since(since: tokio::time::Instant) -> Duration {
    tokio::time::Instant::now().duration_since(since)
}

#[tokio::test(start_paused = true)]
async fn deadline_stops_a_host_call_that_hangs() {
    let engine = helpers::engine();
    let hang = Hanging::default();
    let deadline = Duration::from_secs(30);
    let listener = hanging_listener(&engine, deadline, &hang).await;
    let (started, on_tokio) = (Instant::now(), tokio::time::Instant::now());
    let report = call(&listener).await;
    assert_eq!(report.outcome, Outcome::Deadline);
    // The call waited for the host call's deadline on the paused clock, not for the
    // backstop that comes 250 ms later (`engine::listener`): ...
    let waited = tokio_clock_since(on_tokio);
    assert!(
        waited >= deadline && waited < deadline + Duration::from_millis(250),
        "{waited:?}"
    );
    // ... and not in real time.
    assert!(started.elapsed() < deadline, "{:?}", started.elapsed());
}

#[tokio::test(start_paused = true)]
async fn no_free_instance_slot_is_capacity_and_frees_up() {
    let engine = helpers::engine_with(EngineConfig {
        max_instances: 1,
        ..EngineConfig::default()
    });
    let hang = Hanging::default();
    let deadline = Duration::from_secs(30);
    let busy = hanging_listener(&engine, deadline, &hang).await;
    // Loaded before the slot is taken: loading instantiates once too.
    let spec = helpers::open_spec("ok", &[]);
    let ok = listener(
        &engine,
        &components::ok(),
        spec,
        Capabilities::record_only(),
    )
    .await;
    let (started, on_tokio) = (Instant::now(), tokio::time::Instant::now());
    let first = tokio::spawn(async move { call(&busy).await });
    hang.entered.notified().await;
    let second = call(&ok).await;
    assert_eq!(second.outcome, Outcome::Capacity);
    assert!(second.outcome.is_retryable());
    assert_eq!(first.await.unwrap().outcome, Outcome::Deadline);
    assert!(tokio_clock_since(on_tokio) >= deadline);
    let third = call(&ok).await;
    assert_eq!(third.outcome, Outcome::Ok, "the slot is free again");
    assert!(started.elapsed() < deadline, "{:?}", started.elapsed());
}
