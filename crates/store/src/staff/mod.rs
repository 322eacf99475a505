//! The practice and the people in it: creating a practice, its roles and their
//! permissions, memberships, invitations, changes to a member (role, deactivation,
//! reactivation), and the practice's settings (`practice_settings`: all of them, as
//! the web crate's settings page and API edit them; `record_settings` and `time_zone`:
//! the parts other areas read).

pub mod changes;
pub mod invitations;
pub mod members;
pub mod practice_settings;
pub mod practices;
pub mod record_settings;
pub mod roles;
pub mod time_zone;
