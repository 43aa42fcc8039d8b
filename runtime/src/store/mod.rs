//! The embedded store: one SQLite file for everything that must survive a restart.
//!
//! `serve` and the command line (`wasm-listeners queue pop`) open the same file at once:
//! SQLite in WAL mode lets readers and one writer work side by side, and a busy timeout
//! makes a second writer wait instead of failing. Later subsystems (deliveries, the
//! invocation log, the registry) add their tables by appending a migration.
//!
//! # Layout
//! - `mod.rs`: [`Store`], opening a file, running blocking SQLite calls off the executor.
//! - `migrations.rs`: the numbered schema migrations, keyed by `PRAGMA user_version`.
//! - `queue.rs`: the queues that take pushes when no Redis is configured.
//! - `deliveries.rs`: the durable queue of async deliveries when no Redis is configured.
//! - `invocations.rs`: the invocation log when no Redis is configured.
//! - `registry.rs`: the registry's tenants and tokens.

mod deliveries;
mod invocations;
mod migrations;
mod queue;
mod registry;
pub(crate) use registry::{ListenerRow, Put};

pub(crate) use deliveries::{PendingRow, StoreSettlement};
pub(crate) use invocations::InvocationFilter;

use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a statement waits for another connection (another process) to release the
/// write lock before failing with "database is locked".
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the store failed. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The folder that should hold the file could not be created.
    #[error("cannot create the folder of the store {path}: {source}")]
    CreateFolder {
        /// The store file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// SQLite failed (opening, a pragma, a statement).
    #[error("store {path}: {source}")]
    Sqlite {
        /// The store file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// SQLite refused WAL mode (a file system without shared memory, for instance).
    #[error("store {path}: journal_mode is `{mode}`, WAL could not be enabled")]
    NotWal {
        /// The store file.
        path: PathBuf,
        /// The journal mode SQLite kept.
        mode: String,
    },
    /// The file was written by a newer wasm-listeners, with migrations this one lacks.
    #[error("store {path} has schema version {found}, this wasm-listeners knows up to {known}: upgrade wasm-listeners")]
    TooNew {
        /// The store file.
        path: PathBuf,
        /// `PRAGMA user_version` of the file.
        found: i64,
        /// The last migration this build knows.
        known: i64,
    },
    /// A file beside the store (a component's bytes) could not be written.
    #[error("store {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The blocking task running the statement panicked or was cancelled.
    #[error("store {path}: the task running the statement failed: {source}")]
    Task {
        /// The store file.
        path: PathBuf,
        /// What tokio said.
        source: tokio::task::JoinError,
    },
}

/// A handle on the embedded store. Cheap to clone: clones share one connection.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    // A std Mutex, not a tokio one: it is only ever locked inside `spawn_blocking`, never
    // held across an `.await`, and `Connection` is `Send` but not `Sync`. One connection
    // per process serialises this process's statements, which SQLite does for writers
    // anyway; readers of another process are not blocked (WAL).
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish()
    }
}

impl Store {
    /// Opens (creating it and its parent folders if needed) the store at `path`, sets WAL
    /// mode, `synchronous=NORMAL` and [`BUSY_TIMEOUT`], and applies pending migrations.
    ///
    /// Blocking: call it at start-up (or inside `spawn_blocking`), not in a hot async path.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref().to_owned();
        create_parent(&path)?;
        let mut conn = Connection::open(&path).map_err(|e| sqlite(&path, e))?;
        configure(&conn, &path)?;
        migrations::apply(&mut conn, &path)?;
        let inner = Inner {
            path,
            conn: Mutex::new(conn),
        };
        Ok(Store {
            inner: Arc::new(inner),
        })
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Runs `work` on the connection in tokio's blocking pool: rusqlite blocks (disk I/O,
    /// waiting up to [`BUSY_TIMEOUT`] for another process's lock), which must not stall an
    /// executor thread that is running listeners.
    async fn run<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        let task = tokio::task::spawn_blocking(move || {
            // A panic inside `work` poisons the lock, but leaves the connection usable:
            // rusqlite rolls back an unfinished transaction when it is dropped.
            let mut conn = inner.conn.lock().unwrap_or_else(|p| p.into_inner());
            work(&mut conn).map_err(|e| sqlite(&inner.path, e))
        });
        task.await.map_err(|source| StoreError::Task {
            path: self.inner.path.clone(),
            source,
        })?
    }
}

fn create_parent(path: &Path) -> Result<(), StoreError> {
    let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    std::fs::create_dir_all(parent).map_err(|source| StoreError::CreateFolder {
        path: path.to_owned(),
        source,
    })
}

/// Per-connection settings. WAL lets `serve` and a CLI command use the file at once;
/// `synchronous=NORMAL` is durable against a process crash (not a power loss of the last
/// transactions), the usual pairing with WAL.
fn configure(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let set_wal = |conn: &Connection| {
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
    };
    let mode = set_wal(conn).map_err(|e| sqlite(path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        let path = path.to_owned();
        return Err(StoreError::NotWal { path, mode });
    }
    let normal = conn.pragma_update(None, "synchronous", "NORMAL");
    normal.map_err(|e| sqlite(path, e))
}

fn sqlite(path: &Path, source: rusqlite::Error) -> StoreError {
    StoreError::Sqlite {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests;
