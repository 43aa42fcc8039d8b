//! A throwaway PostgreSQL for one test: `initdb` into a temporary folder (trust
//! authentication, user `postgres`), the server on a free port of 127.0.0.1 with its socket
//! in that folder; shut down (fast) on drop. Kinto uses its `postgres` database.
//!
//! PostgreSQL refuses to run as root: as root, both run as the `postgres` user that the
//! Debian package creates (`setpriv`, which execs, so the child is the server itself).

use super::{free_port, quiet};
use std::net::{Ipv4Addr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a fresh server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Ports tried: another process may take the free port we picked before the server binds it.
const PORT_ATTEMPTS: usize = 5;

/// A running PostgreSQL server.
#[derive(Debug)]
pub struct Postgres {
    port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Postgres {
    /// Creates a cluster and starts its server; panics saying what to install if the
    /// binaries are missing.
    pub fn start() -> Postgres {
        let dir = tempfile::tempdir().expect("a temporary folder for PostgreSQL");
        let data = dir.path().join("data");
        if running_as_root() {
            let status = Command::new("chown")
                .arg("postgres:")
                .arg(dir.path())
                .status();
            assert!(status.is_ok_and(|s| s.success()), "chown postgres {dir:?}");
        }
        as_owner(bin("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
            .stdout(quiet())
            .stderr(quiet())
            .status()
            .map(|s| assert!(s.success(), "initdb failed: {s} (TEST_LOG=1 shows why)"))
            .unwrap_or_else(|e| {
                panic!("cannot run initdb ({e}): run `scripts/dev test`, which installs PostgreSQL")
            });
        let mut last = String::new();
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port();
            let mut child = as_owner(bin("postgres"))
                .arg("-D")
                .arg(&data)
                .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
                .arg("-k")
                .arg(dir.path())
                .args(["-c", "fsync=off", "-c", "full_page_writes=off"])
                .stdin(Stdio::null())
                .stdout(quiet())
                .stderr(quiet())
                .spawn()
                .expect("running postgres");
            match wait_ready(&mut child, port) {
                Ok(()) => {
                    return Postgres {
                        port,
                        child,
                        _dir: dir,
                    }
                }
                Err(why) => {
                    last = why;
                    shut_down(&mut child);
                }
            }
        }
        panic!("PostgreSQL did not start on {PORT_ATTEMPTS} free ports: {last}");
    }

    /// Kinto's `storage_url` (and `permission_url`) for this server's `postgres` database.
    pub fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        shut_down(&mut self.child);
    }
}

fn wait_ready(child: &mut Child, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + START_TIMEOUT;
    let addr = (Ipv4Addr::LOCALHOST, port).into();
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("postgres exited at start: {status}"));
        }
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!("no connection accepted within {START_TIMEOUT:?}"))
}

/// SIGINT (PostgreSQL's fast shutdown), then waits for the server to exit.
fn shut_down(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// A PostgreSQL program: from the newest `/usr/lib/postgresql/*/bin` (Debian keeps them off
/// `PATH`), else from `PATH`.
fn bin(name: &str) -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin").join(name))
        .filter(|p| p.exists())
        .collect();
    versions.sort();
    versions.pop().unwrap_or_else(|| PathBuf::from(name))
}

/// `program`, run as the `postgres` user when the tests run as root (the data folder is
/// handed to that user first), else as is.
fn as_owner(program: PathBuf) -> Command {
    if !running_as_root() {
        return Command::new(program);
    }
    let mut command = Command::new("setpriv");
    command
        .args([
            "--reuid",
            "postgres",
            "--regid",
            "postgres",
            "--init-groups",
            "--",
        ])
        .arg(program);
    command
}

fn running_as_root() -> bool {
    let out = Command::new("id").arg("-u").output();
    out.is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}
