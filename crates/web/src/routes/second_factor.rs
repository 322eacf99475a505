//! Second factor: TOTP (authenticator app) and SMS codes, enrolment and sign-in.
//!
//! A session that passed the password of a person with a confirmed factor (or in a
//! practice that demands one) is *pending*: it can only complete the factor here, or
//! enrol one if the practice demands it and the person has none. Wrong codes count
//! towards the account's lockout, like wrong passwords.

use crate::auth::{Auth, Meta, PendingAuth, require_recent_reauth};
use crate::{AppError, AppState};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use paddock_domain::{Email, FieldError, FieldErrors, UserId};
use paddock_notify::{PhoneNumber, Sms};
use paddock_store::second_factor::{self, CodeCheck, CodePurpose, Factor, Factors};
use paddock_store::{RequestMeta, members, sessions, signin};
use rand::Rng;
use serde::{Deserialize, Serialize};
use totp_rs::{Algorithm, Secret, TOTP};
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

/// Which factor a code comes from.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// An authenticator app.
    Totp,
    /// A code sent by SMS.
    Sms,
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

fn six_digits(code: &str) -> Result<&str, AppError> {
    let code = code.trim();
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(code)
    } else {
        Err(FieldErrors::from(FieldError::new("code", "must be the 6 digits")).into())
    }
}

fn totp_aad(user: UserId) -> String {
    format!("totp-secret:{user}")
}

fn phone_aad(user: UserId) -> String {
    format!("phone:{user}")
}

fn code_hash(state: &AppState, user: UserId, purpose: CodePurpose, code: &str) -> [u8; 32] {
    let label = match purpose {
        CodePurpose::SignIn => "sms-code:sign-in",
        CodePurpose::Enrol => "sms-code:enrol",
    };
    state
        .auth
        .sealing
        .keyed_hash(label, format!("{user}:{code}").as_bytes())
}

fn totp_for(secret: Vec<u8>, email: &str) -> TOTP {
    // RFC 6238 defaults, one step of clock skew either way.
    TOTP::new_unchecked(
        Algorithm::SHA1,
        6,
        1,
        30,
        secret,
        Some("Paddock".to_owned()),
        email.replace(':', "_"),
    )
}

fn totp_matches(
    state: &AppState,
    user: UserId,
    factors: &Factors,
    email: &str,
    code: &str,
    now: DateTime<Utc>,
) -> Result<bool, AppError> {
    let Some(sealed) = &factors.totp_secret else {
        return Ok(false);
    };
    let secret = state
        .auth
        .sealing
        .open(sealed, totp_aad(user).as_bytes())
        .map_err(|e| AppError::Internal(format!("opening a TOTP secret: {e}")))?;
    let time = u64::try_from(now.timestamp()).unwrap_or(0);
    Ok(totp_for(secret.to_vec(), email).check(code, time))
}

async fn email_of(state: &AppState, auth: &Auth, meta: &RequestMeta) -> Result<Email, AppError> {
    let mut tx = state.db.begin(&auth.principal, meta).await?;
    let me = members::me(&mut tx).await?;
    tx.commit().await?;
    Ok(Email::parse("email", &me.email).map_err(FieldErrors::from)?)
}

/// Counts a wrong code like a wrong password, or refuses at once if locked.
async fn guard_lockout(
    state: &AppState,
    meta: &RequestMeta,
    email: &Email,
    wrong: bool,
) -> Result<(), AppError> {
    let now = state.auth.clock.now();
    let sign_in = signin::lookup(&state.db, email, meta).await?;
    if let Some(until) = sign_in.record.locked_at(now) {
        return Err(crate::routes::auth::locked(until, now));
    }
    if wrong {
        signin::record_failure(&state.db, email, &sign_in, now, meta).await?;
        return Err(AppError::Validation(vec![FieldError::new(
            "code",
            "is wrong or has expired",
        )]));
    }
    Ok(())
}

