//! Medical records: encounters with SOAP notes (edit while open, finalise, addenda),
//! vital signs, problems and diagnoses, allergies, prescriptions and vaccinations.
//! Reads need `records.read` and are audited; writes need `records.write`;
//! finalising needs `records.finalise`. A write of an encounter answers with the
//! record only to a writer who may read it ([`WrittenEncounter`]).

use crate::context::Ctx;
use crate::input::Json;
use crate::input::Path;
use crate::input::{
    date, optional, optional_note, optional_with, required, required_with, time, uuid,
};
use crate::{AppError, AppState};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use paddock_domain::patient::not_in_future;
use paddock_domain::{
    AllergyId, AllergySeverity, CodeSystem, EncounterId, EncounterKind, FieldError, FieldErrors,
    PatientId, PerMinute, PrescriptionId, PrescriptionStatus, ProblemId, ProblemKind, Route,
    TemperatureC, UserId, WeightKg,
};
use paddock_store::clinical::chart;
use paddock_store::clinical::encounters::{self, Encounter, NewEncounter, Soap, WrittenEncounter};
use paddock_store::clinical::record::{
    self, Allergy, NewAllergy, NewPrescription, NewProblem, NewVaccination, NewVitals,
    Prescription, Problem, Vaccination, Vitals,
};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The medical record routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_encounters, open_encounter))
        .routes(routes!(get_encounter, edit_encounter))
        .routes(routes!(finalise))
        .routes(routes!(add_addendum))
        .routes(routes!(list_vitals, record_vitals))
        .routes(routes!(list_problems, add_problem))
        .routes(routes!(resolve_problem))
        .routes(routes!(list_allergies, add_allergy))
        .routes(routes!(retire_allergy))
        .routes(routes!(list_prescriptions, prescribe))
        .routes(routes!(set_prescription_status))
        .routes(routes!(list_vaccinations, vaccinate))
}

/// The longest a SOAP section may be.
const SOAP_MAX: usize = 20_000;

/// An encounter's editable content.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EncounterBody {
    /// Kind of visit (`consultation`, `vaccination`, `recheck`, `surgery`, `dental`,
    /// `emergency`, `telephone`, `euthanasia`, `other`); create only.
    pub kind: Option<String>,
    /// When the visit started (RFC 3339; default now); create only.
    pub started_at: Option<String>,
    /// The vet in charge (a member's user id).
    pub attending_id: Option<String>,
    /// Why the patient came.
    pub reason: Option<String>,
    /// Subjective: history and complaint.
    pub subjective: Option<String>,
    /// Objective: examination findings.
    pub objective: Option<String>,
    /// Assessment.
    pub assessment: Option<String>,
    /// Plan.
    pub plan: Option<String>,
}

impl EncounterBody {
    fn soap(&self, errors: &mut FieldErrors) -> Soap {
        let mut part = |field: &str, raw: &Option<String>| {
            optional_note(errors, field, raw, SOAP_MAX).unwrap_or_default()
        };
        Soap {
            subjective: part("subjective", &self.subjective),
            objective: part("objective", &self.objective),
            assessment: part("assessment", &self.assessment),
            plan: part("plan", &self.plan),
        }
    }
}

fn user(field: &str, raw: &str) -> Result<UserId, FieldError> {
    uuid(field, raw).map(UserId::from_uuid)
}

/// An encounter named in a body.
fn encounter(field: &str, raw: &str) -> Result<EncounterId, FieldError> {
    uuid(field, raw).map(EncounterId::from_uuid)
}

/// The patient's encounters, newest first (`records.read`).
#[utoipa::path(get, path = "/api/v1/patients/{id}/encounters", tag = "records",
    params(("id" = Uuid, Path, description = "Patient id")),
    responses((status = 200, description = "Encounters", body = Vec<Encounter>)))]
pub async fn list_encounters(
    ctx: Ctx,
    Path(patient): Path<PatientId>,
) -> Result<Json<Vec<Encounter>>, AppError> {
    let list = ctx
        .run(async |tx| chart::encounters(tx, patient).await)
        .await?;
    Ok(Json(list))
}

