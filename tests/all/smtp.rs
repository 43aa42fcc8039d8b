//! The email backends end to end: guests send through `SmtpBackend` to a real aiosmtpd
//! (`servers::smtp`), or through `OutboxBackend` into a folder.

use crate::helpers::{self, delivery, fixture_event};
use crate::servers::free_port;
use crate::servers::smtp::{self, SmtpServer, TestCerts};
use std::sync::Arc;
use wasm_listeners::Incoming;
use wasm_listeners::{CallReport, Capabilities, Engine, ErrorKind, ListenerSpec, Outcome, Part};
use wasm_listeners::{EmailBackend, EmailPolicy, EmailRules, RecordOnly};
use wasm_listeners::{OutboxBackend, SmtpBackend};
use wasm_listeners::{SmtpConfig, SmtpTls};

const USER_ID: &str =
    "User id: basicauth:afd289f70866c5056cfe30d1e03c16a329d0869745a0c26701bd8704f7dbff60";
const TUTORIAL: [(&str, &str); 2] = [
    ("from", "Kinto <kinto@example.org>"),
    ("recipients", "ops@example.org"),
];

fn record_create() -> Incoming {
    fixture_event("record-create.json", 0)
}

fn capabilities(email: impl EmailBackend) -> Capabilities {
    Capabilities {
        email: Arc::new(email),
        queue: Arc::new(RecordOnly),
    }
}

/// Runs `guest` once on the record-create fixture.
async fn call(engine: &Engine, guest: &str, spec: ListenerSpec, caps: Capabilities) -> CallReport {
    let loaded = helpers::load(engine, guest).await;
    let listener = engine.listener(&loaded, spec, caps).expect("listener");
    let incoming = record_create();
    listener
        .call(&incoming.event, &delivery(&incoming), Part::WHOLE)
        .await
}

/// The client port aiosmtpd saw (`X-Peer: ('127.0.0.1', PORT)`): one per connection.
fn peer(message: &str) -> &str {
    let line = message.lines().find(|l| l.starts_with("X-Peer:"));
    line.unwrap_or_else(|| panic!("no X-Peer in {message}"))
}

#[tokio::test]
async fn send_email_example_reaches_the_smtp_server_over_one_connection() {
    let server = SmtpServer::start();
    let smtp = SmtpBackend::new(&server.config()).unwrap();
    let engine = helpers::engine();
    for _ in 0..2 {
        let spec = helpers::open_spec("send-email", &TUTORIAL);
        let report = call(&engine, "send-email", spec, capabilities(smtp.clone())).await;
        assert_eq!(report.outcome, Outcome::Ok, "{:?}", report.log);
    }
    // Both sends were accepted (`ok`): wait until the harness has parsed both, rather than
    // reading the list while its reader thread may still be on the second one.
    let messages = server.wait_for_messages(2).await;
    assert_eq!(messages.len(), 2, "{messages:#?}");
    let first = &messages[0];
    assert!(first.contains(USER_ID), "{first}");
    assert!(first.contains("Subject: record created"), "{first}");
    assert!(first.contains("From: Kinto <kinto@example.org>"), "{first}");
    assert!(first.contains("To: ops@example.org"), "{first}");
    assert_eq!(
        peer(&messages[0]),
        peer(&messages[1]),
        "the idle connection is reused"
    );
}

/// `misbehave` in `email` mode, from kinto@example.org to `to` (and `cc`, `bcc`), under a
/// policy that allows only recipients at example.org.
fn probe(to: &str, copy: Option<(&str, &str)>) -> ListenerSpec {
    let mut settings = vec![("mode", "email"), ("from", "kinto@example.org"), ("to", to)];
    settings.extend(copy);
    let mut spec = helpers::open_spec("probe", &settings);
    spec.email = EmailPolicy::deny_all().with_layer(EmailRules {
        allowed_senders: vec!["kinto@example.org".into()],
        allowed_recipients: vec!["example.org".into()],
    });
    spec
}

