//! `wasm-listeners invoke` end to end, through the binary.

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
