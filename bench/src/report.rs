//! The rows and BENCHMARKS.md.

use crate::measure::Scale;
use std::fmt::Write as _;
use std::process::Command;
use std::time::Duration;

/// One side of a comparison.
#[derive(Debug, Clone)]
pub(crate) struct Side {
    /// What ran (`runtime`, `bare wasmtime`, `tutorial smtplib`, ...).
    pub(crate) label: String,
    /// Operations per second (median of the trials).
    pub(crate) rate: f64,
    /// Extra figures (latency percentiles), as text.
    pub(crate) detail: String,
    /// The 99th percentile latency, for rows whose ratio is taken on it.
    pub(crate) p99: Option<Duration>,
}

impl Side {
    pub(crate) fn new(label: impl Into<String>, rate: f64) -> Side {
        Side {
            label: label.into(),
            rate,
            detail: String::new(),
            p99: None,
        }
    }
}

/// What a ratio should be.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    /// Goal or requirement: the ratio is at least this.
    AtLeast(f64),
    /// The ratio is at most this.
    AtMost(f64),
}

impl Target {
    fn met(self, ratio: f64) -> bool {
        match self {
            Target::AtLeast(t) => ratio >= t,
            Target::AtMost(t) => ratio <= t,
        }
    }

    fn text(self) -> String {
        match self {
            Target::AtLeast(t) => format!(">= {t}"),
            Target::AtMost(t) => format!("<= {t}"),
        }
    }
}

/// How the ratio of a row is taken.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ratio {
    /// Ours over theirs, in operations per second (higher is better).
    Rate,
    /// Ours over theirs, in time per operation (lower is better).
    Time,
    /// Ours over theirs, in 99th percentile latency (lower is better).
    P99,
}

/// One comparison: ours against a baseline, in one run.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    /// The group: `engine`, `email`, `http`.
    pub(crate) group: &'static str,
    /// What is compared.
    pub(crate) name: String,
    /// Our side.
    pub(crate) ours: Side,
    /// The baseline, when the row has one.
    pub(crate) theirs: Option<Side>,
    /// How the ratio is taken.
    pub(crate) ratio: Ratio,
    /// What it should be, if anything.
    pub(crate) target: Option<Target>,
}

impl Row {
    /// The ratio, when there is a baseline.
    pub(crate) fn ratio(&self) -> Option<f64> {
        let theirs = self.theirs.as_ref()?;
        Some(match self.ratio {
            Ratio::Rate => self.ours.rate / theirs.rate,
            Ratio::Time => theirs.rate / self.ours.rate,
            Ratio::P99 => self.ours.p99?.as_secs_f64() / theirs.p99?.as_secs_f64(),
        })
    }

    /// `met`, `missed` or `-` (no target).
    pub(crate) fn verdict(&self) -> &'static str {
        match (self.target, self.ratio()) {
            (Some(t), Some(r)) if t.met(r) => "met",
            (Some(_), Some(_)) => "missed",
            _ => "-",
        }
    }
}

fn side(s: &Side) -> String {
    let per = if s.rate > 0.0 { 1e6 / s.rate } else { 0.0 };
    let mut text = format!("{}: {:.0}/s ({per:.1} µs each)", s.label, s.rate);
    if !s.detail.is_empty() {
        let _ = write!(text, ", {}", s.detail);
    }
    text
}

/// The rows as a Markdown table.
pub(crate) fn table(rows: &[Row]) -> String {
    let mut out =
        String::from("| row | ours | baseline | ratio | target | |\n|---|---|---|---|---|---|\n");
    for r in rows {
        let theirs = r.theirs.as_ref().map_or("-".into(), side);
        let ratio = r.ratio().map_or("-".into(), |x| format!("{x:.2}"));
        let target = r.target.map_or("-".into(), Target::text);
        let _ = writeln!(
            out,
            "| {}: {} | {} | {theirs} | {ratio} | {target} | {} |",
            r.group,
            r.name,
            side(&r.ours),
            r.verdict()
        );
    }
    out
}

