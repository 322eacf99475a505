//! Password change and reset: policy-checked, single-use links, every other
//! session ends; and the optional online breach check with k-anonymity.

use crate::api::{ADMIN, env, env_with};
use crate::world::TEST_PASSWORD;
use axum::http::StatusCode;
use chrono::Duration;
use serde_json::json;
use sha1::{Digest, Sha1};
use std::sync::{Arc, Mutex};

const NEW_PASSWORD: &str = "heron-lantern-47-drifts-upriver";

#[tokio::test]
async fn a_reset_link_sets_a_new_password_once_and_ends_every_session() {
    let env = env().await;
    let old_session = env.login(TEST_PASSWORD).await;
    let (status, _, _) = env
        .send(
            "POST",
            "/api/v1/auth/password-reset",
            Some(json!({"email": ADMIN})),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let token = env.reset_token().await;

    // A weak password is refused and the link keeps working (nothing is lost).
    let (status, body, _) = env
        .send(
            "POST",
            "/api/v1/auth/password-reset/confirm",
            Some(json!({"token": token, "new_password": "password1234"})),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["field"], "new_password");

    let (status, _, _) = env
        .send(
            "POST",
            "/api/v1/auth/password-reset/confirm",
            Some(json!({"token": token, "new_password": NEW_PASSWORD})),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        env.me_status(&old_session).await,
        StatusCode::UNAUTHORIZED,
        "old sessions end"
    );
    let (status, _, _) = env
        .send(
            "POST",
            "/api/v1/auth/login",
            Some(json!({"email": ADMIN, "password": TEST_PASSWORD})),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old password is gone");
    let new_session = env.login(NEW_PASSWORD).await;
    assert_eq!(env.me_status(&new_session).await, StatusCode::OK);

    let (status, _, _) = env
        .send(
            "POST",
            "/api/v1/auth/password-reset/confirm",
            Some(json!({"token": token, "new_password": "another-fine-owl-93-nests"})),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the link works once");
    let actions = env.audit_actions().await;
    assert!(
        actions.contains(&"password_reset_request".to_owned()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"password_reset".to_owned()),
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_reset_for_an_unknown_email_answers_the_same_and_sends_nothing() {
    let env = env().await;
    let known = env
        .send(
            "POST",
            "/api/v1/auth/password-reset",
            Some(json!({"email": ADMIN})),
            None,
        )
        .await;
    let unknown = env
        .send(
            "POST",
            "/api/v1/auth/password-reset",
            Some(json!({"email": "nobody@riverside.example"})),
            None,
        )
        .await;
    assert_eq!((known.0, &known.1), (unknown.0, &unknown.1));
    env.reset_token().await;
    let mails = paddock_notify::read_outbox(&env.outbox).unwrap();
    assert_eq!(mails.len(), 1, "only the known address gets a mail");
    assert_eq!(mails[0].to, ADMIN);
}

#[tokio::test]
async fn a_reset_link_expires_after_thirty_minutes() {
    let env = env().await;
    env.send(
        "POST",
        "/api/v1/auth/password-reset",
        Some(json!({"email": ADMIN})),
        None,
    )
    .await;
    let token = env.reset_token().await;
    env.clock
        .advance(Duration::minutes(30) + Duration::seconds(1));
    let (status, _, _) = env
        .send(
            "POST",
            "/api/v1/auth/password-reset/confirm",
            Some(json!({"token": token, "new_password": NEW_PASSWORD})),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_reset_token_is_stored_only_as_its_hash() {
    let env = env().await;
    env.send(
        "POST",
        "/api/v1/auth/password-reset",
        Some(json!({"email": ADMIN})),
        None,
    )
    .await;
    let token = env.reset_token().await;
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&env.world.db.admin_url())
        .await
        .unwrap();
    // Only this admin's: the world's fixture holds a reset of practice B's admin.
    let stored: Vec<Vec<u8>> =
        sqlx::query_scalar("select token_hash from password_resets where user_id = $1")
            .bind(env.world.a.admin.as_uuid())
            .fetch_all(&mut admin)
            .await
            .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0], paddock_store::token::token_hash(&token));
    assert!(!String::from_utf8_lossy(&stored[0]).contains(&token));
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_ends_the_other_sessions() {
    let env = env().await;
    let here = env.login(TEST_PASSWORD).await;
    let elsewhere = env.login(TEST_PASSWORD).await;
    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});

    let (status, body, _) = env
        .send(
            "POST",
            "/api/v1/auth/password",
            Some(change("wrong-guess-123456", NEW_PASSWORD)),
            Some(&here),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_credentials"))
    );
    let (status, body, _) = env
        .send(
            "POST",
            "/api/v1/auth/password",
            Some(change(TEST_PASSWORD, "riverside12345")),
            Some(&here),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "new_password");

    let (status, _, _) = env
        .send(
            "POST",
            "/api/v1/auth/password",
            Some(change(TEST_PASSWORD, NEW_PASSWORD)),
            Some(&here),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        env.me_status(&here).await,
        StatusCode::OK,
        "the session that changed it stays"
    );
    assert_eq!(
        env.me_status(&elsewhere).await,
        StatusCode::UNAUTHORIZED,
        "every other session ends"
    );
    env.login(NEW_PASSWORD).await;
    assert!(
        env.audit_actions()
            .await
            .contains(&"password_change".to_owned())
    );
}

/// A fake Have I Been Pwned range server: answers with `suffixes` and records paths.
async fn fake_range_server(suffixes: Vec<(String, u64)>) -> (String, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    tokio::spawn(async move {
        for _ in 0..16 {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mut buffer = vec![0u8; 4096];
            let n = stream.read(&mut buffer).await.unwrap_or(0);
            let request = String::from_utf8_lossy(&buffer[..n]).to_string();
            record.lock().unwrap().push(request);
            let body: String = suffixes
                .iter()
                .map(|(s, c)| format!("{s}:{c}\r\n"))
                .collect();
            let answer = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(answer.as_bytes()).await;
        }
    });
    (format!("http://{address}"), seen)
}

fn sha1_hex(password: &str) -> String {
    Sha1::digest(password.as_bytes())
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

#[tokio::test]
async fn with_the_online_check_configured_a_breached_password_is_refused_and_only_a_hash_prefix_leaves()
 {
    let hash = sha1_hex(NEW_PASSWORD);
    let (url, seen) =
        fake_range_server(vec![(hash[5..].to_owned(), 42), ("0".repeat(35), 0)]).await;
    let env = env_with(|state| {
        let mut auth = (*state.auth).clone();
        auth.pwned = Some(paddock_passwords::PwnedRangeClient::new(&url).unwrap());
        state.auth = Arc::new(auth);
    })
    .await;
    let here = env.login(TEST_PASSWORD).await;
    let (status, body, _) = env
        .send(
            "POST",
            "/api/v1/auth/password",
            Some(json!({"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD})),
            Some(&here),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("breached"),
        "{body}"
    );
    let requests = seen.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    assert!(
        requests[0].contains(&format!("/range/{}", &hash[..5])),
        "{}",
        requests[0]
    );
    assert!(
        !requests[0].contains(&hash[5..]),
        "the rest of the hash never leaves"
    );
    assert!(!requests[0].contains(NEW_PASSWORD));

    // A password absent from the range is accepted.
    let (status, _, _) = env
        .send("POST", "/api/v1/auth/password", Some(json!({"current_password": TEST_PASSWORD, "new_password": "kestrel-harbour-59-sleeps-late"})), Some(&here))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn when_the_online_check_is_down_the_local_checks_decide() {
    // Nothing listens on this port once the listener is dropped.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let env = env_with(|state| {
        let mut auth = (*state.auth).clone();
        auth.pwned = Some(
            paddock_passwords::PwnedRangeClient::new(&format!("http://127.0.0.1:{port}")).unwrap(),
        );
        state.auth = Arc::new(auth);
    })
    .await;
    let here = env.login(TEST_PASSWORD).await;
    let (status, _, _) = env
        .send(
            "POST",
            "/api/v1/auth/password",
            Some(json!({"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD})),
            Some(&here),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}
