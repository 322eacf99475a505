//! Liveness and readiness probes.

use crate::input::Json;
use crate::{AppError, AppState};
use axum::extract::State;
use serde::Serialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// A probe's answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok` or `ready`.
    pub status: &'static str,
}

/// The probe routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process is up", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The database answers and its migrations are those this build expects.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready to serve", body = Health),
        (status = 503, description = "Database unreachable or not migrated", body = crate::error::Problem,
            content_type = "application/problem+json"),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Health>, AppError> {
    let status = state.db.schema_status().await.map_err(|error| {
        tracing::warn!(error = %error, "readiness check failed");
        AppError::Unavailable("The database is not reachable.".into())
    })?;
    if status.is_current() {
        Ok(Json(Health { status: "ready" }))
    } else {
        Err(AppError::Unavailable(status.to_string()))
    }
}