/// Opens an encounter (`records.write`).
#[utoipa::path(post, path = "/api/v1/patients/{id}/encounters", tag = "records", request_body = EncounterBody,
    params(("id" = Uuid, Path, description = "Patient id")),
    responses(
        (status = 201, description = "Opened", body = Encounter),
        crate::responses::NoSuchPatient,
        crate::responses::InvalidFields,
    ))]
pub async fn open_encounter(
    ctx: Ctx,
    Path(patient): Path<PatientId>,
    Json(body): Json<EncounterBody>,
) -> Result<(StatusCode, Json<Encounter>), AppError> {
    let now = ctx.now();
    let mut errors = FieldErrors::default();
    let kind = optional_with(&mut errors, "kind", &body.kind, EncounterKind::parse)
        .unwrap_or(EncounterKind::Consultation);
    let started_at =
        optional_with(&mut errors, "started_at", &body.started_at, time).unwrap_or(now);
    errors.check(not_in_future("started_at", started_at, now));
    let attending = optional_with(&mut errors, "attending_id", &body.attending_id, user);
    let reason = optional(&mut errors, "reason", &body.reason, 500);
    let soap = body.soap(&mut errors);
    errors.into_result()?;
    let new = NewEncounter {
        patient_id: patient,
        kind,
        started_at,
        attending,
        reason,
        soap,
    };
    let encounter = ctx
        .run(async |tx| encounters::create(tx, &new).await)
        .await?;
    Ok((StatusCode::CREATED, Json(encounter)))
}

/// One encounter with its addenda (`records.read`; audited as a `read`).
#[utoipa::path(get, path = "/api/v1/encounters/{id}", tag = "records",
    params(("id" = Uuid, Path, description = "Encounter id")),
    responses(
        (status = 200, description = "The encounter", body = Encounter),
        crate::responses::NoSuchEncounter,
    ))]
pub async fn get_encounter(
    ctx: Ctx,
    Path(id): Path<EncounterId>,
) -> Result<Json<Encounter>, AppError> {
    let encounter = ctx.run(async |tx| encounters::get(tx, id).await).await?;
    Ok(Json(encounter))
}

/// Replaces an open encounter's notes, reason and vet (`records.write`); a finalised
/// one answers 409 `record_locked`.
#[utoipa::path(put, path = "/api/v1/encounters/{id}", tag = "records", request_body = EncounterBody,
    params(("id" = Uuid, Path, description = "Encounter id")),
    responses(
        (status = 200, description = "Updated: the encounter with `records.read`, else its id and status", body = WrittenEncounter),
        crate::responses::NoSuchEncounter,
        (status = 409, description = "Locked: add an addendum instead", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::InvalidFields,
    ))]
pub async fn edit_encounter(
    ctx: Ctx,
    Path(id): Path<EncounterId>,
    Json(body): Json<EncounterBody>,
) -> Result<Json<WrittenEncounter>, AppError> {
    let mut errors = FieldErrors::default();
    for (field, given) in [("kind", &body.kind), ("started_at", &body.started_at)] {
        if given.is_some() {
            errors.0.push(FieldError::new(
                field,
                "cannot change after the encounter is opened",
            ));
        }
    }
    let attending = optional_with(&mut errors, "attending_id", &body.attending_id, user);
    let reason = optional(&mut errors, "reason", &body.reason, 500);
    let soap = body.soap(&mut errors);
    errors.into_result()?;
    let encounter = ctx
        .run(async |tx| encounters::update(tx, id, reason.as_deref(), attending, &soap).await)
        .await?;
    Ok(Json(encounter))
}

/// Finalises (signs) an encounter, locking it (`records.finalise`).
#[utoipa::path(post, path = "/api/v1/encounters/{id}/finalise", tag = "records",
    params(("id" = Uuid, Path, description = "Encounter id")),
    responses(
        (status = 200, description = "Finalised: the encounter with `records.read`, else its id and status", body = WrittenEncounter),
        (status = 403, description = "Needs records.finalise", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already finalised", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn finalise(
    ctx: Ctx,
    Path(id): Path<EncounterId>,
) -> Result<Json<WrittenEncounter>, AppError> {
    let now = ctx.now();
    let encounter = ctx
        .run(async |tx| encounters::finalise(tx, id, now).await)
        .await?;
    Ok(Json(encounter))
}

/// An addendum.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddendumBody {
    /// The correction or addition (1-20000 characters, may span lines).
    pub body: Option<String>,
}

