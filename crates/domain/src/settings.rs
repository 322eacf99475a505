//! The practice's settings as one whole, valid by construction: sign-in lockout,
//! sessions, the second factor, record keeping and the time zone. Every number is a
//! [`Bounded`] value inside the range the practice_settings table's CHECK constraint
//! enforces, so a parsed [`PracticeSettings`] is one the database accepts, and a
//! refusal names every offending field in our words. The store reads and writes them
//! (`paddock_store::staff::practice_settings`).

use crate::field::{FieldError, FieldErrors};
use crate::zone::PracticeZone;

/// A whole number within `MIN..=MAX`, by construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bounded<const MIN: i32, const MAX: i32>(i32);

impl<const MIN: i32, const MAX: i32> Bounded<MIN, MAX> {
    /// The smallest value accepted.
    pub const LOWEST: i32 = MIN;
    /// The largest value accepted.
    pub const HIGHEST: i32 = MAX;

    /// `value` sent in `field`, if it is in range; `None` stands for a value that is not
    /// a whole number at all (a form's text that did not parse).
    pub fn parse(field: &str, value: Option<i64>) -> Result<Self, FieldError> {
        let Some(value) = value else {
            return Err(FieldError::new(
                field,
                format!("must be a whole number between {MIN} and {MAX}"),
            ));
        };
        i32::try_from(value)
            .ok()
            .filter(|v| (MIN..=MAX).contains(v))
            .map(Self)
            .ok_or_else(|| FieldError::new(field, format!("must be between {MIN} and {MAX}")))
    }

    /// The number.
    pub const fn get(self) -> i32 {
        self.0
    }
}

/// Failed sign-ins that lock an account (3-100).
pub type LockoutThreshold = Bounded<3, 100>;
/// Minutes the failures are counted over (1-1440).
pub type LockoutWindowMinutes = Bounded<1, 1440>;
/// Minutes a lock lasts (1-10080).
pub type LockoutMinutes = Bounded<1, 10080>;
/// Minutes without a request that end a session (5-1440).
pub type SessionIdleMinutes = Bounded<5, 1440>;
/// Minutes after which a session ends whatever happens (15-10080).
pub type SessionAbsoluteMinutes = Bounded<15, 10080>;
/// The absolute limit of a temporary (shared computer) session, in minutes (5-720).
pub type TemporarySessionMinutes = Bounded<5, 720>;
/// Hours after creation an open encounter locks by itself (1-720).
pub type EncounterLockHours = Bounded<1, 720>;
/// Days deleted records, or old audit events, are kept (365-36500).
pub type RetentionDays = Bounded<365, 36_500>;
/// Days a deleted appointment is kept (30-36500).
pub type AppointmentRetentionDays = Bounded<30, 36_500>;

/// Every setting of the practice, each valid by its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PracticeSettings {
    /// Sign-in lockout: failures that lock.
    pub lockout_threshold: LockoutThreshold,
    /// Sign-in lockout: the window the failures are counted in.
    pub lockout_window_minutes: LockoutWindowMinutes,
    /// Sign-in lockout: how long a lock lasts.
    pub lockout_minutes: LockoutMinutes,
    /// Sessions: idle timeout (applies to sessions started from now on).
    pub session_idle_minutes: SessionIdleMinutes,
    /// Sessions: absolute limit.
    pub session_absolute_minutes: SessionAbsoluteMinutes,
    /// Sessions: absolute limit of a temporary session.
    pub temporary_session_minutes: TemporarySessionMinutes,
    /// Whether every member must complete a second factor at sign-in.
    pub require_second_factor: bool,
    /// Record keeping: hours an encounter stays editable.
    pub encounter_lock_hours: EncounterLockHours,
    /// Record keeping: days deleted clients and patients are kept.
    pub record_retention_days: RetentionDays,
    /// Record keeping: days deleted appointments are kept.
    pub appointment_retention_days: AppointmentRetentionDays,
    /// Record keeping: days audit events are kept.
    pub audit_retention_days: RetentionDays,
    /// The zone the practice's pages show times in and its days are cut by.
    pub time_zone: PracticeZone,
}

