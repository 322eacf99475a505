//! The authenticated principal: a user acting in one practice with one role's permissions.

use crate::tenant::{Actor, TenantTx};
use crate::{Db, RequestMeta, StoreError};
use paddock_domain::{MembershipId, Permission, PermissionSet, PracticeId, RoleId, UserId};
use sqlx::PgConnection;
use uuid::Uuid;

/// Who is acting, in which practice, with what permissions. Built only by [`resolve`],
/// from an active membership, so holding one means the membership was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    user_id: UserId,
    practice_id: PracticeId,
    membership_id: MembershipId,
    role_id: RoleId,
    role_name: String,
    permissions: PermissionSet,
}

impl Principal {
    /// A principal from a membership row just checked to be active.
    pub(crate) fn new(
        user_id: UserId,
        practice_id: PracticeId,
        membership_id: MembershipId,
        role_id: RoleId,
        role_name: String,
        permissions: PermissionSet,
    ) -> Self {
        Self {
            user_id,
            practice_id,
            membership_id,
            role_id,
            role_name,
            permissions,
        }
    }

    /// The acting user.
    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    /// The practice acted in.
    pub fn practice_id(&self) -> PracticeId {
        self.practice_id
    }

    /// The membership that grants the access.
    pub fn membership_id(&self) -> MembershipId {
        self.membership_id
    }

    /// The membership's role.
    pub fn role_id(&self) -> RoleId {
        self.role_id
    }

    /// The role's name at the time of resolution.
    pub fn role_name(&self) -> &str {
        &self.role_name
    }

    /// The permissions the role grants.
    pub fn permissions(&self) -> &PermissionSet {
        &self.permissions
    }

    /// The same principal holding only the permissions also in `scopes` (API keys).
    pub(crate) fn restricted_to(mut self, scopes: &PermissionSet) -> Principal {
        self.permissions = self
            .permissions
            .iter()
            .filter(|p| scopes.contains(*p))
            .collect();
        self
    }

    /// Refuses with [`StoreError::Forbidden`] unless `permission` is granted.
    pub fn require(&self, permission: Permission) -> Result<(), StoreError> {
        if self.permissions.contains(permission) {
            Ok(())
        } else {
            Err(StoreError::Forbidden(permission))
        }
    }
}

#[derive(sqlx::FromRow)]
struct MembershipRow {
    membership_id: Uuid,
    role_id: Uuid,
    role_name: String,
    permissions: Vec<String>,
}

/// The principal for `user_id` in `practice_id`, if that membership is active and the
/// practice exists. Callers must already have verified a credential for `user_id`
/// (session, token or key); this checks the membership on every request so that a
/// deactivated member is refused at once.
pub async fn resolve(
    db: &Db,
    user_id: UserId,
    practice_id: PracticeId,
    meta: &RequestMeta,
) -> Result<Option<Principal>, StoreError> {
    let mut tx = TenantTx::begin(db.pool(), practice_id, Actor::System, meta).await?;
    let principal = load(tx.conn(), user_id, practice_id).await?;
    tx.commit().await?;
    Ok(principal)
}

/// Loads the principal on a connection whose transaction is scoped to `practice_id`.
pub(crate) async fn load(
    conn: &mut PgConnection,
    user_id: UserId,
    practice_id: PracticeId,
) -> Result<Option<Principal>, StoreError> {
    let row: Option<MembershipRow> = sqlx::query_as(
        "select m.id as membership_id, m.role_id, r.name as role_name,
                coalesce(array_agg(rp.permission) filter (where rp.permission is not null), '{}') as permissions
           from memberships m
           join practices p on p.id = m.practice_id and p.deleted_at is null
           join roles r on r.practice_id = m.practice_id and r.id = m.role_id
           left join role_permissions rp on rp.practice_id = m.practice_id and rp.role_id = m.role_id
          where m.user_id = $1 and m.practice_id = $2 and m.status = 'active'
          group by m.id, m.role_id, r.name",
    )
    .bind(user_id.as_uuid())
    .bind(practice_id.as_uuid())
    .fetch_optional(conn)
    .await?;
    let Some(row) = row else { return Ok(None) };
    // A permission name the code no longer knows grants nothing.
    let permissions = row
        .permissions
        .iter()
        .filter_map(|name| name.parse().ok())
        .collect();
    Ok(Some(Principal {
        user_id,
        practice_id,
        membership_id: MembershipId::from_uuid(row.membership_id),
        role_id: RoleId::from_uuid(row.role_id),
        role_name: row.role_name,
        permissions,
    }))
}
