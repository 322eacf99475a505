//! `GET /`: the layout, the practice switcher and every panel the member may see, read
//! in the request's transaction.

use super::views::{DashboardPage, window_at};
use crate::context::Page;
use crate::{AppError, AppState};
use axum::Router;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use paddock_store::dashboard;

/// The dashboard's page route.
pub fn pages() -> Router<AppState> {
    Router::new().route("/", get(home))
}

/// The dashboard of the signed-in member.
async fn home(Page { ctx, nav }: Page) -> Result<Response, AppError> {
    let window = window_at(ctx.now(), nav.zone);
    let principal = ctx.principal.clone();
    let (practices, panels) = ctx
        .run(async |tx| {
            let panels = dashboard::panels(tx, &window).await?;
            let practices = dashboard::own_practices(tx).await?;
            Ok((practices, panels))
        })
        .await?;
    let practices = practices
        .into_iter()
        .map(|(id, name)| (id.as_uuid(), name))
        .collect();
    Ok(DashboardPage::new(nav, practices, panels, &principal, &window).into_response())
}
