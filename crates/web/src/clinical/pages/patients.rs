//! The patient pages: the searchable list, the new-patient form, and the chart.
//!
//! The chart is the medical record on one screen (`chart::chart`, which audits the
//! view as a `read`). A member who may see patients but not medical records (the
//! front desk: `patients.read` without `records.read`) gets the same page with the
//! patient's facts and owners only; nothing clinical is read for them at all.

use super::list::{ListQuery, patient_row};
use crate::AppError;
use crate::clinical::views::{
    AllergyView, ChartPage, ClinicalView, OwnerView, PatientFacts, PatientForm, PatientFormPage,
    PatientsPage, PrescriptionView, ProblemView, TimelineRow, VaccinationDue,
};
use crate::clinical::weight_chart::{kilograms, weight_chart};
use crate::context::PageId;
use crate::context::{CsrfForm, Page};
use crate::form::{FieldMessages, Pairs};
use crate::form::{Outcome, submit};
use crate::format::local_time;
use crate::format::{age, capitalised, day_short, words};
use crate::input::optional_text;
use crate::layout::Nav;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::NaiveDate;
use paddock_domain::field::bounded_text;
use paddock_domain::{
    ClientId, DateOfBirth, EncounterStatus, Microchip, PatientId, PatientSex, Permission,
    PracticeZone, PrescriptionStatus, ProblemStatus, WeightKg,
};
use paddock_store::clinical::chart::{self, Chart};
use paddock_store::clinical::patients::{self, Owner, Patient, PatientDetails, Standing};
use paddock_store::clinical::record::{Allergy, Vitals};
use paddock_store::{StoreError, TenantTx, clinical::clients};
use serde::Deserialize;
use uuid::Uuid;

/// `GET /patients`: a page of patients by name, optionally matching `q` (the patient's
/// name or microchip, or an owner's name, email or phone).
pub(crate) async fn list_page(
    Page { ctx, nav }: Page,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, AppError> {
    let (listing, paging) = ListQuery::parse(&Pairs::new(query));
    let permissions = ctx.principal.permissions();
    let can_write = permissions.contains(Permission::PatientsWrite);
    let read_clients = permissions.contains(Permission::ClientsRead);
    let nav = nav.at("patients");
    let found = match paging {
        Ok((cursor, limit)) => {
            ctx.run(async |tx| patients::search(tx, listing.search(), limit, cursor.as_ref()).await)
                .await?
        }
        Err(errors) => {
            // Refused before any work: the page's statement never runs.
            ctx.require(Permission::PatientsRead)?;
            let body = PatientsPage {
                nav,
                q: listing.q,
                rows: Vec::new(),
                errors: errors.summary(),
                next_href: None,
                first_href: None,
                can_write,
            };
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, body).into_response());
        }
    };
    let (next_href, first_href) = listing.links("/patients", found.next_cursor.as_deref());
    Ok(PatientsPage {
        nav,
        q: listing.q,
        rows: found
            .items
            .into_iter()
            .map(|p| patient_row(p, read_clients))
            .collect(),
        errors: Vec::new(),
        next_href,
        first_href,
        can_write,
    }
    .into_response())
}

/// `GET /patients/new?owner={client}`: the empty form, for that owner when given.
pub(crate) async fn new_page(
    Page { ctx, nav }: Page,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, AppError> {
    // No store call checks it for an empty form.
    ctx.require(Permission::PatientsWrite)?;
    let pairs = Pairs::new(query);
    let form = PatientForm {
        owner_id: pairs.text("owner"),
        sex: PatientSex::Unknown.as_str().to_owned(),
        ..PatientForm::default()
    };
    let read_clients = reads_clients(&ctx);
    ctx.run(async |tx| {
        form_page(
            tx,
            nav,
            read_clients,
            form,
            FieldMessages::none(),
            StatusCode::OK,
        )
        .await
    })
    .await
}

/// Whether the member may read clients (so the form can name the owner).
fn reads_clients(ctx: &crate::context::Ctx) -> bool {
    ctx.principal
        .permissions()
        .contains(Permission::ClientsRead)
}

/// The form, read in `tx`: the owner is named when the id is a client the member may
/// read; otherwise the id stays an editable field (with its message, if refused).
async fn form_page(
    tx: &mut TenantTx,
    nav: Nav,
    read_clients: bool,
    mut form: PatientForm,
    errors: FieldMessages,
    status: StatusCode,
) -> Result<Response, StoreError> {
    form.owner_name = None;
    if errors.get("owner_id").is_none()
        && read_clients
        && let Ok(owner) = ClientId::parse("owner_id", &form.owner_id)
    {
        match clients::get(tx, owner).await {
            Ok(client) => form.owner_name = Some(client.full_name()),
            Err(StoreError::NotFound(_)) => {}
            Err(other) => return Err(other),
        }
    }
    let sexes = PatientSex::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), capitalised(&words(s.as_str()))))
        .collect();
    Ok((
        status,
        PatientFormPage {
            nav: nav.at("patients"),
            form,
            sexes,
            errors,
        },
    )
        .into_response())
}

