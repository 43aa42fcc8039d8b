/**
 * Write wasm-listeners listeners in plain JavaScript, on SpiderMonkey (`componentize-js`)
 * and QuickJS (`jco componentize --backend qjs`) alike.
 *
 * The JavaScript counterpart of the Rust guest SDK (`guest-sdk/`): the same event, the
 * same payload bytes, the same error kinds and messages.
 *
 * ```js
 * import { listener, sendEmail, settings } from './wasm-listeners.js';
 *
 * export const handler = listener({
 *   handle(event) {
 *     sendEmail({ from: settings.require('from'), to: 'ops@example.org',
 *                 subject: `${event.resourceName} ${event.action}d`, body: event.uri });
 *   },
 * });
 * ```
 *
 * Errors: throw {@link Transient} (retry later) or {@link Permanent} (give up). Failures of
 * {@link sendEmail}, {@link push} and {@link Settings#require} throw one of the two already,
 * so an uncaught one ends the call as Rust's `?` does. Any other thrown value ends the call
 * with a permanent error: `uncaught TypeError: ...` for an `Error` (its stack is logged at
 * `error` level), the value itself for a string, its JSON otherwise.
 *
 * Engine differences this module hides: SpiderMonkey passes a WIT `u64` as a BigInt and an
 * absent `option` as `undefined`, QuickJS a Number and `null`; QuickJS has no `TextEncoder`.
 * One it cannot hide: QuickJS's bindings round a `u64` above 2^53 before any JavaScript
 * sees it (Kinto's millisecond timestamps are far below: 2^53 ms is the year 287396).
 *
 * @module wasm-listeners
 */

import { send as sendRaw } from 'wasm-listeners:listener/email@0.1.0';
import { log as logRaw } from 'wasm-listeners:listener/log@0.1.0';
import { push as pushRaw } from 'wasm-listeners:listener/queue@0.1.0';
import { all as allRaw, get as getRaw } from 'wasm-listeners:listener/settings@0.1.0';

// ---------------------------------------------------------------------------------------
// Errors

/** Why a listener failed: the base of {@link Transient} and {@link Permanent}. */
export class ListenerError extends Error {
  /** @returns {'transient' | 'permanent'} the WIT `listener-error` case. */
  get kind() {
    return this instanceof Transient ? 'transient' : 'permanent';
  }
}

/** Try again later: a dependency was down, a rate limit was hit, ... */
export class Transient extends ListenerError {
  name = 'Transient';
}

/**
 * Do not try again: the event cannot be handled. Before Kinto's commit this fails the
 * Kinto request, as a raising Python listener does.
 */
export class Permanent extends ListenerError {
  name = 'Permanent';
}

/**
 * The WIT `listener-error` for a thrown value.
 * @param {unknown} thrown
 * @returns {{ tag: 'transient' | 'permanent', val: string }}
 */
function listenerError(thrown) {
  if (thrown instanceof ListenerError) {
    return { tag: thrown.kind, val: thrown.message };
  }
  if (thrown instanceof Error && thrown.stack) {
    log.error(`${describe(thrown)}\n${thrown.stack}`);
  }
  return { tag: 'permanent', val: describe(thrown) };
}

/**
 * The message of an error the listener did not classify.
 * @param {unknown} thrown
 */
function describe(thrown) {
  if (thrown instanceof Error) return `uncaught ${thrown.name}: ${thrown.message}`;
  if (typeof thrown === 'string') return thrown;
  return text(thrown);
}

/**
 * Calls a WIT import and turns its `err(...)` into what `errors[tag]` makes of it. Both
 * engines throw an object whose `payload` is the WIT error variant `{ tag, val }`.
 * @param {() => void} call
 * @param {Record<string, (val: any) => ListenerError>} errors
 */
function checked(call, errors) {
  try {
    call();
  } catch (thrown) {
    const variant = thrown?.payload;
    const make = variant && errors[variant.tag];
    if (!make) throw thrown;
    const error = make(variant.val);
    error.cause = variant;
    throw error;
  }
}

// ---------------------------------------------------------------------------------------
// The event