/// Adds an addendum to a finalised encounter (`records.write`); the original stays.
#[utoipa::path(post, path = "/api/v1/encounters/{id}/addenda", tag = "records", request_body = AddendumBody,
    params(("id" = Uuid, Path, description = "Encounter id")),
    responses(
        (status = 201, description = "Added; the encounter with all its addenda with `records.read`, else its id and status", body = WrittenEncounter),
        (status = 409, description = "The encounter is still open: edit it instead", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty text", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn add_addendum(
    ctx: Ctx,
    Path(id): Path<EncounterId>,
    Json(body): Json<AddendumBody>,
) -> Result<(StatusCode, Json<WrittenEncounter>), AppError> {
    let mut errors = FieldErrors::default();
    let text = optional_note(&mut errors, "body", &body.body, SOAP_MAX);
    if text.is_none() && errors.0.is_empty() {
        errors.0.push(FieldError::new("body", "must not be empty"));
    }
    errors.into_result()?;
    let text = text.unwrap_or_default();
    let encounter = ctx
        .run(async |tx| encounters::add_addendum(tx, id, &text).await)
        .await?;
    Ok((StatusCode::CREATED, Json(encounter)))
}

/// Vital signs; at least one measurement.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VitalsBody {
    /// The encounter they belong to.
    pub encounter_id: Option<String>,
    /// When they were taken (RFC 3339; default now).
    pub recorded_at: Option<String>,
    /// Weight in kilograms, as a decimal string ("4.25", up to 3 decimals).
    pub weight_kg: Option<String>,
    /// Temperature in °C ("38.5").
    pub temperature_c: Option<String>,
    /// Heart rate, beats per minute.
    pub heart_rate: Option<i64>,
    /// Respiratory rate, breaths per minute.
    pub respiratory_rate: Option<i64>,
}

/// The patient's vital signs, oldest first (`records.read`).
#[utoipa::path(get, path = "/api/v1/patients/{id}/vitals", tag = "records",
    params(("id" = Uuid, Path, description = "Patient id")),
    responses((status = 200, description = "Vital signs", body = Vec<Vitals>)))]
pub async fn list_vitals(
    ctx: Ctx,
    Path(patient): Path<PatientId>,
) -> Result<Json<Vec<Vitals>>, AppError> {
    let list = ctx.run(async |tx| chart::vitals(tx, patient).await).await?;
    Ok(Json(list))
}

/// Records vital signs (`records.write`: vets and technicians).
#[utoipa::path(post, path = "/api/v1/patients/{id}/vitals", tag = "records", request_body = VitalsBody,
    params(("id" = Uuid, Path, description = "Patient id")),
    responses(
        (status = 201, description = "Recorded", body = Vitals),
        (status = 422, description = "Invalid or no measurement", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn record_vitals(
    ctx: Ctx,
    Path(patient): Path<PatientId>,
    Json(body): Json<VitalsBody>,
) -> Result<(StatusCode, Json<Vitals>), AppError> {
    let now = ctx.now();
    let mut errors = FieldErrors::default();
    let encounter_id = optional_with(&mut errors, "encounter_id", &body.encounter_id, encounter);
    let recorded_at: DateTime<Utc> =
        optional_with(&mut errors, "recorded_at", &body.recorded_at, time).unwrap_or(now);
    errors.check(not_in_future("recorded_at", recorded_at, now));
    let weight = optional_with(&mut errors, "weight_kg", &body.weight_kg, WeightKg::parse);
    let temperature = optional_with(
        &mut errors,
        "temperature_c",
        &body.temperature_c,
        TemperatureC::parse,
    );
    let heart_rate = body
        .heart_rate
        .and_then(|v| errors.check(PerMinute::heart_rate("heart_rate", v)));
    let respiratory_rate = body
        .respiratory_rate
        .and_then(|v| errors.check(PerMinute::respiratory_rate("respiratory_rate", v)));
    if errors.0.is_empty()
        && weight.is_none()
        && temperature.is_none()
        && heart_rate.is_none()
        && respiratory_rate.is_none()
    {
        errors.0.push(FieldError::new(
            "weight_kg",
            "give at least one of weight_kg, temperature_c, heart_rate, respiratory_rate",
        ));
    }
    errors.into_result()?;
    let new = NewVitals {
        encounter_id,
        recorded_at,
        weight,
        temperature,
        heart_rate,
        respiratory_rate,
    };
    let vitals = ctx
        .run(async |tx| record::record_vitals(tx, patient, &new).await)
        .await?;
    Ok((StatusCode::CREATED, Json(vitals)))
}

/// A problem or diagnosis.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProblemBody {
    /// The encounter it was recorded in.
    pub encounter_id: Option<String>,
    /// `problem` (default) or `diagnosis`.
    pub kind: Option<String>,
    /// Free text, 1-500 characters.
    pub description: Option<String>,
    /// `venom` or `snomed` (with `code`).
    pub code_system: Option<String>,
    /// The code (digits).
    pub code: Option<String>,
    /// When it began (`YYYY-MM-DD`).
    pub onset_on: Option<String>,
}

/// The patient's problems and diagnoses (`records.read`).
#[utoipa::path(get, path = "/api/v1/patients/{id}/problems", tag = "records",
    params(("id" = Uuid, Path, description = "Patient id")),
    responses((status = 200, description = "Problems, active first", body = Vec<Problem>)))]
