//! The `email` capability: policy, size and rate checks, in that order, then a backend
//! sends the message.
//!
//! The backend is a trait so that the capability's logic is tested without a network and
//! `invoke` records messages instead of sending them; the SMTP and outbox backends live
//! behind it (`backends::mail`). Addresses are parsed by `address`, the parser the SMTP
//! backend uses too.

use super::DeadlineExceeded;
use crate::address::{self, Address};
use crate::bindings::email::{Host, Message, SendError};
use crate::policy::EmailPolicy;
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

/// A message that passed the policy, its addresses parsed and normalised (`Name <addr>` or
/// `addr`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Email {
    /// The sender (`Name <addr>` or `addr`).
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Carbon-copy recipients.
    pub cc: Vec<String>,
    /// Blind carbon-copy recipients.
    pub bcc: Vec<String>,
    /// Reply-To, if any.
    pub reply_to: Option<String>,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// HTML alternative, if any.
    pub html_body: Option<String>,
}

/// Why a backend did not send a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailBackendError {
    /// Try again later (SMTP 4xx, timeout, disconnect).
    #[error("transient failure: {0}")]
    Transient(String),
    /// The server refused the message (SMTP 5xx).
    #[error("permanent failure: {0}")]
    Permanent(String),
    /// The call's deadline passed before the point of no return: nothing was sent.
    #[error("the deadline passed before the message was handed over")]
    Deadline,
}

/// Sends messages that passed the policy.
///
/// # The deadline contract
///
/// The capability does not race [`EmailBackend::send`] against the deadline itself, since
/// cutting a transaction after the server has taken the message would make a retry send it
/// twice. Instead the backend:
///
/// - returns [`EmailBackendError::Deadline`] when `deadline` passes *before* the point of
///   no return (for SMTP: the server accepting the `DATA` command), having sent nothing;
/// - once past that point, finishes the transaction whatever the deadline says (bounded by
///   its own timeout) and reports the real result, even if the caller's future is dropped
///   meanwhile.
///
/// The engine lets such a transaction finish: its backstop waits [`EmailBackend::overrun`]
/// past the deadline, and a guest whose send completed late gets a short grace to return
/// (see `engine::listener`), so a message the server took is never reported as a deadline.
/// A backend that hangs anyway is still stopped by the backstop.
#[async_trait::async_trait]
pub trait EmailBackend: Send + Sync + 'static {
    /// Sends one message; returns once the server accepted it.
    async fn send(&self, email: &Email, deadline: Instant) -> Result<(), EmailBackendError>;

    /// How long past the deadline a transaction may still run once past its point of no
    /// return. Zero for backends that have none.
    fn overrun(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
}

/// One call's email capability.
pub(crate) struct EmailCtx {
    policy: Arc<EmailPolicy>,
    backend: Arc<dyn EmailBackend>,
    deadline: Instant,
    /// Messages admitted so far in this call: what the rate counts.
    admitted: u32,
    /// Messages accepted by the backend during this call.
    pub(crate) sent: Vec<Email>,
    /// A message was accepted after the deadline: the guest gets a grace to return.
    late_commit: bool,
}

impl EmailCtx {
    /// A context for one call that must end by `deadline`.
    pub(crate) fn new(
        policy: Arc<EmailPolicy>,
        backend: Arc<dyn EmailBackend>,
        deadline: Instant,
    ) -> EmailCtx {
        EmailCtx {
            policy,
            backend,
            deadline,
            admitted: 0,
            sent: Vec::new(),
            late_commit: false,
        }
    }

    /// Checks a guest's message against the policy, then the size caps, then the rate, and
    /// parses its addresses. Only an admitted message counts against the rate: a refused
    /// one leaves it untouched.
    fn admit(&mut self, m: Message) -> Result<Email, SendError> {
        let email = self.check(m)?;
        if self.admitted >= self.policy.max_messages_per_call {
            return Err(SendError::RateLimited);
        }
        if let Some(rate) = &self.policy.rate {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            let now_ms = now.map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
            if !rate.admit(now_ms) {
                return Err(SendError::RateLimited);
            }
        }
        self.admitted += 1;
        Ok(email)
    }

