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

    // A page converted to the request context reads its layout and list in it too.
    let page = Request::get("/clients")
        .header(
            header::COOKIE,
            format!("__Host-paddock_session={}", admin.cookie),
        )
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        transactions_of(&env, &acquired, page).await,
        1,
        "the client list page: one transaction"
    );

    // So do the patient list, a patient's chart (layout, patient, owners, record) and
    // an encounter (layout, encounter, allergies, staff, vitals), and the calendar.
    let (status, patient, _) = env
        .send(
            "POST",
            "/api/v1/patients",
            Some(json!({"name": "Rex", "species": "Canine", "sex": "male",
                        "owners": [{"client_id": id, "primary": true}]})),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{patient}");
    let chart = format!("/patients/{}", patient["id"].as_str().unwrap());
    let (status, encounter, _) = env
        .send(
            "POST",
            &format!(
                "/api/v1/patients/{}/encounters",
                patient["id"].as_str().unwrap()
            ),
            Some(json!({"kind": "consultation", "reason": "Itchy ears"})),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{encounter}");
    let encounter = format!("/encounters/{}", encounter["id"].as_str().unwrap());
    for page in [
        "/patients",
        chart.as_str(),
        encounter.as_str(),
        "/appointments",
    ] {
        let request = Request::get(page)
            .header(
                header::COOKIE,
                format!("__Host-paddock_session={}", admin.cookie),
            )
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            transactions_of(&env, &acquired, request).await,
            1,
            "{page}: one transaction"
        );
    }

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

/// The value of the hidden field `name` in a page's HTML.
fn hidden_field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("the field is on the page") + marker.len();
    let end = start + html[start..].find('"').unwrap();
    html[start..end].to_owned()
}

/// Signs in through the sign-in page reached from `login_location`; returns where the
/// browser is sent afterwards.
async fn sign_in_through_the_page(env: &Env, login_location: &str) -> String {
    let page = env
        .router
        .clone()
        .oneshot(Request::get(login_location).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let pre_session = page
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();
    let bytes = http_body_util::BodyExt::collect(page.into_body())
        .await
        .unwrap()
        .to_bytes();
    let html = String::from_utf8(bytes.to_vec()).unwrap();
    let csrf = hidden_field(&html, "csrf_token");
    let next = if html.contains("name=\"next\"") {
        hidden_field(&html, "next")
    } else {
        String::new()
    };
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => char::from(b).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    let form = format!(
        "email={}&password={}&csrf_token={}&next={}",
        encode(crate::api::ADMIN),
        encode(TEST_PASSWORD),
        encode(&csrf),
        encode(&next.replace("&#38;", "&").replace("&amp;", "&"))
    );
    let post = Request::post("/login")
        .header(header::COOKIE, pre_session)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    let answer = env.router.clone().oneshot(post).await.unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER, "signed in");
    answer
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn a_page_without_a_session_sends_the_browser_to_sign_in_and_back() {
    let (env, _) = counting_env().await;
    let asked = Request::get("/clients?q=ann&limit=5")
        .body(Body::empty())
        .unwrap();
    let answer = env.router.clone().oneshot(asked).await.unwrap();
    assert_eq!(answer.status(), StatusCode::SEE_OTHER);
    let location = answer
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap()
        .to_owned();
    assert_eq!(location, "/login?next=/clients%3Fq%3Dann%26limit%3D5");

    let returned = sign_in_through_the_page(&env, &location).await;
    assert_eq!(
        returned, "/clients?q=ann&limit=5",
        "back where the browser was going"
    );
}

#[tokio::test]
async fn an_off_site_next_is_ignored_by_the_sign_in_page() {
    let (env, _) = counting_env().await;
    for off_site in [
        "https://evil.example/",
        "//evil.example/x",
        "/%2F%2Fevil.example",
    ] {
        let location = format!("/login?next={}", off_site.replace('/', "%2F"));
        let returned = sign_in_through_the_page(&env, &location).await;
        assert_eq!(returned, "/", "{off_site} is not followed");
    }
}
