//! Unit tests of the mail backends: the built message's headers, and the SMTP client's error
//! mapping, DATA rule and pool against a scripted server on a thread (the tests against a
//! real SMTP server are in `tests/all/smtp.rs`).

use super::*;
use crate::config::{SmtpConfig, SmtpTls};
use crate::host::EmailBackend;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

fn email() -> Email {
    Email {
        from: "Kinto <kinto@example.org>".into(),
        to: vec!["ops@example.org".into()],
        cc: vec![],
        bcc: vec![],
        reply_to: None,
        subject: "record created".into(),
        body: "User id: alice".into(),
        html_body: None,
    }
}

/// The header block of the built message.
fn headers(email: &Email) -> String {
    let bytes = build(email).expect("building").formatted();
    let text = String::from_utf8(bytes).expect("a built message is ASCII");
    text.split("\r\n\r\n").next().unwrap_or_default().to_owned()
}

fn header_names(headers: &str) -> Vec<String> {
    let names = headers.lines().filter(|l| !l.starts_with([' ', '\t']));
    let names = names.filter_map(|l| l.split_once(':').map(|(n, _)| n.to_ascii_lowercase()));
    names.collect()
}

#[test]
fn built_message_names_from_to_cc_subject_and_hides_bcc() {
    let mut e = email();
    e.cc = vec!["Audit <audit@example.org>".into()];
    e.bcc = vec!["hidden@example.org".into()];
    let h = headers(&e);
    for line in [
        "From: Kinto <kinto@example.org>",
        "To: ops@example.org",
        "Cc: Audit <audit@example.org>",
        "Subject: record created",
    ] {
        assert!(h.lines().any(|l| l == line), "no `{line}` in:\n{h}");
    }
    assert!(!header_names(&h).contains(&"bcc".to_owned()), "{h}");
    assert!(!h.contains("hidden@"), "{h}");
    let message = build(&e).unwrap();
    let envelope: Vec<String> = message
        .envelope()
        .to()
        .iter()
        .map(|a| a.to_string())
        .collect();
    assert!(
        envelope.contains(&"hidden@example.org".into()),
        "{envelope:?}"
    );
}

#[test]
fn non_ascii_subject_is_encoded() {
    let mut e = email();
    e.subject = "Über café ✓".into();
    let h = headers(&e);
    let subject = h.lines().find(|l| l.starts_with("Subject:")).unwrap();
    assert!(subject.starts_with("Subject: =?utf-8?"), "{subject}");
    assert!(h.is_ascii(), "{h}");
}

#[test]
fn line_breaks_in_the_subject_make_no_header() {
    let mut e = email();
    e.subject = "hello\r\nBcc: x@evil.test\r\nX-Evil: 1".into();
    let h = headers(&e);
    let names = header_names(&h);
    assert!(!names.contains(&"bcc".to_owned()), "{h}");
    assert!(!names.contains(&"x-evil".to_owned()), "{h}");
    let message = build(&e).unwrap();
    let envelope = message.envelope().to();
    assert!(envelope.iter().all(|a| a.to_string() != "x@evil.test"));
}

#[test]
fn html_body_is_an_alternative_to_the_plain_text() {
    let mut e = email();
    e.html_body = Some("<p>User id: alice</p>".into());
    let text = String::from_utf8(build(&e).unwrap().formatted()).unwrap();
    assert!(text.contains("multipart/alternative"), "{text}");
    assert!(
        text.contains("text/plain") && text.contains("text/html"),
        "{text}"
    );
}

/// How the scripted server answers one line (a command, or `.` for the content): a reply,
/// sent at once or held until the test opens the gate ([`Scripted::open`]). The reply
/// `CLOSE` hangs up instead; a reply ending in `|CLOSE` is sent, then the server hangs up
/// (as one closing an idle connection).
type Script = fn(&str) -> (&'static str, When);

/// When the scripted server sends a reply.
#[derive(Clone, Copy, PartialEq)]
enum When {
    Now,
    /// Once the test has opened the gate: the test decides what happens first.
    Gated,
}
use When::{Gated, Now};

/// Every reply positive, at once.
fn smooth(line: &str) -> (&'static str, When) {
    let verb = line.split([' ', ':']).next().unwrap_or_default();
    let reply = match verb.to_ascii_uppercase().as_str() {
        "EHLO" => "250 scripted",
        "DATA" => "354 go ahead",
        "QUIT" => "221 bye",
        _ => "250 ok",
    };
    (reply, Now)
}

/// A scripted SMTP server on a free port; `seen` logs `CONNECT`, every command, every
/// content line as `content: ...`, and `DISCONNECT` when a connection ends.
struct Scripted {
    port: u16,
    seen: Arc<Mutex<Vec<String>>>,
    gate: Arc<Gate>,
}

/// Held replies wait for it to open.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn wait(&self) {
        let open = self.open.lock().unwrap();
        drop(self.opened.wait_while(open, |open| !*open).unwrap());
    }
}

