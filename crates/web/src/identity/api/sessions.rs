//! Sign-in, sign-out, token exchange, re-authentication and practice switching.

use crate::context::cookies::{clear_session, set_session};
use crate::context::{Auth, AuthMethod, Meta, PendingAuth};
use crate::identity::service::{sign_in, verify_own_password};
use crate::input::Json;
use crate::{AppError, AppState};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use paddock_domain::PracticeId;
use paddock_store::identity::second_factor;
use paddock_store::identity::sessions::{self, IssuedSession};
use paddock_store::identity::signin::{self, PracticeOption};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// The authentication routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(token))
        .routes(routes!(reauth))
        .routes(routes!(switch))
        .routes(routes!(jwks))
}

/// Sign-in request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The account's email.
    pub email: String,
    /// The password.
    pub password: String,
    /// A shared front-desk computer: the cookie ends with the browser and the session within an hour.
    #[serde(default)]
    pub temporary: bool,
    /// The practice to enter, for people in several.
    pub practice_id: Option<Uuid>,
}

/// A practice the person may enter.
#[derive(Debug, Serialize, ToSchema)]
pub struct PracticeSummary {
    /// Its id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
}

/// A started session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionResponse {
    /// The person.
    pub user_id: Uuid,
    /// The practice the session is in.
    pub practice_id: Uuid,
    /// Every practice the person may switch to.
    pub practices: Vec<PracticeSummary>,
    /// Send this as `X-CSRF-Token` on cookie-authenticated writes.
    pub csrf_token: String,
    /// When the session ends at the latest.
    pub expires_at: DateTime<Utc>,
    /// Whether this is a temporary session.
    pub temporary: bool,
    /// Whether the second factor must be completed (POST /api/v1/auth/second-factor)
    /// before the session can do anything else.
    pub second_factor_required: bool,
}

fn session_response(
    user_id: Uuid,
    practice: PracticeId,
    options: &[PracticeOption],
    issued: IssuedSession,
    now: DateTime<Utc>,
) -> Response {
    let cookie = set_session(&issued.token, issued.expires_at, issued.temporary, now);
    let body = SessionResponse {
        user_id,
        practice_id: practice.as_uuid(),
        practices: options
            .iter()
            .map(|o| PracticeSummary {
                id: o.practice_id.as_uuid(),
                name: o.name.clone(),
            })
            .collect(),
        csrf_token: issued.csrf_token,
        expires_at: issued.expires_at,
        temporary: issued.temporary,
        second_factor_required: issued.second_factor_pending,
    };
    let no_store = header::HeaderValue::from_static("no-store");
    (
        [
            (header::SET_COOKIE, cookie),
            (header::CACHE_CONTROL, no_store),
        ],
        Json(body),
    )
        .into_response()
}

/// Signs in with email and password, starting a server-side session.
///
/// Unknown email and wrong password answer the same 401; repeated failures lock the
/// account (known or not) and answer 429 with `Retry-After`, right password or not.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in; the session cookie is set", body = SessionResponse),
        (status = 401, description = "Invalid email or password", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "Malformed input", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::LockedOut,
    ))]
pub async fn login(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Json(body): Json<LoginRequest>,
) -> Result<Response, AppError> {
    let signed_in = sign_in(
        &state,
        &meta,
        &body.email,
        &body.password,
        body.temporary,
        body.practice_id,
    )
    .await?;
    Ok(session_response(
        signed_in.user_id.as_uuid(),
        signed_in.practice_id,
        &signed_in.practices,
        signed_in.issued,
        signed_in.now,
    ))
}

/// Ends the session (and so every access token issued from it).
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "Signed out; the cookie is cleared")))]
pub async fn logout(
    State(state): State<AppState>,
    Meta(meta): Meta,
    PendingAuth(auth): PendingAuth,
) -> Result<Response, AppError> {
    let session = auth.session.as_ref().ok_or(AppError::Unauthenticated)?;
    sessions::end(&state.db, session, state.auth.clock.now(), &meta).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, clear_session())],
    )
        .into_response())
}

/// An access token.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    /// The JWT to send as `Authorization: Bearer ...`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until it expires (at most 900).
    pub expires_in: i64,
}

