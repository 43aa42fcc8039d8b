//! Listener components built at test time from WAT, so that a test does not depend on an
//! example's build.
//!
//! Each is a core module in WAT that implements the contract's `handler` (and imports what
//! it calls), given the contract's types by `wit-component` from `wit/listener.wit`.
//! `validate-settings` always returns `ok`; `handle` runs a body of WAT instructions that
//! leaves the address of its result on the stack: [`OK`] or [`FAILED`].
//!
//! Memory of every component: `OK` and `FAILED` (constant results of `handle`), `RET` (the
//! return area of an import call), the component's constant data from `DATA`, and from
//! `HEAP` what `cabi_realloc` hands the host for `handle`'s arguments.

use crate::helpers;
use wasm_listeners::{Capabilities, Engine, ErrorKind, Listener, ListenerSpec, Outcome, Part};
use wit_component::{ComponentEncoder, StringEncoding};
use wit_parser::Resolve;

/// The contract: the components get their types from it.
const CONTRACT: &str = include_str!("../../wit/listener.wit");

/// 16 zero bytes: `ok` of any result.
pub const OK: u32 = 0;
/// `err(transient(REFUSED))` of `handle`, the text right after it.
const FAILED: u32 = 16;
/// The message of `FAILED`.
pub const REFUSED: &str = "refused";
/// The return area of an import call (16 bytes: `result<_, send-error>`, `push-error`).
pub const RET: u32 = 48;
/// Where a component's constant data starts.
const DATA: u32 = 64;
/// Where `cabi_realloc` starts allocating.
const HEAP: u32 = 4096;

/// Loops forever: for the fuel and deadline limits.
pub fn spin() -> Vec<u8> {
    let body = format!("(loop $forever (br $forever)) (i32.const {OK})");
    component("", &Data::default(), &body)
}

/// Grows its memory to `mib` MiB, traps if it cannot, then returns `ok`.
pub fn grow(mib: u32) -> Vec<u8> {
    let pages = mib * 16;
    let body = format!(
        "(if (i32.eq (memory.grow (i32.sub (i32.const {pages}) (memory.size))) (i32.const -1))
            (then unreachable))
        (i32.const {OK})"
    );
    component("", &Data::default(), &body)
}

/// Returns `ok` and does nothing else.
pub fn ok() -> Vec<u8> {
    component("", &Data::default(), &format!("(i32.const {OK})"))
}

/// Counts the calls its instance served in a global: `ok` for the first `ok_calls`, then a
/// transient listener error ([`REFUSED`]). With a fresh instance per call, always `ok`.
pub fn count_calls(ok_calls: u32) -> Vec<u8> {
    let global = "(global $calls (mut i32) (i32.const 0))";
    let body = format!(
        "(global.set $calls (i32.add (global.get $calls) (i32.const 1)))
        (select (i32.const {FAILED}) (i32.const {OK})
            (i32.gt_u (global.get $calls) (i32.const {ok_calls})))"
    );
    component(global, &Data::default(), &body)
}

/// The queue name [`push_queue`] pushes to.
pub const QUEUE: &str = "events";
/// The payload [`push_queue`] pushes.
pub const PAYLOAD: &str = r#"{"from":"a test component"}"#;

/// Pushes [`PAYLOAD`] onto queue [`QUEUE`] (`queue.push`); returns `ok`, or a transient
/// listener error if the push failed.
pub fn push_queue() -> Vec<u8> {
    let mut data = Data::default();
    let (name, name_len) = data.bytes(QUEUE.as_bytes());
    let (payload, payload_len) = data.bytes(PAYLOAD.as_bytes());
    let imports = r#"(import "wasm-listeners:listener/queue@0.1.0" "push"
        (func $push (param i32 i32 i32 i32 i32)))"#;
    let body = format!(
        "(call $push (i32.const {name}) (i32.const {name_len})
            (i32.const {payload}) (i32.const {payload_len}) (i32.const {RET}))
        {}",
        result_of_the_call()
    );
    component(imports, &data, &body)
}

