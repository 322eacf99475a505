//! How to reach a client: telephone numbers.

use crate::field::FieldError;
use std::fmt;

/// A telephone number as typed, cleaned to digits with an optional leading `+`
/// (spaces, hyphens, dots and brackets dropped); 6 to 20 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    /// Parses a number such as `+44 (0)1632 960 123` or `01632-960123`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let raw = raw.trim();
        let (plus, rest) = match raw.strip_prefix('+') {
            Some(rest) => ("+", rest),
            None => ("", raw),
        };
        let mut digits = String::with_capacity(rest.len());
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => {
                    return Err(FieldError::new(
                        field,
                        "may contain only digits, spaces, hyphens, dots, brackets and a leading +",
                    ));
                }
            }
        }
        if !(6..=20).contains(&digits.len()) {
            return Err(FieldError::new(field, "must have 6 to 20 digits"));
        }
        Ok(Self(format!("{plus}{digits}")))
    }

    /// The cleaned number.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn punctuation_is_dropped_and_the_plus_kept() {
        assert_eq!(
            Phone::parse("mobile", "+44 (0)7700-900.123")
                .unwrap()
                .as_str(),
            "+4407700900123"
        );
        assert_eq!(
            Phone::parse("mobile", " 01632 960123 ").unwrap().as_str(),
            "01632960123"
        );
    }

    #[test]
    fn letters_and_wrong_lengths_are_refused() {
        assert!(Phone::parse("phone", "call me").is_err());
        assert!(Phone::parse("phone", "12345").is_err());
        assert!(Phone::parse("phone", "123456789012345678901").is_err());
        assert!(Phone::parse("phone", "++441632960123").is_err());
        assert_eq!(
            Phone::parse("phone", "0800 FLOWERS").unwrap_err().field,
            "phone"
        );
    }
}
