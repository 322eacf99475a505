//! Second factors of a person: a TOTP secret and a phone number (both sealed by the
//! caller before they get here), and one-time SMS codes stored as keyed hashes,
//! short-lived, attempt-limited and rate-limited.

use crate::audit::{AuditAction, AuditEvent, insert_event};
use crate::identity::auth_tx::AuthTx;
use crate::{Db, RequestMeta, StoreError};
use chrono::{DateTime, Duration, Utc};
use paddock_domain::{PracticeId, UserId};
use subtle::ConstantTimeEq;
use uuid::Uuid;

/// How long an SMS code works.
pub const CODE_LIFETIME: Duration = Duration::minutes(5);
/// Wrong tries before a code is dead.
pub const CODE_ATTEMPTS: i32 = 5;
/// The wait between two codes of the same purpose.
pub const RESEND_AFTER: Duration = Duration::seconds(60);

/// What a person has enrolled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Factors {
    /// The sealed TOTP secret, if one was set up.
    pub totp_secret: Option<Vec<u8>>,
    /// Whether the TOTP secret was confirmed with a first code.
    pub totp_confirmed: bool,
    /// The sealed phone number, if one was given.
    pub phone: Option<Vec<u8>>,
    /// Whether the phone was confirmed with a first code.
    pub phone_confirmed: bool,
    /// A sealed TOTP secret being enrolled (not yet confirmed).
    pub totp_secret_pending: Option<Vec<u8>>,
    /// A sealed phone number being enrolled (not yet confirmed).
    pub phone_pending: Option<Vec<u8>>,
}

impl Factors {
    /// Whether any second factor is ready for use.
    pub fn any_confirmed(&self) -> bool {
        self.totp_confirmed || self.phone_confirmed
    }
}

async fn scoped(db: &Db, user_id: UserId, meta: &RequestMeta) -> Result<AuthTx, StoreError> {
    let mut tx = AuthTx::begin(db.pool(), meta).await?;
    tx.set("app.auth_user_id", &user_id.to_string()).await?;
    Ok(tx)
}

#[derive(sqlx::FromRow)]
struct FactorRow {
    totp_secret: Option<Vec<u8>>,
    totp_confirmed_at: Option<DateTime<Utc>>,
    phone: Option<Vec<u8>>,
    phone_confirmed_at: Option<DateTime<Utc>>,
    totp_secret_pending: Option<Vec<u8>>,
    phone_pending: Option<Vec<u8>>,
}

/// The person's enrolled factors.
pub async fn factors_of(
    db: &Db,
    user_id: UserId,
    meta: &RequestMeta,
) -> Result<Factors, StoreError> {
    let mut tx = scoped(db, user_id, meta).await?;
    let row: Option<FactorRow> = sqlx::query_as(
        "select totp_secret, totp_confirmed_at, phone, phone_confirmed_at, totp_secret_pending, phone_pending
           from second_factors where user_id = $1",
    )
    .bind(user_id.as_uuid())
    .fetch_optional(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(row
        .map(|row| Factors {
            totp_secret: row.totp_secret,
            totp_confirmed: row.totp_confirmed_at.is_some(),
            phone: row.phone,
            phone_confirmed: row.phone_confirmed_at.is_some(),
            totp_secret_pending: row.totp_secret_pending,
            phone_pending: row.phone_pending,
        })
        .unwrap_or_default())
}

/// Stores a new sealed value of `factor` (TOTP secret or phone number) as an enrolment
/// in progress; the confirmed factor, if any, keeps working until [`confirm`]. A secret
/// was issued, so it is audited in `practice_id`, in the same transaction.
pub async fn set_unconfirmed(
    db: &Db,
    user_id: UserId,
    practice_id: PracticeId,
    factor: Factor,
    sealed: &[u8],
    now: DateTime<Utc>,
    meta: &RequestMeta,
) -> Result<(), StoreError> {
    let sql = match factor {
        Factor::Totp => {
            "insert into second_factors (user_id, totp_secret_pending, updated_at) values ($1, $2, $3)
             on conflict (user_id) do update set totp_secret_pending = $2, updated_at = $3"
        }
        Factor::Sms => {
            "insert into second_factors (user_id, phone_pending, updated_at) values ($1, $2, $3)
             on conflict (user_id) do update set phone_pending = $2, updated_at = $3"
        }
    };
    let mut tx = scoped(db, user_id, meta).await?;
    sqlx::query(sql)
        .bind(user_id.as_uuid())
        .bind(sealed)
        .bind(now)
        .execute(tx.conn())
        .await?;
    let name = match factor {
        Factor::Totp => "totp",
        Factor::Sms => "sms",
    };
    let event = AuditEvent::on(
        AuditAction::SecondFactorEnrolStart,
        "user",
        user_id.as_uuid(),
    )
    .with_changes(serde_json::json!({ "factor": name }));
    insert_event(
        tx.conn(),
        practice_id,
        Some(user_id.as_uuid()),
        None,
        event,
        meta,
    )
    .await?;
    tx.commit().await
}

/// Which factor a confirmation is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    /// An authenticator app.
    Totp,
    /// Text messages.
    Sms,
}

