//! End to end with a real Kinto: Kinto 26.5 on PostgreSQL with kinto-redis and this
//! repository's plugin (`integrations/kinto`) hands its events to the runtime (the
//! `wasm-listeners` binary: `serve` and `worker`), which runs the tutorial's listeners
//! against a real Redis and a real SMTP server (aiosmtpd writing each message to a folder
//! before it answers). No timing thresholds: a test waits for what must come, and checks
//! what must already be there without waiting.

use crate::helpers;
use crate::http::{exchange, metrics};
use crate::process::Process;
use crate::servers::free_port;
use crate::servers::kinto::Kinto;
use crate::servers::postgres::Postgres;
use crate::servers::redis::RedisServer;
use crate::servers::smtp::SmtpServer;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a test waits for what must come (an email, a pushed item).
const WAIT: Duration = Duration::from_secs(30);
/// The runtime's input stream, which the plugin appends committed events to.
const INPUT_STREAM: &str = "{wasm-listeners:runtime}:v1:stream";

/// The runtime's processes: `serve`, and `worker` when async listeners are configured.
struct Runtime {
    address: SocketAddr,
    /// Where `worker --metrics` serves.
    worker_metrics: SocketAddr,
    serve: Process,
    /// Dropped (killed) after `serve`, and shown too when a test fails.
    _worker: Option<Process>,
}

