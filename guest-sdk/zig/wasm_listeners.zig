//! Write Kinto event listeners in Zig for wasm-listeners.
//!
//! A listener is one Zig file:
//!
//!     const wl = @import("wasm_listeners");
//!
//!     pub fn handle(event: *const wl.Event) !void {
//!         const settings = try wl.Settings.load();
//!         try wl.sendEmail(.{
//!             .from = try settings.require("from"),
//!             .to = &.{try settings.require("recipients")},
//!             .subject = try wl.print("{s} {s}d", .{ event.resource_name, event.action.name() }),
//!             .body = try wl.print("User id: {s}", .{event.user_id orelse "None"}),
//!         });
//!     }
//!
//!     comptime {
//!         wl.exportListener(@This()); // exports `handle` (and `validateSettings`, if declared)
//!     }
//!     pub const panic = wl.panic; // a panic's message goes to the call's log, no WASI
//!
//! `exportListener` exports, with the C ABI, the two functions the generated C bindings
//! of the contract (`guest-sdk/c/bindings/listener.{h,c}`, wit-bindgen) call:
//! `handle(event, context)` and `validate-settings(settings)`. It converts the event to
//! Zig values (slices, optionals, enums), gives the call an arena (`wl.allocator`), turns
//! the returned error into the contract's `listener-error` and frees everything the
//! bindings allocated: the event, the context, the settings list, whatever an import
//! returned. A listener never frees anything.
//!
//! What the listener file declares:
//!
//! - `pub fn handle(event: *const wl.Event) !void` (required). Return an error to fail
//!   the call: `error.Transient` is retried later, any other error gives up on the event
//!   (before Kinto's commit, that fails the Kinto request). Return `wl.transient(fmt,
//!   args)` or `wl.permanent(fmt, args)` to fail with a message; the helper's own failures
//!   (`sendEmail`, `push`, `Settings.require`) carry the Rust SDK's messages, so `try`
//!   ends the call just as `?` does in Rust. Any other error (`error.InvalidCharacter`)
//!   becomes a permanent failure whose message is the error's name.
//! - `pub fn validateSettings(settings: wl.Settings) !void` (optional): checks the
//!   settings before the listener is put to work; an error rejects them with its message.
//!
//! Each call runs in a fresh instance: keep no state between events.
//!
//! The pure parts (types, JSON, failures) live in `core.zig` and test on the host:
//! `python -m ziglang test guest-sdk/zig/core.zig`.

const std = @import("std");
const c = @import("listener_bindings");
const core = @import("core.zig");

pub const Action = core.Action;
pub const Phase = core.Phase;
pub const Source = core.Source;
pub const Part = core.Part;
pub const Context = core.Context;
pub const Extra = core.Extra;
pub const Change = core.Change;
pub const Objects = core.Objects;
pub const Event = core.Event;
pub const Setting = core.Setting;
pub const Error = core.Error;
pub const Kind = core.Kind;
pub const Failure = core.Failure;
pub const failure = core.failure;
pub const writeJsonString = core.writeJsonString;
pub const isBlank = core.isBlank;
pub const whitespace = core.whitespace;

/// The call's memory: an arena over libc's `malloc`, released when the call returns.
/// Allocate freely, never free.
pub const allocator = core.allocator;

/// `std.fmt` formatting into the call's memory: `try wl.print("{s} {s}d", .{a, b})`.
pub fn print(comptime fmt: []const u8, args: anytype) error{OutOfMemory}![]u8 {
    return allocator.print(fmt, args);
}

/// Fails the call with a message, to be retried later: `return wl.transient("...", .{})`.
pub fn transient(comptime fmt: []const u8, args: anytype) error{Transient} {
    return core.failTransient(null, fmt, args);
}

/// Fails the call with a message, for good: `return wl.permanent("...", .{})`.
pub fn permanent(comptime fmt: []const u8, args: anytype) error{Permanent} {
    return core.failPermanent(null, fmt, args);
}

