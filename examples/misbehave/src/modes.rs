//! One function per mode that does more than return.

use std::hint::black_box;

use wasm_listeners_sdk::email::Email;
use wasm_listeners_sdk::{info, queue, Event, Objects, Result, Settings};

const MIB: usize = 1 << 20;
/// Touch one byte per 4 KiB so every page of the allocation is really used.
const PAGE: usize = 4096;
/// Each `log-flood` line is this long.
const LINE_BYTES: usize = 100;

/// Allocates `mib` MiB and writes to every page. Past the memory limit, the allocator
/// fails and the guest traps: that is the point.
pub(crate) fn alloc(mib: usize) -> Result<()> {
    let mut block = vec![0u8; mib.saturating_mul(MIB)];
    for offset in (0..block.len()).step_by(PAGE) {
        block[offset] = 1;
    }
    black_box(&block);
    info!("allocated {mib} MiB");
    Ok(())
}

/// Settings `from` (optional), `to`, `cc` and `bcc` (optional).
pub(crate) fn email(settings: &Settings) -> Result<()> {
    let mut email = Email::new().to(settings.require("to")?);
    if let Some(from) = settings.get("from") {
        email = email.from(from);
    }
    if let Some(cc) = settings.get("cc") {
        email = email.cc(cc);
    }
    if let Some(bcc) = settings.get("bcc") {
        email = email.bcc(bcc);
    }
    Ok(email.subject("probe").body("probe").send()?)
}

pub(crate) fn queue(name: &str, payload: Option<&str>) -> Result<()> {
    Ok(queue::push(name, payload.unwrap_or_default())?)
}

pub(crate) fn print() -> Result<()> {
    println!("to stdout");
    eprintln!("to stderr");
    Ok(())
}

pub(crate) fn log_flood(lines: usize) -> Result<()> {
    for i in 0..lines {
        info!("{:x<width$}", format!("line {i} "), width = LINE_BYTES);
    }
    Ok(())
}

pub(crate) fn objects(event: &Event) -> Result<()> {
    let ids: Vec<Option<&str>> = match event.objects() {
        Objects::NotGiven => Vec::new(),
        Objects::Changes(changes) => changes.iter().map(|c| c.id()).collect(),
        Objects::Read(objects) => objects.iter().map(|o| o.id()).collect(),
    };
    for (i, id) in ids.into_iter().enumerate() {
        info!("object {i} id={}", id.unwrap_or("-"));
    }
    let context = event.context();
    info!("part {} of {}", context.part_index(), context.part_count());
    Ok(())
}

/// Pushes the event's action and objects onto queue `name` as one JSON text,
/// `{"action": ..., "changes": [{"old": ..., "new": ...}, ...]}`: what an async listener
/// saw, for a test to read from outside.
pub(crate) fn queue_objects(event: &Event, name: &str) -> Result<()> {
    let changes: Vec<String> = event
        .objects()
        .changes()
        .map(|c| {
            let old = c.old.as_ref().map_or("null", |o| o.json());
            format!("{{\"old\":{old},\"new\":{}}}", c.new.json())
        })
        .collect();
    let text = format!(
        "{{\"action\":\"{}\",\"changes\":[{}]}}",
        event.action().as_str(),
        changes.join(",")
    );
    Ok(queue::push(name, text)?)
}
