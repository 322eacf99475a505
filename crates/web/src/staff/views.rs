//! The staff pages' templates: the staff list with its invitations, a refused staff
//! action, the page an invitation link opens, and the practice settings page.

use crate::layout::Nav;
use askama::Template;
use askama_web::WebTemplate;
use uuid::Uuid;

pub struct MemberRow {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role_id: Uuid,
    pub status: &'static str,
    pub active: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "staff/staff.html")]
pub struct StaffPage {
    pub nav: Nav,
    pub members: Vec<MemberRow>,
    pub roles: Vec<(Uuid, String)>,
    pub invitations: Vec<InvitationRow>,
    pub notice: Option<String>,
}

/// A refused staff action: the reason, and the way back.
#[derive(Template, WebTemplate)]
#[template(path = "staff/refused.html")]
pub struct StaffRefusedPage {
    pub nav: Nav,
    pub error: String,
}

/// One invitation as the staff page lists it.
pub struct InvitationRow {
    pub id: Uuid,
    pub email: String,
    pub role_name: String,
    pub sent_by: String,
    /// `YYYY-MM-DD HH:MM` in the practice's zone.
    pub expires: String,
    pub status: &'static str,
    /// Whether it can still be revoked.
    pub open: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "staff/invitation.html")]
pub struct InvitationPage {
    pub token: String,
    pub practice_name: String,
    pub role_name: String,
    pub email: String,
    pub existing: bool,
    pub display_name: String,
    pub errors: Vec<String>,
}

/// One number of the settings form.
pub struct SettingsField {
    /// The form field's name (the setting's).
    pub name: &'static str,
    pub label: &'static str,
    /// As stored, or as typed when the form is shown again.
    pub value: String,
    pub min: i32,
    pub max: i32,
    /// Why the value was refused.
    pub message: Option<String>,
}

/// A group of the settings form (sign-in lockout, sessions, record keeping).
pub struct SettingsGroup {
    pub id: &'static str,
    pub title: &'static str,
    pub fields: Vec<SettingsField>,
}

#[derive(Template, WebTemplate)]
#[template(path = "staff/settings.html")]
pub struct SettingsPage {
    pub nav: Nav,
    pub groups: Vec<SettingsGroup>,
    pub require_second_factor: bool,
    pub time_zone_message: Option<String>,
    /// Every zone of the tz database, the chosen one (as stored, or as sent) selected.
    pub zones: Vec<ZoneOption>,
    /// Every refusal, above the form.
    pub errors: Vec<String>,
    pub notice: Option<String>,
}

/// One zone the settings form offers.
pub struct ZoneOption {
    pub name: &'static str,
    pub selected: bool,
}
