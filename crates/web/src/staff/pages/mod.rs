//! The staff area's pages: the staff list with its invitations and member actions and
//! the page an invitation link opens (`staff.rs`), and the practice settings page
//! (`settings.rs`; settings are the practice's staff-admin area).

mod settings;
mod staff;

use crate::AppState;
use axum::Router;

/// The staff area's page routes.
pub fn pages() -> Router<AppState> {
    staff::pages().merge(settings::pages())
}
