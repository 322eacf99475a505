//! Encounters (visits) with SOAP notes, their locking, and addenda.
//!
//! An open encounter can be edited by anyone with `records.write` until someone with
//! `records.finalise` finalises it or its editing period (the practice's
//! `encounter_lock_hours`, default 24, from creation) passes; the server's record
//! clock then marks it finalised. The database enforces the lock (encounter_guard):
//! after it, the only change is an addendum, which names its author and time and
//! leaves the original as it was. Reading an encounter is itself audited (`read`).
//!
//! A write answers with the whole record only to a writer who may also read it (and
//! that answer is audited as a read); anyone else gets the id and status alone, so
//! `records.write` is never a way round `records.read`.

use crate::audit::{AuditAction, AuditEvent, record};
use crate::row::OptionalUuid;
use crate::staff::members::{Duty, require_duty};
use crate::{Db, StoreError, TenantTx};
use chrono::{DateTime, Utc};
use paddock_domain::{
    AddendumId, EncounterId, EncounterKind, EncounterStatus, PatientId, Permission, UserId,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// The four parts of a SOAP note.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct Soap {
    /// What the owner reports (history, complaint).
    pub subjective: String,
    /// What the examination found.
    pub objective: String,
    /// The assessment (differentials, diagnosis).
    pub assessment: String,
    /// The plan (treatment, tests, follow-up).
    pub plan: String,
}

/// A new encounter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEncounter {
    /// The patient seen.
    pub patient_id: PatientId,
    /// The kind of visit.
    pub kind: EncounterKind,
    /// When the visit started.
    pub started_at: DateTime<Utc>,
    /// The vet in charge (a clinician of the practice).
    pub attending: Option<UserId>,
    /// Why the patient came.
    pub reason: Option<String>,
    /// The notes so far.
    pub soap: Soap,
}

/// An encounter as stored, with its addenda.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Encounter {
    /// Its id.
    #[schema(value_type = Uuid)]
    pub id: EncounterId,
    /// The patient.
    #[schema(value_type = Uuid)]
    pub patient_id: PatientId,
    /// The kind of visit.
    #[schema(value_type = String)]
    pub kind: EncounterKind,
    /// When the visit started.
    pub started_at: DateTime<Utc>,
    /// The vet in charge.
    #[schema(value_type = Option<Uuid>)]
    pub attending_id: Option<UserId>,
    /// The vet's name.
    pub attending_name: Option<String>,
    /// Why the patient came.
    pub reason: Option<String>,
    /// The notes.
    pub soap: Soap,
    /// `open` or `finalised`.
    #[schema(value_type = String)]
    pub status: EncounterStatus,
    /// When it locks by itself if nobody finalises it.
    pub lock_after: DateTime<Utc>,
    /// When it was finalised.
    pub finalised_at: Option<DateTime<Utc>>,
    /// Who finalised it (none when the editing period ran out).
    #[schema(value_type = Option<Uuid>)]
    pub finalised_by: Option<UserId>,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// Who wrote it.
    #[schema(value_type = Option<Uuid>)]
    pub created_by: Option<UserId>,
    /// Corrections and additions after finalising, oldest first.
    pub addenda: Vec<Addendum>,
}

impl Encounter {
    /// Whether it can still be edited at `now`.
    pub fn is_editable(&self, now: DateTime<Utc>) -> bool {
        self.status == EncounterStatus::Open && self.lock_after > now
    }
}

/// What a write of an encounter answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum WrittenEncounter {
    /// The whole encounter with its addenda, for a writer holding `records.read`
    /// (the answer is audited as a `read`).
    Record(Box<Encounter>),
    /// Only which encounter and where it stands, for a writer without `records.read`.
    EncounterReceipt(EncounterReceipt),
}

impl WrittenEncounter {
    /// The encounter's id.
    pub fn id(&self) -> EncounterId {
        match self {
            WrittenEncounter::Record(encounter) => encounter.id,
            WrittenEncounter::EncounterReceipt(receipt) => receipt.id,
        }
    }
}

/// The id and status of an encounter, without its content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, sqlx::FromRow)]
pub struct EncounterReceipt {
    /// Its id.
    #[sqlx(try_from = "Uuid")]
    #[schema(value_type = Uuid)]
    pub id: EncounterId,
    /// `open` or `finalised`.
    #[sqlx(try_from = "String")]
    #[schema(value_type = String)]
    pub status: EncounterStatus,
}

