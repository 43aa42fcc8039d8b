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

use wasm_listeners_sdk::{export_listener, Error, Event, Listener, Result, Settings};

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
            .map_err(|e| Error::permanent(format!("setting `{key}` is not a whole number: {e}"))),
    }
}

export_listener!(Misbehave);
