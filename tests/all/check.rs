//! `wasm-listeners check`: each refusal names its problem; the examples pass.

use crate::helpers;
use std::path::Path;

/// A component exporting `export` as an instance with functions `funcs` (all `func()`),
/// and importing `imports` (empty instances).
pub fn component(export: &str, funcs: &[&str], imports: &[&str]) -> Vec<u8> {
    let imports: String = imports
        .iter()
        .map(|i| format!("(import \"{i}\" (instance))\n"))
        .collect();
    let funcs: String = funcs
        .iter()
        .map(|f| format!("(export \"{f}\" (func $f)) "))
        .collect();
    let text = format!(
        r#"(component
            {imports}
            (core module $m (func (export "f")))
            (core instance $i (instantiate $m))
            (func $f (canon lift (core func $i "f")))
            (instance $h {funcs})
            (export "{export}" (instance $h)))"#
    );
    wat::parse_str(text).expect("test component")
}

fn check(dir: &Path, name: &str, bytes: &[u8]) -> (i32, String) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    let out = helpers::bin().arg("check").arg(&path).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap(), text)
}

pub const HANDLER: &str = "wasm-listeners:listener/handler@0.1.0";
pub const FUNCS: &[&str] = &["handle", "validate-settings"];

#[test]
fn refusals_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("core.wasm", wat::parse_str("(module)").unwrap(), "core WebAssembly module, not a component"),
        ("text.wasm", b"hello".to_vec(), "not a WebAssembly file"),
        (
            "other-world.wasm",
            component("wasi:cli/run@0.2.0", &["run"], &[]),
            "does not export `wasm-listeners:listener/handler`, so it does not implement the `listener` world (it exports: wasi:cli/run@0.2.0)",
        ),
        (
            "future.wasm",
            component("wasm-listeners:listener/handler@0.2.0", FUNCS, &[]),
            "built for wasm-listeners:listener@0.2.0, this runtime supports wasm-listeners:listener@0.1.0",
        ),
        (
            "http.wasm",
            component(HANDLER, FUNCS, &["wasi:http/outgoing-handler@0.2.0"]),
            "imports `wasi:http/outgoing-handler@0.2.0`, which wasm-listeners does not provide",
        ),
        (
            "no-validate.wasm",
            component(HANDLER, &["handle"], &[]),
            "has no function `validate-settings`",
        ),
        (
            "bad-signature.wasm",
            component(HANDLER, FUNCS, &[]),
            "does not match the contract",
        ),
    ];
    for (name, bytes, expected) in cases {
        let (code, out) = check(dir.path(), name, &bytes);
        assert_eq!(code, 1, "{name}: {out}");
        assert!(
            out.contains(expected),
            "{name}: expected `{expected}` in: {out}"
        );
    }
}

/// The contract's interfaces each example imports (what it uses, as wit-bindgen keeps only
/// those), and WASI interfaces it must import besides the ones every Rust guest imports.
const EXAMPLE_IMPORTS: &[(&str, &[&str], &[&str])] = &[
    ("send-email", &["email", "log", "settings", "types"], &[]),
    ("queue-forward", &["queue", "log", "settings", "types"], &[]),
    ("runaway", &["log", "types"], &[]),
    (
        "sandbox-probe",
        &["log", "settings", "types"],
        &["wasi:filesystem/preopens@0.2.6", "wasi:sockets/tcp@0.2.6"],
    ),
];

#[test]
fn examples_pass_and_list_their_imports() {
    for (guest, contract, wasi) in EXAMPLE_IMPORTS {
        let out = helpers::bin()
            .arg("check")
            .arg(helpers::guest(guest))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{guest}: {text}");
        assert!(
            text.contains("implements wasm-listeners:listener@0.1.0"),
            "{text}"
        );
        let imports: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("  imports "))
            .collect();
        let mut listed: Vec<&str> = imports
            .iter()
            .filter_map(|i| i.strip_prefix("wasm-listeners:listener/"))
            .map(|i| i.trim_end_matches("@0.1.0"))
            .collect();
        listed.sort_unstable();
        let mut expected = contract.to_vec();
        expected.sort_unstable();
        assert_eq!(listed, expected, "{guest}'s contract imports: {text}");
        for wanted in wasi
            .iter()
            .chain(&["wasi:cli/stderr@0.2.6", "wasi:io/streams@0.2.6"])
        {
            assert!(imports.contains(wanted), "{guest} imports {wanted}: {text}");
        }
        let other = imports
            .iter()
            .find(|i| !i.starts_with("wasm-listeners:listener/") && !i.starts_with("wasi:"));
        assert_eq!(other, None, "{guest}: only the contract and WASI: {text}");
    }
}

#[test]
fn check_runs_validate_settings_when_given_settings() {
    let email = helpers::guest("send-email");
    let out = helpers::bin()
        .args(["check", "--setting", "from=kinto@example.org"])
        .arg(&email)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let first = text.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("refused: ") && first.contains("refused these settings"),
        "the refusal comes first: {text}"
    );
    assert!(
        first.contains("recipients"),
        "the error names the missing setting: {text}"
    );
    assert!(!text.contains("ok:"), "{text}");
    let accepted = helpers::bin()
        .args(["check", "--setting", "from=kinto@example.org"])
        .args(["--setting", "recipients=ops@example.org"])
        .arg(&email)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&accepted.stdout);
    assert_eq!(accepted.status.code(), Some(0), "{text}");
    assert!(
        text.starts_with("ok: ") && text.contains("accepts these settings"),
        "{text}"
    );
}

#[test]
fn missing_file_is_a_usage_error() {
    let out = helpers::bin()
        .args(["check", "/nonexistent.wasm"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent.wasm"));
}
