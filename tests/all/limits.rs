//! One test per limit: fuel, memory, deadline (in wasm and in a hanging host call),
//! capacity; and the engine keeps serving after each.

use crate::helpers::{self, delivery, fixture_event, Hanging};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasm_listeners::{Capabilities, EngineConfig, ErrorKind, Outcome, Part};

fn record_create() -> wasm_listeners::Incoming {
    fixture_event("record-create.json", 0)
}

#[tokio::test]
async fn runaway_runs_out_of_fuel_and_the_engine_goes_on() {
    let engine = helpers::engine();
    let runaway = helpers::listener(&engine, "runaway", &[]).await;
    let incoming = record_create();
    let report = runaway
        .call(&incoming.event, &delivery(&incoming), Part::WHOLE)
        .await;
    assert_eq!(report.outcome, Outcome::OutOfFuel);
    assert!(
        report.fuel_consumed >= runaway.limits().fuel,
        "{}",
        report.fuel_consumed
    );

    let settings = [
        ("from", "kinto@example.org"),
        ("recipients", "ops@example.org"),
    ];
    let email = helpers::listener(&engine, "send-email", &settings).await;
    let after = email
        .call(&incoming.event, &delivery(&incoming), Part::WHOLE)
        .await;
    assert_eq!(after.outcome, Outcome::Ok, "{:?}", after.log);
    assert_eq!(after.emails.len(), 1);
    let again = runaway
        .call(&incoming.event, &delivery(&incoming), Part::WHOLE)
        .await;
    assert_eq!(
        again.outcome,
        Outcome::OutOfFuel,
        "a fresh store every call"
    );
}

#[tokio::test]
async fn memory_limit_ends_the_call_and_reports_peak() {
    let engine = helpers::engine();
    let incoming = record_create();
    let mut spec = helpers::open_spec("hog", &[("mode", "alloc"), ("mib", "48")]);
    spec.limits.memory_bytes = 32 << 20;
    let hog = engine
        .listener(
            &helpers::load(&engine, "misbehave").await,
            spec.clone(),
            Capabilities::record_only(),
        )
        .unwrap();
    let report = hog
        .call(&incoming.event, &delivery(&incoming), Part::WHOLE)
        .await;
    assert_eq!(report.outcome, Outcome::MemoryLimit, "{:?}", report.log);
    assert!(report.peak_memory_bytes <= 32 << 20);

    spec.limits.memory_bytes = 96 << 20;
    let roomy = engine
        .listener(
            &helpers::load(&engine, "misbehave").await,
            spec,
            Capabilities::record_only(),
        )
        .unwrap();
    let report = roomy
        .call(&incoming.event, &delivery(&incoming), Part::WHOLE)
        .await;
    assert_eq!(report.outcome, Outcome::Ok, "{:?}", report.log);
    assert!(
        report.peak_memory_bytes >= 48 << 20,
        "{}",
        report.peak_memory_bytes
    );
}

#[tokio::test]
async fn deadline_stops_wasm_code_that_has_fuel_to_spare() {
    let engine = helpers::engine();
    let incoming = record_create();
    let mut spec = helpers::open_spec("runaway", &[]);
    spec.limits.fuel = u64::MAX / 4;
    spec.limits.deadline = Duration::from_millis(300);
    let runaway = engine
        .listener(
            &helpers::load(&engine, "runaway").await,
            spec,
            Capabilities::record_only(),
        )
        .unwrap();
    let started = Instant::now();
    let report = runaway
        .call(&incoming.event, &delivery(&incoming), Part::WHOLE)
        .await;
    assert_eq!(report.outcome, Outcome::Deadline);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

async fn hanging_listener(
    engine: &wasm_listeners::Engine,
    deadline: Duration,
    hang: &Hanging,
) -> wasm_listeners::Listener {
    let settings = [
        ("mode", "email"),
        ("from", "a@example.org"),
        ("to", "b@example.org"),
    ];
    let mut spec = helpers::open_spec("hangs", &settings);
    spec.limits.deadline = deadline;
    let caps = Capabilities {
        email: Arc::new(hang.clone()),
        queue: Arc::new(hang.clone()),
    };
    engine
        .listener(&helpers::load(engine, "misbehave").await, spec, caps)
        .unwrap()
}

#[tokio::test]
async fn deadline_stops_a_host_call_that_hangs() {
    let engine = helpers::engine();
    let incoming = record_create();
    let hang = Hanging::default();
    let listener = hanging_listener(&engine, Duration::from_millis(300), &hang).await;
    let started = Instant::now();
    let report = listener
        .call(&incoming.event, &delivery(&incoming), Part::WHOLE)
        .await;
    assert_eq!(report.outcome, Outcome::Deadline);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_secs(3),
        "{took:?}"
    );
}

