//! Row 6: listeners in every language, side by side. For each language's `send-email` and
//! `queue-forward`: the component's size, its compile time (a load that misses the artifact
//! cache), its precompiled load time (a load from the artifact), and fuel and time per
//! event through the runtime; for `send-email`, the engine row again (the runtime against
//! bare wasmtime at 1 and 2 concurrent calls), so a pooling knob chosen for Rust guests
//! shows if it hurts the big ones; and the time per event again when the listener reuses
//! its instance (`calls_per_instance`), which big guests gain most from.
//!
//! A smoke run (`--quick`) leaves out Python and JavaScript on SpiderMonkey: their
//! components take seconds each to compile, and run the same code paths as QuickJS's.

use crate::bare::BareListener;
use crate::engine::{bare_listener_rate, listener_rate};
use crate::measure::{self, Scale};
use crate::report::{GuestFigures, Ratio, Row, Side};
use crate::servers::{self, Guests};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasm_listeners::{
    ArtifactCacheConfig, Capabilities, Engine, EngineConfig, Incoming, Limits, Listener,
    ListenerSpec, Part, Source,
};

/// The tutorial's settings of each example.
const SEND_EMAIL: &[(&str, &str)] = &[
    ("from", "postmaster@localhost"),
    ("recipients", "kinto@yopmail.com"),
];
const QUEUE_FORWARD: &[(&str, &str)] = &[("listname", "eventqueue")];

/// Calls one instance serves in the reused-instance measure.
pub(crate) const CALLS_PER_INSTANCE: u32 = 1_000;

/// One language's built examples.
struct Language {
    name: &'static str,
    send_email: PathBuf,
    queue_forward: PathBuf,
}

fn languages(rust: &Guests, scale: Scale) -> anyhow::Result<Vec<Language>> {
    let built = servers::build_language_guests()?;
    let js =
        |engine: &str, example: &str| built.javascript.join(format!("{example}.{engine}.wasm"));
    let mut languages = vec![Language {
        name: "Rust",
        send_email: rust.send_email.clone(),
        queue_forward: rust.queue_forward.clone(),
    }];
    if scale == Scale::Full {
        languages.push(Language {
            name: "Python",
            send_email: built.python.join("send-email.wasm"),
            queue_forward: built.python.join("queue-forward.wasm"),
        });
        languages.push(Language {
            name: "JavaScript (SpiderMonkey)",
            send_email: js("spidermonkey", "send-email"),
            queue_forward: js("spidermonkey", "queue-forward"),
        });
    }
    languages.push(Language {
        name: "JavaScript (QuickJS)",
        send_email: js("quickjs", "send-email"),
        queue_forward: js("quickjs", "queue-forward"),
    });
    for (name, dir) in [("C", &built.c), ("Zig", &built.zig)] {
        languages.push(Language {
            name,
            send_email: dir.join("send-email.wasm"),
            queue_forward: dir.join("queue-forward.wasm"),
        });
    }
    Ok(languages)
}

pub(crate) async fn rows(
    rust: &Guests,
    scale: Scale,
) -> anyhow::Result<(Vec<Row>, Vec<GuestFigures>)> {
    let cache = tempfile::tempdir()?;
    let engine = Engine::new(EngineConfig {
        artifacts: Some(ArtifactCacheConfig::under(cache.path())),
        ..EngineConfig::default()
    })?;
    let incoming = Arc::new(servers::record_create()?);
    let mut rows = Vec::new();
    let mut figures = Vec::new();
    for language in languages(rust, scale)? {
        let examples = [
            ("send-email", &language.send_email, SEND_EMAIL),
            ("queue-forward", &language.queue_forward, QUEUE_FORWARD),
        ];
        for (example, path, settings) in examples {
            let (listener, mut figure) = load(&engine, path, settings).await?;
            figure.language = language.name;
            figure.example = example;
            let (fuel, rate) = per_event(&listener, &incoming, scale).await?;
            figure.fuel_per_event = fuel;
            figure.time_per_event = Duration::from_secs_f64(1.0 / rate);
            let reused = reusing(&engine, path, settings).await?;
            let (_, rate) = per_event(&reused, &incoming, scale).await?;
            figure.time_per_event_reused = Duration::from_secs_f64(1.0 / rate);
            figures.push(figure);
            if example == "send-email" && language.name != "Rust" {
                let bare = BareListener::new(
                    engine.wasmtime_engine(),
                    &std::fs::read(path)?,
                    Limits::default(),
                    settings,
                )?;
                rows.extend(
                    engine_rows(language.name, &listener, Arc::new(bare), &incoming, scale).await?,
                );
            }
        }
    }
    Ok((rows, figures))
}

