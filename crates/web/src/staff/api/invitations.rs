//! Staff invitations: create (emails a single-use link), list, revoke, accept.

use crate::context::Ctx;
use crate::context::Meta;
use crate::input::Json;
use crate::input::Params;
use crate::input::Path;
use crate::staff::service::{accept_invitation, invitee, send_invitation};
use crate::{AppError, AppState};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use paddock_domain::{FieldErrors, InvitationId, Permission, RoleId};
use paddock_store::staff::invitations::{self, SentInvitation};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// The invitation routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, invite))
        .routes(routes!(revoke))
        .routes(routes!(revoke_by_post))
        .routes(routes!(accept))
}

/// Whom to invite, with which role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    /// Their email.
    pub email: String,
    /// The role they will get.
    pub role_id: Uuid,
}

/// A sent invitation (the link went by email only).
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationView {
    /// Id (for revoking).
    pub id: Uuid,
    /// Invited email.
    pub email: String,
    /// Role id.
    pub role_id: Uuid,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
}

/// Invites someone by email (needs `staff.manage`; the role's permissions must be the inviter's too).
#[utoipa::path(post, path = "/api/v1/invitations", tag = "staff", request_body = InviteRequest,
    responses(
        (status = 201, description = "Invitation emailed", body = InvitationView),
        (status = 409, description = "Already a member", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid email or role", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn invite(
    ctx: Ctx,
    Json(body): Json<InviteRequest>,
) -> Result<(StatusCode, Json<InvitationView>), AppError> {
    let email = invitee(&body.email)?;
    let inv = send_invitation(ctx, &email, RoleId::from_uuid(body.role_id)).await?;
    Ok((
        StatusCode::CREATED,
        Json(InvitationView {
            id: inv.id,
            email: inv.email,
            role_id: inv.role_id.as_uuid(),
            expires_at: inv.expires_at,
        }),
    ))
}

/// An invitation as listed: whom, with which role, sent by whom, and where it stands
/// (never its link).
#[derive(Debug, Serialize, ToSchema)]
pub struct SentInvitationView {
    /// Id (for revoking).
    pub id: Uuid,
    /// Invited email.
    pub email: String,
    /// The role they would get.
    pub role_id: Uuid,
    /// That role's name.
    pub role_name: String,
    /// The user who sent it (`null` when an admin command did).
    pub sent_by: Option<Uuid>,
    /// Their display name.
    pub sent_by_name: Option<String>,
    /// When it was sent.
    pub sent_at: DateTime<Utc>,
    /// When the link stops (or stopped) working.
    pub expires_at: DateTime<Utc>,
    /// `open`, `accepted`, `revoked` or `expired`.
    pub status: &'static str,
}

impl From<SentInvitation> for SentInvitationView {
    fn from(i: SentInvitation) -> Self {
        Self {
            id: i.id,
            email: i.email,
            role_id: i.role_id.as_uuid(),
            role_name: i.role_name,
            sent_by: i.sent_by.map(|u| u.as_uuid()),
            sent_by_name: i.sent_by_name,
            sent_at: i.sent_at,
            expires_at: i.expires_at,
            status: i.status.as_str(),
        }
    }
}

/// A page of invitations.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationPage {
    /// Newest first.
    pub items: Vec<SentInvitationView>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// The practice's invitations, newest first, whatever their status (needs `staff.manage`).
#[utoipa::path(get, path = "/api/v1/invitations", tag = "staff",
    params(
        ("limit" = Option<u32>, Query, description = "1 to 200, default 50."),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page."),
    ),
    responses(
        (status = 200, description = "One page of invitations", body = InvitationPage),
        crate::responses::MissingStaffManage,
        (status = 422, description = "Invalid or unknown parameter", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    ctx: Ctx,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<InvitationPage>, AppError> {
    ctx.principal.require(Permission::StaffManage)?;
    let pairs = query.map(|Query(p)| p).unwrap_or_default();
    let params = Params::parse(&pairs, &["limit", "cursor"])?;
    let mut errors = FieldErrors::default();
    let (limit, cursor) = params.page(&mut errors);
    errors.into_result()?;
    let now = ctx.now();
    let page = ctx
        .run(async |tx| invitations::list(tx, now, limit, cursor.as_ref()).await)
        .await?;
    Ok(Json(InvitationPage {
        items: page
            .items
            .into_iter()
            .map(SentInvitationView::from)
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

/// Revokes an open invitation (needs `staff.manage`; audited). The same as
/// `DELETE /api/v1/invitations/{id}`, for clients that only post.
#[utoipa::path(post, path = "/api/v1/invitations/{id}/revoke", tag = "staff",
    params(("id" = Uuid, Path, description = "Invitation id")),
    responses(
        (status = 204, description = "Revoked"),
        crate::responses::MissingStaffManage,
        (status = 404, description = "No such open invitation (another practice's id answers the same)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke_by_post(ctx: Ctx, id: Path<InvitationId>) -> Result<StatusCode, AppError> {
    revoke(ctx, id).await
}

/// Revokes an open invitation (needs `staff.manage`).
#[utoipa::path(delete, path = "/api/v1/invitations/{id}", tag = "staff",
    params(("id" = Uuid, Path, description = "Invitation id")),
    responses((status = 204, description = "Revoked"), (status = 404, description = "No such open invitation", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn revoke(ctx: Ctx, Path(id): Path<InvitationId>) -> Result<StatusCode, AppError> {
    let now = ctx.now();
    ctx.run(async |tx| invitations::revoke(tx, id, now).await)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Accepting an invitation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptRequest {
    /// The token from the emailed link.
    pub token: String,
    /// A new password (new account), or the existing account's password.
    pub password: String,
    /// The name to show (new accounts).
    pub display_name: Option<String>,
}

/// Where the acceptor now belongs.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// The person.
    pub user_id: Uuid,
    /// The practice joined.
    pub practice_id: Uuid,
}

/// Accepts an invitation: creates the account if needed (the password must pass the
/// policy) and the membership. Works once; an expired, revoked or used link is 404.
#[utoipa::path(post, path = "/api/v1/invitations/accept", tag = "staff", request_body = AcceptRequest,
    responses(
        (status = 200, description = "Joined; sign in next", body = Accepted),
        (status = 401, description = "Wrong password for the existing account", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown, used, revoked or expired link", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::PasswordRefused,
    ))]
pub async fn accept(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Json(body): Json<AcceptRequest>,
) -> Result<Json<Accepted>, AppError> {
    let (user_id, practice_id) = accept_invitation(
        &state,
        &meta,
        &body.token,
        &body.password,
        body.display_name.as_deref(),
    )
    .await?;
    Ok(Json(Accepted {
        user_id: user_id.as_uuid(),
        practice_id: practice_id.as_uuid(),
    }))
}