/**
 * A WIT `u64` as the engine gave it: a BigInt on SpiderMonkey; a Number on QuickJS, which
 * reads it as an `s64` (2^64 - 1 arrives as -1: put back) and rounds it above 2^53.
 * @param {bigint | number} value
 * @returns {bigint | number}
 */
function unsigned(value) {
  return typeof value === 'number' && value < 0 ? BigInt(value) + 2n ** 64n : value;
}

/**
 * A `u64` for the author: a Number when it is a safe integer, else a BigInt (exact).
 * @param {bigint | number} value
 * @returns {number | bigint}
 */
function safeNumber(value) {
  const isSafe = typeof value === 'number' || value <= BigInt(Number.MAX_SAFE_INTEGER);
  return isSafe ? Number(value) : value;
}

/** `option<T>`: `null` for none on both engines. */
const option = (value) => value ?? null;

/**
 * One entry of Kinto's `impacted_objects`. `old` and `new` are parsed on first use;
 * `oldJson` and `newJson` are the JSON text Kinto gave (exact for numbers above 2^53).
 */
export class Change {
  #old;
  #new;

  /** @param {{ old?: string | null, new: string }} raw */
  constructor(raw) {
    /** The object before the change as JSON text; `null` on create. @type {string | null} */
    this.oldJson = option(raw.old);
    /** The object after the change as JSON text. @type {string} */
    this.newJson = raw.new;
  }

