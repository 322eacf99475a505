//! The practice's record-keeping settings: how long an encounter stays editable, and
//! how long soft-deleted records and appointments are kept before the retention job
//! purges them. Read by anyone with `records.read` or `settings.manage`; changed only
//! with `settings.manage` (the change is audited by the practice_settings trigger).

use crate::{StoreError, TenantTx};
use paddock_domain::settings::{AppointmentRetentionDays, EncounterLockHours, RetentionDays};
use paddock_domain::{FieldErrors, Permission};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The settings, each within the range the database also enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::FromRow)]
// Like every request body: a field we do not know (a `practice_id`, say) is refused,
// never silently ignored.
#[serde(deny_unknown_fields)]
pub struct RecordSettings {
    /// Hours after creation an open encounter locks by itself (1-720, default 24).
    pub encounter_lock_hours: i32,
    /// Days a deleted client or patient (with its medical records) is kept (365-36500,
    /// default 2557: seven years).
    pub record_retention_days: i32,
    /// Days a deleted appointment is kept (30-36500, default 730).
    pub appointment_retention_days: i32,
}

impl RecordSettings {
    /// Checks every value against its range (the practice settings' own bounds),
    /// reporting each that is out of it.
    pub fn check(self) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        errors.check(EncounterLockHours::parse(
            "encounter_lock_hours",
            Some(self.encounter_lock_hours.into()),
        ));
        errors.check(RetentionDays::parse(
            "record_retention_days",
            Some(self.record_retention_days.into()),
        ));
        errors.check(AppointmentRetentionDays::parse(
            "appointment_retention_days",
            Some(self.appointment_retention_days.into()),
        ));
        errors.into_result().map(|()| self)
    }
}

const COLUMNS: &str = "encounter_lock_hours, record_retention_days, appointment_retention_days";

/// The practice's settings.
pub async fn get(tx: &mut TenantTx) -> Result<RecordSettings, StoreError> {
    if tx.require(Permission::SettingsManage).is_err() {
        tx.require(Permission::RecordsRead)?;
    }
    sqlx::query_as(&format!("select {COLUMNS} from practice_settings"))
        .fetch_optional(tx.conn())
        .await?
        .ok_or(StoreError::NotFound("practice settings"))
}

/// Replaces the settings (`settings.manage`). A new editing period applies to
/// encounters opened from now on; one already open keeps the deadline it was given.
pub async fn set(
    tx: &mut TenantTx,
    settings: RecordSettings,
) -> Result<RecordSettings, StoreError> {
    tx.require(Permission::SettingsManage)?;
    let settings = settings.check()?;
    sqlx::query_as(&format!(
        "update practice_settings set encounter_lock_hours = $1, record_retention_days = $2,
                appointment_retention_days = $3
          returning {COLUMNS}"
    ))
    .bind(settings.encounter_lock_hours)
    .bind(settings.record_retention_days)
    .bind(settings.appointment_retention_days)
    .fetch_optional(tx.conn())
    .await?
    .ok_or(StoreError::NotFound("practice settings"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_values_are_each_reported() {
        let errors = RecordSettings {
            encounter_lock_hours: 0,
            record_retention_days: 30,
            appointment_retention_days: 30,
        }
        .check()
        .unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["encounter_lock_hours", "record_retention_days"]);
        assert!(
            RecordSettings {
                encounter_lock_hours: 24,
                record_retention_days: 2557,
                appointment_retention_days: 730
            }
            .check()
            .is_ok()
        );
    }
}