/// Completes sign-in with a TOTP or SMS code.
#[utoipa::path(post, path = "/api/v1/auth/second-factor", tag = "auth", request_body = CodeRequest,
    responses(
        (status = 204, description = "Second factor accepted; the session is fully signed in"),
        (status = 422, description = "Wrong or expired code", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Locked after repeated failures", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn verify(
    State(state): State<AppState>,
    Meta(meta): Meta,
    PendingAuth(auth): PendingAuth,
    Json(body): Json<CodeRequest>,
) -> Result<StatusCode, AppError> {
    complete(&state, &meta, &auth, body.method, &body.code).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Completes a pending session's second factor (shared by the API and the page).
pub(crate) async fn complete(
    state: &AppState,
    meta: &RequestMeta,
    auth: &Auth,
    method: Method,
    code: &str,
) -> Result<(), AppError> {
    let session = auth.session.as_ref().ok_or(AppError::Unauthenticated)?;
    if !session.second_factor_pending {
        return Ok(());
    }
    let code = six_digits(code)?;
    let user = auth.principal.user_id();
    let email = email_of(state, auth, meta).await?;
    guard_lockout(state, meta, &email, false).await?;
    let now = state.auth.clock.now();
    let factors = second_factor::factors_of(&state.db, user, meta).await?;
    let accepted = match method {
        Method::Totp => {
            factors.totp_confirmed
                && totp_matches(state, user, &factors, email.as_str(), code, now)?
        }
        Method::Sms => {
            factors.phone_confirmed
                && second_factor::check_code(
                    &state.db,
                    user,
                    CodePurpose::SignIn,
                    &code_hash(state, user, CodePurpose::SignIn, code),
                    now,
                    meta,
                )
                .await?
                    == CodeCheck::Accepted
        }
    };
    guard_lockout(state, meta, &email, !accepted).await?;
    let name = if method == Method::Totp {
        "totp"
    } else {
        "sms"
    };
    sessions::complete_second_factor(&state.db, session, name, meta).await?;
    Ok(())
}

async fn send_code(
    state: &AppState,
    meta: &RequestMeta,
    user: UserId,
    phone: &PhoneNumber,
    purpose: CodePurpose,
) -> Result<(), AppError> {
    let code = format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000));
    let now = state.auth.clock.now();
    let hash = code_hash(state, user, purpose, &code);
    if let Err(wait) = second_factor::issue_code(&state.db, user, purpose, &hash, now, meta).await?
    {
        return Err(AppError::TooSoon {
            retry_after: u64::try_from(wait).unwrap_or(60),
        });
    }
    let sms = Sms {
        to: phone.clone(),
        text: format!("Your Paddock code is {code}. It expires in 5 minutes. Never share it."),
    };
    state
        .auth
        .sms
        .send(&sms)
        .await
        .map_err(|e| AppError::Unavailable(format!("The SMS could not be sent ({e}).")))
}

fn confirmed_phone(
    state: &AppState,
    user: UserId,
    factors: &Factors,
) -> Result<Option<PhoneNumber>, AppError> {
    let Some(sealed) = factors.phone.as_ref() else {
        return Ok(None);
    };
    let bytes = state
        .auth
        .sealing
        .open(sealed, phone_aad(user).as_bytes())
        .map_err(|e| AppError::Internal(format!("opening a phone number: {e}")))?;
    let text = String::from_utf8(bytes.to_vec())
        .map_err(|_| AppError::Internal("a stored phone number is not text".into()))?;
    PhoneNumber::parse(&text)
        .map(Some)
        .map_err(|_| AppError::Internal("a stored phone number does not parse".into()))
}

/// Sends a sign-in code to the confirmed phone (at most one a minute).
#[utoipa::path(post, path = "/api/v1/auth/second-factor/sms", tag = "auth",
    responses(
        (status = 202, description = "Code sent"),
        (status = 409, description = "No confirmed phone", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Wait before asking again", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn send_sign_in_code(
    State(state): State<AppState>,
    Meta(meta): Meta,
    PendingAuth(auth): PendingAuth,
) -> Result<StatusCode, AppError> {
    send_sign_in(&state, &meta, &auth).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Texts a sign-in code to the confirmed phone (shared by the API and the page).
pub(crate) async fn send_sign_in(
    state: &AppState,
    meta: &RequestMeta,
    auth: &Auth,
) -> Result<(), AppError> {
    let user = auth.principal.user_id();
    let factors = second_factor::factors_of(&state.db, user, meta).await?;
    let phone = confirmed_phone(state, user, &factors)?
        .filter(|_| factors.phone_confirmed)
        .ok_or_else(|| AppError::Conflict(FieldError::new("phone", "no confirmed phone number")))?;
    send_code(state, meta, user, &phone, CodePurpose::SignIn).await
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
        require_recent_reauth(auth, state.auth.clock.now())?;
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

/// Starts TOTP enrolment: a new secret, confirmed by the first code.
#[utoipa::path(post, path = "/api/v1/auth/totp", tag = "auth",
    responses((status = 200, description = "Secret created; confirm it with a code", body = TotpEnrolment)))]
pub async fn totp_enrol(
    State(state): State<AppState>,
    Meta(meta): Meta,
    PendingAuth(auth): PendingAuth,
) -> Result<Json<TotpEnrolment>, AppError> {
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
    second_factor::set_totp_secret(&state.db, user, &sealed, state.auth.clock.now(), &meta).await?;
    let encoded = match Secret::Raw(secret.clone()).to_encoded() {
        Secret::Encoded(text) => text,
        Secret::Raw(_) => return Err(AppError::Internal("base32 encoding failed".into())),
    };
    Ok(Json(TotpEnrolment {
        secret: encoded,
        otpauth_uri: totp_for(secret, email.as_str()).get_url(),
    }))
}

/// A confirmation code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    /// The six digits.
    pub code: String,
}