/// A correction to a finalised encounter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, sqlx::FromRow)]
pub struct Addendum {
    /// Its id.
    #[sqlx(try_from = "Uuid")]
    #[schema(value_type = Uuid)]
    pub id: AddendumId,
    /// The text.
    pub body: String,
    /// When it was written.
    pub created_at: DateTime<Utc>,
    /// Who wrote it.
    #[sqlx(try_from = "Uuid")]
    #[schema(value_type = Uuid)]
    pub created_by: UserId,
    /// Their name.
    pub author_name: Option<String>,
}

#[derive(sqlx::FromRow)]
struct EncounterRow {
    #[sqlx(try_from = "Uuid")]
    id: EncounterId,
    #[sqlx(try_from = "Uuid")]
    patient_id: PatientId,
    #[sqlx(try_from = "String")]
    kind: EncounterKind,
    started_at: DateTime<Utc>,
    #[sqlx(try_from = "OptionalUuid")]
    attending_id: Option<UserId>,
    attending_name: Option<String>,
    reason: Option<String>,
    subjective: String,
    objective: String,
    assessment: String,
    plan: String,
    #[sqlx(try_from = "String")]
    status: EncounterStatus,
    lock_after: DateTime<Utc>,
    finalised_at: Option<DateTime<Utc>>,
    #[sqlx(try_from = "OptionalUuid")]
    finalised_by: Option<UserId>,
    created_at: DateTime<Utc>,
    #[sqlx(try_from = "OptionalUuid")]
    created_by: Option<UserId>,
}

impl EncounterRow {
    fn into_encounter(self, addenda: Vec<Addendum>) -> Encounter {
        Encounter {
            id: self.id,
            patient_id: self.patient_id,
            kind: self.kind,
            started_at: self.started_at,
            attending_id: self.attending_id,
            attending_name: self.attending_name,
            reason: self.reason,
            soap: Soap {
                subjective: self.subjective,
                objective: self.objective,
                assessment: self.assessment,
                plan: self.plan,
            },
            status: self.status,
            lock_after: self.lock_after,
            finalised_at: self.finalised_at,
            finalised_by: self.finalised_by,
            created_at: self.created_at,
            created_by: self.created_by,
            addenda,
        }
    }
}

const ENCOUNTER_SELECT: &str = "select e.id, e.patient_id, e.kind, e.started_at, e.attending_id,
        u.display_name as attending_name, e.reason, e.subjective, e.objective, e.assessment, e.plan,
        e.status, e.lock_after, e.finalised_at, e.finalised_by, e.created_at, e.created_by
   from encounters e left join users u on u.id = e.attending_id";

/// Opens an encounter for a live patient.
pub async fn create(tx: &mut TenantTx, new: &NewEncounter) -> Result<Encounter, StoreError> {
    tx.require(Permission::RecordsWrite)?;
    let patient = crate::clinical::patients::fetch(tx, new.patient_id).await?;
    paddock_domain::patient::within_life(
        "started_at",
        new.started_at.date_naive(),
        patient.date_of_birth,
    )?;
    if let Some(vet) = new.attending {
        require_duty(tx, vet, Duty::Clinician, "attending_id").await?;
    }
    let id = EncounterId::new();
    sqlx::query(
        "insert into encounters (practice_id, id, patient_id, kind, started_at, attending_id, reason,
                                 subjective, objective, assessment, plan, lock_after)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now())",
    )
    .bind(tx.practice_id().as_uuid())
    .bind(id.as_uuid())
    .bind(new.patient_id.as_uuid())
    .bind(new.kind.as_str())
    .bind(new.started_at)
    .bind(new.attending.map(|u| u.as_uuid()))
    .bind(&new.reason)
    .bind(&new.soap.subjective)
    .bind(&new.soap.objective)
    .bind(&new.soap.assessment)
    .bind(&new.soap.plan)
    .execute(tx.conn())
    .await?;
    fetch(tx, id).await
}

async fn fetch(tx: &mut TenantTx, id: EncounterId) -> Result<Encounter, StoreError> {
    let row: EncounterRow = sqlx::query_as(&format!(
        "{ENCOUNTER_SELECT} where e.id = $1
            and exists (select 1 from patients p where p.id = e.patient_id and p.deleted_at is null)"
    ))
    .bind(id.as_uuid())
    .fetch_optional(tx.conn())
    .await?
    .ok_or(StoreError::NotFound("encounter"))?;
    let addenda = sqlx::query_as(
        "select a.id, a.body, a.created_at, a.created_by, u.display_name as author_name
           from encounter_addenda a left join users u on u.id = a.created_by
          where a.encounter_id = $1 order by a.created_at, a.id",
    )
    .bind(id.as_uuid())
    .fetch_all(tx.conn())
    .await?;
    Ok(row.into_encounter(addenda))
}

