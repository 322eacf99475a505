//! The encounter pages: a new encounter with its SOAP notes and vital signs, and one
//! encounter's page, which is its editor while it is open and its record once it is
//! finalised (the notes read-only, addenda below them).
//!
//! The database holds the lock (`encounter_guard`); these pages only decide which
//! forms to offer. A save that arrives after the lock (another tab finalised it, or
//! the editing period ran out) is refused by the store with its `Locked` message, and
//! the page shows that message with the text that was typed, so nothing is lost.

use super::patients::{active_allergies, temperature_text, weight_of};
use crate::AppError;
use crate::clinical::views::{
    AddendumView, AllergyView, EncounterForm, EncounterFormPage, EncounterPage, NotesForm,
    VitalsView,
};
use crate::clinical::weight_chart::kilograms;
use crate::context::PageId;
use crate::context::{CsrfForm, Page};
use crate::form::FieldMessages;
use crate::form::staff_options;
use crate::form::{Outcome, submit};
use crate::format::capitalised;
use crate::format::local_time;
use crate::input::Query;
use crate::input::{optional_id, optional_text, present};
use crate::layout::Nav;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use paddock_domain::field::note_text;
use paddock_domain::{
    EncounterId, EncounterKind, EncounterStatus, FieldError, PatientId, Permission, PermissionSet,
    PracticeZone, TemperatureC, UserId, WeightKg,
};
use paddock_store::clinical::encounters::{self, NewEncounter, Soap};
use paddock_store::clinical::record::{self, NewVitals};
use paddock_store::{StoreError, TenantTx, clinical::chart, clinical::patients};
use serde::Deserialize;

/// The longest reason the database keeps.
const MAX_REASON: usize = 500;
/// The longest SOAP part or addendum the database keeps.
const MAX_NOTE: usize = 20_000;

/// `GET /patients/{id}/encounters/new`: the empty encounter, started now (the date
/// and time on the practice's clock), attended by the member writing it.
pub(crate) async fn new_page(
    Page { ctx, nav }: Page,
    PageId(patient): PageId<PatientId>,
) -> Result<Response, AppError> {
    // No store call checks it for an empty form.
    ctx.require(Permission::RecordsWrite)?;
    let now = ctx.now();
    let form = EncounterForm {
        kind: EncounterKind::Consultation.as_str().to_owned(),
        date: nav.zone.format_date(now),
        time: nav.zone.format_time(now),
        attending_id: ctx.principal.user_id().as_uuid().to_string(),
        ..EncounterForm::default()
    };
    let read_records = reads_records(ctx.principal.permissions());
    ctx.run(async |tx| {
        let shown = (form, FieldMessages::none(), StatusCode::OK);
        new_form_page(tx, nav, read_records, patient, shown).await
    })
    .await
}

fn reads_records(permissions: &PermissionSet) -> bool {
    permissions.contains(Permission::RecordsRead)
}

/// The patient's name and active allergies (when the member may read records).
async fn patient_header(
    tx: &mut TenantTx,
    read_records: bool,
    patient: PatientId,
) -> Result<(String, Vec<AllergyView>), StoreError> {
    let name = patients::get(tx, patient).await?.name;
    let allergies = if read_records {
        active_allergies(&chart::allergies(tx, patient).await?)
    } else {
        Vec::new()
    };
    Ok((name, allergies))
}

/// The new-encounter form (as typed, with its messages and status), read in `tx`.
async fn new_form_page(
    tx: &mut TenantTx,
    nav: Nav,
    read_records: bool,
    patient: PatientId,
    (form, errors, status): (EncounterForm, FieldMessages, StatusCode),
) -> Result<Response, StoreError> {
    let (patient_name, allergies) = patient_header(tx, read_records, patient).await?;
    let staff = staff_options(tx).await?;
    let kinds = EncounterKind::ALL
        .iter()
        .map(|k| (k.as_str().to_owned(), capitalised(&k.label())))
        .collect();
    Ok((
        status,
        EncounterFormPage {
            nav: nav.at("patients"),
            patient_id: patient.as_uuid(),
            patient_name,
            allergies,
            form,
            kinds,
            staff,
            errors,
        },
    )
        .into_response())
}

