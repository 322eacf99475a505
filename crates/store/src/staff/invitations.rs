//! Staff invitations: a single-use, expiring link; only the token's hash is stored.

use crate::audit::{AuditAction, AuditEvent, insert_event, record};
use crate::identity::auth_tx::AuthTx;
use crate::identity::token::{hex, random_token, token_hash};
use crate::page::{Cursor, Page};
use crate::staff::roles;
use crate::{Db, RequestMeta, StoreError, TenantTx};
use chrono::{DateTime, Duration, Utc};
use paddock_domain::{
    DisplayName, Email, FieldError, InvitationId, MembershipId, Permission, PermissionSet,
    PracticeId, RoleId, UserId,
};
use serde_json::json;
use uuid::Uuid;

/// How long an invitation link works.
pub const INVITATION_LIFETIME: Duration = Duration::days(7);

/// An invitation as listed (never the token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    /// Its id.
    pub id: Uuid,
    /// Who is invited.
    pub email: String,
    /// The role they will get.
    pub role_id: RoleId,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was accepted.
    pub accepted_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// An invitation just created; `token` goes into the emailed link and nowhere else.
#[derive(Debug, Clone)]
pub struct CreatedInvitation {
    /// The stored invitation.
    pub invitation: Invitation,
    /// The role's name, for the email.
    pub role_name: String,
    /// The practice's name, for the email.
    pub practice_name: String,
    /// The secret for the link.
    pub token: String,
}

/// Invites `email` with `role_id` (staff managers only, and only to roles whose
/// permissions the inviter holds).
pub async fn create(
    tx: &mut TenantTx,
    email: &Email,
    role_id: RoleId,
    now: DateTime<Utc>,
) -> Result<CreatedInvitation, StoreError> {
    tx.require(Permission::StaffManage)?;
    let role = roles::find(tx, role_id).await?.ok_or_else(|| {
        StoreError::Invalid(FieldError::new("role_id", "is not a role of this practice").into())
    })?;
    if let crate::tenant::Actor::Member(principal) = tx.actor()
        && let Some(missing) = role
            .permissions
            .iter()
            .find(|p| !principal.permissions().contains(*p))
    {
        return Err(StoreError::Forbidden(missing));
    }
    let already: bool = sqlx::query_scalar(
        "select exists (select 1 from memberships m join users u on u.id = m.user_id where u.email = $1)",
    )
    .bind(email.as_str())
    .fetch_one(tx.conn())
    .await?;
    if already {
        return Err(StoreError::Conflict(FieldError::new(
            "email",
            "is already a member of this practice",
        )));
    }
    let token = random_token();
    let id = Uuid::now_v7();
    let expires_at = now + INVITATION_LIFETIME;
    sqlx::query(
        "insert into invitations (practice_id, id, email, role_id, token_hash, expires_at)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(tx.practice_id().as_uuid())
    .bind(id)
    .bind(email.as_str())
    .bind(role.id.as_uuid())
    .bind(token_hash(&token))
    .bind(expires_at)
    .execute(tx.conn())
    .await?;
    let practice_name: String = sqlx::query_scalar("select name from practices where id = $1")
        .bind(tx.practice_id().as_uuid())
        .fetch_one(tx.conn())
        .await?;
    let event = AuditEvent::on(AuditAction::Invite, "invitation", id).with_changes(
        json!({ "email": email.as_str(), "role": role.name, "expires_at": expires_at }),
    );
    record(tx, event, None).await?;
    Ok(CreatedInvitation {
        invitation: Invitation {
            id,
            email: email.as_str().to_owned(),
            role_id: role.id,
            expires_at,
            accepted_at: None,
            revoked_at: None,
        },
        role_name: role.name,
        practice_name,
        token,
    })
}

/// Revokes an open invitation (staff managers only); another practice's id is not found.
pub async fn revoke(
    tx: &mut TenantTx,
    id: InvitationId,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let id = id.as_uuid();
    tx.require(Permission::StaffManage)?;
    let revoked = sqlx::query(
        "update invitations set revoked_at = $1 where id = $2 and revoked_at is null and accepted_at is null",
    )
    .bind(now)
    .bind(id)
    .execute(tx.conn())
    .await?
    .rows_affected();
    if revoked == 0 {
        return Err(StoreError::NotFound("invitation"));
    }
    record(
        tx,
        AuditEvent::on(AuditAction::InvitationRevoke, "invitation", id),
        None,
    )
    .await
}

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationStatus {
    /// The link works.
    Open,
    /// Used: the invitee joined.
    Accepted,
    /// Withdrawn (by a staff manager, or because its sender left or lost the right).
    Revoked,
    /// Past its expiry, unused.
    Expired,
}

impl InvitationStatus {
    /// `open`, `accepted`, `revoked` or `expired`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Accepted => "accepted",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }
}

/// An invitation as the staff list shows it: whom, with which role, sent by whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentInvitation {
    /// Its id.
    pub id: Uuid,
    /// Who is invited.
    pub email: String,
    /// The role they would get.
    pub role_id: RoleId,
    /// That role's name.
    pub role_name: String,
    /// Who sent it (none for one sent by an admin command).
    pub sent_by: Option<UserId>,
    /// The sender's display name.
    pub sent_by_name: Option<String>,
    /// When it was sent.
    pub sent_at: DateTime<Utc>,
    /// When the link stops (or stopped) working.
    pub expires_at: DateTime<Utc>,
    /// Where it stands now.
    pub status: InvitationStatus,
}

