/*
 * A listener that never returns: it spins until the runtime's fuel limit (or deadline)
 * stops it, to show that one runaway listener cannot hold a worker. The C twin of
 * examples/runaway.
 *
 * Build and run (from the repository's root):
 *
 *     examples/c/build /tmp/c-listeners
 *     wasm-listeners invoke /tmp/c-listeners/runaway.wasm \
 *         --event tests/fixtures/kinto-events/record-create.json --fuel 100000000
 */
#include <stdint.h>

#include "wasm_listeners.h"

static wl_result handle(const wl_event *event) {
    wl_log_info("spinning on %s forever", event->uri);
    /* `volatile` keeps the optimiser from proving the loop useless (an infinite loop
     * without side effects may be assumed to end, in C). */
    volatile uint64_t counter = 0;
    for (;;) counter = counter + 1;
}

WL_LISTENER(handle, NULL);
