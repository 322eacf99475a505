//! Body weights, recorded in kilograms.

use crate::field::FieldError;
use std::fmt;

/// The heaviest weight accepted: 1500 kg (a draught horse is about 1000 kg).
const MAX_GRAMS: u32 = 1_500_000;

/// A body weight in kilograms with at most three decimals (whole grams), above zero
/// and at most 1500 kg: from a hamster to a draught horse.
///
/// Kept as whole grams so that arithmetic and comparison are exact; shown and stored
/// as a decimal number of kilograms (`numeric(8, 3)` in the database).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WeightKg(u32);

impl WeightKg {
    /// Parses a weight in kilograms written as a decimal number (`4.25`, `0.035`, `612`).
    /// A comma is accepted as the decimal mark; a unit, exponent or sign is not.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let text = raw.trim().replace(',', ".");
        let invalid = || {
            FieldError::new(
                field,
                "must be a weight in kilograms such as 4.25, with at most 3 decimals",
            )
        };
        let (whole, fraction) = text.split_once('.').unwrap_or((&text, ""));
        let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || !digits_only(whole) || !digits_only(fraction) || fraction.len() > 3 {
            return Err(invalid());
        }
        if text.ends_with('.') {
            return Err(invalid());
        }
        let whole: u32 = whole.parse().map_err(|_| out_of_range(field))?;
        let mut grams_part = fraction.to_owned();
        while grams_part.len() < 3 {
            grams_part.push('0');
        }
        let fraction: u32 = grams_part.parse().map_err(|_| invalid())?;
        let grams = whole
            .checked_mul(1000)
            .and_then(|g| g.checked_add(fraction))
            .ok_or_else(|| out_of_range(field))?;
        Self::from_grams(grams).ok_or_else(|| out_of_range(field))
    }

    /// A weight of `grams`, if it is above zero and at most 1500 kg.
    pub fn from_grams(grams: u32) -> Option<Self> {
        (1..=MAX_GRAMS).contains(&grams).then_some(Self(grams))
    }

    /// The weight in whole grams.
    pub fn grams(self) -> u32 {
        self.0
    }
}

fn out_of_range(field: &str) -> FieldError {
    FieldError::new(field, "must be above 0 and at most 1500 kg")
}

impl fmt::Display for WeightKg {
    /// Kilograms with three decimals, as stored: `4.250`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_become_exact_grams() {
        for (raw, grams, shown) in [
            ("4.25", 4250, "4.250"),
            ("0.035", 35, "0.035"),
            (" 612 ", 612_000, "612.000"),
            ("3,5", 3500, "3.500"),
            ("1500", 1_500_000, "1500.000"),
            ("0.001", 1, "0.001"),
        ] {
            let weight = WeightKg::parse("weight_kg", raw).unwrap();
            assert_eq!(weight.grams(), grams, "{raw:?}");
            assert_eq!(weight.to_string(), shown, "{raw:?}");
        }
    }

    #[test]
    fn malformed_weights_are_refused_naming_the_field() {
        for bad in [
            "", ".5", "5.", "4.2500", "-3", "+3", "4kg", "1e3", "4.2.1", "abc", "NaN", "4 5",
        ] {
            let error = WeightKg::parse("vitals.weight_kg", bad).unwrap_err();
            assert_eq!(error.field, "vitals.weight_kg", "{bad:?}");
        }
    }

    #[test]
    fn zero_and_more_than_fifteen_hundred_kilograms_are_out_of_range() {
        for bad in ["0", "0.000", "1500.001", "99999999999"] {
            let error = WeightKg::parse("weight_kg", bad).unwrap_err();
            assert!(error.message.contains("1500 kg"), "{bad:?}: {error}");
        }
        assert_eq!(WeightKg::from_grams(0), None);
        assert_eq!(WeightKg::from_grams(1_500_001), None);
    }

    #[test]
    fn weights_compare_by_mass() {
        let light = WeightKg::parse("w", "4.2").unwrap();
        let heavy = WeightKg::parse("w", "4.25").unwrap();
        assert!(light < heavy);
    }
}
