//! Clinical: clients (owners), patients and their charts (with the weight chart), and
//! the medical record (encounters that lock, addenda, vitals, problems, allergies,
//! prescriptions, vaccinations); the API routes in `api/`, the pages in `pages/` with
//! their templates in `views.rs`. The store's side is `paddock_store::clinical`.

mod api;
mod pages;
mod views;
mod weight_chart;

use crate::AppState;
use utoipa_axum::router::OpenApiRouter;

/// The clinical API routes.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(api::clients::router())
        .merge(api::patients::router())
        .merge(api::records::router())
}

pub use pages::pages;
