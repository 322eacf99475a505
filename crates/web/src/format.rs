//! Display formatting for pages: dates, times, ages and codes written the same way
//! everywhere, and links with encoded query strings.
//!
//! Instants are shown in the practice's zone through `Nav::zone`
//! ([`paddock_domain::PracticeZone`]); what is here has no zone.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use paddock_domain::PracticeZone;
use std::fmt::Write as _;

/// `text` with its first letter upper-cased.
pub(crate) fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// An instant as the practice's wall clock shows it, with the zone's abbreviation in
/// force then (`2026-07-15 09:00 BST`).
pub(crate) fn local_time(zone: &PracticeZone, at: DateTime<Utc>) -> String {
    format!("{} {}", zone.format_date_time(at), zone.abbreviation(at))
}

/// `Mon 15 Mar 2027`.
pub(crate) fn day_short(day: NaiveDate) -> String {
    day.format("%a %-d %b %Y").to_string()
}

/// `Monday 15 March 2027`.
pub(crate) fn day_long(day: NaiveDate) -> String {
    day.format("%A %-d %B %Y").to_string()
}

/// An age as a chart shows it: `3 y 4 m`, `7 m`, `12 d`.
pub(crate) fn age(born: NaiveDate, today: NaiveDate) -> String {
    if born > today {
        return String::new();
    }
    let mut months = (today.year() - born.year()) * 12 + today.month() as i32 - born.month() as i32;
    if today.day() < born.day() {
        months -= 1;
    }
    match months {
        m if m >= 12 && m % 12 == 0 => format!("{} y", m / 12),
        m if m >= 12 => format!("{} y {} m", m / 12, m % 12),
        m if m >= 1 => format!("{m} m"),
        _ => format!("{} d", (today - born).num_days()),
    }
}

/// A code as people read it: underscores become spaces.
pub(crate) fn words(code: &str) -> String {
    code.replace('_', " ")
}

/// Percent-encodes a query-string component (everything but RFC 3986's unreserved set).
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// `path?name=value&...` from the non-empty values, encoded.
pub(crate) fn href(path: &str, params: &[(&str, &str)]) -> String {
    let query: Vec<String> = params
        .iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| format!("{name}={}", encode(value)))
        .collect();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn ages_read_in_years_months_or_days() {
        let today = day("2027-03-15");
        assert_eq!(age(day("2020-03-15"), today), "7 y");
        assert_eq!(age(day("2020-01-20"), today), "7 y 1 m");
        assert_eq!(age(day("2026-08-16"), today), "6 m");
        assert_eq!(age(day("2027-03-01"), today), "14 d");
        assert_eq!(age(day("2028-01-01"), today), "");
    }

    #[test]
    fn links_encode_their_values_and_drop_empty_ones() {
        assert_eq!(
            href("/patients", &[("q", "o'brien & co"), ("cursor", "")]),
            "/patients?q=o%27brien%20%26%20co"
        );
        assert_eq!(href("/patients", &[("q", "")]), "/patients");
    }
}
