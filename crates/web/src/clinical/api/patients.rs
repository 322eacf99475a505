//! Patients: search, register (with owners), read, update, owners, soft delete,
//! restore, and the chart (the whole medical record, audited as a read).

use crate::context::Ctx;
use crate::input::Json;
use crate::input::Path;
use crate::input::{Params, date, optional, optional_with, required, required_with, uuid};
use crate::{AppError, AppState};
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::StatusCode;
use chrono::NaiveDate;
use paddock_domain::{
    ClientId, DateOfBirth, FieldError, FieldErrors, Microchip, PatientId, PatientSex, PatientStatus,
};
use paddock_store::clinical::chart::{self, Chart};
use paddock_store::clinical::patients::{self, Owner, Patient, PatientDetails, Standing};
use paddock_store::page::Page;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The patient routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search, create))
        .routes(routes!(deleted))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(restore))
        .routes(routes!(owners, set_owners))
        .routes(routes!(get_chart))
}

/// One owner in a request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnerBody {
    /// The client's id.
    pub client_id: Option<String>,
    /// Whether this is the primary owner (exactly one is).
    #[serde(default)]
    pub primary: bool,
}

/// Parses owners; their field names are `owners[i].client_id`.
fn parse_owners(errors: &mut FieldErrors, owners: &[OwnerBody]) -> Vec<(ClientId, bool)> {
    owners
        .iter()
        .enumerate()
        .filter_map(|(i, o)| {
            required_with(
                errors,
                &format!("owners[{i}].client_id"),
                &o.client_id,
                uuid,
            )
            .map(|id| (ClientId::from_uuid(id), o.primary))
        })
        .collect()
}

/// A patient's details. On create, `owners` is required (exactly one primary); on
/// update it must be absent (owners change through `PUT .../owners`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientBody {
    /// Name, 1-100 characters.
    pub name: Option<String>,
    /// Species ("Canine", "Feline", "Rabbit"), 1-60 characters.
    pub species: Option<String>,
    /// Breed.
    pub breed: Option<String>,
    /// `female`, `female_spayed`, `male`, `male_neutered` or `unknown` (default).
    pub sex: Option<String>,
    /// Date of birth, `YYYY-MM-DD`, not in the future.
    pub date_of_birth: Option<String>,
    /// Whether the date of birth is an estimate.
    #[serde(default)]
    pub dob_estimated: bool,
    /// Colour and markings.
    pub colour: Option<String>,
    /// ISO 11784/11785 microchip number (15 digits; spaces and hyphens allowed).
    pub microchip: Option<String>,
    /// Insurance company.
    pub insurer: Option<String>,
    /// Insurance policy number.
    pub insurance_policy: Option<String>,
    /// `active` (default), `deceased` (needs `deceased_on`) or `transferred`.
    pub status: Option<String>,
    /// The date it died.
    pub deceased_on: Option<String>,
    /// The owners (create only).
    pub owners: Option<Vec<OwnerBody>>,
}

impl PatientBody {
    /// The details, or every field's error; `today` bounds the dates.
    pub fn parse(&self, today: NaiveDate) -> Result<PatientDetails, FieldErrors> {
        let mut errors = FieldErrors::default();
        let name = required(&mut errors, "name", &self.name, 100);
        let species = required(&mut errors, "species", &self.species, 60);
        let breed = optional(&mut errors, "breed", &self.breed, 100);
        let sex = optional_with(&mut errors, "sex", &self.sex, PatientSex::parse)
            .unwrap_or(PatientSex::Unknown);
        let date_of_birth =
            optional_with(&mut errors, "date_of_birth", &self.date_of_birth, |f, r| {
                DateOfBirth::parse(f, r, self.dob_estimated, today)
            });
        if self.dob_estimated
            && self
                .date_of_birth
                .as_deref()
                .is_none_or(|d| d.trim().is_empty())
        {
            errors.0.push(FieldError::new(
                "dob_estimated",
                "needs a date_of_birth to estimate",
            ));
        }
        let colour = optional(&mut errors, "colour", &self.colour, 100);
        let microchip = optional_with(&mut errors, "microchip", &self.microchip, Microchip::parse);
        let insurer = optional(&mut errors, "insurer", &self.insurer, 100);
        let insurance_policy =
            optional(&mut errors, "insurance_policy", &self.insurance_policy, 100);
        let status = optional_with(&mut errors, "status", &self.status, PatientStatus::parse)
            .unwrap_or(PatientStatus::Active);
        let deceased_on = optional_with(&mut errors, "deceased_on", &self.deceased_on, date);
        let standing = match (status, deceased_on) {
            (PatientStatus::Deceased, Some(day)) if day > today => {
                errors
                    .0
                    .push(FieldError::new("deceased_on", "must not be in the future"));
                None
            }
            (PatientStatus::Deceased, Some(day)) => Some(Standing::Deceased(day)),
            (PatientStatus::Deceased, None) => {
                errors.0.push(FieldError::new(
                    "deceased_on",
                    "is required when status is deceased",
                ));
                None
            }
            (_, Some(_)) => {
                errors.0.push(FieldError::new(
                    "deceased_on",
                    "is only for a deceased patient",
                ));
                None
            }
            (PatientStatus::Active, None) => Some(Standing::Active),
            (PatientStatus::Transferred, None) => Some(Standing::Transferred),
        };
        errors.into_result()?;
        let (Some(name), Some(species), Some(standing)) = (name, species, standing) else {
            return Err(FieldErrors::default());
        };
        Ok(PatientDetails {
            name,
            species,
            breed,
            sex,
            date_of_birth,
            colour,
            microchip,
            insurer,
            insurance_policy,
            standing,
        })
    }
}

