//! Changing and resetting passwords. Either way every other session of the person,
//! in every practice, ends, and so does every other open reset link: neither a stolen
//! session nor an old link survives a password change.
//!
//! Reset requests are limited per email and per client address (the counters live
//! here, in PostgreSQL, so every server instance shares them).

use crate::audit::{AuditAction, AuditEvent, insert_event};
use crate::identity::auth_tx::AuthTx;
use crate::identity::token::{hex, random_token, token_hash};
use crate::{Db, RequestMeta, StoreError};
use chrono::{DateTime, Duration, Utc};
use paddock_domain::{Email, PracticeId, UserId};
use uuid::Uuid;

/// How long a reset link works.
pub const RESET_LIFETIME: Duration = Duration::minutes(30);

/// Resets one email may have sent within [`RESET_LIMIT_WINDOW`].
pub const RESETS_PER_EMAIL: usize = 3;
/// Reset requests one client address may make (whatever the emails) within the window.
pub const RESETS_PER_SOURCE: usize = 10;
/// The sliding window of the reset-request limits.
pub const RESET_LIMIT_WINDOW: Duration = Duration::hours(1);

/// Counts a reset request for `email` from the address of `meta` if both are within
/// their limits; `false` (nothing counted) when either has used up its window.
async fn within_reset_limits(
    tx: &mut AuthTx,
    email: &Email,
    now: DateTime<Utc>,
    meta: &RequestMeta,
) -> Result<bool, StoreError> {
    let source = meta
        .ip
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    let keys = [
        (format!("reset-email:{}", email.as_str()), RESETS_PER_EMAIL),
        (format!("reset-source:{source}"), RESETS_PER_SOURCE),
    ];
    let mut counted = Vec::with_capacity(keys.len());
    // Always the email's row first, then the address's: one lock order for all.
    for (key, limit) in keys {
        let key = hex(&token_hash(&key));
        tx.set("app.token_hash", &key).await?;
        sqlx::query(
            "insert into reset_throttle (key_hash) values (app_token_hash()) on conflict do nothing",
        )
        .execute(tx.conn())
        .await?;
        let recent: Vec<DateTime<Utc>> = sqlx::query_scalar(
            "select recent from reset_throttle where key_hash = app_token_hash() for update",
        )
        .fetch_one(tx.conn())
        .await?;
        let mut recent: Vec<DateTime<Utc>> = recent
            .into_iter()
            .filter(|at| *at <= now && now - *at < RESET_LIMIT_WINDOW)
            .collect();
        if recent.len() >= limit {
            return Ok(false);
        }
        recent.push(now);
        counted.push((key, recent));
    }
    for (key, recent) in counted {
        tx.set("app.token_hash", &key).await?;
        sqlx::query(
            "update reset_throttle set recent = $1, updated_at = $2 where key_hash = app_token_hash()",
        )
        .bind(&recent)
        .bind(now)
        .execute(tx.conn())
        .await?;
    }
    Ok(true)
}

/// A reset requested for an existing account: `token` goes into the emailed link only.
#[derive(Debug, Clone)]
pub struct ResetRequest {
    /// The account's display name, for the email.
    pub display_name: String,
    /// The secret for the link.
    pub token: String,
}

/// Starts a reset for `email` if such an account exists and neither the email nor the
/// client address has used up its limit (the caller answers the same either way, and
/// before calling this, so nobody learns which emails are registered).
pub async fn request_reset(
    db: &Db,
    email: &Email,
    now: DateTime<Utc>,
    meta: &RequestMeta,
) -> Result<Option<ResetRequest>, StoreError> {
    let mut tx = AuthTx::begin(db.pool(), meta).await?;
    if !within_reset_limits(&mut tx, email, now, meta).await? {
        tracing::warn!(request_id = %meta.request_id, "password reset request over its limit");
        return Ok(None);
    }
    tx.set("app.user_email", email.as_str()).await?;
    let user: Option<(Uuid, String)> = sqlx::query_as(
        "select id, display_name from users where email = $1 and deleted_at is null",
    )
    .bind(email.as_str())
    .fetch_optional(tx.conn())
    .await?;
    let Some((user_id, display_name)) = user else {
        // Keep the count: an unknown email is limited exactly like a known one.
        tx.commit().await?;
        return Ok(None);
    };
    tx.set("app.auth_user_id", &user_id.to_string()).await?;
    let token = random_token();
    sqlx::query("insert into password_resets (id, user_id, token_hash, expires_at, created_at) values ($1, $2, $3, $4, $5)")
        .bind(Uuid::now_v7())
        .bind(user_id)
        .bind(token_hash(&token))
        .bind(now + RESET_LIFETIME)
        .bind(now)
        .execute(tx.conn())
        .await?;
    for practice in practices_of(&mut tx, UserId::from_uuid(user_id)).await? {
        let event = AuditEvent::on(AuditAction::PasswordResetRequest, "user", user_id);
        insert_event(tx.conn(), practice, Some(user_id), None, event, meta).await?;
    }
    tx.commit().await?;
    Ok(Some(ResetRequest {
        display_name,
        token,
    }))
}