// --- Settings ----------------------------------------------------------------------------

/// A listener's settings: the current ones (`Settings.load()`), or the ones
/// `validateSettings` is given to check.
pub const Settings = struct {
    /// In the order given (the host gives them sorted by key).
    pairs: []const Setting = &.{},

    /// The listener's current settings, from the host (one call).
    pub fn load() error{OutOfMemory}!Settings {
        var raw: c.listener_list_tuple2_string_string_t = undefined;
        c.wasm_listeners_listener_settings_all(&raw);
        defer c.listener_list_tuple2_string_string_free(&raw);
        return .{ .pairs = try copySettings(raw, true) };
    }

    /// The value of `key` (the first one, if given twice), or null.
    pub fn get(settings: Settings, key: []const u8) ?[]const u8 {
        for (settings.pairs) |pair| {
            if (std.mem.eql(u8, pair.key, key)) return pair.value;
        }
        return null;
    }

    /// The value of `key`; `error.Permanent` naming it when it is missing (``missing
    /// required setting `key` ``) or blank (``setting `key` is empty``), the Rust SDK's
    /// texts.
    pub fn require(settings: Settings, key: []const u8) error{Permanent}![]const u8 {
        return core.required(key, settings.get(key));
    }
};

/// The settings list as Zig slices, copied into the call's memory when `copy` (the
/// list is freed right after), else borrowed (it lives until the call returns).
fn copySettings(raw: c.listener_list_tuple2_string_string_t, copy: bool) error{OutOfMemory}![]Setting {
    const pairs = try allocator.alloc(Setting, raw.len);
    for (pairs, 0..) |*pair, i| {
        const key = str(raw.ptr[i].f0);
        const value = str(raw.ptr[i].f1);
        pair.* = if (copy)
            .{ .key = try allocator.dupe(u8, key), .value = try allocator.dupe(u8, value) }
        else
            .{ .key = key, .value = value };
    }
    return pairs;
}

// --- Email, queues, log ------------------------------------------------------------------

/// A plain-text email, with an optional HTML alternative. At least one recipient in
/// `to`, `cc` or `bcc`.
pub const Email = struct {
    /// `name <addr@host>` or `addr@host`; null is the operator's default sender.
    from: ?[]const u8 = null,
    to: []const []const u8 = &.{},
    cc: []const []const u8 = &.{},
    bcc: []const []const u8 = &.{},
    reply_to: ?[]const u8 = null,
    /// No line breaks.
    subject: []const u8 = "",
    body: []const u8 = "",
    html_body: ?[]const u8 = null,
};

/// Sends one email through the host, which checks it against the listener's policy.
/// Fails with the Rust SDK's kinds and texts: rate limits (`email rate limit reached`)
/// and server hiccups are transient, refusals and bad input permanent; `failure().reason`
/// names the contract's case (`rate-limited`, ...).
pub fn sendEmail(message: Email) Error!void {
    var raw: c.wasm_listeners_listener_email_message_t = .{
        .from = option(message.from),
        .to = try stringList(message.to),
        .cc = try stringList(message.cc),
        .bcc = try stringList(message.bcc),
        .reply_to = option(message.reply_to),
        .subject = borrow(message.subject),
        .body = borrow(message.body),
        .html_body = option(message.html_body),
    };
    var err: c.wasm_listeners_listener_email_send_error_t = undefined;
    if (c.wasm_listeners_listener_email_send(&raw, &err)) return;
    defer c.wasm_listeners_listener_email_send_error_free(&err);
    const v = err.val;
    return switch (err.tag) {
        c.WASM_LISTENERS_LISTENER_EMAIL_SEND_ERROR_NOT_PERMITTED => core.failPermanent("not-permitted", "email not permitted: {s}", .{str(v.not_permitted)}),
        c.WASM_LISTENERS_LISTENER_EMAIL_SEND_ERROR_INVALID_ADDRESS => core.failPermanent("invalid-address", "invalid email address: {s}", .{str(v.invalid_address)}),
        c.WASM_LISTENERS_LISTENER_EMAIL_SEND_ERROR_RATE_LIMITED => core.failTransient("rate-limited", "email rate limit reached", .{}),
        c.WASM_LISTENERS_LISTENER_EMAIL_SEND_ERROR_TOO_LARGE => core.failPermanent("too-large", "email too large: {s}", .{str(v.too_large)}),
        c.WASM_LISTENERS_LISTENER_EMAIL_SEND_ERROR_TRANSIENT_FAILURE => core.failTransient("transient-failure", "email server failed, try later: {s}", .{str(v.transient_failure)}),
        else => core.failPermanent("permanent-failure", "email refused by the server: {s}", .{str(v.permanent_failure)}),
    };
}

