//! What a page form shares: the query string read leniently, the messages of a
//! refused form (per field and above the form), a store refusal turned into words
//! for the page that shows the form again, a form post's work and its refusal shown
//! in the request's one transaction ([`submit`]), and the choices a form offers (the staff
//! who can be booked or named as an encounter's vet).

use crate::AppError;
use crate::context::Ctx;
use crate::format::capitalised;
use crate::input;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use paddock_domain::{FieldError, PracticeZone};
use paddock_store::{StoreError, TenantTx, appointments::resources};
use serde::Deserialize;

/// A query string as name/value pairs (first value of each name wins), read leniently:
/// a malformed query string reads as an empty one rather than an error page.
pub(crate) struct Pairs(Vec<(String, String)>);

impl Pairs {
    /// The pairs of a query extraction, or none when the query string was malformed.
    pub(crate) fn new<E>(query: Result<axum::extract::Query<Vec<(String, String)>>, E>) -> Self {
        Self(
            query
                .map(|axum::extract::Query(pairs)| pairs)
                .unwrap_or_default(),
        )
    }

    /// The trimmed first value of `name`, if it is there and not blank.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.trim())
            .filter(|value| !value.is_empty())
    }

    /// Like [`Pairs::get`], as an owned string ("" when absent).
    pub(crate) fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().to_owned()
    }
}

/// The messages of a refused form: one per field (shown beside the input) and the
/// ones that belong to no input (shown above the form).
#[derive(Default)]
pub struct FieldMessages(Vec<FieldError>);

impl FieldMessages {
    /// No messages.
    pub(crate) fn none() -> Self {
        Self::default()
    }

    /// Adds a message for `field`.
    pub(crate) fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// Adds every error, keeping the first message of each field.
    pub(crate) fn extend(&mut self, errors: impl IntoIterator<Item = FieldError>) {
        self.0.extend(errors);
    }

    /// The instant a form's `date` and `time` inputs name on the practice's wall clock,
    /// recording what is wrong with either (a time the clocks skip is refused on
    /// `time`).
    pub(crate) fn check_wall_clock(
        &mut self,
        zone: &PracticeZone,
        date: &str,
        time: &str,
    ) -> Option<DateTime<Utc>> {
        let day = self.check(input::date("date", date));
        let at = self.check(input::time_of_day("time", time));
        match (day, at) {
            (Some(day), Some(at)) => self.check(zone.instant("time", day, at)),
            _ => None,
        }
    }

    /// Records the error of a parse result, returning its value if it parsed.
    pub(crate) fn check<T>(&mut self, result: Result<T, FieldError>) -> Option<T> {
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
pub(crate) enum Refusal {
    /// Show the form again.
    Form(axum::http::StatusCode, FieldMessages),
    /// Not something the form can fix.
    Error(AppError),
}

impl Refusal {
    /// The refusal for a store error. `not_found` names the form field whose id was not
    /// found (the owner, the patient), when a missing row is the person's mistake.
    pub(crate) fn of(error: StoreError, not_found: &[(&str, &str)]) -> Self {
        match Self::form_of(error, not_found) {
            Ok((status, messages)) => Refusal::Form(status, messages),
            Err(error) => Refusal::Error(error.into()),
        }
    }

    /// The status and messages of the form shown again for a store error, or the error
    /// itself when the form cannot fix it (for a page that reads the form's choices in
    /// the transaction the refusal came from).
    pub(crate) fn form_of(
        error: StoreError,
        not_found: &[(&str, &str)],
    ) -> Result<(axum::http::StatusCode, FieldMessages), StoreError> {
        use axum::http::StatusCode;
        let mut messages = FieldMessages::none();
        match error {
            StoreError::Invalid(errors) => {
                messages.extend(errors.0);
                Ok((StatusCode::UNPROCESSABLE_ENTITY, messages))
            }
            StoreError::Conflict(field) => {
                messages.extend([field]);
                Ok((StatusCode::CONFLICT, messages))
            }
            StoreError::Locked(reason) => {
                messages.add("record", capitalised(reason));
                Ok((StatusCode::CONFLICT, messages))
            }
            StoreError::NotFound(what) => {
                match not_found.iter().find(|(entity, _)| *entity == what) {
                    Some((_, field)) => {
                        messages.add(field, format!("is not a {what} of this practice"));
                        Ok((StatusCode::UNPROCESSABLE_ENTITY, messages))
                    }
                    None => Err(StoreError::NotFound(what)),
                }
            }
            other => Err(other),
        }
    }
}

/// Who can be booked, or named as an encounter's vet: `(user id, name)` by name.
pub(crate) async fn staff_options(tx: &mut TenantTx) -> Result<Vec<(String, String)>, StoreError> {
    Ok(resources::clinicians(tx)
        .await?
        .into_iter()
        .map(|c| (c.user_id.to_string(), c.name))
        .collect())
}

/// A form with no fields but its CSRF token (checked by `CsrfForm`).
#[derive(Deserialize)]
pub(crate) struct NoFields {}

/// Field errors as one line for a page that shows no form: `field: message; ...`.
pub(crate) fn field_list(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Ends a request that needs no store call (an empty form, a form refused before any
/// work): commits what authentication wrote, so the page counts as the session's
/// activity like any other.
pub(crate) async fn no_work(ctx: Ctx) -> Result<(), AppError> {
    ctx.run(async |_| Ok(())).await
}

/// What a form post came to.
pub(crate) enum Outcome<T, R> {
    /// The work was done and committed.
    Done(T),
    /// The store refused it with something the form can show; `R` is the page read
    /// again after the refusal.
    Refused(R),
}

/// Runs a form's `work` in the request's one transaction. When the store refuses it
/// with something the person can fix (invalid, taken, locked, or a missing row that
/// `not_found` names as a field), the work is undone (a savepoint) and `again` reads
/// the page that shows the refusal, with its status and messages, in the same
/// transaction; anything else is the error page, the work undone as well.
pub(crate) async fn submit<T, R>(
    ctx: Ctx,
    not_found: &[(&str, &str)],
    work: impl AsyncFnOnce(&mut TenantTx) -> Result<T, StoreError>,
    again: impl AsyncFnOnce(&mut TenantTx, StatusCode, FieldMessages) -> Result<R, StoreError>,
) -> Result<Outcome<T, R>, AppError> {
    ctx.run(async |tx| {
        Ok(match tx.attempt(work).await? {
            Ok(done) => Ok(Outcome::Done(done)),
            Err(error) => match Refusal::of(error, not_found) {
                Refusal::Form(status, messages) => {
                    Ok(Outcome::Refused(again(tx, status, messages).await?))
                }
                // Only authentication's bookkeeping commits with it.
                Refusal::Error(error) => Err(error),
            },
        })
    })
    .await?
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
