//! Write [Kinto](https://kinto.readthedocs.io) event listeners in Rust, to run as
//! WebAssembly components under wasm-listeners.
//!
//! A listener is a type that implements [`Listener`], exported with [`export_listener!`].
//! It sees each event Kinto emits and may send email, push to queues, log and read its
//! settings; nothing else of the outside world reaches it.
//!
//! ```no_run
//! use wasm_listeners_sdk::{email::Email, export_listener, info, Event, Listener, Result, Settings};
//!
//! struct Notify;
//!
//! impl Listener for Notify {
//!     fn handle(event: Event) -> Result<()> {
//!         info!("{} {} by {:?}", event.action().as_str(), event.uri(), event.user_id());
//!         let to = Settings::load().require("to")?.to_owned();
//!         let subject = format!("{} {}d", event.resource_name(), event.action().as_str());
//!         Email::new().to(to).subject(subject).body(event.payload_json()).send()?;
//!         Ok(())
//!     }
//!
//!     fn validate_settings(settings: &Settings) -> std::result::Result<(), String> {
//!         settings.require("to").map(drop)
//!     }
//! }
//!
//! export_listener!(Notify);
//! ```
//!
//! Build it as a `cdylib` with `cargo build --release --target wasm32-wasip2`: the output
//! is already a component.
//!
//! # Layout
//! - `listener`: the [`Listener`] trait and the adapter [`export_listener!`] exports.
//! - `event`: [`Event`], [`Action`] and the rebuilt Kinto payload.
//! - `objects`: [`Objects`], [`Change`] and [`Object`], the objects an event carries.
//! - `context`: [`Context`], how and when this call happens.
//! - [`email`], [`queue`], [`settings`], [`log`]: one module per host capability.
//! - `error`: the handler's [`Error`].
//! - `bindings`: the generated WIT bindings, private.

mod bindings;
mod context;
pub mod email;
mod error;
mod event;
mod listener;
pub mod log;
mod objects;
pub mod queue;
pub mod settings;

pub use context::{Context, Phase, Source};
pub use error::{Error, Result};
pub use event::{Action, Event};
pub use listener::Listener;
pub use objects::{Change, Object, Objects};
pub use settings::Settings;

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
