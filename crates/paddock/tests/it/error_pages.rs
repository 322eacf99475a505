//! Error pages for browsers: a browser asking for a page (its `Accept` prefers
//! `text/html`, the path is not under `/api/`) that ends in an error sees an HTML page
//! with the status, the problem's title and detail, the request id and a way back;
//! API clients, and every `/api/` path, keep problem+json. Either way the status and
//! the headers are the same, another practice's id answers exactly like an unknown
//! one, and nothing internal shows. A signed-in member's error page is in the staff
//! layout (practice, sections, who is signed in, sign-out); a signed-out browser's has
//! the bare bar.

use crate::clinic_pages::rex;
use crate::support::{
    Anonymous, Answer, CookieUser, Credential, LOGIN_COOKIE, MEMBER_PASSWORD, NORTHSIDE_ADMIN,
    RIVERSIDE, RIVERSIDE_ADMIN, TEST_PASSWORD, TestApp, assert_problem,
};
use axum::body::Body;
use axum::http::Method;
use axum::http::{Request, StatusCode, header};
use serde_json::json;
use uuid::Uuid;

/// What Chromium sends when it navigates to a page.
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8";

/// The body with this answer's request id taken out, to compare two answers.
fn text_without_request_id(answer: &Answer) -> String {
    answer
        .utf8()
        .replace(answer.header("x-request-id").unwrap(), "<request id>")
}

/// `GET path` with `accept` (none when `None`), as the browser of `session`.
async fn get(
    env: &TestApp,
    path: &str,
    accept: Option<&str>,
    session: Option<&CookieUser>,
) -> Answer {
    let mut headers = session.map(CookieUser::without_csrf).unwrap_or_default();
    if let Some(accept) = accept {
        headers.push(("accept", accept.to_owned()));
    }
    let answer = env.get(path, headers).await;
    answer.utf8();
    answer
}

/// Posts a form from a browser, with the headers given.
async fn post_form(
    env: &TestApp,
    path: &str,
    fields: &[(&str, &str)],
    headers: impl Into<Credential>,
) -> Answer {
    let mut headers = headers.into();
    headers.push(("accept", BROWSER_ACCEPT.to_owned()));
    let answer = env.post_form(path, fields, headers).await;
    answer.utf8();
    answer
}

/// Asserts nothing of the machinery shows: no problem+json, no SQL, no Rust.
#[track_caller]
fn assert_nothing_internal(answer: &Answer) {
    for internal in [
        "\"code\"",
        "problem+json",
        "/problems/",
        "sqlx",
        "relation \"",
        "panicked",
        "StoreError",
    ] {
        assert!(
            !answer.text.contains(internal),
            "{internal:?} in {}",
            answer.text
        );
    }
}

/// Asserts an HTML error page: its status, its title, the layout's bar, the request
/// id of this answer, and the link back to the dashboard.
#[track_caller]
fn assert_error_page(answer: &Answer, status: StatusCode, title: &str) {
    assert_eq!(answer.status, status, "{}", answer.text);
    assert!(
        answer.content_type().starts_with("text/html"),
        "{}",
        answer.content_type()
    );
    let body = &answer.text;
    assert!(body.starts_with("<!doctype html>"), "{body}");
    assert!(
        body.contains("<header class=\"bar\">"),
        "the layout's bar: {body}"
    );
    assert!(
        body.contains("<link rel=\"stylesheet\" href=\"/static/app.css\">"),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "<p class=\"muted\" id=\"error-status\">Error {}</p>",
            status.as_u16()
        )),
        "{body}"
    );
    assert!(
        body.contains(&format!("<h1 id=\"error-title\">{title}</h1>")),
        "{body}"
    );
    let request_id = answer.header("x-request-id").expect("a request id");
    assert!(
        body.contains(&format!(
            "<code id=\"error-request-id\">{request_id}</code>"
        )),
        "the request id for support: {body}"
    );
    assert!(
        body.contains("<a href=\"/\" id=\"error-back\">Back to the dashboard</a>"),
        "a way back: {body}"
    );
    assert_eq!(
        answer.header("vary"),
        Some("accept"),
        "caches keep both forms apart"
    );
    assert!(answer.header("content-security-policy").is_some());
    assert!(!body.contains("<script"), "no script: {body}");
    assert!(!body.contains("style="), "no inline style: {body}");
    assert_nothing_internal(answer);
}

