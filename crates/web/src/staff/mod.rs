//! Staff: the practice's members and their roles, invitations (create, list, revoke,
//! accept) and the practice's settings; the API routes in `api/`, the staff and
//! invitation pages in `pages.rs` with their templates in `views.rs`, and the work both
//! share in `service.rs`.

mod api;
mod pages;
pub(crate) mod service;
mod views;

use crate::AppState;
use utoipa_axum::router::OpenApiRouter;

/// The staff API routes.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(api::members::router())
        .merge(api::invitations::router())
        .merge(api::settings::router())
}

pub use pages::pages;
