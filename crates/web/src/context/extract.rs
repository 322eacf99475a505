//! Extractors: `Ctx` (an authenticated caller and the request's open, practice-scoped
//! transaction), `Auth` (an authenticated caller whose handler makes its own store
//! calls), their second-factor-pending variants, and `Meta` (where the request comes
//! from, for the audit trail).

use crate::context::{cookies, csrf};
use crate::forwarded::ClientIp;
use crate::{AppError, AppState};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use chrono::{DateTime, Utc};
use paddock_domain::{Permission, PracticeId, UserId};
use paddock_store::identity::credentials::{self, Authenticated, Credential};
use paddock_store::identity::sessions::SessionAuth;
use paddock_store::{Principal, RequestMeta, StoreError, TenantTx};
use std::net::SocketAddr;

/// How recently the password must have been entered for sensitive actions.
pub const REAUTH_WINDOW: chrono::Duration = chrono::Duration::minutes(10);

/// The header that carries the request id the server gave the request.
pub const REQUEST_ID: &str = "x-request-id";

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

/// An authenticated request and the one transaction its work runs in: already scoped
/// to the caller's practice, actor and request by the statement that checked the
/// credential. [`Ctx::run`] does the work in it and commits.
pub struct Ctx {
    /// The server's shared state.
    pub state: AppState,
    /// Who, where, with which permissions.
    pub principal: Principal,
    /// The session behind the credential (absent for API keys).
    pub session: Option<SessionAuth>,
    /// Which credential was used.
    pub method: AuthMethod,
    /// Where the request comes from.
    pub meta: RequestMeta,
    pub(super) tx: TenantTx,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("principal", &self.principal)
            .field("method", &self.method)
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

impl Ctx {
    /// Runs `work` in the request's transaction and commits it; a failure rolls
    /// everything back (the transaction is dropped uncommitted).
    pub async fn run<T>(
        self,
        work: impl AsyncFnOnce(&mut TenantTx) -> Result<T, StoreError>,
    ) -> Result<T, AppError> {
        self.try_run(async |tx| Ok(work(tx).await?)).await
    }

    /// Like [`Ctx::run`], for work that can also fail outside the store (a mail that
    /// cannot go out before the commit): any error rolls everything back.
    pub async fn try_run<T>(
        self,
        work: impl AsyncFnOnce(&mut TenantTx) -> Result<T, AppError>,
    ) -> Result<T, AppError> {
        let mut tx = self.tx;
        let done = work(&mut tx).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Commits what authentication wrote (the idle timer, a key's last use) and keeps
    /// the caller, for handlers whose work needs transactions of their own (sign-out,
    /// practice switch, second factor, re-authentication).
    pub async fn into_auth(self) -> Result<Auth, AppError> {
        self.tx.commit().await?;
        Ok(Auth {
            principal: self.principal,
            session: self.session,
            method: self.method,
        })
    }

    /// Refuses with 403 unless the caller holds `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), AppError> {
        Ok(self.principal.require(permission)?)
    }

    /// Refuses unless the caller's session re-entered the password within
    /// [`REAUTH_WINDOW`] (API keys cannot re-authenticate, so they can
    /// never perform these actions).
    pub fn require_recent_reauth(&self) -> Result<(), AppError> {
        let now = self.now();
        match &self.session {
            Some(session) if now - session.reauthenticated_at <= REAUTH_WINDOW => Ok(()),
            _ => Err(AppError::ReauthRequired),
        }
    }

    /// The server's time (controllable in tests).
    pub fn now(&self) -> DateTime<Utc> {
        self.state.auth.clock.now()
    }
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let ctx = authenticate(parts, state, CsrfCheck::Header).await?;
        if ctx
            .session
            .as_ref()
            .is_some_and(|s| s.second_factor_pending)
        {
            return Err(AppError::SecondFactorRequired);
        }
        Ok(ctx)
    }
}

/// A caller who may still owe the second factor: only the routes that complete or
/// enrol it accept this.
#[derive(Debug)]
pub struct PendingCtx(pub Ctx);

impl FromRequestParts<AppState> for PendingCtx {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(PendingCtx(
            authenticate(parts, state, CsrfCheck::Header).await?,
        ))
    }
}

/// An authenticated caller, its authentication committed: for handlers that make
/// their own store calls (see [`Ctx::into_auth`]).
#[derive(Debug, Clone)]
pub struct Auth {
    /// Who, where, with which permissions.
    pub principal: Principal,
    /// The session behind the credential (absent for API keys).
    pub session: Option<SessionAuth>,
    /// Which credential was used.
    pub method: AuthMethod,
}

