//! The rest of the medical record: vital signs (the weight history), problems and
//! diagnoses, allergies, prescriptions and vaccinations.
//!
//! Writing needs `records.write` (vets and technicians); reading needs
//! `records.read` and goes through [`crate::clinical::chart`], which records each view. Vital signs and vaccinations are never rewritten (the app role may
//! only insert them); problems, allergies and prescriptions change status.
//!
//! An entry may name the encounter it belongs to only while that encounter is open:
//! a finalised one (or one past its editing period) answers [`StoreError::Locked`],
//! as an edit would; later findings go in an addendum or stand on their own. Each
//! entry's day must fall within the patient's life, and the members it names must be
//! able to do what it says (a vet prescribes, a clinician gives a vaccine).

use crate::row::OptionalUuid;
use crate::staff::members::{Duty, require_duty};
use crate::{StoreError, TenantTx};
use chrono::{DateTime, NaiveDate, Utc};
use paddock_domain::patient::within_life;
use paddock_domain::{
    AllergyId, AllergySeverity, CodeSystem, EncounterId, PatientId, PerMinute, Permission,
    PrescriptionId, PrescriptionStatus, ProblemId, ProblemKind, ProblemStatus, Route, TemperatureC,
    UserId, VaccinationId, VitalSignsId, WeightKg,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// Vital signs taken at one time; at least one is present.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVitals {
    /// The encounter they were taken in, if any.
    pub encounter_id: Option<EncounterId>,
    /// When they were taken.
    pub recorded_at: DateTime<Utc>,
    /// Body weight.
    pub weight: Option<WeightKg>,
    /// Temperature.
    pub temperature: Option<TemperatureC>,
    /// Heart rate.
    pub heart_rate: Option<PerMinute>,
    /// Respiratory rate.
    pub respiratory_rate: Option<PerMinute>,
}

/// Vital signs as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, sqlx::FromRow)]
pub struct Vitals {
    /// Its id.
    #[sqlx(try_from = "Uuid")]
    #[schema(value_type = Uuid)]
    pub id: VitalSignsId,
    /// The encounter, if any.
    #[sqlx(try_from = "OptionalUuid")]
    #[schema(value_type = Option<Uuid>)]
    pub encounter_id: Option<EncounterId>,
    /// When they were taken.
    pub recorded_at: DateTime<Utc>,
    /// Weight in kilograms, as a decimal string ("4.250").
    pub weight_kg: Option<String>,
    /// Temperature in °C ("38.5").
    pub temperature_c: Option<String>,
    /// Beats per minute.
    pub heart_rate: Option<i32>,
    /// Breaths per minute.
    pub respiratory_rate: Option<i32>,
    /// Who recorded them.
    #[sqlx(try_from = "OptionalUuid")]
    #[schema(value_type = Option<Uuid>)]
    pub created_by: Option<UserId>,
}

/// Records vital signs for a live patient.
pub async fn record_vitals(
    tx: &mut TenantTx,
    patient: PatientId,
    new: &NewVitals,
) -> Result<Vitals, StoreError> {
    tx.require(Permission::RecordsWrite)?;
    let day = new.recorded_at.date_naive();
    check_entry(tx, patient, Some(("recorded_at", day)), new.encounter_id).await?;
    let id = VitalSignsId::new().as_uuid();
    sqlx::query(
        "insert into vital_signs (practice_id, id, patient_id, encounter_id, recorded_at, weight_kg,
                                  temperature_c, heart_rate, respiratory_rate)
         values ($1, $2, $3, $4, $5, $6::numeric / 1000, $7::numeric / 10, $8, $9)",
    )
    .bind(tx.practice_id().as_uuid())
    .bind(id)
    .bind(patient.as_uuid())
    .bind(new.encounter_id.map(|e| e.as_uuid()))
    .bind(new.recorded_at)
    .bind(new.weight.map(|w| i64::from(w.grams())))
    .bind(new.temperature.map(|t| i64::from(t.tenths())))
    .bind(new.heart_rate.map(|r| i32::from(r.get())))
    .bind(new.respiratory_rate.map(|r| i32::from(r.get())))
    .execute(tx.conn())
    .await?;
    let mut all = vitals_where(tx, "id = $1", id).await?;
    all.pop().ok_or(StoreError::NotFound("vital signs"))
}

