//! Sign-in: the account behind an email, the practices it may enter, and the
//! failure counter that locks it (unknown emails are counted and locked the same way).

use crate::audit::{AuditEvent, insert_event};
use crate::auth_tx::AuthTx;
use crate::token::{hex, token_hash};
use crate::{Db, RequestMeta, StoreError};
use chrono::{DateTime, Duration, Utc};
use paddock_domain::{Email, FailureRecord, LockoutPolicy, PracticeId, SessionPolicy, UserId};
use uuid::Uuid;

/// A practice the person may sign in to, with its sign-in settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PracticeOption {
    /// The practice.
    pub practice_id: PracticeId,
    /// Its name, for the picker.
    pub name: String,
    /// Its session lifetimes.
    pub sessions: SessionPolicy,
    /// Its lockout rule.
    pub lockout: LockoutPolicy,
    /// Whether its staff must use a second factor.
    pub require_second_factor: bool,
}

/// An existing account.
#[derive(Debug, Clone)]
pub struct Account {
    /// The person.
    pub user_id: UserId,
    /// Their argon2id PHC string, if they have set a password.
    pub password_hash: Option<String>,
    /// Practices with an active membership, by name.
    pub practices: Vec<PracticeOption>,
}

/// What a sign-in attempt starts from.
#[derive(Debug, Clone)]
pub struct SignIn {
    /// The account, if the email is registered.
    pub account: Option<Account>,
    /// The failure record for this email.
    pub record: FailureRecord,
    /// The lockout rule that applies (the strictest of the account's practices).
    pub lockout: LockoutPolicy,
}

fn throttle_key(email: &Email) -> String {
    hex(&token_hash(&format!("sign-in:{}", email.as_str())))
}

#[derive(sqlx::FromRow)]
struct OptionRow {
    id: Uuid,
    name: String,
    lockout_threshold: Option<i32>,
    lockout_window_minutes: Option<i32>,
    lockout_minutes: Option<i32>,
    session_idle_minutes: Option<i32>,
    session_absolute_minutes: Option<i32>,
    temporary_session_minutes: Option<i32>,
    require_second_factor: Option<bool>,
}

impl From<OptionRow> for PracticeOption {
    fn from(row: OptionRow) -> Self {
        let lockout_default = LockoutPolicy::default();
        let session_default = SessionPolicy::default();
        let minutes = |value: Option<i32>, default: Duration| {
            value.map_or(default, |m| Duration::minutes(i64::from(m)))
        };
        PracticeOption {
            practice_id: PracticeId::from_uuid(row.id),
            name: row.name,
            lockout: LockoutPolicy {
                threshold: row
                    .lockout_threshold
                    .and_then(|t| u32::try_from(t).ok())
                    .unwrap_or(lockout_default.threshold),
                window: minutes(row.lockout_window_minutes, lockout_default.window),
                lock_for: minutes(row.lockout_minutes, lockout_default.lock_for),
            },
            sessions: SessionPolicy {
                idle: minutes(row.session_idle_minutes, session_default.idle),
                absolute: minutes(row.session_absolute_minutes, session_default.absolute),
                temporary_absolute: minutes(
                    row.temporary_session_minutes,
                    session_default.temporary_absolute,
                ),
            },
            require_second_factor: row.require_second_factor.unwrap_or(false),
        }
    }
}

/// The practices `user_id` has an active membership of; the transaction must have
/// named the user in `app.auth_user_id`.
async fn practices_of(tx: &mut AuthTx, user_id: UserId) -> Result<Vec<PracticeOption>, StoreError> {
    tx.set("app.auth_user_id", &user_id.to_string()).await?;
    let rows: Vec<OptionRow> = sqlx::query_as(
        "select p.id, p.name, s.lockout_threshold, s.lockout_window_minutes, s.lockout_minutes,
                s.session_idle_minutes, s.session_absolute_minutes, s.temporary_session_minutes,
                s.require_second_factor
           from memberships m
           join practices p on p.id = m.practice_id and p.deleted_at is null
           left join practice_settings s on s.practice_id = p.id
          where m.user_id = $1 and m.status = 'active'
          order by p.name, p.id",
    )
    .bind(user_id.as_uuid())
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.into_iter().map(PracticeOption::from).collect())
}

#[derive(sqlx::FromRow)]
struct RecordRow {
    recent_failures: Vec<DateTime<Utc>>,
    locked_until: Option<DateTime<Utc>>,
}

impl From<RecordRow> for FailureRecord {
    fn from(row: RecordRow) -> Self {
        FailureRecord {
            recent: row.recent_failures,
            locked_until: row.locked_until,
        }
    }
}

