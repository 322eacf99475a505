//! The practice settings page (`GET/POST /settings`, `settings.manage`): every setting
//! of the practice in its groups (sign-in lockout, sessions, second factor, record
//! keeping, time zone), read and saved through the same store calls as
//! `/api/v1/settings/practice`. Saving needs the password re-entered recently: without
//! it the browser goes to the re-auth page and back here, nothing saved. A refused
//! form comes back with every offending field named and nothing changed.

use crate::AppError;
use crate::AppState;
use crate::context::{CsrfForm, Page};
use crate::form::FieldMessages;
use crate::input::Query;
use crate::layout::Nav;
use crate::staff::views::{SettingsField, SettingsGroup, SettingsPage, ZoneOption};
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use paddock_domain::Permission;
use paddock_domain::settings::{
    AppointmentRetentionDays, EncounterLockHours, LockoutMinutes, LockoutThreshold,
    LockoutWindowMinutes, PracticeSettings, RetentionDays, SentSettings, SessionAbsoluteMinutes,
    SessionIdleMinutes, TemporarySessionMinutes,
};
use paddock_store::staff::practice_settings;
use serde::Deserialize;

/// The settings page's routes.
pub(super) fn pages() -> Router<AppState> {
    Router::new().route("/settings", get(settings_page).post(settings_submit))
}

/// A number of the form: its name, label and range (the store type's own).
type NumberField = (&'static str, &'static str, i32, i32);

/// The form's groups of numbers, in the order the page shows them.
const GROUPS: [(&str, &str, &[NumberField]); 3] = [
    (
        "lockout",
        "Sign-in lockout",
        &[
            (
                "lockout_threshold",
                "Failed sign-ins before an account locks",
                LockoutThreshold::LOWEST,
                LockoutThreshold::HIGHEST,
            ),
            (
                "lockout_window_minutes",
                "Failures counted over (minutes)",
                LockoutWindowMinutes::LOWEST,
                LockoutWindowMinutes::HIGHEST,
            ),
            (
                "lockout_minutes",
                "A lock lasts (minutes)",
                LockoutMinutes::LOWEST,
                LockoutMinutes::HIGHEST,
            ),
        ],
    ),
    (
        "sessions",
        "Sessions (from the next sign-in)",
        &[
            (
                "session_idle_minutes",
                "Sign out after idle (minutes)",
                SessionIdleMinutes::LOWEST,
                SessionIdleMinutes::HIGHEST,
            ),
            (
                "session_absolute_minutes",
                "Longest session (minutes)",
                SessionAbsoluteMinutes::LOWEST,
                SessionAbsoluteMinutes::HIGHEST,
            ),
            (
                "temporary_session_minutes",
                "Longest shared-computer session (minutes)",
                TemporarySessionMinutes::LOWEST,
                TemporarySessionMinutes::HIGHEST,
            ),
        ],
    ),
    (
        "record-keeping",
        "Record keeping",
        &[
            (
                "encounter_lock_hours",
                "Encounters lock after (hours)",
                EncounterLockHours::LOWEST,
                EncounterLockHours::HIGHEST,
            ),
            (
                "record_retention_days",
                "Keep deleted clients and patients (days)",
                RetentionDays::LOWEST,
                RetentionDays::HIGHEST,
            ),
            (
                "appointment_retention_days",
                "Keep deleted appointments (days)",
                AppointmentRetentionDays::LOWEST,
                AppointmentRetentionDays::HIGHEST,
            ),
            (
                "audit_retention_days",
                "Keep audit events (days)",
                RetentionDays::LOWEST,
                RetentionDays::HIGHEST,
            ),
        ],
    ),
];

#[derive(Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
}

/// `GET /settings`: the settings as stored.
async fn settings_page(
    Page { ctx, nav }: Page,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    let settings = ctx.run(async |tx| practice_settings::get(tx).await).await?;
    let notice = (q.notice.as_deref() == Some("saved")).then(|| "Settings saved.".to_owned());
    let form = Form::of(&settings.sent());
    Ok(render(nav, &form, &FieldMessages::none(), notice).into_response())
}