/// What every entry of the record is checked for before it is written: the patient is
/// live, the entry's day (`day`: its field and date, when it has one) falls within
/// the patient's life, and the encounter it names is this patient's and still open.
async fn check_entry(
    tx: &mut TenantTx,
    patient: PatientId,
    day: Option<(&str, NaiveDate)>,
    encounter: Option<EncounterId>,
) -> Result<(), StoreError> {
    let born = crate::clinical::patients::fetch(tx, patient)
        .await?
        .date_of_birth;
    if let Some((field, day)) = day {
        within_life(field, day, born)?;
    }
    check_encounter(tx, patient, encounter).await
}

/// An encounter named by a clinical entry must be this patient's, and still open (the
/// database's `linked_record_needs_open_encounter` trigger holds the same rule).
async fn check_encounter(
    tx: &mut TenantTx,
    patient: PatientId,
    encounter: Option<EncounterId>,
) -> Result<(), StoreError> {
    let Some(encounter) = encounter else {
        return Ok(());
    };
    let open: Option<bool> = sqlx::query_scalar(
        "select status = 'open' and lock_after > now() from encounters
          where id = $1 and patient_id = $2",
    )
    .bind(encounter.as_uuid())
    .bind(patient.as_uuid())
    .fetch_optional(tx.conn())
    .await?;
    match open {
        Some(true) => Ok(()),
        Some(false) => Err(StoreError::Locked(
            "the encounter is finalised (or past its editing period); add an addendum instead",
        )),
        None => Err(paddock_domain::FieldError::new(
            "encounter_id",
            "is not an encounter of this patient",
        )
        .into()),
    }
}

async fn vitals_where(
    tx: &mut TenantTx,
    filter: &str,
    id: Uuid,
) -> Result<Vec<Vitals>, StoreError> {
    Ok(sqlx::query_as(&format!(
        "select id, encounter_id, recorded_at, weight_kg::text as weight_kg,
                temperature_c::text as temperature_c, heart_rate, respiratory_rate, created_by
           from vital_signs where {filter} order by recorded_at, id"
    ))
    .bind(id)
    .fetch_all(tx.conn())
    .await?)
}

/// The patient's vital signs, oldest first (the weight chart reads them in order).
pub(crate) async fn vitals(
    tx: &mut TenantTx,
    patient: PatientId,
) -> Result<Vec<Vitals>, StoreError> {
    tx.require(Permission::RecordsRead)?;
    vitals_where(tx, "patient_id = $1", patient.as_uuid()).await
}

/// A new problem-list entry or diagnosis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProblem {
    /// The encounter it was recorded in.
    pub encounter_id: Option<EncounterId>,
    /// Problem or diagnosis.
    pub kind: ProblemKind,
    /// Free text.
    pub description: String,
    /// An optional coded term.
    pub code: Option<(CodeSystem, String)>,
    /// When it began.
    pub onset_on: Option<NaiveDate>,
}

/// A problem or diagnosis as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, sqlx::FromRow)]
pub struct Problem {
    /// Its id.
    #[sqlx(try_from = "Uuid")]
    #[schema(value_type = Uuid)]
    pub id: ProblemId,
    /// The encounter it was recorded in.
    #[sqlx(try_from = "OptionalUuid")]
    #[schema(value_type = Option<Uuid>)]
    pub encounter_id: Option<EncounterId>,
    /// `problem` or `diagnosis`.
    #[sqlx(try_from = "String")]
    #[schema(value_type = String)]
    pub kind: ProblemKind,
    /// Free text.
    pub description: String,
    /// `venom` or `snomed`.
    #[sqlx(try_from = "OptionalCode")]
    #[schema(value_type = Option<String>)]
    pub code_system: Option<CodeSystem>,
    /// The code.
    pub code: Option<String>,
    /// `active` or `resolved`.
    #[sqlx(try_from = "String")]
    #[schema(value_type = String)]
    pub status: ProblemStatus,
    /// When it began.
    pub onset_on: Option<NaiveDate>,
    /// When it resolved.
    pub resolved_on: Option<NaiveDate>,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
}

