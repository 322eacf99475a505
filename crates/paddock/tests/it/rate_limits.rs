//! Rate limits, at the edge: per client address for every request, tighter for the
//! endpoints that take a secret, and per credential; over a limit the answer is a 429
//! problem with `Retry-After` (a page for a browser) and nothing behind it runs.

use crate::support::{
    Anonymous, NORTHSIDE_ADMIN, RIVERSIDE_ADMIN, TEST_PASSWORD, TestApp, WRONG_PASSWORD,
    assert_problem,
};
use axum::http::{Method, StatusCode};
use paddock_web::HttpConfig;
use paddock_web::rate_limit::{Limit, RateLimitConfig};
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
