//! What the clinical pages share: reading query strings and form fields, keeping a
//! form's field messages for the page that shows it again, turning a store refusal
//! into words for that page, and writing dates and times the same way everywhere.
//!
//! Times are shown in UTC (the practice has no time zone setting yet), and every page
//! that shows one says so.

use crate::AppError;
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use paddock_domain::FieldError;
use paddock_domain::field::bounded_text;
use paddock_store::StoreError;
use std::fmt::Write as _;
use uuid::Uuid;

/// A query string as name/value pairs (first value of each name wins), read leniently:
/// a malformed query string reads as an empty one rather than an error page.
pub(super) struct Pairs(Vec<(String, String)>);

impl Pairs {
    /// The pairs of a query extraction, or none when the query string was malformed.
    pub(super) fn new<E>(query: Result<axum::extract::Query<Vec<(String, String)>>, E>) -> Self {
        Self(
            query
                .map(|axum::extract::Query(pairs)| pairs)
                .unwrap_or_default(),
        )
    }

    /// The trimmed first value of `name`, if it is there and not blank.
    pub(super) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.trim())
            .filter(|value| !value.is_empty())
    }

    /// Like [`Pairs::get`], as an owned string ("" when absent).
    pub(super) fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().to_owned()
    }
}

/// The messages of a refused form: one per field (shown beside the input) and the
/// ones that belong to no input (shown above the form).
#[derive(Default)]
pub struct FieldMessages(Vec<FieldError>);

impl FieldMessages {
    /// No messages.
    pub(super) fn none() -> Self {
        Self::default()
    }

    /// Adds a message for `field`.
    pub(super) fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// Adds every error, keeping the first message of each field.
    pub(super) fn extend(&mut self, errors: impl IntoIterator<Item = FieldError>) {
        self.0.extend(errors);
    }

    /// Records the error of a parse result, returning its value if it parsed.
    pub(super) fn check<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.0.push(error);
                None
            }
        }
    }

    /// Whether nothing was refused.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first message about `field`.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.message.as_str())
    }

    /// Every message as `Label: message`, for the summary above a form.
    pub fn summary(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|e| format!("{}: {}", label_of(&e.field), e.message))
            .collect()
    }
}

/// A field name as a person reads it (`given_name` → `Given name`, `staff_id` →
/// `Staff`: people choose a member or a patient, not an id).
fn label_of(field: &str) -> String {
    match field {
        "weight_kg" => return "Weight (kg)".to_owned(),
        "temperature_c" => return "Temperature (°C)".to_owned(),
        "q" => return "Search".to_owned(),
        "body" => return "Addendum".to_owned(),
        _ => {}
    }
    let field = field.strip_suffix("_id").unwrap_or(field);
    capitalised(&field.replace(['_', '.'], " "))
}

/// How a page answers a store refusal of a form: the form again with these messages
/// and this status, or (for anything a person cannot fix in the form) the error page.
pub(super) enum Refusal {
    /// Show the form again.
    Form(axum::http::StatusCode, FieldMessages),
    /// Not something the form can fix.
    Error(AppError),
}

impl Refusal {
    /// The refusal for a store error. `not_found` names the form field whose id was not
    /// found (the owner, the patient), when a missing row is the person's mistake.
    pub(super) fn of(error: StoreError, not_found: &[(&str, &str)]) -> Self {
        use axum::http::StatusCode;
        let mut messages = FieldMessages::none();
        match error {
            StoreError::Invalid(errors) => {
                messages.extend(errors.0);
                Refusal::Form(StatusCode::UNPROCESSABLE_ENTITY, messages)
            }
            StoreError::Conflict(field) => {
                messages.extend([field]);
                Refusal::Form(StatusCode::CONFLICT, messages)
            }
            StoreError::Locked(reason) => {
                messages.add("record", capitalised(reason));
                Refusal::Form(StatusCode::CONFLICT, messages)
            }
            StoreError::NotFound(what) => {
                match not_found.iter().find(|(entity, _)| *entity == what) {
                    Some((_, field)) => {
                        messages.add(field, format!("is not a {what} of this practice"));
                        Refusal::Form(StatusCode::UNPROCESSABLE_ENTITY, messages)
                    }
                    None => Refusal::Error(AppError::NotFound),
                }
            }
            other => Refusal::Error(other.into()),
        }
    }
}

