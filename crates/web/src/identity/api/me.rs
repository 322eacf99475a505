//! `GET /api/v1/me`: who the caller is, wherever the credential came from.

use crate::context::AuthMethod;
use crate::context::Ctx;
use crate::input::Json;
use crate::{AppError, AppState};
use paddock_store::staff::members;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// The `me` route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(me))
}

/// The caller's identity, practice, role and permissions.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    /// The person.
    pub user: UserSummary,
    /// The practice acted in.
    pub practice: Named,
    /// The role there.
    pub role: Named,
    /// What the credential may do (an API key may hold fewer than its creator's role).
    pub permissions: Vec<String>,
    /// How the request was authenticated.
    pub authenticated_by: AuthMethod,
}

/// A person.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserSummary {
    /// Id.
    pub id: Uuid,
    /// Sign-in email.
    pub email: String,
    /// Display name.
    pub display_name: String,
}

/// Something with an id and a name.
#[derive(Debug, Serialize, ToSchema)]
pub struct Named {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
}

/// Who am I? Works with the session cookie, an access token or an API key.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses(
        (status = 200, description = "The caller", body = MeResponse),
        (status = 401, description = "Not authenticated", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn me(ctx: Ctx) -> Result<Json<MeResponse>, AppError> {
    let principal = ctx.principal.clone();
    let method = ctx.method;
    let me = ctx.run(async |tx| members::me(tx).await).await?;
    Ok(Json(MeResponse {
        user: UserSummary {
            id: principal.user_id().as_uuid(),
            email: me.email,
            display_name: me.display_name,
        },
        practice: Named {
            id: principal.practice_id().as_uuid(),
            name: me.practice_name,
        },
        role: Named {
            id: principal.role_id().as_uuid(),
            name: principal.role_name().to_owned(),
        },
        permissions: principal
            .permissions()
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect(),
        authenticated_by: method,
    }))
}
