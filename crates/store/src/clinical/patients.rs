//! Patients (the animals) and their owners.
//!
//! A patient has one or more owners (clients), exactly one of them primary. Deleting
//! a patient is soft; its medical records stay for the record retention period and
//! go only when the retention job purges the patient.

use crate::clinical::clients::{CLIENT_COLUMNS, Client};
use crate::clinical::search::{SearchQuery, client_phone_match, client_prefix_match, starts_with};
use crate::page::{Cursor, Page};
use crate::row::OptionalUuid;
use crate::{StoreError, TenantTx};
use chrono::{DateTime, NaiveDate, Utc};
use paddock_domain::{
    ClientId, DateOfBirth, FieldError, Microchip, PatientId, PatientSex, PatientStatus, Permission,
};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// Where a patient stands: active, or gone (with the date it died).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// Seen at this practice.
    Active,
    /// Died on this date.
    Deceased(NaiveDate),
    /// Moved to another practice.
    Transferred,
}

impl Standing {
    fn status(self) -> PatientStatus {
        match self {
            Standing::Active => PatientStatus::Active,
            Standing::Deceased(_) => PatientStatus::Deceased,
            Standing::Transferred => PatientStatus::Transferred,
        }
    }

    fn deceased_on(self) -> Option<NaiveDate> {
        match self {
            Standing::Deceased(day) => Some(day),
            _ => None,
        }
    }
}

/// What a patient is (create and full update).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientDetails {
    /// Its name.
    pub name: String,
    /// Species, as the practice writes it ("Canine", "Feline", "Rabbit").
    pub species: String,
    /// Breed.
    pub breed: Option<String>,
    /// Sex and neuter status.
    pub sex: PatientSex,
    /// Date of birth, exact or estimated.
    pub date_of_birth: Option<DateOfBirth>,
    /// Coat colour and markings.
    pub colour: Option<String>,
    /// ISO 11784/11785 transponder number.
    pub microchip: Option<Microchip>,
    /// Insurance company.
    pub insurer: Option<String>,
    /// Insurance policy number.
    pub insurance_policy: Option<String>,
    /// Active, deceased or transferred.
    pub standing: Standing,
}

/// A patient as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, sqlx::FromRow)]
pub struct Patient {
    /// Its id.
    #[sqlx(try_from = "Uuid")]
    #[schema(value_type = Uuid)]
    pub id: PatientId,
    /// Its name.
    pub name: String,
    /// Species.
    pub species: String,
    /// Breed.
    pub breed: Option<String>,
    /// `female`, `female_spayed`, `male`, `male_neutered` or `unknown`.
    #[sqlx(try_from = "String")]
    #[schema(value_type = String)]
    pub sex: PatientSex,
    /// Date of birth.
    pub date_of_birth: Option<NaiveDate>,
    /// Whether the date of birth is an estimate.
    pub dob_estimated: bool,
    /// Colour and markings.
    pub colour: Option<String>,
    /// Microchip number (15 digits).
    pub microchip: Option<String>,
    /// Insurance company.
    pub insurer: Option<String>,
    /// Insurance policy number.
    pub insurance_policy: Option<String>,
    /// `active`, `deceased` or `transferred`.
    #[sqlx(try_from = "String")]
    #[schema(value_type = String)]
    pub status: PatientStatus,
    /// The date it died.
    pub deceased_on: Option<NaiveDate>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When the record last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was deleted (only in the deleted list).
    pub deleted_at: Option<DateTime<Utc>>,
    /// The primary owner's id.
    #[sqlx(try_from = "OptionalUuid")]
    #[schema(value_type = Option<Uuid>)]
    pub primary_owner_id: Option<ClientId>,
    /// The primary owner's name ("Given Family").
    pub primary_owner_name: Option<String>,
}

const PATIENT_COLUMNS: &str = "p.id, p.name, p.species, p.breed, p.sex, p.date_of_birth,
    p.dob_estimated, p.colour, p.microchip, p.insurer, p.insurance_policy, p.status,
    p.deceased_on, p.created_at, p.updated_at, p.deleted_at,
    o.client_id as primary_owner_id, o.owner_name as primary_owner_name";