/// The new-patient form as posted.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct PatientInput {
    owner_id: String,
    name: String,
    species: String,
    breed: String,
    sex: String,
    date_of_birth: String,
    dob_estimated: Option<String>,
    colour: String,
    microchip: String,
    insurer: String,
    insurance_policy: String,
}

impl PatientInput {
    fn into_form(self) -> PatientForm {
        PatientForm {
            owner_id: self.owner_id,
            owner_name: None,
            name: self.name,
            species: self.species,
            breed: self.breed,
            sex: self.sex,
            date_of_birth: self.date_of_birth,
            dob_estimated: self.dob_estimated.is_some(),
            colour: self.colour,
            microchip: self.microchip,
            insurer: self.insurer,
            insurance_policy: self.insurance_policy,
        }
    }
}

/// The patient and its owner a form describes, or every field's message.
fn parse_patient(
    form: &PatientForm,
    today: NaiveDate,
) -> Result<(PatientDetails, ClientId), FieldMessages> {
    let mut errors = FieldMessages::none();
    let owner = errors.check(
        Uuid::parse_str(form.owner_id.trim())
            .map(ClientId::from_uuid)
            .map_err(|_| paddock_domain::FieldError::new("owner_id", "must be a client's id")),
    );
    let name = errors.check(bounded_text("name", &form.name, 1, 100));
    let species = errors.check(bounded_text("species", &form.species, 1, 60));
    let breed = errors.check(optional_text("breed", &form.breed, 100));
    let sex = errors.check(PatientSex::parse("sex", &form.sex));
    let date_of_birth = if form.date_of_birth.trim().is_empty() {
        if form.dob_estimated {
            errors.add("date_of_birth", "is needed when it is an estimate");
        }
        Some(None)
    } else {
        errors
            .check(DateOfBirth::parse(
                "date_of_birth",
                &form.date_of_birth,
                form.dob_estimated,
                today,
            ))
            .map(Some)
    };
    let colour = errors.check(optional_text("colour", &form.colour, 100));
    let microchip = if form.microchip.trim().is_empty() {
        Some(None)
    } else {
        errors
            .check(Microchip::parse("microchip", &form.microchip))
            .map(Some)
    };
    let insurer = errors.check(optional_text("insurer", &form.insurer, 100));
    let insurance_policy = errors.check(optional_text(
        "insurance_policy",
        &form.insurance_policy,
        100,
    ));
    match (
        owner,
        name,
        species,
        breed,
        sex,
        date_of_birth,
        colour,
        microchip,
        insurer,
        insurance_policy,
    ) {
        (
            Some(owner),
            Some(name),
            Some(species),
            Some(breed),
            Some(sex),
            Some(date_of_birth),
            Some(colour),
            Some(microchip),
            Some(insurer),
            Some(insurance_policy),
        ) if errors.is_empty() => Ok((
            PatientDetails {
                name,
                species,
                breed,
                sex,
                date_of_birth,
                colour,
                microchip,
                insurer,
                insurance_policy,
                standing: Standing::Active,
            },
            owner,
        )),
        _ => Err(errors),
    }
}

/// `POST /patients`: registers the patient with its (primary) owner and opens it.
pub(crate) async fn create_submit(
    Page { ctx, nav }: Page,
    CsrfForm(input): CsrfForm<PatientInput>,
) -> Result<Response, AppError> {
    let form = input.into_form();
    let today = nav.zone.date_of(ctx.now());
    let read_clients = reads_clients(&ctx);
    let (details, owner) = match parse_patient(&form, today) {
        Ok(parsed) => parsed,
        Err(errors) => {
            // Refused before the store call that would check it.
            ctx.require(Permission::PatientsWrite)?;
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return ctx
                .run(async |tx| form_page(tx, nav, read_clients, form, errors, status).await)
                .await;
        }
    };
    let saved = submit(
        ctx,
        &[("client", "owner_id")],
        async |tx| patients::create(tx, &details, &[(owner, true)]).await,
        async |tx, status, errors| form_page(tx, nav, read_clients, form, errors, status).await,
    )
    .await?;
    match saved {
        Outcome::Done(patient) => {
            Ok(Redirect::to(&format!("/patients/{}", patient.id)).into_response())
        }
        Outcome::Refused(page) => Ok(page),
    }
}