/// One language's example, loaded and called through the runtime.
#[derive(Debug, Clone)]
pub(crate) struct GuestFigures {
    pub(crate) language: &'static str,
    pub(crate) example: &'static str,
    /// The component's size.
    pub(crate) bytes: u64,
    /// A load that missed the artifact cache: compile, check, store.
    pub(crate) compile: Duration,
    /// A load from the verified artifact, check included.
    pub(crate) precompiled_load: Duration,
    /// Fuel of one call (instantiation included).
    pub(crate) fuel_per_event: u64,
    /// One call, from one task (median of the trials).
    pub(crate) time_per_event: Duration,
    /// The same with `calls_per_instance` = [`crate::guests::CALLS_PER_INSTANCE`]: the
    /// instance of the previous call serves the next.
    pub(crate) time_per_event_reused: Duration,
}

/// The guests as a Markdown table.
pub(crate) fn guests_table(guests: &[GuestFigures]) -> String {
    let mut out = String::from("| listener | size | compile | precompiled load | fuel per event | time per event | instance reused |\n|---|---|---|---|---|---|---|\n");
    for g in guests {
        let _ = writeln!(
            out,
            "| {} in {} | {:.2} MB | {:.2} s | {:.1} ms | {:.3} M | {:.0} µs | {:.0} µs |",
            g.example,
            g.language,
            g.bytes as f64 / 1e6,
            g.compile.as_secs_f64(),
            g.precompiled_load.as_secs_f64() * 1e3,
            g.fuel_per_event as f64 / 1e6,
            g.time_per_event.as_secs_f64() * 1e6,
            g.time_per_event_reused.as_secs_f64() * 1e6,
        );
    }
    out
}

/// BENCHMARKS.md: how it was made, the table, the plot.
pub(crate) fn markdown(
    rows: &[Row],
    guests: &[GuestFigures],
    scale: Scale,
    command: &str,
    plot: &str,
    languages_plot: &str,
) -> anyhow::Result<String> {
    let mut out = String::from("# Benchmarks\n\n");
    let _ = writeln!(out, "Made by `{command}` on {}.", machine());
    let dirty = match git(&["status", "--porcelain", "--untracked-files=no"]).is_empty() {
        true => "",
        false => " with uncommitted changes",
    };
    let commit = git(&["rev-parse", "--short", "HEAD"]);
    let _ = writeln!(out, "Commit `{commit}`{dirty}, run on {}.\n", now());
    if scale == Scale::Quick {
        out.push_str(
            "**A smoke run (`--quick`): one short trial per side; the figures mean nothing.**\n\n",
        );
    }
    out.push_str("Each row runs both sides in the same run, alternating trials; a figure is the median of the trials. A ratio is ours over the baseline in operations per second, or in time per operation (or p99 latency, where the row says so) where the target is a ceiling.\n\n");
    out.push_str(&table(rows));
    if !guests.is_empty() {
        out.push_str("\n## Listeners in every language\n\nEach example loaded twice into one engine with an artifact cache: *compile* is the first load (compile, check, store the artifact), *precompiled load* the second (read, verify, deserialise, check); fuel and time are one `Listener::call` on the record-creation event, fresh instance included.\n\n");
        out.push_str(&guests_table(guests));
        let _ = writeln!(out, "\n![every language]({languages_plot})");
    }
    let _ = writeln!(out, "\n![ratios]({plot})");
    // What the figures mean, what the profile shows where a target is missed, and what
    // the knobs cost: written by hand next to the code, carried into every report.
    let notes = crate::servers::repo().join("bench/notes.md");
    if let Ok(text) = std::fs::read_to_string(&notes) {
        let _ = write!(out, "\n{text}");
    }
    Ok(out)
}

/// The date and time, as `date -u` prints them.
fn now() -> String {
    let out = Command::new("date").arg("-u").output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn git(args: &[&str]) -> String {
    let out = Command::new("git").args(args).output();
    let text = out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    text.unwrap_or_default()
}

/// Cores and CPU model, as Linux tells them.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .unwrap_or(": unknown");
    format!(
        "{cores} cores ({})",
        model.trim_start_matches([' ', '\t', ':'])
    )
}
