//! Staff management: roles, members, role changes, deactivation.

use crate::context::Ctx;
use crate::input::Json;
use crate::input::Path;
use crate::{AppError, AppState};
use axum::http::StatusCode;
use paddock_domain::{FieldError, FieldErrors, MembershipId, Permission, RoleId};
use paddock_store::{staff::changes, staff::members, staff::roles};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// The staff routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_roles, create_role))
        .routes(routes!(update_role))
        .routes(routes!(list_members))
        .routes(routes!(change_role))
        .routes(routes!(deactivate))
        .routes(routes!(reactivate))
}

/// A role and what it grants.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleView {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Whether it is one of the five built-in roles.
    pub builtin: bool,
    /// Permission names.
    pub permissions: Vec<String>,
}

/// The practice's roles (needs `staff.manage`).
#[utoipa::path(get, path = "/api/v1/roles", tag = "staff",
    responses((status = 200, description = "Roles", body = Vec<RoleView>)))]
pub async fn list_roles(ctx: Ctx) -> Result<Json<Vec<RoleView>>, AppError> {
    let listed = ctx.run(async |tx| roles::list(tx).await).await?;
    Ok(Json(
        listed
            .into_iter()
            .map(|r| RoleView {
                id: r.id.as_uuid(),
                name: r.name,
                builtin: r.builtin.is_some(),
                permissions: r
                    .permissions
                    .iter()
                    .map(|p| p.as_str().to_owned())
                    .collect(),
            })
            .collect(),
    ))
}

/// A member of the practice.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberView {
    /// The membership id (used in the member URLs).
    pub id: Uuid,
    /// The person.
    pub user_id: Uuid,
    /// Email.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Role id.
    pub role_id: Uuid,
    /// Role name.
    pub role_name: String,
    /// `active` or `deactivated`.
    pub status: &'static str,
}

impl From<members::Member> for MemberView {
    fn from(m: members::Member) -> Self {
        Self {
            id: m.membership_id.as_uuid(),
            user_id: m.user_id.as_uuid(),
            email: m.email,
            display_name: m.display_name,
            role_id: m.role_id.as_uuid(),
            role_name: m.role_name,
            status: m.status.as_str(),
        }
    }
}

/// The practice's members (needs `staff.manage`).
#[utoipa::path(get, path = "/api/v1/members", tag = "staff",
    responses((status = 200, description = "Members", body = Vec<MemberView>)))]
pub async fn list_members(ctx: Ctx) -> Result<Json<Vec<MemberView>>, AppError> {
    let listed = ctx.run(async |tx| members::list(tx).await).await?;
    Ok(Json(listed.into_iter().map(MemberView::from).collect()))
}

/// A role change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    /// The new role (a role of this practice).
    pub role_id: Uuid,
}

/// The outcome of a role change.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleChanged {
    /// The role before.
    pub old_role: String,
    /// The role now.
    pub new_role: String,
}

/// Changes a member's role (needs `staff.manage`, the password re-entered within 10
/// minutes, and every permission of both roles; the last admin cannot be demoted).
#[utoipa::path(post, path = "/api/v1/members/{id}/role", tag = "staff", request_body = RoleChange,
    params(("id" = Uuid, Path, description = "Membership id")),
    responses(
        (status = 200, description = "Changed", body = RoleChanged),
        crate::responses::MissingPermissionOrReauth,
        crate::responses::NoSuchMember,
        crate::responses::LastAdmin,
    ))]
pub async fn change_role(
    ctx: Ctx,
    Path(id): Path<MembershipId>,
    Json(body): Json<RoleChange>,
) -> Result<Json<RoleChanged>, AppError> {
    ctx.require_recent_reauth()?;
    let now = ctx.now();
    let (old_role, new_role) = ctx
        .run(async |tx| changes::change_role(tx, id, RoleId::from_uuid(body.role_id), now).await)
        .await?;
    Ok(Json(RoleChanged { old_role, new_role }))
}

