//! What the rows run against: the example guests (built from source), an SMTP sink
//! (`anchors/smtp_sink.py`, aiosmtpd counting messages), a `redis-server`, and the tutorial's
//! own paths as Python scripts (`anchors/`, copied from the project's shared anchors).

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use wasm_listeners::Incoming;

/// How long a server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// The repository's root.
pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The example guests the rows run.
#[derive(Debug, Clone)]
pub(crate) struct Guests {
    pub(crate) send_email: PathBuf,
    pub(crate) queue_forward: PathBuf,
    /// Their folder (the tutorial configuration's component paths point there).
    pub(crate) dir: PathBuf,
}

/// Builds the example guests (release, wasm32-wasip2) from source.
pub(crate) fn build_guests() -> anyhow::Result<Guests> {
    let examples = repo().join("examples");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--quiet", "--target", "wasm32-wasip2"])
        .current_dir(&examples)
        .env("CARGO_TARGET_DIR", examples.join("target"))
        .status()?;
    anyhow::ensure!(
        status.success(),
        "building the example guests failed: {status}"
    );
    let dir = examples.join("target/wasm32-wasip2/release");
    Ok(Guests {
        send_email: dir.join("send_email.wasm"),
        queue_forward: dir.join("queue_forward.wasm"),
        dir,
    })
}

/// The Python and JavaScript examples' folders, as their build scripts fill them.
pub(crate) struct LanguageGuests {
    /// `<example>.wasm`.
    pub(crate) python: PathBuf,
    /// `<example>.spidermonkey.wasm` and `<example>.quickjs.wasm`.
    pub(crate) javascript: PathBuf,
    /// `<example>.wasm`.
    pub(crate) c: PathBuf,
    /// `<example>.wasm`.
    pub(crate) zig: PathBuf,
}

/// Builds the Python, JavaScript, C and Zig examples from source (nothing when their build
/// is up to date) into `examples/target/{python,javascript,c,zig}`, with the pinned tools
/// that `scripts/dev` installs (`.venv`, `examples/javascript/node_modules`, Debian's clang).
pub(crate) fn build_language_guests() -> anyhow::Result<LanguageGuests> {
    let repo = repo();
    let tools = [
        repo.join(".venv/bin"),
        repo.join("examples/javascript/node_modules/.bin"),
    ];
    let mut path: Vec<String> = tools.iter().map(|p| p.display().to_string()).collect();
    path.push(std::env::var("PATH").unwrap_or_default());
    let mut built = Vec::new();
    for language in ["python", "javascript", "c", "zig"] {
        let out = repo.join("examples/target").join(language);
        let script = repo.join("examples").join(language).join("build");
        let status = Command::new(&script)
            .arg(&out)
            .env("PATH", path.join(":"))
            .status()?;
        anyhow::ensure!(
            status.success(),
            "{} failed: {status} (`scripts/dev bench` installs its tools)",
            script.display()
        );
        built.push(out);
    }
    let [python, javascript, c, zig] = <[PathBuf; 4]>::try_from(built).expect("four languages");
    Ok(LanguageGuests {
        python,
        javascript,
        c,
        zig,
    })
}

/// The record-creation event Kinto emitted (`ResourceChanged`), from the fixtures.
pub(crate) fn record_create() -> anyhow::Result<Incoming> {
    let path = repo().join("tests/fixtures/kinto-events/record-create.json");
    let mut events = wasm_listeners::parse_events(&std::fs::read(path)?)?;
    Ok(events.swap_remove(0))
}

/// The raw bytes of the record-creation fixture (both phases), as `POST /v1/events` takes.
pub(crate) fn record_create_bytes() -> anyhow::Result<Vec<u8>> {
    Ok(std::fs::read(
        repo().join("tests/fixtures/kinto-events/record-create.json"),
    )?)
}

/// The Python with aiosmtpd and redis: `$WASM_LISTENERS_PYTHON`, else the repository's
/// `.venv`.
fn python() -> String {
    if let Ok(python) = std::env::var("WASM_LISTENERS_PYTHON") {
        return python;
    }
    repo().join(".venv/bin/python").display().to_string()
}

/// A port that was free a moment ago.
pub(crate) fn free_port() -> anyhow::Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}

/// A child process killed on drop.
#[derive(Debug)]
pub(crate) struct Server {
    pub(crate) port: u16,
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// The counting SMTP sink on a free port.
    pub(crate) fn smtp_sink() -> anyhow::Result<Server> {
        let port = free_port()?;
        let script = repo().join("bench/anchors/smtp_sink.py");
        let child = Command::new(python())
            .arg(script)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        Server::wait(Server { port, child })
    }

    /// A `redis-server` on a free port, without persistence.
    pub(crate) fn redis() -> anyhow::Result<Server> {
        let port = free_port()?;
        let dir = std::env::temp_dir();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        Server::wait(Server { port, child })
    }

    fn wait(mut server: Server) -> anyhow::Result<Server> {
        let started = Instant::now();
        let addr = (Ipv4Addr::LOCALHOST, server.port).into();
        while started.elapsed() < START_TIMEOUT {
            if let Some(status) = server.child.try_wait()? {
                anyhow::bail!("the server exited at start: {status}");
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(server);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        anyhow::bail!("no server on port {} within {START_TIMEOUT:?}", server.port)
    }
}

/// Runs an anchor script with `args` and returns the rate it printed: the first number
/// followed by a unit per second (`... = 512 msg/s`, `...: 512 msg/s`, `... = 2400 events/s`).
pub(crate) async fn anchor_rate(script: &str, args: &[String]) -> anyhow::Result<f64> {
    let path = repo().join("bench/anchors").join(script);
    let out = tokio::process::Command::new(python())
        .arg(&path)
        .args(args)
        .output()
        .await?;
    let text = String::from_utf8_lossy(&out.stdout);
    anyhow::ensure!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rate = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .find_map(|w| w[0].parse::<f64>().ok().filter(|_| w[1].ends_with("/s")));
    rate.ok_or_else(|| anyhow::anyhow!("{script} printed no rate: {text}"))
}
