//! The second factor over HTTP: TOTP (RFC 6238) and SMS codes, their enrolment, the
//! pending sign-in they gate, the practice setting that demands one, and the
//! second-factor page.
//!
//! Everything runs in process against the real router and a database of its own, with a
//! manual clock: time moves only when a test says so, and TOTP codes are computed for
//! that clock's time (never the system's). SMS go to an outbox directory of the test.
//! Storage is observed as superuser only to prove what is (and is NOT) there; the world
//! is built through the endpoints. The admin door is used for one thing: turning on the
//! practice setting `require_second_factor`, which has no endpoint yet.

use crate::support::answer::{assert_invalid, assert_retry_after_about};
use crate::support::mail::code_in;
use crate::support::users::cookie_value;
use crate::support::{
    Anonymous, Answer, CookieUser, LOGIN, LOGOUT, REAUTH, RIVERSIDE_ADMIN, SECOND_FACTOR, SWITCH,
    Server, TEST_PASSWORD, TOKEN, TestApp, assert_problem,
};
use crate::world::{World, create_practice};
use axum::http::StatusCode;
use chrono::{Duration, SubsecRound};
use paddock_domain::{Clock, ManualClock, PracticeId};
use paddock_store::{Principal, RequestMeta};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use std::collections::BTreeSet;
use totp_rs::{Algorithm, Secret, TOTP};

// ---------------------------------------------------------------------------------
// What these tests share beyond `support`: codes, enrolment steps, and storage observed.
// ---------------------------------------------------------------------------------

const MEMBERS: &str = "/api/v1/members";
const VERIFY: &str = SECOND_FACTOR;
const SEND_SIGN_IN_SMS: &str = "/api/v1/auth/second-factor/sms";
const TOTP_ENROL: &str = "/api/v1/auth/totp";
const TOTP_CONFIRM: &str = "/api/v1/auth/totp/confirm";
const SMS_ENROL: &str = "/api/v1/auth/sms";
const SMS_CONFIRM: &str = "/api/v1/auth/sms/confirm";
const PAGE: &str = "/second-factor";
const PHONE: &str = "+44 7700 900123";
const PHONE_E164: &str = "+447700900123";
const OTHER_PHONE_E164: &str = "+447700900456";

/// Asserts a 204 with nothing more to say.
#[track_caller]
fn assert_no_content(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::NO_CONTENT, "{}", answer.text);
}

/// A code that is surely not `right` (for SMS codes).
fn not(right: &str) -> String {
    let n: u32 = right.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

/// An enrolled authenticator app: the secret as the server gave it.
struct Authenticator {
    base32: String,
    bytes: Vec<u8>,
}

impl Authenticator {
    fn new(base32: &str) -> Authenticator {
        let bytes = Secret::Encoded(base32.to_owned()).to_bytes().unwrap();
        Authenticator {
            base32: base32.to_owned(),
            bytes,
        }
    }

    /// The code the app shows `offset` after the clock's time.
    fn code_at(&self, clock: &ManualClock, offset: Duration) -> String {
        let time = u64::try_from((clock.now() + offset).timestamp()).unwrap();
        TOTP::new_unchecked(
            Algorithm::SHA1,
            6,
            1,
            30,
            self.bytes.clone(),
            None,
            String::new(),
        )
        .generate(time)
    }

    /// The code the app shows now.
    fn code(&self, clock: &ManualClock) -> String {
        self.code_at(clock, Duration::zero())
    }

    /// A well-formed code that no step within the verifier's skew produces.
    fn wrong_code(&self, clock: &ManualClock) -> String {
        let window: BTreeSet<String> = [-30, 0, 30]
            .into_iter()
            .map(|s| self.code_at(clock, Duration::seconds(s)))
            .collect();
        let mut n: u32 = self.code(clock).parse().unwrap();
        loop {
            n = (n + 1) % 1_000_000;
            let candidate = format!("{n:06}");
            if !window.contains(&candidate) {
                return candidate;
            }
        }
    }

    /// Moves the clock on by whole steps until the codes at `offsets` (in steps from
    /// now) are all different, so that no assertion about one step can pass or fail
    /// because another step happens to show the same six digits.
    fn make_distinct(&self, clock: &ManualClock, offsets: &[i64]) {
        loop {
            let codes: BTreeSet<String> = offsets
                .iter()
                .map(|s| self.code_at(clock, Duration::seconds(30 * s)))
                .collect();
            if codes.len() == offsets.len() {
                return;
            }
            clock.advance(Duration::seconds(30));
        }
    }
}

/// Starts TOTP enrolment on `session` (must answer 200) and returns the app.
async fn start_totp(client: &Server, session: &CookieUser) -> (Authenticator, Answer) {
    let started = client.post(TOTP_ENROL, &session.credential()).await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.text);
    let app = Authenticator::new(started.body["secret"].as_str().unwrap());
    (app, started)
}

/// Enrols and confirms TOTP on `session`, then moves the clock one step on, so the
/// codes tests use afterwards were never shown to the server before.
async fn enrol_totp(client: &Server, clock: &ManualClock, session: &CookieUser) -> Authenticator {
    let (app, _) = start_totp(client, session).await;
    let confirmed = client
        .post_json(
            TOTP_CONFIRM,
            &json!({"code": app.code(clock)}),
            &session.credential(),
        )
        .await;
    assert_no_content(&confirmed);
    clock.advance(Duration::seconds(30));
    app
}

/// Enrols and confirms [`PHONE`] for SMS codes on `session`.
async fn enrol_sms(client: &Server, session: &CookieUser) {
    let sent = client
        .post_json(SMS_ENROL, &json!({"phone": PHONE}), &session.credential())
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.text);
    let code = client.last_code_to(PHONE_E164);
    let confirmed = client
        .post_json(SMS_CONFIRM, &json!({"code": code}), &session.credential())
        .await;
    assert_no_content(&confirmed);
}

