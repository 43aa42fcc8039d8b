/*
 * wasm_listeners.h: write a Kinto event listener for wasm-listeners in C.
 *
 * The helper sits between your code and the contract (wit/listener.wit) and the C
 * bindings wit-bindgen generated from it (bindings/). You write one function that
 * handles an event and, optionally, one that checks the listener's settings, and name
 * them once:
 *
 *     #include "wasm_listeners.h"
 *
 *     static wl_result handle(const wl_event *event) {
 *         wl_log_info("%s %s", event->action_name, event->uri);
 *         return wl_ok();
 *     }
 *
 *     WL_LISTENER(handle, NULL);
 *
 * Build it with wasm_listeners.c and bindings/listener.c for wasm32-wasi, linked with
 * -lc-printscan-long-double, then make a component with wasm-tools (see docs/c.md).
 * Use no stdio, clock or environment: they import WASI, which a C listener cannot.
 *
 * Memory: you never free anything the helper gives you. The event view, the setting
 * values, and what wl_format, wl_payload_json, wl_split_whitespace, wl_settings_all,
 * wl_alloc and the error constructors return are owned by the call: the helper frees
 * them all when your handle (or validate) function returns, so they must not be kept
 * past it (each call runs in a fresh instance anyway). What you pass to the helper
 * (email fields, queue names, payloads) is only read during the function you pass it to.
 * Running out of memory traps, and the runtime reports the call as failed.
 */
#ifndef WASM_LISTENERS_H
#define WASM_LISTENERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define WL_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define WL_PRINTF(fmt, args)
#endif

/* ---- Results ---------------------------------------------------------------------- */

/* How a call ended. */
typedef enum {
    WL_OK,        /* handled */
    WL_TRANSIENT, /* try again later: a dependency was down, a rate limit was hit, ... */
    WL_PERMANENT, /* do not try again; before Kinto's commit it fails the Kinto request */
} wl_kind;

/* The result of a handler, and of every helper function that can fail. */
typedef struct {
    wl_kind kind;
    const char *message; /* NULL when kind is WL_OK */
} wl_result;

/* Success. */
wl_result wl_ok(void);
/* A failure worth retrying later, with a printf-formatted message. */
wl_result wl_transient(const char *fmt, ...) WL_PRINTF(1, 2);
/* A failure that retrying will not fix, with a printf-formatted message. */
wl_result wl_permanent(const char *fmt, ...) WL_PRINTF(1, 2);

/* Whether `result` is a success. */
static inline bool wl_is_ok(wl_result result) { return result.kind == WL_OK; }

/* Evaluates `expr` (a wl_result) and returns it from the enclosing function if it is an
 * error: C's version of Rust's `?`.  WL_TRY(wl_send_email(&email)); */
#define WL_TRY(expr)                                                                      \
    do {                                                                                  \
        wl_result wl_try_result_ = (expr);                                                \
        if (wl_try_result_.kind != WL_OK) return wl_try_result_;                          \
    } while (0)

/* ---- The event -------------------------------------------------------------------- */

/* What happened to the resource (Kinto's ACTIONS). */
typedef enum { WL_CREATE, WL_UPDATE, WL_DELETE, WL_READ } wl_action;

/* Where the event was when Kinto emitted it. */
typedef enum {
    WL_BEFORE_COMMIT, /* inside the request (ResourceChanged) */
    WL_AFTER_COMMIT,  /* after the commit (AfterResourceChanged) */
    WL_PHASE_UNKNOWN, /* not known, as for a kinto-redis queue entry */
} wl_phase;

/* How the event reached the runtime. */
typedef enum {
    WL_SOURCE_HTTP,         /* POST /v1/events on the runtime's HTTP API */
    WL_SOURCE_KINTO_PLUGIN, /* the wasm-listeners Kinto plugin */
    WL_SOURCE_KINTO_REDIS,  /* a kinto-redis queue entry */
    WL_SOURCE_CLI,          /* wasm-listeners invoke / test */
} wl_source;

