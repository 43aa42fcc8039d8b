//! Unit tests of the store: migrations, FIFO order, concurrent pops.

use super::*;
use std::collections::HashSet;

fn temp_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("nested/folders/store.sqlite3")).unwrap();
    (dir, store)
}

fn user_version(store: &Store) -> i64 {
    let conn = store.inner.conn.lock().unwrap();
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn opening_twice_applies_migrations_once() {
    let (_dir, store) = temp_store();
    store.push("q", b"kept").await.unwrap();
    assert_eq!(user_version(&store), migrations::latest());
    let again = Store::open(store.path()).unwrap();
    assert_eq!(user_version(&again), migrations::latest());
    assert_eq!(again.pop("q").await.unwrap().as_deref(), Some(&b"kept"[..]));
}

#[tokio::test]
async fn is_in_wal_mode() {
    let (_dir, store) = temp_store();
    let conn = store.inner.conn.lock().unwrap();
    let mode: String = conn
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn refuses_a_file_from_a_newer_version() {
    let (_dir, store) = temp_store();
    let conn = store.inner.conn.lock().unwrap();
    conn.pragma_update(None, "user_version", migrations::latest() + 1)
        .unwrap();
    match Store::open(store.path()) {
        Err(StoreError::TooNew { found, path, .. }) => {
            assert_eq!(found, migrations::latest() + 1);
            assert_eq!(path, store.path());
        }
        other => panic!("expected TooNew, got {other:?}"),
    }
}

#[tokio::test]
async fn a_bounded_push_onto_a_full_queue_pushes_nothing() {
    let (_dir, store) = temp_store();
    assert!(store.push_within("q", b"1", 2).await.unwrap());
    assert!(store.push_within("q", b"2", 2).await.unwrap());
    assert!(!store.push_within("q", b"3", 2).await.unwrap(), "q is full");
    assert!(
        store.push_within("other", b"a", 2).await.unwrap(),
        "per queue"
    );
    assert_eq!(store.pop("q").await.unwrap(), Some(b"1".to_vec()));
    assert!(store.push_within("q", b"4", 2).await.unwrap(), "room again");
    assert_eq!(store.pop("q").await.unwrap(), Some(b"2".to_vec()));
    assert_eq!(store.pop("q").await.unwrap(), Some(b"4".to_vec()));
    assert_eq!(store.pop("q").await.unwrap(), None, "3 was never pushed");
}

#[tokio::test]
async fn pops_in_push_order_per_queue() {
    let (_dir, store) = temp_store();
    for item in ["a1", "a2", "a3"] {
        store.push("a", item.as_bytes()).await.unwrap();
        store.push("b", b"other").await.unwrap();
    }
    assert_eq!(store.len("a").await.unwrap(), 3);
    for item in ["a1", "a2", "a3"] {
        assert_eq!(
            store.pop("a").await.unwrap(),
            Some(item.as_bytes().to_vec())
        );
    }
    assert_eq!(store.pop("a").await.unwrap(), None);
    assert_eq!(store.len("b").await.unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pops_never_return_the_same_item() {
    const ITEMS: usize = 200;
    let (_dir, first) = temp_store();
    // A second connection on the same file, as another process would have.
    let second = Store::open(first.path()).unwrap();
    for i in 0..ITEMS {
        first.push("jobs", i.to_string().as_bytes()).await.unwrap();
    }
    let drain = |store: Store| {
        tokio::spawn(async move {
            let mut got = Vec::new();
            while let Some(item) = store.pop("jobs").await.unwrap() {
                got.push(String::from_utf8(item).unwrap());
            }
            got
        })
    };
    let handles = [
        drain(first.clone()),
        drain(second.clone()),
        drain(first),
        drain(second),
    ];
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await.unwrap());
    }
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(all.len(), ITEMS, "every item popped exactly once");
    assert_eq!(unique.len(), ITEMS);
}

#[test]
fn errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, b"").unwrap();
    let err = Store::open(blocker.join("store.sqlite3")).unwrap_err();
    assert!(err.to_string().contains("a-file"), "{err}");
}

#[tokio::test]
async fn a_taken_entry_is_taken_again_only_once_stale_or_released() {
    let (_dir, store) = temp_store();
    let id = store
        .delivery_append("runtime", b"e", "http", 0)
        .await
        .unwrap();
    let taken = store.delivery_take("runtime", 10, 1_000, 0).await.unwrap();
    assert_eq!(taken.iter().map(|e| e.id).collect::<Vec<_>>(), [id]);
    // Taken at 1,000: not stale for a take that counts as stale what was taken by 999.
    assert!(store
        .delivery_take("runtime", 10, 2_000, 999)
        .await
        .unwrap()
        .is_empty());
    let again = store
        .delivery_take("runtime", 10, 3_000, 1_000)
        .await
        .unwrap();
    assert_eq!(again.len(), 1, "stale: its worker died");
    assert_eq!(store.delivery_release_all().await.unwrap(), 1);
    let released = store.delivery_take("runtime", 10, 3_001, 0).await.unwrap();
    assert_eq!(released.len(), 1, "released at start-up");
    let ack = StoreSettlement {
        ack: vec![id],
        ..StoreSettlement::default()
    };
    store.delivery_settle(ack).await.unwrap();
    assert!(store
        .delivery_take("runtime", 10, 9_000, 9_000)
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn dead_letters_are_bounded_oldest_dropped_and_counted() {
    let (_dir, store) = temp_store();
    let dead = (0..3)
        .map(|i| ("l".to_owned(), format!("d{i}"), format!("{{\"n\":{i}}}")))
        .collect();
    let settle = StoreSettlement {
        dead,
        max_dead: 2,
        ..StoreSettlement::default()
    };
    store.delivery_settle(settle).await.unwrap();
    let (kept, dropped) = store.delivery_dead("l", None, 10).await.unwrap();
    assert_eq!(
        kept,
        ["{\"n\":2}", "{\"n\":1}"],
        "newest first, the oldest dropped"
    );
    assert_eq!(dropped, 1);
    assert_eq!(store.delivery_purge_dead("l", Some("d1")).await.unwrap(), 1);
    assert_eq!(store.delivery_dead("l", None, 10).await.unwrap().0.len(), 1);
}
