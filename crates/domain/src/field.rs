//! Field-level validation errors, reported to API callers as a list of `{field, message}`.

use serde::Serialize;

/// One input field that failed to parse, with a message a person can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The input field's name as the caller sent it (`email`, `name`, ...).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// Trims `raw` and checks it holds `min..=max` characters and no control characters.
pub fn bounded_text(field: &str, raw: &str, min: usize, max: usize) -> Result<String, FieldError> {
    let text = raw.trim();
    let chars = text.chars().count();
    if chars < min {
        return Err(if min == 1 {
            FieldError::new(field, "must not be empty")
        } else {
            FieldError::new(field, format!("must be at least {min} characters"))
        });
    }
    if chars > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    no_control_characters(field, text)?;
    Ok(text.to_owned())
}

/// Refuses any control character (NUL, escape, DEL, C1 codes, line breaks): the rule
/// for every one-line text, search and query parameter. PostgreSQL cannot store a NUL
/// in text at all, so letting one through is a 500, not just an odd value.
pub fn no_control_characters(field: &str, raw: &str) -> Result<(), FieldError> {
    if raw.chars().any(char::is_control) {
        Err(FieldError::new(
            field,
            "must not contain control characters",
        ))
    } else {
        Ok(())
    }
}

/// A name that must be unique among its kind (roles, resources): NFKC-normalised, so
/// compatibility look-alikes (full-width letters, a non-breaking space) become the
/// plain characters, every run of white space one space, then checked as
/// [`bounded_text`]. Uniqueness is then case-insensitive on this form (the database
/// keeps a unique index on it), so "Practice\u{a0}admin" is "Practice admin".
pub fn unique_name(field: &str, raw: &str, min: usize, max: usize) -> Result<String, FieldError> {
    use unicode_normalization::UnicodeNormalization;
    // Refused before collapsing, which would otherwise quietly turn a tab into a space.
    no_control_characters(field, raw)?;
    let normalised: String = raw.nfkc().collect();
    let collapsed = normalised.split_whitespace().collect::<Vec<_>>().join(" ");
    bounded_text(field, &collapsed, min, max)
}

impl FieldError {
    /// A field error for `field` with `message`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Every field error of one input, so a caller can fix them all in one go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("invalid input: {}", .0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    /// Records the error of a parse result, returning its value if it parsed.
    pub fn check<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.0.push(error);
                None
            }
        }
    }

    /// `Ok(())` when no field failed, else all the failures.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl From<FieldError> for FieldErrors {
    fn from(error: FieldError) -> Self {
        Self(vec![error])
    }
}

/// Like [`bounded_text`] for notes: line breaks and tabs are kept (other control
/// characters are still refused); `max` counts characters.
pub fn note_text(field: &str, raw: &str, max: usize) -> Result<String, FieldError> {
    let text = raw.trim();
    if text.chars().count() > max {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(text.replace("\r\n", "\n"))
}

impl FieldErrors {
    /// Keeps the value of `result`, or collects all of its errors.
    pub fn check_all<T>(&mut self, result: Result<T, FieldErrors>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(errors) => {
                self.0.extend(errors.0);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_fold_look_alikes_to_one_spelling() {
        for raw in [
            "Practice\u{a0}admin",
            "  Practice   admin ",
            "Ｐｒａｃｔｉｃｅ admin",
            "Practice\u{2003}admin",
        ] {
            assert_eq!(
                unique_name("name", raw, 1, 100).unwrap(),
                "Practice admin",
                "{raw:?}"
            );
        }
        assert!(unique_name("name", "Night\tnurse", 1, 100).is_err());
        assert!(unique_name("name", "Nul\u{0}", 1, 100).is_err());
        assert!(unique_name("name", "\u{a0}", 1, 100).is_err());
    }

    #[test]
    fn text_refuses_control_characters_and_notes_keep_line_breaks() {
        for raw in ["a\u{0}b", "a\u{7}b", "a\u{1b}b", "a\u{7f}b", "a\u{85}b"] {
            assert!(bounded_text("f", raw, 1, 10).is_err(), "{raw:?}");
            assert!(note_text("f", raw, 10).is_err(), "{raw:?}");
        }
        assert_eq!(note_text("f", "a\r\n\tb", 10).unwrap(), "a\n\tb");
        assert!(bounded_text("f", "a\nb", 1, 10).is_err());
    }
}
