//! The dashboard (`GET /`): each panel appears with the permission it needs and is
//! absent without it, its numbers are the seeded day's, another practice's rows never
//! appear, record reads are audited, and the page is one transaction.

use crate::clinic::{booking, client_with_dog};
use crate::support::mail::link_token_in;
use crate::support::{
    Anonymous, CookieUser, MEMBER_PASSWORD, RIVERSIDE, RIVERSIDE_ADMIN, TEST_PASSWORD, TestApp,
};
use axum::http::StatusCode;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use paddock_domain::{AppointmentStatus, EncounterKind, PatientId, UserId};
use paddock_store::appointments::bookings;
use paddock_store::clinical::encounters::{self, NewEncounter, Soap};
use paddock_store::clinical::patients;
use paddock_store::clinical::record::{self, NewVaccination};
use paddock_store::staff::{changes, members, roles};
use paddock_store::{RequestMeta, TenantTx};
use serde_json::json;
use uuid::Uuid;

/// Invites `email` into practice A with the built-in role `role` under the name
/// `name`, accepts and signs in (the support flows); the session and the user id.
async fn join(
    env: &TestApp,
    admin: &CookieUser,
    email: &str,
    role: &str,
    name: &str,
) -> (CookieUser, UserId) {
    let role_id = env.role_id(admin, role).await;
    let session = env
        .join_with_password(admin, email, &role_id, MEMBER_PASSWORD, name)
        .await;
    let id = UserId::from_uuid(session.user_id());
    (session, id)
}

/// `GET /` as the browser of `session`: the status and the page.
async fn dashboard(env: &TestApp, session: &CookieUser) -> (StatusCode, String) {
    let answer = env.page("/", session).await;
    (answer.status, answer.text)
}

/// The text of the element with `id` (up to its first tag).
fn text_of<'a>(page: &'a str, id: &str) -> &'a str {
    let open = format!("id=\"{id}\">");
    let start = page
        .find(&open)
        .unwrap_or_else(|| panic!("no #{id} in {page}"))
        + open.len();
    let rest = &page[start..];
    &rest[..rest.find('<').unwrap()]
}

/// The panel `name` of the page, from its opening tag to its end.
fn panel<'a>(page: &'a str, name: &str) -> &'a str {
    let start = page.find(&format!("id=\"panel-{name}\"")).unwrap();
    let rest = &page[start..];
    &rest[..rest.find("</section>").unwrap()]
}

fn has_panel(page: &str, panel: &str) -> bool {
    page.contains(&format!("id=\"panel-{panel}\""))
}

/// `hour`:00 of the day the server's clock is in.
fn at(env: &TestApp, days: i64, hour: u32) -> DateTime<Utc> {
    let day = env.now().date_naive() + Duration::days(days);
    day.and_hms_opt(hour, 0, 0).unwrap().and_utc()
}

async fn book(
    tx: &mut TenantTx,
    patient: PatientId,
    with: UserId,
    start: DateTime<Utc>,
    status: Option<AppointmentStatus>,
) {
    let booked = bookings::book(tx, &booking(Some(patient.as_uuid()), Some(with), start, 30))
        .await
        .unwrap();
    if let Some(status) = status {
        bookings::set_status(tx, booked.id, status).await.unwrap();
    }
}

async fn open_encounter(tx: &mut TenantTx, patient: PatientId, vet: UserId) -> Uuid {
    let new = NewEncounter {
        patient_id: patient,
        kind: EncounterKind::Consultation,
        started_at: Utc::now() - Duration::hours(1),
        attending: Some(vet),
        reason: None,
        soap: Soap::default(),
    };
    encounters::create(tx, &new).await.unwrap().id.as_uuid()
}

async fn vaccinate(
    tx: &mut TenantTx,
    patient: PatientId,
    vaccine: &str,
    given: NaiveDate,
    due: NaiveDate,
    by: UserId,
) {
    let dose = NewVaccination {
        encounter_id: None,
        vaccine: vaccine.to_owned(),
        manufacturer: None,
        lot_number: "L-1".to_owned(),
        lot_expires_on: None,
        given_on: given,
        next_due_on: Some(due),
        administered_by: by,
        rabies_tag: None,
    };
    record::vaccinate(tx, patient, &dose).await.unwrap();
}

