//! Identity and access over HTTP: sign-in and lockout, server-side sessions and their
//! timeouts, CSRF, the session-to-JWT exchange, API keys, and revocation when a member
//! is deactivated.
//!
//! Everything runs in process against the real router and a database of its own, with a
//! manual clock: time moves only when a test says so. Storage is observed as superuser
//! only to prove what is (and is NOT) there; the world is built through the public store
//! functions and endpoints. The admin door is used twice, on purpose: to deactivate a
//! membership behind the application's back (so only the per-request membership check
//! can stop a live credential), and to change lockout settings (no endpoint yet).

use crate::support::answer::{assert_retry_after_about, uuid_of};
use crate::support::users::{cookie_attributes, cookie_value};
use crate::support::{
    Anonymous, Answer, CookieUser, LOGIN, LOGIN_COOKIE, LOGOUT, ME, NORTHSIDE_ADMIN, REAUTH,
    RIVERSIDE, RIVERSIDE_ADMIN, SESSION_COOKIE, SWITCH, TEST_PASSWORD, TOKEN, TestApp,
    WRONG_PASSWORD, assert_problem, bearer,
};
use crate::world::{World, create_practice, test_hasher};
use axum::body::Body;
use axum::http::Method;
use axum::http::{Request, StatusCode, header};
use chrono::{DateTime, Duration, SubsecRound, Utc};
use paddock_domain::{
    BuiltinRole, Clock, DisplayName, Email, ManualClock, Permission, PermissionSet, PracticeId,
    UserId,
};
use paddock_passwords::check_new_password;
use paddock_store::identity::api_keys::{self, CreatedKey};
use paddock_store::staff::invitations::{self, Acceptor};
use paddock_store::{Principal, RequestMeta, StoreError, identity::principal, staff::roles};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use std::collections::BTreeSet;
use uuid::Uuid;

// ---------------------------------------------------------------------------------
// What these tests share beyond `support`: tokens taken apart, and storage observed.
// ---------------------------------------------------------------------------------

const JWKS: &str = "/.well-known/jwks.json";
const KEYS: &str = "/api/v1/api-keys";

fn meta() -> RequestMeta {
    RequestMeta::system("auth-test")
}

/// Unpadded base64url (RFC 4648 §5) to bytes; panics on anything else.
fn b64url_decode(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut bits, mut count) = (0u32, 0u32);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => panic!("not base64url: {text}"),
        };
        bits = (bits << 6) | u32::from(v);
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    out
}

/// Bytes to unpadded base64url.
fn b64url_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A JWT's header and claims, decoded (not verified).
fn jwt_parts(jwt: &str) -> (Value, Value) {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWS in compact form: {jwt}");
    let header = serde_json::from_slice(&b64url_decode(parts[0])).unwrap();
    let claims = serde_json::from_slice(&b64url_decode(parts[1])).unwrap();
    (header, claims)
}

/// A superuser connection to the test's database, to observe storage (never to build state).
async fn observer(world: &World) -> PgConnection {
    PgConnection::connect(&world.db.admin_url()).await.unwrap()
}

