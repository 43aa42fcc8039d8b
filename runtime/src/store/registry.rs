//! The registry on the embedded store, in plain terms (keys, revisions and JSON records):
//! `backends::embedded_registry` maps the registry's interface onto it.

use super::{Store, StoreError};
use rusqlite::{params, OptionalExtension, TransactionBehavior};

/// A tenant to write: `(id, revision, record JSON)`.
pub(crate) type TenantRow = (String, u64, String);

/// A listener's row: its key, revision and record, and the component its active version
/// runs (which must still be the tenant's when the row is written).
#[derive(Debug)]
pub(crate) struct ListenerRow {
    pub tenant: String,
    pub name: String,
    pub revision: u64,
    pub record: String,
    pub component: String,
}

/// What a listener's put did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Put {
    /// Written.
    Written,
    /// Its revision was not the one expected.
    Conflict,
    /// The tenant has no component of that digest (any more): nothing written.
    NoComponent,
}

impl Store {
    /// The record of tenant `id`.
    pub(crate) async fn registry_tenant(&self, id: String) -> Result<Option<String>, StoreError> {
        self.run(move |conn| {
            conn.prepare_cached("SELECT record FROM registry_tenants WHERE id = ?1")?
                .query_row(params![id], |row| row.get(0))
                .optional()
        })
        .await
    }

