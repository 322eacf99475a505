//! The identity pages' templates: sign-in, re-authentication, the second factor,
//! password reset and unlock.

use crate::layout::Nav;
use askama::Template;
use askama_web::WebTemplate;

#[derive(Template, WebTemplate)]
#[template(path = "identity/login.html")]
pub struct LoginPage {
    pub email: String,
    pub error: Option<String>,
    pub notice: Option<String>,
    /// Derived from the pre-session cookie (login CSRF).
    pub csrf_token: String,
    /// A local address to return to after signing in (empty: the home page).
    pub next: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "identity/reauth.html")]
pub struct ReauthPage {
    pub nav: Nav,
    pub next: String,
    pub error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "identity/reset_request.html")]
pub struct ResetRequestPage {
    pub sent: bool,
    pub error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "identity/reset_form.html")]
pub struct ResetFormPage {
    pub token: String,
    pub errors: Vec<String>,
}

/// The page an emailed unlock link opens: a button, so that mail scanners following
/// the link do not use it up.
#[derive(Template, WebTemplate)]
#[template(path = "identity/unlock.html")]
pub struct UnlockPage {
    pub token: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "identity/second_factor.html")]
pub struct SecondFactorPage {
    pub csrf_token: String,
    pub error: Option<String>,
    pub notice: Option<String>,
}
