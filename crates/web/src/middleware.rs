//! Request-wide middleware: request ids, the problem+json finishing pass, error pages
//! for browsers, security headers, load shedding.

use crate::error::{InternalCause, PROBLEM_JSON, Problem};
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::context::REQUEST_ID;
use crate::layout::ErrorPageLayout;

/// Sheds load: a request beyond `permits` in flight at once is answered 503 with
/// `Retry-After` at once, instead of joining a queue (for the database pool, in the
/// end) that would make every request late. The permit is held until the answer has
/// been produced (a dropped request gives it back).
pub async fn shed_load(
    axum::extract::State((permits, metrics)): axum::extract::State<(
        std::sync::Arc<tokio::sync::Semaphore>,
        crate::metrics::Metrics,
    )>,
    request: Request,
    next: Next,
) -> Response {
    match permits.try_acquire_owned() {
        Ok(_permit) => next.run(request).await,
        Err(_) => {
            metrics.shed();
            tracing::warn!("shedding load: every request slot is taken");
            crate::AppError::Overloaded.into_response()
        }
    }
}

/// A request id the caller sent (a gateway's, say): kept apart from ours, for the log
/// only, and never in the audit trail.
#[derive(Debug, Clone)]
pub struct ClientRequestId(pub String);

/// The server names every request itself: a caller's `X-Request-Id` is moved out of
/// the way (kept as [`ClientRequestId`] when it is a short, plain token, so nobody can
/// smuggle text into the logs through it) before the request-id layer sets ours.
/// Otherwise a caller could make its events share a request id with someone else's.
pub async fn set_aside_client_request_id(mut request: Request, next: Next) -> Response {
    if let Some(value) = request.headers_mut().remove(REQUEST_ID) {
        let bytes = value.as_bytes();
        let plain = (8..=64).contains(&bytes.len())
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if plain && let Ok(text) = value.to_str() {
            let id = ClientRequestId(text.to_owned());
            request.extensions_mut().insert(id);
        }
    }
    next.run(request).await
}

/// The path of a request as it may be logged: the secret segment of a link sent by
/// mail (`/invitations/{token}`, `/reset-password/{token}`, an unlock link) is
/// replaced, so that no token reaches the logs. Ids (UUIDs) and fixed words stay.
pub fn loggable_path(path: &str) -> String {
    const BEFORE_SECRETS: &[&str] = &["invitations", "reset-password", "password-reset", "unlock"];
    const WORDS: &[&str] = &["accept", "revoke"];
    let mut previous = "";
    let mut out = Vec::new();
    for segment in path.split('/') {
        let secret = BEFORE_SECRETS.contains(&previous)
            && !segment.is_empty()
            && !WORDS.contains(&segment)
            && uuid::Uuid::parse_str(segment).is_err();
        out.push(if secret { "{token}" } else { segment });
        previous = segment;
    }
    out.join("/")
}

/// Tells browsers and proxies to keep no copy of an answer to an authenticated request
/// (a session cookie or a bearer credential): medical records and staff pages must not
/// linger in the cache of a shared front-desk computer. An answer that chose its own
/// caching (the public stylesheet) keeps it.
pub async fn no_store_when_authenticated(request: Request, next: Next) -> Response {
    let credentialed = request.headers().contains_key(header::AUTHORIZATION)
        || crate::context::cookies::session_token(request.headers()).is_some();
    let mut response = next.run(request).await;
    if credentialed && !response.headers().contains_key(header::CACHE_CONTROL) {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Turns a handler's panic into an internal error: a 500 problem whose cause is logged
/// with the request id (by [`finish_problem`]) and never shown.
pub fn panic_answer(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned());
    crate::AppError::Internal(format!("a handler panicked: {message}")).into_response()
}

/// The request id of a request (always present after the request-id layer).
pub fn request_id(request: &Request) -> String {
    request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned()
}

/// Makes every error answer a problem+json carrying the request id, and logs the
/// hidden cause of a 500 with that id. Error answers produced outside our handlers
/// (unknown route, wrong method, body too large, timeout) are converted too.
pub async fn finish_problem(request: Request, next: Next) -> Response {
    let request_id = request_id(&request);
    let response = next.run(request).await;
    if let Some(InternalCause(cause)) = response.extensions().get::<InternalCause>() {
        tracing::error!(request_id = %request_id, cause = %cause, "internal error");
    }
    if let Some(problem) = response.extensions().get::<Problem>().cloned() {
        let mut problem = problem;
        problem.request_id = Some(request_id);
        return with_headers_of(problem.into_response_with(None), response);
    }
    let status = response.status();
    if status.is_client_error() || status.is_server_error() {
        let content_type = response.headers().get(header::CONTENT_TYPE);
        let is_problem =
            content_type.is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
        // Pages answer errors with a page of their own (the form again, with the reason).
        let is_page = content_type.is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
        if !is_problem && !is_page {
            return convert_plain_error(response, request_id).await;
        }
    }
    response
}

/// A browser asking for a page (its `Accept` ranks `text/html` above JSON, the path is
/// not under `/api/`) gets an error as an HTML page ([`Problem::html_page`]) instead
/// of problem+json: same status, same headers (`Retry-After`, `WWW-Authenticate`,
/// ...). API clients, and every `/api/` path, keep problem+json. Runs outside
/// [`finish_problem`], so every problem answer already carries its [`Problem`] (with
/// the request id) and no body needs to be read here. Pages that answer an error
/// with a page of their own (a form with its reasons) are left alone.
pub async fn error_pages_for_browsers(mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let negotiated = path != "/api" && !path.starts_with("/api/");
    let wants_html = negotiated && prefers_html(request.headers());
    // Filled by the page extractor, if one runs: the error page then has the staff layout.
    let layout = wants_html.then(ErrorPageLayout::default);
    if let Some(layout) = &layout {
        request.extensions_mut().insert(layout.clone());
    }
    let mut response = next.run(request).await;
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if !negotiated || !is_problem {
        return response;
    }
    // The same URL answers in two forms, chosen by Accept: caches must tell them apart.
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("accept"));
    // A slot exactly when the browser wants a page.
    let page = layout.and_then(|layout| {
        response
            .extensions()
            .get::<Problem>()?
            .html_page(layout.nav())
    });
    match page {
        Some(mut page) => {
            for (name, value) in response.headers() {
                if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                    page.headers_mut().append(name.clone(), value.clone());
                }
            }
            page
        }
        None => response,
    }
}

