//! `serve`: the tutorial's listeners on the embedded defaults, verdicts and statuses, the
//! operator token, Kinto's listener filters, and bad input.

use crate::helpers::{self, fixture};
use crate::http::Server;
use serde_json::Value;
use std::path::Path;

const ALICE: &str = "basicauth:afd289f70866c5056cfe30d1e03c16a329d0869745a0c26701bd8704f7dbff60";

fn guest(name: &str) -> String {
    helpers::guest(name).display().to_string()
}

/// config/tutorial.toml with its component paths pointing at the built guests.
fn tutorial_config(data_dir: &Path) -> String {
    let text = std::fs::read_to_string(helpers::repo().join("config/tutorial.toml")).unwrap();
    text.replace(
        "../examples/target/wasm32-wasip2/release",
        &helpers::guest("x").parent().unwrap().display().to_string(),
    )
    .replace(
        "data_dir = \"../data\"",
        &format!("data_dir = {:?}", data_dir.display().to_string()),
    )
}

fn misbehave(name: &str, mode: &str, extra: &str) -> String {
    format!(
        "[[listener]]\nname = \"{name}\"\ncomponent = {:?}\n{extra}\n[listener.settings]\nmode = \"{mode}\"\n",
        guest("misbehave")
    )
}

#[tokio::test]
async fn tutorial_listeners_write_the_email_to_the_outbox_and_queue_the_payload() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(dir.path(), &tutorial_config(&data))
        .await
        .unwrap();
    let body = std::fs::read(fixture("record-create.json")).unwrap();
    let (status, answer) = server.post_events(body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["verdict"], "ok");
    let before = &answer["events"][0];
    assert_eq!(before["phase"], "before-commit");
    let names: Vec<&str> = before["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["send_email", "redis"]);
    assert_eq!(before["listeners"][0]["outcome"]["kind"], "ok");
    assert_eq!(before["listeners"][0]["emails"], 1);
    assert!(before["listeners"][0]["fuel_consumed"].as_u64().unwrap() > 0);
    let after = &answer["events"][1];
    assert_eq!(after["phase"], "after-commit");
    assert_eq!(
        after["listeners"],
        Value::Array(vec![]),
        "after commit: async listeners only"
    );

    let outbox: Vec<_> = std::fs::read_dir(data.join("outbox"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(outbox.len(), 1, "{outbox:?}");
    let eml = crate::servers::smtp::readable(&std::fs::read_to_string(&outbox[0]).unwrap());
    assert!(eml.contains("Subject: record created"), "{eml}");
    assert!(eml.contains(&format!("User id: {ALICE}")), "{eml}");
    assert!(eml.contains("To: kinto@yopmail.com"), "{eml}");

    let out = helpers::bin()
        .args(["queue", "pop", "eventqueue", "--config"])
        .arg(dir.path().join("wasm-listeners.toml"))
        .output()
        .unwrap();
    let popped: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    let fixture: Value =
        serde_json::from_slice(&std::fs::read(fixture("record-create.json")).unwrap()).unwrap();
    assert_eq!(popped, fixture[0]["payload"]);
    server.stop().await.unwrap();
}

#[tokio::test]
async fn a_permanent_failure_stops_the_run_and_answers_422_transient_503() {
    let dir = tempfile::tempdir().unwrap();
    let config = [
        misbehave("first", "fail-permanent", ""),
        misbehave("second", "ok", ""),
    ]
    .concat();
    let server = Server::start(dir.path(), &config).await.unwrap();
    let event = helpers::fixture_event("record-create.json", 0);
    let body = serde_json::to_vec(&event.event.to_kinto_value(event.phase)).unwrap();
    let (status, answer) = server.post_events(body.clone()).await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["verdict"], "permanent-failure");
    let listeners = answer["events"][0]["listeners"].as_array().unwrap();
    assert_eq!(
        listeners.len(),
        1,
        "the second listener did not run: {answer}"
    );
    assert_eq!(listeners[0]["outcome"]["error"], "permanent");
    drop(server);

    let dir = tempfile::tempdir().unwrap();
    let config = [
        misbehave("first", "fail-transient", ""),
        misbehave("second", "ok", ""),
    ]
    .concat();
    let server = Server::start(dir.path(), &config).await.unwrap();
    let (status, answer) = server.post_events(body).await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(
        answer["events"][0]["listeners"][1]["outcome"]["kind"], "ok",
        "the run went on"
    );
}

#[tokio::test]
async fn the_operator_token_guards_ingestion_when_set() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[server]\noperator_token = \"s3cret\"\n{}",
        misbehave("a", "ok", "")
    );
    let server = Server::start(dir.path(), &config).await.unwrap();
    let body = std::fs::read(fixture("record-create.json")).unwrap();
    let (status, text) = server
        .request("POST", "/v1/events", &[], body.clone())
        .await;
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("Authorization: Bearer"), "{text}");
    let wrong = [("Authorization", "Bearer s3creT")];
    assert_eq!(
        server
            .request("POST", "/v1/events", &wrong, body.clone())
            .await
            .0,
        401
    );
    let right = [("Authorization", "Bearer s3cret")];
    assert_eq!(
        server.request("POST", "/v1/events", &right, body).await.0,
        200
    );
    assert_eq!(server.request("GET", "/healthz", &[], vec![]).await.0, 200);
}

