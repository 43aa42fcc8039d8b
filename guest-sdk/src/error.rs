//! The error a handler returns: transient (retry later) or permanent (give up).

use std::fmt;

use crate::bindings::types::ListenerError;
use crate::email::SendError;
use crate::queue::PushError;

/// Why a listener failed to handle an event.
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

/// A bare message, such as [`Settings::require`](crate::Settings::require)'s, is permanent:
/// a missing setting will not appear on a retry.
impl From<String> for Error {
    fn from(message: String) -> Self {
        Error::Permanent(message)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_errors_map_to_kinds() {
        assert!(matches!(
            Error::from(SendError::RateLimited),
            Error::Transient(_)
        ));
        let refused = Error::from(SendError::NotPermitted("b@y".into()));
        assert_eq!(refused, Error::permanent("email not permitted: b@y"));
    }

    #[test]
    fn push_errors_map_to_kinds() {
        let down = Error::from(PushError::Unavailable("redis down".into()));
        assert_eq!(down, Error::transient("queue unavailable: redis down"));
        assert!(matches!(
            Error::from(PushError::TooLarge("x".into())),
            Error::Permanent(_)
        ));
    }
}
