//! Components a tenant uploaded: content-addressed by the SHA-256 of their bytes.

use super::tenant::TenantId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Version of the component record format.
pub(crate) const COMPONENT_VERSION: u32 = 1;

/// A component the registry keeps for a tenant (its bytes are kept beside).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredComponent {
    /// [`COMPONENT_VERSION`].
    pub v: u32,
    /// Whose it is.
    pub tenant: TenantId,
    /// SHA-256 of its bytes, in hex: its name.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// The contract version it implements (`0.1.0`).
    pub contract: String,
    /// What it imports, by name.
    pub imports: Vec<String>,
    /// When it was uploaded, ms since the epoch.
    pub uploaded_ms: u64,
}

/// The digest of `bytes`: SHA-256, in hex.
pub(crate) fn digest(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
