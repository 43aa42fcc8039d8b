//! The audit log: who changed what of a tenant, and when. Entries outlive what they name
//! (a deleted tenant's history stays).

use super::tenant::TenantId;
use serde::{Deserialize, Serialize};

/// Version of the audit entry format.
pub(crate) const AUDIT_VERSION: u32 = 1;
/// Entries one query answers at most.
pub(crate) const MAX_AUDIT_PAGE: usize = 1_000;

/// One change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// [`AUDIT_VERSION`].
    pub v: u32,
    /// Its place in the log (given by the store; 0 before): newer entries have larger ones.
    pub seq: u64,
    /// When, ms since the epoch.
    pub at_ms: u64,
    /// Whose resources changed.
    pub tenant: TenantId,
    /// Who changed them: `operator`, or `token <prefix>`.
    pub who: String,
    /// What was done: `tenant.create`, `token.revoke`, `listener.put`, ...
    pub action: String,
    /// What it was done to: the tenant, a token's prefix, a component's digest, a
    /// listener's name.
    pub target: String,
    /// What changed, without secrets (a version number, a digest, the fields changed).
    pub detail: serde_json::Value,
}

impl AuditEntry {
    /// An entry to append.
    pub fn new(
        tenant: TenantId,
        who: String,
        action: &str,
        target: String,
        detail: serde_json::Value,
        at_ms: u64,
    ) -> AuditEntry {
        AuditEntry {
            v: AUDIT_VERSION,
            seq: 0,
            at_ms,
            tenant,
            who,
            action: action.to_owned(),
            target,
            detail,
        }
    }
}
