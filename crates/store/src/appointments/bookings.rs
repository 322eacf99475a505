//! The appointment book.
//!
//! Double booking is refused by the database: two exclusion constraints forbid
//! overlapping live bookings (not cancelled, not a no-show, not deleted) of one staff
//! member or one resource, whatever runs concurrently. A refused booking reports the
//! booking it clashes with.

use crate::page::{Cursor, Page};
use crate::row::OptionalUuid;
use crate::{StoreError, TenantTx};
use chrono::{DateTime, Utc};
use paddock_domain::{
    AppointmentId, AppointmentKind, AppointmentStatus, ClientId, PatientId, Permission, ResourceId,
    UserId,
};
use serde::Serialize;
use sqlx::Connection;
use utoipa::ToSchema;
use uuid::Uuid;

/// A booking request (create and reschedule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    /// The patient, if known.
    pub patient_id: Option<PatientId>,
    /// The client, if known.
    pub client_id: Option<ClientId>,
    /// The staff member seen.
    pub staff: Option<UserId>,
    /// The room, table or equipment used.
    pub resource_id: Option<ResourceId>,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End (after the start, at most 24 hours later).
    pub ends_at: DateTime<Utc>,
    /// What it is for.
    pub kind: AppointmentKind,
    /// Why.
    pub reason: Option<String>,
}

/// An appointment as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, sqlx::FromRow)]
pub struct Appointment {
    /// Its id.
    #[sqlx(try_from = "Uuid")]
    #[schema(value_type = Uuid)]
    pub id: AppointmentId,
    /// The patient.
    #[sqlx(try_from = "OptionalUuid")]
    #[schema(value_type = Option<Uuid>)]
    pub patient_id: Option<PatientId>,
    /// The patient's name.
    pub patient_name: Option<String>,
    /// The client.
    #[sqlx(try_from = "OptionalUuid")]
    #[schema(value_type = Option<Uuid>)]
    pub client_id: Option<ClientId>,
    /// The staff member.
    #[sqlx(try_from = "OptionalUuid")]
    #[schema(value_type = Option<Uuid>)]
    pub staff_id: Option<UserId>,
    /// Their name.
    pub staff_name: Option<String>,
    /// The resource.
    #[sqlx(try_from = "OptionalUuid")]
    #[schema(value_type = Option<Uuid>)]
    pub resource_id: Option<ResourceId>,
    /// Its name.
    pub resource_name: Option<String>,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    pub ends_at: DateTime<Utc>,
    /// What it is for.
    #[sqlx(try_from = "String")]
    #[schema(value_type = String)]
    pub kind: AppointmentKind,
    /// `booked`, `confirmed`, `checked_in`, `in_progress`, `completed`, `cancelled`, `no_show`.
    #[sqlx(try_from = "String")]
    #[schema(value_type = String)]
    pub status: AppointmentStatus,
    /// Why.
    pub reason: Option<String>,
    /// When it was deleted (only in the deleted list).
    pub deleted_at: Option<DateTime<Utc>>,
}

impl Appointment {
    /// Who and what it holds, and when: what a status change or restore must still find
    /// free (kind and reason play no part in a clash).
    fn slot(&self) -> Booking {
        Booking {
            patient_id: self.patient_id,
            client_id: self.client_id,
            staff: self.staff_id,
            resource_id: self.resource_id,
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            kind: AppointmentKind::Other,
            reason: None,
        }
    }
}

/// The live booking a refused one overlaps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Clash {
    /// `staff` or `resource`: what is double-booked.
    pub on: &'static str,
    /// The existing booking.
    #[schema(value_type = Uuid)]
    pub appointment_id: AppointmentId,
    /// Its start.
    pub starts_at: DateTime<Utc>,
    /// Its end.
    pub ends_at: DateTime<Utc>,
}

const APPOINTMENT_SELECT: &str = "select a.id, a.patient_id, p.name as patient_name, a.client_id,
        a.staff_id, u.display_name as staff_name, a.resource_id, r.name as resource_name,
        a.starts_at, a.ends_at, a.kind, a.status, a.reason, a.deleted_at
   from appointments a
   left join patients p on p.practice_id = a.practice_id and p.id = a.patient_id
   left join users u on u.id = a.staff_id
   left join resources r on r.practice_id = a.practice_id and r.id = a.resource_id";

/// Books an appointment; an overlapping live booking of the same staff member or
/// resource answers [`StoreError::DoubleBooked`].
pub async fn book(tx: &mut TenantTx, booking: &Booking) -> Result<Appointment, StoreError> {
    tx.require(Permission::AppointmentsWrite)?;
    check_references(tx, booking).await?;
    let id = AppointmentId::new();
    let practice = tx.practice_id().as_uuid();
    let insert = sqlx::query(
        "insert into appointments (practice_id, id, patient_id, client_id, staff_id, resource_id,
                                   starts_at, ends_at, kind, reason)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(practice)
    .bind(id.as_uuid());
    write_guarded(tx, booking, Some(id), with_booking(insert, booking)).await?;
    fetch(tx, id).await
}

