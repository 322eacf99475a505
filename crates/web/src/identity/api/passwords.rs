//! Password change (signed in), reset (by emailed single-use link), and unlocking a
//! locked account (by emailed single-use link).

use crate::context::{Auth, Meta};
use crate::identity::service::{finish_reset, start_reset, unlock_account};
use crate::input::Json;
use crate::{AppError, AppState};
use axum::extract::State;
use axum::http::StatusCode;
use paddock_domain::{FieldError, FieldErrors};
use paddock_store::{identity::passwords, staff::members};
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
        .routes(routes!(unlock))
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
    crate::identity::service::verify_own_password(
        &state,
        &meta,
        &auth.principal,
        &body.current_password,
    )
    .await?;
    // The current password was just verified, so equal text means the same password.
    if body.new_password == body.current_password {
        return Err(AppError::Validation(vec![FieldError::new(
            "new_password",
            "must differ from the current password",
        )]));
    }
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
/// the same, and given before any lookup, whether or not it does; at most 3 links per
/// email and 10 requests per client address go out in any hour.
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

/// Using an unlock link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnlockRequest {
    /// The token from the emailed link.
    pub token: String,
}

/// Lifts a sign-in lock with the link mailed to the account's owner (once, within an
/// hour): the account-wide lock and that of the address it is used from.
#[utoipa::path(post, path = "/api/v1/auth/unlock", tag = "auth", request_body = UnlockRequest,
    responses(
        (status = 204, description = "Unlocked; sign in again"),
        crate::responses::UnknownLink,
    ))]
pub async fn unlock(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Json(body): Json<UnlockRequest>,
) -> Result<StatusCode, AppError> {
    unlock_account(&state, &meta, &body.token).await?;
    Ok(StatusCode::NO_CONTENT)
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
        crate::responses::UnknownLink,
        crate::responses::PasswordRefused,
    ))]
pub async fn confirm_reset(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Json(body): Json<ConfirmReset>,
) -> Result<StatusCode, AppError> {
    finish_reset(&state, &meta, &body.token, &body.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}
