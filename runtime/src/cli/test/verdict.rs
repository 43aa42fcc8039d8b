//! Compares what a case's call did with what the case expects: one line per difference.

use super::cases::{Expect, ExpectedEmail, ExpectedOutcome, ExpectedPush};
use crate::engine::{CallReport, ErrorKind, Outcome};
use crate::host::{Email, QueuePush};

/// What a case's calls did together: the last call's outcome, every call's effects.
#[derive(Debug)]
pub(super) struct Observed<'a> {
    pub(super) outcome: &'a Outcome,
    pub(super) emails: Vec<&'a Email>,
    pub(super) pushes: Vec<&'a QueuePush>,
}

impl<'a> Observed<'a> {
    /// `None` when there was no call (an event with no part, which the runtime never makes).
    pub(super) fn of(reports: &'a [CallReport]) -> Option<Observed<'a>> {
        let outcome = &reports.last()?.outcome;
        Some(Observed {
            outcome,
            emails: reports.iter().flat_map(|r| &r.emails).collect(),
            pushes: reports.iter().flat_map(|r| &r.queue_pushes).collect(),
        })
    }
}

/// Every difference between `observed` and `expect`; empty when the case passed.
pub(super) fn differences(expect: &Expect, observed: &Observed<'_>) -> Vec<String> {
    let mut found = Vec::new();
    if let Some(wanted) = expect.outcome {
        if !outcome_matches(wanted, observed.outcome) {
            found.push(format!(
                "outcome: expected {}, got {}",
                wanted.name(),
                observed.outcome
            ));
        }
    }
    if let Some(wanted) = &expect.error {
        match observed.outcome {
            Outcome::ListenerError { message, .. } if message == wanted => {}
            Outcome::Trap { message } if message.contains(wanted.as_str()) => {}
            other => found.push(format!("error: expected {wanted:?}, got {other}")),
        }
    }
    if let Some(wanted) = &expect.emails {
        compare_lists(
            ["email", "emails"],
            wanted,
            &observed.emails,
            email_differences,
            &mut found,
        );
    }
    if let Some(wanted) = &expect.pushes {
        compare_lists(
            ["push", "pushes"],
            wanted,
            &observed.pushes,
            push_differences,
            &mut found,
        );
    }
    found
}

fn outcome_matches(wanted: ExpectedOutcome, got: &Outcome) -> bool {
    match (wanted, got) {
        (ExpectedOutcome::Ok, Outcome::Ok)
        | (ExpectedOutcome::OutOfFuel, Outcome::OutOfFuel)
        | (ExpectedOutcome::MemoryLimit, Outcome::MemoryLimit)
        | (ExpectedOutcome::Deadline, Outcome::Deadline)
        | (ExpectedOutcome::Trap, Outcome::Trap { .. })
        | (ExpectedOutcome::HostLimit, Outcome::HostLimit { .. }) => true,
        (ExpectedOutcome::Transient, Outcome::ListenerError { error, .. }) => {
            *error == ErrorKind::Transient
        }
        (ExpectedOutcome::Permanent, Outcome::ListenerError { error, .. }) => {
            *error == ErrorKind::Permanent
        }
        _ => false,
    }
}

/// Compares in order: the n-th expected item with the n-th observed one, then the counts.
fn compare_lists<E, O>(
    [one, many]: [&str; 2],
    wanted: &[E],
    got: &[&O],
    compare: fn(&E, &O) -> Vec<String>,
    found: &mut Vec<String>,
) {
    if wanted.len() != got.len() {
        found.push(format!(
            "{many}: expected {}, got {}",
            wanted.len(),
            got.len()
        ));
    }
    for (n, (e, o)) in (1..).zip(wanted.iter().zip(got)) {
        for difference in compare(e, o) {
            found.push(format!("{one} {n}: {difference}"));
        }
    }
}

fn email_differences(wanted: &ExpectedEmail, got: &Email) -> Vec<String> {
    let mut found = Vec::new();
    let optional = |o: &Option<String>| o.clone().map(Some);
    field(&mut found, "from", wanted.from.as_ref(), &got.from);
    field(&mut found, "to", wanted.to.as_ref(), &got.to);
    field(&mut found, "cc", wanted.cc.as_ref(), &got.cc);
    field(&mut found, "bcc", wanted.bcc.as_ref(), &got.bcc);
    let reply_to = optional(&wanted.reply_to);
    field(&mut found, "reply_to", reply_to.as_ref(), &got.reply_to);
    field(&mut found, "subject", wanted.subject.as_ref(), &got.subject);
    field(&mut found, "body", wanted.body.as_ref(), &got.body);
    let html_body = optional(&wanted.html_body);
    field(&mut found, "html_body", html_body.as_ref(), &got.html_body);
    found
}

/// One field: compared when the case gives it.
fn field<T: PartialEq + std::fmt::Debug>(
    found: &mut Vec<String>,
    name: &str,
    wanted: Option<&T>,
    got: &T,
) {
    if let Some(wanted) = wanted {
        if wanted != got {
            found.push(format!("{name}: expected {wanted:?}, got {got:?}"));
        }
    }
}

fn push_differences(wanted: &ExpectedPush, got: &QueuePush) -> Vec<String> {
    let mut found = Vec::new();
    if let Some(queue) = &wanted.queue {
        if *queue != got.queue {
            found.push(format!("queue: expected {queue:?}, got {:?}", got.queue));
        }
    }
    if let Some(payload) = &wanted.payload {
        if !same_payload(payload, &got.payload) {
            let got = String::from_utf8_lossy(&got.payload);
            found.push(format!("payload: expected {payload}, got {got}"));
        }
    }
    found
}

/// Equal as JSON values when both sides parse, byte for byte otherwise.
fn same_payload(wanted: &str, got: &[u8]) -> bool {
    let parsed = (
        serde_json::from_str::<serde_json::Value>(wanted),
        serde_json::from_slice::<serde_json::Value>(got),
    );
    match parsed {
        (Ok(wanted), Ok(got)) => wanted == got,
        _ => wanted.as_bytes() == got,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Email {
        Email {
            from: "postmaster@localhost".into(),
            to: vec!["ops@example.org".into()],
            cc: vec![],
            bcc: vec![],
            reply_to: None,
            subject: "record created".into(),
            body: "User id: None".into(),
            html_body: None,
        }
    }

    fn observed<'a>(
        outcome: &'a Outcome,
        emails: &'a [Email],
        pushes: &'a [QueuePush],
    ) -> Observed<'a> {
        Observed {
            outcome,
            emails: emails.iter().collect(),
            pushes: pushes.iter().collect(),
        }
    }

