//! Builds a test's world through public functions: two practices, each with an admin.

use paddock_domain::{DisplayName, Email, PracticeId, PracticeName, UserId};
use paddock_passwords::{HashParams, PasswordHasher, check_new_password};
use paddock_store::RequestMeta;
use paddock_store::identity::second_factor::{self, CodePurpose, Factor};
use paddock_store::staff::practices::{self, NewPractice};
use paddock_store::{
    AdminDb, Db, Principal, identity::api_keys, identity::passwords, identity::principal,
    identity::sessions, identity::signin, staff::invitations, staff::roles,
};
use paddock_test_db::TestDb;

/// The password every test admin gets.
pub const TEST_PASSWORD: &str = "tawny-owl-88-orbits-the-barn";

/// A hasher with cheap parameters: tests exercise the flow, not argon2's cost.
pub fn test_hasher() -> PasswordHasher {
    PasswordHasher::new(
        HashParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        },
        2,
    )
    .unwrap()
}

/// Like [`test_services`], with SMS going to the outbox directory `sms_dir`.
pub fn test_services_with_sms(
    clock: std::sync::Arc<paddock_domain::ManualClock>,
    sms_dir: std::path::PathBuf,
) -> paddock_web::auth::AuthServices {
    paddock_web::auth::AuthServices::new(
        test_hasher(),
        clock,
        paddock_jwt::KeyStore::ephemeral().unwrap(),
        paddock_crypto::KeyRing::ephemeral(),
        std::sync::Arc::new(paddock_notify::SmsOutbox::new(sms_dir)),
    )
}

/// The application state for in-process HTTP tests; mail goes to `outbox`, SMS to `outbox/sms`.
pub fn test_state(
    app: Db,
    clock: std::sync::Arc<paddock_domain::ManualClock>,
    outbox: std::path::PathBuf,
) -> paddock_web::AppState {
    let sms_dir = outbox.join("sms");
    let mail = paddock_web::MailSettings {
        mailer: paddock_notify::Mailer::outbox(outbox),
        from: "Paddock <no-reply@paddock.test>".to_owned(),
        public_url: "https://paddock.test".to_owned(),
    };
    paddock_web::AppState::new(app, test_services_with_sms(clock, sms_dir), mail)
}

/// A manual clock at the current time.
pub fn test_clock() -> std::sync::Arc<paddock_domain::ManualClock> {
    std::sync::Arc::new(paddock_domain::ManualClock::new(chrono::Utc::now()))
}

/// A practice created for a test, with its admin's principal.
pub struct PracticeFixture {
    pub id: PracticeId,
    pub admin: UserId,
    pub principal: Principal,
}

/// Two practices in one fresh database.
pub struct World {
    pub db: TestDb,
    pub app: Db,
    pub admin: AdminDb,
    pub a: PracticeFixture,
    pub b: PracticeFixture,
}

/// Creates a practice named `name` whose admin is `email`.
pub async fn create_practice(
    admin: &AdminDb,
    app: &Db,
    name: &str,
    email: &str,
) -> PracticeFixture {
    let created = practices::create(
        admin,
        &test_hasher(),
        NewPractice {
            name: PracticeName::parse("name", name).unwrap(),
            admin_email: Email::parse("email", email).unwrap(),
            admin_name: DisplayName::parse("name", "Admin").unwrap(),
            admin_password: check_new_password("password", TEST_PASSWORD, &[]).unwrap(),
            link_existing_user: true,
        },
    )
    .await
    .unwrap();
    let principal = principal::resolve(
        app,
        created.user_id,
        created.practice_id,
        &RequestMeta::system("test"),
    )
    .await
    .unwrap()
    .expect("the new admin has an active membership");
    // Sign the admin in, so sessions and the audit trail have rows of this practice too.
    let options = signin::practices_for(app, created.user_id, &RequestMeta::system("test"))
        .await
        .unwrap();
    let option = options
        .iter()
        .find(|o| o.practice_id == created.practice_id)
        .unwrap();
    sessions::start(
        app,
        created.user_id,
        option,
        false,
        false,
        chrono::Utc::now(),
        &RequestMeta::system("test"),
    )
    .await
    .unwrap();
    let mut tx = app
        .begin(&principal, &RequestMeta::system("test"))
        .await
        .unwrap();
    api_keys::create(
        &mut tx,
        "lab integration",
        principal.permissions().clone(),
        chrono::Utc::now() + chrono::Duration::days(30),
    )
    .await
    .unwrap();
    let receptionist = roles::list(&mut tx)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.builtin == Some(paddock_domain::BuiltinRole::Receptionist))
        .unwrap();
    let invitee = Email::parse("email", &format!("invitee.{}", email)).unwrap();
    invitations::create(&mut tx, &invitee, receptionist.id, chrono::Utc::now())
        .await
        .unwrap();
    crate::clinic::seed_clinical_rows(&mut tx, created.user_id).await;
    tx.commit().await.unwrap();
    PracticeFixture {
        id: created.practice_id,
        admin: created.user_id,
        principal,
    }
}

/// Rows in the global credential tables (no practice_id), so the isolation proof meets
/// each of them: a password reset link, a second-factor enrolment in progress and an
/// SMS code of practice B's admin, and the failed sign-in of an address nobody has.
/// They belong to B's admin (not A's, whose resets, factors and codes the password and
/// second-factor tests inspect) and are dated an hour ago, so that they are expired and
/// out of every resend and lockout window by the time a test starts.
async fn seed_credential_rows(app: &Db, user: UserId, practice: PracticeId) {
    let meta = RequestMeta::system("fixture");
    let then = chrono::Utc::now() - chrono::Duration::hours(1);
    let email = Email::parse("email", "admin@northside.example").unwrap();
    passwords::request_reset(app, &email, then, &meta)
        .await
        .unwrap()
        .expect("B's admin has an account");
    second_factor::set_unconfirmed(
        app,
        user,
        practice,
        Factor::Totp,
        b"fixture: sealed secret",
        then,
        &meta,
    )
    .await
    .unwrap();
    second_factor::issue_code(app, user, CodePurpose::SignIn, &[7; 32], then, &meta)
        .await
        .unwrap()
        .unwrap();
    signin::issue_unlock(app, user, then, &meta)
        .await
        .unwrap()
        .expect("no unlock link is open yet");
    let stranger = Email::parse("email", "nobody.here@northside.example").unwrap();
    let attempt = signin::lookup(app, &stranger, &meta).await.unwrap();
    signin::record_failure(app, &stranger, &attempt, then, &meta)
        .await
        .unwrap();
}

/// A fresh database with practices A (Riverside) and B (Northside).
pub async fn two_practices() -> World {
    let db = TestDb::new().await;
    let admin = db.admin().await;
    let app = db.app().await;
    let a = create_practice(
        &admin,
        &app,
        "Riverside Animal Hospital",
        "admin@riverside.example",
    )
    .await;
    let b = create_practice(
        &admin,
        &app,
        "Northside Veterinary Specialists",
        "admin@northside.example",
    )
    .await;
    seed_credential_rows(&app, b.admin, b.id).await;
    World {
        db,
        app,
        admin,
        a,
        b,
    }
}