/// Asks for a sign-in code by SMS on a pending `session` (must answer 202) and returns it.
async fn sign_in_code(client: &Server, session: &CookieUser) -> String {
    let sent = client.post(SEND_SIGN_IN_SMS, &session.credential()).await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.text);
    client.last_code_to(PHONE_E164)
}

/// Turns on the practice setting that demands a second factor of all staff.
async fn require_second_factor(world: &World, practice: PracticeId) {
    // No settings endpoint yet: the admin door stands in for it.
    let mut tx = world.admin.begin_system(practice).await.unwrap();
    let changed = sqlx::query(
        "update practice_settings set require_second_factor = true where practice_id = $1",
    )
    .bind(practice.as_uuid())
    .execute(tx.conn())
    .await
    .unwrap()
    .rows_affected();
    tx.commit().await.unwrap();
    assert_eq!(changed, 1);
}

/// Asserts that a pending session can do nothing but its second factor.
async fn assert_pending(client: &Server, session: &CookieUser) {
    let me = client.me(session).await;
    assert_problem(&me, StatusCode::UNAUTHORIZED, "second_factor_required");
    let members = client.get(MEMBERS, &session.without_csrf()).await;
    assert_problem(&members, StatusCode::UNAUTHORIZED, "second_factor_required");
    let token = client.post(TOKEN, &session.credential()).await;
    assert_problem(&token, StatusCode::UNAUTHORIZED, "second_factor_required");
    assert!(token.body.get("access_token").is_none(), "{}", token.text);
}

/// Asserts that the second factor completed a pending sign-in: a 200 with a new session
/// cookie (the pending one has ended), which is returned.
#[track_caller]
fn assert_renewed(answer: Answer) -> CookieUser {
    let session = CookieUser::from_answer(&answer);
    assert!(!session.second_factor_required(), "{}", session.body);
    session
}

/// Asserts that `session` is fully signed in.
async fn assert_signed_in(client: &Server, session: &CookieUser) {
    let me = client.me(session).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
}

fn meta() -> RequestMeta {
    RequestMeta::system("second-factor-test")
}

/// A superuser connection to the test's database, to observe storage (never to build state).
async fn observer(world: &World) -> PgConnection {
    PgConnection::connect(&world.db.admin_url()).await.unwrap()
}

/// Every row of `table`, as text (bytea shows as hex).
async fn table_text(world: &World, table: &str) -> String {
    let mut conn = observer(world).await;
    sqlx::query_scalar(&format!(
        "select coalesce(string_agg(t::text, E'\\n'), '') from \"{table}\" t"
    ))
    .fetch_one(&mut conn)
    .await
    .unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn contains_bytes(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// The practice's application events (action and changes, in order; row changes left
/// out), read as `principal`.
async fn audit_rows(world: &World, principal: &Principal) -> Vec<(String, Option<Value>)> {
    let mut tx = world.app.begin(principal, &meta()).await.unwrap();
    let rows = sqlx::query_as(
        "select action, changes from audit_events
              where action not in ('create', 'update', 'delete') order by id",
    )
    .fetch_all(tx.conn())
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    rows
}

// ---------------------------------------------------------------------------------
// TOTP enrolment
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn enrolling_totp_gives_a_secret_that_is_confirmed_by_its_first_code_and_stored_sealed() {
    let app = TestApp::new().await;
    let (world, clock, client) = (&app.world, &app.clock, &*app);
    // Signing in counts as entering the password: enrolment works right away.
    let session = client.full_login(RIVERSIDE_ADMIN).await;
    let (app, started) = start_totp(client, &session).await;
    assert_eq!(app.bytes.len(), 20, "a 160-bit secret (RFC 4226)");
    let uri = started.body["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={}", app.base32)), "{uri}");

    let wrong = client
        .post_json(
            TOTP_CONFIRM,
            &json!({"code": app.wrong_code(clock)}),
            &session.credential(),
        )
        .await;
    assert_invalid(&wrong, "code");
    // Not enabled by a wrong code: the next sign-in is complete at once.
    client.full_login(RIVERSIDE_ADMIN).await;

    let right = client
        .post_json(
            TOTP_CONFIRM,
            &json!({"code": app.code(clock)}),
            &session.credential(),
        )
        .await;
    assert_no_content(&right);
    // The session that enrolled goes on working.
    assert_signed_in(client, &session).await;

    let stored = table_text(world, "second_factors").await;
    assert!(
        stored.contains(&world.a.admin.as_uuid().to_string()),
        "{stored}"
    );
    assert!(!stored.contains(&app.base32), "the base32 secret is stored");
    assert!(
        !stored.contains(&hex(&app.bytes)),
        "the secret's bytes are stored in plain"
    );
    assert!(
        !stored.contains(&hex(app.base32.as_bytes())),
        "the base32 text is stored as bytes"
    );
    let actions: Vec<String> = audit_rows(world, &world.a.principal)
        .await
        .into_iter()
        .map(|(action, _)| action)
        .collect();
    assert!(
        actions.iter().any(|a| a == "second_factor_enrol"),
        "{actions:?}"
    );
}

#[tokio::test]
async fn the_answer_holding_a_new_totp_secret_is_not_stored_by_caches() {
    let app = TestApp::new().await;
    let (_world, _clock, client) = (&app.world, &app.clock, &*app);
    let session = client.full_login(RIVERSIDE_ADMIN).await;
    let (_app, started) = start_totp(client, &session).await;
    // Like the sign-in answer and a new API key: the secret is shown once, never cached.
    assert_eq!(
        started.header("cache-control"),
        Some("no-store"),
        "{:?}",
        started.headers
    );
}

