//! The sandbox: a guest that tries to read a file, open a TCP connection and read the
//! environment gets nothing, run through the real binary with a canary in its environment.

use crate::helpers::{self, fixture};
use std::io::ErrorKind;
use std::net::TcpListener;

const CANARY: &str = "WASM_LISTENERS_TEST_CANARY";
const CANARY_VALUE: &str = "canary-4f1d2c";

#[test]
fn probe_gets_no_file_no_socket_no_environment() {
    let socket = TcpListener::bind("127.0.0.1:0").unwrap();
    socket.set_nonblocking(true).unwrap();
    let address = socket.local_addr().unwrap().to_string();
    let out = helpers::bin()
        .env(CANARY, CANARY_VALUE)
        .arg("invoke")
        .arg(helpers::guest("sandbox-probe"))
        .arg("--event")
        .arg(fixture("record-create.json"))
        .args(["--setting", &format!("connect={address}")])
        .args(["--setting", &format!("env={CANARY}")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");

    assert!(text.contains("probe file: denied"), "{text}");
    assert!(!text.contains("root:"), "no line of /etc/passwd: {text}");
    assert!(text.contains("probe tcp: denied"), "{text}");
    assert!(text.contains("probe env: absent (0 vars)"), "{text}");
    assert!(!text.contains(CANARY_VALUE), "{text}");
    match socket.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the listener saw a connection: {other:?}"),
    }
}
