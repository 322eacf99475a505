//! The staff API: one module per resource, each exposing `router()`.

pub mod invitations;
pub mod members;
pub mod settings;