/// Pushes `payload` onto the head of the list `queue` (`LPUSH`), if the listener's
/// policy allows that queue. An unreachable backend is transient (`queue unavailable:
/// ...`), a refused name or payload permanent.
pub fn push(queue: []const u8, payload: []const u8) Error!void {
    var name = borrow(queue);
    const data = borrow(payload); // a null pointer when empty, as in `borrow`
    var bytes: c.listener_list_u8_t = .{ .ptr = data.ptr, .len = data.len };
    var err: c.wasm_listeners_listener_queue_push_error_t = undefined;
    if (c.wasm_listeners_listener_queue_push(&name, &bytes, &err)) return;
    defer c.wasm_listeners_listener_queue_push_error_free(&err);
    const v = err.val;
    return switch (err.tag) {
        c.WASM_LISTENERS_LISTENER_QUEUE_PUSH_ERROR_NOT_PERMITTED => core.failPermanent("not-permitted", "queue not permitted: {s}", .{str(v.not_permitted)}),
        c.WASM_LISTENERS_LISTENER_QUEUE_PUSH_ERROR_TOO_LARGE => core.failPermanent("too-large", "queue payload too large: {s}", .{str(v.too_large)}),
        else => core.failTransient("unavailable", "queue unavailable: {s}", .{str(v.unavailable)}),
    };
}

/// Severity, as in `tracing`.
pub const Level = enum(u8) { trace, debug, info, warn, @"error" };

/// One line into the call's captured log and the runtime's log, `std.fmt`-formatted:
/// `wl.log.info("pushed {s} onto {s}", .{ uri, queue })`.
pub const log = struct {
    pub fn trace(comptime fmt: []const u8, args: anytype) void {
        write(.trace, fmt, args);
    }
    pub fn debug(comptime fmt: []const u8, args: anytype) void {
        write(.debug, fmt, args);
    }
    pub fn info(comptime fmt: []const u8, args: anytype) void {
        write(.info, fmt, args);
    }
    pub fn warn(comptime fmt: []const u8, args: anytype) void {
        write(.warn, fmt, args);
    }
    /// Level error (`error` is a keyword: `wl.log.err`, as in `std.log`).
    pub fn err(comptime fmt: []const u8, args: anytype) void {
        write(.@"error", fmt, args);
    }

    /// Formats into the call's memory (into a 1 KiB buffer, truncated, if that fails).
    pub fn write(level: Level, comptime fmt: []const u8, args: anytype) void {
        var buffer: [1024]u8 = undefined;
        const line = allocator.print(fmt, args) catch truncated: {
            var w: std.Io.Writer = .fixed(&buffer);
            w.print(fmt, args) catch {};
            break :truncated w.buffered();
        };
        writeLine(level, line);
    }

    /// Writes `line` as is.
    pub fn writeLine(level: Level, line: []const u8) void {
        var message = borrow(line);
        c.wasm_listeners_listener_log_log(@backingInt(level), &message);
    }
};