    /// Up to `limit` tenant records with ids after `after`, in id order.
    pub(crate) async fn registry_tenants(
        &self,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |conn| {
            let mut select = conn.prepare_cached(
                "SELECT record FROM registry_tenants WHERE (?1 IS NULL OR id > ?1) \
                 ORDER BY id LIMIT ?2",
            )?;
            let rows = select.query_map(params![after, limit], |row| row.get(0))?;
            rows.collect()
        })
        .await
    }

    /// Writes a tenant if its stored revision is `expected` (`None`: if it is absent);
    /// whether it was written.
    pub(crate) async fn registry_put_tenant(
        &self,
        row: TenantRow,
        expected: Option<u64>,
    ) -> Result<bool, StoreError> {
        self.run(move |conn| {
            let (id, revision, record) = row;
            put_if_revision(
                conn.transaction_with_behavior(TransactionBehavior::Immediate)?,
                "SELECT revision FROM registry_tenants WHERE id = ?1",
                "INSERT INTO registry_tenants (id, revision, record) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (id) DO UPDATE SET revision = ?2, record = ?3",
                &[&id],
                (revision, &record, expected),
            )
        })
        .await
    }

    /// Deletes tenant `id`, its tokens, components and listeners in one transaction, then
    /// the files of its components no other tenant has; whether it existed.
    pub(crate) async fn registry_delete_tenant(&self, id: String) -> Result<bool, StoreError> {
        let dir = self.components_dir();
        let (deleted, unused) = self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let unused: Vec<String> = {
                let mut select = tx.prepare(
                    "SELECT digest FROM registry_components AS mine WHERE tenant = ?1 AND NOT EXISTS \
                     (SELECT 1 FROM registry_components AS other \
                      WHERE other.digest = mine.digest AND other.tenant <> ?1)",
                )?;
                let rows = select.query_map(params![id], |row| row.get(0))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            for table in [
                "registry_tokens",
                "registry_components",
                "registry_listeners",
            ] {
                let sql = format!("DELETE FROM {table} WHERE tenant = ?1");
                tx.execute(&sql, params![id])?;
            }
            let deleted = tx.execute("DELETE FROM registry_tenants WHERE id = ?1", params![id])?;
            tx.commit()?;
            Ok((deleted > 0, unused))
        })
        .await?;
        for digest in unused {
            let file = dir.join(format!("{digest}.wasm"));
            match tokio::fs::remove_file(&file).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(StoreError::File { path: file, source }),
            }
        }
        Ok(deleted)
    }

    /// Writes a token's record.
    pub(crate) async fn registry_put_token(
        &self,
        prefix: String,
        tenant: String,
        created_ms: u64,
        record: String,
    ) -> Result<(), StoreError> {
        let created = i64::try_from(created_ms).unwrap_or(i64::MAX);
        self.run(move |conn| {
            conn.prepare_cached(
                "INSERT INTO registry_tokens (prefix, tenant, created_ms, record) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (prefix) DO UPDATE SET record = ?4",
            )?
            .execute(params![prefix, tenant, created, record])
            .map(drop)
        })
        .await
    }

    /// The record of the token `prefix`.
    pub(crate) async fn registry_token(
        &self,
        prefix: String,
    ) -> Result<Option<String>, StoreError> {
        self.run(move |conn| {
            conn.prepare_cached("SELECT record FROM registry_tokens WHERE prefix = ?1")?
                .query_row(params![prefix], |row| row.get(0))
                .optional()
        })
        .await
    }

    /// The records of tenant `tenant`'s tokens, newest first.
    pub(crate) async fn registry_tokens(&self, tenant: String) -> Result<Vec<String>, StoreError> {
        self.tenant_records(
            "SELECT record FROM registry_tokens WHERE tenant = ?1 \
                 ORDER BY created_ms DESC, prefix",
            tenant,
        )
        .await
    }

    /// The folder of component files: `components/` beside the store's file.
    pub(crate) fn components_dir(&self) -> std::path::PathBuf {
        let parent = self.path().parent().unwrap_or(std::path::Path::new("."));
        parent.join("components")
    }

    /// Writes `bytes` as `components/<digest>.wasm` (a temporary file renamed into place:
    /// a reader sees all of it or nothing), then the tenant's record of it.
    pub(crate) async fn registry_put_component(
        &self,
        tenant: String,
        digest: String,
        uploaded_ms: u64,
        record: String,
        bytes: Vec<u8>,
    ) -> Result<(), StoreError> {
        let dir = self.components_dir();
        let path = dir.join(format!("{digest}.wasm"));
        let file_failed = |source| StoreError::File {
            path: path.clone(),
            source,
        };
        if !tokio::fs::try_exists(&path).await.map_err(file_failed)? {
            tokio::fs::create_dir_all(&dir).await.map_err(file_failed)?;
            let temp = dir.join(format!(".{digest}.{}.tmp", fastrand::u64(..)));
            let written = tokio::fs::write(&temp, &bytes).await;
            let renamed = match written {
                Ok(()) => tokio::fs::rename(&temp, &path).await,
                Err(e) => Err(e),
            };
            if let Err(e) = renamed {
                let _ = tokio::fs::remove_file(&temp).await;
                return Err(file_failed(e));
            }
        }
        let uploaded = i64::try_from(uploaded_ms).unwrap_or(i64::MAX);
        self.run(move |conn| {
            conn.prepare_cached(
                "INSERT INTO registry_components (tenant, digest, uploaded_ms, record) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT (tenant, digest) DO NOTHING",
            )?
            .execute(params![tenant, digest, uploaded, record])
            .map(drop)
        })
        .await
    }

    /// Deletes tenant `tenant`'s record of component `digest` unless a version of one of its
    /// listeners names it (checked in the same transaction, so a `PUT` naming it at that
    /// moment either keeps it or is refused), then its file when no other tenant has a
    /// record of it; whether the record was deleted.
    pub(crate) async fn registry_remove_component(
        &self,
        tenant: String,
        digest: String,
    ) -> Result<bool, StoreError> {
        let file = self.components_dir().join(format!("{digest}.wasm"));
        let (removed, unused) = self
            .run(move |conn| {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                let named: bool = tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM registry_listeners AS l, \
                     json_each(l.record, '$.versions') AS v \
                     WHERE l.tenant = ?1 AND json_extract(v.value, '$.definition.component') = ?2)",
                    params![tenant, digest],
                    |row| row.get(0),
                )?;
                if named {
                    return Ok((false, false));
                }
                tx.execute(
                    "DELETE FROM registry_components WHERE tenant = ?1 AND digest = ?2",
                    params![tenant, digest],
                )?;
                let others: i64 = tx.query_row(
                    "SELECT count(*) FROM registry_components WHERE digest = ?1",
                    params![digest],
                    |row| row.get(0),
                )?;
                tx.commit()?;
                Ok((true, others == 0))
            })
            .await?;
        if unused {
            match tokio::fs::remove_file(&file).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(StoreError::File { path: file, source }),
            }
        }
        Ok(removed)
    }

    /// The records of tenant `tenant`'s components, oldest first.
    pub(crate) async fn registry_components(
        &self,
        tenant: String,
    ) -> Result<Vec<String>, StoreError> {
        self.tenant_records(
            "SELECT record FROM registry_components WHERE tenant = ?1 \
                 ORDER BY uploaded_ms, digest",
            tenant,
        )
        .await
    }

    /// The record of tenant `tenant`'s listener `name`.
    pub(crate) async fn registry_listener(
        &self,
        tenant: String,
        name: String,
    ) -> Result<Option<String>, StoreError> {
        self.run(move |conn| {
            conn.prepare_cached(
                "SELECT record FROM registry_listeners WHERE tenant = ?1 AND name = ?2",
            )?
            .query_row(params![tenant, name], |row| row.get(0))
            .optional()
        })
        .await
    }

    /// The records of tenant `tenant`'s listeners, in name order.
    pub(crate) async fn registry_listeners(
        &self,
        tenant: String,
    ) -> Result<Vec<String>, StoreError> {
        self.tenant_records(
            "SELECT record FROM registry_listeners WHERE tenant = ?1 ORDER BY name",
            tenant,
        )
        .await
    }

    /// Writes a listener if its stored revision is `expected` (`None`: if it is absent);
    /// whether it was written.
    pub(crate) async fn registry_put_listener(
        &self,
        row: ListenerRow,
        expected: Option<u64>,
    ) -> Result<Put, StoreError> {
        self.run(move |conn| {
            let ListenerRow {
                tenant,
                name,
                revision,
                record,
                component,
            } = row;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let kept: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM registry_components WHERE tenant = ?1 AND digest = ?2)",
                params![tenant, component],
                |row| row.get(0),
            )?;
            if !kept {
                return Ok(Put::NoComponent);
            }
            let written = put_if_revision(
                tx,
                "SELECT revision FROM registry_listeners WHERE tenant = ?1 AND name = ?2",
                "INSERT INTO registry_listeners (tenant, name, revision, record) \
                 VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (tenant, name) DO UPDATE SET revision = ?3, record = ?4",
                &[&tenant, &name],
                (revision, &record, expected),
            )?;
            Ok(if written { Put::Written } else { Put::Conflict })
        })
        .await
    }

    /// Deletes tenant `tenant`'s listener `name`; whether it existed.
    pub(crate) async fn registry_delete_listener(
        &self,
        tenant: String,
        name: String,
    ) -> Result<bool, StoreError> {
        self.run(move |conn| {
            let deleted = conn.execute(
                "DELETE FROM registry_listeners WHERE tenant = ?1 AND name = ?2",
                params![tenant, name],
            )?;
            Ok(deleted > 0)
        })
        .await
    }

    /// Appends an audit record for `tenant`.
    pub(crate) async fn registry_append_audit(
        &self,
        tenant: String,
        record: String,
    ) -> Result<(), StoreError> {
        self.run(move |conn| {
            conn.prepare_cached("INSERT INTO registry_audit (tenant, record) VALUES (?1, ?2)")?
                .execute(params![tenant, record])
                .map(drop)
        })
        .await
    }

    /// Up to `limit` of `tenant`'s audit records with a `seq` below `before`, newest
    /// first: `(seq, record)`.
    pub(crate) async fn registry_audit(
        &self,
        tenant: String,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<(u64, String)>, StoreError> {
        let before = before.map_or(i64::MAX, |b| i64::try_from(b).unwrap_or(i64::MAX));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |conn| {
            let mut select = conn.prepare_cached(
                "SELECT seq, record FROM registry_audit WHERE tenant = ?1 AND seq < ?2 \
                 ORDER BY seq DESC LIMIT ?3",
            )?;
            let rows = select.query_map(params![tenant, before, limit], |row| {
                let seq: i64 = row.get(0)?;
                Ok((u64::try_from(seq).unwrap_or_default(), row.get(1)?))
            })?;
            rows.collect()
        })
        .await
    }

    /// The registry's generation: it moves with every change of a tenant or a listener.
    pub(crate) async fn registry_generation(&self) -> Result<u64, StoreError> {
        self.run(|conn| {
            let value: i64 = conn
                .prepare_cached("SELECT value FROM registry_generation WHERE id = 0")?
                .query_row([], |row| row.get(0))?;
            Ok(u64::try_from(value).unwrap_or_default())
        })
        .await
    }

    /// In one read transaction: the generation, every tenant's record (in id order) and
    /// every listener's (by tenant, then name).
    pub(crate) async fn registry_snapshot(
        &self,
    ) -> Result<(u64, Vec<String>, Vec<String>), StoreError> {
        self.run(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Deferred)?;
            let generation: i64 = tx
                .prepare_cached("SELECT value FROM registry_generation WHERE id = 0")?
                .query_row([], |row| row.get(0))?;
            let records = |sql: &str| -> rusqlite::Result<Vec<String>> {
                let mut select = tx.prepare_cached(sql)?;
                let rows = select.query_map([], |row| row.get(0))?;
                rows.collect()
            };
            let tenants = records("SELECT record FROM registry_tenants ORDER BY id")?;
            let listeners = records("SELECT record FROM registry_listeners ORDER BY tenant, name")?;
            tx.commit()?;
            let generation = u64::try_from(generation).unwrap_or_default();
            Ok((generation, tenants, listeners))
        })
        .await
    }

    /// The records `sql` selects for `tenant` (its `?1`), in its order.
    async fn tenant_records(
        &self,
        sql: &'static str,
        tenant: String,
    ) -> Result<Vec<String>, StoreError> {
        self.run(move |conn| {
            let mut select = conn.prepare_cached(sql)?;
            let rows = select.query_map(params![tenant], |row| row.get(0))?;
            rows.collect()
        })
        .await
    }
}

/// In one write transaction: writes a record with `upsert` (the `key` values, then the
/// revision and the record) if `select` (by the `key` values) finds the revision
/// `expected` (`None`: no row). Whether it wrote.
fn put_if_revision(
    tx: rusqlite::Transaction<'_>,
    select: &str,
    upsert: &str,
    key: &[&dyn rusqlite::ToSql],
    (revision, record, expected): (u64, &str, Option<u64>),
) -> rusqlite::Result<bool> {
    let stored: Option<i64> = tx
        .prepare_cached(select)?
        .query_row(key, |row| row.get(0))
        .optional()?;
    if stored.map(|r| u64::try_from(r).unwrap_or_default()) != expected {
        return Ok(false);
    }
    let revision = i64::try_from(revision).unwrap_or(i64::MAX);
    let mut values: Vec<&dyn rusqlite::ToSql> = key.to_vec();
    values.push(&revision);
    values.push(&record);
    tx.prepare_cached(upsert)?.execute(values.as_slice())?;
    tx.commit()?;
    Ok(true)
}
