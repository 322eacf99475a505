//! What can be booked besides a patient's slot: the practice's rooms, tables,
//! equipment and kennels, and the clinicians whose diaries the calendar shows.
//! Adding a resource needs `settings.manage`; reading either list needs
//! `appointments.read` (clinicians also `records.read`, for encounter forms).

use crate::{StoreError, TenantTx};
use paddock_domain::{Permission, ResourceId, ResourceKind, UserId};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A bookable room, table or piece of equipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, sqlx::FromRow)]
pub struct Resource {
    /// Its id.
    #[sqlx(try_from = "Uuid")]
    #[schema(value_type = Uuid)]
    pub id: ResourceId,
    /// Its name ("Consult room 1").
    pub name: String,
    /// `room`, `surgery_table`, `equipment` or `kennel`.
    #[sqlx(try_from = "String")]
    #[schema(value_type = String)]
    pub kind: ResourceKind,
}

/// Adds a resource (`settings.manage`).
pub async fn add(
    tx: &mut TenantTx,
    name: &str,
    kind: ResourceKind,
) -> Result<Resource, StoreError> {
    tx.require(Permission::SettingsManage)?;
    // One spelling per name, so "Theatre" and "theatre\u{a0}" are one resource.
    let name = paddock_domain::field::unique_name("name", name, 1, 100)?;
    Ok(sqlx::query_as(
        "insert into resources (practice_id, id, name, kind) values ($1, $2, $3, $4)
         returning id, name, kind",
    )
    .bind(tx.practice_id().as_uuid())
    .bind(ResourceId::new().as_uuid())
    .bind(&name)
    .bind(kind.as_str())
    .fetch_one(tx.conn())
    .await?)
}

/// The practice's live resources, by name.
pub async fn list(tx: &mut TenantTx) -> Result<Vec<Resource>, StoreError> {
    tx.require(Permission::AppointmentsRead)?;
    Ok(sqlx::query_as(
        "select id, name, kind from resources where deleted_at is null order by name",
    )
    .fetch_all(tx.conn())
    .await?)
}

/// A member who sees patients: can be booked and named as an encounter's vet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema, sqlx::FromRow)]
pub struct Clinician {
    /// Their user id (what `staff_id` and `attending_id` take).
    #[sqlx(try_from = "Uuid")]
    #[schema(value_type = Uuid)]
    pub user_id: UserId,
    /// Their name.
    pub name: String,
    /// Their role's name.
    pub role: String,
}

/// The active members whose role writes medical records (vets, nurses, admins), by
/// name; readable with `appointments.read` or `records.read`, so the front desk can
/// book them without the staff-management permission.
pub async fn clinicians(tx: &mut TenantTx) -> Result<Vec<Clinician>, StoreError> {
    if tx.require(Permission::AppointmentsRead).is_err() {
        tx.require(Permission::RecordsRead)?;
    }
    Ok(sqlx::query_as(
        "select m.user_id, u.display_name as name, r.name as role
           from memberships m
           join users u on u.id = m.user_id
           join roles r on r.practice_id = m.practice_id and r.id = m.role_id
          where m.status = 'active'
            and exists (select 1 from role_permissions g
                         where g.practice_id = m.practice_id and g.role_id = m.role_id
                           and g.permission = $1)
          order by lower(u.display_name), m.user_id",
    )
    .bind(crate::staff::members::Duty::Clinician.permission().as_str())
    .fetch_all(tx.conn())
    .await?)
}
