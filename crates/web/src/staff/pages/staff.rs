//! The staff pages: the staff list with its invitations (invite, revoke) and member
//! actions (role change, deactivate, reactivate), and the page an invitation link opens
//! (accept, as a new or an existing account). The rules live in `service.rs`, shared
//! with the API.

use super::service;
use super::views::*;
use crate::auth::{Meta, REAUTH_WINDOW};
use crate::context::{CsrfForm, Page};
use crate::form::NoFields;
use crate::layout::{MessagePage, PageSession, nav, signed_in};
use crate::{AppError, AppState};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use paddock_domain::{MembershipId, RoleId};
use paddock_store::{
    RequestMeta, staff::changes, staff::invitations, staff::members, staff::roles,
};
use serde::Deserialize;
use uuid::Uuid;

/// The staff page routes.
pub fn pages() -> Router<AppState> {
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

async fn staff_page(
    State(state): State<AppState>,
    Meta(meta): Meta,
    page: Page,
    Query(q): Query<StaffQuery>,
) -> Result<Response, AppError> {
    let page = signed_in(page).await?;
    render_staff(
        &state,
        &page,
        &meta,
        q.notice.as_deref().map(staff_notice),
        None,
        StatusCode::OK,
    )
    .await
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

async fn render_staff(
    state: &AppState,
    page: &PageSession,
    meta: &RequestMeta,
    notice: Option<String>,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, AppError> {
    let nav = nav(state, page, meta).await?;
    let mut tx = state.db.begin(&page.auth.principal, meta).await?;
    let listed = members::list(&mut tx).await?;
    let role_list = roles::list(&mut tx).await?;
    // The newest page; older ones are in the API's list.
    let sent = invitations::list(
        &mut tx,
        state.auth.clock.now(),
        paddock_store::page::MAX_LIMIT,
        None,
    )
    .await?;
    tx.commit().await?;
    let invitations = sent
        .items
        .into_iter()
        .map(|i| InvitationRow {
            id: i.id,
            email: i.email,
            role_name: i.role_name,
            sent_by: i.sent_by_name.unwrap_or_else(|| "—".to_owned()),
            expires: i.expires_at.format("%Y-%m-%d %H:%M").to_string(),
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
            active: m.status == paddock_domain::MembershipStatus::Active,
        })
        .collect();
    let roles = role_list
        .into_iter()
        .map(|r| (r.id.as_uuid(), r.name))
        .collect();
    Ok((
        status,
        StaffPage {
            nav,
            members,
            roles,
            invitations,
            notice,
            error,
        },
    )
        .into_response())
}

/// A page's answer to a refused staff action: the page again, with the reason.
async fn staff_error(
    state: &AppState,
    page: &PageSession,
    meta: &RequestMeta,
    error: AppError,
) -> Result<Response, AppError> {
    let (status, message) = match &error {
        AppError::Validation(errors) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        AppError::Conflict(field) => (
            StatusCode::CONFLICT,
            format!("{}: {}", field.field, field.message),
        ),
        AppError::Forbidden(detail) => (StatusCode::FORBIDDEN, detail.clone()),
        AppError::NotFound => (
            StatusCode::NOT_FOUND,
            "That member does not exist.".to_owned(),
        ),
        AppError::Unavailable(detail) => (StatusCode::SERVICE_UNAVAILABLE, detail.clone()),
        _ => return Err(error),
    };
    render_staff(state, page, meta, None, Some(message), status).await
}

#[derive(Deserialize)]
struct InviteForm {
    email: String,
    role_id: Uuid,
}

async fn staff_invite(
    State(state): State<AppState>,
    Meta(meta): Meta,
    page: Page,
    CsrfForm(form): CsrfForm<InviteForm>,
) -> Result<Response, AppError> {
    let page = signed_in(page).await?;
    match service::send_invitation(&state, &page.auth, &meta, &form.email, form.role_id).await {
        Ok(_) => Ok(Redirect::to("/staff?notice=invited").into_response()),
        Err(error) => staff_error(&state, &page, &meta, error).await,
    }
}

/// `POST /staff/invitations/{id}/revoke`: the staff page's revoke button.
async fn staff_invitation_revoke(
    State(state): State<AppState>,
    Meta(meta): Meta,
    page: Page,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, AppError> {
    let page = signed_in(page).await?;
    let mut tx = state.db.begin(&page.auth.principal, &meta).await?;
    match invitations::revoke(&mut tx, id, state.auth.clock.now()).await {
        Ok(()) => {
            tx.commit().await?;
            Ok(Redirect::to("/staff?notice=invitation-revoked").into_response())
        }
        Err(error) => {
            tx.rollback().await?;
            staff_error(&state, &page, &meta, error.into()).await
        }
    }
}

#[derive(Deserialize)]
struct MemberForm {
    role_id: Option<Uuid>,
}

async fn staff_member_action(
    State(state): State<AppState>,
    Meta(meta): Meta,
    page: Page,
    Path((id, action)): Path<(Uuid, String)>,
    CsrfForm(form): CsrfForm<MemberForm>,
) -> Result<Response, AppError> {
    let page = signed_in(page).await?;
    let now = state.auth.clock.now();
    let membership = MembershipId::from_uuid(id);
    let mut tx = state.db.begin(&page.auth.principal, &meta).await?;
    let outcome = match (action.as_str(), form.role_id) {
        ("role", Some(role_id)) => {
            if now - page.session.reauthenticated_at > REAUTH_WINDOW {
                return Ok(Redirect::to("/reauth?next=/staff").into_response());
            }
            changes::change_role(&mut tx, membership, RoleId::from_uuid(role_id), now)
                .await
                .map(|_| "role-changed")
        }
        ("deactivate", _) => changes::deactivate(&mut tx, membership, now)
            .await
            .map(|()| "deactivated"),
        ("reactivate", _) => changes::reactivate(&mut tx, membership)
            .await
            .map(|()| "reactivated"),
        _ => return Err(AppError::NotFound),
    };
    match outcome {
        Ok(notice) => {
            tx.commit().await?;
            Ok(Redirect::to(&format!("/staff?notice={notice}")).into_response())
        }
        Err(error) => {
            tx.rollback().await?;
            staff_error(&state, &page, &meta, error.into()).await
        }
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
    match service::accept_invitation(
        &state,
        &meta,
        &token,
        &form.password,
        form.display_name.as_deref(),
    )
    .await
    {
        Ok(_) => Ok(Redirect::to("/login?notice=joined").into_response()),
        Err(AppError::Validation(errors)) => {
            let errors = errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect();
            let name = form.display_name.unwrap_or_default();
            render_invitation(
                &state,
                &meta,
                &token,
                name,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(AppError::Locked { retry_after }) => {
            let errors = vec![format!(
                "Too many failed attempts. Try again in {} minute(s).",
                retry_after.div_ceil(60)
            )];
            render_invitation(
                &state,
                &meta,
                &token,
                String::new(),
                errors,
                StatusCode::TOO_MANY_REQUESTS,
            )
            .await
        }
        Err(AppError::InvalidCredentials) => {
            let errors = vec!["That is not the password of your existing account.".to_owned()];
            render_invitation(
                &state,
                &meta,
                &token,
                String::new(),
                errors,
                StatusCode::UNAUTHORIZED,
            )
            .await
        }
        Err(AppError::NotFound) => {
            render_invitation(
                &state,
                &meta,
                &token,
                String::new(),
                Vec::new(),
                StatusCode::NOT_FOUND,
            )
            .await
        }
        Err(error) => Err(error),
    }
}