/// The join adding the primary owner of the patient row `p` (as `o`).
macro_rules! owner_join {
    () => {
        "left join lateral (
            select po.client_id, c.given_name || ' ' || c.family_name as owner_name
              from patient_owners po join clients c
                on c.practice_id = po.practice_id and c.id = po.client_id
             where po.practice_id = p.practice_id and po.patient_id = p.id and po.is_primary) o on true"
    };
}

const OWNER_JOIN: &str = owner_join!();

const PATIENT_FROM: &str = concat!("patients p ", owner_join!());

/// One owner of a patient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Owner {
    /// Whether this is the primary owner (the one billed and contacted first).
    pub primary: bool,
    /// The client.
    pub client: Client,
}

/// Registers a patient with its owners; exactly one must be primary.
pub async fn create(
    tx: &mut TenantTx,
    details: &PatientDetails,
    owners: &[(ClientId, bool)],
) -> Result<Patient, StoreError> {
    tx.require(Permission::PatientsWrite)?;
    check_owners(owners)?;
    let id = PatientId::new();
    sqlx::query(
        "insert into patients (practice_id, id, name, species, breed, sex, date_of_birth, dob_estimated,
                               colour, microchip, insurer, insurance_policy, status, deceased_on)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(tx.practice_id().as_uuid())
    .bind(id.as_uuid())
    .bind(&details.name)
    .bind(&details.species)
    .bind(&details.breed)
    .bind(details.sex.as_str())
    .bind(details.date_of_birth.map(|d| d.date))
    .bind(details.date_of_birth.is_some_and(|d| d.estimated))
    .bind(&details.colour)
    .bind(details.microchip.as_ref().map(Microchip::as_str))
    .bind(&details.insurer)
    .bind(&details.insurance_policy)
    .bind(details.standing.status().as_str())
    .bind(details.standing.deceased_on())
    .execute(tx.conn())
    .await?;
    for (client, primary) in owners {
        link_owner(tx, id, *client, *primary).await?;
    }
    fetch(tx, id).await
}

fn check_owners(owners: &[(ClientId, bool)]) -> Result<(), StoreError> {
    let primaries = owners.iter().filter(|(_, primary)| *primary).count();
    if owners.is_empty() || primaries != 1 {
        return Err(FieldError::new("owners", "needs exactly one primary owner").into());
    }
    let mut ids: Vec<ClientId> = owners.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() != owners.len() {
        return Err(FieldError::new("owners", "lists the same client twice").into());
    }
    Ok(())
}

impl From<FieldError> for StoreError {
    fn from(error: FieldError) -> Self {
        StoreError::Invalid(error.into())
    }
}

async fn link_owner(
    tx: &mut TenantTx,
    patient: PatientId,
    client: ClientId,
    primary: bool,
) -> Result<(), StoreError> {
    // The client must be a live client of this practice; anything else is not found.
    crate::clinical::clients::fetch(tx, client).await?;
    sqlx::query(
        "insert into patient_owners (practice_id, patient_id, client_id, is_primary)
         values ($1, $2, $3, $4)",
    )
    .bind(tx.practice_id().as_uuid())
    .bind(patient.as_uuid())
    .bind(client.as_uuid())
    .bind(primary)
    .execute(tx.conn())
    .await?;
    Ok(())
}

/// A live patient (patients.read); another practice's id is not found.
pub async fn get(tx: &mut TenantTx, id: PatientId) -> Result<Patient, StoreError> {
    tx.require(Permission::PatientsRead)?;
    fetch(tx, id).await
}

pub(crate) async fn fetch(tx: &mut TenantTx, id: PatientId) -> Result<Patient, StoreError> {
    sqlx::query_as(&format!(
        "select {PATIENT_COLUMNS} from {PATIENT_FROM} where p.id = $1 and p.deleted_at is null"
    ))
    .bind(id.as_uuid())
    .fetch_optional(tx.conn())
    .await?
    .ok_or(StoreError::NotFound("patient"))
}

