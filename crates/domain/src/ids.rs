//! Typed identifiers, one per entity, so a patient id can never be passed where a
//! practice id (or any other) is expected.
//!
//! All ids are UUIDv7: time-ordered, which keeps B-tree inserts local. On the wire an id
//! is its UUID string (serde transparent), so `axum::extract::Path<PatientId>` and JSON
//! bodies read and write exactly what a bare `Uuid` did. This crate stays free of sqlx
//! and utoipa on purpose: the store binds `.as_uuid()` and reads rows with
//! `from_uuid`, and API types name the schema at the field
//! (`#[schema(value_type = uuid::Uuid)]`, `Option<uuid::Uuid>` for optional ones), which
//! keeps the OpenAPI document as it is (an inline `string`/`uuid`, not one component per
//! id type) and the domain's dependency tree small.

use crate::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta] $name:ident),+ $(,)?) => {$(
        #[$doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an id read from storage or parsed from a path.
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// Parses an id sent in `field` (a form or query value), refusing anything
            /// that is not a UUID with the message the API gives today.
            pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
                Uuid::parse_str(raw.trim())
                    .map(Self)
                    .map_err(|_| FieldError::new(field, "must be a UUID"))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Uuid {
                id.0
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    )+};
}

id_type!(
    /// A practice: the tenant every clinical and staff row belongs to.
    PracticeId,
    /// A person who can sign in (global identity, member of one or more practices).
    UserId,
    /// A role within one practice (built-in or custom).
    RoleId,
    /// A user's membership of one practice (table `memberships`).
    MembershipId,
    /// A signed-in session (table `sessions`).
    SessionId,
    /// An API key (table `api_keys`).
    ApiKeyId,
    /// An invitation to join a practice's staff (table `invitations`).
    InvitationId,
    /// A password-reset request (table `password_resets`).
    PasswordResetId,
    /// A one-time verification code sent by SMS (table `verification_codes`).
    VerificationCodeId,
    /// A mailed account-unlock link (table `account_unlocks`).
    AccountUnlockId,
    /// One event of a practice's audit trail (table `audit_events`, column `id`).
    AuditEventId,
    /// A client: an animal's owner or carer (table `clients`).
    ClientId,
    /// A patient: one animal (table `patients`).
    PatientId,
    /// A bookable resource: a room, a table, a vet's diary (table `resources`).
    ResourceId,
    /// A clinical encounter: one visit's record (table `encounters`).
    EncounterId,
    /// An addendum to a locked or finalised encounter (table `encounter_addenda`).
    AddendumId,
    /// One set of vital signs taken at an encounter (table `vital_signs`).
    VitalSignsId,
    /// A problem on a patient's problem list (table `problems`).
    ProblemId,
    /// A recorded allergy or intolerance (table `allergies`).
    AllergyId,
    /// A prescription (table `prescriptions`).
    PrescriptionId,
    /// A vaccination given or recorded (table `vaccinations`).
    VaccinationId,
    /// An appointment in the calendar (table `appointments`).
    AppointmentId,
);

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::IntoDeserializer;
    use serde::de::value::{Error as ValueError, StrDeserializer};

    /// Deserialises `raw` the way `axum::extract::Path` hands a path segment over: as
    /// one borrowed string.
    fn from_path<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T, ValueError> {
        let segment: StrDeserializer<'_, ValueError> = raw.into_deserializer();
        T::deserialize(segment)
    }

    #[test]
    fn a_uuid_path_segment_deserialises_to_the_typed_id() {
        let raw = "0193a5b2-7c1e-7a3b-9f00-1234567890ab";
        let id: PatientId = from_path(raw).unwrap();
        assert_eq!(id.as_uuid(), Uuid::parse_str(raw).unwrap());
        assert_eq!(id.to_string(), raw);
    }

    #[test]
    fn a_malformed_path_segment_is_refused() {
        for raw in [
            "",
            "42",
            "not-a-uuid",
            "0193a5b2-7c1e-7a3b-9f00-1234567890a",
        ] {
            assert!(from_path::<PatientId>(raw).is_err(), "{raw:?}");
            assert!(from_path::<AppointmentId>(raw).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn an_id_serialises_as_its_bare_uuid_string() {
        let id = EncounterId::new();
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{id}\""));
        let back: EncounterId = serde_json::from_str(&format!("\"{id}\"")).unwrap();
        assert_eq!(back, id);
    }

    #[test]
    fn parse_reads_a_form_value_and_refuses_junk_in_our_words() {
        let id = ClientId::new();
        assert_eq!(ClientId::parse("client_id", &format!(" {id} ")), Ok(id));
        let refused = ClientId::parse("client_id", "drop table").unwrap_err();
        assert_eq!(refused.field, "client_id");
        assert_eq!(refused.message, "must be a UUID");
    }

    #[test]
    fn fresh_ids_are_version_7_and_distinct() {
        let first = VaccinationId::new();
        let second = VaccinationId::new();
        assert_eq!(first.as_uuid().get_version_num(), 7);
        assert_ne!(first, second);
    }
}
