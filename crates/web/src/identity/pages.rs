//! The identity pages: sign-in (with the login CSRF cookie), sign-out, practice
//! switching, re-authentication, the second factor, password reset and unlock by
//! emailed link. Forms work without JavaScript; every cookie-authenticated form carries
//! the session's CSRF token. The rules live in `service.rs`, shared with the API.

use super::service::{self, Method};
use super::views::*;
use crate::context::Meta;
use crate::context::cookies::{clear_login, clear_session, login_token, set_login, set_session};
use crate::context::{CsrfForm, Page, PendingPage, csrf};
use crate::input::Query;
use crate::layout::MessagePage;
use crate::return_to::ReturnTo;
use crate::{AppError, AppState};
use axum::Form;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use paddock_store::identity::sessions::{self};
use paddock_store::identity::token::{login_csrf_for, random_token};
use paddock_store::{identity::second_factor, identity::signin};
use serde::Deserialize;
use uuid::Uuid;

/// The identity page routes.
pub fn pages() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", post(logout))
        .route("/switch", post(switch))
        .route("/reauth", get(reauth_page).post(reauth_submit))
        .route(
            "/reset-password",
            get(reset_request_page).post(reset_request_submit),
        )
        .route(
            "/reset-password/{token}",
            get(reset_form_page).post(reset_form_submit),
        )
        .route(
            "/second-factor",
            get(second_factor_page).post(second_factor_submit),
        )
        .route("/second-factor/sms", post(second_factor_sms))
        .route("/unlock/{token}", get(unlock_page).post(unlock_submit))
}

async fn second_factor_page(page: PendingPage) -> Result<Response, AppError> {
    if !page.session.second_factor_pending {
        return Ok(Redirect::to("/").into_response());
    }
    Ok(SecondFactorPage {
        csrf_token: page.csrf_token,
        error: None,
        notice: None,
    }
    .into_response())
}

#[derive(Deserialize)]
struct SecondFactorForm {
    code: String,
    method: String,
}

async fn second_factor_submit(
    State(state): State<AppState>,
    Meta(meta): Meta,
    page: PendingPage,
    CsrfForm(form): CsrfForm<SecondFactorForm>,
) -> Result<Response, AppError> {
    let method = if form.method == "sms" {
        Method::Sms
    } else {
        Method::Totp
    };
    let outcome = service::complete(&state, &meta, &page.auth, method, &form.code).await;
    let error = match outcome {
        // The signed-in browser gets a new cookie: the pending one has ended.
        Ok(Some(issued)) => return Ok(renewed_redirect(&state, &issued, "/")),
        Ok(None) => return Ok(Redirect::to("/").into_response()),
        Err(AppError::Validation(_)) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "That code is wrong or has expired.".to_owned(),
        ),
        Err(AppError::Locked { retry_after }) => (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many failed attempts. Try again in {} minute(s).",
                retry_after.div_ceil(60)
            ),
        ),
        Err(other) => return Err(other),
    };
    let body = SecondFactorPage {
        csrf_token: page.csrf_token,
        error: Some(error.1),
        notice: None,
    };
    Ok((error.0, body).into_response())
}

async fn second_factor_sms(
    State(state): State<AppState>,
    Meta(meta): Meta,
    page: PendingPage,
    CsrfForm(_): CsrfForm<crate::form::NoFields>,
) -> Result<Response, AppError> {
    let (status, error, notice) = match service::send_sign_in(&state, &meta, &page.auth).await {
        Ok(()) => (
            StatusCode::OK,
            None,
            Some("A code is on its way by SMS.".to_owned()),
        ),
        Err(AppError::TooSoon { retry_after }) => (
            StatusCode::TOO_MANY_REQUESTS,
            Some(format!(
                "Wait {retry_after} seconds before asking for another code."
            )),
            None,
        ),
        Err(AppError::Conflict(_)) => (
            StatusCode::CONFLICT,
            Some("You have no confirmed phone number; use your authenticator app.".to_owned()),
            None,
        ),
        Err(other) => return Err(other),
    };
    Ok((
        status,
        SecondFactorPage {
            csrf_token: page.csrf_token,
            error,
            notice,
        },
    )
        .into_response())
}

