//! The request context: an authenticated request runs in one transaction (the
//! credential check, the scope settings and the work), revocation is seen on the very
//! next request, and a cookie form post without the session's CSRF token changes nothing.

use crate::api::{Env, Session};
use crate::world::{TEST_PASSWORD, test_clock, test_state, two_practices};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use paddock_store::Db;
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tower::ServiceExt;

/// An environment whose server pool counts every connection it hands out: each
/// transaction the server opens takes one (`begin` acquires a connection for it), so
/// the count is the number of transactions, read without any timing or server logs.
async fn counting_env() -> (Env, Arc<AtomicUsize>) {
    let world = two_practices().await;
    let acquired = Arc::new(AtomicUsize::new(0));
    let (on_reuse, on_connect) = (acquired.clone(), acquired.clone());
    let pool_options = PgPoolOptions::new()
        .max_connections(5)
        // Both hooks run inside `acquire`, before the transaction's BEGIN is sent.
        .before_acquire(move |_, _| {
            on_reuse.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok(true) })
        })
        .after_connect(move |_, _| {
            on_connect.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { Ok(()) })
        });
    let options = PgConnectOptions::from_str(&world.db.app_url()).unwrap();
    let counted = Db::connect_with_pool(pool_options, options).await.unwrap();
    let clock = test_clock();
    let outbox = std::env::temp_dir().join(format!("paddock-rc-{}", uuid::Uuid::new_v4().simple()));
    let state = test_state(counted, clock.clone(), outbox.clone());
    let background = state.background.clone();
    let router = paddock_web::build_router(state, &paddock_web::HttpConfig::default());
    let env = Env {
        world,
        clock,
        router,
        outbox,
        background,
    };
    (env, acquired)
}

/// How many transactions the server opened while answering `request`.
async fn transactions_of(env: &Env, acquired: &AtomicUsize, request: Request<Body>) -> usize {
    let before = acquired.load(Ordering::SeqCst);
    let response = env.router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "the request succeeds");
    acquired.load(Ordering::SeqCst) - before
}

async fn registered_client(env: &Env, admin: &Session) -> String {
    let (status, body, _) = env
        .send(
            "POST",
            "/api/v1/clients",
            Some(json!({"given_name": "Ann", "family_name": "Hale"})),
            Some(admin),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn access_token(env: &Env, session: &Session) -> String {
    let (status, body, _) = env
        .send("POST", "/api/v1/auth/token", None, Some(session))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_authenticated_get_runs_in_exactly_one_transaction() {
    let (env, acquired) = counting_env().await;
    let admin = env.login(TEST_PASSWORD).await;
    let id = registered_client(&env, &admin).await;
    let path = format!("/api/v1/clients/{id}");

    let by_cookie = Request::get(&path)
        .header(
            header::COOKIE,
            format!("__Host-paddock_session={}", admin.cookie),
        )
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        transactions_of(&env, &acquired, by_cookie).await,
        1,
        "session cookie: authentication and the read share one transaction"
    );

    let token = access_token(&env, &admin).await;
    let by_token = Request::get(&path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        transactions_of(&env, &acquired, by_token).await,
        1,
        "access token: authentication and the read share one transaction"
    );
}

#[tokio::test]
async fn a_revoked_session_is_refused_on_the_very_next_request() {
    let (env, _) = counting_env().await;
    let admin = env.login(TEST_PASSWORD).await;
    let token = access_token(&env, &admin).await;
    let (status, _, _) = env.send("GET", "/api/v1/me", None, Some(&admin)).await;
    assert_eq!(status, StatusCode::OK);

    let (status, _, _) = env
        .send("POST", "/api/v1/auth/logout", None, Some(&admin))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (status, _, _) = env.send("GET", "/api/v1/me", None, Some(&admin)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the cookie is refused");
    let by_token = Request::get("/api/v1/me")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap();
    let answer = env.router.clone().oneshot(by_token).await.unwrap();
    assert_eq!(
        answer.status(),
        StatusCode::UNAUTHORIZED,
        "an access token of the revoked session is refused at once"
    );
}

#[tokio::test]
async fn a_form_post_with_a_wrong_csrf_token_changes_nothing() {
    let (env, _) = counting_env().await;
    let admin = env.login(TEST_PASSWORD).await;
    let form = "given_name=Mallory&family_name=Forged&csrf_token=wrong";
    let post = Request::post("/clients")
        .header(
            header::COOKIE,
            format!("__Host-paddock_session={}", admin.cookie),
        )
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    let answer = env.router.clone().oneshot(post).await.unwrap();
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);

    let (status, body, _) = env
        .send("GET", "/api/v1/clients?q=Forged", None, Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"], json!([]), "no client was registered: {body}");
}
