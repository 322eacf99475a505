//! What `/metrics` reports: requests by route template (never the path a client
//! sent), their latency, the pool, and the audit sealer's backlog as seen by the
//! application role. The listener apart from the public port is shown in serve.rs.

use crate::support::{RIVERSIDE_ADMIN, TEST_PASSWORD, TestApp};
use axum::http::StatusCode;

/// The value of the sample line that starts with `name` (labels included).
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
}

#[tokio::test]
async fn requests_are_counted_by_route_template_and_status_never_by_path() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let token = env.token_user(&admin).await;
    let (first, second) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
    for id in [first, second] {
        let answer = env.get(&format!("/api/v1/patients/{id}"), &token).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", answer.text);
    }
    let unknown = env.get("/reset-password-typo/s3cret-token", &token).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(
        env.get("/metrics", &token).await.status,
        StatusCode::NOT_FOUND
    );

    let text = env.metrics.render(&env.world.app).await;
    let patients =
        r#"paddock_http_requests_total{method="GET",route="/api/v1/patients/{id}",status="404"}"#;
    assert_eq!(sample(&text, patients), Some(2.0), "{text}");
    let unmatched = r#"paddock_http_requests_total{method="GET",route="unmatched",status="404"}"#;
    assert_eq!(sample(&text, unmatched), Some(2.0), "{text}");
    let latency = r#"paddock_http_request_duration_seconds_count{method="GET",route="/api/v1/patients/{id}"}"#;
    assert_eq!(sample(&text, latency), Some(2.0), "{text}");
    for leaked in [first.to_string(), second.to_string(), "s3cret".to_owned()] {
        assert!(
            !text.contains(&leaked),
            "{leaked} reached the metrics:\n{text}"
        );
    }
    assert!(
        text.ends_with("# EOF\n"),
        "OpenMetrics text ends with # EOF"
    );
}

#[tokio::test]
async fn the_sealer_backlog_is_what_waits_to_be_chained() {
    let env = TestApp::new().await;
    env.world.admin.seal_audit().await.unwrap();
    let text = env.metrics.render(&env.world.app).await;
    assert_eq!(
        sample(&text, "paddock_audit_unsealed_events"),
        Some(0.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "paddock_audit_sealer_lag_seconds"),
        Some(0.0),
        "{text}"
    );

    // A sign-in records events; nothing seals them in this test until we do.
    env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let text = env.metrics.render(&env.world.app).await;
    let pending = sample(&text, "paddock_audit_unsealed_events").unwrap();
    assert!(pending >= 1.0, "{text}");
    let lag = sample(&text, "paddock_audit_sealer_lag_seconds").unwrap();
    assert!(lag > 0.0, "{text}");
    let max = sample(&text, "paddock_db_pool_connections_max").unwrap();
    let open = sample(&text, "paddock_db_pool_connections_open").unwrap();
    assert!(max >= 1.0 && open <= max, "{text}");

    env.world.admin.seal_audit().await.unwrap();
    let text = env.metrics.render(&env.world.app).await;
    assert_eq!(
        sample(&text, "paddock_audit_unsealed_events"),
        Some(0.0),
        "{text}"
    );
}
