//! The page templates and the data each one shows.

use askama::Template;
use askama_web::WebTemplate;
use uuid::Uuid;

/// What the staff layout shows on every page.
pub struct Nav {
    pub practice_name: String,
    pub display_name: String,
    pub role_name: String,
    pub can_manage_staff: bool,
    pub can_read_audit: bool,
    pub csrf_token: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub email: String,
    pub error: Option<String>,
    pub notice: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub nav: Nav,
    pub practices: Vec<(Uuid, String)>,
    pub permissions: Vec<String>,
}

pub struct MemberRow {
    pub id: Uuid,
    pub email: String,
    pub display_name: String,
    pub role_id: Uuid,
    pub status: &'static str,
    pub active: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "staff.html")]
pub struct StaffPage {
    pub nav: Nav,
    pub members: Vec<MemberRow>,
    pub roles: Vec<(Uuid, String)>,
    pub notice: Option<String>,
    pub error: Option<String>,
}

/// The audit page's filters as the person typed them.
pub struct AuditFilterForm {
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub actor: String,
    pub from: String,
    pub to: String,
    /// Events per page, when the address set one (kept while paging).
    pub limit: String,
}

/// One event as the audit page shows it.
pub struct AuditRow {
    pub id: Uuid,
    /// `YYYY-MM-DD HH:MM:SS`, UTC.
    pub time: String,
    pub time_iso: String,
    /// The actor's name (or `system`).
    pub actor: String,
    pub actor_role: Option<String>,
    /// The actor's own events.
    pub actor_href: Option<String>,
    pub action: String,
    pub entity_type: Option<String>,
    pub entity_id: Option<Uuid>,
    /// The entity's history.
    pub entity_href: Option<String>,
    /// `field: old → new`, one per changed field.
    pub changes: Vec<String>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub seq: Option<i64>,
}

#[derive(Template, WebTemplate)]
#[template(path = "audit.html")]
pub struct AuditPage {
    pub nav: Nav,
    /// The entity whose history is shown, when the list is filtered to one.
    pub history: Option<(String, Uuid)>,
    pub form: AuditFilterForm,
    pub rows: Vec<AuditRow>,
    pub errors: Vec<String>,
    /// The next, older page, when there is one.
    pub older_href: Option<String>,
    /// Back to the newest events, when paged.
    pub newest_href: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "reauth.html")]
pub struct ReauthPage {
    pub nav: Nav,
    pub next: String,
    pub error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "invitation.html")]
pub struct InvitationPage {
    pub token: String,
    pub practice_name: String,
    pub role_name: String,
    pub email: String,
    pub existing: bool,
    pub display_name: String,
    pub errors: Vec<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "reset_request.html")]
pub struct ResetRequestPage {
    pub sent: bool,
    pub error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "reset_form.html")]
pub struct ResetFormPage {
    pub token: String,
    pub errors: Vec<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "second_factor.html")]
pub struct SecondFactorPage {
    pub csrf_token: String,
    pub error: Option<String>,
    pub notice: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "message.html")]
pub struct MessagePage {
    pub title: String,
    pub text: String,
    pub link_href: String,
    pub link_text: String,
}
