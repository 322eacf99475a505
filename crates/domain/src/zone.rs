//! A practice's time zone (an IANA name such as `Europe/London`) and the conversions
//! pages need between what a receptionist reads on the wall clock and the UTC instants
//! the database and the API keep.
//!
//! Daylight saving makes two local times special. In the spring-forward gap a wall-clock
//! time never happens (01:30 on 29 March 2026 in London): it is refused as a field
//! error, never moved silently. In the autumn overlap it happens twice (01:30 on 25
//! October 2026 in London): the earlier instant is taken, the one a person reading the
//! clock meets first. A local day is the half-open UTC range from its first instant to
//! the next day's, so it lasts 23 or 25 hours on the days the clocks change.

use crate::FieldError;
use chrono::{DateTime, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// The longest zone name accepted (the longest IANA name is about 32 characters).
pub const MAX_NAME_CHARS: usize = 64;

/// A valid IANA time zone, by construction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PracticeZone(Tz);

impl PracticeZone {
    /// UTC: every practice's zone until an admin sets one.
    pub const UTC: PracticeZone = PracticeZone(Tz::UTC);

    /// Parses an IANA zone name sent in `field` (exact spelling, as the tz database
    /// writes it: `Europe/London`, not `europe/london` or `GMT+1`).
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let name = raw.trim();
        if name.is_empty() {
            return Err(FieldError::new(field, "must not be empty"));
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(FieldError::new(
                field,
                format!("must be at most {MAX_NAME_CHARS} characters"),
            ));
        }
        Tz::from_str(name).map(Self).map_err(|_| {
            FieldError::new(
                field,
                "must be a time zone name such as Europe/London or America/New_York",
            )
        })
    }

    /// The IANA name, as stored and shown.
    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// The instant a wall-clock `date` and `time` in this zone stand for. A time the
    /// clocks skip is refused (reported on `field`); a time they pass twice is the
    /// earlier instant.
    pub fn instant(
        &self,
        field: &str,
        date: NaiveDate,
        time: NaiveTime,
    ) -> Result<DateTime<Utc>, FieldError> {
        match self.0.from_local_datetime(&date.and_time(time)) {
            LocalResult::Single(at) => Ok(at.with_timezone(&Utc)),
            LocalResult::Ambiguous(earlier, _later) => Ok(earlier.with_timezone(&Utc)),
            LocalResult::None => Err(FieldError::new(
                field,
                format!(
                    "{} does not exist in {}: the clocks go forward then; choose a time after the change",
                    time.format("%H:%M"),
                    self.name()
                ),
            )),
        }
    }

    /// The wall-clock date and time in this zone at `at`.
    pub fn local(&self, at: DateTime<Utc>) -> NaiveDateTime {
        at.with_timezone(&self.0).naive_local()
    }

    /// The local calendar date at `at` (which day's calendar an instant belongs on).
    pub fn date_of(&self, at: DateTime<Utc>) -> NaiveDate {
        self.local(at).date()
    }

    /// The UTC range `[start, end)` of the local day `day`: 24 hours on most days, 23
    /// when the clocks go forward and 25 when they go back.
    pub fn day_bounds(&self, day: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
        let start = self.first_instant(day);
        let end = day
            .succ_opt()
            .map_or(start + Duration::days(1), |next| self.first_instant(next));
        (start, end)
    }

    /// The first instant whose local date is `day` or later. Midnight itself, in most
    /// zones; in a zone whose clocks skip midnight, the first minute after the gap; for
    /// a day a zone skipped entirely (Pacific/Apia, 30 December 2011), the next day's
    /// start, so the day is an empty range.
    fn first_instant(&self, day: NaiveDate) -> DateTime<Utc> {
        let midnight = day.and_time(NaiveTime::MIN);
        // Gaps last at most a day, so two days of minutes always meet a valid time.
        (0..2 * 24 * 60)
            .find_map(|minute| {
                self.0
                    .from_local_datetime(&(midnight + Duration::minutes(minute)))
                    .earliest()
            })
            .map_or_else(|| midnight.and_utc(), |at| at.with_timezone(&Utc))
    }

    /// The local date at `at`, written `2026-03-29` (what a date input shows).
    pub fn format_date(&self, at: DateTime<Utc>) -> String {
        self.local(at).format("%Y-%m-%d").to_string()
    }

    /// The local time at `at`, written `09:00` (24-hour, minutes).
    pub fn format_time(&self, at: DateTime<Utc>) -> String {
        self.local(at).format("%H:%M").to_string()
    }

    /// The local date and time at `at`, written `2026-03-29 09:00`.
    pub fn format_date_time(&self, at: DateTime<Utc>) -> String {
        self.local(at).format("%Y-%m-%d %H:%M").to_string()
    }

    /// The zone's abbreviation in force at `at` (`GMT`, `BST`, `EDT`), for a page that
    /// labels its times.
    pub fn abbreviation(&self, at: DateTime<Utc>) -> String {
        at.with_timezone(&self.0).format("%Z").to_string()
    }
}

