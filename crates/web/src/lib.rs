//! Paddock's HTTP layer: the axum router, its middleware, the one problem+json error
//! mapping, and the OpenAPI document generated from the same route declarations.
//!
//! Layering: handlers parse input into domain types, call one store function inside
//! a `TenantTx`, and map the result; errors from every crate become [`AppError`] and
//! are rendered once, in [`error`].

pub mod auth;
pub mod error;
pub mod middleware;
pub mod routes;
pub mod server;

pub use error::AppError;
pub use server::{HttpConfig, build_router, serve};

use paddock_store::Db;
use std::sync::Arc;

/// What every handler can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The application-role database handle.
    pub db: Db,
    /// Password hashing, the clock and the token keys.
    pub auth: Arc<auth::AuthServices>,
}

impl AppState {
    /// The state for a database and the authentication services.
    pub fn new(db: Db, auth: auth::AuthServices) -> Self {
        Self {
            db,
            auth: Arc::new(auth),
        }
    }
}
