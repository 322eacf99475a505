//! Second factor: TOTP (authenticator app) and SMS codes, enrolment and sign-in.
//!
//! A session that passed the password of a person with a confirmed factor (or in a
//! practice that demands one) is *pending*: it can only complete the factor here, or
//! enrol one if the practice demands it and the person has none. Wrong codes count
//! towards the account's lockout, like wrong passwords, until the sign-in completes.

use crate::context::{Auth, Meta, PendingAuth};
use crate::identity::service::{
    Method, code_hash, complete, email_of, guard_lockout, open_phone, phone_aad, send_code,
    send_sign_in, six_digits, totp_aad, totp_for, totp_step,
};
use crate::input::Json;
use crate::{AppError, AppState};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use paddock_domain::{Email, FieldError, FieldErrors};
use paddock_notify::PhoneNumber;
use paddock_store::identity::second_factor::{self, CodeCheck, CodePurpose, Factor, Factors};
use paddock_store::identity::sessions::{self, IssuedSession};
use paddock_store::{RequestMeta, identity::signin};
use rand::Rng;
use serde::{Deserialize, Serialize};
use totp_rs::Secret;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The second-factor routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(verify))
        .routes(routes!(send_sign_in_code))
        .routes(routes!(totp_enrol))
        .routes(routes!(totp_confirm))
        .routes(routes!(sms_enrol))
        .routes(routes!(sms_confirm))
}

/// A code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    /// Where the code comes from (default: totp).
    #[serde(default = "default_method")]
    pub method: Method,
    /// The six digits.
    pub code: String,
}

fn default_method() -> Method {
    Method::Totp
}

/// Completes sign-in with a TOTP or SMS code.
#[utoipa::path(post, path = "/api/v1/auth/second-factor", tag = "auth", request_body = CodeRequest,
    responses(
        (status = 200, description = "Second factor accepted; the session is fully signed in under a new session cookie (the pending one ends)", body = super::sessions::SessionResponse),
        (status = 204, description = "The session was fully signed in already"),
        crate::responses::WrongOrExpiredCode,
        crate::responses::LockedOut,
    ))]
pub async fn verify(
    State(state): State<AppState>,
    Meta(meta): Meta,
    PendingAuth(auth): PendingAuth,
    Json(body): Json<CodeRequest>,
) -> Result<Response, AppError> {
    match complete(&state, &meta, &auth, body.method, &body.code).await? {
        Some(issued) => renewed(&state, &meta, &auth, issued).await,
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// The answer for a pending session that just completed: the renewed session.
async fn renewed(
    state: &AppState,
    meta: &RequestMeta,
    auth: &Auth,
    issued: IssuedSession,
) -> Result<Response, AppError> {
    let now = state.auth.clock.now();
    super::sessions::renewed_response(state, meta, auth, issued, now).await
}

/// Sends a sign-in code to the confirmed phone (at most one a minute).
#[utoipa::path(post, path = "/api/v1/auth/second-factor/sms", tag = "auth",
    responses(
        (status = 202, description = "Code sent"),
        (status = 409, description = "No confirmed phone", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::WaitBeforeAskingAgain,
    ))]
pub async fn send_sign_in_code(
    State(state): State<AppState>,
    Meta(meta): Meta,
    PendingAuth(auth): PendingAuth,
) -> Result<StatusCode, AppError> {
    send_sign_in(&state, &meta, &auth).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Who may enrol: a fully signed-in person who re-entered their password recently, or
/// a pending session of a person with no factor whose practice demands one.
async fn may_enrol(state: &AppState, auth: &Auth, meta: &RequestMeta) -> Result<Factors, AppError> {
    let session = auth
        .session
        .as_ref()
        .ok_or_else(|| AppError::Forbidden("Enrol from a signed-in session.".into()))?;
    let factors = second_factor::factors_of(&state.db, auth.principal.user_id(), meta).await?;
    if session.second_factor_pending {
        if factors.any_confirmed() {
            return Err(AppError::SecondFactorRequired);
        }
    } else {
        auth.require_recent_reauth(state.auth.clock.now())?;
    }
    Ok(factors)
}

/// A new TOTP secret, to put into an authenticator app.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpEnrolment {
    /// The secret in base32.
    pub secret: String,
    /// The `otpauth://` URI (for a QR code).
    pub otpauth_uri: String,
}

/// Starts TOTP enrolment: a new secret, confirmed by the first code. Any working
/// TOTP factor keeps working until the new one is confirmed.
#[utoipa::path(post, path = "/api/v1/auth/totp", tag = "auth",
    responses((status = 200, description = "Secret created; confirm it with a code", body = TotpEnrolment)))]
