//! Authenticating a request: one statement checks the credential it presents (a session
//! cookie's token, an access token's session, an API key), loads the active membership
//! with its role's permissions, and scopes the transaction to that practice, actor and
//! request. The request's work then runs in the same transaction, so an authenticated
//! request costs BEGIN, this statement, its own statements, COMMIT. Nothing is cached:
//! revocation, expiry and membership status are read afresh on every request.

use crate::identity::principal::Principal;
use crate::identity::sessions::SessionAuth;
use crate::identity::token::token_hash;
use crate::tenant::{Actor, TenantTx};
use crate::{Db, RequestMeta, StoreError};
use chrono::{DateTime, Utc};
use paddock_domain::{MembershipId, PermissionSet, PracticeId, RoleId, UserId};
use uuid::Uuid;

/// What a request presents to prove who it is.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    /// The session cookie's token (idle and absolute limits apply).
    SessionToken(&'a str),
    /// The session an already verified access token names (absolute limit applies;
    /// the token's own short life is its idle limit).
    AccessToken {
        /// The `pid` claim.
        practice_id: PracticeId,
        /// The `sid` claim.
        session_id: Uuid,
        /// The `sub` claim.
        user_id: UserId,
    },
    /// A bearer API key (`pdk_...`).
    ApiKey(&'a str),
}

/// An authenticated request: its principal, its session (absent for API keys) and the
/// transaction, already scoped to the principal's practice, that its work runs in.
#[derive(Debug)]
pub struct Authenticated {
    /// Who is acting (an API key's principal holds only the key's scopes).
    pub principal: Principal,
    /// The session behind a cookie or access token.
    pub session: Option<SessionAuth>,
    /// The request's one transaction.
    pub tx: TenantTx,
}

#[derive(sqlx::FromRow)]
struct AuthenticatedRow {
    session_id: Uuid,
    practice_id: Uuid,
    user_id: Uuid,
    csrf_hash: Option<Vec<u8>>,
    temporary: bool,
    second_factor_pending: bool,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    reauthenticated_at: Option<DateTime<Utc>>,
    scopes: Option<Vec<String>>,
    membership_id: Uuid,
    role_id: Uuid,
    role_name: String,
    permissions: Vec<String>,
}

/// Checks `credential` at `now` and opens the request's transaction scoped to whoever
/// it authenticates; `None` (and no transaction left open) when it authenticates nobody.
pub async fn authenticate(
    db: &Db,
    credential: Credential<'_>,
    now: DateTime<Utc>,
    meta: &RequestMeta,
) -> Result<Option<Authenticated>, StoreError> {
    let (kind, presented, claims) = match credential {
        Credential::SessionToken(token) => ("session", Some(token_hash(token)), None),
        Credential::AccessToken {
            practice_id,
            session_id,
            user_id,
        } => (
            "access_token",
            None,
            Some((practice_id.as_uuid(), session_id, user_id.as_uuid())),
        ),
        Credential::ApiKey(secret) => {
            if !secret.starts_with(crate::identity::api_keys::KEY_PREFIX) {
                return Ok(None);
            }
            ("api_key", Some(token_hash(secret)), None)
        }
    };
    let mut tx = db.pool().begin().await?;
    let row: Option<AuthenticatedRow> =
        sqlx::query_as("select * from authenticate_request($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(kind)
            .bind(presented)
            .bind(claims.map(|c| c.0))
            .bind(claims.map(|c| c.1))
            .bind(claims.map(|c| c.2))
            .bind(now)
            .bind(&meta.request_id)
            .bind(meta.ip.map(|ip| ip.to_string()).unwrap_or_default())
            .bind(meta.user_agent.as_deref().unwrap_or_default())
            .fetch_optional(&mut *tx)
            .await?;
    // Without a row nothing was changed: dropping the transaction rolls it back.
    let Some(row) = row else { return Ok(None) };
    let permissions: PermissionSet = row
        .permissions
        .iter()
        // A permission name the code no longer knows grants nothing.
        .filter_map(|name| name.parse().ok())
        .collect();
    let mut principal = Principal::new(
        UserId::from_uuid(row.user_id),
        PracticeId::from_uuid(row.practice_id),
        MembershipId::from_uuid(row.membership_id),
        RoleId::from_uuid(row.role_id),
        row.role_name,
        permissions,
    );
    let session = match (kind, row.scopes) {
        ("api_key", scopes) => {
            let scopes: PermissionSet = scopes
                .unwrap_or_default()
                .iter()
                .filter_map(|s| s.parse().ok())
                .collect();
            principal = principal.restricted_to(&scopes);
            None
        }
        _ => Some(SessionAuth {
            principal: principal.clone(),
            session_id: row.session_id,
            csrf_hash: row.csrf_hash.unwrap_or_default(),
            // A session that never entered a password counts as never re-authenticated.
            reauthenticated_at: row.reauthenticated_at.unwrap_or(DateTime::<Utc>::MIN_UTC),
            created_at: row.created_at,
            expires_at: row.expires_at,
            temporary: row.temporary,
            second_factor_pending: row.second_factor_pending,
        }),
    };
    let tx = TenantTx::scoped(
        tx,
        principal.practice_id(),
        Actor::Member(principal.clone()),
        meta,
    );
    Ok(Some(Authenticated {
        principal,
        session,
        tx,
    }))
}
