//! The practice's settings: all of them (`/api/v1/settings/practice`, the same store
//! calls as the settings page) and the record-keeping part that clinical staff may read
//! (`/api/v1/settings/records`).

use crate::context::Ctx;
use crate::input::Json;
use crate::{AppError, AppState};
use paddock_domain::Permission;
use paddock_domain::settings::{PracticeSettings, SentSettings};
use paddock_store::staff::practice_settings;
use paddock_store::staff::record_settings::{self, RecordSettings};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The settings routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_records, put_records))
        .routes(routes!(get_practice, put_practice))
}

/// Every setting of the practice (the ranges are the database's own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
// A field we do not know (a `practice_id`, say) is refused, never silently ignored.
#[serde(deny_unknown_fields)]
pub struct PracticeSettingsView {
    /// Failed sign-ins that lock an account (3-100).
    #[schema(minimum = 3, maximum = 100)]
    pub lockout_threshold: i64,
    /// Minutes the failures are counted over (1-1440).
    #[schema(minimum = 1, maximum = 1440)]
    pub lockout_window_minutes: i64,
    /// Minutes a lock lasts (1-10080).
    #[schema(minimum = 1, maximum = 10080)]
    pub lockout_minutes: i64,
    /// Minutes without a request that end a session (5-1440; from the next sign-in).
    #[schema(minimum = 5, maximum = 1440)]
    pub session_idle_minutes: i64,
    /// Minutes after which a session ends whatever happens (15-10080).
    #[schema(minimum = 15, maximum = 10080)]
    pub session_absolute_minutes: i64,
    /// The absolute limit of a temporary (shared computer) session, in minutes (5-720).
    #[schema(minimum = 5, maximum = 720)]
    pub temporary_session_minutes: i64,
    /// Whether every member must complete a second factor at sign-in.
    pub require_second_factor: bool,
    /// Hours after creation an open encounter locks by itself (1-720).
    #[schema(minimum = 1, maximum = 720)]
    pub encounter_lock_hours: i64,
    /// Days a deleted client or patient is kept (365-36500).
    #[schema(minimum = 365, maximum = 36500)]
    pub record_retention_days: i64,
    /// Days a deleted appointment is kept (30-36500).
    #[schema(minimum = 30, maximum = 36500)]
    pub appointment_retention_days: i64,
    /// Days audit events are kept (365-36500).
    #[schema(minimum = 365, maximum = 36500)]
    pub audit_retention_days: i64,
    /// The IANA time zone pages show times in (`Europe/London`).
    pub time_zone: String,
}

impl From<PracticeSettings> for PracticeSettingsView {
    fn from(settings: PracticeSettings) -> Self {
        let sent = settings.sent();
        let n = |v: Option<i64>| v.unwrap_or_default();
        Self {
            lockout_threshold: n(sent.lockout_threshold),
            lockout_window_minutes: n(sent.lockout_window_minutes),
            lockout_minutes: n(sent.lockout_minutes),
            session_idle_minutes: n(sent.session_idle_minutes),
            session_absolute_minutes: n(sent.session_absolute_minutes),
            temporary_session_minutes: n(sent.temporary_session_minutes),
            require_second_factor: sent.require_second_factor,
            encounter_lock_hours: n(sent.encounter_lock_hours),
            record_retention_days: n(sent.record_retention_days),
            appointment_retention_days: n(sent.appointment_retention_days),
            audit_retention_days: n(sent.audit_retention_days),
            time_zone: sent.time_zone.to_owned(),
        }
    }
}

impl PracticeSettingsView {
    fn sent(&self) -> SentSettings<'_> {
        SentSettings {
            lockout_threshold: Some(self.lockout_threshold),
            lockout_window_minutes: Some(self.lockout_window_minutes),
            lockout_minutes: Some(self.lockout_minutes),
            session_idle_minutes: Some(self.session_idle_minutes),
            session_absolute_minutes: Some(self.session_absolute_minutes),
            temporary_session_minutes: Some(self.temporary_session_minutes),
            require_second_factor: self.require_second_factor,
            encounter_lock_hours: Some(self.encounter_lock_hours),
            record_retention_days: Some(self.record_retention_days),
            appointment_retention_days: Some(self.appointment_retention_days),
            audit_retention_days: Some(self.audit_retention_days),
            time_zone: &self.time_zone,
        }
    }
}

/// The practice's settings (needs `settings.manage`).
#[utoipa::path(get, path = "/api/v1/settings/practice", tag = "staff",
    responses(
        (status = 200, description = "The settings", body = PracticeSettingsView),
        (status = 403, description = "Needs settings.manage", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn get_practice(ctx: Ctx) -> Result<Json<PracticeSettingsView>, AppError> {
    let settings = ctx.run(async |tx| practice_settings::get(tx).await).await?;
    Ok(Json(settings.into()))
}

/// Replaces every setting of the practice (needs `settings.manage` and the password
/// re-entered within 10 minutes; audited with each changed field's old and new value).
/// New lockout and session numbers apply from the next sign-in.
#[utoipa::path(put, path = "/api/v1/settings/practice", tag = "staff", request_body = PracticeSettingsView,
    responses(
        (status = 200, description = "The settings now", body = PracticeSettingsView),
        crate::responses::MissingPermissionOrReauth,
        (status = 422, description = "Values out of range (each one named)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_practice(
    ctx: Ctx,
    Json(body): Json<PracticeSettingsView>,
) -> Result<Json<PracticeSettingsView>, AppError> {
    // Refused before the re-auth and the body are looked at: a caller without the
    // permission hears that, not "re-authenticate" (the store checks it again).
    ctx.require(Permission::SettingsManage)?;
    ctx.require_recent_reauth()?;
    let settings = PracticeSettings::parse(&body.sent())?;
    let saved = ctx
        .run(async |tx| practice_settings::update(tx, &settings).await)
        .await?;
    Ok(Json(saved.into()))
}

/// The record-keeping settings (`records.read` or `settings.manage`).
#[utoipa::path(get, path = "/api/v1/settings/records", tag = "records",
    responses((status = 200, description = "The settings", body = RecordSettings)))]
pub async fn get_records(ctx: Ctx) -> Result<Json<RecordSettings>, AppError> {
    let settings = ctx.run(async |tx| record_settings::get(tx).await).await?;
    Ok(Json(settings))
}

/// Replaces the record-keeping settings (`settings.manage`; audited).
#[utoipa::path(put, path = "/api/v1/settings/records", tag = "records", request_body = RecordSettings,
    responses(
        (status = 200, description = "The settings now", body = RecordSettings),
        (status = 403, description = "Needs settings.manage", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value out of range", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_records(
    ctx: Ctx,
    Json(body): Json<RecordSettings>,
) -> Result<Json<RecordSettings>, AppError> {
    let body = body.check()?;
    let settings = ctx
        .run(async |tx| record_settings::set(tx, body).await)
        .await?;
    Ok(Json(settings))
}