pub async fn list_problems(
    ctx: Ctx,
    Path(patient): Path<PatientId>,
) -> Result<Json<Vec<Problem>>, AppError> {
    let list = ctx
        .run(async |tx| chart::problems(tx, patient).await)
        .await?;
    Ok(Json(list))
}

/// Adds a problem or diagnosis (`records.write`).
#[utoipa::path(post, path = "/api/v1/patients/{id}/problems", tag = "records", request_body = ProblemBody,
    params(("id" = Uuid, Path, description = "Patient id")),
    responses(
        (status = 201, description = "Added", body = Problem),
        crate::responses::InvalidFields,
    ))]
pub async fn add_problem(
    ctx: Ctx,
    Path(patient): Path<PatientId>,
    Json(body): Json<ProblemBody>,
) -> Result<(StatusCode, Json<Problem>), AppError> {
    let mut errors = FieldErrors::default();
    let encounter_id = optional_with(&mut errors, "encounter_id", &body.encounter_id, encounter);
    let kind = optional_with(&mut errors, "kind", &body.kind, ProblemKind::parse)
        .unwrap_or(ProblemKind::Problem);
    let description = required(&mut errors, "description", &body.description, 500);
    let system = optional_with(
        &mut errors,
        "code_system",
        &body.code_system,
        CodeSystem::parse,
    );
    let code = optional_with(&mut errors, "code", &body.code, |field, raw| {
        let raw = raw.trim();
        if (1..=18).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_digit()) {
            Ok(raw.to_owned())
        } else {
            Err(FieldError::new(
                field,
                "must be 1 to 18 digits (a VeNom or SNOMED CT code)",
            ))
        }
    });
    let code = match (system, code) {
        (Some(system), Some(code)) => Some((system, code)),
        (None, None) => None,
        (Some(_), None) => {
            errors
                .0
                .push(FieldError::new("code", "is required with code_system"));
            None
        }
        (None, Some(_)) => {
            errors
                .0
                .push(FieldError::new("code_system", "is required with code"));
            None
        }
    };
    let onset_on = optional_with(&mut errors, "onset_on", &body.onset_on, date);
    let today = ctx.now().date_naive();
    if onset_on.is_some_and(|onset| onset > today) {
        errors
            .0
            .push(FieldError::new("onset_on", "must not be in the future"));
    }
    errors.into_result()?;
    let new = NewProblem {
        encounter_id,
        kind,
        description: description.unwrap_or_default(),
        code,
        onset_on,
    };
    let problem = ctx
        .run(async |tx| record::add_problem(tx, patient, &new).await)
        .await?;
    Ok((StatusCode::CREATED, Json(problem)))
}

/// When a problem resolved.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// The day (`YYYY-MM-DD`; default today).
    pub resolved_on: Option<String>,
}