/* Which objects the event carries. */
typedef enum {
    WL_OBJECTS_NOT_GIVEN, /* none given (a kinto-redis entry: the payload alone) */
    WL_OBJECTS_CHANGES,   /* impacted_objects of a create, update or delete */
    WL_OBJECTS_READ,      /* read_objects of a read */
} wl_objects;

/* A payload key with no field of its own (account_id, a newer Kinto's keys, ...). */
typedef struct {
    const char *key;
    const char *json; /* its value, as compact JSON text */
} wl_extra;

/* One entry of Kinto's impacted_objects, as JSON texts. */
typedef struct {
    const char *old_json; /* the object before the change; NULL on create */
    const char *new_json; /* after it; Kinto's tombstone on delete */
} wl_change;

/* The delivery of the event to this listener. */
typedef struct {
    const char *event_id; /* the same on every retry; with part_index, an idempotency key */
    uint32_t attempt;     /* 1 for the first try, 2 for the first retry, ... */
    wl_phase phase;
    wl_source source;
    const char *listener;  /* the listener's name in the runtime's configuration */
    uint32_t part_index;   /* 1-based part of an event split over several calls */
    uint32_t part_count;   /* 1 for an event delivered whole */
} wl_context;

/* A Kinto resource event (its payload and objects) and the context of this call. Every
 * string is NUL-terminated UTF-8, owned by the helper and valid until the handler
 * returns. An optional field is NULL when absent. For a merged batch event, uri and the
 * *_id fields describe only the first subrequest: each change's own id is in its JSON. */
typedef struct {
    wl_action action;
    const char *action_name;   /* "create", "update", "delete" or "read" */
    const char *resource_name; /* "bucket", "collection", "group", "record", "account", ... */
    const char *uri;           /* the request path without the /v1 prefix */
    uint64_t timestamp;        /* the collection timestamp, in ms since the epoch */
    const char *user_id;       /* the principal; NULL for an anonymous request */
    const char *bucket_id;     /* NULL when Kinto gave none, as the next three */
    const char *collection_id;
    const char *group_id;
    const char *record_id;
    const wl_extra *extras; /* every other payload key, in Kinto's order */
    size_t extra_count;
    wl_objects objects;
    const wl_change *changes; /* when objects is WL_OBJECTS_CHANGES, in Kinto's order */
    size_t change_count;
    const char *const *read_objects; /* JSON texts, when objects is WL_OBJECTS_READ */
    size_t read_count;
    wl_context context;
    const void *raw; /* private to the helper */
} wl_event;

/* The JSON text of the payload key `key` among the extras (the first, if given twice),
 * or NULL. */
const char *wl_event_extra(const wl_event *event, const char *key);

/* Kinto's event payload as compact JSON, in Kinto's key order: the very bytes kinto-redis
 * pushes onto its queue, and those of the Rust SDK's Event::payload_json. Stores its
 * length (without the NUL) in *len unless len is NULL. Owned by the call. */
const char *wl_payload_json(const wl_event *event, size_t *len);

/* ---- Declaring the listener ------------------------------------------------------- */

/* Handles one event (or one part of one). */
typedef wl_result (*wl_handle_fn)(const wl_event *event);
/* Checks the listener's settings before it is put to work (at upload time, when the
 * runtime starts): during the call, wl_setting_get, wl_setting_require and
 * wl_settings_all read the settings being checked. Any error rejects them with its
 * message, which should name the setting. */
typedef wl_result (*wl_validate_fn)(void);

typedef struct {
    wl_handle_fn handle;
    wl_validate_fn validate_settings; /* NULL: every setting is accepted */
} wl_listener;

/* Names the listener's functions; once, at file scope: WL_LISTENER(handle, validate);
 * or WL_LISTENER(handle, NULL); */
#define WL_LISTENER(handle_fn, validate_fn)                                               \
    const wl_listener wl_the_listener = {(handle_fn), (validate_fn)}

extern const wl_listener wl_the_listener;

/* ---- Email ------------------------------------------------------------------------ */