    #[test]
    fn absent_keys_are_not_checked_and_empty_lists_mean_none() {
        let emails = [email()];
        let seen = observed(&Outcome::Ok, &emails, &[]);
        assert!(differences(&Expect::default(), &seen).is_empty());
        let none = Expect {
            emails: Some(vec![]),
            ..Expect::default()
        };
        assert_eq!(differences(&none, &seen), ["emails: expected 0, got 1"]);
    }

    #[test]
    fn each_email_field_is_compared_when_given() {
        let emails = [email()];
        let seen = observed(&Outcome::Ok, &emails, &[]);
        let wanted = ExpectedEmail {
            to: Some(vec!["ops@example.org".into()]),
            subject: Some("record updated".into()),
            reply_to: Some("a@x".into()),
            ..ExpectedEmail::default()
        };
        let expect = Expect {
            emails: Some(vec![wanted]),
            ..Expect::default()
        };
        let found = differences(&expect, &seen);
        assert_eq!(
            found,
            [
                "email 1: reply_to: expected Some(\"a@x\"), got None",
                "email 1: subject: expected \"record updated\", got \"record created\"",
            ]
        );
    }

    #[test]
    fn payloads_compare_as_json_when_both_parse() {
        let push = |payload: &str| QueuePush {
            queue: "q".into(),
            payload: payload.as_bytes().to_vec(),
        };
        let pushes = [push(r#"{"a":1,"b":[2]}"#), push("not json")];
        let seen = observed(&Outcome::Ok, &[], &pushes);
        let expect = |first: &str, second: &str| Expect {
            pushes: Some(vec![
                ExpectedPush {
                    payload: Some(first.into()),
                    ..ExpectedPush::default()
                },
                ExpectedPush {
                    payload: Some(second.into()),
                    queue: Some("q".into()),
                },
            ]),
            ..Expect::default()
        };
        assert!(differences(&expect(r#"{ "b": [2], "a": 1 }"#, "not json"), &seen).is_empty());
        let found = differences(&expect(r#"{"a":2,"b":[2]}"#, "not  json"), &seen);
        assert_eq!(found.len(), 2, "{found:?}");
    }

    #[test]
    fn outcomes_match_by_kind_and_errors_by_message() {
        let permanent = Outcome::ListenerError {
            error: ErrorKind::Permanent,
            message: "missing required setting `to`".into(),
        };
        let seen = observed(&permanent, &[], &[]);
        let expect = |outcome, error: &str| Expect {
            outcome: Some(outcome),
            error: Some(error.into()),
            ..Expect::default()
        };
        let right = expect(ExpectedOutcome::Permanent, "missing required setting `to`");
        assert!(differences(&right, &seen).is_empty());
        let wrong = expect(ExpectedOutcome::Transient, "missing");
        assert_eq!(differences(&wrong, &seen).len(), 2);
        let fuel = observed(&Outcome::OutOfFuel, &[], &[]);
        let expect_fuel = Expect {
            outcome: Some(ExpectedOutcome::OutOfFuel),
            ..Expect::default()
        };
        assert!(differences(&expect_fuel, &fuel).is_empty());
        assert!(!differences(&expect_fuel, &seen).is_empty());
    }
}
