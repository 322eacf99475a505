//! One HTTP answer as a test sees it, and the assertions tests make about answers:
//! the status, problem+json with its stable code, validation field lists, headers and
//! cookies.

use axum::http::{HeaderMap, StatusCode, header};
use serde_json::Value;
use std::collections::BTreeSet;
use uuid::Uuid;

/// One HTTP answer: status, headers, and the body both as JSON (`Null` when it is not
/// JSON) and as text.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The body as JSON (`Null` when it is not JSON).
    pub body: Value,
    /// The body as text (lossy: see [`Answer::utf8`]).
    pub text: String,
    /// The body as sent.
    pub bytes: Vec<u8>,
}

impl Answer {
    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(self, status: StatusCode) -> Answer {
        assert_eq!(self.status, status, "unexpected answer: {}", self.text);
        self
    }

    /// Asserts a problem+json answer with this status and stable code.
    #[track_caller]
    pub fn expect_problem(self, status: StatusCode, code: &str) -> Answer {
        assert_problem(&self, status, code);
        self
    }

    /// The body as text, which must be valid UTF-8.
    #[track_caller]
    pub fn utf8(&self) -> String {
        String::from_utf8(self.bytes.clone()).unwrap()
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `Location`, if the answer redirects.
    pub fn location(&self) -> Option<&str> {
        self.header(header::LOCATION.as_str())
    }

    /// `Content-Type`, or "" without one.
    pub fn content_type(&self) -> &str {
        self.header(header::CONTENT_TYPE.as_str()).unwrap_or("")
    }

    /// The problem's stable code, or "" when the body has none.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// The fields a validation problem names, in order (an error without a field shows
    /// as "", so that it cannot go unnoticed).
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| e["field"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A uuid field of the body.
    #[track_caller]
    pub fn uuid(&self, field: &str) -> Uuid {
        uuid_of(&self.body[field])
    }

    /// `Retry-After` in seconds.
    #[track_caller]
    pub fn retry_after(&self) -> i64 {
        self.header("retry-after").unwrap().parse().unwrap()
    }

    /// The problem without its per-request parts, to compare two answers.
    pub fn problem_shape(&self) -> (StatusCode, Value, Value, Value, Value) {
        (
            self.status,
            self.body["type"].clone(),
            self.body["code"].clone(),
            self.body["title"].clone(),
            self.body["detail"].clone(),
        )
    }

    /// The body without its request id (which differs on every answer).
    pub fn body_without_request_id(&self) -> Value {
        let mut body = self.body.clone();
        if let Some(object) = body.as_object_mut() {
            object.remove("request_id");
        }
        body
    }

    /// The names of the headers set, sorted.
    pub fn header_names(&self) -> Vec<String> {
        let names: BTreeSet<String> = self.headers.keys().map(|n| n.to_string()).collect();
        names.into_iter().collect()
    }

    /// Every `Set-Cookie` header.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// The value of the `Set-Cookie` for `name`, if the answer sets it.
    pub fn cookie_named(&self, name: &str) -> Option<String> {
        self.set_cookies().into_iter().find_map(|c| {
            let (n, v) = c.split(';').next()?.trim().split_once('=')?;
            (n == name).then(|| v.to_owned())
        })
    }
}

/// Asserts a problem+json answer (RFC 9457) with `status` and `code`, whose type names
/// the code and which quotes the answer's request id.
#[track_caller]
pub fn assert_problem(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert_eq!(
        answer.header("content-type"),
        Some("application/problem+json"),
        "{}",
        answer.text
    );
    assert_eq!(answer.code(), code, "{}", answer.text);
    assert_eq!(answer.body["status"], status.as_u16());
    assert_eq!(answer.body["type"], format!("/problems/{code}"));
    assert_eq!(
        answer.body["request_id"].as_str(),
        answer.header("x-request-id"),
        "the problem quotes the request id"
    );
}

/// Asserts a 422 validation problem naming exactly `field`.
#[track_caller]
pub fn assert_invalid(answer: &Answer, field: &str) {
    assert_problem(
        answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(
        answer.error_fields(),
        vec![field.to_owned()],
        "{}",
        answer.text
    );
}

/// Asserts a `Retry-After` of `seconds`, give or take the sub-second rounding.
#[track_caller]
pub fn assert_retry_after_about(answer: &Answer, seconds: i64) {
    let sent = answer.retry_after();
    assert!(
        (seconds - 1..=seconds).contains(&sent),
        "Retry-After {sent}, expected about {seconds}"
    );
}

/// A uuid held as a JSON string.
#[track_caller]
pub fn uuid_of(value: &Value) -> Uuid {
    Uuid::parse_str(
        value
            .as_str()
            .unwrap_or_else(|| panic!("not a uuid: {value}")),
    )
    .unwrap()
}