/// Settings as sent, before parsing: a number is `None` when what was sent is not a
/// whole number (a form's text), so it is reported with the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SentSettings<'a> {
    /// See [`PracticeSettings::lockout_threshold`].
    pub lockout_threshold: Option<i64>,
    /// See [`PracticeSettings::lockout_window_minutes`].
    pub lockout_window_minutes: Option<i64>,
    /// See [`PracticeSettings::lockout_minutes`].
    pub lockout_minutes: Option<i64>,
    /// See [`PracticeSettings::session_idle_minutes`].
    pub session_idle_minutes: Option<i64>,
    /// See [`PracticeSettings::session_absolute_minutes`].
    pub session_absolute_minutes: Option<i64>,
    /// See [`PracticeSettings::temporary_session_minutes`].
    pub temporary_session_minutes: Option<i64>,
    /// See [`PracticeSettings::require_second_factor`].
    pub require_second_factor: bool,
    /// See [`PracticeSettings::encounter_lock_hours`].
    pub encounter_lock_hours: Option<i64>,
    /// See [`PracticeSettings::record_retention_days`].
    pub record_retention_days: Option<i64>,
    /// See [`PracticeSettings::appointment_retention_days`].
    pub appointment_retention_days: Option<i64>,
    /// See [`PracticeSettings::audit_retention_days`].
    pub audit_retention_days: Option<i64>,
    /// An IANA zone name.
    pub time_zone: &'a str,
}

impl PracticeSettings {
    /// Parses sent settings, reporting every field that is out of its range.
    pub fn parse(sent: &SentSettings<'_>) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let lockout_threshold =
            errors.check(Bounded::parse("lockout_threshold", sent.lockout_threshold));
        let lockout_window_minutes = errors.check(Bounded::parse(
            "lockout_window_minutes",
            sent.lockout_window_minutes,
        ));
        let lockout_minutes = errors.check(Bounded::parse("lockout_minutes", sent.lockout_minutes));
        let session_idle_minutes = errors.check(Bounded::parse(
            "session_idle_minutes",
            sent.session_idle_minutes,
        ));
        let session_absolute_minutes = errors.check(Bounded::parse(
            "session_absolute_minutes",
            sent.session_absolute_minutes,
        ));
        let temporary_session_minutes = errors.check(Bounded::parse(
            "temporary_session_minutes",
            sent.temporary_session_minutes,
        ));
        let encounter_lock_hours = errors.check(Bounded::parse(
            "encounter_lock_hours",
            sent.encounter_lock_hours,
        ));
        let record_retention_days = errors.check(Bounded::parse(
            "record_retention_days",
            sent.record_retention_days,
        ));
        let appointment_retention_days = errors.check(Bounded::parse(
            "appointment_retention_days",
            sent.appointment_retention_days,
        ));
        let audit_retention_days = errors.check(Bounded::parse(
            "audit_retention_days",
            sent.audit_retention_days,
        ));
        let time_zone = errors.check(PracticeZone::parse("time_zone", sent.time_zone));
        match (
            lockout_threshold,
            lockout_window_minutes,
            lockout_minutes,
            session_idle_minutes,
            session_absolute_minutes,
            temporary_session_minutes,
            encounter_lock_hours,
            record_retention_days,
            appointment_retention_days,
            audit_retention_days,
            time_zone,
        ) {
            (
                Some(lockout_threshold),
                Some(lockout_window_minutes),
                Some(lockout_minutes),
                Some(session_idle_minutes),
                Some(session_absolute_minutes),
                Some(temporary_session_minutes),
                Some(encounter_lock_hours),
                Some(record_retention_days),
                Some(appointment_retention_days),
                Some(audit_retention_days),
                Some(time_zone),
            ) if errors.0.is_empty() => Ok(Self {
                lockout_threshold,
                lockout_window_minutes,
                lockout_minutes,
                session_idle_minutes,
                session_absolute_minutes,
                temporary_session_minutes,
                require_second_factor: sent.require_second_factor,
                encounter_lock_hours,
                record_retention_days,
                appointment_retention_days,
                audit_retention_days,
                time_zone,
            }),
            _ => Err(errors),
        }
    }

