//! API tokens of tenants: 256 random bits, shown once, kept as their SHA-256.
//!
//! A token reads `wlt_` then 64 hex digits. Its first 12 digits are its *prefix*: not
//! secret, the key the registry finds the token by and the name lists show. The registry
//! keeps the SHA-256 of the whole token, never the token: a fast hash is right for 256
//! random bits (nothing to brute-force), where a slow password hash would only cost every
//! request. The comparison runs in constant time.

use super::tenant::TenantId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What every token starts with: says what it is in a log or a secret scanner.
pub(crate) const TOKEN_MARK: &str = "wlt_";
/// Random bytes per token.
const TOKEN_BYTES: usize = 32;
/// Hex digits of the prefix.
const PREFIX_LEN: usize = 12;
/// Version of the token record format.
pub(crate) const TOKEN_VERSION: u32 = 1;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TokenScope {
    /// Read the tenant's listeners, versions and history.
    ReadOnly,
    /// Also upload, change, roll back, pause, replay and delete.
    Deploy,
}

/// A token as the registry keeps it: everything but the token itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// [`TOKEN_VERSION`].
    pub v: u32,
    /// The token's first 12 hex digits: its name in lists, the key it is found by.
    pub prefix: String,
    /// Whose it is.
    pub tenant: TenantId,
    /// What it may do.
    pub scope: TokenScope,
    /// What it is for, in words.
    pub label: String,
    /// When it was issued, ms since the epoch.
    pub created_ms: u64,
    /// When it stops working, if ever.
    pub expires_ms: Option<u64>,
    /// When it was revoked, if it was.
    pub revoked_ms: Option<u64>,
    /// SHA-256 of the whole token, in hex.
    pub sha256: String,
}

impl ApiToken {
    /// Whether it works at `now_ms`: neither revoked nor expired.
    pub fn is_live(&self, now_ms: u64) -> bool {
        self.revoked_ms.is_none() && self.expires_ms.is_none_or(|e| now_ms < e)
    }
}

/// A freshly issued token: the secret, shown once, and its record.
#[derive(Debug)]
pub struct Issued {
    /// The token, to hand to its owner. Not kept anywhere.
    pub token: String,
    /// What the registry keeps.
    pub record: ApiToken,
}

/// Makes a token for `tenant`.
pub(crate) fn issue(
    tenant: TenantId,
    scope: TokenScope,
    label: String,
    created_ms: u64,
    expires_ms: Option<u64>,
) -> Result<Issued, getrandom::Error> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::getrandom(&mut bytes)?;
    let token = format!("{TOKEN_MARK}{}", hex(&bytes));
    let record = ApiToken {
        v: TOKEN_VERSION,
        prefix: token[TOKEN_MARK.len()..TOKEN_MARK.len() + PREFIX_LEN].to_owned(),
        tenant,
        scope,
        label,
        created_ms,
        expires_ms,
        revoked_ms: None,
        sha256: digest(&token),
    };
    Ok(Issued { token, record })
}

/// The prefix of something shaped like a token (`wlt_` and 64 hex digits), else `None`.
pub(crate) fn prefix_of(given: &str) -> Option<&str> {
    let digits = given.strip_prefix(TOKEN_MARK)?;
    let shaped = digits.len() == 2 * TOKEN_BYTES && digits.bytes().all(|b| b.is_ascii_hexdigit());
    shaped.then(|| &digits[..PREFIX_LEN])
}

/// Whether `given` is the token `record` keeps the hash of (constant time).
pub(crate) fn matches(record: &ApiToken, given: &str) -> bool {
    same_bytes(digest(given).as_bytes(), record.sha256.as_bytes())
}

/// Compares without stopping at the first difference, so timing does not tell how much of
/// a guess was right.
pub(crate) fn same_bytes(given: &[u8], expected: &[u8]) -> bool {
    let differences = given
        .iter()
        .zip(expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    given.len() == expected.len() && differences == 0
}

fn digest(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acme() -> TenantId {
        "acme".parse().unwrap()
    }

    #[test]
    fn a_token_is_256_random_bits_found_by_its_prefix_and_kept_as_a_hash() {
        let a = issue(acme(), TokenScope::Deploy, "ci".into(), 1, None).unwrap();
        let b = issue(acme(), TokenScope::Deploy, "ci".into(), 1, None).unwrap();
        assert_ne!(a.token, b.token);
        assert_eq!(a.token.len(), TOKEN_MARK.len() + 64);
        assert_eq!(prefix_of(&a.token), Some(a.record.prefix.as_str()));
        assert!(
            !a.record.sha256.contains(&a.token[4..]),
            "the record holds no secret"
        );
        assert!(matches(&a.record, &a.token));
        assert!(!matches(&a.record, &b.token));
        let mut altered = a.token.clone();
        altered.pop();
        altered.push(if a.token.ends_with('0') { '1' } else { '0' });
        assert!(!matches(&a.record, &altered));
        assert_eq!(prefix_of("wlt_short"), None);
        assert_eq!(prefix_of(&a.token.replace("wlt_", "xyz_")), None);
    }

    #[test]
    fn revoked_or_expired_tokens_are_not_live() {
        let mut t = issue(acme(), TokenScope::ReadOnly, String::new(), 1, Some(100))
            .unwrap()
            .record;
        assert!(t.is_live(99));
        assert!(!t.is_live(100));
        t.expires_ms = None;
        assert!(t.is_live(u64::MAX));
        t.revoked_ms = Some(5);
        assert!(!t.is_live(6));
    }
}
