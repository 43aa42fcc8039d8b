//! [`EmbeddedRegistry`]: the registry's records in the embedded store
//! (`store/registry.rs`), for one process. On Redis, every process shares one registry:
//! "Tenants 2 of 3".

use crate::registry::{
    ApiToken, AuditEntry, Invalid, RegistryError, RegistryStore, Snapshot, StoredComponent, Tenant,
    TenantId, TenantListener,
};
use crate::store::{ListenerRow, Put, Store};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The registry in the embedded store.
#[derive(Debug, Clone)]
pub(crate) struct EmbeddedRegistry {
    store: Store,
}

impl EmbeddedRegistry {
    /// The registry in `store`'s file.
    pub(crate) fn new(store: Store) -> EmbeddedRegistry {
        EmbeddedRegistry { store }
    }
}

fn encode(key: &str, record: &impl Serialize) -> Result<String, RegistryError> {
    serde_json::to_string(record).map_err(|source| RegistryError::Record {
        key: key.to_owned(),
        source,
    })
}

fn decode<T: DeserializeOwned>(key: &str, text: &str) -> Result<T, RegistryError> {
    serde_json::from_str(text).map_err(|source| RegistryError::Record {
        key: key.to_owned(),
        source,
    })
}

#[async_trait::async_trait]
impl RegistryStore for EmbeddedRegistry {
    async fn tenant(&self, id: &TenantId) -> Result<Option<Tenant>, RegistryError> {
        let key = format!("tenant {id}");
        let found = self.store.registry_tenant(id.to_string()).await?;
        found.map(|text| decode(&key, &text)).transpose()
    }

    async fn tenants(
        &self,
        after: Option<&TenantId>,
        limit: usize,
    ) -> Result<Vec<Tenant>, RegistryError> {
        let after = after.map(TenantId::to_string);
        let found = self.store.registry_tenants(after, limit).await?;
        found.iter().map(|text| decode("tenant", text)).collect()
    }

    async fn put_tenant(
        &self,
        tenant: &Tenant,
        expected: Option<u64>,
    ) -> Result<(), RegistryError> {
        let record = encode(&format!("tenant {}", tenant.id), tenant)?;
        let row = (tenant.id.to_string(), tenant.revision, record);
        match self.store.registry_put_tenant(row, expected).await? {
            true => Ok(()),
            false => Err(RegistryError::Conflict(tenant.id.clone())),
        }
    }

    async fn delete_tenant(&self, id: &TenantId) -> Result<bool, RegistryError> {
        Ok(self.store.registry_delete_tenant(id.to_string()).await?)
    }

    async fn put_token(&self, token: &ApiToken) -> Result<(), RegistryError> {
        let record = encode(&format!("token {}", token.prefix), token)?;
        let (prefix, tenant) = (token.prefix.clone(), token.tenant.to_string());
        let put = self
            .store
            .registry_put_token(prefix, tenant, token.created_ms, record);
        Ok(put.await?)
    }

    async fn token(&self, prefix: &str) -> Result<Option<ApiToken>, RegistryError> {
        let key = format!("token {prefix}");
        let found = self.store.registry_token(prefix.to_owned()).await?;
        found.map(|text| decode(&key, &text)).transpose()
    }

    async fn tokens(&self, tenant: &TenantId) -> Result<Vec<ApiToken>, RegistryError> {
        let found = self.store.registry_tokens(tenant.to_string()).await?;
        found.iter().map(|text| decode("token", text)).collect()
    }

    async fn put_component(
        &self,
        record: &StoredComponent,
        bytes: &[u8],
    ) -> Result<(), RegistryError> {
        let json = encode(&format!("component {}", record.digest), record)?;
        let put = self.store.registry_put_component(
            record.tenant.to_string(),
            record.digest.clone(),
            record.uploaded_ms,
            json,
            bytes.to_vec(),
        );
        Ok(put.await?)
    }

    async fn components(&self, tenant: &TenantId) -> Result<Vec<StoredComponent>, RegistryError> {
        let found = self.store.registry_components(tenant.to_string()).await?;
        found.iter().map(|text| decode("component", text)).collect()
    }

