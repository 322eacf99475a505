//! Roles of a practice and the permissions they grant.

use crate::{StoreError, TenantTx};
use paddock_domain::{BuiltinRole, Permission, PermissionSet, RoleId};
use uuid::Uuid;

/// A role as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// Its id.
    pub id: RoleId,
    /// Its name, unique in the practice.
    pub name: String,
    /// Which built-in role it is, if it is one.
    pub builtin: Option<BuiltinRole>,
    /// What it grants.
    pub permissions: PermissionSet,
}

#[derive(sqlx::FromRow)]
struct RoleRow {
    id: Uuid,
    name: String,
    builtin_key: Option<String>,
    permissions: Vec<String>,
}

/// Every live role of the practice, built-in roles first (staff managers only).
pub async fn list(tx: &mut TenantTx) -> Result<Vec<Role>, StoreError> {
    tx.require(Permission::StaffManage)?;
    let rows: Vec<RoleRow> = sqlx::query_as(
        "select r.id, r.name, r.builtin_key,
                coalesce(array_agg(rp.permission order by rp.permission)
                         filter (where rp.permission is not null), '{}') as permissions
           from roles r
           left join role_permissions rp on rp.practice_id = r.practice_id and rp.role_id = r.id
          where r.deleted_at is null
          group by r.id, r.name, r.builtin_key
          order by r.builtin_key is null, r.name",
    )
    .fetch_all(tx.conn())
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Role {
            id: RoleId::from_uuid(row.id),
            name: row.name,
            builtin: row.builtin_key.as_deref().and_then(BuiltinRole::from_key),
            permissions: row
                .permissions
                .iter()
                .filter_map(|p| p.parse().ok())
                .collect(),
        })
        .collect())
}

/// One live role of the practice; another practice's role is not found.
pub async fn find(tx: &mut TenantTx, id: RoleId) -> Result<Option<Role>, StoreError> {
    let row: Option<RoleRow> = sqlx::query_as(
        "select r.id, r.name, r.builtin_key,
                coalesce(array_agg(rp.permission order by rp.permission)
                         filter (where rp.permission is not null), '{}') as permissions
           from roles r
           left join role_permissions rp on rp.practice_id = r.practice_id and rp.role_id = r.id
          where r.id = $1 and r.deleted_at is null
          group by r.id, r.name, r.builtin_key",
    )
    .bind(id.as_uuid())
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.map(|row| Role {
        id: RoleId::from_uuid(row.id),
        name: row.name,
        builtin: row.builtin_key.as_deref().and_then(BuiltinRole::from_key),
        permissions: row
            .permissions
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect(),
    }))
}
