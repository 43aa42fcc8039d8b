//! A running `serve` for tests: the service on a port-0 socket, a minimal HTTP/1.1 client
//! over a plain TCP stream, and a shutdown handle.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use wasm_listeners::Config;

/// A service serving in the background until dropped.
pub struct Server {
    pub address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Server {
    /// Starts the service of `config_text` (written into `dir`) on a free port.
    pub async fn start(dir: &Path, config_text: &str) -> anyhow::Result<Server> {
        crate::helpers::init_logging();
        let path = dir.join("wasm-listeners.toml");
        std::fs::write(&path, config_text).unwrap();
        let config = Config::load(&path)?;
        // Built before serving, so a refused configuration fails here, not in the task;
        // built once: every component is compiled once per test.
        let service = wasm_listeners::Service::build(&config).await?;
        let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let address = socket.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let shutdown = async move {
            let _ = stopped.await;
        };
        let task = tokio::spawn(service.run(socket, shutdown));
        Ok(Server {
            address,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Sends a request and returns (status, body), off the async threads.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (u16, String) {
        let (address, method, path) = (self.address, method.to_owned(), path.to_owned());
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        tokio::task::spawn_blocking(move || exchange(address, &method, &path, &headers, &body))
            .await
            .unwrap()
    }

    /// `POST /v1/events` with `body`.
    pub async fn post_events(&self, body: Vec<u8>) -> (u16, serde_json::Value) {
        let (status, text) = self.request("POST", "/v1/events", &[], body).await;
        let json = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        (status, json)
    }

    /// Stops serving and waits for the service to end.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await?
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// One HTTP/1.1 exchange over a fresh connection: (status, body). Blocking.
pub fn exchange(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) before reading a large body: a failed write is fine.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Waits until a server on `address` answers `GET /healthz` with 200 (a `serve` process
/// starting), for up to 30 s.
pub fn wait_healthz(address: SocketAddr) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let up = TcpStream::connect(address).is_ok()
            && exchange(address, "GET", "/healthz", &[], &[]).0 == 200;
        if up {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{address} did not answer /healthz"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Kills a child process, if any, and waits for it (a crash, as far as its clients can
/// tell).
pub fn kill(child: &mut Option<std::process::Child>) {
    if let Some(mut child) = child.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// `GET /metrics` at `address`, parsed as Prometheus text: `name{labels}` -> value. Panics
/// on a line that is not a comment, a sample or OpenMetrics' closing `# EOF`.
pub fn metrics(address: SocketAddr) -> HashMap<String, f64> {
    let (status, text) = exchange(address, "GET", "/metrics", &[], &[]);
    assert_eq!(status, 200, "{text}");
    assert!(text.ends_with("# EOF\n"), "{text}");
    let mut samples = HashMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line:?}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        let valid_name = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
        assert!(valid_name && !name.is_empty(), "metric name in {line:?}");
        if name_end < series.len() {
            let labels = &series[name_end..];
            assert!(labels.ends_with('}'), "labels in {line:?}");
            for pair in labels[1..labels.len() - 1]
                .split(',')
                .filter(|p| !p.is_empty())
            {
                let (key, quoted) = pair.split_once('=').unwrap_or_else(|| panic!("{line:?}"));
                assert!(
                    !key.is_empty() && quoted.starts_with('"') && quoted.ends_with('"'),
                    "{line:?}"
                );
            }
        }
        let value: f64 = value.parse().unwrap_or_else(|e| panic!("{line:?}: {e}"));
        samples.insert(series.to_owned(), value);
    }
    samples
}