/// Whether the `Accept` header ranks HTML above JSON: what a browser sends when it
/// navigates (`text/html,...,*/*;q=0.8`); never `*/*` alone, no `Accept`, or an API
/// client's `application/json`. Each type's quality comes from its most specific
/// matching range (RFC 9110, section 12.5.1).
pub fn prefers_html(headers: &header::HeaderMap) -> bool {
    let ranges: Vec<(String, f32)> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(media_range)
        .collect();
    let quality = |kind: &str, subtype: &str| {
        ranges
            .iter()
            .filter_map(|(range, q)| {
                let (k, s) = range.split_once('/')?;
                let specificity = if k == kind && s == subtype {
                    2
                } else if k == kind && s == "*" {
                    1
                } else if k == "*" && s == "*" {
                    0
                } else {
                    return None;
                };
                Some((specificity, *q))
            })
            .max_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)))
            .map_or(0.0, |(_, q)| q)
    };
    let html = quality("text", "html");
    let json = quality("application", "json").max(quality("application", "problem+json"));
    html > 0.0 && html > json
}

/// `type/subtype` (lowercase) and its `q` (1 when absent) of one `Accept` item.
fn media_range(item: &str) -> Option<(String, f32)> {
    let mut parts = item.split(';');
    let range = parts.next()?.trim().to_ascii_lowercase();
    if !range.contains('/') {
        return None;
    }
    let q = parts
        .filter_map(|param| {
            let (name, value) = param.split_once('=')?;
            name.trim().eq_ignore_ascii_case("q").then(|| value.trim())
        })
        .find_map(|value| value.parse::<f32>().ok())
        .unwrap_or(1.0);
    Some((range, q.clamp(0.0, 1.0)))
}

/// Keeps headers such as `Retry-After` or `Allow` that the original answer carried.
fn with_headers_of(mut rendered: Response, original: Response) -> Response {
    for (name, value) in original.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            rendered.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rendered
}

async fn convert_plain_error(response: Response, request_id: String) -> Response {
    let status = response.status();
    let (code, title) = match status {
        StatusCode::BAD_REQUEST => ("bad_request", "Bad request"),
        StatusCode::NOT_FOUND => ("not_found", "Not found"),
        StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "Method not allowed"),
        StatusCode::REQUEST_TIMEOUT => ("request_timeout", "Request took too long"),
        StatusCode::PAYLOAD_TOO_LARGE => ("payload_too_large", "Request body too large"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "Unsupported media type"),
        StatusCode::UNPROCESSABLE_ENTITY => ("validation_failed", "Validation failed"),
        StatusCode::TOO_MANY_REQUESTS => ("rate_limited", "Too many requests"),
        s if s.is_server_error() => ("internal_error", "Internal server error"),
        _ => ("client_error", "Request refused"),
    };
    let mut problem = Problem::new(status, code, title);
    problem.request_id = Some(request_id.clone());
    let (parts, body) = response.into_parts();
    // Framework rejections explain client mistakes in plain text; server-side text
    // could reveal internals, so a 5xx keeps only the request id.
    if status.is_client_error() {
        let bytes = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes)
            .trim()
            .chars()
            .take(300)
            .collect::<String>();
        if !text.is_empty() {
            problem.detail = Some(text);
        }
    } else {
        tracing::error!(request_id = %request_id, status = status.as_u16(), "error answer from a lower layer");
    }
    let original = Response::from_parts(parts, Body::empty());
    with_headers_of(problem.into_response_with(None), original)
}

