//! Typed errors at the library's boundaries: a caller matches on variants, never on text,
//! and each error still says what was wrong.

use crate::helpers::{self, delivery, fixture_event, Hanging};
use std::sync::Arc;
use std::time::Duration;
use wasm_listeners::{
    parse_event, parse_events, Action, Capabilities, CheckError, ComponentInfo, Config,
    ConfigError, EngineConfig, Event, EventError, Invalid, LimitError, Limits, Outcome, Part,
    RedisQueue, RedisSetupError, Secret, SmtpBackend, SmtpConfigError, Store, StoreError,
};

#[test]
fn configuration_errors_name_the_rule_and_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("public.toml");
    std::fs::write(&file, "[server]\nlisten = \"0.0.0.0:8888\"\n").unwrap();
    match Config::load(&file) {
        Err(ConfigError::Invalid {
            path,
            rule: Invalid::ListenWithoutToken { listen },
        }) => {
            assert_eq!(path, file);
            assert_eq!(listen.port(), 8888);
        }
        other => panic!("expected the listen-without-token rule, got {other:?}"),
    }
    let missing = dir.path().join("missing.toml");
    assert!(
        matches!(Config::load(&missing), Err(ConfigError::Read { path, .. }) if path == missing)
    );
}

#[tokio::test]
async fn check_errors_are_variants_and_carry_the_outcome() {
    let engine = helpers::engine();
    let core = wat::parse_str("(module)").unwrap();
    assert_eq!(
        engine.load(&core).await.unwrap_err(),
        CheckError::CoreModule
    );
    assert_eq!(
        engine.load(b"hello").await.unwrap_err(),
        CheckError::NotWasm
    );
    let loaded = helpers::load(&engine, "misbehave").await;
    let info: &ComponentInfo = &loaded.info;
    assert_eq!(info.version, "0.1.0");
}

/// Loading instantiates the component once: with every instance slot busy, that is a
/// typed capacity error (retry later), not a refusal of the component.
#[tokio::test]
async fn a_load_while_every_slot_is_busy_is_a_capacity_error() {
    let engine = helpers::engine_with(EngineConfig {
        max_instances: 1,
        ..EngineConfig::default()
    });
    let bytes = std::fs::read(helpers::guest("misbehave")).unwrap();
    let loaded = engine.load(&bytes).await.unwrap();
    let settings = [("mode", "queue"), ("name", "jobs")];
    let mut spec = helpers::open_spec("busy", &settings);
    spec.limits.deadline = Duration::from_secs(5);
    let hang = Hanging::default();
    let caps = Capabilities {
        email: Arc::new(hang.clone()),
        queue: Arc::new(hang.clone()),
    };
    let busy = engine.listener(&loaded, spec, caps).unwrap();
    let incoming = Arc::new(fixture_event("record-create.json", 0));
    let held = incoming.clone();
    let call =
        tokio::spawn(async move { busy.call(&held.event, &delivery(&held), Part::WHOLE).await });
    hang.entered.notified().await;
    let refused = engine.load(&bytes).await.unwrap_err();
    assert_eq!(refused, CheckError::Instantiation(Outcome::Capacity));
    assert!(refused.to_string().contains("capacity"), "{refused}");
    call.abort();
}

#[tokio::test]
async fn limits_the_engine_cannot_honour_are_refused_by_name() {
    let engine = helpers::engine();
    let loaded = helpers::load(&engine, "misbehave").await;
    let with = |limits: Limits| {
        let mut spec = helpers::open_spec("limited", &[]);
        spec.limits = limits;
        engine.listener(&loaded, spec, Capabilities::record_only())
    };
    let max = EngineConfig::default().max_memory_bytes;
    let big = with(Limits {
        memory_bytes: max + 1,
        ..Limits::default()
    });
    assert!(
        matches!(big, Err(LimitError::MemoryOverMax { memory_bytes, max_bytes }) if memory_bytes == max + 1 && max_bytes == max)
    );
    let zero = with(Limits {
        fuel_yield_interval: 0,
        ..Limits::default()
    });
    assert!(matches!(
        zero,
        Err(LimitError::Zero {
            key: "fuel_yield_interval",
            ..
        })
    ));
    assert!(with(Limits::default()).is_ok());
}

#[test]
fn backend_set_up_errors_are_typed_and_hide_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let under_a_file = Store::open(file.join("store.sqlite3"));
    assert!(
        matches!(under_a_file, Err(StoreError::CreateFolder { .. })),
        "{under_a_file:?}"
    );

    let url = Secret::new("rediss-ish://:hunter2@@nowhere");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let bad = runtime
        .block_on(async { RedisQueue::new(&url) })
        .unwrap_err();
    assert!(matches!(bad, RedisSetupError::InvalidUrl(_)), "{bad}");
    assert!(!bad.to_string().contains("hunter2"), "{bad}");

    let smtp = wasm_listeners::SmtpConfig {
        timeout_ms: 0,
        ..crate::servers::smtp::config(25)
    };
    let e: SmtpConfigError = SmtpBackend::new(&smtp).unwrap_err();
    assert!(e.to_string().contains("timeout_ms"), "{e}");
}

#[test]
fn event_errors_are_variants() {
    assert!(matches!(
        parse_events(b"{not json"),
        Err(EventError::NotJson(_))
    ));
    let unknown = parse_event(br#"{"action": "explode", "resource_name": "record"}"#);
    assert!(
        matches!(unknown, Err(EventError::UnknownAction { .. })),
        "{unknown:?}"
    );
    let incoming = fixture_event("record-create.json", 0);
    let event: &Event = &incoming.event;
    assert_eq!(event.action, Action::Create);
}
