//! How calls end besides the limits: traps told apart from listener errors, the captured
//! log, and an email the server accepted after the deadline.
//!
//! The first two need a guest that panics and prints through WASI, so they use the
//! `misbehave` example; the last builds its own component (`components`).

use crate::components;
use crate::helpers::{self, delivery, fixture_event};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasm_listeners::{Capabilities, ErrorKind, LogLevel, LogLine, LogStream, Outcome, Part};

fn record_create() -> wasm_listeners::Incoming {
    fixture_event("record-create.json", 0)
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
    let line = |level, stream, message: &str| LogLine {
        level,
        stream,
        message: message.to_owned(),
    };
    let stdout = line(LogLevel::Info, LogStream::Stdout, "to stdout");
    let stderr = line(LogLevel::Warn, LogStream::Stderr, "to stderr");
    assert!(
        report.log.contains(&stdout) && report.log.contains(&stderr),
        "stdout at info, stderr at warn: {:?}",
        report.log
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
    let mut spec = helpers::open_spec("late", &[]);
    spec.limits.deadline = Duration::from_millis(200);
    let caps = Capabilities {
        email: Arc::new(CommitsLate {
            late: Duration::from_millis(300),
        }),
        queue: Arc::new(wasm_listeners::RecordOnly),
    };
    let listener = components::listener(&engine, &components::send_email(), spec, caps).await;
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