/// Every row of every table of the database, as text (bytea shows as hex).
async fn database_text(world: &World) -> String {
    let mut conn = observer(world).await;
    let tables: Vec<String> = sqlx::query_scalar(
        "select c.relname::text from pg_class c
           join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = 'public' and c.relkind in ('r', 'p') and c.relname <> '_sqlx_migrations'
          order by 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert!(
        tables.iter().any(|t| t == "sessions") && tables.iter().any(|t| t == "api_keys"),
        "{tables:?}"
    );
    let mut text = String::new();
    for table in tables {
        let rows: String = sqlx::query_scalar(&format!(
            "select coalesce(string_agg(t::text, E'\\n'), '') from \"{table}\" t"
        ))
        .fetch_one(&mut conn)
        .await
        .unwrap();
        text.push_str(&format!("== {table}\n{rows}\n"));
    }
    text
}

/// Lower-case hex of the SHA-256 of `secret`, computed by PostgreSQL.
async fn sha256_hex(world: &World, secret: &str) -> String {
    let mut conn = observer(world).await;
    sqlx::query_scalar("select encode(sha256(convert_to($1, 'UTF8')), 'hex')")
        .bind(secret)
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

/// Asserts that no form of a base64url `secret` appears in `haystack`: as sent, as
/// standard base64, as the hex of its bytes, or as the hex of its text.
fn assert_no_trace(haystack: &str, secret: &str, what: &str) {
    let body = secret.strip_prefix("pdk_").unwrap_or(secret);
    let lower = haystack.to_lowercase();
    let forms = [
        ("as sent", haystack.contains(secret)),
        ("without its prefix", haystack.contains(body)),
        (
            "as standard base64",
            haystack.contains(&body.replace('-', "+").replace('_', "/")),
        ),
        (
            "as hex of its bytes",
            lower.contains(&hex(&b64url_decode(body))),
        ),
        (
            "as hex of its text",
            lower.contains(&hex(secret.as_bytes())),
        ),
    ];
    for (form, found) in forms {
        assert!(!found, "the {what} is stored {form}");
    }
}

/// The practice's application events (row changes left out) in order, read as
/// `principal` through a TenantTx.
async fn audit_actions(world: &World, principal: &Principal) -> Vec<String> {
    audit_rows(world, principal)
        .await
        .into_iter()
        .map(|row| row.action)
        .collect()
}

#[derive(Debug, sqlx::FromRow)]
struct AuditRow {
    action: String,
    actor_user_id: Option<Uuid>,
    entity_type: Option<String>,
    changes: Option<Value>,
    user_agent: Option<String>,
    request_id: Option<String>,
}

async fn audit_rows(world: &World, principal: &Principal) -> Vec<AuditRow> {
    let mut tx = world.app.begin(principal, &meta()).await.unwrap();
    let rows = sqlx::query_as(
        "select action, actor_user_id, entity_type, changes, user_agent, request_id
           from audit_events where action not in ('create', 'update', 'delete') order by id",
    )
    .fetch_all(tx.conn())
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    rows
}

/// Creates an API key as `principal` through the store.
async fn create_key(
    world: &World,
    principal: &Principal,
    scopes: &[Permission],
    expires_at: DateTime<Utc>,
) -> CreatedKey {
    let mut tx = world.app.begin(principal, &meta()).await.unwrap();
    let key = api_keys::create(
        &mut tx,
        "lab integration",
        scopes.iter().copied().collect(),
        expires_at,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    key
}

/// Deactivates `user`'s membership of `practice` behind the application's back, through
/// the admin door: nothing is revoked, so only the per-request membership check stands
/// between a still-live credential and the practice's data.
async fn deactivate(world: &World, practice: PracticeId, user: UserId) {
    let mut tx = world.admin.begin_system(practice).await.unwrap();
    let changed = sqlx::query(
        "update memberships set status = 'deactivated', deactivated_at = now()
          where user_id = $1 and practice_id = $2",
    )
    .bind(user.as_uuid())
    .bind(practice.as_uuid())
    .execute(tx.conn())
    .await
    .unwrap()
    .rows_affected();
    tx.commit().await.unwrap();
    assert_eq!(changed, 1);
}

/// Brings `email` into practice A with the built-in `role` the public way: practice A's
/// admin invites them and they accept with [`TEST_PASSWORD`].
async fn invite_member(
    world: &World,
    clock: &ManualClock,
    email: &str,
    role: BuiltinRole,
) -> UserId {
    let mut tx = world.app.begin(&world.a.principal, &meta()).await.unwrap();
    let role_id = roles::list(&mut tx)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.builtin == Some(role))
        .unwrap()
        .id;
    let email = Email::parse("email", email).unwrap();
    let invitation = invitations::create(&mut tx, &email, role_id, clock.now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let password = check_new_password("password", TEST_PASSWORD, &[]).unwrap();
    let acceptor = Acceptor::New {
        display_name: DisplayName::parse("display_name", "Member").unwrap(),
        password_hash: test_hasher().hash(&password).await.unwrap(),
    };
    let (user, practice) = invitations::accept(
        &world.app,
        &invitation.token,
        acceptor,
        clock.now(),
        &meta(),
    )
    .await
    .unwrap()
    .expect("a fresh invitation is open");
    assert_eq!(practice, world.a.id);
    user
}

fn all_permission_names() -> Vec<String> {
    Permission::ALL
        .iter()
        .map(|p| p.as_str().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------
// Passwords and login
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn signing_in_with_the_right_password_starts_a_session_with_a_host_only_secure_cookie() {
    let app = TestApp::new().await;
    let (world, _clock, client) = (&app.world, &app.clock, &*app);
    let answer = client
        .post_json(
            LOGIN,
            &json!({"email": RIVERSIDE_ADMIN, "password": TEST_PASSWORD}),
            &[],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(uuid_of(&answer.body["user_id"]), world.a.admin.as_uuid());
    assert_eq!(uuid_of(&answer.body["practice_id"]), world.a.id.as_uuid());
    assert_eq!(
        answer.body["practices"],
        json!([{"id": world.a.id.as_uuid(), "name": RIVERSIDE}])
    );
    let csrf = answer.body["csrf_token"].as_str().unwrap();
    assert_eq!(b64url_decode(csrf).len(), 32, "a 256-bit CSRF token");
    assert_eq!(answer.header("cache-control"), Some("no-store"));

    let cookies: Vec<&str> = answer
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(cookies.len(), 1, "{cookies:?}");
    let token = cookie_value(cookies[0]);
    assert_eq!(b64url_decode(&token).len(), 32, "a 256-bit session token");
    assert_ne!(token, csrf);
    let attributes = cookie_attributes(cookies[0]);
    for expected in [
        "Path=/",
        "Secure",
        "HttpOnly",
        "SameSite=Lax",
        "Max-Age=43200",
    ] {
        assert!(
            attributes.iter().any(|a| a == expected),
            "{expected} missing: {}",
            cookies[0]
        );
    }
    assert!(
        !attributes
            .iter()
            .any(|a| a.to_lowercase().starts_with("domain")),
        "a __Host- cookie has no Domain: {}",
        cookies[0]
    );
}

#[tokio::test]
async fn an_unknown_email_and_a_wrong_password_get_the_same_401() {
    let app = TestApp::new().await;
    let (_world, _clock, client) = (&app.world, &app.clock, &*app);
    let wrong_password = client.try_login(RIVERSIDE_ADMIN, WRONG_PASSWORD).await;
    let unknown_email = client
        .try_login("nobody@riverside.example", WRONG_PASSWORD)
        .await;
    for answer in [&wrong_password, &unknown_email] {
        assert_problem(answer, StatusCode::UNAUTHORIZED, "invalid_credentials");
        assert_eq!(answer.body["type"], "/problems/invalid_credentials");
        assert!(answer.header("set-cookie").is_none());
    }
    assert_eq!(
        wrong_password.body_without_request_id(),
        unknown_email.body_without_request_id()
    );
    assert_eq!(wrong_password.header_names(), unknown_email.header_names());
    assert_ne!(
        wrong_password.body["request_id"], unknown_email.body["request_id"],
        "only the request id tells them apart"
    );
}

#[tokio::test]
async fn a_deactivated_member_cannot_sign_in_even_with_the_right_password() {
    let app = TestApp::new().await;
    let (world, _clock, client) = (&app.world, &app.clock, &*app);
    deactivate(world, world.a.id, world.a.admin).await;
    let right = client.try_login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let wrong = client.try_login(RIVERSIDE_ADMIN, WRONG_PASSWORD).await;
    assert_problem(&right, StatusCode::UNAUTHORIZED, "invalid_credentials");
    assert_eq!(
        right.body_without_request_id(),
        wrong.body_without_request_id()
    );
    assert!(right.header("set-cookie").is_none());
}

#[tokio::test]
async fn a_malformed_email_or_an_empty_password_is_a_422_naming_the_field() {
    let app = TestApp::new().await;
    let (_world, _clock, client) = (&app.world, &app.clock, &*app);
    let fields = |answer: &Answer| -> Vec<String> {
        answer.body["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["field"].as_str().unwrap().to_owned())
            .collect()
    };
    let cases = [
        (
            json!({"email": "not-an-email", "password": TEST_PASSWORD}),
            vec!["email"],
        ),
        (
            json!({"email": RIVERSIDE_ADMIN, "password": ""}),
            vec!["password"],
        ),
        (
            json!({"email": "", "password": ""}),
            vec!["email", "password"],
        ),
    ];
    for (body, expected) in cases {
        let answer = client.post_json(LOGIN, &body, Anonymous).await;
        assert_problem(
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert_eq!(fields(&answer), expected, "{body}");
        assert!(answer.header("set-cookie").is_none());
    }
}

#[tokio::test]
async fn ten_failures_within_fifteen_minutes_lock_the_account_right_password_or_not() {
    let app = TestApp::new().await;
    let (_world, clock, client) = (&app.world, &app.clock, &*app);
    for _ in 0..10 {
        clock.advance(Duration::seconds(30));
        client.fail_sign_in(RIVERSIDE_ADMIN, 1).await;
    }
    let mut answers = Vec::new();
    for password in [TEST_PASSWORD, WRONG_PASSWORD] {
        let locked = client.try_login(RIVERSIDE_ADMIN, password).await;
        assert_problem(&locked, StatusCode::TOO_MANY_REQUESTS, "account_locked");
        let seconds = locked.retry_after();
        assert!((1..=900).contains(&seconds), "Retry-After {seconds}");
        assert!(locked.header("set-cookie").is_none());
        answers.push(locked);
    }
    assert_eq!(
        answers[0].body_without_request_id(),
        answers[1].body_without_request_id(),
        "the right password is not revealed by a different answer"
    );
    assert_eq!(answers[0].header_names(), answers[1].header_names());
    assert_eq!(
        answers[0].header("retry-after"),
        answers[1].header("retry-after")
    );
}

#[tokio::test]
async fn a_locked_account_opens_again_once_the_lock_duration_has_passed() {
    let app = TestApp::new().await;
    let (_world, clock, client) = (&app.world, &app.clock, &*app);
    client.fail_sign_in(RIVERSIDE_ADMIN, 10).await;
    let locked = client.try_login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    assert_problem(&locked, StatusCode::TOO_MANY_REQUESTS, "account_locked");
    // Locked for the default 15 minutes.
    assert_retry_after_about(&locked, 900);

    clock.advance(Duration::minutes(15) - Duration::seconds(1));
    let still = client.try_login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    assert_problem(&still, StatusCode::TOO_MANY_REQUESTS, "account_locked");
    assert_eq!(still.retry_after(), 1);

    clock.advance(Duration::seconds(2));
    // Open again, and the count starts afresh: one wrong password is a plain 401.
    client.fail_sign_in(RIVERSIDE_ADMIN, 1).await;
    client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
}

#[tokio::test]
async fn waiting_as_long_as_retry_after_says_is_enough_to_sign_in_again() {
    let app = TestApp::new().await;
    let (_world, clock, client) = (&app.world, &app.clock, &*app);
    client.fail_sign_in(RIVERSIDE_ADMIN, 10).await;
    let locked = client.try_login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    assert_problem(&locked, StatusCode::TOO_MANY_REQUESTS, "account_locked");
    clock.advance(Duration::seconds(locked.retry_after()));
    let after = client.try_login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    assert_eq!(
        after.status,
        StatusCode::OK,
        "still locked after waiting Retry-After ({}) seconds: {}",
        locked.retry_after(),
        after.body
    );
}

#[tokio::test]
async fn an_unknown_email_is_locked_after_ten_failures_exactly_like_an_account() {
    let app = TestApp::new().await;
    let (_world, _clock, client) = (&app.world, &app.clock, &*app);
    let unknown = "nobody@riverside.example";
    client.fail_sign_in(unknown, 10).await;
    client.fail_sign_in(RIVERSIDE_ADMIN, 10).await;
    let unknown_locked = client.try_login(unknown, TEST_PASSWORD).await;
    let known_locked = client.try_login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    assert_problem(
        &unknown_locked,
        StatusCode::TOO_MANY_REQUESTS,
        "account_locked",
    );
    assert_retry_after_about(&unknown_locked, 900);
    assert_eq!(
        unknown_locked.body_without_request_id(),
        known_locked.body_without_request_id()
    );
    assert_eq!(unknown_locked.header_names(), known_locked.header_names());
    assert_eq!(
        unknown_locked.header("retry-after"),
        known_locked.header("retry-after")
    );
}

#[tokio::test]
async fn changing_the_case_of_the_email_does_not_escape_the_lockout() {
    let app = TestApp::new().await;
    let (_world, _clock, client) = (&app.world, &app.clock, &*app);
    for variant in ["ADMIN@RIVERSIDE.EXAMPLE", " Admin@Riverside.Example "] {
        client.fail_sign_in(variant, 5).await;
    }
    let locked = client.try_login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    assert_problem(&locked, StatusCode::TOO_MANY_REQUESTS, "account_locked");
}

#[tokio::test]
async fn failures_spread_over_more_than_the_window_do_not_lock() {
    let app = TestApp::new().await;
    let (_world, clock, client) = (&app.world, &app.clock, &*app);
    // Two minutes apart: never more than eight in any fifteen minutes.
    for _ in 0..25 {
        client.fail_sign_in(RIVERSIDE_ADMIN, 1).await;
        clock.advance(Duration::minutes(2));
    }
    client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
}

#[tokio::test]
async fn ten_failures_within_ninety_seconds_lock_even_when_they_straddle_the_first_failures_window()
{
    let app = TestApp::new().await;
    let (_world, clock, client) = (&app.world, &app.clock, &*app);
    client.fail_sign_in(RIVERSIDE_ADMIN, 1).await;
    clock.advance(Duration::minutes(14));
    client.fail_sign_in(RIVERSIDE_ADMIN, 8).await;
    clock.advance(Duration::seconds(90));
    // Ten failures now lie within the last 90 seconds (eight at 14:00, two at 15:30).
    client.fail_sign_in(RIVERSIDE_ADMIN, 2).await;
    let answer = client.try_login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    assert_problem(&answer, StatusCode::TOO_MANY_REQUESTS, "account_locked");
}

#[tokio::test]
async fn a_successful_sign_in_resets_the_failure_count() {
    let app = TestApp::new().await;
    let (_world, _clock, client) = (&app.world, &app.clock, &*app);
    client.fail_sign_in(RIVERSIDE_ADMIN, 9).await;
    client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    client.fail_sign_in(RIVERSIDE_ADMIN, 9).await;
    client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
}

#[tokio::test]
async fn the_lockout_threshold_and_duration_are_practice_settings() {
    let app = TestApp::new().await;
    let (world, clock, client) = (&app.world, &app.clock, &*app);
    // Set through the admin door (tests/it/settings.rs covers the settings page and API).
    let mut tx = world.admin.begin_system(world.a.id).await.unwrap();
    sqlx::query(
        "update practice_settings set lockout_threshold = 3, lockout_minutes = 30
          where practice_id = $1",
    )
    .bind(world.a.id.as_uuid())
    .execute(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();

    client.fail_sign_in(RIVERSIDE_ADMIN, 3).await;
    let locked = client.try_login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    assert_problem(&locked, StatusCode::TOO_MANY_REQUESTS, "account_locked");
    assert_retry_after_about(&locked, 1800);
    // The strictest setting in force holds for every sign-in (practice B's staff
    // included): a lockout that differed by practice would tell who has an account.
    client.fail_sign_in(NORTHSIDE_ADMIN, 3).await;
    let b_locked = client.try_login(NORTHSIDE_ADMIN, TEST_PASSWORD).await;
    assert_problem(&b_locked, StatusCode::TOO_MANY_REQUESTS, "account_locked");
    assert_retry_after_about(&b_locked, 1800);

    clock.advance(Duration::minutes(30) + Duration::seconds(1));
    client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    client.login(NORTHSIDE_ADMIN, TEST_PASSWORD).await;
}

#[tokio::test]
async fn a_practices_own_lockout_setting_does_not_reveal_which_emails_have_accounts() {
    let app = TestApp::new().await;
    let (world, _clock, client) = (&app.world, &app.clock, &*app);
    let mut tx = world.admin.begin_system(world.a.id).await.unwrap();
    sqlx::query(
        "update practice_settings set lockout_threshold = 3, lockout_minutes = 5
          where practice_id = $1",
    )
    .bind(world.a.id.as_uuid())
    .execute(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let unknown = "nobody@riverside.example";
    client.fail_sign_in(RIVERSIDE_ADMIN, 3).await;
    client.fail_sign_in(unknown, 3).await;
    let known_locked = client.try_login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let unknown_locked = client.try_login(unknown, TEST_PASSWORD).await;
    assert_problem(
        &known_locked,
        StatusCode::TOO_MANY_REQUESTS,
        "account_locked",
    );
    assert_problem(
        &unknown_locked,
        StatusCode::TOO_MANY_REQUESTS,
        "account_locked",
    );
    assert_eq!(
        unknown_locked.body_without_request_id(),
        known_locked.body_without_request_id()
    );
    assert_eq!(unknown_locked.header_names(), known_locked.header_names());
    assert_eq!(
        unknown_locked.header("retry-after"),
        known_locked.header("retry-after")
    );
}

/// A sign-in attempt from `source`: its status.
async fn login_from(env: &TestApp, source: &str, password: &str) -> StatusCode {
    env.request_from(
        source,
        Method::POST,
        LOGIN,
        Some(json!({"email": RIVERSIDE_ADMIN, "password": password})),
        Anonymous,
    )
    .await
    .status
}

/// `n` wrong passwords from `source`, each a plain 401.
async fn fail_from(env: &TestApp, source: &str, n: usize) {
    for i in 1..=n {
        assert_eq!(
            login_from(env, source, WRONG_PASSWORD).await,
            StatusCode::UNAUTHORIZED,
            "failure {i} of {n} from {source}"
        );
    }
}

const FLOODER: &str = "203.0.113.66";
const OWNER_DESK: &str = "198.51.100.20";

#[tokio::test]
async fn a_flood_from_one_source_does_not_lock_the_account_for_a_sign_in_from_another() {
    let env = TestApp::new().await;
    fail_from(&env, FLOODER, 10).await;
    assert_eq!(
        login_from(&env, FLOODER, TEST_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "the flooding source is locked out, right password or not"
    );
    assert_eq!(
        login_from(&env, OWNER_DESK, TEST_PASSWORD).await,
        StatusCode::OK,
        "the owner, elsewhere, still signs in"
    );
    // The owner's success does not unlock the flooder.
    assert_eq!(
        login_from(&env, FLOODER, TEST_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
}

/// 49 failures spread over seven sources, none of which reaches its own lock.
async fn fail_from_many_sources(env: &TestApp) {
    for source in 1..=7 {
        fail_from(env, &format!("203.0.113.{source}"), 7).await;
    }
}

#[tokio::test]
async fn failures_from_many_sources_lock_the_account_for_everyone_at_the_higher_threshold() {
    let env = TestApp::new().await;
    fail_from_many_sources(&env).await;
    // One short of the account-wide threshold: the owner gets in.
    assert_eq!(
        login_from(&env, OWNER_DESK, TEST_PASSWORD).await,
        StatusCode::OK
    );
    fail_from(&env, "203.0.113.8", 1).await;
    for source in [OWNER_DESK, "192.0.2.99"] {
        assert_eq!(
            login_from(&env, source, TEST_PASSWORD).await,
            StatusCode::TOO_MANY_REQUESTS,
            "the fiftieth failure locks the account for {source} too"
        );
    }
    assert!(env.audit_actions().await.contains(&"lockout".to_owned()));
}

/// Locks the account for everyone and returns the token of the one unlock mail.
async fn lock_and_get_unlock_token(env: &TestApp) -> String {
    fail_from_many_sources(env).await;
    fail_from(env, "203.0.113.8", 1).await;
    assert_eq!(
        login_from(env, OWNER_DESK, TEST_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    env.settled().await;
    let mails: Vec<_> = env
        .mails_to(RIVERSIDE_ADMIN)
        .into_iter()
        .filter(|m| m.subject.contains("locked"))
        .collect();
    assert_eq!(mails.len(), 1, "one unlock mail");
    mails[0]
        .body_text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("https://paddock.test/unlock/"))
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn the_unlock_page_lifts_the_lock_on_its_button_not_on_opening_the_link() {
    let env = TestApp::new().await;
    let token = lock_and_get_unlock_token(&env).await;
    let path = format!("/unlock/{token}");
    // Opening the link (or a mail scanner fetching it) changes nothing.
    let Answer { status, .. } = env
        .request_from(OWNER_DESK, Method::GET, &path, None, Anonymous)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        login_from(&env, OWNER_DESK, TEST_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS
    );
    let Answer { status, .. } = env
        .request_from(OWNER_DESK, Method::POST, &path, None, Anonymous)
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        login_from(&env, OWNER_DESK, TEST_PASSWORD).await,
        StatusCode::OK
    );
    let Answer { status, .. } = env
        .request_from(OWNER_DESK, Method::POST, &path, None, Anonymous)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the link works once");
}

#[tokio::test]
async fn the_owner_unlocks_a_locked_account_with_the_emailed_link_once() {
    let env = TestApp::new().await;
    let token = lock_and_get_unlock_token(&env).await;
    // Stored only as its hash.
    let mut su = PgConnection::connect(&env.world.db.admin_url())
        .await
        .unwrap();
    // Practice B's admin holds a fixture link of their own: only A's admin's count here.
    let stored: Vec<Vec<u8>> = sqlx::query_scalar(
        "select token_hash from account_unlocks
          where user_id = (select id from users where email = 'admin@riverside.example')",
    )
    .fetch_all(&mut su)
    .await
    .unwrap();
    assert_eq!(
        stored,
        vec![paddock_store::identity::token::token_hash(&token)]
    );

    let unlock = |token: &str| json!({"token": token});
    let Answer { status, .. } = env
        .request_from(
            OWNER_DESK,
            Method::POST,
            "/api/v1/auth/unlock",
            Some(unlock("not-a-token")),
            Anonymous,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let Answer { status, .. } = env
        .request_from(
            OWNER_DESK,
            Method::POST,
            "/api/v1/auth/unlock",
            Some(unlock(&token)),
            Anonymous,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        login_from(&env, OWNER_DESK, TEST_PASSWORD).await,
        StatusCode::OK
    );
    let Answer { status, .. } = env
        .request_from(
            OWNER_DESK,
            Method::POST,
            "/api/v1/auth/unlock",
            Some(unlock(&token)),
            Anonymous,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the link works once");
    assert!(
        env.audit_actions()
            .await
            .contains(&"account_unlock".to_owned())
    );
}

#[tokio::test]
async fn wrong_passwords_at_re_authentication_count_towards_the_lockout() {
    let app = TestApp::new().await;
    let (_world, _clock, client) = (&app.world, &app.clock, &*app);
    let session = client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    // Someone holding a stolen session cookie guesses the password at /auth/reauth.
    for i in 1..=10 {
        let guess = client
            .post_json(
                REAUTH,
                &json!({"password": format!("guess-number-{i}")}),
                &session.credential(),
            )
            .await;
        assert_problem(&guess, StatusCode::UNAUTHORIZED, "invalid_credentials");
    }
    let eleventh = client
        .post_json(
            REAUTH,
            &json!({"password": TEST_PASSWORD}),
            &session.credential(),
        )
        .await;
    assert_problem(&eleventh, StatusCode::TOO_MANY_REQUESTS, "account_locked");
    let login = client.try_login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    assert_problem(&login, StatusCode::TOO_MANY_REQUESTS, "account_locked");
}

#[tokio::test]
async fn sign_in_failures_the_lockout_and_the_next_sign_in_are_audited_with_their_origin() {
    let app = TestApp::new().await;
    let (world, clock, client) = (&app.world, &app.clock, &*app);
    let before_a = audit_actions(world, &world.a.principal).await.len();
    let before_b = audit_actions(world, &world.b.principal).await;
    let agent = [("user-agent", "FrontDesk/1.0".to_owned())];
    let attempt = json!({"email": RIVERSIDE_ADMIN, "password": WRONG_PASSWORD});
    for _ in 0..10 {
        let answer = client.post_json(LOGIN, &attempt, &agent).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let locked = client.try_login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    assert_eq!(locked.status, StatusCode::TOO_MANY_REQUESTS);
    clock.advance(Duration::minutes(15) + Duration::seconds(1));
    let success = client
        .post_json(
            LOGIN,
            &json!({"email": RIVERSIDE_ADMIN, "password": TEST_PASSWORD}),
            &agent,
        )
        .await;
    assert_eq!(success.status, StatusCode::OK, "{}", success.body);

    let rows = audit_rows(world, &world.a.principal).await;
    let new: Vec<&str> = rows[before_a..].iter().map(|r| r.action.as_str()).collect();
    let mut expected = vec!["login_failed"; 10];
    expected.extend(["lockout", "login"]);
    assert_eq!(new, expected);
    for row in &rows[before_a..] {
        assert_eq!(row.actor_user_id, Some(world.a.admin.as_uuid()), "{row:?}");
        assert_eq!(row.user_agent.as_deref(), Some("FrontDesk/1.0"), "{row:?}");
    }
    let lockout = &rows[before_a + 10];
    assert!(lockout.changes.as_ref().unwrap()["locked_until"].is_string());
    let login = rows.last().unwrap();
    assert_eq!(login.entity_type.as_deref(), Some("session"));
    assert_eq!(login.request_id.as_deref(), success.header("x-request-id"));
    assert_eq!(
        audit_actions(world, &world.b.principal).await,
        before_b,
        "practice B's trail is untouched"
    );
}

#[tokio::test]
async fn a_person_in_two_practices_sees_both_and_enters_the_first_unless_one_is_named() {
    let app = TestApp::new().await;
    let (world, _clock, client) = (&app.world, &app.clock, &*app);
    let third = create_practice(
        &world.admin,
        &world.app,
        "Hillside Cat Clinic",
        "ADMIN@riverside.example",
    )
    .await;
    assert_eq!(third.admin, world.a.admin, "the same person");

    let default = client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let practices = default.body["practices"].as_array().unwrap();
    let listed: BTreeSet<(Uuid, String)> = practices
        .iter()
        .map(|p| (uuid_of(&p["id"]), p["name"].as_str().unwrap().to_owned()))
        .collect();
    let expected: BTreeSet<(Uuid, String)> = [
        (world.a.id.as_uuid(), RIVERSIDE.to_owned()),
        (third.id.as_uuid(), "Hillside Cat Clinic".to_owned()),
    ]
    .into_iter()
    .collect();
    assert_eq!(listed, expected);
    assert_eq!(default.body["practice_id"], practices[0]["id"]);
    let me = client.me(&default.without_csrf()).await;
    assert_eq!(me.body["practice"]["id"], practices[0]["id"]);

    for (practice, name) in [(world.a.id, RIVERSIDE), (third.id, "Hillside Cat Clinic")] {
        let chosen = client
            .login_with(&json!({
                "email": RIVERSIDE_ADMIN,
                "password": TEST_PASSWORD,
                "practice_id": practice.as_uuid(),
            }))
            .await;
        assert_eq!(uuid_of(&chosen.body["practice_id"]), practice.as_uuid());
        let me = client.me(&chosen.without_csrf()).await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.body);
        assert_eq!(uuid_of(&me.body["practice"]["id"]), practice.as_uuid());
        assert_eq!(me.body["practice"]["name"], name);
    }
}

#[tokio::test]
async fn naming_a_practice_one_does_not_belong_to_is_a_422_on_practice_id() {
    let app = TestApp::new().await;
    let (world, _clock, client) = (&app.world, &app.clock, &*app);
    let mut answers = Vec::new();
    for practice in [world.b.id.as_uuid(), Uuid::now_v7()] {
        let answer = client
            .post_json(
                LOGIN,
                &json!({"email": RIVERSIDE_ADMIN, "password": TEST_PASSWORD, "practice_id": practice}),
                &[],
            )
            .await;
        assert_problem(
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert_eq!(answer.body["errors"][0]["field"], "practice_id");
        assert!(answer.header("set-cookie").is_none());
        answers.push(answer);
    }
    assert_eq!(
        answers[0].body_without_request_id(),
        answers[1].body_without_request_id(),
        "another practice answers like one that does not exist"
    );
}

// ---------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn me_with_the_session_cookie_names_the_user_practice_role_and_permissions() {
    let app = TestApp::new().await;
    let (world, _clock, client) = (&app.world, &app.clock, &*app);
    let session = client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let me = client.me(&session.without_csrf()).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(uuid_of(&me.body["user"]["id"]), world.a.admin.as_uuid());
    assert_eq!(me.body["user"]["email"], RIVERSIDE_ADMIN);
    assert_eq!(me.body["user"]["display_name"], "Admin");
    assert_eq!(uuid_of(&me.body["practice"]["id"]), world.a.id.as_uuid());
    assert_eq!(me.body["practice"]["name"], RIVERSIDE);
    assert_eq!(
        uuid_of(&me.body["role"]["id"]),
        world.a.principal.role_id().as_uuid()
    );
    assert_eq!(me.body["role"]["name"], "Practice admin");
    assert_eq!(me.body["permissions"], json!(all_permission_names()));
    assert_eq!(me.body["authenticated_by"], "session");

    let nothing = client.me(&[]).await;
    assert_problem(&nothing, StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_eq!(nothing.header("www-authenticate"), Some("Bearer"));
    let forged = [("cookie", format!("{SESSION_COOKIE}={}", "A".repeat(43)))];
    assert_problem(
        &client.me(&forged).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
}

#[tokio::test]
async fn a_session_idle_for_thirty_minutes_is_refused() {
    let app = TestApp::new().await;
    let (_world, clock, client) = (&app.world, &app.clock, &*app);
    let first = client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let second = client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    clock.advance(Duration::minutes(30) - Duration::seconds(1));
    assert_eq!(
        client.me(&first.without_csrf()).await.status,
        StatusCode::OK
    );
    clock.advance(Duration::seconds(2));
    let idle = client.me(&second.without_csrf()).await;
    assert_problem(&idle, StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn activity_within_thirty_minutes_keeps_a_session_alive() {
    let app = TestApp::new().await;
    let (_world, clock, client) = (&app.world, &app.clock, &*app);
    let session = client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    for minute in [20, 40, 60, 80] {
        clock.advance(Duration::minutes(20));
        let me = client.me(&session.without_csrf()).await;
        assert_eq!(me.status, StatusCode::OK, "at +{minute} min: {}", me.body);
    }
    clock.advance(Duration::minutes(31));
    let idle = client.me(&session.without_csrf()).await;
    assert_problem(&idle, StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn a_session_ends_twelve_hours_after_sign_in_however_active() {
    let app = TestApp::new().await;
    let (_world, clock, client) = (&app.world, &app.clock, &*app);
    let session = client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    for step in 1..=35 {
        clock.advance(Duration::minutes(20));
        let me = client.me(&session.without_csrf()).await;
        assert_eq!(me.status, StatusCode::OK, "at +{} min", step * 20);
    }
    clock.advance(Duration::minutes(19));
    assert_eq!(
        client.me(&session.without_csrf()).await.status,
        StatusCode::OK,
        "at 11 h 59 min"
    );
    clock.advance(Duration::minutes(2));
    let ended = client.me(&session.without_csrf()).await;
    assert_problem(&ended, StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn a_temporary_session_has_a_browser_session_cookie_and_ends_after_an_hour() {
    let app = TestApp::new().await;
    let (_world, clock, client) = (&app.world, &app.clock, &*app);
    let start = clock.now();
    let session = client
        .login_with(
            &json!({"email": RIVERSIDE_ADMIN, "password": TEST_PASSWORD, "temporary": true}),
        )
        .await;
    assert_eq!(session.body["temporary"], true);
    let expires_at: DateTime<Utc> = session.body["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(expires_at, start + Duration::hours(1));
    let attributes = cookie_attributes(&session.set_cookie);
    assert!(
        !attributes.iter().any(|a| {
            let a = a.to_lowercase();
            a.starts_with("max-age") || a.starts_with("expires")
        }),
        "a browser-session cookie: {}",
        session.set_cookie
    );
    for expected in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax"] {
        assert!(
            attributes.iter().any(|a| a == expected),
            "{expected}: {}",
            session.set_cookie
        );
    }

    for minutes in [20, 20, 19] {
        clock.advance(Duration::minutes(minutes));
        assert_eq!(
            client.me(&session.without_csrf()).await.status,
            StatusCode::OK
        );
    }
    clock.advance(Duration::minutes(2));
    let ended = client.me(&session.without_csrf()).await;
    assert_problem(&ended, StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn logout_ends_the_session_clears_the_cookie_and_is_audited() {
    let app = TestApp::new().await;
    let (world, _clock, client) = (&app.world, &app.clock, &*app);
    let before = audit_actions(world, &world.a.principal).await.len();
    let session = client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    assert_eq!(
        client.me(&session.without_csrf()).await.status,
        StatusCode::OK
    );

    let out = client.post(LOGOUT, &session.credential()).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.body);
    let cleared = out.header("set-cookie").unwrap();
    assert_eq!(cookie_value(cleared), "");
    let attributes = cookie_attributes(cleared);
    for expected in ["Max-Age=0", "Path=/", "Secure", "HttpOnly"] {
        assert!(attributes.iter().any(|a| a == expected), "{cleared}");
    }

    let after = client.me(&session.without_csrf()).await;
    assert_problem(&after, StatusCode::UNAUTHORIZED, "unauthenticated");
    let again = client.post(LOGOUT, &session.credential()).await;
    assert_problem(&again, StatusCode::UNAUTHORIZED, "unauthenticated");
    let actions = audit_actions(world, &world.a.principal).await;
    assert_eq!(actions[before..], ["login", "logout"]);
}

#[tokio::test]
async fn a_cookie_authenticated_write_needs_the_sessions_own_csrf_token() {
    let app = TestApp::new().await;
    let (_world, _clock, client) = (&app.world, &app.clock, &*app);
    let session = client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let other = client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let with_csrf = |csrf: &str| {
        let mut headers = session.without_csrf();
        headers.push(("x-csrf-token", csrf.to_owned()));
        headers
    };
    for (path, headers, what) in [
        (LOGOUT, session.without_csrf(), "no token"),
        (LOGOUT, with_csrf("wrong"), "a wrong token"),
        (LOGOUT, with_csrf(""), "an empty token"),
        (LOGOUT, with_csrf(&session.cookie), "the session token"),
        (LOGOUT, with_csrf(&other.csrf), "another session's token"),
        (TOKEN, session.without_csrf(), "no token"),
        (TOKEN, with_csrf(&other.csrf), "another session's token"),
    ] {
        let answer = client.post(path, &headers).await;
        assert_problem(&answer, StatusCode::FORBIDDEN, "csrf_failed");
        assert!(answer.body["access_token"].is_null(), "{path} with {what}");
    }
    // Reads need none, and the refused logouts ended nothing.
    assert_eq!(
        client.me(&session.without_csrf()).await.status,
        StatusCode::OK
    );
    assert_eq!(
        client.post(LOGOUT, &session.credential()).await.status,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn the_database_holds_only_hashes_of_the_session_and_csrf_tokens() {
    let app = TestApp::new().await;
    let (world, _clock, client) = (&app.world, &app.clock, &*app);
    let session = client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let jwt = client.access_token(&session).await;
    assert_eq!(
        client.me(&session.without_csrf()).await.status,
        StatusCode::OK
    );

    let text = database_text(world).await;
    assert_no_trace(&text, &session.cookie, "session token");
    assert_no_trace(&text, &session.csrf, "CSRF token");
    assert!(!text.contains(&jwt), "the access token is stored");
    // The scan does see the hash columns, so it would have seen the secrets too.
    assert!(text.contains(&sha256_hex(world, &session.cookie).await));

    let mut conn = observer(world).await;
    let matching: i64 = sqlx::query_scalar(
        "select count(*) from sessions
          where token_hash = sha256(convert_to($1, 'UTF8'))
            and csrf_hash = sha256(convert_to($2, 'UTF8'))
            and practice_id = $3 and user_id = $4",
    )
    .bind(&session.cookie)
    .bind(&session.csrf)
    .bind(world.a.id.as_uuid())
    .bind(world.a.admin.as_uuid())
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(matching, 1, "the row holds the SHA-256 of both tokens");
}

// ---------------------------------------------------------------------------------
// Access tokens
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_session_is_exchanged_for_a_short_lived_eddsa_access_token_that_authenticates_me() {
    let app = TestApp::new().await;
    let (world, clock, client) = (&app.world, &app.clock, &*app);
    let session = client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let answer = client.post(TOKEN, &session.credential()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert_eq!(answer.body["token_type"], "Bearer");
    assert_eq!(answer.header("cache-control"), Some("no-store"));
    let expires_in = answer.body["expires_in"].as_i64().unwrap();
    assert!((1..=900).contains(&expires_in), "expires_in {expires_in}");
    let jwt = answer.body["access_token"].as_str().unwrap();

    let (jose, claims) = jwt_parts(jwt);
    assert_eq!(jose["alg"], "EdDSA");
    assert!(!jose["kid"].as_str().unwrap().is_empty(), "{jose}");
    assert_eq!(uuid_of(&claims["sub"]), world.a.admin.as_uuid());
    assert_eq!(uuid_of(&claims["pid"]), world.a.id.as_uuid());
    assert!(Uuid::parse_str(claims["sid"].as_str().unwrap()).is_ok());
    assert!(
        claims["iss"].is_string() && claims["aud"].is_string(),
        "{claims}"
    );
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert_eq!(iat, clock.now().timestamp());
    assert_eq!(exp - iat, expires_in);

    let me = client.me(&bearer(jwt)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["authenticated_by"], "access_token");
    assert_eq!(uuid_of(&me.body["user"]["id"]), world.a.admin.as_uuid());
    assert_eq!(uuid_of(&me.body["practice"]["id"]), world.a.id.as_uuid());
    assert_eq!(me.body["permissions"], json!(all_permission_names()));
}

#[tokio::test]
async fn only_a_session_can_obtain_an_access_token() {
    let app = TestApp::new().await;
    let (world, clock, client) = (&app.world, &app.clock, &*app);
    let session = client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let jwt = client.access_token(&session).await;
    let key = create_key(
        world,
        &world.a.principal,
        &[Permission::ClientsRead],
        clock.now() + Duration::days(1),
    )
    .await;
    let mut jwt_and_cookie = bearer(&jwt);
    jwt_and_cookie.extend(session.credential());
    for (headers, what) in [
        (bearer(&jwt), "an access token"),
        (bearer(&key.secret), "an API key"),
        (jwt_and_cookie, "an access token beside the cookie"),
    ] {
        let answer = client.post(TOKEN, &headers).await;
        assert_problem(&answer, StatusCode::FORBIDDEN, "forbidden");
        assert!(answer.body["access_token"].is_null(), "{what}");
    }
    let nothing = client.post(TOKEN, Anonymous).await;
    assert_problem(&nothing, StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn an_access_token_is_refused_on_its_next_request_after_its_session_logs_out() {
    let app = TestApp::new().await;
    let (_world, _clock, client) = (&app.world, &app.clock, &*app);
    let session = client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let jwt = client.access_token(&session).await;
    assert_eq!(client.me(&bearer(&jwt)).await.status, StatusCode::OK);
    assert_eq!(
        client.post(LOGOUT, &session.credential()).await.status,
        StatusCode::NO_CONTENT
    );
    let refused = client.me(&bearer(&jwt)).await;
    assert_problem(&refused, StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn logging_out_with_an_access_token_ends_its_session_and_the_cookie() {
    let app = TestApp::new().await;
    let (_world, _clock, client) = (&app.world, &app.clock, &*app);
    let session = client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let jwt = client.access_token(&session).await;
    let out = client.post(LOGOUT, &bearer(&jwt)).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.body);
    for headers in [session.without_csrf(), bearer(&jwt)] {
        let refused = client.me(&headers).await;
        assert_problem(&refused, StatusCode::UNAUTHORIZED, "unauthenticated");
    }
}

#[tokio::test]
async fn an_access_token_is_refused_once_expired_while_its_session_lives_on() {
    let app = TestApp::new().await;
    let (_world, clock, client) = (&app.world, &app.clock, &*app);
    let session = client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let jwt = client.access_token(&session).await;
    clock.advance(Duration::minutes(14));
    assert_eq!(client.me(&bearer(&jwt)).await.status, StatusCode::OK);
    clock.advance(Duration::minutes(2));
    let expired = client.me(&bearer(&jwt)).await;
    assert_problem(&expired, StatusCode::UNAUTHORIZED, "unauthenticated");
    // The session itself is fine and hands out a fresh token.
    assert_eq!(
        client.me(&session.without_csrf()).await.status,
        StatusCode::OK
    );
    let fresh = client.access_token(&session).await;
    assert_eq!(client.me(&bearer(&fresh)).await.status, StatusCode::OK);
}

#[tokio::test]
async fn an_access_token_never_outlives_its_session() {
    let app = TestApp::new().await;
    let (_world, clock, client) = (&app.world, &app.clock, &*app);
    let session = client
        .login_with(
            &json!({"email": RIVERSIDE_ADMIN, "password": TEST_PASSWORD, "temporary": true}),
        )
        .await;
    let session_end: DateTime<Utc> = session.body["expires_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    for _ in 0..2 {
        clock.advance(Duration::minutes(20));
        assert_eq!(
            client.me(&session.without_csrf()).await.status,
            StatusCode::OK
        );
    }
    clock.advance(Duration::minutes(19));
    let answer = client.post(TOKEN, &session.credential()).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    // One minute of session left (less the sub-second part).
    let expires_in = answer.body["expires_in"].as_i64().unwrap();
    assert!((59..=60).contains(&expires_in), "expires_in {expires_in}");
    let jwt = answer.body["access_token"].as_str().unwrap();
    let (_, claims) = jwt_parts(jwt);
    assert!(claims["exp"].as_i64().unwrap() <= session_end.timestamp());
    // Within the JWT's clock-skew leeway, but past the session's end.
    clock.advance(Duration::seconds(65));
    let refused = client.me(&bearer(jwt)).await;
    assert_problem(&refused, StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn a_tampered_or_unsigned_access_token_is_refused() {
    let app = TestApp::new().await;
    let (_world, _clock, client) = (&app.world, &app.clock, &*app);
    let a = client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let b = client.login(NORTHSIDE_ADMIN, TEST_PASSWORD).await;
    let jwt_a = client.access_token(&a).await;
    let jwt_b = client.access_token(&b).await;
    let parts_a: Vec<&str> = jwt_a.split('.').collect();
    let parts_b: Vec<&str> = jwt_b.split('.').collect();
    // Practice B's claims under practice A's signature.
    let spliced = format!("{}.{}.{}", parts_a[0], parts_b[1], parts_a[2]);
    // Practice A's claims with another practice id, signature kept.
    let (_, mut claims) = jwt_parts(&jwt_a);
    claims["pid"] = json!(uuid_of(&b.body["practice_id"]));
    let edited = format!(
        "{}.{}.{}",
        parts_a[0],
        b64url_encode(claims.to_string().as_bytes()),
        parts_a[2]
    );
    // No signature at all.
    let none_header = b64url_encode(br#"{"alg":"none","typ":"at+jwt"}"#);
    let unsigned = format!("{none_header}.{}.", parts_a[1]);
    for (jwt, what) in [
        (spliced, "spliced"),
        (edited, "edited"),
        (unsigned, "unsigned"),
    ] {
        let answer = client.me(&bearer(&jwt)).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{what}: {}",
            answer.body
        );
    }
    // The genuine tokens still work, each in its own practice.
    let me = client.me(&bearer(&jwt_b)).await;
    assert_eq!(
        me.body["practice"]["id"].as_str(),
        Some(b.practice_id().to_string().as_str())
    );
}

#[tokio::test]
async fn the_jwks_document_publishes_the_signing_key_and_nothing_private() {
    let app = TestApp::new().await;
    let (_world, _clock, client) = (&app.world, &app.clock, &*app);
    let session = client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let jwt = client.access_token(&session).await;
    let (jose, _) = jwt_parts(&jwt);
    let jwks = client.get(JWKS, Anonymous).await;
    assert_eq!(jwks.status, StatusCode::OK);
    let keys = jwks.body["keys"].as_array().unwrap();
    let key = keys
        .iter()
        .find(|k| k["kid"] == jose["kid"])
        .unwrap_or_else(|| panic!("kid {} not published: {}", jose["kid"], jwks.body));
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(b64url_decode(key["x"].as_str().unwrap()).len(), 32);
    for key in keys {
        assert!(key.get("d").is_none(), "a private key is published: {key}");
    }
}

#[tokio::test]
async fn a_membership_deactivated_behind_the_apps_back_refuses_cookie_token_and_key_at_once() {
    let app = TestApp::new().await;
    let (world, clock, client) = (&app.world, &app.clock, &*app);
    // The same person also runs a third practice, which must not be affected.
    let third = create_practice(
        &world.admin,
        &world.app,
        "Hillside Cat Clinic",
        RIVERSIDE_ADMIN,
    )
    .await;
    let login_to = |practice: PracticeId| json!({"email": RIVERSIDE_ADMIN, "password": TEST_PASSWORD, "practice_id": practice.as_uuid()});
    let session = client.login_with(&login_to(world.a.id)).await;
    let elsewhere = client.login_with(&login_to(third.id)).await;
    let jwt = client.access_token(&session).await;
    let key = create_key(
        world,
        &world.a.principal,
        &[Permission::ClientsRead],
        clock.now() + Duration::days(30),
    )
    .await;
    let credentials = [
        (session.without_csrf(), "cookie"),
        (bearer(&jwt), "access token"),
        (bearer(&key.secret), "API key"),
    ];
    for (headers, what) in &credentials {
        assert_eq!(client.me(headers).await.status, StatusCode::OK, "{what}");
    }

    deactivate(world, world.a.id, world.a.admin).await;

    for (headers, what) in &credentials {
        let refused = client.me(headers).await;
        assert_eq!(
            refused.status,
            StatusCode::UNAUTHORIZED,
            "{what}: {}",
            refused.body
        );
    }
    let still = client.me(&elsewhere.without_csrf()).await;
    assert_eq!(still.status, StatusCode::OK, "{}", still.body);
    assert_eq!(uuid_of(&still.body["practice"]["id"]), third.id.as_uuid());
    let back = client
        .post_json(LOGIN, &login_to(world.a.id), Anonymous)
        .await;
    assert_problem(&back, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}

#[tokio::test]
async fn deactivating_a_member_revokes_their_sessions_tokens_and_keys_for_good() {
    let app = TestApp::new().await;
    let (world, clock, client) = (&app.world, &app.clock, &*app);
    // The same person also runs a third practice, which must not be affected.
    let third = create_practice(
        &world.admin,
        &world.app,
        "Hillside Cat Clinic",
        RIVERSIDE_ADMIN,
    )
    .await;
    // A second admin of practice A, who deactivates the first.
    let partner_email = "partner@riverside.example";
    invite_member(world, clock, partner_email, BuiltinRole::PracticeAdmin).await;
    let login_to = |practice: PracticeId| json!({"email": RIVERSIDE_ADMIN, "password": TEST_PASSWORD, "practice_id": practice.as_uuid()});
    let session = client.login_with(&login_to(world.a.id)).await;
    let elsewhere = client.login_with(&login_to(third.id)).await;
    let jwt = client.access_token(&session).await;
    let created = client
        .post_json(
            KEYS,
            &json!({"name": "lab", "scopes": ["clients.read"], "expires_in_days": 30}),
            &session.credential(),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let key = created.body["secret"].as_str().unwrap().to_owned();
    let credentials = [
        (session.without_csrf(), "cookie"),
        (bearer(&jwt), "access token"),
        (bearer(&key), "API key"),
    ];
    for (headers, what) in &credentials {
        assert_eq!(client.me(headers).await.status, StatusCode::OK, "{what}");
    }

    let partner = client.login(partner_email, TEST_PASSWORD).await;
    let members = client.get("/api/v1/members", &partner.without_csrf()).await;
    assert_eq!(members.status, StatusCode::OK, "{}", members.body);
    let membership = members
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user_id"] == json!(world.a.admin.as_uuid()))
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = client
        .post(
            &format!("/api/v1/members/{membership}/deactivate"),
            &partner.credential(),
        )
        .await;
    assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.body);

    for (headers, what) in &credentials {
        let refused = client.me(headers).await;
        assert_problem(&refused, StatusCode::UNAUTHORIZED, "unauthenticated");
        assert_eq!(refused.status, StatusCode::UNAUTHORIZED, "{what}");
    }
    let still = client.me(&elsewhere.without_csrf()).await;
    assert_eq!(still.status, StatusCode::OK, "{}", still.body);
    assert_eq!(uuid_of(&still.body["practice"]["id"]), third.id.as_uuid());

    // Revoked, not merely hidden: reactivation brings none of them back.
    let back = client
        .post(
            &format!("/api/v1/members/{membership}/reactivate"),
            &partner.credential(),
        )
        .await;
    assert_eq!(back.status, StatusCode::NO_CONTENT, "{}", back.body);
    for (headers, what) in &credentials {
        let refused = client.me(headers).await;
        assert_eq!(
            refused.status,
            StatusCode::UNAUTHORIZED,
            "{what} revived by reactivation: {}",
            refused.body
        );
    }
    client.login_with(&login_to(world.a.id)).await;
    let actions = audit_actions(world, &world.a.principal).await;
    let position = |action: &str| actions.iter().position(|a| a == action);
    assert!(
        position("deactivate").is_some() && position("deactivate") < position("reactivate"),
        "{actions:?}"
    );
}

// ---------------------------------------------------------------------------------
// API keys
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn an_api_key_acts_in_its_practice_with_exactly_its_scopes() {
    let app = TestApp::new().await;
    let (world, clock, client) = (&app.world, &app.clock, &*app);
    let key = create_key(
        world,
        &world.a.principal,
        &[Permission::ClientsRead],
        clock.now() + Duration::days(30),
    )
    .await;
    let body = key.secret.strip_prefix("pdk_").unwrap();
    assert_eq!(body.len(), 43, "{}", key.secret);
    assert_eq!(b64url_decode(body).len(), 32, "32 random bytes");
    assert!(key.secret.starts_with(&key.info.display_prefix));

    let me = client.me(&bearer(&key.secret)).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.body["authenticated_by"], "api_key");
    assert_eq!(me.body["permissions"], json!(["clients.read"]));
    assert_eq!(uuid_of(&me.body["practice"]["id"]), world.a.id.as_uuid());
    assert_eq!(uuid_of(&me.body["user"]["id"]), world.a.admin.as_uuid());

    // Its last use is recorded (server time, from the clock).
    let mut tx = world.app.begin(&world.a.principal, &meta()).await.unwrap();
    let listed = api_keys::list(&mut tx).await.unwrap();
    tx.rollback().await.unwrap();
    let used = listed
        .iter()
        .find(|k| k.id == key.info.id)
        .unwrap()
        .last_used_at
        .expect("last use recorded");
    assert!((used - clock.now()).num_seconds().abs() < 1, "{used}");

    // A key of practice B acts in practice B.
    let key_b = create_key(
        world,
        &world.b.principal,
        &[Permission::BillingRead, Permission::ClientsRead],
        clock.now() + Duration::days(30),
    )
    .await;
    let me_b = client.me(&bearer(&key_b.secret)).await;
    assert_eq!(uuid_of(&me_b.body["practice"]["id"]), world.b.id.as_uuid());
    assert_eq!(
        me_b.body["permissions"],
        json!(["billing.read", "clients.read"])
    );
}

#[tokio::test]
async fn an_unknown_api_key_is_refused() {
    let app = TestApp::new().await;
    let (_world, _clock, client) = (&app.world, &app.clock, &*app);
    for key in [format!("pdk_{}", "A".repeat(43)), "pdk_".to_owned()] {
        let answer = client.me(&bearer(&key)).await;
        assert_problem(&answer, StatusCode::UNAUTHORIZED, "unauthenticated");
    }
}

#[tokio::test]
async fn an_api_key_is_refused_once_expired() {
    let app = TestApp::new().await;
    let (world, clock, client) = (&app.world, &app.clock, &*app);
    let key = create_key(
        world,
        &world.a.principal,
        &[Permission::ClientsRead],
        clock.now() + Duration::hours(1),
    )
    .await;
    clock.advance(Duration::minutes(59));
    assert_eq!(client.me(&bearer(&key.secret)).await.status, StatusCode::OK);
    clock.advance(Duration::minutes(2));
    let expired = client.me(&bearer(&key.secret)).await;
    assert_problem(&expired, StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn a_revoked_api_key_is_refused_and_only_its_own_practice_can_revoke_it() {
    let app = TestApp::new().await;
    let (world, clock, client) = (&app.world, &app.clock, &*app);
    let key = create_key(
        world,
        &world.a.principal,
        &[Permission::ClientsRead],
        clock.now() + Duration::days(30),
    )
    .await;
    assert_eq!(client.me(&bearer(&key.secret)).await.status, StatusCode::OK);

    let mut tx = world.app.begin(&world.b.principal, &meta()).await.unwrap();
    let refused = api_keys::revoke(
        &mut tx,
        paddock_domain::ApiKeyId::from_uuid(key.info.id),
        clock.now(),
    )
    .await;
    assert!(
        matches!(refused, Err(StoreError::NotFound(_))),
        "{refused:?}"
    );
    tx.rollback().await.unwrap();
    assert_eq!(client.me(&bearer(&key.secret)).await.status, StatusCode::OK);

    let mut tx = world.app.begin(&world.a.principal, &meta()).await.unwrap();
    api_keys::revoke(
        &mut tx,
        paddock_domain::ApiKeyId::from_uuid(key.info.id),
        clock.now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let revoked = client.me(&bearer(&key.secret)).await;
    assert_problem(&revoked, StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn creating_an_api_key_over_http_needs_a_recent_password_and_shows_the_secret_once() {
    let app = TestApp::new().await;
    let (world, clock, client) = (&app.world, &app.clock, &*app);
    let session = client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let request =
        json!({"name": "lab integration", "scopes": ["clients.read"], "expires_in_days": 30});
    clock.advance(Duration::minutes(11));
    let stale = client
        .post_json(KEYS, &request, &session.credential())
        .await;
    assert_problem(&stale, StatusCode::FORBIDDEN, "reauth_required");

    let wrong = client
        .post_json(
            REAUTH,
            &json!({"password": WRONG_PASSWORD}),
            &session.credential(),
        )
        .await;
    assert_problem(&wrong, StatusCode::UNAUTHORIZED, "invalid_credentials");
    let reauth = client
        .post_json(
            REAUTH,
            &json!({"password": TEST_PASSWORD}),
            &session.credential(),
        )
        .await;
    // Re-authentication renews the session: continue with the new cookie.
    let session = CookieUser::from_answer(&reauth);

    let no_csrf = client
        .post_json(KEYS, &request, &session.without_csrf())
        .await;
    assert_problem(&no_csrf, StatusCode::FORBIDDEN, "csrf_failed");
    let created = client
        .post_json(KEYS, &request, &session.credential())
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.header("cache-control"), Some("no-store"));
    let secret = created.body["secret"].as_str().unwrap();
    let me = client.me(&bearer(secret)).await;
    assert_eq!(me.body["permissions"], json!(["clients.read"]));

    let listed = client.get(KEYS, &session.without_csrf()).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert!(
        listed
            .body
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["id"] == created.body["id"]),
        "{}",
        listed.body
    );
    assert!(
        !listed
            .body
            .to_string()
            .contains(secret.strip_prefix("pdk_").unwrap()),
        "the secret is shown again"
    );

    // A key can never re-enter a password, so it cannot mint keys.
    let all = create_key(
        world,
        &world.a.principal,
        Permission::ALL,
        clock.now() + Duration::days(1),
    )
    .await;
    let by_key = client.post_json(KEYS, &request, &bearer(&all.secret)).await;
    assert_problem(&by_key, StatusCode::FORBIDDEN, "reauth_required");
}

#[tokio::test]
async fn the_database_holds_only_a_hash_of_an_api_key() {
    let app = TestApp::new().await;
    let (world, clock, client) = (&app.world, &app.clock, &*app);
    let key = create_key(
        world,
        &world.a.principal,
        &[Permission::ClientsRead],
        clock.now() + Duration::days(30),
    )
    .await;
    assert_eq!(client.me(&bearer(&key.secret)).await.status, StatusCode::OK);

    let text = database_text(world).await;
    assert_no_trace(&text, &key.secret, "API key");
    assert!(text.contains(&sha256_hex(world, &key.secret).await));
    let mut conn = observer(world).await;
    let matching: i64 = sqlx::query_scalar(
        "select count(*) from api_keys where id = $1 and key_hash = sha256(convert_to($2, 'UTF8'))",
    )
    .bind(key.info.id)
    .bind(&key.secret)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(matching, 1, "the row holds the SHA-256 of the key");
}

#[tokio::test]
async fn a_member_without_settings_manage_cannot_create_an_api_key() {
    let app = TestApp::new().await;
    let (world, clock, _client) = (&app.world, &app.clock, &*app);
    let desk = invite_member(
        world,
        clock,
        "desk@riverside.example",
        BuiltinRole::Receptionist,
    )
    .await;
    let receptionist = principal::resolve(&world.app, desk, world.a.id, &meta())
        .await
        .unwrap()
        .unwrap();
    assert!(receptionist.permissions().contains(Permission::ClientsRead));
    let mut tx = world.app.begin(&receptionist, &meta()).await.unwrap();
    let refused = api_keys::create(
        &mut tx,
        "my own key",
        [Permission::ClientsRead].into_iter().collect(),
        clock.now() + Duration::days(1),
    )
    .await;
    tx.rollback().await.unwrap();
    assert!(
        matches!(
            refused,
            Err(StoreError::Forbidden(Permission::SettingsManage))
        ),
        "{refused:?}"
    );
}

#[tokio::test]
async fn an_api_key_cannot_be_created_with_a_scope_its_creator_lacks() {
    let app = TestApp::new().await;
    let (world, clock, _client) = (&app.world, &app.clock, &*app);
    // A key allowed to manage settings, acting through the store as its own principal.
    let parent = create_key(
        world,
        &world.a.principal,
        &[Permission::SettingsManage, Permission::ClientsRead],
        clock.now() + Duration::days(1),
    )
    .await;
    let authenticated = paddock_store::identity::credentials::authenticate(
        &world.app,
        paddock_store::identity::credentials::Credential::ApiKey(&parent.secret),
        clock.now(),
        &meta(),
    )
    .await
    .unwrap()
    .unwrap();
    authenticated.tx.commit().await.unwrap();
    let acting = authenticated.principal;
    let expected: PermissionSet = [Permission::SettingsManage, Permission::ClientsRead]
        .into_iter()
        .collect();
    assert_eq!(acting.permissions(), &expected);

    let mut tx = world.app.begin(&acting, &meta()).await.unwrap();
    let refused = api_keys::create(
        &mut tx,
        "wider",
        [Permission::ClientsRead, Permission::RecordsRead]
            .into_iter()
            .collect(),
        clock.now() + Duration::days(1),
    )
    .await;
    assert!(
        matches!(refused, Err(StoreError::Forbidden(Permission::RecordsRead))),
        "{refused:?}"
    );
    // A scope it holds is accepted: the refusal was about the scope.
    let narrower = api_keys::create(
        &mut tx,
        "narrower",
        [Permission::ClientsRead].into_iter().collect(),
        clock.now() + Duration::days(1),
    )
    .await;
    assert!(narrower.is_ok(), "{narrower:?}");
    tx.rollback().await.unwrap();
}

// ---------------------------------------------------------------------------------
// Issue 12: practice switching, renewed sessions, audit of security actions,
// server-side request ids, no caching of authenticated answers
// ---------------------------------------------------------------------------------

/// A third practice, Hillside, whose admin is practice A's admin (the same person).
async fn hillside(world: &World) -> PracticeId {
    create_practice(
        &world.admin,
        &world.app,
        "Hillside Cat Clinic",
        RIVERSIDE_ADMIN,
    )
    .await
    .id
}

fn key_request() -> Value {
    json!({"name": "lab integration", "scopes": ["clients.read"], "expires_in_days": 30})
}

#[tokio::test]
async fn switching_practice_does_not_refresh_reauthentication() {
    let app = TestApp::new().await;
    let (world, clock, client) = (&app.world, &app.clock, &*app);
    let hillside = hillside(world).await;
    let session = client
        .login_with(&json!({"email": RIVERSIDE_ADMIN, "password": TEST_PASSWORD, "practice_id": world.a.id.as_uuid()}))
        .await;
    clock.advance(Duration::minutes(11));
    let stale = client
        .post_json(KEYS, &key_request(), &session.credential())
        .await;
    assert_problem(&stale, StatusCode::FORBIDDEN, "reauth_required");

    // Someone at the unlocked front-desk browser switches instead of typing the password.
    let moved = client.switch(&session, hillside).await;
    let there = client
        .post_json(KEYS, &key_request(), &moved.credential())
        .await;
    assert_problem(&there, StatusCode::FORBIDDEN, "reauth_required");
    let back = client.switch(&moved, world.a.id).await;
    let home = client
        .post_json(KEYS, &key_request(), &back.credential())
        .await;
    assert_problem(&home, StatusCode::FORBIDDEN, "reauth_required");

    // The password itself still unlocks the switched session.
    let reauth = client
        .post_json(
            REAUTH,
            &json!({"password": TEST_PASSWORD}),
            &back.credential(),
        )
        .await;
    let renewed = CookieUser::from_answer(&reauth);
    let created = client
        .post_json(KEYS, &key_request(), &renewed.credential())
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
}

#[tokio::test]
async fn switching_practice_does_not_extend_a_temporary_sessions_absolute_limit() {
    let app = TestApp::new().await;
    let (world, clock, client) = (&app.world, &app.clock, &*app);
    let hillside = hillside(world).await;
    let start = clock.now();
    let session = client
        .login_with(&json!({"email": RIVERSIDE_ADMIN, "password": TEST_PASSWORD,
            "temporary": true, "practice_id": world.a.id.as_uuid()}))
        .await;
    let limit = (start + Duration::hours(1)).trunc_subsecs(6);
    assert_eq!(session.expires_at(), limit);
    for minutes in [20, 20, 10] {
        clock.advance(Duration::minutes(minutes));
        assert_eq!(
            client.me(&session.without_csrf()).await.status,
            StatusCode::OK
        );
    }

    // Switching back and forth would otherwise keep a one-hour session alive for ever.
    let moved = client.switch(&session, hillside).await;
    assert_eq!(moved.body["temporary"], true, "{}", moved.body);
    assert_eq!(moved.expires_at(), limit);
    assert!(
        !cookie_attributes(&moved.set_cookie)
            .iter()
            .any(|a| a.to_lowercase().starts_with("max-age")),
        "still a browser-session cookie: {}",
        moved.set_cookie
    );
    clock.advance(Duration::minutes(8));
    let back = client.switch(&moved, world.a.id).await;
    assert_eq!(back.expires_at(), limit);
    assert_eq!(client.me(&back.without_csrf()).await.status, StatusCode::OK);
    clock.advance(Duration::minutes(3));
    let ended = client.me(&back.without_csrf()).await;
    assert_problem(&ended, StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn switching_practice_does_not_extend_a_sessions_twelve_hour_limit() {
    let app = TestApp::new().await;
    let (world, clock, client) = (&app.world, &app.clock, &*app);
    let hillside = hillside(world).await;
    let start = clock.now();
    let mut session = client
        .login_with(&json!({"email": RIVERSIDE_ADMIN, "password": TEST_PASSWORD, "practice_id": world.a.id.as_uuid()}))
        .await;
    let practices = [hillside, world.a.id];
    // A switch every 20 minutes, for 11 h 40 min: each new session keeps the limit.
    for step in 0..35 {
        clock.advance(Duration::minutes(20));
        session = client.switch(&session, practices[step % 2]).await;
        assert_eq!(
            session.expires_at(),
            (start + Duration::hours(12)).trunc_subsecs(6)
        );
    }
    clock.advance(Duration::minutes(19));
    assert_eq!(
        client.me(&session.without_csrf()).await.status,
        StatusCode::OK
    );
    clock.advance(Duration::minutes(2));
    let ended = client.me(&session.without_csrf()).await;
    assert_problem(&ended, StatusCode::UNAUTHORIZED, "unauthenticated");
}

#[tokio::test]
async fn switching_to_the_practice_one_is_in_is_refused_and_keeps_the_session() {
    let app = TestApp::new().await;
    let (world, _clock, client) = (&app.world, &app.clock, &*app);
    let session = client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let same = client
        .post_json(
            SWITCH,
            &json!({"practice_id": world.a.id.as_uuid()}),
            &session.credential(),
        )
        .await;
    assert_problem(&same, StatusCode::CONFLICT, "conflict");
    assert!(same.header("set-cookie").is_none());
    assert_eq!(
        client.me(&session.without_csrf()).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn re_authentication_issues_a_new_session_cookie_and_ends_the_old_one() {
    let app = TestApp::new().await;
    let (_world, clock, client) = (&app.world, &app.clock, &*app);
    let session = client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    clock.advance(Duration::minutes(11));
    let reauth = client
        .post_json(
            REAUTH,
            &json!({"password": TEST_PASSWORD}),
            &session.credential(),
        )
        .await;
    let renewed = CookieUser::from_answer(&reauth);
    assert_ne!(renewed.cookie, session.cookie, "a new session token");
    assert_ne!(renewed.csrf, session.csrf, "a new CSRF token");
    // The renewal keeps the session's limits: it is the same sign-in.
    assert_eq!(renewed.expires_at(), session.expires_at());
    let old = client.me(&session.without_csrf()).await;
    assert_problem(&old, StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_eq!(
        client.me(&renewed.without_csrf()).await.status,
        StatusCode::OK
    );
    let created = client
        .post_json(KEYS, &key_request(), &renewed.credential())
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
}

#[tokio::test]
async fn every_security_action_leaves_an_audit_event() {
    let app = TestApp::new().await;
    let (world, _clock, client) = (&app.world, &app.clock, &*app);
    let hillside = hillside(world).await;
    let before = audit_actions(world, &world.a.principal).await.len();
    let session = client
        .login_with(&json!({"email": RIVERSIDE_ADMIN, "password": TEST_PASSWORD, "practice_id": world.a.id.as_uuid()}))
        .await;
    client.access_token(&session).await;
    let reauth = client
        .post_json(
            REAUTH,
            &json!({"password": TEST_PASSWORD}),
            &session.credential(),
        )
        .await;
    let session = CookieUser::from_answer(&reauth);
    let enrol = client
        .post("/api/v1/auth/totp", &session.credential())
        .await;
    assert_eq!(enrol.status, StatusCode::OK, "{}", enrol.body);
    let created = client
        .post_json(KEYS, &key_request(), &session.credential())
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let moved = client.switch(&session, hillside).await;
    let back = client.switch(&moved, world.a.id).await;
    let out = client.post(LOGOUT, &back.credential()).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT, "{}", out.body);

    // The inventory of audited security actions: each step above left its event.
    let actions = audit_actions(world, &world.a.principal).await;
    assert_eq!(
        actions[before..],
        [
            "login",
            "access_token_issue",
            "reauth",
            "second_factor_enrol_start",
            "api_key_create",
            "logout",
            "login",
            "logout",
        ],
    );
    let mut tx = world.app.begin(&world.a.principal, &meta()).await.unwrap();
    let (entity, changes): (String, Value) = sqlx::query_as(
        "select entity_type, changes from audit_events
          where action = 'access_token_issue' order by id desc limit 1",
    )
    .fetch_one(tx.conn())
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(entity, "session");
    assert_eq!(changes["expires_in"], 900, "{changes}");
}

#[tokio::test]
async fn an_audit_event_never_carries_a_client_chosen_request_id() {
    let app = TestApp::new().await;
    let (world, _clock, client) = (&app.world, &app.clock, &*app);
    let chosen = "victim-login-00000001";
    let answer = client
        .post_json(
            LOGIN,
            &json!({"email": RIVERSIDE_ADMIN, "password": TEST_PASSWORD}),
            &[("x-request-id", chosen.to_owned())],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let issued = answer.header("x-request-id").unwrap().to_owned();
    assert_ne!(issued, chosen, "the server names its own requests");
    assert!(Uuid::parse_str(&issued).is_ok(), "{issued}");
    let rows = audit_rows(world, &world.a.principal).await;
    let login = rows.last().unwrap();
    assert_eq!(login.action, "login");
    assert_eq!(login.request_id.as_deref(), Some(issued.as_str()));
    assert!(
        rows.iter()
            .all(|row| row.request_id.as_deref() != Some(chosen)),
        "the caller's id is in the trail"
    );
}

#[tokio::test]
async fn authenticated_api_answers_are_never_cached() {
    let app = TestApp::new().await;
    let (_world, _clock, client) = (&app.world, &app.clock, &*app);
    let session = client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    for path in [ME, "/api/v1/patients", "/api/v1/members"] {
        let answer = client.get(path, &session.without_csrf()).await;
        assert_eq!(answer.status, StatusCode::OK, "{path}: {}", answer.body);
        assert_eq!(answer.header("cache-control"), Some("no-store"), "{path}");
    }
    let token = client.access_token(&session).await;
    let by_token = client.get("/api/v1/clients", &bearer(&token)).await;
    assert_eq!(by_token.status, StatusCode::OK, "{}", by_token.body);
    assert_eq!(by_token.header("cache-control"), Some("no-store"));
    // A refusal to a stale credential is not cached either.
    let refused = client.get(ME, &bearer("not-a-token")).await;
    assert_eq!(refused.header("cache-control"), Some("no-store"));
}

// --- the sign-in and re-authentication pages ---------------------------------------

#[tokio::test]
async fn login_csrf_a_sign_in_form_posted_from_another_site_is_refused() {
    let app = TestApp::new().await;
    let (_world, _clock, client) = (&app.world, &app.clock, &*app);
    let credentials = [("email", RIVERSIDE_ADMIN), ("password", TEST_PASSWORD)];
    // Another site's auto-submitting form: no pre-session cookie, no token of ours.
    let forged = client.post_form("/login", &credentials, Anonymous).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    assert!(forged.cookie_named(SESSION_COOKIE).is_none(), "no session");

    let (cookie, token) = client.login_page().await;
    let login_cookie = [("cookie", format!("{LOGIN_COOKIE}={cookie}"))];
    let mut with_token = credentials.to_vec();
    with_token.push(("csrf_token", &token));
    // A token without the cookie it belongs to, or the cookie with another token.
    let no_cookie = client.post_form("/login", &with_token, Anonymous).await;
    assert_eq!(no_cookie.status, StatusCode::FORBIDDEN);
    let mut wrong = credentials.to_vec();
    wrong.push(("csrf_token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    let wrong_token = client.post_form("/login", &wrong, &login_cookie).await;
    assert_eq!(wrong_token.status, StatusCode::FORBIDDEN);
    assert!(wrong_token.cookie_named(SESSION_COOKIE).is_none());

    // Our own form, from our own page, signs in.
    let signed_in = client.post_form("/login", &with_token, &login_cookie).await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        signed_in.body
    );
    assert!(signed_in.cookie_named(SESSION_COOKIE).is_some());
    let attributes = signed_in
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with(LOGIN_COOKIE))
        .map(|c| cookie_attributes(&c))
        .unwrap_or_default();
    assert!(
        attributes.iter().any(|a| a == "Max-Age=0"),
        "the pre-session cookie is spent: {attributes:?}"
    );
}

#[tokio::test]
async fn the_login_csrf_cookie_is_host_prefixed_and_http_only() {
    let app = TestApp::new().await;
    let (_world, _clock, client) = (&app.world, &app.clock, &*app);
    let page = client
        .send(Request::get("/login").body(Body::empty()).unwrap())
        .await;
    let set = page
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with(LOGIN_COOKIE))
        .expect("a pre-session cookie");
    let attributes = cookie_attributes(&set);
    for expected in ["Path=/", "Secure", "HttpOnly", "SameSite=Lax"] {
        assert!(attributes.iter().any(|a| a == expected), "{set}");
    }
    assert!(!set.contains("Domain"), "{set}");
}

#[tokio::test]
async fn reauth_never_redirects_off_site_whatever_next_says() {
    let app = TestApp::new().await;
    let (_world, _clock, client) = (&app.world, &app.clock, &*app);
    for next in [
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r/evil.example",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "/%5Cevil.example",
        "/%2F/evil.example",
        "/%2f%2fevil.example",
        "/%09/evil.example",
        "/./%2Fevil.example",
        "/.//evil.example",
        "/a/..//evil.example",
        "https://evil.example/",
        "javascript:alert(1)",
        " /staff",
        "/\u{7f}",
        "/%7F",
        "/%00",
        "/%zz",
    ] {
        let session = client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
        let answer = client
            .post_form(
                "/reauth",
                &[
                    ("csrf_token", &session.csrf),
                    ("password", TEST_PASSWORD),
                    ("next", next),
                ],
                &session.without_csrf(),
            )
            .await;
        assert_eq!(
            answer.status,
            StatusCode::SEE_OTHER,
            "{next:?}: {}",
            answer.body
        );
        assert_eq!(answer.header("location"), Some("/"), "{next:?}");
    }
    let session = client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let answer = client
        .post_form(
            "/reauth",
            &[
                ("csrf_token", &session.csrf),
                ("password", TEST_PASSWORD),
                ("next", "/staff?notice=invited"),
            ],
            &session.without_csrf(),
        )
        .await;
    assert_eq!(answer.header("location"), Some("/staff?notice=invited"));
    // The page's re-authentication renews the session cookie too.
    let renewed = answer
        .cookie_named(SESSION_COOKIE)
        .expect("a new session cookie");
    assert_ne!(renewed, session.cookie);
    let old = client.me(&session.without_csrf()).await;
    assert_problem(&old, StatusCode::UNAUTHORIZED, "unauthenticated");

    // The page that asks for the password never carries a foreign address either.
    let session = client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let page = client
        .send(
            Request::get("/reauth?next=/%09/evil.example")
                .header("cookie", format!("{SESSION_COOKIE}={}", session.cookie))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text.as_str();
    assert!(html.contains("name=\"next\" value=\"/\""), "{html}");
}

#[tokio::test]
async fn authenticated_pages_are_never_cached() {
    let app = TestApp::new().await;
    let (_world, _clock, client) = (&app.world, &app.clock, &*app);
    let session = client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    for path in ["/", "/staff", "/audit", "/patients"] {
        let page = client
            .send(
                Request::get(path)
                    .header("cookie", format!("{SESSION_COOKIE}={}", session.cookie))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert_eq!(page.header("cache-control"), Some("no-store"), "{path}");
    }
}
