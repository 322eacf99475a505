//! One module per resource, each exposing `router()`.

pub mod auth;
pub mod health;
pub mod me;
