//! Email addresses, parsed as lettre parses them.
//!
//! The email capability checks a guest's addresses against the policy with this parser and
//! the SMTP backend (`backends::mail`) sends to what it admitted, so an address the policy
//! saw is exactly the address that is sent to. This is lettre's second home in the crate,
//! after `backends::mail`: a leaf both sides may use.

use lettre::message::Mailbox;

/// An email address as lettre parsed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Address {
    /// Normalised for headers: `Name <user@host>`, or `user@host` when there is no name.
    pub(crate) display: String,
    /// The bare address, `user@host`: what policies match.
    pub(crate) address: String,
}

/// Parses `name <user@host>` or `user@host`; the error says why it does not parse.
pub(crate) fn parse(text: &str) -> Result<Address, String> {
    let mailbox: Mailbox = text.parse().map_err(|e| format!("`{text}`: {e}"))?;
    Ok(Address {
        display: mailbox.to_string(),
        address: mailbox.email.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_addresses_with_and_without_a_name() {
        let named = parse("Kinto <kinto@example.org>").unwrap();
        assert_eq!(named.display, "Kinto <kinto@example.org>");
        assert_eq!(named.address, "kinto@example.org");
        let bare = parse("ops@example.org").unwrap();
        assert_eq!(bare.display, "ops@example.org");
        let bad = parse("not an address").unwrap_err();
        assert!(bad.contains("`not an address`"), "{bad}");
    }
}
