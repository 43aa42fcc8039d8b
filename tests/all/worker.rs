//! The delivery worker on a real Redis and on a real three-node Redis Cluster: every
//! event reaches every matching listener (counted by an outside sink, the Redis list the
//! `queue-forward` listener pushes to), retries follow the schedule on an injected clock,
//! what keeps failing is a dead letter until replayed, bad entries are parked, two workers
//! share the load, and a worker killed with `kill -9` loses nothing.

use crate::helpers::{self, bin, fixture};
use crate::servers::redis::RedisServer;
use crate::servers::redis_cluster::RedisCluster;
use redis::aio::ConnectionLike;
use redis::AsyncCommands;
use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasm_listeners::{Clock, Config, DeadReason, Input, ManualClock, Service, Worker};

/// The list the `queue-forward` listener pushes each payload to: the outside count.
const SINK: &str = "sink";
/// When the injected clock starts.
const T0: u64 = 1_800_000_000_000;

/// The durable queue's Redis: one server or a cluster.
enum Redis {
    Single(RedisServer),
    Cluster(RedisCluster),
}

impl Redis {
    fn single() -> Redis {
        Redis::Single(RedisServer::start())
    }

    fn cluster() -> Redis {
        Redis::Cluster(RedisCluster::start())
    }

    fn url(&self) -> String {
        match self {
            Redis::Single(s) => s.url(),
            Redis::Cluster(c) => c.seed_url(),
        }
    }

    fn is_cluster(&self) -> bool {
        matches!(self, Redis::Cluster(_))
    }

    /// `[queue]` and `[delivery]` both on this Redis.
    fn sections(&self) -> String {
        let (url, cluster) = (self.url(), self.is_cluster());
        format!("[queue]\nredis_url = \"{url}\"\nredis_cluster = {cluster}\n[delivery]\nredis_cluster = {cluster}\n")
    }

    /// A connection for the test's own commands.
    async fn conn(&self) -> TestConn {
        match self {
            Redis::Single(s) => TestConn::Single(s.connection().await),
            Redis::Cluster(c) => {
                let client = redis::cluster::ClusterClient::new(vec![c.seed_url()]).unwrap();
                TestConn::Cluster(client.get_async_connection().await.unwrap())
            }
        }
    }
}

#[derive(Clone)]
enum TestConn {
    Single(redis::aio::MultiplexedConnection),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl TestConn {
    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> T {
        let value = match self.clone() {
            TestConn::Single(mut c) => c.req_packed_command(cmd).await,
            TestConn::Cluster(mut c) => c.req_packed_command(cmd).await,
        };
        redis::from_redis_value(value.expect("a test command")).expect("the reply's type")
    }

    /// `LPUSH kinto.core.events` of each entry, as kinto-redis does.
    async fn kinto_redis_push(&self, entries: &[Vec<u8>]) {
        for chunk in entries.chunks(500) {
            let mut cmd = redis::cmd("LPUSH");
            cmd.arg("kinto.core.events").arg(chunk);
            let _: i64 = self.query(&cmd).await;
        }
    }

    async fn sink(&self) -> Vec<String> {
        let mut cmd = redis::cmd("LRANGE");
        cmd.arg(SINK).arg(0).arg(-1);
        self.query(&cmd).await
    }
}

/// A configuration with one async `queue-forward` listener, `forward`, pushing to
/// [`SINK`]: the Redis sections, then `delivery_extra` (keys of `[delivery]`), then the
/// listener with `listener_extra`, its calls' deadline `deadline_ms`.
fn forward_toml(
    redis_sections: &str,
    delivery_extra: &str,
    listener_extra: &str,
    deadline_ms: u64,
) -> String {
    format!(
        "{redis_sections}{delivery_extra}\n[[listener]]\nname = \"forward\"\ncomponent = \"{}\"\nmode = \"async\"\n{listener_extra}\n[listener.settings]\nlistname = \"{SINK}\"\n[listener.queue]\nallowed = [\"{SINK}\"]\n[listener.limits]\ndeadline_ms = {deadline_ms}\n",
        helpers::guest("queue-forward").display()
    )
}

/// [`forward_toml`] parsed, its calls' deadline 2 s.
fn config(dir: &Path, redis_sections: &str, listener_extra: &str, delivery_extra: &str) -> Config {
    let text = forward_toml(redis_sections, delivery_extra, listener_extra, 2000);
    Config::parse(&text, dir).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// `n` distinct kinto-redis payloads (the record-creation entry, each with its own
/// timestamp and record id).
fn distinct_payloads(n: usize) -> Vec<Vec<u8>> {
    let entries: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("redis-queue-entries.json")).unwrap())
            .unwrap();
    let found = entries
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["scenario"] == "record-create");
    let base: serde_json::Value =
        serde_json::from_str(found.unwrap()["lrange"][0].as_str().unwrap()).unwrap();
    (0..n)
        .map(|i| {
            let mut payload = base.clone();
            payload["timestamp"] = serde_json::json!(1_795_000_000_000u64 + i as u64);
            payload["record_id"] = serde_json::json!(format!("r{i}"));
            serde_json::to_vec(&payload).unwrap()
        })
        .collect()
}

