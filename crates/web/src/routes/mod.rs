//! One module per resource, each exposing `router()`.

pub mod api_keys;
pub mod appointments;
pub mod audit;
pub mod auth;
pub mod clients;
pub mod health;
pub mod input;
pub mod invitations;
pub mod me;
pub mod passwords;
pub mod patients;
pub mod records;
pub mod second_factor;
pub mod settings;
pub mod staff;
