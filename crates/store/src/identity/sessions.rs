//! Server-side sessions: a random 256-bit token in the cookie, only its SHA-256 here.
//!
//! A session belongs to one practice (switching practice starts a new one). It ends
//! when idle too long, at its absolute expiry, at logout, or when the member is
//! deactivated; every request re-checks all of that and the membership itself.
//!
//! A session is one sign-in: whatever replaces it (a practice switch, the completed
//! second factor, a re-authentication) gets a new token but keeps the sign-in's time,
//! absolute expiry and temporary flag, and is never fresher about the password than
//! what it replaces, so no replacement can stand in for typing the password.

use crate::audit::{AuditAction, AuditEvent, record};
use crate::identity::signin::PracticeOption;
use crate::identity::token::{csrf_for, random_token, token_hash};
use crate::tenant::{Actor, TenantTx};
use crate::{Db, Principal, RequestMeta, StoreError};
use chrono::{DateTime, Utc};
use paddock_domain::{FieldError, PracticeId, UserId};
use uuid::Uuid;

/// A session just started: the secrets are shown to the client once, never stored.
#[derive(Debug, Clone)]
pub struct IssuedSession {
    /// The session's id (also the `sid` of the JWTs it issues).
    pub session_id: Uuid,
    /// The cookie value.
    pub token: String,
    /// The CSRF token the client must echo in `X-CSRF-Token`.
    pub csrf_token: String,
    /// When it ends at the latest.
    pub expires_at: DateTime<Utc>,
    /// Whether it is a temporary (shared computer) session.
    pub temporary: bool,
    /// Whether it must complete a second factor before doing anything else.
    pub second_factor_pending: bool,
}

/// A live session and who it authenticates.
#[derive(Debug, Clone)]
pub struct SessionAuth {
    /// The member acting.
    pub principal: Principal,
    /// The session.
    pub session_id: Uuid,
    /// SHA-256 of its CSRF token.
    pub csrf_hash: Vec<u8>,
    /// When the password was last re-entered in this session (or at sign-in).
    pub reauthenticated_at: DateTime<Utc>,
    /// When the sign-in it continues happened.
    pub created_at: DateTime<Utc>,
    /// When it ends at the latest.
    pub expires_at: DateTime<Utc>,
    /// Whether it is a temporary (shared computer) session.
    pub temporary: bool,
    /// Whether the second factor is still owed: such a session may only complete it.
    pub second_factor_pending: bool,
}

/// A session about to be inserted: everything but its fresh secrets and id.
struct NewSession {
    practice_id: PracticeId,
    user_id: UserId,
    temporary: bool,
    second_factor_pending: bool,
    idle_seconds: i32,
    /// When the sign-in it belongs to happened.
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    reauthenticated_at: Option<DateTime<Utc>>,
}

/// Inserts `new` with a fresh token, CSRF token and id (only their hashes are
/// stored), last seen `now` from the request's address; the secrets are returned once.
async fn insert(
    tx: &mut TenantTx,
    new: NewSession,
    now: DateTime<Utc>,
    meta: &RequestMeta,
) -> Result<IssuedSession, StoreError> {
    let token = random_token();
    let csrf_token = csrf_for(&token);
    let session_id = Uuid::now_v7();
    sqlx::query(
        "insert into sessions (practice_id, id, user_id, token_hash, csrf_hash, temporary, second_factor_pending, idle_seconds,
                               created_at, last_seen_at, expires_at, reauthenticated_at, ip, user_agent)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::inet, $14)",
    )
    .bind(new.practice_id.as_uuid())
    .bind(session_id)
    .bind(new.user_id.as_uuid())
    .bind(token_hash(&token))
    .bind(token_hash(&csrf_token))
    .bind(new.temporary)
    .bind(new.second_factor_pending)
    .bind(new.idle_seconds)
    .bind(new.created_at)
    .bind(now)
    .bind(new.expires_at)
    .bind(new.reauthenticated_at)
    .bind(meta.ip.map(|ip| ip.to_string()))
    .bind(meta.user_agent.as_deref())
    .execute(tx.conn())
    .await?;
    Ok(IssuedSession {
        session_id,
        token,
        csrf_token,
        expires_at: new.expires_at,
        temporary: new.temporary,
        second_factor_pending: new.second_factor_pending,
    })
}