#[tokio::test]
async fn enrolling_a_second_factor_more_than_ten_minutes_after_the_password_needs_reauth() {
    let app = TestApp::new().await;
    let (_world, clock, client) = (&app.world, &app.clock, &*app);
    let session = client.full_login(RIVERSIDE_ADMIN).await;
    clock.advance(Duration::minutes(11));
    let totp = client.post(TOTP_ENROL, &session.credential()).await;
    assert_problem(&totp, StatusCode::FORBIDDEN, "reauth_required");
    let sms = client
        .post_json(SMS_ENROL, &json!({"phone": PHONE}), &session.credential())
        .await;
    assert_problem(&sms, StatusCode::FORBIDDEN, "reauth_required");
    assert!(client.sms().is_empty(), "no SMS without re-authentication");

    let reauth = client
        .post_json(
            REAUTH,
            &json!({"password": TEST_PASSWORD}),
            &session.credential(),
        )
        .await;
    let session = CookieUser::from_answer(&reauth);
    let (_app, _) = start_totp(client, &session).await;
}

// ---------------------------------------------------------------------------------
// TOTP sign-in
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn after_totp_is_enabled_a_sign_in_is_pending_until_the_code_is_given() {
    let app = TestApp::new().await;
    let (world, clock, client) = (&app.world, &app.clock, &*app);
    let first = client.full_login(RIVERSIDE_ADMIN).await;
    let app = enrol_totp(client, clock, &first).await;

    let session = client.pending_login(RIVERSIDE_ADMIN).await;
    assert_pending(client, &session).await;

    let wrong = client
        .verify(&session, "totp", &app.wrong_code(clock))
        .await;
    assert_invalid(&wrong, "code");
    assert_pending(client, &session).await;
    let malformed = client.verify(&session, "totp", "12345").await;
    assert_invalid(&malformed, "code");

    let right = client.verify(&session, "totp", &app.code(clock)).await;
    let session = assert_renewed(right);
    assert_signed_in(client, &session).await;
    let token = client.post(TOKEN, &session.credential()).await;
    assert_eq!(token.status, StatusCode::OK, "{}", token.text);

    let audited: Vec<(String, Option<Value>)> = audit_rows(world, &world.a.principal)
        .await
        .into_iter()
        .filter(|(action, _)| action == "second_factor")
        .collect();
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0].1, Some(json!({"method": "totp"})));
}

#[tokio::test]
async fn the_method_defaults_to_totp() {
    let app = TestApp::new().await;
    let (_world, clock, client) = (&app.world, &app.clock, &*app);
    let first = client.full_login(RIVERSIDE_ADMIN).await;
    let app = enrol_totp(client, clock, &first).await;
    let session = client.pending_login(RIVERSIDE_ADMIN).await;
    let right = client
        .post_json(
            VERIFY,
            &json!({"code": app.code(clock)}),
            &session.credential(),
        )
        .await;
    let session = assert_renewed(right);
    assert_signed_in(client, &session).await;
}

#[tokio::test]
async fn the_previous_steps_totp_code_is_accepted_but_not_one_from_two_steps_ago() {
    let app = TestApp::new().await;
    let (_world, clock, client) = (&app.world, &app.clock, &*app);
    let first = client.full_login(RIVERSIDE_ADMIN).await;
    let app = enrol_totp(client, clock, &first).await;
    // Away from the step used at enrolment, to steps never shown to the server.
    clock.advance(Duration::seconds(90));
    app.make_distinct(clock, &[-2, -1, 0, 1, 2]);
    let session = client.pending_login(RIVERSIDE_ADMIN).await;

    for (offset, when) in [(-60, "two steps ago"), (60, "two steps ahead")] {
        let refused = client
            .verify(
                &session,
                "totp",
                &app.code_at(clock, Duration::seconds(offset)),
            )
            .await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "a code from {when} is accepted"
        );
        assert_invalid(&refused, "code");
    }
    assert_pending(client, &session).await;

    let previous = client
        .verify(
            &session,
            "totp",
            &app.code_at(clock, Duration::seconds(-30)),
        )
        .await;
    let session = assert_renewed(previous);
    assert_signed_in(client, &session).await;
}

#[tokio::test]
async fn a_totp_code_that_completed_a_sign_in_cannot_complete_another() {
    // RFC 6238 §5.2: the verifier MUST NOT accept the second attempt of the same OTP
    // after the successful validation of the first.
    let app = TestApp::new().await;
    let (_world, clock, client) = (&app.world, &app.clock, &*app);
    let first = client.full_login(RIVERSIDE_ADMIN).await;
    let app = enrol_totp(client, clock, &first).await;
    let code = app.code(clock);

    let ours = client.pending_login(RIVERSIDE_ADMIN).await;
    assert_renewed(client.verify(&ours, "totp", &code).await);

    // Someone who saw the code (over the shoulder, a phishing page) and knows the
    // password replays it within the same 30 seconds.
    let theirs = client.pending_login(RIVERSIDE_ADMIN).await;
    let replayed = client.verify(&theirs, "totp", &code).await;
    assert_eq!(
        replayed.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "an already used TOTP code completed a second sign-in: {}",
        replayed.text
    );
    assert_pending(client, &theirs).await;
}

#[tokio::test]
async fn ten_wrong_totp_codes_lock_the_account_even_against_the_right_code() {
    let app = TestApp::new().await;
    let (_world, clock, client) = (&app.world, &app.clock, &*app);
    let first = client.full_login(RIVERSIDE_ADMIN).await;
    let app = enrol_totp(client, clock, &first).await;
    let session = client.pending_login(RIVERSIDE_ADMIN).await;
    for i in 1..=10 {
        let wrong = client
            .verify(&session, "totp", &app.wrong_code(clock))
            .await;
        assert_eq!(
            wrong.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong code {i}: {}",
            wrong.text
        );
    }
    let locked = client.verify(&session, "totp", &app.code(clock)).await;
    assert_problem(&locked, StatusCode::TOO_MANY_REQUESTS, "account_locked");
    let seconds = locked.retry_after();
    assert!((1..=900).contains(&seconds), "Retry-After {seconds}");
    assert_pending(client, &session).await;

    let fresh = client
        .post_json(
            LOGIN,
            &json!({"email": RIVERSIDE_ADMIN, "password": TEST_PASSWORD}),
            &[],
        )
        .await;
    assert_problem(&fresh, StatusCode::TOO_MANY_REQUESTS, "account_locked");
    assert!(fresh.header("set-cookie").is_none());
}

