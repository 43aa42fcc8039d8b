//! Listeners in every language: one conformance suite, the language pages run as written,
//! and precompiled components.
//!
//! - **Conformance**: the case files of `tests/conformance/` run through `wasm-listeners
//!   test` against each language's `send-email`, `queue-forward` and `runaway`, built from
//!   source with the pinned tools `scripts/dev test` installs. Every case must pass, and
//!   every language must send the same emails and push the same bytes as the Rust
//!   examples. A language is added with its examples, a build script and a line in
//!   [`LANGUAGES`]: Rust, Python, JavaScript on SpiderMonkey and on QuickJS, C and Zig.
//! - **Pages**: `docs/<language>.md` is run block by block in an empty folder (see
//!   [`run_page`] for the conventions), with the installed tools on `PATH`.
//! - **Precompiled**: a second `serve` start with Python and JavaScript listeners compiles
//!   nothing; an altered artifact is refused and compiled again.

use crate::helpers::{self, repo};
use crate::http::{metrics, Server};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The examples every language has, by their case file's name.
const EXAMPLES: [&str; 3] = ["send-email", "queue-forward", "runaway"];

/// A language (or an engine of one) in the conformance suite.
struct Language {
    name: &'static str,
    /// The script that builds its examples into a folder (`SCRIPT OUT_DIR`); `None` for
    /// Rust, whose examples the harness builds with cargo.
    build: Option<&'static str>,
    /// What follows the example's name in the built file's name.
    suffix: &'static str,
}

const LANGUAGES: &[Language] = &[
    Language {
        name: "rust",
        build: None,
        suffix: "",
    },
    Language {
        name: "python",
        build: Some("examples/python/build"),
        suffix: "",
    },
    Language {
        name: "javascript (SpiderMonkey)",
        build: Some("examples/javascript/build"),
        suffix: ".spidermonkey",
    },
    Language {
        name: "javascript (QuickJS)",
        build: Some("examples/javascript/build"),
        suffix: ".quickjs",
    },
    Language {
        name: "c",
        build: Some("examples/c/build"),
        suffix: "",
    },
    Language {
        name: "zig",
        build: Some("examples/zig/build"),
        suffix: "",
    },
];

/// The built example `example` of `language`.
fn component(language: &Language, example: &str) -> PathBuf {
    let Some(script) = language.build else {
        return helpers::guest(example);
    };
    built(script).join(format!("{example}{}.wasm", language.suffix))
}

/// The folder a build script filled: `examples/target/<language>`, shared with `scripts/dev
/// build` and the benchmark. The script runs once per test process and rebuilds only what
/// changed (Python and JavaScript builds take seconds to tens of seconds each).
fn built(script: &'static str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<&'static str, PathBuf>>> = OnceLock::new();
    // A build that failed poisons the lock: the next test builds again and says why.
    let built = BUILT.get_or_init(Mutex::default).lock();
    let mut built = built.unwrap_or_else(|e| e.into_inner());
    let dir = built.entry(script).or_insert_with(|| {
        let language = Path::new(script)
            .parent()
            .and_then(Path::file_name)
            .unwrap();
        let out = repo().join("examples/target").join(language);
        let status = Command::new(repo().join(script))
            .arg(&out)
            .env("PATH", tool_path())
            .status()
            .unwrap_or_else(|e| panic!("cannot run {script}: {e}"));
        assert!(
            status.success(),
            "{script} failed: {status} (run `scripts/dev test` once: it installs the pinned tools)"
        );
        out
    });
    dir.clone()
}

/// A folder for this test process: built components and the shared artifact cache.
fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

/// `PATH` with the pinned tools first: `.venv/bin` (componentize-py, wasm-tools, Zig), the
/// JavaScript examples' `node_modules/.bin` (componentize-js, jco) and the runtime under
/// test. Debian's clang comes from the system's `PATH`.
fn tool_path() -> String {
    let runtime = Path::new(env!("CARGO_BIN_EXE_wasm-listeners"))
        .parent()
        .unwrap();
    let tools = [
        repo().join(".venv/bin"),
        repo().join("examples/javascript/node_modules/.bin"),
        runtime.to_owned(),
    ];
    let mut path: Vec<String> = tools.iter().map(|p| p.display().to_string()).collect();
    path.push(std::env::var("PATH").unwrap_or_default());
    path.join(":")
}

/// `wasm-listeners test COMPONENT --cases tests/conformance/EXAMPLE.toml --json`.
fn run_cases(component: &Path, example: &str) -> Value {
    let cases = repo().join(format!("tests/conformance/{example}.toml"));
    let output = helpers::bin()
        .arg("test")
        .arg(component)
        .arg("--cases")
        .arg(&cases)
        .arg("--json")
        .env("WASM_LISTENERS_CACHE", scratch().join("cache"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "{}: {e}\nstdout: {stdout}\nstderr: {stderr}",
            component.display()
        )
    })
}