/// A full list of owners (exactly one primary).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OwnersBody {
    /// The owners.
    pub owners: Vec<OwnerBody>,
}

/// Searches live patients by name, microchip or owner (`patients.read`).
#[utoipa::path(get, path = "/api/v1/patients", tag = "patients",
    params(
        ("q" = Option<String>, Query, description = "Part of the patient's name, a 15-digit microchip, or part of an owner's name, email or phone."),
        ("limit" = Option<u32>, Query, description = "1 to 200, default 50."),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page."),
    ),
    responses(
        (status = 200, description = "One page of patients, by name", body = Page<Patient>),
        crate::responses::InvalidParameter,
    ))]
pub async fn search(
    ctx: Ctx,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Page<Patient>>, AppError> {
    let pairs = query.map(|Query(p)| p).unwrap_or_default();
    let params = Params::parse(&pairs, &["q", "limit", "cursor"])?;
    let mut errors = FieldErrors::default();
    let (limit, cursor) = params.page(&mut errors);
    errors.into_result()?;
    let page = ctx
        .run(async |tx| patients::search(tx, params.get("q"), limit, cursor.as_ref()).await)
        .await?;
    Ok(Json(page))
}

/// Registers a patient with its owners (`patients.write`).
#[utoipa::path(post, path = "/api/v1/patients", tag = "patients", request_body = PatientBody,
    responses(
        (status = 201, description = "Registered", body = Patient),
        (status = 404, description = "An owner is not a client of this practice", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The microchip is already registered", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::InvalidFields,
    ))]
pub async fn create(
    ctx: Ctx,
    Json(body): Json<PatientBody>,
) -> Result<(StatusCode, Json<Patient>), AppError> {
    let today = ctx.now().date_naive();
    let mut errors = FieldErrors::default();
    let details = errors.check_all(body.parse(today));
    let owners = match &body.owners {
        Some(list) => parse_owners(&mut errors, list),
        None => {
            errors.0.push(FieldError::new("owners", "is required"));
            Vec::new()
        }
    };
    errors.into_result()?;
    let Some(details) = details else {
        return Err(FieldErrors::default().into());
    };
    let patient = ctx
        .run(async |tx| patients::create(tx, &details, &owners).await)
        .await?;
    Ok((StatusCode::CREATED, Json(patient)))
}

/// One patient's details (`patients.read`; no clinical data).
#[utoipa::path(get, path = "/api/v1/patients/{id}", tag = "patients",
    params(("id" = Uuid, Path, description = "Patient id")),
    responses(
        (status = 200, description = "The patient", body = Patient),
        crate::responses::NoSuchPatient,
    ))]
pub async fn get_one(ctx: Ctx, Path(id): Path<PatientId>) -> Result<Json<Patient>, AppError> {
    let patient = ctx.run(async |tx| patients::get(tx, id).await).await?;
    Ok(Json(patient))
}

/// Replaces a patient's details (`patients.write`).
#[utoipa::path(put, path = "/api/v1/patients/{id}", tag = "patients", request_body = PatientBody,
    params(("id" = Uuid, Path, description = "Patient id")),
    responses(
        (status = 200, description = "Updated", body = Patient),
        crate::responses::NoSuchPatient,
        crate::responses::InvalidFields,
    ))]
