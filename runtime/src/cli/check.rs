//! `wasm-listeners check COMPONENT.wasm [--setting key=value ...]`

use super::report;
use crate::cli::out::say;
use crate::engine::{Capabilities, ListenerSpec};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Arguments of `check`.
#[derive(Debug, Args)]
pub(super) struct CheckArgs {
    /// The component to check (a `.wasm` file).
    component: PathBuf,
    /// Also run the listener's `validate-settings` on these settings (repeatable).
    #[arg(long = "setting", value_name = "KEY=VALUE", value_parser = super::parse_setting)]
    settings: Vec<(String, String)>,
}

pub(super) async fn run(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let engine = super::engine()?;
    let shown = args.component.display();
    let Some(loaded) = super::load_or_refuse(&engine, &args.component).await? else {
        return Ok(ExitCode::from(1));
    };
    let version = &loaded.info.version;
    let implements = format!("implements wasm-listeners:listener@{version}");
    if args.settings.is_empty() {
        say!("ok: {shown} {implements}");
        for import in &loaded.info.imports {
            say!("  imports {import}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut spec = ListenerSpec::new(report::listener_name(&args.component));
    spec.settings = args.settings.into_iter().collect();
    let listener = engine.listener(&loaded, spec, Capabilities::record_only())?;
    let verdict = listener.validate_settings().await;
    // A refusal comes first and plainly: the component being valid is the lesser news.
    if !verdict.outcome.is_ok() {
        say!(
            "refused: {shown}: its validate-settings refused these settings: {}",
            verdict.outcome
        );
        say!("  (the component itself {implements})");
        return Ok(report::exit_code(std::slice::from_ref(&verdict)));
    }
    say!("ok: {shown} {implements}, and accepts these settings");
    for import in &loaded.info.imports {
        say!("  imports {import}");
    }
    Ok(report::exit_code(std::slice::from_ref(&verdict)))
}