/// Per case: its name, and the emails and pushes of its calls, as recorded.
fn effects(report: &Value) -> Vec<(String, Vec<Value>, Vec<Value>)> {
    let cases = report["cases"].as_array().unwrap();
    let calls = |case: &Value, what: &str| -> Vec<Value> {
        let calls = case["calls"].as_array().unwrap();
        calls
            .iter()
            .flat_map(|c| c[what].as_array().unwrap().clone())
            .collect()
    };
    cases
        .iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap().to_owned();
            (name, calls(c, "emails"), calls(c, "queue_pushes"))
        })
        .collect()
}

/// Runs every conformance case file against `language`'s examples; each must pass and
/// do exactly what the Rust examples do (emails field for field, pushes byte for byte).
fn conformance(language: &Language) {
    let _busy = helpers::heavy();
    let rust = &LANGUAGES[0];
    for example in EXAMPLES {
        let report = run_cases(&component(language, example), example);
        let failed: Vec<&Value> = report["cases"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["passed"] != true)
            .collect();
        assert!(
            failed.is_empty() && report["passed"].as_u64() > Some(0),
            "{} {example}: failed cases: {failed:#?}",
            language.name
        );
        if language.name != rust.name {
            let reference = run_cases(&component(rust, example), example);
            assert_eq!(
                effects(&report),
                effects(&reference),
                "{} {example} does not do what the Rust example does",
                language.name
            );
        }
    }
}

#[test]
fn conformance_rust() {
    conformance(&LANGUAGES[0]);
}

#[test]
fn conformance_python() {
    conformance(&LANGUAGES[1]);
}

#[test]
fn conformance_javascript_spidermonkey() {
    conformance(&LANGUAGES[2]);
}

#[test]
fn conformance_javascript_quickjs() {
    conformance(&LANGUAGES[3]);
}

#[test]
fn conformance_c() {
    conformance(&LANGUAGES[4]);
}

#[test]
fn conformance_zig() {
    conformance(&LANGUAGES[5]);
}

/// Runs a language page's fenced blocks in order, in an empty folder, as a reader would:
/// - `sh`: run with `bash -euo pipefail`;
/// - `sh install`: not run (it installs the tools, which [`tool_path`] provides);
/// - `LANG file=NAME`: written to `NAME`;
/// - anything else: shown only.
///
/// `$WASM_LISTENERS` is the repository. Returns the commands run, for the caller to check
/// that the page builds, checks and tests.
fn run_page(page: &str) -> Vec<String> {
    let text = std::fs::read_to_string(repo().join(page)).unwrap();
    let folder = tempfile::tempdir().unwrap();
    let mut commands = Vec::new();
    for (info, body) in fenced_blocks(&text) {
        let mut words = info.split_whitespace();
        let language = words.next().unwrap_or("");
        let rest: Vec<&str> = words.collect();
        if let Some(file) = rest.iter().find_map(|w| w.strip_prefix("file=")) {
            std::fs::write(folder.path().join(file), &body).unwrap();
        } else if language == "sh" && rest.is_empty() {
            let output = Command::new("bash")
                .args(["-euo", "pipefail", "-c", &body])
                .current_dir(folder.path())
                .env("PATH", tool_path())
                .env("WASM_LISTENERS", repo())
                .env("WASM_LISTENERS_CACHE", scratch().join("cache"))
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{page}: the block\n{body}\nfailed ({}):\n{}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            commands.push(body);
        }
    }
    commands
}

/// `(info string, body)` of each fenced code block of a Markdown text.
fn fenced_blocks(text: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in text.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => open = Some((info.trim().to_owned(), String::new())),
            (Some(_), Some(rest)) if rest.trim().is_empty() => blocks.push(open.take().unwrap()),
            (Some((_, body)), _) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "an unclosed code block");
    blocks
}

/// The page's commands must build, `check` and `test`: a page that stops running them
/// would otherwise pass.
fn assert_page_runs(page: &str) {
    let _busy = helpers::heavy();
    let commands = run_page(page).join("\n");
    for step in ["wasm-listeners check ", "wasm-listeners test "] {
        assert!(commands.contains(step), "{page} runs no `{step}`");
    }
}

#[test]
fn the_python_page_runs_as_written() {
    assert_page_runs("docs/python.md");
}

#[test]
fn the_javascript_page_runs_as_written() {
    assert_page_runs("docs/javascript.md");
}

#[test]
fn the_c_page_runs_as_written() {
    assert_page_runs("docs/c.md");
}

#[test]
fn the_zig_page_runs_as_written() {
    assert_page_runs("docs/zig.md");
}

