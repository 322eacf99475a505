//! Practice-level values.

use crate::field::FieldError;
use std::fmt;

/// A practice's display name: trimmed, 2 to 200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PracticeName(String);

impl PracticeName {
    /// Parses a name typed by a person.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let name = raw.trim();
        let chars = name.chars().count();
        if chars < 2 {
            return Err(FieldError::new(field, "must be at least 2 characters"));
        }
        if chars > 200 {
            return Err(FieldError::new(field, "must be at most 200 characters"));
        }
        if name.chars().any(char::is_control) {
            return Err(FieldError::new(
                field,
                "must not contain control characters",
            ));
        }
        Ok(Self(name.to_owned()))
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
