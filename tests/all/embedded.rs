//! Async listeners on the embedded defaults (no Redis): the durable queue is the SQLite
//! store, and `serve` runs the worker itself. Retries, dead letters and replay on an
//! injected clock; `kill -9` of `serve` while it delivers loses nothing it answered 202 for,
//! counted by an outside sink (aiosmtpd).

use crate::helpers::{self, fixture};
use crate::http::exchange;
use crate::process::Process;
use crate::servers::smtp::SmtpServer;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasm_listeners::{Clock, Config, DeadReason, ManualClock, Service, Source};

/// When the injected clock starts.
const T0: u64 = 1_800_000_000_000;

/// An async `send-email` listener to `smtp_port`, on the embedded store (no Redis).
fn config_text(smtp_port: u16, extra: &str) -> String {
    format!(
        r#"{extra}
[email.smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
timeout_ms = 5000

[[listener]]
name = "notify"
component = {component:?}
mode = "async"
[listener.settings]
from = "postmaster@localhost"
recipients = "ops@example.com"
[listener.email]
allowed_senders = ["postmaster@localhost"]
allowed_recipients = ["ops@example.com"]
[listener.limits]
deadline_ms = 2000
"#,
        component = helpers::guest("send-email").display().to_string()
    )
}

/// The committed record-creation event of the fixtures, with `user_id` set to `user`
/// (send-email writes it into the body: the sink tells the events apart by it).
fn committed_event(user: &str) -> serde_json::Value {
    let events: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("record-create.json")).unwrap()).unwrap();
    let mut event = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_class"] == "AfterResourceChanged")
        .unwrap()
        .clone();
    event["payload"]["user_id"] = user.into();
    event
}

#[tokio::test]
async fn retries_dead_letters_and_replay_on_the_embedded_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut smtp = SmtpServer::start();
    smtp.stop();
    let text = config_text(
        smtp.port(),
        "[delivery]\nretry_schedule = [\"10s\", \"20s\"]\njitter = 0.2\n",
    );
    let config = Config::parse(&text, dir.path()).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let clock = ManualClock::at(T0);
    let worker = Service::worker(&config, Arc::new(clock.clone()))
        .await
        .unwrap();
    let queue = worker.queue().clone();
    let event = committed_event("embedded-user").to_string();
    queue.enqueue(event.as_bytes(), Source::Http).await.unwrap();

    let first = worker.step().await.unwrap();
    assert_eq!((first.entries, first.scheduled), (1, 1), "{first:?}");
    let mut now = T0;
    for (n, pause) in [10_000u64, 20_000].into_iter().enumerate() {
        let pending = queue.pending("notify", 10).await.unwrap();
        let [p] = pending.as_slice() else {
            panic!("one pending delivery: {pending:?}")
        };
        assert_eq!(p.attempt as usize, n + 2);
        let (low, high) = (now + pause * 8 / 10, now + pause * 12 / 10);
        assert!(
            (low..=high).contains(&p.due_ms),
            "due {} not in [{low}, {high}]",
            p.due_ms
        );
        clock.set(p.due_ms - 1);
        assert!(worker.step().await.unwrap().is_idle(), "ran early");
        now = p.due_ms;
        clock.set(now);
        assert_eq!(worker.step().await.unwrap().retries, 1);
    }
    let (dead, counts) = queue.dead_letters("notify", 10).await.unwrap();
    let [letter] = dead.as_slice() else {
        panic!("one dead letter: {dead:?}")
    };
    assert_eq!((counts.count, letter.reason), (1, DeadReason::Exhausted));
    assert_eq!(letter.pending.attempt, 4, "three attempts ran");
    assert!(queue.pending("notify", 10).await.unwrap().is_empty());

    smtp.restart();
    let replayed = queue.replay("notify", None, clock.now_ms()).await.unwrap();
    assert_eq!(replayed, 1);
    let report = worker.step().await.unwrap();
    assert_eq!((report.retries, report.ok), (1, 1), "{report:?}");
    smtp.wait_for("User id: embedded-user").await;
    assert!(queue.dead_letters("notify", 10).await.unwrap().0.is_empty());
    assert!(queue.pending("notify", 10).await.unwrap().is_empty());
}

