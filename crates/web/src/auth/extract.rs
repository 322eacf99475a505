//! Extractors: `Auth` (who is calling, verified on every request) and `Meta` (where
//! the request comes from, for the audit trail).

use crate::auth::cookies;
use crate::middleware::REQUEST_ID;
use crate::{AppError, AppState};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use paddock_domain::{PracticeId, UserId};
use paddock_store::sessions::{self, SessionAuth};
use paddock_store::{Principal, RequestMeta};
use std::net::SocketAddr;

/// How the caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// The session cookie.
    Session,
    /// A bearer access token (JWT) issued from a session.
    AccessToken,
    /// A bearer API key.
    ApiKey,
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Auth {
    /// Who, where, with which permissions.
    pub principal: Principal,
    /// The session behind the credential (absent for API keys).
    pub session: Option<SessionAuth>,
    /// Which credential was used.
    pub method: AuthMethod,
}

/// Where a request comes from.
#[derive(Debug, Clone)]
pub struct Meta(pub RequestMeta);

fn meta_of(parts: &Parts) -> RequestMeta {
    let request_id = parts
        .headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let user_agent = parts
        .headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    RequestMeta::http(request_id, ip, user_agent)
}

impl<S: Send + Sync> FromRequestParts<S> for Meta {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Meta(meta_of(parts)))
    }
}

/// The bearer credential of the `Authorization` header, if any.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credential) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| credential.trim())
}

/// Methods that change nothing, exempt from the CSRF check.
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let auth = authenticate(parts, state).await?;
        if auth
            .session
            .as_ref()
            .is_some_and(|s| s.second_factor_pending)
        {
            return Err(AppError::SecondFactorRequired);
        }
        Ok(auth)
    }
}

/// A caller who may still owe the second factor: only the routes that complete or
/// enrol it accept this.
#[derive(Debug, Clone)]
pub struct PendingAuth(pub Auth);

impl FromRequestParts<AppState> for PendingAuth {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(PendingAuth(authenticate(parts, state).await?))
    }
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Auth, AppError> {
    let meta = meta_of(parts);
    let services = &state.auth;
    let now = services.clock.now();
    if let Some(credential) = bearer(&parts.headers) {
        if credential.starts_with("pdk_") {
            let principal =
                paddock_store::api_keys::authenticate(&state.db, credential, now, &meta)
                    .await?
                    .ok_or(AppError::Unauthenticated)?;
            return Ok(Auth {
                principal,
                session: None,
                method: AuthMethod::ApiKey,
            });
        }
        let claims = services
            .keys
            .verify(
                credential,
                &services.issuer,
                &services.audience,
                now.timestamp(),
            )
            .map_err(|_| AppError::Unauthenticated)?;
        let session = sessions::authenticate_id(
            &state.db,
            PracticeId::from_uuid(claims.pid),
            claims.sid,
            UserId::from_uuid(claims.sub),
            now,
            &meta,
        )
        .await?
        .ok_or(AppError::Unauthenticated)?;
        return Ok(Auth {
            principal: session.principal.clone(),
            session: Some(session),
            method: AuthMethod::AccessToken,
        });
    }
    let token = cookies::session_token(&parts.headers).ok_or(AppError::Unauthenticated)?;
    let session = sessions::authenticate_token(&state.db, &token, now, &meta)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    // A bearer token cannot be forged by another site; a cookie rides along, so
    // cookie-authenticated writes must prove they come from our own pages.
    if !is_safe(&parts.method) {
        let sent = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok());
        if !sent.is_some_and(|csrf| session.csrf_matches(csrf)) {
            return Err(AppError::Csrf);
        }
    }
    Ok(Auth {
        principal: session.principal.clone(),
        session: Some(session),
        method: AuthMethod::Session,
    })
}
