/*
 * wasm_listeners.c: the helper behind wasm_listeners.h. It implements the two functions
 * the generated bindings (bindings/listener.c) export, turns the canonical ABI's owned,
 * length-delimited strings into a NUL-terminated view for the author's handler, and
 * frees everything once the handler returns.
 *
 * Memory: the exported functions own their arguments (freed here with the generated
 * *_free functions); what the imports return (a setting, the settings, an error) is ours
 * to free too. Everything handed to the author is allocated from the call's arena (a
 * list of blocks) and freed at the end of the call. The error message returned to the
 * host is a fresh malloc'd copy, which the bindings' post-return function frees.
 */
#include "wasm_listeners.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings/listener.h"

/* wit-bindgen's C generator normally emits an object file holding the component type,
 * which listener.c links in through this symbol. The bindings are generated with
 * --no-object-file and the type is embedded with `wasm-tools component embed` instead,
 * so the symbol only has to exist: it does nothing. */
void __component_type_object_force_link_listener(void) {}

/* ---- The call's arena ------------------------------------------------------------- */

struct block {
    struct block *next;
    max_align_t data[]; /* aligned for any type */
};

/* The blocks allocated during the current call, newest first. */
static struct block *arena;

/* The settings validate_settings is checking, or NULL during handle (read the host's). */
static const wl_setting *validating;
static size_t validating_count;

static void *checked(void *ptr) {
    if (ptr == NULL) abort(); /* out of memory: trap, as the bindings do */
    return ptr;
}

void *wl_alloc(size_t size) {
    struct block *block = checked(malloc(sizeof(struct block) + size));
    block->next = arena;
    arena = block;
    return block->data;
}

static void free_arena(void) {
    while (arena != NULL) {
        struct block *next = arena->next;
        free(arena);
        arena = next;
    }
}

/* A NUL-terminated copy of `len` bytes, owned by the call. */
static char *copy(const void *bytes, size_t len) {
    char *text = wl_alloc(len + 1);
    if (len > 0) memcpy(text, bytes, len);
    text[len] = '\0';
    return text;
}

static const char *text(const listener_string_t *s) { return copy(s->ptr, s->len); }

static const char *optional(const listener_option_string_t *s) {
    return s->is_some ? text(&s->val) : NULL;
}

/* A borrowed canonical-ABI string of a C string (NULL is empty). */
static listener_string_t borrow(const char *s) {
    listener_string_t string = {(uint8_t *)"", 0};
    if (s != NULL) listener_string_set(&string, s);
    return string;
}

/* ---- Formatting and results ------------------------------------------------------- */

/* vsnprintf into a buffer from `allocate` (malloc or wl_alloc). A short text (most are)
 * is formatted once, on the stack; a longer one a second time, into its own buffer. */
static char *vformat(void *(*allocate)(size_t), size_t *len, const char *fmt, va_list args) {
    char line[256];
    va_list again;
    va_copy(again, args);
    int n = vsnprintf(line, sizeof line, fmt, again);
    va_end(again);
    if (n < 0) n = 0, line[0] = '\0'; /* an encoding error: an empty text */
    char *out = checked(allocate((size_t)n + 1));
    if ((size_t)n < sizeof line) {
        memcpy(out, line, (size_t)n + 1);
    } else {
        vsnprintf(out, (size_t)n + 1, fmt, args);
    }
    if (len != NULL) *len = (size_t)n;
    return out;
}

const char *wl_format(const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    char *out = vformat(wl_alloc, NULL, fmt, args);
    va_end(args);
    return out;
}

wl_result wl_ok(void) { return (wl_result){WL_OK, NULL}; }

wl_result wl_transient(const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    wl_result result = {WL_TRANSIENT, vformat(wl_alloc, NULL, fmt, args)};
    va_end(args);
    return result;
}

wl_result wl_permanent(const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    wl_result result = {WL_PERMANENT, vformat(wl_alloc, NULL, fmt, args)};
    va_end(args);
    return result;
}

/* The error `prefix` + `detail` (detail may be NULL), of the given kind. */
static wl_result failure(bool transient, const char *prefix, const listener_string_t *detail) {
    int len = detail != NULL ? (int)detail->len : 0;
    const char *bytes = detail != NULL ? (const char *)detail->ptr : "";
    const char *message = wl_format("%s%.*s", prefix, len, bytes);
    return (wl_result){transient ? WL_TRANSIENT : WL_PERMANENT, message};
}

