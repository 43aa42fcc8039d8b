//! The email backends, and with `address` the one module of the crate that names lettre:
//! building a message (headers only through lettre's builders), [`SmtpBackend`] and
//! [`OutboxBackend`].
//!
//! # Layout
//! - `mod.rs`: building a message.
//! - `smtp.rs`: [`SmtpBackend`], its connection pool and the DATA rule below.
//! - `connect.rs`: the stream every SMTP session runs on (`TCP_NODELAY`, implicit TLS).
//! - `outbox.rs`: [`OutboxBackend`], `.eml` files in a folder.
//!
//! # The DATA rule
//!
//! Once an SMTP server has accepted the `DATA` command, cutting the transaction short
//! leaves it unknown whether the message went out, and a retry of the event may send it
//! twice. So [`SmtpBackend`] runs everything up to and including `DATA`'s `354` against the
//! call's deadline (past it: drop the connection, nothing was sent, return
//! [`EmailBackendError::Deadline`]), and the rest (the content, the final reply) in a task
//! of its own, bounded only by the command timeout: dropping the caller's future (the
//! engine's backstop) does not cut the message in half.

mod connect;
mod outbox;
mod smtp;

pub use outbox::OutboxBackend;
pub use smtp::{SmtpBackend, SmtpConfigError};

use crate::host::{Email, EmailBackendError};
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::Message;

/// Builds the message with lettre's builders only: lettre encodes every header, so no
/// guest text can add one; Bcc goes into the envelope and never into the headers.
fn build(email: &Email) -> Result<Message, EmailBackendError> {
    let mut builder = Message::builder()
        .from(mailbox(&email.from)?)
        .subject(email.subject.as_str());
    for to in &email.to {
        builder = builder.to(mailbox(to)?);
    }
    for cc in &email.cc {
        builder = builder.cc(mailbox(cc)?);
    }
    for bcc in &email.bcc {
        builder = builder.bcc(mailbox(bcc)?);
    }
    if let Some(reply_to) = &email.reply_to {
        builder = builder.reply_to(mailbox(reply_to)?);
    }
    let plain = email.body.clone();
    let built = match &email.html_body {
        None => builder.singlepart(plain_part(plain)),
        Some(html) => builder.multipart(MultiPart::alternative_plain_html(plain, html.clone())),
    };
    built.map_err(|e| EmailBackendError::Permanent(format!("cannot build the message: {e}")))
}

/// Longest line SMTP carries as it is (RFC 5321, without CRLF).
const MAX_SMTP_LINE: usize = 998;

/// A plain-text body sent as it is (7bit) when it can be, as the tutorial's Python
/// listener sends it: a reader of the raw message (an `.eml` in the outbox, a debugging SMTP
/// server) sees the text, not quoted-printable. lettre only picks 7bit for lines of at most
/// 76 characters, and a user id line is longer; RFC 5322 allows 998. Other bodies get
/// lettre's choice of encoding.
fn plain_part(body: String) -> SinglePart {
    match seven_bit(&body) {
        Some(crlf) => {
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(Body::dangerous_pre_encoded(
                    crlf.into_bytes(),
                    ContentTransferEncoding::SevenBit,
                ))
        }
        None => SinglePart::plain(body),
    }
}

/// The body with CRLF line ends, if it may travel as 7bit: ASCII, no NUL, no lone CR, lines
/// of at most [`MAX_SMTP_LINE`] bytes (what lettre's "dangerous" pre-encoded body requires).
fn seven_bit(body: &str) -> Option<String> {
    let unix = body.replace("\r\n", "\n");
    let fits = unix.lines().all(|l| l.len() <= MAX_SMTP_LINE);
    let ok = unix.is_ascii() && !unix.contains(['\0', '\r']) && fits;
    ok.then(|| unix.replace('\n', "\r\n"))
}

/// An address of an admitted [`Email`]; they all parsed once already.
fn mailbox(text: &str) -> Result<Mailbox, EmailBackendError> {
    text.parse()
        .map_err(|e| EmailBackendError::Permanent(format!("`{text}`: {e}")))
}

#[cfg(test)]
mod tests;