/// Practice A's day: Rex (the fixture) and Bella booked today with the vet and the
/// admin at every stage of the day, open encounters of both, vaccines due and not;
/// practice B has Nimbus booked today with a vaccine due too.
async fn seed(env: &TestApp, vet: UserId) {
    let world = &env.world;
    let admin = world.a.admin;
    let today = env.now().date_naive();
    let meta = RequestMeta::system("dashboard");
    let mut tx = world.app.begin(&world.a.principal, &meta).await.unwrap();
    let rex = patients::search(&mut tx, Some("Rex"), 5, None)
        .await
        .unwrap()
        .items[0]
        .id;
    let (_, bella) = client_with_dog(&mut tx, "Okafor", "Bella").await;
    let bella = bella.id;
    book(
        &mut tx,
        rex,
        vet,
        at(env, 0, 9),
        Some(AppointmentStatus::CheckedIn),
    )
    .await;
    book(&mut tx, bella, vet, at(env, 0, 10), None).await;
    book(
        &mut tx,
        bella,
        admin,
        at(env, 0, 11),
        Some(AppointmentStatus::NoShow),
    )
    .await;
    book(
        &mut tx,
        rex,
        admin,
        at(env, 0, 12),
        Some(AppointmentStatus::Cancelled),
    )
    .await;
    book(
        &mut tx,
        rex,
        admin,
        at(env, 0, 13),
        Some(AppointmentStatus::Completed),
    )
    .await;
    book(&mut tx, rex, vet, at(env, 1, 9), None).await;
    open_encounter(&mut tx, rex, vet).await;
    open_encounter(&mut tx, bella, vet).await;
    open_encounter(&mut tx, bella, admin).await;
    let signed = open_encounter(&mut tx, rex, vet).await;
    encounters::finalise(&mut tx, signed.into(), Utc::now())
        .await
        .unwrap();
    let days = |n: i64| today + Duration::days(n);
    vaccinate(&mut tx, bella, "Leptospirosis L4", days(-360), days(3), vet).await;
    vaccinate(&mut tx, rex, "Rabies", days(-359), days(6), vet).await;
    // A later dose replaces the due date; due tomorrow-week and yesterday are outside.
    vaccinate(&mut tx, bella, "Kennel cough", days(-300), days(2), vet).await;
    vaccinate(&mut tx, bella, "kennel cough", days(-1), days(364), vet).await;
    vaccinate(&mut tx, rex, "Parvovirus", days(-358), days(7), vet).await;
    vaccinate(&mut tx, rex, "Distemper", days(-357), days(-1), vet).await;
    tx.commit().await.unwrap();

    let mut tx = world.app.begin(&world.b.principal, &meta).await.unwrap();
    let (_, nimbus) = client_with_dog(&mut tx, "Northway", "Nimbus").await;
    book(
        &mut tx,
        nimbus.id,
        world.b.admin,
        at(env, 0, 9),
        Some(AppointmentStatus::CheckedIn),
    )
    .await;
    open_encounter(&mut tx, nimbus.id, world.b.admin).await;
    vaccinate(
        &mut tx,
        nimbus.id,
        "Leptospirosis L4",
        days(-360),
        days(1),
        world.b.admin,
    )
    .await;
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn each_role_sees_the_panels_of_its_permissions_with_the_days_numbers() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let (vet, vet_id) = join(
        &env,
        &admin,
        "vera@riverside.example",
        "Veterinarian",
        "Vera Vet",
    )
    .await;
    let (desk, _) = join(
        &env,
        &admin,
        "rosa@riverside.example",
        "Receptionist",
        "Rosa Desk",
    )
    .await;
    seed(&env, vet_id).await;

    // The front desk: the day and its arrivals, nothing of the record or security.
    let (status, page) = dashboard(&env, &desk).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        has_panel(&page, "appointments") && has_panel(&page, "arrivals"),
        "{page}"
    );
    for absent in [
        "encounters",
        "vaccinations",
        "locked",
        "role-changes",
        "audit-chain",
    ] {
        assert!(!has_panel(&page, absent), "the desk sees no {absent} panel");
    }
    assert_eq!(
        text_of(&page, "appointments-count"),
        "4",
        "cancelled left out"
    );
    assert_eq!(
        text_of(&page, "arrived-count"),
        "2",
        "checked in and completed"
    );
    assert_eq!(text_of(&page, "expected-count"), "1");
    assert_eq!(text_of(&page, "no-show-count"), "1");
    assert!(page.contains("id=\"arrivals-waiting\""), "Rex waits");
    assert!(
        !page.contains("Nimbus"),
        "practice B's booking never appears"
    );
    assert!(
        !page.contains("Your permissions"),
        "the old permission list is gone"
    );

    // The vet: their own bookings first and marked, their open encounters, the
    // vaccinations due this week; no security panels.
    let (_, page) = dashboard(&env, &vet).await;
    for present in ["appointments", "arrivals", "encounters", "vaccinations"] {
        assert!(has_panel(&page, present), "the vet sees {present}");
    }
    for absent in ["locked", "role-changes", "audit-chain"] {
        assert!(!has_panel(&page, absent), "the vet sees no {absent} panel");
    }
    assert_eq!(
        page.matches("class=\"you\"").count(),
        2,
        "two bookings are the vet's"
    );
    let first_you = page.find("class=\"you\"").unwrap();
    let admins_booking = page.find("<td>Admin</td>").unwrap();
    assert!(
        first_you < admins_booking,
        "the vet's own bookings come first"
    );
    assert_eq!(
        text_of(&page, "encounters-count"),
        "2",
        "open and the vet's"
    );
    assert!(
        page.contains("locks 24 hours after"),
        "the record settings' period"
    );
    assert_eq!(text_of(&page, "vaccinations-count"), "2");
    assert!(page.contains("Leptospirosis L4") && page.contains("Rabies"));
    for not_due in ["Kennel cough", "Parvovirus", "Distemper"] {
        assert!(!page.contains(not_due), "{not_due} is not due this week");
    }
    assert!(!page.contains("Nimbus"), "nor B's encounters or vaccines");

    // The views of the record were audited, one read per patient and panel.
    let mut tx = env
        .world
        .app
        .begin(&env.world.a.principal, &RequestMeta::system("t"))
        .await
        .unwrap();
    let views: Vec<String> = sqlx::query_scalar(
        "select changes->>'view' from audit_events
          where action = 'read' and entity_type = 'patient' and actor_user_id = $1
          order by 1",
    )
    .bind(vet_id.as_uuid())
    .fetch_all(tx.conn())
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(
        views,
        [
            "open_encounters",
            "open_encounters",
            "vaccinations_due",
            "vaccinations_due"
        ]
    );

    // The admin: every panel; their own open encounter is Bella's.
    let (_, page) = dashboard(&env, &admin).await;
    for present in [
        "appointments",
        "arrivals",
        "encounters",
        "vaccinations",
        "locked",
        "role-changes",
        "audit-chain",
    ] {
        assert!(has_panel(&page, present), "the admin sees {present}");
    }
    assert_eq!(text_of(&page, "encounters-count"), "1");
    assert_eq!(text_of(&page, "locked-count"), "0");
    assert_eq!(text_of(&page, "role-changes-count"), "0");
}

