//! API keys: `pdk_` + 32 random bytes, shown once at creation, stored as SHA-256.

use crate::audit::{AuditAction, AuditEvent, record};
use crate::identity::token::{random_token, token_hash};
use crate::{StoreError, TenantTx};
use chrono::{DateTime, Utc};
use paddock_domain::{ApiKeyId, Permission, PermissionSet, UserId};
use uuid::Uuid;

/// The prefix every key starts with, so scanners can recognise leaked ones.
pub const KEY_PREFIX: &str = "pdk_";

/// A key as listed (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyInfo {
    /// Its id.
    pub id: Uuid,
    /// What the creator called it.
    pub name: String,
    /// `pdk_` and the first 8 characters, to tell keys apart.
    pub display_prefix: String,
    /// What it may do (a subset of its creator's permissions).
    pub scopes: PermissionSet,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was last used.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key just created: `secret` is shown once and never again.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    /// The stored description.
    pub info: ApiKeyInfo,
    /// The key itself.
    pub secret: String,
}

/// Creates a key acting as the principal, limited to `scopes`, which must be a subset
/// of the principal's own permissions (nobody hands on what they do not hold).
pub async fn create(
    tx: &mut TenantTx,
    name: &str,
    scopes: PermissionSet,
    expires_at: DateTime<Utc>,
) -> Result<CreatedKey, StoreError> {
    tx.require(Permission::SettingsManage)?;
    let crate::tenant::Actor::Member(principal) = tx.actor().clone() else {
        return Err(StoreError::NotFound("member"));
    };
    if let Some(missing) = scopes
        .iter()
        .find(|p| !principal.permissions().contains(*p))
    {
        return Err(StoreError::Forbidden(missing));
    }
    let body = random_token();
    let secret = format!("{KEY_PREFIX}{body}");
    let display_prefix: String = body.chars().take(8).collect();
    let id = Uuid::now_v7();
    let scope_names: Vec<&str> = scopes.iter().map(|p| p.as_str()).collect();
    sqlx::query(
        "insert into api_keys (practice_id, id, user_id, name, display_prefix, key_hash, scopes, expires_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(tx.practice_id().as_uuid())
    .bind(id)
    .bind(principal.user_id().as_uuid())
    .bind(name)
    .bind(&display_prefix)
    .bind(token_hash(&secret))
    .bind(&scope_names)
    .bind(expires_at)
    .execute(tx.conn())
    .await?;
    let event = AuditEvent::on(AuditAction::ApiKeyCreate, "api_key", id).with_changes(
        serde_json::json!({ "name": name, "scopes": scope_names, "expires_at": expires_at }),
    );
    record(tx, event, None).await?;
    Ok(CreatedKey {
        info: ApiKeyInfo {
            id,
            name: name.to_owned(),
            display_prefix: format!("{KEY_PREFIX}{display_prefix}"),
            scopes,
            expires_at,
            last_used_at: None,
            revoked_at: None,
        },
        secret,
    })
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: Uuid,
    name: String,
    display_prefix: String,
    scopes: Vec<String>,
    expires_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl KeyRow {
    fn scopes(&self) -> PermissionSet {
        self.scopes.iter().filter_map(|s| s.parse().ok()).collect()
    }

    fn info(&self) -> ApiKeyInfo {
        ApiKeyInfo {
            id: self.id,
            name: self.name.clone(),
            display_prefix: format!("{KEY_PREFIX}{}", self.display_prefix),
            scopes: self.scopes(),
            expires_at: self.expires_at,
            last_used_at: self.last_used_at,
            revoked_at: self.revoked_at,
        }
    }
}

const KEY_COLUMNS: &str = "id, name, display_prefix, scopes, expires_at, last_used_at, revoked_at";

/// The practice's keys, newest first (settings managers only).
pub async fn list(tx: &mut TenantTx) -> Result<Vec<ApiKeyInfo>, StoreError> {
    tx.require(Permission::SettingsManage)?;
    let rows: Vec<KeyRow> = sqlx::query_as(&format!(
        "select {KEY_COLUMNS} from api_keys order by created_at desc"
    ))
    .fetch_all(tx.conn())
    .await?;
    Ok(rows.iter().map(KeyRow::info).collect())
}

/// Revokes one key (settings managers only); another practice's id is not found.
pub async fn revoke(tx: &mut TenantTx, id: ApiKeyId, now: DateTime<Utc>) -> Result<(), StoreError> {
    tx.require(Permission::SettingsManage)?;
    let revoked =
        sqlx::query("update api_keys set revoked_at = $1 where id = $2 and revoked_at is null")
            .bind(now)
            .bind(id.as_uuid())
            .execute(tx.conn())
            .await?
            .rows_affected();
    if revoked == 0 {
        return Err(StoreError::NotFound("api key"));
    }
    record(
        tx,
        AuditEvent::on(AuditAction::ApiKeyRevoke, "api_key", id),
        None,
    )
    .await
}

/// Revokes every live key of `user_id` in the transaction's practice; returns how many.
pub(crate) async fn revoke_all(
    tx: &mut TenantTx,
    user_id: UserId,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let revoked = sqlx::query(
        "update api_keys set revoked_at = $1 where user_id = $2 and revoked_at is null",
    )
    .bind(now)
    .bind(user_id.as_uuid())
    .execute(tx.conn())
    .await?
    .rows_affected();
    Ok(revoked)
}
