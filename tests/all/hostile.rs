//! Hostile components.
//!
//! - Every trigger of the advisories fixed in wasmtime 48.0.9 runs in a child process
//!   (`wasm-listeners invoke` or `check`), so that an abort of the host is seen as one: the
//!   non-final function type reached by each of the four instructions (GHSA-rc4p-x33f-vpr2,
//!   refused since the engine pins its proposals), atomic wait and notify (threads:
//!   refused), and empty writes to every output a guest has (stdout, stderr, `log`).
//! - Every refused proposal is refused by `check`, naming it.
//! - Every per-call host bound holds, and the call ends with its typed outcome.

use crate::components::{component_in, listener, Data, World, OK, RET};
use crate::helpers::{self, delivery, fixture, fixture_event, Recorder};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Output;
use wasm_listeners::{CallReport, Capabilities, HostLimit, Listener, ListenerSpec, Outcome, Part};

/// Runs the binary with `args`, the component `bytes` written to a file as the argument
/// after the command.
fn child(command: &str, bytes: &[u8], args: &[&str]) -> (Output, String) {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("hostile.wasm");
    std::fs::write(&path, bytes).unwrap();
    let out = helpers::bin()
        .arg(command)
        .arg(&path)
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // An abort (SIGABRT) or any other signal: the host process died under the guest.
    assert_eq!(
        out.status.signal(),
        None,
        "the child was killed by a signal ({:?}): {text}",
        out.status
    );
    (out, text)
}

/// `invoke`s `bytes` on the record-creation event, with `args`, in a child.
fn invoke(bytes: &[u8], args: &[&str]) -> (Output, String) {
    let event = fixture("record-create.json");
    let mut all = vec!["--event", event.to_str().unwrap()];
    all.extend_from_slice(args);
    child("invoke", bytes, &all)
}

/// The JSON report of an `invoke --json` that ran.
fn report(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Asserts that a child refused the component for using `proposal`.
fn refused_for(out: &Output, text: &str, proposal: &str) {
    assert_ne!(out.status.code(), Some(0), "{text}");
    let named = format!("uses the WebAssembly `{proposal}` proposal");
    assert!(text.contains(&named), "expected {named:?}: {text}");
}

// ---------------------------------------------------------------------------------------
// GHSA-rc4p-x33f-vpr2: a non-final function type reached by a runtime subtype check.

/// A non-final function type `$sub`, a subtype `$sub2` of it, and a function of `$sub2` in
/// slot 0 of a table: what each instruction checks at run time.
const NON_FINAL: &str = "
  (type $sub (sub (func)))
  (type $sub2 (sub $sub (func)))
  (func $target (type $sub2))
  (table $t 1 funcref)
  (elem (table $t) (i32.const 0) func $target)";

/// A listener whose `handle` runs `instruction` (on the table's function) before `ok`.
fn non_final(instruction: &str) -> Vec<u8> {
    let body = format!("{instruction} (i32.const {OK})");
    component_in(World::Listener, NON_FINAL, &Data::default(), &body)
}

const CALL_INDIRECT: &str = "(call_indirect $t (type $sub) (i32.const 0))";
const REF_TEST: &str = "(drop (ref.test (ref $sub) (table.get $t (i32.const 0))))";
const REF_CAST: &str = "(drop (ref.cast (ref $sub) (table.get $t (i32.const 0))))";
const BR_ON_CAST: &str = "(drop (block $hit (result (ref $sub))
    (drop (br_on_cast $hit funcref (ref $sub) (table.get $t (i32.const 0))))
    (unreachable)))";

fn gc_trigger_is_refused(instruction: &str) {
    let (out, text) = invoke(&non_final(instruction), &["--json"]);
    refused_for(&out, &text, "gc");
}

#[test]
fn a_non_final_type_reached_by_call_indirect_is_refused() {
    gc_trigger_is_refused(CALL_INDIRECT);
}

#[test]
fn a_non_final_type_reached_by_ref_test_is_refused() {
    gc_trigger_is_refused(REF_TEST);
}

#[test]
fn a_non_final_type_reached_by_ref_cast_is_refused() {
    gc_trigger_is_refused(REF_CAST);
}

#[test]
fn a_non_final_type_reached_by_br_on_cast_is_refused() {
    gc_trigger_is_refused(BR_ON_CAST);
}

