//! The staff pages: the staff list with its invitations (invite, revoke) and member
//! actions (role change, deactivate, reactivate), and the page an invitation link opens
//! (accept, as a new or an existing account). The rules live in `service.rs`, shared
//! with the API.

use crate::AppError;
use crate::AppState;
use crate::context::Meta;
use crate::context::{CsrfForm, Page};
use crate::form::NoFields;
use crate::input::Query;
use crate::layout::{MessagePage, Nav};
use crate::staff::service;
use crate::staff::views::*;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use paddock_domain::{InvitationId, MembershipId, MembershipStatus, RoleId};
use paddock_store::{
    RequestMeta, staff::changes, staff::invitations, staff::members, staff::roles,
};
use serde::Deserialize;
use uuid::Uuid;

/// The staff page routes.
pub(super) fn pages() -> Router<AppState> {
    Router::new()
        .route("/staff", get(staff_page))
        .route("/staff/invitations", post(staff_invite))
        .route(
            "/staff/invitations/{id}/revoke",
            post(staff_invitation_revoke),
        )
        .route("/staff/members/{id}/{action}", post(staff_member_action))
        .route(
            "/invitations/{token}",
            get(invitation_page).post(invitation_submit),
        )
}

/// `GET /staff`: members, roles and the newest invitations, read in the request's one
/// transaction (the store calls need `staff.manage`).
async fn staff_page(
    Page { ctx, nav }: Page,
    Query(q): Query<StaffQuery>,
) -> Result<Response, AppError> {
    let now = ctx.now();
    let (listed, role_list, sent) = ctx
        .run(async |tx| {
            let listed = members::list(tx).await?;
            let role_list = roles::list(tx).await?;
            // The newest page; older ones are in the API's list.
            let sent = invitations::list(tx, now, paddock_store::page::MAX_LIMIT, None).await?;
            Ok((listed, role_list, sent))
        })
        .await?;
    let zone = nav.zone;
    let invitations = sent
        .items
        .into_iter()
        .map(|i| InvitationRow {
            id: i.id,
            email: i.email,
            role_name: i.role_name,
            sent_by: i.sent_by_name.unwrap_or_else(|| "—".to_owned()),
            expires: zone.format_date_time(i.expires_at),
            open: i.status == invitations::InvitationStatus::Open,
            status: i.status.as_str(),
        })
        .collect();
    let members = listed
        .into_iter()
        .map(|m| MemberRow {
            id: m.membership_id.as_uuid(),
            email: m.email,
            display_name: m.display_name,
            role_id: m.role_id.as_uuid(),
            status: m.status.as_str(),
            active: m.status == MembershipStatus::Active,
        })
        .collect();
    let roles = role_list
        .into_iter()
        .map(|r| (r.id.as_uuid(), r.name))
        .collect();
    Ok(StaffPage {
        nav: nav.at("staff"),
        members,
        roles,
        invitations,
        notice: q.notice.as_deref().map(staff_notice),
    }
    .into_response())
}

#[derive(Deserialize)]
struct StaffQuery {
    notice: Option<String>,
}

/// Only fixed notices can be shown through the query string.
fn staff_notice(key: &str) -> String {
    match key {
        "invited" => "Invitation sent.",
        "role-changed" => "Role changed.",
        "deactivated" => "Member deactivated; their sessions and keys were revoked.",
        "reactivated" => "Member reactivated.",
        "invitation-revoked" => "Invitation revoked; its link no longer works.",
        _ => "",
    }
    .to_owned()
}

/// A page's answer to a refused staff action. The request's transaction is gone
/// (rolled back with whatever the action had begun), so the answer is the reason, in
/// the layout already read, and the way back to the staff page.
fn refused(nav: Nav, error: AppError) -> Result<Response, AppError> {
    let (status, message) = match &error {
        AppError::Validation(errors) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            crate::form::field_list(errors),
        ),
        AppError::Conflict(field) => (
            StatusCode::CONFLICT,
            format!("{}: {}", field.field, field.message),
        ),
        AppError::Forbidden(detail) => (StatusCode::FORBIDDEN, detail.clone()),
        AppError::NotFound => (
            StatusCode::NOT_FOUND,
            "That member or invitation does not exist.".to_owned(),
        ),
        AppError::Unavailable(detail) => (StatusCode::SERVICE_UNAVAILABLE, detail.clone()),
        _ => return Err(error),
    };
    Ok((
        status,
        StaffRefusedPage {
            nav: nav.at("staff"),
            error: message,
        },
    )
        .into_response())
}

#[derive(Deserialize)]
struct InviteForm {
    email: String,
    role_id: Uuid,
}

/// `POST /staff/invitations`: the invite form (the mail goes out before the commit).
async fn staff_invite(
    Page { ctx, nav }: Page,
    CsrfForm(form): CsrfForm<InviteForm>,
) -> Result<Response, AppError> {
    let sent = match service::invitee(&form.email) {
        Ok(email) => service::send_invitation(ctx, &email, RoleId::from_uuid(form.role_id)).await,
        Err(error) => Err(error),
    };
    match sent {
        Ok(_) => Ok(Redirect::to("/staff?notice=invited").into_response()),
        Err(error) => refused(nav, error),
    }
}

