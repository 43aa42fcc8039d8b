//! [`Host`]: the runtime's stand-in in host-side tests, and what it records.

use crate::email::SendError;
use crate::log::Level;
use crate::queue::PushError;

use super::recorder::{self, Shared};

/// Stands in for the runtime while [`run`](Self::run) runs: [`Settings::load`] gets the
/// settings given here, and [`Email::send`], [`queue::push`] and the logging macros are
/// recorded, for [`emails`](Self::emails), [`pushes`](Self::pushes) and
/// [`logs`](Self::logs) to return. Nothing leaves the test.
///
/// Outside a run, sending, pushing or loading settings panics (there is nothing to record
/// into); a log line goes to stderr.
///
/// [`Settings::load`]: crate::Settings::load
/// [`Email::send`]: crate::email::Email::send
/// [`queue::push`]: crate::queue::push
#[derive(Debug, Default)]
pub struct Host {
    state: Shared,
}

/// A message the listener sent, as [`Email`](crate::email::Email) built it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentEmail {
    /// The sender; `None` means the operator's default.
    pub from: Option<String>,
    /// `To` recipients, in order.
    pub to: Vec<String>,
    /// `Cc` recipients, in order.
    pub cc: Vec<String>,
    /// `Bcc` recipients, in order.
    pub bcc: Vec<String>,
    /// Where replies go, if not to the sender.
    pub reply_to: Option<String>,
    /// The subject line.
    pub subject: String,
    /// The plain-text body.
    pub body: String,
    /// The HTML alternative, if any.
    pub html_body: Option<String>,
}

/// A payload the listener pushed onto a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Push {
    /// The queue's name.
    pub queue: String,
    /// The bytes pushed.
    pub payload: Vec<u8>,
}

/// A line the listener logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Its severity.
    pub level: Level,
    /// Its text.
    pub message: String,
}

impl Host {
    /// A host with no settings, on which every send and push succeeds.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to `value` (replacing an earlier value). [`Settings::load`] gives the
    /// settings sorted by key, as the runtime does.
    ///
    /// [`Settings::load`]: crate::Settings::load
    pub fn setting(self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (key, value) = (key.into(), value.into());
        self.state.borrow_mut().settings.insert(key, value);
        self
    }

    /// Makes every [`Email::send`](crate::email::Email::send) fail with `error`; failed
    /// sends are not recorded.
    pub fn fail_email_with(self, error: SendError) -> Self {
        self.state.borrow_mut().email_error = Some(error);
        self
    }

    /// Makes every [`queue::push`](crate::queue::push) fail with `error`; failed pushes
    /// are not recorded.
    pub fn fail_push_with(self, error: PushError) -> Self {
        self.state.borrow_mut().push_error = Some(error);
        self
    }

    /// Runs `f` (typically `|| MyListener::handle(event)`) with this host standing in for
    /// the runtime on this thread, and returns what it returns. Records add up over runs.
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        let _installed = recorder::install(self.state.clone());
        f()
    }

    /// The messages sent so far, in order.
    pub fn emails(&self) -> Vec<SentEmail> {
        self.state.borrow().emails.clone()
    }

    /// The payloads pushed so far, in order.
    pub fn pushes(&self) -> Vec<Push> {
        self.state.borrow().pushes.clone()
    }

    /// The lines logged so far, in order.
    pub fn logs(&self) -> Vec<LogLine> {
        self.state.borrow().logs.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::email::Email;
    use crate::{info, queue, warn, Settings};

    #[test]
    fn records_sends_pushes_and_logs_in_order() {
        let host = Host::new();
        let sent = host.run(|| {
            info!("one {}", 1);
            queue::push("q", "payload")?;
            warn!("two");
            Email::new()
                .to_all(["a@x", "b@x"])
                .cc_all(vec![String::from("c@x")])
                .bcc("d@x")
                .subject("s")
                .body("b")
                .send()?;
            Ok::<_, crate::Error>("done")
        });
        assert_eq!(sent, Ok("done"));
        let pushes = [Push {
            queue: "q".into(),
            payload: b"payload".to_vec(),
        }];
        assert_eq!(host.pushes(), pushes);
        let levels: Vec<_> = host
            .logs()
            .into_iter()
            .map(|l| (l.level, l.message))
            .collect();
        assert_eq!(
            levels,
            [(Level::Info, "one 1".into()), (Level::Warn, "two".into())]
        );
        let email = &host.emails()[0];
        assert_eq!(
            (&email.to, &email.cc, &email.bcc),
            (
                &vec!["a@x".into(), "b@x".into()],
                &vec!["c@x".into()],
                &vec!["d@x".into()]
            )
        );
        assert_eq!((email.from.as_deref(), email.subject.as_str()), (None, "s"));
    }

    #[test]
    fn settings_are_sorted_and_the_last_value_wins() {
        let host = Host::new()
            .setting("to", "x")
            .setting("from", "a")
            .setting("to", "y");
        let settings = host.run(Settings::load);
        let pairs: Vec<_> = settings.iter().collect();
        assert_eq!(pairs, [("from", "a"), ("to", "y")]);
    }

    #[test]
    fn failures_are_returned_and_not_recorded() {
        let host = Host::new()
            .fail_email_with(SendError::RateLimited)
            .fail_push_with(PushError::Unavailable("down".into()));
        let sent = host.run(|| Email::new().to("a@x").send());
        let pushed = host.run(|| queue::push("q", b""));
        assert_eq!(sent, Err(SendError::RateLimited));
        assert_eq!(pushed, Err(PushError::Unavailable("down".into())));
        assert!(host.emails().is_empty() && host.pushes().is_empty());
    }

    #[test]
    fn runs_nest_and_each_records_into_its_own_host() {
        let (outer, inner) = (Host::new(), Host::new());
        outer.run(|| {
            inner.run(|| info!("inner"));
            info!("outer");
        });
        assert_eq!(inner.logs()[0].message, "inner");
        assert_eq!(outer.logs()[0].message, "outer");
        assert_eq!((inner.logs().len(), outer.logs().len()), (1, 1));
    }

    #[test]
    #[should_panic(expected = "outside `testing::Host::run`")]
    fn sending_outside_a_run_panics() {
        let _ = Email::new().to("a@x").send();
    }
}
