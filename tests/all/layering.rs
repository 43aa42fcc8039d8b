//! The runtime's dependencies point one way, as `runtime/src/lib.rs` says, and its errors
//! keep their causes.
//!
//! The "Dependency order" line of lib.rs's layout lists the top-level modules, each using
//! only modules to its right (`a -> {b, c} -> d`: `b` and `c` may both use `d` but not each
//! other). These tests resolve every `crate::` and `super::` path of `runtime/src` (in `use`
//! items and inline, lib.rs's re-exports included) to the top-level module that defines it
//! and fail on a path against the order.
//!
//! Errors are enums whose variants keep their cause as a source (STYLE.md, "Errors"): the
//! last tests fail on an error built from another error's text
//! (`map_err(|e| Type(e.to_string()))`, `Type(format!("..{e}"))`), but for the types listed
//! in [`STRING_ERRORS`], whose text is meant for a guest or an HTTP client.

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

/// Constructors that may be built from another error's text, each with why: the text is
/// what crosses the boundary, by design.
const STRING_ERRORS: &[(&str, &str)] = &[
    (
        "EmailBackendError::Permanent",
        "the guest's `send-error` is a WIT string: the text is what the guest reads",
    ),
    (
        "EmailBackendError::Transient",
        "the guest's `send-error` is a WIT string: the text is what the guest reads",
    ),
    (
        "CheckError::Invalid",
        "carries wasmtime's message (anyhow) or the compile task's, which have no error type",
    ),
    (
        "CheckError::Link",
        "carries wasmtime's linker message (anyhow, with its chain), which has no error type",
    ),
    (
        "CheckError::Signature",
        "carries wasmtime's message (anyhow, with its chain), which has no error type",
    ),
    (
        "Outcome::Trap",
        "not an error but a call's report: wasmtime's trap text is what the report, the record and the guest's author read",
    ),
    (
        "ApiError::BadRequest",
        "the HTTP response body: a client error says what was wrong, in words",
    ),
    (
        "ApiError::Unavailable",
        "the HTTP response body: the client is told what is down and to try again",
    ),
];

/// An error built from another error's text.
#[derive(Debug, PartialEq, Eq)]
struct StringWrapped {
    /// `file:line`.
    at: String,
    /// The constructor, as written (`QueueError`, `CheckError::Link`).
    constructor: String,
}

/// Every error of `file` built from another error's text: in a closure given to `map_err`,
/// `or_else` or `unwrap_or_else`, a closure whose parameter is typed `..Error`, or a
/// function whose one parameter is, a tuple constructor (its name starts with an uppercase
/// letter) whose argument is `e.to_string()` or a `format!` naming `e`, the parameter.
fn string_wrapped(file: &str, text: &str) -> Vec<StringWrapped> {
    let code = code_keeping_lines(text);
    let mut found = Vec::new();
    for (param, body_start, body_end) in error_handlers(&code) {
        for (offset, constructor) in wrapped_in(&code[body_start..body_end], &param) {
            let line = code[..body_start + offset].matches('\n').count() + 1;
            let wrapped = StringWrapped {
                at: format!("{file}:{line}"),
                constructor,
            };
            if !found.contains(&wrapped) {
                found.push(wrapped);
            }
        }
    }
    // In the file's order (handlers nest: a closure inside a function).
    found.sort_by_key(|w| {
        w.at.rsplit(':')
            .next()
            .and_then(|l| l.parse::<usize>().ok())
    });
    found
}

/// The text with comments blanked, line numbers kept.
fn code_keeping_lines(text: &str) -> String {
    let lines = text.lines().map(|l| {
        if l.trim_start().starts_with("//") {
            ""
        } else {
            l.split(" // ").next().unwrap_or(l)
        }
    });
    lines.collect::<Vec<_>>().join("\n")
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Where a scan of code stands against string literals.
#[derive(Default)]
struct Literal {
    /// Inside a string literal.
    open: bool,
    /// Just after a backslash in it.
    escaped: bool,
}

impl Literal {
    /// Whether `c` belongs to a string literal (its quotes included), moving past it.
    fn takes(&mut self, c: char) -> bool {
        if !self.open {
            self.open = c == '"';
            return self.open;
        }
        match c {
            _ if self.escaped => self.escaped = false,
            '\\' => self.escaped = true,
            '"' => self.open = false,
            _ => {}
        }
        true
    }
}

/// The end of the group opened just before `start` (the index of its closing bracket), or
/// of the expression starting at `start` (a `,` or `;` at depth 0, or a closing bracket of
/// the enclosing group); string literals are skipped.
fn group_end(code: &str, start: usize, expression: bool) -> usize {
    let mut depth = 0usize;
    let mut literal = Literal::default();
    for (i, c) in code[start..].char_indices() {
        if literal.takes(c) {
            continue;
        }
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' if depth == 0 => return start + i,
            ')' | ']' | '}' => depth -= 1,
            ',' | ';' if expression && depth == 0 => return start + i,
            _ => {}
        }
    }
    code.len()
}

