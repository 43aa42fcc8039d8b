//! The `queue` capability against real backends: a real `redis-server` (pushes, a dead
//! Redis, reconnecting, names refused before the backend) and the embedded SQLite store,
//! read back by `wasm-listeners queue pop`.

use crate::helpers::{self, delivery, fixture_event};
use crate::servers::redis::RedisServer;
use serde_json::Value;
use std::sync::Arc;
use wasm_listeners::{CallReport, Capabilities, Engine, ErrorKind, Listener, Outcome, Part};
use wasm_listeners::{
    Config, EmbeddedQueue, Incoming, QueueBackend, QueuePolicy, QueueRules, RecordOnly, RedisQueue,
    Secret, Store,
};

/// The queue the listeners of these tests push to.
const QUEUE: &str = "kinto-jobs";

/// `queue-forward` pushing to `listname`, allowed only `allowed`, on `backend`.
async fn forward(
    engine: &Engine,
    listname: &str,
    allowed: &[&str],
    backend: Arc<dyn QueueBackend>,
) -> Listener {
    let mut spec = helpers::open_spec("forward", &[("listname", listname)]);
    let allowed = allowed.iter().map(|a| a.to_string()).collect();
    spec.queue = QueuePolicy::deny_all().with_layer(QueueRules { allowed });
    let caps = Capabilities {
        email: Arc::new(RecordOnly),
        queue: backend,
    };
    let component = helpers::load(engine, "queue-forward").await;
    engine.listener(&component, spec, caps).expect("listener")
}

async fn call(listener: &Listener, incoming: &Incoming) -> CallReport {
    let delivery = delivery(incoming);
    listener.call(&incoming.event, &delivery, Part::WHOLE).await
}

/// The payload Kinto emitted for `incoming`, as a JSON value.
fn payload_of(incoming: &Incoming) -> Value {
    Value::Object(incoming.event.payload())
}

fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {bytes:?}"))
}

fn redis_queue(server: &RedisServer) -> Arc<RedisQueue> {
    Arc::new(RedisQueue::new(&Secret::new(server.url())).expect("redis backend"))
}

/// `BRPOP QUEUE 5`, as a kinto-redis worker does.
async fn brpop(server: &RedisServer) -> Value {
    let mut conn = server.connection().await;
    let mut cmd = redis::cmd("BRPOP");
    cmd.arg(QUEUE).arg(5);
    let popped: Option<(String, Vec<u8>)> = cmd.query_async(&mut conn).await.unwrap();
    let (list, payload) = popped.expect("an item within 5 s");
    assert_eq!(list, QUEUE);
    json(&payload)
}

fn assert_transient(report: &CallReport) -> String {
    match &report.outcome {
        Outcome::ListenerError {
            error: ErrorKind::Transient,
            message,
        } => message.clone(),
        other => panic!("expected a transient listener error, got {other:?}"),
    }
}

fn assert_permanent(report: &CallReport, says: &str) {
    match &report.outcome {
        Outcome::ListenerError {
            error: ErrorKind::Permanent,
            message,
        } => assert!(message.contains(says), "{message}"),
        other => panic!("expected a permanent listener error, got {other:?}"),
    }
}

#[tokio::test]
async fn redis_brpop_consumers_get_the_payloads_in_order() {
    let server = RedisServer::start();
    let engine = helpers::engine();
    let l = forward(&engine, QUEUE, &[QUEUE], redis_queue(&server)).await;
    let first = fixture_event("record-create.json", 0);
    let second = fixture_event("group-create.json", 0);
    for incoming in [&first, &second] {
        let report = call(&l, incoming).await;
        assert_eq!(report.outcome, Outcome::Ok, "{:?}", report.log);
    }
    assert_eq!(brpop(&server).await, payload_of(&first), "oldest first");
    assert_eq!(brpop(&server).await, payload_of(&second));
}

#[tokio::test]
async fn redis_down_is_transient_and_the_push_after_a_restart_arrives() {
    let mut server = RedisServer::start();
    let engine = helpers::engine();
    let l = forward(&engine, QUEUE, &[QUEUE], redis_queue(&server)).await;
    let incoming = fixture_event("record-create.json", 0);
    assert_eq!(call(&l, &incoming).await.outcome, Outcome::Ok);
    assert_eq!(brpop(&server).await, payload_of(&incoming));

    server.stop();
    let other = helpers::listener(&engine, "queue-forward", &[]).await;
    // How soon a push fails while Redis is down is the backend's unit test (by refusal,
    // not by a timeout); here: what the guest is told, and that other work goes on.
    let (down, unaffected) = tokio::join!(call(&l, &incoming), call(&other, &incoming));
    let message = assert_transient(&down);
    assert!(message.contains("redis: "), "{message}");
    let port = server.port().to_string();
    for hidden in ["redis://", "127.0.0.1", port.as_str()] {
        assert!(
            !message.contains(hidden),
            "the guest is not told where Redis is ({hidden}): {message}"
        );
    }
    assert_eq!(unaffected.outcome, Outcome::Ok, "other work goes on");

    server.restart();
    let back = call(&l, &incoming).await;
    assert_eq!(back.outcome, Outcome::Ok, "{:?}", back.log);
    assert_eq!(brpop(&server).await, payload_of(&incoming));
}

