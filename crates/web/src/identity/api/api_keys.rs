//! API keys for integrations: created once (the secret is shown once), listed, revoked.

use crate::context::Ctx;
use crate::input::Json;
use crate::input::Path;
use crate::{AppError, AppState};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use paddock_domain::{ApiKeyId, FieldError, FieldErrors, Permission, PermissionSet};
use paddock_store::identity::api_keys::{self, ApiKeyInfo};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// The longest an API key may live.
const MAX_KEY_DAYS: i64 = 366;

/// The API key routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(revoke))
}

/// A new key's description.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// What it is for ("lab integration").
    pub name: String,
    /// Permission names it may use (each one must be yours).
    pub scopes: Vec<String>,
    /// Days until it expires (1 to 366).
    pub expires_in_days: i64,
}

/// A key as listed.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// `pdk_` and the first characters.
    pub display_prefix: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// Last use.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Revocation.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKeyInfo> for KeyView {
    fn from(k: ApiKeyInfo) -> Self {
        Self {
            id: k.id,
            name: k.name,
            display_prefix: k.display_prefix,
            scopes: k.scopes.iter().map(|p| p.as_str().to_owned()).collect(),
            expires_at: k.expires_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A created key: `secret` is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKeyView {
    /// The key.
    #[serde(flatten)]
    pub key: KeyView,
    /// The secret to send as `Authorization: Bearer pdk_...`; it cannot be shown again.
    pub secret: String,
}

/// Creates an API key (needs `settings.manage` and the password re-entered within 10 minutes).
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "staff", request_body = CreateKey,
    responses(
        (status = 201, description = "Created; the secret is shown once", body = CreatedKeyView),
        crate::responses::MissingPermissionOrReauth,
        (status = 422, description = "Invalid name, scope or lifetime", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(ctx: Ctx, Json(body): Json<CreateKey>) -> Result<Response, AppError> {
    let now = ctx.now();
    let mut errors = FieldErrors::default();
    let name = body.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        errors
            .0
            .push(FieldError::new("name", "must be 1 to 100 characters"));
    }
    let mut scopes = Vec::new();
    for scope in &body.scopes {
        match scope.parse::<Permission>() {
            Ok(p) => scopes.push(p),
            Err(_) => errors.0.push(FieldError::new(
                "scopes",
                format!("unknown permission `{scope}`"),
            )),
        }
    }
    if body.scopes.is_empty() {
        errors.0.push(FieldError::new(
            "scopes",
            "must name at least one permission",
        ));
    }
    if !(1..=MAX_KEY_DAYS).contains(&body.expires_in_days) {
        errors.0.push(FieldError::new(
            "expires_in_days",
            format!("must be between 1 and {MAX_KEY_DAYS}"),
        ));
    }
    errors.into_result()?;
    ctx.require_recent_reauth()?;
    let scopes: PermissionSet = scopes.into_iter().collect();
    let expires_at = now + Duration::days(body.expires_in_days);
    let created = ctx
        .run(async |tx| api_keys::create(tx, name, scopes, expires_at).await)
        .await?;
    let body = CreatedKeyView {
        key: created.info.into(),
        secret: created.secret,
    };
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(body),
    )
        .into_response())
}

/// The practice's API keys (needs `settings.manage`).
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "staff",
    responses((status = 200, description = "Keys, newest first", body = Vec<KeyView>)))]
pub async fn list(ctx: Ctx) -> Result<Json<Vec<KeyView>>, AppError> {
    let keys = ctx.run(async |tx| api_keys::list(tx).await).await?;
    Ok(Json(keys.into_iter().map(KeyView::from).collect()))
}

/// Revokes a key (needs `settings.manage`).
#[utoipa::path(post, path = "/api/v1/api-keys/{id}/revoke", tag = "staff",
    params(("id" = Uuid, Path, description = "Key id")),
    responses((status = 204, description = "Revoked"), (status = 404, description = "No such key", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn revoke(ctx: Ctx, Path(id): Path<ApiKeyId>) -> Result<StatusCode, AppError> {
    let now = ctx.now();
    ctx.run(async |tx| api_keys::revoke(tx, id, now).await)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