/// The same call in a core module's start function ran during `check` itself.
#[test]
fn a_non_final_type_reached_from_a_start_function_is_refused_by_check() {
    let fields = format!("{NON_FINAL} (func $start {CALL_INDIRECT}) (start $start)");
    let bytes = component_in(World::Listener, &fields, &Data::default(), "(i32.const 0)");
    let (out, text) = child("check", &bytes, &[]);
    refused_for(&out, &text, "gc");
}

// ---------------------------------------------------------------------------------------
// Atomic wait and notify (the threads proposal).

#[test]
fn atomic_notify_is_refused() {
    let bytes = component_in(
        World::Listener,
        "",
        &Data::default(),
        &format!("(drop (memory.atomic.notify (i32.const 0) (i32.const 1))) (i32.const {OK})"),
    );
    let (out, text) = invoke(&bytes, &[]);
    refused_for(&out, &text, "threads");
}

#[test]
fn atomic_wait_is_refused() {
    let body = format!(
        "(drop (memory.atomic.wait32 (i32.const 0) (i32.const 0) (i64.const 0))) (i32.const {OK})"
    );
    let bytes = component_in(World::Listener, "", &Data::default(), &body);
    let (out, text) = invoke(&bytes, &[]);
    refused_for(&out, &text, "threads");
}

// ---------------------------------------------------------------------------------------
// Empty writes to every output a guest has.

const STREAMS: &str = r#"
  (import "wasi:cli/stdout@0.2.0" "get-stdout" (func $get_stdout (result i32)))
  (import "wasi:cli/stderr@0.2.0" "get-stderr" (func $get_stderr (result i32)))
  (import "wasi:io/streams@0.2.0" "[method]output-stream.write"
    (func $write (param i32 i32 i32 i32)))
  (import "wasi:io/streams@0.2.0" "[method]output-stream.blocking-write-and-flush"
    (func $write_and_flush (param i32 i32 i32 i32)))
  (import "wasi:io/streams@0.2.0" "[resource-drop]output-stream"
    (func $drop_stream (param i32)))
  (import "wasm-listeners:listener/log@0.1.0" "log" (func $log (param i32 i32 i32)))"#;

/// `times` empty writes of each kind to `stream`, which it then drops.
fn empty_writes(times: u32) -> String {
    let ret = RET;
    format!(
        "(func $empty_writes (param $stream i32) (local $i i32)
          (loop $again
            (call $write (local.get $stream) (i32.const 0) (i32.const 0) (i32.const {ret}))
            (call $write_and_flush (local.get $stream) (i32.const 0) (i32.const 0) (i32.const {ret}))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $again (i32.lt_u (local.get $i) (i32.const {times}))))
          (call $drop_stream (local.get $stream)))
        (func $empty_logs (local $i i32)
          (loop $again
            (call $log (i32.const 2) (i32.const 0) (i32.const 0))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $again (i32.lt_u (local.get $i) (i32.const {times})))))"
    )
}

