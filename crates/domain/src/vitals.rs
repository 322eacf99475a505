//! Vital signs other than weight: body temperature, heart and respiratory rate.

use crate::field::FieldError;
use std::fmt;

/// A body temperature in tenths of a degree Celsius, 25.0 to 46.0 °C.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TemperatureC(i32);

impl TemperatureC {
    /// Parses `38.5` (one decimal at most; a comma is accepted as the separator).
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let raw = raw.trim().replace(',', ".");
        let (whole, tenth) = match raw.split_once('.') {
            Some((w, t)) => (w, t),
            None => (raw.as_str(), "0"),
        };
        let digits =
            |s: &str| !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b.is_ascii_digit());
        if !(digits(whole) && tenth.len() == 1 && digits(tenth)) {
            return Err(FieldError::new(
                field,
                "must be degrees Celsius with at most one decimal, like 38.5",
            ));
        }
        let tenths =
            whole.parse::<i32>().unwrap_or(i32::MAX / 10) * 10 + tenth.parse::<i32>().unwrap_or(0);
        if !(250..=460).contains(&tenths) {
            return Err(FieldError::new(field, "must be between 25.0 and 46.0 °C"));
        }
        Ok(Self(tenths))
    }

    /// Tenths of a degree.
    pub fn tenths(self) -> i32 {
        self.0
    }

    /// From tenths of a degree, if in range.
    pub fn from_tenths(tenths: i32) -> Option<Self> {
        (250..=460).contains(&tenths).then_some(Self(tenths))
    }
}

impl fmt::Display for TemperatureC {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0 / 10, self.0 % 10)
    }
}

/// A rate per minute within a plausible range (heart 1–600, respiration 1–300).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PerMinute(u16);

impl PerMinute {
    /// A heart rate in beats per minute.
    pub fn heart_rate(field: &str, value: i64) -> Result<Self, FieldError> {
        Self::within(field, value, 600, "beats per minute")
    }

    /// A respiratory rate in breaths per minute.
    pub fn respiratory_rate(field: &str, value: i64) -> Result<Self, FieldError> {
        Self::within(field, value, 300, "breaths per minute")
    }

    fn within(field: &str, value: i64, max: u16, unit: &str) -> Result<Self, FieldError> {
        u16::try_from(value)
            .ok()
            .filter(|v| (1..=max).contains(v))
            .map(Self)
            .ok_or_else(|| FieldError::new(field, format!("must be 1 to {max} {unit}")))
    }

    /// The count.
    pub fn get(self) -> u16 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temperatures_keep_one_decimal() {
        assert_eq!(TemperatureC::parse("t", "38.5").unwrap().tenths(), 385);
        assert_eq!(TemperatureC::parse("t", "39").unwrap().to_string(), "39.0");
        assert_eq!(TemperatureC::parse("t", "37,2").unwrap().tenths(), 372);
    }

    #[test]
    fn implausible_temperatures_are_refused() {
        for raw in ["24.9", "46.1", "38.55", "-38", "hot", "", "38."] {
            assert!(TemperatureC::parse("t", raw).is_err(), "{raw}");
        }
        assert!(TemperatureC::from_tenths(461).is_none());
    }

    #[test]
    fn rates_have_bounds() {
        assert_eq!(PerMinute::heart_rate("hr", 120).unwrap().get(), 120);
        assert!(PerMinute::heart_rate("hr", 0).is_err());
        assert!(PerMinute::heart_rate("hr", 601).is_err());
        assert!(PerMinute::respiratory_rate("rr", 301).is_err());
        assert_eq!(
            PerMinute::respiratory_rate("rr", -4).unwrap_err().message,
            "must be 1 to 300 breaths per minute"
        );
    }
}
