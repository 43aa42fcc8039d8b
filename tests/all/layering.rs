//! The runtime's dependencies point one way, as `runtime/src/lib.rs` says.
//!
//! The "Dependency order" line of lib.rs's layout lists the top-level modules, each using
//! only modules to its right (`a -> {b, c} -> d`: `b` and `c` may both use `d` but not each
//! other). These tests resolve every `crate::` and `super::` path of `runtime/src` (in `use`
//! items and inline, lib.rs's re-exports included) to the top-level module that defines it
//! and fail on a path against the order.

use crate::helpers;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The top-level modules by level: level 0 is the leftmost group.
#[derive(Debug)]
struct Order {
    level: BTreeMap<String, usize>,
}

impl Order {
    /// Reads the order from lib.rs's `//! `a -> b -> ...`` line.
    fn from_lib(lib: &str) -> Order {
        let line = lib
            .lines()
            .filter_map(|l| l.strip_prefix("//! `"))
            .find(|l| l.contains(" -> "))
            .expect("lib.rs's layout has a dependency order line (//! `a -> b -> ...`)");
        let line = line.trim_end_matches('`');
        let mut level = BTreeMap::new();
        for (n, group) in line.split(" -> ").enumerate() {
            let group = group.trim().trim_start_matches('{').trim_end_matches('}');
            for module in group.split(',') {
                level.insert(module.trim().to_owned(), n);
            }
        }
        Order { level }
    }

    fn level(&self, module: &str) -> Option<usize> {
        self.level.get(module).copied()
    }
}

/// One source file: its module path (`engine/listener.rs` -> `["engine", "listener"]`) and
/// its text.
struct Source {
    file: String,
    module: Vec<String>,
    text: String,
}

/// Every `.rs` file under `dir`, but the binary's `main.rs`.
fn sources(dir: &Path) -> Vec<Source> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                if relative != "main.rs" {
                    let text = std::fs::read_to_string(&path).unwrap();
                    found.push(source(&relative, &text));
                }
            }
        }
    }
    found
}

fn source(relative: &str, text: &str) -> Source {
    let mut module: Vec<String> = relative
        .trim_end_matches(".rs")
        .split('/')
        .map(str::to_owned)
        .collect();
    if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
        module.pop();
    }
    Source {
        file: relative.to_owned(),
        module,
        text: text.to_owned(),
    }
}

/// lib.rs's `pub use module::{A, B};` items: name -> module.
fn reexports(lib: &str) -> BTreeMap<String, String> {
    let mut names = BTreeMap::new();
    for item in code(lib).split(';') {
        let Some(rest) = item.trim().strip_prefix("pub use ") else {
            continue;
        };
        let (module, list) = rest.split_once("::").expect("pub use module::...");
        let list = list.trim().trim_start_matches('{').trim_end_matches('}');
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let name = name.rsplit("::").next().unwrap();
            names.insert(name.to_owned(), module.to_owned());
        }
    }
    names
}

/// The text without comment lines and the rest of a line after `// `.
fn code(text: &str) -> String {
    let lines = text.lines().filter(|l| !l.trim_start().starts_with("//"));
    let lines = lines.map(|l| l.split(" // ").next().unwrap_or(l));
    lines.collect::<Vec<_>>().join("\n")
}

/// A path that goes against the order.
#[derive(Debug, PartialEq, Eq)]
struct Violation {
    file: String,
    path: String,
    from: String,
    to: String,
}

/// Every path of `sources` that goes against `order`; an unresolvable path or a module
/// missing from the order panics, naming it.
fn violations(
    order: &Order,
    sources: &[Source],
    reexports: &BTreeMap<String, String>,
) -> Vec<Violation> {
    let mut found = Vec::new();
    for s in sources.iter().filter(|s| !s.module.is_empty()) {
        let from = &s.module[0];
        let from_level = order.level(from).unwrap_or_else(|| {
            panic!(
                "module `{from}` ({}) is not in lib.rs's dependency order",
                s.file
            )
        });
        for (path, to) in targets(s, reexports) {
            let to_level = order.level(&to).unwrap_or_else(|| {
                panic!(
                    "{}: `{path}` resolves to `{to}`, which is not in the order",
                    s.file
                )
            });
            if to != *from && to_level <= from_level {
                let (file, from, to) = (s.file.clone(), from.clone(), to);
                found.push(Violation {
                    file,
                    path,
                    from,
                    to,
                });
            }
        }
    }
    found
}