#[tokio::test]
async fn signing_in_again_with_the_password_does_not_wipe_the_count_of_wrong_codes() {
    // Otherwise whoever knows the password guesses nine codes per sign-in, forever.
    let app = TestApp::new().await;
    let (_world, clock, client) = (&app.world, &app.clock, &*app);
    let first = client.full_login(RIVERSIDE_ADMIN).await;
    let app = enrol_totp(client, clock, &first).await;

    let session = client.pending_login(RIVERSIDE_ADMIN).await;
    for _ in 0..9 {
        let wrong = client
            .verify(&session, "totp", &app.wrong_code(clock))
            .await;
        assert_invalid(&wrong, "code");
    }
    let again = client.pending_login(RIVERSIDE_ADMIN).await;
    let tenth = client.verify(&again, "totp", &app.wrong_code(clock)).await;
    assert_invalid(&tenth, "code");

    // Ten wrong codes within the window: locked, right code or not.
    let locked = client.verify(&again, "totp", &app.code(clock)).await;
    assert_problem(&locked, StatusCode::TOO_MANY_REQUESTS, "account_locked");
}

#[tokio::test]
async fn starting_a_new_totp_enrolment_does_not_switch_off_the_confirmed_factor() {
    let app = TestApp::new().await;
    let (_world, clock, client) = (&app.world, &app.clock, &*app);
    let first = client.full_login(RIVERSIDE_ADMIN).await;
    let app = enrol_totp(client, clock, &first).await;
    let session = client.pending_login(RIVERSIDE_ADMIN).await;
    let session = assert_renewed(client.verify(&session, "totp", &app.code(clock)).await);

    // A new secret is asked for (a new phone, say) but never confirmed.
    let (_new_app, _) = start_totp(client, &session).await;

    let next = client.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    assert!(
        next.second_factor_required(),
        "an unconfirmed new secret switched the second factor off: {}",
        next.body
    );
    clock.advance(Duration::seconds(30));
    let old = client.verify(&next, "totp", &app.code(clock)).await;
    assert_renewed(old);
}

// ---------------------------------------------------------------------------------
// SMS enrolment
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn enrolling_a_phone_texts_it_a_code_at_most_once_a_minute_and_stores_neither_in_plain() {
    let app = TestApp::new().await;
    let (world, clock, client) = (&app.world, &app.clock, &*app);
    let session = client.full_login(RIVERSIDE_ADMIN).await;

    let bad = client
        .post_json(
            SMS_ENROL,
            &json!({"phone": "07700 900123"}),
            &session.credential(),
        )
        .await;
    assert_invalid(&bad, "phone");
    assert!(client.sms().is_empty());

    let sent = client
        .post_json(SMS_ENROL, &json!({"phone": PHONE}), &session.credential())
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.text);
    let messages = client.sms();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].to.as_str(), PHONE_E164);
    let older = code_in(&messages[0].text);

    clock.advance(Duration::seconds(20));
    let again = client
        .post_json(SMS_ENROL, &json!({"phone": PHONE}), &session.credential())
        .await;
    assert_problem(&again, StatusCode::TOO_MANY_REQUESTS, "too_soon");
    assert_retry_after_about(&again, 40);
    assert_eq!(client.sms().len(), 1, "no second SMS within a minute");

    clock.advance(Duration::seconds(41));
    let resent = client
        .post_json(SMS_ENROL, &json!({"phone": PHONE}), &session.credential())
        .await;
    assert_eq!(resent.status, StatusCode::ACCEPTED, "{}", resent.text);
    let messages = client.sms();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[1].to.as_str(), PHONE_E164);
    let newer = code_in(&messages[1].text);

    if newer != older {
        let stale = client
            .post_json(SMS_CONFIRM, &json!({"code": older}), &session.credential())
            .await;
        assert_invalid(&stale, "code");
    }
    let confirmed = client
        .post_json(SMS_CONFIRM, &json!({"code": newer}), &session.credential())
        .await;
    assert_no_content(&confirmed);

    // Storage: the phone is sealed and the codes are keyed hashes, nothing in plain.
    let factors = table_text(world, "second_factors").await;
    assert!(
        factors.contains(&world.a.admin.as_uuid().to_string()),
        "{factors}"
    );
    for form in [PHONE_E164, &PHONE_E164[1..], PHONE, "7700900123"] {
        assert!(!factors.contains(form), "the phone is stored as {form:?}");
        assert!(
            !factors.contains(&hex(form.as_bytes())),
            "the phone is stored as the bytes of {form:?}"
        );
    }
    let codes = table_text(world, "verification_codes").await;
    let mut conn = observer(world).await;
    let hashes: Vec<Vec<u8>> =
        sqlx::query_scalar("select code_hash from verification_codes where user_id = $1")
            .bind(world.a.admin.as_uuid())
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(hashes.len(), 2, "{codes}");
    for code in [&older, &newer] {
        assert!(
            !codes.contains(&hex(code.as_bytes())),
            "a code is stored as text"
        );
        let unkeyed = [code.to_string(), format!("{}:{code}", world.a.admin)];
        for hash in &hashes {
            assert_eq!(hash.len(), 32, "a 256-bit hash");
            assert!(
                !contains_bytes(hash, code.as_bytes()),
                "a code is stored in plain"
            );
            for input in &unkeyed {
                let plain: Vec<u8> = sqlx::query_scalar("select sha256(convert_to($1, 'UTF8'))")
                    .bind(input)
                    .fetch_one(&mut conn)
                    .await
                    .unwrap();
                assert_ne!(
                    hash, &plain,
                    "a code is stored as an unkeyed SHA-256 (a million guesses reverse it)"
                );
            }
        }
    }
}