impl Default for PracticeZone {
    fn default() -> Self {
        Self::UTC
    }
}

impl fmt::Display for PracticeZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PracticeZone {
    type Err = FieldError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::parse("time_zone", raw)
    }
}

impl Serialize for PracticeZone {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for PracticeZone {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse("time_zone", &raw).map_err(|e| serde::de::Error::custom(e.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str) -> PracticeZone {
        PracticeZone::parse("time_zone", name).unwrap()
    }

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn utc(raw: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(raw)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn hours(bounds: (DateTime<Utc>, DateTime<Utc>)) -> i64 {
        (bounds.1 - bounds.0).num_hours()
    }

    #[test]
    fn iana_names_parse_and_display_as_written() {
        for name in ["Europe/London", "America/New_York", "UTC", "Asia/Kolkata"] {
            assert_eq!(zone(name).to_string(), name);
            assert_eq!(zone(name).name(), name);
        }
        assert_eq!(zone(" Europe/London ").name(), "Europe/London");
        assert_eq!(PracticeZone::default(), PracticeZone::UTC);
    }

    #[test]
    fn unknown_or_empty_names_are_refused_in_our_words() {
        for raw in [
            "Europe/Londres",
            "europe/london",
            "GMT+1 ",
            "Mars/Olympus",
            "'; drop",
        ] {
            let refused = PracticeZone::parse("time_zone", raw).unwrap_err();
            assert_eq!(refused.field, "time_zone", "{raw}");
            assert_eq!(
                refused.message,
                "must be a time zone name such as Europe/London or America/New_York",
                "{raw}"
            );
        }
        let empty = PracticeZone::parse("time_zone", "  ").unwrap_err();
        assert_eq!(empty.message, "must not be empty");
        let long = PracticeZone::parse("time_zone", &"A/".repeat(40)).unwrap_err();
        assert_eq!(long.message, "must be at most 64 characters");
    }

    #[test]
    fn a_london_booking_at_nine_is_eight_utc_in_summer_and_nine_in_winter() {
        let london = zone("Europe/London");
        let summer = london
            .instant("starts_at", day(2026, 7, 14), hm(9, 0))
            .unwrap();
        assert_eq!(summer, utc("2026-07-14T08:00:00Z"));
        let winter = london
            .instant("starts_at", day(2026, 1, 14), hm(9, 0))
            .unwrap();
        assert_eq!(winter, utc("2026-01-14T09:00:00Z"));
        // And back again, as a page shows them.
        assert_eq!(london.format_time(summer), "09:00");
        assert_eq!(london.format_time(winter), "09:00");
        assert_eq!(london.format_date_time(summer), "2026-07-14 09:00");
        assert_eq!(london.format_date(summer), "2026-07-14");
        assert_eq!(london.abbreviation(summer), "BST");
        assert_eq!(london.abbreviation(winter), "GMT");
    }

    #[test]
    fn a_new_york_booking_at_nine_is_thirteen_utc_in_summer_and_fourteen_in_winter() {
        let new_york = zone("America/New_York");
        let summer = new_york
            .instant("starts_at", day(2026, 7, 14), hm(9, 0))
            .unwrap();
        assert_eq!(summer, utc("2026-07-14T13:00:00Z"));
        let winter = new_york
            .instant("starts_at", day(2026, 1, 14), hm(9, 0))
            .unwrap();
        assert_eq!(winter, utc("2026-01-14T14:00:00Z"));
        assert_eq!(new_york.format_time(winter), "09:00");
    }

    #[test]
    fn a_time_in_the_spring_forward_gap_is_refused_with_a_clear_field_error() {
        for (name, date, time) in [
            ("Europe/London", day(2026, 3, 29), hm(1, 30)),
            ("America/New_York", day(2026, 3, 8), hm(2, 30)),
        ] {
            let refused = zone(name).instant("starts_at", date, time).unwrap_err();
            assert_eq!(refused.field, "starts_at");
            assert_eq!(
                refused.message,
                format!(
                    "{} does not exist in {name}: the clocks go forward then; choose a time after the change",
                    time.format("%H:%M")
                )
            );
        }
        // Either side of the gap is fine.
        let london = zone("Europe/London");
        assert_eq!(
            london.instant("t", day(2026, 3, 29), hm(0, 59)).unwrap(),
            utc("2026-03-29T00:59:00Z")
        );
        assert_eq!(
            london.instant("t", day(2026, 3, 29), hm(2, 0)).unwrap(),
            utc("2026-03-29T01:00:00Z")
        );
    }

    #[test]
    fn a_time_in_the_autumn_overlap_is_the_earlier_instant() {
        let london = zone("Europe/London");
        // 01:30 happens at 00:30Z (BST) and again at 01:30Z (GMT).
        assert_eq!(
            london.instant("t", day(2026, 10, 25), hm(1, 30)).unwrap(),
            utc("2026-10-25T00:30:00Z")
        );
        let new_york = zone("America/New_York");
        // 01:30 happens at 05:30Z (EDT) and again at 06:30Z (EST).
        assert_eq!(
            new_york.instant("t", day(2026, 11, 1), hm(1, 30)).unwrap(),
            utc("2026-11-01T05:30:00Z")
        );
        // Both instants read back as 01:30 local.
        assert_eq!(london.format_time(utc("2026-10-25T01:30:00Z")), "01:30");
    }

    #[test]
    fn utc_instants_read_back_as_local_wall_clock_times() {
        let london = zone("Europe/London");
        assert_eq!(
            london.local(utc("2026-03-29T00:59:00Z")),
            day(2026, 3, 29).and_time(hm(0, 59))
        );
        assert_eq!(
            london.local(utc("2026-03-29T01:00:00Z")),
            day(2026, 3, 29).and_time(hm(2, 0))
        );
        // Late evening in New York is already tomorrow in UTC.
        let new_york = zone("America/New_York");
        assert_eq!(
            new_york.date_of(utc("2026-07-15T02:00:00Z")),
            day(2026, 7, 14)
        );
    }

    #[test]
    fn days_the_clocks_change_last_23_and_25_hours() {
        let london = zone("Europe/London");
        assert_eq!(hours(london.day_bounds(day(2026, 3, 29))), 23);
        assert_eq!(hours(london.day_bounds(day(2026, 10, 25))), 25);
        assert_eq!(hours(london.day_bounds(day(2026, 7, 14))), 24);
        let new_york = zone("America/New_York");
        assert_eq!(hours(new_york.day_bounds(day(2026, 3, 8))), 23);
        assert_eq!(hours(new_york.day_bounds(day(2026, 11, 1))), 25);
        assert_eq!(hours(new_york.day_bounds(day(2026, 1, 14))), 24);
    }

    #[test]
    fn day_bounds_start_at_local_midnight_and_meet_the_next_day() {
        let london = zone("Europe/London");
        assert_eq!(
            london.day_bounds(day(2026, 3, 29)),
            (utc("2026-03-29T00:00:00Z"), utc("2026-03-29T23:00:00Z"))
        );
        assert_eq!(
            london.day_bounds(day(2026, 10, 25)),
            (utc("2026-10-24T23:00:00Z"), utc("2026-10-26T00:00:00Z"))
        );
        let new_york = zone("America/New_York");
        assert_eq!(
            new_york.day_bounds(day(2026, 3, 8)),
            (utc("2026-03-08T05:00:00Z"), utc("2026-03-09T04:00:00Z"))
        );
        assert_eq!(
            new_york.day_bounds(day(2026, 11, 1)),
            (utc("2026-11-01T04:00:00Z"), utc("2026-11-02T05:00:00Z"))
        );
        // Consecutive days tile the time line: no gap, no overlap.
        let (_, end) = new_york.day_bounds(day(2026, 10, 31));
        let (start, _) = new_york.day_bounds(day(2026, 11, 1));
        assert_eq!(end, start);
    }

    #[test]
    fn a_day_whose_midnight_the_clocks_skip_starts_after_the_gap() {
        // Havana moved its clocks from 00:00 to 01:00 on 8 March 2026 (CST to CDT).
        let havana = zone("America/Havana");
        let (start, end) = havana.day_bounds(day(2026, 3, 8));
        assert_eq!(havana.local(start), day(2026, 3, 8).and_time(hm(1, 0)));
        assert_eq!((end - start).num_hours(), 23);
        // A day a zone skipped entirely is empty: Samoa went from 29 to 31 December 2011.
        let apia = zone("Pacific/Apia");
        let (start, end) = apia.day_bounds(day(2011, 12, 30));
        assert_eq!(start, end);
    }

    #[test]
    fn the_zone_travels_as_its_name() {
        let london = zone("Europe/London");
        assert_eq!(serde_json::to_string(&london).unwrap(), "\"Europe/London\"");
        let back: PracticeZone = serde_json::from_str("\"Europe/London\"").unwrap();
        assert_eq!(back, london);
        assert!(serde_json::from_str::<PracticeZone>("\"Nowhere/Special\"").is_err());
        assert_eq!(
            "America/New_York".parse::<PracticeZone>().unwrap().name(),
            "America/New_York"
        );
    }
}