/// Looks up everything a sign-in attempt for `email` needs.
pub async fn lookup(db: &Db, email: &Email, meta: &RequestMeta) -> Result<SignIn, StoreError> {
    let mut tx = AuthTx::begin(db.pool(), meta).await?;
    tx.set("app.token_hash", &throttle_key(email)).await?;
    tx.set("app.user_email", email.as_str()).await?;
    let record: FailureRecord = sqlx::query_as::<_, RecordRow>(
        "select recent_failures, locked_until from login_throttle
          where email_hash = app_token_hash()",
    )
    .fetch_optional(tx.conn())
    .await?
    .map(FailureRecord::from)
    .unwrap_or_default();
    let user: Option<(Uuid, Option<String>)> = sqlx::query_as(
        "select id, password_hash from users where email = $1 and deleted_at is null",
    )
    .bind(email.as_str())
    .fetch_optional(tx.conn())
    .await?;
    let account = match user {
        Some((id, password_hash)) => {
            let user_id = UserId::from_uuid(id);
            let practices = practices_of(&mut tx, user_id).await?;
            Some(Account {
                user_id,
                password_hash,
                practices,
            })
        }
        None => None,
    };
    tx.commit().await?;
    let lockout = LockoutPolicy::strictest(
        account
            .iter()
            .flat_map(|a| a.practices.iter().map(|p| p.lockout)),
    );
    Ok(SignIn {
        account,
        record,
        lockout,
    })
}

/// The practices `user_id` may enter now (for switching practice).
pub async fn practices_for(
    db: &Db,
    user_id: UserId,
    meta: &RequestMeta,
) -> Result<Vec<PracticeOption>, StoreError> {
    let mut tx = AuthTx::begin(db.pool(), meta).await?;
    let practices = practices_of(&mut tx, user_id).await?;
    tx.commit().await?;
    Ok(practices)
}

/// Counts a failed attempt; returns when the account is locked until, if this failure
/// locked it. The account's practices get `login_failed` (and `lockout`) events.
pub async fn record_failure(
    db: &Db,
    email: &Email,
    sign_in: &SignIn,
    now: DateTime<Utc>,
    meta: &RequestMeta,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let mut tx = AuthTx::begin(db.pool(), meta).await?;
    tx.set("app.token_hash", &throttle_key(email)).await?;
    // Serialise concurrent failures for one email on its row.
    sqlx::query(
        "insert into login_throttle (email_hash) values (app_token_hash()) on conflict do nothing",
    )
    .execute(tx.conn())
    .await?;
    let before: FailureRecord = sqlx::query_as::<_, RecordRow>(
        "select recent_failures, locked_until from login_throttle
          where email_hash = app_token_hash() for update",
    )
    .fetch_one(tx.conn())
    .await?
    .into();
    let after = before.clone().after_failure(&sign_in.lockout, now);
    sqlx::query(
        "update login_throttle set recent_failures = $1, locked_until = $2, updated_at = $3
          where email_hash = app_token_hash()",
    )
    .bind(&after.recent)
    .bind(after.locked_until)
    .bind(now)
    .execute(tx.conn())
    .await?;
    let newly_locked = after
        .locked_at(now)
        .filter(|_| before.locked_at(now).is_none());
    if let Some(account) = &sign_in.account {
        for practice in &account.practices {
            let subject = Some(account.user_id.as_uuid());
            let failed = AuditEvent::on("login_failed", "user", account.user_id.as_uuid());
            insert_event(tx.conn(), practice.practice_id, subject, None, failed, meta).await?;
            if let Some(until) = newly_locked {
                let locked = AuditEvent::on("lockout", "user", account.user_id.as_uuid())
                    .with_changes(serde_json::json!({ "locked_until": until }));
                insert_event(tx.conn(), practice.practice_id, subject, None, locked, meta).await?;
            }
        }
    } else {
        tracing::warn!(request_id = %meta.request_id, "sign-in failed for an unknown email");
    }
    tx.commit().await?;
    Ok(newly_locked)
}

/// Forgets the failures of `email` after a successful sign-in.
pub async fn clear_failures(db: &Db, email: &Email, meta: &RequestMeta) -> Result<(), StoreError> {
    let mut tx = AuthTx::begin(db.pool(), meta).await?;
    tx.set("app.token_hash", &throttle_key(email)).await?;
    sqlx::query("delete from login_throttle where email_hash = app_token_hash()")
        .execute(tx.conn())
        .await?;
    tx.commit().await
}
