//! `wasm-listeners-bench`: every comparison runs both sides in one run on one machine and
//! reports the ratio; the results go into BENCHMARKS.md with a plot.
//!
//! Run with `scripts/dev bench` (release build, real servers started by the command), or
//! for a smoke run: `cargo run -p wasm-listeners-bench -- --quick --out /tmp/bench`.
//!
//! # Layout
//! - `main.rs`: the command line, the rows in order, writing the report.
//! - `engine.rs`: row 1, a runtime call against bare wasmtime and plain Rust.
//! - `bare.rs`: bare wasmtime: the runtime's engine, the same store limits, trivial imports.
//! - `email.rs`: rows 2 and 3, the email path against the tutorial's and the sink's ceiling.
//! - `http.rs`: row 4, `POST /v1/events` under a hyper load generator.
//! - `worker.rs`: row 5, the durable async worker on kinto-redis's list against the
//!   tutorial's worker.
//! - `guests.rs`: row 6, listeners in every language: size, compile and precompiled load
//!   times, fuel and time per event, and the engine row for the big guests.
//! - `uploads.rs`: row 7, sync events while a tenant's upload compiles in the child (this
//!   binary serves as `compile-child`) against none.
//! - `servers.rs`: the SMTP sink and Redis the rows run against; the Python anchors.
//! - `measure.rs`: trials, medians, percentiles.
//! - `report.rs`, `plot.rs`: BENCHMARKS.md and its PNG.

mod bare;
mod email;
mod engine;
mod guests;
mod http;
mod measure;
mod plot;
mod report;
mod servers;
mod sink;
mod uploads;
mod worker;

use clap::Parser;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Side-by-side benchmarks of wasm-listeners.
#[derive(Debug, Parser)]
#[command(name = "wasm-listeners-bench")]
struct Args {
    /// A few iterations of each row, to check that the command runs (no figure is
    /// meaningful).
    #[arg(long)]
    quick: bool,
    /// Where BENCHMARKS.md and benchmarks.png go.
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
    /// Rows to run (engine, email, http, worker, guests, uploads); default all.
    #[arg(long, value_delimiter = ',')]
    rows: Vec<String>,
}

/// The allocator of the `wasm-listeners` binary (`runtime/src/main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // The uploads row's `serve` compiles in a child of the running binary: this one.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == "compile-child")
    {
        return wasm_listeners::run(wasm_listeners::Cli::parse());
    }
    let args = Args::parse();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    match runtime.block_on(run(&args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: &Args) -> anyhow::Result<()> {
    let scale = if args.quick {
        measure::Scale::Quick
    } else {
        measure::Scale::Full
    };
    let wants = |row: &str| args.rows.is_empty() || args.rows.iter().any(|r| r == row);
    let guests = servers::build_guests()?;
    let mut rows = Vec::new();
    if wants("engine") {
        rows.extend(engine::rows(&guests, scale).await?);
    }
    if wants("email") {
        rows.extend(email::rows(&guests, scale).await?);
    }
    if wants("http") {
        rows.extend(http::rows(&guests, scale).await?);
    }
    if wants("worker") {
        rows.extend(worker::rows(&guests, scale).await?);
    }
    if wants("uploads") {
        rows.extend(uploads::rows(&guests, scale).await?);
    }
    let mut languages = Vec::new();
    if wants("guests") {
        let (guest_rows, figures) = guests::rows(&guests, scale).await?;
        rows.extend(guest_rows);
        languages = figures;
    }
    std::fs::create_dir_all(&args.out)?;
    let plot = args.out.join("benchmarks.png");
    let languages_plot = args.out.join("languages.png");
    // The report first: it tells whether the tree was clean, before this run writes into it.
    let markdown = report::markdown(
        &rows,
        &languages,
        scale,
        &command_line(args),
        &plot_name(&plot),
        &plot_name(&languages_plot),
    )?;
    let path = args.out.join("BENCHMARKS.md");
    std::fs::write(&path, markdown)?;
    plot::draw(&rows, &plot)?;
    if !languages.is_empty() {
        plot::draw_languages(&languages, &languages_plot)?;
    }
    println!("{}", report::table(&rows));
    println!("{}", report::guests_table(&languages));
    println!("wrote {} and {}", path.display(), plot.display());
    if !languages.is_empty() {
        println!("wrote {}", languages_plot.display());
    }
    Ok(())
}

fn command_line(args: &Args) -> String {
    let mut line = "scripts/dev bench".to_owned();
    if args.quick {
        line.push_str(" --quick");
    }
    if !args.rows.is_empty() {
        line.push_str(&format!(" --rows {}", args.rows.join(",")));
    }
    line
}

fn plot_name(plot: &Path) -> String {
    let name = plot.file_name().map(|n| n.to_string_lossy().into_owned());
    name.unwrap_or_else(|| "benchmarks.png".into())
}
