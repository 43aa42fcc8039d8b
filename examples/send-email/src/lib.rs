//! Kinto's tutorial listener ("How to run custom code on notifications?", `kinto_email`):
//! one email per event, subject `<resource_name> <action>d`, body `User id: <user_id>`.
//!
//! Build and run (from `examples/`):
//!
//! ```sh
//! cargo build --release --target wasm32-wasip2
//! wasm-listeners invoke target/wasm32-wasip2/release/send_email.wasm \
//!     --event ../tests/fixtures/kinto-events/record-create.json \
//!     --setting from=postmaster@localhost --setting recipients=kinto@yopmail.com
//! ```
//!
//! Test on the host: `cargo test -p send-email`.

use wasm_listeners_sdk::email::Email;
use wasm_listeners_sdk::{export_listener, info, Event, Listener, Result, Settings, SettingsError};

/// Sends the tutorial's notification email.
struct SendEmail;

impl Listener for SendEmail {
    fn handle(event: Event) -> Result<()> {
        let settings = Settings::load();
        let (sender, recipients) = addresses(&settings)?;
        let subject = format!("{} {}d", event.resource_name(), event.action().as_str());
        // Python formats a missing user id as `None`: keep the tutorial's output.
        let body = format!("User id: {}", event.user_id().unwrap_or("None"));
        let count = recipients.len();
        let email = Email::new().from(sender).to_all(recipients);
        email.subject(&subject).body(body).send()?;
        info!("sent \"{subject}\" to {count} recipient(s)");
        Ok(())
    }

    fn validate_settings(settings: &Settings) -> Result<(), SettingsError> {
        addresses(settings).map(drop)
    }
}

/// The sender (`from`) and the recipients (`recipients`, separated by whitespace, as
/// Pyramid's `aslist` reads them); an error naming the setting if either is missing.
fn addresses(settings: &Settings) -> Result<(&str, Vec<&str>), SettingsError> {
    let sender = settings.require("from")?;
    let recipients = settings.require("recipients")?.split_whitespace().collect();
    Ok((sender, recipients))
}

export_listener!(SendEmail);

#[cfg(test)]
mod tests {
    use wasm_listeners_sdk::email::SendError;
    use wasm_listeners_sdk::testing::{self, Host};
    use wasm_listeners_sdk::{Error, Event, Listener, Settings, SettingsError};

    use super::SendEmail;

    const ALICE: &str =
        "basicauth:afd289f70866c5056cfe30d1e03c16a329d0869745a0c26701bd8704f7dbff60";

    /// The first event (`ResourceChanged`) of a fixture in `tests/fixtures/kinto-events`.
    fn fixture(name: &str) -> Event {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/kinto-events"
        );
        let json = std::fs::read_to_string(format!("{dir}/{name}")).unwrap();
        testing::event_from_json(&json).unwrap()
    }

    fn host() -> Host {
        Host::new()
            .setting("from", "postmaster@localhost")
            .setting("recipients", "ops@example.org  admin@example.org")
    }

    #[test]
    fn record_create_sends_the_tutorials_email() {
        let host = host();
        let event = fixture("record-create.json");
        assert_eq!(host.run(|| SendEmail::handle(event)), Ok(()));
        let emails = host.emails();
        assert_eq!(emails.len(), 1);
        let email = &emails[0];
        assert_eq!(email.from.as_deref(), Some("postmaster@localhost"));
        assert_eq!(email.to, ["ops@example.org", "admin@example.org"]);
        assert_eq!(email.subject, "record created");
        assert_eq!(email.body, format!("User id: {ALICE}"));
        let logged = &host.logs()[0].message;
        assert_eq!(logged, "sent \"record created\" to 2 recipient(s)");
    }

    #[test]
    fn anonymous_event_says_none() {
        let host = host();
        let event = fixture("account-create.json");
        assert_eq!(host.run(|| SendEmail::handle(event)), Ok(()));
        let email = &host.emails()[0];
        assert_eq!(email.subject, "account created");
        assert_eq!(email.body, "User id: None");
    }

    #[test]
    fn a_missing_setting_is_permanent_and_named() {
        let host = Host::new().setting("from", "postmaster@localhost");
        let result = host.run(|| SendEmail::handle(fixture("record-create.json")));
        let error = Error::permanent("missing required setting `recipients`");
        assert_eq!(result, Err(error));
        assert!(host.emails().is_empty());
    }

    #[test]
    fn a_rate_limited_send_is_transient() {
        let host = host().fail_email_with(SendError::RateLimited);
        let result = host.run(|| SendEmail::handle(fixture("record-create.json")));
        assert_eq!(result, Err(Error::transient("email rate limit reached")));
    }

    #[test]
    fn validate_settings_names_a_missing_or_blank_setting() {
        let only_from = Settings::from_iter([("from", "postmaster@localhost")]);
        let missing = SettingsError::Missing("recipients".into());
        assert_eq!(SendEmail::validate_settings(&only_from), Err(missing));
        let blank = Settings::from_iter([("from", " "), ("recipients", "a@x")]);
        let empty = SettingsError::Empty("from".into());
        assert_eq!(SendEmail::validate_settings(&blank), Err(empty));
        let both = Settings::from_iter([("from", "a@x"), ("recipients", "b@x")]);
        assert_eq!(SendEmail::validate_settings(&both), Ok(()));
    }
}
