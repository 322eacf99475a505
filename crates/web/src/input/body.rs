//! The API's request extractors, `Json<T>` and `Path<T>`, in place of axum's: a body
//! or an address that does not fit its type answers 422 with the field named and what
//! it must be, in our words (`role_id: must be a UUID`), never serde's or axum's text
//! (page forms are read the same way, see [`parse_form`])
//! (`UUID parsing failed: invalid character...`). The field is where the caller put
//! it: `owners[1].client_id`, a missing `name`, an unknown `nickname`. A body that is
//! not JSON at all is a 422 on `body`; one sent as anything but JSON is a 415.
//!
//! Serde stops at the first value that does not fit, so a body wrong in several
//! places names the first; the checks that run on a well-typed body (the domain's
//! parsers) name every field at once.

use crate::AppError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use paddock_domain::FieldError;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A JSON body of type `T` (and, as an answer, `T` written as JSON).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        if !is_json(request.headers()) {
            return Err(AppError::NotJson.into_response());
        }
        // Too large, or the client stopped sending: the body layer's own answer.
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        parse(&bytes)
            .map(Json)
            .map_err(|error| AppError::Validation(vec![error]).into_response())
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `application/json`, or any `application/*+json`, as axum's `Json` accepts.
fn is_json(headers: &header::HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || essence
            .strip_prefix("application/")
            .is_some_and(|sub| sub.ends_with("+json"))
}

/// The body as `T`, or the first field that does not fit.
pub(crate) fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, FieldError> {
    // Syntax first, with the place it breaks; the value then carries no positions, so
    // serde's messages come without them and read as one sentence each.
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|error| {
        let place = format!("line {}, column {}", error.line(), error.column());
        let message = if error.is_eof() {
            format!("is not valid JSON: it ends too early ({place})")
        } else {
            format!("is not valid JSON (at {place})")
        };
        FieldError::new("body", message)
    })?;
    // Every body of this API is an object (serde would also read a struct from a list).
    if !value.is_object() {
        return Err(FieldError::new("body", "must be a JSON object"));
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        in_our_words(&path, &error.into_inner().to_string())
    })
}

/// A page form's fields (`application/x-www-form-urlencoded`) as `T`, or the first
/// field that does not fit, in the same words as a JSON body's.
pub(crate) fn parse_form<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, FieldError> {
    let fields = serde_urlencoded::Deserializer::new(form_urlencoded::parse(bytes));
    serde_path_to_error::deserialize(fields).map_err(|error| {
        let path = error.path().to_string();
        in_our_words(&path, &error.into_inner().to_string())
    })
}

/// Serde's message about the value at `path` (`.` for the body itself), as a field
/// error: the field it names and what that field must be.
fn in_our_words(path: &str, message: &str) -> FieldError {
    let at = |name: &str| match path {
        "." | "" => name.to_owned(),
        parent => format!("{parent}.{name}"),
    };
    let here = || match path {
        "." | "" => "body".to_owned(),
        path => path.to_owned(),
    };
    if let Some(name) = quoted_after(message, "missing field ") {
        return FieldError::new(at(&name), "is required");
    }
    if let Some(name) = quoted_after(message, "unknown field ") {
        // The path already ends at the unknown key for maps read field by field.
        let field = if path.ends_with(&name) {
            here()
        } else {
            at(&name)
        };
        return FieldError::new(field, "is not a field of this request");
    }
    if let Some(name) = quoted_after(message, "duplicate field ") {
        return FieldError::new(at(&name), "is given more than once");
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let choices = rest
            .split_once("expected ")
            .map(|(_, expected)| {
                expected
                    .replace('`', "")
                    .replace("one of ", "")
                    .replace(" or ", ", ")
            })
            .unwrap_or_default();
        return FieldError::new(here(), format!("must be one of: {choices}"));
    }
    if message.starts_with("UUID parsing failed") {
        return FieldError::new(here(), "must be a UUID");
    }
    let expected = ["invalid type: ", "invalid value: ", "invalid length "]
        .iter()
        .find(|prefix| message.starts_with(**prefix))
        .and_then(|_| message.rsplit_once(", expected "))
        .map(|(_, expected)| expected);
    let text = match expected {
        Some(expected) => format!("must be {}", expected_in_words(expected)),
        // A message our own types wrote (a time zone, a bounded number), or one of
        // chrono's: the value is there but unreadable as what the field holds.
        None if is_chrono_message(message) => {
            "must be a date and time in RFC 3339 (2026-03-29T09:00:00Z)".to_owned()
        }
        None if is_plain_sentence(message) => message.to_owned(),
        None => "is not a valid value here".to_owned(),
    };
    FieldError::new(here(), text)
}

