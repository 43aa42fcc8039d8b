//! The `log` capability and the guest's stdout/stderr: both go into the call's captured
//! log (bounded) and to `tracing`.

use crate::bindings::log::{Host, Level};
use bytes::Bytes;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Where a captured line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogStream {
    /// The `log` import.
    Log,
    /// WASI stdout.
    Stdout,
    /// WASI stderr.
    Stderr,
}

/// One captured line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// `trace` .. `error` for the `log` import; `info` for stdout, `warn` for stderr.
    pub level: &'static str,
    /// Where it came from.
    pub stream: LogStream,
    /// The text, without its line break.
    pub message: String,
}

/// The bounded log of one call, shared by the `log` import and the stdio streams.
#[derive(Debug, Clone)]
pub struct CapturedLog {
    inner: Arc<Mutex<Capture>>,
    listener: Arc<str>,
}

#[derive(Debug, Default)]
struct Capture {
    lines: Vec<LogLine>,
    bytes: usize,
    max_bytes: usize,
    truncated: bool,
    partial_stdout: Vec<u8>,
    partial_stderr: Vec<u8>,
}

impl CapturedLog {
    /// A log that keeps at most `max_bytes` of text for `listener`.
    pub fn new(listener: Arc<str>, max_bytes: usize) -> CapturedLog {
        let capture = Capture {
            max_bytes,
            ..Capture::default()
        };
        CapturedLog {
            inner: Arc::new(Mutex::new(capture)),
            listener,
        }
    }

    /// Records a line from `stream`.
    pub fn push(&self, level: &'static str, stream: LogStream, message: String) {
        tracing::event!(target: "listener", tracing::Level::DEBUG, listener = %self.listener, level, ?stream, %message);
        let mut c = self.lock();
        // The guest chooses how much it writes: keep what fits, count the rest as dropped.
        if c.bytes + message.len() > c.max_bytes {
            c.truncated = true;
            return;
        }
        c.bytes += message.len();
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
                None if partial.len() > 4096 => std::mem::take(partial),
                None => return,
            }
        };
        for line in String::from_utf8_lossy(&complete).lines() {
            self.push(stdio_level(stream), stream, line.to_owned());
        }
    }

    /// Ends the call: flushes unterminated stdio lines and returns the lines and whether any
    /// were dropped.
    pub fn finish(&self) -> (Vec<LogLine>, bool) {
        for stream in [LogStream::Stdout, LogStream::Stderr] {
            let rest = {
                let mut c = self.lock();
                match stream {
                    LogStream::Stderr => std::mem::take(&mut c.partial_stderr),
                    _ => std::mem::take(&mut c.partial_stdout),
                }
            };
            if !rest.is_empty() {
                self.push(
                    stdio_level(stream),
                    stream,
                    String::from_utf8_lossy(&rest).into(),
                );
            }
        }
        let mut c = self.lock();
        (std::mem::take(&mut c.lines), c.truncated)
    }

    /// A stdout or stderr for the guest's WASI context.
    pub fn stdio(&self, stream: LogStream) -> StdioCapture {
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

fn stdio_level(stream: LogStream) -> &'static str {
    match stream {
        LogStream::Stderr => "warn",
        _ => "info",
    }
}

/// Longest message the `log` import keeps (the rest of the line is cut).
pub const MAX_LOG_MESSAGE_BYTES: usize = 8 << 10;

impl Host for CapturedLog {
    fn log(&mut self, level: Level, mut message: String) {
        // Hostile input: cut a huge line at a character boundary before storing it.
        if message.len() > MAX_LOG_MESSAGE_BYTES {
            let mut end = MAX_LOG_MESSAGE_BYTES;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
        let level = match level {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        };
        self.push(level, LogStream::Log, message);
    }
}

/// The guest's stdout or stderr: always ready, never fails, bounded by the captured log.
#[derive(Debug, Clone)]
pub struct StdioCapture {
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

    #[test]
    fn stdio_lines_are_split_and_bounded() {
        let log = CapturedLog::new("t".into(), 20);
        log.write_stdio(LogStream::Stdout, b"hello\nwor");
        log.write_stdio(LogStream::Stdout, b"ld\n");
        log.write_stdio(LogStream::Stderr, b"this line is far too long to keep\n");
        log.write_stdio(LogStream::Stdout, b"tail");
        let (lines, truncated) = log.finish();
        let texts: Vec<_> = lines.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(texts, ["hello", "world", "tail"]);
        assert!(truncated);
    }
}
