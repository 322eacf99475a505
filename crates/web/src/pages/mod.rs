//! Server-rendered pages (askama): sign-in, the staff layout, staff management, the
//! audit trail, invitation acceptance, password reset, and the clinical core (clients,
//! patients and their charts, encounters, the appointment book). Forms work without
//! JavaScript; no inline script or style (the CSP forbids both); every
//! cookie-authenticated form carries the session's CSRF token.

mod audit;
mod calendar;
mod clients;
mod encounters;
mod forms;
mod patients;
mod return_to;
mod views;
mod weight_chart;

use crate::auth::cookies::{
    clear_login, clear_session, login_token, session_token, set_login, set_session,
};
use crate::auth::{Auth, AuthMethod, Meta, REAUTH_WINDOW};
use crate::context::{CsrfForm, Page, csrf};
use crate::routes::{
    auth as auth_routes, invitations as invitation_routes, passwords as password_routes,
};
use crate::{AppError, AppState};
use axum::Form;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use paddock_domain::{MembershipId, Permission, RoleId};
use paddock_store::identity::credentials::{self, Credential};
use paddock_store::identity::sessions::{self, SessionAuth};
use paddock_store::identity::token::{csrf_for, login_csrf_for, random_token};
use paddock_store::{
    RequestMeta, identity::second_factor, identity::signin, staff::changes, staff::invitations,
    staff::members, staff::roles,
};
use return_to::ReturnTo;
use serde::Deserialize;
use uuid::Uuid;
use views::*;

/// The page routes (not part of the JSON API or its OpenAPI document).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", post(logout))
        .route("/switch", post(switch))
        .route("/reauth", get(reauth_page).post(reauth_submit))
        .route("/staff", get(staff_page))
        .route("/staff/invitations", post(staff_invite))
        .route(
            "/staff/invitations/{id}/revoke",
            post(staff_invitation_revoke),
        )
        .route("/staff/members/{id}/{action}", post(staff_member_action))
        .route("/audit", get(audit::audit_page))
        .route(
            "/clients",
            get(clients::list_page).post(clients::create_submit),
        )
        .route("/clients/new", get(clients::new_page))
        .route(
            "/clients/{id}",
            get(clients::detail_page).post(clients::update_submit),
        )
        .route("/clients/{id}/edit", get(clients::edit_page))
        .route(
            "/patients",
            get(patients::list_page).post(patients::create_submit),
        )
        .route("/patients/new", get(patients::new_page))
        .route("/patients/{id}", get(patients::chart_page))
        .route("/patients/{id}/encounters/new", get(encounters::new_page))
        .route("/patients/{id}/encounters", post(encounters::create_submit))
        .route(
            "/encounters/{id}",
            get(encounters::view_page).post(encounters::edit_submit),
        )
        .route(
            "/encounters/{id}/finalise",
            post(encounters::finalise_submit),
        )
        .route(
            "/encounters/{id}/addenda",
            post(encounters::addendum_submit),
        )
        .route(
            "/appointments",
            get(calendar::calendar_page).post(calendar::book_submit),
        )
        .route("/appointments/new", get(calendar::new_page))
        .route("/appointments/{id}/status", post(calendar::status_submit))
        .route(
            "/invitations/{token}",
            get(invitation_page).post(invitation_submit),
        )
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
        .route("/unlock/{token}", get(unlock_page).post(unlock_submit))
        .route("/second-factor/sms", post(second_factor_sms))
        .route("/static/app.css", get(stylesheet))
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../static/app.css"),
    )
        .into_response()
}

/// The signed-in session of a page, its authentication committed (these pages still
/// open their own transactions for their work).
async fn signed_in(page: Page) -> Result<PageSession, AppError> {
    let Page { ctx, csrf_token } = page;
    let auth = ctx.into_auth().await?;
    let session = auth.session.clone().ok_or(AppError::Unauthenticated)?;
    Ok(PageSession {
        auth,
        session,
        csrf_token,
    })
}

/// The signed-in session of a page request, and its CSRF token.
struct PageSession {
    auth: Auth,
    session: SessionAuth,
    csrf_token: String,
}