/// `POST /staff/invitations/{id}/revoke`: the staff page's revoke button.
async fn staff_invitation_revoke(
    Page { ctx, nav }: Page,
    Path(id): Path<InvitationId>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, AppError> {
    let now = ctx.now();
    match ctx
        .run(async |tx| invitations::revoke(tx, id, now).await)
        .await
    {
        Ok(()) => Ok(Redirect::to("/staff?notice=invitation-revoked").into_response()),
        Err(error) => refused(nav, error),
    }
}

#[derive(Deserialize)]
struct MemberForm {
    role_id: Option<Uuid>,
}

/// `POST /staff/members/{id}/{role|deactivate|reactivate}`: a member's row's buttons.
/// A role change needs the password re-entered recently: without it the browser goes
/// to the re-auth page and back to the staff page, nothing changed.
async fn staff_member_action(
    Page { ctx, nav }: Page,
    Path((membership, action)): Path<(MembershipId, String)>,
    CsrfForm(form): CsrfForm<MemberForm>,
) -> Result<Response, AppError> {
    let now = ctx.now();
    let outcome = match (action.as_str(), form.role_id) {
        ("role", Some(role_id)) => {
            if ctx.require_recent_reauth().is_err() {
                // Authentication's bookkeeping (the idle timer) is kept.
                ctx.into_auth().await?;
                return Ok(Redirect::to("/reauth?next=/staff").into_response());
            }
            let role = RoleId::from_uuid(role_id);
            ctx.run(async |tx| changes::change_role(tx, membership, role, now).await)
                .await
                .map(|_| "role-changed")
        }
        ("deactivate", _) => ctx
            .run(async |tx| changes::deactivate(tx, membership, now).await)
            .await
            .map(|()| "deactivated"),
        ("reactivate", _) => ctx
            .run(async |tx| changes::reactivate(tx, membership).await)
            .await
            .map(|()| "reactivated"),
        _ => return Err(AppError::NotFound),
    };
    match outcome {
        Ok(notice) => Ok(Redirect::to(&format!("/staff?notice={notice}")).into_response()),
        Err(error) => refused(nav, error),
    }
}

async fn invitation_page(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    render_invitation(
        &state,
        &meta,
        &token,
        String::new(),
        Vec::new(),
        StatusCode::OK,
    )
    .await
}

async fn render_invitation(
    state: &AppState,
    meta: &RequestMeta,
    token: &str,
    display_name: String,
    errors: Vec<String>,
    status: StatusCode,
) -> Result<Response, AppError> {
    let now = state.auth.clock.now();
    let Some(open) = paddock_store::staff::invitations::open(&state.db, token, now, meta).await?
    else {
        let page = MessagePage {
            title: "Invitation not valid".to_owned(),
            text: "This invitation link is unknown, was already used, was revoked, or has expired. Ask the practice for a new one.".to_owned(),
            link_href: "/login".to_owned(),
            link_text: "Sign in".to_owned(),
        };
        return Ok((StatusCode::NOT_FOUND, page).into_response());
    };
    let page = InvitationPage {
        token: token.to_owned(),
        practice_name: open.practice_name,
        role_name: open.role_name,
        email: open.email.as_str().to_owned(),
        existing: open.existing_user.is_some(),
        display_name,
        errors,
    };
    Ok((status, page).into_response())
}

#[derive(Deserialize)]
struct AcceptForm {
    password: String,
    display_name: Option<String>,
}

async fn invitation_submit(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Path(token): Path<String>,
    Form(form): Form<AcceptForm>,
) -> Result<Response, AppError> {
    let accepted = service::accept_invitation(
        &state,
        &meta,
        &token,
        &form.password,
        form.display_name.as_deref(),
    )
    .await;
    // A refusal shows the form again (a used or expired link: the not-valid page);
    // only a refused new account keeps the name typed, never the password.
    let (status, errors, name) = match accepted {
        Ok(_) => return Ok(Redirect::to("/login?notice=joined").into_response()),
        Err(AppError::Validation(errors)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect(),
            form.display_name.unwrap_or_default(),
        ),
        Err(AppError::Locked { retry_after }) => (
            StatusCode::TOO_MANY_REQUESTS,
            vec![format!(
                "Too many failed attempts. Try again in {} minute(s).",
                retry_after.div_ceil(60)
            )],
            String::new(),
        ),
        Err(AppError::InvalidCredentials) => (
            StatusCode::UNAUTHORIZED,
            vec!["That is not the password of your existing account.".to_owned()],
            String::new(),
        ),
        Err(AppError::NotFound) => (StatusCode::NOT_FOUND, Vec::new(), String::new()),
        Err(error) => return Err(error),
    };
    render_invitation(&state, &meta, &token, name, errors, status).await
}
