//! Row 1: a call through the runtime (`Listener::call`, recording backends) against bare
//! wasmtime and against the same logic as a plain Rust function, at 1 and 2 concurrent
//! calls, for the Rust `send-email` and `queue-forward`.

use crate::bare::{self, BareListener};
use crate::measure::{self, Scale};
use crate::report::{Ratio, Row, Side, Target};
use crate::servers::Guests;
use std::collections::BTreeMap;
use std::sync::Arc;
use wasm_listeners::{
    Capabilities, Email, Engine, EngineConfig, Event, Incoming, Limits, Listener, ListenerSpec,
    Part, Source,
};

/// The tutorial's settings of each guest.
const SEND_EMAIL: &[(&str, &str)] = &[
    ("from", "postmaster@localhost"),
    ("recipients", "kinto@yopmail.com"),
];
const QUEUE_FORWARD: &[(&str, &str)] = &[("listname", "eventqueue")];

/// One guest, set up the three ways.
struct Subject {
    name: &'static str,
    runtime: Listener,
    bare: Arc<BareListener>,
    plain: fn(&Event, &BTreeMap<String, String>) -> usize,
    settings: BTreeMap<String, String>,
}

pub(crate) async fn rows(guests: &Guests, scale: Scale) -> anyhow::Result<Vec<Row>> {
    let engine = Engine::new(EngineConfig::default())?;
    let incoming = Arc::new(crate::servers::record_create()?);
    let subjects = [
        subject(
            &engine,
            "send-email",
            &guests.send_email,
            SEND_EMAIL,
            plain_send_email,
        )
        .await?,
        subject(
            &engine,
            "queue-forward",
            &guests.queue_forward,
            QUEUE_FORWARD,
            plain_queue_forward,
        )
        .await?,
    ];
    let mut rows = Vec::new();
    for s in &subjects {
        rows.extend(compare(s, &incoming, scale).await?);
    }
    Ok(rows)
}

async fn subject(
    engine: &Engine,
    name: &'static str,
    path: &std::path::Path,
    settings: &[(&str, &str)],
    plain: fn(&Event, &BTreeMap<String, String>) -> usize,
) -> anyhow::Result<Subject> {
    let bytes = std::fs::read(path)?;
    let loaded = engine.load(&bytes).await?;
    let mut spec = ListenerSpec::permit_all(name);
    spec.settings = settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let settings_map = spec.settings.clone();
    let runtime = engine.listener(&loaded, spec, Capabilities::record_only())?;
    let bare = BareListener::new(
        engine.wasmtime_engine(),
        &bytes,
        Limits::default(),
        settings,
    )?;
    Ok(Subject {
        name,
        runtime,
        bare: Arc::new(bare),
        plain,
        settings: settings_map,
    })
}

async fn compare(s: &Subject, incoming: &Arc<Incoming>, scale: Scale) -> anyhow::Result<Vec<Row>> {
    let mut rates = Vec::new();
    let mut rows = Vec::new();
    for concurrency in [1, 2] {
        let (ours, theirs) = measure::alternate(
            scale.trials(),
            || runtime_rate(s, incoming, concurrency, scale),
            || bare_rate(s, incoming, concurrency, scale),
        )
        .await?;
        rates.push(ours);
        rows.push(Row {
            group: "engine",
            name: format!("{}, {concurrency} concurrent call(s)", s.name),
            ours: Side::new("runtime", ours),
            theirs: Some(Side::new("bare wasmtime", theirs)),
            ratio: Ratio::Time,
            target: Some(Target::AtMost(1.5)),
        });
    }
    rows.push(Row {
        group: "engine",
        name: format!("{}, 2 concurrent calls against 1 (2 cores)", s.name),
        ours: Side::new("runtime, 2 calls", rates[1]),
        theirs: Some(Side::new("runtime, 1 call", rates[0])),
        ratio: Ratio::Rate,
        target: Some(Target::AtLeast(1.6)),
    });
    let plain = plain_rate(s, &incoming.event, scale);
    rows.push(Row {
        group: "engine",
        name: format!("{}, the sandbox's price", s.name),
        ours: Side::new("runtime", rates[0]),
        theirs: Some(Side::new("plain Rust function", plain)),
        ratio: Ratio::Time,
        target: None,
    });
    Ok(rows)
}