/// Moves or reassigns a live appointment (same double-booking rule).
pub async fn reschedule(
    tx: &mut TenantTx,
    id: AppointmentId,
    booking: &Booking,
) -> Result<Appointment, StoreError> {
    tx.require(Permission::AppointmentsWrite)?;
    check_references(tx, booking).await?;
    let update = sqlx::query(
        "update appointments set patient_id = $2, client_id = $3, staff_id = $4, resource_id = $5,
                starts_at = $6, ends_at = $7, kind = $8, reason = $9
          where id = $1 and deleted_at is null",
    )
    .bind(id.as_uuid());
    let updated = write_guarded(tx, booking, Some(id), with_booking(update, booking)).await?;
    if updated == 0 {
        return Err(StoreError::NotFound("appointment"));
    }
    fetch(tx, id).await
}

/// Moves an appointment along the day (checked in, completed, cancelled, ...).
/// Un-cancelling must still find the slot free.
pub async fn set_status(
    tx: &mut TenantTx,
    id: AppointmentId,
    status: AppointmentStatus,
) -> Result<Appointment, StoreError> {
    tx.require(Permission::AppointmentsWrite)?;
    let current = fetch(tx, id).await?;
    let booking = current.slot();
    write_guarded(
        tx,
        &booking,
        Some(id),
        sqlx::query("update appointments set status = $2 where id = $1 and deleted_at is null")
            .bind(id.as_uuid())
            .bind(status.as_str()),
    )
    .await?;
    fetch(tx, id).await
}

/// A write with a booking's columns bound next, in the order both writes name them:
/// patient, client, staff, resource, start, end, kind, reason.
fn with_booking<'q>(
    write: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    booking: &'q Booking,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    write
        .bind(booking.patient_id.map(|p| p.as_uuid()))
        .bind(booking.client_id.map(|c| c.as_uuid()))
        .bind(booking.staff.map(|s| s.as_uuid()))
        .bind(booking.resource_id.map(|r| r.as_uuid()))
        .bind(booking.starts_at)
        .bind(booking.ends_at)
        .bind(booking.kind.as_str())
        .bind(&booking.reason)
}

/// Runs `write` in a savepoint; when an exclusion constraint refuses it, rolls the
/// savepoint back (the transaction stays usable) and names the clashing booking.
async fn write_guarded(
    tx: &mut TenantTx,
    booking: &Booking,
    own_id: Option<AppointmentId>,
    write: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
) -> Result<u64, StoreError> {
    let mut savepoint = tx.conn().begin().await?;
    match write.execute(&mut *savepoint).await {
        Ok(done) => {
            savepoint.commit().await?;
            Ok(done.rows_affected())
        }
        Err(sqlx::Error::Database(db))
            if db.code().as_deref() == Some("23P01")
                && matches!(
                    db.constraint(),
                    Some("appointments_staff_overlap" | "appointments_resource_overlap")
                ) =>
        {
            let on = if db.constraint() == Some("appointments_staff_overlap") {
                "staff"
            } else {
                "resource"
            };
            savepoint.rollback().await?;
            let clash = find_clash(tx, booking, own_id, on).await?;
            Err(StoreError::DoubleBooked(Box::new(clash)))
        }
        Err(other) => {
            savepoint.rollback().await?;
            Err(other.into())
        }
    }
}