/// `(parameter, body start, body end)` of every closure or function of `code` that handles
/// an error (see [`string_wrapped`]).
fn error_handlers(code: &str) -> Vec<(String, usize, usize)> {
    let mut found = Vec::new();
    let typed_error = |ty: &str| {
        ty.trim()
            .rsplit("::")
            .next()
            .unwrap_or("")
            .ends_with("Error")
    };
    // Closures given to the error combinators, typed or not.
    for call in ["map_err(", "or_else(", "unwrap_or_else("] {
        for (at, _) in code.match_indices(call) {
            if code[..at].chars().last().is_some_and(is_ident) {
                continue;
            }
            let start = at + call.len();
            let end = group_end(code, start, false);
            let arg = code[start..end].trim_start();
            let arg = arg.strip_prefix("move ").unwrap_or(arg).trim_start();
            let Some(rest) = arg.strip_prefix('|') else {
                continue;
            };
            let Some((params, _)) = rest.split_once('|') else {
                continue;
            };
            let param = params.split(':').next().unwrap_or("").trim();
            if !param.is_empty() && param != "_" && param.chars().all(is_ident) {
                found.push((param.to_owned(), start, end));
            }
        }
    }
    // Closures elsewhere whose parameter is typed `..Error`: `|e: RedisError| ..`.
    for (at, _) in code.match_indices('|') {
        let rest = &code[at + 1..];
        let Some((params, _)) = rest.split_once('|') else {
            continue;
        };
        let Some((param, ty)) = params.split_once(':') else {
            continue;
        };
        let param = param.trim();
        if param.is_empty() || !param.chars().all(is_ident) || !typed_error(ty) {
            continue;
        }
        if ty.contains(['\n', ',', '(', ')']) {
            continue;
        }
        let start = at + 1 + params.len() + 1;
        let body = code[start..].trim_start();
        let start = code.len() - body.len();
        let end = match body.strip_prefix('{') {
            Some(_) => group_end(code, start + 1, false),
            None => group_end(code, start, true),
        };
        found.push((param.to_owned(), start, end));
    }
    // Functions of one parameter typed `..Error`: `fn queue_error(e: StoreError) -> ..`.
    for (at, _) in code.match_indices("fn ") {
        if code[..at].chars().last().is_some_and(is_ident) {
            continue;
        }
        let Some(open) = code[at..].find('(').map(|i| at + i) else {
            continue;
        };
        let close = group_end(code, open + 1, false);
        let params = &code[open + 1..close];
        let Some((param, ty)) = params.split_once(':') else {
            continue;
        };
        let param = param.trim().trim_start_matches("mut ").trim();
        if params.contains(',') || !param.chars().all(is_ident) || !typed_error(ty) {
            continue;
        }
        // A declaration without a body (`fn f(e: E);`) has none to read.
        let Some(body) = code[close..].find(['{', ';']).map(|i| close + i) else {
            continue;
        };
        if code[body..].starts_with(';') {
            continue;
        }
        let body = body + 1;
        found.push((param.to_owned(), body, group_end(code, body, false)));
    }
    found
}

/// `(offset, constructor)` of every `Type(param.to_string())`, `Type(format!(..param..))`
/// and `Type { field: param.to_string(), .. }` (or a field given such a `format!`) of
/// `body`.
fn wrapped_in(body: &str, param: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (open, bracket) in body.match_indices(['(', '{']) {
        let before = body[..open].trim_end();
        let path_start = before
            .char_indices()
            .rev()
            .take_while(|&(_, c)| is_ident(c) || c == ':')
            .last()
            .map_or(before.len(), |(i, _)| i);
        let constructor = &before[path_start..];
        let last = constructor.rsplit("::").next().unwrap_or("");
        if !last.starts_with(|c: char| c.is_ascii_uppercase()) {
            continue;
        }
        let inside = &body[open + 1..];
        let converted = if bracket == "(" {
            from_text(inside, param)
        } else {
            let fields = &inside[..group_end(inside, 0, false)];
            let mut at = 0;
            let mut any = false;
            while at < fields.len() {
                let end = group_end(fields, at, true);
                let field = &fields[at..end];
                any |= field
                    .split_once(':')
                    .is_some_and(|(_, value)| from_text(value, param));
                at = end + 1;
            }
            any
        };
        if converted {
            found.push((path_start, constructor.to_owned()));
        }
    }
    found
}

