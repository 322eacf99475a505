//! Paddock's domain: the rules and the always-valid types every other crate speaks in.
//!
//! Nothing here does I/O. Values are parsed at the edge into these types (`Email`,
//! `PracticeName`, `Permission`, ...) and are valid by construction afterwards.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod audit;
pub mod auth;
pub mod calendar;
pub mod clock;
pub mod codes;
pub mod contact;
pub mod field;
pub mod ids;
pub mod microchip;
pub mod patient;
pub mod permission;
pub mod practice;
pub mod role;
pub mod settings;
pub mod user;
pub mod vitals;
pub mod weight;
pub mod zone;

pub use audit::AuditAction;
pub use auth::{FailureRecord, LockoutPolicy, SessionPolicy};
pub use clock::{Clock, ManualClock, SystemClock};
pub use codes::{
    AllergySeverity, AppointmentKind, AppointmentStatus, CodeSystem, EncounterKind,
    EncounterStatus, PatientStatus, PrescriptionStatus, ProblemKind, ProblemStatus, ResourceKind,
    Route,
};
pub use contact::Phone;
pub use field::{FieldError, FieldErrors};
pub use ids::{
    AccountUnlockId, AddendumId, AllergyId, ApiKeyId, AppointmentId, AuditEventId, ClientId,
    EncounterId, InvitationId, MembershipId, PasswordResetId, PatientId, PracticeId,
    PrescriptionId, ProblemId, ResourceId, RoleId, SessionId, UserId, VaccinationId,
    VerificationCodeId, VitalSignsId,
};
pub use microchip::{ChipIssuer, Microchip};
pub use patient::{DateOfBirth, PatientSex};
pub use permission::{Permission, PermissionSet};
pub use practice::PracticeName;
pub use role::{BuiltinRole, MembershipStatus};
pub use user::{DisplayName, Email};
pub use vitals::{PerMinute, TemperatureC};
pub use weight::WeightKg;
pub use zone::PracticeZone;
