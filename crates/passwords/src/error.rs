//! The one error type of this crate. Policy failures are not errors here: they are
//! `paddock_domain::FieldError`s, shown to the person who typed the password.

/// What can go wrong while hashing, verifying, or asking the Pwned Passwords service.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The argon2 parameters are out of the algorithm's range.
    #[error("invalid argon2 parameters: {0}")]
    Params(argon2::Error),
    /// Hashing failed (it does not for valid parameters; kept rather than panicking).
    #[error("password hashing failed: {0}")]
    Hash(argon2::password_hash::Error),
    /// The hashing task panicked or was cancelled by a runtime shutdown.
    #[error("password hashing task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
    /// The hashing pool's semaphore was closed (never done by this crate).
    #[error("password hashing pool is closed")]
    PoolClosed,
    /// The configured Pwned Passwords base URL is not an http(s) URL, or TLS could not be set up.
    #[error("invalid Pwned Passwords client configuration: {0}")]
    PwnedConfig(String),
    /// The Pwned Passwords request failed: connection, TLS, or the 3 s timeout.
    #[error("Pwned Passwords request failed: {0}")]
    PwnedRequest(#[from] reqwest::Error),
    /// The Pwned Passwords service answered with a non-success status.
    #[error("Pwned Passwords answered HTTP {0}")]
    PwnedStatus(u16),
    /// The Pwned Passwords answer is not a list of `SUFFIX:COUNT` lines (or is too large).
    #[error("Pwned Passwords answer is malformed: {0}")]
    PwnedResponse(&'static str),
}