/* ---- Log -------------------------------------------------------------------------- */

void wl_log(wl_level level, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    size_t len;
    char *line = vformat(malloc, &len, fmt, args);
    va_end(args);
    listener_string_t message = {(uint8_t *)line, len};
    wasm_listeners_listener_log_log((wasm_listeners_listener_log_level_t)level, &message);
    free(line);
}

/* ---- Email and queues ------------------------------------------------------------- */

/* The Rust SDK's texts (guest-sdk/src/email.rs) and kinds (error.rs), by send-error case. */
static const struct {
    const char *prefix;
    bool transient;
} email_errors[] = {
    [WASM_LISTENERS_LISTENER_EMAIL_SEND_ERROR_NOT_PERMITTED] = {"email not permitted: ", false},
    [WASM_LISTENERS_LISTENER_EMAIL_SEND_ERROR_INVALID_ADDRESS] = {"invalid email address: ", false},
    [WASM_LISTENERS_LISTENER_EMAIL_SEND_ERROR_RATE_LIMITED] = {"email rate limit reached", true},
    [WASM_LISTENERS_LISTENER_EMAIL_SEND_ERROR_TOO_LARGE] = {"email too large: ", false},
    [WASM_LISTENERS_LISTENER_EMAIL_SEND_ERROR_TRANSIENT_FAILURE] =
        {"email server failed, try later: ", true},
    [WASM_LISTENERS_LISTENER_EMAIL_SEND_ERROR_PERMANENT_FAILURE] =
        {"email refused by the server: ", false},
};

/* guest-sdk/src/queue.rs and error.rs, by push-error case. */
static const struct {
    const char *prefix;
    bool transient;
} queue_errors[] = {
    [WASM_LISTENERS_LISTENER_QUEUE_PUSH_ERROR_NOT_PERMITTED] = {"queue not permitted: ", false},
    [WASM_LISTENERS_LISTENER_QUEUE_PUSH_ERROR_TOO_LARGE] = {"queue payload too large: ", false},
    [WASM_LISTENERS_LISTENER_QUEUE_PUSH_ERROR_UNAVAILABLE] = {"queue unavailable: ", true},
};

/* Borrowed canonical-ABI strings of `list`, in a malloc'd array the caller frees. */
static listener_list_string_t borrow_all(wl_strings list) {
    listener_list_string_t out = {NULL, list.count};
    if (list.count > 0) {
        out.ptr = checked(malloc(list.count * sizeof(listener_string_t)));
        for (size_t i = 0; i < list.count; i++) out.ptr[i] = borrow(list.items[i]);
    }
    return out;
}

static listener_option_string_t borrow_optional(const char *s) {
    listener_option_string_t option = {s != NULL, borrow(s)};
    return option;
}

wl_result wl_send_email(const wl_email *email) {
    wasm_listeners_listener_email_message_t message = {
        .from = borrow_optional(email->from),
        .to = borrow_all(email->to),
        .cc = borrow_all(email->cc),
        .bcc = borrow_all(email->bcc),
        .reply_to = borrow_optional(email->reply_to),
        .subject = borrow(email->subject),
        .body = borrow(email->body),
        .html_body = borrow_optional(email->html_body),
    };
    wasm_listeners_listener_email_send_error_t error;
    bool sent = wasm_listeners_listener_email_send(&message, &error);
    /* The strings were borrowed: only the arrays are ours. */
    free(message.to.ptr);
    free(message.cc.ptr);
    free(message.bcc.ptr);
    if (sent) return wl_ok();
    /* Every case but rate-limited holds its text, at the same place in the union. */
    bool has_text = error.tag != WASM_LISTENERS_LISTENER_EMAIL_SEND_ERROR_RATE_LIMITED;
    wl_result result = failure(email_errors[error.tag].transient, email_errors[error.tag].prefix,
                               has_text ? &error.val.not_permitted : NULL);
    wasm_listeners_listener_email_send_error_free(&error);
    return result;
}

