//! The clinical pages: the client list and detail, the patient list and chart (with
//! its weight chart), and the encounter forms. Every page runs in the request's one
//! transaction (`form::submit` for the forms, whose refusals are shown in that same
//! transaction).

mod clients;
mod encounters;
mod list;
mod patients;

use crate::AppState;
use axum::Router;
use axum::routing::{get, post};

/// The clinical page routes.
pub fn pages() -> Router<AppState> {
    Router::new()
        .route(
            "/clients",
            get(clients::list_page).post(clients::create_submit),
        )
        .route("/clients/new", get(clients::new_page))
        .route(
            "/clients/{id}",
            get(clients::detail_page).post(clients::update_submit),
        )
        .route("/clients/{id}/edit", get(clients::edit_page))
        .route(
            "/patients",
            get(patients::list_page).post(patients::create_submit),
        )
        .route("/patients/new", get(patients::new_page))
        .route("/patients/{id}", get(patients::chart_page))
        .route("/patients/{id}/encounters/new", get(encounters::new_page))
        .route("/patients/{id}/encounters", post(encounters::create_submit))
        .route(
            "/encounters/{id}",
            get(encounters::view_page).post(encounters::edit_submit),
        )
        .route(
            "/encounters/{id}/finalise",
            post(encounters::finalise_submit),
        )
        .route(
            "/encounters/{id}/addenda",
            post(encounters::addendum_submit),
        )
}