/// The name in backquotes right after `prefix` (serde writes names as `` `name` ``).
fn quoted_after(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?.strip_prefix('`')?;
    let (name, _) = rest.split_once('`')?;
    Some(name.chars().take(60).collect())
}

/// What serde says a field expects, as our API documentation would say it.
fn expected_in_words(expected: &str) -> String {
    let expected = expected.trim();
    let words = match expected {
        "a string" | "a borrowed string" | "a character" => "text",
        "a boolean" => "true or false",
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "a whole number, 0 or more",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "a sequence" => "a list",
        "a map" => "an object",
        "unit" => "null",
        "a UUID string" => "a UUID",
        "a formatted date and time string or a unix timestamp"
        | "a formatted date and time string" => {
            "a date and time in RFC 3339 (2026-03-29T09:00:00Z)"
        }
        "a formatted date string" | "a formatted date" => "a date (2026-03-29)",
        "a formatted time string" => "a time of day (09:30)",
        other if other.starts_with("struct ") => "an object",
        other if other.starts_with("a tuple") || other.starts_with("tuple") => "a list",
        other if other.starts_with("enum ") || other.starts_with("variant ") => {
            "one of the documented values"
        }
        other if other.starts_with("an array of length ") => {
            return format!(
                "a list of {}",
                other.trim_start_matches("an array of length ")
            );
        }
        _ => "a value of the documented type",
    };
    words.to_owned()
}

/// chrono's parse errors (`input contains invalid characters`, `premature end of
/// input`, ...), which do not say what they expected.
fn is_chrono_message(message: &str) -> bool {
    [
        "input contains invalid characters",
        "premature end of input",
        "trailing input",
        "input is out of range",
        "input is not enough for unique date and time",
        "no possible date and time matching input",
        "bad or unsupported format string",
    ]
    .contains(&message)
}

/// A message that reads as one of ours: a short sentence with no serde or Rust
/// vocabulary in it.
fn is_plain_sentence(message: &str) -> bool {
    message.len() <= 200
        && !message.contains('`')
        && !message.contains("::")
        && !message.contains("expected")
        && !message.contains("invalid type")
}

/// An id (or another typed value) from the API's address: one that does not parse is
/// a 422 naming the parameter (`id: must be a UUID`), not axum's 400 text.
#[derive(Debug, Clone, Copy)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(rejection) => {
                let params = RawPathParams::from_request_parts(parts, state).await;
                // Every parameter of our addresses is an id: name each one that is not.
                let errors: Vec<FieldError> = params
                    .iter()
                    .flat_map(|params| params.iter())
                    .filter(|(_, value)| uuid::Uuid::parse_str(value).is_err())
                    .map(|(key, _)| FieldError::new(key, "must be a UUID"))
                    .collect();
                if errors.is_empty() {
                    // Not a parameter's value (the route and the handler disagree).
                    return Err(AppError::Internal(format!("path rejection: {rejection}")));
                }
                Err(AppError::Validation(errors))
            }
        }
    }
}