impl Scripted {
    fn start(script: Script) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let gate = Arc::new(Gate::default());
        let (log, held) = (seen.clone(), gate.clone());
        thread::spawn(move || {
            for socket in listener.incoming().flatten() {
                let (log, held) = (log.clone(), held.clone());
                thread::spawn(move || {
                    serve(socket, script, &log, &held);
                    log.lock().unwrap().push("DISCONNECT".into());
                });
            }
        });
        Scripted { port, seen, gate }
    }

    /// Sends the held replies, and every later one at once.
    fn open(&self) {
        *self.gate.open.lock().unwrap() = true;
        self.gate.opened.notify_all();
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }

    /// Waits until the server has logged `line` (failing after 4,000 checks 5 ms apart).
    async fn wait_for(&self, line: &str) {
        for _ in 0..4_000 {
            if self.seen().iter().any(|l| l == line) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the server never logged {line:?}: {:?}", self.seen());
    }

    fn count(&self, prefix: &str) -> usize {
        self.seen().iter().filter(|l| l.starts_with(prefix)).count()
    }

    fn backend(&self, pool_size: usize) -> SmtpBackend {
        let config = SmtpConfig {
            pool_size,
            ..plain_config(self.port)
        };
        SmtpBackend::new(&config).unwrap()
    }
}

fn plain_config(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port: Some(port),
        tls: SmtpTls::None,
        username: None,
        password: None,
        timeout_ms: 2_000,
        pool_size: 1,
        ca_file: None,
    }
}

fn serve(socket: TcpStream, script: Script, seen: &Mutex<Vec<String>>, gate: &Gate) {
    let log = |line: String| seen.lock().unwrap().push(line);
    log("CONNECT".into());
    let mut out = socket.try_clone().unwrap();
    let _ = out.write_all(b"220 scripted\r\n");
    let mut in_content = false;
    for line in BufReader::new(socket).lines().map_while(Result::ok) {
        if in_content && line != "." {
            log(format!("content: {line}"));
            continue;
        }
        log(line.clone());
        let (reply, when) = script(&line);
        if when == Gated {
            gate.wait();
        }
        if reply == "CLOSE" {
            return;
        }
        in_content = reply.starts_with("354");
        let (reply, hang_up) = match reply.strip_suffix("|CLOSE") {
            Some(reply) => (reply, true),
            None => (reply, false),
        };
        if out.write_all(format!("{reply}\r\n").as_bytes()).is_err() || hang_up {
            return;
        }
    }
}

fn in_secs(secs: u64) -> Instant {
    Instant::now() + Duration::from_secs(secs)
}

async fn send_through(script: Script) -> Result<(), EmailBackendError> {
    let server = Scripted::start(script);
    server.backend(1).send(&email(), in_secs(5)).await
}

#[tokio::test]
async fn replies_5xx_are_permanent_and_the_rest_transient() {
    let refused = |l: &str| match l.starts_with("RCPT") {
        true => ("550 no such user", Now),
        false => smooth(l),
    };
    let busy = |l: &str| match l.starts_with("MAIL") {
        true => ("451 try again later", Now),
        false => smooth(l),
    };
    let hangs_up = |l: &str| match l == "." {
        true => ("CLOSE", Now),
        false => smooth(l),
    };
    let permanent = send_through(refused).await;
    assert!(matches!(permanent, Err(EmailBackendError::Permanent(ref m)) if m.contains("550")));
    let transient = send_through(busy).await;
    assert!(matches!(transient, Err(EmailBackendError::Transient(ref m)) if m.contains("451")));
    let cut = send_through(hangs_up).await;
    assert!(
        matches!(cut, Err(EmailBackendError::Transient(_))),
        "{cut:?}"
    );
}

#[tokio::test]
async fn nobody_listening_and_a_failed_set_up_are_transient() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = SmtpBackend::new(&plain_config(port)).unwrap();
    let refused = dead.send(&email(), in_secs(5)).await;
    assert!(
        matches!(refused, Err(EmailBackendError::Transient(_))),
        "{refused:?}"
    );
    // The scripted server offers no STARTTLS: the host's set-up, not the message, failed.
    let server = Scripted::start(smooth);
    let config = SmtpConfig {
        tls: SmtpTls::Starttls,
        ..plain_config(server.port)
    };
    let setup = SmtpBackend::new(&config)
        .unwrap()
        .send(&email(), in_secs(5))
        .await;
    // The guest is told it failed, not which server or why: that is the runtime's log.
    match setup {
        Err(EmailBackendError::Transient(m)) => assert!(!m.contains("127.0.0.1"), "{m}"),
        other => panic!("expected a transient failure, got {other:?}"),
    }
    assert_eq!(server.count("MAIL"), 0);
}

