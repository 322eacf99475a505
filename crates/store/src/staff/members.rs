//! Staff memberships of a practice.

use crate::{StoreError, TenantTx};
use paddock_domain::{MembershipId, MembershipStatus, Permission, PracticeZone, RoleId, UserId};
use uuid::Uuid;

/// A member of the practice as the staff list shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The membership.
    pub membership_id: MembershipId,
    /// The person.
    pub user_id: UserId,
    /// Their sign-in email.
    pub email: String,
    /// Their display name.
    pub display_name: String,
    /// Their role in this practice.
    pub role_id: RoleId,
    /// That role's name.
    pub role_name: String,
    /// Whether they may act.
    pub status: MembershipStatus,
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    membership_id: Uuid,
    user_id: Uuid,
    email: String,
    display_name: String,
    role_id: Uuid,
    role_name: String,
    status: String,
}

/// Every member of the practice, by name (staff managers only).
pub async fn list(tx: &mut TenantTx) -> Result<Vec<Member>, StoreError> {
    tx.require(Permission::StaffManage)?;
    let rows: Vec<MemberRow> = sqlx::query_as(
        "select m.id as membership_id, u.id as user_id, u.email, u.display_name,
                r.id as role_id, r.name as role_name, m.status
           from memberships m
           join users u on u.id = m.user_id
           join roles r on r.practice_id = m.practice_id and r.id = m.role_id
          order by u.display_name, u.email",
    )
    .fetch_all(tx.conn())
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok(Member {
                membership_id: MembershipId::from_uuid(row.membership_id),
                user_id: UserId::from_uuid(row.user_id),
                email: row.email,
                display_name: row.display_name,
                role_id: RoleId::from_uuid(row.role_id),
                role_name: row.role_name,
                status: row
                    .status
                    .parse()
                    .map_err(|_| StoreError::NotFound("membership status"))?,
            })
        })
        .collect()
}

/// Who the principal is, for `GET /me`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    /// The user's email.
    pub email: String,
    /// The user's display name.
    pub display_name: String,
    /// The practice's name.
    pub practice_name: String,
    /// The practice's time zone, which its pages show times in.
    pub time_zone: PracticeZone,
}

/// The acting member's own identity and practice (no permission needed: it is theirs).
pub async fn me(tx: &mut TenantTx) -> Result<Me, StoreError> {
    let crate::tenant::Actor::Member(principal) = tx.actor().clone() else {
        return Err(StoreError::NotFound("member"));
    };
    let row: Option<(String, String, String, Option<String>)> = sqlx::query_as(
        "select u.email, u.display_name, p.name, s.time_zone
           from users u
           join practices p on p.id = $2
           left join practice_settings s on s.practice_id = p.id
          where u.id = $1",
    )
    .bind(principal.user_id().as_uuid())
    .bind(principal.practice_id().as_uuid())
    .fetch_optional(tx.conn())
    .await?;
    let (email, display_name, practice_name, time_zone) =
        row.ok_or(StoreError::NotFound("member"))?;
    Ok(Me {
        email,
        display_name,
        practice_name,
        time_zone: time_zone
            .as_deref()
            .map_or(PracticeZone::UTC, crate::staff::time_zone::stored),
    })
}

/// The acting member's password hash, for re-authentication.
pub async fn own_password_hash(tx: &mut TenantTx) -> Result<Option<String>, StoreError> {
    let crate::tenant::Actor::Member(principal) = tx.actor().clone() else {
        return Ok(None);
    };
    let hash: Option<Option<String>> =
        sqlx::query_scalar("select password_hash from users where id = $1")
            .bind(principal.user_id().as_uuid())
            .fetch_optional(tx.conn())
            .await?;
    Ok(hash.flatten())
}

/// What a member named on a clinical record or a booking must be able to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duty {
    /// Sees patients: attends an encounter, gives a vaccine, is booked. A clinician is
    /// a member whose role writes medical records (the `/api/v1/clinicians` list).
    Clinician,
    /// Prescribes: a vet, i.e. a member whose role may finalise (sign) records;
    /// technicians record but do not prescribe.
    Prescriber,
}

impl Duty {
    /// The permission the member's role must grant.
    pub const fn permission(self) -> Permission {
        match self {
            Duty::Clinician => Permission::RecordsWrite,
            Duty::Prescriber => Permission::RecordsFinalise,
        }
    }

    fn refusal(self) -> &'static str {
        match self {
            Duty::Clinician => {
                "is not an active clinician of this practice (see /api/v1/clinicians)"
            }
            Duty::Prescriber => {
                "is not an active vet of this practice (prescribing needs a role that may finalise records)"
            }
        }
    }
}

/// Refuses, as a field error on `field`, a user who is not an active member of this
/// practice whose role carries `duty`'s permission. Every store function that names a
/// member on a record or a booking asks here, so pages and API agree.
pub(crate) async fn require_duty(
    tx: &mut TenantTx,
    user: UserId,
    duty: Duty,
    field: &'static str,
) -> Result<(), StoreError> {
    let able: bool = sqlx::query_scalar(
        "select exists (
           select 1 from memberships m
             join role_permissions g on g.practice_id = m.practice_id and g.role_id = m.role_id
            where m.user_id = $1 and m.status = 'active' and g.permission = $2)",
    )
    .bind(user.as_uuid())
    .bind(duty.permission().as_str())
    .fetch_one(tx.conn())
    .await?;
    if able {
        Ok(())
    } else {
        Err(paddock_domain::FieldError::new(field, duty.refusal()).into())
    }
}
