//! A real SMTP server for one test: aiosmtpd on a free port of 127.0.0.1, with its default
//! handler, which prints every message it accepts (headers, aiosmtpd's `X-Peer`, body).
//! The harness reads that output so a test can wait for a message; killed on drop.
//!
//! The interpreter is `$WASM_LISTENERS_PYTHON` (`scripts/dev test` sets it to the `.venv`
//! it installs aiosmtpd into), else `<repo>/.venv/bin/python`, else `python3`.

use super::{free_port, python, quiet};
use crate::helpers;
use std::io::{BufRead, BufReader, Read};
use std::net::{Ipv4Addr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasm_listeners::{SmtpConfig, SmtpTls};

/// How long a fresh server may take to greet.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`SmtpServer::wait_for`] waits for a message.
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);
/// Ports tried: another process may take the free port we picked before aiosmtpd binds it.
const PORT_ATTEMPTS: usize = 5;
/// The lines around each message in the default handler's output.
const MESSAGE_BEGINS: &str = "---------- MESSAGE FOLLOWS ----------";
const MESSAGE_ENDS: &str = "------------ END MESSAGE ------------";

/// A running aiosmtpd and the messages it printed so far.
#[derive(Debug)]
pub struct SmtpServer {
    port: u16,
    tls: SmtpTls,
    /// aiosmtpd's options after the address (TLS files, a handler), for a restart.
    args: Vec<String>,
    child: Child,
    messages: Arc<Mutex<Vec<String>>>,
}

impl SmtpServer {
    /// Starts a server on a free port and waits until it greets.
    pub fn start() -> SmtpServer {
        SmtpServer::start_with(SmtpTls::None, Vec::new())
    }

    /// Starts a server that requires STARTTLS (`SmtpTls::Starttls`) or speaks TLS from the
    /// first byte (`SmtpTls::Tls`) with `certs`' server certificate.
    pub fn start_tls(tls: SmtpTls, certs: &TestCerts) -> SmtpServer {
        SmtpServer::start_with(tls, tls_args(tls, Some(certs)))
    }

    /// Starts a server that prints messages as [`SmtpServer::start`]'s does and also
    /// writes each one into `folder` before answering `250` (`tests/support/sink.py`); with
    /// a `gate`, it answers `DATA` only once that file exists: a client's send stays in
    /// flight until the test creates it (the sink writes `<gate>.held` when it holds one).
    pub fn start_into(folder: &std::path::Path, gate: Option<&std::path::Path>) -> SmtpServer {
        let mut handler = vec![
            "-c".into(),
            "sink.Files".into(),
            folder.display().to_string(),
        ];
        handler.extend(gate.map(|g| g.display().to_string()));
        SmtpServer::start_with(SmtpTls::None, handler)
    }

