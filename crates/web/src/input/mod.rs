//! The one parsing vocabulary of routes and pages: ids (in the address, in a body, in a
//! form), dates, times, limits and cursors (the store's one `page::Cursor`), query
//! strings with a fixed set of parameters, and optional texts. Every failure is a
//! `FieldError` under the caller's field name, so a request collects all of them into
//! one 422 (or one form shown again); an id in a page's address that is no id is a
//! 404. The API's body and address extractors are in [`body`].

use crate::AppError;

pub mod body;
pub use body::{Json, Path, Query};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use paddock_domain::field::{bounded_text, no_control_characters, note_text};
use paddock_domain::{FieldError, FieldErrors};
use paddock_store::page::{self, Cursor};
use std::collections::BTreeMap;
use uuid::Uuid;

/// A query string's parameters, each known and given at most once, none holding a
/// control character (checked here once for every list); empty values count as
/// absent (forms send empty fields).
#[derive(Debug, Default)]
pub struct Params(BTreeMap<String, String>);

impl Params {
    /// Checks `pairs` against `known`, reporting unknown and repeated parameters.
    pub fn parse(pairs: &[(String, String)], known: &[&str]) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut params = BTreeMap::new();
        for (name, value) in pairs {
            if !known.contains(&name.as_str()) {
                let shown: String = name.chars().take(40).collect();
                errors.0.push(FieldError::new(
                    shown,
                    format!(
                        "is not a parameter of this list (known: {})",
                        known.join(", ")
                    ),
                ));
            } else if params.contains_key(name) {
                errors
                    .0
                    .push(FieldError::new(name.clone(), "must be given at most once"));
            } else if let Err(error) = no_control_characters(name, value) {
                errors.0.push(error);
            } else if !value.trim().is_empty() {
                params.insert(name.clone(), value.trim().to_owned());
            }
        }
        errors.into_result()?;
        Ok(Self(params))
    }

    /// The value of `name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// `limit` (1 to 200, default 50) and `cursor`, collecting errors.
    pub fn page(&self, errors: &mut FieldErrors) -> (i64, Option<Cursor>) {
        let limit = errors
            .check(page::limit("limit", self.get("limit")))
            .unwrap_or(page::DEFAULT_LIMIT);
        let cursor = self
            .get("cursor")
            .and_then(|c| errors.check(Cursor::decode("cursor", c)));
        (limit, cursor)
    }

    /// An id parameter.
    pub fn uuid(&self, name: &str, errors: &mut FieldErrors) -> Option<Uuid> {
        self.get(name).and_then(|v| errors.check(uuid(name, v)))
    }

    /// A time parameter (RFC 3339).
    pub fn time(&self, name: &str, errors: &mut FieldErrors) -> Option<DateTime<Utc>> {
        self.get(name).and_then(|v| errors.check(time(name, v)))
    }
}

/// An id.
pub fn uuid(field: &str, raw: &str) -> Result<Uuid, FieldError> {
    Uuid::parse_str(raw.trim()).map_err(|_| FieldError::new(field, "must be a UUID"))
}

/// An RFC 3339 time such as `2027-03-15T09:00:00Z`, in the years the calendar accepts.
pub fn time(field: &str, raw: &str) -> Result<DateTime<Utc>, FieldError> {
    paddock_domain::calendar::instant(field, raw)
}

/// A calendar date `YYYY-MM-DD`, in the years the calendar accepts.
pub fn date(field: &str, raw: &str) -> Result<NaiveDate, FieldError> {
    paddock_domain::calendar::date(field, raw)
}

/// A required one-line text of 1 to `max` characters.
pub fn required(
    errors: &mut FieldErrors,
    field: &str,
    raw: &Option<String>,
    max: usize,
) -> Option<String> {
    match raw {
        Some(raw) => errors.check(bounded_text(field, raw, 1, max)),
        None => {
            errors.0.push(FieldError::new(field, "is required"));
            None
        }
    }
}

/// An optional one-line text (blank counts as absent).
pub fn optional(
    errors: &mut FieldErrors,
    field: &str,
    raw: &Option<String>,
    max: usize,
) -> Option<String> {
    raw.as_deref()
        .filter(|r| !r.trim().is_empty())
        .and_then(|r| errors.check(bounded_text(field, r, 1, max)))
}

/// An optional multi-line note (blank counts as absent).
pub fn optional_note(
    errors: &mut FieldErrors,
    field: &str,
    raw: &Option<String>,
    max: usize,
) -> Option<String> {
    raw.as_deref()
        .and_then(|r| errors.check(note_text(field, r, max)))
        .filter(|t| !t.is_empty())
}

/// An optional value parsed by `parse` (blank counts as absent).
pub fn optional_with<T>(
    errors: &mut FieldErrors,
    field: &str,
    raw: &Option<String>,
    parse: impl FnOnce(&str, &str) -> Result<T, FieldError>,
) -> Option<T> {
    raw.as_deref()
        .filter(|r| !r.trim().is_empty())
        .and_then(|r| errors.check(parse(field, r)))
}