#[tokio::test]
async fn refuses_to_start_naming_the_listener() {
    let dir = tempfile::tempdir().unwrap();
    let bad = "[[listener]]\nname = \"broken\"\ncomponent = \"nowhere.wasm\"\n";
    let e = Server::start(dir.path(), bad).await.err().unwrap();
    assert!(format!("{e:#}").contains("listener `broken`"), "{e:#}");
    let settings = format!(
        "[[listener]]\nname = \"mailer\"\ncomponent = {:?}\n",
        guest("send-email")
    );
    let e = Server::start(dir.path(), &settings).await.err().unwrap();
    let e = format!("{e:#}");
    assert!(
        e.contains("listener `mailer`") && e.contains("settings were refused"),
        "{e}"
    );
}

/// `serve` refuses, before loading anything, a limit wasmtime would refuse or ignore,
/// naming the listener and the key.
#[test]
fn a_zero_fuel_yield_interval_is_refused_at_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wasm-listeners.toml");
    let text = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n{}[listener.limits]\nfuel_yield_interval = 0\n",
        misbehave("spinner", "ok", "")
    );
    std::fs::write(&file, text).unwrap();
    let mut child = helpers::bin()
        .args(["serve", "--config"])
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            panic!("serve started with fuel_yield_interval = 0");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("listener `spinner`: limits.fuel_yield_interval = 0"),
        "{stderr}"
    );
}

