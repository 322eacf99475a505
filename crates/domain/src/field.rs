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
    if text.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(text.to_owned())
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