/// Marks a problem resolved (`records.write`).
#[utoipa::path(post, path = "/api/v1/patients/{id}/problems/{problem_id}/resolve", tag = "records", request_body = ResolveBody,
    params(("id" = Uuid, Path, description = "Patient id"), ("problem_id" = Uuid, Path, description = "Problem id")),
    responses(
        (status = 200, description = "Resolved", body = Problem),
        (status = 404, description = "No such active problem", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn resolve_problem(
    ctx: Ctx,
    Path((patient, problem)): Path<(PatientId, ProblemId)>,
    Json(body): Json<ResolveBody>,
) -> Result<Json<Problem>, AppError> {
    let today = ctx.now().date_naive();
    let mut errors = FieldErrors::default();
    let day = optional_with(&mut errors, "resolved_on", &body.resolved_on, date).unwrap_or(today);
    if day > today {
        errors
            .0
            .push(FieldError::new("resolved_on", "must not be in the future"));
    }
    errors.into_result()?;
    let resolved = ctx
        .run(async |tx| record::resolve_problem(tx, patient, problem, day).await)
        .await?;
    Ok(Json(resolved))
}

/// An allergy.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllergyBody {
    /// What the patient reacts to.
    pub substance: Option<String>,
    /// How it reacts.
    pub reaction: Option<String>,
    /// `mild`, `moderate`, `severe` or `life_threatening`.
    pub severity: Option<String>,
}

/// The patient's allergies (`records.read`).
#[utoipa::path(get, path = "/api/v1/patients/{id}/allergies", tag = "records",
    params(("id" = Uuid, Path, description = "Patient id")),
    responses((status = 200, description = "Allergies, active and most severe first", body = Vec<Allergy>)))]
pub async fn list_allergies(
    ctx: Ctx,
    Path(patient): Path<PatientId>,
) -> Result<Json<Vec<Allergy>>, AppError> {
    let list = ctx
        .run(async |tx| chart::allergies(tx, patient).await)
        .await?;
    Ok(Json(list))
}

/// Records an allergy (`records.write`).
#[utoipa::path(post, path = "/api/v1/patients/{id}/allergies", tag = "records", request_body = AllergyBody,
    params(("id" = Uuid, Path, description = "Patient id")),
    responses(
        (status = 201, description = "Recorded", body = Allergy),
        crate::responses::InvalidFields,
    ))]
pub async fn add_allergy(
    ctx: Ctx,
    Path(patient): Path<PatientId>,
    Json(body): Json<AllergyBody>,
) -> Result<(StatusCode, Json<Allergy>), AppError> {
    let mut errors = FieldErrors::default();
    let substance = required(&mut errors, "substance", &body.substance, 200);
    let reaction = optional(&mut errors, "reaction", &body.reaction, 500);
    let severity = required_with(
        &mut errors,
        "severity",
        &body.severity,
        AllergySeverity::parse,
    );
    errors.into_result()?;
    let (Some(substance), Some(severity)) = (substance, severity) else {
        return Err(FieldErrors::default().into());
    };
    let new = NewAllergy {
        substance,
        reaction,
        severity,
    };
    let allergy = ctx
        .run(async |tx| record::add_allergy(tx, patient, &new).await)
        .await?;
    Ok((StatusCode::CREATED, Json(allergy)))
}

/// Marks an allergy as no longer applying (`records.write`).
#[utoipa::path(post, path = "/api/v1/patients/{id}/allergies/{allergy_id}/retire", tag = "records",
    params(("id" = Uuid, Path, description = "Patient id"), ("allergy_id" = Uuid, Path, description = "Allergy id")),
    responses(
        (status = 200, description = "Retired", body = Allergy),
        (status = 404, description = "No such active allergy", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn retire_allergy(
    ctx: Ctx,
    Path((patient, allergy)): Path<(PatientId, AllergyId)>,
) -> Result<Json<Allergy>, AppError> {
    let retired = ctx
        .run(async |tx| record::retire_allergy(tx, patient, allergy).await)
        .await?;
    Ok(Json(retired))
}

/// A prescription.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrescriptionBody {
    /// The encounter it was written in.
    pub encounter_id: Option<String>,
    /// Drug name and strength.
    pub drug: Option<String>,
    /// Dose ("1 tablet").
    pub dose: Option<String>,
    /// `oral`, `subcutaneous`, `intramuscular`, `intravenous`, `topical`, `ophthalmic`,
    /// `otic`, `inhaled`, `rectal` or `other`.
    pub route: Option<String>,
    /// How often.
    pub frequency: Option<String>,
    /// For how many days (1-3650).
    pub duration_days: Option<i64>,
    /// The prescribing vet (default: you).
    pub prescriber_id: Option<String>,
    /// The first day (`YYYY-MM-DD`; default today).
    pub starts_on: Option<String>,
    /// Instructions.
    pub notes: Option<String>,
}

/// The patient's prescriptions (`records.read`).
#[utoipa::path(get, path = "/api/v1/patients/{id}/prescriptions", tag = "records",
    params(("id" = Uuid, Path, description = "Patient id")),
    responses((status = 200, description = "Prescriptions, current first", body = Vec<Prescription>)))]
