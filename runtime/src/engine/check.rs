//! Is this a listener component this runtime can run? Each refusal names the problem.

use super::Outcome;
use crate::bindings::{PACKAGE, SUPPORTED_VERSIONS};
use wasmtime::component::types::ComponentItem;
use wasmtime::component::Component;

/// The WASI 0.2 packages a listener may import. They are linked so that Python and
/// JavaScript runtimes start, but grant nothing: no preopened directory, every socket
/// address denied, no name lookup, no environment variable, stdin closed; stdout and stderr
/// go to the call's log.
const ALLOWED_WASI_PACKAGES: &[&str] = &[
    "wasi:io",
    "wasi:cli",
    "wasi:clocks",
    "wasi:random",
    "wasi:filesystem",
    "wasi:sockets",
];

/// The WASI version family those packages must belong to.
const WASI_VERSION_FAMILY: &str = "0.2.";

/// The interfaces of the contract a listener may import (at a supported version).
const CAPABILITY_INTERFACES: &[&str] = &["email", "queue", "log", "settings", "types"];

/// The interface a listener must export.
const HANDLER_INTERFACE: &str = "handler";

/// The functions the handler must export.
const HANDLER_FUNCTIONS: &[&str] = &["handle", "validate-settings"];

/// Why a component was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    /// Not WebAssembly at all.
    #[error("not a WebAssembly file (no `\\0asm` header): build the listener for wasm32-wasip2 or with componentize-py / componentize-js")]
    NotWasm,
    /// A core module, not a component.
    #[error("this is a core WebAssembly module, not a component: build for the `wasm32-wasip2` target, or wrap the module with `wasm-tools component new`")]
    CoreModule,
    /// wasmtime could not compile it.
    #[error("invalid component: {0}")]
    Invalid(String),
    /// It uses a WebAssembly proposal this runtime refuses (`engine/proposals.rs`).
    #[error("the component uses the WebAssembly `{proposal}` proposal, which wasm-listeners does not accept ({why}): build without it (see the README's security section for what each toolchain may emit)")]
    Proposal {
        /// The proposal, as `wasm-tools validate --features` names it.
        proposal: &'static str,
        /// Why it is refused.
        why: &'static str,
    },
    /// It does not export the handler: another world.
    #[error("the component does not export `{PACKAGE}/{HANDLER_INTERFACE}`, so it does not implement the `listener` world (it exports: {0}); build it against wit/listener.wit, world `listener`")]
    NotAListener(String),
    /// Built for another version of the contract.
    #[error("the component is built for {PACKAGE}@{found}, this runtime supports {PACKAGE}@{supported}: rebuild it against a supported wit/listener.wit")]
    UnsupportedVersion {
        /// The version the component names.
        found: String,
        /// The versions this runtime supports, comma-separated.
        supported: String,
    },
    /// The handler lacks a function.
    #[error("the component's `{PACKAGE}/{HANDLER_INTERFACE}` export has no function `{0}`")]
    MissingFunction(String),
    /// An import the runtime does not provide.
    #[error("the component imports `{0}`, which wasm-listeners does not provide: a listener may import only {PACKAGE}/{{email,queue,log,settings}} and the WASI 0.2 interfaces of {{io,cli,clocks,random,filesystem,sockets}} (linked with nothing granted); for componentize-js, disable http with `-d http fetch-event`")]
    ForbiddenImport(String),
    /// The linker could not satisfy the imports.
    #[error("cannot link the component: {0}")]
    Link(String),
    /// Instantiating it failed: its start code trapped or hit a limit, or no instance slot
    /// was free ([`Outcome::Capacity`]: try again later).
    #[error("the component cannot be instantiated: {0}")]
    Instantiation(Outcome),
    /// An export has the wrong signature.
    #[error("the component's handler does not match the contract: {0}")]
    Signature(String),
}

/// What a successful check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentInfo {
    /// The contract version the component was built for.
    pub version: String,
    /// Every import, by name.
    pub imports: Vec<String>,
}

