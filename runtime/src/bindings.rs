//! The one `bindgen!` of the runtime: Rust types and traits generated from `wit/`.
//!
//! Only `engine` and `host` use these; the rest of the crate speaks in its own types
//! (`event::Event`, `Outcome`), so the contract's generated code stays behind this module.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "listener",
    imports: {
        // Both may do network I/O and both may trap when the call's deadline passes while
        // they wait (epoch interruption cannot stop host code).
        "wasm-listeners:listener/email.send": async | trappable,
        "wasm-listeners:listener/queue.push": async | trappable,
    },
    exports: { default: async },
});

pub(crate) use self::wasm_listeners::listener::{email, log, queue, settings, types};

/// The package name and version this runtime implements, as in `wit/listener.wit`.
pub(crate) const PACKAGE: &str = "wasm-listeners:listener";

/// The versions of [`PACKAGE`] a component may be built against.
pub(crate) const SUPPORTED_VERSIONS: &[&str] = &["0.1.0"];
