//! Kinto's tutorial listener ("How to run custom code on notifications?", `kinto_email`):
//! one email per event, subject `<resource_name> <action>d`, body `User id: <user_id>`.
//! The Zig twin of examples/send-email.
//!
//! Build and run (from the repository's root):
//!
//!     examples/zig/build /tmp/zig-listeners
//!     wasm-listeners invoke /tmp/zig-listeners/send-email.wasm \
//!         --event tests/fixtures/kinto-events/record-create.json \
//!         --setting from=postmaster@localhost --setting recipients=kinto@yopmail.com

const std = @import("std");
const wl = @import("wasm_listeners");

/// The sender (`from`) and the recipients (`recipients`, separated by whitespace, as
/// Pyramid's `aslist` reads them); a permanent error naming the setting if either is
/// missing or blank.
fn addresses(settings: wl.Settings) !struct { sender: []const u8, recipients: []const []const u8 } {
    const sender = try settings.require("from");
    var recipients: std.ArrayList([]const u8) = .empty;
    var words = std.mem.tokenizeAny(u8, try settings.require("recipients"), wl.whitespace);
    while (words.next()) |word| try recipients.append(wl.allocator, word);
    return .{ .sender = sender, .recipients = recipients.items };
}

pub fn handle(event: *const wl.Event) !void {
    const found = try addresses(try wl.Settings.load());
    const subject = try wl.print("{s} {s}d", .{ event.resource_name, event.action.name() });
    // Python formats a missing user id as `None`: keep the tutorial's output.
    const body = try wl.print("User id: {s}", .{event.user_id orelse "None"});
    try wl.sendEmail(.{ .from = found.sender, .to = found.recipients, .subject = subject, .body = body });
    wl.log.info("sent \"{s}\" to {d} recipient(s)", .{ subject, found.recipients.len });
}

pub fn validateSettings(settings: wl.Settings) !void {
    _ = try addresses(settings);
}

comptime {
    wl.exportListener(@This());
}
pub const panic = wl.panic;