/// Steps until a step finds nothing to do.
async fn drain(worker: &Worker) -> usize {
    let mut ran = 0;
    loop {
        let report = worker.step().await.expect("a step");
        if report.is_idle() {
            return ran;
        }
        ran += report.ok + report.scheduled + report.dead;
    }
}

async fn worker(config: &Config, clock: &ManualClock) -> Worker {
    Service::worker(config, Arc::new(clock.clone()))
        .await
        .expect("a worker")
}

// --- Retries, dead letters, replay --------------------------------------------------------

async fn retries_follow_the_schedule_then_dead_letter_then_replay(redis: Redis) {
    let dir = tempfile::tempdir().unwrap();
    // The listener pushes to a second Redis, down: each attempt fails transiently.
    let mut pushes = RedisServer::start();
    pushes.stop();
    let sections = format!(
        "[queue]\nredis_url = \"{}\"\n[delivery]\nredis_url = \"{}\"\nredis_cluster = {}\nretry_schedule = [\"10s\", \"20s\", \"40s\"]\njitter = 0.2\n",
        pushes.url(),
        redis.url(),
        redis.is_cluster()
    );
    let config = config(dir.path(), &sections, "", "");
    let clock = ManualClock::at(T0);
    let worker = worker(&config, &clock).await;
    let queue = worker.queue().clone();
    let event = std::fs::read(fixture("record-create.json")).unwrap();
    let committed = wasm_listeners::parse_events(&event)
        .unwrap()
        .into_iter()
        .find(|e| e.phase == wasm_listeners::Phase::AfterCommit)
        .unwrap();
    let json = serde_json::to_vec(&committed.event.to_kinto_value(committed.phase)).unwrap();
    queue
        .enqueue(&json, wasm_listeners::Source::Http)
        .await
        .unwrap();

    // Attempt 1, then one attempt per pause, each due within the jitter of its pause.
    let mut now = T0;
    let pauses = [10_000u64, 20_000, 40_000];
    let first = worker.step().await.unwrap();
    assert_eq!((first.entries, first.scheduled), (1, 1), "{first:?}");
    for (n, pause) in pauses.iter().enumerate() {
        let pending = queue.pending("forward", 10).await.unwrap();
        let [p] = pending.as_slice() else {
            panic!("one pending delivery: {pending:?}")
        };
        assert_eq!(p.attempt as usize, n + 2, "the next attempt's number");
        let (low, high) = (now + pause * 8 / 10, now + pause * 12 / 10);
        assert!(
            (low..=high).contains(&p.due_ms),
            "attempt {} due {} not in [{low}, {high}]",
            n + 2,
            p.due_ms
        );
        let last = p.last.as_ref().expect("the last attempt is kept");
        assert_eq!(last.outcome, "listener-error", "{last:?}");
        // Not due yet: nothing runs.
        clock.set(p.due_ms - 1);
        assert!(
            worker.step().await.unwrap().is_idle(),
            "attempt {} ran early",
            n + 2
        );
        now = p.due_ms;
        clock.set(now);
        let report = worker.step().await.unwrap();
        assert_eq!(report.retries, 1, "attempt {}: {report:?}", n + 2);
    }
    // Four attempts failed: dead, with its last outcome and log.
    assert!(queue.pending("forward", 10).await.unwrap().is_empty());
    let (dead, counts) = queue.dead_letters("forward", 10).await.unwrap();
    let [letter] = dead.as_slice() else {
        panic!("one dead letter: {dead:?}")
    };
    assert_eq!(counts.count, 1);
    assert_eq!(letter.reason, DeadReason::Exhausted);
    assert_eq!(
        letter.pending.attempt, 5,
        "four attempts ran: the next would be the fifth"
    );
    let last = letter.pending.last.as_ref().unwrap();
    assert!(last.detail.contains("transient"), "{last:?}");
    clock.advance(Duration::from_secs(3600));
    assert!(
        worker.step().await.unwrap().is_idle(),
        "a dead letter is not retried by itself"
    );

    // The backend is back; a replay delivers it.
    pushes.restart();
    assert_eq!(
        queue
            .replay("forward", Some(&letter.pending.id), clock.now_ms())
            .await
            .unwrap(),
        1
    );
    let report = worker.step().await.unwrap();
    assert_eq!((report.retries, report.ok), (1, 1), "{report:?}");
    let sink: Vec<String> = pushes.connection().await.lrange(SINK, 0, -1).await.unwrap();
    assert_eq!(
        sink,
        [serde_json::to_string(&committed.event.payload()).unwrap()]
    );
    assert!(queue
        .dead_letters("forward", 10)
        .await
        .unwrap()
        .0
        .is_empty());
    assert!(queue.pending("forward", 10).await.unwrap().is_empty());

    // Forgetting the listener (deleted, or its tenant) deletes its dead letters and pending
    // deliveries, and nothing of them runs again.
    pushes.stop();
    queue
        .enqueue(&json, wasm_listeners::Source::Http)
        .await
        .unwrap();
    assert_eq!(worker.step().await.unwrap().scheduled, 1);
    for _ in pauses {
        let due = queue.pending("forward", 10).await.unwrap()[0].due_ms;
        clock.set(due);
        worker.step().await.unwrap();
    }
    queue
        .enqueue(&json, wasm_listeners::Source::Http)
        .await
        .unwrap();
    assert_eq!(worker.step().await.unwrap().scheduled, 1);
    let (dead, _) = queue.dead_letters("forward", 10).await.unwrap();
    let pending = queue.pending("forward", 10).await.unwrap();
    assert_eq!((dead.len(), pending.len()), (1, 1), "{dead:?} {pending:?}");
    assert_eq!(queue.forget("forward").await.unwrap(), 2);
    assert!(queue.pending("forward", 10).await.unwrap().is_empty());
    let (dead, counts) = queue.dead_letters("forward", 10).await.unwrap();
    assert!(dead.is_empty() && counts.count == 0, "{dead:?} {counts:?}");
    clock.advance(Duration::from_secs(3600));
    assert!(
        worker.step().await.unwrap().is_idle(),
        "a forgotten delivery ran"
    );
}