/// A nullable code column (a problem's code system), read into `Option` of its enum
/// (like `OptionalUuid` for ids).
struct OptionalCode(Option<String>);

impl sqlx::Type<sqlx::Postgres> for OptionalCode {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <String as sqlx::Type<sqlx::Postgres>>::type_info()
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Postgres> for OptionalCode {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(Self(<Option<String> as sqlx::Decode<
            'r,
            sqlx::Postgres,
        >>::decode(value)?))
    }
}

impl TryFrom<OptionalCode> for Option<CodeSystem> {
    type Error = paddock_domain::FieldError;

    fn try_from(column: OptionalCode) -> Result<Self, Self::Error> {
        column.0.map(CodeSystem::try_from).transpose()
    }
}

const PROBLEM_COLUMNS: &str = "id, encounter_id, kind, description, code_system, code, status, onset_on, resolved_on, created_at";

/// Adds a problem or diagnosis.
pub async fn add_problem(
    tx: &mut TenantTx,
    patient: PatientId,
    new: &NewProblem,
) -> Result<Problem, StoreError> {
    tx.require(Permission::RecordsWrite)?;
    let onset = new.onset_on.map(|day| ("onset_on", day));
    check_entry(tx, patient, onset, new.encounter_id).await?;
    Ok(sqlx::query_as(&format!(
        "insert into problems (practice_id, id, patient_id, encounter_id, kind, description, code_system,
                               code, onset_on)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9) returning {PROBLEM_COLUMNS}"
    ))
    .bind(tx.practice_id().as_uuid())
    .bind(ProblemId::new().as_uuid())
    .bind(patient.as_uuid())
    .bind(new.encounter_id.map(|e| e.as_uuid()))
    .bind(new.kind.as_str())
    .bind(&new.description)
    .bind(new.code.as_ref().map(|(system, _)| system.as_str()))
    .bind(new.code.as_ref().map(|(_, code)| code.as_str()))
    .bind(new.onset_on)
    .fetch_one(tx.conn())
    .await?)
}

/// Marks a problem resolved on `day`.
pub async fn resolve_problem(
    tx: &mut TenantTx,
    patient: PatientId,
    id: ProblemId,
    day: NaiveDate,
) -> Result<Problem, StoreError> {
    tx.require(Permission::RecordsWrite)?;
    check_entry(tx, patient, Some(("resolved_on", day)), None).await?;
    sqlx::query_as(&format!(
        "update problems set status = 'resolved', resolved_on = $3
          where id = $1 and patient_id = $2 and status = 'active' returning {PROBLEM_COLUMNS}"
    ))
    .bind(id.as_uuid())
    .bind(patient.as_uuid())
    .bind(day)
    .fetch_optional(tx.conn())
    .await?
    .ok_or(StoreError::NotFound("problem"))
}

/// The patient's problems and diagnoses, active first.
pub(crate) async fn problems(
    tx: &mut TenantTx,
    patient: PatientId,
) -> Result<Vec<Problem>, StoreError> {
    tx.require(Permission::RecordsRead)?;
    Ok(sqlx::query_as(&format!(
        "select {PROBLEM_COLUMNS} from problems where patient_id = $1
          order by status, created_at desc"
    ))
    .bind(patient.as_uuid())
    .fetch_all(tx.conn())
    .await?)
}

/// A new allergy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAllergy {
    /// What the patient reacts to.
    pub substance: String,
    /// How it reacts.
    pub reaction: Option<String>,
    /// How badly.
    pub severity: AllergySeverity,
}