#[test]
fn empty_writes_to_stdout_stderr_and_the_log_end_the_call_normally() {
    let fields = format!("{STREAMS} {}", empty_writes(5_000));
    let body = format!(
        "(call $empty_writes (call $get_stdout))
         (call $empty_writes (call $get_stderr))
         (call $empty_logs)
         (i32.const {OK})"
    );
    let bytes = component_in(World::WithWasi, &fields, &Data::default(), &body);
    let (out, text) = invoke(&bytes, &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let report = report(&text);
    assert_eq!(report["outcome"]["kind"], "ok", "{text}");
    let call = &report["calls"][0];
    // Empty stdio writes make no line; 5,000 empty log lines keep the line cap.
    assert_eq!(call["log"].as_array().unwrap().len(), 1_000, "{text}");
    assert_eq!(call["log_truncated"], true);
}

// ---------------------------------------------------------------------------------------
// Refused proposals: `check` names each.

/// A component holding one core module of `fields`.
fn module_component(fields: &str) -> Vec<u8> {
    wat::parse_str(format!("(component (core module {fields}))")).expect("proposal WAT")
}

macro_rules! refused_proposal {
    ($test:ident, $proposal:literal, $wat:expr) => {
        #[test]
        fn $test() {
            let (out, text) = child("check", &$wat, &[]);
            refused_for(&out, &text, $proposal);
        }
    };
}

refused_proposal!(
    relaxed_simd_is_refused,
    "relaxed-simd",
    module_component("(func (result v128) (i32x4.relaxed_trunc_f32x4_s (v128.const i64x2 0 0)))")
);
refused_proposal!(
    gc_is_refused,
    "gc",
    module_component("(type (struct (field i32))) (func (drop (struct.new_default 0)))")
);
refused_proposal!(
    function_references_are_refused,
    "function-references",
    module_component(
        "(type $f (func)) (func $g (type $f)) (elem declare func $g)
         (func (call_ref $f (ref.func $g)))"
    )
);
refused_proposal!(
    exceptions_are_refused,
    "exceptions",
    module_component("(tag $e) (func (throw $e))")
);
refused_proposal!(
    legacy_exceptions_are_refused,
    "legacy-exceptions",
    module_component("(tag $e) (func try nop catch $e end)")
);
refused_proposal!(
    threads_are_refused,
    "threads",
    module_component("(memory 1 1 shared)")
);
refused_proposal!(
    memory64_is_refused,
    "memory64",
    module_component("(memory i64 1)")
);
refused_proposal!(
    simd_is_refused,
    "simd",
    module_component("(func (result v128) (v128.const i64x2 0 0))")
);
refused_proposal!(
    tail_calls_are_refused,
    "tail-call",
    module_component("(func $f (return_call $f))")
);
refused_proposal!(
    custom_page_sizes_are_refused,
    "custom-page-sizes",
    module_component("(memory 1 (pagesize 1))")
);
refused_proposal!(
    wide_arithmetic_is_refused,
    "wide-arithmetic",
    module_component(
        "(func (param i64 i64 i64 i64) (result i64 i64)
           (i64.add128 (local.get 0) (local.get 1) (local.get 2) (local.get 3)))"
    )
);
refused_proposal!(
    stack_switching_is_refused,
    "stack-switching",
    module_component("(type $f (func)) (type $c (cont $f))")
);
refused_proposal!(
    component_model_async_is_refused,
    "component-model-async",
    wat::parse_str("(component (core func (canon task.cancel)))").expect("async WAT")
);

// ---------------------------------------------------------------------------------------
// Per-call host bounds.

const LOG: &str =
    r#"(import "wasm-listeners:listener/log@0.1.0" "log" (func $log (param i32 i32 i32)))"#;
const PUSH: &str = r#"(import "wasm-listeners:listener/queue@0.1.0" "push"
    (func $push (param i32 i32 i32 i32 i32)))"#;

/// Logs empty lines until its fuel runs out.
pub fn empty_log_flood() -> Vec<u8> {
    let body = "(loop $again (call $log (i32.const 2) (i32.const 0) (i32.const 0)) (br $again))
        (i32.const 0)";
    component_in(World::Listener, LOG, &Data::default(), body)
}

/// Logs `lines` empty lines, then returns `ok`.
fn empty_lines(lines: u32) -> Vec<u8> {
    let body = format!(
        "(block $done (loop $again
           (br_if $done (i32.eqz (global.get $left)))
           (call $log (i32.const 2) (i32.const 0) (i32.const 0))
           (global.set $left (i32.sub (global.get $left) (i32.const 1)))
           (br $again)))
         (i32.const {OK})"
    );
    let fields = format!("{LOG} (global $left (mut i32) (i32.const {lines}))");
    component_in(World::Listener, &fields, &Data::default(), &body)
}

/// Pushes a payload of `payload_bytes` onto queue `flood` until something stops it.
pub fn push_flood(payload_bytes: usize) -> Vec<u8> {
    let mut data = Data::default();
    let (name, name_len) = data.bytes(b"flood");
    let (payload, len) = data.bytes(&vec![b'x'; payload_bytes]);
    let body = format!(
        "(loop $again
           (call $push (i32.const {name}) (i32.const {name_len}) (i32.const {payload})
             (i32.const {len}) (i32.const {RET}))
           (br $again))
         (i32.const 0)"
    );
    component_in(World::Listener, PUSH, &data, &body)
}

/// Hands the host one `log` line of `mib` MiB of NUL characters, in pages it grows for them.
fn huge_log_line(mib: u32) -> Vec<u8> {
    let pages = mib * 16;
    let body = format!(
        "(call $log (i32.const 2)
           (i32.mul (memory.grow (i32.const {pages})) (i32.const 65536))
           (i32.const {len}))
         (i32.const {OK})",
        len = mib << 20
    );
    component_in(World::Listener, LOG, &Data::default(), &body)
}

