"""The tutorial's asynchronous path, as kinto-redis does it: push each event's payload
onto a queue (a Redis list, `LPUSH`) for workers to `BRPOP`. The Python twin of
examples/queue-forward.

Build and run (from the repository's root):

    examples/python/build /tmp/py-listeners
    wasm-listeners invoke /tmp/py-listeners/queue-forward.wasm \
        --event tests/fixtures/kinto-events/record-create.json --setting listname=eventqueue
"""

from wasm_listeners import listener, log, push, settings

# The queue used when the `listname` setting is absent, as in the tutorial.
DEFAULT_LISTNAME = "eventqueue"


@listener
def handle(event):
    listname = settings.get("listname", DEFAULT_LISTNAME)
    # The same bytes kinto-redis pushes: Kinto's payload as compact JSON, in Kinto's order.
    push(listname, event.payload_json())
    log.debug("pushed %s %s onto %s", event.action, event.uri, listname)
