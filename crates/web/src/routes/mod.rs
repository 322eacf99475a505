//! One module per resource, each exposing `router()`.

pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod health;
pub mod invitations;
pub mod me;
pub mod passwords;
pub mod second_factor;
pub mod staff;
