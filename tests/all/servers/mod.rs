//! Real servers started by the harness: Redis (one server, or a three-node cluster), an
//! SMTP server (aiosmtpd), and for the end-to-end suite PostgreSQL and Kinto.

pub mod kinto;
pub mod postgres;
pub mod redis;
pub mod redis_cluster;
pub mod smtp;

use std::net::{Ipv4Addr, TcpListener};
use std::process::Stdio;

/// A server's own output, shown only when `TEST_LOG` is set.
pub fn quiet() -> Stdio {
    if std::env::var_os("TEST_LOG").is_some() {
        Stdio::inherit()
    } else {
        Stdio::null()
    }
}

/// A port that was free a moment ago (bind port 0, note it, release it): also a port
/// nobody listens on, for tests of a dead server.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding 127.0.0.1:0");
    listener.local_addr().expect("a bound address").port()
}

/// The Python of the tests' tools (aiosmtpd, Kinto): `$WASM_LISTENERS_PYTHON` (`scripts/dev
/// test` sets it to the `.venv` it installs them into), else `<repo>/.venv/bin/python`, else
/// `python3`.
pub fn python() -> String {
    if let Ok(python) = std::env::var("WASM_LISTENERS_PYTHON") {
        return python;
    }
    let venv = crate::helpers::repo().join(".venv/bin/python");
    match venv.exists() {
        true => venv.display().to_string(),
        false => "python3".into(),
    }
}
