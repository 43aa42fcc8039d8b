//! A spinner on the terminal while a large component compiles (Python and JavaScript
//! components take seconds). Shown only when stderr is a terminal: logs and pipes see
//! nothing of it.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

/// Compiles shorter than this leave no line behind (a Rust listener: tens of ms).
const SHOW_DONE_AFTER: Duration = Duration::from_secs(1);

/// The spinner of one compile; cleared when dropped.
#[derive(Debug)]
pub(crate) struct Compiling {
    bar: Option<ProgressBar>,
    label: String,
}

impl Compiling {
    /// Starts the spinner for `name` (`bytes` long), if stderr is a terminal.
    pub(crate) fn start(name: &str, bytes: usize) -> Compiling {
        let label = format!("{name} ({:.1} MB)", bytes as f64 / 1e6);
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new_spinner();
            let style = ProgressStyle::with_template("{spinner} compiling {msg} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            bar.set_style(style);
            bar.set_message(label.clone());
            bar.enable_steady_tick(Duration::from_millis(100));
            bar
        });
        Compiling { bar, label }
    }
}

impl Drop for Compiling {
    fn drop(&mut self) {
        let Some(bar) = &self.bar else { return };
        let took = bar.elapsed();
        if took >= SHOW_DONE_AFTER {
            let done = format!("compiled {} in {:.1} s", self.label, took.as_secs_f64());
            bar.set_style(
                ProgressStyle::with_template("{msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.finish_with_message(done);
        } else {
            bar.finish_and_clear();
        }
    }
}
