//! Row 7: sync `POST /v1/events` while a tenant's upload compiles, against the same
//! requests with nothing compiling, in one run.
//!
//! `serve` runs in this process (the tutorial configuration, its listeners sync, on the
//! embedded defaults, with tenants on); a tenant uploads a component over the API, which
//! answers once the compile child (this binary, run as `compile-child`: `main.rs`) has
//! compiled it. One client posts the record-creation fixture one request after another:
//! during the upload, and for as long again with nothing compiling. Each trial uploads a
//! new component (the example with a custom section of its own), so every upload compiles.
//! The figure is the p99 latency during the compile over the p99 without (issue "Tenants 1
//! of 3": at most 1.5).
//!
//! One client, as one Kinto process posts its events: more clients would keep both cores
//! busy, and the child, at the lowest priority, would wait for them (which is its design,
//! but the row would then measure how long the compile waits, not what it costs the calls).

use crate::http;
use crate::measure::{self, Scale};
use crate::report::{Ratio, Row, Side, Target};
use crate::servers::{self, Guests};
use anyhow::Context;
use bytes::Bytes;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasm_listeners::Config;

/// The tenant that uploads.
const TENANT: &str = "bench";

pub(crate) async fn rows(guests: &Guests, scale: Scale) -> anyhow::Result<Vec<Row>> {
    // A smoke run compiles the small Rust example: the same path, in a fraction of a second.
    let (component, what) = match scale {
        Scale::Quick => (guests.send_email.clone(), "Rust send-email"),
        Scale::Full => (
            servers::build_language_guests()?
                .python
                .join("send-email.wasm"),
            "Python send-email",
        ),
    };
    let component = std::fs::read(&component)?;
    let dir = tempfile::tempdir()?;
    let text = http::config(guests, &dir.path().join("data"), "")?;
    let config = Config::parse(&text, dir.path())?;
    let (address, stop) = http::serve(&config).await?;
    let tenant = serde_json::to_vec(&serde_json::json!({ "id": TENANT }))?;
    let created = http::request(address, "POST", "/v1/tenants", tenant.into()).await;
    let (status, answer) = created.context("creating the tenant")?;
    anyhow::ensure!(status == 201, "creating the tenant: {status}: {answer}");
    let body = Bytes::from(servers::record_create_bytes()?);
    let (mut during, mut without) = (Latencies::default(), Latencies::default());
    let trials = match scale {
        Scale::Quick => 1,
        Scale::Full => 3,
    };
    for trial in 0..trials {
        let upload = Bytes::from(with_custom_section(&component, trial));
        let compiling = Arc::new(AtomicBool::new(true));
        let flag = compiling.clone();
        let started = Instant::now();
        let uploading = tokio::spawn(async move {
            let path = format!("/v1/tenants/{TENANT}/components");
            let answer = http::request(address, "POST", &path, upload).await;
            let answer = answer.context("uploading");
            flag.store(false, Ordering::Release);
            answer
        });
        let keep_going = move || compiling.load(Ordering::Acquire);
        during.add(
            http::client(address, body.clone(), keep_going).await?,
            started,
        );
        let (status, answer) = uploading.await??;
        anyhow::ensure!(status == 201, "uploading: {status}: {answer}");
        // As long again with nothing compiling.
        let end = Instant::now() + started.elapsed();
        let started = Instant::now();
        let keep_going = move || Instant::now() < end;
        without.add(
            http::client(address, body.clone(), keep_going).await?,
            started,
        );
    }
    let _ = stop.send(());
    let name = format!("sync events, 1 client, while a {what} upload compiles, p99 against none");
    Ok(vec![Row {
        group: "uploads",
        name,
        ours: during.side("while compiling"),
        theirs: Some(without.side("nothing compiling")),
        ratio: Ratio::P99,
        target: Some(Target::AtMost(1.5)),
    }])
}

/// The latencies of one side, over its trials.
#[derive(Default)]
struct Latencies {
    all: Vec<Duration>,
    time: Duration,
}

impl Latencies {
    fn add(&mut self, latencies: Vec<Duration>, started: Instant) {
        self.all.extend(latencies);
        self.time += started.elapsed();
    }

    fn side(mut self, label: &str) -> Side {
        let rate = self.all.len() as f64 / self.time.as_secs_f64().max(1e-9);
        let p50 = measure::percentile(&mut self.all, 50.0);
        let p99 = measure::percentile(&mut self.all, 99.0);
        let mut side = Side::new(label, rate);
        side.p99 = Some(p99);
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        side.detail = format!(
            "p50 {:.2} ms, p99 {:.2} ms, {} requests",
            ms(p50),
            ms(p99),
            self.all.len()
        );
        side
    }
}

/// `component` with a custom section naming `trial` appended: other bytes, another digest,
/// so the upload compiles again; the same code.
fn with_custom_section(component: &[u8], trial: usize) -> Vec<u8> {
    let name = b"wasm-listeners-bench";
    let payload = format!("trial {trial}");
    let mut content = leb128(name.len());
    content.extend_from_slice(name);
    content.extend_from_slice(payload.as_bytes());
    let mut bytes = component.to_vec();
    bytes.push(0); // custom section
    bytes.extend(leb128(content.len()));
    bytes.extend(content);
    bytes
}

fn leb128(mut n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leb128_encodes_as_the_binary_format_does() {
        assert_eq!(leb128(0), [0]);
        assert_eq!(leb128(127), [0x7f]);
        assert_eq!(leb128(128), [0x80, 0x01]);
        assert_eq!(leb128(624_485), [0xe5, 0x8e, 0x26]);
    }

    #[test]
    fn the_custom_section_changes_the_bytes_and_keeps_them_valid_in_shape() {
        let header = b"\0asm\x0d\0\x01\0".to_vec();
        let a = with_custom_section(&header, 0);
        let b = with_custom_section(&header, 1);
        assert_ne!(a, b);
        assert!(a.starts_with(&header));
        // id, size, then the name's length and the name.
        let section = &a[header.len()..];
        assert_eq!(section[0], 0);
        assert_eq!(section[1] as usize, section.len() - 2);
        assert_eq!(section[2] as usize, b"wasm-listeners-bench".len());
    }
}
