//! A test program for the runtime's limit tests, not a showcase: setting `mode` picks a
//! misbehaviour.
//!
//! | `mode` | does |
//! |---|---|
//! | `ok` | returns `Ok` |
//! | `alloc` | allocates setting `mib` MiB (default 1), touches every page, logs `allocated N MiB`; past the memory limit the allocation fails and the guest traps (2048 or more is over wasm32's 2 GiB and panics at once) |
//! | `email` | sends one email from setting `from` (optional) to `to`, and `cc`, `bcc` if set, subject `probe`; returns its error |
//! | `queue` | pushes setting `payload` (default empty) onto queue `name`; returns its error |
//! | `panic` | panics |
//! | `fail-transient`, `fail-permanent` | returns that error |
//! | `print` | `println!("to stdout")`, `eprintln!("to stderr")` |
//! | `log-flood` | logs setting `lines` (default 1000) lines of 100 bytes |
//! | `objects` | logs `object <i> id=<id>` per change or read object (`i` from 0, id `-` if none), then `part <index> of <count>` |
//! | `queue-objects` | pushes `{"action": ..., "changes": [{"old": ..., "new": ...}]}` (the event's objects as the guest got them) onto queue `name` |
//!
//! A missing or unknown `mode` is a permanent error naming it.
//!
//! Build and run (from `examples/`):
//!
//! ```sh
//! cargo build --release --target wasm32-wasip2
//! wasm-listeners invoke target/wasm32-wasip2/release/misbehave.wasm \
//!     --event ../tests/fixtures/kinto-events/record-create.json --setting mode=alloc --setting mib=64
//! ```

mod modes;

use wasm_listeners_sdk::{export_listener, Error, Event, Listener, Result, ResultExt, Settings};

/// Misbehaves as told.
struct Misbehave;

impl Listener for Misbehave {
    fn handle(event: Event) -> Result<()> {
        let settings = Settings::load();
        match settings.require("mode")? {
            "ok" => Ok(()),
            "alloc" => modes::alloc(number(&settings, "mib", 1)?),
            "email" => modes::email(&settings),
            "queue" => modes::queue(settings.require("name")?, settings.get("payload")),
            "panic" => panic!("misbehave: panicking as asked"),
            "fail-transient" => Err(Error::transient("misbehave: failing as asked")),
            "fail-permanent" => Err(Error::permanent("misbehave: failing as asked")),
            "print" => modes::print(),
            "log-flood" => modes::log_flood(number(&settings, "lines", 1000)?),
            "objects" => modes::objects(&event),
            "queue-objects" => modes::queue_objects(&event, settings.require("name")?),
            other => Err(Error::permanent(format!(
                "misbehave: unknown mode `{other}`"
            ))),
        }
    }
}

/// The whole number in setting `key`, or `default` when it is absent.
fn number(settings: &Settings, key: &str, default: usize) -> Result<usize> {
    match settings.get(key) {
        None => Ok(default),
        Some(text) => text
            .trim()
            .parse()
            .permanent_with(|e| format!("setting `{key}` is not a whole number: {e}")),
    }
}

export_listener!(Misbehave);

#[cfg(test)]
mod tests {
    use wasm_listeners_sdk::testing::{self, Host};
    use wasm_listeners_sdk::{Error, Listener, Result};

    use super::Misbehave;

    /// Runs misbehave on record-create's first event with `settings`.
    fn run(settings: &[(&str, &str)]) -> (Host, Result<()>) {
        let host = settings
            .iter()
            .fold(Host::new(), |host, (k, v)| host.setting(*k, *v));
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/kinto-events"
        );
        let json = std::fs::read_to_string(format!("{dir}/record-create.json")).unwrap();
        let event = testing::event_from_json(&json).unwrap();
        let result = host.run(|| Misbehave::handle(event));
        (host, result)
    }

    #[test]
    fn failing_modes_return_their_kind() {
        let failed = Err(Error::transient("misbehave: failing as asked"));
        assert_eq!(run(&[("mode", "fail-transient")]).1, failed);
        let failed = Err(Error::permanent("misbehave: failing as asked"));
        assert_eq!(run(&[("mode", "fail-permanent")]).1, failed);
        assert_eq!(run(&[("mode", "ok")]).1, Ok(()));
    }

    #[test]
    fn bad_settings_are_permanent_errors_naming_them() {
        let missing = Err(Error::permanent("missing required setting `mode`"));
        assert_eq!(run(&[]).1, missing);
        let unknown = Err(Error::permanent("misbehave: unknown mode `fly`"));
        assert_eq!(run(&[("mode", "fly")]).1, unknown);
        let (_, result) = run(&[("mode", "log-flood"), ("lines", "many")]);
        let message = "setting `lines` is not a whole number: invalid digit found in string";
        assert_eq!(result, Err(Error::permanent(message)));
    }

    #[test]
    fn log_flood_logs_lines_of_100_bytes() {
        let (host, result) = run(&[("mode", "log-flood"), ("lines", "3")]);
        assert_eq!(result, Ok(()));
        let lengths: Vec<usize> = host.logs().iter().map(|l| l.message.len()).collect();
        assert_eq!(lengths, [100, 100, 100]);
        assert!(host.logs()[2].message.starts_with("line 2 xxx"));
    }

    #[test]
    fn email_and_queue_modes_send_what_the_settings_say() {
        let settings = [
            ("mode", "email"),
            ("to", "a@x"),
            ("cc", "c@x"),
            ("bcc", "b@x"),
        ];
        let (host, result) = run(&settings);
        assert_eq!(result, Ok(()));
        let email = &host.emails()[0];
        assert_eq!(
            (&email.to, &email.cc, &email.bcc),
            (
                &vec!["a@x".to_string()],
                &vec!["c@x".to_string()],
                &vec!["b@x".to_string()]
            )
        );
        assert_eq!(
            (email.from.as_deref(), email.subject.as_str()),
            (None, "probe")
        );
        let (host, result) = run(&[("mode", "queue"), ("name", "q")]);
        assert_eq!(result, Ok(()));
        assert_eq!(
            (
                host.pushes()[0].queue.as_str(),
                host.pushes()[0].payload.len()
            ),
            ("q", 0)
        );
    }

    #[test]
    fn objects_mode_logs_each_id_then_the_part() {
        let (host, result) = run(&[("mode", "objects")]);
        assert_eq!(result, Ok(()));
        let lines: Vec<String> = host.logs().into_iter().map(|l| l.message).collect();
        let id = "785d2fe5-113c-4d8c-9682-01579f7ab758";
        assert_eq!(lines, [format!("object 0 id={id}"), "part 1 of 1".into()]);
    }
}
