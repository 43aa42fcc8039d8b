//! A real `redis-server` for one test: a free port on 127.0.0.1, no persistence, killed on
//! drop. It can be stopped and started again on the same port (reconnect tests).

use super::{free_port, quiet};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a fresh server may take to answer `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Ports tried: another process may take the free port we picked before Redis binds it.
const PORT_ATTEMPTS: usize = 5;

/// A `redis-server` child process, running or stopped.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    /// Its working folder: nothing is saved, but Redis wants one it may write to.
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers `PING`.
    pub fn start() -> RedisServer {
        let mut last = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let mut server = RedisServer {
                port: free_port(),
                child: None,
                dir: tempfile::tempdir().expect("a temporary folder for redis-server"),
            };
            match server.spawn_and_wait() {
                Ok(()) => return server,
                Err(why) => last = why,
            }
        }
        panic!("redis-server did not start on {PORT_ATTEMPTS} free ports: {last}");
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// A connection for the test's own commands (`BRPOP`, `KEYS`).
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        let client = redis::Client::open(self.url()).expect("a valid URL");
        let conn = client.get_multiplexed_async_connection().await;
        conn.expect("connecting to the test's redis-server")
    }

    /// Kills the server (SIGKILL: as a crash looks to clients) and waits for it to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, empty.
    pub fn restart(&mut self) {
        self.stop();
        let port = self.port;
        let started = self.spawn_and_wait();
        started.unwrap_or_else(|why| panic!("restarting redis-server on port {port}: {why}"));
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        self.child = Some(spawn(self.port, self.dir.path(), &[])?);
        let ready = self.wait_ready();
        if ready.is_err() {
            self.stop();
        }
        ready
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            let child = self.child.as_mut().expect("a started child");
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("redis-server exited at start: {status}"));
            }
            if answers_ping(self.port) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("no answer to PING within {START_TIMEOUT:?}"))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts `redis-server` on 127.0.0.1:`port` without persistence, working in `dir`, with
/// `extra` arguments (a cluster node's). Its output is shown only when `TEST_LOG` is set.
pub fn spawn(port: u16, dir: &std::path::Path, extra: &[&str]) -> Result<Child, String> {
    let mut command = Command::new("redis-server");
    command
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .args(extra)
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(quiet())
        .stderr(quiet());
    match command.spawn() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("redis-server not found: run `scripts/dev test`, which installs it")
        }
        spawned => spawned.map_err(|e| format!("cannot run redis-server: {e}")),
    }
}

/// Whether a server on `port` answers `PING` with `+PONG`.
fn answers_ping(port: u16) -> bool {
    let addr = (Ipv4Addr::LOCALHOST, port).into();
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let mut reply = [0u8; 7];
    stream.write_all(b"PING\r\n").is_ok()
        && stream.read_exact(&mut reply).is_ok()
        && &reply == b"+PONG\r\n"
}
