//! The invocation log's two stores (Redis, the embedded store) answer the same queries and
//! apply the same retention. The calls that fill it are tested end to end in `kinto.rs`.

use crate::servers::redis::RedisServer;
use std::sync::Arc;
use wasm_listeners::{
    Config, Invocation, InvocationQuery, InvocationStore, Mode, OutcomeKind, Service,
};

fn record(id: u64, at_ms: u64, listener: &str, outcome: OutcomeKind, event_id: &str) -> Invocation {
    Invocation {
        v: wasm_listeners::INVOCATION_VERSION,
        id,
        at_ms,
        event_id: event_id.into(),
        listener: listener.into(),
        version: None,
        mode: Mode::Async,
        attempt: 1,
        part: 1,
        parts: 1,
        outcome,
        detail: outcome.to_string(),
        fuel: 10,
        duration_us: 100,
        peak_memory_bytes: 65536,
        log: "Info Log: hello\n".into(),
        log_cut: false,
    }
}

async fn queries_and_retention(log: Arc<dyn InvocationStore>) {
    let listeners = ["a".to_owned(), "b".to_owned()];
    let records = [
        record(1, 1_000, "a", OutcomeKind::Ok, "e1"),
        record(2, 2_000, "a", OutcomeKind::Trap, "e2"),
        record(3, 3_000, "b", OutcomeKind::Ok, "e2"),
        record(4, 4_000, "a", OutcomeKind::Ok, "e3"),
        record(5, 4_000, "b", OutcomeKind::ListenerError, "e3"),
    ];
    log.append(&records).await.unwrap();
    let ids = |found: Vec<Invocation>| found.iter().map(|r| r.id).collect::<Vec<_>>();
    let query = |f: fn(&mut InvocationQuery)| {
        let mut q = InvocationQuery {
            limit: 100,
            ..InvocationQuery::default()
        };
        f(&mut q);
        q
    };
    let all = log.query(&query(|_| {}), &listeners).await.unwrap();
    assert_eq!(all[0], records[4], "whole records come back");
    assert_eq!(ids(all), [5, 4, 3, 2, 1], "newest first");
    let by_listener = query(|q| q.listener = Some("a".into()));
    assert_eq!(
        ids(log.query(&by_listener, &listeners).await.unwrap()),
        [4, 2, 1]
    );
    let by_outcome = query(|q| q.outcome = Some(OutcomeKind::Ok));
    assert_eq!(
        ids(log.query(&by_outcome, &listeners).await.unwrap()),
        [4, 3, 1]
    );
    let by_event = query(|q| q.event_id = Some("e2".into()));
    assert_eq!(ids(log.query(&by_event, &listeners).await.unwrap()), [3, 2]);
    let by_time = query(|q| {
        q.since_ms = Some(2_000);
        q.until_ms = Some(3_000);
    });
    assert_eq!(ids(log.query(&by_time, &listeners).await.unwrap()), [3, 2]);
    let limited = query(|q| q.limit = 2);
    assert_eq!(ids(log.query(&limited, &listeners).await.unwrap()), [5, 4]);

    // Older than 2,000 goes; then each listener keeps its newest one.
    let pruned = log.prune(2_000, 1, &listeners).await.unwrap();
    assert_eq!(pruned, 3, "record 1 by age, records 2 and 3 by count");
    assert_eq!(
        ids(log.query(&query(|_| {}), &listeners).await.unwrap()),
        [5, 4]
    );
}

#[tokio::test]
async fn the_embedded_store_answers_queries_and_keeps_its_retention() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::parse("", dir.path()).unwrap();
    let log = Service::invocation_store(&config).unwrap().unwrap();
    queries_and_retention(log).await;
}

#[tokio::test]
async fn redis_answers_queries_and_keeps_its_retention() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let text = format!("[queue]\nredis_url = \"{}\"\n", redis.url());
    let config = Config::parse(&text, dir.path()).unwrap();
    let log = Service::invocation_store(&config).unwrap().unwrap();
    queries_and_retention(log).await;
}