#[tokio::test]
async fn no_free_instance_slot_is_capacity_and_frees_up() {
    let engine = helpers::engine_with(EngineConfig {
        max_instances: 1,
        ..EngineConfig::default()
    });
    let incoming = Arc::new(record_create());
    let hang = Hanging::default();
    let busy = hanging_listener(&engine, Duration::from_secs(2), &hang).await;
    // Loaded before the slot is taken: loading instantiates once too.
    let ok = helpers::listener(&engine, "misbehave", &[("mode", "ok")]).await;
    let first = {
        let incoming = incoming.clone();
        tokio::spawn(async move {
            busy.call(&incoming.event, &delivery(&incoming), Part::WHOLE)
                .await
        })
    };
    hang.entered.notified().await;
    let second = ok
        .call(&incoming.event, &delivery(&incoming), Part::WHOLE)
        .await;
    assert_eq!(second.outcome, Outcome::Capacity);
    assert!(second.outcome.is_retryable());
    assert_eq!(first.await.unwrap().outcome, Outcome::Deadline);
    let third = ok
        .call(&incoming.event, &delivery(&incoming), Part::WHOLE)
        .await;
    assert_eq!(third.outcome, Outcome::Ok, "the slot is free again");
}

async fn misbehave(engine: &wasm_listeners::Engine, mode: &str) -> wasm_listeners::CallReport {
    let incoming = record_create();
    let l = helpers::listener(engine, "misbehave", &[("mode", mode)]).await;
    l.call(&incoming.event, &delivery(&incoming), Part::WHOLE)
        .await
}

#[tokio::test]
async fn traps_and_listener_errors_are_told_apart() {
    let engine = helpers::engine();
    let panic = misbehave(&engine, "panic").await;
    match &panic.outcome {
        Outcome::Trap { message } => assert!(message.contains("unreachable"), "{message}"),
        other => panic!("expected a trap, got {other:?}"),
    }
    let panicked = panic.log.iter().any(|l| l.message.contains("panicked"));
    assert!(
        panicked,
        "the panic message is in the captured stderr: {:?}",
        panic.log
    );
    let transient = misbehave(&engine, "fail-transient").await.outcome;
    assert!(matches!(
        transient,
        Outcome::ListenerError {
            error: ErrorKind::Transient,
            ..
        }
    ));
    assert!(transient.is_retryable());
    let permanent = misbehave(&engine, "fail-permanent").await.outcome;
    assert!(matches!(
        permanent,
        Outcome::ListenerError {
            error: ErrorKind::Permanent,
            ..
        }
    ));
    assert!(!permanent.is_retryable());
}

#[tokio::test]
async fn captured_log_takes_stdio_and_stays_bounded() {
    let engine = helpers::engine();
    let incoming = record_create();
    let print = helpers::listener(&engine, "misbehave", &[("mode", "print")]).await;
    let report = print
        .call(&incoming.event, &delivery(&incoming), Part::WHOLE)
        .await;
    let texts: Vec<_> = report.log.iter().map(|l| l.message.as_str()).collect();
    assert!(
        texts.contains(&"to stdout") && texts.contains(&"to stderr"),
        "{texts:?}"
    );

    let flood = helpers::listener(
        &engine,
        "misbehave",
        &[("mode", "log-flood"), ("lines", "5000")],
    )
    .await;
    let report = flood
        .call(&incoming.event, &delivery(&incoming), Part::WHOLE)
        .await;
    assert_eq!(report.outcome, Outcome::Ok);
    assert!(report.log_truncated);
    let kept: usize = report.log.iter().map(|l| l.message.len()).sum();
    assert!(kept <= flood.limits().log_capture_bytes, "{kept}");
    assert!(kept > flood.limits().log_capture_bytes / 2, "{kept}");
}

/// An email backend whose transaction passed its point of no return and completes
/// `late` after the deadline, as an SMTP server slow to acknowledge the content would.
#[derive(Debug, Clone)]
struct CommitsLate {
    late: Duration,
}

#[async_trait::async_trait]
impl wasm_listeners::EmailBackend for CommitsLate {
    async fn send(
        &self,
        _: &wasm_listeners::Email,
        deadline: Instant,
    ) -> Result<(), wasm_listeners::EmailBackendError> {
        tokio::time::sleep_until((deadline + self.late).into()).await;
        Ok(())
    }

    fn overrun(&self) -> Duration {
        self.late * 2
    }
}

#[tokio::test]
async fn a_message_accepted_after_the_deadline_is_not_reported_as_a_deadline() {
    let engine = helpers::engine();
    let incoming = record_create();
    let settings = [
        ("mode", "email"),
        ("from", "a@example.org"),
        ("to", "b@example.org"),
    ];
    let mut spec = helpers::open_spec("late", &settings);
    spec.limits.deadline = Duration::from_millis(200);
    let caps = Capabilities {
        email: Arc::new(CommitsLate {
            late: Duration::from_millis(300),
        }),
        queue: Arc::new(wasm_listeners::RecordOnly),
    };
    let listener = engine
        .listener(&helpers::load(&engine, "misbehave").await, spec, caps)
        .unwrap();
    let report = listener
        .call(&incoming.event, &delivery(&incoming), Part::WHOLE)
        .await;
    assert_eq!(report.outcome, Outcome::Ok, "{:?}", report.log);
    assert_eq!(report.emails.len(), 1);
    assert!(
        report.duration >= Duration::from_millis(500),
        "{:?}",
        report.duration
    );
}