wl_result wl_push(const char *queue, const void *payload, size_t len) {
    listener_string_t name = borrow(queue);
    listener_list_u8_t bytes = {(uint8_t *)payload, len};
    wasm_listeners_listener_queue_push_error_t error;
    if (wasm_listeners_listener_queue_push(&name, &bytes, &error)) return wl_ok();
    /* Every case holds its text, at the same place in the union. */
    wl_result result = failure(queue_errors[error.tag].transient, queue_errors[error.tag].prefix,
                               &error.val.not_permitted);
    wasm_listeners_listener_queue_push_error_free(&error);
    return result;
}

/* ---- Text and settings ------------------------------------------------------------ */

/* The length in bytes of the whitespace character `s` starts with, or 0: Unicode's
 * White_Space, as Rust's char::is_whitespace (and so its trim and split_whitespace). */
static size_t space(const char *text) {
    const unsigned char *s = (const unsigned char *)text;
    if (s[0] == ' ' || (s[0] >= '\t' && s[0] <= '\r')) return 1;
    if (s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0)) return 2; /* U+0085, U+00A0 */
    if (s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80) return 3;   /* U+1680 */
    if (s[0] == 0xe2 && s[1] == 0x80 &&                           /* U+2000-200A, 2028, */
        ((s[2] >= 0x80 && s[2] <= 0x8a) || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf))
        return 3; /* 2029, 202F */
    if (s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f) return 3; /* U+205F */
    if (s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80) return 3; /* U+3000 */
    return 0;
}

/* Skips whitespace; stops at the next word or the end. */
static const char *skip_space(const char *s) {
    for (size_t n; (n = space(s)) > 0;) s += n;
    return s;
}

/* Skips a word; stops at the next whitespace or the end. */
static const char *skip_word(const char *s) {
    while (*s != '\0' && space(s) == 0) s++;
    return s;
}

wl_strings wl_split_whitespace(const char *text) {
    size_t count = 0;
    for (const char *s = skip_space(text); *s != '\0'; s = skip_space(skip_word(s))) count++;
    const char **items = wl_alloc((count > 0 ? count : 1) * sizeof(const char *));
    size_t i = 0;
    for (const char *s = skip_space(text); *s != '\0'; s = skip_space(skip_word(s))) {
        items[i++] = copy(s, (size_t)(skip_word(s) - s));
    }
    return (wl_strings){items, count};
}

const char *wl_setting_get(const char *key) {
    if (validating != NULL) {
        for (size_t i = 0; i < validating_count; i++) {
            if (strcmp(validating[i].key, key) == 0) return validating[i].value;
        }
        return NULL;
    }
    listener_string_t name = borrow(key);
    listener_string_t value;
    if (!wasm_listeners_listener_settings_get(&name, &value)) return NULL;
    const char *owned = text(&value);
    listener_string_free(&value);
    return owned;
}

wl_result wl_setting_require(const char *key, const char **value) {
    const char *found = wl_setting_get(key);
    if (found == NULL) return wl_permanent("missing required setting `%s`", key);
    if (*skip_space(found) == '\0') return wl_permanent("setting `%s` is empty", key);
    *value = found;
    return wl_ok();
}

/* The settings of a canonical-ABI list, owned by the call. */
static size_t settings_of(const listener_list_tuple2_string_string_t *list,
                          const wl_setting **settings) {
    wl_setting *out = wl_alloc((list->len > 0 ? list->len : 1) * sizeof(wl_setting));
    for (size_t i = 0; i < list->len; i++) {
        out[i] = (wl_setting){text(&list->ptr[i].f0), text(&list->ptr[i].f1)};
    }
    *settings = out;
    return list->len;
}

size_t wl_settings_all(const wl_setting **settings) {
    if (validating != NULL) {
        *settings = validating;
        return validating_count;
    }
    listener_list_tuple2_string_string_t list;
    wasm_listeners_listener_settings_all(&list);
    size_t count = settings_of(&list, settings);
    listener_list_tuple2_string_string_free(&list);
    return count;
}

/* ---- The event: its payload as JSON, its view ------------------------------------- */

/* A key and its value: JSON text copied as is, or a string to write as JSON. */
typedef struct {
    listener_string_t key;
    listener_string_t value;
    bool quoted;
} member;

/* Appends bytes; with out NULL, only counts them (the first of two passes). */
typedef struct {
    char *out;
    size_t len;
} writer;

static void put(writer *w, const void *bytes, size_t len) {
    if (w->out != NULL && len > 0) memcpy(w->out + w->len, bytes, len);
    w->len += len;
}

