//! Passwords: what Paddock accepts as a new password, how it stores and checks them.
//!
//! A new password must pass [`check_new_password`] (length, the breached list shipped
//! with the binary, zxcvbn strength with the account's own details as context) and is
//! then a [`NewPassword`]. [`PasswordHasher`] hashes and verifies with argon2id on the
//! blocking pool, a bounded number at a time, so a login flood cannot starve the async
//! workers. [`PwnedRangeClient`] is the optional Have I Been Pwned range check: it sends
//! only the first five hex characters of the password's SHA-1.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod breached;
mod error;
pub mod hasher;
pub mod policy;
pub mod pwned;

pub use breached::is_breached;
pub use error::PasswordError;
pub use hasher::{HashParams, PasswordHasher};
pub use policy::{MAX_LENGTH, MIN_LENGTH, MIN_ZXCVBN_SCORE, NewPassword, check_new_password};
pub use pwned::PwnedRangeClient;
