//! Who is asking: sign-in and its lockout, sessions, passwords and their reset, second
//! factors, API keys, the random secrets and hashes behind all of them, and the one
//! statement that turns a presented credential into an authenticated
//! [`Principal`](principal::Principal)
//! inside the request's transaction. Everything that runs before a practice is in
//! scope goes through the crate-private [`auth_tx`] transaction.

pub mod api_keys;
pub(crate) mod auth_tx;
pub mod credentials;
pub mod passwords;
pub mod principal;
pub mod second_factor;
pub mod sessions;
pub mod signin;
pub mod token;
