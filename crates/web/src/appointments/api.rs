//! The appointment book: range queries for day and week views, booking (a double
//! booking answers 409 `double_booking` naming the clash), rescheduling, status
//! changes, soft delete and restore; and the bookable resources.

use crate::context::Ctx;
use crate::input::Json;
use crate::input::Path;
use crate::input::{Params, optional, optional_with, required, required_with, time, uuid};
use crate::{AppError, AppState};
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::StatusCode;
use paddock_domain::{
    AppointmentId, AppointmentKind, AppointmentStatus, ClientId, FieldError, FieldErrors,
    PatientId, ResourceId, ResourceKind, UserId,
};
use paddock_store::appointments::bookings::{self, Appointment, Booking, RangeQuery};
use paddock_store::appointments::resources::{self, Clinician, Resource};
use paddock_store::page::Page;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The appointment and resource routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, book))
        .routes(routes!(get_one, reschedule, delete))
        .routes(routes!(set_status))
        .routes(routes!(restore))
        .routes(routes!(list_resources, add_resource))
        .routes(routes!(list_clinicians))
}

/// A booking (create and reschedule). A staff member, a resource, or both.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BookingBody {
    /// The patient.
    pub patient_id: Option<String>,
    /// The client.
    pub client_id: Option<String>,
    /// The staff member (user id of a member).
    pub staff_id: Option<String>,
    /// The room, table or equipment.
    pub resource_id: Option<String>,
    /// Start (RFC 3339).
    pub starts_at: Option<String>,
    /// End (RFC 3339), after the start and at most 24 hours later.
    pub ends_at: Option<String>,
    /// `consultation` (default), `vaccination`, `recheck`, `surgery`, `dental`,
    /// `grooming`, `emergency` or `other`.
    pub kind: Option<String>,
    /// Why.
    pub reason: Option<String>,
}

impl BookingBody {
    /// The booking, or every field's error.
    pub fn parse(&self) -> Result<Booking, FieldErrors> {
        let mut errors = FieldErrors::default();
        let patient_id = optional_with(&mut errors, "patient_id", &self.patient_id, uuid)
            .map(PatientId::from_uuid);
        let client_id =
            optional_with(&mut errors, "client_id", &self.client_id, uuid).map(ClientId::from_uuid);
        let staff =
            optional_with(&mut errors, "staff_id", &self.staff_id, uuid).map(UserId::from_uuid);
        let resource_id = optional_with(&mut errors, "resource_id", &self.resource_id, uuid)
            .map(ResourceId::from_uuid);
        let starts_at = required_with(&mut errors, "starts_at", &self.starts_at, time);
        let ends_at = required_with(&mut errors, "ends_at", &self.ends_at, time);
        let kind = optional_with(&mut errors, "kind", &self.kind, AppointmentKind::parse)
            .unwrap_or(AppointmentKind::Consultation);
        let reason = optional(&mut errors, "reason", &self.reason, 500);
        if staff.is_none()
            && resource_id.is_none()
            && self.staff_id.is_none()
            && self.resource_id.is_none()
        {
            errors.0.push(FieldError::new(
                "staff_id",
                "give a staff member, a resource, or both",
            ));
        }
        if let (Some(start), Some(end)) = (starts_at, ends_at) {
            if end <= start {
                errors
                    .0
                    .push(FieldError::new("ends_at", "must be after starts_at"));
            } else if end - start > chrono::Duration::hours(24) {
                errors.0.push(FieldError::new(
                    "ends_at",
                    "must be at most 24 hours after starts_at",
                ));
            }
        }
        errors.into_result()?;
        let (Some(starts_at), Some(ends_at)) = (starts_at, ends_at) else {
            return Err(FieldErrors::default());
        };
        Ok(Booking {
            patient_id,
            client_id,
            staff,
            resource_id,
            starts_at,
            ends_at,
            kind,
            reason,
        })
    }
}

