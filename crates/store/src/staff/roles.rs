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

impl From<RoleRow> for Role {
    fn from(row: RoleRow) -> Self {
        Role {
            id: RoleId::from_uuid(row.id),
            name: row.name,
            builtin: row.builtin_key.as_deref().and_then(BuiltinRole::from_key),
            permissions: row
                .permissions
                .iter()
                .filter_map(|p| p.parse().ok())
                .collect(),
        }
    }
}

/// A role's columns and its permissions, from roles `r` (each query groups by `r.id, r.name, r.builtin_key`).
const ROLE_SELECT: &str = "select r.id, r.name, r.builtin_key,
                coalesce(array_agg(rp.permission order by rp.permission)
                         filter (where rp.permission is not null), '{}') as permissions
           from roles r
           left join role_permissions rp on rp.practice_id = r.practice_id and rp.role_id = r.id";

/// Every live role of the practice, built-in roles first (staff managers only).
pub async fn list(tx: &mut TenantTx) -> Result<Vec<Role>, StoreError> {
    tx.require(Permission::StaffManage)?;
    let rows: Vec<RoleRow> = sqlx::query_as(&format!(
        "{ROLE_SELECT}
          where r.deleted_at is null
          group by r.id, r.name, r.builtin_key
          order by r.builtin_key is null, r.name"
    ))
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().map(Role::from).collect())
}

/// One live role of the practice; another practice's role is not found.
pub async fn find(tx: &mut TenantTx, id: RoleId) -> Result<Option<Role>, StoreError> {
    let row: Option<RoleRow> = sqlx::query_as(&format!(
        "{ROLE_SELECT}
          where r.id = $1 and r.deleted_at is null
          group by r.id, r.name, r.builtin_key"
    ))
    .bind(id.as_uuid())
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.map(Role::from))
}

/// A custom role's definition.
#[derive(Debug, Clone)]
pub struct RoleDefinition {
    /// Its name (1 to 100 characters, unique in the practice).
    pub name: String,
    /// What it grants.
    pub permissions: PermissionSet,
}

/// Checks the actor may define a role granting `permissions` (they hold them all).
fn require_holds(tx: &TenantTx, permissions: &PermissionSet) -> Result<(), StoreError> {
    tx.require(Permission::StaffManage)?;
    if let crate::tenant::Actor::Member(principal) = tx.actor()
        && let Some(missing) = permissions
            .iter()
            .find(|p| !principal.permissions().contains(*p))
    {
        return Err(StoreError::Forbidden(missing));
    }
    Ok(())
}

async fn write_permissions(
    tx: &mut TenantTx,
    role: RoleId,
    permissions: &PermissionSet,
) -> Result<(), StoreError> {
    sqlx::query("delete from role_permissions where role_id = $1")
        .bind(role.as_uuid())
        .execute(tx.conn())
        .await?;
    let names: Vec<&str> = permissions.iter().map(|p| p.as_str()).collect();
    sqlx::query("insert into role_permissions (practice_id, role_id, permission) select $1, $2, unnest($3::text[])")
        .bind(tx.practice_id().as_uuid())
        .bind(role.as_uuid())
        .bind(&names)
        .execute(tx.conn())
        .await?;
    Ok(())
}

fn names(permissions: &PermissionSet) -> Vec<&'static str> {
    permissions.iter().map(|p| p.as_str()).collect()
}

/// The definition with its name in the one spelling stored (NFKC, single spaces), so
/// a look-alike of a taken name meets the case-insensitive unique index.
fn normalised(definition: &RoleDefinition) -> Result<RoleDefinition, StoreError> {
    Ok(RoleDefinition {
        name: paddock_domain::field::unique_name("name", &definition.name, 1, 100)?,
        permissions: definition.permissions.clone(),
    })
}

/// Creates a custom role (staff managers only, granting only what they hold).
pub async fn create(tx: &mut TenantTx, definition: &RoleDefinition) -> Result<Role, StoreError> {
    require_holds(tx, &definition.permissions)?;
    let definition = &normalised(definition)?;
    let id = RoleId::new();
    sqlx::query("insert into roles (practice_id, id, name) values ($1, $2, $3)")
        .bind(tx.practice_id().as_uuid())
        .bind(id.as_uuid())
        .bind(&definition.name)
        .execute(tx.conn())
        .await?;
    write_permissions(tx, id, &definition.permissions).await?;
    let event =
        crate::audit::AuditEvent::on(crate::audit::AuditAction::RoleCreate, "role", id.as_uuid())
            .with_changes(serde_json::json!({
                "name": definition.name,
                "permissions": names(&definition.permissions),
            }));
    crate::audit::record(tx, event, None).await?;
    Ok(Role {
        id,
        name: definition.name.clone(),
        builtin: None,
        permissions: definition.permissions.clone(),
    })
}

/// Redefines a custom role (built-in roles are fixed); the actor must hold every
/// permission of both the old and the new definition. Members holding the role get
/// the new permissions on their next request.
pub async fn update(
    tx: &mut TenantTx,
    id: RoleId,
    definition: &RoleDefinition,
) -> Result<Role, StoreError> {
    let old = find(tx, id).await?.ok_or(StoreError::NotFound("role"))?;
    require_holds(tx, &old.permissions)?;
    require_holds(tx, &definition.permissions)?;
    let definition = &normalised(definition)?;
    if old.builtin.is_some() {
        return Err(StoreError::Conflict(paddock_domain::FieldError::new(
            "role_id",
            "built-in roles cannot be changed; create a custom role instead",
        )));
    }
    sqlx::query("update roles set name = $1 where id = $2")
        .bind(&definition.name)
        .bind(id.as_uuid())
        .execute(tx.conn())
        .await?;
    write_permissions(tx, id, &definition.permissions).await?;
    let event =
        crate::audit::AuditEvent::on(crate::audit::AuditAction::RoleUpdate, "role", id.as_uuid())
            .with_changes(serde_json::json!({
                "name": [old.name, definition.name],
                "permissions": [names(&old.permissions), names(&definition.permissions)],
            }));
    crate::audit::record(tx, event, None).await?;
    Ok(Role {
        id,
        name: definition.name.clone(),
        builtin: None,
        permissions: definition.permissions.clone(),
    })
}