/// Makes the enrolment in progress of `factor` the confirmed factor (for TOTP,
/// `totp_step` is the time step of the confirming code) and audits it in `practice_id`.
pub async fn confirm(
    db: &Db,
    user_id: UserId,
    practice_id: PracticeId,
    factor: Factor,
    totp_step: Option<i64>,
    now: DateTime<Utc>,
    meta: &RequestMeta,
) -> Result<(), StoreError> {
    let mut tx = scoped(db, user_id, meta).await?;
    let (sql, name) = match factor {
        // The enrolment in progress becomes the factor; the old one stops working now.
        Factor::Totp => (
            "update second_factors
                set totp_secret = totp_secret_pending, totp_secret_pending = null,
                    totp_confirmed_at = $2, totp_last_step = $3, updated_at = $2
              where user_id = $1 and totp_secret_pending is not null",
            "totp",
        ),
        Factor::Sms => (
            "update second_factors
                set phone = phone_pending, phone_pending = null, phone_confirmed_at = $2, updated_at = $2
              where user_id = $1 and phone_pending is not null",
            "sms",
        ),
    };
    let query = sqlx::query(sql).bind(user_id.as_uuid()).bind(now);
    let query = match factor {
        Factor::Totp => query.bind(totp_step),
        Factor::Sms => query,
    };
    let confirmed = query.execute(tx.conn()).await?.rows_affected();
    if confirmed == 0 {
        return Err(StoreError::NotFound("enrolment"));
    }
    let event = AuditEvent::on(AuditAction::SecondFactorEnrol, "user", user_id.as_uuid())
        .with_changes(serde_json::json!({ "factor": name }));
    insert_event(
        tx.conn(),
        practice_id,
        Some(user_id.as_uuid()),
        None,
        event,
        meta,
    )
    .await?;
    tx.commit().await
}

/// What a purpose-bound SMS code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePurpose {
    /// Completing a sign-in.
    SignIn,
    /// Confirming a new phone number.
    Enrol,
}

impl CodePurpose {
    fn as_str(self) -> &'static str {
        match self {
            CodePurpose::SignIn => "sms_sign_in",
            CodePurpose::Enrol => "sms_enrol",
        }
    }
}

/// Records a new code (as its keyed hash) unless one was sent less than a minute ago;
/// `Err(seconds)` tells how long to wait. Earlier codes of the purpose stop working.
pub async fn issue_code(
    db: &Db,
    user_id: UserId,
    purpose: CodePurpose,
    code_hash: &[u8],
    now: DateTime<Utc>,
    meta: &RequestMeta,
) -> Result<Result<(), i64>, StoreError> {
    let mut tx = scoped(db, user_id, meta).await?;
    let last: Option<DateTime<Utc>> = sqlx::query_scalar(
        "select max(sent_at) from verification_codes where user_id = $1 and purpose = $2",
    )
    .bind(user_id.as_uuid())
    .bind(purpose.as_str())
    .fetch_one(tx.conn())
    .await?;
    if let Some(last) = last.filter(|last| now - *last < RESEND_AFTER) {
        // Rounded up: waiting exactly that long must be enough.
        let millis = (RESEND_AFTER - (now - last)).num_milliseconds().max(1);
        return Ok(Err((millis + 999) / 1000));
    }
    sqlx::query(
        "update verification_codes set consumed_at = $3
          where user_id = $1 and purpose = $2 and consumed_at is null",
    )
    .bind(user_id.as_uuid())
    .bind(purpose.as_str())
    .bind(now)
    .execute(tx.conn())
    .await?;
    sqlx::query(
        "insert into verification_codes (id, user_id, purpose, code_hash, sent_at, expires_at)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(Uuid::now_v7())
    .bind(user_id.as_uuid())
    .bind(purpose.as_str())
    .bind(code_hash)
    .bind(now)
    .bind(now + CODE_LIFETIME)
    .execute(tx.conn())
    .await?;
    tx.commit().await?;
    Ok(Ok(()))
}

/// The outcome of checking a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// Right: the code is used up.
    Accepted,
    /// Wrong, expired, exhausted or never sent (indistinguishable to the caller).
    Refused,
}

/// Checks `code_hash` against the live code of `purpose`; every wrong try counts,
/// and the fifth kills the code.
pub async fn check_code(
    db: &Db,
    user_id: UserId,
    purpose: CodePurpose,
    code_hash: &[u8],
    now: DateTime<Utc>,
    meta: &RequestMeta,
) -> Result<CodeCheck, StoreError> {
    let mut tx = scoped(db, user_id, meta).await?;
    let live: Option<(Uuid, Vec<u8>)> = sqlx::query_as(
        "select id, code_hash from verification_codes
          where user_id = $1 and purpose = $2 and consumed_at is null
            and expires_at > $3 and attempts < $4
          order by sent_at desc limit 1 for update",
    )
    .bind(user_id.as_uuid())
    .bind(purpose.as_str())
    .bind(now)
    .bind(CODE_ATTEMPTS)
    .fetch_optional(tx.conn())
    .await?;
    let Some((id, stored)) = live else {
        return Ok(CodeCheck::Refused);
    };
    let outcome = if bool::from(stored.ct_eq(code_hash)) {
        sqlx::query("update verification_codes set consumed_at = $2 where id = $1")
            .bind(id)
            .bind(now)
            .execute(tx.conn())
            .await?;
        CodeCheck::Accepted
    } else {
        sqlx::query("update verification_codes set attempts = attempts + 1 where id = $1")
            .bind(id)
            .execute(tx.conn())
            .await?;
        CodeCheck::Refused
    };
    tx.commit().await?;
    Ok(outcome)
}

/// Records that the TOTP code of `step` was used; `false` if that step (or a later
/// one) was already used, so no code is ever accepted twice.
pub async fn use_totp_step(
    db: &Db,
    user_id: UserId,
    step: i64,
    meta: &RequestMeta,
) -> Result<bool, StoreError> {
    let mut tx = scoped(db, user_id, meta).await?;
    let used = sqlx::query(
        "update second_factors set totp_last_step = $2
          where user_id = $1 and (totp_last_step is null or totp_last_step < $2)",
    )
    .bind(user_id.as_uuid())
    .bind(step)
    .execute(tx.conn())
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(used == 1)
}
