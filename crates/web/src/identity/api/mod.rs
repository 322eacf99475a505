//! The identity API: one module per resource, each exposing `router()`.

pub mod api_keys;
pub mod me;
pub mod passwords;
pub mod second_factor;
pub mod sessions;