#[test]
fn smtp_settings_are_checked_up_front() {
    let half_login = SmtpConfig {
        username: Some("kinto".into()),
        ..plain_config(25)
    };
    let err = SmtpBackend::new(&half_login).unwrap_err().to_string();
    assert!(err.contains("password"), "{err}");
    let tls = SmtpConfig {
        tls: SmtpTls::Tls,
        password: Some(crate::config::Secret::new("s3cret")),
        username: Some("kinto".into()),
        ..plain_config(465)
    };
    let backend = SmtpBackend::new(&tls).unwrap();
    assert!(!format!("{backend:?}").contains("s3cret"));
}

/// The server holds its answer to `DATA` past the deadline: the call ends at the
/// deadline, and the content never follows the late answer.
#[tokio::test]
async fn a_deadline_before_data_sends_nothing() {
    let slow_data = |l: &str| match l {
        "DATA" => ("354 go ahead", Gated),
        _ => smooth(l),
    };
    let server = Scripted::start(slow_data);
    let deadline = Instant::now() + Duration::from_millis(150);
    let sent = server.backend(1).send(&email(), deadline).await;
    assert_eq!(sent, Err(EmailBackendError::Deadline));
    server.open();
    server.wait_for("DISCONNECT").await;
    assert_eq!(server.count("content:"), 0, "{:?}", server.seen());
}

/// Reached `DATA` before the deadline, a transaction ends however late the server's
/// answer to the content comes: it is answered only once the deadline has passed.
#[tokio::test]
async fn past_data_the_transaction_ends_after_the_deadline() {
    let slow_reply = |l: &str| match l {
        "." => ("250 queued", Gated),
        _ => smooth(l),
    };
    let server = Scripted::start(slow_reply);
    let deadline = Instant::now() + Duration::from_millis(100);
    let backend = server.backend(1);
    let answer_late = async {
        server.wait_for(".").await;
        while Instant::now() <= deadline {
            tokio::time::sleep_until(deadline.into()).await;
        }
        server.open();
    };
    let message = email();
    let (sent, ()) = tokio::join!(backend.send(&message, deadline), answer_late);
    assert_eq!(sent, Ok(()));
    assert!(server.seen().iter().any(|l| l == "content: User id: alice"));
}

#[tokio::test]
async fn a_dropped_caller_does_not_cut_the_transaction() {
    let slow_reply = |l: &str| match l {
        "." => ("250 queued", Gated),
        _ => smooth(l),
    };
    let server = Scripted::start(slow_reply);
    let backend = server.backend(1);
    let message = email();
    // The caller goes away while the server holds its answer to the content (as when the
    // engine's backstop drops a call): the transaction still ends, and its connection is
    // pooled.
    tokio::select! {
        sent = backend.send(&message, in_secs(5)) => panic!("answered while held: {sent:?}"),
        () = server.wait_for(".") => {}
    }
    server.open();
    for _ in 0..4_000 {
        if backend.idle_count() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        backend.idle_count(),
        1,
        "the connection went back to the pool"
    );
    backend.send(&message, in_secs(5)).await.unwrap();
    assert_eq!(server.count("CONNECT"), 1, "{:?}", server.seen());
    assert_eq!(server.count("content: User id: alice"), 2);
}

#[tokio::test]
async fn idle_connections_are_reused_and_checked_once_stale() {
    let server = Scripted::start(smooth);
    let pooled = server.backend(1);
    for _ in 0..3 {
        pooled.send(&email(), in_secs(5)).await.unwrap();
    }
    assert_eq!(server.count("CONNECT"), 1, "{:?}", server.seen());
    assert_eq!(
        server.count("NOOP"),
        0,
        "fresh: no NOOP {:?}",
        server.seen()
    );

    let stale = Scripted::start(smooth);
    let config = SmtpConfig {
        pool_size: 1,
        ..plain_config(stale.port)
    };
    let checked = SmtpBackend::with_fresh_idle(&config, Duration::ZERO);
    for _ in 0..3 {
        checked.send(&email(), in_secs(5)).await.unwrap();
    }
    assert_eq!(stale.count("CONNECT"), 1, "{:?}", stale.seen());
    assert_eq!(stale.count("NOOP"), 2, "{:?}", stale.seen());

    let unpooled = Scripted::start(smooth);
    let backend = unpooled.backend(0);
    for _ in 0..2 {
        backend.send(&email(), in_secs(5)).await.unwrap();
    }
    assert_eq!(unpooled.count("CONNECT"), 2, "{:?}", unpooled.seen());
}