/// The session behind the cookie, pending second factor or not.
async fn any_page_session(
    state: &AppState,
    headers: &HeaderMap,
    meta: &RequestMeta,
) -> Result<Option<PageSession>, AppError> {
    let Some(token) = session_token(headers) else {
        return Ok(None);
    };
    let now = state.auth.clock.now();
    let credential = Credential::SessionToken(&token);
    let Some(authenticated) = credentials::authenticate(&state.db, credential, now, meta).await?
    else {
        return Ok(None);
    };
    // Pages still open their own transactions for their work (see `Ctx` for the one
    // transaction API routes use); authentication's bookkeeping is kept.
    authenticated.tx.commit().await?;
    let Some(session) = authenticated.session else {
        return Ok(None);
    };
    let auth = Auth {
        principal: session.principal.clone(),
        session: Some(session.clone()),
        method: AuthMethod::Session,
    };
    Ok(Some(PageSession {
        auth,
        session,
        csrf_token: csrf_for(&token),
    }))
}

/// The session behind the cookie, pending second factor or not, if the form's CSRF
/// token is its own (the second-factor forms and sign-out).
async fn pending_form_session(
    state: &AppState,
    headers: &HeaderMap,
    meta: &RequestMeta,
    csrf: &str,
) -> Result<Option<PageSession>, AppError> {
    with_csrf(any_page_session(state, headers, meta).await?, csrf)
}

/// The session, if the form's CSRF token is the session's own.
fn with_csrf(page: Option<PageSession>, csrf: &str) -> Result<Option<PageSession>, AppError> {
    match page {
        Some(page) if !csrf::session_token_matches(&page.session, csrf) => Err(AppError::Csrf),
        page => Ok(page),
    }
}

async fn second_factor_page(
    State(state): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let Some(page) = any_page_session(&state, &headers, &meta).await? else {
        return Ok(to_login());
    };
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
    csrf_token: String,
    code: String,
    method: String,
}

