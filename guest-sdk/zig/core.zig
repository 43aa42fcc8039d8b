//! The pure parts of the Zig helper: the event's types, Kinto's payload as JSON, the
//! failure that ends a call, and the settings rules. Nothing here talks to the host, so
//! it builds and tests on any target:
//!
//!     python -m ziglang test guest-sdk/zig/core.zig
//!
//! `wasm_listeners.zig` re-exports all of it; listeners import that module, not this file.

const std = @import("std");
const builtin = @import("builtin");
const Allocator = std.mem.Allocator;
const Writer = std.Io.Writer;

// --- The event ---------------------------------------------------------------------------

/// What happened to the resource (Kinto's `ACTIONS`).
pub const Action = enum {
    create,
    update,
    delete,
    read,

    /// The name Kinto uses: `create`, `update`, `delete` or `read`.
    pub fn name(action: Action) []const u8 {
        return @tagName(action);
    }
};

/// Where the event was when Kinto emitted it.
pub const Phase = enum {
    /// Inside the request, before the transaction commits (`ResourceChanged`): a
    /// permanent error can still make Kinto fail the request.
    before_commit,
    /// After the commit (`AfterResourceChanged`).
    after_commit,
    /// Not known, as for a kinto-redis queue entry.
    unknown,

    /// The contract's name: `before-commit`, `after-commit` or `unknown`.
    pub fn name(phase: Phase) []const u8 {
        return switch (phase) {
            .before_commit => "before-commit",
            .after_commit => "after-commit",
            .unknown => "unknown",
        };
    }
};

/// How the event reached the runtime.
pub const Source = enum {
    http,
    kinto_plugin,
    kinto_redis,
    cli,

    /// The contract's name: `http`, `kinto-plugin`, `kinto-redis` or `cli`.
    pub fn name(source: Source) []const u8 {
        return switch (source) {
            .http => "http",
            .kinto_plugin => "kinto-plugin",
            .kinto_redis => "kinto-redis",
            .cli => "cli",
        };
    }
};

/// Which part of an event this call carries (an event whose objects are over the
/// per-call size limit arrives in several calls, each with a slice of its objects).
pub const Part = struct {
    /// 1-based index of this part.
    index: u32 = 1,
    /// Number of parts (1 for an event delivered whole).
    count: u32 = 1,
};

/// How and when this call happens.
pub const Context = struct {
    /// Identifies the event: the same on every retry, for every listener and every part.
    /// With `part.index`, the idempotency key for side effects.
    event_id: []const u8 = "",
    /// 1 for the first try, 2 for the first retry, ...
    attempt: u32 = 1,
    phase: Phase = .unknown,
    source: Source = .cli,
    /// This listener's name in the runtime's configuration.
    listener: []const u8 = "",
    part: Part = .{},
};

/// A payload key without a typed field (`account_id`, a key of a newer Kinto, ...).
pub const Extra = struct {
    /// The key, exactly as in Kinto's payload.
    key: []const u8,
    /// Its value, as compact JSON text.
    value: []const u8,
};

/// One entry of Kinto's `impacted_objects`, as JSON texts.
pub const Change = struct {
    /// The object before the change; null on create.
    old: ?[]const u8 = null,
    /// The object after the change. On delete, Kinto's tombstone (`id`,
    /// `last_modified`, `deleted`); with `Response-Behavior: light`, only the fields the
    /// request changed (no `id`).
    new: []const u8,

    /// The changed object's own `id` (`new`'s, else `old`'s), parsed with `gpa`;
    /// null when neither has a string `id`. Not the event's `record_id`, which names only
    /// the first object of a merged batch event.
    pub fn id(change: Change, gpa: Allocator) Allocator.Error!?[]const u8 {
        if (try stringId(gpa, change.new)) |found| return found;
        if (change.old) |old| return stringId(gpa, old);
        return null;
    }
};

fn stringId(gpa: Allocator, text: []const u8) Allocator.Error!?[]const u8 {
    const value = std.json.parseFromSliceLeaky(std.json.Value, gpa, text, .{}) catch |err| switch (err) {
        error.OutOfMemory => return error.OutOfMemory,
        else => return null,
    };
    if (value != .object) return null;
    const found = value.object.get("id") orelse return null;
    return if (found == .string) found.string else null;
}

/// The objects an event carries.
pub const Objects = union(enum) {
    /// Kinto gave no objects: a kinto-redis queue entry carries the payload alone.
    not_given,
    /// `impacted_objects` of a create, update or delete, in Kinto's order.
    changes: []const Change,
    /// `read_objects` of a read, as JSON texts (empty for a `HEAD` request).
    read: []const []const u8,
};

