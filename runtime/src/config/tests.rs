use super::*;
use crate::event::Action;
use crate::policy::EmailRules;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("/etc/wl"))
}

fn error(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn the_example_and_tutorial_files_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
    for name in ["example.toml", "tutorial.toml"] {
        let config = Config::load(&dir.join(name)).unwrap_or_else(|e| panic!("{e}"));
        assert!(!config.listeners.is_empty(), "{name}");
    }
}

#[test]
fn defaults_and_relative_paths() {
    let c = parse("[[listener]]\nname = \"a\"\ncomponent = \"a.wasm\"\n").unwrap();
    assert_eq!(c.server.listen.to_string(), DEFAULT_LISTEN);
    assert_eq!(c.listeners[0].component, Path::new("/etc/wl/a.wasm"));
    assert_eq!(
        c.listeners[0].actions,
        [Action::Create, Action::Update, Action::Delete]
    );
    assert_eq!(c.listeners[0].mode, Mode::Sync);
    assert_eq!(
        c.store_path(),
        Path::new("/etc/wl/data/wasm-listeners.sqlite3")
    );
    assert_eq!(c.outbox(), Path::new("/etc/wl/data/outbox"));
    assert_eq!(
        c.listeners[0].email,
        EmailRules::default(),
        "deny by default"
    );
}

#[test]
fn unknown_keys_and_words_are_named() {
    let e = error("[server]\nlisten = \"127.0.0.1:1\"\nport = 3\n");
    assert!(e.contains("unknown field `port`"), "{e}");
    let e = error("[[listener]]\nname = \"a\"\ncomponent = \"a.wasm\"\ncolour = 1\n");
    assert!(e.contains("unknown field `colour`"), "{e}");
    let e = error(
        "[[listener]]\nname = \"a\"\ncomponent = \"a.wasm\"\nactions = [\"create\", \"explode\"]\n",
    );
    assert!(
        e.contains("explode") && e.contains("create, update, delete, read"),
        "{e}"
    );
    let e = error("[[listener]]\nname = \"a\"\ncomponent = \"a.wasm\"\nmode = \"later\"\n");
    assert!(e.contains("later"), "{e}");
}

#[test]
fn inconsistencies_name_the_listener_or_key() {
    let e = error("[server]\nlisten = \"0.0.0.0:8888\"\n");
    assert!(e.contains("operator_token"), "{e}");
    assert!(parse("[server]\nlisten = \"0.0.0.0:8888\"\noperator_token = \"t\"\n").is_ok());
    let two = "[[listener]]\nname = \"a\"\ncomponent = \"a.wasm\"\n".repeat(2);
    assert!(error(&two).contains("two [[listener]] blocks are named `a`"));
    let big = "[[listener]]\nname = \"big\"\ncomponent = \"a.wasm\"\n[listener.limits]\nmemory_bytes = 999999999999\n";
    assert!(error(big).contains("listener `big`"));
    let rule = |text: &str| match parse(text) {
        Err(ConfigError::Invalid { rule, .. }) => rule,
        other => panic!("expected a broken rule, got {other:?}"),
    };
    assert!(matches!(rule(&two), Invalid::DuplicateListener { name } if name == "a"));
    let blank = "[[listener]]\nname = \" \"\ncomponent = \"a.wasm\"\n";
    assert_eq!(rule(blank), Invalid::EmptyListenerName);
    let slash = "[[listener]]\nname = \"acme/mail\"\ncomponent = \"a.wasm\"\n";
    assert_eq!(
        rule(slash),
        Invalid::SlashInListenerName("acme/mail".into())
    );
}

#[test]
fn a_zero_fuel_yield_interval_is_refused_naming_the_key() {
    let text = "[[listener]]\nname = \"spin\"\ncomponent = \"a.wasm\"\n[listener.limits]\nfuel_yield_interval = 0\n";
    let e = parse(text).unwrap_err();
    let ConfigError::Invalid { rule, .. } = &e else {
        panic!("{e}");
    };
    assert!(matches!(
        rule,
        Invalid::Limits { listener, error: LimitError::Zero { key: "fuel_yield_interval", .. } }
            if listener == "spin"
    ));
    let shown = e.to_string();
    assert!(
        shown.contains("listener `spin`: limits.fuel_yield_interval = 0"),
        "{shown}"
    );
}