    async fn listener(
        &self,
        tenant: &TenantId,
        name: &str,
    ) -> Result<Option<TenantListener>, RegistryError> {
        let key = format!("listener {tenant}/{name}");
        let found = self
            .store
            .registry_listener(tenant.to_string(), name.to_owned());
        found.await?.map(|text| decode(&key, &text)).transpose()
    }

    async fn listeners(&self, tenant: &TenantId) -> Result<Vec<TenantListener>, RegistryError> {
        let found = self.store.registry_listeners(tenant.to_string()).await?;
        found.iter().map(|text| decode("listener", text)).collect()
    }

    async fn remove_component(
        &self,
        tenant: &TenantId,
        digest: &str,
    ) -> Result<bool, RegistryError> {
        let removed = self
            .store
            .registry_remove_component(tenant.to_string(), digest.to_owned());
        Ok(removed.await?)
    }

    async fn generation(&self) -> Result<u64, RegistryError> {
        Ok(self.store.registry_generation().await?)
    }

    async fn snapshot(&self) -> Result<Snapshot, RegistryError> {
        let (generation, tenants, listeners) = self.store.registry_snapshot().await?;
        Ok(Snapshot {
            generation,
            tenants: tenants
                .iter()
                .map(|text| decode("tenant", text))
                .collect::<Result<_, _>>()?,
            listeners: listeners
                .iter()
                .map(|text| decode("listener", text))
                .collect::<Result<_, _>>()?,
        })
    }

    async fn put_listener(
        &self,
        listener: &TenantListener,
        expected: Option<u64>,
    ) -> Result<(), RegistryError> {
        let record = encode(&format!("listener {}", listener.qualified_name()), listener)?;
        let component = listener
            .active_version()
            .map(|v| v.definition.component.clone());
        let row = ListenerRow {
            tenant: listener.tenant.to_string(),
            name: listener.name.clone(),
            revision: listener.revision,
            record,
            component: component.clone().unwrap_or_default(),
        };
        match self.store.registry_put_listener(row, expected).await? {
            Put::Written => Ok(()),
            Put::Conflict => Err(RegistryError::ListenerConflict {
                tenant: listener.tenant.clone(),
                name: listener.name.clone(),
            }),
            // Released between the registry's check and this write.
            Put::NoComponent => {
                Err(Invalid::UnknownComponent(component.unwrap_or_default()).into())
            }
        }
    }

