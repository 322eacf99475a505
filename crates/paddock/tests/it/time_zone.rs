//! The practice time zone setting in the store: UTC until set, readable by every
//! member, set only with `settings.manage`, audited in the same transaction, fenced to
//! its practice, and bounded by the database too.

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