#[tokio::test]
async fn the_admin_sees_locked_sign_ins_role_changes_and_the_chain_head() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let (desk, _) = join(
        &env,
        &admin,
        "rosa@riverside.example",
        "Receptionist",
        "Rosa Desk",
    )
    .await;
    join(
        &env,
        &admin,
        "tom@riverside.example",
        "Technician",
        "Tom Tech",
    )
    .await;

    // Rosa and Tom mistype their passwords until their address is locked (the
    // default threshold: 10).
    for email in ["rosa@riverside.example", "tom@riverside.example"] {
        env.fail_sign_in(email, 10).await;
    }
    env.settled().await;
    // Tom becomes a vet.
    let world = &env.world;
    let meta = RequestMeta::system("dashboard");
    let mut tx = world.app.begin(&world.a.principal, &meta).await.unwrap();
    let tom = members::list(&mut tx)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.display_name == "Tom Tech")
        .unwrap();
    let vet_role = roles::list(&mut tx)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.name == "Veterinarian")
        .unwrap();
    changes::change_role(&mut tx, tom.membership_id, vet_role.id, Utc::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    world.admin.seal_audit().await.unwrap();

    let (_, page) = dashboard(&env, &admin).await;
    assert_eq!(text_of(&page, "locked-count"), "2", "{page}");
    let locked = panel(&page, "locked");
    assert!(locked.contains("Rosa Desk") && locked.contains("Tom Tech"));
    assert!(locked.contains("one address"), "{locked}");
    assert_eq!(text_of(&page, "role-changes-count"), "1");
    let changes = panel(&page, "role-changes");
    for part in ["Tom Tech", "Technician", "Veterinarian", "Admin"] {
        assert!(changes.contains(part), "{part} in {changes}");
    }
    let head = world
        .admin
        .audit_heads()
        .await
        .unwrap()
        .into_iter()
        .find(|h| h.practice_id == world.a.id.as_uuid())
        .unwrap();
    assert_eq!(
        text_of(&page, "chain-sealed-seq"),
        format!("#{}", head.seq.unwrap()),
        "sealed up to the head, as verify sees it"
    );
    assert_eq!(
        text_of(&page, "chain-pending"),
        "0",
        "nothing was left to seal"
    );

    // The view itself recorded reads (of the trail and of records): pending now.
    let (_, again) = dashboard(&env, &admin).await;
    let pending: i64 = text_of(&again, "chain-pending").parse().unwrap();
    assert!(
        pending > 0,
        "the first view's own audit events await the sealer"
    );
    assert!(!has_panel(&dashboard(&env, &desk).await.1, "locked"));

    // Rosa lifts her lock with the mailed link; Tom's stays until it ends by itself.
    let mail = env.mails_to("rosa@riverside.example").pop().unwrap();
    let token = link_token_in(&mail.body_text, "unlock").expect("the mail carries the link");
    env.post_json("/api/v1/auth/unlock", &json!({"token": token}), Anonymous)
        .await
        .expect(StatusCode::NO_CONTENT);
    let (_, page) = dashboard(&env, &admin).await;
    assert_eq!(text_of(&page, "locked-count"), "1");
    assert!(panel(&page, "locked").contains("Tom Tech"));
    env.clock.advance(Duration::minutes(16));
    let (_, later) = dashboard(&env, &admin).await;
    assert_eq!(text_of(&later, "locked-count"), "0", "past the 15 minutes");
}

