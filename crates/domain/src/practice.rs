//! Practice-level values.

use crate::field::{FieldError, bounded_text};
use std::fmt;

/// A practice's display name: trimmed, 2 to 200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PracticeName(String);

impl PracticeName {
    /// Parses a name typed by a person.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        bounded_text(field, raw, 2, 200).map(Self)
    }

    /// The name as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PracticeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(
            PracticeName::parse("name", "  Riverside Animal Hospital ")
                .unwrap()
                .as_str(),
            "Riverside Animal Hospital"
        );
        assert!(PracticeName::parse("name", " x ").is_err());
        assert!(PracticeName::parse("name", &"a".repeat(201)).is_err());
        assert!(PracticeName::parse("name", "Bad\u{0}Name").is_err());
    }
}
