//! The clinical API: one module per resource, each exposing `router()`.

pub mod clients;
pub mod patients;
pub mod records;