/// The new-encounter form as posted.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct EncounterInput {
    kind: String,
    date: String,
    time: String,
    attending_id: String,
    reason: String,
    subjective: String,
    objective: String,
    assessment: String,
    plan: String,
    weight_kg: String,
    temperature_c: String,
}

impl EncounterInput {
    fn into_form(self) -> EncounterForm {
        EncounterForm {
            kind: self.kind,
            date: self.date,
            time: self.time,
            attending_id: self.attending_id,
            reason: self.reason,
            subjective: self.subjective,
            objective: self.objective,
            assessment: self.assessment,
            plan: self.plan,
            weight_kg: self.weight_kg,
            temperature_c: self.temperature_c,
        }
    }
}

/// The four SOAP parts as typed, checked.
fn parse_soap(
    errors: &mut FieldMessages,
    subjective: &str,
    objective: &str,
    assessment: &str,
    plan: &str,
) -> Soap {
    let mut part = |field: &str, raw: &str| {
        errors
            .check(note_text(field, raw, MAX_NOTE))
            .unwrap_or_default()
    };
    Soap {
        subjective: part("subjective", subjective),
        objective: part("objective", objective),
        assessment: part("assessment", assessment),
        plan: part("plan", plan),
    }
}

/// What a new-encounter form records: the encounter, and vital signs if any were given.
struct NewRecord {
    encounter: NewEncounter,
    weight: Option<WeightKg>,
    temperature: Option<TemperatureC>,
}

/// The record a new-encounter form describes: its date and time are the practice's
/// wall clock (a time the clocks skip is refused on `time`).
fn parse_new(
    form: &EncounterForm,
    patient: PatientId,
    zone: &PracticeZone,
    now: DateTime<Utc>,
) -> Result<NewRecord, FieldMessages> {
    let mut errors = FieldMessages::none();
    let kind = errors.check(EncounterKind::parse("kind", &form.kind));
    let started_at = errors.check_wall_clock(zone, &form.date, &form.time);
    // The API's rule; the store adds the patient's date of birth.
    if let Some(started_at) = started_at {
        errors.check(paddock_domain::patient::not_in_future(
            "date", started_at, now,
        ));
    }
    let attending = errors.check(optional_id("attending_id", &form.attending_id));
    let reason = errors.check(optional_text("reason", &form.reason, MAX_REASON));
    let soap = parse_soap(
        &mut errors,
        &form.subjective,
        &form.objective,
        &form.assessment,
        &form.plan,
    );
    let weight =
        present(&form.weight_kg).and_then(|raw| errors.check(WeightKg::parse("weight_kg", raw)));
    let temperature = present(&form.temperature_c)
        .and_then(|raw| errors.check(TemperatureC::parse("temperature_c", raw)));
    // A weight or temperature given but refused is in `errors`, so it stops the form.
    match (kind, started_at, attending, reason) {
        (Some(kind), Some(started_at), Some(attending), Some(reason)) if errors.is_empty() => {
            Ok(NewRecord {
                encounter: NewEncounter {
                    patient_id: patient,
                    kind,
                    started_at,
                    attending: attending.map(UserId::from_uuid),
                    reason,
                    soap,
                },
                weight,
                temperature,
            })
        }
        _ => Err(errors),
    }
}

/// `POST /patients/{id}/encounters`: opens the encounter and records its vital signs,
/// in one transaction (both or neither), then shows it.
pub(crate) async fn create_submit(
    Page { ctx, nav }: Page,
    PageId(patient): PageId<PatientId>,
    CsrfForm(input): CsrfForm<EncounterInput>,
) -> Result<Response, AppError> {
    let form = input.into_form();
    let read_records = reads_records(ctx.principal.permissions());
    let record = match parse_new(&form, patient, &nav.zone, ctx.now()) {
        Ok(record) => record,
        Err(errors) => {
            // Refused before the store call that would check it.
            ctx.require(Permission::RecordsWrite)?;
            let shown = (form, errors, StatusCode::UNPROCESSABLE_ENTITY);
            return ctx
                .run(async |tx| new_form_page(tx, nav, read_records, patient, shown).await)
                .await;
        }
    };
    let saved = submit(
        ctx,
        &[],
        async |tx| write_new(tx, patient, &record).await,
        async |tx, status, errors| {
            new_form_page(tx, nav, read_records, patient, (form, errors, status)).await
        },
    )
    .await?;
    match saved {
        Outcome::Done(encounter) => {
            Ok(Redirect::to(&format!("/encounters/{encounter}?notice=created")).into_response())
        }
        Outcome::Refused(page) => Ok(page),
    }
}

