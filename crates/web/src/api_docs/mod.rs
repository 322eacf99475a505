//! The browsable API reference at `/api/docs`: Swagger UI (vendored, served from the
//! binary, see `vendor/swagger-ui/README.md`) reading `/api/v1/openapi.json`. Nothing
//! is loaded from elsewhere and nothing runs inline, so the page lives under the same
//! Content-Security-Policy as every other (`script-src 'self'`); the reference and the
//! document are public, like the API's shape itself, and carry no practice's data.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The vendored release, in every asset's address so a new one is never mixed with a
/// cached old one.
const ASSETS: &str = "/api/docs/assets/5.35.0";

/// The reference page and its assets.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/api/docs", get(page))
        .route(
            &format!("{ASSETS}/swagger-ui-bundle.js"),
            get(|| async {
                asset(
                    "text/javascript; charset=utf-8",
                    include_bytes!("vendor/swagger-ui/swagger-ui-bundle.js"),
                )
            }),
        )
        .route(
            &format!("{ASSETS}/swagger-ui.css"),
            get(|| async {
                asset(
                    "text/css; charset=utf-8",
                    include_bytes!("vendor/swagger-ui/swagger-ui.css"),
                )
            }),
        )
        .route(
            &format!("{ASSETS}/docs.js"),
            get(|| async { asset("text/javascript; charset=utf-8", include_bytes!("docs.js")) }),
        )
}

async fn page() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        include_str!("docs.html"),
    )
        .into_response()
}

/// A vendored file: the same bytes until the release in its address changes.
fn asset(content_type: &'static str, bytes: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ),
        ],
        bytes,
    )
        .into_response()
}
