//! Compiling apart: a component compiled in the `compile-child` process under limits,
//! its artifact then loaded verified from the precompiled cache; each limit, when hit,
//! ends the compile with an error naming it, and the engine goes on.

use crate::helpers;
use std::path::Path;
use std::time::Duration;
use wasm_listeners::{
    ArtifactCacheConfig, CheckError, CompileChild, CompileError, Engine, EngineConfig, Outcome,
    Part,
};

fn engine(dir: &Path) -> Engine {
    helpers::engine_with(EngineConfig {
        artifacts: Some(ArtifactCacheConfig::under(dir)),
        ..EngineConfig::default()
    })
}

/// The `wasm-listeners` binary of this run, with generous limits.
fn child() -> CompileChild {
    CompileChild {
        program: env!("CARGO_BIN_EXE_wasm-listeners").into(),
        cpu: Duration::from_secs(120),
        address_space: 4 << 30,
        wall: Duration::from_secs(600),
    }
}

/// A component whose one core module has `functions` functions of ~2,000 instructions
/// each: ~4 ms of Cranelift work per function here.
fn heavy_component(functions: usize) -> Vec<u8> {
    let body =
        "(local.set 0 (i32.add (local.get 0) (i32.mul (local.get 0) (i32.const 7))))\n".repeat(400);
    let funcs: String = (0..functions)
        .map(|i| {
            format!("(func (export \"f{i}\") (param i32) (result i32) {body} (local.get 0))\n")
        })
        .collect();
    wat::parse_str(format!("(component (core module {funcs}))")).expect("heavy WAT")
}

#[tokio::test]
async fn a_component_compiled_apart_loads_as_a_verified_artifact_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let bytes = std::fs::read(helpers::guest("send-email")).unwrap();
    let loaded = engine
        .load_apart("send-email", &bytes, &child())
        .await
        .unwrap();
    let stats = engine.compile_stats();
    assert_eq!(
        (
            stats.compiled,
            stats.artifacts_loaded,
            stats.artifacts_refused
        ),
        (0, 1, 0),
        "compiled by the child, loaded from its artifact, not refused and compiled again"
    );
    let settings = [("from", "a@example.com"), ("recipients", "b@example.com")];
    let spec = helpers::open_spec("send-email", &settings);
    let recorder = helpers::Recorder::default();
    let listener = engine
        .listener(&loaded, spec, recorder.capabilities())
        .unwrap();
    let incoming = helpers::fixture_event("record-create.json", 0);
    let delivery = helpers::delivery(&incoming);
    let report = listener.call(&incoming.event, &delivery, Part::WHOLE).await;
    assert_eq!(report.outcome, Outcome::Ok, "{:?}", report.log);
    // A second load finds the artifact: no child, nothing compiled.
    let no_child = CompileChild {
        program: dir.path().join("no-such-program"),
        ..child()
    };
    engine
        .load_apart("send-email", &bytes, &no_child)
        .await
        .unwrap();
    assert_eq!(engine.compile_stats().compiled, 0);
}

#[tokio::test]
async fn what_does_not_compile_is_refused_naming_why() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let garbage = engine.load_apart("x", b"not wasm at all", &child()).await;
    assert!(
        matches!(garbage, Err(CompileError::Refused(CheckError::NotWasm))),
        "{garbage:?}"
    );
    let core = wat::parse_str("(module)").unwrap();
    let core = engine.load_apart("x", &core, &child()).await;
    assert!(
        matches!(core, Err(CompileError::Refused(CheckError::CoreModule))),
        "{core:?}"
    );
    let simd =
        wat::parse_str("(component (core module (func (result v128) (v128.const i64x2 0 0))))")
            .unwrap();
    let simd = engine.load_apart("x", &simd, &child()).await;
    assert!(
        matches!(
            simd,
            Err(CompileError::Refused(CheckError::Proposal {
                proposal: "simd",
                ..
            }))
        ),
        "{simd:?}"
    );
    let not_a_listener = heavy_component(1);
    let other_world = engine.load_apart("x", &not_a_listener, &child()).await;
    assert!(
        matches!(
            other_world,
            Err(CompileError::Refused(CheckError::NotAListener(_)))
        ),
        "compiled apart, then checked: {other_world:?}"
    );
}

#[tokio::test]
async fn each_limit_of_the_child_ends_the_compile_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    // About 4 s of CPU unbounded here (400 functions: 1.7 s): well past the 1 s limit.
    let heavy = heavy_component(1_000);
    let cpu = CompileChild {
        cpu: Duration::from_secs(1),
        ..child()
    };
    let over_cpu = engine.load_apart("heavy", &heavy, &cpu).await;
    assert!(
        matches!(over_cpu, Err(CompileError::CpuTime { secs: 1 })),
        "{over_cpu:?}"
    );
    let memory = CompileChild {
        address_space: 64 << 20,
        ..child()
    };
    let over_memory = engine.load_apart("heavy", &heavy, &memory).await;
    assert!(
        matches!(over_memory, Err(CompileError::Memory { .. })),
        "{over_memory:?}"
    );
    let wall = CompileChild {
        wall: Duration::ZERO,
        ..child()
    };
    let over_wall = engine.load_apart("heavy", &heavy, &wall).await;
    assert!(
        matches!(over_wall, Err(CompileError::WallClock { .. })),
        "{over_wall:?}"
    );
    let message = over_cpu.unwrap_err().to_string();
    assert!(message.contains("1 s of CPU time"), "{message}");
    // Nothing half-written stays in the cache; the engine goes on.
    let ok = std::fs::read(helpers::guest("send-email")).unwrap();
    engine
        .load_apart("send-email", &ok, &child())
        .await
        .unwrap();
}
