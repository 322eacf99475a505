//! The identity work shared by its API routes and its pages: signing in (with the
//! lockout and the unlock offer), checking one's own password, password reset and
//! unlock by emailed link, and the second factor (checking a code, sending one by SMS).
//! Routes and pages call down into this module; it calls the store.

use crate::context::Auth;
use crate::{AppError, AppState};
use chrono::{DateTime, Utc};
use paddock_domain::{Email, FieldError, FieldErrors, PracticeId, UserId};
use paddock_notify::{PhoneNumber, Sms};
use paddock_store::identity::second_factor::{self, CodeCheck, CodePurpose, Factors};
use paddock_store::identity::sessions::{self, IssuedSession};
use paddock_store::identity::signin::{self, PracticeOption};
use paddock_store::{RequestMeta, identity::passwords, staff::members};
use rand::Rng;
use serde::Deserialize;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};
use utoipa::ToSchema;
use uuid::Uuid;

// --- sign-in and one's own password ------------------------------------------------

/// A successful sign-in.
pub(crate) struct SignedIn {
    pub user_id: paddock_domain::UserId,
    pub practice_id: PracticeId,
    pub practices: Vec<PracticeOption>,
    pub issued: IssuedSession,
    pub now: DateTime<Utc>,
}

/// The sign-in rules shared by the API and the sign-in page.
pub(crate) async fn sign_in(
    state: &AppState,
    meta: &paddock_store::RequestMeta,
    raw_email: &str,
    password: &str,
    temporary: bool,
    practice_id: Option<Uuid>,
) -> Result<SignedIn, AppError> {
    let mut errors = FieldErrors::default();
    let email = errors.check(Email::parse("email", raw_email));
    if password.is_empty() {
        errors
            .0
            .push(FieldError::new("password", "must not be empty"));
    }
    let Some(email) = email.filter(|_| errors.0.is_empty()) else {
        return Err(errors.into());
    };

    let services = &state.auth;
    let now = services.clock.now();
    let sign_in = signin::lookup(&state.db, &email, meta).await?;
    if let Some(until) = sign_in.record.locked_at(now) {
        return Err(locked(until, now));
    }
    let account = sign_in.account.as_ref();
    let verified = services
        .hasher
        .verify(password, account.and_then(|a| a.password_hash.as_deref()))
        .await
        .map_err(|e| AppError::Internal(format!("password verification: {e}")))?;
    let account = match account {
        Some(account) if verified && !account.practices.is_empty() => account,
        _ => {
            count_failure(state, meta, &email, &sign_in, now).await?;
            return Err(AppError::InvalidCredentials);
        }
    };
    let practice = match practice_id {
        Some(id) => account
            .practices
            .iter()
            .find(|p| p.practice_id.as_uuid() == id)
            .ok_or_else(|| {
                AppError::Validation(vec![FieldError::new(
                    "practice_id",
                    "you are not an active member of this practice",
                )])
            })?,
        None => account
            .practices
            .first()
            .ok_or(AppError::InvalidCredentials)?,
    };
    let issued = {
        // A person with a confirmed factor, or in a practice that demands one, must
        // present it before the session can do anything.
        let factors = second_factor::factors_of(&state.db, account.user_id, meta).await?;
        let pending = factors.any_confirmed() || practice.require_second_factor;
        // Failures are forgotten only when the sign-in is complete: a pending session
        // still owes its second factor, whose wrong guesses keep counting.
        if !pending {
            signin::clear_failures(&state.db, &email, meta).await?;
        }
        sessions::start(
            &state.db,
            account.user_id,
            practice,
            temporary,
            pending,
            now,
            meta,
        )
        .await?
    };
    Ok(SignedIn {
        user_id: account.user_id,
        practice_id: practice.practice_id,
        practices: account.practices.clone(),
        issued,
        now,
    })
}

/// Counts a wrong password (for this address and the account); when that locks a
/// known account, its owner is mailed an unlock link.
pub(crate) async fn count_failure(
    state: &AppState,
    meta: &paddock_store::RequestMeta,
    email: &Email,
    sign_in: &signin::SignIn,
    now: DateTime<Utc>,
) -> Result<(), AppError> {
    if let Some(until) = signin::record_failure(&state.db, email, sign_in, now, meta).await? {
        tracing::warn!(request_id = %meta.request_id, locked_until = %until, "sign-in locked after repeated failures");
        if let Some(account) = &sign_in.account {
            offer_unlock(state, meta, account.user_id);
        }
    }
    Ok(())
}