/// Confirms TOTP enrolment with the app's current code (a pending session is then signed in).
#[utoipa::path(post, path = "/api/v1/auth/totp/confirm", tag = "auth", request_body = ConfirmRequest,
    responses((status = 204, description = "TOTP enabled"), (status = 422, description = "Wrong code", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn totp_confirm(
    State(state): State<AppState>,
    Meta(meta): Meta,
    PendingAuth(auth): PendingAuth,
    Json(body): Json<ConfirmRequest>,
) -> Result<StatusCode, AppError> {
    let factors = may_enrol(&state, &auth, &meta).await?;
    let code = six_digits(&body.code)?;
    let user = auth.principal.user_id();
    let email = email_of(&state, &auth, &meta).await?;
    let now = state.auth.clock.now();
    let right = totp_matches(&state, user, &factors, email.as_str(), code, now)?;
    guard_lockout(&state, &meta, &email, !right).await?;
    second_factor::confirm(
        &state.db,
        user,
        auth.principal.practice_id(),
        Factor::Totp,
        now,
        &meta,
    )
    .await?;
    finish_pending(&state, &auth, "totp", &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn finish_pending(
    state: &AppState,
    auth: &Auth,
    method: &'static str,
    meta: &RequestMeta,
) -> Result<(), AppError> {
    if let Some(session) = auth.session.as_ref().filter(|s| s.second_factor_pending) {
        sessions::complete_second_factor(&state.db, session, method, meta).await?;
    }
    Ok(())
}

/// A phone number to enrol.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PhoneRequest {
    /// In international format, e.g. +44 7700 900123.
    pub phone: String,
}

/// Starts SMS enrolment: stores the number (encrypted) and texts it a code.
#[utoipa::path(post, path = "/api/v1/auth/sms", tag = "auth", request_body = PhoneRequest,
    responses((status = 202, description = "Code sent to the number"), (status = 422, description = "Not a phone number", body = crate::error::Problem, content_type = "application/problem+json")))]
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
    second_factor::set_phone(&state.db, user, &sealed, state.auth.clock.now(), &meta).await?;
    send_code(&state, &meta, user, &phone, CodePurpose::Enrol).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Confirms the phone with the code it received (a pending session is then signed in).
#[utoipa::path(post, path = "/api/v1/auth/sms/confirm", tag = "auth", request_body = ConfirmRequest,
    responses((status = 204, description = "SMS codes enabled"), (status = 422, description = "Wrong or expired code", body = crate::error::Problem, content_type = "application/problem+json")))]
pub async fn sms_confirm(
    State(state): State<AppState>,
    Meta(meta): Meta,
    PendingAuth(auth): PendingAuth,
    Json(body): Json<ConfirmRequest>,
) -> Result<StatusCode, AppError> {
    may_enrol(&state, &auth, &meta).await?;
    let code = six_digits(&body.code)?;
    let user = auth.principal.user_id();
    let email = email_of(&state, &auth, &meta).await?;
    let now = state.auth.clock.now();
    let hash = code_hash(&state, user, CodePurpose::Enrol, code);
    let right = second_factor::check_code(&state.db, user, CodePurpose::Enrol, &hash, now, &meta)
        .await?
        == CodeCheck::Accepted;
    guard_lockout(&state, &meta, &email, !right).await?;
    second_factor::confirm(
        &state.db,
        user,
        auth.principal.practice_id(),
        Factor::Sms,
        now,
        &meta,
    )
    .await?;
    finish_pending(&state, &auth, "sms", &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}
