//! Write [Kinto](https://kinto.readthedocs.io) event listeners in Rust, to run as
//! WebAssembly components under wasm-listeners.
//!
//! A listener is a type that implements [`Listener`], exported with [`export_listener!`].
//! It sees each event Kinto emits and may send email, push to queues, log and read its
//! settings; nothing else of the outside world reaches it.
//!
//! ```no_run
//! use wasm_listeners_sdk::email::Email;
//! use wasm_listeners_sdk::{export_listener, info, Event, Listener, Result, ResultExt};
//! use wasm_listeners_sdk::{Settings, SettingsError};
//!
//! struct Notify;
//!
//! impl Listener for Notify {
//!     fn handle(event: Event) -> Result<()> {
//!         info!("{} {} by {:?}", event.action().as_str(), event.uri(), event.user_id());
//!         let settings = Settings::load();
//!         let to = settings.require("to")?; // missing: a permanent error naming `to`
//!         // Any other error picks its retry meaning explicitly.
//!         let max: usize = settings.get("max").unwrap_or("10").parse().permanent()?;
//!         let subject = format!("{} {}d", event.resource_name(), event.action().as_str());
//!         for change in event.changes().take(max) {
//!             let id = change.id().unwrap_or("?");
//!             // `SendError` converts with its own kind (rate-limited: transient, ...).
//!             Email::new().to(to).subject(&subject).body(format!("object {id}")).send()?;
//!         }
//!         Ok(())
//!     }
//!
//!     fn validate_settings(settings: &Settings) -> Result<(), SettingsError> {
//!         settings.require("to").map(drop)
//!     }
//! }
//!
//! export_listener!(Notify);
//! ```
//!
//! Build it as a `cdylib` with `cargo build --release --target wasm32-wasip2`: the output
//! is already a component. Test its `handle` on the host with plain `cargo test`: see
//! [`testing`].
//!
//! # Errors
//! A handler returns [`Error`]: transient (retry later) or permanent. With `?`, the SDK's
//! own errors convert with a documented kind ([`email::SendError`], [`queue::PushError`],
//! [`SettingsError`]); any other error picks one with [`ResultExt`]'s `.transient()` or
//! `.permanent()`.
//!
//! # Layout
//! - `listener`: the [`Listener`] trait and the adapter [`export_listener!`] exports.
//! - `event`: [`Event`], [`Action`] and the rebuilt Kinto payload.
//! - `objects`: [`Objects`], [`Change`] and [`Object`], the objects an event carries.
//! - `context`: [`Context`], how and when this call happens.
//! - [`email`], [`queue`], [`log`], `settings` ([`Settings`]): one per host capability.
//! - `imports`: the capabilities' one way out: the bindings on wasm32, the recorder of
//!   [`testing`] elsewhere.
//! - `error`: the handler's [`Error`] and [`ResultExt`].
//! - [`testing`] (not on wasm32): events from Kinto's JSON and a recording host, for
//!   host-side unit tests.
//! - `bindings`: the generated WIT bindings, private.

mod bindings;
mod context;
pub mod email;
mod error;
mod event;
mod imports;
mod listener;
pub mod log;
mod objects;
pub mod queue;
mod settings;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use context::{Context, Phase, Source};
pub use error::{Error, Result, ResultExt};
pub use event::{Action, Event};
pub use listener::Listener;
pub use objects::{Change, Object, Objects};
pub use settings::{Settings, SettingsError};

/// What [`export_listener!`] expands to needs; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::listener::Adapter;

    /// The generated bindings, for the generated export macro.
    pub mod bindings {
        pub use crate::bindings::*;
    }
}

/// Exports a [`Listener`] as the component's `handler`. Write it once, at the top level of
/// the listener's crate (a `cdylib`).
///
/// ```no_run
/// # use wasm_listeners_sdk::{Event, Listener, Result};
/// struct Nothing;
/// impl Listener for Nothing {
///     fn handle(_event: Event) -> Result<()> {
///         Ok(())
///     }
/// }
/// wasm_listeners_sdk::export_listener!(Nothing);
/// ```
#[macro_export]
macro_rules! export_listener {
    ($listener:ty) => {
        const _: () = {
            // The generated export macro takes a plain identifier: name the adapter.
            type __WasmListenersAdapter = $crate::__private::Adapter<$listener>;
            $crate::__private::bindings::__export_listener_raw!(
                __WasmListenersAdapter with_types_in $crate::__private::bindings
            );
        };
    };
}