#[tokio::test]
async fn waiting_as_long_as_retry_after_says_is_enough_to_get_another_code() {
    let app = TestApp::new().await;
    let (_world, clock, client) = (&app.world, &app.clock, &*app);
    let session = client.full_login(RIVERSIDE_ADMIN).await;
    let phone = json!({"phone": PHONE});
    let headers = session.credential();
    let ask = || client.post_json(SMS_ENROL, &phone, &headers);
    assert_eq!(ask().await.status, StatusCode::ACCEPTED);
    // Half a second into a second, as real requests are.
    clock.advance(Duration::milliseconds(20_500));
    let too_soon = ask().await;
    assert_problem(&too_soon, StatusCode::TOO_MANY_REQUESTS, "too_soon");
    clock.advance(Duration::seconds(too_soon.retry_after()));
    let after = ask().await;
    assert_eq!(
        after.status,
        StatusCode::ACCEPTED,
        "still too soon after waiting Retry-After ({}) seconds: {}",
        too_soon.retry_after(),
        after.text
    );
    assert_eq!(client.sms().len(), 2);
}

#[tokio::test]
async fn a_phone_is_confirmed_only_by_a_code_sent_to_that_phone() {
    let app = TestApp::new().await;
    let (_world, clock, client) = (&app.world, &app.clock, &*app);
    let session = client.full_login(RIVERSIDE_ADMIN).await;
    let sent = client
        .post_json(SMS_ENROL, &json!({"phone": PHONE}), &session.credential())
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.text);
    let code = client.last_code_to(PHONE_E164);

    // Another number within the minute: refused, and it must change nothing.
    clock.advance(Duration::seconds(10));
    let other = client
        .post_json(
            SMS_ENROL,
            &json!({"phone": OTHER_PHONE_E164}),
            &session.credential(),
        )
        .await;
    assert_problem(&other, StatusCode::TOO_MANY_REQUESTS, "too_soon");
    assert_eq!(
        client.sms().len(),
        1,
        "nothing was sent to the other number"
    );

    // Confirming with the code the first number received enables the first number.
    let confirmed = client
        .post_json(SMS_CONFIRM, &json!({"code": code}), &session.credential())
        .await;
    assert_no_content(&confirmed);
    let pending = client.pending_login(RIVERSIDE_ADMIN).await;
    let asked = client.post(SEND_SIGN_IN_SMS, &pending.credential()).await;
    assert_eq!(asked.status, StatusCode::ACCEPTED, "{}", asked.text);
    let last = client.sms().pop().unwrap();
    assert_eq!(
        last.to.as_str(),
        PHONE_E164,
        "sign-in codes go to a number that never received a code"
    );
}

// ---------------------------------------------------------------------------------
// SMS sign-in
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_person_with_a_confirmed_phone_completes_sign_in_with_a_texted_code_used_once() {
    let app = TestApp::new().await;
    let (world, clock, client) = (&app.world, &app.clock, &*app);
    let first = client.full_login(RIVERSIDE_ADMIN).await;
    enrol_sms(client, &first).await;

    let session = client.pending_login(RIVERSIDE_ADMIN).await;
    assert_pending(client, &session).await;
    let sent_before = client.sms().len();
    let code = sign_in_code(client, &session).await;
    assert_eq!(client.sms().len(), sent_before + 1);

    // At most one a minute.
    clock.advance(Duration::seconds(30));
    let too_soon = client.post(SEND_SIGN_IN_SMS, &session.credential()).await;
    assert_problem(&too_soon, StatusCode::TOO_MANY_REQUESTS, "too_soon");
    assert_retry_after_about(&too_soon, 30);
    assert_eq!(client.sms().len(), sent_before + 1);

    let right = client.verify(&session, "sms", &code).await;
    let session = assert_renewed(right);
    assert_signed_in(client, &session).await;
    let audited: Vec<Option<Value>> = audit_rows(world, &world.a.principal)
        .await
        .into_iter()
        .filter(|(action, _)| action == "second_factor")
        .map(|(_, changes)| changes)
        .collect();
    assert_eq!(audited, vec![Some(json!({"method": "sms"}))]);

    // The same code cannot complete another sign-in.
    let other = client.pending_login(RIVERSIDE_ADMIN).await;
    let reused = client.verify(&other, "sms", &code).await;
    assert_invalid(&reused, "code");
    assert_pending(client, &other).await;
}

#[tokio::test]
async fn a_texted_sign_in_code_works_for_five_minutes_and_not_a_second_longer() {
    let app = TestApp::new().await;
    let (_world, clock, client) = (&app.world, &app.clock, &*app);
    let first = client.full_login(RIVERSIDE_ADMIN).await;
    enrol_sms(client, &first).await;

    let early = client.pending_login(RIVERSIDE_ADMIN).await;
    let code = sign_in_code(client, &early).await;
    clock.advance(Duration::minutes(5) - Duration::seconds(1));
    assert_renewed(client.verify(&early, "sms", &code).await);

    let late = client.pending_login(RIVERSIDE_ADMIN).await;
    let code = sign_in_code(client, &late).await;
    clock.advance(Duration::minutes(5) + Duration::seconds(1));
    let expired = client.verify(&late, "sms", &code).await;
    assert_invalid(&expired, "code");
    assert_pending(client, &late).await;
}

#[tokio::test]
async fn five_wrong_tries_kill_a_texted_code() {
    let app = TestApp::new().await;
    let (_world, clock, client) = (&app.world, &app.clock, &*app);
    let first = client.full_login(RIVERSIDE_ADMIN).await;
    enrol_sms(client, &first).await;

    // Four wrong tries leave the code alive.
    let session = client.pending_login(RIVERSIDE_ADMIN).await;
    let code = sign_in_code(client, &session).await;
    for _ in 0..4 {
        assert_invalid(&client.verify(&session, "sms", &not(&code)).await, "code");
    }
    assert_renewed(client.verify(&session, "sms", &code).await);

    // Past the lockout window, so only the code's own limit is in play (wrong codes
    // also count towards the account's ten).
    clock.advance(Duration::minutes(16));
    let session = client.pending_login(RIVERSIDE_ADMIN).await;
    let code = sign_in_code(client, &session).await;
    for _ in 0..5 {
        assert_invalid(&client.verify(&session, "sms", &not(&code)).await, "code");
    }
    let dead = client.verify(&session, "sms", &code).await;
    assert_invalid(&dead, "code");
    assert_pending(client, &session).await;
}

