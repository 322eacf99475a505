//! The store's one error type. The web layer maps it to problem+json once, at the edge;
//! nothing here carries SQL text to a client (`Database` displays as a fixed phrase).

use paddock_domain::{FieldError, FieldErrors, Permission};

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A database failure; the cause is logged, never shown to a client.
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Input that parsed but conflicts with existing data, or failed to parse.
    #[error(transparent)]
    Invalid(#[from] FieldErrors),
    /// A unique value is already taken (409 with the field).
    #[error("conflict on {}: {}", .0.field, .0.message)]
    Conflict(FieldError),
    /// The row does not exist, or belongs to another practice (indistinguishable on purpose).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The principal lacks a permission.
    #[error("permission `{0}` is required")]
    Forbidden(Permission),
    /// The connected role could bypass tenancy; the server must not start with it.
    #[error("unsafe database role: {}", .0.join("; "))]
    UnsafeRole(Vec<String>),
    /// Writing exported events to their destination failed.
    #[error("could not write the export")]
    Export(#[source] std::io::Error),
    /// The password hasher failed (parameters or memory), not a wrong password.
    #[error("password hashing failed")]
    PasswordHash,
    /// A finalised (or past its editing period) medical record: corrections are addenda.
    #[error("{0}")]
    Locked(&'static str),
    /// The staff member or resource is already booked then (the database's exclusion
    /// constraint refused the booking).
    #[error("double booking")]
    DoubleBooked(Box<crate::appointments::bookings::Clash>),
}

/// Maps a named constraint to the field a caller should fix; `None` leaves the error a 500.
fn constraint_field(constraint: &str) -> Option<FieldError> {
    match constraint {
        "users_email_key" => Some(FieldError::new("email", "is already registered")),
        "roles_name_key" | "roles_name_folded_key" => {
            Some(FieldError::new("name", "a role with this name exists"))
        }
        "memberships_user_key" => Some(FieldError::new("email", "is already a member")),
        "patients_microchip_key" => Some(FieldError::new(
            "microchip",
            "is already registered to another patient of this practice",
        )),
        "resources_name_key" | "resources_name_folded_key" => {
            Some(FieldError::new("name", "a resource with this name exists"))
        }
        "patient_owners_primary_key" => Some(FieldError::new(
            "primary",
            "the patient already has a primary owner",
        )),
        _ => None,
    }
}

/// The conflict a SQLSTATE stands for, when it is one a caller can fix or retry.
fn race_or_duplicate(code: &str) -> Option<FieldError> {
    match code {
        // unique_violation (no named field above), exclusion_violation
        "23505" => Some(FieldError::new("record", "is already recorded")),
        "23P01" => Some(FieldError::new("record", "overlaps an existing record")),
        // serialization_failure, deadlock_detected
        "40001" | "40P01" => Some(FieldError::new(
            "record",
            "was changed by another request at the same time; try again",
        )),
        _ => None,
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &error
            && db.is_unique_violation()
            && let Some(field) = db.constraint().and_then(constraint_field)
        {
            return StoreError::Conflict(field);
        }
        // Any other unique or exclusion violation, and a transaction that lost a race
        // (deadlock, serialization failure), is a conflict the caller can retry: a clean
        // 409 rather than a 500, whichever constraint or index a future change adds.
        if let sqlx::Error::Database(db) = &error
            && let Some(field) = db.code().as_deref().and_then(race_or_duplicate)
        {
            return StoreError::Conflict(field);
        }
        // Raised by the record-locking triggers (encounter_guard, addendum_needs_finalised).
        if let sqlx::Error::Database(db) = &error
            && db.code().as_deref() == Some("P0001")
        {
            match db.constraint() {
                Some("encounter_locked") => {
                    return StoreError::Locked(
                        "the encounter is finalised (or past its editing period); add an addendum instead",
                    );
                }
                Some("addendum_needs_finalised") => {
                    return StoreError::Locked(
                        "addenda are for finalised encounters; edit the open encounter instead",
                    );
                }
                _ => {}
            }
        }
        StoreError::Database(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    /// A database error with a SQLSTATE and constraint, as PostgreSQL would send it.
    #[derive(Debug)]
    struct Refusal {
        code: &'static str,
        constraint: Option<&'static str>,
    }

    impl std::fmt::Display for Refusal {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "refused with {}", self.code)
        }
    }

    impl std::error::Error for Refusal {}

    impl sqlx::error::DatabaseError for Refusal {
        fn message(&self) -> &str {
            "refused"
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.code))
        }
        fn constraint(&self) -> Option<&str> {
            self.constraint
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            match self.code {
                "23505" => sqlx::error::ErrorKind::UniqueViolation,
                _ => sqlx::error::ErrorKind::Other,
            }
        }
    }

    fn refused(code: &'static str, constraint: Option<&'static str>) -> StoreError {
        sqlx::Error::Database(Box::new(Refusal { code, constraint })).into()
    }

    #[test]
    fn a_named_unique_constraint_is_a_conflict_on_its_field() {
        let StoreError::Conflict(field) = refused("23505", Some("roles_name_folded_key")) else {
            panic!("not a conflict");
        };
        assert_eq!(field.field, "name");
    }

    #[test]
    fn any_other_duplicate_overlap_or_lost_race_is_a_conflict_not_a_database_error() {
        for (code, constraint) in [
            ("23505", Some("patient_owners_pkey")),
            ("23505", None),
            ("23P01", Some("some_future_overlap")),
            ("40P01", None),
            ("40001", None),
        ] {
            assert!(
                matches!(refused(code, constraint), StoreError::Conflict(_)),
                "{code} {constraint:?}"
            );
        }
        assert!(matches!(refused("42501", None), StoreError::Database(_)));
    }
}