pub async fn list_prescriptions(
    ctx: Ctx,
    Path(patient): Path<PatientId>,
) -> Result<Json<Vec<Prescription>>, AppError> {
    let list = ctx
        .run(async |tx| chart::prescriptions(tx, patient).await)
        .await?;
    Ok(Json(list))
}

/// Writes a prescription (`records.write`).
#[utoipa::path(post, path = "/api/v1/patients/{id}/prescriptions", tag = "records", request_body = PrescriptionBody,
    params(("id" = Uuid, Path, description = "Patient id")),
    responses(
        (status = 201, description = "WrittenEncounter", body = Prescription),
        crate::responses::InvalidFields,
    ))]
pub async fn prescribe(
    ctx: Ctx,
    Path(patient): Path<PatientId>,
    Json(body): Json<PrescriptionBody>,
) -> Result<(StatusCode, Json<Prescription>), AppError> {
    let today = ctx.now().date_naive();
    let mut errors = FieldErrors::default();
    let encounter_id = optional_with(&mut errors, "encounter_id", &body.encounter_id, encounter);
    let drug = required(&mut errors, "drug", &body.drug, 200);
    let dose = required(&mut errors, "dose", &body.dose, 100);
    let route = required_with(&mut errors, "route", &body.route, Route::parse);
    let frequency = required(&mut errors, "frequency", &body.frequency, 100);
    let duration_days = body.duration_days.and_then(|d| {
        errors.check(
            u16::try_from(d)
                .ok()
                .filter(|d| (1..=3650).contains(d))
                .ok_or_else(|| FieldError::new("duration_days", "must be 1 to 3650")),
        )
    });
    let prescriber = optional_with(&mut errors, "prescriber_id", &body.prescriber_id, user)
        .unwrap_or(ctx.principal.user_id());
    let starts_on = optional_with(&mut errors, "starts_on", &body.starts_on, date).unwrap_or(today);
    let notes = optional_note(&mut errors, "notes", &body.notes, 2000);
    errors.into_result()?;
    let (Some(drug), Some(dose), Some(route), Some(frequency)) = (drug, dose, route, frequency)
    else {
        return Err(FieldErrors::default().into());
    };
    let new = NewPrescription {
        encounter_id,
        drug,
        dose,
        route,
        frequency,
        duration_days,
        prescriber,
        starts_on,
        notes,
    };
    let written = ctx
        .run(async |tx| record::prescribe(tx, patient, &new).await)
        .await?;
    Ok((StatusCode::CREATED, Json(written)))
}

/// A prescription's new status.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PrescriptionStatusBody {
    /// `active`, `completed` or `stopped`.
    pub status: Option<String>,
}

