//! Calendar dates and instants as people and API clients write them, bounded to the
//! years a practice's records and appointments can concern.
//!
//! The one parser for every page and API field: chrono accepts years up to ±262143,
//! where date arithmetic overflows (a panic) and PostgreSQL refuses the value (a 500),
//! so anything outside [`FIRST_YEAR`]..=[`LAST_YEAR`] is refused here, at the edge,
//! as a field error.

use crate::FieldError;
use chrono::{DateTime, Datelike, NaiveDate, Utc};

/// The earliest year accepted (the oldest records and patients).
pub const FIRST_YEAR: i32 = 1900;
/// The latest year accepted (far beyond any booking or due date).
pub const LAST_YEAR: i32 = 2200;

fn in_range(year: i32) -> bool {
    (FIRST_YEAR..=LAST_YEAR).contains(&year)
}

/// A calendar date written `YYYY-MM-DD` (what a date input sends), in the accepted years.
pub fn date(field: &str, raw: &str) -> Result<NaiveDate, FieldError> {
    let refused = || {
        FieldError::new(
            field,
            format!(
                "must be a date from {FIRST_YEAR}-01-01 to {LAST_YEAR}-12-31, such as 2027-03-15"
            ),
        )
    };
    let raw = raw.trim();
    // Four-digit years only: no sign, no wider year, nothing chrono would stretch.
    let shaped = raw.len() == 10
        && raw.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shaped {
        return Err(refused());
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .filter(|day| in_range(day.year()))
        .ok_or_else(refused)
}

/// An RFC 3339 instant such as `2027-03-15T09:00:00Z`, in the accepted years (in UTC).
pub fn instant(field: &str, raw: &str) -> Result<DateTime<Utc>, FieldError> {
    let at = DateTime::parse_from_rfc3339(raw.trim())
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            FieldError::new(
                field,
                "must be an RFC 3339 time such as 2027-03-15T09:00:00Z",
            )
        })?;
    if in_range(at.year()) {
        Ok(at)
    } else {
        Err(FieldError::new(
            field,
            format!("must be a time from {FIRST_YEAR} to {LAST_YEAR}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn dates_in_the_accepted_years_parse() {
        assert_eq!(
            date("day", " 2027-03-15 ").unwrap(),
            NaiveDate::from_ymd_opt(2027, 3, 15).unwrap()
        );
        assert!(date("day", "1900-01-01").is_ok());
        assert!(date("day", "2200-12-31").is_ok());
        assert!(date("day", "2028-02-29").is_ok());
    }

    #[test]
    fn dates_outside_them_or_malformed_are_refused_naming_the_field() {
        for raw in [
            "1899-12-31",
            "2201-01-01",
            "+262142-12-31",
            "-262143-01-01",
            "+2027-03-15",
            "02027-03-15",
            "2027-02-29",
            "2027-13-01",
            "2027-3-15",
            "15/03/2027",
            "2027-03-15T00:00",
            "",
        ] {
            let error = date("onset_on", raw).unwrap_err();
            assert_eq!(error.field, "onset_on", "{raw}");
        }
    }

    #[test]
    fn instants_are_bounded_in_utc() {
        assert!(instant("starts_at", "2027-03-15T09:00:00Z").is_ok());
        assert!(instant("starts_at", "2200-12-31T23:00:00-00:30").is_ok());
        assert!(instant("starts_at", "2200-12-31T23:00:00-01:30").is_err());
        assert!(instant("starts_at", "9999-12-31T23:00:00Z").is_err());
        assert!(instant("starts_at", "0001-01-01T00:00:00Z").is_err());
        assert!(instant("starts_at", "tomorrow").is_err());
    }

    /// A small deterministic generator (xorshift), so the property runs the same
    /// strings every time without a dependency.
    struct Strings(u64);

    impl Strings {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, n: u64) -> i64 {
            i64::try_from(self.next() % n).unwrap()
        }

        /// A date-shaped string (years anywhere from far before to far after what
        /// chrono holds, months and days just outside their ranges, signs, time
        /// parts), or a jumble of pieces.
        fn string(&mut self) -> String {
            const PIECES: &[&str] = &[
                "0", "1", "2", "9", "-", "+", "T", "Z", ":", " ", ".", "262143", "262144", "1899",
                "1900", "2200", "2201", "9999", "00", "12", "13", "29", "31", "32", "\u{7f}",
                "\u{0}", "é", "%",
            ];
            let year = match self.below(4) {
                0 => self.below(600_000) - 300_000,
                1 => self.below(400) + 1850,
                2 => self.below(20_000) - 10_000,
                _ => [i64::from(i32::MIN), i64::from(i32::MAX), 262_143, -262_144]
                    [usize::try_from(self.below(4)).unwrap()],
            };
            let (month, day) = (self.below(15), self.below(34));
            let sign = ["", "+", "-"][usize::try_from(self.below(3)).unwrap()];
            match self.below(4) {
                0 => format!("{sign}{year:04}-{month:02}-{day:02}"),
                1 => format!("{year:04}-{month:02}-{day:02}"),
                2 => format!(
                    "{year:04}-{month:02}-{day:02}T{:02}:{:02}:00{}",
                    self.below(25),
                    self.below(61),
                    ["Z", "+14:00", "-12:00", ""][usize::try_from(self.below(4)).unwrap()]
                ),
                _ => {
                    let len = self.below(12);
                    (0..len)
                        .map(|_| PIECES[usize::try_from(self.below(PIECES.len() as u64)).unwrap()])
                        .collect()
                }
            }
        }
    }

    #[test]
    fn no_string_parses_to_a_date_whose_week_arithmetic_overflows() {
        let mut strings = Strings(0x9e37_79b9_7f4a_7c15);
        let mut accepted = 0;
        for _ in 0..200_000 {
            let raw = strings.string();
            if let Ok(day) = date("day", &raw) {
                accepted += 1;
                // What the calendar does with a date: weeks either side, a day's end.
                assert!(
                    day.checked_add_signed(Duration::days(14)).is_some(),
                    "{raw}"
                );
                assert!(
                    day.checked_sub_signed(Duration::days(14)).is_some(),
                    "{raw}"
                );
                assert!((FIRST_YEAR..=LAST_YEAR).contains(&day.year()), "{raw}");
            }
            if let Ok(at) = instant("at", &raw) {
                assert!(at.checked_add_signed(Duration::days(2)).is_some(), "{raw}");
                assert!((FIRST_YEAR..=LAST_YEAR).contains(&at.year()), "{raw}");
            }
        }
        // The generator does reach valid dates, so the property is not vacuous.
        assert!(accepted > 0, "no generated string was a date");
    }
}