async fn runtime_rate(
    s: &Subject,
    incoming: &Arc<Incoming>,
    concurrency: usize,
    scale: Scale,
) -> anyhow::Result<f64> {
    listener_rate(&s.runtime, incoming, concurrency, scale).await
}

/// Calls per second of `listener` from `concurrency` tasks, a fresh instance a call.
pub(crate) async fn listener_rate(
    listener: &Listener,
    incoming: &Arc<Incoming>,
    concurrency: usize,
    scale: Scale,
) -> anyhow::Result<f64> {
    let (listener, incoming) = (listener.clone(), incoming.clone());
    let delivery = Arc::new(incoming.first_delivery(Source::Cli));
    measure::rate(concurrency, scale.trial(), move || {
        let (listener, incoming, delivery) = (listener.clone(), incoming.clone(), delivery.clone());
        async move {
            let report = listener.call(&incoming.event, &delivery, Part::WHOLE).await;
            anyhow::ensure!(report.outcome.is_ok(), "{}", report.outcome);
            Ok(())
        }
    })
    .await
}

async fn bare_rate(
    s: &Subject,
    incoming: &Arc<Incoming>,
    concurrency: usize,
    scale: Scale,
) -> anyhow::Result<f64> {
    bare_listener_rate(&s.bare, s.name, incoming, concurrency, scale).await
}

/// Calls per second of the bare-wasmtime `listener` from `concurrency` tasks.
pub(crate) async fn bare_listener_rate(
    listener: &Arc<BareListener>,
    name: &str,
    incoming: &Arc<Incoming>,
    concurrency: usize,
    scale: Scale,
) -> anyhow::Result<f64> {
    let event = Arc::new(bare::event(&incoming.event));
    let context = Arc::new(bare::context(&incoming.event.id(), name));
    let listener = listener.clone();
    measure::rate(concurrency, scale.trial(), move || {
        let (listener, event, context) = (listener.clone(), event.clone(), context.clone());
        async move { listener.call(&event, &context).await }
    })
    .await
}

/// Calls per second of the plain function, one thread.
fn plain_rate(s: &Subject, event: &Event, scale: Scale) -> f64 {
    let mut rates = Vec::new();
    for _ in 0..scale.trials() {
        let started = std::time::Instant::now();
        let mut calls = 0u64;
        let mut sink = 0usize;
        while started.elapsed() < scale.trial() {
            sink = sink.wrapping_add(std::hint::black_box((s.plain)(event, &s.settings)));
            calls += 1;
        }
        std::hint::black_box(sink);
        rates.push(calls as f64 / started.elapsed().as_secs_f64());
    }
    measure::median(&rates)
}

/// `send-email`'s logic: the tutorial's message, built and recorded (its size returned).
fn plain_send_email(event: &Event, settings: &BTreeMap<String, String>) -> usize {
    let setting = |k: &str| settings.get(k).map_or("", String::as_str);
    let email = Email {
        from: setting("from").to_owned(),
        to: setting("recipients")
            .split_whitespace()
            .map(str::to_owned)
            .collect(),
        cc: Vec::new(),
        bcc: Vec::new(),
        reply_to: None,
        subject: format!("{} {}d", event.resource_name, event.action.as_str()),
        body: format!("User id: {}", event.user_id.as_deref().unwrap_or("None")),
        html_body: None,
    };
    // Recorded in a list, as the runtime's report holds the emails a call sent.
    let recorded: Vec<Email> = std::iter::once(email).collect();
    recorded[0].subject.len() + recorded[0].body.len()
}

/// `queue-forward`'s logic: kinto-redis's payload JSON, recorded (its size returned).
fn plain_queue_forward(event: &Event, settings: &BTreeMap<String, String>) -> usize {
    let queue = settings.get("listname").cloned().unwrap_or_default();
    let payload = serde_json::Value::Object(event.payload())
        .to_string()
        .into_bytes();
    let recorded: Vec<(String, Vec<u8>)> = std::iter::once((queue, payload)).collect();
    recorded[0].1.len()
}
