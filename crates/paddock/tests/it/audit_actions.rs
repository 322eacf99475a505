//! The audit trail speaks one vocabulary: every action a practice's trail holds, from
//! the store's writers and from the database's triggers alike, is an `AuditAction`.

use crate::world::two_practices;
use paddock_domain::{AuditAction, BuiltinRole};
use paddock_store::RequestMeta;

#[tokio::test]
async fn every_action_in_the_trail_is_an_audit_action() {
    let world = two_practices().await;
    // The fixtures signed in, made keys, invited, wrote clinical rows; a colleague
    // joining adds an accepted invitation and a membership.
    crate::clinic::colleague(&world, BuiltinRole::Receptionist).await;
    let mut seen = Vec::new();
    for principal in [&world.a.principal, &world.b.principal] {
        let mut tx = world
            .app
            .begin(principal, &RequestMeta::system("actions"))
            .await
            .unwrap();
        let actions: Vec<String> =
            sqlx::query_scalar("select distinct action from audit_events order by action")
                .fetch_all(tx.conn())
                .await
                .unwrap();
        tx.rollback().await.unwrap();
        for action in actions {
            let known = AuditAction::from_name(&action);
            assert!(known.is_some(), "`{action}` is not an AuditAction");
            seen.extend(known);
        }
    }
    // Both kinds of writer were met: the triggers' and the store's.
    for expected in [
        AuditAction::Create,
        AuditAction::Update,
        AuditAction::Login,
        AuditAction::ApiKeyCreate,
        AuditAction::Invite,
        AuditAction::InvitationAccept,
    ] {
        assert!(seen.contains(&expected), "{expected} not in {seen:?}");
    }
}
