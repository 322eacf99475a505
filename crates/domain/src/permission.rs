//! The fixed permission catalogue. Roles grant subsets of it; code checks it.
//!
//! The database stores permissions as these exact strings and refuses any other
//! (a check constraint kept equal to [`Permission::ALL`] by a test).

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

macro_rules! permissions {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)+) => {
        /// One granular permission a role can grant.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Permission {
            $($(#[$doc])* #[serde(rename = $name)] $variant,)+
        }

        impl Permission {
            /// Every permission, in catalogue order.
            pub const ALL: &'static [Permission] = &[$(Permission::$variant,)+];

            /// The stable name stored in the database and shown in the API.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Permission::$variant => $name,)+
                }
            }
        }

        impl FromStr for Permission {
            type Err = UnknownPermission;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok(Permission::$variant),)+
                    _ => Err(UnknownPermission(s.to_owned())),
                }
            }
        }
    };
}

permissions! {
    /// Read medical records (encounters, SOAP notes, results).
    RecordsRead = "records.read",
    /// Write medical records.
    RecordsWrite = "records.write",
    /// Finalise (sign) encounters, which locks them; corrections become addenda.
    RecordsFinalise = "records.finalise",
    /// Read invoices and payments.
    BillingRead = "billing.read",
    /// Create invoices, take payments, void.
    BillingWrite = "billing.write",
    /// See the appointment book.
    AppointmentsRead = "appointments.read",
    /// Book, move and cancel appointments.
    AppointmentsWrite = "appointments.write",
    /// View the controlled-substance log.
    ControlledRead = "controlled.read",
    /// Record dispensing and administration of controlled substances.
    ControlledDispense = "controlled.dispense",
    /// Administer the controlled-substance register (DEA numbers, reconciliation).
    ControlledAdmin = "controlled.admin",
    /// Invite, change roles of, and deactivate staff.
    StaffManage = "staff.manage",
    /// Change practice settings.
    SettingsManage = "settings.manage",
    /// Read the audit trail.
    AuditRead = "audit.read",
    /// Send referrals to other practices.
    ReferralsSend = "referrals.send",
    /// Receive and act on referrals from other practices.
    ReferralsReceive = "referrals.receive",
    /// Read client (owner) records.
    ClientsRead = "clients.read",
    /// Create and edit clients.
    ClientsWrite = "clients.write",
    /// Read patient (animal) records.
    PatientsRead = "patients.read",
    /// Create and edit patients.
    PatientsWrite = "patients.write",
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A permission name that is not in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown permission `{0}`")]
pub struct UnknownPermission(pub String);

/// The set of permissions a principal holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PermissionSet(BTreeSet<Permission>);

impl PermissionSet {
    /// Whether `permission` is granted.
    pub fn contains(&self, permission: Permission) -> bool {
        self.0.contains(&permission)
    }

    /// Whether every permission of `other` is granted here (no privilege can be handed on that one lacks).
    pub fn is_superset(&self, other: &PermissionSet) -> bool {
        self.0.is_superset(&other.0)
    }

    /// The permissions in catalogue order.
    pub fn iter(&self) -> impl Iterator<Item = Permission> + '_ {
        self.0.iter().copied()
    }

    /// Number of permissions granted.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether nothing is granted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_permission_round_trips_through_its_name() {
        for &p in Permission::ALL {
            assert_eq!(p.as_str().parse::<Permission>(), Ok(p));
        }
        assert_eq!(Permission::ALL.len(), 19);
    }

    #[test]
    fn unknown_permission_names_are_refused() {
        assert!("records.delete".parse::<Permission>().is_err());
        assert!("RECORDS.READ".parse::<Permission>().is_err());
        assert!("".parse::<Permission>().is_err());
    }

    #[test]
    fn superset_means_every_permission_is_held() {
        let small: PermissionSet = [Permission::ClientsRead].into_iter().collect();
        let big: PermissionSet = [Permission::ClientsRead, Permission::ClientsWrite]
            .into_iter()
            .collect();
        assert!(big.is_superset(&small));
        assert!(!small.is_superset(&big));
    }
}