/* A JSON string as serde_json writes it: `"` and `\` escaped, \b \f \n \r \t, other
 * control characters as \u00XX (lowercase hex), everything else as is. */
static void put_string(writer *w, listener_string_t s) {
    static const char hex[] = "0123456789abcdef";
    put(w, "\"", 1);
    size_t start = 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = s.ptr[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue; /* as is */
        char escape[6] = {'\\', (char)c, '0', '0', hex[c >> 4], hex[c & 15]};
        size_t n = 2;
        switch (c) {
        case '"': case '\\': break;
        case '\b': escape[1] = 'b'; break;
        case '\f': escape[1] = 'f'; break;
        case '\n': escape[1] = 'n'; break;
        case '\r': escape[1] = 'r'; break;
        case '\t': escape[1] = 't'; break;
        default: escape[1] = 'u', n = 6;
        }
        put(w, s.ptr + start, i - start);
        put(w, escape, n);
        start = i + 1;
    }
    put(w, s.ptr + start, s.len - start);
    put(w, "\"", 1);
}

static void put_object(writer *w, const member *members, size_t count) {
    put(w, "{", 1);
    for (size_t i = 0; i < count; i++) {
        if (i > 0) put(w, ",", 1);
        put_string(w, members[i].key);
        put(w, ":", 1);
        if (members[i].quoted) {
            put_string(w, members[i].value);
        } else {
            put(w, members[i].value.ptr, members[i].value.len);
        }
    }
    put(w, "}", 1);
}

static const char *const action_names[] = {"create", "update", "delete", "read"};

static listener_string_t literal(const char *s) {
    return (listener_string_t){(uint8_t *)s, strlen(s)};
}

const char *wl_payload_json(const wl_event *event, size_t *len) {
    const wasm_listeners_listener_types_event_t *raw = event->raw;
    member *members = wl_alloc((9 + raw->extras.len) * sizeof(member));
    size_t count = 0;
    char digits[20]; /* the timestamp in decimal, right-aligned */
    size_t n = 0;
    for (uint64_t t = raw->timestamp; n == 0 || t > 0; t /= 10) {
        digits[sizeof digits - ++n] = (char)('0' + t % 10);
    }
    listener_string_t timestamp = {(uint8_t *)digits + sizeof digits - n, n};
    members[count++] = (member){literal("timestamp"), timestamp, false};
    members[count++] = (member){literal("action"), literal(action_names[raw->action]), true};
    members[count++] = (member){literal("uri"), raw->uri, true};
    members[count++] = raw->user_id.is_some
        ? (member){literal("user_id"), raw->user_id.val, true}
        : (member){literal("user_id"), literal("null"), false};
    members[count++] = (member){literal("resource_name"), raw->resource_name, true};
    const struct {
        const char *key;
        const listener_option_string_t *id;
    } ids[] = {{"bucket_id", &raw->bucket_id},
               {"collection_id", &raw->collection_id},
               {"group_id", &raw->group_id},
               {"record_id", &raw->record_id}};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        if (ids[i].id->is_some) {
            members[count++] = (member){literal(ids[i].key), ids[i].id->val, true};
        }
    }
    /* As the Rust SDK's insertion into an ordered map (and Python's dict.update): an
     * extra whose key is already there replaces the value in place. */
    for (size_t e = 0; e < raw->extras.len; e++) {
        const wasm_listeners_listener_types_extra_t *extra = &raw->extras.ptr[e];
        size_t i = 0;
        while (i < count && !(members[i].key.len == extra->key.len &&
                              memcmp(members[i].key.ptr, extra->key.ptr, extra->key.len) == 0)) {
            i++;
        }
        if (i == count) count++;
        members[i] = (member){extra->key, extra->value, false};
    }
    writer w = {NULL, 0};
    put_object(&w, members, count);
    w = (writer){wl_alloc(w.len + 1), 0};
    put_object(&w, members, count);
    w.out[w.len] = '\0';
    if (len != NULL) *len = w.len;
    return w.out;
}

const char *wl_event_extra(const wl_event *event, const char *key) {
    for (size_t i = 0; i < event->extra_count; i++) {
        if (strcmp(event->extras[i].key, key) == 0) return event->extras[i].json;
    }
    return NULL;
}