/// Security headers for every answer (strict CSP: no inline script or style).
pub fn security_headers() -> [(header::HeaderName, HeaderValue); 5] {
    [
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                 object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            ),
        ),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ),
        (
            header::HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::http::HeaderMap;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    const BROWSER: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

    fn accept(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(header::ACCEPT, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn browsers_prefer_html_and_api_clients_do_not() {
        for html in [
            &[BROWSER][..],
            &["text/html"],
            &["text/*, application/json;q=0.5"],
            &["application/json;q=0.2", "TEXT/HTML; Q=0.9"],
        ] {
            assert!(prefers_html(&accept(html)), "{html:?}");
        }
        for not_html in [
            &[][..],
            &["*/*"],
            &["application/json"],
            &["application/problem+json, text/html;q=0.5"],
            &["text/html;q=0"],
            &["text/html;q=0.5, application/*"],
            &["text/css,*/*;q=0.1"],
            &["garbage"],
        ] {
            assert!(!prefers_html(&accept(not_html)), "{not_html:?}");
        }
    }

    async fn answer(path: &str, accept: &str) -> (StatusCode, HeaderMap, String) {
        let router = Router::new()
            .route(
                "/login-ish",
                axum::routing::get(|| async {
                    Err::<(), _>(crate::AppError::Locked { retry_after: 120 })
                }),
            )
            .route(
                "/api/v1/login-ish",
                axum::routing::get(|| async {
                    Err::<(), _>(crate::AppError::Locked { retry_after: 120 })
                }),
            )
            .route(
                "/boom",
                axum::routing::get(|| async {
                    Err::<(), _>(crate::AppError::Internal(
                        "relation \"secret_table\" does not exist".into(),
                    ))
                }),
            )
            .route(
                "/form",
                axum::routing::get(|| async {
                    Err::<(), _>(crate::AppError::Validation(vec![
                        paddock_domain::FieldError::new("name", "must not be empty"),
                    ]))
                }),
            )
            .route(
                "/who",
                axum::routing::get(|| async { Err::<(), _>(crate::AppError::Unauthenticated) }),
            )
            .layer(axum::middleware::from_fn(finish_problem))
            .layer(axum::middleware::from_fn(error_pages_for_browsers));
        let request = axum::http::Request::get(path)
            .header(REQUEST_ID, "req-12345678")
            .header(header::ACCEPT, accept)
            .body(Body::empty())
            .unwrap();
        let response = router.oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, headers, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_page_error_is_a_page_with_the_same_status_and_headers() {
        let (status, headers, body) = answer("/login-ish", BROWSER).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers[header::RETRY_AFTER], "120");
        assert!(
            headers[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert_eq!(headers[header::VARY], "accept");
        assert!(
            body.contains("<h1 id=\"error-title\">Too many failed sign-ins</h1>"),
            "{body}"
        );
        assert!(body.contains("req-12345678"), "{body}");
        assert!(!body.contains("account_locked"), "{body}");

        let (status, headers, body) = answer("/api/v1/login-ish", BROWSER).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers[header::RETRY_AFTER], "120");
        assert_eq!(headers[header::CONTENT_TYPE], PROBLEM_JSON);
        assert!(!headers.contains_key(header::VARY));
        assert!(body.contains("\"account_locked\""), "{body}");

        let (status, headers, body) = answer("/login-ish", "application/json").await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(headers[header::CONTENT_TYPE], PROBLEM_JSON);
        assert_eq!(headers[header::VARY], "accept");
        assert!(body.contains("\"request_id\":\"req-12345678\""), "{body}");
    }

    #[tokio::test]
    async fn a_500_page_shows_the_request_id_never_the_cause() {
        let (status, _, body) = answer("/boom", BROWSER).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(body.contains("Internal server error"), "{body}");
        assert!(body.contains("req-12345678"), "{body}");
        assert!(
            !body.contains("secret_table") && !body.contains("relation"),
            "{body}"
        );
    }

    #[tokio::test]
    async fn a_422_page_lists_the_fields_and_a_401_page_offers_to_sign_in() {
        let (status, _, body) = answer("/form", BROWSER).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(body.contains("<li>name: must not be empty</li>"), "{body}");
        assert!(!body.contains("id=\"error-sign-in\""), "{body}");

        let (status, headers, body) = answer("/who", BROWSER).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers[header::WWW_AUTHENTICATE], "Bearer");
        assert!(
            body.contains("<a href=\"/login\" id=\"error-sign-in\">Sign in</a>"),
            "{body}"
        );
        assert!(body.contains("<a href=\"/\" id=\"error-back\">"), "{body}");
    }
}