/// Live appointments overlapping a range, by start (`appointments.read`). Day and
/// week views pass their range as `from`/`to`.
#[utoipa::path(get, path = "/api/v1/appointments", tag = "appointments",
    params(
        ("from" = Option<String>, Query, description = "Range start (RFC 3339)."),
        ("to" = Option<String>, Query, description = "Range end (RFC 3339, exclusive)."),
        ("staff_id" = Option<Uuid>, Query, description = "Only this staff member's."),
        ("resource_id" = Option<Uuid>, Query, description = "Only this resource's."),
        ("patient_id" = Option<Uuid>, Query, description = "Only this patient's."),
        ("limit" = Option<u32>, Query, description = "1 to 200, default 50."),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page."),
    ),
    responses(
        (status = 200, description = "One page of appointments", body = Page<Appointment>),
        crate::responses::InvalidParameter,
    ))]
pub async fn list(
    ctx: Ctx,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Page<Appointment>>, AppError> {
    let pairs = query.map(|Query(p)| p).unwrap_or_default();
    let params = Params::parse(
        &pairs,
        &[
            "from",
            "to",
            "staff_id",
            "resource_id",
            "patient_id",
            "limit",
            "cursor",
        ],
    )?;
    let mut errors = FieldErrors::default();
    let range = RangeQuery {
        from: params.time("from", &mut errors),
        to: params.time("to", &mut errors),
        staff: params.uuid("staff_id", &mut errors).map(UserId::from_uuid),
        resource_id: params
            .uuid("resource_id", &mut errors)
            .map(ResourceId::from_uuid),
        patient_id: params
            .uuid("patient_id", &mut errors)
            .map(PatientId::from_uuid),
    };
    if let (Some(from), Some(to)) = (range.from, range.to)
        && to <= from
    {
        errors.0.push(FieldError::new("to", "must be after from"));
    }
    let (limit, cursor) = params.page(&mut errors);
    errors.into_result()?;
    let page = ctx
        .run(async |tx| bookings::list(tx, &range, limit, cursor.as_ref()).await)
        .await?;
    Ok(Json(page))
}

/// Books an appointment (`appointments.write`). Overlapping a live booking of the same
/// staff member or resource answers 409 `double_booking` with the clash.
#[utoipa::path(post, path = "/api/v1/appointments", tag = "appointments", request_body = BookingBody,
    responses(
        (status = 201, description = "Booked", body = Appointment),
        crate::responses::NoSuchPatientOrClient,
        (status = 409, description = "Double booking; `conflict` names the existing booking", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::InvalidFields,
    ))]
pub async fn book(
    ctx: Ctx,
    Json(body): Json<BookingBody>,
) -> Result<(StatusCode, Json<Appointment>), AppError> {
    let booking = body.parse()?;
    let booked = ctx
        .run(async |tx| bookings::book(tx, &booking).await)
        .await?;
    Ok((StatusCode::CREATED, Json(booked)))
}

/// One appointment (`appointments.read`).
#[utoipa::path(get, path = "/api/v1/appointments/{id}", tag = "appointments",
    params(("id" = Uuid, Path, description = "Appointment id")),
    responses(
        (status = 200, description = "The appointment", body = Appointment),
        crate::responses::NoSuchAppointment,
    ))]
pub async fn get_one(
    ctx: Ctx,
    Path(id): Path<AppointmentId>,
) -> Result<Json<Appointment>, AppError> {
    let found = ctx.run(async |tx| bookings::get(tx, id).await).await?;
    Ok(Json(found))
}

/// Moves or reassigns an appointment (`appointments.write`; same double-booking rule).
#[utoipa::path(put, path = "/api/v1/appointments/{id}", tag = "appointments", request_body = BookingBody,
    params(("id" = Uuid, Path, description = "Appointment id")),
    responses(
        (status = 200, description = "Moved", body = Appointment),
        crate::responses::NoSuchAppointment,
        (status = 409, description = "Double booking", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::InvalidFields,
    ))]
pub async fn reschedule(
    ctx: Ctx,
    Path(id): Path<AppointmentId>,
    Json(body): Json<BookingBody>,
) -> Result<Json<Appointment>, AppError> {
    let booking = body.parse()?;
    let moved = ctx
        .run(async |tx| bookings::reschedule(tx, id, &booking).await)
        .await?;
    Ok(Json(moved))
}

/// Deletes an appointment (soft; frees the slot; `appointments.write`).
#[utoipa::path(delete, path = "/api/v1/appointments/{id}", tag = "appointments",
    params(("id" = Uuid, Path, description = "Appointment id")),
    responses(
        (status = 204, description = "Deleted"),
        crate::responses::NoSuchAppointment,
    ))]