async fn write_new(
    tx: &mut TenantTx,
    patient: PatientId,
    record: &NewRecord,
) -> Result<EncounterId, StoreError> {
    let encounter = encounters::create(tx, &record.encounter).await?;
    if record.weight.is_some() || record.temperature.is_some() {
        let vitals = NewVitals {
            encounter_id: Some(encounter.id),
            recorded_at: record.encounter.started_at,
            weight: record.weight,
            temperature: record.temperature,
            heart_rate: None,
            respiratory_rate: None,
        };
        record::record_vitals(tx, patient, &vitals).await?;
    }
    Ok(encounter.id)
}

#[derive(Deserialize)]
pub(super) struct NoticeQuery {
    notice: Option<String>,
}

/// Only fixed notices can be shown through the query string.
fn notice_text(key: Option<&str>) -> Option<String> {
    let text = match key? {
        "created" => "Encounter saved.",
        "saved" => "Notes saved.",
        "finalised" => "Encounter finalised: the notes are now locked.",
        "addendum" => "Addendum added.",
        _ => return None,
    };
    Some(text.to_owned())
}

/// What a page shows besides the stored record: a refused form as typed, and why.
#[derive(Default)]
struct Shown {
    form: Option<NotesForm>,
    addendum: String,
    errors: FieldMessages,
    unsaved: Option<String>,
    notice: Option<String>,
}

/// `GET /encounters/{id}`: the encounter (the view is audited as a `read`).
pub(crate) async fn view_page(
    Page { ctx, nav }: Page,
    PageId(id): PageId<EncounterId>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let shown = Shown {
        notice: notice_text(q.notice.as_deref()),
        ..Shown::default()
    };
    let now = ctx.now();
    let permissions = ctx.principal.permissions().clone();
    let body = ctx
        .run(async |tx| encounter_page(tx, &permissions, nav, id, shown, now).await)
        .await?;
    Ok(body.into_response())
}

/// The encounter page, read in `tx` (times on the practice's clock).
async fn encounter_page(
    tx: &mut TenantTx,
    permissions: &PermissionSet,
    nav: Nav,
    id: EncounterId,
    shown: Shown,
    now: DateTime<Utc>,
) -> Result<EncounterPage, StoreError> {
    let can_write = permissions.contains(Permission::RecordsWrite);
    let can_finalise = permissions.contains(Permission::RecordsFinalise);
    let zone = nav.zone;
    let encounter = encounters::get(tx, id).await?;
    let (patient_name, allergies) =
        patient_header(tx, reads_records(permissions), encounter.patient_id).await?;
    let mut staff = staff_options(tx).await?;
    // The vet on record stays a choice, so saving the notes never drops them.
    if let (Some(vet), Some(name)) = (encounter.attending_id, &encounter.attending_name)
        && !staff.iter().any(|(id, _)| *id == vet.to_string())
    {
        staff.push((vet.to_string(), name.clone()));
    }
    let vitals = chart::vitals(tx, encounter.patient_id)
        .await?
        .into_iter()
        .filter(|v| v.encounter_id == Some(id))
        .map(|v| VitalsView {
            at: local_time(&zone, v.recorded_at),
            weight: weight_of(&v)
                .map(|w| format!("{} kg", kilograms(w.grams())))
                .unwrap_or_default(),
            temperature: v
                .temperature_c
                .as_deref()
                .map(temperature_text)
                .unwrap_or_default(),
            heart_rate: v.heart_rate.map(|r| format!("{r}/min")).unwrap_or_default(),
            respiratory_rate: v
                .respiratory_rate
                .map(|r| format!("{r}/min"))
                .unwrap_or_default(),
        })
        .collect();
    let finalised = encounter.status == EncounterStatus::Finalised;
    let editable = encounter.is_editable(now);
    let status_detail = match (finalised, encounter.finalised_at) {
        (true, Some(at)) if encounter.finalised_by.is_some() => {
            format!("Finalised {}", local_time(&zone, at))
        }
        (true, Some(at)) => format!(
            "Locked {}, when its editing period ended",
            local_time(&zone, at)
        ),
        (true, None) => "Finalised".to_owned(),
        (false, _) if editable => format!(
            "Open: editable until finalised, or until {}",
            local_time(&zone, encounter.lock_after)
        ),
        (false, _) => "Past its editing period: locking".to_owned(),
    };
    let notes = NotesForm {
        attending_id: encounter
            .attending_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        reason: encounter.reason.clone().unwrap_or_default(),
        subjective: encounter.soap.subjective.clone(),
        objective: encounter.soap.objective.clone(),
        assessment: encounter.soap.assessment.clone(),
        plan: encounter.soap.plan.clone(),
    };
    let form = shown.form.unwrap_or_else(|| NotesForm {
        attending_id: notes.attending_id.clone(),
        reason: notes.reason.clone(),
        subjective: notes.subjective.clone(),
        objective: notes.objective.clone(),
        assessment: notes.assessment.clone(),
        plan: notes.plan.clone(),
    });
    let body = EncounterPage {
        nav: nav.at("patients"),
        id: id.as_uuid(),
        patient_id: encounter.patient_id.as_uuid(),
        patient_name,
        allergies,
        kind: capitalised(&encounter.kind.label()),
        started: local_time(&zone, encounter.started_at),
        vet: encounter.attending_name.clone().unwrap_or_default(),
        status: encounter.status.as_str().to_owned(),
        status_detail,
        notes,
        form,
        staff,
        vitals,
        addenda: encounter
            .addenda
            .iter()
            .map(|a| AddendumView {
                id: a.id.as_uuid(),
                author: a
                    .author_name
                    .clone()
                    .unwrap_or_else(|| "a former member".to_owned()),
                at: local_time(&zone, a.created_at),
                at_iso: a.created_at.to_rfc3339(),
                body: a.body.clone(),
            })
            .collect(),
        can_edit: editable && can_write,
        can_finalise: !finalised && can_finalise,
        can_add_addendum: finalised && can_write,
        addendum: shown.addendum,
        errors: shown.errors,
        unsaved: shown.unsaved,
        notice: shown.notice,
    };
    Ok(body)
}

