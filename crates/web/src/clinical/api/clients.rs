//! Clients (owners): list and search, register, read, update, soft delete, restore.

use crate::context::Ctx;
use crate::input::Json;
use crate::input::Path;
use crate::input::{Params, optional_note, optional_with, required};
use crate::{AppError, AppState};
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::StatusCode;
use paddock_domain::{ClientId, Email, FieldErrors, Phone};
use paddock_store::clinical::clients::{self, Client, ClientDetails};
use paddock_store::clinical::patients::{self, Patient};
use paddock_store::page::Page;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The client routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(deleted))
        .routes(routes!(get_one, update, delete))
        .routes(routes!(restore))
        .routes(routes!(patients_of))
}

/// A client's details (create and full update). Texts are trimmed; blank optional
/// fields count as absent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientBody {
    /// Given name(s), 1-100 characters.
    pub given_name: Option<String>,
    /// Family name, 1-100 characters.
    pub family_name: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Mobile number (digits, spaces, hyphens, brackets, leading +).
    pub mobile: Option<String>,
    /// Another number.
    pub phone: Option<String>,
    /// Postal address (may span lines).
    pub address: Option<String>,
    /// May be contacted by email (default true).
    pub contact_by_email: Option<bool>,
    /// May be contacted by SMS (default false).
    pub contact_by_sms: Option<bool>,
    /// Wants reminders (default true).
    pub reminders: Option<bool>,
    /// Front-desk notes.
    pub notes: Option<String>,
}

impl ClientBody {
    /// The details, or every field's error.
    pub fn parse(&self) -> Result<ClientDetails, FieldErrors> {
        let mut errors = FieldErrors::default();
        let given_name = required(&mut errors, "given_name", &self.given_name, 100);
        let family_name = required(&mut errors, "family_name", &self.family_name, 100);
        let email = optional_with(&mut errors, "email", &self.email, Email::parse);
        let mobile = optional_with(&mut errors, "mobile", &self.mobile, Phone::parse);
        let phone = optional_with(&mut errors, "phone", &self.phone, Phone::parse);
        let address = optional_note(&mut errors, "address", &self.address, 500);
        let notes = optional_note(&mut errors, "notes", &self.notes, 4000);
        let contact_by_sms = self.contact_by_sms.unwrap_or(false);
        if contact_by_sms && self.mobile.as_deref().is_none_or(|m| m.trim().is_empty()) {
            errors.0.push(paddock_domain::FieldError::new(
                "contact_by_sms",
                "needs a mobile number",
            ));
        }
        errors.into_result()?;
        let (Some(given_name), Some(family_name)) = (given_name, family_name) else {
            return Err(FieldErrors::default());
        };
        Ok(ClientDetails {
            given_name,
            family_name,
            email,
            mobile,
            phone,
            address,
            contact_by_email: self.contact_by_email.unwrap_or(true),
            contact_by_sms,
            reminders: self.reminders.unwrap_or(true),
            notes,
        })
    }
}

/// Searches live clients by family name (`clients.read`).
#[utoipa::path(get, path = "/api/v1/clients", tag = "clients",
    params(
        ("q" = Option<String>, Query, description = "Part of a name, email or phone number."),
        ("limit" = Option<u32>, Query, description = "1 to 200, default 50."),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page."),
    ),
    responses(
        (status = 200, description = "One page of clients", body = Page<Client>),
        crate::responses::InvalidParameter,
    ))]
pub async fn list(
    ctx: Ctx,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Page<Client>>, AppError> {
    let pairs = query.map(|Query(p)| p).unwrap_or_default();
    let params = Params::parse(&pairs, &["q", "limit", "cursor"])?;
    let mut errors = FieldErrors::default();
    let (limit, cursor) = params.page(&mut errors);
    errors.into_result()?;
    let page = ctx
        .run(async |tx| clients::list(tx, params.get("q"), limit, cursor.as_ref()).await)
        .await?;
    Ok(Json(page))
}

/// Registers a client (`clients.write`).
#[utoipa::path(post, path = "/api/v1/clients", tag = "clients", request_body = ClientBody,
    responses(
        (status = 201, description = "Registered", body = Client),
        crate::responses::InvalidFields,
    ))]
pub async fn create(
    ctx: Ctx,
    Json(body): Json<ClientBody>,
) -> Result<(StatusCode, Json<Client>), AppError> {
    let details = body.parse()?;
    let client = ctx
        .run(async |tx| clients::create(tx, &details).await)
        .await?;
    Ok((StatusCode::CREATED, Json(client)))
}