    fn start_with(tls: SmtpTls, args: Vec<String>) -> SmtpServer {
        let mut last = String::new();
        for _ in 0..PORT_ATTEMPTS {
            match SmtpServer::spawn_and_wait(free_port(), tls, &args) {
                Ok(server) => return server,
                Err(why) => last = why,
            }
        }
        panic!(
            "cannot start aiosmtpd: run `scripts/dev test`, which installs it in .venv ({last})"
        );
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `[email.smtp]` for this server (see [`config`]).
    pub fn config(&self) -> SmtpConfig {
        SmtpConfig {
            tls: self.tls,
            ..config(self.port)
        }
    }

    /// Every message received so far, as printed (headers, blank line, body), with a
    /// quoted-printable body decoded as a mail reader shows it.
    pub fn messages(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }

    /// The first message containing `text`, waiting up to [`MESSAGE_TIMEOUT`] for it.
    pub async fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + MESSAGE_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(found) = self.messages().into_iter().find(|m| m.contains(text)) {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let seen = self.messages();
        panic!("no message containing {text:?} within {MESSAGE_TIMEOUT:?}; received: {seen:#?}");
    }

    /// The first `count` messages received, waiting up to [`MESSAGE_TIMEOUT`] for them:
    /// aiosmtpd prints a message before it answers `250`, but the harness reads its output
    /// on a thread of its own, so a message the client saw accepted may not be parsed yet.
    pub async fn wait_for_messages(&self, count: usize) -> Vec<String> {
        let deadline = Instant::now() + MESSAGE_TIMEOUT;
        while Instant::now() < deadline {
            let messages = self.messages();
            if messages.len() >= count {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let seen = self.messages();
        panic!("fewer than {count} messages within {MESSAGE_TIMEOUT:?}; received: {seen:#?}");
    }

    fn spawn_and_wait(port: u16, tls: SmtpTls, args: &[String]) -> Result<SmtpServer, String> {
        let mut child = spawn(port, args)?;
        let stdout = child.stdout.take().expect("a piped stdout");
        let mut server = SmtpServer {
            port,
            tls,
            args: args.to_vec(),
            child,
            messages: Arc::default(),
        };
        let messages = server.messages.clone();
        std::thread::spawn(move || collect(stdout, &messages));
        // On error, dropping the server kills it.
        server.wait_ready()?;
        Ok(server)
    }

    /// Kills the server (as a crash looks to clients): its port refuses connections.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same port, keeping the messages seen so far.
    pub fn restart(&mut self) {
        self.stop();
        let mut child = spawn(self.port, &self.args).expect("restarting aiosmtpd");
        let stdout = child.stdout.take().expect("a piped stdout");
        self.child = child;
        let messages = self.messages.clone();
        std::thread::spawn(move || collect(stdout, &messages));
        let port = self.port;
        self.wait_ready()
            .unwrap_or_else(|why| panic!("restarting aiosmtpd on port {port}: {why}"));
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("aiosmtpd exited at start: {status}"));
            }
            let ready = match self.tls {
                // The greeting comes inside TLS: a connection is enough.
                SmtpTls::Tls => accepts(self.port),
                _ => greets(self.port),
            };
            if ready {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("no SMTP greeting within {START_TIMEOUT:?}"))
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(port: u16, extra: &[String]) -> Result<Child, String> {
    let listen = format!("127.0.0.1:{port}");
    // `-u`: unbuffered, so each message shows as soon as it is accepted.
    Command::new(python())
        .args(["-u", "-m", "aiosmtpd", "-n", "-l", &listen])
        .args(extra)
        // The suite's own handler (`-c sink.Files`).
        .env("PYTHONPATH", helpers::repo().join("tests/support"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(quiet())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", python()))
}

/// Splits the handler's output into messages (echoed when `TEST_LOG` is set).
fn collect(stdout: ChildStdout, messages: &Mutex<Vec<String>>) {
    let mut current: Option<Vec<String>> = None;
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if std::env::var_os("TEST_LOG").is_some() {
            println!("aiosmtpd: {line}");
        }
        match (line.as_str(), current.as_mut()) {
            (MESSAGE_BEGINS, _) => current = Some(Vec::new()),
            (MESSAGE_ENDS, Some(lines)) => {
                messages.lock().unwrap().push(readable(&lines.join("\n")));
                current = None;
            }
            (_, Some(lines)) => lines.push(line),
            (_, None) => {}
        }
    }
}

/// `message` with `\n` line ends and a quoted-printable body decoded (lettre picks that
/// encoding for lines over 76 characters, as the tutorial's user id line is).
pub fn readable(message: &str) -> String {
    let message = message.replace("\r\n", "\n");
    let (headers, body) = message.split_once("\n\n").unwrap_or((&message, ""));
    if !headers.contains("Content-Transfer-Encoding: quoted-printable") {
        return message.clone();
    }
    format!("{headers}\n\n{}", decode_quoted_printable(body))
}

/// Soft line breaks (`=` at the end of a line) joined, `=XX` escapes decoded.
fn decode_quoted_printable(body: &str) -> String {
    let joined = body.replace("=\n", "");
    let mut out = Vec::with_capacity(joined.len());
    let mut bytes = joined.bytes();
    while let Some(b) = bytes.next() {
        let escaped = match b {
            b'=' => bytes.clone().take(2).collect::<Vec<u8>>(),
            _ => Vec::new(),
        };
        let hex = std::str::from_utf8(&escaped).ok();
        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(decoded) if escaped.len() == 2 => {
                out.push(decoded);
                bytes.nth(1);
            }
            _ => out.push(b),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `[email.smtp]` for a server on 127.0.0.1:`port`: plain text, no login, 5 s timeout,
/// 2 idle connections.
pub fn config(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port: Some(port),
        tls: SmtpTls::None,
        username: None,
        password: None,
        timeout_ms: 5_000,
        pool_size: 2,
        ca_file: None,
    }
}

/// aiosmtpd's options for a TLS mode: `--tlscert` makes STARTTLS required, `--smtpscert`
/// makes the port speak TLS from the first byte.
fn tls_args(tls: SmtpTls, certs: Option<&TestCerts>) -> Vec<String> {
    let (cert, key) = match (tls, certs) {
        (SmtpTls::None, _) | (_, None) => return Vec::new(),
        (_, Some(c)) => (c.cert.display().to_string(), c.key.display().to_string()),
    };
    let (cert_flag, key_flag) = match tls {
        SmtpTls::Tls => ("--smtpscert", "--smtpskey"),
        _ => ("--tlscert", "--tlskey"),
    };
    vec![cert_flag.into(), cert, key_flag.into(), key]
}

/// A private CA and a server certificate it signed for `127.0.0.1` and `localhost`, made
/// with the openssl command line into a temporary folder.
#[derive(Debug)]
pub struct TestCerts {
    _dir: tempfile::TempDir,
    /// The CA certificate (PEM): `[email.smtp] ca_file`.
    pub ca: PathBuf,
    /// The server certificate (PEM).
    pub cert: PathBuf,
    /// The server key (PEM).
    pub key: PathBuf,
}

impl TestCerts {
    pub fn generate() -> TestCerts {
        let dir = tempfile::tempdir().unwrap();
        let at = |name: &str| dir.path().join(name).display().to_string();
        let ext = at("server.ext");
        std::fs::write(
            &ext,
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        let steps: [&[&str]; 3] = [
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=wasm-listeners test CA",
                "-keyout",
                &at("ca.key"),
                "-out",
                &at("ca.pem"),
            ],
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=localhost",
                "-keyout",
                &at("server.key"),
                "-out",
                &at("server.csr"),
            ],
            &[
                "x509",
                "-req",
                "-in",
                &at("server.csr"),
                "-CA",
                &at("ca.pem"),
                "-CAkey",
                &at("ca.key"),
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &ext,
                "-out",
                &at("server.pem"),
            ],
        ];
        for args in steps {
            let out = Command::new("openssl").args(args).output();
            let out = out
                .unwrap_or_else(|e| panic!("cannot run openssl (Debian package `openssl`): {e}"));
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        TestCerts {
            ca: at("ca.pem").into(),
            cert: at("server.pem").into(),
            key: at("server.key").into(),
            _dir: dir,
        }
    }
}

/// Whether something accepts TCP connections on `port`.
fn accepts(port: u16) -> bool {
    let addr = (Ipv4Addr::LOCALHOST, port).into();
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Whether a server on `port` sends an SMTP `220` greeting.
fn greets(port: u16) -> bool {
    let addr = (Ipv4Addr::LOCALHOST, port).into();
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut code = [0u8; 3];
    stream.read_exact(&mut code).is_ok() && &code == b"220"
}