    /// The policy and size checks.
    fn check(&self, m: Message) -> Result<Email, SendError> {
        let p = &self.policy;
        let from = match m.from.or_else(|| p.default_sender.clone()) {
            Some(from) => parse(&from)?,
            None => return Err(SendError::InvalidAddress("no sender: set `from`".into())),
        };
        if !p.permits_sender(&from.address) {
            let why = format!("sender {} is not allowed by the policy", from.address);
            return Err(SendError::NotPermitted(why));
        }
        let count = m.to.len() + m.cc.len() + m.bcc.len();
        if count == 0 {
            return Err(SendError::InvalidAddress(
                "no recipient in to, cc or bcc".into(),
            ));
        }
        if count > p.max_recipients {
            let why = format!("{count} recipients, at most {} allowed", p.max_recipients);
            return Err(SendError::TooLarge(why));
        }
        let to = self.recipients(&m.to)?;
        let cc = self.recipients(&m.cc)?;
        let bcc = self.recipients(&m.bcc)?;
        let reply_to = m.reply_to.as_deref().map(parse).transpose()?;
        self.check_sizes(&m.subject, &m.body, m.html_body.as_deref())?;
        Ok(Email {
            from: from.display,
            to,
            cc,
            bcc,
            reply_to: reply_to.map(|r| r.display),
            subject: m.subject,
            body: m.body,
            html_body: m.html_body,
        })
    }

    fn recipients(&self, list: &[String]) -> Result<Vec<String>, SendError> {
        let check = |text: &String| {
            let parsed = parse(text)?;
            if !self.policy.permits_recipient(&parsed.address) {
                let why = format!("recipient {} is not allowed by the policy", parsed.address);
                return Err(SendError::NotPermitted(why));
            }
            Ok(parsed.display)
        };
        list.iter().map(check).collect()
    }

    fn check_sizes(&self, subject: &str, body: &str, html: Option<&str>) -> Result<(), SendError> {
        let p = &self.policy;
        let too_large = |what: &str, len: usize, max: usize| {
            SendError::TooLarge(format!("{what} is {len} bytes, at most {max} allowed"))
        };
        if subject.len() > p.max_subject_bytes {
            return Err(too_large("subject", subject.len(), p.max_subject_bytes));
        }
        for (what, text) in [("body", Some(body)), ("html body", html)] {
            let len = text.map_or(0, str::len);
            if len > p.max_body_bytes {
                return Err(too_large(what, len, p.max_body_bytes));
            }
        }
        Ok(())
    }
}

fn parse(text: &str) -> Result<Address, SendError> {
    address::parse(text).map_err(SendError::InvalidAddress)
}

impl EmailCtx {
    /// Whether a message was accepted past the deadline since the last time this was asked.
    pub(crate) fn take_late_commit(&mut self) -> bool {
        std::mem::take(&mut self.late_commit)
    }

    /// Starts the next call on a reused instance: its own deadline, rate and record.
    pub(crate) fn next_call(&mut self, deadline: Instant) {
        self.deadline = deadline;
        self.admitted = 0;
        self.sent.clear();
        self.late_commit = false;
    }
}