/// A required value parsed by `parse`.
pub fn required_with<T>(
    errors: &mut FieldErrors,
    field: &str,
    raw: &Option<String>,
    parse: impl FnOnce(&str, &str) -> Result<T, FieldError>,
) -> Option<T> {
    match raw.as_deref().filter(|r| !r.trim().is_empty()) {
        Some(raw) => errors.check(parse(field, raw)),
        None => {
            errors.0.push(FieldError::new(field, "is required"));
            None
        }
    }
}

/// The text of a cursor keyed by an id alone (lists ordered by id, newest first, such
/// as the audit trail): the store's one cursor type with an empty key.
pub fn id_cursor_text(id: Uuid) -> String {
    Cursor::after("", id).encode()
}

/// A cursor made by [`id_cursor_text`]; a cursor of a keyed list is not one of these.
pub fn id_cursor(field: &str, raw: &str) -> Result<Uuid, FieldError> {
    match Cursor::decode(field, raw) {
        Ok(cursor) if cursor.key.is_empty() => Ok(cursor.id),
        _ => Err(FieldError::new(
            field,
            "is not a cursor of this list (pass `next_cursor` back unchanged)",
        )),
    }
}

// --- form fields and addresses (pages) --------------------------------------------

/// The longest search people can type (a name, a phone number or an email).
pub const MAX_SEARCH: usize = 100;

/// An id from the address; anything that is not a UUID is as unknown as a missing row
/// (the same 404 an id of another practice gets).
pub fn path_id(raw: &str) -> Result<Uuid, AppError> {
    Uuid::parse_str(raw.trim()).map_err(|_| AppError::NotFound)
}

/// An optional id typed or chosen in a form.
pub fn optional_id(field: &str, raw: &str) -> Result<Option<Uuid>, FieldError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    Uuid::parse_str(raw)
        .map(Some)
        .map_err(|_| FieldError::new(field, "is not an id of this practice"))
}

/// The trimmed text, unless it is blank.
pub fn present(raw: &str) -> Option<&str> {
    Some(raw.trim()).filter(|text| !text.is_empty())
}

/// Optional one-line text: blank is none, anything else `1..=max` characters.
pub fn optional_text(field: &str, raw: &str, max: usize) -> Result<Option<String>, FieldError> {
    if raw.trim().is_empty() {
        Ok(None)
    } else {
        bounded_text(field, raw, 1, max).map(Some)
    }
}

/// A time of day typed as `HH:MM` (what a time input sends; seconds are accepted).
pub fn time_of_day(field: &str, raw: &str) -> Result<NaiveTime, FieldError> {
    let raw = raw.trim();
    NaiveTime::parse_from_str(raw, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(raw, "%H:%M:%S"))
        .map_err(|_| FieldError::new(field, "must be a time such as 09:30"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn unknown_and_repeated_parameters_are_each_reported() {
        let errors =
            Params::parse(&pairs(&[("q", "a"), ("q", "b"), ("sort", "x")]), &["q"]).unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["q", "sort"]);
    }

    #[test]
    fn a_control_character_in_any_value_is_refused_naming_the_parameter() {
        for value in ["a\0b", "a\u{1b}b", "a\nb"] {
            let errors = Params::parse(&pairs(&[("q", value)]), &["q"]).unwrap_err();
            assert_eq!(errors.0[0].field, "q", "{value:?}");
        }
    }

    #[test]
    fn blank_values_count_as_absent() {
        let params =
            Params::parse(&pairs(&[("q", "  "), ("limit", "5")]), &["q", "limit"]).unwrap();
        assert_eq!(params.get("q"), None);
        let mut errors = FieldErrors::default();
        assert_eq!(params.page(&mut errors).0, 5);
        assert!(errors.0.is_empty());
    }

    #[test]
    fn required_fields_name_themselves() {
        let mut errors = FieldErrors::default();
        assert_eq!(required(&mut errors, "name", &None, 10), None);
        assert_eq!(optional(&mut errors, "breed", &Some(" ".into()), 10), None);
        assert_eq!(
            optional_note(&mut errors, "plan", &Some("line 1\nline 2".into()), 100).as_deref(),
            Some("line 1\nline 2")
        );
        assert!(required_with(&mut errors, "day", &Some("2027-02-30".into()), date).is_none());
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "day"]);
    }

    #[test]
    fn dates_and_times_parse_as_form_inputs_send_them() {
        assert_eq!(
            date("day", "2027-03-15").unwrap(),
            NaiveDate::from_ymd_opt(2027, 3, 15).unwrap()
        );
        assert!(date("day", "15/03/2027").is_err());
        assert_eq!(time_of_day("t", "09:30").unwrap().to_string(), "09:30:00");
        assert_eq!(
            time_of_day("t", "09:30:00").unwrap().to_string(),
            "09:30:00"
        );
        assert!(time_of_day("t", "9.30am").is_err());
        assert_eq!(optional_id("patient_id", " ").unwrap(), None);
        assert!(optional_id("patient_id", "rex").is_err());
    }
}