/// An allergy as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, sqlx::FromRow)]
pub struct Allergy {
    /// Its id.
    #[sqlx(try_from = "Uuid")]
    #[schema(value_type = Uuid)]
    pub id: AllergyId,
    /// What the patient reacts to.
    pub substance: String,
    /// How it reacts.
    pub reaction: Option<String>,
    /// `mild`, `moderate`, `severe` or `life_threatening`.
    #[sqlx(try_from = "String")]
    #[schema(value_type = String)]
    pub severity: AllergySeverity,
    /// Whether it still applies.
    pub active: bool,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
}

const ALLERGY_COLUMNS: &str = "id, substance, reaction, severity, active, created_at";

/// Records an allergy.
pub async fn add_allergy(
    tx: &mut TenantTx,
    patient: PatientId,
    new: &NewAllergy,
) -> Result<Allergy, StoreError> {
    tx.require(Permission::RecordsWrite)?;
    crate::clinical::patients::fetch(tx, patient).await?;
    Ok(sqlx::query_as(&format!(
        "insert into allergies (practice_id, id, patient_id, substance, reaction, severity)
         values ($1, $2, $3, $4, $5, $6) returning {ALLERGY_COLUMNS}"
    ))
    .bind(tx.practice_id().as_uuid())
    .bind(AllergyId::new().as_uuid())
    .bind(patient.as_uuid())
    .bind(&new.substance)
    .bind(&new.reaction)
    .bind(new.severity.as_str())
    .fetch_one(tx.conn())
    .await?)
}

/// Marks an allergy as no longer applying (it stays in the record).
pub async fn retire_allergy(
    tx: &mut TenantTx,
    patient: PatientId,
    id: AllergyId,
) -> Result<Allergy, StoreError> {
    tx.require(Permission::RecordsWrite)?;
    sqlx::query_as(&format!(
        "update allergies set active = false where id = $1 and patient_id = $2 and active
         returning {ALLERGY_COLUMNS}"
    ))
    .bind(id.as_uuid())
    .bind(patient.as_uuid())
    .fetch_optional(tx.conn())
    .await?
    .ok_or(StoreError::NotFound("allergy"))
}

/// The patient's allergies, active and most severe first.
pub(crate) async fn allergies(
    tx: &mut TenantTx,
    patient: PatientId,
) -> Result<Vec<Allergy>, StoreError> {
    tx.require(Permission::RecordsRead)?;
    Ok(sqlx::query_as(&format!(
        "select {ALLERGY_COLUMNS} from allergies where patient_id = $1
          order by active desc,
                   array_position(array['life_threatening', 'severe', 'moderate', 'mild'], severity),
                   created_at"
    ))
    .bind(patient.as_uuid())
    .fetch_all(tx.conn())
    .await?)
}

/// A new prescription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPrescription {
    /// The encounter it was written in.
    pub encounter_id: Option<EncounterId>,
    /// The drug (name and strength).
    pub drug: String,
    /// The dose ("1 tablet", "0.5 ml").
    pub dose: String,
    /// How it is given.
    pub route: Route,
    /// How often ("twice daily").
    pub frequency: String,
    /// For how many days.
    pub duration_days: Option<u16>,
    /// The prescribing vet.
    pub prescriber: UserId,
    /// The first day.
    pub starts_on: NaiveDate,
    /// Instructions.
    pub notes: Option<String>,
}

/// A prescription as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, sqlx::FromRow)]
pub struct Prescription {
    /// Its id.
    #[sqlx(try_from = "Uuid")]
    #[schema(value_type = Uuid)]
    pub id: PrescriptionId,
    /// The encounter.
    #[sqlx(try_from = "OptionalUuid")]
    #[schema(value_type = Option<Uuid>)]
    pub encounter_id: Option<EncounterId>,
    /// The drug.
    pub drug: String,
    /// The dose.
    pub dose: String,
    /// The route.
    #[sqlx(try_from = "String")]
    #[schema(value_type = String)]
    pub route: Route,
    /// How often.
    pub frequency: String,
    /// For how many days.
    pub duration_days: Option<i32>,
    /// The prescribing vet.
    #[sqlx(try_from = "Uuid")]
    #[schema(value_type = Uuid)]
    pub prescriber_id: UserId,
    /// Their name.
    pub prescriber_name: Option<String>,
    /// The first day.
    pub starts_on: NaiveDate,
    /// `active`, `completed` or `stopped`.
    #[sqlx(try_from = "String")]
    #[schema(value_type = String)]
    pub status: PrescriptionStatus,
    /// Instructions.
    pub notes: Option<String>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
}

