//! Rate limits, at the edge: per client address for every request, tighter for the
//! endpoints that take a secret, and per credential; over a limit the answer is a 429
//! problem with `Retry-After` (a page for a browser) and nothing behind it runs.
//! With shared counts (the local Redis at 127.0.0.1:6379, or `PADDOCK_TEST_REDIS_URL`)
//! the limits hold across instances; without Redis, sign-in fails closed.

use crate::support::{
    Anonymous, NORTHSIDE_ADMIN, RIVERSIDE_ADMIN, Server, TEST_PASSWORD, TestApp, WRONG_PASSWORD,
    assert_problem,
};
use axum::http::{Method, StatusCode};
use paddock_web::HttpConfig;
use paddock_web::rate_limit::{Limit, RateLimitConfig, SharedCounts};
use serde_json::json;

/// A server with only `limits` on.
async fn limited(limits: RateLimitConfig) -> TestApp {
    TestApp::with_http(&HttpConfig {
        rate_limits: limits,
        ..HttpConfig::default()
    })
    .await
}

/// A burst of `burst`, then (practically) nothing for the test's length.
fn burst(burst: u32) -> Option<Limit> {
    Some(Limit {
        burst,
        per_minute: 1,
    })
}

async fn sign_in_from(env: &TestApp, source: &str, password: &str) -> crate::support::Answer {
    env.request_from(
        source,
        Method::POST,
        crate::support::LOGIN,
        Some(json!({"email": RIVERSIDE_ADMIN, "password": password})),
        Anonymous,
    )
    .await
}

#[tokio::test]
async fn sign_ins_over_the_limit_answer_429_with_retry_after_and_are_not_even_tried() {
    let env = limited(RateLimitConfig {
        secrets_per_address: burst(3),
        ..RateLimitConfig::off()
    })
    .await;
    let before = env.audit_actions().await.len();
    for _ in 0..3 {
        let answer = sign_in_from(&env, "203.0.113.5", WRONG_PASSWORD).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{}", answer.text);
    }
    let refused = sign_in_from(&env, "203.0.113.5", TEST_PASSWORD).await;
    assert_problem(&refused, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let retry: u64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!(retry >= 1, "Retry-After {retry}");
    // Refused before any work: three failures counted, not four; no sign-in.
    let actions = env.audit_actions().await.split_off(before);
    assert_eq!(actions, ["login_failed"; 3], "{actions:?}");

    // Another address is not held back; nor are reads from the limited one.
    let elsewhere = sign_in_from(&env, "198.51.100.20", TEST_PASSWORD).await;
    assert_eq!(elsewhere.status, StatusCode::OK, "{}", elsewhere.text);
    let read = env
        .request_from("203.0.113.5", Method::GET, "/healthz", None, Anonymous)
        .await;
    assert_eq!(read.status, StatusCode::OK);

    // A browser posting the sign-in form from there gets the page, not JSON.
    let page = env
        .send(
            axum::http::Request::post("/login")
                .header("accept", "text/html,*/*;q=0.8")
                .header("content-type", "application/x-www-form-urlencoded")
                .extension(axum::extract::ConnectInfo(
                    "203.0.113.5:40000".parse::<std::net::SocketAddr>().unwrap(),
                ))
                .body(axum::body::Body::from("email=a%40b.example&password=x"))
                .unwrap(),
        )
        .await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        page.content_type().starts_with("text/html"),
        "{}",
        page.text
    );
    assert!(page.text.contains("Too many requests"), "{}", page.text);
    assert!(page.header("retry-after").is_some());
}

