//! Identity: who someone is and how they prove it. Sign-in and sign-out, practice
//! switching, re-authentication, sessions and access tokens, API keys, `me`, password
//! change, reset and unlock, and the second factor; the API routes in `api/`, the
//! pages in `pages.rs` with their templates in `views.rs`, and the work both share in
//! `service.rs`.

mod api;
mod pages;
pub(crate) mod service;
mod views;

use crate::AppState;
use utoipa_axum::router::OpenApiRouter;

/// The identity API routes.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(api::sessions::router())
        .merge(api::me::router())
        .merge(api::passwords::router())
        .merge(api::second_factor::router())
        .merge(api::api_keys::router())
}

pub use pages::pages;
