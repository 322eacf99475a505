//! The practice and the people in it: creating a practice, its roles and their
//! permissions, memberships, invitations, changes to a member (role, deactivation,
//! reactivation), and the practice's settings (record keeping, time zone), which the
//! web crate's staff area edits.

pub mod changes;
pub mod invitations;
pub mod members;
pub mod practices;
pub mod record_settings;
pub mod roles;
pub mod time_zone;
