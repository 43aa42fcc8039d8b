// Kinto's tutorial listener ("How to run custom code on notifications?", `kinto_email`):
// one email per event, subject `<resource_name> <action>d`, body `User id: <user_id>`.
// The JavaScript twin of `examples/send-email`.
//
// Build (both engines) and run:
//
//   examples/javascript/build out
//   wasm-listeners invoke out/send-email.quickjs.wasm \
//       --event tests/fixtures/kinto-events/record-create.json \
//       --setting from=postmaster@localhost --setting recipients=kinto@yopmail.com

import { listener, log, sendEmail, settings } from '../../guest-sdk/javascript/wasm-listeners.js';

/**
 * The sender (`from`) and the recipients (`recipients`, separated by whitespace, as
 * Pyramid's `aslist` reads them); throws a permanent error naming a missing setting.
 */
function addresses(settings) {
  const from = settings.require('from');
  const recipients = settings.require('recipients').split(/\s+/).filter(Boolean);
  return { from, recipients };
}

export const handler = listener({
  handle(event) {
    const { from, recipients } = addresses(settings);
    const subject = `${event.resourceName} ${event.action}d`;
    // Python formats a missing user id as `None`: keep the tutorial's output.
    sendEmail({ from, to: recipients, subject, body: `User id: ${event.userId ?? 'None'}` });
    log.info(`sent "${subject}" to ${recipients.length} recipient(s)`);
  },

  validateSettings(settings) {
    addresses(settings);
  },
});