/// `serve` on the embedded store, its own process, on port 0 (its address changes with
/// every restart).
struct Serve {
    address: SocketAddr,
    config: std::path::PathBuf,
    process: Option<Process>,
}

impl Serve {
    fn start(dir: &Path, smtp_port: u16) -> Serve {
        let text = config_text(
            smtp_port,
            &format!(
                "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = {:?}\n",
                dir.join("data").display().to_string()
            ),
        );
        let config = dir.join("wasm-listeners.toml");
        std::fs::write(&config, text).unwrap();
        let mut serve = Serve {
            address: ([127, 0, 0, 1], 0).into(),
            config,
            process: None,
        };
        serve.restart();
        serve
    }

    /// Starts `serve` (again) and waits for `/healthz` at the address it announces.
    fn restart(&mut self) {
        let mut command = helpers::bin();
        command.args(["serve", "--config"]).arg(&self.config);
        let process = Process::spawn("serve", command);
        self.address = process.announced("serving on");
        crate::http::wait_healthz(self.address);
        self.process = Some(process);
    }

    fn kill(&mut self) {
        if let Some(process) = &mut self.process {
            process.kill();
        }
    }
}

/// The user ids of the messages received so far, with how often each came.
fn seen(smtp: &SmtpServer) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for message in smtp.messages() {
        if let Some(user) = message.lines().find_map(|l| l.strip_prefix("User id: ")) {
            *counts.entry(user.trim().to_owned()).or_default() += 1;
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_serve_loses_nothing_it_accepted() {
    const EVENTS: usize = 10_000;
    const PER_POST: usize = 500;
    const KILLS: usize = 3;
    // In flight when killed: every entry the lanes had taken (2 lanes x a batch of 16) may
    // have sent its email without its outcome being kept, so it runs again after the
    // restart; nothing else can.
    const DUPLICATES_BOUND: usize = KILLS * 2 * 16;
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpServer::start();
    let mut serve = Serve::start(dir.path(), smtp.port());

    for chunk in (0..EVENTS).collect::<Vec<_>>().chunks(PER_POST) {
        let events: Vec<_> = chunk
            .iter()
            .map(|i| committed_event(&format!("u{i}")))
            .collect();
        let body = serde_json::to_vec(&events).unwrap();
        let address = serve.address;
        let (status, answer) = tokio::task::spawn_blocking(move || {
            exchange(address, "POST", "/v1/events", &[], &body)
        })
        .await
        .unwrap();
        assert_eq!(status, 202, "accepted once stored: {answer}");
    }
    // Every event was answered 202. Kill serve while it delivers, each time once more
    // messages have arrived, and start it again on the same store.
    for kill in 1..=KILLS {
        let target = kill * EVENTS / (KILLS + 1);
        let deadline = Instant::now() + Duration::from_secs(60);
        while seen(&smtp).len() < target {
            assert!(
                Instant::now() < deadline,
                "delivery stalled before kill {kill}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        serve.kill();
        serve.restart();
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let counts = loop {
        let counts = seen(&smtp);
        if counts.len() == EVENTS || Instant::now() > deadline {
            break counts;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let missing: Vec<usize> = (0..EVENTS)
        .filter(|i| !counts.contains_key(&format!("u{i}")))
        .collect();
    assert!(
        missing.is_empty(),
        "{} missing, first {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    let duplicates: usize = counts.values().map(|n| n - 1).sum();
    assert!(
        duplicates <= DUPLICATES_BOUND,
        "{duplicates} duplicates, over the bound of {DUPLICATES_BOUND}"
    );
    eprintln!("embedded kill -9 x{KILLS}: {EVENTS} events, 0 missing, {duplicates} duplicates");
}
