//! The HTTP skeleton, exercised in process: probes, problem+json for every error,
//! request ids, security headers, limits, and the OpenAPI document.

use crate::support::{Anonymous, Server, assert_problem};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use paddock_test_db::TestDb;
use paddock_web::HttpConfig;
use sqlx::{Connection, Executor};

#[tokio::test]
async fn probes_answer_when_the_database_is_migrated() {
    let db = TestDb::new().await;
    let server = Server::new(db.app().await);
    let health = server.get("/healthz", Anonymous).await;
    assert_eq!(
        (health.status, health.body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let ready = server.get("/readyz", Anonymous).await;
    assert_eq!(
        (ready.status, ready.body["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );
}

#[tokio::test]
async fn readiness_fails_with_a_problem_when_migrations_are_missing() {
    let db = TestDb::new().await;
    let server = Server::new(db.app().await);
    let mut admin = sqlx::PgConnection::connect(&db.admin_url()).await.unwrap();
    admin.execute("delete from _sqlx_migrations").await.unwrap();
    let ready = server.get("/readyz", Anonymous).await;
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
    let server = Server::new(db.app().await);
    assert_problem(
        &server.get("/api/v1/nothing-here", Anonymous).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let wrong_method = server
        .send(Request::delete("/healthz").body(Body::empty()).unwrap())
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
    let server = Server::configured(
        db.app().await,
        |_| {},
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
        &server.send(request).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    );
}

#[tokio::test]
async fn every_answer_carries_a_request_id_and_security_headers() {
    let db = TestDb::new().await;
    let server = Server::new(db.app().await);
    let answer = server.get("/healthz", Anonymous).await;
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
    let server = Server::new(db.app().await);
    for chosen in ["gateway-1234abcd", "x\" injected=\"yes"] {
        let request = Request::get("/healthz")
            .header("x-request-id", chosen)
            .body(Body::empty())
            .unwrap();
        let issued = server.send(request).await.headers["x-request-id"]
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
    let server = Server::new(db.app().await);
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
        Request::get(format!("/invitations/{token}"))
            .body(Body::empty())
            .unwrap(),
        form(format!("/invitations/{token}")),
        Request::get(format!("/reset-password/{token}"))
            .body(Body::empty())
            .unwrap(),
        form(format!("/reset-password/{token}")),
        Request::get(format!("/invitations/{token}/extra?x=1"))
            .body(Body::empty())
            .unwrap(),
    ] {
        let answer = server.send(request).await;
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
    let server = Server::new(db.app().await);
    let doc = server.get("/api/v1/openapi.json", Anonymous).await;
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

/// A sign-in from `peer` carrying `headers`; the address its audit event recorded.
async fn sign_in_recorded_from(
    env: &crate::support::TestApp,
    peer: &str,
    headers: &[(&'static str, &str)],
) -> Option<String> {
    let mut request = Request::post(crate::support::LOGIN)
        .header(header::CONTENT_TYPE, "application/json")
        .extension(axum::extract::ConnectInfo(
            format!("{peer}:40000")
                .parse::<std::net::SocketAddr>()
                .unwrap(),
        ));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let body = serde_json::json!({
        "email": crate::support::RIVERSIDE_ADMIN,
        "password": crate::support::TEST_PASSWORD,
    });
    let answer = env
        .send(request.body(Body::from(body.to_string())).unwrap())
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    env.newest_ip("login").await
}

#[tokio::test]
async fn the_audit_trail_records_the_client_behind_a_trusted_proxy_and_the_peer_otherwise() {
    let gateway: Vec<_> = ["10.0.0.0/8"]
        .iter()
        .map(|n| paddock_web::TrustedProxies::parse_network(n).unwrap())
        .collect();
    let behind = crate::support::TestApp::with_http(&HttpConfig {
        trusted_proxies: paddock_web::TrustedProxies::new(gateway),
        ..HttpConfig::default()
    })
    .await;
    let forwarded = [("x-forwarded-for", "203.0.113.9")];
    assert_eq!(
        sign_in_recorded_from(&behind, "10.1.2.3", &forwarded)
            .await
            .as_deref(),
        Some("203.0.113.9"),
        "the gateway's word for its client"
    );
    // A client's own header is never reached: the gateway appended the real address.
    let spoofed = [("x-forwarded-for", "1.1.1.1, 203.0.113.10")];
    assert_eq!(
        sign_in_recorded_from(&behind, "10.1.2.3", &spoofed)
            .await
            .as_deref(),
        Some("203.0.113.10")
    );
    let rfc7239 = [("forwarded", "for=\"[2001:db8::7]:4711\";proto=https")];
    assert_eq!(
        sign_in_recorded_from(&behind, "10.1.2.3", &rfc7239)
            .await
            .as_deref(),
        Some("2001:db8::7")
    );
    // From anywhere but the gateway the header is ignored.
    assert_eq!(
        sign_in_recorded_from(&behind, "198.51.100.7", &forwarded)
            .await
            .as_deref(),
        Some("198.51.100.7"),
        "a client talking to Paddock directly cannot choose its address"
    );

    // With no trusted proxy configured (the default), never read.
    let direct = crate::support::TestApp::new().await;
    assert_eq!(
        sign_in_recorded_from(&direct, "10.1.2.3", &forwarded)
            .await
            .as_deref(),
        Some("10.1.2.3")
    );
}

#[tokio::test]
async fn the_sign_in_throttle_counts_the_client_behind_the_gateway_not_the_gateway() {
    let gateway = paddock_web::TrustedProxies::parse_network("10.0.0.1").unwrap();
    let env = crate::support::TestApp::with_http(&HttpConfig {
        trusted_proxies: paddock_web::TrustedProxies::new(vec![gateway]),
        ..HttpConfig::default()
    })
    .await;
    let attempt = |client: &'static str, password: &'static str| {
        let env = &env;
        async move {
            let body = serde_json::json!({
                "email": crate::support::RIVERSIDE_ADMIN,
                "password": password,
            });
            let request = Request::post(crate::support::LOGIN)
                .header(header::CONTENT_TYPE, "application/json")
                .header("x-forwarded-for", client)
                .extension(axum::extract::ConnectInfo(
                    "10.0.0.1:40000".parse::<std::net::SocketAddr>().unwrap(),
                ))
                .body(Body::from(body.to_string()))
                .unwrap();
            env.send(request).await.status
        }
    };
    for _ in 0..10 {
        assert_eq!(
            attempt("203.0.113.66", crate::support::WRONG_PASSWORD).await,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        attempt("203.0.113.66", crate::support::TEST_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "the flooding client is locked out"
    );
    assert_eq!(
        attempt("198.51.100.20", crate::support::TEST_PASSWORD).await,
        StatusCode::OK,
        "another client through the same gateway still signs in"
    );
}

/// `method path` from a page of `origin`, with `extra` headers; the answer.
async fn from_origin(
    env: &crate::support::TestApp,
    method: &str,
    path: &str,
    origin: &str,
    extra: &[(&str, &str)],
) -> crate::support::Answer {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::ORIGIN, origin);
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    env.send(request.body(Body::empty()).unwrap()).await
}

const PREFLIGHT: &[(&str, &str)] = &[
    ("access-control-request-method", "POST"),
    (
        "access-control-request-headers",
        "authorization, content-type",
    ),
];

#[tokio::test]
async fn by_default_no_other_site_gets_a_cors_grant() {
    let env = crate::support::TestApp::new().await;
    let admin = env
        .login(
            crate::support::RIVERSIDE_ADMIN,
            crate::support::TEST_PASSWORD,
        )
        .await;
    let cookie = format!("{}={}", crate::support::SESSION_COOKIE, admin.cookie);
    let read = from_origin(
        &env,
        "GET",
        "/api/v1/me",
        "https://evil.example",
        &[("cookie", &cookie)],
    )
    .await;
    let preflight = from_origin(
        &env,
        "OPTIONS",
        "/api/v1/clients",
        "https://evil.example",
        PREFLIGHT,
    )
    .await;
    for answer in [&read, &preflight] {
        for grant in [
            "access-control-allow-origin",
            "access-control-allow-credentials",
            "access-control-allow-methods",
        ] {
            assert_eq!(answer.header(grant), None, "{grant}: {:?}", answer.headers);
        }
    }
}

#[tokio::test]
async fn only_an_allowed_origin_gets_a_cors_grant_with_credentials() {
    let env = crate::support::TestApp::with_http(&HttpConfig {
        cors_origins: vec!["https://portal.example".parse().unwrap()],
        ..HttpConfig::default()
    })
    .await;
    let allowed = from_origin(
        &env,
        "OPTIONS",
        "/api/v1/clients",
        "https://portal.example",
        PREFLIGHT,
    )
    .await;
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://portal.example"),
        "{:?}",
        allowed.headers
    );
    assert_eq!(
        allowed.header("access-control-allow-credentials"),
        Some("true")
    );
    let methods = allowed
        .header("access-control-allow-methods")
        .unwrap_or_default();
    assert!(
        methods.contains("POST") && methods.contains("DELETE"),
        "{methods}"
    );
    let headers = allowed
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(
        headers.contains("authorization") && headers.contains("x-csrf-token"),
        "{headers}"
    );
    let read = from_origin(&env, "GET", "/healthz", "https://portal.example", &[]).await;
    assert_eq!(
        read.header("access-control-allow-origin"),
        Some("https://portal.example")
    );
    assert!(
        read.headers
            .get_all("vary")
            .iter()
            .any(|v| v.to_str().unwrap_or_default().contains("origin")),
        "caches keep answers to different origins apart: {:?}",
        read.headers
    );

    // Any other origin, a look-alike included, gets nothing.
    for origin in [
        "https://evil.example",
        "https://portal.example.evil.example",
        "http://portal.example",
        "null",
    ] {
        for answer in [
            from_origin(&env, "OPTIONS", "/api/v1/clients", origin, PREFLIGHT).await,
            from_origin(&env, "GET", "/healthz", origin, &[]).await,
        ] {
            assert_eq!(
                answer.header("access-control-allow-origin"),
                None,
                "{origin}: {:?}",
                answer.headers
            );
            assert_eq!(
                answer.header("access-control-allow-credentials"),
                None,
                "{origin}"
            );
        }
    }
}

/// A request body that never arrives: its request stays in flight until dropped.
struct Never;

impl axum::body::HttpBody for Never {
    type Data = axum::body::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        std::task::Poll::Pending
    }
}

#[tokio::test]
async fn beyond_the_requests_in_flight_the_server_sheds_load_with_503_and_retry_after() {
    let db = TestDb::new().await;
    let server = Server::configured(
        db.app().await,
        |_| {},
        &HttpConfig {
            max_in_flight: 2,
            ..HttpConfig::default()
        },
    );
    // Two sign-ins whose bodies never come hold both slots.
    let stuck: Vec<_> = (0..2)
        .map(|_| {
            let request = Request::post(crate::support::LOGIN)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::new(Never))
                .unwrap();
            tokio::spawn(crate::support::client::dispatch(
                server.router.clone(),
                request,
            ))
        })
        .collect();
    let started = std::time::Instant::now();
    let shed = loop {
        let answer = server.get("/healthz", Anonymous).await;
        if answer.status != StatusCode::OK || started.elapsed() > crate::process::DEADLINE {
            break answer;
        }
        tokio::time::sleep(crate::process::POLL).await;
    };
    assert_problem(&shed, StatusCode::SERVICE_UNAVAILABLE, "overloaded");
    assert_eq!(shed.header("retry-after"), Some("1"));

    // A request given up frees its slot.
    for request in stuck {
        request.abort();
        let _ = request.await;
    }
    assert_eq!(
        server.get("/healthz", Anonymous).await.status,
        StatusCode::OK
    );
}
