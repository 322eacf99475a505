//! What every staff page shares: the layout's navigation (read by the `Page` extractor
//! in the request's transaction, and kept for an error page drawn at the edge), the
//! plain message page, the answer to an address no route knows, and the stylesheet.

use crate::context::Page;
use crate::{AppError, AppState};
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use paddock_domain::{Permission, PracticeZone};
use paddock_store::staff::members;
use std::sync::{Arc, OnceLock};

/// The routes every page needs (the stylesheet).
pub fn pages() -> Router<AppState> {
    Router::new().route("/static/app.css", get(stylesheet))
}

/// What the staff layout shows on every page.
#[derive(Clone)]
pub struct Nav {
    pub practice_name: String,
    pub display_name: String,
    pub role_name: String,
    pub can_manage_staff: bool,
    pub can_read_audit: bool,
    /// The practice settings page (`settings.manage`).
    pub can_manage_settings: bool,
    /// Patients (`patients.read`).
    pub can_read_patients: bool,
    /// Clients (`clients.read`).
    pub can_read_clients: bool,
    /// The appointment book (`appointments.read`).
    pub can_read_appointments: bool,
    /// The section the page belongs to (`patients`, `clients`, ...), marked in the nav.
    pub current: &'static str,
    pub csrf_token: String,
    /// The practice's time zone: every time a page shows or a form takes is in it.
    pub zone: PracticeZone,
}

impl std::fmt::Debug for Nav {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the CSRF token.
        f.debug_struct("Nav")
            .field("practice_name", &self.practice_name)
            .field("current", &self.current)
            .field("zone", &self.zone)
            .finish_non_exhaustive()
    }
}

impl Nav {
    /// The same navigation with `section` marked as the current one.
    pub(crate) fn at(mut self, section: &'static str) -> Self {
        self.current = section;
        self
    }
}

/// Where a request's `Page` extractor leaves the layout it read, so that an error the
/// handler answers afterwards (403, 404, 409, 500) is drawn by the browser error-page
/// middleware in the same staff layout as the page would have been. The middleware
/// puts an empty one in the request's extensions, only for a browser asking for a
/// page; it stays empty when the error came before anyone was known to be signed in.
#[derive(Clone, Default)]
pub(crate) struct ErrorPageLayout(Arc<OnceLock<Nav>>);

impl ErrorPageLayout {
    /// Keeps the first layout read for the request.
    pub(crate) fn keep(&self, nav: &Nav) {
        // A second `Page` in one request would read the same layout: the first stays.
        let _ = self.0.set(nav.clone());
    }

    /// The layout, if a page extractor read one.
    pub(crate) fn nav(&self) -> Option<&Nav> {
        self.0.get()
    }
}

/// An address no route answers: 404. For a browser asking for a page, the layout is
/// read as a page would read it (and nothing else: the transaction is dropped), so a
/// signed-in member sees the 404 in the staff layout with the practice and sections.
pub(crate) async fn unknown_address(State(state): State<AppState>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    if parts.extensions.get::<ErrorPageLayout>().is_some() {
        // Signed out (or any failure): the bare bar, the same 404.
        let _ = Page::from_request_parts(&mut parts, &state).await;
    }
    AppError::NotFound.into_response()
}

#[derive(Template, WebTemplate)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub title: String,
    pub text: String,
    pub link_href: String,
    pub link_text: String,
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../static/app.css"),
    )
        .into_response()
}

/// The staff layout's navigation, read in the page's transaction (the `Page` extractor
/// does it), with `section` marked as the current one.
pub(crate) async fn nav_of(
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
        can_manage_settings: principal.permissions().contains(Permission::SettingsManage),
        can_read_patients: principal.permissions().contains(Permission::PatientsRead),
        can_read_clients: principal.permissions().contains(Permission::ClientsRead),
        can_read_appointments: principal
            .permissions()
            .contains(Permission::AppointmentsRead),
        current: section,
        csrf_token: csrf_token.to_owned(),
        zone: me.time_zone,
    })
}