const PRESCRIPTION_SELECT: &str =
    "select r.id, r.encounter_id, r.drug, r.dose, r.route, r.frequency,
        r.duration_days, r.prescriber_id, u.display_name as prescriber_name, r.starts_on, r.status,
        r.notes, r.created_at
   from prescriptions r left join users u on u.id = r.prescriber_id";

/// Writes a prescription (the prescriber must be an active vet of the practice).
pub async fn prescribe(
    tx: &mut TenantTx,
    patient: PatientId,
    new: &NewPrescription,
) -> Result<Prescription, StoreError> {
    tx.require(Permission::RecordsWrite)?;
    let starts = Some(("starts_on", new.starts_on));
    check_entry(tx, patient, starts, new.encounter_id).await?;
    require_duty(tx, new.prescriber, Duty::Prescriber, "prescriber_id").await?;
    let id = PrescriptionId::new();
    sqlx::query(
        "insert into prescriptions (practice_id, id, patient_id, encounter_id, drug, dose, route,
                                    frequency, duration_days, prescriber_id, starts_on, notes)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(tx.practice_id().as_uuid())
    .bind(id.as_uuid())
    .bind(patient.as_uuid())
    .bind(new.encounter_id.map(|e| e.as_uuid()))
    .bind(&new.drug)
    .bind(&new.dose)
    .bind(new.route.as_str())
    .bind(&new.frequency)
    .bind(new.duration_days.map(i32::from))
    .bind(new.prescriber.as_uuid())
    .bind(new.starts_on)
    .bind(&new.notes)
    .execute(tx.conn())
    .await?;
    prescription(tx, id).await
}

async fn prescription(tx: &mut TenantTx, id: PrescriptionId) -> Result<Prescription, StoreError> {
    sqlx::query_as(&format!("{PRESCRIPTION_SELECT} where r.id = $1"))
        .bind(id.as_uuid())
        .fetch_optional(tx.conn())
        .await?
        .ok_or(StoreError::NotFound("prescription"))
}

/// Completes or stops a prescription.
pub async fn set_prescription_status(
    tx: &mut TenantTx,
    patient: PatientId,
    id: PrescriptionId,
    status: PrescriptionStatus,
) -> Result<Prescription, StoreError> {
    tx.require(Permission::RecordsWrite)?;
    let updated =
        sqlx::query("update prescriptions set status = $3 where id = $1 and patient_id = $2")
            .bind(id.as_uuid())
            .bind(patient.as_uuid())
            .bind(status.as_str())
            .execute(tx.conn())
            .await?
            .rows_affected();
    if updated == 0 {
        return Err(StoreError::NotFound("prescription"));
    }
    prescription(tx, id).await
}

/// The patient's prescriptions, current first, newest first.
pub(crate) async fn prescriptions(
    tx: &mut TenantTx,
    patient: PatientId,
) -> Result<Vec<Prescription>, StoreError> {
    tx.require(Permission::RecordsRead)?;
    Ok(sqlx::query_as(&format!(
        "{PRESCRIPTION_SELECT} where r.patient_id = $1
          order by r.status = 'active' desc, r.starts_on desc, r.id desc"
    ))
    .bind(patient.as_uuid())
    .fetch_all(tx.conn())
    .await?)
}

/// A vaccination given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVaccination {
    /// The encounter it was given in.
    pub encounter_id: Option<EncounterId>,
    /// The vaccine (product name).
    pub vaccine: String,
    /// Its manufacturer.
    pub manufacturer: Option<String>,
    /// Lot or serial number.
    pub lot_number: String,
    /// When the lot expires.
    pub lot_expires_on: Option<NaiveDate>,
    /// The day it was given.
    pub given_on: NaiveDate,
    /// When the next dose is due.
    pub next_due_on: Option<NaiveDate>,
    /// Who gave it.
    pub administered_by: UserId,
    /// Rabies tag number.
    pub rabies_tag: Option<String>,
}

