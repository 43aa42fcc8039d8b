//! `wasm-listeners invoke` and `wasm-listeners test` end to end, through the binary.

use crate::helpers::{self, fixture};

const ALICE: &str = "basicauth:afd289f70866c5056cfe30d1e03c16a329d0869745a0c26701bd8704f7dbff60";

fn invoke(guest: &str, event: &str, extra: &[&str]) -> (i32, String) {
    let out = helpers::bin()
        .arg("invoke")
        .arg(helpers::guest(guest))
        .arg("--event")
        .arg(fixture(event))
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap(), format!("{stdout}{stderr}"))
}

const EMAIL_SETTINGS: &[&str] = &[
    "--setting",
    "from=Kinto <kinto@example.org>",
    "--setting",
    "recipients=ops@example.org  admin@example.org",
];

#[test]
fn send_email_prints_the_tutorials_email() {
    let (code, out) = invoke("send-email", "record-create.json", EMAIL_SETTINGS);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("outcome: ok"), "{out}");
    assert!(out.contains("Subject: record created"), "{out}");
    assert!(out.contains(&format!("User id: {ALICE}")), "{out}");
    assert!(
        out.contains("To: ops@example.org, admin@example.org"),
        "{out}"
    );
}

/// A reader that has gone (`| head -1`) ends the command quietly: no panic.
#[test]
fn a_closed_standard_output_ends_the_command_quietly() {
    let mut child = helpers::bin()
        .arg("invoke")
        .arg(helpers::guest("send-email"))
        .arg("--event")
        .arg(fixture("record-create.json"))
        .args(EMAIL_SETTINGS)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Closed before the command prints anything: its first line meets a broken pipe.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}

#[test]
fn send_email_json_report() {
    let mut args = EMAIL_SETTINGS.to_vec();
    args.push("--json");
    let (code, out) = invoke("send-email", "account-create.json", &args);
    assert_eq!(code, 0, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(report["outcome"]["kind"], "ok");
    let call = &report["calls"][0];
    assert_eq!(call["emails"][0]["subject"], "account created");
    assert_eq!(
        call["emails"][0]["body"], "User id: None",
        "anonymous event"
    );
    assert!(call["fuel_consumed"].as_u64().unwrap() > 0);
    assert!(call["peak_memory_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn runaway_ends_out_of_fuel_with_a_failing_status() {
    let (code, out) = invoke(
        "runaway",
        "record-create.json",
        &["--fuel", "5000000", "--json"],
    );
    assert_eq!(code, 1, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["outcome"]["kind"], "out-of-fuel");
    assert_eq!(report["calls"][0]["fuel_consumed"], 5_000_000);
}

#[test]
fn queue_forward_records_the_kinto_redis_payload() {
    let (code, out) = invoke("queue-forward", "record-create.json", &["--json"]);
    assert_eq!(code, 0, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let push = &report["calls"][0]["queue_pushes"][0];
    assert_eq!(push["queue"], "eventqueue");
    let payload: serde_json::Value =
        serde_json::from_str(push["payload"].as_str().unwrap()).unwrap();
    let fixture: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("record-create.json")).unwrap()).unwrap();
    assert_eq!(payload, fixture[0]["payload"]);
}

#[test]
fn index_picks_an_event_of_a_list_and_bad_input_is_a_usage_error() {
    let (code, out) = invoke("queue-forward", "record-create.json", &["--index", "1"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("(after-commit)"),
        "the phase as the API prints it: {out}"
    );
    let (code, out) = invoke("queue-forward", "record-create.json", &["--index", "2"]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("holds 2 event(s)"), "{out}");
    let (code, out) = invoke("queue-forward", "README.md", &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("not JSON"), "{out}");
}

/// `wasm-listeners test` on a case file written into a temporary folder next to a copy of
/// the record-creation fixture.
fn test_cases(guest: &str, cases: &str, extra: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("record-create.json"),
        dir.path().join("events.json"),
    )
    .unwrap();
    let file = dir.path().join("cases.toml");
    std::fs::write(&file, cases).unwrap();
    let out = helpers::bin()
        .arg("test")
        .arg(helpers::guest(guest))
        .arg("--cases")
        .arg(&file)
        .args(extra)
        .env("WASM_LISTENERS_CACHE", dir.path().join("cache"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap(), format!("{stdout}{stderr}"))
}

const TWO_CASES: &str = r#"
[[case]]
name = "the email is as expected"
event = { fixture = "events.json" }
settings = { from = "postmaster@localhost", recipients = "ops@example.org" }
[case.expect]
outcome = "ok"
emails = [{ to = ["ops@example.org"], subject = "record created" }]

[[case]]
name = "a wrong expectation"
event = { fixture = "events.json" }
settings = { from = "postmaster@localhost", recipients = "ops@example.org" }
[case.expect]
outcome = "permanent"
emails = [{ subject = "record deleted" }]
pushes = []
"#;

#[test]
fn test_reports_each_case_and_fails_on_a_difference() {
    let (code, out) = test_cases("send-email", TWO_CASES, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("ok    the email is as expected\n"), "{out}");
    assert!(out.contains("FAIL  a wrong expectation\n"), "{out}");
    assert!(out.contains("outcome: expected permanent, got ok"), "{out}");
    assert!(
        out.contains(r#"email 1: subject: expected "record deleted", got "record created""#),
        "{out}"
    );
    assert!(out.ends_with("1 passed, 1 failed\n"), "{out}");

    let (code, out) = test_cases("send-email", TWO_CASES, &["--json"]);
    assert_eq!(code, 1, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (report["passed"].as_u64(), report["failed"].as_u64()),
        (Some(1), Some(1))
    );
    let emails = &report["cases"][0]["calls"][0]["emails"];
    assert_eq!(emails[0]["body"], format!("User id: {ALICE}"));
}

#[test]
fn test_refuses_a_bad_case_file_before_running_anything() {
    let unknown_key = "[[case]]\nname = \"x\"\nevent = { fixture = \"events.json\" }\n[case.expect]\noutcom = \"ok\"\n";
    let (code, out) = test_cases("send-email", unknown_key, &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("unknown field `outcom`"), "{out}");
    let missing_event = "[[case]]\nname = \"ok first\"\nevent = { fixture = \"events.json\" }\n[[case]]\nname = \"gone\"\nevent = { fixture = \"nope.json\" }\n";
    let (code, out) = test_cases("send-email", missing_event, &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("case `gone`: cannot read"), "{out}");
    assert!(!out.contains("ok first"), "nothing ran: {out}");
    let (code, out) = test_cases("send-email", "# no case\n", &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("holds no case"), "{out}");
    // Limits the runtime refuses, in the second case: the first does not run either.
    let no_fuel = "[[case]]\nname = \"ok first\"\nevent = { fixture = \"events.json\" }\n[[case]]\nname = \"no fuel\"\nevent = { fixture = \"events.json\" }\nlimits = { fuel = 0 }\n";
    let (code, out) = test_cases("send-email", no_fuel, &[]);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("case `no fuel`: "), "{out}");
    assert!(out.contains("nothing ran"), "{out}");
    assert!(!out.contains("ok first"), "nothing ran: {out}");
}
