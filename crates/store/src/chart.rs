//! The patient chart: everything a vet needs on one screen, read in one transaction
//! and audited as one `read` of the patient's medical record.

use crate::audit::{AuditEvent, record};
use crate::clinical::{self, Allergy, Prescription, Problem, Vaccination, Vitals};
use crate::encounters::{self, Encounter};
use crate::patients::{self, Owner, Patient};
use crate::{StoreError, TenantTx};
use chrono::NaiveDate;
use paddock_domain::Permission;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

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
    patient: Uuid,
    today: NaiveDate,
) -> Result<Chart, StoreError> {
    tx.require(Permission::RecordsRead)?;
    let patient = patients::get(tx, patient).await?;
    let id = patient.id;
    let owners = if tx.require(Permission::ClientsRead).is_ok() {
        patients::owners(tx, id).await?
    } else {
        Vec::new()
    };
    let vaccinations = clinical::vaccinations(tx, id).await?;
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
        allergies: clinical::allergies(tx, id).await?,
        problems: clinical::problems(tx, id).await?,
        prescriptions: clinical::prescriptions(tx, id).await?,
        vaccinations,
        vaccinations_due,
        vitals: clinical::vitals(tx, id).await?,
        encounters: encounters::of_patient(tx, id).await?,
        patient,
    };
    let event =
        AuditEvent::on("read", "patient", id).with_changes(serde_json::json!({"view": "chart"}));
    record(tx, event, None).await?;
    Ok(chart)
}
