//! The one `wit_bindgen::generate!` of the SDK: the generated types and import functions
//! stay behind this module; the rest of the crate wraps them in its own types.

// `unsafe_code`: the canonical-ABI glue is generated unsafe code (see Cargo.toml).
// `missing_debug_implementations`, `unused_qualifications`, `unreachable_pub`: generated
// items, not ours to fix.
#![allow(
    unsafe_code,
    missing_debug_implementations,
    unused_qualifications,
    unreachable_pub
)]

wit_bindgen::generate!({
    path: "../wit",
    world: "listener",
    // `export_listener!` expands in the user's crate and calls this macro there, so it must
    // be `pub` (it is `#[macro_export]`ed, hidden from the docs).
    pub_export_macro: true,
    export_macro_name: "__export_listener_raw",
    // Only used when the macro is called without `with_types_in`; `export_listener!` always
    // passes `$crate::__private::bindings`, which survives a renamed dependency.
    default_bindings_module: "wasm_listeners_sdk::__private::bindings",
});

pub(crate) use exports::wasm_listeners::listener::handler;
pub(crate) use wasm_listeners::listener::{email, types};
// The import functions: only `imports` calls them, and only on wasm32 (elsewhere they are
// stubs that panic).
#[cfg(target_arch = "wasm32")]
pub(crate) use wasm_listeners::listener::{log, queue, settings};
