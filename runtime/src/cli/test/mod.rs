//! `wasm-listeners test COMPONENT --cases FILE [--json]`: a listener author's test runner,
//! for a component built in any language.
//!
//! Each case runs the listener once on an event, with its settings and limits, on backends
//! that only record; the outcome, the emails and the queue pushes are compared with the
//! case's expectations (see `cases.rs` for the file's format).
//!
//! # Layout
//! - `cases.rs`: the case file, TOML or JSON.
//! - `verdict.rs`: what happened against what was expected.

mod cases;
mod verdict;

use super::report;
use crate::cli::out::say;
use crate::engine::{CallReport, Capabilities, ListenerSpec};
use crate::event::Source;
use cases::Case;
use clap::Args;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use verdict::Observed;

/// Arguments of `test`.
#[derive(Debug, Args)]
#[command(after_long_help = CASE_FILE_HELP)]
pub(super) struct TestArgs {
    /// The listener component (a `.wasm` file).
    component: PathBuf,
    /// The cases: a TOML file (or JSON, by its `.json` name) of `[[case]]` tables.
    #[arg(long, value_name = "FILE")]
    cases: PathBuf,
    /// Print one JSON object (every case, what it did and how it differed) instead of text.
    #[arg(long)]
    json: bool,
}

const CASE_FILE_HELP: &str = "\
A case file lists cases; paths are relative to the file:

  [[case]]
  name = \"record creation sends the tutorial's email\"
  event = { fixture = \"events.json\", index = 0 }   # or: event = { json = '{\"payload\": ...}' }
  settings = { from = \"postmaster@localhost\", recipients = \"ops@example.org\" }
  limits = { fuel = 100_000_000, memory_mib = 64, deadline_ms = 1000 }
  [case.expect]        # an absent key is not checked; [] means \"none\"
  outcome = \"ok\"       # ok | transient | permanent | out-of-fuel | memory-limit | deadline | trap | host-limit
  error = \"...\"        # the listener error's message (for a trap: a part of it)
  emails = [{ from = \"...\", to = [\"...\"], subject = \"...\", body = \"...\" }]
  pushes = [{ queue = \"eventqueue\", payload = '{\"action\":\"create\"}' }]

Emails compare from, to, cc, bcc, reply_to, subject, body and html_body (Message-ID and
Date are the SMTP backend's); payloads compare as JSON values when both sides parse.
Exit status: 0 when every case passed, 1 when one failed or the component was refused,
2 when the cases could not be run.";

/// One case's result.
struct Ran {
    name: String,
    differences: Vec<String>,
    reports: Vec<CallReport>,
}

pub(super) async fn run(args: TestArgs) -> anyhow::Result<ExitCode> {
    let cases = cases::read(&args.cases)?;
    // Every event is read before the component compiles: a case file with a mistake runs
    // nothing.
    let events: Vec<_> = cases
        .iter()
        .map(|c| c.event(&args.cases))
        .collect::<Result<_, _>>()?;
    let engine = super::engine()?;
    let Some(loaded) = super::load_or_refuse(&engine, &args.component).await? else {
        return Ok(ExitCode::from(1));
    };
    let name = report::listener_name(&args.component);
    // Every case's listener (its settings and limits) is made before any case runs, too.
    let listeners: Vec<_> = cases
        .iter()
        .map(|case| {
            let made = engine.listener(&loaded, spec(&name, case), Capabilities::record_only());
            made.map_err(|e| anyhow::anyhow!("case `{}`: {e}: nothing ran", case.name))
        })
        .collect::<Result<_, _>>()?;
    let mut results = Vec::with_capacity(cases.len());
    for ((case, incoming), listener) in cases.iter().zip(events).zip(listeners) {
        let delivery = incoming.first_delivery(Source::Cli);
        let reports = listener.deliver(&incoming.event, &delivery).await;
        let differences = match Observed::of(&reports) {
            Some(observed) => verdict::differences(&case.expect, &observed),
            None => vec!["the listener was not called".to_owned()],
        };
        let ran = Ran {
            name: case.name.clone(),
            differences,
            reports,
        };
        if !args.json {
            print_case(&ran);
        }
        results.push(ran);
    }
    let failed = results.iter().filter(|r| !r.differences.is_empty()).count();
    let passed = results.len() - failed;
    if args.json {
        say!("{}", json(&args.component, &results, passed, failed));
    } else {
        say!("{passed} passed, {failed} failed");
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn spec(name: &str, case: &Case) -> ListenerSpec {
    let l = &case.limits;
    let settings = case.settings.clone();
    super::recording_spec(name, settings, l.fuel, l.memory_mib, l.deadline_ms)
}

fn print_case(ran: &Ran) {
    if ran.differences.is_empty() {
        say!("ok    {}", ran.name);
        return;
    }
    say!("FAIL  {}", ran.name);
    for difference in &ran.differences {
        say!("        {difference}");
    }
    // What the listener said helps most when its outcome was not the expected one.
    for line in ran.reports.iter().flat_map(|r| &r.log) {
        say!(
            "        log [{} {}] {}",
            line.level,
            line.stream,
            line.message
        );
    }
}

fn json(component: &Path, results: &[Ran], passed: usize, failed: usize) -> serde_json::Value {
    let cases: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            serde_json::json!({
                "name": r.name,
                "passed": r.differences.is_empty(),
                "differences": r.differences,
                "outcome": r.reports.last().map(|c| &c.outcome),
                "calls": r.reports,
            })
        })
        .collect();
    serde_json::json!({
        "component": component.display().to_string(),
        "cases": cases,
        "passed": passed,
        "failed": failed,
    })
}
