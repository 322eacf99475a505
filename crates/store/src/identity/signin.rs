//! Sign-in: the account behind an email, the practices it may enter, and the
//! failure counters that lock it (unknown emails are counted and locked the same way).
//!
//! Failures are counted twice: per account and client address (locked at the policy's
//! threshold) and per account (locked for everyone only at a multiple of it), so a
//! flood from one address cannot lock the owner out from another. One policy, the
//! strictest in force in any practice, applies to every email, known or not. A locked
//! account's owner is mailed a single-use link that lifts the lock.

use crate::audit::{AuditAction, AuditEvent, insert_event};
use crate::identity::auth_tx::AuthTx;
use crate::identity::token::{hex, random_token, token_hash};
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
    /// The record that decides now: locked while this address or the whole account is.
    pub record: FailureRecord,
    /// The lockout rule that applies (the strictest in force, for every email alike).
    pub lockout: LockoutPolicy,
}

/// How long an emailed unlock link works.
pub const UNLOCK_LIFETIME: Duration = Duration::hours(1);

/// The counter of every failure for `email`, whatever their source.
fn account_key(email: &str) -> String {
    hex(&token_hash(&format!("sign-in:{email}")))
}

/// The counter of failures for `email` from the client address of `meta`.
fn source_key(email: &str, meta: &RequestMeta) -> String {
    let source = meta
        .ip
        .map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
    hex(&token_hash(&format!("sign-in:{email}|source:{source}")))
}

/// The lockout policy in force for every sign-in: the strictest of all practices'.
async fn lockout_in_force(tx: &mut AuthTx) -> Result<LockoutPolicy, StoreError> {
    let (threshold, window, lock): (Option<i32>, Option<i32>, Option<i32>) =
        sqlx::query_as("select threshold, window_minutes, lock_minutes from lockout_in_force()")
            .fetch_one(tx.conn())
            .await?;
    let default = LockoutPolicy::default();
    let minutes = |value: Option<i32>| value.map(|m| Duration::minutes(i64::from(m)));
    Ok(LockoutPolicy {
        threshold: threshold
            .and_then(|t| u32::try_from(t).ok())
            .unwrap_or(default.threshold),
        window: minutes(window).unwrap_or(default.window),
        lock_for: minutes(lock).unwrap_or(default.lock_for),
    })
}

async fn read_record(tx: &mut AuthTx, key: &str) -> Result<FailureRecord, StoreError> {
    tx.set("app.token_hash", key).await?;
    Ok(sqlx::query_as::<_, RecordRow>(
        "select recent_failures, locked_until from login_throttle
          where email_hash = app_token_hash()",
    )
    .fetch_optional(tx.conn())
    .await?
    .map(FailureRecord::from)
    .unwrap_or_default())
}