/// Opens stdout `times` times without closing it, then returns `ok`.
fn handle_hoarder(times: u32) -> Vec<u8> {
    let fields = format!(
        r#"(import "wasi:cli/stdout@0.2.0" "get-stdout" (func $get_stdout (result i32)))
        (global $left (mut i32) (i32.const {times}))"#
    );
    let body = format!(
        "(block $done (loop $again
           (br_if $done (i32.eqz (global.get $left)))
           (drop (call $get_stdout))
           (global.set $left (i32.sub (global.get $left) (i32.const 1)))
           (br $again)))
         (i32.const {OK})"
    );
    component_in(World::WithWasi, &fields, &Data::default(), &body)
}

/// Asks `wasi:random` for `bytes` bytes once.
fn random_bytes(bytes: u64) -> Vec<u8> {
    let fields =
        r#"(import "wasi:random/random@0.2.0" "get-random-bytes" (func $random (param i64 i32)))"#;
    let body = format!("(call $random (i64.const {bytes}) (i32.const {RET})) (i32.const {OK})");
    component_in(World::WithWasi, fields, &Data::default(), &body)
}

async fn call(listener: &Listener) -> CallReport {
    let incoming = fixture_event("record-create.json", 0);
    let delivery = delivery(&incoming);
    listener.call(&incoming.event, &delivery, Part::WHOLE).await
}

async fn hostile(bytes: &[u8], spec: ListenerSpec, capabilities: Capabilities) -> Listener {
    listener(&helpers::engine(), bytes, spec, capabilities).await
}

fn host_limit(limit: HostLimit) -> Outcome {
    Outcome::HostLimit { limit }
}

#[tokio::test]
async fn an_empty_log_flood_keeps_the_line_cap() {
    let mut spec = helpers::open_spec("flood", &[]);
    spec.limits.fuel = 2_000_000;
    let flood = hostile(&empty_log_flood(), spec, Capabilities::record_only()).await;
    let report = call(&flood).await;
    assert_eq!(report.outcome, Outcome::OutOfFuel);
    assert_eq!(report.log.len(), flood.limits().log_capture_lines);
    assert!(report.log_truncated);
}

#[tokio::test]
async fn a_push_flood_ends_at_the_push_bound_and_no_push_past_it_reaches_the_backend() {
    let recorder = Recorder::default();
    let mut spec = helpers::open_spec("flood", &[]);
    spec.limits.max_queue_pushes = 250;
    let flood = hostile(&push_flood(1024), spec, recorder.capabilities()).await;
    let report = call(&flood).await;
    assert_eq!(report.outcome, host_limit(HostLimit::QueuePushes));
    assert_eq!(report.queue_pushes.len(), 250);
    assert_eq!(recorder.pushes.lock().unwrap().len(), 250);
    assert!(!report.outcome.is_retryable());
}

#[tokio::test]
async fn a_push_flood_ends_at_the_byte_bound() {
    let recorder = Recorder::default();
    let mut spec = helpers::open_spec("flood", &[]);
    spec.limits.max_queue_bytes = 10 * 1024;
    let flood = hostile(&push_flood(1024), spec, recorder.capabilities()).await;
    let report = call(&flood).await;
    assert_eq!(report.outcome, host_limit(HostLimit::QueueBytes));
    assert_eq!(recorder.pushes.lock().unwrap().len(), 10);
}

/// Under `spec`, the component `within` a bound ends `ok` and the component `over` it ends
/// with `limit`.
async fn bound_holds(spec: ListenerSpec, within: Vec<u8>, over: Vec<u8>, limit: HostLimit) {
    let fine = hostile(&within, spec.clone(), Capabilities::record_only()).await;
    assert_eq!(call(&fine).await.outcome, Outcome::Ok);
    let greedy = hostile(&over, spec, Capabilities::record_only()).await;
    let report = call(&greedy).await;
    assert_eq!(report.outcome, host_limit(limit), "{report:?}");
}

