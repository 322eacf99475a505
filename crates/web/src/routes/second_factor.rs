//! Second factor: TOTP (authenticator app) and SMS codes, enrolment and sign-in.
//!
//! A session that passed the password of a person with a confirmed factor (or in a
//! practice that demands one) is *pending*: it can only complete the factor here, or
//! enrol one if the practice demands it and the person has none. Wrong codes count
//! towards the account's lockout, like wrong passwords, until the sign-in completes.

use crate::auth::{Auth, Meta, PendingAuth};
use crate::{AppError, AppState};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use paddock_domain::{Email, FieldError, FieldErrors, UserId};
use paddock_notify::{PhoneNumber, Sms};
use paddock_store::identity::second_factor::{self, CodeCheck, CodePurpose, Factor, Factors};
use paddock_store::identity::sessions::{self, IssuedSession};
use paddock_store::{RequestMeta, identity::signin, staff::members};
use rand::Rng;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
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

/// The keyed hash a code is stored as. It binds the phone the code was sent to, so a
/// code sent to one number can never confirm another.
fn code_hash(
    state: &AppState,
    user: UserId,
    purpose: CodePurpose,
    phone: &PhoneNumber,
    code: &str,
) -> [u8; 32] {
    let label = match purpose {
        CodePurpose::SignIn => "sms-code:sign-in",
        CodePurpose::Enrol => "sms-code:enrol",
    };
    let value = format!("{user}:{}:{code}", phone.as_str());
    state.auth.sealing.keyed_hash(label, value.as_bytes())
}

fn totp_for(secret: Vec<u8>, email: &str) -> TOTP {
    // RFC 6238 defaults: SHA-1, 6 digits, 30-second steps.
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

/// The time step (within one step of `now`) whose code `code` is, for the sealed
/// secret `sealed`; `None` if it matches none.
fn totp_step(
    state: &AppState,
    user: UserId,
    sealed: Option<&Vec<u8>>,
    email: &str,
    code: &str,
    now: DateTime<Utc>,
) -> Result<Option<i64>, AppError> {
    let Some(sealed) = sealed else {
        return Ok(None);
    };
    let secret = state
        .auth
        .sealing
        .open(sealed, totp_aad(user).as_bytes())
        .map_err(|e| AppError::Internal(format!("opening a TOTP secret: {e}")))?;
    let totp = totp_for(secret.to_vec(), email);
    let current = now.timestamp().div_euclid(30);
    for step in [current - 1, current, current + 1] {
        let expected = totp.generate(u64::try_from(step * 30).unwrap_or(0));
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            return Ok(Some(step));
        }
    }
    Ok(None)
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
        // The same count as a wrong password, so a lock by codes mails the unlock link too.
        crate::routes::auth::count_failure(state, meta, email, &sign_in, now).await?;
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
        (status = 200, description = "Second factor accepted; the session is fully signed in under a new session cookie (the pending one ends)", body = crate::routes::auth::SessionResponse),
        (status = 204, description = "The session was fully signed in already"),
        (status = 422, description = "Wrong or expired code", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Locked after repeated failures", body = crate::error::Problem, content_type = "application/problem+json"),
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
    crate::routes::auth::renewed_response(state, meta, auth, issued, now).await
}

/// Completes a pending session's second factor (shared by the API and the page): the
/// session that replaces it, or `None` if it was complete already.
pub(crate) async fn complete(
    state: &AppState,
    meta: &RequestMeta,
    auth: &Auth,
    method: Method,
    code: &str,
) -> Result<Option<IssuedSession>, AppError> {
    let session = auth.session.as_ref().ok_or(AppError::Unauthenticated)?;
    if !session.second_factor_pending {
        return Ok(None);
    }
    let code = six_digits(code)?;
    let user = auth.principal.user_id();
    let email = email_of(state, auth, meta).await?;
    guard_lockout(state, meta, &email, false).await?;
    let now = state.auth.clock.now();
    let factors = second_factor::factors_of(&state.db, user, meta).await?;
    let accepted = match method {
        Method::Totp => {
            let confirmed = factors
                .totp_secret
                .as_ref()
                .filter(|_| factors.totp_confirmed);
            match totp_step(state, user, confirmed, email.as_str(), code, now)? {
                // A code is accepted once only (RFC 6238 section 5.2).
                Some(step) => second_factor::use_totp_step(&state.db, user, step, meta).await?,
                None => false,
            }
        }
        Method::Sms => match confirmed_phone(state, user, &factors)? {
            Some(phone) => {
                let hash = code_hash(state, user, CodePurpose::SignIn, &phone, code);
                second_factor::check_code(&state.db, user, CodePurpose::SignIn, &hash, now, meta)
                    .await?
                    == CodeCheck::Accepted
            }
            None => false,
        },
    };
    guard_lockout(state, meta, &email, !accepted).await?;
    let name = if method == Method::Totp {
        "totp"
    } else {
        "sms"
    };
    let issued = sessions::complete_second_factor(&state.db, session, name, now, meta).await?;
    // Only now is the sign-in complete, so only now may the failures be forgotten.
    signin::clear_failures(&state.db, &email, meta).await?;
    Ok(Some(issued))
}

/// Issues a code (rate-limited) for `phone` and texts it.
async fn send_code(
    state: &AppState,
    meta: &RequestMeta,
    user: UserId,
    phone: &PhoneNumber,
    purpose: CodePurpose,
) -> Result<(), AppError> {
    let code = format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000));
    let now = state.auth.clock.now();
    let hash = code_hash(state, user, purpose, phone, &code);
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
    state.auth.sms.send(&sms).await.map_err(|error| {
        // The provider's reply (URLs, account ids) is for the log; the client hears what happened.
        tracing::error!(request_id = %meta.request_id, %error, "SMS code not sent");
        AppError::Unavailable("The SMS could not be sent. Try again later.".into())
    })
}

fn open_phone(
    state: &AppState,
    user: UserId,
    sealed: Option<&Vec<u8>>,
) -> Result<Option<PhoneNumber>, AppError> {
    let Some(sealed) = sealed else {
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

fn confirmed_phone(
    state: &AppState,
    user: UserId,
    factors: &Factors,
) -> Result<Option<PhoneNumber>, AppError> {
    open_phone(
        state,
        user,
        factors.phone.as_ref().filter(|_| factors.phone_confirmed),
    )
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
        (status = 200, description = "TOTP enabled; the pending session is signed in under a new session cookie", body = crate::routes::auth::SessionResponse),
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
        (status = 429, description = "Wait before asking again", body = crate::error::Problem, content_type = "application/problem+json"),
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
        (status = 200, description = "SMS codes enabled; the pending session is signed in under a new session cookie", body = crate::routes::auth::SessionResponse),
        (status = 204, description = "SMS codes enabled"),
        (status = 422, description = "Wrong or expired code", body = crate::error::Problem, content_type = "application/problem+json")))]
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
