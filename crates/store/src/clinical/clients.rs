//! Clients: the owners of patients, with their contact details and preferences.
//!
//! Deleting a client is soft (`deleted_at`): the row leaves every list and lookup,
//! can be restored until the retention job purges it, and its patients keep their
//! records.

use crate::clinical::search::{SearchQuery, client_phone_match, client_prefix_match};
use crate::page::{Cursor, Page};
use crate::{StoreError, TenantTx};
use chrono::{DateTime, Utc};
use paddock_domain::{ClientId, Email, Permission, Phone};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// What a client is, as entered at the front desk (create and full update).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientDetails {
    /// Given name(s).
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Email address.
    pub email: Option<Email>,
    /// Mobile number.
    pub mobile: Option<Phone>,
    /// Another number (home, work).
    pub phone: Option<Phone>,
    /// Postal address, as lines.
    pub address: Option<String>,
    /// May be contacted by email.
    pub contact_by_email: bool,
    /// May be contacted by SMS.
    pub contact_by_sms: bool,
    /// Wants vaccination and check-up reminders.
    pub reminders: bool,
    /// Front-desk notes.
    pub notes: Option<String>,
}

/// A client as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, sqlx::FromRow)]
pub struct Client {
    /// Its id.
    #[sqlx(try_from = "Uuid")]
    #[schema(value_type = Uuid)]
    pub id: ClientId,
    /// Given name(s).
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Email address.
    pub email: Option<String>,
    /// Mobile number (digits, optional leading +).
    pub mobile: Option<String>,
    /// Another number.
    pub phone: Option<String>,
    /// Postal address.
    pub address: Option<String>,
    /// May be contacted by email.
    pub contact_by_email: bool,
    /// May be contacted by SMS.
    pub contact_by_sms: bool,
    /// Wants reminders.
    pub reminders: bool,
    /// Front-desk notes.
    pub notes: Option<String>,
    /// Account balance in minor units (positive: the client owes the practice).
    pub balance_minor: i64,
    /// ISO 4217 currency of the balance.
    pub currency: String,
    /// When the client was registered.
    pub created_at: DateTime<Utc>,
    /// When the record last changed.
    pub updated_at: DateTime<Utc>,
    /// When it was deleted (only in the deleted list).
    pub deleted_at: Option<DateTime<Utc>>,
}

impl Client {
    /// "Family, Given", the way lists sort and show clients.
    pub fn sort_name(&self) -> String {
        format!("{}, {}", self.family_name, self.given_name)
    }

    /// "Given Family".
    pub fn full_name(&self) -> String {
        format!("{} {}", self.given_name, self.family_name)
    }
}

pub(crate) const CLIENT_COLUMNS: &str =
    "id, given_name, family_name, email, mobile, phone, address,
    contact_by_email, contact_by_sms, reminders, notes, balance_minor, currency, created_at,
    updated_at, deleted_at";

/// Registers a client.
pub async fn create(tx: &mut TenantTx, details: &ClientDetails) -> Result<Client, StoreError> {
    tx.require(Permission::ClientsWrite)?;
    let id = ClientId::new();
    sqlx::query(
        "insert into clients (practice_id, id, given_name, family_name, email, mobile, phone, address,
                              contact_by_email, contact_by_sms, reminders, notes)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(tx.practice_id().as_uuid())
    .bind(id.as_uuid())
    .bind(&details.given_name)
    .bind(&details.family_name)
    .bind(details.email.as_ref().map(Email::as_str))
    .bind(details.mobile.as_ref().map(Phone::as_str))
    .bind(details.phone.as_ref().map(Phone::as_str))
    .bind(&details.address)
    .bind(details.contact_by_email)
    .bind(details.contact_by_sms)
    .bind(details.reminders)
    .bind(&details.notes)
    .execute(tx.conn())
    .await?;
    fetch(tx, id).await
}

/// A live (not deleted) client; another practice's id is not found.
pub async fn get(tx: &mut TenantTx, id: ClientId) -> Result<Client, StoreError> {
    tx.require(Permission::ClientsRead)?;
    fetch(tx, id).await
}

/// A live client of this practice, without a permission check (for callers that
/// already checked theirs); anything else is not found.
pub(crate) async fn fetch(tx: &mut TenantTx, id: ClientId) -> Result<Client, StoreError> {
    sqlx::query_as(&format!(
        "select {CLIENT_COLUMNS} from clients where id = $1 and deleted_at is null"
    ))
    .bind(id.as_uuid())
    .fetch_optional(tx.conn())
    .await?
    .ok_or(StoreError::NotFound("client"))
}

