// A listener that never returns: it spins until the runtime's fuel limit (or deadline)
// stops it, to show that one runaway listener cannot hold a worker. The twin of
// `examples/runaway`.
//
// Build (both engines) and run:
//
//   examples/javascript/build out
//   wasm-listeners invoke out/runaway.quickjs.wasm \
//       --event tests/fixtures/kinto-events/record-create.json --fuel 200000000

import { listener, log } from '../../guest-sdk/javascript/wasm-listeners.js';

export const handler = listener({
  handle(event) {
    log.info(`spinning on ${event.uri} forever`);
    let counter = 0;
    for (;;) counter = (counter + 1) | 0;
  },
});
