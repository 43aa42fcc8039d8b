//! Sending email through the host, which checks every message against the listener's
//! policy (senders, recipients, rate, sizes) before its SMTP server sends it.
//!
//! ```no_run
//! use wasm_listeners_sdk::email::Email;
//!
//! # fn main() -> wasm_listeners_sdk::Result<()> {
//! Email::new()
//!     .from("Kinto <kinto@example.com>")
//!     .to("admin@example.com")
//!     .subject("record created")
//!     .body("User id: account:alice")
//!     .send()?;
//! # Ok(())
//! # }
//! ```

use std::fmt;

use crate::bindings::email as raw;
use crate::imports;

/// A message under construction. `new()` starts with no sender (the operator's default),
/// no recipients, an empty subject and body and no HTML part.
#[derive(Debug, Clone)]
pub struct Email {
    message: raw::Message,
}

impl Default for Email {
    fn default() -> Self {
        Self::new()
    }
}

impl Email {
    /// An empty message: no sender (the operator's default), no recipients, empty subject
    /// and body, no HTML part.
    pub fn new() -> Self {
        let message = raw::Message {
            from: None,
            to: Vec::new(),
            cc: Vec::new(),
            bcc: Vec::new(),
            reply_to: None,
            subject: String::new(),
            body: String::new(),
            html_body: None,
        };
        Email { message }
    }

    /// Sets the sender (`name <addr@host>` or `addr@host`).
    pub fn from(mut self, address: impl Into<String>) -> Self {
        self.message.from = Some(address.into());
        self
    }

    /// Adds a `To` recipient. At least one recipient in `to`, `cc` or `bcc` is required.
    pub fn to(mut self, address: impl Into<String>) -> Self {
        self.message.to.push(address.into());
        self
    }

    /// Adds every address of `addresses` as a `To` recipient, in order.
    pub fn to_all<I>(mut self, addresses: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.message
            .to
            .extend(addresses.into_iter().map(Into::into));
        self
    }

    /// Adds a `Cc` recipient.
    pub fn cc(mut self, address: impl Into<String>) -> Self {
        self.message.cc.push(address.into());
        self
    }

    /// Adds every address of `addresses` as a `Cc` recipient, in order.
    pub fn cc_all<I>(mut self, addresses: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.message
            .cc
            .extend(addresses.into_iter().map(Into::into));
        self
    }

    /// Adds a `Bcc` recipient.
    pub fn bcc(mut self, address: impl Into<String>) -> Self {
        self.message.bcc.push(address.into());
        self
    }

    /// Adds every address of `addresses` as a `Bcc` recipient, in order.
    pub fn bcc_all<I>(mut self, addresses: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.message
            .bcc
            .extend(addresses.into_iter().map(Into::into));
        self
    }

    /// Sets where replies go, if not to the sender.
    pub fn reply_to(mut self, address: impl Into<String>) -> Self {
        self.message.reply_to = Some(address.into());
        self
    }

    /// Sets the subject line (no line breaks).
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.message.subject = subject.into();
        self
    }

    /// Sets the plain-text body.
    pub fn body(mut self, body: impl Into<String>) -> Self {
        self.message.body = body.into();
        self
    }

    /// Sets an HTML alternative of the body.
    pub fn html_body(mut self, html: impl Into<String>) -> Self {
        self.message.html_body = Some(html.into());
        self
    }

    /// Sends the message; returns once the server accepted it (or the host recorded it).
    /// In a host-side test, [`testing::Host`](crate::testing::Host) records it instead.
    pub fn send(&self) -> Result<(), SendError> {
        imports::send_email(&self.message)
    }
}

/// Why a message was not sent. Converts into [`Error`](crate::Error): `RateLimited` and
/// `TransientFailure` are transient, the rest permanent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The policy forbids this sender or one of these recipients (named in the text).
    NotPermitted(String),
    /// An address does not parse (named in the text).
    InvalidAddress(String),
    /// The listener sent more messages than its rate allows; try later.
    RateLimited,
    /// The subject, body or recipient count is over its limit (named in the text).
    TooLarge(String),
    /// The server could not take it now (SMTP 4xx, timeout, disconnect); try later.
    TransientFailure(String),
    /// The server refused it (SMTP 5xx); retrying will not help.
    PermanentFailure(String),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NotPermitted(s) => write!(f, "email not permitted: {s}"),
            SendError::InvalidAddress(s) => write!(f, "invalid email address: {s}"),
            SendError::RateLimited => f.write_str("email rate limit reached"),
            SendError::TooLarge(s) => write!(f, "email too large: {s}"),
            SendError::TransientFailure(s) => write!(f, "email server failed, try later: {s}"),
            SendError::PermanentFailure(s) => write!(f, "email refused by the server: {s}"),
        }
    }
}

impl std::error::Error for SendError {}
