//! Row 4: `POST /v1/events` of the record-creation fixture through the tutorial
//! configuration, on the embedded defaults and on SMTP + Redis, at a few client counts,
//! driven by a hyper HTTP/1.1 client (one keep-alive connection per client). No target:
//! these are the figures users will quote.

use crate::measure::{self, Scale};
use crate::report::{Ratio, Row, Side};
use crate::servers::{self, Guests, Server};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};
use wasm_listeners::{Config, Service};

/// Client counts of each configuration.
const CLIENTS: [usize; 3] = [1, 4, 16];

pub(crate) async fn rows(guests: &Guests, scale: Scale) -> anyhow::Result<Vec<Row>> {
    let dir = tempfile::tempdir()?;
    let sink = Server::smtp_sink()?;
    let redis = Server::redis()?;
    let backends = format!(
        "[email.smtp]\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\npool_size = 16\n\n[queue]\nredis_url = \"redis://127.0.0.1:{}/\"\n\n",
        sink.port, redis.port
    );
    let setups = [
        ("embedded defaults", String::new()),
        ("SMTP + Redis", backends),
    ];
    let body = Bytes::from(servers::record_create_bytes()?);
    let mut rows = Vec::new();
    for (n, (name, extra)) in setups.iter().enumerate() {
        let text = config(guests, &dir.path().join(format!("data-{n}")), extra)?;
        let config = Config::parse(&text, dir.path())?;
        let (address, stop) = serve(&config).await?;
        for clients in CLIENTS {
            let (rate, latency) = load(address, clients, &body, scale).await?;
            let mut ours = Side::new("runtime", rate);
            ours.detail = latency;
            rows.push(Row {
                group: "http",
                name: format!("tutorial configuration, {name}, {clients} client(s)"),
                ours,
                theirs: None,
                ratio: Ratio::Rate,
                target: None,
            });
        }
        let _ = stop.send(());
    }
    Ok(rows)
}

/// config/tutorial.toml with its data folder and components here, and `extra` sections.
pub(crate) fn config(guests: &Guests, data: &Path, extra: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(servers::repo().join("config/tutorial.toml"))?;
    let text = text
        .replace(
            "../examples/target/wasm32-wasip2/release",
            &guests.dir.display().to_string(),
        )
        .replace(
            "data_dir = \"../data\"",
            &format!("data_dir = {:?}", data.display().to_string()),
        )
        .replacen("[[listener]]", &format!("{extra}[[listener]]"), 1);
    Ok(text)
}

/// Serves `config` on a free port until the sender is used or dropped.
pub(crate) async fn serve(
    config: &Config,
) -> anyhow::Result<(SocketAddr, tokio::sync::oneshot::Sender<()>)> {
    let service = Service::build(config).await?;
    let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = socket.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(service.run(socket, async move {
        let _ = stopped.await;
    }));
    Ok((address, stop))
}

/// Requests per second and latency percentiles of `clients` connections posting `body`
/// one request after another, for one trial.
async fn load(
    address: SocketAddr,
    clients: usize,
    body: &Bytes,
    scale: Scale,
) -> anyhow::Result<(f64, String)> {
    let end = Instant::now() + scale.trial() * scale.trials() as u32;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let body = body.clone();
        let keep_going = move || Instant::now() < end;
        tasks.push(tokio::spawn(client(address, body, keep_going)));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let rate = latencies.len() as f64 / started.elapsed().as_secs_f64();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let p50 = ms(measure::percentile(&mut latencies, 50.0));
    let p99 = ms(measure::percentile(&mut latencies, 99.0));
    Ok((rate, format!("p50 {p50:.2} ms, p99 {p99:.2} ms")))
}

/// One keep-alive connection posting `body` to `/v1/events` while `keep_going` says so;
/// every answer must be 200. The latency of each request.
pub(crate) async fn client(
    address: SocketAddr,
    body: Bytes,
    keep_going: impl Fn() -> bool,
) -> anyhow::Result<Vec<Duration>> {
    let mut sender = connect(address).await?;
    let mut latencies = Vec::new();
    while keep_going() {
        let request = hyper::Request::post("/v1/events")
            .header(hyper::header::HOST, address.to_string())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body.clone()))?;
        let sent = Instant::now();
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let answer = response.into_body().collect().await?.to_bytes();
        anyhow::ensure!(
            status == 200,
            "{status}: {}",
            String::from_utf8_lossy(&answer)
        );
        latencies.push(sent.elapsed());
    }
    Ok(latencies)
}

/// A keep-alive HTTP/1.1 connection to `address`.
async fn connect(address: SocketAddr) -> anyhow::Result<http1::SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// One request of `body` (JSON, or the bytes of a component) on a connection of its own:
/// the status and the answer's text.
pub(crate) async fn request(
    address: SocketAddr,
    method: &str,
    path: &str,
    body: Bytes,
) -> anyhow::Result<(u16, String)> {
    let mut sender = connect(address).await?;
    let content_type = match body.first() {
        Some(b'{') => "application/json",
        _ => "application/wasm",
    };
    let request = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, address.to_string())
        .header(hyper::header::CONTENT_TYPE, content_type)
        .body(Full::new(body))?;
    sender.ready().await?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let answer = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&answer).into_owned()))
}
