//! Values describing a person who signs in.

use crate::field::{FieldError, bounded_text};
use std::fmt;

/// An email address, lower-cased so that uniqueness is case-insensitive.
///
/// Deliberately modest: one `@`, a non-empty local part, a dotted domain, no spaces
/// or control characters, at most 254 characters (RFC 5321's path limit).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Parses an address typed by a person.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let email = raw.trim().to_lowercase();
        let invalid = || FieldError::new(field, "must be an email address like name@example.org");
        if email.is_empty() || email.len() > 254 {
            return Err(invalid());
        }
        if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.contains('@')
            && domain.split('.').all(|label| !label.is_empty());
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(email))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name shown for a staff member: trimmed, 1 to 200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    /// Parses a display name typed by a person.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        bounded_text(field, raw, 1, 200).map(Self)
    }

    /// The name as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_to_lower_case() {
        let email = Email::parse("email", "  Dr.Who@Riverside.Example ").unwrap();
        assert_eq!(email.as_str(), "dr.who@riverside.example");
    }

    #[test]
    fn malformed_emails_are_refused_with_the_field_name() {
        for bad in [
            "",
            "plain",
            "@x.org",
            "a@",
            "a@b",
            "a@@b.org",
            "a b@c.org",
            "a@b..org",
        ] {
            let err = Email::parse("admin_email", bad).unwrap_err();
            assert_eq!(err.field, "admin_email", "{bad}");
        }
    }

    #[test]
    fn display_names_are_trimmed_and_non_empty() {
        assert_eq!(DisplayName::parse("n", " Ann ").unwrap().as_str(), "Ann");
        assert!(DisplayName::parse("n", "   ").is_err());
    }
}
