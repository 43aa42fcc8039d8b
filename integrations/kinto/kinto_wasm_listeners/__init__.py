"""Kinto plugin for wasm-listeners.

Async (``kinto.includes = kinto_wasm_listeners``): once Kinto's transaction has committed,
each change event goes onto the runtime's durable input, as Kinto's ``AfterResourceChanged``
(Kinto never sends it for a write it rolled back). Sync (a listener line whose ``.use`` is
this module): before commit, inside the request, the event is posted to the runtime, which
runs its sync listeners while Kinto waits, and a failure fails the request.

The runtime's input format is versioned; this module writes version 1 (see the runtime's
``runtime/src/backends/redis_delivery.rs`` and the README's "Asynchronous listeners").
"""

import logging
import time

import requests
from kinto.core import errors
from kinto.core.events import AfterResourceChanged
from kinto.core.listeners import ListenerBase
from kinto.core.utils import json
from pyramid import httpexceptions
from pyramid.exceptions import ConfigurationError
from pyramid.settings import asbool, aslist

logger = logging.getLogger(__name__)

#: The runtime's input stream and the version of its entries.
STREAM = "{wasm-listeners:runtime}:v1:stream"
FORMAT_VERSION = "1"
#: The event's source, as the runtime shows it to listeners (`context.source`).
SOURCE = "kinto-plugin"

DEFAULT_ACTIONS = ("create", "update", "delete")
DEFAULT_ENQUEUE_ATTEMPTS = 3
DEFAULT_ENQUEUE_TIMEOUT = 2.0
DEFAULT_SYNC_TIMEOUT = 5.0
#: The first pause between two enqueue attempts; it doubles.
FIRST_PAUSE = 0.05


def event_json(event):
    """The event as the runtime reads it: Kinto's listener shape, its class naming the
    phase (``ResourceChanged`` before commit, ``AfterResourceChanged`` after)."""
    body = {
        "event_class": type(event).__name__,
        "payload": event.payload,
        "impacted_objects": event.impacted_objects,
    }
    return json.dumps(body)


def _setting(settings, key, default=None):
    """A plugin setting, written with or without Kinto's ``kinto.`` prefix."""
    value = settings.get(key, settings.get("kinto." + key))
    return default if value in (None, "") else value


# --- async -----------------------------------------------------------------------------


class RedisInput:
    """Appends entries to the runtime's input stream (``XADD``)."""

    def __init__(self, url, cluster, timeout):
        import redis

        options = dict(socket_timeout=timeout, socket_connect_timeout=timeout)
        if cluster:
            from redis.cluster import RedisCluster

            self._client = RedisCluster.from_url(url, **options)
        else:
            self._client = redis.Redis.from_url(url, **options)
        self.where = "Redis stream " + STREAM

    def send(self, text, timeout):
        # redis-py's timeouts are set per client: `timeout` is the whole budget's.
        self._client.xadd(STREAM, {"v": FORMAT_VERSION, "event": text, "source": SOURCE})


class HttpInput:
    """Posts committed events to the runtime's ``POST /v1/events``, which puts them on its
    durable input (the embedded store or Redis) before it answers."""

    def __init__(self, url, token):
        self._url = url.rstrip("/") + "/v1/events"
        self._headers = _headers(token)
        self._session = requests.Session()
        self.where = self._url

    def send(self, text, timeout):
        response = self._session.post(
            self._url, data=text.encode("utf-8"), headers=self._headers, timeout=timeout
        )
        # 202: enqueued (durably stored); 200: no async listener wanted it.
        if response.status_code not in (200, 202):
            raise RuntimeError(f"the runtime answered {response.status_code}: {response.text[:500]}")


class Enqueuer:
    """The ``AfterResourceChanged`` subscriber: enqueues each committed change event,
    trying ``attempts`` times within ``timeout`` seconds (the time holds up Kinto's
    response), then logs the event in full so that it can be replayed by hand."""

    def __init__(self, target, actions, resources, attempts, timeout):
        self.target = target
        self.actions = set(actions)
        self.resources = set(resources)
        self.attempts = max(1, attempts)
        self.timeout = timeout

    def wants(self, event):
        payload = event.payload
        if payload.get("action") not in self.actions:
            return False
        return not self.resources or payload.get("resource_name") in self.resources

    def __call__(self, event):
        if not self.wants(event):
            return
        try:
            text = event_json(event)
        except (TypeError, ValueError):
            logger.error("wasm-listeners: cannot serialize the event; not enqueued", exc_info=True)
            return
        deadline = time.monotonic() + self.timeout
        pause = FIRST_PAUSE
        failure = None
        for attempt in range(1, self.attempts + 1):
            left = deadline - time.monotonic()
            try:
                self.target.send(text, max(left, 0.01))
                return
            except Exception as e:  # any failure of the transport is retried
                failure = e
            left = deadline - time.monotonic()
            if attempt == self.attempts or left <= 0:
                break
            time.sleep(min(pause, left))
            pause *= 2
        logger.error(
            "wasm-listeners: a committed event was NOT enqueued on %s after %d attempt(s) "
            "(%s): its async listeners will not see it unless it is posted again; the event: %s",
            self.target.where,
            attempt,
            failure,
            text,
        )


