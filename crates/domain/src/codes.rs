//! The coded values of the clinical record: each is a closed list whose stable codes
//! are what the API accepts and the database stores (its check constraints list the
//! same codes).

use crate::field::FieldError;
use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! coded {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $code:literal,)+ }) => {
        $(#[$doc])*
        // On the wire (serde) a value is its code, exactly the string the API took and
        // gave before these were enums.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $code)] $variant,)+
        }

        impl $name {
            /// Every value, in the order forms list them.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The stable code used in the API and the database.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $code,)+
                }
            }

            /// Parses a code, naming every accepted one when it is not.
            pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
                let raw = raw.trim();
                Self::ALL.iter().copied().find(|v| v.as_str() == raw).ok_or_else(|| {
                    let codes: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    FieldError::new(field, format!("must be one of {}", codes.join(", ")))
                })
            }

            /// The code as people read it: underscores become spaces.
            pub fn label(self) -> String {
                self.as_str().replace('_', " ")
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        /// Reads a stored code (the store decodes columns through this).
        impl TryFrom<String> for $name {
            type Error = FieldError;

            fn try_from(code: String) -> Result<Self, FieldError> {
                Self::parse(stringify!($name), &code)
            }
        }
    };
}

coded! {
    /// Whether a patient is still seen here.
    PatientStatus {
        /// Seen at this practice.
        Active = "active",
        /// Died or was put to sleep (the date is recorded).
        Deceased = "deceased",
        /// Moved to another practice.
        Transferred = "transferred",
    }
}

coded! {
    /// What kind of visit an encounter was.
    EncounterKind {
        /// A consultation.
        Consultation = "consultation",
        /// A vaccination visit.
        Vaccination = "vaccination",
        /// A follow-up.
        Recheck = "recheck",
        /// A surgical procedure.
        Surgery = "surgery",
        /// Dental work.
        Dental = "dental",
        /// An emergency.
        Emergency = "emergency",
        /// Advice by telephone.
        Telephone = "telephone",
        /// Euthanasia.
        Euthanasia = "euthanasia",
        /// Anything else.
        Other = "other",
    }
}

coded! {
    /// Whether an encounter may still be edited.
    EncounterStatus {
        /// Editable until finalised or past the practice's editing period.
        Open = "open",
        /// Locked; corrections are addenda.
        Finalised = "finalised",
    }
}

coded! {
    /// A problem-list entry or a diagnosis.
    ProblemKind {
        /// A presenting problem or finding.
        Problem = "problem",
        /// A diagnosis.
        Diagnosis = "diagnosis",
    }
}

coded! {
    /// Whether a problem is still current.
    ProblemStatus {
        /// Current.
        Active = "active",
        /// Resolved (the date is recorded).
        Resolved = "resolved",
    }
}

coded! {
    /// The terminology a problem's code comes from.
    CodeSystem {
        /// The Veterinary Nomenclature (VeNom) codes.
        Venom = "venom",
        /// SNOMED CT concept ids.
        Snomed = "snomed",
    }
}

coded! {
    /// How bad a reaction to an allergen is.
    AllergySeverity {
        /// Mild.
        Mild = "mild",
        /// Moderate.
        Moderate = "moderate",
        /// Severe.
        Severe = "severe",
        /// Life-threatening (anaphylaxis).
        LifeThreatening = "life_threatening",
    }
}

coded! {
    /// How a drug is given.
    Route {
        /// By mouth.
        Oral = "oral",
        /// Under the skin.
        Subcutaneous = "subcutaneous",
        /// Into a muscle.
        Intramuscular = "intramuscular",
        /// Into a vein.
        Intravenous = "intravenous",
        /// On the skin.
        Topical = "topical",
        /// Into the eye.
        Ophthalmic = "ophthalmic",
        /// Into the ear.
        Otic = "otic",
        /// Breathed in.
        Inhaled = "inhaled",
        /// Per rectum.
        Rectal = "rectal",
        /// Anything else.
        Other = "other",
    }
}

