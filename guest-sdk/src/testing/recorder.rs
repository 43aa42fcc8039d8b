//! The capabilities on the host (see `crate::imports`): a thread-local slot holds the state
//! of the [`Host`](super::Host) whose `run` is running, and each capability reads or
//! records into it. Tests run on many threads; each sees only its own host.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use crate::bindings::email::Message;
use crate::email::SendError;
use crate::log::Level;
use crate::queue::PushError;

use super::{LogLine, Push, SentEmail};

/// A host's state, shared between the `Host` and the slot while it runs.
pub(super) type Shared = Rc<RefCell<State>>;

/// What a host supplies and what it recorded.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) settings: BTreeMap<String, String>,
    pub(super) email_error: Option<SendError>,
    pub(super) push_error: Option<PushError>,
    pub(super) emails: Vec<SentEmail>,
    pub(super) pushes: Vec<Push>,
    pub(super) logs: Vec<LogLine>,
}

thread_local! {
    static CURRENT: RefCell<Option<Shared>> = const { RefCell::new(None) };
}

/// Puts back the host that was current before [`install`] when dropped, panic or not.
pub(super) struct Installed {
    previous: Option<Shared>,
}

/// Makes `state` this thread's current host until the returned guard is dropped.
pub(super) fn install(state: Shared) -> Installed {
    let previous = CURRENT.with(|slot| slot.replace(Some(state)));
    Installed { previous }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|slot| *slot.borrow_mut() = previous);
    }
}

fn current() -> Option<Shared> {
    CURRENT.with(|slot| slot.borrow().clone())
}

/// Calls `f` on the current host's state; `capability` names the caller in the panic
/// when no host is running.
fn with_state<R>(capability: &str, f: impl FnOnce(&mut State) -> R) -> R {
    let Some(state) = current() else {
        panic!(
            "{capability} called outside `testing::Host::run`: on the host, the \
             capabilities exist only inside a run"
        );
    };
    let mut state = state.borrow_mut();
    f(&mut state)
}

pub(crate) fn send_email(message: &Message) -> Result<(), SendError> {
    with_state("`Email::send`", |state| match &state.email_error {
        Some(error) => Err(error.clone()),
        None => {
            state.emails.push(SentEmail::from_message(message));
            Ok(())
        }
    })
}

pub(crate) fn push(queue: &str, payload: &[u8]) -> Result<(), PushError> {
    with_state("`queue::push`", |state| match &state.push_error {
        Some(error) => Err(error.clone()),
        None => {
            let (queue, payload) = (queue.to_owned(), payload.to_vec());
            state.pushes.push(Push { queue, payload });
            Ok(())
        }
    })
}

/// Outside a run, the line goes to stderr: logging from a helper under test is harmless.
pub(crate) fn log(level: Level, message: &str) {
    let line = LogLine {
        level,
        message: message.to_owned(),
    };
    match current() {
        Some(state) => state.borrow_mut().logs.push(line),
        None => eprintln!("{:?}: {}", line.level, line.message),
    }
}

pub(crate) fn settings() -> Vec<(String, String)> {
    with_state("`Settings::load`", |state| {
        let pairs = state.settings.iter();
        pairs.map(|(k, v)| (k.clone(), v.clone())).collect()
    })
}

impl SentEmail {
    fn from_message(message: &Message) -> Self {
        let message = message.clone();
        SentEmail {
            from: message.from,
            to: message.to,
            cc: message.cc,
            bcc: message.bcc,
            reply_to: message.reply_to,
            subject: message.subject,
            body: message.body,
            html_body: message.html_body,
        }
    }
}