/// Replaces a live patient's details (owners are changed separately).
pub async fn update(
    tx: &mut TenantTx,
    id: PatientId,
    details: &PatientDetails,
) -> Result<Patient, StoreError> {
    tx.require(Permission::PatientsWrite)?;
    let updated = sqlx::query(
        "update patients set name = $2, species = $3, breed = $4, sex = $5, date_of_birth = $6,
                dob_estimated = $7, colour = $8, microchip = $9, insurer = $10,
                insurance_policy = $11, status = $12, deceased_on = $13
          where id = $1 and deleted_at is null",
    )
    .bind(id.as_uuid())
    .bind(&details.name)
    .bind(&details.species)
    .bind(&details.breed)
    .bind(details.sex.as_str())
    .bind(details.date_of_birth.map(|d| d.date))
    .bind(details.date_of_birth.is_some_and(|d| d.estimated))
    .bind(&details.colour)
    .bind(details.microchip.as_ref().map(Microchip::as_str))
    .bind(&details.insurer)
    .bind(&details.insurance_policy)
    .bind(details.standing.status().as_str())
    .bind(details.standing.deceased_on())
    .execute(tx.conn())
    .await?
    .rows_affected();
    if updated == 0 {
        return Err(StoreError::NotFound("patient"));
    }
    fetch(tx, id).await
}

/// The patient's owners, primary first.
pub async fn owners(tx: &mut TenantTx, patient: PatientId) -> Result<Vec<Owner>, StoreError> {
    tx.require(Permission::ClientsRead)?;
    fetch(tx, patient).await?;
    let rows: Vec<(bool, Uuid)> = sqlx::query_as(
        "select is_primary, client_id from patient_owners where patient_id = $1
          order by is_primary desc, created_at",
    )
    .bind(patient.as_uuid())
    .fetch_all(tx.conn())
    .await?;
    let mut owners = Vec::with_capacity(rows.len());
    for (primary, client) in rows {
        let client: Option<Client> = sqlx::query_as(&format!(
            "select {CLIENT_COLUMNS} from clients where id = $1 and deleted_at is null"
        ))
        .bind(client)
        .fetch_optional(tx.conn())
        .await?;
        if let Some(client) = client {
            owners.push(Owner { primary, client });
        }
    }
    Ok(owners)
}

/// Replaces the patient's owners; exactly one must be primary.
pub async fn set_owners(
    tx: &mut TenantTx,
    patient: PatientId,
    owners: &[(ClientId, bool)],
) -> Result<Vec<Owner>, StoreError> {
    tx.require(Permission::PatientsWrite)?;
    check_owners(owners)?;
    // Replacements of one patient's owners take turns: without the row lock, two
    // concurrent delete-then-insert runs collide on the owner keys (or deadlock).
    let live: Option<Uuid> = sqlx::query_scalar(
        "select id from patients where id = $1 and deleted_at is null for update",
    )
    .bind(patient.as_uuid())
    .fetch_optional(tx.conn())
    .await?;
    live.ok_or(StoreError::NotFound("patient"))?;
    sqlx::query("delete from patient_owners where patient_id = $1")
        .bind(patient.as_uuid())
        .execute(tx.conn())
        .await?;
    for (client, primary) in owners {
        link_owner(tx, patient, *client, *primary).await?;
    }
    self::owners(tx, patient).await
}

/// The live patients a client owns.
pub async fn of_client(tx: &mut TenantTx, client: ClientId) -> Result<Vec<Patient>, StoreError> {
    tx.require(Permission::PatientsRead)?;
    Ok(sqlx::query_as(&format!(
        "select {PATIENT_COLUMNS} from {PATIENT_FROM}
          where p.deleted_at is null
            and exists (select 1 from patient_owners x where x.patient_id = p.id and x.client_id = $1)
          order by p.name_key, p.id"
    ))
    .bind(client.as_uuid())
    .fetch_all(tx.conn())
    .await?)
}

