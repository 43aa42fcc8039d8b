//! `wasm-listeners invoke COMPONENT.wasm --event FILE.json [--setting key=value ...]`

use super::report;
use crate::cli::out::say;
use crate::engine::{Capabilities, ListenerSpec};
use crate::event::{self, Source};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `invoke`.
#[derive(Debug, Args)]
pub(super) struct InvokeArgs {
    /// The listener component (a `.wasm` file).
    component: PathBuf,
    /// A Kinto event: `{payload, impacted_objects | read_objects}` or a bare kinto-redis
    /// payload; or a JSON list of them (as the fixture files are), see `--index`.
    #[arg(long, value_name = "FILE.json")]
    event: PathBuf,
    /// Which event of a file holding a list to run (0 is the first).
    #[arg(long, default_value_t = 0)]
    index: usize,
    /// A setting of the listener (repeatable).
    #[arg(long = "setting", value_name = "KEY=VALUE", value_parser = super::parse_setting)]
    settings: Vec<(String, String)>,
    /// Fuel limit of the call.
    #[arg(long)]
    fuel: Option<u64>,
    /// Memory limit of the call, in MiB.
    #[arg(long, value_name = "MIB")]
    memory_mib: Option<u64>,
    /// Wall-clock deadline of the call, in milliseconds.
    #[arg(long, value_name = "MS")]
    deadline_ms: Option<u64>,
    /// The listener's name, as the guest sees it (default: the file's stem).
    #[arg(long)]
    name: Option<String>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub(super) async fn run(args: InvokeArgs) -> anyhow::Result<ExitCode> {
    let incoming = read_event(&args.event, args.index)?;
    let engine = super::engine()?;
    let Some(loaded) = super::load_or_refuse(&engine, &args.component).await? else {
        return Ok(ExitCode::from(1));
    };
    let listener = engine.listener(&loaded, spec(&args), Capabilities::record_only())?;
    let delivery = incoming.first_delivery(Source::Cli);
    let reports = listener.deliver(&incoming.event, &delivery).await;
    if args.json {
        say!("{}", report::json(&delivery, &reports));
    } else {
        report::print_text(&delivery, &reports);
    }
    Ok(report::exit_code(&reports))
}

fn spec(args: &InvokeArgs) -> ListenerSpec {
    let name = args.name.clone();
    let name = name.unwrap_or_else(|| report::listener_name(&args.component));
    let settings = args.settings.iter().cloned();
    super::recording_spec(
        &name,
        settings,
        args.fuel,
        args.memory_mib,
        args.deadline_ms,
    )
}

fn read_event(path: &PathBuf, index: usize) -> anyhow::Result<event::Incoming> {
    let shown = path.display();
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {shown}: {e}"))?;
    let mut events = event::parse_events(&bytes).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    let count = events.len();
    if index >= count {
        anyhow::bail!(
            "{shown} holds {count} event(s): --index takes 0 to {}",
            count.max(1) - 1
        );
    }
    Ok(events.swap_remove(index))
}