/// kinto.ini's `capture` (create update delete read) and `capture_filtered` (`.actions =
/// delete`, `.resources = record collection`) as TOML: over every event the listener API
/// delivered in the core suite, the filtered one gets exactly filtered-listener-events.json.
#[tokio::test]
async fn kinto_ini_filters_as_toml_select_the_same_events_as_kinto() {
    let dir = tempfile::tempdir().unwrap();
    let config = [
        misbehave(
            "capture",
            "ok",
            "actions = [\"create\", \"update\", \"delete\", \"read\"]",
        ),
        misbehave(
            "capture_filtered",
            "ok",
            "actions = [\"delete\"]\nresources = [\"record\", \"collection\"]",
        ),
    ]
    .concat();
    let server = Server::start(dir.path(), &config).await.unwrap();
    let scenarios: Value =
        serde_json::from_slice(&std::fs::read(fixture("scenarios.json")).unwrap()).unwrap();
    let mut filtered = Vec::new();
    let mut delivered = 0;
    for scenario in scenario_names(&scenarios) {
        let events: Value =
            serde_json::from_slice(&std::fs::read(fixture(&format!("{scenario}.json"))).unwrap())
                .unwrap();
        for event in events.as_array().unwrap() {
            let class = event["event_class"].as_str().unwrap();
            if class.starts_with("After") {
                continue; // the listener API never receives the After* classes
            }
            let (status, answer) = server.post_events(serde_json::to_vec(event).unwrap()).await;
            assert_eq!(status, 200, "{answer}");
            delivered += 1;
            let ran: Vec<&str> = answer["events"][0]["listeners"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["name"].as_str().unwrap())
                .collect();
            assert_eq!(ran[0], "capture", "capture takes every action: {answer}");
            if ran.contains(&"capture_filtered") {
                filtered.push((scenario.clone(), strip(event)));
            }
        }
    }
    let expected: Value =
        serde_json::from_slice(&std::fs::read(fixture("filtered-listener-events.json")).unwrap())
            .unwrap();
    let expected: Vec<(String, Value)> = expected
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| {
            let name = s["scenario"].as_str().unwrap().to_owned();
            s["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |e| (name.clone(), strip(e)))
        })
        .collect();
    assert_eq!(
        delivered,
        before_commit_events(&scenarios),
        "the core suite's ResourceChanged/ResourceRead events"
    );
    assert!(!expected.is_empty());
    assert_eq!(filtered, expected);
}

/// The events of the index's scenarios that are not `After*` classes, as the index counts
/// them.
fn before_commit_events(index: &Value) -> usize {
    let scenarios = index["scenarios"].as_array().unwrap().iter();
    let classes = scenarios.flat_map(|s| s["event_classes"].as_array().unwrap());
    classes
        .filter(|c| !c.as_str().unwrap().starts_with("After"))
        .count()
}

fn scenario_names(index: &Value) -> Vec<String> {
    let list = index["scenarios"].as_array().unwrap();
    list.iter()
        .map(|s| s["scenario"].as_str().unwrap().to_owned())
        .collect()
}

fn strip(event: &Value) -> Value {
    let mut event = event.clone();
    event.as_object_mut().unwrap().remove("_capture");
    event
}

#[tokio::test]
async fn bad_input_answers_4xx_naming_the_problem_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[server]\nmax_body_bytes = 65536\n{}",
        misbehave("a", "ok", "")
    );
    let server = Server::start(dir.path(), &config).await.unwrap();
    let good = std::fs::read(fixture("record-create.json")).unwrap();
    let payload = |f: &dyn Fn(&mut Value)| {
        let mut v: Value =
            serde_json::from_slice(&std::fs::read(fixture("record-create.json")).unwrap()).unwrap();
        f(&mut v[0]["payload"]);
        serde_json::to_vec(&v[0]).unwrap()
    };
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000)).into_bytes();
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("not JSON", b"{not json".to_vec(), 400, "not JSON"),
        ("wrong shape", b"42".to_vec(), 400, "expected a JSON object"),
        (
            "unknown action",
            payload(&|p| p["action"] = "explode".into()),
            400,
            "explode",
        ),
        (
            "missing resource_name",
            payload(&|p| {
                p.as_object_mut().unwrap().remove("resource_name");
            }),
            400,
            "resource_name",
        ),
        ("oversized body", vec![b' '; 100_000], 413, "65536 bytes"),
        ("nesting 10,000 deep", deep, 400, "recursion limit"),
    ];
    for (what, body, status, needle) in cases {
        let (got, text) = server.request("POST", "/v1/events", &[], body).await;
        assert_eq!(got, status, "{what}: {text}");
        assert!(text.contains(needle), "{what}: `{needle}` not in {text}");
        assert_eq!(
            server.request("GET", "/healthz", &[], vec![]).await.0,
            200,
            "after {what}"
        );
    }
    let (status, answer) = server.post_events(good).await;
    assert_eq!(status, 200, "still serving: {answer}");
}