/// Sends one email from `a@example.org` to `b@example.org`, subject `probe` (`email.send`);
/// returns `ok`, or a transient listener error if the send failed.
pub fn send_email() -> Vec<u8> {
    let mut data = Data::default();
    let (from, from_len) = data.bytes(b"a@example.org");
    let (to, to_len) = data.bytes(b"b@example.org");
    let (subject, subject_len) = data.bytes(b"probe");
    let (body, body_len) = data.bytes(b"sent by a test component");
    let to_list = data.words(&[to, to_len]);
    // `message`, in the canonical ABI's layout: an option is a tag and its payload, a
    // string or a list a pointer and a length, each field 4-byte aligned.
    let fields: [&[u32]; 8] = [
        &[1, from, from_len],    // from: some(..)
        &[to_list, 1],           // to
        &[0, 0],                 // cc
        &[0, 0],                 // bcc
        &[0, 0, 0],              // reply-to: none
        &[subject, subject_len], // subject
        &[body, body_len],       // body
        &[0, 0, 0],              // html-body: none
    ];
    let message = data.words(&fields.concat());
    let imports = r#"(import "wasm-listeners:listener/email@0.1.0" "send"
        (func $send (param i32 i32)))"#;
    let call = format!("(call $send (i32.const {message}) (i32.const {RET}))");
    let body = format!("{call} {}", result_of_the_call());
    component(imports, &data, &body)
}

/// `handle`'s result after an import call: `FAILED` if the call returned an error (its
/// result in `RET` is `err`), else `OK`.
pub fn result_of_the_call() -> String {
    format!("(select (i32.const {FAILED}) (i32.const {OK}) (i32.load8_u (i32.const {RET})))")
}

/// A listener of component `bytes` (loaded by `engine`, so checked as the runtime checks
/// every component).
pub async fn listener(
    engine: &Engine,
    bytes: &[u8],
    spec: ListenerSpec,
    capabilities: Capabilities,
) -> Listener {
    let loaded = engine.load(bytes).await.expect("loading a test component");
    engine
        .listener(&loaded, spec, capabilities)
        .expect("listener")
}

/// A listener component whose `handle` runs `body` (which may refer to `imports`, core
/// imports of the contract's interfaces, and to `data`).
fn component(imports: &str, data: &Data, body: &str) -> Vec<u8> {
    component_in(World::Listener, imports, data, body)
}

/// The world a test component is built for.
#[derive(Debug, Clone, Copy)]
pub enum World {
    /// The contract's `listener` world.
    Listener,
    /// The contract's world and the WASI 0.2 functions of [`WASI`]: for hostile
    /// components.
    WithWasi,
}

/// The WASI 0.2 functions hostile components call, as WIT, one package a text: a subset of
/// the real interfaces (a component may import less than an interface has), which the
/// runtime's linker provides.
const WASI: [&str; 3] = [
    r#"package wasi:io@0.2.0;
    interface error {
        resource error;
    }
    interface streams {
        use error.{error};
        variant stream-error {
            last-operation-failed(error),
            closed,
        }
        resource output-stream {
            write: func(contents: list<u8>) -> result<_, stream-error>;
            blocking-write-and-flush: func(contents: list<u8>) -> result<_, stream-error>;
        }
    }"#,
    r#"package wasi:cli@0.2.0;
    interface stdout {
        use wasi:io/streams@0.2.0.{output-stream};
        get-stdout: func() -> output-stream;
    }
    interface stderr {
        use wasi:io/streams@0.2.0.{output-stream};
        get-stderr: func() -> output-stream;
    }"#,
    r#"package wasi:random@0.2.0;
    interface random {
        get-random-bytes: func(len: u64) -> list<u8>;
    }"#,
];

/// The world of [`World::WithWasi`].
const WITH_WASI: &str = r#"
package test:hostile;
world hostile {
    include wasm-listeners:listener/listener@0.1.0;
    import wasi:cli/stdout@0.2.0;
    import wasi:cli/stderr@0.2.0;
    import wasi:random/random@0.2.0;
}
"#;