/// A Kinto resource event (`event.payload` plus its objects) and this call's context.
/// Every slice is valid until the call returns; the helper frees them, never you.
///
/// For a merged batch event, `uri` and the `*_id` fields describe only the first
/// subrequest: take each object's own id from `Change.id`.
pub const Event = struct {
    action: Action,
    /// `bucket`, `collection`, `group`, `record`, `account`, ...
    resource_name: []const u8,
    /// The request path without the `/v1` prefix.
    uri: []const u8,
    /// The collection timestamp, in milliseconds since the epoch.
    timestamp: u64,
    /// The authenticated principal (`basicauth:...`, `account:...`); null when anonymous.
    user_id: ?[]const u8 = null,
    bucket_id: ?[]const u8 = null,
    collection_id: ?[]const u8 = null,
    group_id: ?[]const u8 = null,
    /// Absent for a POST on a plural endpoint, the first record's for a batch.
    record_id: ?[]const u8 = null,
    /// Every other payload key, in Kinto's order, with its JSON text.
    extras: []const Extra = &.{},
    objects: Objects = .not_given,
    context: Context = .{},

    /// The changes the event carries, in order; empty for a read or when Kinto gave none.
    pub fn changes(event: *const Event) []const Change {
        return switch (event.objects) {
            .changes => |list| list,
            else => &.{},
        };
    }

    /// The JSON text of the payload key `key` among the extras, if present.
    pub fn extra(event: *const Event, key: []const u8) ?[]const u8 {
        for (event.extras) |item| {
            if (std.mem.eql(u8, item.key, key)) return item.value;
        }
        return null;
    }

    /// Kinto's `event.payload` as compact JSON, in Kinto's key order: the bytes
    /// kinto-redis pushes onto its queue, the same as the Rust SDK's `payload_json`.
    /// Keys: `timestamp`, `action`, `uri`, `user_id` (`null` when anonymous),
    /// `resource_name`, then `bucket_id`, `collection_id`, `group_id`, `record_id` when
    /// present, then every extra (its JSON text as the host gave it, compact).
    pub fn payloadJson(event: *const Event, gpa: Allocator) Allocator.Error![]u8 {
        var out: Writer.Allocating = .init(gpa);
        errdefer out.deinit();
        event.writePayloadJson(&out.writer) catch return error.OutOfMemory;
        return out.toOwnedSlice();
    }

    /// `payloadJson`, written to `w`.
    pub fn writePayloadJson(event: *const Event, w: *Writer) Writer.Error!void {
        try w.print("{{\"timestamp\":{d},\"action\":", .{event.timestamp});
        try writeJsonString(w, event.action.name());
        try w.writeAll(",\"uri\":");
        try writeJsonString(w, event.uri);
        try w.writeAll(",\"user_id\":");
        if (event.user_id) |user| try writeJsonString(w, user) else try w.writeAll("null");
        try w.writeAll(",\"resource_name\":");
        try writeJsonString(w, event.resource_name);
        const ids = [_]struct { []const u8, ?[]const u8 }{
            .{ "bucket_id", event.bucket_id },
            .{ "collection_id", event.collection_id },
            .{ "group_id", event.group_id },
            .{ "record_id", event.record_id },
        };
        for (ids) |entry| {
            const value = entry[1] orelse continue;
            try w.writeByte(',');
            try writeJsonString(w, entry[0]);
            try w.writeByte(':');
            try writeJsonString(w, value);
        }
        for (event.extras) |item| {
            try w.writeByte(',');
            try writeJsonString(w, item.key);
            try w.writeByte(':');
            try w.writeAll(item.value);
        }
        try w.writeByte('}');
    }
};

/// Writes `text` as a JSON string, escaped exactly as serde_json does: `"` and `\`,
/// `\b \f \n \r \t`, other control characters below 0x20 as `\u00XX` (lowercase hex);
/// everything else (`/`, DEL, non-ASCII UTF-8) as is.
pub fn writeJsonString(w: *Writer, text: []const u8) Writer.Error!void {
    const hex = "0123456789abcdef";
    try w.writeByte('"');
    var start: usize = 0;
    for (text, 0..) |byte, i| {
        const escape: []const u8 = switch (byte) {
            '"' => "\\\"",
            '\\' => "\\\\",
            0x08 => "\\b",
            0x0c => "\\f",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            0x00...0x07, 0x0b, 0x0e...0x1f => &[_]u8{ '\\', 'u', '0', '0', hex[byte >> 4], hex[byte & 0xf] },
            else => continue,
        };
        try w.writeAll(text[start..i]);
        try w.writeAll(escape);
        start = i + 1;
    }
    try w.writeAll(text[start..]);
    try w.writeByte('"');
}

// --- Failures ----------------------------------------------------------------------------