async fn second_factor_submit(
    State(state): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    Form(form): Form<SecondFactorForm>,
) -> Result<Response, AppError> {
    let Some(page) = pending_form_session(&state, &headers, &meta, &form.csrf_token).await? else {
        return Ok(to_login());
    };
    let method = if form.method == "sms" {
        crate::routes::second_factor::Method::Sms
    } else {
        crate::routes::second_factor::Method::Totp
    };
    let outcome =
        crate::routes::second_factor::complete(&state, &meta, &page.auth, method, &form.code).await;
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
    headers: HeaderMap,
    Form(form): Form<PendingCsrf>,
) -> Result<Response, AppError> {
    let Some(page) = pending_form_session(&state, &headers, &meta, &form.csrf_token).await? else {
        return Ok(to_login());
    };
    let (status, error, notice) =
        match crate::routes::second_factor::send_sign_in(&state, &meta, &page.auth).await {
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

async fn nav(state: &AppState, page: &PageSession, meta: &RequestMeta) -> Result<Nav, AppError> {
    let mut tx = state.db.begin(&page.auth.principal, meta).await?;
    let nav = nav_of(&mut tx, &page.auth.principal, &page.csrf_token, "").await?;
    tx.commit().await?;
    Ok(nav)
}

/// The staff layout's navigation, read in the page's own transaction, with `section`
/// marked as the current one.
async fn nav_of(
    tx: &mut paddock_store::TenantTx,
    principal: &paddock_store::Principal,
    csrf_token: &str,
    section: &'static str,
) -> Result<Nav, paddock_store::StoreError> {
    let me = members::me(tx).await?;
    Ok(Nav {
        practice_name: me.practice_name,
        display_name: me.display_name,
        role_name: principal.role_name().to_owned(),
        can_manage_staff: principal.permissions().contains(Permission::StaffManage),
        can_read_audit: principal.permissions().contains(Permission::AuditRead),
        can_read_patients: principal.permissions().contains(Permission::PatientsRead),
        can_read_clients: principal.permissions().contains(Permission::ClientsRead),
        can_read_appointments: principal
            .permissions()
            .contains(Permission::AppointmentsRead),
        current: section,
        csrf_token: csrf_token.to_owned(),
    })
}

/// [`nav`] with `section` marked as the current one.
async fn nav_in(
    state: &AppState,
    page: &PageSession,
    meta: &RequestMeta,
    section: &'static str,
) -> Result<Nav, AppError> {
    let mut nav = nav(state, page, meta).await?;
    nav.current = section;
    Ok(nav)
}

/// Whether the page's member holds `permission`.
fn can(page: &PageSession, permission: Permission) -> bool {
    page.auth.principal.permissions().contains(permission)
}

fn to_login() -> Response {
    Redirect::to("/login").into_response()
}

async fn home(
    State(state): State<AppState>,
    Meta(meta): Meta,
    page: Page,
) -> Result<Response, AppError> {
    let page = signed_in(page).await?;
    let nav = nav(&state, &page, &meta).await?;
    let practices = signin::practices_for(&state.db, page.auth.principal.user_id(), &meta)
        .await?
        .into_iter()
        .map(|p| (p.practice_id.as_uuid(), p.name))
        .collect();
    let permissions = page
        .auth
        .principal
        .permissions()
        .iter()
        .map(|p| p.as_str().to_owned())
        .collect();
    Ok(DashboardPage {
        nav,
        practices,
        permissions,
    }
    .into_response())
}

#[derive(Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
    /// Where to go after signing in (a page that sent the browser here).
    next: Option<String>,
}

async fn login_page(
    State(state): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, AppError> {
    if let Some(page) = any_page_session(&state, &headers, &meta).await? {
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
    match auth_routes::sign_in(&state, &meta, &form.email, &form.password, temporary, None).await {
        Ok(signed_in) => {
            let cookie = set_session(
                &signed_in.issued.token,
                signed_in.issued.expires_at,
                temporary,
                signed_in.now,
            );
            let next = if signed_in.issued.second_factor_pending {
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
                    errors
                        .iter()
                        .map(|e| format!("{}: {}", e.field, e.message))
                        .collect::<Vec<_>>()
                        .join("; "),
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

/// A form with no fields but its CSRF token (checked by `CsrfForm`).
#[derive(Deserialize)]
pub(super) struct NoFields {}

/// The CSRF token of a form posted by a session that may still owe its second factor.
#[derive(Deserialize)]
struct PendingCsrf {
    csrf_token: String,
}

async fn logout(
    State(state): State<AppState>,
    Meta(meta): Meta,
    headers: HeaderMap,
    Form(form): Form<PendingCsrf>,
) -> Result<Response, AppError> {
    if let Some(page) = pending_form_session(&state, &headers, &meta, &form.csrf_token).await? {
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
    page: Page,
    CsrfForm(form): CsrfForm<SwitchForm>,
) -> Result<Response, AppError> {
    let page = signed_in(page).await?;
    let user_id = page.auth.principal.user_id();
    let options = signin::practices_for(&state.db, user_id, &meta).await?;
    let target = options
        .iter()
        .find(|o| o.practice_id.as_uuid() == form.practice_id)
        .ok_or(AppError::NotFound)?;
    // The page lists only the other practices; the current one changes nothing.
    if target.practice_id == page.auth.principal.practice_id() {
        return Ok(Redirect::to("/").into_response());
    }
    let now = state.auth.clock.now();
    let factors = second_factor::factors_of(&state.db, user_id, &meta).await?;
    let pending = target.require_second_factor && !factors.any_confirmed();
    let issued = sessions::switch(&state.db, &page.session, target, pending, now, &meta).await?;
    Ok(renewed_redirect(&state, &issued, "/"))
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn reauth_page(
    State(state): State<AppState>,
    Meta(meta): Meta,
    page: Page,
    Query(q): Query<NextQuery>,
) -> Result<Response, AppError> {
    let page = signed_in(page).await?;
    let nav = nav(&state, &page, &meta).await?;
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
    page: Page,
    CsrfForm(form): CsrfForm<ReauthForm>,
) -> Result<Response, AppError> {
    let page = signed_in(page).await?;
    // Parsed before anything is done: only a path of this site is followed.
    let next = ReturnTo::or(form.next.as_deref(), "/");
    let refused =
        match auth_routes::verify_own_password(&state, &meta, &page.auth.principal, &form.password)
            .await
        {
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
        let nav = nav(&state, &page, &meta).await?;
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
        sessions::reauthenticated(&state.db, &page.session, state.auth.clock.now(), &meta).await?;
    Ok(renewed_redirect(&state, &issued, next.as_str()))
}

async fn staff_page(
    State(state): State<AppState>,
    Meta(meta): Meta,
    page: Page,
    Query(q): Query<StaffQuery>,
) -> Result<Response, AppError> {
    let page = signed_in(page).await?;
    render_staff(
        &state,
        &page,
        &meta,
        q.notice.as_deref().map(staff_notice),
        None,
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
struct StaffQuery {
    notice: Option<String>,
}

/// Only fixed notices can be shown through the query string.
fn staff_notice(key: &str) -> String {
    match key {
        "invited" => "Invitation sent.",
        "role-changed" => "Role changed.",
        "deactivated" => "Member deactivated; their sessions and keys were revoked.",
        "reactivated" => "Member reactivated.",
        "invitation-revoked" => "Invitation revoked; its link no longer works.",
        _ => "",
    }
    .to_owned()
}

async fn render_staff(
    state: &AppState,
    page: &PageSession,
    meta: &RequestMeta,
    notice: Option<String>,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, AppError> {
    let nav = nav(state, page, meta).await?;
    let mut tx = state.db.begin(&page.auth.principal, meta).await?;
    let listed = members::list(&mut tx).await?;
    let role_list = roles::list(&mut tx).await?;
    // The newest page; older ones are in the API's list.
    let sent = invitations::list(
        &mut tx,
        state.auth.clock.now(),
        paddock_store::page::MAX_LIMIT,
        None,
    )
    .await?;
    tx.commit().await?;
    let invitations = sent
        .items
        .into_iter()
        .map(|i| InvitationRow {
            id: i.id,
            email: i.email,
            role_name: i.role_name,
            sent_by: i.sent_by_name.unwrap_or_else(|| "—".to_owned()),
            expires: i.expires_at.format("%Y-%m-%d %H:%M").to_string(),
            open: i.status == invitations::InvitationStatus::Open,
            status: i.status.as_str(),
        })
        .collect();
    let members = listed
        .into_iter()
        .map(|m| MemberRow {
            id: m.membership_id.as_uuid(),
            email: m.email,
            display_name: m.display_name,
            role_id: m.role_id.as_uuid(),
            status: m.status.as_str(),
            active: m.status == paddock_domain::MembershipStatus::Active,
        })
        .collect();
    let roles = role_list
        .into_iter()
        .map(|r| (r.id.as_uuid(), r.name))
        .collect();
    Ok((
        status,
        StaffPage {
            nav,
            members,
            roles,
            invitations,
            notice,
            error,
        },
    )
        .into_response())
}

/// A page's answer to a refused staff action: the page again, with the reason.
async fn staff_error(
    state: &AppState,
    page: &PageSession,
    meta: &RequestMeta,
    error: AppError,
) -> Result<Response, AppError> {
    let (status, message) = match &error {
        AppError::Validation(errors) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        AppError::Conflict(field) => (
            StatusCode::CONFLICT,
            format!("{}: {}", field.field, field.message),
        ),
        AppError::Forbidden(detail) => (StatusCode::FORBIDDEN, detail.clone()),
        AppError::NotFound => (
            StatusCode::NOT_FOUND,
            "That member does not exist.".to_owned(),
        ),
        AppError::Unavailable(detail) => (StatusCode::SERVICE_UNAVAILABLE, detail.clone()),
        _ => return Err(error),
    };
    render_staff(state, page, meta, None, Some(message), status).await
}

#[derive(Deserialize)]
struct InviteForm {
    email: String,
    role_id: Uuid,
}

async fn staff_invite(
    State(state): State<AppState>,
    Meta(meta): Meta,
    page: Page,
    CsrfForm(form): CsrfForm<InviteForm>,
) -> Result<Response, AppError> {
    let page = signed_in(page).await?;
    match invitation_routes::send_invitation(&state, &page.auth, &meta, &form.email, form.role_id)
        .await
    {
        Ok(_) => Ok(Redirect::to("/staff?notice=invited").into_response()),
        Err(error) => staff_error(&state, &page, &meta, error).await,
    }
}

/// `POST /staff/invitations/{id}/revoke`: the staff page's revoke button.
async fn staff_invitation_revoke(
    State(state): State<AppState>,
    Meta(meta): Meta,
    page: Page,
    Path(id): Path<Uuid>,
    CsrfForm(_): CsrfForm<NoFields>,
) -> Result<Response, AppError> {
    let page = signed_in(page).await?;
    let mut tx = state.db.begin(&page.auth.principal, &meta).await?;
    match invitations::revoke(&mut tx, id, state.auth.clock.now()).await {
        Ok(()) => {
            tx.commit().await?;
            Ok(Redirect::to("/staff?notice=invitation-revoked").into_response())
        }
        Err(error) => {
            tx.rollback().await?;
            staff_error(&state, &page, &meta, error.into()).await
        }
    }
}

#[derive(Deserialize)]
struct MemberForm {
    role_id: Option<Uuid>,
}

async fn staff_member_action(
    State(state): State<AppState>,
    Meta(meta): Meta,
    page: Page,
    Path((id, action)): Path<(Uuid, String)>,
    CsrfForm(form): CsrfForm<MemberForm>,
) -> Result<Response, AppError> {
    let page = signed_in(page).await?;
    let now = state.auth.clock.now();
    let membership = MembershipId::from_uuid(id);
    let mut tx = state.db.begin(&page.auth.principal, &meta).await?;
    let outcome = match (action.as_str(), form.role_id) {
        ("role", Some(role_id)) => {
            if now - page.session.reauthenticated_at > REAUTH_WINDOW {
                return Ok(Redirect::to("/reauth?next=/staff").into_response());
            }
            changes::change_role(&mut tx, membership, RoleId::from_uuid(role_id), now)
                .await
                .map(|_| "role-changed")
        }
        ("deactivate", _) => changes::deactivate(&mut tx, membership, now)
            .await
            .map(|()| "deactivated"),
        ("reactivate", _) => changes::reactivate(&mut tx, membership)
            .await
            .map(|()| "reactivated"),
        _ => return Err(AppError::NotFound),
    };
    match outcome {
        Ok(notice) => {
            tx.commit().await?;
            Ok(Redirect::to(&format!("/staff?notice={notice}")).into_response())
        }
        Err(error) => {
            tx.rollback().await?;
            staff_error(&state, &page, &meta, error.into()).await
        }
    }
}

async fn invitation_page(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Path(token): Path<String>,
) -> Result<Response, AppError> {
    render_invitation(
        &state,
        &meta,
        &token,
        String::new(),
        Vec::new(),
        StatusCode::OK,
    )
    .await
}

async fn render_invitation(
    state: &AppState,
    meta: &RequestMeta,
    token: &str,
    display_name: String,
    errors: Vec<String>,
    status: StatusCode,
) -> Result<Response, AppError> {
    let now = state.auth.clock.now();
    let Some(open) = paddock_store::staff::invitations::open(&state.db, token, now, meta).await?
    else {
        let page = MessagePage {
            title: "Invitation not valid".to_owned(),
            text: "This invitation link is unknown, was already used, was revoked, or has expired. Ask the practice for a new one.".to_owned(),
            link_href: "/login".to_owned(),
            link_text: "Sign in".to_owned(),
        };
        return Ok((StatusCode::NOT_FOUND, page).into_response());
    };
    let page = InvitationPage {
        token: token.to_owned(),
        practice_name: open.practice_name,
        role_name: open.role_name,
        email: open.email.as_str().to_owned(),
        existing: open.existing_user.is_some(),
        display_name,
        errors,
    };
    Ok((status, page).into_response())
}

#[derive(Deserialize)]
struct AcceptForm {
    password: String,
    display_name: Option<String>,
}

async fn invitation_submit(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Path(token): Path<String>,
    Form(form): Form<AcceptForm>,
) -> Result<Response, AppError> {
    match invitation_routes::accept_invitation(
        &state,
        &meta,
        &token,
        &form.password,
        form.display_name.as_deref(),
    )
    .await
    {
        Ok(_) => Ok(Redirect::to("/login?notice=joined").into_response()),
        Err(AppError::Validation(errors)) => {
            let errors = errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect();
            let name = form.display_name.unwrap_or_default();
            render_invitation(
                &state,
                &meta,
                &token,
                name,
                errors,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(AppError::Locked { retry_after }) => {
            let errors = vec![format!(
                "Too many failed attempts. Try again in {} minute(s).",
                retry_after.div_ceil(60)
            )];
            render_invitation(
                &state,
                &meta,
                &token,
                String::new(),
                errors,
                StatusCode::TOO_MANY_REQUESTS,
            )
            .await
        }
        Err(AppError::InvalidCredentials) => {
            let errors = vec!["That is not the password of your existing account.".to_owned()];
            render_invitation(
                &state,
                &meta,
                &token,
                String::new(),
                errors,
                StatusCode::UNAUTHORIZED,
            )
            .await
        }
        Err(AppError::NotFound) => {
            render_invitation(
                &state,
                &meta,
                &token,
                String::new(),
                Vec::new(),
                StatusCode::NOT_FOUND,
            )
            .await
        }
        Err(error) => Err(error),
    }
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
    match password_routes::start_reset(&state, &meta, &form.email).await {
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
    match password_routes::finish_reset(&state, &meta, &token, &form.new_password).await {
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
    match password_routes::unlock_account(&state, &meta, &token).await {
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
