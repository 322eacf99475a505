//! Password change (signed in), reset (by emailed single-use link), and unlocking a
//! locked account (by emailed single-use link).

use crate::auth::{Auth, Meta};
use crate::{AppError, AppState};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use paddock_domain::{Email, FieldError, FieldErrors, UserId};
use paddock_store::{RequestMeta, identity::passwords, identity::signin, staff::members};
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
    crate::routes::auth::verify_own_password(
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

/// Emails a reset link if the account exists (shared by the API and the page).
///
/// Only the email's syntax is checked before the answer: the limits, the lookup, the
/// writes and the mail all run after it, on a background task, so the answer and its
/// timing are the same whether or not the account exists or the limit was reached.
pub(crate) async fn start_reset(
    state: &AppState,
    meta: &RequestMeta,
    raw_email: &str,
) -> Result<(), AppError> {
    let email = Email::parse("email", raw_email).map_err(FieldErrors::from)?;
    let now = state.auth.clock.now();
    let db = state.db.clone();
    let mail = state.mail.clone();
    let meta = meta.clone();
    state.background.spawn(async move {
        let reset = match passwords::request_reset(&db, &email, now, &meta).await {
            Ok(Some(reset)) => reset,
            Ok(None) => return,
            Err(error) => {
                tracing::error!(request_id = %meta.request_id, %error, "password reset not started");
                return;
            }
        };
        let link = format!("{}/reset-password/{}", mail.public_url, reset.token);
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
        if let Err(error) = mail.mailer.send(&mail.from, &message).await {
            tracing::error!(request_id = %meta.request_id, %error, "password reset mail not sent");
        }
    });
    Ok(())
}

/// After a failure locked `user_id`'s account, mails its owner a single-use unlock
/// link (in the background, so a lock answers as fast for every email).
pub(crate) fn offer_unlock(state: &AppState, meta: &RequestMeta, user_id: UserId) {
    let db = state.db.clone();
    let mail = state.mail.clone();
    let meta = meta.clone();
    let now = state.auth.clock.now();
    state.background.spawn(async move {
        let link = match signin::issue_unlock(&db, user_id, now, &meta).await {
            Ok(Some(link)) => link,
            Ok(None) => return,
            Err(error) => {
                tracing::error!(request_id = %meta.request_id, %error, "unlock link not issued");
                return;
            }
        };
        let url = format!("{}/unlock/{}", mail.public_url, link.token);
        let message = paddock_notify::Email {
            to: link.email.clone(),
            subject: "Your Paddock account was locked".to_owned(),
            text: format!(
                "Hello {name},\n\nSign-in to your Paddock account was locked after repeated wrong passwords.\n\
                 If that was you, or you want back in now, lift the lock here (the link works once, for an hour):\n\n{url}\n\n\
                 If it was not you, someone may be guessing your password: consider changing it once you are in.\n",
                name = link.display_name,
            ),
            html: None,
        };
        if let Err(error) = mail.mailer.send(&mail.from, &message).await {
            tracing::error!(request_id = %meta.request_id, %error, "unlock mail not sent");
        }
    });
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
        (status = 404, description = "Unknown, used or expired link", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn unlock(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Json(body): Json<UnlockRequest>,
) -> Result<StatusCode, AppError> {
    unlock_account(&state, &meta, &body.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Uses an unlock link (shared by the API and the page).
pub(crate) async fn unlock_account(
    state: &AppState,
    meta: &RequestMeta,
    token: &str,
) -> Result<(), AppError> {
    let now = state.auth.clock.now();
    if signin::unlock(&state.db, token, now, meta).await? {
        Ok(())
    } else {
        Err(AppError::NotFound)
    }
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
    meta: &RequestMeta,
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