/// `POST /settings`: saves every setting at once, or none.
async fn settings_submit(
    Page { ctx, nav }: Page,
    CsrfForm(fields): CsrfForm<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    // Refused before the re-auth detour and the form: someone without the permission
    // hears that, not "re-enter your password" (the store checks it again).
    ctx.require(Permission::SettingsManage)?;
    if ctx.require_recent_reauth().is_err() {
        // Authentication's bookkeeping (the idle timer) is kept; nothing else is done.
        ctx.into_auth().await?;
        return Ok(Redirect::to("/reauth?next=/settings").into_response());
    }
    let form = Form::sent(&fields);
    let settings = match PracticeSettings::parse(&form.settings()) {
        Ok(settings) => settings,
        Err(errors) => {
            let mut messages = FieldMessages::none();
            messages.extend(errors.0);
            return Ok(refused(nav, &form, &messages));
        }
    };
    match ctx
        .run(async |tx| practice_settings::update(tx, &settings).await)
        .await
    {
        Ok(_) => Ok(Redirect::to("/settings?notice=saved").into_response()),
        // Rolled back: the form again, from the refusal, in the layout already read.
        Err(AppError::Validation(errors)) => {
            let mut messages = FieldMessages::none();
            messages.extend(errors);
            Ok(refused(nav, &form, &messages))
        }
        Err(other) => Err(other),
    }
}

/// The form's values as text: as stored, or as typed.
struct Form {
    numbers: Vec<(&'static str, String)>,
    require_second_factor: bool,
    time_zone: String,
}

impl Form {
    /// The values of stored (or parsed) settings.
    fn of(sent: &SentSettings<'_>) -> Self {
        let numbers = [
            ("lockout_threshold", sent.lockout_threshold),
            ("lockout_window_minutes", sent.lockout_window_minutes),
            ("lockout_minutes", sent.lockout_minutes),
            ("session_idle_minutes", sent.session_idle_minutes),
            ("session_absolute_minutes", sent.session_absolute_minutes),
            ("temporary_session_minutes", sent.temporary_session_minutes),
            ("encounter_lock_hours", sent.encounter_lock_hours),
            ("record_retention_days", sent.record_retention_days),
            (
                "appointment_retention_days",
                sent.appointment_retention_days,
            ),
            ("audit_retention_days", sent.audit_retention_days),
        ];
        Self {
            numbers: numbers
                .into_iter()
                .map(|(name, value)| (name, value.map(|v| v.to_string()).unwrap_or_default()))
                .collect(),
            require_second_factor: sent.require_second_factor,
            time_zone: sent.time_zone.to_owned(),
        }
    }

    /// The values a form post sent (an unticked box is not sent at all).
    fn sent(fields: &[(String, String)]) -> Self {
        let value = |name: &str| {
            fields
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.trim().to_owned())
        };
        Self {
            numbers: GROUPS
                .iter()
                .flat_map(|(_, _, numbers)| numbers.iter())
                .map(|(name, ..)| (*name, value(name).unwrap_or_default()))
                .collect(),
            require_second_factor: value("require_second_factor").is_some(),
            time_zone: value("time_zone").unwrap_or_default(),
        }
    }

    fn text(&self, name: &str) -> &str {
        self.numbers
            .iter()
            .find(|(key, _)| *key == name)
            .map_or("", |(_, value)| value.as_str())
    }

    /// The settings the form stands for, to parse (text that is no whole number is
    /// `None`, refused with the rest).
    fn settings(&self) -> SentSettings<'_> {
        let n = |name: &str| self.text(name).parse::<i64>().ok();
        SentSettings {
            lockout_threshold: n("lockout_threshold"),
            lockout_window_minutes: n("lockout_window_minutes"),
            lockout_minutes: n("lockout_minutes"),
            session_idle_minutes: n("session_idle_minutes"),
            session_absolute_minutes: n("session_absolute_minutes"),
            temporary_session_minutes: n("temporary_session_minutes"),
            require_second_factor: self.require_second_factor,
            encounter_lock_hours: n("encounter_lock_hours"),
            record_retention_days: n("record_retention_days"),
            appointment_retention_days: n("appointment_retention_days"),
            audit_retention_days: n("audit_retention_days"),
            time_zone: &self.time_zone,
        }
    }
}

/// The form again with its refusals, 422.
fn refused(nav: Nav, form: &Form, messages: &FieldMessages) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        render(nav, form, messages, None),
    )
        .into_response()
}

fn render(nav: Nav, form: &Form, messages: &FieldMessages, notice: Option<String>) -> SettingsPage {
    let groups = GROUPS
        .iter()
        .map(|&(id, title, numbers)| SettingsGroup {
            id,
            title,
            fields: numbers
                .iter()
                .map(|&(name, label, min, max)| SettingsField {
                    name,
                    label,
                    value: form.text(name).to_owned(),
                    min,
                    max,
                    message: messages.get(name).map(str::to_owned),
                })
                .collect(),
        })
        .collect();
    let zones = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|zone| ZoneOption {
            name: zone.name(),
            selected: zone.name() == form.time_zone,
        })
        .collect();
    SettingsPage {
        nav: nav.at("settings"),
        groups,
        require_second_factor: form.require_second_factor,
        time_zone_message: messages.get("time_zone").map(str::to_owned),
        zones,
        errors: messages.summary(),
        notice,
    }
}
