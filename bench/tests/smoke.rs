//! A smoke run of the benchmark command (`--quick`, the test profile, output in a temporary
//! folder): it builds and runs, every row is there, and the plots are PNGs. No figure is
//! checked: speed is for `scripts/dev bench`, not for tests.

use std::process::Command;

#[test]
fn the_benchmark_command_runs_every_row() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_wasm-listeners-bench"))
        .args(["--quick", "--out"])
        .arg(out_dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let report = std::fs::read_to_string(out_dir.path().join("BENCHMARKS.md")).unwrap();
    for row in [
        "engine: send-email, 1 concurrent call(s)",
        "engine: queue-forward, 2 concurrent call(s)",
        "engine: send-email, 2 concurrent calls against 1",
        "engine: queue-forward, the sandbox's price",
        "email: one sender",
        "email: 8 concurrent senders",
        "http: tutorial configuration, embedded defaults, 16 client(s)",
        "http: tutorial configuration, SMTP + Redis, 1 client(s)",
        "worker: kinto-redis entries, queue-forward",
        "worker: kinto-redis entries, queue-forward, calls_per_instance = 1000",
        "guests: send-email in JavaScript (QuickJS), 2 concurrent call(s)",
        "| queue-forward in Rust |",
        "| send-email in JavaScript (QuickJS) |",
        "| send-email in C |",
        "| queue-forward in Zig |",
        "guests: send-email in Zig, 1 concurrent call(s)",
        "uploads: sync events, 1 client, while a Rust send-email upload compiles",
    ] {
        assert!(report.contains(row), "{row} missing from:\n{report}");
    }
    assert!(report.contains("smoke run"), "{report}");
    for plot in ["benchmarks.png", "languages.png"] {
        let png = std::fs::read(out_dir.path().join(plot)).unwrap();
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{plot} is not a PNG");
    }
}