/// `GET /patients/{id}`: the chart, or the patient's facts only for a member without
/// `records.read`. "Today" (ages, overdue vaccinations) is the practice's date.
pub(crate) async fn chart_page(
    Page { ctx, nav }: Page,
    PageId(id): PageId<PatientId>,
) -> Result<Response, AppError> {
    let zone = nav.zone;
    let today = zone.date_of(ctx.now());
    let permissions = ctx.principal.permissions();
    let read_records = permissions.contains(Permission::RecordsRead);
    let read_clients = permissions.contains(Permission::ClientsRead);
    let can_write_records = permissions.contains(Permission::RecordsWrite);
    let can_book = permissions.contains(Permission::AppointmentsWrite);
    let (patient, owners, clinical) = ctx
        .run(async |tx| {
            if read_records {
                let chart = chart::chart(tx, id, today).await?;
                let clinical = clinical_view(&chart, &zone, today);
                Ok((chart.patient, chart.owners, Some(clinical)))
            } else {
                let patient = patients::get(tx, id).await?;
                let owners = if read_clients {
                    patients::owners(tx, id).await?
                } else {
                    Vec::new()
                };
                Ok((patient, owners, None))
            }
        })
        .await?;
    Ok(ChartPage {
        nav: nav.at("patients"),
        patient: facts(&patient, today),
        owners: owners.into_iter().map(owner_view).collect(),
        can_write_records,
        can_book,
        clinical,
    }
    .into_response())
}

/// The facts that head every page about a patient.
pub(super) fn facts(p: &Patient, today: NaiveDate) -> PatientFacts {
    let age_text = p
        .date_of_birth
        .map(|born| {
            let years = age(born, today);
            if p.dob_estimated && !years.is_empty() {
                format!("about {years}")
            } else {
                years
            }
        })
        .unwrap_or_default();
    PatientFacts {
        id: p.id.as_uuid(),
        name: p.name.clone(),
        species: p.species.clone(),
        breed: p.breed.clone().unwrap_or_default(),
        sex: p.sex.label(),
        age: age_text,
        date_of_birth: p
            .date_of_birth
            .map(|born| {
                let day = day_short(born);
                if p.dob_estimated {
                    format!("born about {day}")
                } else {
                    format!("born {day}")
                }
            })
            .unwrap_or_default(),
        colour: p.colour.clone().unwrap_or_default(),
        microchip: p.microchip.clone().unwrap_or_default(),
        insurer: p.insurer.clone().unwrap_or_default(),
        insurance_policy: p.insurance_policy.clone().unwrap_or_default(),
        status: p.status.to_string(),
        deceased_on: p.deceased_on.map(day_short).unwrap_or_default(),
    }
}

fn owner_view(owner: Owner) -> OwnerView {
    let c = owner.client;
    OwnerView {
        name: c.full_name(),
        href: format!("/clients/{}", c.id),
        primary: owner.primary,
        phone: c.mobile.or(c.phone).unwrap_or_default(),
        email: c.email.unwrap_or_default(),
    }
}

/// The allergies that still apply, most severe first (the store's order).
pub(super) fn active_allergies(allergies: &[Allergy]) -> Vec<AllergyView> {
    allergies
        .iter()
        .filter(|a| a.active)
        .map(|a| AllergyView {
            substance: a.substance.clone(),
            reaction: a.reaction.clone().unwrap_or_default(),
            severity: a.severity.label(),
            severity_code: a.severity.as_str().to_owned(),
        })
        .collect()
}

/// Vital signs with their weight parsed; a stored weight always parses, but one that
/// did not would only be left off the graph, never break the chart.
pub(super) fn weight_of(v: &Vitals) -> Option<WeightKg> {
    v.weight_kg
        .as_deref()
        .and_then(|kg| WeightKg::parse("weight_kg", kg).ok())
}