/// The errors of the helper's functions. `Transient` and `Permanent` carry a message the
/// helper keeps (see `failure`); return any error from `handle` and the call ends:
/// `error.Transient` is retried later, anything else is permanent.
pub const Error = error{ Transient, Permanent, OutOfMemory };

/// Retry later, or give up.
pub const Kind = enum { transient, permanent };

/// Why the last helper call (or `transient`/`permanent`) failed.
pub const Failure = struct {
    kind: Kind,
    /// The text the call ends with (`email rate limit reached`, ...).
    message: []const u8,
    /// The contract's case for an email or queue failure (`rate-limited`,
    /// `unavailable`, ...), or `settings` for a missing or blank setting; null otherwise.
    reason: ?[]const u8 = null,
};

var last_failure: ?Failure = null;

// The call's arena: over libc's malloc in a component (the generated bindings link libc
// anyway), over the page allocator in host-side tests.
var call_arena: std.heap.ArenaAllocator = .init(if (builtin.link_libc) std.heap.c_allocator else std.heap.page_allocator);

/// Memory for the current call: allocate freely, never free. Everything allocated here
/// (by you or by the helper) is released when the call returns.
pub const allocator: Allocator = call_arena.allocator();

/// Ends a call: releases the call's memory and forgets its failure (the helper does it
/// after each call).
pub fn endCall() void {
    _ = call_arena.reset(.free_all);
    last_failure = null;
}
var fallback_message: [1024]u8 = undefined;

/// The failure behind the last `error.Transient` or `error.Permanent` the helper
/// returned, if any in this call.
pub fn failure() ?Failure {
    return last_failure;
}

/// Records a failure whose message is `fmt` formatted with `args` into the call's memory
/// (or, if that fails, into a fixed buffer, truncated).
pub fn record(kind: Kind, reason: ?[]const u8, comptime fmt: []const u8, args: anytype) void {
    const message = allocator.print(fmt, args) catch truncated: {
        var w: Writer = .fixed(&fallback_message);
        w.print(fmt, args) catch {};
        break :truncated w.buffered();
    };
    last_failure = .{ .kind = kind, .message = message, .reason = reason };
}

/// Records a transient failure (see `record`) and returns `error.Transient`.
pub fn failTransient(reason: ?[]const u8, comptime fmt: []const u8, args: anytype) error{Transient} {
    record(.transient, reason, fmt, args);
    return error.Transient;
}

/// Records a permanent failure (see `record`) and returns `error.Permanent`.
pub fn failPermanent(reason: ?[]const u8, comptime fmt: []const u8, args: anytype) error{Permanent} {
    record(.permanent, reason, fmt, args);
    return error.Permanent;
}

/// The kind and message a call ends with when `handle` returned `err`: the recorded
/// failure when it matches `err`, else the error's name (`error.InvalidCharacter`
/// becomes a permanent `InvalidCharacter`).
pub fn failureFor(err: anyerror) Failure {
    const kind: Kind = if (err == error.Transient) .transient else .permanent;
    if (last_failure) |found| {
        if (found.kind == kind and (err == error.Transient or err == error.Permanent)) return found;
    }
    return .{ .kind = kind, .message = @errorName(err) };
}

// --- Settings ----------------------------------------------------------------------------

/// One `(key, value)` setting.
pub const Setting = struct {
    key: []const u8,
    value: []const u8,
};

/// The value of a setting that must be there: a permanent failure naming `key` when it
/// is missing (``missing required setting `key` ``) or blank (``setting `key` is
/// empty``), the Rust SDK's texts.
pub fn required(key: []const u8, value: ?[]const u8) error{Permanent}![]const u8 {
    const found = value orelse return failPermanent("settings", "missing required setting `{s}`", .{key});
    if (isBlank(found)) return failPermanent("settings", "setting `{s}` is empty", .{key});
    return found;
}

/// ASCII whitespace, for `std.mem.tokenizeAny(u8, text, wl.whitespace)`.
pub const whitespace = " \t\n\r\x0b\x0c";

/// True when `text` is empty or only whitespace (Unicode's White_Space, as Rust's
/// `str::trim` sees it).
pub fn isBlank(text: []const u8) bool {
    var view = std.unicode.Utf8View.init(text) catch return false;
    var it = view.iterator();
    while (it.nextCodepoint()) |cp| {
        if (!isWhiteSpace(cp)) return false;
    }
    return true;
}

fn isWhiteSpace(cp: u21) bool {
    return switch (cp) {
        0x09...0x0d, 0x20, 0x85, 0xa0, 0x1680, 0x2000...0x200a, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000 => true,
        else => false,
    };
}