#[tokio::test]
async fn retries_dead_letters_and_replay_on_redis() {
    retries_follow_the_schedule_then_dead_letter_then_replay(Redis::single()).await;
}

#[tokio::test]
async fn retries_dead_letters_and_replay_on_a_cluster() {
    retries_follow_the_schedule_then_dead_letter_then_replay(Redis::cluster()).await;
}

// --- Bad entries --------------------------------------------------------------------------

async fn bad_entries_are_parked_and_good_ones_delivered(redis: Redis) {
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        &redis.sections(),
        "inputs = [\"kinto-redis\"]",
        "max_entry_bytes = 4096\n",
    );
    let clock = ManualClock::at(T0);
    let worker = worker(&config, &clock).await;
    let conn = redis.conn().await;
    let good = distinct_payloads(3);
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("not JSON", b"not json {".to_vec()),
        ("a number", b"42".to_vec()),
        ("not UTF-8", vec![0xff, 0xfe, b'{']),
        (
            "over the size limit",
            format!("{{\"action\":\"create\",\"pad\":\"{}\"}}", "x".repeat(5000)).into_bytes(),
        ),
        ("no action", b"{\"uri\":\"/buckets/a\"}".to_vec()),
    ];
    // Oldest first: good, bad, good, bad, ... (kinto-redis LPUSHes, the worker takes the oldest).
    let mut entries = Vec::new();
    for (i, (_, bytes)) in bad.iter().enumerate() {
        entries.push(good[i % good.len()].clone());
        entries.push(bytes.clone());
    }
    entries.push(good[2].clone());
    for entry in &entries {
        conn.kinto_redis_push(std::slice::from_ref(entry)).await;
    }
    drain(&worker).await;

    let mut sink = conn.sink().await;
    sink.sort();
    sink.dedup();
    let mut expected: Vec<String> = good
        .iter()
        .map(|g| String::from_utf8(g.clone()).unwrap())
        .collect();
    expected.sort();
    assert_eq!(sink, expected, "every good entry reached the listener");
    let (rejected, counts) = worker
        .queue()
        .rejected(Input::KintoRedis, 100)
        .await
        .unwrap();
    assert_eq!(counts.count, bad.len(), "{rejected:#?}");
    for (what, bytes) in &bad {
        let found = rejected.iter().find(|r| match (&r.text, &r.base64) {
            (Some(text), _) => text.as_bytes() == bytes.as_slice(),
            (None, Some(b64)) => {
                use base64::Engine as _;
                base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap()
                    == *bytes
            }
            (None, None) => false,
        });
        let found =
            found.unwrap_or_else(|| panic!("{what} is parked with its bytes: {rejected:#?}"));
        assert!(!found.reason.is_empty());
    }
    let over = rejected
        .iter()
        .find(|r| r.text.as_ref().is_some_and(|t| t.len() > 4096))
        .unwrap();
    assert!(over.reason.contains("4096"), "{}", over.reason);
    assert_eq!(
        worker
            .queue()
            .purge_rejected(Input::KintoRedis)
            .await
            .unwrap(),
        bad.len()
    );
}

