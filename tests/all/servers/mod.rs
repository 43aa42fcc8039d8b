//! Real servers started by the harness: Redis (one server, or a three-node cluster) and an
//! SMTP server (aiosmtpd).

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
