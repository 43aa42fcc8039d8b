/*
 * Kinto's tutorial listener ("How to run custom code on notifications?", `kinto_email`):
 * one email per event, subject `<resource_name> <action>d`, body `User id: <user_id>`.
 * The C twin of examples/send-email.
 *
 * Build and run (from the repository's root):
 *
 *     examples/c/build /tmp/c-listeners
 *     wasm-listeners invoke /tmp/c-listeners/send-email.wasm \
 *         --event tests/fixtures/kinto-events/record-create.json \
 *         --setting from=postmaster@localhost --setting recipients=kinto@yopmail.com
 */
#include "wasm_listeners.h"

/* The sender (`from`) and the recipients (`recipients`, separated by whitespace, as
 * Pyramid's `aslist` reads them); an error naming the setting if either is missing. */
static wl_result addresses(const char **from, wl_strings *recipients) {
    const char *list;
    WL_TRY(wl_setting_require("from", from));
    WL_TRY(wl_setting_require("recipients", &list));
    *recipients = wl_split_whitespace(list);
    return wl_ok();
}

static wl_result validate(void) {
    const char *from;
    wl_strings recipients;
    return addresses(&from, &recipients);
}

static wl_result handle(const wl_event *event) {
    const char *from;
    wl_strings recipients;
    WL_TRY(addresses(&from, &recipients));
    const char *subject = wl_format("%s %sd", event->resource_name, event->action_name);
    /* Python formats a missing user id as `None`: keep the tutorial's output. */
    const char *user_id = event->user_id != NULL ? event->user_id : "None";
    wl_email email = {
        .from = from,
        .to = recipients,
        .subject = subject,
        .body = wl_format("User id: %s", user_id),
    };
    WL_TRY(wl_send_email(&email));
    wl_log_info("sent \"%s\" to %zu recipient(s)", subject, recipients.count);
    return wl_ok();
}

WL_LISTENER(handle, validate);
