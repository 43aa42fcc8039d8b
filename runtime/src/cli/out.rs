//! The commands' standard output. A reader that stops reading (`wasm-listeners check X |
//! head -1`) ends the command quietly with status 0, as ripgrep does, instead of the panic
//! `println!` gives on a broken pipe.

use std::io::{ErrorKind, Write};

/// `println!` for the commands: see the module.
macro_rules! say {
    () => {
        $crate::cli::out::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::cli::out::line(format_args!($($arg)*))
    };
}
pub(crate) use say;

/// Writes one line to standard output.
pub(crate) fn line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{args}") {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => panic!("failed printing to stdout: {e}"),
    }
}