pub async fn update(
    ctx: Ctx,
    Path(id): Path<PatientId>,
    Json(body): Json<PatientBody>,
) -> Result<Json<Patient>, AppError> {
    let today = ctx.now().date_naive();
    let mut errors = FieldErrors::default();
    let details = errors.check_all(body.parse(today));
    if body.owners.is_some() {
        errors.0.push(FieldError::new(
            "owners",
            "change owners with PUT /api/v1/patients/{id}/owners",
        ));
    }
    errors.into_result()?;
    let Some(details) = details else {
        return Err(FieldErrors::default().into());
    };
    let patient = ctx
        .run(async |tx| patients::update(tx, id, &details).await)
        .await?;
    Ok(Json(patient))
}

/// Deletes a patient (soft; its records are kept for the retention period; `patients.write`).
#[utoipa::path(delete, path = "/api/v1/patients/{id}", tag = "patients",
    params(("id" = Uuid, Path, description = "Patient id")),
    responses(
        (status = 204, description = "Deleted"),
        crate::responses::NoSuchPatient,
    ))]
pub async fn delete(ctx: Ctx, Path(id): Path<PatientId>) -> Result<StatusCode, AppError> {
    let now = ctx.now();
    ctx.run(async |tx| patients::delete(tx, id, now).await)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deleted patients not yet purged (`settings.manage`).
#[utoipa::path(get, path = "/api/v1/patients/deleted", tag = "patients",
    responses((status = 200, description = "Deleted patients, most recent first", body = Vec<Patient>)))]
pub async fn deleted(ctx: Ctx) -> Result<Json<Vec<Patient>>, AppError> {
    let list = ctx.run(async |tx| patients::deleted(tx).await).await?;
    Ok(Json(list))
}

/// Restores a deleted patient (`settings.manage`).
#[utoipa::path(post, path = "/api/v1/patients/{id}/restore", tag = "patients",
    params(("id" = Uuid, Path, description = "Patient id")),
    responses(
        (status = 200, description = "Restored", body = Patient),
        (status = 404, description = "No such deleted patient", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Its microchip now belongs to another patient", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn restore(ctx: Ctx, Path(id): Path<PatientId>) -> Result<Json<Patient>, AppError> {
    let patient = ctx.run(async |tx| patients::restore(tx, id).await).await?;
    Ok(Json(patient))
}

/// The patient's owners, primary first (`clients.read`).
#[utoipa::path(get, path = "/api/v1/patients/{id}/owners", tag = "patients",
    params(("id" = Uuid, Path, description = "Patient id")),
    responses(
        (status = 200, description = "The owners", body = Vec<Owner>),
        crate::responses::NoSuchPatient,
    ))]
pub async fn owners(ctx: Ctx, Path(id): Path<PatientId>) -> Result<Json<Vec<Owner>>, AppError> {
    let list = ctx.run(async |tx| patients::owners(tx, id).await).await?;
    Ok(Json(list))
}

/// Replaces the patient's owners (`patients.write`).
#[utoipa::path(put, path = "/api/v1/patients/{id}/owners", tag = "patients", request_body = OwnersBody,
    params(("id" = Uuid, Path, description = "Patient id")),
    responses(
        (status = 200, description = "The owners now", body = Vec<Owner>),
        crate::responses::NoSuchPatientOrClient,
        (status = 422, description = "Not exactly one primary owner", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_owners(
    ctx: Ctx,
    Path(id): Path<PatientId>,
    Json(body): Json<OwnersBody>,
) -> Result<Json<Vec<Owner>>, AppError> {
    let mut errors = FieldErrors::default();
    let owners = parse_owners(&mut errors, &body.owners);
    errors.into_result()?;
    let list = ctx
        .run(async |tx| patients::set_owners(tx, id, &owners).await)
        .await?;
    Ok(Json(list))
}

/// The patient's whole medical record (`records.read`); the view is audited as a `read`.
#[utoipa::path(get, path = "/api/v1/patients/{id}/chart", tag = "records",
    params(("id" = Uuid, Path, description = "Patient id")),
    responses(
        (status = 200, description = "The chart", body = Chart),
        (status = 403, description = "Needs records.read", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::NoSuchPatient,
    ))]
pub async fn get_chart(ctx: Ctx, Path(id): Path<PatientId>) -> Result<Json<Chart>, AppError> {
    let today = ctx.now().date_naive();
    let chart = ctx
        .run(async |tx| chart::chart(tx, id, today).await)
        .await?;
    Ok(Json(chart))
}
