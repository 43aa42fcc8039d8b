//! The host's capabilities, as the rest of the SDK calls them. On wasm32 they are the
//! generated imports; on any other target (a listener's `cargo test`) they are the
//! recorder of [`testing::Host`](crate::testing::Host): wit-bindgen's import stubs panic
//! there, so nothing else may call them.

#[cfg(target_arch = "wasm32")]
pub(crate) use wasm::{log, push, send_email, settings};

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use crate::testing::recorder::{log, push, send_email, settings};

#[cfg(target_arch = "wasm32")]
mod wasm {
    use crate::bindings::{email, log as raw_log, queue, settings as raw_settings};
    use crate::email::SendError;
    use crate::log::Level;
    use crate::queue::PushError;

    pub(crate) fn send_email(message: &email::Message) -> Result<(), SendError> {
        email::send(message).map_err(send_error)
    }

    pub(crate) fn push(name: &str, payload: &[u8]) -> Result<(), PushError> {
        queue::push(name, payload).map_err(push_error)
    }

    pub(crate) fn log(level: Level, message: &str) {
        let level = match level {
            Level::Trace => raw_log::Level::Trace,
            Level::Debug => raw_log::Level::Debug,
            Level::Info => raw_log::Level::Info,
            Level::Warn => raw_log::Level::Warn,
            Level::Error => raw_log::Level::Error,
        };
        raw_log::log(level, message);
    }

    pub(crate) fn settings() -> Vec<(String, String)> {
        raw_settings::all()
    }

    fn send_error(error: email::SendError) -> SendError {
        match error {
            email::SendError::NotPermitted(s) => SendError::NotPermitted(s),
            email::SendError::InvalidAddress(s) => SendError::InvalidAddress(s),
            email::SendError::RateLimited => SendError::RateLimited,
            email::SendError::TooLarge(s) => SendError::TooLarge(s),
            email::SendError::TransientFailure(s) => SendError::TransientFailure(s),
            email::SendError::PermanentFailure(s) => SendError::PermanentFailure(s),
        }
    }

    fn push_error(error: queue::PushError) -> PushError {
        match error {
            queue::PushError::NotPermitted(s) => PushError::NotPermitted(s),
            queue::PushError::TooLarge(s) => PushError::TooLarge(s),
            queue::PushError::Unavailable(s) => PushError::Unavailable(s),
        }
    }
}
