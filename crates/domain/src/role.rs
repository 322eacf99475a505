//! The built-in roles every practice starts with, and membership status.
//!
//! The permission sets live here and nowhere else; a practice may add custom roles,
//! but these five are created with every practice.

use crate::permission::{Permission, PermissionSet};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// A role created with every practice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BuiltinRole {
    /// Runs the practice: every permission.
    PracticeAdmin,
    /// Examines, diagnoses, prescribes, refers.
    Veterinarian,
    /// Nurses and technicians: records weights, vaccines, treatments.
    Technician,
    /// Front desk: clients, patients, appointments, taking payment; no clinical notes.
    Receptionist,
    /// Accounts: billing, with enough client context to chase an invoice.
    Bookkeeper,
}

impl BuiltinRole {
    /// Every built-in role, the admin first.
    pub const ALL: [BuiltinRole; 5] = [
        BuiltinRole::PracticeAdmin,
        BuiltinRole::Veterinarian,
        BuiltinRole::Technician,
        BuiltinRole::Receptionist,
        BuiltinRole::Bookkeeper,
    ];

    /// The role's display name, unique within a practice.
    pub const fn name(self) -> &'static str {
        match self {
            BuiltinRole::PracticeAdmin => "Practice admin",
            BuiltinRole::Veterinarian => "Veterinarian",
            BuiltinRole::Technician => "Technician",
            BuiltinRole::Receptionist => "Receptionist",
            BuiltinRole::Bookkeeper => "Bookkeeper",
        }
    }

    /// The stable key stored with the role, so renaming never changes what it is.
    pub const fn key(self) -> &'static str {
        match self {
            BuiltinRole::PracticeAdmin => "practice_admin",
            BuiltinRole::Veterinarian => "veterinarian",
            BuiltinRole::Technician => "technician",
            BuiltinRole::Receptionist => "receptionist",
            BuiltinRole::Bookkeeper => "bookkeeper",
        }
    }

    /// The role with this stable key, if any.
    pub fn from_key(key: &str) -> Option<BuiltinRole> {
        Self::ALL.into_iter().find(|role| role.key() == key)
    }

    /// What the role grants.
    pub fn permissions(self) -> PermissionSet {
        use Permission::*;
        let granted: &[Permission] = match self {
            BuiltinRole::PracticeAdmin => Permission::ALL,
            BuiltinRole::Veterinarian => &[
                RecordsRead,
                RecordsWrite,
                RecordsFinalise,
                BillingRead,
                AppointmentsRead,
                AppointmentsWrite,
                ControlledRead,
                ControlledDispense,
                ReferralsSend,
                ReferralsReceive,
                ClientsRead,
                ClientsWrite,
                PatientsRead,
                PatientsWrite,
            ],
            BuiltinRole::Technician => &[
                RecordsRead,
                RecordsWrite,
                AppointmentsRead,
                AppointmentsWrite,
                ControlledRead,
                ClientsRead,
                PatientsRead,
                PatientsWrite,
            ],
            BuiltinRole::Receptionist => &[
                AppointmentsRead,
                AppointmentsWrite,
                BillingRead,
                BillingWrite,
                ClientsRead,
                ClientsWrite,
                PatientsRead,
                PatientsWrite,
            ],
            BuiltinRole::Bookkeeper => &[BillingRead, BillingWrite, ClientsRead],
        };
        granted.iter().copied().collect()
    }
}

/// Whether a membership may currently act in its practice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MembershipStatus {
    /// May sign in and act.
    Active,
    /// Kept for the record; every credential refused.
    Deactivated,
}

impl MembershipStatus {
    /// The name stored in the database.
    pub const fn as_str(self) -> &'static str {
        match self {
            MembershipStatus::Active => "active",
            MembershipStatus::Deactivated => "deactivated",
        }
    }
}

impl FromStr for MembershipStatus {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(MembershipStatus::Active),
            "deactivated" => Ok(MembershipStatus::Deactivated),
            other => Err(format!("unknown membership status `{other}`")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_admin_can_manage_staff_settings_and_the_dea_register() {
        for role in BuiltinRole::ALL {
            let p = role.permissions();
            let is_admin = role == BuiltinRole::PracticeAdmin;
            assert_eq!(p.contains(Permission::StaffManage), is_admin, "{role:?}");
            assert_eq!(p.contains(Permission::SettingsManage), is_admin, "{role:?}");
            assert_eq!(
                p.contains(Permission::ControlledAdmin),
                is_admin,
                "{role:?}"
            );
        }
    }

    #[test]
    fn front_desk_and_accounts_cannot_read_clinical_records() {
        for role in [BuiltinRole::Receptionist, BuiltinRole::Bookkeeper] {
            assert!(!role.permissions().contains(Permission::RecordsRead));
            assert!(!role.permissions().contains(Permission::ControlledRead));
        }
    }

    #[test]
    fn admin_holds_every_permission_so_can_grant_any_role() {
        let admin = BuiltinRole::PracticeAdmin.permissions();
        for role in BuiltinRole::ALL {
            assert!(admin.is_superset(&role.permissions()));
        }
    }

    #[test]
    fn keys_round_trip_and_names_are_distinct() {
        for role in BuiltinRole::ALL {
            assert_eq!(BuiltinRole::from_key(role.key()), Some(role));
        }
        let names: std::collections::BTreeSet<_> =
            BuiltinRole::ALL.iter().map(|r| r.name()).collect();
        assert_eq!(names.len(), BuiltinRole::ALL.len());
    }
}