/// Asserts the error page is in the staff layout of `practice`, signed in as `who`
/// (`name · role`), with the sign-out form carrying the session's CSRF token.
#[track_caller]
fn assert_staff_layout(answer: &Answer, practice: &str, who: &str, csrf: &str) {
    let body = &answer.text;
    assert!(
        body.contains(&format!(
            "<span class=\"practice\" id=\"practice-name\">{practice}</span>"
        )),
        "the practice in the bar: {body}"
    );
    assert!(
        body.contains(&format!(
            "<span class=\"who\" id=\"signed-in-as\">{who}</span>"
        )),
        "who is signed in: {body}"
    );
    assert!(
        body.contains(&format!("name=\"csrf_token\" value=\"{csrf}\"")),
        "the sign-out form: {body}"
    );
}

/// Asserts the error page has the bare bar: nobody is known to be signed in.
#[track_caller]
fn assert_bare_bar(answer: &Answer) {
    for staff in [
        "id=\"practice-name\"",
        "id=\"signed-in-as\"",
        "id=\"sign-out\"",
    ] {
        assert!(!answer.text.contains(staff), "{staff} in {}", answer.text);
    }
}

#[tokio::test]
async fn error_pages_a_browser_asking_for_an_unknown_page_gets_the_html_404_with_a_way_back() {
    let env = TestApp::new().await;
    let signed_out = get(&env, "/no-such-page", Some(BROWSER_ACCEPT), None).await;
    assert_error_page(&signed_out, StatusCode::NOT_FOUND, "Not found");
    assert_bare_bar(&signed_out);

    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let signed_in = get(
        &env,
        "/patients/registry/old",
        Some(BROWSER_ACCEPT),
        Some(&admin),
    )
    .await;
    assert_error_page(&signed_in, StatusCode::NOT_FOUND, "Not found");
    let admin_bar = "Admin · Practice admin";
    assert_staff_layout(&signed_in, RIVERSIDE, admin_bar, &admin.csrf);
    assert!(
        !signed_in.text.contains("id=\"error-sign-in\""),
        "a 404 needs no sign-in link: {}",
        signed_in.text
    );
    // An answer to a signed-in browser is kept out of shared caches, page or not.
    assert_eq!(signed_in.header("cache-control"), Some("no-store"));

    // An address no route knows, signed in: the same staff layout.
    let unrouted = get(&env, "/no-such-page", Some(BROWSER_ACCEPT), Some(&admin)).await;
    assert_error_page(&unrouted, StatusCode::NOT_FOUND, "Not found");
    assert_staff_layout(&unrouted, RIVERSIDE, admin_bar, &admin.csrf);
    // The same address from an API client stays problem+json.
    let api_client = get(
        &env,
        "/no-such-page",
        Some("application/json"),
        Some(&admin),
    )
    .await;
    assert_problem(&api_client, StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn error_pages_a_page_the_member_may_not_see_is_the_html_403_in_their_own_layout() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let role = env.role_id(&admin, "Receptionist").await;
    let desk = env
        .join_with_password(
            &admin,
            "dana@riverside.example",
            &json!(role),
            MEMBER_PASSWORD,
            "Dana Desk",
        )
        .await;

    let refused = get(&env, "/audit", Some(BROWSER_ACCEPT), Some(&desk)).await;
    assert_error_page(&refused, StatusCode::FORBIDDEN, "Forbidden");
    assert_staff_layout(&refused, RIVERSIDE, "Dana Desk · Receptionist", &desk.csrf);
    // Her own sections, not the page she was refused.
    assert!(
        !refused.text.contains("id=\"nav-audit\""),
        "{}",
        refused.text
    );
    assert!(
        refused.text.contains("id=\"nav-clients\""),
        "{}",
        refused.text
    );
}

#[tokio::test]
async fn error_pages_another_practices_patient_page_is_the_same_html_404_as_an_unknown_patient() {
    let env = TestApp::new().await;
    let rex = rex(&env.world).await;
    let admin_b = env.login(NORTHSIDE_ADMIN, TEST_PASSWORD).await;

    let foreign = get(
        &env,
        &format!("/patients/{}", rex.id),
        Some(BROWSER_ACCEPT),
        Some(&admin_b),
    )
    .await;
    assert_error_page(&foreign, StatusCode::NOT_FOUND, "Not found");
    // The viewer's own practice in the bar, never the one the id belongs to.
    assert_staff_layout(
        &foreign,
        "Northside Veterinary Specialists",
        "Admin · Practice admin",
        &admin_b.csrf,
    );
    assert!(!foreign.text.contains(RIVERSIDE), "{}", foreign.text);
    assert!(!foreign.text.contains("Rex"), "{}", foreign.text);
    assert!(
        !foreign.text.contains(&rex.id.to_string()),
        "{}",
        foreign.text
    );

    let unknown = get(
        &env,
        &format!("/patients/{}", Uuid::now_v7()),
        Some(BROWSER_ACCEPT),
        Some(&admin_b),
    )
    .await;
    assert_error_page(&unknown, StatusCode::NOT_FOUND, "Not found");
    assert_eq!(
        text_without_request_id(&foreign),
        text_without_request_id(&unknown),
        "no existence leak"
    );
    let names = |answer: &Answer| {
        let mut names: Vec<String> = answer.headers.keys().map(|k| k.to_string()).collect();
        names.sort();
        names
    };
    assert_eq!(names(&foreign), names(&unknown));
}

#[tokio::test]
async fn error_pages_api_clients_and_api_paths_keep_problem_json() {
    let env = TestApp::new().await;
    let rex = rex(&env.world).await;
    let admin_b = env.login(NORTHSIDE_ADMIN, TEST_PASSWORD).await;

    // A page path asked for by something that is not a browser.
    for accept in [
        Some("application/json"),
        Some("application/problem+json"),
        Some("*/*"),
        Some("text/html;q=0.5, application/json"),
        None,
    ] {
        let answer = get(&env, "/no-such-page", accept, None).await;
        assert_problem(&answer, StatusCode::NOT_FOUND, "not_found");
        assert_eq!(answer.header("vary"), Some("accept"), "{accept:?}");
    }
    let page = get(
        &env,
        &format!("/patients/{}", rex.id),
        Some("application/json"),
        Some(&admin_b),
    )
    .await;
    assert_problem(&page, StatusCode::NOT_FOUND, "not_found");

    // Under /api/, a browser's Accept changes nothing.
    for path in [
        format!("/api/v1/patients/{}", rex.id),
        format!("/api/v1/patients/{}", Uuid::now_v7()),
        "/api/v1/no-such-route".to_owned(),
    ] {
        let answer = get(&env, &path, Some(BROWSER_ACCEPT), Some(&admin_b)).await;
        assert_problem(&answer, StatusCode::NOT_FOUND, "not_found");
        assert_eq!(answer.header("vary"), None, "{path}: not negotiated");
    }
    let unauthenticated = get(&env, "/api/v1/me", Some(BROWSER_ACCEPT), None).await;
    assert_problem(
        &unauthenticated,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    assert_eq!(unauthenticated.header("www-authenticate"), Some("Bearer"));
}

#[tokio::test]
async fn error_pages_a_forged_form_gets_the_html_403_and_a_refused_form_keeps_its_own_422_page() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let cookie = format!("__Host-paddock_session={}", admin.cookie);

    // A form posted without the session's CSRF token (another site's form, say).
    let forged = post_form(
        &env,
        "/clients",
        &[
            ("given_name", "Jo"),
            ("family_name", "Forged"),
            ("csrf_token", "not-the-token"),
        ],
        &[("cookie", cookie.clone())],
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.text);
    assert!(
        forged.content_type().starts_with("text/html"),
        "{}",
        forged.content_type()
    );
    assert_nothing_internal(&forged);
    assert!(!forged.text.contains("Forged"), "{}", forged.text);
    // The session is known (only its token was wrong): the member's own layout.
    assert_staff_layout(&forged, RIVERSIDE, "Admin · Practice admin", &admin.csrf);

    // The page's own answer to a refused form: the form again, with the reasons.
    let refused = post_form(
        &env,
        "/clients",
        &[
            ("csrf_token", admin.csrf.as_str()),
            ("given_name", "Jo"),
            ("family_name", "O'Brien"),
            ("email", "not-an-email"),
        ],
        &[("cookie", cookie)],
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );
    assert!(refused.content_type().starts_with("text/html"));
    assert!(
        refused.text.contains("id=\"form-errors\""),
        "{}",
        refused.text
    );
    assert!(
        !refused.text.contains("id=\"error-page\""),
        "{}",
        refused.text
    );
    assert_nothing_internal(&refused);
}

#[tokio::test]
async fn error_pages_a_lockout_keeps_its_429_and_retry_after_for_browsers_and_api_clients() {
    let env = TestApp::new().await;
    for _ in 0..10 {
        let Answer { status, .. } = env
            .request(
                Method::POST,
                "/api/v1/auth/login",
                Some(json!({"email": RIVERSIDE_ADMIN, "password": "not the password"})),
                Anonymous,
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // The API's answer, even to a browser's Accept.
    let body = json!({"email": RIVERSIDE_ADMIN, "password": TEST_PASSWORD}).to_string();
    let api = env
        .send(
            Request::post("/api/v1/auth/login")
                .header(header::ACCEPT, BROWSER_ACCEPT)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    assert_problem(&api, StatusCode::TOO_MANY_REQUESTS, "account_locked");
    let retry: u64 = api.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry), "Retry-After {retry}");

    // The sign-in page's own answer: its form with the reason, still a 429.
    let login_page = get(&env, "/login", Some(BROWSER_ACCEPT), None).await;
    assert_eq!(login_page.status, StatusCode::OK);
    let login_cookie = login_page
        .headers
        .get_all("set-cookie")
        .iter()
        .find_map(|v| {
            let pair = v.to_str().unwrap().split(';').next()?.trim().to_owned();
            pair.starts_with(LOGIN_COOKIE).then_some(pair)
        })
        .expect("the sign-in page sets its CSRF cookie");
    let token = login_page
        .text
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let page = post_form(
        &env,
        "/login",
        &[
            ("email", RIVERSIDE_ADMIN),
            ("password", TEST_PASSWORD),
            ("csrf_token", &token),
        ],
        &[("cookie", login_cookie)],
    )
    .await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS, "{}", page.text);
    assert!(page.content_type().starts_with("text/html"));
    assert!(page.text.contains("id=\"login-error\""), "{}", page.text);
    assert!(!page.text.contains("id=\"error-page\""), "{}", page.text);
    assert_nothing_internal(&page);
}

#[tokio::test]
async fn error_pages_a_form_field_that_does_not_fit_is_named_in_our_words_never_serdes() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let cookie = format!("__Host-paddock_session={}", admin.cookie);
    let refused = post_form(
        &env,
        "/switch",
        &[
            ("csrf_token", admin.csrf.as_str()),
            ("practice_id", "not-a-practice"),
        ],
        &[("cookie", cookie.clone())],
    )
    .await;
    assert_error_page(
        &refused,
        StatusCode::UNPROCESSABLE_ENTITY,
        "Validation failed",
    );
    assert!(
        refused
            .text
            .contains("<li>practice_id: must be a UUID</li>"),
        "{}",
        refused.text
    );
    for serde in [
        "UUID parsing",
        "Failed to deserialize",
        "invalid character",
        "`",
    ] {
        assert!(
            !refused.text.contains(serde),
            "{serde:?} in {}",
            refused.text
        );
    }
    // Without the session's token the fields are not even read: the 403.
    let forged = post_form(
        &env,
        "/switch",
        &[("practice_id", "not-a-practice")],
        &[("cookie", cookie)],
    )
    .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.text);
}

#[tokio::test]
async fn error_pages_a_query_parameter_given_twice_is_named_in_our_words() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    for path in [
        "/staff?notice=invited&notice=revoked",
        "/settings?notice=saved&notice=saved",
        "/login?next=/clients&next=/staff",
    ] {
        let session = (!path.starts_with("/login")).then_some(&admin);
        let refused = get(&env, path, Some(BROWSER_ACCEPT), session).await;
        assert_error_page(
            &refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "Validation failed",
        );
        let name = path.split(['?', '=']).nth(1).unwrap();
        assert!(
            refused
                .text
                .contains(&format!("<li>{name}: is given more than once</li>")),
            "{path}: {}",
            refused.text
        );
        assert!(
            !refused.text.contains("duplicate field"),
            "{}",
            refused.text
        );
    }
    // Once each, the pages open as before.
    let page = get(
        &env,
        "/staff?notice=invited",
        Some(BROWSER_ACCEPT),
        Some(&admin),
    )
    .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
}