#[tokio::test]
async fn bad_entries_are_parked_on_redis() {
    bad_entries_are_parked_and_good_ones_delivered(Redis::single()).await;
}

#[tokio::test]
async fn bad_entries_are_parked_on_a_cluster() {
    bad_entries_are_parked_and_good_ones_delivered(Redis::cluster()).await;
}

// --- Two workers --------------------------------------------------------------------------

async fn two_workers_share_the_load(redis: Redis) {
    const EVENTS: usize = 2_000;
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        &redis.sections(),
        "inputs = [\"kinto-redis\"]",
        "",
    );
    let clock = ManualClock::at(T0);
    let (a, b) = (worker(&config, &clock).await, worker(&config, &clock).await);
    let conn = redis.conn().await;
    conn.kinto_redis_push(&distinct_payloads(EVENTS)).await;
    let (ran_a, ran_b) = tokio::join!(drain(&a), drain(&b));
    // One more look each: a step may have ended idle while the other still ran.
    let (more_a, more_b) = tokio::join!(drain(&a), drain(&b));
    let sink = conn.sink().await;
    assert_eq!(sink.len(), EVENTS, "each delivery ran once");
    let distinct: std::collections::HashSet<_> = sink.iter().collect();
    assert_eq!(distinct.len(), EVENTS);
    assert!(
        ran_a > 0 && ran_b > 0,
        "both workers ran deliveries: {ran_a} and {ran_b}"
    );
    assert_eq!(ran_a + ran_b + more_a + more_b, EVENTS);
}

#[tokio::test]
async fn two_workers_share_the_load_on_redis() {
    two_workers_share_the_load(Redis::single()).await;
}

#[tokio::test]
async fn two_workers_share_the_load_on_a_cluster() {
    two_workers_share_the_load(Redis::cluster()).await;
}

// --- kill -9 ------------------------------------------------------------------------------

/// Lanes and batch of the killed worker: at most `LANES × BATCH` entries are in flight
/// when it dies, so each kill may deliver that many twice, never fewer than once.
const LANES: usize = 2;
const BATCH: usize = 16;
const KILLS: usize = 4;

