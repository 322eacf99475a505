//! The credentials a test request carries, after crates.io's `MockCookieUser`,
//! `MockTokenUser` and `MockAnonymousUser`: a signed-in browser (session cookie and its
//! CSRF token), a bearer access token, an API key, or nobody. Each turns into the
//! headers it puts on a request ([`Credential`]), which tests may also build by hand
//! to send something malformed.

use super::SESSION_COOKIE;
use super::answer::{Answer, uuid_of};
use axum::http::StatusCode;
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::Value;
use uuid::Uuid;

/// The headers that authenticate a request: `(name, value)` pairs.
#[derive(Debug, Clone, Default)]
pub struct Credential {
    headers: Vec<(&'static str, String)>,
}

impl Credential {
    /// One more header.
    pub fn push(&mut self, header: (&'static str, String)) {
        self.headers.push(header);
    }

    /// The headers of `other` too.
    pub fn extend(&mut self, other: Credential) {
        self.headers.extend(other.headers);
    }

    /// The headers, in the order they are sent.
    pub fn headers(&self) -> &[(&'static str, String)] {
        &self.headers
    }
}

/// `Authorization: Bearer <credential>` (an access token or a `pdk_` API key).
pub fn bearer(credential: &str) -> Credential {
    Credential {
        headers: vec![("authorization", format!("Bearer {credential}"))],
    }
}

/// No credential at all.
#[derive(Debug, Clone, Copy)]
pub struct Anonymous;

/// A signed-in browser: the session cookie and the session's CSRF token, as a sign-in,
/// switch or renewal answer gave them.
#[derive(Debug, Clone)]
pub struct CookieUser {
    /// The session cookie's value.
    pub cookie: String,
    /// The session's CSRF token (sent as `X-CSRF-Token`).
    pub csrf: String,
    /// The whole `Set-Cookie` header that started the session.
    pub set_cookie: String,
    /// The answer that started the session.
    pub body: Value,
}

impl CookieUser {
    /// A session known only by its cookie and CSRF token.
    pub fn new(cookie: &str, csrf: &str) -> CookieUser {
        CookieUser {
            cookie: cookie.to_owned(),
            csrf: csrf.to_owned(),
            set_cookie: format!("{SESSION_COOKIE}={cookie}"),
            body: Value::Null,
        }
    }

    /// The session a sign-in, switch or renewal answer started: a 200 that sets the
    /// session cookie.
    #[track_caller]
    pub fn from_answer(answer: &Answer) -> CookieUser {
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text);
        let set_cookie = answer
            .set_cookies()
            .into_iter()
            .find(|c| c.starts_with(&format!("{SESSION_COOKIE}=")))
            .expect("a session cookie is set");
        let cookie = cookie_value(&set_cookie);
        assert!(!cookie.is_empty(), "a session cookie is set: {set_cookie}");
        CookieUser {
            cookie,
            csrf: answer.body["csrf_token"].as_str().unwrap().to_owned(),
            set_cookie,
            body: answer.body.clone(),
        }
    }

    /// The cookie and the matching `X-CSRF-Token` (what our pages send on writes).
    pub fn credential(&self) -> Credential {
        self.with_csrf(Some(&self.csrf))
    }

    /// The `Cookie` header only (enough for reads).
    pub fn without_csrf(&self) -> Credential {
        self.with_csrf(None)
    }

    /// The cookie with a given `X-CSRF-Token`, or none.
    pub fn with_csrf(&self, csrf: Option<&str>) -> Credential {
        let mut credential = Credential {
            headers: vec![("cookie", format!("{SESSION_COOKIE}={}", self.cookie))],
        };
        if let Some(csrf) = csrf {
            credential.push(("x-csrf-token", csrf.to_owned()));
        }
        credential
    }

    /// The signed-in person.
    #[track_caller]
    pub fn user_id(&self) -> Uuid {
        uuid_of(&self.body["user_id"])
    }

    /// The practice the session acts in.
    #[track_caller]
    pub fn practice_id(&self) -> Uuid {
        uuid_of(&self.body["practice_id"])
    }

    /// Whether the sign-in answer said the second factor is still owed.
    #[track_caller]
    pub fn second_factor_required(&self) -> bool {
        self.body["second_factor_required"]
            .as_bool()
            .expect("second_factor_required is always in the login answer")
    }

    /// When the session ends, to the microsecond (as the database keeps it).
    #[track_caller]
    pub fn expires_at(&self) -> DateTime<Utc> {
        let at: DateTime<Utc> = self.body["expires_at"].as_str().unwrap().parse().unwrap();
        at.trunc_subsecs(6)
    }
}

/// A caller with a bearer access token (a JWT from `POST /auth/token`).
#[derive(Debug, Clone)]
pub struct TokenUser {
    pub jwt: String,
}

/// A caller with an API key (`pdk_...`).
#[derive(Debug, Clone)]
pub struct ApiKeyUser {
    pub secret: String,
}

/// The value of a session `Set-Cookie` header, checking the cookie's name.
#[track_caller]
pub fn cookie_value(set_cookie: &str) -> String {
    let first = set_cookie.split(';').next().unwrap().trim();
    let (name, value) = first.split_once('=').unwrap();
    assert_eq!(name, SESSION_COOKIE, "{set_cookie}");
    value.to_owned()
}

/// The attributes of a `Set-Cookie` header (everything after the name=value pair).
pub fn cookie_attributes(set_cookie: &str) -> Vec<String> {
    set_cookie
        .split(';')
        .skip(1)
        .map(|a| a.trim().to_owned())
        .collect()
}

impl From<Anonymous> for Credential {
    fn from(_: Anonymous) -> Credential {
        Credential::default()
    }
}

impl From<&Anonymous> for Credential {
    fn from(_: &Anonymous) -> Credential {
        Credential::default()
    }
}

impl From<&CookieUser> for Credential {
    fn from(user: &CookieUser) -> Credential {
        user.credential()
    }
}

impl From<Option<&CookieUser>> for Credential {
    fn from(user: Option<&CookieUser>) -> Credential {
        user.map(CookieUser::credential).unwrap_or_default()
    }
}

impl From<&TokenUser> for Credential {
    fn from(user: &TokenUser) -> Credential {
        bearer(&user.jwt)
    }
}

impl From<&ApiKeyUser> for Credential {
    fn from(user: &ApiKeyUser) -> Credential {
        bearer(&user.secret)
    }
}

impl From<&Credential> for Credential {
    fn from(credential: &Credential) -> Credential {
        credential.clone()
    }
}

impl From<&Vec<(&'static str, String)>> for Credential {
    fn from(headers: &Vec<(&'static str, String)>) -> Credential {
        Credential {
            headers: headers.clone(),
        }
    }
}

impl<const N: usize> From<&[(&'static str, String); N]> for Credential {
    fn from(headers: &[(&'static str, String); N]) -> Credential {
        Credential {
            headers: headers.to_vec(),
        }
    }
}