/// `text` with its first letter upper-cased.
pub(super) fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// An id from the address; anything that is not a UUID is as unknown as a missing row
/// (the same 404 an id of another practice gets).
pub(super) fn path_id(raw: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(raw.trim()).map_err(|_| AppError::NotFound)
}

/// An optional id typed or chosen in a form.
pub(super) fn optional_id(field: &str, raw: &str) -> Result<Option<Uuid>, FieldError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    Uuid::parse_str(raw)
        .map(Some)
        .map_err(|_| FieldError::new(field, "is not an id of this practice"))
}

/// The trimmed text, unless it is blank.
pub(super) fn present(raw: &str) -> Option<&str> {
    Some(raw.trim()).filter(|text| !text.is_empty())
}

/// Optional one-line text: blank is none, anything else `1..=max` characters.
pub(super) fn optional_text(
    field: &str,
    raw: &str,
    max: usize,
) -> Result<Option<String>, FieldError> {
    if raw.trim().is_empty() {
        Ok(None)
    } else {
        bounded_text(field, raw, 1, max).map(Some)
    }
}

/// A date typed as `YYYY-MM-DD` (what a date input sends), in the years the calendar
/// accepts: the same parser as the API's.
pub(super) fn date(field: &str, raw: &str) -> Result<NaiveDate, FieldError> {
    paddock_domain::calendar::date(field, raw)
}

/// A time of day typed as `HH:MM` (what a time input sends; seconds are accepted).
pub(super) fn time(field: &str, raw: &str) -> Result<NaiveTime, FieldError> {
    let raw = raw.trim();
    NaiveTime::parse_from_str(raw, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(raw, "%H:%M:%S"))
        .map_err(|_| FieldError::new(field, "must be a time such as 09:30"))
}

/// `2027-03-15 09:00` (UTC).
pub(super) fn date_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M").to_string()
}

/// `09:00` (UTC).
pub(super) fn clock(at: DateTime<Utc>) -> String {
    at.format("%H:%M").to_string()
}

/// `Mon 15 Mar 2027`.
pub(super) fn day_short(day: NaiveDate) -> String {
    day.format("%a %-d %b %Y").to_string()
}

/// `Monday 15 March 2027`.
pub(super) fn day_long(day: NaiveDate) -> String {
    day.format("%A %-d %B %Y").to_string()
}

/// An age as a chart shows it: `3 y 4 m`, `7 m`, `12 d`.
pub(super) fn age(born: NaiveDate, today: NaiveDate) -> String {
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
pub(super) fn words(code: &str) -> String {
    code.replace('_', " ")
}

/// Percent-encodes a query-string component (everything but RFC 3986's unreserved set).
pub(super) fn encode(text: &str) -> String {
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
pub(super) fn href(path: &str, params: &[(&str, &str)]) -> String {
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

    #[test]
    fn field_messages_keep_the_first_message_of_each_field() {
        let mut messages = FieldMessages::none();
        messages.add("given_name", "must not be empty");
        messages.add("given_name", "second");
        messages.add("email", "must be an email address");
        assert_eq!(messages.get("given_name"), Some("must not be empty"));
        assert_eq!(messages.get("phone"), None);
        assert_eq!(
            messages.summary()[0],
            "Given name: must not be empty".to_owned()
        );
        assert_eq!(label_of("patient_id"), "Patient");
    }

    #[test]
    fn dates_and_times_parse_as_form_inputs_send_them() {
        assert_eq!(date("day", "2027-03-15").unwrap(), day("2027-03-15"));
        assert!(date("day", "15/03/2027").is_err());
        assert_eq!(time("t", "09:30").unwrap().to_string(), "09:30:00");
        assert_eq!(time("t", "09:30:00").unwrap().to_string(), "09:30:00");
        assert!(time("t", "9.30am").is_err());
        assert_eq!(optional_id("patient_id", " ").unwrap(), None);
        assert!(optional_id("patient_id", "rex").is_err());
    }
}
