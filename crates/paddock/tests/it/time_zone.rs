//! The practice time zone setting in the store: UTC until set, readable by every
//! member, set only with `settings.manage`, audited in the same transaction, fenced to
//! its practice, and bounded by the database too. And the appointment book read in it:
//! a calendar day is the practice's local day, 23 or 25 hours long when the clocks
//! change, and its times are on the practice's clock.

use crate::world::{World, two_practices};
use paddock_domain::{BuiltinRole, Permission, PracticeZone};
use paddock_store::{Principal, RequestMeta, StoreError, identity::principal, staff::time_zone};
use serde_json::{Value, json};

fn zone(name: &str) -> PracticeZone {
    PracticeZone::parse("time_zone", name).unwrap()
}

fn meta() -> RequestMeta {
    RequestMeta::system("time-zone")
}

async fn zone_of(world: &World, principal: &Principal) -> PracticeZone {
    let mut tx = world.app.begin(principal, &meta()).await.unwrap();
    let zone = time_zone::get(&mut tx).await.unwrap();
    tx.rollback().await.unwrap();
    zone
}

/// The changes recorded by every practice_settings audit event that touched time_zone.
async fn time_zone_changes(world: &World, principal: &Principal) -> Vec<Value> {
    let mut tx = world.app.begin(principal, &meta()).await.unwrap();
    let changes = sqlx::query_scalar(
        "select changes->'time_zone' from audit_events
          where entity_type = 'practice_settings' and action = 'update'
            and changes->'time_zone' is not null
          order by id",
    )
    .fetch_all(tx.conn())
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    changes
}

async fn colleague_principal(world: &World, role: BuiltinRole) -> Principal {
    let user = crate::clinic::colleague(world, role).await;
    principal::resolve(&world.app, user, world.a.id, &meta())
        .await
        .unwrap()
        .expect("the colleague is an active member")
}