/// Every practice the user belongs to, active or not (for audit and revocation).
async fn practices_of(tx: &mut AuthTx, user_id: UserId) -> Result<Vec<PracticeId>, StoreError> {
    tx.set("app.auth_user_id", &user_id.to_string()).await?;
    let ids: Vec<Uuid> =
        sqlx::query_scalar("select practice_id from memberships where user_id = $1")
            .bind(user_id.as_uuid())
            .fetch_all(tx.conn())
            .await?;
    Ok(ids.into_iter().map(PracticeId::from_uuid).collect())
}

/// Sets a new password hash for `user_id`, ends every session of theirs except
/// `keep_session`, and audits `action` in each of their practices.
async fn set_password(
    tx: &mut AuthTx,
    user_id: UserId,
    password_hash: &str,
    keep_session: Option<Uuid>,
    action: AuditAction,
    now: DateTime<Utc>,
    meta: &RequestMeta,
) -> Result<u64, StoreError> {
    tx.set("app.auth_user_id", &user_id.to_string()).await?;
    tx.set("app.actor_id", &user_id.to_string()).await?;
    let updated = sqlx::query("update users set password_hash = $1 where id = $2")
        .bind(password_hash)
        .bind(user_id.as_uuid())
        .execute(tx.conn())
        .await?
        .rows_affected();
    if updated != 1 {
        // Never report a password as changed when the row policy kept it.
        return Err(StoreError::NotFound("user"));
    }
    // A link asked for before this change must not set a password after it.
    sqlx::query("update password_resets set used_at = $1 where user_id = $2 and used_at is null")
        .bind(now)
        .bind(user_id.as_uuid())
        .execute(tx.conn())
        .await?;
    let mut revoked = 0;
    for practice in practices_of(tx, user_id).await? {
        tx.set("app.practice_id", &practice.to_string()).await?;
        revoked += sqlx::query(
            "update sessions set revoked_at = $1
              where user_id = $2 and revoked_at is null and id is distinct from $3",
        )
        .bind(now)
        .bind(user_id.as_uuid())
        .bind(keep_session)
        .execute(tx.conn())
        .await?
        .rows_affected();
        let event = AuditEvent::on(action, "user", user_id.as_uuid())
            .with_changes(serde_json::json!({ "password_hash": "changed" }));
        insert_event(
            tx.conn(),
            practice,
            Some(user_id.as_uuid()),
            None,
            event,
            meta,
        )
        .await?;
    }
    Ok(revoked)
}

/// The user a reset link belongs to, if it is unused and unexpired.
pub async fn reset_target(
    db: &Db,
    token: &str,
    now: DateTime<Utc>,
    meta: &RequestMeta,
) -> Result<Option<(UserId, String)>, StoreError> {
    let mut tx = AuthTx::begin(db.pool(), meta).await?;
    tx.set("app.token_hash", &hex(&token_hash(token))).await?;
    let row: Option<(Uuid, DateTime<Utc>, Option<DateTime<Utc>>)> =
        sqlx::query_as("select user_id, expires_at, used_at from password_resets where token_hash = app_token_hash()")
            .fetch_optional(tx.conn())
            .await?;
    let Some((user_id, _, _)) = row.filter(|(_, expires, used)| used.is_none() && *expires > now)
    else {
        return Ok(None);
    };
    tx.set("app.auth_user_id", &user_id.to_string()).await?;
    let email: String = sqlx::query_scalar("select email from users where id = $1")
        .bind(user_id)
        .fetch_one(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(Some((UserId::from_uuid(user_id), email)))
}

/// Completes a reset: uses the link (once), sets the new password hash and ends every
/// session of the person. `None` if the link is unknown, used or expired.
pub async fn complete_reset(
    db: &Db,
    token: &str,
    password_hash: &str,
    now: DateTime<Utc>,
    meta: &RequestMeta,
) -> Result<Option<UserId>, StoreError> {
    let mut tx = AuthTx::begin(db.pool(), meta).await?;
    tx.set("app.token_hash", &hex(&token_hash(token))).await?;
    let used: Option<Uuid> = sqlx::query_scalar(
        "update password_resets set used_at = $1
          where token_hash = app_token_hash() and used_at is null and expires_at > $1
          returning user_id",
    )
    .bind(now)
    .fetch_optional(tx.conn())
    .await?;
    let Some(user_id) = used.map(UserId::from_uuid) else {
        return Ok(None);
    };
    set_password(
        &mut tx,
        user_id,
        password_hash,
        None,
        AuditAction::PasswordReset,
        now,
        meta,
    )
    .await?;
    tx.commit().await?;
    Ok(Some(user_id))
}

/// Changes the password of a signed-in person (current password already verified by
/// the caller); ends their other sessions everywhere, keeping `current_session`.
pub async fn change(
    db: &Db,
    user_id: UserId,
    current_session: Uuid,
    password_hash: &str,
    now: DateTime<Utc>,
    meta: &RequestMeta,
) -> Result<u64, StoreError> {
    let mut tx = AuthTx::begin(db.pool(), meta).await?;
    let revoked = set_password(
        &mut tx,
        user_id,
        password_hash,
        Some(current_session),
        AuditAction::PasswordChange,
        now,
        meta,
    )
    .await?;
    tx.commit().await?;
    Ok(revoked)
}