#[tokio::test]
async fn a_string_over_the_hostcall_bound_ends_the_call() {
    let spec = helpers::open_spec("huge", &[]);
    let (within, over) = (huge_log_line(1), huge_log_line(8));
    bound_holds(spec, within, over, HostLimit::HostcallBytes).await;
}

#[tokio::test]
async fn hoarding_handles_ends_at_the_handle_bound() {
    let mut spec = helpers::open_spec("hoard", &[]);
    spec.limits.max_handles = 100;
    let (within, over) = (handle_hoarder(90), handle_hoarder(500));
    bound_holds(spec, within, over, HostLimit::Handles).await;
}

#[tokio::test]
async fn asking_for_too_many_random_bytes_ends_the_call() {
    let spec = helpers::open_spec("random", &[]);
    let (within, over) = (random_bytes(1024), random_bytes(2 << 20));
    bound_holds(spec, within, over, HostLimit::RandomBytes).await;
}

#[test]
fn floods_end_capped_on_invoke() {
    let (_, text) = invoke(&push_flood(1024), &["--json"]);
    let pushes = report(&text);
    assert_eq!(pushes["outcome"]["kind"], "host-limit", "{text}");
    assert_eq!(pushes["outcome"]["limit"], "queue-pushes", "{text}");
    let call = &pushes["calls"][0];
    assert_eq!(call["queue_pushes"].as_array().unwrap().len(), 1_000);

    let (_, text) = invoke(&empty_log_flood(), &["--json", "--fuel", "2000000"]);
    let logs = report(&text);
    assert_eq!(logs["outcome"]["kind"], "out-of-fuel", "{text}");
    let call = &logs["calls"][0];
    assert_eq!(call["log"].as_array().unwrap().len(), 1_000);
    assert_eq!(call["log_truncated"], true);
}

