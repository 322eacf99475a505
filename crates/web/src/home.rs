//! The home page (`/`): the signed-in member's practices and permissions, in the staff
//! layout.

use crate::auth::Meta;
use crate::context::Page;
use crate::layout::{Nav, nav, signed_in};
use crate::{AppError, AppState};
use askama::Template;
use askama_web::WebTemplate;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use paddock_store::identity::signin;
use uuid::Uuid;

/// The home page's route.
pub fn pages() -> Router<AppState> {
    Router::new().route("/", get(home))
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub nav: Nav,
    pub practices: Vec<(Uuid, String)>,
    pub permissions: Vec<String>,
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