/// The notes form as posted.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct NotesInput {
    attending_id: String,
    reason: String,
    subjective: String,
    objective: String,
    assessment: String,
    plan: String,
}

impl NotesInput {
    fn into_form(self) -> NotesForm {
        NotesForm {
            attending_id: self.attending_id,
            reason: self.reason,
            subjective: self.subjective,
            objective: self.objective,
            assessment: self.assessment,
            plan: self.plan,
        }
    }
}

/// Everything typed into a notes form, as one text to copy from.
fn typed_text(form: &NotesForm) -> String {
    [
        ("Reason", &form.reason),
        ("Subjective", &form.subjective),
        ("Objective", &form.objective),
        ("Assessment", &form.assessment),
        ("Plan", &form.plan),
    ]
    .iter()
    .filter(|(_, text)| !text.trim().is_empty())
    .map(|(label, text)| format!("{label}:\n{}", text.trim()))
    .collect::<Vec<_>>()
    .join("\n\n")
}

/// `POST /encounters/{id}`: saves the notes and attending vet of an open encounter.
pub(crate) async fn edit_submit(
    Page { ctx, nav }: Page,
    PageId(id): PageId<EncounterId>,
    CsrfForm(input): CsrfForm<NotesInput>,
) -> Result<Response, AppError> {
    let form = input.into_form();
    let mut errors = FieldMessages::none();
    let reason = errors.check(optional_text("reason", &form.reason, MAX_REASON));
    let attending = errors
        .check(optional_id("attending_id", &form.attending_id))
        .map(|id| id.map(UserId::from_uuid));
    let soap = parse_soap(
        &mut errors,
        &form.subjective,
        &form.objective,
        &form.assessment,
        &form.plan,
    );
    let (Some(reason), Some(attending), true) = (reason, attending, errors.is_empty()) else {
        let shown = Shown {
            form: Some(form),
            errors,
            ..Shown::default()
        };
        return refused_before_work(Page { ctx, nav }, id, shown).await;
    };
    let now = ctx.now();
    let permissions = ctx.principal.permissions().clone();
    let saved = submit(
        ctx,
        &[],
        async |tx| encounters::update(tx, id, reason.as_deref(), attending, &soap).await,
        async |tx, status, errors| {
            let shown = refused_shown(errors, |shown| {
                shown.unsaved = Some(typed_text(&form));
                shown.form = Some(form);
            });
            let page = encounter_page(tx, &permissions, nav, id, shown, now).await?;
            Ok((status, page).into_response())
        },
    )
    .await?;
    Ok(match saved {
        Outcome::Done(_) => Redirect::to(&format!("/encounters/{id}?notice=saved")).into_response(),
        Outcome::Refused(page) => page,
    })
}

