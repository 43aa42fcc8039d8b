//! Printing call reports, as text for people or as one JSON object.

use crate::cli::out::say;
use crate::engine::CallReport;
use crate::event::Delivery;
use std::path::Path;
use std::process::ExitCode;

/// 0 when every call ended `ok`, 1 otherwise.
pub(super) fn exit_code(reports: &[CallReport]) -> ExitCode {
    if reports.iter().all(|r| r.outcome.is_ok()) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// A listener's default name: the component file's stem.
pub(super) fn listener_name(component: &Path) -> String {
    let stem = component.file_stem().map(|s| s.to_string_lossy());
    stem.map_or_else(|| "listener".to_owned(), |s| s.into_owned())
}

/// `{"event_id", "phase", "outcome", "calls": [...]}`: `outcome` is the last call's.
pub(super) fn json(delivery: &Delivery, reports: &[CallReport]) -> serde_json::Value {
    let last = reports.last().map(|r| &r.outcome);
    serde_json::json!({
        "event_id": delivery.event_id,
        "phase": delivery.phase,
        "outcome": last,
        "calls": reports,
    })
}

pub(super) fn print_text(delivery: &Delivery, reports: &[CallReport]) {
    say!("event {} ({})", delivery.event_id, delivery.phase);
    for r in reports {
        print_call(r);
    }
}

fn print_call(r: &CallReport) {
    let part = r.part;
    if part.count > 1 {
        say!("part {} of {}", part.index, part.count);
    }
    say!("outcome: {}", r.outcome);
    say!(
        "fuel: {}  duration: {:.3} ms  peak memory: {:.1} MiB",
        r.fuel_consumed,
        r.duration.as_secs_f64() * 1e3,
        r.peak_memory_bytes as f64 / f64::from(1 << 20)
    );
    if !r.log.is_empty() || r.log_truncated {
        say!("log:");
    }
    for line in &r.log {
        say!("  [{} {}] {}", line.level, line.stream, line.message);
    }
    if r.log_truncated {
        say!("  ... (log truncated at its limit)");
    }
    for (n, email) in (1..).zip(&r.emails) {
        say!("email {n} (recorded, not sent):");
        say!("  From: {}", email.from);
        for (header, list) in [("To", &email.to), ("Cc", &email.cc), ("Bcc", &email.bcc)] {
            if !list.is_empty() {
                say!("  {header}: {}", list.join(", "));
            }
        }
        say!("  Subject: {}", email.subject);
        say!();
        for line in email.body.lines() {
            say!("  {line}");
        }
    }
    for (n, push) in (1..).zip(&r.queue_pushes) {
        let bytes = push.payload.len();
        say!(
            "queue push {n} (recorded, not sent): {} ({bytes} bytes)",
            push.queue
        );
        say!("  {}", String::from_utf8_lossy(&push.payload));
    }
}