pub async fn delete(ctx: Ctx, Path(id): Path<AppointmentId>) -> Result<StatusCode, AppError> {
    let now = ctx.now();
    ctx.run(async |tx| bookings::delete(tx, id, now).await)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A status change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    /// `booked`, `confirmed`, `checked_in`, `in_progress`, `completed`, `cancelled` or `no_show`.
    pub status: Option<String>,
}

/// Moves an appointment along the day (`appointments.write`).
#[utoipa::path(post, path = "/api/v1/appointments/{id}/status", tag = "appointments", request_body = StatusBody,
    params(("id" = Uuid, Path, description = "Appointment id")),
    responses(
        (status = 200, description = "Changed", body = Appointment),
        crate::responses::NoSuchAppointment,
        (status = 409, description = "Un-cancelling into a slot taken since", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn set_status(
    ctx: Ctx,
    Path(id): Path<AppointmentId>,
    Json(body): Json<StatusBody>,
) -> Result<Json<Appointment>, AppError> {
    let mut errors = FieldErrors::default();
    let status = required_with(
        &mut errors,
        "status",
        &body.status,
        AppointmentStatus::parse,
    );
    errors.into_result()?;
    let Some(status) = status else {
        return Err(FieldErrors::default().into());
    };
    let changed = ctx
        .run(async |tx| bookings::set_status(tx, id, status).await)
        .await?;
    Ok(Json(changed))
}

/// Restores a deleted appointment if its slot is still free (`settings.manage`).
#[utoipa::path(post, path = "/api/v1/appointments/{id}/restore", tag = "appointments",
    params(("id" = Uuid, Path, description = "Appointment id")),
    responses(
        (status = 200, description = "Restored", body = Appointment),
        (status = 404, description = "No such deleted appointment", body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, description = "The slot was taken since", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn restore(
    ctx: Ctx,
    Path(id): Path<AppointmentId>,
) -> Result<Json<Appointment>, AppError> {
    let restored = ctx.run(async |tx| bookings::restore(tx, id).await).await?;
    Ok(Json(restored))
}

/// A new resource.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceBody {
    /// Its name ("Consult room 1"), unique in the practice.
    pub name: Option<String>,
    /// `room`, `surgery_table`, `equipment` or `kennel`.
    pub kind: Option<String>,
}

/// The practice's bookable resources (`appointments.read`).
#[utoipa::path(get, path = "/api/v1/resources", tag = "appointments",
    responses((status = 200, description = "Resources by name", body = Vec<Resource>)))]
pub async fn list_resources(ctx: Ctx) -> Result<Json<Vec<Resource>>, AppError> {
    let list = ctx.run(async |tx| resources::list(tx).await).await?;
    Ok(Json(list))
}

/// Adds a resource (`settings.manage`).
#[utoipa::path(post, path = "/api/v1/resources", tag = "appointments", request_body = ResourceBody,
    responses(
        (status = 201, description = "Added", body = Resource),
        (status = 409, description = "The name is taken", body = crate::error::Problem, content_type = "application/problem+json"),
        crate::responses::InvalidFields,
    ))]
pub async fn add_resource(
    ctx: Ctx,
    Json(body): Json<ResourceBody>,
) -> Result<(StatusCode, Json<Resource>), AppError> {
    let mut errors = FieldErrors::default();
    let name = required(&mut errors, "name", &body.name, 100);
    let kind = required_with(&mut errors, "kind", &body.kind, ResourceKind::parse);
    errors.into_result()?;
    let (Some(name), Some(kind)) = (name, kind) else {
        return Err(FieldErrors::default().into());
    };
    let added = ctx
        .run(async |tx| resources::add(tx, &name, kind).await)
        .await?;
    Ok((StatusCode::CREATED, Json(added)))
}

/// The members who can be booked or named as an encounter's vet (`appointments.read`
/// or `records.read`).
#[utoipa::path(get, path = "/api/v1/clinicians", tag = "appointments",
    responses((status = 200, description = "Active clinicians by name", body = Vec<Clinician>)))]
pub async fn list_clinicians(ctx: Ctx) -> Result<Json<Vec<Clinician>>, AppError> {
    let list = ctx.run(async |tx| resources::clinicians(tx).await).await?;
    Ok(Json(list))
}