    /// The settings as they would be sent again (what a form shows).
    pub fn sent(&self) -> SentSettings<'static> {
        let n = |v: i32| Some(i64::from(v));
        SentSettings {
            lockout_threshold: n(self.lockout_threshold.get()),
            lockout_window_minutes: n(self.lockout_window_minutes.get()),
            lockout_minutes: n(self.lockout_minutes.get()),
            session_idle_minutes: n(self.session_idle_minutes.get()),
            session_absolute_minutes: n(self.session_absolute_minutes.get()),
            temporary_session_minutes: n(self.temporary_session_minutes.get()),
            require_second_factor: self.require_second_factor,
            encounter_lock_hours: n(self.encounter_lock_hours.get()),
            record_retention_days: n(self.record_retention_days.get()),
            appointment_retention_days: n(self.appointment_retention_days.get()),
            audit_retention_days: n(self.audit_retention_days.get()),
            time_zone: self.time_zone.name(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults() -> SentSettings<'static> {
        SentSettings {
            lockout_threshold: Some(10),
            lockout_window_minutes: Some(15),
            lockout_minutes: Some(15),
            session_idle_minutes: Some(30),
            session_absolute_minutes: Some(720),
            temporary_session_minutes: Some(60),
            require_second_factor: false,
            encounter_lock_hours: Some(24),
            record_retention_days: Some(2557),
            appointment_retention_days: Some(730),
            audit_retention_days: Some(2557),
            time_zone: "Europe/London",
        }
    }

    #[test]
    fn the_defaults_parse_and_read_back_as_sent() {
        let parsed = PracticeSettings::parse(&defaults()).unwrap();
        assert_eq!(parsed.sent(), defaults());
        assert_eq!(parsed.time_zone.name(), "Europe/London");
    }

    #[test]
    fn every_bound_is_the_check_constraints_own() {
        for (low, high, field) in [
            (3, 100, "lockout_threshold"),
            (1, 1440, "lockout_window_minutes"),
            (1, 10080, "lockout_minutes"),
            (5, 1440, "session_idle_minutes"),
            (15, 10080, "session_absolute_minutes"),
            (5, 720, "temporary_session_minutes"),
            (1, 720, "encounter_lock_hours"),
            (365, 36_500, "record_retention_days"),
            (30, 36_500, "appointment_retention_days"),
            (365, 36_500, "audit_retention_days"),
        ] {
            for (value, ok) in [
                (low - 1, false),
                (low, true),
                (high, true),
                (high + 1, false),
            ] {
                let mut sent = defaults();
                let slot = match field {
                    "lockout_threshold" => &mut sent.lockout_threshold,
                    "lockout_window_minutes" => &mut sent.lockout_window_minutes,
                    "lockout_minutes" => &mut sent.lockout_minutes,
                    "session_idle_minutes" => &mut sent.session_idle_minutes,
                    "session_absolute_minutes" => &mut sent.session_absolute_minutes,
                    "temporary_session_minutes" => &mut sent.temporary_session_minutes,
                    "encounter_lock_hours" => &mut sent.encounter_lock_hours,
                    "record_retention_days" => &mut sent.record_retention_days,
                    "appointment_retention_days" => &mut sent.appointment_retention_days,
                    _ => &mut sent.audit_retention_days,
                };
                *slot = Some(i64::from(value));
                match PracticeSettings::parse(&sent) {
                    Ok(_) => assert!(ok, "{field} = {value} accepted"),
                    Err(errors) => {
                        assert!(!ok, "{field} = {value} refused");
                        assert_eq!(errors.0.len(), 1);
                        assert_eq!(errors.0[0].field, field);
                        assert_eq!(
                            errors.0[0].message,
                            format!("must be between {low} and {high}")
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn every_bad_field_is_named_at_once() {
        let sent = SentSettings {
            lockout_threshold: Some(2),
            session_idle_minutes: None,
            audit_retention_days: Some(i64::MAX),
            time_zone: "Mars/Olympus",
            ..defaults()
        };
        let errors = PracticeSettings::parse(&sent).unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "lockout_threshold",
                "session_idle_minutes",
                "audit_retention_days",
                "time_zone"
            ]
        );
        assert_eq!(
            errors.0[1].message,
            "must be a whole number between 5 and 1440"
        );
    }
}
