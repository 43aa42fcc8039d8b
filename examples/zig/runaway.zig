//! A listener that never returns: it spins until the runtime's fuel limit (or deadline)
//! stops it, to show that one runaway listener cannot hold a worker. The Zig twin of
//! examples/runaway.
//!
//! Build and run (from the repository's root):
//!
//!     examples/zig/build /tmp/zig-listeners
//!     wasm-listeners invoke /tmp/zig-listeners/runaway.wasm \
//!         --event tests/fixtures/kinto-events/record-create.json --fuel 100000000

const std = @import("std");
const wl = @import("wasm_listeners");

pub fn handle(event: *const wl.Event) !void {
    wl.log.info("spinning on {s} forever", .{event.uri});
    var counter: u64 = 0;
    while (true) {
        // `doNotOptimizeAway` keeps the optimiser from proving the loop useless (an
        // infinite loop without side effects may otherwise be removed).
        counter +%= 1;
        std.mem.doNotOptimizeAway(counter);
    }
}

comptime {
    wl.exportListener(@This());
}
pub const panic = wl.panic;
