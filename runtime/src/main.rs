//! The `wasm-listeners` binary: parses the command line and hands it to the library.
//!
//! Logs go to stderr; set `RUST_LOG` (e.g. `RUST_LOG=wasm_listeners=debug,listener=debug`).

use clap::Parser;
use std::process::ExitCode;

/// mimalloc: the worker allocates and frees per call, and glibc's allocator was ~15 % of
/// its CPU (`bench/notes.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours for a terminal only: not in a file, a pipe or the journal.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    wasm_listeners::run(wasm_listeners::Cli::parse())
}
