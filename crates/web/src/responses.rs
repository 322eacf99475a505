//! The refusals the OpenAPI document lists for many routes, each one type (status,
//! description, a problem+json body), so routes name them in `responses(...)` instead
//! of repeating the same annotation. A refusal particular to one route stays written
//! out at that route.

use std::collections::BTreeMap;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

/// One problem+json response with `status` and `description`.
fn problem(status: u16, description: &str) -> BTreeMap<String, RefOr<Response>> {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .build();
    let response = ResponseBuilder::new()
        .description(description)
        .content("application/problem+json", content)
        .build();
    BTreeMap::from([(status.to_string(), RefOr::T(response))])
}

macro_rules! refusals {
    ($($(#[$doc:meta])* $name:ident = $status:literal, $description:literal;)*) => {$(
        $(#[$doc])*
        pub struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                problem($status, $description)
            }
        }
    )*};
}

refusals! {
    /// 403: the caller lacks a permission or a recent re-authentication.
    MissingPermissionOrReauth = 403, "Missing permission or re-authentication";
    /// 403: the caller lacks `staff.manage`.
    MissingStaffManage = 403, "Missing `staff.manage`";
    /// 403: the caller lacks `audit.read`.
    MissingAuditRead = 403, "Missing `audit.read`";
    /// 404: no such patient in this practice.
    NoSuchPatient = 404, "No such patient";
    /// 404: no such client in this practice.
    NoSuchClient = 404, "No such client";
    /// 404: no such patient, or no such client, in this practice.
    NoSuchPatientOrClient = 404, "No such patient or client";
    /// 404: no such appointment in this practice.
    NoSuchAppointment = 404, "No such appointment";
    /// 404: no such encounter in this practice.
    NoSuchEncounter = 404, "No such encounter";
    /// 404: no such member of this practice.
    NoSuchMember = 404, "No such member";
    /// 404: an emailed link that is unknown, used or expired.
    UnknownLink = 404, "Unknown, used or expired link";
    /// 409: the change would leave the practice without an admin.
    LastAdmin = 409, "Would leave the practice without an admin";
    /// 422: fields of the body are invalid (each one named).
    InvalidFields = 422, "Invalid fields";
    /// 422: a query parameter is invalid.
    InvalidParameter = 422, "Invalid parameter";
    /// 422: a second-factor code is wrong or has expired.
    WrongOrExpiredCode = 422, "Wrong or expired code";
    /// 422: a new password is refused by the policy.
    PasswordRefused = 422, "Password refused by the policy";
    /// 429: locked after repeated failures (`Retry-After`).
    LockedOut = 429, "Locked after repeated failures";
    /// 429: asked again too soon (`Retry-After`).
    WaitBeforeAskingAgain = 429, "Wait before asking again";
}