#[tokio::test]
async fn start_up_does_not_need_redis() {
    let mut server = RedisServer::start();
    server.stop();
    let queue = redis_queue(&server);
    let down = queue.push(QUEUE, b"while down", None).await;
    assert!(down.is_err(), "{down:?}");
    server.restart();
    queue
        .push(QUEUE, b"{}", None)
        .await
        .expect("push once Redis is up");
    assert_eq!(brpop(&server).await, serde_json::json!({}));
}

#[tokio::test]
async fn refused_names_never_reach_redis() {
    let server = RedisServer::start();
    let engine = helpers::engine();
    let backend = redis_queue(&server);
    let incoming = fixture_event("record-create.json", 0);
    let outside = forward(&engine, "elsewhere", &[QUEUE], backend.clone()).await;
    assert_permanent(
        &call(&outside, &incoming).await,
        "not in this listener's allowed",
    );
    let reserved = forward(&engine, "wasm-listeners:input", &["*"], backend).await;
    assert_permanent(&call(&reserved, &incoming).await, "reserved");
    let mut conn = server.connection().await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(keys.is_empty(), "{keys:?}");
}

#[tokio::test]
async fn embedded_store_is_shared_fifo_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/wasm-listeners.sqlite3");
    let serve = Store::open(&path).unwrap();
    let engine = helpers::engine();
    let backend = Arc::new(EmbeddedQueue::new(serve.clone()));
    let l = forward(&engine, QUEUE, &[QUEUE], backend).await;
    let first = fixture_event("record-create.json", 0);
    let second = fixture_event("group-create.json", 0);
    for incoming in [&first, &second] {
        assert_eq!(call(&l, incoming).await.outcome, Outcome::Ok);
    }
    // A second handle on the file, as `wasm-listeners queue pop` has while `serve` runs.
    let cli = Store::open(&path).unwrap();
    assert_eq!(cli.len(QUEUE).await.unwrap(), 2);
    assert_eq!(
        json(&cli.pop(QUEUE).await.unwrap().unwrap()),
        payload_of(&first)
    );
    cli.push(QUEUE, b"\"third\"").await.unwrap();
    assert_eq!(
        json(&serve.pop(QUEUE).await.unwrap().unwrap()),
        payload_of(&second)
    );
    drop((serve, cli, l));
    let reopened = Store::open(&path).unwrap();
    assert_eq!(
        reopened.pop(QUEUE).await.unwrap().as_deref(),
        Some(&b"\"third\""[..])
    );
    assert_eq!(reopened.pop(QUEUE).await.unwrap(), None);
}

/// A configuration file in `dir` whose store is `dir/data/wasm-listeners.sqlite3`.
fn config_file(dir: &std::path::Path) -> std::path::PathBuf {
    let file = dir.join("wasm-listeners.toml");
    std::fs::write(&file, "[server]\ndata_dir = \"data\"\n").unwrap();
    file
}

fn queue_cli(args: &[&str], config: &std::path::Path) -> std::process::Output {
    let mut command = helpers::bin();
    command.arg("queue").args(args).arg("--config").arg(config);
    command.output().expect("running wasm-listeners")
}

#[tokio::test]
async fn cli_pops_what_the_embedded_backend_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let file = config_file(dir.path());
    let store = Store::open(Config::load(&file).unwrap().store_path()).unwrap();
    let engine = helpers::engine();
    let l = forward(
        &engine,
        QUEUE,
        &[QUEUE],
        Arc::new(EmbeddedQueue::new(store)),
    )
    .await;
    let incoming = fixture_event("record-create.json", 0);
    assert_eq!(call(&l, &incoming).await.outcome, Outcome::Ok);

    let len = queue_cli(&["len", QUEUE], &file);
    assert_eq!(String::from_utf8_lossy(&len.stdout), "1\n");
    let popped = queue_cli(&["pop", QUEUE, "--count", "5"], &file);
    assert!(popped.status.success(), "{popped:?}");
    let stdout = String::from_utf8(popped.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert_eq!(json(stdout.trim_end().as_bytes()), payload_of(&incoming));

    let again = queue_cli(&["pop", QUEUE], &file);
    assert!(again.status.success(), "{again:?}");
    assert!(again.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("is empty"), "{stderr}");
}

/// `queue pop` prints an item before it removes it: when stdout is a pipe nobody reads
/// (closed before the command writes), the command fails and the item stays queued.
#[tokio::test]
async fn pop_into_a_closed_pipe_leaves_the_item_in_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let file = config_file(dir.path());
    let store = Store::open(Config::load(&file).unwrap().store_path()).unwrap();
    store.push(QUEUE, b"{\"kept\": true}").await.unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut command = helpers::bin();
    command.args(["queue", "pop", QUEUE, "--config"]).arg(&file);
    let out = command
        .stdout(writer)
        .output()
        .expect("running wasm-listeners");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("writing to stdout"), "{stderr}");
    assert_eq!(
        store.len(QUEUE).await.unwrap(),
        1,
        "the item is still queued"
    );
    let popped = queue_cli(&["pop", QUEUE], &file);
    assert_eq!(
        String::from_utf8_lossy(&popped.stdout),
        "{\"kept\": true}\n"
    );
    assert_eq!(store.len(QUEUE).await.unwrap(), 0, "removed once printed");
}

#[test]
fn cli_names_a_missing_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere.toml");
    let out = queue_cli(&["pop", QUEUE], &missing);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nowhere.toml"), "{stderr}");
}
