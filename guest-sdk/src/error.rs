//! The error a handler returns: transient (retry later) or permanent (give up), and
//! [`ResultExt`], which makes any other error pick one of the two.

use std::fmt;

use crate::bindings::types::ListenerError;
use crate::email::SendError;
use crate::queue::PushError;
use crate::SettingsError;

/// Why a listener failed to handle an event.
///
/// The SDK's own errors ([`SendError`], [`PushError`], [`SettingsError`]) convert into it
/// with `?`, each with a documented kind; any other error picks its kind explicitly with
/// [`ResultExt::transient`] or [`ResultExt::permanent`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Try again later: a dependency was down, a rate limit was hit, ...
    Transient(String),
    /// Do not try again: the event cannot be handled. Before Kinto's commit, this fails
    /// the Kinto request, as a raising Python listener does.
    Permanent(String),
}

/// The result of a handler: `Result<()>` unless said otherwise.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A failure worth retrying later.
    pub fn transient(message: impl Into<String>) -> Self {
        Error::Transient(message.into())
    }

    /// A failure that retrying will not fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        Error::Permanent(message.into())
    }

    /// The message, without the kind.
    pub fn message(&self) -> &str {
        match self {
            Error::Transient(message) | Error::Permanent(message) => message,
        }
    }

    pub(crate) fn into_raw(self) -> ListenerError {
        match self {
            Error::Transient(message) => ListenerError::Transient(message),
            Error::Permanent(message) => ListenerError::Permanent(message),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Transient(message) => write!(f, "transient error: {message}"),
            Error::Permanent(message) => write!(f, "permanent error: {message}"),
        }
    }
}

impl std::error::Error for Error {}

/// Rate limits and server hiccups are worth a retry; refusals and bad input are not.
impl From<SendError> for Error {
    fn from(error: SendError) -> Self {
        match error {
            SendError::RateLimited | SendError::TransientFailure(_) => {
                Error::transient(error.to_string())
            }
            _ => Error::permanent(error.to_string()),
        }
    }
}

/// An unreachable backend is worth a retry; a refused name or payload is not.
impl From<PushError> for Error {
    fn from(error: PushError) -> Self {
        match error {
            PushError::Unavailable(_) => Error::transient(error.to_string()),
            _ => Error::permanent(error.to_string()),
        }
    }
}

/// Permanent: a missing or bad setting will still be there on a retry.
impl From<SettingsError> for Error {
    fn from(error: SettingsError) -> Self {
        Error::permanent(error.to_string())
    }
}

/// Turns any `Result` into the handler's, with an explicit choice of retry meaning, so
/// that a foreign error crosses `?`:
///
/// ```
/// use wasm_listeners_sdk::{Error, Result, ResultExt};
///
/// fn quantity(text: &str) -> Result<u32> {
///     // A malformed number will not get better on a retry.
///     let n = text.parse::<u32>().permanent()?;
///     Ok(n)
/// }
///
/// assert_eq!(quantity("3"), Ok(3));
/// let error = Error::permanent("invalid digit found in string");
/// assert_eq!(quantity("x"), Err(error));
/// ```
pub trait ResultExt<T, E> {
    /// A transient [`Error`] (retry later) whose message is the error's `Display` text.
    fn transient(self) -> Result<T>
    where
        E: fmt::Display;

    /// A permanent [`Error`] (do not retry) whose message is the error's `Display` text.
    fn permanent(self) -> Result<T>
    where
        E: fmt::Display;

    /// A transient [`Error`] whose message `message` makes from the error, to add context:
    /// `.transient_with(|e| format!("fetching the template: {e}"))`.
    fn transient_with<M: Into<String>>(self, message: impl FnOnce(E) -> M) -> Result<T>;

    /// A permanent [`Error`] whose message `message` makes from the error, to add context:
    /// `.permanent_with(|e| format!("setting `mib`: {e}"))`.
    fn permanent_with<M: Into<String>>(self, message: impl FnOnce(E) -> M) -> Result<T>;
}

impl<T, E> ResultExt<T, E> for Result<T, E> {
    fn transient(self) -> Result<T>
    where
        E: fmt::Display,
    {
        self.map_err(|e| Error::transient(e.to_string()))
    }

    fn permanent(self) -> Result<T>
    where
        E: fmt::Display,
    {
        self.map_err(|e| Error::permanent(e.to_string()))
    }

    fn transient_with<M: Into<String>>(self, message: impl FnOnce(E) -> M) -> Result<T> {
        self.map_err(|e| Error::transient(message(e)))
    }

    fn permanent_with<M: Into<String>>(self, message: impl FnOnce(E) -> M) -> Result<T> {
        self.map_err(|e| Error::permanent(message(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_errors_map_to_kinds() {
        let limited = Error::from(SendError::RateLimited);
        assert_eq!(limited, Error::transient("email rate limit reached"));
        let refused = Error::from(SendError::NotPermitted("b@y".into()));
        assert_eq!(refused, Error::permanent("email not permitted: b@y"));
    }

    #[test]
    fn push_errors_map_to_kinds() {
        let down = Error::from(PushError::Unavailable("redis down".into()));
        assert_eq!(down, Error::transient("queue unavailable: redis down"));
        let big = Error::from(PushError::TooLarge("x".into()));
        assert_eq!(big, Error::permanent("queue payload too large: x"));
    }

    #[test]
    fn settings_errors_are_permanent_and_name_the_key() {
        let error = Error::from(SettingsError::Missing("to".into()));
        assert_eq!(error, Error::permanent("missing required setting `to`"));
    }

    #[test]
    fn result_ext_picks_the_kind_and_keeps_the_message() {
        let failed: Result<(), &str> = Err("socket closed");
        assert_eq!(failed.transient(), Err(Error::transient("socket closed")));
        assert_eq!(failed.permanent(), Err(Error::permanent("socket closed")));
        let with = failed.transient_with(|e| format!("fetching: {e}"));
        assert_eq!(with, Err(Error::transient("fetching: socket closed")));
        let with = failed.permanent_with(|e| format!("parsing: {e}"));
        assert_eq!(with, Err(Error::permanent("parsing: socket closed")));
        assert_eq!(Ok::<u8, &str>(7).permanent(), Ok(7));
    }
}