/// What a write answers: the record (audited as a `read`) when the writer may read
/// it, else only its id and status.
async fn answer(tx: &mut TenantTx, id: EncounterId) -> Result<WrittenEncounter, StoreError> {
    if tx.require(Permission::RecordsRead).is_ok() {
        return Ok(WrittenEncounter::Record(Box::new(get(tx, id).await?)));
    }
    let receipt: EncounterReceipt =
        sqlx::query_as("select id, status from encounters where id = $1")
            .bind(id.as_uuid())
            .fetch_optional(tx.conn())
            .await?
            .ok_or(StoreError::NotFound("encounter"))?;
    Ok(WrittenEncounter::EncounterReceipt(receipt))
}

/// One encounter with its addenda (`records.read`); the view is audited as a `read`.
pub async fn get(tx: &mut TenantTx, id: EncounterId) -> Result<Encounter, StoreError> {
    tx.require(Permission::RecordsRead)?;
    let encounter = fetch(tx, id).await?;
    record(
        tx,
        AuditEvent::on(AuditAction::Read, "encounter", id.as_uuid()),
        None,
    )
    .await?;
    Ok(encounter)
}

/// The patient's encounters, newest first, without their notes' addenda.
pub(crate) async fn of_patient(
    tx: &mut TenantTx,
    patient: PatientId,
) -> Result<Vec<Encounter>, StoreError> {
    tx.require(Permission::RecordsRead)?;
    let rows: Vec<EncounterRow> = sqlx::query_as(&format!(
        "{ENCOUNTER_SELECT} where e.patient_id = $1 order by e.started_at desc, e.id desc"
    ))
    .bind(patient.as_uuid())
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| r.into_encounter(Vec::new()))
        .collect())
}

/// Replaces an open encounter's notes, reason and vet; a locked one answers
/// [`StoreError::Locked`].
pub async fn update(
    tx: &mut TenantTx,
    id: EncounterId,
    reason: Option<&str>,
    attending: Option<UserId>,
    soap: &Soap,
) -> Result<WrittenEncounter, StoreError> {
    tx.require(Permission::RecordsWrite)?;
    fetch(tx, id).await?;
    if let Some(vet) = attending {
        require_duty(tx, vet, Duty::Clinician, "attending_id").await?;
    }
    sqlx::query(
        "update encounters set reason = $2, attending_id = $3, subjective = $4, objective = $5,
                assessment = $6, plan = $7
          where id = $1",
    )
    .bind(id.as_uuid())
    .bind(reason)
    .bind(attending.map(|u| u.as_uuid()))
    .bind(&soap.subjective)
    .bind(&soap.objective)
    .bind(&soap.assessment)
    .bind(&soap.plan)
    .execute(tx.conn())
    .await?;
    answer(tx, id).await
}

/// Finalises (signs) an encounter, locking it (`records.finalise`).
pub async fn finalise(
    tx: &mut TenantTx,
    id: EncounterId,
    now: DateTime<Utc>,
) -> Result<WrittenEncounter, StoreError> {
    tx.require(Permission::RecordsFinalise)?;
    let encounter = fetch(tx, id).await?;
    if encounter.status == EncounterStatus::Finalised {
        return Err(StoreError::Locked("the encounter is already finalised"));
    }
    let by = match tx.actor() {
        crate::tenant::Actor::Member(principal) => Some(principal.user_id().as_uuid()),
        crate::tenant::Actor::System => None,
    };
    sqlx::query(
        "update encounters set status = 'finalised', finalised_at = $2, finalised_by = $3 where id = $1",
    )
    .bind(id.as_uuid())
    .bind(now)
    .bind(by)
    .execute(tx.conn())
    .await?;
    answer(tx, id).await
}

/// Adds an addendum to a finalised encounter (`records.write`); its author is the actor.
pub async fn add_addendum(
    tx: &mut TenantTx,
    encounter: EncounterId,
    body: &str,
) -> Result<WrittenEncounter, StoreError> {
    tx.require(Permission::RecordsWrite)?;
    fetch(tx, encounter).await?;
    sqlx::query(
        "insert into encounter_addenda (practice_id, id, encounter_id, body) values ($1, $2, $3, $4)",
    )
    .bind(tx.practice_id().as_uuid())
    .bind(AddendumId::new().as_uuid())
    .bind(encounter.as_uuid())
    .bind(body)
    .execute(tx.conn())
    .await?;
    answer(tx, encounter).await
}

impl Db {
    /// Marks every open encounter past its editing period finalised, in every practice;
    /// returns how many (the server's record clock calls this every minute).
    pub async fn finalise_due_encounters(&self) -> Result<i32, StoreError> {
        Ok(sqlx::query_scalar("select encounters_finalise_due()")
            .fetch_one(self.pool())
            .await?)
    }
}
