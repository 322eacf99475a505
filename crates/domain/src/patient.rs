//! Values describing a patient (an animal): sex and neuter status, date of birth.

use crate::field::FieldError;
use chrono::{Months, NaiveDate};
use serde::{Deserialize, Serialize};

/// Sex and reproductive status, as a chart records them; on the wire, its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatientSex {
    /// Female, entire.
    Female,
    /// Female, spayed.
    FemaleSpayed,
    /// Male, entire.
    Male,
    /// Male, neutered (castrated).
    MaleNeutered,
    /// Not known (a stray, an unsexed bird or reptile).
    Unknown,
}

impl PatientSex {
    /// Every value, in the order forms list them.
    pub const ALL: [PatientSex; 5] = [
        Self::Female,
        Self::FemaleSpayed,
        Self::Male,
        Self::MaleNeutered,
        Self::Unknown,
    ];

    /// The stable code used in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Female => "female",
            Self::FemaleSpayed => "female_spayed",
            Self::Male => "male",
            Self::MaleNeutered => "male_neutered",
            Self::Unknown => "unknown",
        }
    }

    /// Parses a code.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        Self::ALL
            .into_iter()
            .find(|sex| sex.as_str() == raw.trim())
            .ok_or_else(|| {
                FieldError::new(
                    field,
                    "must be one of female, female_spayed, male, male_neutered, unknown",
                )
            })
    }

    /// The code as people read it: underscores become spaces.
    pub fn label(self) -> String {
        self.as_str().replace('_', " ")
    }

    /// Whether the animal is spayed or neutered.
    pub fn is_neutered(self) -> bool {
        matches!(self, Self::FemaleSpayed | Self::MaleNeutered)
    }
}

/// Reads a stored code (the store decodes the column through this).
impl TryFrom<String> for PatientSex {
    type Error = FieldError;

    fn try_from(code: String) -> Result<Self, FieldError> {
        Self::parse("sex", &code)
    }
}

/// The oldest age accepted for a patient (tortoises and parrots outlive most owners).
const MAX_AGE_YEARS: u32 = 150;

/// A date of birth, exact or estimated ("about 3 years old" on intake).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateOfBirth {
    /// The date, or the estimate.
    pub date: NaiveDate,
    /// Whether `date` is an estimate.
    pub estimated: bool,
}

impl DateOfBirth {
    /// Parses `YYYY-MM-DD`, refusing dates after `today` or more than 150 years before.
    pub fn parse(
        field: &str,
        raw: &str,
        estimated: bool,
        today: NaiveDate,
    ) -> Result<Self, FieldError> {
        let date = NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
            .map_err(|_| FieldError::new(field, "must be a date such as 2021-04-30"))?;
        if date > today {
            return Err(FieldError::new(field, "must not be in the future"));
        }
        let oldest = today
            .checked_sub_months(Months::new(MAX_AGE_YEARS * 12))
            .unwrap_or(NaiveDate::MIN);
        if date < oldest {
            return Err(FieldError::new(
                field,
                format!("must be within the last {MAX_AGE_YEARS} years"),
            ));
        }
        Ok(Self { date, estimated })
    }
}

/// How far ahead of the server's clock a clinical time may be (clocks of the devices
/// that send them drift a little).
pub fn clock_skew() -> chrono::Duration {
    chrono::Duration::minutes(5)
}

/// The earliest day a clinical record may carry when the patient's date of birth is
/// not known: a year like 1900 is a typing slip, not a visit.
pub fn earliest_record_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(1950, 1, 1).unwrap_or(NaiveDate::MIN)
}

/// A clinical record's day must fall within the patient's life: not before its date
/// of birth (estimated or not), or before [`earliest_record_day`] when that is unknown.
pub fn within_life(field: &str, day: NaiveDate, born: Option<NaiveDate>) -> Result<(), FieldError> {
    match born {
        Some(born) if day < born => Err(FieldError::new(
            field,
            format!("must not be before the patient's date of birth ({born})"),
        )),
        None if day < earliest_record_day() => Err(FieldError::new(
            field,
            format!("must not be before {}", earliest_record_day()),
        )),
        _ => Ok(()),
    }
}

/// A clinical time must not be later than `now` (plus [`clock_skew`]).
pub fn not_in_future(
    field: &str,
    at: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), FieldError> {
    if at > now + clock_skew() {
        Err(FieldError::new(field, "must not be in the future"))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_sex_serialises_as_its_code() {
        for sex in PatientSex::ALL {
            let json = serde_json::to_string(&sex).unwrap();
            assert_eq!(json, format!("\"{}\"", sex.as_str()));
            assert_eq!(serde_json::from_str::<PatientSex>(&json).unwrap(), sex);
        }
    }

    #[test]
    fn every_sex_code_round_trips() {
        for sex in PatientSex::ALL {
            assert_eq!(PatientSex::parse("sex", sex.as_str()).unwrap(), sex);
        }
        assert!(PatientSex::MaleNeutered.is_neutered());
        assert!(PatientSex::FemaleSpayed.is_neutered());
        assert!(!PatientSex::Female.is_neutered());
        assert!(!PatientSex::Unknown.is_neutered());
    }

    #[test]
    fn unknown_sex_codes_are_refused_naming_the_field() {
        for bad in ["", "F", "Female", "neutered", "male neutered"] {
            let error = PatientSex::parse("patient.sex", bad).unwrap_err();
            assert_eq!(error.field, "patient.sex", "{bad:?}");
        }
    }

    #[test]
    fn a_birth_date_is_today_or_earlier_and_within_150_years() {
        let today = day("2026-11-28");
        let born = DateOfBirth::parse("date_of_birth", "2021-04-30", true, today).unwrap();
        assert_eq!(born.date, day("2021-04-30"));
        assert!(born.estimated);
        assert!(DateOfBirth::parse("d", "2026-11-28", false, today).is_ok());
        assert!(DateOfBirth::parse("d", "1876-11-28", false, today).is_ok());
        for (bad, message) in [
            ("2026-11-29", "future"),
            ("1876-11-27", "150 years"),
            ("30/04/2021", "date such as"),
            ("2021-02-30", "date such as"),
        ] {
            let error = DateOfBirth::parse("date_of_birth", bad, false, today).unwrap_err();
            assert_eq!(error.field, "date_of_birth");
            assert!(error.message.contains(message), "{bad:?}: {error}");
        }
    }

    #[test]
    fn clinical_days_fall_within_the_patients_life() {
        let born = NaiveDate::from_ymd_opt(2020, 6, 1).unwrap();
        assert!(within_life("d", born, Some(born)).is_ok());
        assert!(within_life("d", born.pred_opt().unwrap(), Some(born)).is_err());
        let early = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap();
        assert_eq!(
            within_life("started_at", early, None).unwrap_err().field,
            "started_at"
        );
        let now = chrono::Utc::now();
        assert!(not_in_future("t", now + chrono::Duration::minutes(4), now).is_ok());
        assert!(not_in_future("t", now + chrono::Duration::minutes(6), now).is_err());
    }
}
