//! The practice's record-keeping settings (editing period, retention periods).

use crate::context::Ctx;
use crate::{AppError, AppState};
use axum::Json;
use paddock_store::staff::record_settings::{self, RecordSettings};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The settings routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_records, put_records))
}

/// The record-keeping settings (`records.read` or `settings.manage`).
#[utoipa::path(get, path = "/api/v1/settings/records", tag = "records",
    responses((status = 200, description = "The settings", body = RecordSettings)))]
pub async fn get_records(ctx: Ctx) -> Result<Json<RecordSettings>, AppError> {
    let settings = ctx.run(async |tx| record_settings::get(tx).await).await?;
    Ok(Json(settings))
}

/// Replaces the record-keeping settings (`settings.manage`; audited).
#[utoipa::path(put, path = "/api/v1/settings/records", tag = "records", request_body = RecordSettings,
    responses(
        (status = 200, description = "The settings now", body = RecordSettings),
        (status = 403, description = "Needs settings.manage", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A value out of range", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn put_records(
    ctx: Ctx,
    Json(body): Json<RecordSettings>,
) -> Result<Json<RecordSettings>, AppError> {
    let body = body.check()?;
    let settings = ctx
        .run(async |tx| record_settings::set(tx, body).await)
        .await?;
    Ok(Json(settings))
}
