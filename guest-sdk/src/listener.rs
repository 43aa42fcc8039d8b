//! The [`Listener`] trait and the adapter that exports it through the generated bindings.

use std::fmt;
use std::marker::PhantomData;

use crate::bindings::{handler, types};
use crate::{Error, Event, Result, Settings, SettingsError};

/// A Kinto event listener. Implement it on a unit struct and export it with
/// [`export_listener!`](crate::export_listener).
///
/// Each call runs in a fresh instance unless the operator lets one instance serve several
/// calls (`calls_per_instance`): keep no state between events that the next event needs.
pub trait Listener {
    /// Handles one event (or one part of one: see [`Context::part_count`](crate::Context::part_count)).
    ///
    /// Return [`Error::Transient`] to have the event retried later, [`Error::Permanent`]
    /// to give up on it; before Kinto's commit a permanent error fails the Kinto request.
    /// The SDK's errors convert with `?`; any other picks its kind with
    /// [`ResultExt`](crate::ResultExt).
    fn handle(event: Event) -> Result<()>;

    /// Checks the listener's settings before it is put to work (at upload time and when
    /// the runtime starts). The error's text, which names the setting, tells the operator
    /// what to fix. By default every setting is accepted.
    fn validate_settings(settings: &Settings) -> Result<(), SettingsError> {
        let _ = settings;
        Ok(())
    }
}

/// Implements the generated `Guest` trait for any [`Listener`]; named by
/// [`export_listener!`](crate::export_listener) only.
pub struct Adapter<L>(PhantomData<L>);

impl<L> fmt::Debug for Adapter<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Adapter")
    }
}

impl<L: Listener> handler::Guest for Adapter<L> {
    fn handle(event: types::Event, context: types::Context) -> Result<(), types::ListenerError> {
        L::handle(Event::from_raw(event, context)).map_err(Error::into_raw)
    }

    fn validate_settings(settings: Vec<(String, String)>) -> Result<(), String> {
        let settings: Settings = settings.into_iter().collect();
        L::validate_settings(&settings).map_err(|error| error.to_string())
    }
}
