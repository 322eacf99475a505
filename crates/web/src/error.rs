//! The one place errors become HTTP answers: RFC 9457 `application/problem+json`,
//! and the same problem as an HTML page for a browser.
//!
//! Which error belongs where: domain parsing yields `FieldErrors`; the store yields
//! `StoreError`; both convert into [`AppError`], which renders a stable `code`. A 500
//! never carries its cause: the cause is logged with the request id (see
//! `middleware::finish_problem`) and the client gets only that id. A browser asking
//! for a page gets [`Problem::html_page`] instead of the JSON (see
//! `middleware::error_pages_for_browsers`), drawn from the same safe fields.

use crate::layout::Nav;
use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use paddock_domain::{FieldError, FieldErrors};
use paddock_store::StoreError;
use serde::Serialize;

/// The problem+json media type.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error a handler returns.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Input failed validation: 422 with every field.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// Nothing here, or not yours: 404 either way.
    #[error("not found")]
    NotFound,
    /// No valid credential (or an expired / revoked one): 401.
    #[error("unauthenticated")]
    Unauthenticated,
    /// Wrong email or password; identical whichever was wrong: 401.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Too many failed sign-ins: 429 with `Retry-After`.
    #[error("account locked")]
    Locked {
        /// Seconds until the lock ends.
        retry_after: u64,
    },
    /// A cookie-authenticated write without the session's CSRF token: 403.
    #[error("csrf token missing or wrong")]
    Csrf,
    /// The action needs the password re-entered recently: 403.
    #[error("re-authentication required")]
    ReauthRequired,
    /// The session passed the password but still owes its second factor: 401.
    #[error("second factor required")]
    SecondFactorRequired,
    /// Wait before asking for another code: 429 with `Retry-After`.
    #[error("too soon")]
    TooSoon {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// Authenticated but not permitted: 403.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// Conflicts with existing data: 409 with the field.
    #[error("conflict")]
    Conflict(FieldError),
    /// A locked medical record (finalised or past its editing period): 409.
    #[error("record locked: {0}")]
    RecordLocked(&'static str),
    /// The staff member or resource is already booked then: 409 naming the booking.
    #[error("double booking")]
    DoubleBooked(Box<paddock_store::appointments::bookings::Clash>),
    /// The service cannot answer now (database down, schema not migrated): 503.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Over a rate limit: 429 with `Retry-After`.
    #[error("rate limited")]
    RateLimited {
        /// Seconds until a request would be let through.
        retry_after: u64,
    },
    /// A request that takes a secret while the counts shared with the other
    /// instances are unreachable: 503 with `Retry-After` (fail closed).
    #[error("rate limits unavailable")]
    RateLimitsUnavailable,
    /// As many requests in flight as the server takes: 503 with `Retry-After`,
    /// rather than a queue that grows until every request times out.
    #[error("overloaded")]
    Overloaded,
    /// A body sent as anything but JSON to an endpoint that reads JSON: 415.
    #[error("body is not JSON")]
    NotJson,
    /// Anything else: 500, cause logged, never shown.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The body of every error answer.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI reference naming the problem type (stable).
    #[serde(rename = "type")]
    pub kind: String,
    /// A short human summary of the type.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// The stable machine-readable code.
    pub code: String,
    /// What happened this time, when safe to say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request id, to quote when reporting a problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Field-level validation errors (422 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub errors: Vec<FieldError>,
    /// The existing booking a refused one overlaps (`double_booking` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conflict: Option<paddock_store::appointments::bookings::Clash>,
}

impl Problem {
    /// A problem of `code` with `status` and `title`.
    pub fn new(status: StatusCode, code: &str, title: &str) -> Self {
        Self {
            kind: format!("/problems/{code}"),
            title: title.to_owned(),
            status: status.as_u16(),
            code: code.to_owned(),
            detail: None,
            request_id: None,
            errors: Vec::new(),
            conflict: None,
        }
    }

    /// Adds the detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Renders the problem as a response, keeping a copy for the middleware.
    pub fn into_response_with(self, internal_cause: Option<String>) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut response = (status, body).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response.extensions_mut().insert(self);
        if let Some(cause) = internal_cause {
            response.extensions_mut().insert(InternalCause(cause));
        }
        response
    }
}

