//! Soft delete, restore, and the retention job that purges what has been deleted
//! for longer than the practice keeps it.
//!
//! Clients, patients and appointments are deleted by setting `deleted_at`. The
//! retention job (`paddock retention run`, on the admin connection) hard-deletes those
//! deleted longer ago than the practice's period: `record_retention_days` (default 7
//! years) for clients and patients, whose medical records go with them, and
//! `appointment_retention_days` (default 2 years) for appointments. Every purged row
//! is recorded by the audit triggers, and one `retention_purge` event per practice
//! names the counts and ids.

use crate::audit::{AuditAction, AuditEvent, record};
use crate::{AdminDb, StoreError, TenantTx};
use chrono::{DateTime, Utc};
use paddock_domain::PracticeId;
use serde::Serialize;
use uuid::Uuid;

/// Sets `deleted_at` on a live row of `table` (one of the soft-deletable tables).
pub(crate) async fn soft_delete(
    tx: &mut TenantTx,
    table: &'static str,
    id: Uuid,
    now: DateTime<Utc>,
    what: &'static str,
) -> Result<(), StoreError> {
    let deleted = sqlx::query(&format!(
        "update {table} set deleted_at = $2 where id = $1 and deleted_at is null"
    ))
    .bind(id)
    .bind(now)
    .execute(tx.conn())
    .await?
    .rows_affected();
    if deleted == 0 {
        return Err(StoreError::NotFound(what));
    }
    Ok(())
}

/// Clears `deleted_at` on a deleted, not yet purged row of `table`.
pub(crate) async fn restore(
    tx: &mut TenantTx,
    table: &'static str,
    id: Uuid,
    what: &'static str,
) -> Result<(), StoreError> {
    let restored = sqlx::query(&format!(
        "update {table} set deleted_at = null where id = $1 and deleted_at is not null"
    ))
    .bind(id)
    .execute(tx.conn())
    .await?
    .rows_affected();
    if restored == 0 {
        return Err(StoreError::NotFound(what));
    }
    Ok(())
}

/// What one practice's retention run removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Purged {
    /// The practice.
    pub practice_id: Uuid,
    /// Clients purged.
    pub clients: Vec<Uuid>,
    /// Patients purged, with their medical records.
    pub patients: Vec<Uuid>,
    /// Appointments purged.
    pub appointments: Vec<Uuid>,
}

impl Purged {
    /// Whether nothing was due.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty() && self.patients.is_empty() && self.appointments.is_empty()
    }
}

/// The clinical rows of a patient, children first (purged with the patient).
const PATIENT_CHILDREN: &[&str] = &[
    "encounter_addenda where encounter_id in (select id from encounters where practice_id = $1 and patient_id = any($2))",
    "vital_signs where patient_id = any($2)",
    "problems where patient_id = any($2)",
    "allergies where patient_id = any($2)",
    "prescriptions where patient_id = any($2)",
    "vaccinations where patient_id = any($2)",
    "appointments where patient_id = any($2)",
    "encounters where patient_id = any($2)",
    "patient_owners where patient_id = any($2)",
    "patients where id = any($2)",
];

impl AdminDb {
    /// Purges one practice's rows deleted longer ago than its retention periods, as of
    /// `now`, in one transaction that also records what went.
    pub async fn purge_deleted(
        &self,
        practice: PracticeId,
        now: DateTime<Utc>,
    ) -> Result<Purged, StoreError> {
        let mut tx = self.begin_system(practice).await?;
        let p = practice.as_uuid();
        let (record_days, appointment_days): (i32, i32) = sqlx::query_as(
            "select record_retention_days, appointment_retention_days
               from practice_settings where practice_id = $1",
        )
        .bind(p)
        .fetch_optional(tx.conn())
        .await?
        .unwrap_or((2557, 730));
        let record_cutoff = now - chrono::Duration::days(i64::from(record_days));
        let appointment_cutoff = now - chrono::Duration::days(i64::from(appointment_days));
        let due = |table: &str| {
            format!(
                "select id from {table} where practice_id = $1 and deleted_at is not null
                   and deleted_at < $2 order by id"
            )
        };
        let patients: Vec<Uuid> = sqlx::query_scalar(&due("patients"))
            .bind(p)
            .bind(record_cutoff)
            .fetch_all(tx.conn())
            .await?;
        let clients: Vec<Uuid> = sqlx::query_scalar(&due("clients"))
            .bind(p)
            .bind(record_cutoff)
            .fetch_all(tx.conn())
            .await?;
        let appointments: Vec<Uuid> = sqlx::query_scalar(&due("appointments"))
            .bind(p)
            .bind(appointment_cutoff)
            .fetch_all(tx.conn())
            .await?;
        let purged = Purged {
            practice_id: p,
            clients,
            patients,
            appointments,
        };
        if purged.is_empty() {
            tx.rollback().await?;
            return Ok(purged);
        }
        for child in PATIENT_CHILDREN {
            sqlx::query(&format!("delete from {child} and practice_id = $1"))
                .bind(p)
                .bind(&purged.patients)
                .execute(tx.conn())
                .await?;
        }
        // A purged client's appointments and owner links go with it; the patients stay.
        for statement in [
            "delete from appointments where practice_id = $1 and (id = any($2) or client_id = any($3))",
            "delete from patient_owners where practice_id = $1 and client_id = any($3)",
            "delete from clients where practice_id = $1 and id = any($3)",
        ] {
            sqlx::query(statement)
                .bind(p)
                .bind(&purged.appointments)
                .bind(&purged.clients)
                .execute(tx.conn())
                .await?;
        }
        let event = AuditEvent::on(AuditAction::RetentionPurge, "practice", p).with_changes(
            serde_json::json!({
                "record_retention_days": record_days,
                "appointment_retention_days": appointment_days,
                "clients": purged.clients,
                "patients": purged.patients,
                "appointments": purged.appointments,
            }),
        );
        record(&mut tx, event, None).await?;
        tx.commit().await?;
        Ok(purged)
    }
}
