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

use wasm_listeners_sdk::{debug, export_listener, queue, settings, Event, Listener, Result};

/// The queue used when the `listname` setting is absent, as in the tutorial.
const DEFAULT_LISTNAME: &str = "eventqueue";

/// Forwards payloads to the queue named by the `listname` setting.
struct QueueForward;

impl Listener for QueueForward {
    fn handle(event: Event) -> Result<()> {
        let listname = settings::get("listname").unwrap_or_else(|| DEFAULT_LISTNAME.into());
        // The same bytes kinto-redis pushes: Kinto's payload as compact JSON, in Kinto's order.
        queue::push(&listname, event.payload_json())?;
        debug!(
            "pushed {} {} onto {listname}",
            event.action().as_str(),
            event.uri()
        );
        Ok(())
    }
}

export_listener!(QueueForward);
