// The tutorial's asynchronous path, as kinto-redis does it: push each event's payload onto
// a queue (a Redis list, `LPUSH`) for workers to `BRPOP`. The twin of `examples/queue-forward`.
//
// Build (both engines) and run:
//
//   examples/javascript/build out
//   wasm-listeners invoke out/queue-forward.quickjs.wasm \
//       --event tests/fixtures/kinto-events/record-create.json --setting listname=eventqueue

import { listener, log, push, settings } from '../../guest-sdk/javascript/wasm-listeners.js';

/** The queue used when the `listname` setting is absent, as in the tutorial. */
const DEFAULT_LISTNAME = 'eventqueue';

export const handler = listener({
  handle(event) {
    const listname = settings.get('listname') ?? DEFAULT_LISTNAME;
    // The same bytes kinto-redis pushes: Kinto's payload as compact JSON, in Kinto's order.
    push(listname, event.payloadJson());
    log.debug(`pushed ${event.action} ${event.uri} onto ${listname}`);
  },
});