#[derive(sqlx::FromRow)]
struct SentRow {
    id: Uuid,
    email: String,
    role_id: Uuid,
    role_name: String,
    sent_by: Option<Uuid>,
    sent_by_name: Option<String>,
    sent_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    accepted_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

/// The practice's invitations, newest first, a page at a time (staff managers only);
/// `now` decides which open ones have expired.
pub async fn list(
    tx: &mut TenantTx,
    now: DateTime<Utc>,
    limit: i64,
    after: Option<&Cursor>,
) -> Result<Page<SentInvitation>, StoreError> {
    tx.require(Permission::StaffManage)?;
    // Ids are UUIDv7: newest first is id order, and the cursor needs no other key.
    let rows: Vec<SentRow> = sqlx::query_as(
        "select i.id, i.email, i.role_id, r.name as role_name, i.created_by as sent_by,
                u.display_name as sent_by_name, i.created_at as sent_at, i.expires_at,
                i.accepted_at, i.revoked_at
           from invitations i
           join roles r on r.practice_id = i.practice_id and r.id = i.role_id
           left join users u on u.id = i.created_by
          where ($1::uuid is null or i.id < $1)
          order by i.id desc
          limit $2",
    )
    .bind(after.map(|c| c.id))
    .bind(limit + 1)
    .fetch_all(tx.conn())
    .await?;
    let listed = rows
        .into_iter()
        .map(|row| SentInvitation {
            status: if row.accepted_at.is_some() {
                InvitationStatus::Accepted
            } else if row.revoked_at.is_some() {
                InvitationStatus::Revoked
            } else if row.expires_at <= now {
                InvitationStatus::Expired
            } else {
                InvitationStatus::Open
            },
            id: row.id,
            email: row.email,
            role_id: RoleId::from_uuid(row.role_id),
            role_name: row.role_name,
            sent_by: row.sent_by.map(UserId::from_uuid),
            sent_by_name: row.sent_by_name,
            sent_at: row.sent_at,
            expires_at: row.expires_at,
        })
        .collect();
    Ok(Page::from_rows(listed, limit, |i| Cursor::after("", i.id)))
}

/// Revokes the open invitations `inviter` sent, in the caller's transaction, each with
/// its own `invitation_revoke` event giving `reason`: all of them when `kept` is
/// `None` (the sender is leaving), otherwise those the sender could no longer send
/// with the permissions `kept` (none at all without `staff.manage`, and any whose role
/// grants something outside `kept`). Returns how many were revoked.
pub(crate) async fn revoke_sent_by(
    tx: &mut TenantTx,
    inviter: UserId,
    kept: Option<&PermissionSet>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let kept: Option<Vec<&str>> = kept.map(|set| set.iter().map(Permission::as_str).collect());
    let revoked: Vec<Uuid> = sqlx::query_scalar(
        "update invitations i set revoked_at = $2
          where i.created_by = $1 and i.revoked_at is null and i.accepted_at is null
            and i.expires_at > $2
            and ($3::text[] is null
                 or not 'staff.manage' = any($3::text[])
                 or exists (select 1 from role_permissions rp
                             where rp.practice_id = i.practice_id and rp.role_id = i.role_id
                               and not rp.permission = any($3::text[])))
          returning i.id",
    )
    .bind(inviter.as_uuid())
    .bind(now)
    .bind(kept)
    .fetch_all(tx.conn())
    .await?;
    for id in &revoked {
        let event = AuditEvent::on(AuditAction::InvitationRevoke, "invitation", *id)
            .with_changes(json!({ "reason": reason, "sent_by": inviter }));
        record(tx, event, None).await?;
    }
    Ok(u64::try_from(revoked.len()).unwrap_or(u64::MAX))
}

/// What an invitation link leads to, before it is accepted.
#[derive(Debug, Clone)]
pub struct OpenInvitation {
    /// The practice.
    pub practice_id: PracticeId,
    /// Its name.
    pub practice_name: String,
    /// The invited address.
    pub email: Email,
    /// The role's name.
    pub role_name: String,
    /// The existing account with that email, and its password hash (the invitee
    /// proves they own it by entering its password).
    pub existing_user: Option<(UserId, Option<String>)>,
}

#[derive(sqlx::FromRow)]
struct OpenRow {
    id: Uuid,
    practice_id: Uuid,
    email: String,
    role_id: Uuid,
    expires_at: DateTime<Utc>,
    accepted_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

async fn find_open(
    tx: &mut AuthTx,
    token: &str,
    now: DateTime<Utc>,
) -> Result<Option<OpenRow>, StoreError> {
    tx.set("app.token_hash", &hex(&token_hash(token))).await?;
    let row: Option<OpenRow> = sqlx::query_as(
        "select id, practice_id, email, role_id, expires_at, accepted_at, revoked_at
           from invitations where token_hash = app_token_hash()",
    )
    .fetch_optional(tx.conn())
    .await?;
    Ok(row.filter(|r| r.accepted_at.is_none() && r.revoked_at.is_none() && r.expires_at > now))
}

/// The invitation behind a link, if it is still open (unused, unrevoked, unexpired).
pub async fn open(
    db: &Db,
    token: &str,
    now: DateTime<Utc>,
    meta: &RequestMeta,
) -> Result<Option<OpenInvitation>, StoreError> {
    let mut tx = AuthTx::begin(db.pool(), meta).await?;
    let Some(row) = find_open(&mut tx, token, now).await? else {
        return Ok(None);
    };
    tx.set("app.practice_id", &row.practice_id.to_string())
        .await?;
    tx.set("app.user_email", &row.email).await?;
    let (practice_name, role_name): (String, String) = sqlx::query_as(
        "select p.name, r.name from practices p join roles r on r.practice_id = p.id and r.id = $1 where p.id = $2",
    )
    .bind(row.role_id)
    .bind(row.practice_id)
    .fetch_one(tx.conn())
    .await?;
    let existing: Option<(Uuid, Option<String>)> =
        sqlx::query_as("select id, password_hash from users where email = $1")
            .bind(&row.email)
            .fetch_optional(tx.conn())
            .await?;
    tx.commit().await?;
    Ok(Some(OpenInvitation {
        practice_id: PracticeId::from_uuid(row.practice_id),
        practice_name,
        email: Email::parse("email", &row.email).map_err(|e| StoreError::Invalid(e.into()))?,
        role_name,
        existing_user: existing.map(|(id, hash)| (UserId::from_uuid(id), hash)),
    }))
}

/// Who accepts: the owner of an existing account (password already verified by the
/// caller), or a new person with their name and an already-hashed, policy-checked password.
#[derive(Debug, Clone)]
pub enum Acceptor {
    /// An existing account.
    Existing(UserId),
    /// A new account.
    New {
        /// Their display name.
        display_name: DisplayName,
        /// argon2id PHC string of their new password.
        password_hash: String,
    },
}

/// Accepts the invitation (once: a second use finds nothing), creating the account if
/// needed and the membership with the invited role. Returns the user and practice.
pub async fn accept(
    db: &Db,
    token: &str,
    acceptor: Acceptor,
    now: DateTime<Utc>,
    meta: &RequestMeta,
) -> Result<Option<(UserId, PracticeId)>, StoreError> {
    let mut tx = AuthTx::begin(db.pool(), meta).await?;
    let Some(row) = find_open(&mut tx, token, now).await? else {
        return Ok(None);
    };
    let practice_id = PracticeId::from_uuid(row.practice_id);
    tx.set("app.practice_id", &practice_id.to_string()).await?;
    tx.set("app.user_email", &row.email).await?;
    // Single use: only the first acceptance flips accepted_at.
    let user_id = match acceptor {
        Acceptor::Existing(user_id) => user_id,
        Acceptor::New {
            display_name,
            password_hash,
        } => {
            let user_id = UserId::new();
            sqlx::query("insert into users (id, email, display_name, password_hash) values ($1, $2, $3, $4)")
                .bind(user_id.as_uuid())
                .bind(&row.email)
                .bind(display_name.as_str())
                .bind(password_hash)
                .execute(tx.conn())
                .await?;
            user_id
        }
    };
    tx.set("app.actor_id", &user_id.to_string()).await?;
    let claimed = sqlx::query(
        "update invitations set accepted_at = $1, accepted_by = $2
          where id = $3 and accepted_at is null and revoked_at is null",
    )
    .bind(now)
    .bind(user_id.as_uuid())
    .bind(row.id)
    .execute(tx.conn())
    .await?
    .rows_affected();
    if claimed == 0 {
        return Ok(None);
    }
    let membership = MembershipId::new();
    sqlx::query(
        "insert into memberships (practice_id, id, user_id, role_id) values ($1, $2, $3, $4)",
    )
    .bind(practice_id.as_uuid())
    .bind(membership.as_uuid())
    .bind(user_id.as_uuid())
    .bind(row.role_id)
    .execute(tx.conn())
    .await?;
    let event = AuditEvent::on(
        AuditAction::InvitationAccept,
        "membership",
        membership.as_uuid(),
    )
    .with_changes(json!({ "invitation_id": row.id, "user_id": user_id, "email": row.email }));
    insert_event(
        tx.conn(),
        practice_id,
        Some(user_id.as_uuid()),
        None,
        event,
        meta,
    )
    .await?;
    tx.commit().await?;
    Ok(Some((user_id, practice_id)))
}