/// Exchanges the session (cookie + CSRF token) for a short-lived access token.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth",
    responses(
        (status = 200, description = "A JWT valid for at most 15 minutes", body = TokenResponse),
        (status = 401, description = "No session", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "CSRF token missing or wrong", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn token(
    State(state): State<AppState>,
    Meta(meta): Meta,
    auth: Auth,
) -> Result<Response, AppError> {
    // Tokens come from sessions only: a token or key cannot mint a fresh token.
    let (AuthMethod::Session, Some(session)) = (auth.method, auth.session.as_ref()) else {
        return Err(AppError::Forbidden(
            "Access tokens are issued for a signed-in session only.".into(),
        ));
    };
    let services = &state.auth;
    let now = services.clock.now();
    // Never outlive the session that issued it.
    let ttl = services.access_ttl.min(session.expires_at - now);
    let claims = paddock_jwt::access_claims(
        &services.issuer,
        &services.audience,
        auth.principal.user_id().as_uuid(),
        auth.principal.practice_id().as_uuid(),
        session.session_id,
        now,
        ttl,
    );
    let access_token = services
        .keys
        .sign(&claims)
        .map_err(|e| AppError::Internal(format!("signing an access token: {e}")))?;
    let expires_in = claims.exp - claims.iat;
    sessions::access_token_issued(&state.db, session, expires_in, &meta).await?;
    let body = TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in,
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

/// Password re-entry.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReauthRequest {
    /// The current password.
    pub password: String,
}

/// Re-enters the password, unlocking sensitive actions (role changes, key creation)
/// for 10 minutes. A privilege change: the session continues under a new cookie and
/// CSRF token (the old ones stop working), with the same limits.
#[utoipa::path(post, path = "/api/v1/auth/reauth", tag = "auth", request_body = ReauthRequest,
    responses(
        (status = 200, description = "Re-authenticated; a new session cookie is set", body = SessionResponse),
        (status = 401, description = "Wrong password", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not a cookie session", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn reauth(
    State(state): State<AppState>,
    Meta(meta): Meta,
    auth: Auth,
    Json(body): Json<ReauthRequest>,
) -> Result<Response, AppError> {
    // An API key has no session to unlock; an access token's renewal would go to a
    // cookie it does not hold: only a signed-in browser re-authenticates.
    let session = auth.session.as_ref().ok_or(AppError::Unauthenticated)?;
    if auth.method != AuthMethod::Session {
        return Err(AppError::Forbidden(
            "Re-authenticate from a signed-in session.".into(),
        ));
    }
    verify_own_password(&state, &meta, &auth.principal, &body.password).await?;
    let now = state.auth.clock.now();
    let issued = sessions::reauthenticated(&state.db, session, now, &meta).await?;
    renewed_response(&state, &meta, &auth, issued, now).await
}

/// The answer to a session renewed in place (re-authentication, second factor): the
/// new cookie and the sign-in answer's body, with the new CSRF token.
pub(crate) async fn renewed_response(
    state: &AppState,
    meta: &paddock_store::RequestMeta,
    auth: &Auth,
    issued: IssuedSession,
    now: DateTime<Utc>,
) -> Result<Response, AppError> {
    let user_id = auth.principal.user_id();
    let options = signin::practices_for(&state.db, user_id, meta).await?;
    Ok(session_response(
        user_id.as_uuid(),
        auth.principal.practice_id(),
        &options,
        issued,
        now,
    ))
}

/// Practice switch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SwitchRequest {
    /// The practice to enter.
    pub practice_id: Uuid,
}

/// Moves to another practice the person belongs to: a new session there, this one
/// ends. The new session continues this sign-in: same absolute expiry, temporary flag
/// and re-authentication time (switching is no re-authentication).
#[utoipa::path(post, path = "/api/v1/auth/switch", tag = "auth", request_body = SwitchRequest,
    responses(
        (status = 200, description = "Switched; a new session cookie is set", body = SessionResponse),
        (status = 404, description = "Not a practice you belong to", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already in that practice", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn switch(
    State(state): State<AppState>,
    Meta(meta): Meta,
    auth: Auth,
    Json(body): Json<SwitchRequest>,
) -> Result<Response, AppError> {
    let (AuthMethod::Session, Some(session)) = (auth.method, auth.session.as_ref()) else {
        return Err(AppError::Forbidden(
            "Switch practice from a signed-in session.".into(),
        ));
    };
    let user_id = auth.principal.user_id();
    let options = signin::practices_for(&state.db, user_id, &meta).await?;
    // Not a member, or no such practice: the same 404.
    let target = options
        .iter()
        .find(|o| o.practice_id.as_uuid() == body.practice_id)
        .ok_or(AppError::NotFound)?;
    let now = state.auth.clock.now();
    // The second factor was done in this session; a practice that demands one of a
    // person who has none makes the new session enrol first.
    let factors = second_factor::factors_of(&state.db, user_id, &meta).await?;
    let pending = target.require_second_factor && !factors.any_confirmed();
    let issued = sessions::switch(&state.db, session, target, pending, now, &meta).await?;
    Ok(session_response(
        user_id.as_uuid(),
        target.practice_id,
        &options,
        issued,
        now,
    ))
}

/// The public keys that verify access tokens.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth",
    responses((status = 200, description = "JSON Web Key Set (Ed25519)", body = Object)))]
pub async fn jwks(State(state): State<AppState>) -> Json<serde_json::Value> {
    Json(state.auth.keys.jwks())
}