impl Host for EmailCtx {
    async fn send(&mut self, message: Message) -> wasmtime::Result<Result<(), SendError>> {
        let email = match self.admit(message) {
            Ok(email) => email,
            Err(refused) => return Ok(Err(refused)),
        };
        // No `before_deadline` here: the backend honours the deadline itself, up to the
        // point of no return (see `EmailBackend`).
        Ok(match self.backend.send(&email, self.deadline).await {
            Ok(()) => {
                self.sent.push(email);
                self.late_commit |= Instant::now() >= self.deadline;
                Ok(())
            }
            Err(EmailBackendError::Transient(m)) => Err(SendError::TransientFailure(m)),
            Err(EmailBackendError::Permanent(m)) => Err(SendError::PermanentFailure(m)),
            Err(EmailBackendError::Deadline) => {
                let capability = "email";
                return Err(wasmtime::Error::new(DeadlineExceeded { capability }));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::EmailRules;
    use std::time::Duration;

    fn ctx(layer: EmailRules) -> EmailCtx {
        let policy = EmailPolicy::deny_all().with_layer(layer);
        let deadline = Instant::now() + Duration::from_secs(5);
        EmailCtx::new(
            Arc::new(policy),
            Arc::new(crate::host::RecordOnly),
            deadline,
        )
    }

    fn message(to: &str) -> Message {
        Message {
            from: Some("Kinto <kinto@example.org>".into()),
            to: vec![to.into()],
            cc: vec![],
            bcc: vec![],
            reply_to: None,
            subject: "record created".into(),
            body: "User id: alice".into(),
            html_body: None,
        }
    }

    #[test]
    fn admits_within_policy_and_refuses_outside() {
        let mut c = ctx(EmailRules {
            allowed_senders: vec!["kinto@example.org".into()],
            allowed_recipients: vec!["example.org".into()],
        });
        let ok = c.admit(message("ops@example.org")).unwrap();
        assert_eq!(ok.from, "Kinto <kinto@example.org>");
        let mut outside = message("ops@example.org");
        outside.bcc = vec!["spy@evil.test".into()];
        match c.admit(outside) {
            Err(SendError::NotPermitted(why)) => assert!(why.contains("spy@evil.test"), "{why}"),
            other => panic!("expected not-permitted, got {other:?}"),
        }
        assert!(matches!(
            c.admit(message("not an address")),
            Err(SendError::InvalidAddress(_))
        ));
    }

    /// A backend whose deadline always passed before the point of no return.
    struct TooLate;

    #[async_trait::async_trait]
    impl EmailBackend for TooLate {
        async fn send(&self, _: &Email, _: Instant) -> Result<(), EmailBackendError> {
            Err(EmailBackendError::Deadline)
        }
    }

    #[tokio::test]
    async fn a_backend_deadline_is_the_deadline_trap() {
        let policy = EmailPolicy::deny_all().with_layer(EmailRules::allow_all());
        let mut c = EmailCtx::new(Arc::new(policy), Arc::new(TooLate), Instant::now());
        let trap = c.send(message("ops@example.org")).await.unwrap_err();
        let deadline = trap.downcast_ref::<DeadlineExceeded>();
        assert_eq!(deadline.map(|d| d.capability), Some("email"), "{trap:?}");
        assert!(c.sent.is_empty());
    }

    #[test]
    fn a_refused_message_leaves_the_rate_untouched() {
        let mut c = ctx(EmailRules {
            allowed_senders: vec!["*".into()],
            allowed_recipients: vec!["example.org".into()],
        });
        let max = crate::policy::DEFAULT_MAX_MESSAGES_PER_CALL;
        for _ in 0..2 * max {
            let refused = c.admit(message("spy@evil.test"));
            assert!(
                matches!(refused, Err(SendError::NotPermitted(_))),
                "{refused:?}"
            );
            let unparsable = c.admit(message("not an address"));
            assert!(matches!(unparsable, Err(SendError::InvalidAddress(_))));
        }
        for n in 0..max {
            let admitted = c.admit(message("ops@example.org"));
            assert!(admitted.is_ok(), "message {n}: {admitted:?}");
        }
        let over = c.admit(message("ops@example.org"));
        assert!(matches!(over, Err(SendError::RateLimited)), "{over:?}");
    }

    #[test]
    fn deny_by_default_and_rate_limit() {
        let mut denied = ctx(EmailRules::default());
        assert!(matches!(
            denied.admit(message("a@example.org")),
            Err(SendError::NotPermitted(_))
        ));
        let mut c = ctx(EmailRules::allow_all());
        for _ in 0..crate::policy::DEFAULT_MAX_MESSAGES_PER_CALL {
            c.admit(message("a@example.org")).unwrap();
        }
        assert!(matches!(
            c.admit(message("a@example.org")),
            Err(SendError::RateLimited)
        ));
    }
}