/// A stored temperature ("38.50") as people write it ("38.5 °C").
pub(super) fn temperature_text(raw: &str) -> String {
    let trimmed = if raw.contains('.') {
        raw.trim_end_matches('0').trim_end_matches('.')
    } else {
        raw
    };
    format!("{trimmed} °C")
}

fn clinical_view(chart: &Chart, zone: &PracticeZone, today: NaiveDate) -> ClinicalView {
    let weighings: Vec<_> = chart
        .vitals
        .iter()
        .filter_map(|v| weight_of(v).map(|w| (v.recorded_at, w)))
        .collect();
    let latest_weight = weighings
        .iter()
        .max_by_key(|(at, _)| *at)
        .map(|(at, w)| {
            format!(
                "{} kg on {}",
                kilograms(w.grams()),
                day_short(zone.date_of(*at))
            )
        })
        .unwrap_or_default();
    let latest_temperature = chart
        .vitals
        .iter()
        .filter_map(|v| v.temperature_c.as_deref().map(|t| (v.recorded_at, t)))
        .max_by_key(|(at, _)| *at)
        .map(|(at, t)| format!("{} on {}", temperature_text(t), day_short(zone.date_of(at))))
        .unwrap_or_default();
    ClinicalView {
        allergies: active_allergies(&chart.allergies),
        vaccinations_due: chart
            .vaccinations_due
            .iter()
            .filter_map(|v| {
                let due = v.next_due_on?;
                Some(VaccinationDue {
                    vaccine: v.vaccine.clone(),
                    due_on: day_short(due),
                    overdue: due < today,
                    last_given: day_short(v.given_on),
                })
            })
            .collect(),
        problems: chart
            .problems
            .iter()
            .filter(|p| p.status == ProblemStatus::Active)
            .map(|p| ProblemView {
                description: p.description.clone(),
                kind: p.kind.as_str().to_owned(),
                code: match (&p.code_system, &p.code) {
                    (Some(system), Some(code)) => {
                        format!("{} {code}", system.as_str().to_uppercase())
                    }
                    _ => String::new(),
                },
                onset_on: p.onset_on.map(day_short).unwrap_or_default(),
            })
            .collect(),
        prescriptions: chart
            .prescriptions
            .iter()
            .filter(|r| r.status == PrescriptionStatus::Active)
            .map(|r| {
                let mut directions = format!("{} {}, {}", r.dose, r.route.label(), r.frequency);
                if let Some(days) = r.duration_days {
                    directions
                        .push_str(&format!(", {days} day{}", if days == 1 { "" } else { "s" }));
                }
                PrescriptionView {
                    drug: r.drug.clone(),
                    directions,
                    prescriber: r.prescriber_name.clone().unwrap_or_default(),
                    starts_on: day_short(r.starts_on),
                    notes: r.notes.clone().unwrap_or_default(),
                }
            })
            .collect(),
        weight: weight_chart(zone, &weighings),
        latest_weight,
        latest_temperature,
        timeline: chart
            .encounters
            .iter()
            .map(|e| TimelineRow {
                id: e.id.as_uuid(),
                started: local_time(zone, e.started_at),
                started_iso: e.started_at.to_rfc3339(),
                kind: capitalised(&e.kind.label()),
                reason: e.reason.clone().unwrap_or_default(),
                vet: e.attending_name.clone().unwrap_or_default(),
                finalised: e.status == EncounterStatus::Finalised,
                summary: summary_of(&e.soap.assessment)
                    .or_else(|| summary_of(&e.soap.subjective))
                    .unwrap_or_default(),
            })
            .collect(),
    }
}

/// The first line of a note, cut to a glance.
fn summary_of(note: &str) -> Option<String> {
    const MAX: usize = 140;
    let line = note.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(if line.chars().count() > MAX {
        line.chars().take(MAX).chain(['…']).collect()
    } else {
        line.to_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temperatures_drop_trailing_zeros() {
        assert_eq!(temperature_text("38.50"), "38.5 °C");
        assert_eq!(temperature_text("39.0"), "39 °C");
        assert_eq!(temperature_text("40"), "40 °C");
    }

    #[test]
    fn a_summary_is_the_first_non_empty_line_cut_short() {
        assert_eq!(
            summary_of("\n  Otitis externa\nmore"),
            Some("Otitis externa".into())
        );
        assert_eq!(summary_of("  \n "), None);
        let long = "x".repeat(300);
        assert_eq!(summary_of(&long).unwrap().chars().count(), 141);
    }
}
