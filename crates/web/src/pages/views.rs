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