/// Whether the expression `value` starts as `param.to_string()` or a `format!` naming
/// `param`.
fn from_text(value: &str, param: &str) -> bool {
    let value = value.trim_start();
    match value.strip_prefix(param) {
        Some(rest) if !rest.starts_with(is_ident) => rest.trim_start().starts_with(".to_string()"),
        _ => match value.strip_prefix("format!(") {
            Some(args) => names(&args[..group_end(args, 0, false)], param),
            None => false,
        },
    }
}

/// Whether `format!` arguments name `param`: `{param}` or `{param:..}` in the literal, or
/// `param` as an argument.
fn names(args: &str, param: &str) -> bool {
    let mut literal = Literal::default();
    let mut outside = String::new();
    let mut inside = String::new();
    for c in args.chars() {
        let was_inside = literal.open;
        if !literal.takes(c) {
            outside.push(c);
        } else if was_inside {
            inside.push(c);
        } else {
            outside.push(' ');
        }
    }
    let in_literal =
        inside.contains(&format!("{{{param}}}")) || inside.contains(&format!("{{{param}:"));
    let as_argument = outside
        .split(|c: char| !is_ident(c))
        .any(|word| word == param);
    in_literal || as_argument
}

#[test]
fn errors_keep_their_causes() {
    let allowed: BTreeMap<&str, &str> = STRING_ERRORS.iter().copied().collect();
    let mut wrapped = Vec::new();
    for s in sources(&runtime_src()) {
        wrapped.extend(string_wrapped(&s.file, &s.text));
    }
    let (excepted, against): (Vec<_>, Vec<_>) = wrapped
        .into_iter()
        .partition(|w| allowed.contains_key(w.constructor.as_str()));
    let listed: Vec<String> = against
        .iter()
        .map(|w| format!("{}: {}(..e..)", w.at, w.constructor))
        .collect();
    assert!(
        listed.is_empty(),
        "errors built from another error's text: make the cause a variant's source \
         (#[source] or #[from]), or add the type to STRING_ERRORS with why:\n{}",
        listed.join("\n")
    );
    let used: BTreeSet<&str> = excepted.iter().map(|w| w.constructor.as_str()).collect();
    let unused: Vec<&str> = allowed
        .keys()
        .copied()
        .filter(|c| !used.contains(c))
        .collect();
    assert_eq!(
        unused,
        Vec::<&str>::new(),
        "STRING_ERRORS lists constructors no longer built from an error's text: remove them"
    );
}

#[test]
fn an_error_built_from_an_error_text_is_found() {
    let fixture = r#"
fn a() -> Result<(), QueueError> {
    let x = y().map_err(|e| QueueError(e.to_string()))?;
    let x = y().map_err(|why| {
        InvocationError::Redis(format!(
            "redis: {why}"
        ))
    })?;
    let x = y().map_err(|e| Wrapper::Io(format!("cannot read {}: {}", path, e)))?;
    let setup = |e: RedisError| RedisSetupError::Setup(format!("{e:#}"));
    let x = task.await.map_err(|e| StoreError::Task {
        path: path.clone(),
        message: e.to_string(),
    })?;
    let x = y().map_err(|e| Failed { what: "x", why: format!("{e}") })?;
}

fn queue_error(e: crate::store::StoreError) -> QueueError {
    QueueError(e.to_string())
}

fn fine() -> Result<(), QueueError> {
    // A comment: map_err(|e| QueueError(e.to_string()))
    let x = y().map_err(|source| QueueError::Store { source })?;
    let x = y().map_err(QueueError::Store)?;
    let x = y().map_err(|e| e.to_string())?;
    let x = y().map_err(|e| Refused::Name(name.to_string()))?;
    let x = y().map_err(|e| Refused::Name(format!("`{name}` is not a name: {elsewhere}")))?;
    let x = y().map_err(|_| Refused::Mac(path.to_owned()))?;
    let x = y().map(|name| Label(name.to_string()));
    let x = task.await.map_err(|source| StoreError::Task { path: path.clone(), source })?;
    let x = y().map_err(|e| { log(e); Failed { what: name.to_string() } })?;
}
"#;
    let found = string_wrapped("fixture.rs", fixture);
    let pairs: Vec<(&str, &str)> = found
        .iter()
        .map(|w| (w.at.as_str(), w.constructor.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("fixture.rs:3", "QueueError"),
            ("fixture.rs:5", "InvocationError::Redis"),
            ("fixture.rs:9", "Wrapper::Io"),
            ("fixture.rs:10", "RedisSetupError::Setup"),
            ("fixture.rs:11", "StoreError::Task"),
            ("fixture.rs:15", "Failed"),
            ("fixture.rs:19", "QueueError"),
        ]
    );
}
