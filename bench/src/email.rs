//! Rows 2 and 3: the runtime's email path (the `send-email` guest, SMTP backend) into a
//! counting aiosmtpd sink, against the tutorial's path (a new `smtplib` connection per
//! message) and against the sink's ceiling (8 reused connections doing nothing else).
//! Row 2 again into a sink that answers at once ([`InstantSink`]): what the two paths cost
//! the client when the server is not the bottleneck.

use crate::measure::{self, Scale};
use crate::report::{Ratio, Row, Side, Target};
use crate::servers::{self, Guests, Server};
use crate::sink::InstantSink;
use std::sync::Arc;
use std::time::Instant;
use wasm_listeners::{
    Capabilities, Engine, EngineConfig, Incoming, Listener, ListenerSpec, Part, RecordOnly,
    SmtpBackend, SmtpConfig, SmtpTls, Source,
};

/// Concurrent senders of row 3.
const SENDERS: usize = 8;

pub(crate) async fn rows(guests: &Guests, scale: Scale) -> anyhow::Result<Vec<Row>> {
    let sink = Server::smtp_sink()?;
    let instant = InstantSink::start()?;
    let engine = Engine::new(EngineConfig::default())?;
    let listener = send_email(&engine, guests, sink.port).await?;
    let to_instant = send_email(&engine, guests, instant.port).await?;
    let incoming = Arc::new(servers::record_create()?);
    let n = scale.messages();
    let tutorial_args = [sink.port.to_string(), n.to_string()];
    let ceiling_args = [sink.port.to_string(), n.to_string(), SENDERS.to_string()];
    let (one, tutorial) = measure::alternate(
        scale.trials(),
        || sends(&listener, &incoming, 1, n),
        || servers::anchor_rate("tutorial_smtp.py", &tutorial_args),
    )
    .await?;
    let instant_args = [instant.port.to_string(), n.to_string()];
    let (own, tutorial_own) = measure::alternate(
        scale.trials(),
        || sends(&to_instant, &incoming, 1, n),
        || servers::anchor_rate("tutorial_smtp.py", &instant_args),
    )
    .await?;
    let (many, ceiling) = measure::alternate(
        scale.trials(),
        || sends(&listener, &incoming, SENDERS, n),
        || servers::anchor_rate("smtp_ceiling.py", &ceiling_args),
    )
    .await?;
    Ok(vec![
        Row {
            group: "email",
            name: "one sender, one message after another".into(),
            ours: Side::new("runtime (send-email, SMTP backend)", one),
            theirs: Some(Side::new(
                "tutorial (smtplib, a connection per message)",
                tutorial,
            )),
            ratio: Ratio::Rate,
            target: Some(Target::AtLeast(3.0)),
        },
        Row {
            group: "email",
            name: "one sender, into a sink that answers at once (Rust)".into(),
            ours: Side::new("runtime (send-email, SMTP backend)", own),
            theirs: Some(Side::new(
                "tutorial (smtplib, a connection per message)",
                tutorial_own,
            )),
            ratio: Ratio::Rate,
            target: None,
        },
        Row {
            group: "email",
            name: format!("{SENDERS} concurrent senders"),
            ours: Side::new(format!("runtime, {SENDERS} concurrent calls"), many),
            theirs: Some(Side::new(
                format!("sink ceiling ({SENDERS} reused smtplib connections)"),
                ceiling,
            )),
            ratio: Ratio::Rate,
            target: Some(Target::AtLeast(0.8)),
        },
    ])
}

/// `send-email` with the tutorial's settings, sending through the sink.
async fn send_email(engine: &Engine, guests: &Guests, port: u16) -> anyhow::Result<Listener> {
    let loaded = engine.load(&std::fs::read(&guests.send_email)?).await?;
    let mut spec = ListenerSpec::permit_all("send_email");
    spec.settings = [
        ("from", "postmaster@localhost"),
        ("recipients", "kinto@yopmail.com"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let smtp = SmtpConfig {
        host: "127.0.0.1".into(),
        port: Some(port),
        tls: SmtpTls::None,
        username: None,
        password: None,
        timeout_ms: 10_000,
        pool_size: SENDERS,
        ca_file: None,
    };
    let caps = Capabilities {
        email: Arc::new(SmtpBackend::new(&smtp)?),
        queue: Arc::new(RecordOnly),
    };
    Ok(engine.listener(&loaded, spec, caps)?)
}

/// Messages per second of `total` sends by `senders` concurrent callers.
async fn sends(
    listener: &Listener,
    incoming: &Arc<Incoming>,
    senders: usize,
    total: usize,
) -> anyhow::Result<f64> {
    let delivery = Arc::new(incoming.first_delivery(Source::Cli));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..senders {
        let (listener, incoming, delivery) = (listener.clone(), incoming.clone(), delivery.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..total / senders {
                let report = listener.call(&incoming.event, &delivery, Part::WHOLE).await;
                anyhow::ensure!(report.outcome.is_ok(), "{}", report.outcome);
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok((total / senders * senders) as f64 / started.elapsed().as_secs_f64())
}