/// Starts a session for `user_id` in `practice`, recording the sign-in.
pub async fn start(
    db: &Db,
    user_id: UserId,
    practice: &PracticeOption,
    temporary: bool,
    second_factor_pending: bool,
    now: DateTime<Utc>,
    meta: &RequestMeta,
) -> Result<IssuedSession, StoreError> {
    let mut tx = TenantTx::begin(db.pool(), practice.practice_id, Actor::System, meta).await?;
    tx.attribute_to(user_id).await?;
    let new = NewSession {
        practice_id: practice.practice_id,
        user_id,
        temporary,
        second_factor_pending,
        idle_seconds: idle_seconds(practice),
        created_at: now,
        expires_at: practice.sessions.expires_at(now, temporary),
        reauthenticated_at: Some(now),
    };
    let issued = insert(&mut tx, new, now, meta).await?;
    let event = AuditEvent::on(AuditAction::Login, "session", issued.session_id)
        .with_changes(serde_json::json!({ "temporary": temporary }));
    record(&mut tx, event, Some(user_id.as_uuid())).await?;
    tx.commit().await?;
    Ok(issued)
}

/// The practice's idle limit in whole seconds, as stored.
fn idle_seconds(practice: &PracticeOption) -> i32 {
    i32::try_from(practice.sessions.idle.num_seconds()).unwrap_or(i32::MAX)
}

/// Ends the session (logout).
pub async fn end(
    db: &Db,
    auth: &SessionAuth,
    now: DateTime<Utc>,
    meta: &RequestMeta,
) -> Result<(), StoreError> {
    let sql = "update sessions set revoked_at = $2 where id = $1 and revoked_at is null";
    stamp(db, auth, sql, now, AuditAction::Logout, meta).await
}

/// Records that the password was re-entered just now: a privilege change, so the
/// session continues under a new token (the old one ends) with the same limits.
pub async fn reauthenticated(
    db: &Db,
    auth: &SessionAuth,
    now: DateTime<Utc>,
    meta: &RequestMeta,
) -> Result<IssuedSession, StoreError> {
    renew(db, auth, Renewal::Reauthenticated, now, meta).await
}