#[tokio::test]
async fn wrong_texted_codes_count_towards_the_accounts_lockout() {
    let app = TestApp::new().await;
    let (_world, _clock, client) = (&app.world, &app.clock, &*app);
    let first = client.full_login(RIVERSIDE_ADMIN).await;
    enrol_sms(client, &first).await;
    let session = client.pending_login(RIVERSIDE_ADMIN).await;
    let code = sign_in_code(client, &session).await;
    for i in 1..=10 {
        let wrong = client.verify(&session, "sms", &not(&code)).await;
        assert_eq!(
            wrong.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "wrong code {i}: {}",
            wrong.text
        );
    }
    let locked = client.verify(&session, "sms", &code).await;
    assert_problem(&locked, StatusCode::TOO_MANY_REQUESTS, "account_locked");
    // A lock by wrong codes mails the owner the unlock link, as a lock by passwords does.
    tokio::time::timeout(
        std::time::Duration::from_secs(60),
        client.background.settled(),
    )
    .await
    .expect("background work did not settle");
    let unlock_mails = paddock_notify::read_outbox(client.outbox())
        .unwrap()
        .into_iter()
        .filter(|m| m.to == RIVERSIDE_ADMIN && m.subject.contains("locked"))
        .count();
    assert_eq!(unlock_mails, 1, "one unlock mail after the lock by codes");
    let fresh = client
        .post_json(
            LOGIN,
            &json!({"email": RIVERSIDE_ADMIN, "password": TEST_PASSWORD}),
            &[],
        )
        .await;
    assert_problem(&fresh, StatusCode::TOO_MANY_REQUESTS, "account_locked");
}

#[tokio::test]
async fn a_code_for_a_method_not_enrolled_is_refused() {
    let app = TestApp::new().await;
    let (_world, clock, client) = (&app.world, &app.clock, &*app);
    let first = client.full_login(RIVERSIDE_ADMIN).await;
    let app = enrol_totp(client, clock, &first).await;
    let session = client.pending_login(RIVERSIDE_ADMIN).await;

    let no_phone = client.post(SEND_SIGN_IN_SMS, &session.credential()).await;
    assert_problem(&no_phone, StatusCode::CONFLICT, "conflict");
    assert!(client.sms().is_empty());
    let as_sms = client.verify(&session, "sms", &app.code(clock)).await;
    assert_invalid(&as_sms, "code");
    assert_pending(client, &session).await;
}

// ---------------------------------------------------------------------------------
// A practice that demands a second factor
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_practice_that_requires_a_second_factor_makes_staff_without_one_enrol_while_pending() {
    let app = TestApp::new().await;
    let (world, clock, client) = (&app.world, &app.clock, &*app);
    require_second_factor(world, world.a.id).await;
    let session = client.pending_login(RIVERSIDE_ADMIN).await;
    assert_pending(client, &session).await;
    // Practice B does not demand one.
    client.full_login("admin@northside.example").await;

    // Past the re-authentication window: a pending session enrols without it.
    clock.advance(Duration::minutes(11));
    let (app, _) = start_totp(client, &session).await;
    assert_pending(client, &session).await;
    let wrong = client
        .post_json(
            TOTP_CONFIRM,
            &json!({"code": app.wrong_code(clock)}),
            &session.credential(),
        )
        .await;
    assert_invalid(&wrong, "code");
    assert_pending(client, &session).await;
    let right = client
        .post_json(
            TOTP_CONFIRM,
            &json!({"code": app.code(clock)}),
            &session.credential(),
        )
        .await;
    let session = assert_renewed(right);
    assert_signed_in(client, &session).await;

    // From now on the factor is asked for.
    clock.advance(Duration::seconds(30));
    let next = client.pending_login(RIVERSIDE_ADMIN).await;
    assert_renewed(client.verify(&next, "totp", &app.code(clock)).await);
}

#[tokio::test]
async fn confirming_a_phone_from_a_pending_session_completes_the_sign_in() {
    let app = TestApp::new().await;
    let (world, _clock, client) = (&app.world, &app.clock, &*app);
    require_second_factor(world, world.a.id).await;
    let session = client.pending_login(RIVERSIDE_ADMIN).await;
    let sent = client
        .post_json(SMS_ENROL, &json!({"phone": PHONE}), &session.credential())
        .await;
    assert_eq!(sent.status, StatusCode::ACCEPTED, "{}", sent.text);
    let code = client.last_code_to(PHONE_E164);
    let wrong = client
        .post_json(
            SMS_CONFIRM,
            &json!({"code": not(&code)}),
            &session.credential(),
        )
        .await;
    assert_invalid(&wrong, "code");
    assert_pending(client, &session).await;
    let right = client
        .post_json(SMS_CONFIRM, &json!({"code": code}), &session.credential())
        .await;
    let session = assert_renewed(right);
    assert_signed_in(client, &session).await;
    let methods: Vec<Option<Value>> = audit_rows(world, &world.a.principal)
        .await
        .into_iter()
        .filter(|(action, _)| action == "second_factor")
        .map(|(_, changes)| changes)
        .collect();
    assert_eq!(methods, vec![Some(json!({"method": "sms"}))]);
}

