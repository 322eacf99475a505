//! HTML pages and forms as a browser drives them: form encoding, the hidden CSRF token a
//! page's form carries, the sign-in page's pre-session cookie, and form posts that carry
//! the session's token the way our pages do.

use super::LOGIN_COOKIE;
use super::answer::Answer;
use super::client::Server;
use super::users::{Anonymous, CookieUser};
use axum::http::StatusCode;

/// Percent-encodes a form value (`application/x-www-form-urlencoded`).
pub fn form_value(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                char::from(b).to_string()
            }
            b' ' => "+".to_owned(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// An encoded form body.
pub fn form_body(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{k}={}", form_value(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The value of the first hidden `csrf_token` field in a page.
#[track_caller]
pub fn csrf_token_in(html: &str) -> String {
    html.split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form carries a CSRF token")
        .to_owned()
}

impl Server {
    /// `GET path` as the browser of `session` (the cookie only, as a browser sends it).
    pub async fn page(&self, path: &str, session: &CookieUser) -> Answer {
        let answer = self.get(path, session.without_csrf()).await;
        answer.utf8();
        answer
    }

    /// Posts a form as the browser of `session`, with the session's CSRF token as the
    /// form's first field (the way our pages carry it).
    pub async fn submit(
        &self,
        path: &str,
        session: &CookieUser,
        fields: &[(&str, &str)],
    ) -> Answer {
        let fields: Vec<(&str, &str)> = std::iter::once(("csrf_token", session.csrf.as_str()))
            .chain(fields.iter().copied())
            .collect();
        let answer = self.post_form(path, &fields, session.without_csrf()).await;
        answer.utf8();
        answer
    }

    /// The sign-in page: its pre-session cookie and the form's hidden token.
    pub async fn login_page(&self) -> (String, String) {
        let page = self.get("/login", Anonymous).await;
        assert_eq!(page.status, StatusCode::OK);
        let cookie = page
            .cookie_named(LOGIN_COOKIE)
            .expect("the sign-in page sets its CSRF cookie");
        (cookie, csrf_token_in(&page.text))
    }
}
