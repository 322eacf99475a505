//! Reading the medical record: the whole chart, read in one transaction and audited as
//! one `read` of the patient, and each part of it on its own (encounters, vitals,
//! problems, allergies, prescriptions, vaccinations), each audited as a `read` naming
//! the part. These are the only public readers of the record, so no caller can read it
//! without leaving the event.

use crate::audit::{AuditAction, AuditEvent, record};
use crate::clinical::encounters::{self, Encounter};
use crate::clinical::patients::{self, Owner, Patient};
use crate::clinical::record::{self, Allergy, Prescription, Problem, Vaccination, Vitals};
use crate::{StoreError, TenantTx};
use chrono::NaiveDate;
use paddock_domain::{PatientId, Permission};
use serde::Serialize;
use utoipa::ToSchema;

/// A patient's whole record.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Chart {
    /// The patient.
    pub patient: Patient,
    /// Its owners, primary first (empty without `clients.read`).
    pub owners: Vec<Owner>,
    /// Allergies, active and most severe first.
    pub allergies: Vec<Allergy>,
    /// Problems and diagnoses.
    pub problems: Vec<Problem>,
    /// Prescriptions, current first.
    pub prescriptions: Vec<Prescription>,
    /// Vaccinations, newest first.
    pub vaccinations: Vec<Vaccination>,
    /// Vaccines whose latest dose is due by the chart's horizon (30 days on).
    pub vaccinations_due: Vec<Vaccination>,
    /// Vital signs, oldest first.
    pub vitals: Vec<Vitals>,
    /// Encounters, newest first (notes included, addenda on the encounter itself).
    pub encounters: Vec<Encounter>,
}

/// Reads the chart of a live patient as of `today` (`records.read`); records the view.
pub async fn chart(
    tx: &mut TenantTx,
    patient: PatientId,
    today: NaiveDate,
) -> Result<Chart, StoreError> {
    tx.require(Permission::RecordsRead)?;
    let patient = patients::get(tx, patient).await?;
    let id = patient.id;
    let owners = if tx.require(Permission::ClientsRead).is_ok() {
        patients::owners(tx, patient.id).await?
    } else {
        Vec::new()
    };
    let vaccinations = record::vaccinations(tx, id).await?;
    let horizon = today + chrono::Duration::days(30);
    let mut seen = std::collections::HashSet::new();
    // Newest first, so the first dose seen of each vaccine is its latest.
    let vaccinations_due = vaccinations
        .iter()
        .filter(|v| seen.insert(v.vaccine.to_lowercase()))
        .filter(|v| v.next_due_on.is_some_and(|due| due <= horizon))
        .cloned()
        .collect();
    let chart = Chart {
        owners,
        allergies: record::allergies(tx, id).await?,
        problems: record::problems(tx, id).await?,
        prescriptions: record::prescriptions(tx, id).await?,
        vaccinations,
        vaccinations_due,
        vitals: record::vitals(tx, id).await?,
        encounters: encounters::of_patient(tx, id).await?,
        patient,
    };
    record_view(tx, id, "chart").await?;
    Ok(chart)
}

/// Records that the actor viewed `view` of `patient`'s record.
async fn record_view(tx: &mut TenantTx, patient: PatientId, view: &str) -> Result<(), StoreError> {
    let event = AuditEvent::on(AuditAction::Read, "patient", patient.as_uuid())
        .with_changes(serde_json::json!({ "view": view }));
    record(tx, event, None).await
}

/// Reads one part of a live patient's record (`records.read`; another practice's or a
/// deleted patient is not found) and records the view.
async fn part<T>(
    tx: &mut TenantTx,
    patient: PatientId,
    view: &str,
    read: impl AsyncFnOnce(&mut TenantTx) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    tx.require(Permission::RecordsRead)?;
    patients::get(tx, patient).await?;
    let found = read(tx).await?;
    record_view(tx, patient, view).await?;
    Ok(found)
}

/// The patient's encounters, newest first (without addenda).
pub async fn encounters(
    tx: &mut TenantTx,
    patient: PatientId,
) -> Result<Vec<Encounter>, StoreError> {
    part(tx, patient, "encounters", async |tx| {
        encounters::of_patient(tx, patient).await
    })
    .await
}

/// The patient's vital signs, oldest first.
pub async fn vitals(tx: &mut TenantTx, patient: PatientId) -> Result<Vec<Vitals>, StoreError> {
    part(tx, patient, "vitals", async |tx| {
        record::vitals(tx, patient).await
    })
    .await
}

/// The patient's problems and diagnoses, active first.
pub async fn problems(tx: &mut TenantTx, patient: PatientId) -> Result<Vec<Problem>, StoreError> {
    part(tx, patient, "problems", async |tx| {
        record::problems(tx, patient).await
    })
    .await
}

/// The patient's allergies, active and most severe first.
pub async fn allergies(tx: &mut TenantTx, patient: PatientId) -> Result<Vec<Allergy>, StoreError> {
    part(tx, patient, "allergies", async |tx| {
        record::allergies(tx, patient).await
    })
    .await
}

/// The patient's prescriptions, current first.
pub async fn prescriptions(
    tx: &mut TenantTx,
    patient: PatientId,
) -> Result<Vec<Prescription>, StoreError> {
    part(tx, patient, "prescriptions", async |tx| {
        record::prescriptions(tx, patient).await
    })
    .await
}

/// The patient's vaccinations, newest first.
pub async fn vaccinations(
    tx: &mut TenantTx,
    patient: PatientId,
) -> Result<Vec<Vaccination>, StoreError> {
    part(tx, patient, "vaccinations", async |tx| {
        record::vaccinations(tx, patient).await
    })
    .await
}