/// Why a session continues under a new token.
#[derive(Debug, Clone, Copy)]
enum Renewal {
    /// The password was re-entered.
    Reauthenticated,
    /// The second factor was completed, by `method`.
    SecondFactor(&'static str),
}

/// Replaces the session by a new one (new token and CSRF token) that keeps its
/// sign-in time, expiry, temporary flag and idle limit, in one transaction with the
/// audit event; the old token stops working at once.
async fn renew(
    db: &Db,
    auth: &SessionAuth,
    renewal: Renewal,
    now: DateTime<Utc>,
    meta: &RequestMeta,
) -> Result<IssuedSession, StoreError> {
    let mut tx = db.begin(&auth.principal, meta).await?;
    // Ending the old session and reading what the new one keeps is one statement.
    let ended: Option<RenewedRow> = sqlx::query_as(
        "update sessions set revoked_at = $2 where id = $1 and revoked_at is null
         returning temporary, second_factor_pending, idle_seconds, created_at, expires_at, reauthenticated_at",
    )
    .bind(auth.session_id)
    .bind(now)
    .fetch_optional(tx.conn())
    .await?;
    // None: ended meanwhile (logout, deactivation, a concurrent renewal).
    let old = ended.ok_or(StoreError::NotFound("session"))?;
    let (reauthenticated, completes_second_factor) = match renewal {
        Renewal::Reauthenticated => (true, false),
        Renewal::SecondFactor(_) => (false, true),
    };
    let new = NewSession {
        practice_id: auth.principal.practice_id(),
        user_id: auth.principal.user_id(),
        temporary: old.temporary,
        second_factor_pending: old.second_factor_pending && !completes_second_factor,
        idle_seconds: old.idle_seconds,
        created_at: old.created_at,
        expires_at: old.expires_at,
        reauthenticated_at: if reauthenticated {
            Some(now)
        } else {
            old.reauthenticated_at
        },
    };
    let issued = insert(&mut tx, new, now, meta).await?;
    let event = match renewal {
        Renewal::Reauthenticated => {
            AuditEvent::on(AuditAction::Reauth, "session", issued.session_id)
        }
        Renewal::SecondFactor(method) => {
            AuditEvent::on(AuditAction::SecondFactor, "session", issued.session_id)
                .with_changes(serde_json::json!({ "method": method }))
        }
    };
    record(&mut tx, event, None).await?;
    tx.commit().await?;
    Ok(issued)
}

/// What a renewed session keeps of the one it replaces.
#[derive(sqlx::FromRow)]
struct RenewedRow {
    temporary: bool,
    second_factor_pending: bool,
    idle_seconds: i32,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    reauthenticated_at: Option<DateTime<Utc>>,
}

/// Moves the person of `from` into `target`: `from` ends, and a new session starts
/// there continuing the same sign-in (its time, absolute expiry, temporary flag and
/// re-authentication time, never fresher), within the stricter of the two practices'
/// limits. Switching cannot stand in for the password or extend a session's life.
pub async fn switch(
    db: &Db,
    from: &SessionAuth,
    target: &PracticeOption,
    second_factor_pending: bool,
    now: DateTime<Utc>,
    meta: &RequestMeta,
) -> Result<IssuedSession, StoreError> {
    if target.practice_id == from.principal.practice_id() {
        return Err(StoreError::Conflict(FieldError::new(
            "practice_id",
            "is the practice this session is already in",
        )));
    }
    // The old session ends first: should the new one fail, the person signs in again,
    // rather than holding two sessions.
    end(db, from, now, meta).await?;
    let user_id = from.principal.user_id();
    let mut tx = TenantTx::begin(db.pool(), target.practice_id, Actor::System, meta).await?;
    tx.attribute_to(user_id).await?;
    let new = NewSession {
        practice_id: target.practice_id,
        user_id,
        temporary: from.temporary,
        second_factor_pending,
        idle_seconds: idle_seconds(target),
        created_at: from.created_at,
        expires_at: from
            .expires_at
            .min(target.sessions.expires_at(from.created_at, from.temporary)),
        // A session that never entered a password stays that way.
        reauthenticated_at: Some(from.reauthenticated_at)
            .filter(|at| *at > DateTime::<Utc>::MIN_UTC),
    };
    let issued = insert(&mut tx, new, now, meta).await?;
    let event = AuditEvent::on(AuditAction::Login, "session", issued.session_id)
        .with_changes(serde_json::json!({ "temporary": from.temporary, "switched": true }));
    record(&mut tx, event, Some(user_id.as_uuid())).await?;
    tx.commit().await?;
    Ok(issued)
}

/// Runs `sql` (session id as $1, `now` as $2) on the session and audits `action`, in
/// one transaction.
async fn stamp(
    db: &Db,
    auth: &SessionAuth,
    sql: &str,
    now: DateTime<Utc>,
    action: AuditAction,
    meta: &RequestMeta,
) -> Result<(), StoreError> {
    let mut tx = db.begin(&auth.principal, meta).await?;
    sqlx::query(sql)
        .bind(auth.session_id)
        .bind(now)
        .execute(tx.conn())
        .await?;
    record(
        &mut tx,
        AuditEvent::on(action, "session", auth.session_id),
        None,
    )
    .await?;
    tx.commit().await
}

/// Records that an access token (a bearer credential of its own) was issued from the
/// session, valid for `expires_in` seconds.
pub async fn access_token_issued(
    db: &Db,
    auth: &SessionAuth,
    expires_in: i64,
    meta: &RequestMeta,
) -> Result<(), StoreError> {
    let mut tx = db.begin(&auth.principal, meta).await?;
    let event = AuditEvent::on(AuditAction::AccessTokenIssue, "session", auth.session_id)
        .with_changes(serde_json::json!({ "expires_in": expires_in }));
    record(&mut tx, event, None).await?;
    tx.commit().await
}

/// Revokes every live session of `user_id` in the transaction's practice; returns how many.
pub(crate) async fn revoke_all(
    tx: &mut TenantTx,
    user_id: UserId,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let revoked = sqlx::query(
        "update sessions set revoked_at = $1 where user_id = $2 and revoked_at is null",
    )
    .bind(now)
    .bind(user_id.as_uuid())
    .execute(tx.conn())
    .await?
    .rows_affected();
    Ok(revoked)
}

/// Marks the session's second factor as done, recording how. The sign-in is complete
/// only now, so it continues under a new token: a cookie planted or seen before the
/// code never becomes a signed-in session.
pub async fn complete_second_factor(
    db: &Db,
    auth: &SessionAuth,
    method: &'static str,
    now: DateTime<Utc>,
    meta: &RequestMeta,
) -> Result<IssuedSession, StoreError> {
    renew(db, auth, Renewal::SecondFactor(method), now, meta).await
}