#[derive(Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
    /// Where to go after signing in (a page that sent the browser here).
    next: Option<String>,
}

async fn login_page(
    page: Option<PendingPage>,
    headers: HeaderMap,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    if let Some(page) = page {
        // Signed in already, or half-way: the second factor is still owed.
        let next = if page.session.second_factor_pending {
            ReturnTo::fixed("/second-factor")
        } else {
            ReturnTo::or(q.next.as_deref(), "/")
        };
        return Ok(Redirect::to(next.as_str()).into_response());
    }
    let (pre_session, set_cookie) = pre_session(&headers);
    let page = LoginPage {
        email: String::new(),
        error: None,
        notice: q.notice.map(|n| notice_text(&n).to_owned()),
        csrf_token: login_csrf_for(&pre_session),
        next: local_next(q.next.as_deref()),
    };
    Ok(with_cookie(page.into_response(), set_cookie))
}

/// The browser's pre-session cookie value, or a new one with its `Set-Cookie`.
fn pre_session(headers: &HeaderMap) -> (String, Option<HeaderValue>) {
    match login_token(headers) {
        Some(value) => (value, None),
        None => {
            let value = random_token();
            let set_cookie = set_login(&value);
            (value, Some(set_cookie))
        }
    }
}

/// `response` with `set_cookie` added, if any.
fn with_cookie(mut response: Response, set_cookie: Option<HeaderValue>) -> Response {
    if let Some(value) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// A redirect to `to` that hands the browser a renewed session's cookie.
fn renewed_redirect(state: &AppState, issued: &sessions::IssuedSession, to: &str) -> Response {
    let now = state.auth.clock.now();
    let cookie = set_session(&issued.token, issued.expires_at, issued.temporary, now);
    ([(header::SET_COOKIE, cookie)], Redirect::to(to)).into_response()
}

/// Only fixed notices can be shown through the query string.
fn notice_text(key: &str) -> &'static str {
    match key {
        "signed-out" => "You have signed out.",
        "joined" => "Invitation accepted. Sign in to continue.",
        "password-reset" => "Your password is set. Sign in with it.",
        "unlocked" => "The lock is lifted. Sign in again.",
        _ => "",
    }
}

/// A `next` address to carry through the sign-in form: ours only, else none.
fn local_next(raw: Option<&str>) -> String {
    raw.and_then(ReturnTo::parse)
        .map(|next| next.as_str().to_owned())
        .unwrap_or_default()
}

#[derive(Deserialize)]
struct LoginForm {
    /// Where to go once signed in (from the page that sent the browser to sign in).
    #[serde(default)]
    next: String,
    email: String,
    password: String,
    temporary: Option<String>,
    #[serde(default)]
    csrf_token: String,
}

/// Whether the sign-in form's token is the one derived from the browser's own
/// pre-session cookie (double submit: another site can send neither).
fn login_csrf_matches(headers: &HeaderMap, sent: &str) -> bool {
    login_token(headers).is_some_and(|cookie| csrf::tokens_match(&login_csrf_for(&cookie), sent))
}