/// The panic handler of a listener: `pub const panic = wl.panic;` in the listener file.
/// A panic logs its message at level error and traps (the call ends as a trap), with no
/// WASI import (Zig's default handler writes to stderr).
pub const panic = std.debug.FullPanic(panicked);

fn panicked(message: []const u8, _: ?usize) noreturn {
    @branchHint(.cold);
    log.writeLine(.@"error", message);
    @trap();
}

// --- Exporting a listener ----------------------------------------------------------------

/// Exports the listener declared in `Listener` (the listener file: `@This()`): its
/// `pub fn handle(event: *const wl.Event) !void` and, if declared,
/// `pub fn validateSettings(settings: wl.Settings) !void`. Call it in a `comptime`
/// block: `comptime { wl.exportListener(@This()); }`.
pub fn exportListener(comptime Listener: type) void {
    if (!@hasDecl(Listener, "handle")) {
        @compileError("a listener declares `pub fn handle(event: *const wl.Event) !void`");
    }
    const Exports = struct {
        fn handle(
            raw_event: *c.exports_wasm_listeners_listener_handler_event_t,
            raw_context: *c.exports_wasm_listeners_listener_handler_context_t,
            err: *c.exports_wasm_listeners_listener_handler_listener_error_t,
        ) callconv(.c) bool {
            // The callee owns its arguments: free them, and the call's memory, on return.
            defer core.endCall();
            defer c.exports_wasm_listeners_listener_handler_context_free(raw_context);
            defer c.exports_wasm_listeners_listener_handler_event_free(raw_event);
            const event = toEvent(raw_event, raw_context) catch |e| return listenerError(err, e);
            Listener.handle(&event) catch |e| return listenerError(err, e);
            return true;
        }

        fn validateSettings(raw: *c.listener_list_tuple2_string_string_t, err: *c.listener_string_t) callconv(.c) bool {
            defer core.endCall();
            defer c.listener_list_tuple2_string_string_free(raw);
            if (!@hasDecl(Listener, "validateSettings")) return true;
            const pairs = copySettings(raw.*, false) catch |e| {
                err.* = owned(core.failureFor(e).message);
                return false;
            };
            Listener.validateSettings(.{ .pairs = pairs }) catch |e| {
                err.* = owned(core.failureFor(e).message);
                return false;
            };
            return true;
        }

        // `listener.c` references this symbol so that a C build links wit-bindgen's
        // `listener_component_type.o`, which holds the component type. The Zig build
        // embeds the type afterwards (`wasm-tools component embed`), so the symbol only
        // has to exist: an empty function.
        fn forceLinkComponentType() callconv(.c) void {}
    };
    @export(&Exports.handle, .{ .name = "exports_wasm_listeners_listener_handler_handle" });
    @export(&Exports.validateSettings, .{ .name = "exports_wasm_listeners_listener_handler_validate_settings" });
    @export(&Exports.forceLinkComponentType, .{ .name = "__component_type_object_force_link_listener" });
}

/// Sets the contract's `listener-error` for `e`; false (the C bindings' "failed").
fn listenerError(err: *c.exports_wasm_listeners_listener_handler_listener_error_t, e: anyerror) bool {
    const found = core.failureFor(e);
    err.* = switch (found.kind) {
        .transient => .{ .tag = c.WASM_LISTENERS_LISTENER_TYPES_LISTENER_ERROR_TRANSIENT, .val = .{ .transient = owned(found.message) } },
        .permanent => .{ .tag = c.WASM_LISTENERS_LISTENER_TYPES_LISTENER_ERROR_PERMANENT, .val = .{ .permanent = owned(found.message) } },
    };
    return false;
}