#[tokio::test]
async fn a_pending_session_of_someone_with_a_factor_cannot_enrol_another() {
    let app = TestApp::new().await;
    let (_world, clock, client) = (&app.world, &app.clock, &*app);
    let first = client.full_login(RIVERSIDE_ADMIN).await;
    let _app = enrol_totp(client, clock, &first).await;
    let session = client.pending_login(RIVERSIDE_ADMIN).await;

    let totp = client.post(TOTP_ENROL, &session.credential()).await;
    assert_problem(&totp, StatusCode::UNAUTHORIZED, "second_factor_required");
    assert!(totp.body.get("secret").is_none());
    let confirm = client
        .post_json(
            TOTP_CONFIRM,
            &json!({"code": "123456"}),
            &session.credential(),
        )
        .await;
    assert_problem(&confirm, StatusCode::UNAUTHORIZED, "second_factor_required");
    let sms = client
        .post_json(SMS_ENROL, &json!({"phone": PHONE}), &session.credential())
        .await;
    assert_problem(&sms, StatusCode::UNAUTHORIZED, "second_factor_required");
    assert!(client.sms().is_empty(), "no SMS to a stranger's number");
    assert_pending(client, &session).await;
}

#[tokio::test]
async fn switching_to_a_practice_that_requires_a_second_factor_without_one_makes_the_session_pending()
 {
    let app = TestApp::new().await;
    let (world, clock, client) = (&app.world, &app.clock, &*app);
    let hillside = create_practice(
        &world.admin,
        &world.app,
        "Hillside Cat Clinic",
        RIVERSIDE_ADMIN,
    )
    .await;
    require_second_factor(world, hillside.id).await;
    let session = client
        .login_with(&json!({"email": RIVERSIDE_ADMIN, "password": TEST_PASSWORD, "practice_id": world.a.id.as_uuid()}))
        .await;
    assert!(!session.second_factor_required(), "{}", session.body);

    let switched = client
        .post_json(
            SWITCH,
            &json!({"practice_id": hillside.id.as_uuid()}),
            &session.credential(),
        )
        .await;
    let moved = CookieUser::from_answer(&switched);
    assert_eq!(moved.body["practice_id"], json!(hillside.id.as_uuid()));
    assert!(moved.second_factor_required(), "{}", moved.body);
    assert_pending(client, &moved).await;
    let old = client.me(&session).await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED, "{}", old.text);

    let (app, _) = start_totp(client, &moved).await;
    let confirmed = client
        .post_json(
            TOTP_CONFIRM,
            &json!({"code": app.code(clock)}),
            &moved.credential(),
        )
        .await;
    let moved = assert_renewed(confirmed);
    let me = client.me(&moved).await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text);
    assert_eq!(me.body["practice"]["id"], json!(hillside.id.as_uuid()));
}

#[tokio::test]
async fn a_pending_session_cannot_switch_to_a_practice_that_does_not_require_a_second_factor() {
    let app = TestApp::new().await;
    let (world, _clock, client) = (&app.world, &app.clock, &*app);
    let hillside = create_practice(
        &world.admin,
        &world.app,
        "Hillside Cat Clinic",
        RIVERSIDE_ADMIN,
    )
    .await;
    require_second_factor(world, hillside.id).await;
    let session = client
        .login_with(&json!({"email": RIVERSIDE_ADMIN, "password": TEST_PASSWORD, "practice_id": hillside.id.as_uuid()}))
        .await;
    assert!(session.second_factor_required(), "{}", session.body);

    let escape = client
        .post_json(
            SWITCH,
            &json!({"practice_id": world.a.id.as_uuid()}),
            &session.credential(),
        )
        .await;
    assert_problem(&escape, StatusCode::UNAUTHORIZED, "second_factor_required");
    assert!(escape.header("set-cookie").is_none());
    assert_pending(client, &session).await;
}

#[tokio::test]
async fn a_pending_session_can_be_signed_out() {
    let app = TestApp::new().await;
    let (_world, clock, client) = (&app.world, &app.clock, &*app);
    let first = client.full_login(RIVERSIDE_ADMIN).await;
    let app = enrol_totp(client, clock, &first).await;
    let session = client.pending_login(RIVERSIDE_ADMIN).await;

    // The person at the code prompt gives up (or it was not them): sign out.
    let out = client.post(LOGOUT, &session.credential()).await;
    assert_no_content(&out);
    // Ended server-side: the code no longer revives it.
    let late = client.verify(&session, "totp", &app.code(clock)).await;
    assert_problem(&late, StatusCode::UNAUTHORIZED, "unauthenticated");
}

// ---------------------------------------------------------------------------------
// The second-factor page
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn signing_in_on_the_login_page_sends_a_person_with_a_factor_to_the_second_factor_page() {
    let app = TestApp::new().await;
    let (_world, clock, client) = (&app.world, &app.clock, &*app);
    let first = client.full_login(RIVERSIDE_ADMIN).await;
    enrol_totp(client, clock, &first).await;
    // The sign-in form comes from the sign-in page, with its pre-session CSRF cookie.
    let page = client.get("/login", Anonymous).await;
    let login_cookie = page
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("the sign-in page sets its CSRF cookie")
        .to_owned();
    let token = page
        .text
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the sign-in form's CSRF token")
        .to_owned();
    let submitted = client
        .post_form(
            "/login",
            &[
                ("csrf_token", &token),
                ("email", RIVERSIDE_ADMIN),
                ("password", TEST_PASSWORD),
            ],
            &[("cookie", login_cookie)],
        )
        .await;
    assert_eq!(
        submitted.status,
        StatusCode::SEE_OTHER,
        "{}",
        submitted.text
    );
    assert_eq!(submitted.header("location"), Some(PAGE));
    assert!(submitted.header("set-cookie").is_some());
}

