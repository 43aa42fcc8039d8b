//! Deadlines in wasm code mean what they say: the epoch is armed one tick at a time and the
//! call's deadline compared with the clock at every tick, so a deadline fires neither
//! before it is due nor more than one tick after.

use crate::components;
use crate::helpers::{self, delivery, fixture_event};
use std::time::Duration;
use wasm_listeners::{
    CallReport, Capabilities, Engine, EngineConfig, Listener, LoadedComponent, Outcome, Part,
};

async fn call(listener: &Listener) -> CallReport {
    let incoming = fixture_event("record-create.json", 0);
    let delivery = delivery(&incoming);
    listener.call(&incoming.event, &delivery, Part::WHOLE).await
}

/// A listener of the spinning component with fuel to spare and `deadline`.
fn spinner(engine: &Engine, spin: &LoadedComponent, deadline: Duration) -> Listener {
    let mut spec = helpers::open_spec("spin", &[]);
    spec.limits.fuel = u64::MAX / 4;
    // Yields to the executor often: the controlled-time test moves the clock in between.
    spec.limits.fuel_yield_interval = 10_000;
    spec.limits.deadline = deadline;
    let listener = engine.listener(spin, spec, Capabilities::record_only());
    listener.expect("a deadline of one tick or more")
}

/// On real time, deadlines from one tick to three, each call starting at another phase of
/// the 10 ms tick: none fires before it is due.
#[tokio::test]
async fn a_deadline_never_fires_before_it_is_due() {
    let engine = helpers::engine();
    let spin = engine.load(&components::spin()).await.unwrap();
    for ms in 10..=30 {
        // Not a wait for a condition: a call ending at its deadline ends at a tick, so
        // without this every call would start at the same phase of the tick.
        tokio::time::sleep(Duration::from_millis(ms * 7 % 10)).await;
        let deadline = Duration::from_millis(ms);
        let report = call(&spinner(&engine, &spin, deadline)).await;
        assert_eq!(report.outcome, Outcome::Deadline);
        assert!(
            report.duration >= deadline,
            "a {ms} ms deadline fired after {:?}",
            report.duration
        );
    }
}

/// On controlled time (tokio's paused clock, the epoch advanced by the test a tick at a
/// time with it), deadlines at several phases of the tick: each fires at the first tick
/// after it is due, never later.
#[tokio::test(start_paused = true)]
async fn on_controlled_time_a_deadline_fires_at_most_one_tick_late() {
    let tick = Duration::from_millis(50);
    let engine = helpers::engine_with(EngineConfig {
        max_instances: 8,
        epoch_tick: tick,
        ..EngineConfig::default()
    });
    let spin = engine.load(&components::spin()).await.unwrap();
    for phase_ms in [0, 1, 17, 25, 49] {
        let deadline = tick * 3 + Duration::from_millis(phase_ms);
        let listener = spinner(&engine, &spin, deadline);
        let running = tokio::spawn(async move { call(&listener).await });
        while !running.is_finished() {
            tokio::time::advance(tick).await;
            engine.wasmtime_engine().increment_epoch();
            tokio::task::yield_now().await;
        }
        let report = running.await.unwrap();
        assert_eq!(report.outcome, Outcome::Deadline);
        assert!(
            report.duration >= deadline && report.duration <= deadline + tick,
            "a {deadline:?} deadline fired after {:?}",
            report.duration
        );
    }
}

#[tokio::test]
async fn a_deadline_below_one_tick_is_refused_naming_the_smallest() {
    let engine = helpers::engine();
    let spin = engine.load(&components::spin()).await.unwrap();
    let mut spec = helpers::open_spec("spin", &[]);
    spec.limits.deadline = Duration::from_millis(3);
    let refused = engine
        .listener(&spin, spec, Capabilities::record_only())
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("the smallest deadline is 10 ms"),
        "{refused}"
    );
}