/// A problem as a page: only the fields the JSON shows too, never a cause.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    title: &'a str,
    detail: Option<&'a str>,
    fields: &'a [FieldError],
    request_id: &'a str,
    /// A 401: the way on is signing in.
    sign_in: bool,
    /// The staff layout, when the request's page extractor read it.
    nav: Option<&'a Nav>,
}

impl Problem {
    /// The problem as an HTML page with the same status: title, detail, the fields
    /// of a 422, the request id for support and a way back. `None` if the template
    /// fails to render (then the problem+json answer stands).
    /// In the staff layout when `nav` is the signed-in member's (see
    /// `layout::ErrorPageLayout`), with the bare bar otherwise.
    pub(crate) fn html_page(&self, nav: Option<&Nav>) -> Option<Response> {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let page = ErrorPage {
            status: status.as_u16(),
            title: &self.title,
            detail: self.detail.as_deref(),
            fields: &self.errors,
            request_id: self.request_id.as_deref().unwrap_or("-"),
            sign_in: status == StatusCode::UNAUTHORIZED,
            nav,
        };
        match page.render() {
            Ok(html) => Some((status, Html(html)).into_response()),
            Err(error) => {
                tracing::error!(error = %error, "could not render the error page");
                None
            }
        }
    }
}

/// The hidden cause of a 500, carried to the logging middleware, never to the client.
#[derive(Debug, Clone)]
pub struct InternalCause(pub String);

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        match self {
            AppError::Validation(errors) => {
                let mut p = Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    "Validation failed",
                )
                .with_detail("One or more fields are invalid.");
                p.errors = errors;
                p.into_response_with(None)
            }
            AppError::NotFound => Problem::new(StatusCode::NOT_FOUND, "not_found", "Not found")
                .into_response_with(None),
            AppError::Unauthenticated => {
                let mut response = Problem::new(
                    StatusCode::UNAUTHORIZED,
                    "unauthenticated",
                    "Authentication required",
                )
                .with_detail("Sign in, or send a valid bearer token.")
                .into_response_with(None);
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                response
            }
            AppError::InvalidCredentials => Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Invalid email or password",
            )
            .with_detail("The email or the password is wrong.")
            .into_response_with(None),
            AppError::Locked { retry_after } => {
                let mut response = Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "account_locked",
                    "Too many failed sign-ins",
                )
                .with_detail(
                    "Sign-in is locked for a while after repeated failures. Try again later.",
                )
                .into_response_with(None);
                if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
                response
            }
            AppError::RateLimited { retry_after } => {
                let mut response = Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "Too many requests",
                )
                .with_detail("Too many requests in a short time. Wait, then try again.")
                .into_response_with(None);
                if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
                response
            }
            AppError::RateLimitsUnavailable => {
                let mut response = Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    "Temporarily unavailable",
                )
                .with_detail("Signing in is unavailable for a moment. Try again shortly.")
                .into_response_with(None);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
                response
            }
            AppError::Overloaded => {
                let mut response = Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "overloaded",
                    "Service busy",
                )
                .with_detail("The server is answering as many requests as it can. Try again in a moment.")
                .into_response_with(None);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
                response
            }
            AppError::SecondFactorRequired => Problem::new(StatusCode::UNAUTHORIZED, "second_factor_required", "Second factor required")
                .with_detail("Complete sign-in with your authenticator app or an SMS code (POST /api/v1/auth/second-factor).")
                .into_response_with(None),
            AppError::TooSoon { retry_after } => {
                let mut response = Problem::new(StatusCode::TOO_MANY_REQUESTS, "too_soon", "Too soon")
                    .with_detail("A code was sent less than a minute ago.")
                    .into_response_with(None);
                if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, value);
                }
                response
            }
            AppError::Csrf => {
                Problem::new(StatusCode::FORBIDDEN, "csrf_failed", "CSRF check failed")
                    .with_detail(
                        "Cookie-authenticated writes must send the session's X-CSRF-Token header.",
                    )
                    .into_response_with(None)
            }
            AppError::ReauthRequired => Problem::new(
                StatusCode::FORBIDDEN,
                "reauth_required",
                "Re-authentication required",
            )
            .with_detail("Re-enter your password (POST /api/v1/auth/reauth) and try again.")
            .into_response_with(None),
            AppError::Forbidden(detail) => {
                Problem::new(StatusCode::FORBIDDEN, "forbidden", "Forbidden")
                    .with_detail(detail)
                    .into_response_with(None)
            }
            AppError::Conflict(field) => {
                let mut p = Problem::new(StatusCode::CONFLICT, "conflict", "Conflict")
                    .with_detail(field.message.clone());
                p.errors = vec![field];
                p.into_response_with(None)
            }
            AppError::RecordLocked(detail) => {
                Problem::new(StatusCode::CONFLICT, "record_locked", "Record locked")
                    .with_detail(detail)
                    .into_response_with(None)
            }
            AppError::DoubleBooked(clash) => {
                let mut p = Problem::new(StatusCode::CONFLICT, "double_booking", "Double booking")
                    .with_detail(format!(
                        "The {} is already booked from {} to {} (appointment {}).",
                        if clash.on == "staff" { "staff member" } else { "resource" },
                        clash.starts_at.to_rfc3339(),
                        clash.ends_at.to_rfc3339(),
                        clash.appointment_id
                    ));
                p.conflict = Some(*clash);
                p.into_response_with(None)
            }
            AppError::Unavailable(detail) => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Service unavailable",
            )
            .with_detail(detail)
            .into_response_with(None),
            AppError::NotJson => Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Unsupported media type",
            )
            .with_detail("Send the body as JSON, with Content-Type: application/json.")
            .into_response_with(None),
            AppError::Internal(cause) => Problem::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "Internal server error",
            )
            .with_detail(
                "Something went wrong on our side. Quote the request id when reporting it.",
            )
            .into_response_with(Some(cause)),
        }
    }
}

