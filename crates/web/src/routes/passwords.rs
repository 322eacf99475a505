//! Password change (signed in) and reset (by emailed single-use link).

use crate::auth::{Auth, Meta};
use crate::{AppError, AppState};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use paddock_domain::{Email, FieldErrors};
use paddock_store::{members, passwords};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The password routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(change))
        .routes(routes!(request_reset))
        .routes(routes!(confirm_reset))
}

/// A password change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    /// The current password.
    pub current_password: String,
    /// The new one (12+ characters, not breached, not guessable).
    pub new_password: String,
}

/// Changes the caller's password; every other session of theirs, in every practice, ends.
#[utoipa::path(post, path = "/api/v1/auth/password", tag = "auth", request_body = ChangePassword,
    responses(
        (status = 204, description = "Changed"),
        (status = 401, description = "Current password wrong", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "New password refused by the policy", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn change(
    State(state): State<AppState>,
    Meta(meta): Meta,
    auth: Auth,
    Json(body): Json<ChangePassword>,
) -> Result<StatusCode, AppError> {
    let session = auth.session.as_ref().ok_or(AppError::Forbidden(
        "Change passwords from a signed-in session.".into(),
    ))?;
    crate::routes::auth::verify_own_password(
        &state,
        &meta,
        &auth.principal,
        &body.current_password,
    )
    .await?;
    let mut tx = state.db.begin(&auth.principal, &meta).await?;
    let me = members::me(&mut tx).await?;
    tx.commit().await?;
    let hasher = &state.auth.hasher;
    let context = [
        me.email.as_str(),
        me.display_name.as_str(),
        me.practice_name.as_str(),
    ];
    let password = state
        .auth
        .check_new_password("new_password", &body.new_password, &context)
        .await
        .map_err(FieldErrors::from)?;
    let new_hash = hasher
        .hash(&password)
        .await
        .map_err(|e| AppError::Internal(format!("password hashing: {e}")))?;
    passwords::change(
        &state.db,
        auth.principal.user_id(),
        session.session_id,
        &new_hash,
        state.auth.clock.now(),
        &meta,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A reset request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    /// The account's email.
    pub email: String,
}

/// Emails a reset link (valid 30 minutes, once) if the account exists. The answer is
/// the same whether or not it does.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", request_body = ResetRequest,
    responses((status = 202, description = "If the account exists, a link is on its way")))]
pub async fn request_reset(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Json(body): Json<ResetRequest>,
) -> Result<StatusCode, AppError> {
    start_reset(&state, &meta, &body.email).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Emails a reset link if the account exists (shared by the API and the page).
pub(crate) async fn start_reset(
    state: &AppState,
    meta: &paddock_store::RequestMeta,
    raw_email: &str,
) -> Result<(), AppError> {
    let email = Email::parse("email", raw_email).map_err(FieldErrors::from)?;
    let now = state.auth.clock.now();
    if let Some(reset) = passwords::request_reset(&state.db, &email, now, meta).await? {
        let link = format!("{}/reset-password/{}", state.mail.public_url, reset.token);
        let message = paddock_notify::Email {
            to: email.as_str().to_owned(),
            subject: "Reset your Paddock password".to_owned(),
            text: format!(
                "Hello {name},\n\nSomeone (hopefully you) asked to reset your Paddock password.\n\
                 Choose a new one here (the link works once, for 30 minutes):\n\n{link}\n\n\
                 Every session of yours will be signed out. If you did not ask, ignore this message.\n",
                name = reset.display_name,
            ),
            html: None,
        };
        // Sent in the background so the answer takes as long for unknown emails.
        let mail = state.mail.clone();
        let request_id = meta.request_id.clone();
        tokio::spawn(async move {
            if let Err(error) = mail.mailer.send(&mail.from, &message).await {
                tracing::error!(%request_id, %error, "password reset mail not sent");
            }
        });
    }
    Ok(())
}

/// Completing a reset.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmReset {
    /// The token from the emailed link.
    pub token: String,
    /// The new password.
    pub new_password: String,
}

/// Sets a new password from a reset link; every session of the person ends.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "auth", request_body = ConfirmReset,
    responses(
        (status = 204, description = "Password set; sign in again"),
        (status = 404, description = "Unknown, used or expired link", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Password refused by the policy", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn confirm_reset(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Json(body): Json<ConfirmReset>,
) -> Result<StatusCode, AppError> {
    finish_reset(&state, &meta, &body.token, &body.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sets the new password from a reset link (shared by the API and the page).
pub(crate) async fn finish_reset(
    state: &AppState,
    meta: &paddock_store::RequestMeta,
    token: &str,
    new_password: &str,
) -> Result<(), AppError> {
    let now = state.auth.clock.now();
    let (_, email) = passwords::reset_target(&state.db, token, now, meta)
        .await?
        .ok_or(AppError::NotFound)?;
    let password = state
        .auth
        .check_new_password("new_password", new_password, &[email.as_str()])
        .await
        .map_err(FieldErrors::from)?;
    let hash = state
        .auth
        .hasher
        .hash(&password)
        .await
        .map_err(|e| AppError::Internal(format!("password hashing: {e}")))?;
    passwords::complete_reset(&state.db, token, &hash, now, meta)
        .await?
        .ok_or(AppError::NotFound)?;
    Ok(())
}