#[tokio::test]
async fn a_new_practice_keeps_utc_until_an_admin_sets_its_zone() {
    let world = two_practices().await;
    assert_eq!(zone_of(&world, &world.a.principal).await, PracticeZone::UTC);

    let mut tx = world.app.begin(&world.a.principal, &meta()).await.unwrap();
    let set = time_zone::set(&mut tx, zone("Europe/London"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(set.name(), "Europe/London");
    assert_eq!(
        zone_of(&world, &world.a.principal).await.name(),
        "Europe/London"
    );
}

#[tokio::test]
async fn setting_the_zone_is_audited_in_its_transaction_and_a_rollback_leaves_neither() {
    let world = two_practices().await;
    let mut tx = world.app.begin(&world.a.principal, &meta()).await.unwrap();
    time_zone::set(&mut tx, zone("America/New_York"))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(zone_of(&world, &world.a.principal).await, PracticeZone::UTC);
    assert!(
        time_zone_changes(&world, &world.a.principal)
            .await
            .is_empty()
    );

    let mut tx = world.app.begin(&world.a.principal, &meta()).await.unwrap();
    time_zone::set(&mut tx, zone("America/New_York"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = world.app.begin(&world.a.principal, &meta()).await.unwrap();
    time_zone::set(&mut tx, zone("Europe/London"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        time_zone_changes(&world, &world.a.principal).await,
        [
            json!(["UTC", "America/New_York"]),
            json!(["America/New_York", "Europe/London"])
        ]
    );
    // The event names who changed it.
    let mut tx = world.app.begin(&world.a.principal, &meta()).await.unwrap();
    let actor: Option<uuid::Uuid> = sqlx::query_scalar(
        "select actor_user_id from audit_events
          where entity_type = 'practice_settings' and changes->'time_zone' is not null
          order by id desc limit 1",
    )
    .fetch_one(tx.conn())
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(actor, Some(world.a.admin.as_uuid()));
}

#[tokio::test]
async fn every_member_reads_the_zone_and_only_settings_managers_set_it() {
    let world = two_practices().await;
    let mut tx = world.app.begin(&world.a.principal, &meta()).await.unwrap();
    time_zone::set(&mut tx, zone("Europe/London"))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    for role in [BuiltinRole::Receptionist, BuiltinRole::Veterinarian] {
        let member = colleague_principal(&world, role).await;
        assert!(!member.permissions().contains(Permission::SettingsManage));
        assert_eq!(zone_of(&world, &member).await.name(), "Europe/London");
        let mut tx = world.app.begin(&member, &meta()).await.unwrap();
        let refused = time_zone::set(&mut tx, zone("Asia/Tokyo")).await;
        assert!(
            matches!(
                refused,
                Err(StoreError::Forbidden(Permission::SettingsManage))
            ),
            "{role:?}: {refused:?}"
        );
        tx.rollback().await.unwrap();
    }
    assert_eq!(
        zone_of(&world, &world.a.principal).await.name(),
        "Europe/London"
    );
}

#[tokio::test]
async fn one_practice_setting_its_zone_leaves_the_other_practice_alone() {
    let world = two_practices().await;
    let mut tx = world.app.begin(&world.a.principal, &meta()).await.unwrap();
    time_zone::set(&mut tx, zone("America/New_York"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(zone_of(&world, &world.b.principal).await, PracticeZone::UTC);
    assert!(
        time_zone_changes(&world, &world.b.principal)
            .await
            .is_empty()
    );
    assert_eq!(time_zone_changes(&world, &world.a.principal).await.len(), 1);
}

#[tokio::test]
async fn the_database_refuses_an_empty_or_overlong_zone_even_from_raw_sql() {
    let world = two_practices().await;
    for value in [String::new(), "A/".repeat(40)] {
        let mut tx = world.app.begin(&world.a.principal, &meta()).await.unwrap();
        let refused = sqlx::query("update practice_settings set time_zone = $1")
            .bind(&value)
            .execute(tx.conn())
            .await
            .unwrap_err();
        let code = refused
            .as_database_error()
            .and_then(|e| e.code())
            .map(|c| c.into_owned());
        assert_eq!(code.as_deref(), Some("23514"), "{value:?}: {refused}");
        tx.rollback().await.unwrap();
    }
    assert_eq!(zone_of(&world, &world.a.principal).await, PracticeZone::UTC);
}

// --- the calendar in the practice's zone -------------------------------------------

/// Sets practice A's zone to Europe/London, as its admin.
pub(crate) async fn practice_in_london(world: &World) {
    let mut tx = world.app.begin(&world.a.principal, &meta()).await.unwrap();
    time_zone::set(&mut tx, zone("Europe/London"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// Sets practice A's zone to London and books the admin for 20 minutes from each UTC
/// instant.
async fn london_bookings(env: &crate::support::TestApp, starts: &[&str]) {
    let world = &env.world;
    practice_in_london(world).await;
    let mut tx = world.app.begin(&world.a.principal, &meta()).await.unwrap();
    for start in starts {
        let start = chrono::DateTime::parse_from_rfc3339(start)
            .unwrap()
            .with_timezone(&chrono::Utc);
        paddock_store::appointments::bookings::book(
            &mut tx,
            &crate::clinic::booking(None, Some(world.a.admin), start, 20),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

/// The times of the bookings on the day view of `day`, in the order shown.
async fn day_times(
    env: &crate::support::TestApp,
    admin: &crate::support::CookieUser,
    day: &str,
) -> Vec<String> {
    let page = env.page(&format!("/appointments?day={day}"), admin).await;
    assert_eq!(page.status, axum::http::StatusCode::OK, "{}", page.text);
    assert!(
        page.text.contains("Times are Europe/London."),
        "{}",
        page.text
    );
    assert!(!page.text.contains("UTC"), "{}", page.text);
    page.text
        .split("class=\"booking-time\">")
        .skip(1)
        .filter_map(|rest| rest.split('<').next())
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn the_23_hour_day_the_clocks_go_forward_holds_its_own_bookings_only() {
    let env = crate::support::TestApp::new().await;
    // 00:30 GMT and 23:30 BST on Sunday 29 March 2026, London.
    london_bookings(&env, &["2026-03-29T00:30:00Z", "2026-03-29T22:30:00Z"]).await;
    let admin = env
        .login(
            crate::support::RIVERSIDE_ADMIN,
            crate::support::TEST_PASSWORD,
        )
        .await;
    assert_eq!(
        day_times(&env, &admin, "2026-03-29").await,
        ["00:30–00:50", "23:30–23:50"]
    );
    assert!(day_times(&env, &admin, "2026-03-28").await.is_empty());
    assert!(day_times(&env, &admin, "2026-03-30").await.is_empty());
    // The week view puts both on the Sunday.
    let week = env.page("/appointments?week=2026-03-23", &admin).await;
    let sunday = week
        .text
        .split("<a href=\"/appointments?day=2026-03-29\">")
        .nth(1)
        .unwrap();
    assert!(sunday.contains("00:30–00:50") && sunday.contains("23:30–23:50"));
}

#[tokio::test]
async fn the_25_hour_day_the_clocks_go_back_holds_both_half_past_ones() {
    let env = crate::support::TestApp::new().await;
    // On Sunday 25 October 2026: 00:30 BST, 01:30 BST, 01:30 GMT and 23:30 GMT.
    london_bookings(
        &env,
        &[
            "2026-10-24T23:30:00Z",
            "2026-10-25T00:30:00Z",
            "2026-10-25T01:30:00Z",
            "2026-10-25T23:30:00Z",
        ],
    )
    .await;
    let admin = env
        .login(
            crate::support::RIVERSIDE_ADMIN,
            crate::support::TEST_PASSWORD,
        )
        .await;
    assert_eq!(
        day_times(&env, &admin, "2026-10-25").await,
        ["00:30–00:50", "01:30–01:50", "01:30–01:50", "23:30–23:50"]
    );
    assert!(day_times(&env, &admin, "2026-10-24").await.is_empty());
    assert!(day_times(&env, &admin, "2026-10-26").await.is_empty());
}

#[tokio::test]
async fn a_time_the_clocks_skip_is_refused_on_the_form_and_nothing_is_booked() {
    let env = crate::support::TestApp::new().await;
    london_bookings(&env, &[]).await;
    let admin = env
        .login(
            crate::support::RIVERSIDE_ADMIN,
            crate::support::TEST_PASSWORD,
        )
        .await;
    let staff = env.world.a.admin.as_uuid().to_string();
    let refused = env
        .submit(
            "/appointments",
            &admin,
            &[
                ("staff_id", &staff),
                ("date", "2026-03-29"),
                ("time", "01:30"),
                ("duration", "30"),
                ("kind", "consultation"),
            ],
        )
        .await;
    assert_eq!(
        refused.status,
        axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );
    assert!(
        refused
            .text
            .contains("Time: 01:30 does not exist in Europe/London: the clocks go forward then"),
        "{}",
        refused.text
    );
    assert!(refused.text.contains("value=\"01:30\""), "{}", refused.text);
    assert!(day_times(&env, &admin, "2026-03-29").await.is_empty());
    // Half an hour later is after the change: booked, and shown at 02:00.
    let booked = env
        .submit(
            "/appointments",
            &admin,
            &[
                ("staff_id", &staff),
                ("date", "2026-03-29"),
                ("time", "02:00"),
                ("duration", "30"),
                ("kind", "consultation"),
            ],
        )
        .await;
    assert_eq!(
        booked.location(),
        Some("/appointments?day=2026-03-29&notice=booked")
    );
    assert_eq!(day_times(&env, &admin, "2026-03-29").await, ["02:00–02:30"]);
}
