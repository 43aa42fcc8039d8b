//! The tutorial's asynchronous path, as kinto-redis does it: push each event's payload
//! onto a queue (a Redis list, `LPUSH`) for workers to `BRPOP`.
//!
//! Build and run (from `examples/`):
//!
//! ```sh
//! cargo build --release --target wasm32-wasip2
//! wasm-listeners invoke target/wasm32-wasip2/release/queue_forward.wasm \
//!     --event ../tests/fixtures/kinto-events/record-create.json --setting listname=eventqueue
//! ```
//!
//! Test on the host: `cargo test -p queue-forward`.

use wasm_listeners_sdk::{debug, export_listener, queue, Event, Listener, Result, Settings};

/// The queue used when the `listname` setting is absent, as in the tutorial.
const DEFAULT_LISTNAME: &str = "eventqueue";

/// Forwards payloads to the queue named by the `listname` setting.
struct QueueForward;

impl Listener for QueueForward {
    fn handle(event: Event) -> Result<()> {
        let settings = Settings::load();
        let listname = settings.get("listname").unwrap_or(DEFAULT_LISTNAME);
        // The same bytes kinto-redis pushes: Kinto's payload as compact JSON, in Kinto's order.
        queue::push(listname, event.payload_json())?;
        debug!(
            "pushed {} {} onto {listname}",
            event.action().as_str(),
            event.uri()
        );
        Ok(())
    }
}

export_listener!(QueueForward);

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use wasm_listeners_sdk::queue::PushError;
    use wasm_listeners_sdk::testing::{self, Host};
    use wasm_listeners_sdk::{Error, Listener};

    use super::QueueForward;

    fn fixture(name: &str) -> String {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/kinto-events"
        );
        std::fs::read_to_string(format!("{dir}/{name}")).unwrap()
    }

    /// The entry kinto-redis pushed in `scenario` (the one it pushed: a single entry).
    fn kinto_redis_entry(scenario: &str) -> String {
        let entries: Value = serde_json::from_str(&fixture("redis-queue-entries.json")).unwrap();
        let entries = entries.as_array().unwrap();
        let found = entries.iter().find(|entry| entry["scenario"] == scenario);
        let lrange = found.unwrap()["lrange"].as_array().unwrap();
        let [entry] = lrange.as_slice() else {
            panic!("one entry in {scenario}");
        };
        entry.as_str().unwrap().to_owned()
    }

    #[test]
    fn pushes_kinto_redis_bytes_onto_the_default_queue() {
        for scenario in ["record-create", "batch-create-put", "account-create"] {
            let host = Host::new();
            let event = testing::event_from_json(&fixture(&format!("{scenario}.json"))).unwrap();
            assert_eq!(host.run(|| QueueForward::handle(event)), Ok(()));
            let pushes = host.pushes();
            assert_eq!(pushes.len(), 1, "{scenario}");
            assert_eq!(pushes[0].queue, "eventqueue");
            let pushed = String::from_utf8(pushes[0].payload.clone()).unwrap();
            assert_eq!(pushed, kinto_redis_entry(scenario));
        }
    }

    #[test]
    fn listname_names_the_queue() {
        let host = Host::new().setting("listname", "kinto-events");
        let event = testing::event_from_json(&fixture("group-create.json")).unwrap();
        assert_eq!(host.run(|| QueueForward::handle(event)), Ok(()));
        assert_eq!(host.pushes()[0].queue, "kinto-events");
        let log = &host.logs()[0].message;
        assert_eq!(
            log,
            "pushed create /buckets/shop/groups/staff onto kinto-events"
        );
    }

    #[test]
    fn an_unreachable_queue_is_transient() {
        let host = Host::new().fail_push_with(PushError::Unavailable("redis down".into()));
        let event = testing::event_from_json(&fixture("record-create.json")).unwrap();
        let result = host.run(|| QueueForward::handle(event));
        assert_eq!(
            result,
            Err(Error::transient("queue unavailable: redis down"))
        );
    }
}
