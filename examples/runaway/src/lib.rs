//! A listener that never returns: it spins until the runtime's fuel limit (or deadline)
//! stops it, to show that one runaway listener cannot hold a worker.
//!
//! Build and run (from `examples/`):
//!
//! ```sh
//! cargo build --release --target wasm32-wasip2
//! wasm-listeners invoke target/wasm32-wasip2/release/runaway.wasm \
//!     --event ../tests/fixtures/kinto-events/record-create.json
//! ```

use std::hint::black_box;

use wasm_listeners_sdk::{export_listener, info, Event, Listener, Result};

/// Loops forever.
struct Runaway;

impl Listener for Runaway {
    fn handle(event: Event) -> Result<()> {
        info!("spinning on {} forever", event.uri());
        let mut counter = 0u64;
        loop {
            // `black_box` keeps the optimiser from proving the loop useless.
            counter = black_box(counter.wrapping_add(1));
        }
    }
}

export_listener!(Runaway);