/// Every `crate::` and `super::` path of a file, with the top-level module it resolves to.
fn targets(s: &Source, reexports: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut found = Vec::new();
    // Inline modules at the file's top level (`mod tests {` .. `}`) add to the path.
    let mut inline: Option<String> = None;
    for line in code(&s.text).lines() {
        if let Some(name) = line.strip_prefix("mod ").and_then(|l| l.strip_suffix(" {")) {
            inline = Some(name.trim().to_owned());
        } else if line == "}" {
            inline = None;
        }
        let mut here = s.module.clone();
        here.extend(inline.clone());
        for (start, _) in line
            .match_indices("crate::")
            .chain(line.match_indices("super::"))
        {
            let before = line[..start].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
                continue;
            }
            let path = path_at(&line[start..]);
            for segments in expand(&path) {
                if let Some(to) = resolve(&here, &segments, reexports) {
                    found.push((path.clone(), to));
                } else {
                    panic!("{}: cannot resolve `{path}`", s.file);
                }
            }
        }
    }
    found
}

/// The path starting here: identifiers, `::`, and one `{...}` group.
fn path_at(text: &str) -> String {
    let mut depth = 0;
    let mut end = 0;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            c if depth > 0 || c.is_alphanumeric() || c == '_' || c == ':' || c == '*' => {}
            _ => break,
        }
        end = i + c.len_utf8();
    }
    text[..end].trim_end_matches(':').to_owned()
}

/// `crate::{a::X, b}` -> [[crate, a, X], [crate, b]]; a path without a group as it is.
fn expand(path: &str) -> Vec<Vec<String>> {
    let split = |p: &str| -> Vec<String> {
        p.split("::")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let Some((head, group)) = path.split_once('{') else {
        return vec![split(path)];
    };
    let group = group.trim_end_matches('}');
    let mut items = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for c in group.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    items.push(current);
    let items = items.iter().map(|i| i.trim()).filter(|i| !i.is_empty());
    items.map(|item| split(&format!("{head}{item}"))).collect()
}

/// The top-level module `segments` (starting `crate` or `super`) names, seen from `here`.
fn resolve(
    here: &[String],
    segments: &[String],
    reexports: &BTreeMap<String, String>,
) -> Option<String> {
    let mut at: Vec<String> = here.to_vec();
    let mut rest = segments;
    match rest.first().map(String::as_str) {
        Some("crate") => {
            at.clear();
            rest = &rest[1..];
        }
        Some("super") => {
            while rest.first().map(String::as_str) == Some("super") {
                at.pop()?;
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    if let Some(top) = at.first() {
        return Some(top.clone());
    }
    let first = rest.first()?;
    match reexports.get(first) {
        Some(module) => Some(module.clone()),
        None => Some(first.trim_start_matches("r#").to_owned()),
    }
}

fn runtime_src() -> std::path::PathBuf {
    helpers::repo().join("runtime/src")
}

#[test]
fn every_path_in_the_runtime_follows_the_dependency_order() {
    let lib = std::fs::read_to_string(runtime_src().join("lib.rs")).unwrap();
    let order = Order::from_lib(&lib);
    let sources = sources(&runtime_src());
    let against = violations(&order, &sources, &reexports(&lib));
    assert_eq!(against, [], "paths against lib.rs's dependency order");
    let top: BTreeSet<&str> = sources
        .iter()
        .filter_map(|s| s.module.first())
        .map(String::as_str)
        .collect();
    let listed: BTreeSet<&str> = order.level.keys().map(String::as_str).collect();
    assert_eq!(
        top, listed,
        "the order names every module of runtime/src, and only those"
    );
}

#[test]
fn a_path_against_the_order_is_found() {
    let lib = std::fs::read_to_string(runtime_src().join("lib.rs")).unwrap();
    let order = Order::from_lib(&lib);
    let reexports = reexports(&lib);
    let fixture = [
        // host may use policy (to its right) ...
        source(
            "host/email.rs",
            "use crate::policy::EmailPolicy;\nuse super::DeadlineExceeded;\n",
        ),
        // ... but not dispatch (to its left), here through a group and a re-export ...
        source(
            "host/queue.rs",
            "use crate::{bindings::queue::Host, dispatch::Route};\n",
        ),
        // ... and config may not use a module of its own group, even inline.
        source("config/mod.rs", "fn f() -> crate::Store { todo!() }\n"),
        source("limits.rs", "mod tests {\n    use super::*;\n}\n"),
    ];
    let found = violations(&order, &fixture, &reexports);
    let pairs: Vec<(&str, &str, &str)> = found
        .iter()
        .map(|v| (v.file.as_str(), v.from.as_str(), v.to.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("host/queue.rs", "host", "dispatch"),
            ("config/mod.rs", "config", "store")
        ]
    );
}
