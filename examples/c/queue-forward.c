/*
 * The tutorial's asynchronous path, as kinto-redis does it: push each event's payload
 * onto a queue (a Redis list, `LPUSH`) for workers to `BRPOP`. The C twin of
 * examples/queue-forward.
 *
 * Build and run (from the repository's root):
 *
 *     examples/c/build /tmp/c-listeners
 *     wasm-listeners invoke /tmp/c-listeners/queue-forward.wasm \
 *         --event tests/fixtures/kinto-events/record-create.json --setting listname=eventqueue
 */
#include "wasm_listeners.h"

/* The queue used when the `listname` setting is absent, as in the tutorial. */
#define DEFAULT_LISTNAME "eventqueue"

static wl_result handle(const wl_event *event) {
    const char *listname = wl_setting_get("listname");
    if (listname == NULL) listname = DEFAULT_LISTNAME;
    /* The same bytes kinto-redis pushes: Kinto's payload as compact JSON, in Kinto's order. */
    size_t len;
    const char *payload = wl_payload_json(event, &len);
    WL_TRY(wl_push(listname, payload, len));
    wl_log_debug("pushed %s %s onto %s", event->action_name, event->uri, listname);
    return wl_ok();
}

WL_LISTENER(handle, NULL);