#[tokio::test]
async fn a_recipient_outside_the_policy_reaches_no_server() {
    let server = SmtpServer::start();
    let smtp = SmtpBackend::new(&server.config()).unwrap();
    let engine = helpers::engine();
    let spy = "spy@evil.test";
    for spec in [
        probe(spy, None),
        probe("ops@example.org", Some(("cc", spy))),
        probe("ops@example.org", Some(("bcc", spy))),
    ] {
        let report = call(&engine, "misbehave", spec, capabilities(smtp.clone())).await;
        match &report.outcome {
            Outcome::ListenerError {
                error: ErrorKind::Permanent,
                message,
            } => assert!(message.contains(spy), "{message}"),
            other => panic!("expected a permanent listener error, got {other:?}"),
        }
        assert!(report.emails.is_empty());
    }
    let allowed = probe("ops@example.org", Some(("bcc", "audit@example.org")));
    let report = call(&engine, "misbehave", allowed, capabilities(smtp)).await;
    assert_eq!(report.outcome, Outcome::Ok, "{:?}", report.log);
    let only = server.wait_for("Subject: probe").await;
    assert_eq!(
        server.messages(),
        vec![only.clone()],
        "nothing else was sent"
    );
    assert!(!only.contains("evil") && !only.contains("audit@"), "{only}");
}

#[tokio::test]
async fn a_dead_smtp_server_is_transient_and_the_engine_goes_on() {
    let dead = SmtpBackend::new(&smtp::config(free_port())).unwrap();
    let engine = helpers::engine();
    let report = call(
        &engine,
        "misbehave",
        probe("ops@example.org", None),
        capabilities(dead),
    )
    .await;
    assert!(
        matches!(
            report.outcome,
            Outcome::ListenerError {
                error: ErrorKind::Transient,
                ..
            }
        ),
        "{:?}",
        report.outcome
    );
    let server = SmtpServer::start();
    let live = SmtpBackend::new(&server.config()).unwrap();
    let spec = helpers::open_spec("send-email", &TUTORIAL);
    let next = call(&engine, "send-email", spec, capabilities(live)).await;
    assert_eq!(next.outcome, Outcome::Ok, "{:?}", next.log);
    server.wait_for(USER_ID).await;
}

#[tokio::test]
async fn outbox_backend_writes_an_eml_file() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = OutboxBackend::new(dir.path().join("outbox")).unwrap();
    let engine = helpers::engine();
    let spec = helpers::open_spec("send-email", &TUTORIAL);
    let report = call(&engine, "send-email", spec, capabilities(outbox.clone())).await;
    assert_eq!(report.outcome, Outcome::Ok, "{:?}", report.log);
    let files: Vec<_> = std::fs::read_dir(outbox.dir()).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let path = files[0].path();
    assert_eq!(path.extension().and_then(|x| x.to_str()), Some("eml"));
    let eml = smtp::readable(&std::fs::read_to_string(&path).unwrap());
    assert!(eml.contains("Subject: record created"), "{eml}");
    assert!(eml.contains(USER_ID), "{eml}");
}

/// STARTTLS and implicit TLS through rustls, against aiosmtpd with a certificate from a
/// private CA that `[email.smtp] ca_file` names: the message arrives; without the CA the
/// certificate is not trusted, the failure is transient and nothing arrives.
#[tokio::test]
async fn starttls_and_implicit_tls_deliver_with_a_trusted_ca_only() {
    let certs = TestCerts::generate();
    let engine = helpers::engine();
    for tls in [SmtpTls::Starttls, SmtpTls::Tls] {
        let server = SmtpServer::start_tls(tls, &certs);
        let untrusted = SmtpBackend::new(&server.config()).unwrap();
        let spec = helpers::open_spec("send-email", &TUTORIAL);
        let refused = call(&engine, "send-email", spec, capabilities(untrusted)).await;
        assert!(
            matches!(
                refused.outcome,
                Outcome::ListenerError {
                    error: ErrorKind::Transient,
                    ..
                }
            ),
            "{tls:?}: {:?}",
            refused.outcome
        );
        let trusted = SmtpConfig {
            ca_file: Some(certs.ca.clone()),
            ..server.config()
        };
        let smtp = SmtpBackend::new(&trusted).unwrap();
        let spec = helpers::open_spec("send-email", &TUTORIAL);
        let report = call(&engine, "send-email", spec, capabilities(smtp)).await;
        assert_eq!(report.outcome, Outcome::Ok, "{tls:?}: {:?}", report.log);
        let message = server.wait_for(USER_ID).await;
        assert!(message.contains("Subject: record created"), "{message}");
        assert_eq!(
            server.messages().len(),
            1,
            "{tls:?}: only the trusted send arrived"
        );
    }
}