#[test]
fn calls_per_instance_defaults_to_one_and_zero_is_refused() {
    let c = parse("[[listener]]\nname = \"a\"\ncomponent = \"a.wasm\"\n").unwrap();
    assert_eq!(c.listeners[0].calls_per_instance, 1);
    assert_eq!(c.engine.idle_instance_ms, 30_000);
    let text = "[[listener]]\nname = \"a\"\ncomponent = \"a.wasm\"\ncalls_per_instance = 50\n";
    assert_eq!(parse(text).unwrap().listeners[0].calls_per_instance, 50);
    let zero = "[[listener]]\nname = \"z\"\ncomponent = \"a.wasm\"\ncalls_per_instance = 0\n";
    let e = parse(zero).unwrap_err();
    let ConfigError::Invalid { rule, .. } = &e else {
        panic!("{e}");
    };
    assert_eq!(
        rule,
        &Invalid::NoCallPerInstance {
            listener: "z".into()
        }
    );
    assert!(e.to_string().contains("use 1 (the default"), "{e}");
}

#[test]
fn secrets_never_print() {
    let c = parse(
        "[server]\noperator_token = \"tok-123\"\n[email.smtp]\nhost = \"h\"\npassword = \"pw-456\"\n[queue]\nredis_url = \"redis://:pw-789@h/0\"\n",
    )
    .unwrap();
    let shown = format!("{c:?}");
    for secret in ["tok-123", "pw-456", "pw-789"] {
        assert!(!shown.contains(secret), "{secret} printed in {shown}");
    }
    assert_eq!(c.email.smtp.unwrap().password.unwrap().expose(), "pw-456");
}

#[test]
fn kinto_redis_input_needs_redis_and_sync_listeners_take_no_async_keys() {
    let listener = "[[listener]]\nname = \"a\"\ncomponent = \"a.wasm\"\n";
    let embedded = parse(&format!("{listener}mode = \"async\"\n")).unwrap();
    assert_eq!(embedded.listeners[0].inputs(), [Input::Runtime]);
    let no_redis = error(&format!(
        "{listener}mode = \"async\"\ninputs = [\"kinto-redis\"]\n"
    ));
    assert!(
        no_redis.contains("listener `a` takes the `kinto-redis` input")
            && no_redis.contains("[delivery] redis_url"),
        "{no_redis}"
    );
    let with_redis = parse(&format!("[queue]\nredis_url = \"redis://127.0.0.1/\"\n{listener}mode = \"async\"\ninputs = [\"kinto-redis\"]\nretry_schedule = [\"1s\", \"2m\"]\n")).unwrap();
    let l = &with_redis.listeners[0];
    assert_eq!(l.inputs(), [Input::KintoRedis]);
    assert_eq!(
        l.retry_schedule.as_deref(),
        Some(&[Duration::from_secs(1), Duration::from_secs(120)][..])
    );
    let on_sync = error(&format!("{listener}inputs = [\"runtime\"]\n"));
    assert!(
        on_sync.contains("`inputs` is for mode = \"async\" listeners"),
        "{on_sync}"
    );
    let unknown = error(&format!(
        "[queue]\nredis_url = \"redis://h/\"\n{listener}mode = \"async\"\ninputs = [\"kafka\"]\n"
    ));
    assert!(unknown.contains("kafka"), "{unknown}");
}

#[test]
fn delivery_settings_are_checked() {
    for (text, named) in [
        (
            "[delivery]\nkinto_redis_list = \"{events}\"\n",
            "kinto_redis_list",
        ),
        ("[delivery]\njitter = 1.5\n", "jitter"),
        ("[delivery]\nbatch = 0\n", "batch"),
        (
            "[delivery]\nretry_schedule = [\"soon\"]\n",
            "`soon` is not a duration",
        ),
    ] {
        let e = error(text);
        assert!(e.contains(named), "{text}: {e}");
    }
    let d = parse("[delivery]\nredis_url = \"redis://q/\"\nredis_cluster = true\n").unwrap();
    let (url, cluster) = d.delivery_redis().unwrap();
    assert_eq!((url.expose(), cluster), ("redis://q/", true));
    assert_eq!(
        d.delivery.retry_schedule.len(),
        7,
        "Svix-like default: 8 attempts"
    );
}
