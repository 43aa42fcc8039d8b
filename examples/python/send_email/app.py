"""Kinto's tutorial listener ("How to run custom code on notifications?", `kinto_email`):
one email per event, subject `<resource_name> <action>d`, body `User id: <user_id>`.
The Python twin of examples/send-email.

Build and run (from the repository's root):

    examples/python/build /tmp/py-listeners
    wasm-listeners invoke /tmp/py-listeners/send-email.wasm \
        --event tests/fixtures/kinto-events/record-create.json \
        --setting from=postmaster@localhost --setting recipients=kinto@yopmail.com
"""

from wasm_listeners import listener, log, send_email, settings


def addresses(settings):
    """The sender (`from`) and the recipients (`recipients`, separated by whitespace, as
    Pyramid's `aslist` reads them); raises naming the setting if either is missing."""
    return settings.require("from"), settings.require("recipients").split()


@listener(validate_settings=addresses)
def handle(event):
    sender, recipients = addresses(settings)
    subject = f"{event.resource_name} {event.action}d"
    # f-strings format a missing user id as `None`, as the tutorial's output does.
    send_email(sender=sender, to=recipients, subject=subject, body=f"User id: {event.user_id}")
    log.info('sent "%s" to %d recipient(s)', subject, len(recipients))
