//! Paddock's HTTP layer: the axum router, its middleware, the one problem+json error
//! mapping, and the OpenAPI document generated from the same route declarations.
//!
//! Layering: handlers parse input into domain types, call one store function inside
//! a `TenantTx`, and map the result; errors from every crate become [`AppError`] and
//! are rendered once, in [`error`].

pub mod error;
pub mod middleware;
pub mod routes;
pub mod server;

pub use error::AppError;
pub use server::{HttpConfig, build_router, serve};

use paddock_store::Db;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The application-role database handle.
    pub db: Db,
}