  /** The object before the change; `null` on create. @type {object | null} */
  get old() {
    if (this.#old === undefined) this.#old = this.oldJson === null ? null : JSON.parse(this.oldJson);
    return this.#old;
  }

  /**
   * The object after the change. On delete, Kinto's tombstone (`{id, last_modified,
   * deleted: true}`); with `Response-Behavior: light`, only the changed fields (no `id`).
   * @type {object}
   */
  get new() {
    if (this.#new === undefined) this.#new = JSON.parse(this.newJson);
    return this.#new;
  }

  /**
   * The changed object's own `id`: `new`'s, else `old`'s; `null` if neither has a string
   * one. Not the event's `recordId`, which names only the first object of a merged batch.
   * @type {string | null}
   */
  get id() {
    if (typeof this.new?.id === 'string') return this.new.id;
    return typeof this.old?.id === 'string' ? this.old.id : null;
  }
}

/** The typed payload keys after `resource_name`, in Kinto's order. */
const ID_KEYS = [
  ['bucket_id', 'bucketId'],
  ['collection_id', 'collectionId'],
  ['group_id', 'groupId'],
  ['record_id', 'recordId'],
];

/**
 * A Kinto resource event (`event.payload` plus its objects) and the context of this call.
 *
 * For a merged batch event, `uri` and the `*Id` fields describe only the first subrequest:
 * take each object's own id from {@link Change#id}.
 */
export class Event {
  /** `[key, JSON text]` of each extra, as the host gave them. */
  #extrasJson;
  /** The `u64` as the engine gave it, for its exact digits. */
  #timestampRaw;

  /** @param {any} raw the WIT `event` @param {any} context the WIT `context` */
  constructor(raw, context) {
    /** `create`, `update`, `delete` or `read`. @type {string} */
    this.action = raw.action;
    /** `bucket`, `collection`, `group`, `record`, `account`, ... @type {string} */
    this.resourceName = raw.resourceName;
    /** The request path without the `/v1` prefix. @type {string} */
    this.uri = raw.uri;
    /**
     * The collection timestamp in milliseconds since the epoch: a Number (a BigInt above
     * 2^53, which Kinto never reaches). @type {number | bigint}
     */
    this.#timestampRaw = unsigned(raw.timestamp);
    this.timestamp = safeNumber(this.#timestampRaw);
    /** The authenticated principal; `null` when anonymous. @type {string | null} */
    this.userId = option(raw.userId);
    /** @type {string | null} */ this.bucketId = option(raw.bucketId);
    /** @type {string | null} */ this.collectionId = option(raw.collectionId);
    /** @type {string | null} */ this.groupId = option(raw.groupId);
    /** `null` for a POST on a plural endpoint. @type {string | null} */
    this.recordId = option(raw.recordId);
    this.#extrasJson = raw.extras.map(({ key, value }) => [key, value]);
    /**
     * Every other payload key (`account_id`, ...), in Kinto's order, with its parsed value.
     * @type {Map<string, any>}
     */
    this.extras = new Map(this.#extrasJson.map(([key, json]) => [key, parseOr(json)]));
    const objects = raw.objects;
    /** `false` when Kinto gave no objects (a kinto-redis queue entry). @type {boolean} */
    this.objectsGiven = objects.tag !== 'not-given';
    /** `impacted_objects`, in order; empty for a read. @type {Change[]} */
    this.changes = objects.tag === 'changes' ? objects.val.map((c) => new Change(c)) : [];
    /** `read_objects`, parsed; empty unless a read. @type {object[]} */
    this.readObjects = objects.tag === 'read' ? objects.val.map((o) => JSON.parse(o)) : [];
    /**
     * How and when this call happens: `eventId` (with `part.index`, the idempotency key),
     * `attempt` (1 first), `phase` (`before-commit`, `after-commit`, `unknown`), `source`
     * (`http`, `kinto-plugin`, `kinto-redis`, `cli`), `listener` (the configured name),
     * `part` (`{ index, count }`, 1-based).
     */
    this.context = Object.freeze({
      eventId: context.eventId,
      attempt: context.attempt,
      phase: context.phase,
      source: context.source,
      listener: context.listener,
      part: Object.freeze({ index: context.part.index, count: context.part.count }),
    });
  }

  /**
   * Kinto's `event.payload` as an object, keys in Kinto's order: `timestamp`, `action`,
   * `uri`, `user_id`, `resource_name`, then `bucket_id`, `collection_id`, `group_id`,
   * `record_id` when present, then the extras. (A JavaScript object lists integer-like keys
   * first: use {@link Event#payloadJson} for the exact document.)
   * @returns {Record<string, any>}
   */
  payload() {
    const payload = {};
    for (const [key, json] of this.#payloadEntries()) payload[key] = parseOr(json);
    payload.timestamp = this.timestamp;
    return payload;
  }

  /**
   * {@link Event#payload} as compact JSON text in Kinto's key order: the bytes kinto-redis
   * pushes onto its queue, and what the Rust SDK's `Event::payload_json` returns. The
   * timestamp is written with all its digits.
   * @returns {string}
   */
  payloadJson() {
    const members = [];
    for (const [key, json] of this.#payloadEntries()) members.push(`${JSON.stringify(key)}:${json}`);
    return `{${members.join(',')}}`;
  }

  /** The payload's keys with their values as JSON text, in order (later keys replace). */
  #payloadEntries() {
    const entries = new Map([
      ['timestamp', BigInt(this.#timestampRaw).toString()],
      ['action', JSON.stringify(this.action)],
      ['uri', JSON.stringify(this.uri)],
      ['user_id', JSON.stringify(this.userId)],
      ['resource_name', JSON.stringify(this.resourceName)],
    ]);
    for (const [key, field] of ID_KEYS) {
      if (this[field] !== null) entries.set(key, JSON.stringify(this[field]));
    }
    // The host gives each extra as compact JSON (serde_json's), which the Rust SDK writes
    // back unchanged: keep the text, so big numbers keep their digits too.
    for (const [key, json] of this.#extrasJson) {
      entries.set(key, isJson(json) ? json : JSON.stringify(json));
    }
    return entries;
  }
}

/** Parsed JSON, or the text itself if it does not parse (which the host never sends). */
function parseOr(json) {
  try {
    return JSON.parse(json);
  } catch {
    return json;
  }
}

function isJson(json) {
  try {
    JSON.parse(json);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------
// Settings

/** Unicode White_Space, as Rust's `str::trim` reads it (JavaScript's `\s` differs slightly). */
const BLANK = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*$/;

/**
 * A listener's settings: those given to `validateSettings`, or the current ones
 * ({@link settings}). Build your own for a test: `new Settings([['from', 'a@x']])`.
 */
export class Settings {
  #entries;

  /** @param {Iterable<[string, string]>} entries `[key, value]` pairs, in order. */
  constructor(entries = []) {
    this.#entries = Array.from(entries, ([key, value]) => [String(key), String(value)]);
  }

  /**
   * The value of `key` (the first one if given twice); `undefined` if unset.
   * @param {string} key
   * @returns {string | undefined}
   */
  get(key) {
    return this.#entries.find(([k]) => k === key)?.[1];
  }

  /** Every `[key, value]` pair (the host gives them sorted by key). @returns {[string, string][]} */
  all() {
    return this.#entries.map(([key, value]) => [key, value]);
  }

  /**
   * The value of `key`. Throws {@link Permanent} ``missing required setting `KEY` `` when
   * unset, ``setting `KEY` is empty`` when blank: the Rust SDK's texts.
   * @param {string} key
   * @returns {string}
   */
  require(key) {
    const value = this.get(key);
    if (value === undefined) throw new Permanent(`missing required setting \`${key}\``);
    if (BLANK.test(value)) throw new Permanent(`setting \`${key}\` is empty`);
    return value;
  }
}

/** The listener's current settings, read from the host on each call. */
class HostSettings extends Settings {
  get(key) {
    return getRaw(key) ?? undefined;
  }

  all() {
    return allRaw();
  }
}

/** The listener's current settings (in `handle`). @type {Settings} */
export const settings = new HostSettings();

// ---------------------------------------------------------------------------------------
// Email, queues, logging

/** `send-error` cases: which kind each is and the Rust SDK's text. */
const SEND_ERRORS = {
  'not-permitted': (v) => new Permanent(`email not permitted: ${v}`),
  'invalid-address': (v) => new Permanent(`invalid email address: ${v}`),
  'rate-limited': () => new Transient('email rate limit reached'),
  'too-large': (v) => new Permanent(`email too large: ${v}`),
  'transient-failure': (v) => new Transient(`email server failed, try later: ${v}`),
  'permanent-failure': (v) => new Permanent(`email refused by the server: ${v}`),
};

/** `push-error` cases: which kind each is and the Rust SDK's text. */
const PUSH_ERRORS = {
  'not-permitted': (v) => new Permanent(`queue not permitted: ${v}`),
  'too-large': (v) => new Permanent(`queue payload too large: ${v}`),
  unavailable: (v) => new Transient(`queue unavailable: ${v}`),
};

/** @param {string | Iterable<string> | undefined} addresses */
const addressList = (addresses) =>
  typeof addresses === 'string' ? [addresses] : Array.from(addresses ?? [], String);

/**
 * Sends one email; returns once the server accepted it (or the host recorded it).
 * Recipients are an address or a list of them; at least one in `to`, `cc` or `bcc`.
 * Throws {@link Transient} (rate limited, server hiccup) or {@link Permanent} (refused by
 * the policy or the server, bad address, too large) with the Rust SDK's text.
 *
 * @param {object} message
 * @param {string} [message.from] the sender; the operator's default if omitted
 * @param {string | string[]} [message.to]
 * @param {string | string[]} [message.cc]
 * @param {string | string[]} [message.bcc]
 * @param {string} [message.replyTo]
 * @param {string} [message.subject] no line breaks
 * @param {string} [message.body] plain text
 * @param {string} [message.htmlBody] an HTML alternative
 */
export function sendEmail({ from, to, cc, bcc, replyTo, subject = '', body = '', htmlBody }) {
  const message = {
    from: from ?? undefined,
    to: addressList(to),
    cc: addressList(cc),
    bcc: addressList(bcc),
    replyTo: replyTo ?? undefined,
    subject: String(subject),
    body: String(body),
    htmlBody: htmlBody ?? undefined,
  };
  checked(() => sendRaw(message), SEND_ERRORS);
}

/**
 * Pushes `payload` (text, sent as UTF-8, or bytes) onto the head of the queue `name`.
 * Throws {@link Transient} when the backend is unreachable, {@link Permanent} when the
 * policy refuses the name or the size, with the Rust SDK's text.
 * @param {string} name
 * @param {string | Uint8Array | ArrayBuffer} payload
 */
export function push(name, payload) {
  const bytes = toBytes(payload);
  checked(() => pushRaw(name, bytes), PUSH_ERRORS);
}

/** @param {string | Uint8Array | ArrayBuffer} payload */
function toBytes(payload) {
  if (typeof payload === 'string') return utf8(payload);
  if (payload instanceof Uint8Array) return payload;
  if (payload instanceof ArrayBuffer) return new Uint8Array(payload);
  throw new TypeError('push: the payload must be a string, a Uint8Array or an ArrayBuffer');
}

/**
 * UTF-8 bytes of `text`, as `TextEncoder` gives them (a lone surrogate becomes U+FFFD);
 * QuickJS has no `TextEncoder`.
 * @param {string} text
 */
function utf8(text) {
  if (typeof TextEncoder === 'function') return new TextEncoder().encode(text);
  const bytes = new Uint8Array(text.length * 3);
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      bytes[n++] = c;
      continue;
    }
    if (c < 0x800) {
      bytes[n++] = 0xc0 | (c >> 6);
      bytes[n++] = 0x80 | (c & 0x3f);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const low = text.charCodeAt(i + 1);
      const paired = c <= 0xdbff && low >= 0xdc00 && low <= 0xdfff;
      if (paired) {
        c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
        i++;
        bytes[n++] = 0xf0 | (c >> 18);
        bytes[n++] = 0x80 | ((c >> 12) & 0x3f);
        bytes[n++] = 0x80 | ((c >> 6) & 0x3f);
        bytes[n++] = 0x80 | (c & 0x3f);
        continue;
      }
      c = 0xfffd;
    }
    bytes[n++] = 0xe0 | (c >> 12);
    bytes[n++] = 0x80 | ((c >> 6) & 0x3f);
    bytes[n++] = 0x80 | (c & 0x3f);
  }
  return bytes.slice(0, n);
}

/** A log argument as text: strings as they are, errors as `Name: message`, the rest as JSON. */
function text(value) {
  if (typeof value === 'string') return value;
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  try {
    const json = JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v));
    return json ?? String(value);
  } catch {
    return String(value);
  }
}

/** @param {'trace' | 'debug' | 'info' | 'warn' | 'error'} level */
const logAt = (level) => (...args) => logRaw(level, args.map(text).join(' '));

/**
 * Logging into the call's captured log and the runtime's log: one line per call, the
 * arguments joined by spaces (objects as JSON). `console` output is not captured.
 */
export const log = Object.freeze({
  trace: logAt('trace'),
  debug: logAt('debug'),
  info: logAt('info'),
  warn: logAt('warn'),
  error: logAt('error'),
});

// ---------------------------------------------------------------------------------------
// Exporting a listener

/**
 * The `handler` interface for a listener: `export const handler = listener({ handle })`.
 *
 * `handle(event)` gets an {@link Event} and returns nothing; it must be synchronous.
 * `validateSettings(settings)` (optional; every setting is accepted without it) gets a
 * {@link Settings} and throws to refuse them: the error's message, which should name the
 * setting, is what the operator reads.
 *
 * @param {{ handle(event: Event): void, validateSettings?(settings: Settings): void }} impl
 */
export function listener({ handle, validateSettings }) {
  if (typeof handle !== 'function') throw new TypeError('listener: `handle` must be a function');
  return {
    handle(rawEvent, rawContext) {
      try {
        const result = handle(new Event(rawEvent, rawContext));
        if (typeof result?.then === 'function') {
          throw new Permanent('handle returned a Promise: listeners are synchronous, drop `async`');
        }
      } catch (thrown) {
        throw listenerError(thrown);
      }
    },
    validateSettings(pairs) {
      if (!validateSettings) return;
      try {
        validateSettings(new Settings(pairs));
      } catch (thrown) {
        throw thrown instanceof ListenerError ? thrown.message : describe(thrown);
      }
    },
  };
}
