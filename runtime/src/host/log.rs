//! The `log` capability and the guest's stdout/stderr: both go into the call's captured
//! log (bounded) and to `tracing`.
//!
//! A guest chooses how much it writes: every line is checked against the capture caps
//! (bytes, and lines: an empty line costs a line) before any work is done with it, and only
//! what is kept reaches `tracing`. A line is cut at [`MAX_LINE_BYTES`], and at what is left
//! of the byte cap.

use crate::bindings::log::{Host, Level};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Where a captured line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    /// The `log` import.
    Log,
    /// WASI stdout.
    Stdout,
    /// WASI stderr.
    Stderr,
}

impl std::fmt::Display for LogStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LogStream::Log => "log",
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        })
    }
}

/// The severity of a captured line: as the guest gave it to the `log` import; `info` for
/// stdout, `warn` for stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Very verbose detail.
    Trace,
    /// Detail for debugging.
    Debug,
    /// Normal operation (and stdout).
    Info,
    /// Something unexpected, handled (and stderr).
    Warn,
    /// A failure.
    Error,
}

impl LogLevel {
    /// `trace`, `debug`, `info`, `warn` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

impl std::fmt::Display for LogLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<Level> for LogLevel {
    fn from(level: Level) -> LogLevel {
        match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        }
    }
}

/// One captured line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Its severity.
    pub level: LogLevel,
    /// Where it came from.
    pub stream: LogStream,
    /// The text, without its line break.
    pub message: String,
}

/// Longest line kept (the `log` import's message, or one line of stdout or stderr): the
/// rest of the line is cut. Also how much of stdout or stderr is held waiting for a line
/// break before it is taken as a line anyway.
pub(crate) const MAX_LINE_BYTES: usize = 8 << 10;

/// The bounded log of one call, shared by the `log` import and the stdio streams.
#[derive(Debug, Clone)]
pub(crate) struct CapturedLog {
    inner: Arc<Mutex<Capture>>,
    listener: Arc<str>,
}

#[derive(Debug, Default)]
struct Capture {
    lines: Vec<LogLine>,
    bytes: usize,
    max_bytes: usize,
    max_lines: usize,
    truncated: bool,
    partial_stdout: Vec<u8>,
    partial_stderr: Vec<u8>,
}

impl CapturedLog {
    /// A log that keeps at most `max_bytes` of text in at most `max_lines` lines for
    /// `listener`.
    pub(crate) fn new(listener: Arc<str>, max_bytes: usize, max_lines: usize) -> CapturedLog {
        let capture = Capture {
            max_bytes,
            max_lines,
            ..Capture::default()
        };
        CapturedLog {
            inner: Arc::new(Mutex::new(capture)),
            listener,
        }
    }

    /// Records a line from `stream`: cut to [`MAX_LINE_BYTES`] and to what is left of the
    /// cap first, then kept and sent to `tracing`; nothing of a line that does not fit at
    /// all goes anywhere.
    fn push(&self, level: LogLevel, stream: LogStream, line: &[u8]) {
        let mut c = self.lock();
        if c.lines.len() >= c.max_lines {
            c.truncated = true;
            return;
        }
        let room = c.max_bytes.saturating_sub(c.bytes).min(MAX_LINE_BYTES);
        let message = utf8_prefix(line, room);
        if message.len() < line.len() {
            c.truncated = true;
        }
        if message.is_empty() && !line.is_empty() {
            return;
        }
        c.bytes += message.len();
        // Under the call's own lock (only this call's streams take it): the line goes to
        // `tracing` by reference, then into the log, without a copy.
        let listener = &self.listener;
        tracing::event!(target: "listener", tracing::Level::DEBUG, %listener, level = level.as_str(), ?stream, %message);
        c.lines.push(LogLine {
            level,
            stream,
            message,
        });
    }

    fn write_stdio(&self, stream: LogStream, bytes: &[u8]) {
        let complete = {
            let mut c = self.lock();
            let partial = match stream {
                LogStream::Stderr => &mut c.partial_stderr,
                _ => &mut c.partial_stdout,
            };
            partial.extend_from_slice(bytes);
            match partial.iter().rposition(|b| *b == b'\n') {
                Some(end) => partial.drain(..=end).collect::<Vec<u8>>(),
                None if partial.len() >= MAX_LINE_BYTES => std::mem::take(partial),
                None => return,
            }
        };
        for line in complete.split(|b| *b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if !line.is_empty() {
                self.push(stdio_level(stream), stream, line);
            }
        }
    }

    /// Ends the call: flushes unterminated stdio lines and returns the lines and whether any
    /// were cut or dropped.
    pub(crate) fn finish(&self) -> (Vec<LogLine>, bool) {
        for stream in [LogStream::Stdout, LogStream::Stderr] {
            let rest = {
                let mut c = self.lock();
                match stream {
                    LogStream::Stderr => std::mem::take(&mut c.partial_stderr),
                    _ => std::mem::take(&mut c.partial_stdout),
                }
            };
            if !rest.is_empty() {
                self.push(stdio_level(stream), stream, &rest);
            }
        }
        let mut c = self.lock();
        (std::mem::take(&mut c.lines), c.truncated)
    }

    /// Starts the next call on a reused instance: an empty log with the whole cap (what
    /// [`finish`](Self::finish) returned is the previous call's).
    pub(crate) fn next_call(&self) {
        let mut c = self.lock();
        let (max_bytes, max_lines) = (c.max_bytes, c.max_lines);
        *c = Capture {
            max_bytes,
            max_lines,
            ..Capture::default()
        };
    }

