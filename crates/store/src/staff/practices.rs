//! Practices: creating one with its built-in roles and first admin.

use crate::{AdminDb, StoreError, TenantTx};
use paddock_domain::{
    BuiltinRole, DisplayName, Email, FieldError, MembershipId, PracticeId, PracticeName, RoleId,
    UserId,
};
use paddock_passwords::{NewPassword, PasswordHasher};
use uuid::Uuid;

/// What a new practice needs: its name and its first admin.
#[derive(Debug)]
pub struct NewPractice {
    /// The practice's name.
    pub name: PracticeName,
    /// The first admin's email; an existing user with it is linked, not recreated.
    pub admin_email: Email,
    /// The first admin's display name (used only if the user is new).
    pub admin_name: DisplayName,
    /// The first admin's password (used only if the user is new).
    pub admin_password: NewPassword,
    /// Whether an existing account with the admin email may be linked; if not, such an
    /// account is a conflict and nothing is created.
    pub link_existing_user: bool,
}

/// The ids of a created practice and its admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreatedPractice {
    /// The new practice.
    pub practice_id: PracticeId,
    /// Its admin.
    pub user_id: UserId,
    /// Whether the admin already had an account (their password was left unchanged).
    pub existing_user: bool,
}

/// Creates a practice, its five built-in roles and its first admin, in one transaction.
pub async fn create(
    admin: &AdminDb,
    hasher: &PasswordHasher,
    new: NewPractice,
) -> Result<CreatedPractice, StoreError> {
    // Hash before the transaction: argon2 is deliberately slow.
    let password_hash = hasher
        .hash(&new.admin_password)
        .await
        .map_err(|_| StoreError::PasswordHash)?;
    let practice_id = PracticeId::new();
    let mut tx = admin.begin_system(practice_id).await?;
    sqlx::query("insert into practices (id, name) values ($1, $2)")
        .bind(practice_id.as_uuid())
        .bind(new.name.as_str())
        .execute(tx.conn())
        .await?;
    sqlx::query("insert into practice_settings (practice_id) values ($1)")
        .bind(practice_id.as_uuid())
        .execute(tx.conn())
        .await?;
    let mut admin_role = None;
    for role in BuiltinRole::ALL {
        let role_id = insert_builtin_role(&mut tx, role).await?;
        if role == BuiltinRole::PracticeAdmin {
            admin_role = Some(role_id);
        }
    }
    let admin_role = admin_role.ok_or(StoreError::NotFound("practice admin role"))?;
    let (user_id, existing_user) =
        find_or_create_user(&mut tx, &new.admin_email, &new.admin_name, &password_hash).await?;
    if existing_user && !new.link_existing_user {
        tx.rollback().await?;
        return Err(StoreError::Conflict(FieldError::new(
            "admin_email",
            "is already registered",
        )));
    }
    sqlx::query(
        "insert into memberships (practice_id, id, user_id, role_id) values ($1, $2, $3, $4)",
    )
    .bind(practice_id.as_uuid())
    .bind(MembershipId::new().as_uuid())
    .bind(user_id.as_uuid())
    .bind(admin_role.as_uuid())
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(CreatedPractice {
        practice_id,
        user_id,
        existing_user,
    })
}

async fn insert_builtin_role(tx: &mut TenantTx, role: BuiltinRole) -> Result<RoleId, StoreError> {
    let role_id = RoleId::new();
    let practice_id = tx.practice_id();
    sqlx::query("insert into roles (practice_id, id, name, builtin_key) values ($1, $2, $3, $4)")
        .bind(practice_id.as_uuid())
        .bind(role_id.as_uuid())
        .bind(role.name())
        .bind(role.key())
        .execute(tx.conn())
        .await?;
    let permissions: Vec<&str> = role.permissions().iter().map(|p| p.as_str()).collect();
    sqlx::query(
        "insert into role_permissions (practice_id, role_id, permission)
         select $1, $2, unnest($3::text[])",
    )
    .bind(practice_id.as_uuid())
    .bind(role_id.as_uuid())
    .bind(&permissions)
    .execute(tx.conn())
    .await?;
    Ok(role_id)
}

/// Finds the user with `email` or creates one; `true` when the user already existed.
pub(crate) async fn find_or_create_user(
    tx: &mut TenantTx,
    email: &Email,
    name: &DisplayName,
    password_hash: &str,
) -> Result<(UserId, bool), StoreError> {
    tx.allow_user_lookup(email.as_str()).await?;
    let existing: Option<Uuid> = sqlx::query_scalar("select id from users where email = $1")
        .bind(email.as_str())
        .fetch_optional(tx.conn())
        .await?;
    if let Some(id) = existing {
        return Ok((UserId::from_uuid(id), true));
    }
    let user_id = UserId::new();
    sqlx::query(
        "insert into users (id, email, display_name, password_hash) values ($1, $2, $3, $4)",
    )
    .bind(user_id.as_uuid())
    .bind(email.as_str())
    .bind(name.as_str())
    .bind(password_hash)
    .execute(tx.conn())
    .await?;
    Ok((user_id, false))
}
