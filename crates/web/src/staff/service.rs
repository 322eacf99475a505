//! The staff work shared by its API routes and its pages: sending an invitation (the
//! mail goes out before the commit, so no mail means no invitation) and accepting one.

use crate::context::Ctx;
use crate::identity::service::verify_account_password;
use crate::{AppError, AppState};
use paddock_domain::{DisplayName, Email, FieldErrors, RoleId};
use paddock_store::staff::invitations::{self, Acceptor, CreatedInvitation};

/// Creates an invitation and emails its link, in the request's one transaction
/// (shared by the API and the staff page). The mail goes out before the commit: if it
/// cannot, the transaction rolls back and no dangling invitation remains.
pub(crate) async fn send_invitation(
    ctx: Ctx,
    email: &Email,
    role_id: RoleId,
) -> Result<invitations::Invitation, AppError> {
    let state = ctx.state.clone();
    let meta = ctx.meta.clone();
    let now = ctx.now();
    ctx.try_run(async |tx| {
        let created = invitations::create(tx, email, role_id, now).await?;
        // A mail that cannot go out rolls the invitation back with it.
        mail_invitation(&state, &meta, email, &created).await?;
        Ok(created.invitation)
    })
    .await
}

/// Parses an invitation's email as sent (the page and the API both take text).
pub(crate) fn invitee(raw_email: &str) -> Result<Email, AppError> {
    Ok(Email::parse("email", raw_email).map_err(FieldErrors::from)?)
}

async fn mail_invitation(
    state: &AppState,
    meta: &paddock_store::RequestMeta,
    email: &Email,
    created: &CreatedInvitation,
) -> Result<(), AppError> {
    let link = format!("{}/invitations/{}", state.mail.public_url, created.token);
    let message = paddock_notify::Email {
        to: email.as_str().to_owned(),
        subject: format!(
            "You are invited to join {} on Paddock",
            created.practice_name
        ),
        text: format!(
            "Hello,\n\nYou have been invited to join {practice} on Paddock as {role}.\n\n\
             Accept the invitation here (the link works once, for 7 days):\n\n{link}\n\n\
             If you did not expect this, ignore this message.\n",
            practice = created.practice_name,
            role = created.role_name,
        ),
        html: None,
    };
    state
        .mail
        .mailer
        .send(&state.mail.from, &message)
        .await
        .map_err(|error| {
            // The cause (paths, SMTP replies) is for the log; the client hears only what happened.
            tracing::error!(request_id = %meta.request_id, %error, "invitation mail not sent");
            AppError::Unavailable(
                "The invitation could not be emailed; nothing was saved. Try again later.".into(),
            )
        })
}

/// Accepts an invitation (shared by the API and the invitation page).
pub(crate) async fn accept_invitation(
    state: &AppState,
    meta: &paddock_store::RequestMeta,
    token: &str,
    password: &str,
    display_name: Option<&str>,
) -> Result<(paddock_domain::UserId, paddock_domain::PracticeId), AppError> {
    let now = state.auth.clock.now();
    let open = invitations::open(&state.db, token, now, meta)
        .await?
        .ok_or(AppError::NotFound)?;
    let hasher = &state.auth.hasher;
    let acceptor = match open.existing_user {
        Some((user_id, hash)) => {
            // The invitee proves they own the account; guesses count towards its lockout.
            verify_account_password(state, meta, &open.email, hash.as_deref(), password).await?;
            Acceptor::Existing(user_id)
        }
        None => {
            let mut errors = FieldErrors::default();
            let name = display_name.unwrap_or_default();
            let display_name = errors.check(DisplayName::parse("display_name", name));
            let context = [open.email.as_str(), name, open.practice_name.as_str()];
            let password = errors.check(
                state
                    .auth
                    .check_new_password("password", password, &context)
                    .await,
            );
            let (Some(display_name), Some(password)) = (display_name, password) else {
                return Err(errors.into());
            };
            let password_hash = hasher
                .hash(&password)
                .await
                .map_err(|e| AppError::Internal(format!("password hashing: {e}")))?;
            Acceptor::New {
                display_name,
                password_hash,
            }
        }
    };
    invitations::accept(&state.db, token, acceptor, now, meta)
        .await?
        .ok_or(AppError::NotFound)
}
