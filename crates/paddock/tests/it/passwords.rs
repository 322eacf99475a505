//! Password change and reset: policy-checked, single-use links, every other
//! session ends; and the optional online breach check with k-anonymity.

use crate::support::{Anonymous, Answer, RIVERSIDE_ADMIN, TEST_PASSWORD, TestApp};
use axum::http::Method;
use axum::http::StatusCode;
use chrono::Duration;
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use std::sync::{Arc, Mutex};

const NEW_PASSWORD: &str = "heron-lantern-47-drifts-upriver";

#[tokio::test]
async fn a_reset_link_sets_a_new_password_once_and_ends_every_session() {
    let env = TestApp::new().await;
    let old_session = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let Answer { status, .. } = env
        .request(
            Method::POST,
            "/api/v1/auth/password-reset",
            Some(json!({"email": RIVERSIDE_ADMIN})),
            Anonymous,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let token = env.reset_link_for(RIVERSIDE_ADMIN).await;

    // A weak password is refused and the link keeps working (nothing is lost).
    let Answer { status, body, .. } = env
        .request(
            Method::POST,
            "/api/v1/auth/password-reset/confirm",
            Some(json!({"token": token, "new_password": "password1234"})),
            Anonymous,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["field"], "new_password");

    let Answer { status, .. } = env
        .request(
            Method::POST,
            "/api/v1/auth/password-reset/confirm",
            Some(json!({"token": token, "new_password": NEW_PASSWORD})),
            Anonymous,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        env.me_status(&old_session).await,
        StatusCode::UNAUTHORIZED,
        "old sessions end"
    );
    let Answer { status, .. } = env
        .request(
            Method::POST,
            "/api/v1/auth/login",
            Some(json!({"email": RIVERSIDE_ADMIN, "password": TEST_PASSWORD})),
            Anonymous,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old password is gone");
    let new_session = env.login(RIVERSIDE_ADMIN, NEW_PASSWORD).await;
    assert_eq!(env.me_status(&new_session).await, StatusCode::OK);

    let Answer { status, .. } = env
        .request(
            Method::POST,
            "/api/v1/auth/password-reset/confirm",
            Some(json!({"token": token, "new_password": "another-fine-owl-93-nests"})),
            Anonymous,
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
    let env = TestApp::new().await;
    let known = env
        .request(
            Method::POST,
            "/api/v1/auth/password-reset",
            Some(json!({"email": RIVERSIDE_ADMIN})),
            Anonymous,
        )
        .await;
    let unknown = env
        .request(
            Method::POST,
            "/api/v1/auth/password-reset",
            Some(json!({"email": "nobody@riverside.example"})),
            Anonymous,
        )
        .await;
    assert_eq!((known.status, &known.body), (unknown.status, &unknown.body));
    // Both requests' work runs after the answer: wait for all of it, not just for the
    // known address's mail, before saying the unknown one got nothing.
    env.settled().await;
    let mails = paddock_notify::read_outbox(env.outbox()).unwrap();
    assert_eq!(mails.len(), 1, "only the known address gets a mail");
    assert_eq!(mails[0].to, RIVERSIDE_ADMIN);
}

#[tokio::test]
async fn a_reset_link_expires_after_thirty_minutes() {
    let env = TestApp::new().await;
    env.request(
        Method::POST,
        "/api/v1/auth/password-reset",
        Some(json!({"email": RIVERSIDE_ADMIN})),
        Anonymous,
    )
    .await;
    let token = env.reset_link_for(RIVERSIDE_ADMIN).await;
    // A second before expiry the link is still good: a weak password is refused by
    // the policy (422), which only happens for a live link, and the link stays unused.
    env.clock
        .advance(Duration::minutes(30) - Duration::seconds(1));
    let Answer { status, body, .. } = env
        .request(
            Method::POST,
            "/api/v1/auth/password-reset/confirm",
            Some(json!({"token": token, "new_password": "password1234"})),
            Anonymous,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "new_password");
    env.clock.advance(Duration::seconds(2));
    let Answer { status, .. } = env
        .request(
            Method::POST,
            "/api/v1/auth/password-reset/confirm",
            Some(json!({"token": token, "new_password": NEW_PASSWORD})),
            Anonymous,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_reset_token_is_stored_only_as_its_hash() {
    let env = TestApp::new().await;
    env.request(
        Method::POST,
        "/api/v1/auth/password-reset",
        Some(json!({"email": RIVERSIDE_ADMIN})),
        Anonymous,
    )
    .await;
    let token = env.reset_link_for(RIVERSIDE_ADMIN).await;
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
    assert_eq!(
        stored[0],
        paddock_store::identity::token::token_hash(&token)
    );
    assert!(!String::from_utf8_lossy(&stored[0]).contains(&token));
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one_and_ends_the_other_sessions() {
    let env = TestApp::new().await;
    let here = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let elsewhere = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});

    let Answer { status, body, .. } = env
        .request(
            Method::POST,
            "/api/v1/auth/password",
            Some(change("wrong-guess-123456", NEW_PASSWORD)),
            Some(&here),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_credentials"))
    );
    let Answer { status, body, .. } = env
        .request(
            Method::POST,
            "/api/v1/auth/password",
            Some(change(TEST_PASSWORD, "riverside12345")),
            Some(&here),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "new_password");

    let Answer { status, .. } = env
        .request(
            Method::POST,
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
    env.login(RIVERSIDE_ADMIN, NEW_PASSWORD).await;
    assert!(
        env.audit_actions()
            .await
            .contains(&"password_change".to_owned())
    );
}

#[tokio::test]
async fn changing_the_password_to_the_current_one_is_refused() {
    let env = TestApp::new().await;
    let here = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let Answer { status, body, .. } = env
        .request(
            Method::POST,
            "/api/v1/auth/password",
            Some(json!({"current_password": TEST_PASSWORD, "new_password": TEST_PASSWORD})),
            Some(&here),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "new_password");
    assert!(
        !env.audit_actions()
            .await
            .contains(&"password_change".to_owned())
    );
}

/// Asks for a reset of `email` from `source` and checks the one answer every request gets.
async fn ask_reset(env: &TestApp, source: &str, email: &str) {
    let answer = env
        .request_from(
            source,
            Method::POST,
            "/api/v1/auth/password-reset",
            Some(json!({"email": email})),
            Anonymous,
        )
        .await;
    let cookie = answer.header("set-cookie").map(str::to_owned);
    assert_eq!(
        (answer.status, answer.body, cookie),
        (StatusCode::ACCEPTED, Value::Null, None)
    );
}

/// Every reset token mailed so far, oldest first (after the background work settled).
async fn reset_tokens(env: &TestApp) -> Vec<String> {
    env.settled().await;
    env.mails_to(RIVERSIDE_ADMIN)
        .iter()
        .filter(|m| m.subject.contains("Reset"))
        .map(|m| {
            m.body_text
                .split_whitespace()
                .find_map(|w| w.strip_prefix("https://paddock.test/reset-password/"))
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// Rows in `table` (as superuser: observing storage only).
async fn rows_in(env: &TestApp, table: &str) -> i64 {
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&env.world.db.admin_url())
        .await
        .unwrap();
    // Practice B's admin has a fixture reset of their own: count everyone else's.
    sqlx::query_scalar(&format!(
        "select count(*) from {table} where user_id not in (select id from users where email = 'admin@northside.example')"
    ))
        .fetch_one(&mut admin)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_fourth_reset_request_for_one_email_within_an_hour_writes_and_sends_nothing() {
    let env = TestApp::new().await;
    // From four different addresses: the per-email limit holds whoever asks.
    for source in ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"] {
        ask_reset(&env, source, RIVERSIDE_ADMIN).await;
    }
    assert_eq!(reset_tokens(&env).await.len(), 3, "three mails, not four");
    assert_eq!(rows_in(&env, "password_resets").await, 3);
    let requests = |actions: Vec<String>| {
        actions
            .iter()
            .filter(|a| *a == "password_reset_request")
            .count()
    };
    assert_eq!(requests(env.audit_actions().await), 3);

    // The limit is a sliding hour, not a ban.
    env.clock.advance(Duration::hours(1) + Duration::seconds(1));
    ask_reset(&env, "203.0.113.5", RIVERSIDE_ADMIN).await;
    assert_eq!(reset_tokens(&env).await.len(), 4);
    assert_eq!(requests(env.audit_actions().await), 4);
}

#[tokio::test]
async fn reset_requests_from_one_address_are_limited_whatever_the_email() {
    let env = TestApp::new().await;
    let flooder = "203.0.113.7";
    for i in 0..10 {
        ask_reset(&env, flooder, &format!("nobody{i}@riverside.example")).await;
    }
    // The flood is counted before the next request is.
    env.settled().await;
    ask_reset(&env, flooder, RIVERSIDE_ADMIN).await;
    assert!(
        reset_tokens(&env).await.is_empty(),
        "the flooding address got a reset through"
    );
    assert_eq!(rows_in(&env, "password_resets").await, 0);
    // Someone else, elsewhere, is not held up by the flood.
    ask_reset(&env, "198.51.100.9", RIVERSIDE_ADMIN).await;
    assert_eq!(reset_tokens(&env).await.len(), 1);
}

#[tokio::test]
async fn a_reset_is_answered_before_the_email_is_looked_up_or_anything_written() {
    let env = TestApp::new().await;
    // Hold back every write of a reset link; a handler that wrote before answering
    // could not answer until this lock goes.
    let mut blocker = <sqlx::PgConnection as sqlx::Connection>::connect(&env.world.db.admin_url())
        .await
        .unwrap();
    sqlx::query("begin").execute(&mut blocker).await.unwrap();
    sqlx::query("lock table password_resets in share mode")
        .execute(&mut blocker)
        .await
        .unwrap();
    let answer = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        env.request(
            Method::POST,
            "/api/v1/auth/password-reset",
            Some(json!({"email": RIVERSIDE_ADMIN})),
            Anonymous,
        ),
    )
    .await
    .expect("the answer waited for the reset to be written");
    assert_eq!(answer.status, StatusCode::ACCEPTED);
    assert!(
        env.mails_to(RIVERSIDE_ADMIN).is_empty(),
        "the mail went before the answer"
    );
    assert_eq!(env.background.pending(), 1, "the reset work is still to do");
    sqlx::query("commit").execute(&mut blocker).await.unwrap();
    // Once the lock goes, the work completes on its own.
    assert_eq!(reset_tokens(&env).await.len(), 1);
    assert_eq!(rows_in(&env, "password_resets").await, 1);
}

#[tokio::test]
async fn using_a_reset_link_ends_every_other_open_link() {
    let env = TestApp::new().await;
    ask_reset(&env, "203.0.113.1", RIVERSIDE_ADMIN).await;
    ask_reset(&env, "203.0.113.1", RIVERSIDE_ADMIN).await;
    let tokens = reset_tokens(&env).await;
    assert_eq!(tokens.len(), 2);
    let confirm = |token: &str, password: &str| json!({"token": token, "new_password": password});
    let Answer { status, .. } = env
        .request(
            Method::POST,
            "/api/v1/auth/password-reset/confirm",
            Some(confirm(&tokens[1], NEW_PASSWORD)),
            Anonymous,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let Answer { status, .. } = env
        .request(
            Method::POST,
            "/api/v1/auth/password-reset/confirm",
            Some(confirm(&tokens[0], "another-fine-owl-93-nests")),
            Anonymous,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the first link outlived the reset"
    );
    env.login(RIVERSIDE_ADMIN, NEW_PASSWORD).await;
}

#[tokio::test]
async fn a_reset_link_asked_for_before_a_password_change_is_refused_after_it() {
    let env = TestApp::new().await;
    ask_reset(&env, "203.0.113.1", RIVERSIDE_ADMIN).await;
    let tokens = reset_tokens(&env).await;
    let here = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let Answer { status, .. } = env
        .request(
            Method::POST,
            "/api/v1/auth/password",
            Some(json!({"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD})),
            Some(&here),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let Answer { status, .. } = env
        .request(
            Method::POST,
            "/api/v1/auth/password-reset/confirm",
            Some(json!({"token": tokens[0], "new_password": "another-fine-owl-93-nests"})),
            Anonymous,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the link outlived the change"
    );
    env.login(RIVERSIDE_ADMIN, NEW_PASSWORD).await;
}

#[tokio::test]
async fn a_practice_cannot_rewrite_the_shared_identity_of_its_members() {
    let env = TestApp::new().await;
    let admin = env.world.a.admin;
    let before: (String, Option<String>) = {
        let mut su = <sqlx::PgConnection as sqlx::Connection>::connect(&env.world.db.admin_url())
            .await
            .unwrap();
        sqlx::query_as("select email, password_hash from users where id = $1")
            .bind(admin.as_uuid())
            .fetch_one(&mut su)
            .await
            .unwrap()
    };
    // Practice A's own transaction, as the application role, even naming the user as
    // the sign-in paths do.
    let mut tx = env
        .world
        .app
        .begin(
            &env.world.a.principal,
            &paddock_store::RequestMeta::system("t"),
        )
        .await
        .unwrap();
    let mut changed = 0;
    for sql in [
        "update users set email = 'taken-over@evil.example' where id = $1",
        "update users set password_hash = 'attacker-chosen' where id = $1",
    ] {
        changed += sqlx::query(sql)
            .bind(admin.as_uuid())
            .execute(tx.conn())
            .await
            .map_or(0, |done| done.rows_affected());
    }
    sqlx::query("select set_config('app.auth_user_id', $1, true)")
        .bind(admin.to_string())
        .execute(tx.conn())
        .await
        .unwrap();
    changed += sqlx::query("update users set password_hash = 'attacker-chosen' where id = $1")
        .bind(admin.as_uuid())
        .execute(tx.conn())
        .await
        .map_or(0, |done| done.rows_affected());
    tx.commit().await.unwrap();
    assert_eq!(changed, 0, "practice A rewrote a global identity");
    let mut su = <sqlx::PgConnection as sqlx::Connection>::connect(&env.world.db.admin_url())
        .await
        .unwrap();
    let after: (String, Option<String>) =
        sqlx::query_as("select email, password_hash from users where id = $1")
            .bind(admin.as_uuid())
            .fetch_one(&mut su)
            .await
            .unwrap();
    assert_eq!(after, before);
    // The person's own paths still work.
    let here = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let Answer { status, .. } = env
        .request(
            Method::POST,
            "/api/v1/auth/password",
            Some(json!({"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD})),
            Some(&here),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    env.login(RIVERSIDE_ADMIN, NEW_PASSWORD).await;
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
    let env = TestApp::with(|state| {
        let mut auth = (*state.auth).clone();
        auth.pwned = Some(paddock_passwords::PwnedRangeClient::new(&url).unwrap());
        state.auth = Arc::new(auth);
    })
    .await;
    let here = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let Answer { status, body, .. } = env
        .request(
            Method::POST,
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
    let Answer { status, .. } = env
        .request(Method::POST, "/api/v1/auth/password", Some(json!({"current_password": TEST_PASSWORD, "new_password": "kestrel-harbour-59-sleeps-late"})), Some(&here))
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
    let env = TestApp::with(|state| {
        let mut auth = (*state.auth).clone();
        auth.pwned = Some(
            paddock_passwords::PwnedRangeClient::new(&format!("http://127.0.0.1:{port}")).unwrap(),
        );
        state.auth = Arc::new(auth);
    })
    .await;
    let here = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    // The shipped list still refuses a breached password while the range API is down.
    let Answer { status, body, .. } = env
        .request(
            Method::POST,
            "/api/v1/auth/password",
            Some(json!({"current_password": TEST_PASSWORD, "new_password": "blewgli6tski"})),
            Some(&here),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "new_password");
    assert_eq!(
        body["errors"][0]["message"],
        "appears in lists of breached passwords; choose another"
    );
    let Answer { status, .. } = env
        .request(
            Method::POST,
            "/api/v1/auth/password",
            Some(json!({"current_password": TEST_PASSWORD, "new_password": NEW_PASSWORD})),
            Some(&here),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}
