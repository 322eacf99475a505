//! What a search box query means, and the SQL that finds it through indexes the
//! application role can actually use.
//!
//! Under row-level security PostgreSQL evaluates a non-leakproof operator (LIKE,
//! `lower()`, the trigram operators) only after the policy, so it can never drive an
//! index scan. The clinical tables therefore keep lower-case search keys as generated
//! columns (collation "C") and searches compare them by prefix range and equality,
//! which are leakproof: a query matches a patient whose name starts with it, an owner
//! whose family name, "given family" name or email starts with it, an owner phone
//! number with the same last 9 digits, or a microchip exactly.

use paddock_domain::Microchip;

/// A parsed search query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchQuery {
    /// A 15-digit ISO microchip number: exact match.
    Microchip(Microchip),
    /// A telephone number (at least 9 digits): its last 9 digits.
    PhoneTail(String),
    /// Anything else: a prefix of names and emails (lower-cased by the database, with
    /// inner whitespace collapsed to one space).
    Prefix(String),
}

impl SearchQuery {
    /// Reads an optional search box as every list must: control characters (a NUL,
    /// which PostgreSQL cannot even hold in text) are refused as an error on `q`.
    pub fn read(raw: Option<&str>) -> Result<Option<Self>, paddock_domain::FieldError> {
        match raw {
            Some(raw) => {
                paddock_domain::field::no_control_characters("q", raw)?;
                Ok(Self::parse(raw))
            }
            None => Ok(None),
        }
    }

    /// Reads a search box; `None` for a blank one.
    pub fn parse(raw: &str) -> Option<Self> {
        let text = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        if text.is_empty() {
            return None;
        }
        if let Ok(chip) = Microchip::parse("q", &text) {
            return Some(Self::Microchip(chip));
        }
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        let phone_like = text
            .chars()
            .all(|c| c.is_ascii_digit() || " +-.()".contains(c));
        if phone_like && digits.len() >= 9 {
            let tail = digits.get(digits.len() - 9..).unwrap_or(&digits).to_owned();
            return Some(Self::PhoneTail(tail));
        }
        Some(Self::Prefix(text))
    }

    /// The microchip, when the query is one (bind as the chip parameter).
    pub fn chip(&self) -> Option<&str> {
        match self {
            Self::Microchip(chip) => Some(chip.as_str()),
            _ => None,
        }
    }

    /// The phone tail, when the query is one.
    pub fn phone_tail(&self) -> Option<&str> {
        match self {
            Self::PhoneTail(tail) => Some(tail),
            _ => None,
        }
    }

    /// The prefix, when the query is one.
    pub fn prefix(&self) -> Option<&str> {
        match self {
            Self::Prefix(text) => Some(text),
            _ => None,
        }
    }
}

/// `key` starts with the lower-cased parameter `param`: a byte-wise range on a
/// collation "C" key, so a btree index on it serves the search. (The upper bound
/// appends the highest code point; only keys continuing with that non-character
/// would be missed.)
pub fn starts_with(key: &str, param: &str) -> String {
    format!("({key} >= lower({param}) and {key} < (lower({param}) || chr(1114111)))")
}

/// The same for the email column, whose index uses `text_pattern_ops`.
pub fn email_starts_with(param: &str) -> String {
    // `~<~` binds like `||`, left to right: the bound needs its parentheses.
    format!("(email ~>=~ lower({param}) and email ~<~ (lower({param}) || chr(1114111)))")
}

/// Clients matching a text prefix (`$param`) by family name, full name or email.
pub fn client_prefix_match(param: &str) -> String {
    format!(
        "({} or {} or {})",
        starts_with("family_key", param),
        starts_with("full_key", param),
        email_starts_with(param)
    )
}

/// Clients whose mobile or other phone ends in the 9 digits `$param`.
pub fn client_phone_match(param: &str) -> String {
    format!("(mobile_tail = {param} or phone_tail = {param})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chips_phones_and_names_are_told_apart() {
        assert_eq!(
            SearchQuery::parse("826 0980 0012 3456").unwrap().chip(),
            Some("826098000123456")
        );
        assert_eq!(
            SearchQuery::parse("+44 (0)7700 900-123")
                .unwrap()
                .phone_tail(),
            Some("700900123")
        );
        assert_eq!(
            SearchQuery::parse("07700900123").unwrap().phone_tail(),
            Some("700900123")
        );
        assert_eq!(
            SearchQuery::parse("  Jo   Smith ").unwrap().prefix(),
            Some("Jo Smith")
        );
        // Too short for a phone number: searched as text (finds nothing by name).
        assert_eq!(SearchQuery::parse("0123").unwrap().prefix(), Some("0123"));
        assert_eq!(SearchQuery::parse("   "), None);
    }

    #[test]
    fn prefix_conditions_are_ranges_on_the_keys() {
        assert_eq!(
            starts_with("name_key", "$2"),
            "(name_key >= lower($2) and name_key < (lower($2) || chr(1114111)))"
        );
        assert!(client_prefix_match("$1").contains("email ~>=~ lower($1)"));
    }
}
