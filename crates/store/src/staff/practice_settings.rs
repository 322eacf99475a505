//! The practice's settings as the settings page and `GET/PUT /api/v1/settings/practice`
//! edit them ([`PracticeSettings`], parsed in the domain). [`update`] replaces them in
//! one statement of the request's transaction; the practice_settings audit trigger
//! records each changed field with its old and new value in the same transaction. Both
//! need `settings.manage` (members read the zone through `members::me`; sign-in reads
//! the lockout and session numbers itself).

use crate::{StoreError, TenantTx};
use paddock_domain::Permission;
use paddock_domain::settings::{PracticeSettings, SentSettings};

#[derive(sqlx::FromRow)]
struct Row {
    lockout_threshold: i32,
    lockout_window_minutes: i32,
    lockout_minutes: i32,
    session_idle_minutes: i32,
    session_absolute_minutes: i32,
    temporary_session_minutes: i32,
    require_second_factor: bool,
    encounter_lock_hours: i32,
    record_retention_days: i32,
    appointment_retention_days: i32,
    audit_retention_days: i32,
    time_zone: String,
}

impl Row {
    /// The stored settings. The CHECK constraints hold every number in range; a zone
    /// name this build's tz database lacks reads as UTC, as on every page.
    fn settings(self) -> Result<PracticeSettings, StoreError> {
        let n = |v: i32| Some(i64::from(v));
        let zone = crate::staff::time_zone::stored(&self.time_zone);
        Ok(PracticeSettings::parse(&SentSettings {
            lockout_threshold: n(self.lockout_threshold),
            lockout_window_minutes: n(self.lockout_window_minutes),
            lockout_minutes: n(self.lockout_minutes),
            session_idle_minutes: n(self.session_idle_minutes),
            session_absolute_minutes: n(self.session_absolute_minutes),
            temporary_session_minutes: n(self.temporary_session_minutes),
            require_second_factor: self.require_second_factor,
            encounter_lock_hours: n(self.encounter_lock_hours),
            record_retention_days: n(self.record_retention_days),
            appointment_retention_days: n(self.appointment_retention_days),
            audit_retention_days: n(self.audit_retention_days),
            time_zone: zone.name(),
        })?)
    }
}

const COLUMNS: &str = "lockout_threshold, lockout_window_minutes, lockout_minutes,
       session_idle_minutes, session_absolute_minutes, temporary_session_minutes,
       require_second_factor, encounter_lock_hours, record_retention_days,
       appointment_retention_days, audit_retention_days, time_zone";

/// The practice's settings (`settings.manage`).
pub async fn get(tx: &mut TenantTx) -> Result<PracticeSettings, StoreError> {
    tx.require(Permission::SettingsManage)?;
    let row: Row = sqlx::query_as(&format!("select {COLUMNS} from practice_settings"))
        .fetch_optional(tx.conn())
        .await?
        .ok_or(StoreError::NotFound("practice settings"))?;
    row.settings()
}

/// Replaces every setting (`settings.manage`; audited field by field, old and new, by
/// the practice_settings trigger). New lockout and session numbers apply from the next
/// sign-in; a new editing period applies to encounters opened from now on.
pub async fn update(
    tx: &mut TenantTx,
    settings: &PracticeSettings,
) -> Result<PracticeSettings, StoreError> {
    tx.require(Permission::SettingsManage)?;
    let row: Row = sqlx::query_as(&format!(
        "update practice_settings
            set lockout_threshold = $1, lockout_window_minutes = $2, lockout_minutes = $3,
                session_idle_minutes = $4, session_absolute_minutes = $5,
                temporary_session_minutes = $6, require_second_factor = $7,
                encounter_lock_hours = $8, record_retention_days = $9,
                appointment_retention_days = $10, audit_retention_days = $11, time_zone = $12
          returning {COLUMNS}"
    ))
    .bind(settings.lockout_threshold.get())
    .bind(settings.lockout_window_minutes.get())
    .bind(settings.lockout_minutes.get())
    .bind(settings.session_idle_minutes.get())
    .bind(settings.session_absolute_minutes.get())
    .bind(settings.temporary_session_minutes.get())
    .bind(settings.require_second_factor)
    .bind(settings.encounter_lock_hours.get())
    .bind(settings.record_retention_days.get())
    .bind(settings.appointment_retention_days.get())
    .bind(settings.audit_retention_days.get())
    .bind(settings.time_zone.name())
    .fetch_optional(tx.conn())
    .await?
    .ok_or(StoreError::NotFound("practice settings"))?;
    row.settings()
}