/// Completes or stops a prescription (`records.write`).
#[utoipa::path(post, path = "/api/v1/patients/{id}/prescriptions/{prescription_id}/status", tag = "records",
    request_body = PrescriptionStatusBody,
    params(("id" = Uuid, Path, description = "Patient id"), ("prescription_id" = Uuid, Path, description = "Prescription id")),
    responses(
        (status = 200, description = "Changed", body = Prescription),
        (status = 404, description = "No such prescription", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_prescription_status(
    ctx: Ctx,
    Path((patient, prescription)): Path<(PatientId, PrescriptionId)>,
    Json(body): Json<PrescriptionStatusBody>,
) -> Result<Json<Prescription>, AppError> {
    let mut errors = FieldErrors::default();
    let status = required_with(
        &mut errors,
        "status",
        &body.status,
        PrescriptionStatus::parse,
    );
    errors.into_result()?;
    let Some(status) = status else {
        return Err(FieldErrors::default().into());
    };
    let changed = ctx
        .run(async |tx| record::set_prescription_status(tx, patient, prescription, status).await)
        .await?;
    Ok(Json(changed))
}

/// A vaccination given.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VaccinationBody {
    /// The encounter it was given in.
    pub encounter_id: Option<String>,
    /// The vaccine (product name).
    pub vaccine: Option<String>,
    /// Its manufacturer.
    pub manufacturer: Option<String>,
    /// Lot or serial number.
    pub lot_number: Option<String>,
    /// When the lot expires (`YYYY-MM-DD`).
    pub lot_expires_on: Option<String>,
    /// The day given (`YYYY-MM-DD`; default today).
    pub given_on: Option<String>,
    /// When the next dose is due.
    pub next_due_on: Option<String>,
    /// Who gave it (default: you).
    pub administered_by: Option<String>,
    /// Rabies tag number.
    pub rabies_tag: Option<String>,
}

/// The patient's vaccinations (`records.read`).
#[utoipa::path(get, path = "/api/v1/patients/{id}/vaccinations", tag = "records",
    params(("id" = Uuid, Path, description = "Patient id")),
    responses((status = 200, description = "Vaccinations, newest first", body = Vec<Vaccination>)))]
pub async fn list_vaccinations(
    ctx: Ctx,
    Path(patient): Path<PatientId>,
) -> Result<Json<Vec<Vaccination>>, AppError> {
    let list = ctx
        .run(async |tx| chart::vaccinations(tx, patient).await)
        .await?;
    Ok(Json(list))
}

/// Records a vaccination (`records.write`: vets and technicians).
#[utoipa::path(post, path = "/api/v1/patients/{id}/vaccinations", tag = "records", request_body = VaccinationBody,
    params(("id" = Uuid, Path, description = "Patient id")),
    responses(
        (status = 201, description = "Recorded", body = Vaccination),
        (status = 422, description = "Invalid fields (an expired lot, a due date before the day given)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn vaccinate(
    ctx: Ctx,
    Path(patient): Path<PatientId>,
    Json(body): Json<VaccinationBody>,
) -> Result<(StatusCode, Json<Vaccination>), AppError> {
    let today = ctx.now().date_naive();
    let mut errors = FieldErrors::default();
    let encounter_id = optional_with(&mut errors, "encounter_id", &body.encounter_id, encounter);
    let vaccine = required(&mut errors, "vaccine", &body.vaccine, 200);
    let manufacturer = optional(&mut errors, "manufacturer", &body.manufacturer, 200);
    let lot_number = required(&mut errors, "lot_number", &body.lot_number, 60);
    let lot_expires_on = optional_with(&mut errors, "lot_expires_on", &body.lot_expires_on, date);
    let given_on = optional_with(&mut errors, "given_on", &body.given_on, date).unwrap_or(today);
    if given_on > today {
        errors
            .0
            .push(FieldError::new("given_on", "must not be in the future"));
    }
    let next_due_on = optional_with(&mut errors, "next_due_on", &body.next_due_on, date);
    let administered_by =
        optional_with(&mut errors, "administered_by", &body.administered_by, user)
            .unwrap_or(ctx.principal.user_id());
    let rabies_tag = optional(&mut errors, "rabies_tag", &body.rabies_tag, 40);
    errors.into_result()?;
    let (Some(vaccine), Some(lot_number)) = (vaccine, lot_number) else {
        return Err(FieldErrors::default().into());
    };
    let new = NewVaccination {
        encounter_id,
        vaccine,
        manufacturer,
        lot_number,
        lot_expires_on,
        given_on,
        next_due_on,
        administered_by,
        rabies_tag,
    };
    let given = ctx
        .run(async |tx| record::vaccinate(tx, patient, &new).await)
        .await?;
    Ok((StatusCode::CREATED, Json(given)))
}
