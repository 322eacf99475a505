//! The crate's error type.

use std::path::PathBuf;

// NOTE: no variant may ever hold (or format) a message body, subject text or
// anything derived from one: bodies carry one-time codes and reset links, and
// errors end up in logs. Addresses and phone numbers are kept out too (PII);
// say *which* field was wrong, not what it contained.

/// Why a notification could not be built, sent or read back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotifyError {
    /// An email address (sender or recipient) did not parse.
    #[error("invalid email address in {field}")]
    InvalidAddress {
        /// Which address was wrong: `"from"` or `"to"`.
        field: &'static str,
    },
    /// A phone number was not E.164 (`+` then 8–15 digits).
    #[error("invalid phone number (expected E.164, e.g. +447700900123)")]
    InvalidPhoneNumber,
    /// The subject contained control characters (e.g. CR/LF).
    #[error("invalid subject: control characters are not allowed")]
    InvalidSubject,
    /// The SMTP configuration was unusable.
    #[error("invalid SMTP configuration: {0}")]
    InvalidSmtpConfig(&'static str),
    /// lettre refused to build the message (the reason never includes the body).
    #[error("could not build the email: {0}")]
    Build(#[from] lettre::error::Error),
    /// The SMTP conversation failed.
    #[error("SMTP delivery failed: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    /// The SMTP conversation did not finish within the timeout.
    #[error("SMTP delivery timed out")]
    Timeout,
    /// Reading or writing an outbox failed.
    #[error("outbox I/O error at {path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A stored SMS file was not the expected JSON. (serde_json's own message is
    /// deliberately dropped: it can quote the offending value, i.e. the text.)
    #[error("malformed stored SMS at {path}")]
    MalformedSms {
        /// The file involved.
        path: PathBuf,
    },
}

impl NotifyError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        NotifyError::Io {
            path: path.into(),
            source,
        }
    }
}