/// One client (`clients.read`); another practice's id is 404.
#[utoipa::path(get, path = "/api/v1/clients/{id}", tag = "clients",
    params(("id" = Uuid, Path, description = "Client id")),
    responses(
        (status = 200, description = "The client", body = Client),
        crate::responses::NoSuchClient,
    ))]
pub async fn get_one(ctx: Ctx, Path(id): Path<ClientId>) -> Result<Json<Client>, AppError> {
    let client = ctx.run(async |tx| clients::get(tx, id).await).await?;
    Ok(Json(client))
}

/// Replaces a client's details (`clients.write`).
#[utoipa::path(put, path = "/api/v1/clients/{id}", tag = "clients", request_body = ClientBody,
    params(("id" = Uuid, Path, description = "Client id")),
    responses(
        (status = 200, description = "Updated", body = Client),
        crate::responses::NoSuchClient,
        crate::responses::InvalidFields,
    ))]
pub async fn update(
    ctx: Ctx,
    Path(id): Path<ClientId>,
    Json(body): Json<ClientBody>,
) -> Result<Json<Client>, AppError> {
    let details = body.parse()?;
    let client = ctx
        .run(async |tx| clients::update(tx, id, &details).await)
        .await?;
    Ok(Json(client))
}

/// Deletes a client (soft: restorable until the retention period ends; `clients.write`).
#[utoipa::path(delete, path = "/api/v1/clients/{id}", tag = "clients",
    params(("id" = Uuid, Path, description = "Client id")),
    responses(
        (status = 204, description = "Deleted"),
        crate::responses::NoSuchClient,
    ))]
pub async fn delete(ctx: Ctx, Path(id): Path<ClientId>) -> Result<StatusCode, AppError> {
    let now = ctx.now();
    ctx.run(async |tx| clients::delete(tx, id, now).await)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deleted clients not yet purged (`settings.manage`).
#[utoipa::path(get, path = "/api/v1/clients/deleted", tag = "clients",
    responses((status = 200, description = "Deleted clients, most recent first", body = Vec<Client>)))]
pub async fn deleted(ctx: Ctx) -> Result<Json<Vec<Client>>, AppError> {
    let list = ctx.run(async |tx| clients::deleted(tx).await).await?;
    Ok(Json(list))
}

/// Restores a deleted client (`settings.manage`).
#[utoipa::path(post, path = "/api/v1/clients/{id}/restore", tag = "clients",
    params(("id" = Uuid, Path, description = "Client id")),
    responses(
        (status = 200, description = "Restored", body = Client),
        (status = 404, description = "No such deleted client", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn restore(ctx: Ctx, Path(id): Path<ClientId>) -> Result<Json<Client>, AppError> {
    let client = ctx.run(async |tx| clients::restore(tx, id).await).await?;
    Ok(Json(client))
}

/// The live patients a client owns (`patients.read`).
#[utoipa::path(get, path = "/api/v1/clients/{id}/patients", tag = "clients",
    params(("id" = Uuid, Path, description = "Client id")),
    responses(
        (status = 200, description = "The client's patients", body = Vec<Patient>),
        crate::responses::NoSuchClient,
    ))]
pub async fn patients_of(
    ctx: Ctx,
    Path(id): Path<ClientId>,
) -> Result<Json<Vec<Patient>>, AppError> {
    let list = ctx
        .run(async |tx| {
            clients::get(tx, id).await?;
            patients::of_client(tx, id).await
        })
        .await?;
    Ok(Json(list))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: serde_json::Value) -> ClientBody {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let errors = body(serde_json::json!({
            "given_name": " ", "email": "not-an-email", "phone": "call me", "contact_by_sms": true
        }))
        .parse()
        .unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "given_name",
                "family_name",
                "email",
                "phone",
                "contact_by_sms"
            ]
        );
    }

    #[test]
    fn a_good_body_becomes_details_with_defaults() {
        let details = body(serde_json::json!({
            "given_name": " Priya ", "family_name": "Shah", "mobile": "07700 900123",
            "address": "2 Mill Lane\r\nRiverside"
        }))
        .parse()
        .unwrap();
        assert_eq!(details.given_name, "Priya");
        assert_eq!(details.mobile.unwrap().as_str(), "07700900123");
        assert_eq!(details.address.as_deref(), Some("2 Mill Lane\nRiverside"));
        assert!(details.contact_by_email && details.reminders && !details.contact_by_sms);
    }
}