#[tokio::test]
async fn a_dead_idle_connection_is_replaced() {
    // Stale: the NOOP finds it dead.
    let noop_hangs_up = |l: &str| match l {
        "NOOP" => ("CLOSE", Now),
        _ => smooth(l),
    };
    let server = Scripted::start(noop_hangs_up);
    let config = SmtpConfig {
        pool_size: 1,
        ..plain_config(server.port)
    };
    let backend = SmtpBackend::with_fresh_idle(&config, Duration::ZERO);
    backend.send(&email(), in_secs(5)).await.unwrap();
    backend.send(&email(), in_secs(5)).await.unwrap();
    assert_eq!(server.count("CONNECT"), 2, "{:?}", server.seen());
    assert_eq!(server.count("content: User id"), 2);

    // Fresh: the server closed it after the last message; MAIL finds it dead, and the
    // message goes over a new connection.
    let closes_when_done = |l: &str| match l {
        "." => ("250 ok|CLOSE", Now),
        _ => smooth(l),
    };
    let server = Scripted::start(closes_when_done);
    let backend = server.backend(1);
    backend.send(&email(), in_secs(5)).await.unwrap();
    backend.send(&email(), in_secs(5)).await.unwrap();
    assert_eq!(server.count("CONNECT"), 2, "{:?}", server.seen());
    assert_eq!(server.count("content: User id"), 2);
}

#[tokio::test]
async fn outbox_writes_an_eml_file() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = OutboxBackend::new(dir.path().join("outbox")).unwrap();
    outbox.send(&email(), Instant::now()).await.unwrap();
    let files: Vec<_> = std::fs::read_dir(outbox.dir()).unwrap().flatten().collect();
    assert_eq!(files.len(), 1);
    let text = std::fs::read_to_string(files[0].path()).unwrap();
    assert!(files[0].path().extension().is_some_and(|x| x == "eml"));
    assert!(text.contains("Subject: record created"), "{text}");
}

#[test]
fn an_ascii_body_is_sent_as_it_is_and_others_are_encoded() {
    let mut e = email();
    e.body = format!("User id: basicauth:{}", "a".repeat(100));
    let text = String::from_utf8(build(&e).unwrap().formatted()).unwrap();
    assert!(text.contains("Content-Transfer-Encoding: 7bit"), "{text}");
    assert!(text.contains(&e.body), "the long line is whole: {text}");
    e.body = "Benutzer: jürgen".into();
    let text = String::from_utf8(build(&e).unwrap().formatted()).unwrap();
    assert!(!text.contains("7bit"), "{text}");
    assert!(!text.contains("jürgen"), "non-ASCII is encoded: {text}");
}

#[tokio::test]
async fn content_lines_beginning_with_a_dot_are_doubled_and_the_lone_dot_ends_it() {
    let server = Scripted::start(smooth);
    let backend = server.backend(1);
    let dotted = Email {
        body: ".hidden\n.\nlast line".into(),
        ..email()
    };
    backend.send(&dotted, in_secs(5)).await.unwrap();
    backend.send(&email(), in_secs(5)).await.unwrap();
    let seen = server.seen();
    let content: Vec<_> = seen.iter().filter(|l| l.starts_with("content: ")).collect();
    assert!(
        content.iter().any(|l| *l == "content: ..hidden"),
        "{seen:?}"
    );
    assert!(content.iter().any(|l| *l == "content: .."), "{seen:?}");
    assert!(
        content.iter().any(|l| *l == "content: last line"),
        "{seen:?}"
    );
    assert_eq!(
        server.count("."),
        2,
        "two messages, each ended once: {seen:?}"
    );
    assert_eq!(server.count("CONNECT"), 1, "{seen:?}");
}

#[test]
fn content_is_sent_with_its_end_in_one_piece() {
    let Some(data) = smtp::Content::end_with_dot(b"a\r\n.b\r\nc") else {
        panic!("UTF-8 content");
    };
    assert_eq!(data.to_string(), "a\r\n..b\r\nc\r\n.\r\n");
    let ended = smtp::Content::end_with_dot(b".x\r\n").map(|d| d.to_string());
    assert_eq!(ended.as_deref(), Some("..x\r\n.\r\n"));
    assert!(
        smtp::Content::end_with_dot(b"\xff\r\n").is_none(),
        "not UTF-8: lettre sends it"
    );
}