async fn login_submit(
    State(state): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Result<Response, AppError> {
    if !login_csrf_matches(&headers, &form.csrf_token) {
        // Not our form (or a stale one): nothing is tried; the form again, fresh.
        let (pre_session, set_cookie) = pre_session(&HeaderMap::new());
        let page = LoginPage {
            email: String::new(),
            error: Some("The sign-in form had expired. Please sign in again.".to_owned()),
            notice: None,
            csrf_token: login_csrf_for(&pre_session),
            next: local_next(Some(&form.next)),
        };
        return Ok(with_cookie(
            (StatusCode::FORBIDDEN, page).into_response(),
            set_cookie,
        ));
    }
    let temporary = form.temporary.is_some();
    match service::sign_in(&state, &meta, &form.email, &form.password, temporary, None).await {
        Ok(started) => {
            let cookie = set_session(
                &started.issued.token,
                started.issued.expires_at,
                temporary,
                started.now,
            );
            let next = if started.issued.second_factor_pending {
                ReturnTo::fixed("/second-factor")
            } else {
                ReturnTo::or(Some(&form.next), "/")
            };
            let mut response =
                ([(header::SET_COOKIE, cookie)], Redirect::to(next.as_str())).into_response();
            // The pre-session cookie is spent.
            response
                .headers_mut()
                .append(header::SET_COOKIE, clear_login());
            Ok(response)
        }
        Err(error) => {
            let (status, message) = match &error {
                AppError::InvalidCredentials => (
                    StatusCode::UNAUTHORIZED,
                    "The email or the password is wrong.".to_owned(),
                ),
                AppError::Locked { retry_after } => (
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "Too many failed attempts. Try again in {} minute(s).",
                        retry_after.div_ceil(60)
                    ),
                ),
                AppError::Validation(errors) => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    crate::form::field_list(errors),
                ),
                _ => return Err(error),
            };
            // The email is kept; the password never goes back into a page.
            let page = LoginPage {
                email: form.email,
                error: Some(message),
                notice: None,
                csrf_token: form.csrf_token,
                next: local_next(Some(&form.next)),
            };
            let mut response = (status, page).into_response();
            if let AppError::Locked { retry_after } = error
                && let Ok(value) = HeaderValue::from_str(&retry_after.to_string())
            {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            Ok(response)
        }
    }
}

/// The CSRF token of a form posted by a session that may still owe its second factor.
#[derive(Deserialize)]
struct PendingCsrf {
    csrf_token: String,
}

async fn logout(
    State(state): State<AppState>,
    Meta(meta): Meta,
    page: Option<PendingPage>,
    Form(form): Form<PendingCsrf>,
) -> Result<Response, AppError> {
    // Without a session the browser is still sent away signed out; with one, the form
    // must carry its CSRF token.
    if let Some(page) = page {
        if !csrf::session_token_matches(&page.session, &form.csrf_token) {
            return Err(AppError::Csrf);
        }
        sessions::end(&state.db, &page.session, state.auth.clock.now(), &meta).await?;
    }
    Ok((
        [(header::SET_COOKIE, clear_session())],
        Redirect::to("/login?notice=signed-out"),
    )
        .into_response())
}

#[derive(Deserialize)]
struct SwitchForm {
    practice_id: Uuid,
}

