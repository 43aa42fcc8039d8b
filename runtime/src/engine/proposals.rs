//! Which WebAssembly proposals a listener may use: the one place that lists each decision
//! and why.
//!
//! The engine accepts exactly what the six guest toolchains emit (Rust for
//! `wasm32-wasip2`, componentize-py, componentize-js on SpiderMonkey and on QuickJS, C with
//! clang and wasi-libc, Zig), found by validating their components with each proposal
//! taken out (the README's security section has the survey), and refuses the rest at `check`, naming
//! the proposal. wasmtime's own default is wider: it keeps the GC proposal on in a build
//! without its `gc` cargo feature, where a non-final function type reached by
//! `call_indirect`, `ref.test`, `ref.cast` or `br_on_cast` aborts the host process
//! (GHSA-rc4p-x33f-vpr2, fixed in wasmtime 48.0.9); memory64, relaxed SIMD (whose results
//! differ between hosts), tail calls and function references are on too.

use wasmparser::{Validator, WasmFeatures};
use wasmtime::Config;

/// One proposal and the decision on it.
#[derive(Debug)]
pub(crate) struct Proposal {
    /// Its name, as `wasm-tools validate --features` spells it.
    pub(crate) name: &'static str,
    /// The validator's flags it needs (with the proposals it builds on).
    features: WasmFeatures,
    /// Whether listeners may use it.
    accepted: bool,
    /// Why.
    pub(crate) why: &'static str,
}

/// What every listener may use: WebAssembly 1.0 (floats, mutable globals) and the
/// component model itself, without its proposals beyond 0.2 (async, threading, error
/// contexts, GC types in the canonical ABI, ...).
const BASE: WasmFeatures = WasmFeatures::FLOATS
    .union(WasmFeatures::MUTABLE_GLOBAL)
    .union(WasmFeatures::COMPONENT_MODEL);

const fn accept(name: &'static str, features: WasmFeatures, why: &'static str) -> Proposal {
    Proposal {
        name,
        features,
        accepted: true,
        why,
    }
}

const fn refuse(name: &'static str, features: WasmFeatures, why: &'static str) -> Proposal {
    Proposal {
        name,
        features,
        accepted: false,
        why,
    }
}

/// Every proposal beyond [`BASE`], accepted or refused. What each toolchain needs, from
/// validating its examples with each proposal taken out: C (clang 14) nothing; Zig and Rust
/// sign-extension and the parts of bulk-memory and reference-types they build on;
/// SpiderMonkey saturating float-to-int and bulk-memory; Python and QuickJS extended-const
/// besides; QuickJS reference-types whole (several tables) and, in wasmtime, multi-memory.
/// A refused proposal whose flags include another refused one comes after it, so that a
/// component is named by the narrower proposal (`refused_in`).
pub(crate) const PROPOSALS: &[Proposal] = &[
    accept(
        "sign-extension",
        WasmFeatures::SIGN_EXTENSION,
        "WebAssembly 2.0; Rust, Zig, Python and both JavaScript engines emit it",
    ),
    accept(
        "saturating-float-to-int",
        WasmFeatures::SATURATING_FLOAT_TO_INT,
        "WebAssembly 2.0; Python and both JavaScript engines emit it",
    ),
    accept(
        "bulk-memory",
        WasmFeatures::BULK_MEMORY,
        "WebAssembly 2.0; SpiderMonkey and QuickJS need all of it, Rust, Zig and Python \
         memory.copy and memory.fill",
    ),
    accept(
        "reference-types",
        WasmFeatures::REFERENCE_TYPES,
        "WebAssembly 2.0; QuickJS has several tables, Rust, Zig and Python emit the long \
         call_indirect encoding",
    ),
    accept(
        "multi-value",
        WasmFeatures::MULTI_VALUE,
        "WebAssembly 2.0; on by default in rustc's wasm targets, though no example needs it",
    ),
    accept(
        "extended-const",
        WasmFeatures::EXTENDED_CONST,
        "Python and QuickJS initialise globals with `i32.add` (dynamic linking)",
    ),
    accept(
        "multi-memory",
        WasmFeatures::MULTI_MEMORY,
        "wasmtime's adapter between a QuickJS component's two inner components uses both \
         their memories: without it wasmtime panics compiling them",
    ),
    refuse(
        "simd",
        WasmFeatures::SIMD,
        "no toolchain emits it by default",
    ),
    refuse(
        "relaxed-simd",
        WasmFeatures::RELAXED_SIMD.union(WasmFeatures::SIMD),
        "results may differ between hosts; no toolchain emits it",
    ),
    refuse(
        "function-references",
        WasmFeatures::FUNCTION_REFERENCES,
        "typed function references; no toolchain emits them",
    ),
    refuse(
        "gc",
        WasmFeatures::GC
            .union(WasmFeatures::GC_TYPES)
            .union(WasmFeatures::FUNCTION_REFERENCES),
        "non-final function types abort a wasmtime 48.0.8 host built without its `gc` \
         feature (GHSA-rc4p-x33f-vpr2); no toolchain emits it",
    ),
    refuse(
        "exceptions",
        WasmFeatures::EXCEPTIONS,
        "needs wasmtime's `gc` feature, which brings GC heaps and their advisories",
    ),
    refuse(
        "legacy-exceptions",
        WasmFeatures::LEGACY_EXCEPTIONS.union(WasmFeatures::EXCEPTIONS),
        "the exceptions proposal's first encoding; not in this wasmtime build",
    ),
    refuse(
        "threads",
        WasmFeatures::THREADS,
        "shared memory and atomics: a listener call is single-threaded",
    ),
    refuse(
        "shared-everything-threads",
        WasmFeatures::SHARED_EVERYTHING_THREADS.union(WasmFeatures::THREADS),
        "a listener call is single-threaded",
    ),
    refuse(
        "memory64",
        WasmFeatures::MEMORY64,
        "memories past 4 GiB are beyond any listener's limit; no toolchain emits it",
    ),
    refuse(
        "tail-call",
        WasmFeatures::TAIL_CALL,
        "no toolchain emits it",
    ),
    refuse(
        "custom-page-sizes",
        WasmFeatures::CUSTOM_PAGE_SIZES,
        "no toolchain emits it",
    ),
    refuse(
        "wide-arithmetic",
        WasmFeatures::WIDE_ARITHMETIC,
        "no toolchain emits it",
    ),
    refuse(
        "stack-switching",
        WasmFeatures::STACK_SWITCHING
            .union(WasmFeatures::EXCEPTIONS)
            .union(WasmFeatures::FUNCTION_REFERENCES)
            .union(WasmFeatures::GC_TYPES),
        "not in this wasmtime build",
    ),
    refuse(
        "component-model-async",
        WasmFeatures::CM_ASYNC
            .union(WasmFeatures::CM_ASYNC_STACKFUL)
            .union(WasmFeatures::CM_MORE_ASYNC_BUILTINS)
            .union(WasmFeatures::CM_ERROR_CONTEXT)
            .union(WasmFeatures::CM_THREADING),
        "listeners are WASI 0.2 components; wasmtime's async component model is not \
         built",
    ),
];

