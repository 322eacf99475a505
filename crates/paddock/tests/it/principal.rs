//! Principals come only from active memberships, and carry exactly their role's permissions.

use crate::world::{create_practice, two_practices};
use paddock_domain::{BuiltinRole, MembershipId, Permission, PermissionSet, UserId};
use paddock_store::RequestMeta;
use paddock_store::{StoreError, identity::principal, staff::members, staff::roles};
use uuid::Uuid;

#[tokio::test]
async fn a_new_practice_admin_holds_every_permission() {
    let world = two_practices().await;
    let p = &world.a.principal;
    assert_eq!(p.role_name(), "Practice admin");
    assert_eq!(p.practice_id(), world.a.id);
    let all: PermissionSet = Permission::ALL.iter().copied().collect();
    assert_eq!(p.permissions(), &all);
}

#[tokio::test]
async fn a_user_has_no_principal_in_a_practice_they_do_not_belong_to() {
    let world = two_practices().await;
    let other = principal::resolve(
        &world.app,
        world.a.admin,
        world.b.id,
        &RequestMeta::system("t"),
    )
    .await
    .unwrap();
    assert_eq!(other, None);
    let stranger = principal::resolve(
        &world.app,
        UserId::new(),
        world.a.id,
        &RequestMeta::system("t"),
    )
    .await
    .unwrap();
    assert_eq!(stranger, None);
}

#[tokio::test]
async fn a_deactivated_membership_yields_no_principal() {
    let world = two_practices().await;
    let mut tx = world.admin.begin_system(world.a.id).await.unwrap();
    let changed = sqlx::query(
        "update memberships set status = 'deactivated', deactivated_at = now() where user_id = $1",
    )
    .bind(world.a.admin.as_uuid())
    .execute(tx.conn())
    .await
    .unwrap()
    .rows_affected();
    tx.commit().await.unwrap();
    assert_eq!(changed, 1);
    let resolved = principal::resolve(
        &world.app,
        world.a.admin,
        world.a.id,
        &RequestMeta::system("t"),
    )
    .await
    .unwrap();
    assert_eq!(resolved, None);
}

#[tokio::test]
async fn every_practice_gets_the_five_built_in_roles_with_their_permissions() {
    let world = two_practices().await;
    let mut tx = world
        .app
        .begin(&world.a.principal, &RequestMeta::system("t"))
        .await
        .unwrap();
    let listed = roles::list(&mut tx).await.unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(listed.len(), BuiltinRole::ALL.len());
    for builtin in BuiltinRole::ALL {
        let role = listed
            .iter()
            .find(|r| r.builtin == Some(builtin))
            .unwrap_or_else(|| panic!("{builtin:?} missing"));
        assert_eq!(role.name, builtin.name());
        assert_eq!(role.permissions, builtin.permissions(), "{builtin:?}");
    }
}

/// Adds `email` to practice A with the built-in `role`, through the admin door.
async fn add_member(world: &crate::world::World, email: &str, role: BuiltinRole) -> UserId {
    let user = UserId::new();
    let mut tx = world.admin.begin_system(world.a.id).await.unwrap();
    sqlx::query("insert into users (id, email, display_name) values ($1, $2, 'Member')")
        .bind(user.as_uuid())
        .bind(email)
        .execute(tx.conn())
        .await
        .unwrap();
    sqlx::query(
        "insert into memberships (practice_id, id, user_id, role_id)
         select $1, $2, $3, id from roles where practice_id = $1 and builtin_key = $4",
    )
    .bind(world.a.id.as_uuid())
    .bind(MembershipId::new().as_uuid())
    .bind(user.as_uuid())
    .bind(role.key())
    .execute(tx.conn())
    .await
    .unwrap();
    tx.commit().await.unwrap();
    user
}

#[tokio::test]
async fn a_receptionist_gets_the_receptionist_permissions_and_cannot_list_staff() {
    let world = two_practices().await;
    let user = add_member(&world, "desk@riverside.example", BuiltinRole::Receptionist).await;
    let desk = principal::resolve(&world.app, user, world.a.id, &RequestMeta::system("t"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(desk.permissions(), &BuiltinRole::Receptionist.permissions());
    assert!(!desk.permissions().contains(Permission::RecordsRead));

    let mut tx = world
        .app
        .begin(&desk, &RequestMeta::system("t"))
        .await
        .unwrap();
    let refused = members::list(&mut tx).await.unwrap_err();
    assert!(
        matches!(refused, StoreError::Forbidden(Permission::StaffManage)),
        "{refused:?}"
    );
    let refused = roles::list(&mut tx).await.unwrap_err();
    assert!(
        matches!(refused, StoreError::Forbidden(Permission::StaffManage)),
        "{refused:?}"
    );
    tx.rollback().await.unwrap();

    let mut tx = world
        .app
        .begin(&world.a.principal, &RequestMeta::system("t"))
        .await
        .unwrap();
    let staff = members::list(&mut tx).await.unwrap();
    tx.rollback().await.unwrap();
    let emails: Vec<&str> = staff.iter().map(|m| m.email.as_str()).collect();
    assert_eq!(
        emails,
        vec!["admin@riverside.example", "desk@riverside.example"]
    );
}

#[tokio::test]
async fn one_person_can_belong_to_two_practices_and_each_sees_only_its_membership() {
    let world = two_practices().await;
    // The Riverside admin also becomes admin of a third practice: same user, linked.
    let third = create_practice(
        &world.admin,
        &world.app,
        "Hillside Cat Clinic",
        "ADMIN@riverside.example",
    )
    .await;
    assert_eq!(third.admin, world.a.admin);

    for (principal, practice) in [
        (&world.a.principal, world.a.id),
        (&third.principal, third.id),
    ] {
        let mut tx = world
            .app
            .begin(principal, &RequestMeta::system("t"))
            .await
            .unwrap();
        let rows: Vec<(Uuid, Uuid)> =
            sqlx::query_as("select practice_id, user_id from memberships")
                .fetch_all(tx.conn())
                .await
                .unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(rows, vec![(practice.as_uuid(), world.a.admin.as_uuid())]);
    }
}
