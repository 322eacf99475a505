//! The HTTP skeleton, exercised in process: probes, problem+json for every error,
//! request ids, security headers, limits, and the OpenAPI document.

use crate::world::{test_clock, test_state};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use paddock_test_db::TestDb;
use paddock_web::{HttpConfig, build_router};
use serde_json::Value;
use sqlx::{Connection, Executor};
use tower::ServiceExt;

async fn app(db: &TestDb) -> Router {
    build_router(
        test_state(
            db.app().await,
            test_clock(),
            std::env::temp_dir().join("paddock-http-outbox"),
        ),
        &HttpConfig::default(),
    )
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

async fn send(router: &Router, request: Request<Body>) -> Answer {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

fn assert_problem(answer: &Answer, status: StatusCode, code: &str) {
    assert_eq!(answer.status, status);
    assert_eq!(
        answer.headers[header::CONTENT_TYPE],
        "application/problem+json"
    );
    assert_eq!(answer.body["status"], status.as_u16());
    assert_eq!(answer.body["code"], code);
    assert_eq!(answer.body["type"], format!("/problems/{code}"));
    assert_eq!(
        answer.body["request_id"].as_str(),
        answer.headers["x-request-id"].to_str().ok(),
        "the problem quotes the request id"
    );
}

#[tokio::test]
async fn probes_answer_when_the_database_is_migrated() {
    let db = TestDb::new().await;
    let router = app(&db).await;
    let health = send(&router, get("/healthz")).await;
    assert_eq!(
        (health.status, health.body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let ready = send(&router, get("/readyz")).await;
    assert_eq!(
        (ready.status, ready.body["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );
}

#[tokio::test]
async fn readiness_fails_with_a_problem_when_migrations_are_missing() {
    let db = TestDb::new().await;
    let router = app(&db).await;
    let mut admin = sqlx::PgConnection::connect(&db.admin_url()).await.unwrap();
    admin.execute("delete from _sqlx_migrations").await.unwrap();
    let ready = send(&router, get("/readyz")).await;
    assert_problem(&ready, StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert!(
        ready.body["detail"]
            .as_str()
            .unwrap()
            .contains("paddock migrate")
    );
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_problem_json() {
    let db = TestDb::new().await;
    let router = app(&db).await;
    assert_problem(
        &send(&router, get("/api/v1/nothing-here")).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let wrong_method = send(
        &router,
        Request::delete("/healthz").body(Body::empty()).unwrap(),
    )
    .await;
    assert_problem(
        &wrong_method,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    assert!(
        wrong_method.headers.contains_key(header::ALLOW),
        "Allow header kept"
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused_before_any_handler_runs() {
    let db = TestDb::new().await;
    let router = build_router(
        test_state(
            db.app().await,
            test_clock(),
            std::env::temp_dir().join("paddock-http-outbox"),
        ),
        &HttpConfig {
            body_limit: 1024,
            ..HttpConfig::default()
        },
    );
    let request = Request::post("/healthz")
        .header(header::CONTENT_LENGTH, 4096)
        .body(Body::from(vec![b'x'; 4096]))
        .unwrap();
    assert_problem(
        &send(&router, request).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_security_headers() {
    let db = TestDb::new().await;
    let router = app(&db).await;
    let answer = send(&router, get("/healthz")).await;
    let id = answer.headers["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    assert_eq!(answer.headers["x-content-type-options"], "nosniff");
    assert_eq!(answer.headers["x-frame-options"], "DENY");
    assert_eq!(answer.headers["referrer-policy"], "no-referrer");
    let csp = answer.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
}

#[tokio::test]
async fn a_client_request_id_is_never_adopted_plain_or_hostile() {
    let db = TestDb::new().await;
    let router = app(&db).await;
    for chosen in ["gateway-1234abcd", "x\" injected=\"yes"] {
        let request = Request::get("/healthz")
            .header("x-request-id", chosen)
            .body(Body::empty())
            .unwrap();
        let issued = send(&router, request).await.headers["x-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        // The server names its own requests: a caller cannot make its requests share
        // an id with someone else's in the logs or the audit trail.
        assert_ne!(issued, chosen);
        assert!(
            uuid::Uuid::parse_str(&issued).is_ok(),
            "a fresh id: {issued}"
        );
    }
}

/// A `tracing` writer into a shared buffer, to read what the server logged.
#[derive(Clone, Default)]
struct CapturedLog(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLog {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLog {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn no_invitation_or_reset_token_reaches_the_log_after_a_failing_request() {
    let db = TestDb::new().await;
    let router = app(&db).await;
    let log = CapturedLog::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let token = "Zq3v9Kp2LmN8xR4tW6yB1cD5fG7hJ0kQ2sU4wY6aC8e";
    let form = |path: String| {
        Request::post(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from("password=short&new_password=short"))
            .unwrap()
    };
    for request in [
        get(&format!("/invitations/{token}")),
        form(format!("/invitations/{token}")),
        get(&format!("/reset-password/{token}")),
        form(format!("/reset-password/{token}")),
        get(&format!("/invitations/{token}/extra?x=1")),
    ] {
        let answer = send(&router, request).await;
        assert!(!answer.status.is_server_error(), "{}", answer.status);
    }
    let text = log.text();
    assert!(
        text.contains("/invitations/") && text.contains("/reset-password/"),
        "the requests were logged: {text}"
    );
    assert!(!text.contains(token), "a token in the log: {text}");
    assert!(
        !text.contains(&token[..16]),
        "part of a token in the log: {text}"
    );
}

#[tokio::test]
async fn the_openapi_document_is_generated_from_the_routes() {
    let db = TestDb::new().await;
    let router = app(&db).await;
    let doc = send(&router, get("/api/v1/openapi.json")).await;
    assert_eq!(doc.status, StatusCode::OK);
    assert_eq!(doc.body["openapi"], "3.1.0");
    let paths: Vec<&String> = doc.body["paths"].as_object().unwrap().keys().collect();
    for expected in [
        "/healthz",
        "/readyz",
        "/api/v1/auth/login",
        "/api/v1/auth/token",
        "/api/v1/me",
        "/.well-known/jwks.json",
    ] {
        assert!(
            paths.iter().any(|p| p.as_str() == expected),
            "{expected} missing from {paths:?}"
        );
    }
    assert_eq!(
        doc.body,
        serde_json::to_value(paddock_web::server::openapi()).unwrap()
    );
}
