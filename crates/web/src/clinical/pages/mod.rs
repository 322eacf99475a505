//! The clinical pages: the client list and detail, the patient list and chart (with
//! its weight chart), and the encounter forms. Every page runs in the request's one
//! transaction ([`submit`] for the forms, whose refusals are shown in that same
//! transaction).

mod clients;
mod encounters;
mod list;
mod patients;

use crate::context::Ctx;
use crate::form::{FieldMessages, Refusal};
use crate::{AppError, AppState};
use axum::Router;
use axum::extract::{FromRequestParts, Path};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use paddock_domain::PracticeZone;
use paddock_store::{StoreError, TenantTx, clinical};

/// A typed id from a page's address (`Path<PatientId>` and the like). Anything that
/// is not an id is as unknown as a missing row: the same 404 page an id of another
/// practice gets, rather than the 400 an API caller reads.
pub(super) struct PageId<T>(pub(super) T);

impl<T, S> FromRequestParts<S> for PageId<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(PageId(id)),
            Err(_) => Err(AppError::NotFound),
        }
    }
}

/// An instant as the practice's wall clock shows it, with the zone's abbreviation in
/// force then (`2026-07-15 09:00 BST`).
pub(super) fn local_time(zone: &PracticeZone, at: DateTime<Utc>) -> String {
    format!("{} {}", zone.format_date_time(at), zone.abbreviation(at))
}

/// Ends a request that needs no store call (an empty form, a form refused before any
/// work): commits what authentication wrote, so the page counts as the session's
/// activity like any other.
pub(super) async fn no_work(ctx: Ctx) -> Result<(), AppError> {
    ctx.run(async |_| Ok(())).await
}

/// What a form post came to.
pub(super) enum Outcome<T, R> {
    /// The work was done and committed.
    Done(T),
    /// The store refused it with something the form can show; `R` is the page read
    /// again after the refusal.
    Refused(R),
}

/// Runs a form's `work` in the request's one transaction. When the store refuses it
/// with something the person can fix (invalid, taken, locked, or a missing row that
/// `not_found` names as a field), the work is undone (a savepoint) and `again` reads
/// the page that shows the refusal, with its status and messages, in the same
/// transaction; anything else is the error page, the work undone as well.
pub(super) async fn submit<T, R>(
    ctx: Ctx,
    not_found: &[(&str, &str)],
    work: impl AsyncFnOnce(&mut TenantTx) -> Result<T, StoreError>,
    again: impl AsyncFnOnce(&mut TenantTx, StatusCode, FieldMessages) -> Result<R, StoreError>,
) -> Result<Outcome<T, R>, AppError> {
    ctx.run(async |tx| {
        Ok(match clinical::attempt(tx, work).await? {
            Ok(done) => Ok(Outcome::Done(done)),
            Err(error) => match Refusal::of(error, not_found) {
                Refusal::Form(status, messages) => {
                    Ok(Outcome::Refused(again(tx, status, messages).await?))
                }
                // Only authentication's bookkeeping commits with it.
                Refusal::Error(error) => Err(error),
            },
        })
    })
    .await?
}

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