/// Counts one failure on the row `key` under `policy`; returns the record before and after.
async fn count_failure(
    tx: &mut AuthTx,
    key: &str,
    scope: &str,
    policy: &LockoutPolicy,
    now: DateTime<Utc>,
) -> Result<(FailureRecord, FailureRecord), StoreError> {
    tx.set("app.token_hash", key).await?;
    // Serialise concurrent failures for one key on its row.
    sqlx::query(
        "insert into login_throttle (email_hash, scope) values (app_token_hash(), $1)
         on conflict do nothing",
    )
    .bind(scope)
    .execute(tx.conn())
    .await?;
    let before: FailureRecord = sqlx::query_as::<_, RecordRow>(
        "select recent_failures, locked_until from login_throttle
          where email_hash = app_token_hash() for update",
    )
    .fetch_one(tx.conn())
    .await?
    .into();
    let after = before.clone().after_failure(policy, now);
    sqlx::query(
        "update login_throttle set recent_failures = $1, locked_until = $2, updated_at = $3
          where email_hash = app_token_hash()",
    )
    .bind(&after.recent)
    .bind(after.locked_until)
    .bind(now)
    .execute(tx.conn())
    .await?;
    Ok((before, after))
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
    let source = read_record(&mut tx, &source_key(email.as_str(), meta)).await?;
    let whole = read_record(&mut tx, &account_key(email.as_str())).await?;
    let record = FailureRecord {
        locked_until: source.locked_until.max(whole.locked_until),
        recent: source.recent,
    };
    let lockout = lockout_in_force(&mut tx).await?;
    tx.set("app.user_email", email.as_str()).await?;
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

/// Counts a failed attempt, from this address and for the account; returns when the
/// lock ends, if this failure locked either. The account's practices get
/// `login_failed` (and `lockout`) events.
pub async fn record_failure(
    db: &Db,
    email: &Email,
    sign_in: &SignIn,
    now: DateTime<Utc>,
    meta: &RequestMeta,
) -> Result<Option<DateTime<Utc>>, StoreError> {
    let mut tx = AuthTx::begin(db.pool(), meta).await?;
    // Always the account's row first, then the source's: one lock order for all.
    let wide = sign_in.lockout.account_wide();
    let (whole_before, whole_after) =
        count_failure(&mut tx, &account_key(email.as_str()), "account", &wide, now).await?;
    let (source_before, source_after) = count_failure(
        &mut tx,
        &source_key(email.as_str(), meta),
        "source",
        &sign_in.lockout,
        now,
    )
    .await?;
    let newly = |before: &FailureRecord, after: &FailureRecord| {
        after
            .locked_at(now)
            .filter(|_| before.locked_at(now).is_none())
    };
    let locks = [
        ("account", newly(&whole_before, &whole_after)),
        ("source", newly(&source_before, &source_after)),
    ];
    if let Some(account) = &sign_in.account {
        for practice in &account.practices {
            let subject = Some(account.user_id.as_uuid());
            let failed =
                AuditEvent::on(AuditAction::LoginFailed, "user", account.user_id.as_uuid());
            insert_event(tx.conn(), practice.practice_id, subject, None, failed, meta).await?;
            for (scope, until) in locks {
                if let Some(until) = until {
                    let locked =
                        AuditEvent::on(AuditAction::Lockout, "user", account.user_id.as_uuid())
                            .with_changes(
                                serde_json::json!({ "locked_until": until, "scope": scope }),
                            );
                    insert_event(tx.conn(), practice.practice_id, subject, None, locked, meta)
                        .await?;
                }
            }
        }
    } else {
        tracing::warn!(request_id = %meta.request_id, "sign-in failed for an unknown email");
    }
    tx.commit().await?;
    Ok(locks.iter().filter_map(|(_, until)| *until).max())
}

/// Forgets the failures of `email` from this address after a successful sign-in. The
/// account-wide count is left to expire with its window: one good sign-in must not
/// give a flood from elsewhere a fresh allowance.
pub async fn clear_failures(db: &Db, email: &Email, meta: &RequestMeta) -> Result<(), StoreError> {
    let mut tx = AuthTx::begin(db.pool(), meta).await?;
    tx.set("app.token_hash", &source_key(email.as_str(), meta))
        .await?;
    sqlx::query("delete from login_throttle where email_hash = app_token_hash()")
        .execute(tx.conn())
        .await?;
    tx.commit().await
}

/// An unlock link to mail to a locked account's owner: `token` goes into the link only.
#[derive(Debug, Clone)]
pub struct UnlockLink {
    /// Where to send it.
    pub email: String,
    /// The owner's display name, for the mail.
    pub display_name: String,
    /// The secret for the link.
    pub token: String,
}

/// Issues an unlock link for `user_id`, unless one is still open (so a flood that
/// keeps locking the account does not flood the owner's inbox too).
pub async fn issue_unlock(
    db: &Db,
    user_id: UserId,
    now: DateTime<Utc>,
    meta: &RequestMeta,
) -> Result<Option<UnlockLink>, StoreError> {
    let mut tx = AuthTx::begin(db.pool(), meta).await?;
    tx.set("app.auth_user_id", &user_id.to_string()).await?;
    let open: bool = sqlx::query_scalar(
        "select exists (select 1 from account_unlocks
                         where user_id = $1 and used_at is null and expires_at > $2)",
    )
    .bind(user_id.as_uuid())
    .bind(now)
    .fetch_one(tx.conn())
    .await?;
    if open {
        return Ok(None);
    }
    let Some((email, display_name)) = sqlx::query_as::<_, (String, String)>(
        "select email, display_name from users where id = $1 and deleted_at is null",
    )
    .bind(user_id.as_uuid())
    .fetch_optional(tx.conn())
    .await?
    else {
        return Ok(None);
    };
    let token = random_token();
    sqlx::query(
        "insert into account_unlocks (id, user_id, token_hash, expires_at, created_at)
         values ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::now_v7())
    .bind(user_id.as_uuid())
    .bind(token_hash(&token))
    .bind(now + UNLOCK_LIFETIME)
    .bind(now)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(Some(UnlockLink {
        email,
        display_name,
        token,
    }))
}

/// Uses an unlock link (once): lifts the account-wide lock and the lock of the address
/// the owner uses it from, audited as `account_unlock` in each of their practices.
/// Other addresses stay locked. `false` if the link is unknown, used or expired.
pub async fn unlock(
    db: &Db,
    token: &str,
    now: DateTime<Utc>,
    meta: &RequestMeta,
) -> Result<bool, StoreError> {
    let mut tx = AuthTx::begin(db.pool(), meta).await?;
    tx.set("app.token_hash", &hex(&token_hash(token))).await?;
    let used: Option<Uuid> = sqlx::query_scalar(
        "update account_unlocks set used_at = $1
          where token_hash = app_token_hash() and used_at is null and expires_at > $1
          returning user_id",
    )
    .bind(now)
    .fetch_optional(tx.conn())
    .await?;
    let Some(user_id) = used.map(UserId::from_uuid) else {
        return Ok(false);
    };
    tx.set("app.auth_user_id", &user_id.to_string()).await?;
    let address: String = sqlx::query_scalar("select email from users where id = $1")
        .bind(user_id.as_uuid())
        .fetch_one(tx.conn())
        .await?;
    // Stored addresses are lower-case, the form Email keys the counters by.
    for key in [account_key(&address), source_key(&address, meta)] {
        tx.set("app.token_hash", &key).await?;
        sqlx::query("delete from login_throttle where email_hash = app_token_hash()")
            .execute(tx.conn())
            .await?;
    }
    for practice in practices_of(&mut tx, user_id).await? {
        let event = AuditEvent::on(AuditAction::AccountUnlock, "user", user_id.as_uuid());
        insert_event(
            tx.conn(),
            practice.practice_id,
            Some(user_id.as_uuid()),
            None,
            event,
            meta,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(true)
}