pub(crate) fn locked(until: DateTime<Utc>, now: DateTime<Utc>) -> AppError {
    // Rounded up: a client that waits exactly Retry-After seconds must find it unlocked.
    let millis = (until - now).num_milliseconds().max(1);
    let seconds = (millis + 999) / 1000;
    AppError::Locked {
        retry_after: u64::try_from(seconds).unwrap_or(1),
    }
}

/// Checks a signed-in person's own password (re-authentication, password change).
/// Wrong guesses count towards the account's lockout exactly like sign-in failures,
/// so a stolen session cannot be used to guess the password.
pub(crate) async fn verify_own_password(
    state: &AppState,
    meta: &paddock_store::RequestMeta,
    principal: &paddock_store::Principal,
    password: &str,
) -> Result<(), AppError> {
    let mut tx = state.db.begin(principal, meta).await?;
    let hash = members::own_password_hash(&mut tx).await?;
    let me = members::me(&mut tx).await?;
    tx.commit().await?;
    let email = Email::parse("email", &me.email).map_err(FieldErrors::from)?;
    verify_account_password(state, meta, &email, hash.as_deref(), password).await
}

/// Checks `password` against an account's `hash` under the account's lockout: a
/// locked account answers 429 and wrong guesses count like sign-in failures.
pub(crate) async fn verify_account_password(
    state: &AppState,
    meta: &paddock_store::RequestMeta,
    email: &Email,
    hash: Option<&str>,
    password: &str,
) -> Result<(), AppError> {
    let email = email.clone();
    let now = state.auth.clock.now();
    let sign_in = signin::lookup(&state.db, &email, meta).await?;
    if let Some(until) = sign_in.record.locked_at(now) {
        return Err(locked(until, now));
    }
    let verified = state
        .auth
        .hasher
        .verify(password, hash)
        .await
        .map_err(|e| AppError::Internal(format!("password verification: {e}")))?;
    if !verified {
        count_failure(state, meta, &email, &sign_in, now).await?;
        return Err(AppError::InvalidCredentials);
    }
    signin::clear_failures(&state.db, &email, meta).await?;
    Ok(())
}

// --- password reset and unlock -----------------------------------------------------

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

// --- the second factor -------------------------------------------------------------

/// Which factor a code comes from.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// An authenticator app.
    Totp,
    /// A code sent by SMS.
    Sms,
}

pub(crate) fn six_digits(code: &str) -> Result<&str, AppError> {
    let code = code.trim();
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(code)
    } else {
        Err(FieldErrors::from(FieldError::new("code", "must be the 6 digits")).into())
    }
}

pub(crate) fn totp_aad(user: UserId) -> String {
    format!("totp-secret:{user}")
}

pub(crate) fn phone_aad(user: UserId) -> String {
    format!("phone:{user}")
}

/// The keyed hash a code is stored as. It binds the phone the code was sent to, so a
/// code sent to one number can never confirm another.
pub(crate) fn code_hash(
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

pub(crate) fn totp_for(secret: Vec<u8>, email: &str) -> TOTP {
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
pub(crate) fn totp_step(
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

pub(crate) async fn email_of(
    state: &AppState,
    auth: &Auth,
    meta: &RequestMeta,
) -> Result<Email, AppError> {
    let mut tx = state.db.begin(&auth.principal, meta).await?;
    let me = members::me(&mut tx).await?;
    tx.commit().await?;
    Ok(Email::parse("email", &me.email).map_err(FieldErrors::from)?)
}

/// Counts a wrong code like a wrong password, or refuses at once if locked.
pub(crate) async fn guard_lockout(
    state: &AppState,
    meta: &RequestMeta,
    email: &Email,
    wrong: bool,
) -> Result<(), AppError> {
    let now = state.auth.clock.now();
    let sign_in = signin::lookup(&state.db, email, meta).await?;
    if let Some(until) = sign_in.record.locked_at(now) {
        return Err(locked(until, now));
    }
    if wrong {
        // The same count as a wrong password, so a lock by codes mails the unlock link too.
        count_failure(state, meta, email, &sign_in, now).await?;
        return Err(AppError::Validation(vec![FieldError::new(
            "code",
            "is wrong or has expired",
        )]));
    }
    Ok(())
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
pub(crate) async fn send_code(
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

pub(crate) fn open_phone(
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

pub(crate) fn confirmed_phone(
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