/// The committed C bindings (`guest-sdk/c/bindings`) are what wit-bindgen 0.63's C
/// generator makes of `wit/` (as `scripts/dev bindings` runs it: `--no-object-file`),
/// byte for byte: generated here through the `wit-bindgen-c` crate, so the check always runs.
#[test]
fn the_c_bindings_are_generated_from_the_contract() {
    use wit_bindgen_core::wit_parser::Resolve;
    let mut resolve = Resolve::default();
    let (package, _) = resolve.push_dir(repo().join("wit")).expect("parsing wit/");
    let world = resolve.select_world(&[package], Some("listener")).unwrap();
    let options = wit_bindgen_c::Opts {
        no_object_file: true,
        ..wit_bindgen_c::Opts::default()
    };
    let mut files = wit_bindgen_core::Files::default();
    let mut generator = options.build();
    generator
        .generate(&mut resolve, world, &mut files)
        .expect("generating C bindings");
    let mut names = Vec::new();
    for (name, generated) in files.iter() {
        let path = repo().join("guest-sdk/c/bindings").join(name);
        let committed = std::fs::read(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "{} differs from what wit/ generates (run `scripts/dev bindings`)",
            path.display()
        );
        names.push(name.to_owned());
    }
    names.sort();
    assert_eq!(names, ["listener.c", "listener.h"]);
}

#[test]
fn fenced_blocks_are_read_with_their_info_strings() {
    let text = "text\n```sh install\npip x\n```\n```python file=app.py\nprint(1)\n\n```\n```\nshown\n```\n";
    let blocks = fenced_blocks(text);
    let expected = [
        ("sh install", "pip x\n"),
        ("python file=app.py", "print(1)\n\n"),
        ("", "shown\n"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(i, b)| (i.to_string(), b.to_string()))
        .collect();
    assert_eq!(blocks, expected);
}

/// `serve`'s configuration with the `send-email` of Python and of JavaScript on QuickJS
/// (SpiderMonkey's would add ~15 s of compiling to the test and nothing to what it shows).
fn big_guests_config(data_dir: &Path) -> String {
    let mut text = format!(
        "[server]\ndata_dir = {:?}\n",
        data_dir.display().to_string()
    );
    for (n, language) in [&LANGUAGES[1], &LANGUAGES[3]].into_iter().enumerate() {
        let path = component(language, "send-email");
        text.push_str(&format!(
            "[[listener]]\nname = \"send-email-{n}\"\ncomponent = {:?}\n[listener.settings]\nfrom = \"postmaster@localhost\"\nrecipients = \"ops@example.org\"\n[listener.email]\nallowed_senders = [\"postmaster@localhost\"]\nallowed_recipients = [\"ops@example.org\"]\n",
            path.display().to_string()
        ));
    }
    text
}

/// `wasm_listeners_component_loads_total` by `how`, read from `/metrics`.
fn loads(server: &Server) -> [f64; 3] {
    let m = metrics(server.address);
    ["compiled", "artifact", "artifact-refused"].map(|how| {
        let series = format!("wasm_listeners_component_loads_total{{how=\"{how}\"}}");
        m.get(&series)
            .copied()
            .unwrap_or_else(|| panic!("no {series}"))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_start_compiles_nothing_and_an_altered_artifact_is_refused() {
    let _busy = helpers::heavy_async().await;
    let dir = tempfile::tempdir().unwrap();
    let config = big_guests_config(&dir.path().join("data"));
    let count = 2.0;

    let first = Server::start(dir.path(), &config).await.unwrap();
    assert_eq!(
        loads(&first),
        [count, 0.0, 0.0],
        "the first start compiles each"
    );
    first.stop().await.unwrap();

    let second = Server::start(dir.path(), &config).await.unwrap();
    assert_eq!(
        loads(&second),
        [0.0, count, 0.0],
        "the second start compiles nothing"
    );
    let record = std::fs::read(helpers::fixture("record-create.json")).unwrap();
    let (status, answer) = second.post_events(record.clone()).await;
    assert_eq!(status, 200, "{answer}");
    second.stop().await.unwrap();

    // One byte of one artifact flipped: refused (its MAC), compiled again, stored again.
    let compiled = dir.path().join("data/compiled");
    let artifact = std::fs::read_dir(&compiled)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = std::fs::read(&artifact).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(&artifact, &bytes).unwrap();
    let third = Server::start(dir.path(), &config).await.unwrap();
    assert_eq!(loads(&third), [1.0, count - 1.0, 1.0]);
    let (status, answer) = third.post_events(record).await;
    assert_eq!(status, 200, "{answer}");
    third.stop().await.unwrap();
    assert_ne!(std::fs::read(&artifact).unwrap(), bytes, "stored again");
}