#[tokio::test]
async fn every_request_is_limited_per_address_and_per_credential() {
    let env = limited(RateLimitConfig {
        per_address: burst(5),
        ..RateLimitConfig::off()
    })
    .await;
    for _ in 0..5 {
        let answer = env
            .request_from("203.0.113.7", Method::GET, "/healthz", None, Anonymous)
            .await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    let over = env
        .request_from("203.0.113.7", Method::GET, "/healthz", None, Anonymous)
        .await;
    assert_problem(&over, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let other = env
        .request_from("203.0.113.8", Method::GET, "/healthz", None, Anonymous)
        .await;
    assert_eq!(other.status, StatusCode::OK);

    let env = limited(RateLimitConfig {
        per_credential: burst(4),
        ..RateLimitConfig::off()
    })
    .await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let token = env.token_user(&admin).await;
    let other = env.login(NORTHSIDE_ADMIN, TEST_PASSWORD).await;
    let other_token = env.token_user(&other).await;
    // The token exchange above was the cookie's first request; the token starts fresh.
    for source in ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"] {
        let answer = env
            .request_from(source, Method::GET, "/api/v1/me", None, &token)
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }
    // Changing address does not help a credential over its limit.
    let over = env
        .request_from("192.0.2.5", Method::GET, "/api/v1/me", None, &token)
        .await;
    assert_problem(&over, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    let fresh = env.get("/api/v1/me", &other_token).await;
    assert_eq!(
        fresh.status,
        StatusCode::OK,
        "another credential is not held back"
    );
}

/// Counts in the test Redis under a prefix no other test uses.
fn shared_counts() -> SharedCounts {
    let url = std::env::var("PADDOCK_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379/0".to_owned());
    SharedCounts::new(&url, format!("paddock-test:{}:", uuid::Uuid::new_v4())).unwrap()
}

/// The metrics a server has counted, as text.
async fn metrics_of(server: &Server, env: &TestApp) -> String {
    server.metrics.render(&env.world.app).await
}

#[tokio::test]
async fn shared_counts_hold_one_limit_across_instances() {
    let http = HttpConfig {
        rate_limits: RateLimitConfig {
            per_address: burst(4),
            shared: Some(shared_counts()),
            ..RateLimitConfig::off()
        },
        ..HttpConfig::default()
    };
    let env = TestApp::with_http(&http).await;
    // A second instance of the same deployment, in front of the same database.
    let other = Server::configured(env.world.app.clone(), |_| {}, &http);
    for instance in [&env.server, &other, &env.server, &other] {
        let answer = instance
            .request_from("203.0.113.9", Method::GET, "/healthz", None, Anonymous)
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
    }
    // Each instance has seen two requests, within its own burst of four; together
    // they have seen four, and the fifth is refused whichever instance it reaches.
    for instance in [&env.server, &other] {
        let over = instance
            .request_from("203.0.113.9", Method::GET, "/healthz", None, Anonymous)
            .await;
        assert_problem(&over, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
        assert!(over.header("retry-after").is_some());
    }
    let elsewhere = other
        .request_from("203.0.113.10", Method::GET, "/healthz", None, Anonymous)
        .await;
    assert_eq!(elsewhere.status, StatusCode::OK);
    let counted = metrics_of(&other, &env).await;
    assert!(
        counted.contains(r#"paddock_rate_limited_total{limit="per_address"} 1"#),
        "{counted}"
    );
}

#[tokio::test]
async fn without_redis_sign_in_fails_closed_and_reads_fail_open() {
    // Nothing listens on port 1: every shared count fails at once.
    let http = HttpConfig {
        rate_limits: RateLimitConfig {
            shared: Some(SharedCounts::new("redis://127.0.0.1:1/0", "paddock-test:").unwrap()),
            ..RateLimitConfig::default()
        },
        ..HttpConfig::default()
    };
    let env = TestApp::with_http(&http).await;
    let before = env.audit_actions().await.len();
    let refused = sign_in_from(&env, "203.0.113.11", TEST_PASSWORD).await;
    assert_problem(
        &refused,
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
    );
    assert!(refused.header("retry-after").is_some());
    assert!(
        !refused.text.contains("redis") && !refused.text.contains("127.0.0.1:1"),
        "{}",
        refused.text
    );
    assert_eq!(
        env.audit_actions().await.len(),
        before,
        "the password was not even tried"
    );
    // Reads (and a session's other work) go on, counted by the instance alone.
    for _ in 0..3 {
        let read = env
            .request_from("203.0.113.11", Method::GET, "/healthz", None, Anonymous)
            .await;
        assert_eq!(read.status, StatusCode::OK, "{}", read.text);
    }
    let counted = metrics_of(&env.server, &env).await;
    assert!(
        counted.contains(r#"paddock_rate_limited_total{limit="shared_unavailable"} 1"#),
        "{counted}"
    );
}