pub async fn totp_enrol(
    State(state): State<AppState>,
    Meta(meta): Meta,
    PendingAuth(auth): PendingAuth,
) -> Result<Response, AppError> {
    may_enrol(&state, &auth, &meta).await?;
    let user = auth.principal.user_id();
    let email = email_of(&state, &auth, &meta).await?;
    let mut secret = vec![0u8; 20];
    rand::rngs::OsRng.fill(&mut secret[..]);
    let sealed = state
        .auth
        .sealing
        .seal(&secret, totp_aad(user).as_bytes())
        .map_err(|e| AppError::Internal(format!("sealing a TOTP secret: {e}")))?;
    second_factor::set_unconfirmed(
        &state.db,
        user,
        auth.principal.practice_id(),
        Factor::Totp,
        &sealed,
        state.auth.clock.now(),
        &meta,
    )
    .await?;
    let encoded = match Secret::Raw(secret.clone()).to_encoded() {
        Secret::Encoded(text) => text,
        Secret::Raw(_) => return Err(AppError::Internal("base32 encoding failed".into())),
    };
    let body = TotpEnrolment {
        secret: encoded,
        otpauth_uri: totp_for(secret, email.as_str()).get_url(),
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

/// A confirmation code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    /// The six digits.
    pub code: String,
}

/// Confirms TOTP enrolment with the app's current code (a pending session is then
/// signed in, under a new session cookie).
#[utoipa::path(post, path = "/api/v1/auth/totp/confirm", tag = "auth", request_body = ConfirmRequest,
    responses(
        (status = 200, description = "TOTP enabled; the pending session is signed in under a new session cookie", body = super::sessions::SessionResponse),
        (status = 204, description = "TOTP enabled"),
        (status = 422, description = "Wrong code", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn totp_confirm(
    State(state): State<AppState>,
    Meta(meta): Meta,
    PendingAuth(auth): PendingAuth,
    Json(body): Json<ConfirmRequest>,
) -> Result<Response, AppError> {
    let factors = may_enrol(&state, &auth, &meta).await?;
    let code = six_digits(&body.code)?;
    let user = auth.principal.user_id();
    let email = email_of(&state, &auth, &meta).await?;
    let now = state.auth.clock.now();
    let step = totp_step(
        &state,
        user,
        factors.totp_secret_pending.as_ref(),
        email.as_str(),
        code,
        now,
    )?;
    let confirmation = Confirmation {
        factor: Factor::Totp,
        accepted: step.is_some(),
        totp_step: step,
        now,
    };
    match conclude(&state, &auth, &email, confirmation, &meta).await? {
        Some(issued) => renewed(&state, &meta, &auth, issued).await,
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}

/// The outcome of checking an enrolment's confirmation code.
struct Confirmation {
    factor: Factor,
    accepted: bool,
    /// For TOTP, the time step of the accepted code (never accepted twice).
    totp_step: Option<i64>,
    now: chrono::DateTime<chrono::Utc>,
}

/// Ends an enrolment's confirmation: a wrong code counts like a wrong password; a right
/// one makes the pending factor the confirmed one and signs a pending session in (the
/// session that replaces it is returned).
async fn conclude(
    state: &AppState,
    auth: &Auth,
    email: &Email,
    confirmation: Confirmation,
    meta: &RequestMeta,
) -> Result<Option<IssuedSession>, AppError> {
    guard_lockout(state, meta, email, !confirmation.accepted).await?;
    let Confirmation {
        factor,
        totp_step,
        now,
        ..
    } = confirmation;
    let user = auth.principal.user_id();
    second_factor::confirm(
        &state.db,
        user,
        auth.principal.practice_id(),
        factor,
        totp_step,
        now,
        meta,
    )
    .await?;
    if let Some(session) = auth.session.as_ref().filter(|s| s.second_factor_pending) {
        let method = match factor {
            Factor::Totp => "totp",
            Factor::Sms => "sms",
        };
        let issued =
            sessions::complete_second_factor(&state.db, session, method, now, meta).await?;
        signin::clear_failures(&state.db, email, meta).await?;
        return Ok(Some(issued));
    }
    Ok(None)
}

/// A phone number to enrol.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneRequest {
    /// In international format, e.g. +44 7700 900123.
    pub phone: String,
}

/// Starts SMS enrolment: texts the number a code and keeps it (encrypted) until confirmed.
#[utoipa::path(post, path = "/api/v1/auth/sms", tag = "auth", request_body = PhoneRequest,
    responses(
        (status = 202, description = "Code sent to the number"),
        (status = 422, description = "Not a phone number", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::WaitBeforeAskingAgain,
    ))]
pub async fn sms_enrol(
    State(state): State<AppState>,
    Meta(meta): Meta,
    PendingAuth(auth): PendingAuth,
    Json(body): Json<PhoneRequest>,
) -> Result<StatusCode, AppError> {
    may_enrol(&state, &auth, &meta).await?;
    let phone = PhoneNumber::parse(&body.phone).map_err(|_| {
        FieldErrors::from(FieldError::new(
            "phone",
            "must be an international number like +44 7700 900123",
        ))
    })?;
    let user = auth.principal.user_id();
    let sealed = state
        .auth
        .sealing
        .seal(phone.as_str().as_bytes(), phone_aad(user).as_bytes())
        .map_err(|e| AppError::Internal(format!("sealing a phone number: {e}")))?;
    // The code is bound to this number, so storing it after the rate check is safe
    // whatever a concurrent request stores.
    send_code(&state, &meta, user, &phone, CodePurpose::Enrol).await?;
    second_factor::set_unconfirmed(
        &state.db,
        user,
        auth.principal.practice_id(),
        Factor::Sms,
        &sealed,
        state.auth.clock.now(),
        &meta,
    )
    .await?;
    Ok(StatusCode::ACCEPTED)
}

/// Confirms the phone with the code it received (a pending session is then signed
/// in, under a new session cookie).
#[utoipa::path(post, path = "/api/v1/auth/sms/confirm", tag = "auth", request_body = ConfirmRequest,
    responses(
        (status = 200, description = "SMS codes enabled; the pending session is signed in under a new session cookie", body = super::sessions::SessionResponse),
        (status = 204, description = "SMS codes enabled"),
        crate::responses::WrongOrExpiredCode))]
pub async fn sms_confirm(
    State(state): State<AppState>,
    Meta(meta): Meta,
    PendingAuth(auth): PendingAuth,
    Json(body): Json<ConfirmRequest>,
) -> Result<Response, AppError> {
    let factors = may_enrol(&state, &auth, &meta).await?;
    let code = six_digits(&body.code)?;
    let user = auth.principal.user_id();
    let email = email_of(&state, &auth, &meta).await?;
    let now = state.auth.clock.now();
    let right = match open_phone(&state, user, factors.phone_pending.as_ref())? {
        Some(phone) => {
            let hash = code_hash(&state, user, CodePurpose::Enrol, &phone, code);
            second_factor::check_code(&state.db, user, CodePurpose::Enrol, &hash, now, &meta)
                .await?
                == CodeCheck::Accepted
        }
        None => false,
    };
    let confirmation = Confirmation {
        factor: Factor::Sms,
        accepted: right,
        totp_step: None,
        now,
    };
    match conclude(&state, &auth, &email, confirmation, &meta).await? {
        Some(issued) => renewed(&state, &meta, &auth, issued).await,
        None => Ok(StatusCode::NO_CONTENT.into_response()),
    }
}