async fn a_killed_worker_loses_nothing(redis: Redis) {
    const EVENTS: usize = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let delivery = format!("lanes = {LANES}\nbatch = {BATCH}\nmax_entry_bytes = 65536\n");
    let text = forward_toml(
        &redis.sections(),
        &delivery,
        "inputs = [\"kinto-redis\"]",
        1000,
    );
    let path = dir.path().join("worker.toml");
    std::fs::write(&path, &text).unwrap();
    let conn = redis.conn().await;
    let payloads = distinct_payloads(EVENTS);
    conn.kinto_redis_push(&payloads).await;

    let spawn = || {
        bin()
            .args(["worker", "--config"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(if std::env::var_os("TEST_LOG").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .expect("starting the worker")
    };
    let count = |conn: TestConn| async move {
        let mut cmd = redis::cmd("LLEN");
        cmd.arg(SINK);
        conn.query::<usize>(&cmd).await
    };
    for kill in 0..KILLS {
        let mut child = spawn();
        // Let it work a while (more each time), then kill it mid-batch.
        let before = count(conn.clone()).await;
        let started = Instant::now();
        while count(conn.clone()).await < before + 500 + kill * 300 {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "the worker makes no progress"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        child.kill().expect("kill -9");
        child.wait().unwrap();
    }
    let mut last = spawn();
    let started = Instant::now();
    let distinct = loop {
        let sink = conn.sink().await;
        let distinct: std::collections::HashSet<String> = sink.into_iter().collect();
        if distinct.len() >= EVENTS || started.elapsed() > Duration::from_secs(120) {
            break distinct;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    last.kill().unwrap();
    last.wait().unwrap();

    let expected: std::collections::HashSet<String> = payloads
        .iter()
        .map(|p| String::from_utf8(p.clone()).unwrap())
        .collect();
    let missing = expected.difference(&distinct).count();
    assert_eq!(missing, 0, "every event reached the listener");
    let sink = conn.sink().await;
    let mut seen: HashMap<&String, usize> = HashMap::new();
    for payload in &sink {
        *seen.entry(payload).or_default() += 1;
    }
    let duplicates = sink.len() - seen.len();
    let window = KILLS * LANES * BATCH;
    assert!(duplicates <= window, "{duplicates} duplicates, more than {KILLS} kills × {LANES} lanes × {BATCH} entries in flight");
    eprintln!("kill -9 × {KILLS}: {EVENTS} events delivered, {duplicates} twice (bound {window})");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_loses_nothing_on_redis() {
    a_killed_worker_loses_nothing(Redis::single()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_loses_nothing_on_a_cluster() {
    a_killed_worker_loses_nothing(Redis::cluster()).await;
}

// --- The HTTP API and the CLI -------------------------------------------------------------

#[tokio::test]
async fn post_enqueues_committed_events_and_operators_handle_dead_letters() {
    let redis = Redis::single();
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "[server]\noperator_token = \"s3cret\"\n{}\n[[listener]]\nname = \"forward\"\ncomponent = \"{}\"\nmode = \"async\"\n[listener.settings]\nlistname = \"{SINK}\"\n[listener.queue]\nallowed = [\"{SINK}\"]\n\n[[listener]]\nname = \"failing\"\ncomponent = \"{}\"\nmode = \"async\"\n[listener.settings]\nmode = \"fail-permanent\"\n",
        redis.sections(),
        helpers::guest("queue-forward").display(),
        helpers::guest("misbehave").display()
    );
    let server = crate::http::Server::start(dir.path(), &text).await.unwrap();
    let token = [("Authorization", "Bearer s3cret")];
    let body = std::fs::read(fixture("record-create.json")).unwrap();
    let (status, answer) = server.request("POST", "/v1/events", &token, body).await;
    assert_eq!(status, 202, "accepted: deliveries were enqueued: {answer}");
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(
        answer["enqueued"], 2,
        "the committed event, for both async listeners: {answer}"
    );
    let phases: Vec<_> = answer["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["phase"].clone(), e["enqueued"].clone()))
        .collect();
    assert_eq!(
        phases,
        [
            ("before-commit".into(), 0.into()),
            ("after-commit".into(), 2.into())
        ]
    );

    let config = Config::load(&dir.path().join("wasm-listeners.toml")).unwrap();
    let clock = ManualClock::at(T0);
    let worker = worker(&config, &clock).await;
    let report = worker.step().await.unwrap();
    assert_eq!(
        (report.entries, report.ok, report.dead),
        (1, 1, 1),
        "{report:?}"
    );
    assert_eq!(
        redis.conn().await.sink().await.len(),
        1,
        "forward delivered once"
    );

    // Dead letters over HTTP: the token, a listener that exists, replay, purge.
    let path = "/v1/listeners/failing/dead-letters";
    assert_eq!(server.request("GET", path, &[], vec![]).await.0, 401);
    let (status, listed) = server.request("GET", path, &token, vec![]).await;
    assert_eq!(status, 200, "{listed}");
    let listed: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed["count"], 1, "{listed}");
    let letter = &listed["dead_letters"][0];
    assert_eq!(letter["reason"], "permanent");
    assert_eq!(letter["last"]["outcome"], "listener-error");
    let id = letter["id"].as_str().unwrap().to_owned();
    let (status, missing) = server
        .request("GET", "/v1/listeners/nobody/dead-letters", &token, vec![])
        .await;
    assert_eq!(status, 404);
    assert!(missing.contains("forward, failing"), "{missing}");
    let replay = serde_json::to_vec(&serde_json::json!({ "id": id })).unwrap();
    let (status, replayed) = server
        .request("POST", &format!("{path}/replay"), &token, replay)
        .await;
    assert_eq!((status, replayed.as_str()), (200, "{\"replayed\":1}"));
    let (_, pending) = server
        .request("GET", "/v1/listeners/failing/pending", &token, vec![])
        .await;
    assert!(pending.contains(&id), "{pending}");
    let report = worker.step().await.unwrap();
    assert_eq!(
        (report.retries, report.dead),
        (1, 1),
        "the replay ran, and failed again: {report:?}"
    );

    // The CLI sees the same records.
    let config_path = dir.path().join("wasm-listeners.toml");
    let out = bin()
        .args(["deliveries", "dead", "failing", "--config"])
        .arg(&config_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = String::from_utf8(out.stdout).unwrap();
    assert_eq!(lines.lines().count(), 1, "{lines}");
    assert!(lines.contains(&id));
    let out = bin()
        .args(["deliveries", "purge", "--config"])
        .arg(&config_path)
        .output()
        .unwrap();
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("1 dead letter(s) of `failing` purged")
            && said.contains("0 dead letter(s) of `forward` purged"),
        "{said}"
    );
    let (_, listed) = server.request("GET", path, &token, vec![]).await;
    assert!(listed.contains("\"count\":0"), "{listed}");
}

// --- SIGTERM ------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_the_work_in_flight_and_acknowledges_it() {
    const EVENTS: usize = 3_000;
    let redis = Redis::single();
    let dir = tempfile::tempdir().unwrap();
    let delivery = "max_entry_bytes = 65536\n";
    let text = forward_toml(
        &redis.sections(),
        delivery,
        "inputs = [\"kinto-redis\"]",
        1000,
    );
    let path = dir.path().join("worker.toml");
    std::fs::write(&path, &text).unwrap();
    let conn = redis.conn().await;
    conn.kinto_redis_push(&distinct_payloads(EVENTS)).await;
    let run = || {
        bin()
            .args(["worker", "--config"])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };

    let mut first = run();
    let started = Instant::now();
    while conn.sink().await.len() < 500 {
        assert!(started.elapsed() < Duration::from_secs(60), "no progress");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop(&mut first).await;
    let delivered_before = conn.sink().await.len();
    assert!(
        delivered_before < EVENTS,
        "it stopped before the end ({delivered_before})"
    );

    // Everything it ran, it acknowledged: the next worker runs each remaining event once.
    let mut second = run();
    let started = Instant::now();
    while conn.sink().await.len() < EVENTS {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the rest was not delivered: {}",
            conn.sink().await.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Stopped as the first was (SIGTERM: the batch in flight ends and is acknowledged),
    // so that whatever it would still deliver is in the sink before it is counted.
    stop(&mut second).await;
    let sink = conn.sink().await;
    let distinct: std::collections::HashSet<_> = sink.iter().collect();
    assert_eq!(
        (sink.len(), distinct.len()),
        (EVENTS, EVENTS),
        "no event twice, none missing"
    );
}

/// Sends SIGTERM to a worker and waits for it to exit, which it must do with success.
async fn stop(worker: &mut std::process::Child) {
    let pid = worker.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let stopping = Instant::now();
    let status = loop {
        if let Some(status) = worker.try_wait().unwrap() {
            break status;
        }
        assert!(
            stopping.elapsed() < Duration::from_secs(20),
            "the worker did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn a_worker_outlives_its_redis() {
    let Redis::Single(mut server) = Redis::single() else {
        unreachable!()
    };
    let dir = tempfile::tempdir().unwrap();
    let sections = format!("[queue]\nredis_url = \"{}\"\n", server.url());
    let config = config(dir.path(), &sections, "inputs = [\"kinto-redis\"]", "");
    let clock = ManualClock::at(T0);
    let worker = worker(&config, &clock).await;
    server.stop();
    let failed = worker.step().await.expect_err("Redis is down");
    assert!(
        failed.to_string().starts_with("delivery queue: redis:"),
        "{failed}"
    );
    server.restart();
    let conn = server.connection().await;
    let payload = distinct_payloads(1).remove(0);
    let _: i64 = conn
        .clone()
        .lpush("kinto.core.events", &payload)
        .await
        .unwrap();
    // The connection comes back by itself (steps fail until it has); the entry is
    // delivered. Waits for it, failing after 1,200 steps (a minute and more).
    let mut delivered = 0;
    for _ in 0..1_200 {
        if let Ok(report) = worker.step().await {
            delivered += report.ok;
            if delivered > 0 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(delivered, 1);
    let sink: Vec<Vec<u8>> = conn.clone().lrange(SINK, 0, -1).await.unwrap();
    assert_eq!(sink, [payload]);
}
