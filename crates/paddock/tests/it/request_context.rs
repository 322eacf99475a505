//! The request context: an authenticated request runs in one transaction (the
//! credential check, the scope settings and the work), revocation is seen on the very
//! next request, and a cookie form post without the session's CSRF token changes nothing.

use crate::support::{
    Anonymous, Answer, CookieUser, Credential, RIVERSIDE_ADMIN, Server, TEST_PASSWORD, TestApp,
    bearer,
};
use crate::world::two_practices;
use axum::http::{Method, StatusCode};
use paddock_store::Db;
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// An environment whose server pool counts every connection it hands out: each
/// transaction the server opens takes one (`begin` acquires a connection for it), so
/// the count is the number of transactions, read without any timing or server logs.
pub(crate) async fn counting_env() -> (TestApp, Arc<AtomicUsize>) {
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
    let env = TestApp {
        world,
        server: Server::new(counted),
    };
    (env, acquired)
}

/// A form post: where, its fields, and the status it is answered with.
type Post<'a> = (String, Vec<(&'a str, &'a str)>, StatusCode);

/// How many transactions the server opened while answering `request`.
pub(crate) async fn transactions_of(
    env: &TestApp,
    acquired: &AtomicUsize,
    path: &str,
    credential: Credential,
) -> usize {
    let before = acquired.load(Ordering::SeqCst);
    let answer = env.get(path, credential).await;
    assert_eq!(answer.status, StatusCode::OK, "the request succeeds");
    acquired.load(Ordering::SeqCst) - before
}