    async fn delete_listener(&self, tenant: &TenantId, name: &str) -> Result<bool, RegistryError> {
        let deleted = self
            .store
            .registry_delete_listener(tenant.to_string(), name.to_owned());
        Ok(deleted.await?)
    }

    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), RegistryError> {
        let record = encode("audit entry", entry)?;
        let append = self
            .store
            .registry_append_audit(entry.tenant.to_string(), record);
        Ok(append.await?)
    }

    async fn audit(
        &self,
        tenant: &TenantId,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, RegistryError> {
        let rows = self
            .store
            .registry_audit(tenant.to_string(), before, limit)
            .await?;
        let decoded = rows.into_iter().map(|(seq, text)| {
            let mut entry: AuditEntry = decode("audit entry", &text)?;
            entry.seq = seq;
            Ok(entry)
        });
        decoded.collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{Caller, EngineBounds, Invalid, Registry, TenantChange, TokenScope};
    use std::sync::Arc;

    fn registry(dir: &std::path::Path) -> Registry {
        registry_and_store(dir).0
    }

    /// The registry, and its store to call beneath the registry's checks.
    fn registry_and_store(dir: &std::path::Path) -> (Registry, EmbeddedRegistry) {
        let store = EmbeddedRegistry::new(Store::open(dir.join("store.sqlite3")).unwrap());
        let bounds = EngineBounds {
            max_memory_bytes: crate::limits::DEFAULT_MAX_MEMORY_BYTES,
            epoch_tick: crate::limits::DEFAULT_EPOCH_TICK,
        };
        (Registry::new(Arc::new(store.clone()), bounds), store)
    }

    fn id(text: &str) -> TenantId {
        text.parse().unwrap()
    }

    #[tokio::test]
    async fn tenants_are_created_listed_changed_by_revision_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let registry = registry(dir.path());
        let change = TenantChange {
            name: Some("Acme".into()),
            buckets: Some(vec!["shop-*".into()]),
            ..TenantChange::default()
        };
        let acme = registry
            .create_tenant(id("acme"), change, 10)
            .await
            .unwrap();
        assert_eq!((acme.revision, acme.created_ms), (1, 10));
        let again = registry
            .create_tenant(id("acme"), TenantChange::default(), 11)
            .await;
        assert!(
            matches!(again, Err(RegistryError::TenantExists(_))),
            "{again:?}"
        );
        for name in ["zeta", "beta"] {
            registry
                .create_tenant(id(name), TenantChange::default(), 12)
                .await
                .unwrap();
        }
        let ids = |ts: Vec<Tenant>| ts.into_iter().map(|t| t.id.to_string()).collect::<Vec<_>>();
        assert_eq!(
            ids(registry.tenants(None, 2).await.unwrap()),
            ["acme", "beta"]
        );
        let next = registry.tenants(Some(&id("beta")), 2).await.unwrap();
        assert_eq!(ids(next), ["zeta"]);

        let disable = || TenantChange {
            disabled: Some(true),
            ..TenantChange::default()
        };
        let changed = registry
            .update_tenant(&id("acme"), disable(), Some(1), 20)
            .await
            .unwrap();
        assert_eq!(
            (changed.revision, changed.updated_ms, changed.disabled),
            (2, 20, true)
        );
        assert_eq!(changed.buckets, ["shop-*"], "what the change omits is kept");
        let stale = registry
            .update_tenant(&id("acme"), disable(), Some(1), 21)
            .await;
        assert!(
            matches!(
                stale,
                Err(RegistryError::Stale {
                    expected: 1,
                    current: 2,
                    ..
                })
            ),
            "{stale:?}"
        );
        let bad = TenantChange {
            buckets: Some(vec!["shop/records".into()]),
            ..TenantChange::default()
        };
        let refused = registry.update_tenant(&id("acme"), bad, None, 22).await;
        assert!(
            matches!(refused, Err(RegistryError::Invalid(Invalid::Bucket(_)))),
            "{refused:?}"
        );
        assert_eq!(
            registry.tenant(&id("acme")).await.unwrap(),
            changed,
            "nothing written"
        );

        registry.delete_tenant(&id("acme")).await.unwrap();
        let gone = registry.tenant(&id("acme")).await;
        assert!(matches!(gone, Err(RegistryError::NoTenant(_))), "{gone:?}");
        let twice = registry.delete_tenant(&id("acme")).await;
        assert!(
            matches!(twice, Err(RegistryError::NoTenant(_))),
            "{twice:?}"
        );
    }

    #[tokio::test]
    async fn a_write_against_an_old_revision_loses() {
        let dir = tempfile::tempdir().unwrap();
        // A second handle on the registry's file: what another process would hold.
        let store = EmbeddedRegistry::new(Store::open(dir.path().join("store.sqlite3")).unwrap());
        let registry = registry(dir.path());
        let mut tenant = registry
            .create_tenant(id("acme"), TenantChange::default(), 1)
            .await
            .unwrap();
        tenant.revision = 2;
        store.put_tenant(&tenant, Some(1)).await.unwrap();
        // A second writer that read revision 1 too.
        let lost = store.put_tenant(&tenant, Some(1)).await;
        assert!(matches!(lost, Err(RegistryError::Conflict(_))), "{lost:?}");
        let created_twice = store.put_tenant(&tenant, None).await;
        assert!(
            matches!(created_twice, Err(RegistryError::Conflict(_))),
            "{created_twice:?}"
        );
    }

    #[tokio::test]
    async fn tokens_authenticate_until_revoked_expired_or_their_tenant_goes() {
        let dir = tempfile::tempdir().unwrap();
        let registry = registry(dir.path());
        for name in ["acme", "beta"] {
            registry
                .create_tenant(id(name), TenantChange::default(), 1)
                .await
                .unwrap();
        }
        let acme = id("acme");
        let deploy = registry
            .issue_token(&acme, TokenScope::Deploy, "ci".into(), None, 10)
            .await
            .unwrap();
        let expiring = registry
            .issue_token(&acme, TokenScope::ReadOnly, "view".into(), Some(100), 10)
            .await
            .unwrap();
        let caller = registry.authenticate(&deploy.token, 50).await.unwrap();
        assert_eq!(
            caller,
            Some(Caller::Tenant {
                id: acme.clone(),
                scope: TokenScope::Deploy,
                token: deploy.record.prefix.clone(),
            })
        );
        assert!(registry
            .authenticate(&expiring.token, 99)
            .await
            .unwrap()
            .is_some());
        assert_eq!(
            registry.authenticate(&expiring.token, 100).await.unwrap(),
            None
        );
        let forged = format!("{}{}", &deploy.token[..16], "0".repeat(52));
        assert_eq!(registry.authenticate(&forged, 50).await.unwrap(), None);
        assert_eq!(
            registry.authenticate("operator-secret", 50).await.unwrap(),
            None
        );

        let listed = registry.tokens(&acme).await.unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed
            .iter()
            .all(|t| !t.sha256.is_empty() && t.prefix.len() == 12));
        // B cannot revoke A's token by its prefix.
        let other = registry
            .revoke_token(&id("beta"), &deploy.record.prefix, 60)
            .await;
        assert!(
            matches!(other, Err(RegistryError::NoToken { .. })),
            "{other:?}"
        );
        let revoked = registry
            .revoke_token(&acme, &deploy.record.prefix, 60)
            .await
            .unwrap();
        assert_eq!(revoked.revoked_ms, Some(60));
        assert_eq!(
            registry.authenticate(&deploy.token, 61).await.unwrap(),
            None
        );

        let past = registry
            .issue_token(&acme, TokenScope::Deploy, String::new(), Some(5), 10)
            .await;
        assert!(
            matches!(
                past,
                Err(RegistryError::Invalid(Invalid::ExpiryPast { .. }))
            ),
            "{past:?}"
        );

        let view = registry
            .issue_token(&acme, TokenScope::ReadOnly, String::new(), None, 10)
            .await
            .unwrap();
        let disable = TenantChange {
            disabled: Some(true),
            ..TenantChange::default()
        };
        registry
            .update_tenant(&acme, disable, None, 70)
            .await
            .unwrap();
        assert_eq!(
            registry.authenticate(&view.token, 71).await.unwrap(),
            None,
            "disabled"
        );
        let enable = TenantChange {
            disabled: Some(false),
            ..TenantChange::default()
        };
        registry
            .update_tenant(&acme, enable, None, 72)
            .await
            .unwrap();
        assert!(registry
            .authenticate(&view.token, 73)
            .await
            .unwrap()
            .is_some());
        registry.delete_tenant(&acme).await.unwrap();
        assert_eq!(
            registry.authenticate(&view.token, 74).await.unwrap(),
            None,
            "deleted"
        );
        let recreated = registry
            .create_tenant(acme.clone(), TenantChange::default(), 75)
            .await;
        recreated.unwrap();
        assert_eq!(
            registry.authenticate(&view.token, 76).await.unwrap(),
            None,
            "a deleted tenant's tokens do not come back with a new tenant of the same id"
        );
    }

    #[tokio::test]
    async fn a_component_no_version_uses_is_removed_and_its_file_when_nobody_has_it() {
        let dir = tempfile::tempdir().unwrap();
        let registry = registry(dir.path());
        let quotas = crate::registry::Quotas {
            versions_kept: 1,
            ..Default::default()
        };
        for name in ["acme", "beta"] {
            let change = TenantChange {
                quotas: Some(quotas.clone()),
                ..TenantChange::default()
            };
            registry.create_tenant(id(name), change, 1).await.unwrap();
        }
        let (acme, beta) = (id("acme"), id("beta"));
        let component = |tenant: &TenantId, bytes: &[u8]| StoredComponent {
            v: crate::registry::COMPONENT_VERSION,
            tenant: tenant.clone(),
            digest: crate::registry::digest(bytes),
            size: bytes.len() as u64,
            contract: "0.1.0".into(),
            imports: Vec::new(),
            uploaded_ms: 1,
        };
        let (one, two, shared) = (b"one".as_slice(), b"two".as_slice(), b"shared".as_slice());
        for (tenant, bytes) in [(&acme, one), (&acme, two), (&acme, shared), (&beta, shared)] {
            registry
                .add_component(&component(tenant, bytes), bytes)
                .await
                .unwrap();
        }
        let file = |bytes: &[u8]| {
            dir.path().join(format!(
                "components/{}.wasm",
                crate::registry::digest(bytes)
            ))
        };
        let digests =
            |list: Vec<StoredComponent>| list.into_iter().map(|c| c.digest).collect::<Vec<_>>();
        let put = |digest: String| {
            let definition = crate::registry::ListenerDefinition {
                component: digest,
                ..serde_json::from_str(r#"{"component": ""}"#).unwrap()
            };
            let registry = &registry;
            let acme = &acme;
            async move {
                let checked = registry
                    .check_definition(acme, "mail", definition)
                    .await
                    .unwrap();
                registry
                    .put_listener(acme, "mail", checked, None, "t".into(), 2)
                    .await
                    .unwrap();
            }
        };
        put(crate::registry::digest(one)).await;
        put(crate::registry::digest(shared)).await;
        // `one` went with version 1 (one version kept); `two` was never used: it stays.
        let kept = digests(registry.components(&acme).await.unwrap());
        assert!(!kept.contains(&crate::registry::digest(one)), "{kept:?}");
        assert!(kept.contains(&crate::registry::digest(two)), "{kept:?}");
        assert!(!file(one).exists() && file(two).exists());
        // Deleting the listener releases `shared`: acme's record goes, beta's file stays.
        registry.delete_listener(&acme, "mail").await.unwrap();
        let kept = digests(registry.components(&acme).await.unwrap());
        assert!(!kept.contains(&crate::registry::digest(shared)), "{kept:?}");
        assert_eq!(
            digests(registry.components(&beta).await.unwrap()),
            [crate::registry::digest(shared)]
        );
        assert!(file(shared).exists(), "beta still has it");
        registry.delete_tenant(&beta).await.unwrap();
        assert!(!file(shared).exists(), "nobody has it now");
        assert!(file(two).exists(), "acme still has it");
    }

    /// A release and a `PUT` of one component, interleaved either way: the component stays
    /// while a version names it, and a version is never written without its component.
    #[tokio::test]
    async fn a_release_racing_a_put_never_leaves_a_version_without_its_component() {
        let dir = tempfile::tempdir().unwrap();
        let (registry, store) = registry_and_store(dir.path());
        let acme = id("acme");
        let change = TenantChange::default();
        registry
            .create_tenant(acme.clone(), change, 1)
            .await
            .unwrap();
        let (a, b) = (b"a".as_slice(), b"b".as_slice());
        for bytes in [a, b] {
            let component = StoredComponent {
                v: crate::registry::COMPONENT_VERSION,
                tenant: acme.clone(),
                digest: crate::registry::digest(bytes),
                size: 1,
                contract: "0.1.0".into(),
                imports: Vec::new(),
                uploaded_ms: 1,
            };
            registry.add_component(&component, bytes).await.unwrap();
        }
        let definition = |bytes: &[u8]| crate::registry::ListenerDefinition {
            component: crate::registry::digest(bytes),
            ..serde_json::from_str(r#"{"component": ""}"#).unwrap()
        };
        let file = dir
            .path()
            .join(format!("components/{}.wasm", crate::registry::digest(a)));

        // The PUT first, then a release that decided before it: the removal keeps `a`.
        let checked = registry.check_definition(&acme, "mail", definition(a));
        let checked = checked.await.unwrap();
        let put = registry.put_listener(&acme, "mail", checked, None, "t".into(), 2);
        put.await.unwrap();
        let digest_a = crate::registry::digest(a);
        assert!(!store.remove_component(&acme, &digest_a).await.unwrap());
        let kept = registry.components(&acme).await.unwrap();
        assert!(kept.iter().any(|c| c.digest == digest_a), "{kept:?}");
        assert!(file.exists());

        // The release first, between a PUT's check and its write: the write is refused.
        let checked = registry.check_definition(&acme, "mail", definition(b));
        let checked = checked.await.unwrap();
        let digest_b = crate::registry::digest(b);
        assert!(store.remove_component(&acme, &digest_b).await.unwrap());
        let put = registry.put_listener(&acme, "mail", checked, None, "t".into(), 3);
        let refused = put.await;
        assert!(
            matches!(&refused, Err(RegistryError::Invalid(Invalid::UnknownComponent(d))) if *d == digest_b),
            "{refused:?}"
        );
        let listener = registry.listener(&acme, "mail").await.unwrap();
        assert_eq!(listener.active, 1, "version 1 stays active");
    }
}