impl From<FieldErrors> for AppError {
    fn from(errors: FieldErrors) -> Self {
        AppError::Validation(errors.0)
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Invalid(errors) => AppError::Validation(errors.0),
            StoreError::Conflict(field) => AppError::Conflict(field),
            StoreError::NotFound(_) => AppError::NotFound,
            StoreError::Locked(detail) => AppError::RecordLocked(detail),
            StoreError::DoubleBooked(clash) => AppError::DoubleBooked(clash),
            StoreError::Forbidden(permission) => {
                AppError::Forbidden(format!("This needs the `{permission}` permission."))
            }
            other => AppError::Internal(error_chain(&other)),
        }
    }
}

/// The error and its sources on one line, for logs and the command line.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        // Some errors repeat their source's text in their own; say it once.
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::finish_problem;
    use axum::Router;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    async fn answer(error: fn() -> AppError) -> (StatusCode, String) {
        let router = Router::new()
            .route(
                "/",
                axum::routing::get(move || async move { Err::<(), _>(error()) }),
            )
            .layer(axum::middleware::from_fn(finish_problem));
        let request = Request::get("/")
            .header("x-request-id", "req-12345678")
            .body(Body::empty())
            .unwrap();
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn an_internal_error_shows_only_the_request_id_never_its_cause() {
        let (status, body) = answer(|| {
            AppError::from(StoreError::Database(sqlx_error(
                "relation \"secret_table\" does not exist",
            )))
        })
        .await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.contains("secret_table"), "{body}");
        assert!(!body.to_lowercase().contains("relation"), "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["code"], "internal_error");
        assert_eq!(json["request_id"], "req-12345678");
    }

    #[tokio::test]
    async fn validation_errors_list_every_field() {
        let (status, body) = answer(|| {
            AppError::from(FieldErrors(vec![
                FieldError::new("email", "must be an email address"),
                FieldError::new("name", "must not be empty"),
            ]))
        })
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["code"], "validation_failed");
        assert_eq!(json["errors"][0]["field"], "email");
        assert_eq!(json["errors"][1]["field"], "name");
    }

    #[tokio::test]
    async fn a_missing_permission_is_a_403_naming_the_permission() {
        let (status, body) = answer(|| {
            AppError::from(StoreError::Forbidden(
                paddock_domain::Permission::StaffManage,
            ))
        })
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert!(body.contains("staff.manage"), "{body}");
    }

    #[tokio::test]
    async fn another_practices_row_and_a_missing_row_answer_the_same_404() {
        let (status, body) = answer(|| AppError::from(StoreError::NotFound("patient"))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(!body.contains("patient"), "the entity is not named: {body}");
    }

    fn sqlx_error(message: &str) -> sqlx::Error {
        sqlx::Error::Protocol(message.to_owned())
    }
}
