//! Pet microchip numbers (ISO 11784/11785 FDX-B transponders, as printed and scanned).

use crate::field::FieldError;
use std::fmt;

/// The largest national identification code: ISO 11784 gives it 38 bits.
const MAX_NATIONAL_ID: u64 = (1 << 38) - 1;

/// What the first three digits of a microchip number name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChipIssuer {
    /// An ISO 3166-1 numeric country code (001-899): the country that registered it.
    Country(u16),
    /// A manufacturer code (900-998) under ICAR's shared code scheme.
    Manufacturer(u16),
}

/// A 15-digit ISO 11784/11785 microchip number: a 3-digit country or manufacturer code
/// then a 12-digit national identification code.
///
/// Readers print the number in decimal; the transponder stores the code in 10 bits and
/// the national part in 38, so the national part is at most 274 877 906 943. Code 000 is
/// not assigned and 999 marks test transponders, which never identify an animal.
/// Spaces, hyphens and dots that people type between groups are dropped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Microchip(String);

impl Microchip {
    /// Parses a microchip number as read from a scanner or typed by a person.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let digits: String = raw
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.'))
            .collect();
        if digits.len() != 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid_digits(field));
        }
        let (code, national) = digits.split_at(3);
        let code: u16 = code.parse().map_err(|_| invalid_digits(field))?;
        let national: u64 = national.parse().map_err(|_| invalid_digits(field))?;
        match code {
            0 => Err(FieldError::new(
                field,
                "starts with 000, which is not an assigned country or manufacturer code",
            )),
            999 => Err(FieldError::new(
                field,
                "starts with 999: a test transponder, which does not identify an animal",
            )),
            _ if national > MAX_NATIONAL_ID => Err(FieldError::new(
                field,
                "has a national part above 274877906943, which no ISO 11784 transponder can hold",
            )),
            _ => Ok(Self(digits)),
        }
    }

    /// The 15 digits, without separators.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Who issued the number: a country or a manufacturer.
    pub fn issuer(&self) -> ChipIssuer {
        let code = self
            .0
            .get(..3)
            .and_then(|c| c.parse::<u16>().ok())
            .unwrap_or_default();
        if code >= 900 {
            ChipIssuer::Manufacturer(code)
        } else {
            ChipIssuer::Country(code)
        }
    }
}

/// The error for anything but 15 decimal digits.
fn invalid_digits(field: &str) -> FieldError {
    FieldError::new(field, "must be a 15-digit ISO 11784/11785 microchip number")
}

impl fmt::Display for Microchip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_typed_in_groups_is_kept_as_its_fifteen_digits() {
        let chip = Microchip::parse("microchip", " 985 141-000.123456 ").unwrap();
        assert_eq!(chip.as_str(), "985141000123456");
        assert_eq!(chip.to_string(), "985141000123456");
        assert_eq!(chip.issuer(), ChipIssuer::Manufacturer(985));
    }

    #[test]
    fn a_country_code_names_the_country() {
        // 826: the United Kingdom; 250: France.
        let uk = Microchip::parse("microchip", "826012345678901").unwrap();
        assert_eq!(uk.issuer(), ChipIssuer::Country(826));
        let fr = Microchip::parse("microchip", "250269604123456").unwrap();
        assert_eq!(fr.issuer(), ChipIssuer::Country(250));
    }

    #[test]
    fn the_largest_national_part_a_transponder_holds_is_accepted() {
        assert!(Microchip::parse("microchip", "900274877906943").is_ok());
        let over = Microchip::parse("microchip", "900274877906944").unwrap_err();
        assert_eq!(over.field, "microchip");
        assert!(over.message.contains("274877906943"), "{over}");
    }

    #[test]
    fn wrong_lengths_letters_and_other_symbols_are_refused_naming_the_field() {
        for bad in [
            "",
            "98514100012345",   // 14 digits
            "9851410001234567", // 16 digits
            "98514100012345A",
            "985_141_000_123_456",
            "９８５１４１０００１２３４５６", // full-width digits
            "AVID*012*345*678",               // 10-digit AVID format, not ISO
        ] {
            let error = Microchip::parse("patient.microchip", bad).unwrap_err();
            assert_eq!(error.field, "patient.microchip", "{bad:?}");
            assert!(error.message.contains("15-digit"), "{bad:?}: {error}");
        }
    }

    #[test]
    fn unassigned_and_test_codes_are_refused() {
        let unassigned = Microchip::parse("microchip", "000123456789012").unwrap_err();
        assert!(unassigned.message.contains("000"), "{unassigned}");
        let test = Microchip::parse("microchip", "999000000000001").unwrap_err();
        assert!(test.message.contains("test transponder"), "{test}");
    }
}