impl Auth {
    /// Like [`Ctx::require_recent_reauth`], at `now`.
    pub fn require_recent_reauth(&self, now: DateTime<Utc>) -> Result<(), AppError> {
        match &self.session {
            Some(session) if now - session.reauthenticated_at <= REAUTH_WINDOW => Ok(()),
            _ => Err(AppError::ReauthRequired),
        }
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ctx::from_request_parts(parts, state)
            .await?
            .into_auth()
            .await
    }
}

/// Like [`Auth`], for a caller who may still owe the second factor.
#[derive(Debug, Clone)]
pub struct PendingAuth(pub Auth);

impl FromRequestParts<AppState> for PendingAuth {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let PendingCtx(ctx) = PendingCtx::from_request_parts(parts, state).await?;
        Ok(PendingAuth(ctx.into_auth().await?))
    }
}

/// Where a request comes from.
#[derive(Debug, Clone)]
pub struct Meta(pub RequestMeta);

pub(crate) fn meta_of(parts: &Parts) -> RequestMeta {
    let request_id = parts
        .headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    // The client behind trusted proxies (set by the edge layer), else the TCP peer.
    let ip = parts
        .extensions
        .get::<ClientIp>()
        .map(|ClientIp(ip)| *ip)
        .or_else(|| {
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(addr)| addr.ip())
        });
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

/// Where a cookie-authenticated write proves it comes from our own pages: API calls
/// send the `X-CSRF-Token` header (pages send a form field, see `CsrfForm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CsrfCheck {
    /// The `X-CSRF-Token` header.
    Header,
}

/// Checks the request's credential and opens its transaction (one statement).
pub(crate) async fn authenticate(
    parts: &Parts,
    state: &AppState,
    csrf_check: CsrfCheck,
) -> Result<Ctx, AppError> {
    let meta = meta_of(parts);
    let services = &state.auth;
    let now = services.clock.now();
    let opened = |authenticated: Option<Authenticated>, method: AuthMethod| {
        let authenticated = authenticated.ok_or(AppError::Unauthenticated)?;
        Ok::<_, AppError>(Ctx {
            state: state.clone(),
            principal: authenticated.principal,
            session: authenticated.session,
            method,
            meta: meta.clone(),
            tx: authenticated.tx,
        })
    };
    if let Some(credential) = bearer(&parts.headers) {
        if credential.starts_with(paddock_store::identity::api_keys::KEY_PREFIX) {
            let found =
                credentials::authenticate(&state.db, Credential::ApiKey(credential), now, &meta)
                    .await?;
            return opened(found, AuthMethod::ApiKey);
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
        let credential = Credential::AccessToken {
            practice_id: PracticeId::from_uuid(claims.pid),
            session_id: claims.sid,
            user_id: UserId::from_uuid(claims.sub),
        };
        let found = credentials::authenticate(&state.db, credential, now, &meta).await?;
        return opened(found, AuthMethod::AccessToken);
    }
    let (ctx, _) = by_cookie(parts, state).await?;
    // A bearer token cannot be forged by another site; a cookie rides along, so
    // cookie-authenticated writes must prove they come from our own pages.
    if csrf_check == CsrfCheck::Header && !is_safe(&parts.method) {
        let sent = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok());
        let session = ctx.session.as_ref();
        if !sent.is_some_and(|sent| session.is_some_and(|s| csrf::session_token_matches(s, sent))) {
            // Authentication's own bookkeeping is kept, as before the check moved here.
            ctx.into_auth().await?;
            return Err(AppError::Csrf);
        }
    }
    Ok(ctx)
}

/// Authenticates the session cookie alone (pages ignore bearer credentials), and
/// returns the cookie's token too (pages derive their forms' CSRF token from it).
pub(crate) async fn by_cookie(parts: &Parts, state: &AppState) -> Result<(Ctx, String), AppError> {
    let meta = meta_of(parts);
    let now = state.auth.clock.now();
    let token = cookies::session_token(&parts.headers).ok_or(AppError::Unauthenticated)?;
    let found = credentials::authenticate(&state.db, Credential::SessionToken(&token), now, &meta)
        .await?
        .ok_or(AppError::Unauthenticated)?;
    let ctx = Ctx {
        state: state.clone(),
        principal: found.principal,
        session: found.session,
        method: AuthMethod::Session,
        meta,
        tx: found.tx,
    };
    Ok((ctx, token))
}