/// Exactly the features listeners may use.
pub(crate) fn accepted() -> WasmFeatures {
    let accepted = PROPOSALS.iter().filter(|p| p.accepted);
    accepted.fold(BASE, |features, p| features | p.features)
}

/// Pins `config` to [`accepted`]: everything wasmtime would enable by default is off first.
pub(crate) fn pin(config: &mut Config) {
    config.wasm_features(WasmFeatures::all(), false);
    config.wasm_features(accepted(), true);
}

/// The refused proposal a component that did not compile uses, if that is why: the first
/// whose acceptance alone makes it valid. None for a component valid as it is (it failed
/// for another reason, such as memory).
pub(crate) fn refused_in(bytes: &[u8]) -> Option<&'static Proposal> {
    if Validator::new_with_features(accepted())
        .validate_all(bytes)
        .is_ok()
    {
        return None;
    }
    let refused = PROPOSALS.iter().filter(|p| !p.accepted);
    refused.into_iter().find(|p| {
        let mut validator = Validator::new_with_features(accepted() | p.features);
        validator.validate_all(bytes).is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pinned_set_has_no_refused_proposal() {
        let accepted = accepted();
        for p in PROPOSALS.iter().filter(|p| !p.accepted) {
            // A refused proposal may build on accepted ones (gc on reference types): its
            // own flag is what must be off.
            let own = p.features.difference(PROPOSALS_ACCEPTED_FLAGS);
            assert!(!accepted.intersects(own), "{} is accepted", p.name);
        }
        for refused in [
            WasmFeatures::GC,
            WasmFeatures::GC_TYPES,
            WasmFeatures::THREADS,
            WasmFeatures::SIMD,
            WasmFeatures::RELAXED_SIMD,
            WasmFeatures::MEMORY64,
            WasmFeatures::CM_ASYNC,
        ] {
            assert!(!accepted.intersects(refused), "{refused:?} is accepted");
        }
    }

    /// The flags of accepted proposals and the base.
    const PROPOSALS_ACCEPTED_FLAGS: WasmFeatures = BASE
        .union(WasmFeatures::SIGN_EXTENSION)
        .union(WasmFeatures::SATURATING_FLOAT_TO_INT)
        .union(WasmFeatures::BULK_MEMORY)
        .union(WasmFeatures::REFERENCE_TYPES)
        .union(WasmFeatures::MULTI_VALUE)
        .union(WasmFeatures::EXTENDED_CONST)
        .union(WasmFeatures::MULTI_MEMORY);

    #[test]
    fn the_accepted_flags_are_those_of_the_accepted_proposals() {
        assert_eq!(accepted(), PROPOSALS_ACCEPTED_FLAGS);
    }
}
