//! The runtime's own processes (`serve`, `worker`) as tests start them: listening on port
//! 0 and announcing the address they bound, so no two tests race for a port; their
//! standard error kept, shown when the test fails (or as it comes with `TEST_LOG`).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// Lines of standard error kept per process (the newest).
const KEPT_LINES: usize = 400;
/// How long a process may take to announce its address.
const START: Duration = Duration::from_secs(60);

/// What a process wrote to standard error, and whether it is still writing.
#[derive(Default)]
struct Stderr {
    lines: std::collections::VecDeque<String>,
    closed: bool,
}

/// A child process whose standard error is read line by line. Killed when dropped; a
/// test that fails while holding one shows the process's last lines.
pub struct Process {
    name: String,
    child: Option<Child>,
    stderr: Arc<(Mutex<Stderr>, Condvar)>,
}

impl Process {
    /// Starts `command` (its standard output discarded), named `name` in messages.
    pub fn spawn(name: &str, mut command: Command) -> Process {
        if std::env::var_os("TEST_LOG").is_none() {
            // The announcement is an info line, whatever the caller's RUST_LOG says.
            command.env("RUST_LOG", "info");
        }
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name}: {e}"));
        let stderr = Arc::new((Mutex::new(Stderr::default()), Condvar::new()));
        let pipe = child.stderr.take().expect("a piped stderr");
        let (shared, echo) = (stderr.clone(), std::env::var_os("TEST_LOG").is_some());
        let label = name.to_owned();
        std::thread::spawn(move || {
            let (state, changed) = &*shared;
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                if echo {
                    eprintln!("[{label}] {line}");
                }
                let mut state = state.lock().unwrap();
                if state.lines.len() == KEPT_LINES {
                    state.lines.pop_front();
                }
                state.lines.push_back(line);
                changed.notify_all();
            }
            state.lock().unwrap().closed = true;
            changed.notify_all();
        });
        Process {
            name: name.to_owned(),
            child: Some(child),
            stderr,
        }
    }

    /// Waits for the line that contains `marker` followed by an address (`http://ADDR`),
    /// and returns the address. Fails with the process's output if it ends first.
    pub fn announced(&self, marker: &str) -> SocketAddr {
        let (state, changed) = &*self.stderr;
        let state = state.lock().unwrap();
        let (state, timeout) = changed
            .wait_timeout_while(state, START, |s| {
                !s.closed && !s.lines.iter().any(|l| address_after(l, marker).is_some())
            })
            .unwrap();
        if let Some(address) = state.lines.iter().find_map(|l| address_after(l, marker)) {
            return address;
        }
        let why = if timeout.timed_out() {
            "did not announce"
        } else {
            "ended before announcing"
        };
        let output = Vec::from(state.lines.clone()).join("\n");
        // Not while holding the lock: `Drop` reads the output too.
        drop(state);
        panic!("{} {why} {marker:?}:\n{output}", self.name);
    }

    /// Whether the process is still running.
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// Kills the process (a crash, as far as its clients can tell) and waits for it.
    pub fn kill(&mut self) {
        crate::http::kill(&mut self.child);
    }

    /// The process's standard error so far (its last lines).
    pub fn output(&self) -> String {
        let state = self.stderr.0.lock();
        let state = state.unwrap_or_else(std::sync::PoisonError::into_inner);
        Vec::from(state.lines.clone()).join("\n")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let running = self.running();
        self.kill();
        if std::thread::panicking() {
            eprintln!(
                "--- {} ({}), its standard error:\n{}\n---",
                self.name,
                if running { "was running" } else { "had ended" },
                self.output()
            );
        }
    }
}

/// The address in `line` right after `marker` and `http://`, e.g. "serving on
/// http://127.0.0.1:41234" for the marker "serving on".
fn address_after(line: &str, marker: &str) -> Option<SocketAddr> {
    let rest = line.split_once(marker)?.1.trim_start();
    let rest = rest.strip_prefix("http://")?;
    let end = rest
        .find(|c: char| !(c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '[' | ']')))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

#[test]
fn an_address_is_read_after_its_marker() {
    let line = "2026-12-03T12:00:00Z  INFO wasm_listeners::service: serving on http://127.0.0.1:41234 listeners=3";
    assert_eq!(
        address_after(line, "serving on"),
        Some(([127, 0, 0, 1], 41234).into())
    );
    let metrics = "INFO worker: metrics on http://127.0.0.1:9187/metrics\x1b[0m";
    assert_eq!(
        address_after(metrics, "metrics on"),
        Some(([127, 0, 0, 1], 9187).into())
    );
    assert_eq!(address_after(line, "metrics on"), None);
}