/* A list of strings. */
typedef struct {
    const char *const *items;
    size_t count;
} wl_strings;

/* A wl_strings of the string literals or pointers given: WL_STRINGS("a@x", "b@y"). */
#define WL_STRINGS(...)                                                                   \
    ((wl_strings){(const char *const[]){__VA_ARGS__},                                     \
                  sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)})

/* One email. Fill it with a designated initializer; NULL strings are absent (or empty
 * for subject and body). At least one recipient in to, cc or bcc is required. */
typedef struct {
    const char *from; /* `name <addr@host>` or `addr@host`; NULL: the operator's default */
    wl_strings to;
    wl_strings cc;
    wl_strings bcc;
    const char *reply_to;  /* where replies go, if not to from */
    const char *subject;   /* no line breaks */
    const char *body;      /* plain text */
    const char *html_body; /* an optional HTML alternative */
} wl_email;

/* Sends `email` through the host, which checks it against the listener's policy. On
 * failure, the Rust SDK's error: "email rate limit reached" and "email server failed, try
 * later: ..." are transient; "email not permitted: ...", "invalid email address: ...",
 * "email too large: ..." and "email refused by the server: ..." permanent. */
wl_result wl_send_email(const wl_email *email);

/* ---- Queues ----------------------------------------------------------------------- */

/* Pushes `len` bytes of `payload` onto the head of the list `queue` (LPUSH), if the
 * listener's policy allows that queue. On failure, the Rust SDK's error: "queue
 * unavailable: ..." is transient; "queue not permitted: ..." and "queue payload too
 * large: ..." permanent. */
wl_result wl_push(const char *queue, const void *payload, size_t len);

/* ---- Log -------------------------------------------------------------------------- */

/* Severity, as in `tracing`. */
typedef enum { WL_LOG_TRACE, WL_LOG_DEBUG, WL_LOG_INFO, WL_LOG_WARN, WL_LOG_ERROR } wl_level;

/* Writes one printf-formatted line into the call's log and the runtime's. */
void wl_log(wl_level level, const char *fmt, ...) WL_PRINTF(2, 3);

#define wl_log_trace(...) wl_log(WL_LOG_TRACE, __VA_ARGS__)
#define wl_log_debug(...) wl_log(WL_LOG_DEBUG, __VA_ARGS__)
#define wl_log_info(...) wl_log(WL_LOG_INFO, __VA_ARGS__)
#define wl_log_warn(...) wl_log(WL_LOG_WARN, __VA_ARGS__)
#define wl_log_error(...) wl_log(WL_LOG_ERROR, __VA_ARGS__)

/* ---- Settings --------------------------------------------------------------------- */

/* One setting. */
typedef struct {
    const char *key;
    const char *value;
} wl_setting;

/* The value of the setting `key` (the first, if given twice), or NULL when it is not
 * set. Owned by the call. */
const char *wl_setting_get(const char *key);

/* Stores the value of the setting `key` in *value, or fails for good naming the key:
 * "missing required setting `KEY`" when it is not set, "setting `KEY` is empty" when it
 * is empty or only whitespace. */
wl_result wl_setting_require(const char *key, const char **value);

/* Stores every setting (sorted by key) in *settings; returns how many. Owned by the
 * call. */
size_t wl_settings_all(const wl_setting **settings);

/* ---- Text ------------------------------------------------------------------------- */

/* The words of `text` separated by whitespace (Unicode's, as Rust's split_whitespace and
 * Python's str.split: spaces, tabs, line breaks, no-break spaces, ...), in order: how
 * Pyramid's aslist reads a list setting. Owned by the call. */
wl_strings wl_split_whitespace(const char *text);

/* A printf-formatted string, owned by the call. */
const char *wl_format(const char *fmt, ...) WL_PRINTF(1, 2);

/* `size` bytes (aligned for any type), owned by the call. */
void *wl_alloc(size_t size);

#ifdef __cplusplus
}
#endif

#endif /* WASM_LISTENERS_H */