// --- Tests (host-side: `python -m ziglang test guest-sdk/zig/core.zig`) ------------------

const testing = std.testing;

fn expectJsonString(expected: []const u8, text: []const u8) !void {
    var out: Writer.Allocating = .init(testing.allocator);
    defer out.deinit();
    try writeJsonString(&out.writer, text);
    try testing.expectEqualStrings(expected, out.written());
}

test "strings are escaped as serde_json escapes them" {
    try expectJsonString("\"plain\"", "plain");
    try expectJsonString("\"a\\\"b\\\\c\"", "a\"b\\c");
    try expectJsonString("\"\\b\\f\\n\\r\\t\"", "\x08\x0c\n\r\t");
    try expectJsonString("\"\\u0000\\u0001\\u000b\\u001f\"", "\x00\x01\x0b\x1f");
    try expectJsonString("\"/\x7f\"", "/\x7f");
    try expectJsonString("\"é ☃ 😀\"", "é ☃ 😀");
    try expectJsonString("\"\"", "");
}

test "the payload is kinto-redis's bytes" {
    const event: Event = .{
        .action = .create,
        .resource_name = "record",
        .uri = "/buckets/shop/collections/orders/records",
        .timestamp = 1795827033511,
        .user_id = "basicauth:afd289f70866c5056cfe30d1e03c16a329d0869745a0c26701bd8704f7dbff60",
        .bucket_id = "shop",
        .collection_id = "orders",
    };
    const json = try event.payloadJson(testing.allocator);
    defer testing.allocator.free(json);
    try testing.expectEqualStrings(
        "{\"timestamp\":1795827033511,\"action\":\"create\",\"uri\":\"/buckets/shop/collections/orders/records\",\"user_id\":\"basicauth:afd289f70866c5056cfe30d1e03c16a329d0869745a0c26701bd8704f7dbff60\",\"resource_name\":\"record\",\"bucket_id\":\"shop\",\"collection_id\":\"orders\"}",
        json,
    );
}

test "anonymous user, every id and extras in order" {
    const event: Event = .{
        .action = .update,
        .resource_name = "re\"c",
        .uri = "/a\nb",
        .timestamp = 0,
        .bucket_id = "b",
        .collection_id = "c",
        .group_id = "g",
        .record_id = "r",
        .extras = &.{ .{ .key = "account_id", .value = "\"alice\"" }, .{ .key = "n", .value = "{\"x\":[1,2.5,null]}" } },
    };
    const json = try event.payloadJson(testing.allocator);
    defer testing.allocator.free(json);
    try testing.expectEqualStrings(
        "{\"timestamp\":0,\"action\":\"update\",\"uri\":\"/a\\nb\",\"user_id\":null,\"resource_name\":\"re\\\"c\",\"bucket_id\":\"b\",\"collection_id\":\"c\",\"group_id\":\"g\",\"record_id\":\"r\",\"account_id\":\"alice\",\"n\":{\"x\":[1,2.5,null]}}",
        json,
    );
}

test "required names a missing or blank setting" {
    defer endCall();
    try testing.expectEqualStrings("a@x", try required("from", "a@x"));
    try testing.expectError(error.Permanent, required("to", null));
    try testing.expectEqualStrings("missing required setting `to`", failure().?.message);
    try testing.expectError(error.Permanent, required("to", " \t\u{3000}"));
    try testing.expectEqualStrings("setting `to` is empty", failure().?.message);
    try testing.expectError(error.Permanent, required("to", ""));
    try testing.expect(!isBlank(" x "));
}

test "failureFor keeps a matching message, else names the error" {
    defer endCall();
    try testing.expectEqualStrings("InvalidCharacter", failureFor(error.InvalidCharacter).message);
    const err = failTransient(null, "queue unavailable: {s}", .{"redis down"});
    try testing.expectEqual(error.Transient, err);
    const found = failureFor(err);
    try testing.expectEqual(Kind.transient, found.kind);
    try testing.expectEqualStrings("queue unavailable: redis down", found.message);
    try testing.expectEqual(Kind.permanent, failureFor(error.Permanent).kind);
    try testing.expectEqualStrings("Permanent", failureFor(error.Permanent).message);
}

test "change ids come from new, else old" {
    defer endCall();
    const a = allocator;
    const created: Change = .{ .new = "{\"id\":\"b1\",\"last_modified\":1}" };
    try testing.expectEqualStrings("b1", (try created.id(a)).?);
    const light: Change = .{ .old = "{\"id\":\"r\"}", .new = "{\"title\":\"x\"}" };
    try testing.expectEqualStrings("r", (try light.id(a)).?);
    const none: Change = .{ .new = "{\"id\":3}" };
    try testing.expectEqual(null, try none.id(a));
}