async fn registered_client(env: &TestApp, admin: &CookieUser) -> String {
    let Answer { status, body, .. } = env
        .request(
            Method::POST,
            "/api/v1/clients",
            Some(json!({"given_name": "Ann", "family_name": "Hale"})),
            Some(admin),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn an_authenticated_get_runs_in_exactly_one_transaction() {
    let (env, acquired) = counting_env().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let id = registered_client(&env, &admin).await;
    let path = format!("/api/v1/clients/{id}");

    assert_eq!(
        transactions_of(&env, &acquired, &path, admin.without_csrf()).await,
        1,
        "session cookie: authentication and the read share one transaction"
    );

    // A page converted to the request context reads its layout and list in it too.
    assert_eq!(
        transactions_of(&env, &acquired, "/clients", admin.without_csrf()).await,
        1,
        "the client list page: one transaction"
    );

    // So do the patient list, a patient's chart (layout, patient, owners, record) and
    // an encounter (layout, encounter, allergies, staff, vitals), and the calendar.
    let Answer {
        status,
        body: patient,
        ..
    } = env
        .request(
            Method::POST,
            "/api/v1/patients",
            Some(json!({"name": "Rex", "species": "Canine", "sex": "male",
                        "owners": [{"client_id": id, "primary": true}]})),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{patient}");
    let patient_id = patient["id"].as_str().unwrap().to_owned();
    let chart = format!("/patients/{patient_id}");
    let Answer {
        status,
        body: encounter,
        ..
    } = env
        .request(
            Method::POST,
            &format!("/api/v1/patients/{patient_id}/encounters"),
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
        "/staff",
        "/audit",
        "/settings",
    ] {
        assert_eq!(
            transactions_of(&env, &acquired, page, admin.without_csrf()).await,
            1,
            "{page}: one transaction"
        );
    }

    // The clinical form pages read what they show with the layout, in one as well.
    for page in [
        format!("/clients/{id}"),
        "/clients/new".to_owned(),
        format!("/clients/{id}/edit"),
        format!("/patients/new?owner={id}"),
        format!("{chart}/encounters/new"),
    ] {
        assert_eq!(
            transactions_of(&env, &acquired, &page, admin.without_csrf()).await,
            1,
            "{page}: one transaction"
        );
    }

    // And the clinical form posts: the work, or a refusal and the page that shows it
    // (a refusal of the store's is undone to a savepoint, not a second transaction).
    let unknown_owner = uuid::Uuid::now_v7().to_string();
    let posts: Vec<Post> = vec![
        (
            "/clients".to_owned(),
            vec![("given_name", "Bo"), ("family_name", "Hale")],
            StatusCode::SEE_OTHER,
        ),
        (
            "/clients".to_owned(),
            vec![("given_name", ""), ("family_name", "Hale")],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("/clients/{id}"),
            vec![("given_name", "Ann"), ("family_name", "Hale-Moss")],
            StatusCode::SEE_OTHER,
        ),
        (
            "/patients".to_owned(),
            vec![
                ("owner_id", id.as_str()),
                ("name", "Bess"),
                ("species", "Canine"),
                ("sex", "male"),
            ],
            StatusCode::SEE_OTHER,
        ),
        (
            "/patients".to_owned(),
            vec![
                ("owner_id", unknown_owner.as_str()),
                ("name", "Bess"),
                ("species", "Canine"),
                ("sex", "male"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("{chart}/encounters"),
            vec![
                ("kind", "consultation"),
                ("date", "2026-11-28"),
                ("time", "09:30"),
                ("weight_kg", "21.4"),
            ],
            StatusCode::SEE_OTHER,
        ),
        (
            format!("{chart}/encounters"),
            vec![
                ("kind", "nonsense"),
                ("date", "2026-11-28"),
                ("time", "09:30"),
            ],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            encounter.clone(),
            vec![("reason", "Itchy ears, both")],
            StatusCode::SEE_OTHER,
        ),
        (
            format!("{encounter}/addenda"),
            vec![("body", " ")],
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            format!("{encounter}/finalise"),
            vec![],
            StatusCode::SEE_OTHER,
        ),
        (
            encounter.clone(),
            vec![("reason", "Too late")],
            StatusCode::CONFLICT,
        ),
        (
            format!("{encounter}/addenda"),
            vec![("body", "Owner called back")],
            StatusCode::SEE_OTHER,
        ),
    ];
    for (path, fields, expected) in posts {
        let before = acquired.load(Ordering::SeqCst);
        let answer = env.submit(&path, &admin, &fields).await;
        assert_eq!(
            answer.status, expected,
            "POST {path} {fields:?}: {}",
            answer.text
        );
        assert_eq!(
            acquired.load(Ordering::SeqCst) - before,
            1,
            "POST {path} {fields:?} ({expected}): one transaction"
        );
    }
    // The booking form (layout, staff, resources, the chosen patient), a booking posted
    // through it, a refused booking shown again, and a status change from the calendar.
    let form = format!("/appointments/new?patient_id={patient_id}&day=2027-03-15");
    assert_eq!(
        transactions_of(&env, &acquired, &form, admin.without_csrf()).await,
        1,
        "the booking form: one transaction"
    );
    let staff = env.world.a.admin.as_uuid().to_string();
    let booking = [
        ("patient_id", patient_id.as_str()),
        ("staff_id", staff.as_str()),
        ("date", "2027-03-15"),
        ("time", "10:00"),
        ("duration", "30"),
        ("kind", "consultation"),
    ];
    let before = acquired.load(Ordering::SeqCst);
    let booked = env.submit("/appointments", &admin, &booking).await;
    assert_eq!(booked.status, StatusCode::SEE_OTHER, "{}", booked.text);
    assert_eq!(
        acquired.load(Ordering::SeqCst) - before,
        1,
        "booking through the form: one transaction"
    );
    let before = acquired.load(Ordering::SeqCst);
    let clash = env.submit("/appointments", &admin, &booking).await;
    assert_eq!(clash.status, StatusCode::CONFLICT, "{}", clash.text);
    assert_eq!(
        acquired.load(Ordering::SeqCst) - before,
        1,
        "a double booking shown again with its clash: one transaction"
    );
    let day = env.page("/appointments?day=2027-03-15", &admin).await;
    let appointment = day
        .text
        .split("data-appointment-id=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let before = acquired.load(Ordering::SeqCst);
    let checked_in = env
        .submit(
            &format!("/appointments/{appointment}/status"),
            &admin,
            &[
                ("status", "checked_in"),
                ("back", "/appointments?day=2027-03-15"),
            ],
        )
        .await;
    assert_eq!(
        checked_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        checked_in.text
    );
    assert_eq!(
        acquired.load(Ordering::SeqCst) - before,
        1,
        "a status change from the calendar: one transaction"
    );

    // A staff page form post (a member's deactivation: the change, its revocations
    // and its audit rows) runs in the request's one transaction as well.
    let member = env
        .join_as(&admin, "desk@riverside.example", "Receptionist")
        .await;
    let Answer { body: members, .. } = env.get("/api/v1/members", &admin).await;
    let membership = members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "desk@riverside.example")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let before = acquired.load(Ordering::SeqCst);
    let answer = env
        .submit(
            &format!("/staff/members/{membership}/deactivate"),
            &admin,
            &[],
        )
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text);
    assert_eq!(
        acquired.load(Ordering::SeqCst) - before,
        1,
        "a staff form post: one transaction"
    );
    assert_eq!(
        env.me(member.credential()).await.status,
        StatusCode::UNAUTHORIZED
    );

    let token = env.access_token(&admin).await;
    assert_eq!(
        transactions_of(&env, &acquired, &path, bearer(&token)).await,
        1,
        "access token: authentication and the read share one transaction"
    );
}

#[tokio::test]
async fn a_revoked_session_is_refused_on_the_very_next_request() {
    let (env, _) = counting_env().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let token = env.access_token(&admin).await;
    let Answer { status, .. } = env
        .request(Method::GET, "/api/v1/me", None, Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK);

    let Answer { status, .. } = env
        .request(Method::POST, "/api/v1/auth/logout", None, Some(&admin))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let Answer { status, .. } = env
        .request(Method::GET, "/api/v1/me", None, Some(&admin))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the cookie is refused");
    let answer = env.get("/api/v1/me", bearer(&token)).await;
    assert_eq!(
        answer.status,
        StatusCode::UNAUTHORIZED,
        "an access token of the revoked session is refused at once"
    );
}

#[tokio::test]
async fn a_form_post_with_a_wrong_csrf_token_changes_nothing() {
    let (env, _) = counting_env().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let form = "given_name=Mallory&family_name=Forged&csrf_token=wrong";
    let answer = env
        .post_form_body("/clients", form.to_owned(), admin.without_csrf())
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);

    let Answer { status, body, .. } = env
        .request(Method::GET, "/api/v1/clients?q=Forged", None, Some(&admin))
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
async fn sign_in_through_the_page(env: &TestApp, login_location: &str) -> String {
    let page = env.get(login_location, Anonymous).await;
    assert_eq!(page.status, StatusCode::OK);
    let pre_session = page
        .header("set-cookie")
        .and_then(|v| v.split(';').next())
        .unwrap()
        .to_owned();
    let html = page.utf8();
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
        encode(RIVERSIDE_ADMIN),
        encode(TEST_PASSWORD),
        encode(&csrf),
        encode(&next.replace("&#38;", "&").replace("&amp;", "&"))
    );
    let answer = env
        .post_form_body("/login", form, &[("cookie", pre_session)])
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "signed in");
    answer.location().unwrap().to_owned()
}

#[tokio::test]
async fn a_page_without_a_session_sends_the_browser_to_sign_in_and_back() {
    let (env, _) = counting_env().await;
    let answer = env.get("/clients?q=ann&limit=5", Anonymous).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let location = answer.location().unwrap().to_owned();
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