coded! {
    /// Where a prescription stands.
    PrescriptionStatus {
        /// Being given.
        Active = "active",
        /// The course is finished.
        Completed = "completed",
        /// Stopped early.
        Stopped = "stopped",
    }
}

coded! {
    /// What an appointment is for.
    AppointmentKind {
        /// A consultation.
        Consultation = "consultation",
        /// A vaccination.
        Vaccination = "vaccination",
        /// A follow-up.
        Recheck = "recheck",
        /// Surgery.
        Surgery = "surgery",
        /// Dental work.
        Dental = "dental",
        /// Grooming.
        Grooming = "grooming",
        /// An emergency slot.
        Emergency = "emergency",
        /// Anything else.
        Other = "other",
    }
}

coded! {
    /// Where an appointment stands in the day.
    AppointmentStatus {
        /// Booked.
        Booked = "booked",
        /// The client confirmed.
        Confirmed = "confirmed",
        /// The client arrived.
        CheckedIn = "checked_in",
        /// Being seen.
        InProgress = "in_progress",
        /// Done.
        Completed = "completed",
        /// Cancelled (frees the slot).
        Cancelled = "cancelled",
        /// The client did not come (frees the slot).
        NoShow = "no_show",
    }
}

impl AppointmentStatus {
    /// Whether the booking still holds its staff member and resource.
    pub fn holds_slot(self) -> bool {
        !matches!(self, Self::Cancelled | Self::NoShow)
    }
}

coded! {
    /// A bookable thing that is not a person.
    ResourceKind {
        /// A consulting room.
        Room = "room",
        /// A surgery table.
        SurgeryTable = "surgery_table",
        /// A piece of equipment (X-ray, ultrasound).
        Equipment = "equipment",
        /// A kennel or ward place.
        Kennel = "kennel",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips() {
        for v in AppointmentStatus::ALL {
            assert_eq!(AppointmentStatus::parse("status", v.as_str()), Ok(*v));
        }
        for v in Route::ALL {
            assert_eq!(Route::parse("route", v.as_str()), Ok(*v));
        }
        assert_eq!(
            EncounterKind::parse("kind", " surgery "),
            Ok(EncounterKind::Surgery)
        );
    }

    #[test]
    fn an_unknown_code_names_the_accepted_ones() {
        let error = AllergySeverity::parse("severity", "deadly").unwrap_err();
        assert_eq!(error.field, "severity");
        assert_eq!(
            error.message,
            "must be one of mild, moderate, severe, life_threatening"
        );
        assert!(CodeSystem::parse("code_system", "VENOM").is_err());
    }

    #[test]
    fn cancelled_and_no_show_free_the_slot() {
        assert!(AppointmentStatus::Booked.holds_slot());
        assert!(AppointmentStatus::CheckedIn.holds_slot());
        assert!(!AppointmentStatus::Cancelled.holds_slot());
        assert!(!AppointmentStatus::NoShow.holds_slot());
    }

    #[test]
    fn a_code_serialises_as_its_string_and_reads_back() {
        let json = serde_json::to_string(&AppointmentStatus::NoShow).unwrap();
        assert_eq!(json, "\"no_show\"");
        let back: AppointmentStatus = serde_json::from_str(&json).unwrap();
        assert_eq!(back, AppointmentStatus::NoShow);
        assert!(serde_json::from_str::<AppointmentStatus>("\"NoShow\"").is_err());
        assert_eq!(
            EncounterStatus::try_from("finalised".to_owned()),
            Ok(EncounterStatus::Finalised)
        );
        assert!(PatientStatus::try_from("lost".to_owned()).is_err());
    }

    #[test]
    fn labels_read_as_words() {
        assert_eq!(AllergySeverity::LifeThreatening.label(), "life threatening");
        assert_eq!(ResourceKind::SurgeryTable.to_string(), "surgery_table");
    }
}