/// Loads `path` twice: compiled (the cache is empty), then from its artifact.
async fn load(
    engine: &Engine,
    path: &Path,
    settings: &[(&str, &str)],
) -> anyhow::Result<(Listener, GuestFigures)> {
    let bytes = std::fs::read(path)?;
    let name = path.display().to_string();
    let started = Instant::now();
    engine.load_named(&name, &bytes).await?;
    let compile = started.elapsed();
    let before = engine.compile_stats();
    let started = Instant::now();
    let loaded = engine.load_named(&name, &bytes).await?;
    let precompiled_load = started.elapsed();
    let after = engine.compile_stats();
    anyhow::ensure!(
        after.artifacts_loaded == before.artifacts_loaded + 1 && after.compiled == before.compiled,
        "{name}: the second load did not come from the artifact"
    );
    let listener = engine.listener(&loaded, spec(settings, 1), Capabilities::record_only())?;
    let figure = GuestFigures {
        language: "",
        example: "",
        bytes: bytes.len() as u64,
        compile,
        precompiled_load,
        fuel_per_event: 0,
        time_per_event: Duration::ZERO,
        time_per_event_reused: Duration::ZERO,
    };
    Ok((listener, figure))
}

/// The component at `path` again (from the artifact), an instance serving up to
/// [`CALLS_PER_INSTANCE`] calls.
async fn reusing(
    engine: &Engine,
    path: &Path,
    settings: &[(&str, &str)],
) -> anyhow::Result<Listener> {
    let loaded = engine.load(&std::fs::read(path)?).await?;
    let spec = spec(settings, CALLS_PER_INSTANCE);
    Ok(engine.listener(&loaded, spec, Capabilities::record_only())?)
}

fn spec(settings: &[(&str, &str)], calls_per_instance: u32) -> ListenerSpec {
    let mut spec = ListenerSpec::permit_all("bench");
    spec.settings = settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    spec.calls_per_instance = NonZeroU32::new(calls_per_instance).unwrap_or(NonZeroU32::MIN);
    spec
}

/// Fuel of one call, and calls per second from one task (median of the trials).
async fn per_event(
    listener: &Listener,
    incoming: &Arc<Incoming>,
    scale: Scale,
) -> anyhow::Result<(u64, f64)> {
    let delivery = incoming.first_delivery(Source::Cli);
    let report = listener.call(&incoming.event, &delivery, Part::WHOLE).await;
    anyhow::ensure!(report.outcome.is_ok(), "{}", report.outcome);
    let mut rates = Vec::new();
    for _ in 0..scale.trials() {
        rates.push(listener_rate(listener, incoming, 1, scale).await?);
    }
    Ok((report.fuel_consumed, measure::median(&rates)))
}

/// The engine row for a big guest: runtime against bare wasmtime at 1 and 2 calls.
async fn engine_rows(
    language: &str,
    listener: &Listener,
    bare: Arc<BareListener>,
    incoming: &Arc<Incoming>,
    scale: Scale,
) -> anyhow::Result<Vec<Row>> {
    let mut rows = Vec::new();
    let mut rates = Vec::new();
    for concurrency in [1, 2] {
        let (ours, theirs) = measure::alternate(
            scale.trials(),
            || listener_rate(listener, incoming, concurrency, scale),
            || bare_listener_rate(&bare, "bench", incoming, concurrency, scale),
        )
        .await?;
        rates.push(ours);
        rows.push(Row {
            group: "guests",
            name: format!("send-email in {language}, {concurrency} concurrent call(s)"),
            ours: Side::new("runtime", ours),
            theirs: Some(Side::new("bare wasmtime", theirs)),
            ratio: Ratio::Time,
            target: None,
        });
    }
    rows.push(Row {
        group: "guests",
        name: format!("send-email in {language}, 2 concurrent calls against 1 (2 cores)"),
        ours: Side::new("runtime, 2 calls", rates[1]),
        theirs: Some(Side::new("runtime, 1 call", rates[0])),
        ratio: Ratio::Rate,
        target: None,
    });
    Ok(rows)
}