/// A component of `world` whose `handle` runs `body`; `fields` are module fields (imports,
/// types, functions, a start function) placed before the rest.
pub fn component_in(world: World, fields: &str, data: &Data, body: &str) -> Vec<u8> {
    let imports = fields;
    let failed = escape(&words(&[1, 0, FAILED + 16, REFUSED.len() as u32]));
    let data = escape(&data.bytes);
    let handler = "wasm-listeners:listener/handler@0.1.0";
    let text = format!(
        r#"(module
  {imports}
  (memory (export "memory") 1)
  (data (i32.const {FAILED}) "{failed}" "{REFUSED}")
  (data (i32.const {DATA}) "{data}")
  (global $heap (mut i32) (i32.const {HEAP}))

  ;; A bump allocator, enough for one call: rounds up to `align`, grows the memory as needed.
  (func (export "cabi_realloc") (param i32 i32) (param $align i32) (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (i32.and
      (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
      (i32.sub (i32.const 0) (local.get $align))))
    (global.set $heap (i32.add (local.get $ptr) (local.get $size)))
    (if (i32.gt_u (global.get $heap) (i32.shl (memory.size) (i32.const 16)))
      (then (drop (memory.grow
        (i32.add (i32.shr_u (global.get $heap) (i32.const 16)) (i32.sub (i32.const 1) (memory.size)))))))
    (local.get $ptr))

  (func (export "{handler}#handle") (param $args i32) (result i32)
    {body})

  (func (export "{handler}#validate-settings") (param i32 i32) (result i32)
    (i32.const {OK})))"#
    );
    let mut module = wat::parse_str(&text).expect("test component WAT");
    let mut resolve = Resolve::default();
    let contract = resolve
        .push_str("listener.wit", CONTRACT)
        .expect("parsing the contract");
    let (package, name) = match world {
        World::Listener => (contract, "listener"),
        World::WithWasi => {
            for package in WASI {
                resolve.push_str("wasi.wit", package).expect("parsing WASI");
            }
            let hostile = resolve.push_str("hostile.wit", WITH_WASI);
            (hostile.expect("parsing the hostile world"), "hostile")
        }
    };
    let world = resolve
        .select_world(&[package], Some(name))
        .expect("the component's world");
    wit_component::embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8)
        .expect("embedding the contract");
    let mut encoder = ComponentEncoder::default()
        .module(&module)
        .expect("test component module")
        .validate(true);
    encoder.encode().expect("encoding the test component")
}

/// Constant data placed from `DATA` on.
#[derive(Debug, Default)]
pub struct Data {
    bytes: Vec<u8>,
}

impl Data {
    /// Appends `bytes`; returns their address and length.
    pub fn bytes(&mut self, bytes: &[u8]) -> (u32, u32) {
        let at = self.end();
        self.bytes.extend_from_slice(bytes);
        (at, bytes.len() as u32)
    }

    /// Appends little-endian 32-bit words, aligned to 4; returns their address.
    fn words(&mut self, values: &[u32]) -> u32 {
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
        self.bytes(&words(values)).0
    }

    fn end(&self) -> u32 {
        DATA + self.bytes.len() as u32
    }
}

fn words(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// `bytes` as the text of a WAT string.
fn escape(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\{b:02x}")).collect()
}

#[tokio::test]
async fn every_component_loads_and_validates_its_settings() {
    let engine = helpers::engine();
    for bytes in [
        spin(),
        grow(1),
        ok(),
        count_calls(1),
        push_queue(),
        send_email(),
    ] {
        let spec = helpers::open_spec("component", &[]);
        let listener = listener(&engine, &bytes, spec, Capabilities::record_only()).await;
        let report = listener.validate_settings().await;
        assert_eq!(report.outcome, Outcome::Ok, "{:?}", report.log);
    }
}

#[tokio::test]
async fn effects_reach_the_report() {
    let engine = helpers::engine();
    let incoming = helpers::fixture_event("record-create.json", 0);
    let delivery = helpers::delivery(&incoming);
    let spec = helpers::open_spec("push", &[]);
    let push = listener(&engine, &push_queue(), spec, Capabilities::record_only()).await;
    let report = push.call(&incoming.event, &delivery, Part::WHOLE).await;
    assert_eq!(report.outcome, Outcome::Ok, "{:?}", report.log);
    assert_eq!(report.queue_pushes.len(), 1);
    assert_eq!(report.queue_pushes[0].queue, QUEUE);
    assert_eq!(report.queue_pushes[0].payload, PAYLOAD.as_bytes());

    let spec = helpers::open_spec("email", &[]);
    let email = listener(&engine, &send_email(), spec, Capabilities::record_only()).await;
    let report = email.call(&incoming.event, &delivery, Part::WHOLE).await;
    assert_eq!(report.outcome, Outcome::Ok, "{:?}", report.log);
    assert_eq!(report.emails.len(), 1);
    assert_eq!(report.emails[0].to, ["b@example.org"]);

    // A refused effect is the transient error of `FAILED`.
    let spec = ListenerSpec::new("denied");
    let denied = listener(&engine, &push_queue(), spec, Capabilities::record_only()).await;
    let report = denied.call(&incoming.event, &delivery, Part::WHOLE).await;
    assert_eq!(
        report.outcome,
        Outcome::ListenerError {
            error: ErrorKind::Transient,
            message: REFUSED.into()
        }
    );
}