def includeme(config):
    """``kinto.includes = kinto_wasm_listeners``: committed change events onto the
    runtime's input."""
    settings = config.get_settings()
    redis_url = _setting(settings, "wasm_listeners.redis_url")
    url = _setting(settings, "wasm_listeners.url")
    if bool(redis_url) == bool(url):
        raise ConfigurationError(
            "kinto_wasm_listeners: set exactly one of wasm_listeners.redis_url (the runtime's "
            "Redis: committed events go onto its input stream) and wasm_listeners.url (a "
            "runtime on its embedded defaults: committed events go to its POST /v1/events)"
        )
    timeout = float(_setting(settings, "wasm_listeners.enqueue_timeout_seconds", DEFAULT_ENQUEUE_TIMEOUT))
    if redis_url:
        cluster = asbool(_setting(settings, "wasm_listeners.redis_cluster", False))
        target = RedisInput(redis_url, cluster, timeout)
    else:
        target = HttpInput(url, _setting(settings, "wasm_listeners.token"))
    enqueuer = Enqueuer(
        target,
        actions=aslist(_setting(settings, "wasm_listeners.actions", " ".join(DEFAULT_ACTIONS))),
        resources=aslist(_setting(settings, "wasm_listeners.resources", "")),
        attempts=int(_setting(settings, "wasm_listeners.enqueue_attempts", DEFAULT_ENQUEUE_ATTEMPTS)),
        timeout=timeout,
    )
    config.add_subscriber(enqueuer, AfterResourceChanged)
    logger.info("wasm-listeners: committed change events go to %s", target.where)


# --- sync ------------------------------------------------------------------------------


class SyncListener(ListenerBase):
    """A Kinto listener (before commit, inside the request) that runs the runtime's sync
    listeners on the event and fails the request as the runtime's verdict says."""

    def __init__(self, url, token, timeout, proceed_when_unavailable):
        super().__init__()
        self.url = url.rstrip("/") + "/v1/events"
        self.headers = _headers(token)
        self.timeout = timeout
        self.proceed_when_unavailable = proceed_when_unavailable
        self.session = requests.Session()

    def __call__(self, event):
        body = event_json(event).encode("utf-8")
        try:
            response = self.session.post(self.url, data=body, headers=self.headers, timeout=self.timeout)
        except requests.Timeout:
            return self.unavailable(
                httpexceptions.HTTPGatewayTimeout(),
                f"the wasm-listeners runtime did not answer within {self.timeout} s",
            )
        except requests.RequestException as e:
            return self.unavailable(
                httpexceptions.HTTPServiceUnavailable(),
                f"the wasm-listeners runtime is unreachable: {e}",
            )
        status = response.status_code
        if status == 200:
            return
        if status == 422:
            # As a raising Kinto listener: 500, and the transaction is rolled back.
            raise errors.http_error(
                httpexceptions.HTTPInternalServerError(),
                errno=errors.ERRORS.UNDEFINED,
                message="a wasm listener failed permanently: " + _failure(response),
            )
        if status == 503:
            error = errors.http_error(
                httpexceptions.HTTPServiceUnavailable(),
                errno=errors.ERRORS.BACKEND,
                message="a wasm listener failed, a retry may succeed: " + _failure(response),
            )
            raise error
        # 400, 401, 413 or anything else: the runtime refused the call itself.
        return self.unavailable(
            httpexceptions.HTTPServiceUnavailable(),
            f"the wasm-listeners runtime answered {status}: {response.text[:500]}",
        )

    def unavailable(self, http_exception, message):
        if self.proceed_when_unavailable:
            logger.warning("wasm-listeners: %s; the write proceeds without its sync listeners", message)
            return
        logger.error("wasm-listeners: %s; the request fails", message)
        raise errors.http_error(http_exception, errno=errors.ERRORS.BACKEND, message=message)


def load_from_config(config, prefix):
    """A listener line: ``kinto.event_listeners.NAME.use = kinto_wasm_listeners``, with
    ``.url`` (the runtime), ``.token``, ``.timeout_seconds`` and ``.when_unavailable``
    (``fail``, the default, or ``proceed``)."""
    settings = config.get_settings()
    url = settings.get(prefix + "url")
    if not url:
        raise ConfigurationError(f"kinto_wasm_listeners: {prefix}url is required (the runtime, e.g. http://127.0.0.1:8888)")
    when = settings.get(prefix + "when_unavailable", "fail")
    if when not in ("fail", "proceed"):
        raise ConfigurationError(f"kinto_wasm_listeners: {prefix}when_unavailable is {when!r}; use fail or proceed")
    return SyncListener(
        url,
        settings.get(prefix + "token"),
        float(settings.get(prefix + "timeout_seconds", DEFAULT_SYNC_TIMEOUT)),
        proceed_when_unavailable=(when == "proceed"),
    )


def _headers(token):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    return headers


def _failure(response):
    """The failing listener and its outcome, from the runtime's answer."""
    try:
        answer = response.json()
        for event in answer.get("events", []):
            for listener in event.get("listeners", []):
                outcome = listener.get("outcome", {})
                if outcome.get("kind") != "ok":
                    return f"{listener.get('name')}: {outcome.get('kind')}: {outcome.get('message', '')}".rstrip(": ")
    except ValueError:
        pass
    return response.text[:500]