/// Deactivates a member: every session, access token and API key of theirs in this
/// practice stops working at once (needs `staff.manage`).
#[utoipa::path(post, path = "/api/v1/members/{id}/deactivate", tag = "staff",
    params(("id" = Uuid, Path, description = "Membership id")),
    responses(
        (status = 204, description = "Deactivated"),
        crate::responses::NoSuchMember,
        crate::responses::LastAdmin,
    ))]
pub async fn deactivate(ctx: Ctx, Path(id): Path<MembershipId>) -> Result<StatusCode, AppError> {
    let now = ctx.now();
    ctx.run(async |tx| changes::deactivate(tx, id, now).await)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reactivates a member (old sessions and keys stay revoked; needs `staff.manage`).
#[utoipa::path(post, path = "/api/v1/members/{id}/reactivate", tag = "staff",
    params(("id" = Uuid, Path, description = "Membership id")),
    responses((status = 204, description = "Reactivated")))]
pub async fn reactivate(ctx: Ctx, Path(id): Path<MembershipId>) -> Result<StatusCode, AppError> {
    ctx.run(async |tx| changes::reactivate(tx, id).await)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A custom role's definition.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    /// Its name, unique in the practice.
    pub name: String,
    /// Permission names it grants (each one must be yours).
    pub permissions: Vec<String>,
}

fn parse_definition(body: &RoleRequest) -> Result<roles::RoleDefinition, AppError> {
    let mut errors = FieldErrors::default();
    let name = errors.check(paddock_domain::field::bounded_text(
        "name", &body.name, 1, 100,
    ));
    let mut permissions = Vec::new();
    for name in &body.permissions {
        match name.parse::<Permission>() {
            Ok(p) => permissions.push(p),
            Err(_) => errors.0.push(FieldError::new(
                "permissions",
                format!("unknown permission `{name}`"),
            )),
        }
    }
    let Some(name) = name.filter(|_| errors.0.is_empty()) else {
        return Err(errors.into());
    };
    Ok(roles::RoleDefinition {
        name,
        permissions: permissions.into_iter().collect(),
    })
}

fn role_view(role: roles::Role) -> RoleView {
    RoleView {
        id: role.id.as_uuid(),
        name: role.name,
        builtin: role.builtin.is_some(),
        permissions: role
            .permissions
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect(),
    }
}

/// Creates a custom role (needs `staff.manage`, a recent password, and every permission it grants).
#[utoipa::path(post, path = "/api/v1/roles", tag = "staff", request_body = RoleRequest,
    responses(
        (status = 201, description = "Created", body = RoleView),
        crate::responses::MissingPermissionOrReauth,
        (status = 409, description = "Name taken", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name or permission", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_role(
    ctx: Ctx,
    Json(body): Json<RoleRequest>,
) -> Result<(StatusCode, Json<RoleView>), AppError> {
    let definition = parse_definition(&body)?;
    ctx.require_recent_reauth()?;
    let role = ctx
        .run(async |tx| roles::create(tx, &definition).await)
        .await?;
    Ok((StatusCode::CREATED, Json(role_view(role))))
}

/// Redefines a custom role (built-in roles are fixed; needs `staff.manage`, a recent
/// password, and every permission of the old and new definition).
#[utoipa::path(put, path = "/api/v1/roles/{id}", tag = "staff", request_body = RoleRequest,
    params(("id" = Uuid, Path, description = "Role id")),
    responses(
        (status = 200, description = "Updated", body = RoleView),
        (status = 404, description = "No such role", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Built-in role, or name taken", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_role(
    ctx: Ctx,
    Path(id): Path<RoleId>,
    Json(body): Json<RoleRequest>,
) -> Result<Json<RoleView>, AppError> {
    let definition = parse_definition(&body)?;
    ctx.require_recent_reauth()?;
    let role = ctx
        .run(async |tx| roles::update(tx, id, &definition).await)
        .await?;
    Ok(Json(role_view(role)))
}
