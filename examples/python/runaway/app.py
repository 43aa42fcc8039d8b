"""A listener that never returns: it spins until the runtime's fuel limit (or deadline)
stops it, to show that one runaway listener cannot hold a worker. The Python twin of
examples/runaway.

Build and run (from the repository's root):

    examples/python/build /tmp/py-listeners
    wasm-listeners invoke /tmp/py-listeners/runaway.wasm \
        --event tests/fixtures/kinto-events/record-create.json --fuel 100000000
"""

from wasm_listeners import listener, log


@listener
def handle(event):
    log.info("spinning on %s forever", event.uri)
    counter = 0
    while True:
        counter += 1
