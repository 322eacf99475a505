//! Managing staff: role changes, deactivation and reactivation.
//!
//! Rules enforced here, whatever the caller: the actor needs `staff.manage`; nobody
//! hands on or overrules permissions they do not hold themselves; a practice always
//! keeps at least one active Practice admin; every change is audited in the same
//! transaction; deactivation revokes the member's sessions and API keys at once, and
//! with them every open invitation they sent (a departing manager must not be able to
//! walk back in through a link sent to themself); a role change revokes those the
//! member could no longer send.

use crate::audit::{AuditAction, AuditEvent, record};
use crate::staff::roles::{self, Role};
use crate::tenant::Actor;
use crate::{StoreError, TenantTx, identity::api_keys, identity::sessions, staff::invitations};
use chrono::{DateTime, Utc};
use paddock_domain::{
    BuiltinRole, FieldError, MembershipId, Permission, PermissionSet, RoleId, UserId,
};
use serde_json::json;
use uuid::Uuid;

struct Target {
    user_id: UserId,
    role: Role,
    active: bool,
}

/// The member being acted on, with their current role; checks the actor outranks them.
async fn target(tx: &mut TenantTx, membership: MembershipId) -> Result<Target, StoreError> {
    tx.require(Permission::StaffManage)?;
    // One staff change per practice at a time: two admins stepping down together would
    // otherwise lock each other's rows in opposite orders and deadlock.
    sqlx::query("select pg_advisory_xact_lock(hashtextextended('paddock.staff:' || $1::text, 0))")
        .bind(tx.practice_id().as_uuid())
        .execute(tx.conn())
        .await?;
    let row: Option<(Uuid, Uuid, String)> =
        sqlx::query_as("select user_id, role_id, status from memberships where id = $1 for update")
            .bind(membership.as_uuid())
            .fetch_optional(tx.conn())
            .await?;
    let (user_id, role_id, status) = row.ok_or(StoreError::NotFound("member"))?;
    let role = roles::find(tx, RoleId::from_uuid(role_id))
        .await?
        .ok_or(StoreError::NotFound("role"))?;
    require_superset(tx, &role.permissions)?;
    Ok(Target {
        user_id: UserId::from_uuid(user_id),
        role,
        active: status == "active",
    })
}

/// Refuses unless the actor holds every permission in `permissions`.
fn require_superset(tx: &TenantTx, permissions: &PermissionSet) -> Result<(), StoreError> {
    if let Actor::Member(principal) = tx.actor()
        && let Some(missing) = permissions
            .iter()
            .find(|p| !principal.permissions().contains(*p))
    {
        return Err(StoreError::Forbidden(missing));
    }
    Ok(())
}

/// Refuses if `leaving` is the practice's last active Practice admin. Locks the admin
/// memberships so two concurrent demotions cannot both pass.
async fn keep_an_admin(tx: &mut TenantTx, leaving: UserId) -> Result<(), StoreError> {
    let others: Vec<Uuid> = sqlx::query_scalar(
        "select m.user_id from memberships m
           join roles r on r.practice_id = m.practice_id and r.id = m.role_id
          where r.builtin_key = $1 and m.status = 'active'
          for update of m",
    )
    .bind(BuiltinRole::PracticeAdmin.key())
    .fetch_all(tx.conn())
    .await?;
    if others.iter().all(|user| *user == leaving.as_uuid()) {
        return Err(StoreError::Conflict(FieldError::new(
            "member",
            "is the practice's last active Practice admin; make someone else admin first",
        )));
    }
    Ok(())
}

/// Gives member `membership` the role `role_id`; returns the old and new role names.
/// Open invitations the member sent that the new role could not send are revoked.
pub async fn change_role(
    tx: &mut TenantTx,
    membership: MembershipId,
    role_id: RoleId,
    now: DateTime<Utc>,
) -> Result<(String, String), StoreError> {
    let target = target(tx, membership).await?;
    let new_role = roles::find(tx, role_id).await?.ok_or_else(|| {
        StoreError::Invalid(FieldError::new("role_id", "is not a role of this practice").into())
    })?;
    require_superset(tx, &new_role.permissions)?;
    let was_admin = target.role.builtin == Some(BuiltinRole::PracticeAdmin);
    if was_admin && new_role.builtin != Some(BuiltinRole::PracticeAdmin) && target.active {
        keep_an_admin(tx, target.user_id).await?;
    }
    sqlx::query("update memberships set role_id = $1 where id = $2")
        .bind(new_role.id.as_uuid())
        .bind(membership.as_uuid())
        .execute(tx.conn())
        .await?;
    let revoked_invitations = invitations::revoke_sent_by(
        tx,
        target.user_id,
        Some(&new_role.permissions),
        "the sender's new role could not send it",
        now,
    )
    .await?;
    let event = AuditEvent::on(AuditAction::RoleChange, "membership", membership.as_uuid())
        .with_changes(json!({
            "user_id": target.user_id,
            "role": [target.role.name, new_role.name],
            "role_id": [target.role.id, new_role.id],
            "invitations_revoked": revoked_invitations,
        }));
    record(tx, event, None).await?;
    Ok((target.role.name, new_role.name))
}

/// Deactivates a member: their sessions (and so their access tokens) and API keys in
/// this practice are revoked in the same transaction.
pub async fn deactivate(
    tx: &mut TenantTx,
    membership: MembershipId,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let target = target(tx, membership).await?;
    if !target.active {
        return Ok(());
    }
    if target.role.builtin == Some(BuiltinRole::PracticeAdmin) {
        keep_an_admin(tx, target.user_id).await?;
    }
    sqlx::query("update memberships set status = 'deactivated', deactivated_at = $1 where id = $2")
        .bind(now)
        .bind(membership.as_uuid())
        .execute(tx.conn())
        .await?;
    let revoked_sessions = sessions::revoke_all(tx, target.user_id, now).await?;
    let revoked_keys = api_keys::revoke_all(tx, target.user_id, now).await?;
    let revoked_invitations =
        invitations::revoke_sent_by(tx, target.user_id, None, "the sender was deactivated", now)
            .await?;
    let event = AuditEvent::on(AuditAction::Deactivate, "membership", membership.as_uuid())
        .with_changes(json!({
            "user_id": target.user_id,
            "status": ["active", "deactivated"],
            "sessions_revoked": revoked_sessions,
            "api_keys_revoked": revoked_keys,
            "invitations_revoked": revoked_invitations,
        }));
    record(tx, event, None).await
}

/// Lets a deactivated member act again (their old sessions and keys stay revoked).
pub async fn reactivate(tx: &mut TenantTx, membership: MembershipId) -> Result<(), StoreError> {
    let target = target(tx, membership).await?;
    if target.active {
        return Ok(());
    }
    sqlx::query("update memberships set status = 'active', deactivated_at = null where id = $1")
        .bind(membership.as_uuid())
        .execute(tx.conn())
        .await?;
    let event = AuditEvent::on(AuditAction::Reactivate, "membership", membership.as_uuid())
        .with_changes(json!({ "user_id": target.user_id, "status": ["deactivated", "active"] }));
    record(tx, event, None).await
}
