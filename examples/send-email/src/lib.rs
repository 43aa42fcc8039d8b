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

use wasm_listeners_sdk::email::Email;
use wasm_listeners_sdk::{export_listener, info, Event, Listener, Result, Settings};

/// Sends the tutorial's notification email.
struct SendEmail;

impl Listener for SendEmail {
    fn handle(event: Event) -> Result<()> {
        let settings = Settings::load();
        let (sender, recipients) = addresses(&settings)?;
        let subject = format!("{} {}d", event.resource_name(), event.action().as_str());
        // Python formats a missing user id as `None`: keep the tutorial's output.
        let body = format!("User id: {}", event.user_id().unwrap_or("None"));
        let email = recipients
            .iter()
            .fold(Email::new(), |email, to| email.to(*to));
        email.from(sender).subject(&subject).body(body).send()?;
        info!("sent \"{subject}\" to {} recipient(s)", recipients.len());
        Ok(())
    }

    fn validate_settings(settings: &Settings) -> std::result::Result<(), String> {
        addresses(settings).map(drop)
    }
}

/// The sender (`from`) and the recipients (`recipients`, separated by whitespace, as
/// Pyramid's `aslist` reads them); a message naming the setting if either is missing.
fn addresses(settings: &Settings) -> std::result::Result<(&str, Vec<&str>), String> {
    let sender = settings.require("from")?;
    let recipients = settings.require("recipients")?.split_whitespace().collect();
    Ok((sender, recipients))
}

export_listener!(SendEmail);