#[tokio::test]
async fn floods_end_capped_on_serve_and_the_store_holds_only_what_the_bound_let_through() {
    let dir = tempfile::tempdir().unwrap();
    let pushes = dir.path().join("pushes.wasm");
    std::fs::write(&pushes, push_flood(1024)).unwrap();
    let logs = dir.path().join("logs.wasm");
    std::fs::write(&logs, empty_lines(50_000)).unwrap();
    let data = dir.path().join("data");
    let config = format!(
        "[server]\ndata_dir = {data:?}\n[invocations]\nlog_bytes = 1048576\n
[[listener]]\nname = \"logs\"\ncomponent = {logs:?}\n
[[listener]]\nname = \"pushes\"\ncomponent = {pushes:?}\n[listener.queue]\nallowed = [\"flood\"]
[listener.limits]\nmax_queue_pushes = 5\n"
    );
    let server = crate::http::Server::start(dir.path(), &config)
        .await
        .unwrap();
    let body = std::fs::read(fixture("record-create.json")).unwrap();
    let (status, answer) = server.post_events(body).await;
    // A host limit is not retryable: the request fails as a permanent failure.
    assert_eq!(status, 422, "{answer}");
    let listeners = &answer["events"][0]["listeners"];
    assert_eq!(listeners[0]["outcome"]["kind"], "ok", "{answer}");
    assert_eq!(listeners[1]["outcome"]["kind"], "host-limit", "{answer}");
    assert_eq!(listeners[1]["outcome"]["limit"], "queue-pushes", "{answer}");
    assert_eq!(listeners[1]["queue_pushes"], 5, "{answer}");
    // The invocation log keeps the call's captured log: the line cap held.
    let record = logs_record(&server).await;
    assert_eq!(record["log"].as_str().unwrap().lines().count(), 1_000);
    assert_eq!(record["log_cut"], true);
    server.stop().await.unwrap();

    let config_path = dir.path().join("wasm-listeners.toml");
    let out = helpers::bin()
        .args(["queue", "len", "flood", "--config"])
        .arg(&config_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.trim(),
        "5",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The invocation record of listener `logs`, once the log's writer (which batches records
/// off the calls' path) has written it.
async fn logs_record(server: &crate::http::Server) -> serde_json::Value {
    for _ in 0..500 {
        let path = "/v1/invocations?listener=logs";
        let (status, text) = server.request("GET", path, &[], Vec::new()).await;
        assert_eq!(status, 200, "{text}");
        let found: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
        if let Some(record) = found.into_iter().next() {
            return record;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no invocation record of `logs` after 500 looks");
}

// ---------------------------------------------------------------------------------------
// The host's memory under hostile calls, measured in a child process of its own: this
// test binary run on one test, `hostile::memory_child`, so that no other test's memory
// counts.

/// Peak resident memory allowed during one hostile call above the idle figure: the call's
/// own records (1,000 pushes of 1 KiB, 1,000 log lines, a 4 MiB host-call copy) and
/// allocator slack.
const PEAK_OVER_IDLE: u64 = 48 << 20;
/// Resident memory allowed to stay after 1,000 hostile calls.
const GROWTH_AFTER_CALLS: u64 = 16 << 20;

#[test]
fn hostile_calls_keep_the_host_memory_bounded() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "hostile::memory_child",
            "--ignored",
            "--nocapture",
        ])
        .env("WASM_LISTENERS_MEMORY_CHILD", "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "the child ran no test: {text}");
}

/// `VmRSS` or `VmHWM` of this process, in bytes.
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib << 10
}

/// Starts measuring the peak afresh (`VmHWM` back to the current `VmRSS`).
fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "run by hostile_calls_keep_the_host_memory_bounded, alone in a child"]
async fn memory_child() {
    assert!(std::env::var_os("WASM_LISTENERS_MEMORY_CHILD").is_some());
    let engine = helpers::engine();
    // Fuel for millions of host calls: only the host bounds end these calls early.
    let mut spec = helpers::open_spec("hostile", &[]);
    spec.limits.fuel = 20_000_000;
    let mut hostile = Vec::new();
    for bytes in [push_flood(1024), empty_log_flood(), huge_log_line(8)] {
        let caps = Capabilities::record_only();
        hostile.push(listener(&engine, &bytes, spec.clone(), caps).await);
    }
    // The same empty-log flood on less fuel, for the 1,000 calls (~30,000 host calls each).
    spec.limits.fuel = 200_000;
    let flood = empty_log_flood();
    let short_logs = listener(&engine, &flood, spec, Capabilities::record_only()).await;
    // Warm: every path allocated once.
    for l in &hostile {
        call(l).await;
    }
    let idle = status_bytes("VmRSS:");
    reset_peak();
    let mut peak = 0;
    for l in &hostile {
        let report = call(l).await;
        assert!(!report.outcome.is_ok(), "{:?}", report.outcome);
        peak = peak.max(status_bytes("VmHWM:"));
    }
    println!(
        "idle {} MiB, peak during a call {} MiB",
        idle >> 20,
        peak >> 20
    );
    assert!(
        peak <= idle + PEAK_OVER_IDLE,
        "peak {peak} against idle {idle}"
    );
    let before = status_bytes("VmRSS:");
    let calls = [&hostile[0], &short_logs, &hostile[2]];
    for i in 0..1_000 {
        call(calls[i % calls.len()]).await;
    }
    let after = status_bytes("VmRSS:");
    println!(
        "before {} MiB, after 1,000 calls {} MiB",
        before >> 20,
        after >> 20
    );
    assert!(
        after <= before + GROWTH_AFTER_CALLS,
        "after {after} against before {before}"
    );
}

/// The other advisories of wasmtime 48.0.9 need what this build leaves out: wasmtime's
/// `gc`, `threads` and `component-model-async` features, an HTTP/2 stack, wasmtime-wasi-http.
#[test]
fn the_features_the_other_advisories_need_stay_off() {
    let manifest = std::fs::read_to_string(helpers::repo().join("runtime/Cargo.toml")).unwrap();
    let wasmtime = manifest
        .lines()
        .skip_while(|l| !l.starts_with("wasmtime = "))
        .take_while(|l| !l.starts_with("wasmtime-wasi"))
        .collect::<String>();
    assert!(wasmtime.contains("default-features = false"), "{wasmtime}");
    for feature in [
        "\"gc\"",
        "\"gc-drc\"",
        "\"gc-null\"",
        "\"threads\"",
        "\"component-model-async\"",
    ] {
        assert!(
            !wasmtime.contains(feature),
            "wasmtime's {feature} feature is on: {wasmtime}"
        );
    }
    let lock = std::fs::read_to_string(helpers::repo().join("Cargo.lock")).unwrap();
    for package in ["h2", "wasmtime-wasi-http"] {
        let entry = format!("name = \"{package}\"\n");
        assert!(!lock.contains(&entry), "{package} is in Cargo.lock");
    }
}
