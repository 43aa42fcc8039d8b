//! Host-side unit tests of a listener: `cargo test` on the machine, no wasm, no runtime.
//! Not built for wasm32.
//!
//! [`event_from_json`] reads a Kinto event (a listener's event or a kinto-redis payload,
//! such as the fixtures in `tests/fixtures/kinto-events`) into an [`Event`]; [`Host`]
//! stands in for the runtime: it supplies the settings and records what the listener
//! sends, pushes and logs, instead of reaching anything.
//!
//! ```
//! use wasm_listeners_sdk::email::Email;
//! use wasm_listeners_sdk::testing::{self, Host};
//! use wasm_listeners_sdk::{Event, Listener, Result, Settings};
//!
//! struct Notify;
//!
//! impl Listener for Notify {
//!     fn handle(event: Event) -> Result<()> {
//!         let to = Settings::load().require("to")?.to_owned();
//!         Email::new().to(to).subject(event.uri()).send()?;
//!         Ok(())
//!     }
//! }
//!
//! # fn main() -> Result<(), testing::ParseError> {
//! let payload = r#"{"timestamp": 1, "action": "create", "uri": "/buckets/b",
//!                   "user_id": null, "resource_name": "bucket", "bucket_id": "b"}"#;
//! let host = Host::new().setting("to", "ops@example.com");
//! let event = testing::event_from_json(payload)?;
//! assert_eq!(host.run(|| Notify::handle(event)), Ok(()));
//! let emails = host.emails();
//! assert_eq!(emails.len(), 1);
//! assert_eq!(emails[0].to, ["ops@example.com"]);
//! assert_eq!(emails[0].subject, "/buckets/b");
//! # Ok(())
//! # }
//! ```
//!
//! [`Event`]: crate::Event

mod host;
mod kinto;
pub(crate) mod recorder;

pub use host::{Host, LogLine, Push, SentEmail};
pub use kinto::{event_from_json, events_from_json, ParseError};
