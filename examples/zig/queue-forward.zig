//! The tutorial's asynchronous path, as kinto-redis does it: push each event's payload
//! onto a queue (a Redis list, `LPUSH`) for workers to `BRPOP`. The Zig twin of
//! examples/queue-forward.
//!
//! Build and run (from the repository's root):
//!
//!     examples/zig/build /tmp/zig-listeners
//!     wasm-listeners invoke /tmp/zig-listeners/queue-forward.wasm \
//!         --event tests/fixtures/kinto-events/record-create.json --setting listname=eventqueue

const wl = @import("wasm_listeners");

/// The queue used when the `listname` setting is absent, as in the tutorial.
const default_listname = "eventqueue";

pub fn handle(event: *const wl.Event) !void {
    const settings = try wl.Settings.load();
    const listname = settings.get("listname") orelse default_listname;
    // The same bytes kinto-redis pushes: Kinto's payload as compact JSON, in Kinto's order.
    try wl.push(listname, try event.payloadJson(wl.allocator));
    wl.log.debug("pushed {s} {s} onto {s}", .{ event.action.name(), event.uri, listname });
}

comptime {
    wl.exportListener(@This());
}
pub const panic = wl.panic;
