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
