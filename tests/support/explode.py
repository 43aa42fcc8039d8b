"""A Kinto plugin for the end-to-end suite: raises, before commit, when an impacted new
object has `"explode": true`, so that Kinto fails the request and rolls the write back
(the "later listener fails in the same request" of the rollback test).

Included after the wasm-listeners plugin (`kinto.includes = kinto_wasm_listeners
explode`), its subscriber runs after every subscriber registered before it: a plugin
that enqueued before commit would have enqueued by then, and the test would see it.
This folder is on PYTHONPATH.
"""
from kinto.core.events import ResourceChanged


def explode(event):
    for impacted in event.impacted_objects:
        if (impacted.get("new") or {}).get("explode") is True:
            raise RuntimeError("explode: failing the request on purpose")


def includeme(config):
    config.add_subscriber(explode, ResourceChanged)