/// Soft-deletes a patient (its records stay until the retention job).
pub async fn delete(
    tx: &mut TenantTx,
    id: PatientId,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.require(Permission::PatientsWrite)?;
    crate::retention::soft_delete(tx, "patients", id.as_uuid(), now, "patient").await
}

/// Brings a deleted patient back (`settings.manage`).
pub async fn restore(tx: &mut TenantTx, id: PatientId) -> Result<Patient, StoreError> {
    tx.require(Permission::SettingsManage)?;
    crate::retention::restore(tx, "patients", id.as_uuid(), "patient").await?;
    fetch(tx, id).await
}

/// Deleted patients not yet purged, most recently deleted first (`settings.manage`).
pub async fn deleted(tx: &mut TenantTx) -> Result<Vec<Patient>, StoreError> {
    tx.require(Permission::SettingsManage)?;
    Ok(sqlx::query_as(&format!(
        "select {PATIENT_COLUMNS} from {PATIENT_FROM} where p.deleted_at is not null
          order by p.deleted_at desc limit 500"
    ))
    .fetch_all(tx.conn())
    .await?)
}

/// Live patients by name, a page at a time. `search` matches the start of the
/// patient's name, its microchip exactly, or an owner by the start of their family
/// name, full name or email, or by the last 9 digits of a phone number (see
/// [`crate::clinical::search`]: every branch is an index scan the application role can use).
pub async fn search(
    tx: &mut TenantTx,
    search: Option<&str>,
    limit: i64,
    after: Option<&Cursor>,
) -> Result<Page<Patient>, StoreError> {
    tx.require(Permission::PatientsRead)?;
    let query = SearchQuery::read(search)?;
    // Up to two branches, each already in page order and cut at the page size: the
    // patients matched directly (walking the name index), and those of matching owners.
    let (direct, through_owner) = match &query {
        None => (Some("true".to_owned()), None),
        Some(SearchQuery::Microchip(_)) => (Some("microchip = $1".to_owned()), None),
        Some(SearchQuery::PhoneTail(_)) => (None, Some(client_phone_match("$2"))),
        Some(SearchQuery::Prefix(_)) => (
            Some(starts_with("name_key", "$2")),
            Some(client_prefix_match("$2")),
        ),
    };
    let page_of = |condition: &str| {
        format!(
            "(select * from patients
               where deleted_at is null and {condition}
                 and ($3::text is null or (name_key, id) > (lower($3), $4))
               order by name_key, id limit $5)"
        )
    };
    let mut branches = Vec::new();
    if let Some(condition) = direct {
        branches.push(page_of(&condition));
    }
    if let Some(condition) = through_owner {
        branches.push(page_of(&format!(
            "id in (select po.patient_id from patient_owners po
                      join clients c on c.practice_id = po.practice_id and c.id = po.client_id
                     where {condition} and c.deleted_at is null)"
        )));
    }
    // The page is cut before the owners are joined, so only its rows pay for that.
    let rows: Vec<Patient> = sqlx::query_as(&format!(
        "select {PATIENT_COLUMNS}
           from (select * from ({}) matched order by name_key, id limit $5) p
           {OWNER_JOIN}
          order by p.name_key, p.id",
        branches.join(" union ")
    ))
    .bind(query.as_ref().and_then(SearchQuery::chip))
    .bind(
        query
            .as_ref()
            .and_then(|q| q.phone_tail().or_else(|| q.prefix())),
    )
    .bind(after.map(|c| c.key.as_str()))
    .bind(after.map(|c| c.id))
    .bind(limit + 1)
    .fetch_all(tx.conn())
    .await?;
    // The key is the name as stored; the database lower-cases both sides alike.
    Ok(Page::from_rows(rows, limit, |p| {
        Cursor::after(p.name.clone(), p.id.as_uuid())
    }))
}