#[tokio::test]
async fn a_member_of_two_practices_may_switch_and_sees_only_this_practices_day() {
    let env = TestApp::new().await;
    // Hillside's admin is Riverside's admin, the same person; Hillside books Whiskers today.
    let world = &env.world;
    let hillside = crate::world::create_practice(
        &world.admin,
        &world.app,
        "Hillside Cat Clinic",
        RIVERSIDE_ADMIN,
    )
    .await;
    let meta = RequestMeta::system("dashboard");
    let mut tx = world.app.begin(&hillside.principal, &meta).await.unwrap();
    let (_, whiskers) = client_with_dog(&mut tx, "Hill", "Whiskers").await;
    book(&mut tx, whiskers.id, hillside.admin, at(&env, 0, 9), None).await;
    tx.commit().await.unwrap();

    // Signed in to Riverside by name (the picker would offer Hillside first).
    let admin = env
        .login_with(&json!({
            "email": RIVERSIDE_ADMIN,
            "password": TEST_PASSWORD,
            "practice_id": world.a.id,
        }))
        .await;
    let (status, page) = dashboard(&env, &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text_of(&page, "practice-name"), RIVERSIDE);
    assert!(page.contains("Switch practice"), "{page}");
    assert!(page.contains(&format!(
        "<option value=\"{}\">Hillside Cat Clinic</option>",
        hillside.id
    )));
    assert!(page.contains(&format!(
        "<option value=\"{}\">{RIVERSIDE}</option>",
        world.a.id
    )));
    assert!(!page.contains("Northside"), "not a practice of theirs");
    assert!(
        !page.contains("Whiskers"),
        "the other practice's day stays there"
    );
    assert_eq!(text_of(&page, "appointments-count"), "0");
}

#[tokio::test]
async fn the_dashboard_reads_every_panel_in_one_transaction() {
    let (env, acquired) = crate::request_context::counting_env().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    assert_eq!(
        crate::request_context::transactions_of(&env, &acquired, "/", admin.without_csrf()).await,
        1,
        "authentication, layout, panels and the practice switcher share one transaction"
    );
}

#[tokio::test]
async fn the_dashboards_today_is_the_practices_local_day() {
    let env = TestApp::new().await;
    // Noon UTC on 14 July next year: 13:00 BST in London.
    let noon = NaiveDate::from_ymd_opt(env.now().year() + 1, 7, 14)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc();
    env.clock.advance(noon - env.now());
    let world = &env.world;
    crate::time_zone::practice_in_london(world).await;
    let meta = RequestMeta::system("dashboard");
    let mut tx = world.app.begin(&world.a.principal, &meta).await.unwrap();
    // 23:30 BST on the 14th, and 00:30 BST on the 15th.
    let late = noon + Duration::minutes(10 * 60 + 30);
    let after_midnight = late + Duration::hours(1);
    for start in [late, after_midnight] {
        bookings::book(&mut tx, &booking(None, Some(world.a.admin), start, 20))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();

    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let (status, page) = dashboard(&env, &admin).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("times are Europe/London."), "{page}");
    assert!(!page.contains("times are UTC"), "{page}");
    let day = panel(&page, "appointments");
    assert_eq!(text_of(day, "appointments-count"), "1", "{day}");
    assert!(day.contains("<td>23:30</td>"), "{day}");

    // 23:15 UTC is already 00:15 on the 15th in London: the 15th's book.
    env.clock.advance(Duration::minutes(11 * 60 + 15));
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let (status, page) = dashboard(&env, &admin).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let day = panel(&page, "appointments");
    assert_eq!(text_of(day, "appointments-count"), "1", "{day}");
    assert!(day.contains("<td>00:30</td>"), "{day}");
    assert!(!day.contains("<td>23:30</td>"), "{day}");
}