/// Refuses what is not a component before compiling it.
pub(crate) fn reject_non_component(bytes: &[u8]) -> Result<(), CheckError> {
    if wasmparser::Parser::is_core_wasm(bytes) {
        return Err(CheckError::CoreModule);
    }
    if !wasmparser::Parser::is_component(bytes) {
        return Err(CheckError::NotWasm);
    }
    Ok(())
}

/// Checks the exports and imports of a compiled component.
pub(crate) fn check_component(
    engine: &wasmtime::Engine,
    component: &Component,
) -> Result<ComponentInfo, CheckError> {
    let ty = component.component_type();
    let exports: Vec<(String, ComponentItem)> = ty
        .exports(engine)
        .map(|(n, e)| (n.to_owned(), e.ty))
        .collect();
    let version = check_handler(engine, &exports)?;
    let imports: Vec<String> = ty.imports(engine).map(|(n, _)| n.to_owned()).collect();
    for name in &imports {
        check_import(name)?;
    }
    Ok(ComponentInfo { version, imports })
}

fn check_handler(
    engine: &wasmtime::Engine,
    exports: &[(String, ComponentItem)],
) -> Result<String, CheckError> {
    let handler = format!("{PACKAGE}/{HANDLER_INTERFACE}");
    let Some((name, item)) = exports.iter().find(|(n, _)| split_version(n).0 == handler) else {
        let names: Vec<&str> = exports.iter().map(|(n, _)| n.as_str()).collect();
        let found = if names.is_empty() {
            "nothing".to_owned()
        } else {
            names.join(", ")
        };
        return Err(CheckError::NotAListener(found));
    };
    let version = supported_version(split_version(name).1)?;
    let ComponentItem::ComponentInstance(instance) = item else {
        return Err(CheckError::NotAListener(format!(
            "{name} (not an instance)"
        )));
    };
    let functions: Vec<&str> = instance.exports(engine).map(|(n, _)| n).collect();
    for wanted in HANDLER_FUNCTIONS {
        if !functions.contains(wanted) {
            return Err(CheckError::MissingFunction((*wanted).to_owned()));
        }
    }
    Ok(version)
}

fn check_import(name: &str) -> Result<(), CheckError> {
    let (path, version) = split_version(name);
    let (package, interface) = path.split_once('/').unwrap_or((path, ""));
    if package == PACKAGE && CAPABILITY_INTERFACES.contains(&interface) {
        return supported_version(version).map(|_| ());
    }
    let wasi_ok = ALLOWED_WASI_PACKAGES.contains(&package)
        && version.is_some_and(|v| v.starts_with(WASI_VERSION_FAMILY));
    if wasi_ok {
        Ok(())
    } else {
        Err(CheckError::ForbiddenImport(name.to_owned()))
    }
}

fn supported_version(version: Option<&str>) -> Result<String, CheckError> {
    let found = version.unwrap_or("(no version)");
    if SUPPORTED_VERSIONS.contains(&found) {
        return Ok(found.to_owned());
    }
    Err(CheckError::UnsupportedVersion {
        found: found.to_owned(),
        supported: SUPPORTED_VERSIONS.join(", "),
    })
}

/// `pkg:name/iface@1.2.3` -> (`pkg:name/iface`, Some(`1.2.3`)).
fn split_version(name: &str) -> (&str, Option<&str>) {
    match name.split_once('@') {
        Some((path, version)) => (path, Some(version)),
        None => (name, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports() {
        assert!(check_import("wasi:io/streams@0.2.6").is_ok());
        assert!(check_import("wasm-listeners:listener/email@0.1.0").is_ok());
        assert_eq!(
            check_import("wasi:http/outgoing-handler@0.2.0"),
            Err(CheckError::ForbiddenImport(
                "wasi:http/outgoing-handler@0.2.0".into()
            ))
        );
        assert!(matches!(
            check_import("wasm-listeners:listener/email@0.2.0"),
            Err(CheckError::UnsupportedVersion { .. })
        ));
        assert!(check_import("wasi:io/streams@0.3.0").is_err());
        assert!(check_import("wasm-listeners:listener/admin@0.1.0").is_err());
    }
}
