//! The registry on the embedded store, in plain terms (keys, revisions and JSON records):
//! `backends::embedded_registry` maps the registry's interface onto it.

use super::{Store, StoreError};
use rusqlite::{params, OptionalExtension, TransactionBehavior};

/// A tenant to write: `(id, revision, record JSON)`.
pub(crate) type TenantRow = (String, u64, String);

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
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let (id, revision, record) = row;
            let stored: Option<i64> = tx
                .prepare_cached("SELECT revision FROM registry_tenants WHERE id = ?1")?
                .query_row(params![id], |row| row.get(0))
                .optional()?;
            let stored = stored.map(|r| u64::try_from(r).unwrap_or_default());
            if stored != expected {
                return Ok(false);
            }
            let revision = i64::try_from(revision).unwrap_or(i64::MAX);
            tx.prepare_cached(
                "INSERT INTO registry_tenants (id, revision, record) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (id) DO UPDATE SET revision = ?2, record = ?3",
            )?
            .execute(params![id, revision, record])?;
            tx.commit()?;
            Ok(true)
        })
        .await
    }

    /// Deletes tenant `id` and its tokens in one transaction; whether it existed.
    pub(crate) async fn registry_delete_tenant(&self, id: String) -> Result<bool, StoreError> {
        self.run(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM registry_tokens WHERE tenant = ?1", params![id])?;
            let deleted = tx.execute("DELETE FROM registry_tenants WHERE id = ?1", params![id])?;
            tx.commit()?;
            Ok(deleted > 0)
        })
        .await
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
        self.run(move |conn| {
            let mut select = conn.prepare_cached(
                "SELECT record FROM registry_tokens WHERE tenant = ?1 \
                 ORDER BY created_ms DESC, prefix",
            )?;
            let rows = select.query_map(params![tenant], |row| row.get(0))?;
            rows.collect()
        })
        .await
    }
}
