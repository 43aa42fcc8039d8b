//! Schema migrations, keyed by `PRAGMA user_version`.
//!
//! `MIGRATIONS[i]` takes the file from version `i` to `i + 1`. Append, never edit: a file
//! in the field may already be at any version. Later issues add their tables here
//! (deliveries, invocation log, registry).

use super::{sqlite, StoreError};
use rusqlite::{Connection, TransactionBehavior};
use std::path::Path;

/// The migrations, in order. Version 1: the embedded queues. Version 2: the durable
/// queue of async deliveries (`deliveries.rs`). Version 3: the invocation log
/// (`invocations.rs`). Version 4: the registry (`registry.rs`). Version 5: the registry's
/// generation, which every change of a tenant or a listener increments (triggers, so that
/// no writer can forget it): the dispatcher rereads the registry only when it moved.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: queues. `id` orders items: a pop takes the smallest id of its queue (FIFO, as a
    // `BRPOP` consumer sees an `LPUSH`ed list). AUTOINCREMENT never reuses an id, so an
    // item pushed after a pop never sorts before an older one.
    "CREATE TABLE queue_items (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         queue TEXT NOT NULL,
         payload BLOB NOT NULL,
         pushed_at_ms INTEGER NOT NULL
     );
     CREATE INDEX queue_items_by_queue ON queue_items (queue, id);",
    // 2: async deliveries. Input entries until every delivery of theirs has an outcome
    // kept (`taken_ms`: when a worker took it, NULL while new); pending deliveries keyed
    // by (listener, delivery id), leased until `lease_ms`; dead letters and rejected
    // entries, bounded, with what was dropped counted. Records are the versioned JSON of
    // `delivery::records`, as on Redis.
    "CREATE TABLE delivery_entries (
         id INTEGER PRIMARY KEY AUTOINCREMENT,
         input TEXT NOT NULL,
         event BLOB NOT NULL,
         source TEXT NOT NULL,
         added_ms INTEGER NOT NULL,
         taken_ms INTEGER
     );
     CREATE INDEX delivery_entries_by_input ON delivery_entries (input, id);
     CREATE TABLE delivery_pending (
         listener TEXT NOT NULL,
         id TEXT NOT NULL,
         due_ms INTEGER NOT NULL,
         lease_ms INTEGER NOT NULL DEFAULT 0,
         record TEXT NOT NULL,
         PRIMARY KEY (listener, id)
     );
     CREATE INDEX delivery_pending_by_due ON delivery_pending (listener, due_ms);
     CREATE TABLE delivery_dead (
         seq INTEGER PRIMARY KEY AUTOINCREMENT,
         listener TEXT NOT NULL,
         id TEXT NOT NULL,
         record TEXT NOT NULL,
         UNIQUE (listener, id)
     );
     CREATE TABLE delivery_rejected (
         seq INTEGER PRIMARY KEY AUTOINCREMENT,
         input TEXT NOT NULL,
         record TEXT NOT NULL
     );
     CREATE INDEX delivery_rejected_by_input ON delivery_rejected (input, seq);
     CREATE TABLE delivery_dropped (
         kind TEXT NOT NULL,
         name TEXT NOT NULL,
         count INTEGER NOT NULL,
         PRIMARY KEY (kind, name)
     );",
    // 3: the invocation log: one row per listener call, its record as versioned JSON
    // (`invocations::Invocation`), with the columns queries filter on.
    "CREATE TABLE invocations (
         seq INTEGER PRIMARY KEY AUTOINCREMENT,
         at_ms INTEGER NOT NULL,
         listener TEXT NOT NULL,
         outcome TEXT NOT NULL,
         event_id TEXT NOT NULL,
         record TEXT NOT NULL
     );
     CREATE INDEX invocations_by_listener ON invocations (listener, seq);
     CREATE INDEX invocations_by_event ON invocations (event_id);
     CREATE INDEX invocations_by_time ON invocations (at_ms);",
    // 4: the registry (`registry.rs`): tenants keyed by id, with the revision a write
    // compares; API tokens keyed by their prefix, found by tenant too; each tenant's
    // listeners by name, with the revision a write compares (their versions are in the
    // record); the audit log, by tenant, kept after the tenant is deleted; each tenant's
    // components by digest (their bytes are files: `components/<digest>.wasm`). Records
    // are the versioned JSON of `registry::{Tenant, ApiToken, StoredComponent}`.
    "CREATE TABLE registry_tenants (
         id TEXT PRIMARY KEY,
         revision INTEGER NOT NULL,
         record TEXT NOT NULL
     );
     CREATE TABLE registry_tokens (
         prefix TEXT PRIMARY KEY,
         tenant TEXT NOT NULL,
         created_ms INTEGER NOT NULL,
         record TEXT NOT NULL
     );
     CREATE INDEX registry_tokens_by_tenant ON registry_tokens (tenant, created_ms);
     CREATE TABLE registry_components (
         tenant TEXT NOT NULL,
         digest TEXT NOT NULL,
         uploaded_ms INTEGER NOT NULL,
         record TEXT NOT NULL,
         PRIMARY KEY (tenant, digest)
     );
     CREATE TABLE registry_listeners (
         tenant TEXT NOT NULL,
         name TEXT NOT NULL,
         revision INTEGER NOT NULL,
         record TEXT NOT NULL,
         PRIMARY KEY (tenant, name)
     );
     CREATE TABLE registry_audit (
         seq INTEGER PRIMARY KEY AUTOINCREMENT,
         tenant TEXT NOT NULL,
         record TEXT NOT NULL
     );
     CREATE INDEX registry_audit_by_tenant ON registry_audit (tenant, seq);",
    // 5: the registry's generation.
    "CREATE TABLE registry_generation (
         id INTEGER PRIMARY KEY CHECK (id = 0),
         value INTEGER NOT NULL
     );
     INSERT INTO registry_generation (id, value) VALUES (0, 0);
     CREATE TRIGGER registry_tenant_added AFTER INSERT ON registry_tenants
         BEGIN UPDATE registry_generation SET value = value + 1; END;
     CREATE TRIGGER registry_tenant_changed AFTER UPDATE ON registry_tenants
         BEGIN UPDATE registry_generation SET value = value + 1; END;
     CREATE TRIGGER registry_tenant_deleted AFTER DELETE ON registry_tenants
         BEGIN UPDATE registry_generation SET value = value + 1; END;
     CREATE TRIGGER registry_listener_added AFTER INSERT ON registry_listeners
         BEGIN UPDATE registry_generation SET value = value + 1; END;
     CREATE TRIGGER registry_listener_changed AFTER UPDATE ON registry_listeners
         BEGIN UPDATE registry_generation SET value = value + 1; END;
     CREATE TRIGGER registry_listener_deleted AFTER DELETE ON registry_listeners
         BEGIN UPDATE registry_generation SET value = value + 1; END;",
];

/// The schema version this build ends at.
pub(super) fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

/// Applies every migration the file lacks. Each runs in its own `BEGIN IMMEDIATE`
/// transaction that re-reads the version first: two processes opening a new file at once
/// take turns, and the second finds nothing left to do.
pub(super) fn apply(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    loop {
        match apply_next(conn).map_err(|e| sqlite(path, e))? {
            Step::Applied => continue,
            Step::UpToDate => return Ok(()),
            Step::TooNew(found) => {
                let (path, known) = (path.to_owned(), latest());
                return Err(StoreError::TooNew { path, found, known });
            }
        }
    }
}

enum Step {
    Applied,
    UpToDate,
    TooNew(i64),
}

fn apply_next(conn: &mut Connection) -> rusqlite::Result<Step> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let Some(sql) = usize::try_from(version)
        .ok()
        .and_then(|v| MIGRATIONS.get(v))
    else {
        return Ok(if version > latest() {
            Step::TooNew(version)
        } else {
            Step::UpToDate
        });
    };
    tx.execute_batch(sql)?;
    tx.pragma_update(None, "user_version", version + 1)?;
    tx.commit()?;
    Ok(Step::Applied)
}
