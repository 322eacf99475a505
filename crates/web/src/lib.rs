//! Paddock's HTTP layer: the axum router, its middleware, the one problem+json error
//! mapping, and the OpenAPI document generated from the same route declarations.
//!
//! Layering: handlers parse input into domain types, call one store function inside
//! a `TenantTx`, and map the result; errors from every crate become [`AppError`] and
//! are rendered once, in [`error`].

pub mod auth;
pub mod error;
pub mod middleware;
pub mod pages;
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
    /// Outgoing mail (invitations, password resets).
    pub mail: Arc<MailSettings>,
}

/// How Paddock sends mail and builds links in it.
#[derive(Clone, Debug)]
pub struct MailSettings {
    /// The transport (development outbox or SMTP).
    pub mailer: paddock_notify::Mailer,
    /// The From address.
    pub from: String,
    /// The public base URL of this deployment, for links (no trailing slash).
    pub public_url: String,
}

impl AppState {
    /// The state for a database, the authentication services and mail.
    pub fn new(db: Db, auth: auth::AuthServices, mail: MailSettings) -> Self {
        Self {
            db,
            auth: Arc::new(auth),
            mail: Arc::new(mail),
        }
    }
}
