//! Page extractors: `Page` (a signed-in staff member's page request, on the same
//! authentication and transaction as the API's `Ctx`), `PendingPage` (any live
//! session, the second factor owed or not: the second-factor pages, sign-out and the
//! sign-in page) and `CsrfForm<T>` (a form post whose `csrf_token` field must be the
//! session's). Without a session a page answers a
//! redirect to sign-in that remembers where the browser was going.

use crate::context::csrf;
use crate::context::extract::{Auth, Ctx, by_cookie};
use crate::layout::{ErrorPageLayout, Nav, nav_of};
use crate::{AppError, AppState};
use axum::Form;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::{Method, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use paddock_store::identity::sessions::SessionAuth;
use paddock_store::identity::token::csrf_for;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// A page request of a signed-in member (the second factor done), with the staff
/// layout's navigation already read in the request's transaction.
#[derive(Debug)]
pub struct Page {
    /// The request context; its transaction is open.
    pub ctx: Ctx,
    /// The layout: practice, member, sections, the session's CSRF token for the
    /// page's forms, and the practice's time zone. Mark the page's section with
    /// [`Nav::at`].
    pub nav: Nav,
}

/// Why a page was not served: sign-in first, or an error.
#[derive(Debug)]
pub enum PageRejection {
    /// No live session: to the sign-in page (with `next`).
    SignIn(String),
    /// Anything else.
    Failed(AppError),
}

impl IntoResponse for PageRejection {
    fn into_response(self) -> Response {
        match self {
            PageRejection::SignIn(location) => Redirect::to(&location).into_response(),
            PageRejection::Failed(error) => error.into_response(),
        }
    }
}

/// The sign-in page, returning to the requested page afterwards: only for a GET
/// (a form post cannot be replayed) and not for the home page (the default).
fn sign_in_for(method: &Method, uri: &Uri) -> String {
    let target = uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
    if !matches!(*method, Method::GET | Method::HEAD) || target == "/" {
        return "/login".to_owned();
    }
    format!("/login?next={}", percent_encoded(target))
}

/// `text` with every byte but unreserved characters and `/` percent-encoded, so it
/// travels as one query value.
fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The session a `CsrfForm` compares against, left by `Page` for the body extractor.
#[derive(Clone)]
struct FormSession(SessionAuth);

impl FromRequestParts<AppState> for Page {
    type Rejection = PageRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let sign_in = || PageRejection::SignIn(sign_in_for(&parts.method, &parts.uri));
        let (ctx, token) = match by_cookie(parts, state).await {
            Ok(found) => found,
            Err(AppError::Unauthenticated) => return Err(sign_in()),
            Err(other) => return Err(PageRejection::Failed(other)),
        };
        let Some(session) = ctx.session.clone() else {
            return Err(sign_in());
        };
        // A session still owing its second factor counts as none: the sign-in page
        // sends it on to the second-factor page.
        if session.second_factor_pending {
            ctx.into_auth().await.map_err(PageRejection::Failed)?;
            return Err(sign_in());
        }
        parts.extensions.insert(FormSession(session));
        let mut ctx = ctx;
        let principal = ctx.principal.clone();
        let nav = nav_of(&mut ctx.tx, &principal, &csrf_for(&token), "")
            .await
            .map_err(|error| PageRejection::Failed(error.into()))?;
        if let Some(layout) = parts.extensions.get::<ErrorPageLayout>() {
            layout.keep(&nav);
        }
        Ok(Page { ctx, nav })
    }
}

/// A page request of any live session, the second factor owed or not. Its
/// authentication is committed (these pages make their own store calls, each in its
/// own transaction: completing a factor or signing out ends the session in hand).
#[derive(Debug)]
pub struct PendingPage {
    /// The caller.
    pub auth: Auth,
    /// The session behind the cookie.
    pub session: SessionAuth,
    /// The session's CSRF token, for the page's forms.
    pub csrf_token: String,
}

/// The live session behind the cookie, if there is one; leaves it for `CsrfForm`.
async fn pending_page(
    parts: &mut Parts,
    state: &AppState,
) -> Result<Option<PendingPage>, AppError> {
    let (ctx, token) = match by_cookie(parts, state).await {
        Ok(found) => found,
        Err(AppError::Unauthenticated) => return Ok(None),
        Err(other) => return Err(other),
    };
    // Committed whatever follows: authentication's bookkeeping (the idle timer) is kept.
    let auth = ctx.into_auth().await?;
    let Some(session) = auth.session.clone() else {
        return Ok(None);
    };
    parts.extensions.insert(FormSession(session.clone()));
    Ok(Some(PendingPage {
        auth,
        session,
        csrf_token: csrf_for(&token),
    }))
}

impl FromRequestParts<AppState> for PendingPage {
    type Rejection = PageRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match pending_page(parts, state).await {
            Ok(Some(page)) => Ok(page),
            // The second-factor pages send a browser without a session to sign in.
            Ok(None) => Err(PageRejection::SignIn("/login".to_owned())),
            Err(error) => Err(PageRejection::Failed(error)),
        }
    }
}

impl OptionalFromRequestParts<AppState> for PendingPage {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, Self::Rejection> {
        pending_page(parts, state).await
    }
}

/// A page form's fields, accepted only with the session's CSRF token in `csrf_token`
/// (extract [`Page`] first: it names the session).
#[derive(Debug)]
pub struct CsrfForm<T>(pub T);

#[derive(Deserialize)]
struct CsrfField {
    csrf_token: String,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let session = request.extensions().get::<FormSession>().cloned();
        let (parts, body) = request.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        // The token first (axum's Form also refuses a body that is not a form), then
        // the fields, in our words when they do not fit (never serde's text).
        let request = Request::from_parts(parts, Body::from(bytes.clone()));
        let Form(field) = Form::<CsrfField>::from_request(request, state)
            .await
            .map_err(|_| AppError::Csrf.into_response())?;
        match session {
            Some(FormSession(session))
                if csrf::session_token_matches(&session, &field.csrf_token) => {}
            _ => return Err(AppError::Csrf.into_response()),
        }
        crate::input::body::parse_form(&bytes)
            .map(CsrfForm)
            .map_err(|error| AppError::Validation(vec![error]).into_response())
    }
}

/// A typed id from a page's address (`Path<PatientId>` and the like). Anything that
/// is not an id is as unknown as a missing row: the same 404 page an id of another
/// practice gets, rather than the 400 an API caller reads.
pub struct PageId<T>(pub T);

impl<T, S> FromRequestParts<S> for PageId<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        match <Path<T> as FromRequestParts<S>>::from_request_parts(parts, state).await {
            Ok(Path(id)) => Ok(PageId(id)),
            Err(_) => Err(AppError::NotFound),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sign_in_address_carries_the_requested_page_encoded() {
        let uri: Uri = "/clients?q=ann%20hale&limit=5".parse().unwrap();
        assert_eq!(
            sign_in_for(&Method::GET, &uri),
            "/login?next=/clients%3Fq%3Dann%2520hale%26limit%3D5"
        );
        assert_eq!(sign_in_for(&Method::GET, &"/".parse().unwrap()), "/login");
        assert_eq!(sign_in_for(&Method::POST, &uri), "/login");
    }
}
