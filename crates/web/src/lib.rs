//! Paddock's HTTP layer: the axum router, its middleware, the one problem+json error
//! mapping, and the OpenAPI document generated from the same route declarations.
//!
//! One folder an area (`identity`, `staff`, `clinical`, `appointments`, `audit`, and
//! `dashboard` for the home page), each holding its API routes, its pages, their
//! templates' view structs and the work both share (`service.rs`); below them the request context (`context`), the one parsing
//! vocabulary (`input`), display formatting (`format`) and the staff layout (`layout`).
//!
//! Layering: handlers parse input into domain types, call one store function inside
//! a `TenantTx`, and map the result; errors from every crate become [`AppError`] and
//! are rendered once, in [`error`]. Pages and routes depend downward only: neither
//! imports the other.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod api_docs;
pub mod appointments;
pub mod audit;
pub mod auth;
pub mod clinical;
pub mod context;
pub mod dashboard;
pub mod error;
mod form;
mod format;
pub mod forwarded;
pub mod health;
pub mod identity;
pub mod input;
mod layout;
pub mod metrics;
pub mod middleware;
pub mod rate_limit;
mod responses;
mod return_to;
pub mod server;
pub mod staff;
pub mod tls;

pub use error::AppError;
pub use forwarded::TrustedProxies;
pub use server::{ConnectionLimits, HttpConfig, build_router, serve, serve_with};

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
    /// Work done after the answer has gone (password-reset lookups and mail).
    pub background: Background,
    /// What the server counts, reported on the metrics listener.
    pub metrics: metrics::Metrics,
}

/// Tracks work spawned to run after a request is answered, so that shutdown and tests
/// can wait for it to settle instead of guessing how long it takes.
#[derive(Clone, Debug)]
pub struct Background {
    pending: Arc<tokio::sync::watch::Sender<usize>>,
}

impl Default for Background {
    fn default() -> Self {
        Self {
            pending: Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }
}

/// Counts one piece of background work as finished when dropped (panics included).
struct Finished(Arc<tokio::sync::watch::Sender<usize>>);

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Background {
    /// Runs `work` on its own task.
    pub fn spawn(&self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        self.pending.send_modify(|n| *n += 1);
        let finished = Finished(self.pending.clone());
        tokio::spawn(async move {
            let _finished = finished;
            work.await;
        });
    }

    /// How many pieces of work are still running.
    pub fn pending(&self) -> usize {
        *self.pending.borrow()
    }

    /// Waits until no background work is left.
    pub async fn settled(&self) {
        let mut watching = self.pending.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = watching.wait_for(|n| *n == 0).await;
    }
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
            background: Background::default(),
            metrics: metrics::Metrics::new(),
        }
    }
}