    /// A stdout or stderr for the guest's WASI context.
    pub(crate) fn stdio(&self, stream: LogStream) -> StdioCapture {
        StdioCapture {
            log: self.clone(),
            stream,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Capture> {
        // A poisoned lock only means another thread panicked mid-push: the data is still
        // a valid log.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn stdio_level(stream: LogStream) -> LogLevel {
    match stream {
        LogStream::Stderr => LogLevel::Warn,
        _ => LogLevel::Info,
    }
}

/// The longest prefix of `bytes` of at most `max` bytes, as text. Only what is kept is
/// converted; invalid UTF-8 is replaced, and since a replacement character is longer than
/// the byte it replaces, the text is cut again at a character boundary.
fn utf8_prefix(bytes: &[u8], max: usize) -> String {
    let cut = &bytes[..bytes.len().min(max)];
    let mut text = String::from_utf8_lossy(cut).into_owned();
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text
}

impl Host for CapturedLog {
    fn log(&mut self, level: Level, message: String) {
        self.push(level.into(), LogStream::Log, message.as_bytes());
    }
}

/// The guest's stdout or stderr: always ready, never fails, bounded by the captured log.
#[derive(Debug, Clone)]
pub(crate) struct StdioCapture {
    log: CapturedLog,
    stream: LogStream,
}

impl IsTerminal for StdioCapture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StdioCapture {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

/// How much the guest may write at once; the stream is always ready again afterwards.
const STDIO_WRITE_BUDGET: usize = 64 << 10;

impl OutputStream for StdioCapture {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.log.write_stdio(self.stream, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(STDIO_WRITE_BUDGET)
    }
}

#[async_trait::async_trait]
impl Pollable for StdioCapture {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for StdioCapture {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.log.write_stdio(self.stream, buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// tracing decides once per call site, across threads, whether anybody listens: a test
    /// pushing lines on another thread while the tracing test installs its subscriber can
    /// leave that decision stale. The tests of this module take turns.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

    fn turn() -> std::sync::MutexGuard<'static, ()> {
        ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn texts(lines: &[LogLine]) -> Vec<&str> {
        lines.iter().map(|l| l.message.as_str()).collect()
    }

    #[test]
    fn stdio_lines_are_split_and_bounded() {
        let _turn = turn();
        let log = CapturedLog::new("t".into(), 20, 100);
        log.write_stdio(LogStream::Stdout, b"hello\nwor");
        log.write_stdio(LogStream::Stdout, b"ld\n");
        log.write_stdio(LogStream::Stderr, b"this line is far too long to keep\n");
        log.write_stdio(LogStream::Stdout, b"tail");
        let (lines, truncated) = log.finish();
        assert_eq!(texts(&lines), ["hello", "world", "this line "]);
        assert_eq!(lines[2].level, LogLevel::Warn);
        assert!(truncated);
    }

    #[test]
    fn a_line_is_cut_at_a_character_boundary_and_at_the_line_cap() {
        let _turn = turn();
        let log = CapturedLog::new("t".into(), 1 << 20, 100);
        let mut guest = log.clone();
        guest.log(Level::Error, "é".repeat(MAX_LINE_BYTES));
        let (lines, truncated) = log.finish();
        assert!(truncated);
        assert_eq!(lines[0].message.len(), MAX_LINE_BYTES);
        assert_eq!(lines[0].level, LogLevel::Error);
        assert!(lines[0].message.chars().all(|c| c == 'é'));
    }

    #[test]
    fn empty_lines_count_against_the_line_cap() {
        let _turn = turn();
        let log = CapturedLog::new("t".into(), 1 << 20, 3);
        let mut guest = log.clone();
        for _ in 0..10_000 {
            guest.log(Level::Info, String::new());
        }
        log.write_stdio(LogStream::Stdout, b"x\n");
        let (lines, truncated) = log.finish();
        assert_eq!(lines.len(), 3);
        assert!(lines.iter().all(|l| l.message.is_empty()));
        assert!(truncated, "lines past the cap are dropped and said so");
    }

    /// What `tracing` printed, through a subscriber local to the test.
    #[derive(Clone, Default)]
    struct Printed(Arc<Mutex<Vec<u8>>>);

    impl Write for Printed {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_line_over_the_cap_is_cut_before_it_reaches_tracing() {
        let _turn = turn();
        let printed = Printed::default();
        let writer = printed.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_writer(move || writer.clone())
            .finish();
        let log = CapturedLog::new("t".into(), 100, 100);
        tracing::subscriber::with_default(subscriber, || {
            tracing::callsite::rebuild_interest_cache();
            let mut guest = log.clone();
            guest.log(
                Level::Info,
                format!("{}{}", "a".repeat(60), "b".repeat(1000)),
            );
            guest.log(Level::Info, "c".repeat(1000));
        });
        let printed = String::from_utf8(printed.0.lock().unwrap().clone()).unwrap();
        let kept = format!("{}{}", "a".repeat(60), "b".repeat(40));
        assert!(printed.contains(&kept), "{printed}");
        assert!(!printed.contains(&"b".repeat(41)), "{printed}");
        assert!(
            !printed.contains("ccc"),
            "a line with no room left is not printed: {printed}"
        );
        let (lines, truncated) = log.finish();
        assert_eq!(texts(&lines), [kept.as_str()]);
        assert!(truncated);
    }
}