/// Replaces a live client's details.
pub async fn update(
    tx: &mut TenantTx,
    id: ClientId,
    details: &ClientDetails,
) -> Result<Client, StoreError> {
    tx.require(Permission::ClientsWrite)?;
    let updated = sqlx::query(
        "update clients set given_name = $2, family_name = $3, email = $4, mobile = $5, phone = $6,
                address = $7, contact_by_email = $8, contact_by_sms = $9, reminders = $10, notes = $11
          where id = $1 and deleted_at is null",
    )
    .bind(id.as_uuid())
    .bind(&details.given_name)
    .bind(&details.family_name)
    .bind(details.email.as_ref().map(Email::as_str))
    .bind(details.mobile.as_ref().map(Phone::as_str))
    .bind(details.phone.as_ref().map(Phone::as_str))
    .bind(&details.address)
    .bind(details.contact_by_email)
    .bind(details.contact_by_sms)
    .bind(details.reminders)
    .bind(&details.notes)
    .execute(tx.conn())
    .await?
    .rows_affected();
    if updated == 0 {
        return Err(StoreError::NotFound("client"));
    }
    fetch(tx, id).await
}

/// Soft-deletes a client.
pub async fn delete(tx: &mut TenantTx, id: ClientId, now: DateTime<Utc>) -> Result<(), StoreError> {
    tx.require(Permission::ClientsWrite)?;
    crate::retention::soft_delete(tx, "clients", id.as_uuid(), now, "client").await
}

/// Brings a deleted client back (practice admins: `settings.manage`).
pub async fn restore(tx: &mut TenantTx, id: ClientId) -> Result<Client, StoreError> {
    tx.require(Permission::SettingsManage)?;
    crate::retention::restore(tx, "clients", id.as_uuid(), "client").await?;
    fetch(tx, id).await
}

/// Deleted clients not yet purged, most recently deleted first (`settings.manage`).
pub async fn deleted(tx: &mut TenantTx) -> Result<Vec<Client>, StoreError> {
    tx.require(Permission::SettingsManage)?;
    Ok(sqlx::query_as(&format!(
        "select {CLIENT_COLUMNS} from clients where deleted_at is not null
          order by deleted_at desc limit 500"
    ))
    .fetch_all(tx.conn())
    .await?)
}

/// Live clients by family name, optionally matching `search` (the start of a family
/// name, full name or email, or the last 9 digits of a phone: see [`crate::clinical::search`]),
/// a page at a time.
pub async fn list(
    tx: &mut TenantTx,
    search: Option<&str>,
    limit: i64,
    after: Option<&Cursor>,
) -> Result<Page<Client>, StoreError> {
    tx.require(Permission::ClientsRead)?;
    let query = SearchQuery::read(search)?;
    let condition = match &query {
        None => "true".to_owned(),
        // A microchip names a patient; its owners are found through the patient.
        Some(SearchQuery::Microchip(_)) => "id in (select po.client_id from patient_owners po
             join patients p on p.practice_id = po.practice_id and p.id = po.patient_id
            where p.microchip = $1 and p.deleted_at is null)"
            .to_owned(),
        Some(SearchQuery::PhoneTail(_)) => client_phone_match("$1"),
        Some(SearchQuery::Prefix(_)) => client_prefix_match("$1"),
    };
    let rows: Vec<Client> = sqlx::query_as(&format!(
        "select {CLIENT_COLUMNS} from clients
          where deleted_at is null
            and {condition}
            and ($2::text is null or (sort_key, id) > (lower($2), $3))
          order by sort_key, id
          limit $4"
    ))
    .bind(query.as_ref().map(|q| match q {
        SearchQuery::Microchip(chip) => chip.as_str(),
        SearchQuery::PhoneTail(text) | SearchQuery::Prefix(text) => text.as_str(),
    }))
    .bind(after.map(|c| c.key.as_str()))
    .bind(after.map(|c| c.id))
    .bind(limit + 1)
    .fetch_all(tx.conn())
    .await?;
    Ok(Page::from_rows(rows, limit, |c| {
        Cursor::after(c.sort_name(), c.id.as_uuid())
    }))
}