/// The encounter page again with a form refused before any work (422), read in the
/// request's transaction.
async fn refused_before_work(
    Page { ctx, nav }: Page,
    id: EncounterId,
    shown: Shown,
) -> Result<Response, AppError> {
    // Refused before the store call that would check it.
    ctx.require(Permission::RecordsWrite)?;
    let now = ctx.now();
    let permissions = ctx.principal.permissions().clone();
    let page = ctx
        .run(async |tx| encounter_page(tx, &permissions, nav, id, shown, now).await)
        .await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

/// What the page shows after the store refused a change: a `Locked` record (or
/// another fixable refusal) shows its message, with what `keep` keeps of the form.
fn refused_shown(errors: FieldMessages, keep: impl FnOnce(&mut Shown)) -> Shown {
    let mut shown = Shown {
        errors,
        ..Shown::default()
    };
    keep(&mut shown);
    // Typed text is "unsaved" only when the record itself refused it (locked); any
    // other refusal leaves it in its form, beside the message.
    if shown.errors.get("record").is_none() {
        shown.unsaved = None;
    }
    shown
}

/// `POST /encounters/{id}/finalise`: signs and locks the encounter.
pub(crate) async fn finalise_submit(
    Page { ctx, nav }: Page,
    PageId(id): PageId<EncounterId>,
    CsrfForm(_): CsrfForm<crate::form::NoFields>,
) -> Result<Response, AppError> {
    let now = ctx.now();
    let permissions = ctx.principal.permissions().clone();
    let saved = submit(
        ctx,
        &[],
        async |tx| encounters::finalise(tx, id, now).await,
        async |tx, status, errors| {
            let shown = refused_shown(errors, |_| {});
            let page = encounter_page(tx, &permissions, nav, id, shown, now).await?;
            Ok((status, page).into_response())
        },
    )
    .await?;
    Ok(match saved {
        Outcome::Done(_) => {
            Redirect::to(&format!("/encounters/{id}?notice=finalised")).into_response()
        }
        Outcome::Refused(page) => page,
    })
}

/// The addendum form as posted.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct AddendumInput {
    body: String,
}

/// `POST /encounters/{id}/addenda`: adds a correction below a finalised encounter.
pub(crate) async fn addendum_submit(
    Page { ctx, nav }: Page,
    PageId(id): PageId<EncounterId>,
    CsrfForm(input): CsrfForm<AddendumInput>,
) -> Result<Response, AppError> {
    let body = note_text("body", &input.body, MAX_NOTE).and_then(|text| {
        if text.is_empty() {
            Err(FieldError::new("body", "must not be empty"))
        } else {
            Ok(text)
        }
    });
    let body = match body {
        Ok(body) => body,
        Err(error) => {
            let mut errors = FieldMessages::none();
            errors.extend([error]);
            let shown = Shown {
                addendum: input.body,
                errors,
                ..Shown::default()
            };
            return refused_before_work(Page { ctx, nav }, id, shown).await;
        }
    };
    let now = ctx.now();
    let permissions = ctx.principal.permissions().clone();
    let typed = input.body;
    let saved = submit(
        ctx,
        &[],
        async |tx| encounters::add_addendum(tx, id, &body).await,
        async |tx, status, errors| {
            let shown = refused_shown(errors, |shown| {
                shown.unsaved = Some(typed.clone());
                shown.addendum = typed;
            });
            let page = encounter_page(tx, &permissions, nav, id, shown, now).await?;
            Ok((status, page).into_response())
        },
    )
    .await?;
    Ok(match saved {
        Outcome::Done(_) => {
            Redirect::to(&format!("/encounters/{id}?notice=addendum")).into_response()
        }
        Outcome::Refused(page) => page,
    })
}
