/*
 * Host-side tests of the C helper: wasm_listeners.c and the generated bindings are
 * compiled natively, with the host's imports replaced by the mocks below (at the
 * canonical-ABI level, so the bindings' own lifting and freeing run too), and under
 * AddressSanitizer and LeakSanitizer, which fail the run on any leak or double free; each
 * call must also end with as many bytes allocated as before it.
 * Run: guest-sdk/c/test/run
 */
#include <sanitizer/allocator_interface.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bindings/listener.h"
#include "wasm_listeners.h"

static int failures;

#define CHECK(condition)                                                                  \
    do {                                                                                  \
        if (!(condition)) {                                                               \
            fprintf(stderr, "%s:%d: failed: %s\n", __FILE__, __LINE__, #condition);       \
            failures++;                                                                   \
        }                                                                                 \
    } while (0)

#define CHANGES WASM_LISTENERS_LISTENER_TYPES_OBJECTS_CHANGES
#define READ WASM_LISTENERS_LISTENER_TYPES_OBJECTS_READ
#define NOT_GIVEN WASM_LISTENERS_LISTENER_TYPES_OBJECTS_NOT_GIVEN

#define CHECK_STR(got, want)                                                              \
    do {                                                                                  \
        const char *got_ = (got), *want_ = (want);                                        \
        if (got_ == NULL || strcmp(got_, want_) != 0) {                                   \
            fprintf(stderr, "%s:%d: %s\n  got  %s\n  want %s\n", __FILE__, __LINE__, #got, \
                    got_ ? got_ : "(null)", want_);                                       \
            failures++;                                                                   \
        }                                                                                 \
    } while (0)

/* ---- The host, mocked ------------------------------------------------------------- */

/* The settings the host gives (key, value, ...), NULL-terminated. */
static const char *const *host_settings;
/* The error the next send or push returns: -1 for none, else the case's tag. */
static int email_error = -1, push_error = -1;
static char last_log[512], last_queue[64], last_payload[1024], last_subject[128];
static size_t last_to_count;

static uint8_t *owned(const char *s) {
    size_t len = strlen(s);
    uint8_t *copy = malloc(len > 0 ? len : 1);
    memcpy(copy, s, len);
    return copy;
}

/* Writes a string the guest then owns at `at` (pointer) and `at + sizeof(void*)` (len). */
static void give(uint8_t *at, const char *s) {
    *(uint8_t **)at = strlen(s) > 0 ? owned(s) : (uint8_t *)1;
    *(size_t *)(at + sizeof(void *)) = strlen(s);
}

static void text_of(char *out, size_t size, const uint8_t *ptr, size_t len) {
    snprintf(out, size, "%.*s", (int)len, (const char *)ptr);
}

void __wasm_import_wasm_listeners_listener_email_send(uint8_t *message, uint8_t *ret) {
    const listener_string_t *subject = (const void *)(message + 12 * sizeof(void *));
    text_of(last_subject, sizeof last_subject, subject->ptr, subject->len);
    last_to_count = *(size_t *)(message + 4 * sizeof(void *));
    ret[0] = email_error >= 0;
    if (email_error >= 0) {
        ret[sizeof(void *)] = (uint8_t)email_error;
        if (email_error != WASM_LISTENERS_LISTENER_EMAIL_SEND_ERROR_RATE_LIMITED) {
            give(ret + 2 * sizeof(void *), "b@y");
        }
    }
}

void __wasm_import_wasm_listeners_listener_queue_push(uint8_t *name, size_t name_len,
                                                      uint8_t *payload, size_t len,
                                                      uint8_t *ret) {
    text_of(last_queue, sizeof last_queue, name, name_len);
    text_of(last_payload, sizeof last_payload, payload, len);
    ret[0] = push_error >= 0;
    if (push_error >= 0) {
        ret[sizeof(void *)] = (uint8_t)push_error;
        give(ret + 2 * sizeof(void *), "redis down");
    }
}

void __wasm_import_wasm_listeners_listener_log_log(int32_t level, uint8_t *message, size_t len) {
    (void)level;
    text_of(last_log, sizeof last_log, message, len);
}

void __wasm_import_wasm_listeners_listener_settings_get(uint8_t *key, size_t len, uint8_t *ret) {
    ret[0] = 0;
    for (const char *const *s = host_settings; s != NULL && *s != NULL; s += 2) {
        if (strlen(s[0]) == len && memcmp(s[0], key, len) == 0) {
            ret[0] = 1;
            give(ret + sizeof(void *), s[1]);
            return;
        }
    }
}

void __wasm_import_wasm_listeners_listener_settings_all(uint8_t *ret) {
    size_t count = 0;
    while (host_settings != NULL && host_settings[2 * count] != NULL) count++;
    listener_tuple2_string_string_t *list = count > 0 ? malloc(count * sizeof *list) : NULL;
    for (size_t i = 0; i < count; i++) {
        give((uint8_t *)&list[i].f0, host_settings[2 * i]);
        give((uint8_t *)&list[i].f1, host_settings[2 * i + 1]);
    }
    *(void **)ret = list;
    *(size_t *)(ret + sizeof(void *)) = count;
}

/* ---- The listener under test ------------------------------------------------------ */

static wl_result (*scenario)(const wl_event *event);
static wl_result (*validation)(void);

static wl_result handle(const wl_event *event) { return scenario(event); }
static wl_result validate(void) { return validation(); }

WL_LISTENER(handle, validate);

/* An owned canonical-ABI string, as the bindings give an export. */
static listener_string_t string(const char *s) {
    return (listener_string_t){owned(s), strlen(s)};
}

static listener_option_string_t some(const char *s) {
    return (listener_option_string_t){true, string(s)};
}

/* Calls handle as the bindings do, with an event the callee owns; returns the outcome as
 * "ok", "transient: ..." or "permanent: ...". */
static const char *call(const char *user_id, int objects) {
    static char outcome[512];
    size_t before = __sanitizer_get_current_allocated_bytes();
    wasm_listeners_listener_types_extra_t *extras = malloc(3 * sizeof *extras);
    extras[0] = (wasm_listeners_listener_types_extra_t){string("account_id"), string("\"acc\"")};
    extras[1] = (wasm_listeners_listener_types_extra_t){string("user_id"), string("42")};
    extras[2] = (wasm_listeners_listener_types_extra_t){string("zz"), string("[1,{\"a\":null}]")};
    exports_wasm_listeners_listener_handler_event_t event = {
        .action = WASM_LISTENERS_LISTENER_TYPES_ACTION_UPDATE,
        .resource_name = string("record"),
        .uri = string("/buckets/a\"b\\c/\xc3\xa9\x7f/"),
        .timestamp = UINT64_MAX,
        .user_id = user_id != NULL ? some(user_id) : (listener_option_string_t){0},
        .bucket_id = some("b"),
        .record_id = some("ctl\x01\x08\t\n\x0b\x0c\r\x1f"),
        .extras = {extras, 3},
        .objects = {.tag = (uint8_t)objects},
    };
    if (objects == CHANGES) {
        wasm_listeners_listener_types_change_t *changes = malloc(2 * sizeof *changes);
        changes[0] = (wasm_listeners_listener_types_change_t){{0}, string("{\"id\":\"r1\"}")};
        changes[1] = (wasm_listeners_listener_types_change_t){
            {true, string("{\"id\":\"r2\",\"n\":1}")}, string("{\"id\":\"r2\",\"n\":2}")};
        event.objects.val.changes = (wasm_listeners_listener_types_list_change_t){changes, 2};
    } else if (objects == READ) {
        listener_string_t *read = malloc(sizeof *read);
        read[0] = string("{\"id\":\"a\"}");
        event.objects.val.read = (wasm_listeners_listener_types_list_json_t){read, 1};
    }
    exports_wasm_listeners_listener_handler_context_t context = {
        .event_id = string("e1"),
        .attempt = 2,
        .phase = WASM_LISTENERS_LISTENER_TYPES_PHASE_AFTER_COMMIT,
        .source = WASM_LISTENERS_LISTENER_TYPES_SOURCE_CLI,
        .listener = string("l"),
        .part = {1, 3},
    };
    exports_wasm_listeners_listener_handler_listener_error_t err;
    if (exports_wasm_listeners_listener_handler_handle(&event, &context, &err)) {
        snprintf(outcome, sizeof outcome, "ok");
    } else {
        bool transient = err.tag == WASM_LISTENERS_LISTENER_TYPES_LISTENER_ERROR_TRANSIENT;
        snprintf(outcome, sizeof outcome, "%s: %.*s", transient ? "transient" : "permanent",
                 (int)err.val.transient.len, (const char *)err.val.transient.ptr);
        listener_string_free(&err.val.transient); /* what the bindings' post-return does */
    }
    CHECK(__sanitizer_get_current_allocated_bytes() == before);
    return outcome;
}

/* Calls validate-settings as the bindings do; returns "ok" or the error. */
static const char *validate_call(const char *const *pairs) {
    static char outcome[256];
    size_t before = __sanitizer_get_current_allocated_bytes();
    size_t count = 0;
    while (pairs[2 * count] != NULL) count++;
    /* An empty list comes without an allocation, as the canonical ABI gives it. */
    listener_tuple2_string_string_t *list = count > 0 ? malloc(count * sizeof *list) : NULL;
    for (size_t i = 0; i < count; i++) {
        list[i].f0 = string(pairs[2 * i]);
        list[i].f1 = string(pairs[2 * i + 1]);
    }
    listener_list_tuple2_string_string_t settings = {list, count};
    listener_string_t err;
    if (exports_wasm_listeners_listener_handler_validate_settings(&settings, &err)) {
        snprintf(outcome, sizeof outcome, "ok");
    } else {
        snprintf(outcome, sizeof outcome, "%.*s", (int)err.len, (const char *)err.ptr);
        listener_string_free(&err);
    }
    CHECK(__sanitizer_get_current_allocated_bytes() == before);
    return outcome;
}

/* ---- Scenarios -------------------------------------------------------------------- */

static wl_result view_and_payload(const wl_event *event) {
    CHECK(event->action == WL_UPDATE);
    CHECK_STR(event->action_name, "update");
    CHECK_STR(event->resource_name, "record");
    CHECK(event->timestamp == UINT64_MAX);
    CHECK(event->collection_id == NULL && event->group_id == NULL);
    CHECK_STR(event->bucket_id, "b");
    CHECK(event->extra_count == 3);
    CHECK_STR(event->extras[2].key, "zz");
    CHECK_STR(wl_event_extra(event, "account_id"), "\"acc\"");
    CHECK(wl_event_extra(event, "nope") == NULL);
    CHECK(event->objects == WL_OBJECTS_CHANGES && event->change_count == 2);
    CHECK(event->changes[0].old_json == NULL);
    CHECK_STR(event->changes[1].old_json, "{\"id\":\"r2\",\"n\":1}");
    CHECK_STR(event->changes[1].new_json, "{\"id\":\"r2\",\"n\":2}");
    CHECK_STR(event->context.event_id, "e1");
    CHECK_STR(event->context.listener, "l");
    CHECK(event->context.attempt == 2 && event->context.phase == WL_AFTER_COMMIT);
    CHECK(event->context.source == WL_SOURCE_CLI);
    CHECK(event->context.part_index == 1 && event->context.part_count == 3);
    size_t len;
    const char *json = wl_payload_json(event, &len);
    /* serde_json's bytes: the typed keys, user_id replaced in place by its extra. */
    const char *want = "{\"timestamp\":18446744073709551615,\"action\":\"update\","
                       "\"uri\":\"/buckets/a\\\"b\\\\c/\xc3\xa9\x7f/\",\"user_id\":42,"
                       "\"resource_name\":\"record\",\"bucket_id\":\"b\","
                       "\"record_id\":\"ctl\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f\","
                       "\"account_id\":\"acc\",\"zz\":[1,{\"a\":null}]}";
    CHECK_STR(json, want);
    CHECK(len == strlen(want));
    WL_TRY(wl_push("q", json, len));
    return wl_permanent("not reached with push_error %d", push_error);
}

static wl_result read_objects(const wl_event *event) {
    CHECK(event->user_id == NULL);
    CHECK(event->objects == WL_OBJECTS_READ && event->read_count == 1);
    CHECK_STR(event->read_objects[0], "{\"id\":\"a\"}");
    CHECK(strstr(wl_payload_json(event, NULL), "\"user_id\":42") != NULL);
    return wl_ok();
}

static wl_result not_given(const wl_event *event) {
    CHECK(event->objects == WL_OBJECTS_NOT_GIVEN && event->changes == NULL);
    return wl_transient("retry %s", "later");
}

static wl_result settings_and_email(const wl_event *event) {
    (void)event;
    const char *from, *list;
    WL_TRY(wl_setting_require("from", &from));
    WL_TRY(wl_setting_require("recipients", &list));
    wl_strings to = wl_split_whitespace(list);
    const wl_setting *all;
    CHECK(wl_settings_all(&all) == 2);
    CHECK_STR(all[1].key, "recipients");
    CHECK(wl_setting_get("cc") == NULL);
    wl_log_info("%s to %zu, %.1f", from, to.count, 0.5);
    CHECK_STR(last_log, "a@x to 3, 0.5");
    wl_email email = {.from = from, .to = to, .cc = WL_STRINGS("c@x"), .subject = "s"};
    WL_TRY(wl_send_email(&email));
    CHECK(last_to_count == 3);
    CHECK_STR(last_subject, "s");
    return wl_ok();
}

static wl_result long_lines(const wl_event *event) {
    (void)event;
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK(strlen(wl_format("%s%s", big, big)) == 2 * (sizeof big - 1));
    wl_log_warn("%s", big);
    CHECK(strlen(last_log) == sizeof last_log - 1);
    return wl_permanent("%s", "");
}

static wl_result addresses(void) {
    const char *from, *list;
    WL_TRY(wl_setting_require("from", &from));
    WL_TRY(wl_setting_require("recipients", &list));
    return wl_ok();
}

static void test_split(void) {
    const char *words[] = {"a@x", "b@y", "c", "d"};
    /* spaces, a tab, a no-break space, an ideographic space, U+2028, U+205F */
    wl_strings got =
        wl_split_whitespace(" a@x\tb@y\xc2\xa0" "c\xe3\x80\x80\xe2\x80\xa8 d\xe2\x81\x9f");
    CHECK(got.count == 4);
    for (size_t i = 0; i < got.count && i < 4; i++) CHECK_STR(got.items[i], words[i]);
    CHECK(wl_split_whitespace(" \t ").count == 0);
    CHECK(wl_split_whitespace("").count == 0);
    CHECK_STR(wl_split_whitespace("caf\xc3\xa9 x").items[0], "caf\xc3\xa9");
}

int main(void) {
    scenario = view_and_payload;
    push_error = WASM_LISTENERS_LISTENER_QUEUE_PUSH_ERROR_UNAVAILABLE;
    CHECK_STR(call(NULL, CHANGES), "transient: queue unavailable: redis down");
    CHECK_STR(last_queue, "q");
    push_error = WASM_LISTENERS_LISTENER_QUEUE_PUSH_ERROR_TOO_LARGE;
    CHECK_STR(call(NULL, CHANGES), "permanent: queue payload too large: redis down");
    push_error = WASM_LISTENERS_LISTENER_QUEUE_PUSH_ERROR_NOT_PERMITTED;
    CHECK_STR(call(NULL, CHANGES), "permanent: queue not permitted: redis down");
    push_error = -1;
    CHECK_STR(call(NULL, CHANGES), "permanent: not reached with push_error -1");

    scenario = read_objects;
    CHECK_STR(call(NULL, READ), "ok");
    scenario = not_given;
    CHECK_STR(call("alice", NOT_GIVEN), "transient: retry later");
    scenario = long_lines;
    CHECK_STR(call("alice", NOT_GIVEN), "permanent: ");

    scenario = settings_and_email;
    static const char *const none[] = {NULL};
    host_settings = none;
    CHECK_STR(call(NULL, NOT_GIVEN), "permanent: missing required setting `from`");
    static const char *const blank[] = {"from", "a@x", "recipients", " \t\xe2\x80\x83", NULL};
    host_settings = blank;
    CHECK_STR(call(NULL, NOT_GIVEN), "permanent: setting `recipients` is empty");
    static const char *const good[] = {"from", "a@x", "recipients", "b@y  c@z\nd@w", NULL};
    host_settings = good;
    CHECK_STR(call(NULL, NOT_GIVEN), "ok");
    static const struct {
        int tag;
        const char *outcome;
    } emails[] = {
        {0, "permanent: email not permitted: b@y"},
        {1, "permanent: invalid email address: b@y"},
        {2, "transient: email rate limit reached"},
        {3, "permanent: email too large: b@y"},
        {4, "transient: email server failed, try later: b@y"},
        {5, "permanent: email refused by the server: b@y"},
    };
    for (size_t i = 0; i < sizeof emails / sizeof emails[0]; i++) {
        email_error = emails[i].tag;
        CHECK_STR(call(NULL, NOT_GIVEN), emails[i].outcome);
    }
    email_error = -1;

    validation = addresses;
    host_settings = none; /* validate reads the settings it is given, not the host's */
    static const char *const only_from[] = {"from", "a@x", NULL};
    static const char *const nbsp_from[] = {"from", "\xc2\xa0", "recipients", "b", NULL};
    static const char *const both[] = {"from", "a@x", "recipients", "b", NULL};
    CHECK_STR(validate_call(only_from), "missing required setting `recipients`");
    CHECK_STR(validate_call(nbsp_from), "setting `from` is empty");
    CHECK_STR(validate_call(both), "ok");
    CHECK_STR(validate_call((const char *const[]){NULL}), "missing required setting `from`");

    /* Outside a call: the arena is empty again after each one, so this allocates anew. */
    test_split();

    if (failures > 0) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("all checks passed\n");
    fflush(stdout);
    return 0;
}