#[tokio::test]
async fn the_second_factor_page_completes_a_pending_browser_sign_in() {
    let app = TestApp::new().await;
    let (_world, clock, client) = (&app.world, &app.clock, &*app);
    let first = client.full_login(RIVERSIDE_ADMIN).await;
    let app = enrol_totp(client, clock, &first).await;
    let session = client.pending_login(RIVERSIDE_ADMIN).await;

    // The dashboard is not shown to a pending session.
    let home = client.get("/", &session.without_csrf()).await;
    assert_eq!(home.status, StatusCode::SEE_OTHER, "{}", home.text);
    let location = home.header("location").unwrap_or("");
    assert!(
        location.starts_with("/login") || location == PAGE,
        "{location}"
    );

    let page = client.get(PAGE, &session.without_csrf()).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(
        page.header("content-type")
            .is_some_and(|t| t.starts_with("text/html")),
        "{:?}",
        page.header("content-type")
    );
    assert!(
        page.text
            .contains(r#"<form method="post" action="/second-factor">"#),
        "{}",
        page.text
    );
    assert!(
        page.text
            .contains(&format!(r#"name="csrf_token" value="{}""#, session.csrf)),
        "the form carries the session's CSRF token"
    );

    let wrong_csrf = client
        .post_form(
            PAGE,
            &[
                ("csrf_token", "not-the-token"),
                ("code", &app.code(clock)),
                ("method", "totp"),
            ],
            &session.without_csrf(),
        )
        .await;
    assert_eq!(
        wrong_csrf.status,
        StatusCode::FORBIDDEN,
        "{}",
        wrong_csrf.text
    );
    let wrong = client
        .post_form(
            PAGE,
            &[
                ("csrf_token", &session.csrf),
                ("code", &app.wrong_code(clock)),
                ("method", "totp"),
            ],
            &session.without_csrf(),
        )
        .await;
    assert_eq!(
        wrong.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        wrong.text
    );
    assert!(wrong.text.contains("second-factor-error"), "{}", wrong.text);
    assert_pending(client, &session).await;

    let right = client
        .post_form(
            PAGE,
            &[
                ("csrf_token", &session.csrf),
                ("code", &app.code(clock)),
                ("method", "totp"),
            ],
            &session.without_csrf(),
        )
        .await;
    assert_eq!(right.status, StatusCode::SEE_OTHER, "{}", right.text);
    assert_eq!(right.header("location"), Some("/"));
    // The signed-in browser holds a new cookie; the pending one is over.
    let set_cookie = right.header("set-cookie").expect("a new session cookie");
    let signed_in = CookieUser::new(&cookie_value(set_cookie), "");
    assert_ne!(signed_in.cookie, session.cookie);
    let old = client.get("/", &session.without_csrf()).await;
    assert_eq!(old.status, StatusCode::SEE_OTHER, "{}", old.text);
    assert_eq!(old.header("location"), Some("/login"));
    let home = client.get("/", &signed_in.without_csrf()).await;
    assert_eq!(home.status, StatusCode::OK, "{}", home.text);
    assert_signed_in(client, &signed_in).await;
    // Done: the page now sends the browser home.
    let again = client.get(PAGE, &signed_in.without_csrf()).await;
    assert_eq!(again.status, StatusCode::SEE_OTHER);
    assert_eq!(again.header("location"), Some("/"));
}

#[tokio::test]
async fn completing_the_second_factor_issues_a_new_session_cookie_and_ends_the_pending_one() {
    let app = TestApp::new().await;
    let (_world, clock, client) = (&app.world, &app.clock, &*app);
    let first = client.full_login(RIVERSIDE_ADMIN).await;
    let app = enrol_totp(client, clock, &first).await;
    let pending = client.pending_login(RIVERSIDE_ADMIN).await;
    let verified = client.verify(&pending, "totp", &app.code(clock)).await;
    // A cookie planted before the code (session fixation) never becomes a full session.
    let full = CookieUser::from_answer(&verified);
    assert_ne!(full.cookie, pending.cookie, "a new session token");
    assert_ne!(full.csrf, pending.csrf, "a new CSRF token");
    assert!(!full.second_factor_required(), "{}", full.body);
    // The same sign-in: its limit is unchanged (as stored, to the microsecond).
    let expiry = |s: &CookieUser| {
        s.body["expires_at"]
            .as_str()
            .unwrap()
            .parse::<chrono::DateTime<chrono::Utc>>()
            .unwrap()
            .trunc_subsecs(6)
    };
    assert_eq!(expiry(&full), expiry(&pending));
    let old = client.me(&pending).await;
    assert_problem(&old, StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_signed_in(client, &full).await;
}

#[tokio::test]
async fn confirming_an_enrolment_on_a_pending_session_issues_a_new_session_cookie() {
    let app = TestApp::new().await;
    let (world, clock, client) = (&app.world, &app.clock, &*app);
    require_second_factor(world, world.a.id).await;
    let pending = client.pending_login(RIVERSIDE_ADMIN).await;
    let (app, _) = start_totp(client, &pending).await;
    let confirmed = client
        .post_json(
            TOTP_CONFIRM,
            &json!({"code": app.code(clock)}),
            &pending.credential(),
        )
        .await;
    let full = CookieUser::from_answer(&confirmed);
    assert_ne!(full.cookie, pending.cookie);
    let old = client.me(&pending).await;
    assert_problem(&old, StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_signed_in(client, &full).await;
}

#[tokio::test]
async fn an_sms_provider_failure_answers_a_generic_503_and_keeps_its_cause_out_of_the_answer() {
    let app = TestApp::new().await;
    let (_world, _clock, client) = (&app.world, &app.clock, &*app);
    let session = client.full_login(RIVERSIDE_ADMIN).await;
    // The SMS outbox "directory" is a file: every send fails with an I/O error naming it.
    let blocked = client.outbox().join("sms");
    std::fs::write(&blocked, b"a file, not a directory").unwrap();
    let refused = client
        .post_json(SMS_ENROL, &json!({"phone": PHONE}), &session.credential())
        .await;
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.text
    );
    let path = blocked.display().to_string();
    for leak in [
        path.as_str(),
        "outbox",
        "I/O",
        "directory",
        "os error",
        "sms/",
    ] {
        assert!(
            !refused.text.contains(leak),
            "{leak:?} in the answer: {}",
            refused.text
        );
    }
    assert!(
        refused.body["detail"]
            .as_str()
            .unwrap()
            .contains("could not be sent"),
        "{}",
        refused.text
    );
}