/// A vaccination as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, sqlx::FromRow)]
pub struct Vaccination {
    /// Its id.
    #[sqlx(try_from = "Uuid")]
    #[schema(value_type = Uuid)]
    pub id: VaccinationId,
    /// The encounter.
    #[sqlx(try_from = "OptionalUuid")]
    #[schema(value_type = Option<Uuid>)]
    pub encounter_id: Option<EncounterId>,
    /// The vaccine.
    pub vaccine: String,
    /// Its manufacturer.
    pub manufacturer: Option<String>,
    /// Lot or serial number.
    pub lot_number: String,
    /// When the lot expires.
    pub lot_expires_on: Option<NaiveDate>,
    /// The day it was given.
    pub given_on: NaiveDate,
    /// When the next dose is due.
    pub next_due_on: Option<NaiveDate>,
    /// Who gave it.
    #[sqlx(try_from = "Uuid")]
    #[schema(value_type = Uuid)]
    pub administered_by: UserId,
    /// Their name.
    pub administered_by_name: Option<String>,
    /// Rabies tag number.
    pub rabies_tag: Option<String>,
}

const VACCINATION_SELECT: &str = "select v.id, v.encounter_id, v.vaccine, v.manufacturer,
        v.lot_number, v.lot_expires_on, v.given_on, v.next_due_on, v.administered_by,
        u.display_name as administered_by_name, v.rabies_tag
   from vaccinations v left join users u on u.id = v.administered_by";

/// Records a vaccination (a lot past its expiry on the day given is refused).
pub async fn vaccinate(
    tx: &mut TenantTx,
    patient: PatientId,
    new: &NewVaccination,
) -> Result<Vaccination, StoreError> {
    tx.require(Permission::RecordsWrite)?;
    let given = Some(("given_on", new.given_on));
    check_entry(tx, patient, given, new.encounter_id).await?;
    require_duty(tx, new.administered_by, Duty::Clinician, "administered_by").await?;
    if new
        .lot_expires_on
        .is_some_and(|expiry| expiry < new.given_on)
    {
        return Err(paddock_domain::FieldError::new(
            "lot_expires_on",
            "the lot had expired on the day it was given",
        )
        .into());
    }
    if new.next_due_on.is_some_and(|due| due <= new.given_on) {
        return Err(
            paddock_domain::FieldError::new("next_due_on", "must be after the day given").into(),
        );
    }
    let id = VaccinationId::new();
    sqlx::query(
        "insert into vaccinations (practice_id, id, patient_id, encounter_id, vaccine, manufacturer,
                                   lot_number, lot_expires_on, given_on, next_due_on, administered_by,
                                   rabies_tag)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(tx.practice_id().as_uuid())
    .bind(id.as_uuid())
    .bind(patient.as_uuid())
    .bind(new.encounter_id.map(|e| e.as_uuid()))
    .bind(&new.vaccine)
    .bind(&new.manufacturer)
    .bind(&new.lot_number)
    .bind(new.lot_expires_on)
    .bind(new.given_on)
    .bind(new.next_due_on)
    .bind(new.administered_by.as_uuid())
    .bind(&new.rabies_tag)
    .execute(tx.conn())
    .await?;
    sqlx::query_as(&format!("{VACCINATION_SELECT} where v.id = $1"))
        .bind(id.as_uuid())
        .fetch_optional(tx.conn())
        .await?
        .ok_or(StoreError::NotFound("vaccination"))
}

/// The patient's vaccinations, newest first.
pub(crate) async fn vaccinations(
    tx: &mut TenantTx,
    patient: PatientId,
) -> Result<Vec<Vaccination>, StoreError> {
    tx.require(Permission::RecordsRead)?;
    Ok(sqlx::query_as(&format!(
        "{VACCINATION_SELECT} where v.patient_id = $1 order by v.given_on desc, v.id desc"
    ))
    .bind(patient.as_uuid())
    .fetch_all(tx.conn())
    .await?)
}
