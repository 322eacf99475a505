//! E.164 phone numbers.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::NotifyError;

/// A phone number in E.164 form: `+`, a non-zero first digit, 8–15 digits in all.
///
/// Parsing tolerates the common separators (spaces, `-`, `.`, `(`, `)`) and
/// stores the compact form, e.g. `"+44 7700 900123"` → `+447700900123`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses and normalises a phone number.
    pub fn parse(input: &str) -> Result<Self, NotifyError> {
        let compact: String = input
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')'))
            .collect();
        let digits = compact
            .strip_prefix('+')
            .ok_or(NotifyError::InvalidPhoneNumber)?;
        let valid = (8..=15).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        if valid {
            Ok(PhoneNumber(compact))
        } else {
            Err(NotifyError::InvalidPhoneNumber)
        }
    }

    /// The compact E.164 form, e.g. `+447700900123`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PhoneNumber {
    type Err = NotifyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PhoneNumber::parse(s)
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = NotifyError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        PhoneNumber::parse(&s)
    }
}

impl From<PhoneNumber> for String {
    fn from(p: PhoneNumber) -> String {
        p.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_e164_and_normalises() {
        assert_eq!(
            PhoneNumber::parse("+447700900123").unwrap().as_str(),
            "+447700900123"
        );
        assert_eq!(
            PhoneNumber::parse(" +44 (7700) 900-123 ").unwrap().as_str(),
            "+447700900123"
        );
        assert!(PhoneNumber::parse("+12345678").is_ok()); // 8 digits
        assert!(PhoneNumber::parse("+123456789012345").is_ok()); // 15 digits
    }

    #[test]
    fn refuses_non_e164() {
        for bad in [
            "",
            "+",
            "447700900123",      // no plus
            "+1234567",          // 7 digits
            "+1234567890123456", // 16 digits
            "+0447700900123",    // country code cannot start with 0
            "+44770090012a",
            "++447700900123",
            "+44 7700 900123 ext 2",
            "+٤٤٧٧٠٠٩٠٠١٢٣", // non-ASCII digits
        ] {
            assert!(
                matches!(
                    PhoneNumber::parse(bad),
                    Err(NotifyError::InvalidPhoneNumber)
                ),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn serde_validates() {
        let p: PhoneNumber = serde_json::from_str("\"+447700900123\"").unwrap();
        assert_eq!(serde_json::to_string(&p).unwrap(), "\"+447700900123\"");
        assert!(serde_json::from_str::<PhoneNumber>("\"12\"").is_err());
    }
}