async fn switch(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Page { ctx, .. }: Page,
    CsrfForm(form): CsrfForm<SwitchForm>,
) -> Result<Response, AppError> {
    // The switch ends this session for a new one: its own store calls, each in its own
    // transaction, after authentication's bookkeeping is committed.
    let auth = ctx.into_auth().await?;
    let session = auth.session.ok_or(AppError::Unauthenticated)?;
    let user_id = auth.principal.user_id();
    let options = signin::practices_for(&state.db, user_id, &meta).await?;
    let target = options
        .iter()
        .find(|o| o.practice_id.as_uuid() == form.practice_id)
        .ok_or(AppError::NotFound)?;
    // The page lists only the other practices; the current one changes nothing.
    if target.practice_id == auth.principal.practice_id() {
        return Ok(Redirect::to("/").into_response());
    }
    let now = state.auth.clock.now();
    let factors = second_factor::factors_of(&state.db, user_id, &meta).await?;
    let pending = target.require_second_factor && !factors.any_confirmed();
    let issued = sessions::switch(&state.db, &session, target, pending, now, &meta).await?;
    Ok(renewed_redirect(&state, &issued, "/"))
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn reauth_page(
    Page { ctx, nav }: Page,
    Query(q): Query<NextQuery>,
) -> Result<Response, AppError> {
    // Nothing to read beyond the layout; authentication's bookkeeping is committed.
    ctx.into_auth().await?;
    // Only a path of this site is carried on (no open redirect).
    Ok(ReauthPage {
        nav,
        next: ReturnTo::or(q.next.as_deref(), "/").as_str().to_owned(),
        error: None,
    }
    .into_response())
}

#[derive(Deserialize)]
struct ReauthForm {
    password: String,
    next: Option<String>,
}

async fn reauth_submit(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Page { ctx, nav }: Page,
    CsrfForm(form): CsrfForm<ReauthForm>,
) -> Result<Response, AppError> {
    // Parsed before anything is done: only a path of this site is followed.
    let next = ReturnTo::or(form.next.as_deref(), "/");
    // The password check counts failures towards the lockout in transactions of its
    // own (a wrong guess must count whatever follows), so authentication's bookkeeping
    // is committed first.
    let auth = ctx.into_auth().await?;
    let session = auth.session.clone().ok_or(AppError::Unauthenticated)?;
    let refused =
        match service::verify_own_password(&state, &meta, &auth.principal, &form.password).await {
            Ok(()) => None,
            Err(AppError::InvalidCredentials) => Some((
                StatusCode::UNAUTHORIZED,
                "That password is wrong.".to_owned(),
            )),
            Err(AppError::Locked { retry_after }) => Some((
                StatusCode::TOO_MANY_REQUESTS,
                format!(
                    "Too many failed attempts. Try again in {} minute(s).",
                    retry_after.div_ceil(60)
                ),
            )),
            Err(error) => return Err(error),
        };
    if let Some((status, message)) = refused {
        return Ok((
            status,
            ReauthPage {
                nav,
                next: next.as_str().to_owned(),
                error: Some(message),
            },
        )
            .into_response());
    }
    // A privilege change: the session continues under a new cookie.
    let issued =
        sessions::reauthenticated(&state.db, &session, state.auth.clock.now(), &meta).await?;
    Ok(renewed_redirect(&state, &issued, next.as_str()))
}

async fn reset_request_page() -> Response {
    ResetRequestPage {
        sent: false,
        error: None,
    }
    .into_response()
}

#[derive(Deserialize)]
struct ResetRequestForm {
    email: String,
}

async fn reset_request_submit(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Form(form): Form<ResetRequestForm>,
) -> Result<Response, AppError> {
    match service::start_reset(&state, &meta, &form.email).await {
        Ok(()) => Ok(ResetRequestPage {
            sent: true,
            error: None,
        }
        .into_response()),
        Err(AppError::Validation(_)) => {
            let page = ResetRequestPage {
                sent: false,
                error: Some("Enter the email address you sign in with.".to_owned()),
            };
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(error) => Err(error),
    }
}

async fn reset_form_page(Path(token): Path<String>) -> Response {
    ResetFormPage {
        token,
        errors: Vec::new(),
    }
    .into_response()
}

#[derive(Deserialize)]
struct ResetForm {
    new_password: String,
}

async fn reset_form_submit(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Path(token): Path<String>,
    Form(form): Form<ResetForm>,
) -> Result<Response, AppError> {
    match service::finish_reset(&state, &meta, &token, &form.new_password).await {
        Ok(()) => Ok(Redirect::to("/login?notice=password-reset").into_response()),
        Err(AppError::Validation(errors)) => {
            let errors = errors.iter().map(|e| e.message.clone()).collect();
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                ResetFormPage { token, errors },
            )
                .into_response())
        }
        Err(AppError::NotFound) => {
            let page = MessagePage {
                title: "Link not valid".to_owned(),
                text: "This reset link is unknown, was already used, or has expired. Ask for a new one.".to_owned(),
                link_href: "/reset-password".to_owned(),
                link_text: "Reset your password".to_owned(),
            };
            Ok((StatusCode::NOT_FOUND, page).into_response())
        }
        Err(error) => Err(error),
    }
}

async fn unlock_page(Path(token): Path<String>) -> Response {
    UnlockPage { token }.into_response()
}

async fn unlock_submit(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    match service::unlock_account(&state, &meta, &token).await {
        Ok(()) => Ok(Redirect::to("/login?notice=unlocked").into_response()),
        Err(AppError::NotFound) => {
            let page = MessagePage {
                title: "Link not valid".to_owned(),
                text: "This unlock link is unknown, was already used, or has expired. The lock ends on its own after a while.".to_owned(),
                link_href: "/login".to_owned(),
                link_text: "Sign in".to_owned(),
            };
            Ok((StatusCode::NOT_FOUND, page).into_response())
        }
        Err(error) => Err(error),
    }
}