impl Runtime {
    /// Writes `listeners` under a configuration for `redis` (none: the embedded defaults)
    /// and `smtp` into `dir`, starts `serve` (and `worker` if `with_worker`) on port 0 and
    /// waits for the addresses they announce.
    fn start(
        dir: &Path,
        redis: Option<&RedisServer>,
        smtp_port: u16,
        listeners: &str,
        with_worker: bool,
    ) -> Runtime {
        let config = format!(
            r#"[server]
listen = "127.0.0.1:0"
data_dir = {data:?}

[email.smtp]
host = "127.0.0.1"
port = {smtp_port}
tls = "none"
timeout_ms = 60000

{redis}
[delivery]
retry_schedule = ["1s", "1s", "1s"]
{listeners}"#,
            data = dir.join("data").display().to_string(),
            redis = redis.map_or(String::new(), |r| format!(
                "[queue]\nredis_url = \"{}\"\n",
                r.url()
            )),
        );
        let path = dir.join("wasm-listeners.toml");
        std::fs::write(&path, config).unwrap();
        let command = |name: &str| {
            let mut cmd = helpers::bin();
            cmd.args([name, "--config"]).arg(&path);
            cmd
        };
        let serve = Process::spawn("serve", command("serve"));
        let worker = with_worker.then(|| {
            let mut cmd = command("worker");
            cmd.args(["--metrics", "127.0.0.1:0"]);
            Process::spawn("worker", cmd)
        });
        let address = serve.announced("serving on");
        crate::http::wait_healthz(address);
        Runtime {
            address,
            worker_metrics: worker
                .as_ref()
                .map_or(address, |w| w.announced("metrics on")),
            serve,
            _worker: worker,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Kills `serve` (a crash, as far as Kinto can tell).
    fn stop_serve(&mut self) {
        self.serve.kill();
    }
}

/// `GET /v1/invocations?QUERY` on the runtime, waiting until it answers at least `count`
/// records (the log is written in batches, off the calls' path).
async fn invocations(address: SocketAddr, query: &str, count: usize) -> Vec<Value> {
    let path = format!("/v1/invocations?{query}");
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, text) = exchange(address, "GET", &path, &[], &[]);
        assert_eq!(status, 200, "{text}");
        let found: Vec<Value> = serde_json::from_str(&text).unwrap();
        if found.len() >= count {
            return found;
        }
        assert!(Instant::now() < deadline, "{path}: {found:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The tutorial's `send-email` listener named `send_email`, in `mode`, writing from
/// postmaster@localhost to `to` (and allowed to).
fn send_email(mode: &str, to: &str) -> String {
    format!(
        "[[listener]]\nname = \"send_email\"\ncomponent = {}\nmode = \"{mode}\"\n[listener.settings]\nfrom = \"postmaster@localhost\"\nrecipients = \"{to}\"\n[listener.email]\nallowed_senders = [\"postmaster@localhost\"]\nallowed_recipients = [\"{to}\"]\n",
        guest("send-email")
    )
}

fn guest(name: &str) -> String {
    format!("{:?}", helpers::guest(name).display().to_string())
}

/// The messages the sink wrote into `folder`, in arrival order.
fn mails(folder: &Path) -> Vec<String> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|p| crate::servers::smtp::readable(&std::fs::read_to_string(p).unwrap()))
        .collect()
}

/// Waits for a message in `folder` that contains every one of `texts`.
async fn wait_for_mail(folder: &Path, texts: &[&str]) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let found = mails(folder)
            .into_iter()
            .find(|m| texts.iter().all(|t| m.contains(t)));
        if let Some(mail) = found {
            return mail;
        }
        assert!(
            Instant::now() < deadline,
            "no mail with {texts:?}: {:#?}",
            mails(folder)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Pops items from `list` (`RPOP`: a blocking pop would outlast the multiplexed
/// connection's response timeout) until one satisfies `wanted`, which it returns.
async fn wait_for_item(
    conn: &mut redis::aio::MultiplexedConnection,
    list: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + WAIT;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let popped: Option<String> = redis::cmd("RPOP")
            .arg(list)
            .query_async(conn)
            .await
            .unwrap();
        let Some(text) = popped else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        {
            let item: Value = serde_json::from_str(&text).unwrap();
            if wanted(&item) {
                return item;
            }
            seen.push(item);
        }
    }
    panic!("no wanted item on {list} within {WAIT:?}; popped: {seen:#?}");
}

/// How many entries the runtime's input stream was ever given (`XINFO STREAM`'s
/// `entries-added`; entries are deleted once delivered, so its length says nothing).
async fn entries_added(conn: &mut redis::aio::MultiplexedConnection) -> u64 {
    let info: redis::Value = redis::cmd("XINFO")
        .arg("STREAM")
        .arg(INPUT_STREAM)
        .query_async(conn)
        .await
        .unwrap_or(redis::Value::Nil);
    let fields: Vec<redis::Value> = match info {
        redis::Value::Array(fields) => fields,
        redis::Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
        _ => return 0,
    };
    let found = fields.chunks(2).find(|pair| {
        matches!(&pair[0], redis::Value::BulkString(k) if k == b"entries-added")
            || matches!(&pair[0], redis::Value::SimpleString(k) if k == "entries-added")
    });
    match found.map(|pair| &pair[1]) {
        Some(redis::Value::Int(n)) => u64::try_from(*n).unwrap(),
        other => panic!("entries-added: {other:?}"),
    }
}

/// The sync half of the tutorial: Kinto calls the runtime inside each request (the
/// plugin's listener line). A bucket creation's email is in the sink when Kinto's answer
/// is read; a listener that fails permanently fails the request (500) and nothing is
/// stored; a listener slower than the plugin's timeout gives 504, a stopped runtime 503,
/// and neither write is kept.
#[tokio::test]
async fn sync_listeners_run_inside_kinto_requests_and_their_failures_fail_them() {
    let _alone = helpers::timing_sensitive().await;
    let dir = tempfile::tempdir().unwrap();
    let (postgres, redis) = (Postgres::start(), RedisServer::start());
    let inbox = dir.path().join("inbox");
    std::fs::create_dir(&inbox).unwrap();
    let smtp = SmtpServer::start_into(&inbox, None);
    let listeners = format!(
        r#"{send_email}

[[listener]]
name = "refuse_groups"
component = {misbehave}
resources = ["group"]
[listener.settings]
mode = "fail-permanent"

[[listener]]
name = "slow_bucket_deletes"
component = {runaway}
actions = ["delete"]
resources = ["bucket"]
[listener.limits]
fuel = 1000000000000
deadline_ms = 3000
"#,
        send_email = send_email("sync", "sync@example.com"),
        misbehave = guest("misbehave"),
        runaway = guest("runaway"),
    );
    let mut runtime = Runtime::start(dir.path(), Some(&redis), smtp.port(), &listeners, false);
    let kinto = Kinto::start(
        &postgres,
        &format!(
            "kinto.event_listeners = wasm\nkinto.event_listeners.wasm.use = kinto_wasm_listeners\nkinto.event_listeners.wasm.url = {}\nkinto.event_listeners.wasm.timeout_seconds = 1\n",
            runtime.url()
        ),
    );

    let (status, body) = kinto.request("PUT", "/buckets/shop", None).await;
    assert_eq!(status, 201, "{body}");
    // Checked without waiting: the sink wrote the message before it answered, the runtime
    // before Kinto went on, Kinto before it answered.
    let sent = mails(&inbox);
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert!(sent[0].contains("Subject: bucket created"), "{}", sent[0]);
    assert!(sent[0].contains("To: sync@example.com"), "{}", sent[0]);
    let m = metrics(runtime.address);
    assert_eq!(
        m["wasm_listeners_events_received_total{via=\"http\"}"], 1.0,
        "{m:#?}"
    );
    let ok_calls =
        "wasm_listeners_calls_total{listener=\"send_email\",mode=\"sync\",outcome=\"ok\"}";
    assert_eq!(m[ok_calls], 1.0, "{m:#?}");
    assert_eq!(m["wasm_listeners_instances_in_use"], 0.0);

    let group = json!({"data": {"members": ["basicauth:bob"]}});
    let (status, body) = kinto
        .request("PUT", "/buckets/shop/groups/staff", Some(group))
        .await;
    assert_eq!(status, 500, "a permanent failure fails the request: {body}");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("refuse_groups"),
        "names the listener: {body}"
    );
    let (status, _) = kinto
        .request("GET", "/buckets/shop/groups/staff", None)
        .await;
    assert_eq!(status, 404, "the group was rolled back");

    let (status, body) = kinto.request("DELETE", "/buckets/shop", None).await;
    assert_eq!(status, 504, "a listener slower than the timeout: {body}");
    let (status, _) = kinto.request("GET", "/buckets/shop", None).await;
    assert_eq!(status, 200, "the delete was rolled back");

    runtime.stop_serve();
    let (status, body) = kinto.request("PUT", "/buckets/while-down", None).await;
    assert_eq!(status, 503, "the runtime unreachable fails closed: {body}");
    let (_, buckets) = kinto.request("GET", "/buckets", None).await;
    let ids: Vec<&str> = buckets["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|b| b["id"].as_str())
        .collect();
    assert_eq!(ids, ["shop"], "the write was not kept");
}

/// The async half: the plugin puts each committed event on the runtime's input and Kinto
/// answers at once; workers deliver later. The sink holds its answer to `DATA` until the
/// test has Kinto's answer to a record creation; then the email arrives and
/// `queue-forward`'s item appears. An async listener sees old and new objects of an
/// update and every object of a merged batch; a write Kinto rolls back (a later Kinto
/// listener raises) reaches kinto-redis's list but never the runtime's input.
#[tokio::test]
async fn async_listeners_get_committed_events_after_kinto_answered() {
    let _alone = helpers::timing_sensitive().await;
    let dir = tempfile::tempdir().unwrap();
    let (postgres, redis) = (Postgres::start(), RedisServer::start());
    let (inbox, gate) = (dir.path().join("inbox"), dir.path().join("release"));
    std::fs::create_dir(&inbox).unwrap();
    let smtp = SmtpServer::start_into(&inbox, Some(&gate));
    let listeners = format!(
        r#"{send_email}

[[listener]]
name = "redis"
component = {queue_forward}
mode = "async"
resources = ["record"]
[listener.settings]
listname = "eventqueue"
[listener.queue]
allowed = ["eventqueue"]

[[listener]]
name = "objects"
component = {misbehave}
mode = "async"
resources = ["record"]
[listener.settings]
mode = "queue-objects"
name = "objects"
[listener.queue]
allowed = ["objects"]
"#,
        send_email = send_email("async", "async@example.com"),
        queue_forward = guest("queue-forward"),
        misbehave = guest("misbehave"),
    );
    let runtime = Runtime::start(dir.path(), Some(&redis), smtp.port(), &listeners, true);
    let kinto = Kinto::start(
        &postgres,
        &format!(
            "kinto.includes = kinto_wasm_listeners explode\nwasm_listeners.redis_url = {url}\nkinto.event_listeners = redis\nkinto.event_listeners.redis.use = kinto_redis.listeners\nkinto.event_listeners.redis.url = {url}\nkinto.event_listeners.redis.pool_size = 5\n",
            url = format!("{}0", redis.url()) // kinto-redis wants the database number
        ),
    );
    let mut conn = redis.connection().await;

    assert_eq!(kinto.request("PUT", "/buckets/shop", None).await.0, 201);
    let orders = "/buckets/shop/collections/orders";
    assert_eq!(kinto.request("PUT", orders, None).await.0, 201);
    let record = json!({"data": {"title": "first"}});
    let (status, body) = kinto
        .request("POST", &format!("{orders}/records"), Some(record))
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    // Kinto answered while every email is still held by the sink.
    assert!(!gate.exists());
    assert_eq!(
        mails(&inbox),
        Vec::<String>::new(),
        "nothing got past DATA yet"
    );
    std::fs::write(&gate, b"").unwrap();
    wait_for_mail(
        &inbox,
        &["Subject: record created", "To: async@example.com"],
    )
    .await;
    // A creation on the plural endpoint: Kinto's payload has no `record_id`.
    let forwarded =
        wait_for_item(&mut conn, "eventqueue", |p| p["resource_name"] == "record").await;
    assert_eq!(forwarded["action"], "create");
    assert_eq!(forwarded["uri"], format!("{orders}/records"));
    wait_for_mail(&inbox, &["Subject: bucket created"]).await;

    let patch = json!({"data": {"title": "second"}});
    let path = format!("{orders}/records/{id}");
    assert_eq!(kinto.request("PATCH", &path, Some(patch)).await.0, 200);
    let update = wait_for_item(&mut conn, "objects", |i| i["action"] == "update").await;
    let change = &update["changes"][0];
    assert_eq!(change["old"]["title"], "first", "{update}");
    assert_eq!(change["new"]["title"], "second", "{update}");
    assert_eq!(change["new"]["id"], id.as_str());

    let requests: Vec<Value> = (0..3)
        .map(|i| json!({"method": "PUT", "path": format!("{orders}/records/merged-{i}"), "body": {"data": {"n": i}}}))
        .collect();
    let (status, body) = kinto
        .request("POST", "/batch", Some(json!({"requests": requests})))
        .await;
    assert_eq!(status, 200, "{body}");
    let merged = wait_for_item(&mut conn, "objects", |i| {
        i["action"] == "create" && i["changes"][0]["new"]["id"] != id.as_str()
    })
    .await;
    let mut ids: Vec<&str> = merged["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["new"]["id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(
        ids,
        ["merged-0", "merged-1", "merged-2"],
        "one merged event: {merged}"
    );

    let added = entries_added(&mut conn).await;
    redis::cmd("DEL")
        .arg("kinto.core.events")
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    let boom = json!({"data": {"explode": true}});
    let (status, _) = kinto
        .request("PUT", &format!("{orders}/records/boom"), Some(boom))
        .await;
    assert_eq!(status, 500, "the explode listener fails the request");
    assert_eq!(
        kinto
            .request("GET", &format!("{orders}/records/boom"), None)
            .await
            .0,
        404
    );
    assert_eq!(
        entries_added(&mut conn).await,
        added,
        "the plugin enqueued nothing"
    );
    let pushed: Vec<String> = redis::cmd("LRANGE")
        .arg("kinto.core.events")
        .arg(0)
        .arg(-1)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        pushed.iter().any(|p| p.contains("\"record_id\":\"boom\"")),
        "kinto-redis pushed the rolled-back write before commit: {pushed:?}"
    );

    // The worker's metrics, once its deliveries are done, count what this test did: five
    // committed events (bucket, collection, record, update, the merged batch), each for
    // send_email, the three record events for `redis` and `objects`.
    let ok = |listener: &str| {
        format!("wasm_listeners_deliveries_total{{listener=\"{listener}\",result=\"ok\"}}")
    };
    let expected = [
        (ok("send_email"), 5.0),
        (ok("redis"), 3.0),
        (ok("objects"), 3.0),
    ];
    let deadline = Instant::now() + WAIT;
    let m = loop {
        let m = metrics(runtime.worker_metrics);
        if expected.iter().all(|(k, v)| m.get(k) == Some(v)) {
            break m;
        }
        assert!(Instant::now() < deadline, "deliveries not all ok: {m:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        m["wasm_listeners_events_received_total{via=\"runtime-input\"}"], 5.0,
        "{m:#?}"
    );
    let calls = "wasm_listeners_calls_total{listener=\"send_email\",mode=\"async\",outcome=\"ok\"}";
    assert_eq!(m[calls], 5.0, "{m:#?}");
    assert_eq!(
        m["wasm_listeners_queue_depth{input=\"runtime\"}"], 0.0,
        "{m:#?}"
    );
    assert_eq!(m["wasm_listeners_instances_in_use"], 0.0, "{m:#?}");
    assert!(m["wasm_listeners_fuel_consumed_total{listener=\"objects\"}"] > 0.0);

    // Every worker writes the invocation log to Redis; `serve` reads it there.
    let calls = invocations(runtime.address, "listener=objects", 3).await;
    assert_eq!(calls.len(), 3, "{calls:#?}");
    assert!(
        calls
            .iter()
            .all(|c| c["mode"] == "async" && c["outcome"] == "ok"),
        "{calls:#?}"
    );
    let failed = invocations(runtime.address, "listener=objects&outcome=trap", 0).await;
    assert_eq!(failed, Vec::<Value>::new());
    let path = "/v1/invocations?outcome=timeout";
    let (status, text) = exchange(runtime.address, "GET", path, &[], &[]);
    assert_eq!(status, 400, "{text}");
    assert!(
        text.contains("`timeout`") && text.contains("`listener-error`"),
        "names the outcomes: {text}"
    );
}

/// The async half through the runtime's HTTP API, for a runtime on its embedded defaults
/// (no Redis anywhere): the plugin posts each committed event, `serve` stores it before it
/// answers 202 and runs the async listener itself.
#[tokio::test]
async fn async_listeners_on_the_embedded_defaults_through_the_http_api() {
    let _alone = helpers::timing_sensitive().await;
    let dir = tempfile::tempdir().unwrap();
    let postgres = Postgres::start();
    let inbox = dir.path().join("inbox");
    std::fs::create_dir(&inbox).unwrap();
    let smtp = SmtpServer::start_into(&inbox, None);
    let listeners = format!(
        r#"{send_email}
"#,
        send_email = send_email("async", "embedded@example.com"),
    );
    let runtime = Runtime::start(dir.path(), None, smtp.port(), &listeners, false);
    let kinto = Kinto::start(
        &postgres,
        &format!(
            "kinto.includes = kinto_wasm_listeners\nwasm_listeners.url = {}\n",
            runtime.url()
        ),
    );
    assert_eq!(kinto.request("PUT", "/buckets/shop", None).await.0, 201);
    let mail = wait_for_mail(
        &inbox,
        &["Subject: bucket created", "To: embedded@example.com"],
    )
    .await;
    assert!(mail.contains("User id: basicauth:"), "{mail}");
}

/// With the runtime and its Redis both unreachable: a plugin told to proceed lets the
/// write go on (sync), and the committed event that cannot be enqueued after the bounded
/// retries is logged in full by Kinto (async); Kinto answers as usual.
#[tokio::test]
async fn an_unreachable_runtime_lets_writes_proceed_when_told_and_logs_what_it_could_not_enqueue() {
    let _alone = helpers::timing_sensitive().await;
    let postgres = Postgres::start();
    let (dead_runtime, dead_redis) = (free_port(), free_port());
    let kinto = Kinto::start(
        &postgres,
        &format!(
            "kinto.includes = kinto_wasm_listeners\nwasm_listeners.redis_url = redis://127.0.0.1:{dead_redis}/0\nwasm_listeners.enqueue_attempts = 2\nwasm_listeners.enqueue_timeout_seconds = 1\nkinto.event_listeners = wasm\nkinto.event_listeners.wasm.use = kinto_wasm_listeners\nkinto.event_listeners.wasm.url = http://127.0.0.1:{dead_runtime}\nkinto.event_listeners.wasm.when_unavailable = proceed\n"
        ),
    );
    let (status, body) = kinto.request("PUT", "/buckets/kept", None).await;
    assert_eq!(status, 201, "the write proceeds: {body}");
    assert_eq!(kinto.request("GET", "/buckets/kept", None).await.0, 200);
    let log = kinto.log();
    assert!(
        log.contains("the write proceeds without its sync listeners"),
        "{log}"
    );
    let lost = log
        .lines()
        .find(|l| l.contains("was NOT enqueued"))
        .unwrap_or_else(|| panic!("no enqueue failure logged:\n{log}"));
    assert!(lost.contains("after 2 attempt(s)"), "{lost}");
    assert!(
        lost.contains(r#""bucket_id":"kept""#),
        "the whole event: {lost}"
    );
}