/// A page's query string read into `T` as a form is: a parameter that does not fit, or
/// one given twice where one is read, is a 422 naming it (an HTML page for a browser),
/// never axum's plain-text 400.
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, AppError> {
        let query = parts.uri.query().unwrap_or_default();
        parse_form(query.as_bytes())
            .map(Query)
            .map_err(|error| AppError::Validation(vec![error]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Owner {
        client_id: uuid::Uuid,
        primary: bool,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        name: String,
        weight_grams: Option<u32>,
        starts_at: Option<DateTime<Utc>>,
        kind: Option<Kind>,
        #[serde(default)]
        owners: Vec<Owner>,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Consultation,
        Surgery,
    }

    fn refusal(json: &str) -> (String, String) {
        let error = parse::<Body>(json.as_bytes()).expect_err(json);
        (error.field, error.message)
    }

    #[test]
    fn a_body_that_fits_is_read_whole() {
        let body: Body = parse(
            br#"{"name": "Rex", "weight_grams": 31000, "starts_at": "2026-03-29T09:00:00Z",
                 "kind": "surgery", "owners": [{"client_id": "0190e5c2-7d4a-7000-8000-000000000001", "primary": true}]}"#,
        )
        .unwrap();
        assert_eq!(body.name, "Rex");
        assert_eq!(body.weight_grams, Some(31000));
        assert_eq!(
            body.starts_at.unwrap().to_rfc3339(),
            "2026-03-29T09:00:00+00:00"
        );
        assert_eq!(body.kind, Some(Kind::Surgery));
        assert!(body.owners[0].primary);
        assert_eq!(
            body.owners[0].client_id.to_string(),
            "0190e5c2-7d4a-7000-8000-000000000001"
        );
    }

    #[test]
    fn each_kind_of_misfit_names_its_field_in_our_words() {
        let cases: &[(&str, &str, &str)] = &[
            (r#"{}"#, "name", "is required"),
            (r#"{"name": 5}"#, "name", "must be text"),
            (
                r#"{"name": "Rex", "nick": "R"}"#,
                "nick",
                "is not a field of this request",
            ),
            (
                r#"{"name": "Rex", "weight_grams": "heavy"}"#,
                "weight_grams",
                "must be a whole number, 0 or more",
            ),
            (
                r#"{"name": "Rex", "weight_grams": -4}"#,
                "weight_grams",
                "must be a whole number, 0 or more",
            ),
            (
                r#"{"name": "Rex", "kind": "dance"}"#,
                "kind",
                "must be one of: consultation, surgery",
            ),
            (
                r#"{"name": "Rex", "starts_at": "tuesday"}"#,
                "starts_at",
                "must be a date and time in RFC 3339 (2026-03-29T09:00:00Z)",
            ),
            (
                r#"{"name": "Rex", "owners": {}}"#,
                "owners",
                "must be a list",
            ),
            (
                r#"{"name": "Rex", "owners": [{"client_id": "not-a-uuid", "primary": true}]}"#,
                "owners[0].client_id",
                "must be a UUID",
            ),
            (
                r#"{"name": "Rex", "owners": [{"client_id": "0190e5c2-7d4a-7000-8000-000000000001"}]}"#,
                "owners[0].primary",
                "is required",
            ),
            (
                r#"{"name": "Rex", "owners": [{"client_id": "0190e5c2-7d4a-7000-8000-000000000001", "primary": "yes"}]}"#,
                "owners[0].primary",
                "must be true or false",
            ),
            (r#"[1, 2]"#, "body", "must be a JSON object"),
            (
                r#"{"name": "Rex""#,
                "body",
                "is not valid JSON: it ends too early (line 1, column 14)",
            ),
            (
                r#"{"name": Rex}"#,
                "body",
                "is not valid JSON (at line 1, column 10)",
            ),
        ];
        for (json, field, message) in cases {
            assert_eq!(
                refusal(json),
                ((*field).to_owned(), (*message).to_owned()),
                "{json}"
            );
        }
    }

    #[test]
    fn no_refusal_carries_serde_or_rust_vocabulary() {
        for json in [
            r#"{"name": {"a": 1}}"#,
            r#"{"name": "Rex", "weight_grams": 1.5}"#,
            r#"{"name": "Rex", "weight_grams": 99999999999}"#,
            r#"{"name": "Rex", "kind": 3}"#,
            r#"{"name": "Rex", "owners": [7]}"#,
            r#"null"#,
            r#""text""#,
        ] {
            let (field, message) = refusal(json);
            for word in ["`", "invalid type", "expected", "::", "serde", "u32"] {
                assert!(!message.contains(word), "{json}: {field}: {message}");
            }
        }
    }

    #[derive(Debug, Deserialize)]
    struct Switch {
        practice_id: uuid::Uuid,
        #[serde(default)]
        note: String,
    }

    #[test]
    fn a_page_form_is_read_in_the_same_words() {
        let ok: Switch =
            parse_form(b"practice_id=0190e5c2-7d4a-7000-8000-000000000001&note=hi").unwrap();
        assert_eq!(
            ok.practice_id.to_string(),
            "0190e5c2-7d4a-7000-8000-000000000001"
        );
        assert_eq!(ok.note, "hi");
        let refused = |form: &str| {
            let error = parse_form::<Switch>(form.as_bytes()).unwrap_err();
            (error.field, error.message)
        };
        assert_eq!(
            refused("practice_id=x"),
            ("practice_id".to_owned(), "must be a UUID".to_owned())
        );
        assert_eq!(
            refused("note=hi"),
            ("practice_id".to_owned(), "is required".to_owned())
        );
    }

    #[test]
    fn json_media_types_are_the_ones_axum_accepts() {
        let with = |value: &str| {
            let mut headers = header::HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, value.parse().unwrap());
            is_json(&headers)
        };
        assert!(with("application/json"));
        assert!(with("application/json; charset=utf-8"));
        assert!(with("application/merge-patch+json"));
        assert!(!with("text/plain"));
        assert!(!with("application/x-www-form-urlencoded"));
        assert!(!is_json(&header::HeaderMap::new()));
    }
}