/* The author's view of an event, owned by the call. */
static wl_event view(const exports_wasm_listeners_listener_handler_event_t *raw,
                     const exports_wasm_listeners_listener_handler_context_t *context) {
    wl_event event = {
        .action = (wl_action)raw->action,
        .action_name = action_names[raw->action],
        .resource_name = text(&raw->resource_name),
        .uri = text(&raw->uri),
        .timestamp = raw->timestamp,
        .user_id = optional(&raw->user_id),
        .bucket_id = optional(&raw->bucket_id),
        .collection_id = optional(&raw->collection_id),
        .group_id = optional(&raw->group_id),
        .record_id = optional(&raw->record_id),
        .extra_count = raw->extras.len,
        .objects = (wl_objects)raw->objects.tag,
        .context =
            {
                .event_id = text(&context->event_id),
                .attempt = context->attempt,
                .phase = (wl_phase)context->phase,
                .source = (wl_source)context->source,
                .listener = text(&context->listener),
                .part_index = context->part.index,
                .part_count = context->part.count,
            },
        .raw = raw,
    };
    wl_extra *extras = wl_alloc(raw->extras.len * sizeof(wl_extra));
    for (size_t i = 0; i < raw->extras.len; i++) {
        extras[i] = (wl_extra){text(&raw->extras.ptr[i].key), text(&raw->extras.ptr[i].value)};
    }
    event.extras = extras;
    if (raw->objects.tag == WASM_LISTENERS_LISTENER_TYPES_OBJECTS_CHANGES) {
        const wasm_listeners_listener_types_list_change_t *list = &raw->objects.val.changes;
        wl_change *changes = wl_alloc(list->len * sizeof(wl_change));
        for (size_t i = 0; i < list->len; i++) {
            const wasm_listeners_listener_types_change_t *change = &list->ptr[i];
            const char *old = change->old.is_some ? text(&change->old.val) : NULL;
            changes[i] = (wl_change){old, text(&change->new_)};
        }
        event.changes = changes;
        event.change_count = list->len;
    } else if (raw->objects.tag == WASM_LISTENERS_LISTENER_TYPES_OBJECTS_READ) {
        const wasm_listeners_listener_types_list_json_t *list = &raw->objects.val.read;
        const char **objects = wl_alloc(list->len * sizeof(const char *));
        for (size_t i = 0; i < list->len; i++) objects[i] = text(&list->ptr[i]);
        event.read_objects = objects;
        event.read_count = list->len;
    }
    return event;
}

/* ---- The exports ------------------------------------------------------------------ */

/* A malloc'd copy of the result's message, for the host; the bindings free it after the
 * call (post-return). */
static listener_string_t returned(wl_result result) {
    listener_string_t message;
    listener_string_dup(&message, result.message != NULL ? result.message : "");
    return message;
}

bool exports_wasm_listeners_listener_handler_handle(
    exports_wasm_listeners_listener_handler_event_t *event,
    exports_wasm_listeners_listener_handler_context_t *context,
    exports_wasm_listeners_listener_handler_listener_error_t *err) {
    wl_event author_view = view(event, context);
    wl_result result = wl_the_listener.handle(&author_view);
    bool ok = result.kind == WL_OK;
    if (!ok) {
        err->tag = result.kind == WL_TRANSIENT
            ? WASM_LISTENERS_LISTENER_TYPES_LISTENER_ERROR_TRANSIENT
            : WASM_LISTENERS_LISTENER_TYPES_LISTENER_ERROR_PERMANENT;
        err->val.transient = returned(result); /* both cases hold the text there */
    }
    free_arena();
    exports_wasm_listeners_listener_handler_event_free(event);
    exports_wasm_listeners_listener_handler_context_free(context);
    return ok;
}

bool exports_wasm_listeners_listener_handler_validate_settings(
    listener_list_tuple2_string_string_t *settings, listener_string_t *err) {
    bool ok = true;
    if (wl_the_listener.validate_settings != NULL) {
        validating_count = settings_of(settings, &validating);
        wl_result result = wl_the_listener.validate_settings();
        validating = NULL;
        validating_count = 0;
        ok = result.kind == WL_OK;
        if (!ok) *err = returned(result);
    }
    free_arena();
    listener_list_tuple2_string_string_free(settings);
    return ok;
}