/// A copy of `text` in `malloc`'d memory: the bindings' post-return function `free`s the
/// error string once the host has read it. Empty if `malloc` fails.
fn owned(text: []const u8) c.listener_string_t {
    if (text.len == 0) return .{ .ptr = null, .len = 0 };
    const bytes: [*]u8 = @ptrCast(std.c.malloc(text.len) orelse return .{ .ptr = null, .len = 0 });
    @memcpy(bytes[0..text.len], text);
    return .{ .ptr = bytes, .len = text.len };
}

/// The event as Zig values. Strings are borrowed from the bindings' event (freed when
/// the call returns); the lists of extras, changes and read objects live in the call's
/// memory.
fn toEvent(raw: *const c.exports_wasm_listeners_listener_handler_event_t, ctx: *const c.exports_wasm_listeners_listener_handler_context_t) error{OutOfMemory}!Event {
    const extras = try allocator.alloc(Extra, raw.extras.len);
    for (extras, 0..) |*item, i| {
        item.* = .{ .key = str(raw.extras.ptr[i].key), .value = str(raw.extras.ptr[i].value) };
    }
    const objects: Objects = switch (raw.objects.tag) {
        c.WASM_LISTENERS_LISTENER_TYPES_OBJECTS_CHANGES => changes: {
            const list = raw.objects.val.changes;
            const changes = try allocator.alloc(Change, list.len);
            for (changes, 0..) |*change, i| {
                const old = list.ptr[i].old;
                change.* = .{ .old = if (old.is_some) str(old.val) else null, .new = str(list.ptr[i].new_) };
            }
            break :changes .{ .changes = changes };
        },
        c.WASM_LISTENERS_LISTENER_TYPES_OBJECTS_READ => read: {
            const list = raw.objects.val.read;
            const texts = try allocator.alloc([]const u8, list.len);
            for (texts, 0..) |*text, i| text.* = str(list.ptr[i]);
            break :read .{ .read = texts };
        },
        else => .not_given,
    };
    return .{
        .action = @fromBackingInt(@intCast(raw.action)),
        .resource_name = str(raw.resource_name),
        .uri = str(raw.uri),
        .timestamp = raw.timestamp,
        .user_id = optional(raw.user_id),
        .bucket_id = optional(raw.bucket_id),
        .collection_id = optional(raw.collection_id),
        .group_id = optional(raw.group_id),
        .record_id = optional(raw.record_id),
        .extras = extras,
        .objects = objects,
        .context = .{
            .event_id = str(ctx.event_id),
            .attempt = ctx.attempt,
            .phase = @fromBackingInt(@intCast(ctx.phase)),
            .source = @fromBackingInt(@intCast(ctx.source)),
            .listener = str(ctx.listener),
            .part = .{ .index = ctx.part.index, .count = ctx.part.count },
        },
    };
}

// --- Between C strings and Zig slices ----------------------------------------------------

fn str(s: c.listener_string_t) []const u8 {
    return if (s.len == 0) "" else s.ptr[0..s.len];
}

fn optional(o: c.listener_option_string_t) ?[]const u8 {
    return if (o.is_some) str(o.val) else null;
}

/// `text` as a C string without copying: for arguments of imports, which borrow them.
/// An empty one gets a null pointer: the host checks that a pointer lies in memory even
/// for length 0, and Zig's empty slices may point anywhere.
fn borrow(text: []const u8) c.listener_string_t {
    return .{ .ptr = if (text.len == 0) null else @constCast(text.ptr), .len = text.len };
}

fn option(text: ?[]const u8) c.listener_option_string_t {
    return if (text) |t| .{ .is_some = true, .val = borrow(t) } else .{ .is_some = false, .val = .{ .ptr = null, .len = 0 } };
}

fn stringList(texts: []const []const u8) error{OutOfMemory}!c.listener_list_string_t {
    if (texts.len == 0) return .{ .ptr = null, .len = 0 }; // as in `borrow`
    const list = try allocator.alloc(c.listener_string_t, texts.len);
    for (list, texts) |*item, text| item.* = borrow(text);
    return .{ .ptr = list.ptr, .len = list.len };
}
