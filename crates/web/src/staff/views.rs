//! The staff pages' templates: the staff list with its invitations, and the page an
//! invitation link opens.

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
    pub error: Option<String>,
}

/// One invitation as the staff page lists it.
pub struct InvitationRow {
    pub id: Uuid,
    pub email: String,
    pub role_name: String,
    pub sent_by: String,
    /// `YYYY-MM-DD HH:MM` UTC.
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