async fn find_clash(
    tx: &mut TenantTx,
    booking: &Booking,
    own_id: Option<AppointmentId>,
    on: &'static str,
) -> Result<Clash, StoreError> {
    let column = if on == "staff" {
        "staff_id"
    } else {
        "resource_id"
    };
    let value = if on == "staff" {
        booking.staff.map(|s| s.as_uuid())
    } else {
        booking.resource_id.map(|r| r.as_uuid())
    };
    let row: Option<(Uuid, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(&format!(
        "select id, starts_at, ends_at from appointments
          where {column} = $1 and deleted_at is null and status not in ('cancelled', 'no_show')
            and tstzrange(starts_at, ends_at) && tstzrange($2, $3)
            and ($4::uuid is null or id <> $4)
          order by starts_at limit 1"
    ))
    .bind(value)
    .bind(booking.starts_at)
    .bind(booking.ends_at)
    .bind(own_id.map(|id| id.as_uuid()))
    .fetch_optional(tx.conn())
    .await?;
    // The clashing booking committed before ours was refused, so it is visible now.
    let (appointment_id, starts_at, ends_at) =
        row.ok_or(StoreError::Locked("the slot was taken; try again"))?;
    Ok(Clash {
        on,
        appointment_id: AppointmentId::from_uuid(appointment_id),
        starts_at,
        ends_at,
    })
}

/// The patient, client, staff member and resource named must be this practice's.
async fn check_references(tx: &mut TenantTx, booking: &Booking) -> Result<(), StoreError> {
    if let Some(patient) = booking.patient_id {
        crate::clinical::patients::fetch(tx, patient).await?;
    }
    if let Some(client) = booking.client_id {
        crate::clinical::clients::fetch(tx, client).await?;
    }
    if let Some(staff) = booking.staff {
        crate::staff::members::require_duty(
            tx,
            staff,
            crate::staff::members::Duty::Clinician,
            "staff_id",
        )
        .await?;
    }
    if let Some(resource) = booking.resource_id {
        let live: bool = sqlx::query_scalar(
            "select exists (select 1 from resources where id = $1 and deleted_at is null)",
        )
        .bind(resource.as_uuid())
        .fetch_one(tx.conn())
        .await?;
        if !live {
            return Err(paddock_domain::FieldError::new(
                "resource_id",
                "is not a resource of this practice",
            )
            .into());
        }
    }
    Ok(())
}

async fn fetch(tx: &mut TenantTx, id: AppointmentId) -> Result<Appointment, StoreError> {
    sqlx::query_as(&format!(
        "{APPOINTMENT_SELECT} where a.id = $1 and a.deleted_at is null"
    ))
    .bind(id.as_uuid())
    .fetch_optional(tx.conn())
    .await?
    .ok_or(StoreError::NotFound("appointment"))
}

/// One live appointment.
pub async fn get(tx: &mut TenantTx, id: AppointmentId) -> Result<Appointment, StoreError> {
    tx.require(Permission::AppointmentsRead)?;
    fetch(tx, id).await
}

/// Which appointments a range query returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeQuery {
    /// Start of the range (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// End of the range (exclusive).
    pub to: Option<DateTime<Utc>>,
    /// Only this staff member's.
    pub staff: Option<UserId>,
    /// Only this resource's.
    pub resource_id: Option<ResourceId>,
    /// Only this patient's.
    pub patient_id: Option<PatientId>,
}

/// Live appointments overlapping the range, by start time, a page at a time (day and
/// week views ask for their range).
pub async fn list(
    tx: &mut TenantTx,
    query: &RangeQuery,
    limit: i64,
    after: Option<&Cursor>,
) -> Result<Page<Appointment>, StoreError> {
    tx.require(Permission::AppointmentsRead)?;
    let after_start = match after {
        Some(c) => Some(
            DateTime::parse_from_rfc3339(&c.key)
                .map_err(|_| {
                    paddock_domain::FieldError::new("cursor", "is not a cursor of this list")
                })?
                .with_timezone(&Utc),
        ),
        None => None,
    };
    let rows: Vec<Appointment> = sqlx::query_as(&format!(
        "{APPOINTMENT_SELECT}
          where a.deleted_at is null
            and ($1::timestamptz is null or a.ends_at > $1)
            and ($2::timestamptz is null or a.starts_at < $2)
            and ($3::uuid is null or a.staff_id = $3)
            and ($4::uuid is null or a.resource_id = $4)
            and ($5::uuid is null or a.patient_id = $5)
            and ($6::timestamptz is null or (a.starts_at, a.id) > ($6, $7))
          order by a.starts_at, a.id
          limit $8"
    ))
    .bind(query.from)
    .bind(query.to)
    .bind(query.staff.map(|s| s.as_uuid()))
    .bind(query.resource_id.map(|r| r.as_uuid()))
    .bind(query.patient_id.map(|p| p.as_uuid()))
    .bind(after_start)
    .bind(after.map(|c| c.id))
    .bind(limit + 1)
    .fetch_all(tx.conn())
    .await?;
    Ok(Page::from_rows(rows, limit, |a| {
        Cursor::after(a.starts_at.to_rfc3339(), a.id.as_uuid())
    }))
}

/// Soft-deletes an appointment (frees its slot).
pub async fn delete(
    tx: &mut TenantTx,
    id: AppointmentId,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    tx.require(Permission::AppointmentsWrite)?;
    crate::retention::soft_delete(tx, "appointments", id.as_uuid(), now, "appointment").await
}

/// Brings a deleted appointment back, if its slot is still free (`settings.manage`).
pub async fn restore(tx: &mut TenantTx, id: AppointmentId) -> Result<Appointment, StoreError> {
    tx.require(Permission::SettingsManage)?;
    let row: Option<Appointment> = sqlx::query_as(&format!(
        "{APPOINTMENT_SELECT} where a.id = $1 and a.deleted_at is not null"
    ))
    .bind(id.as_uuid())
    .fetch_optional(tx.conn())
    .await?;
    let current = row.ok_or(StoreError::NotFound("appointment"))?;
    let booking = current.slot();
    write_guarded(
        tx,
        &booking,
        Some(id),
        sqlx::query("update appointments set deleted_at = null where id = $1").bind(id.as_uuid()),
    )
    .await?;
    fetch(tx, id).await
}
