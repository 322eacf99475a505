//! The session cookie: `__Host-` prefixed (Secure, Path=/, no Domain), HttpOnly,
//! SameSite=Lax. A temporary session's cookie has no Max-Age, so it ends with the
//! browser; its server-side absolute limit is short as well.
//!
//! Before any session, the sign-in page sets a pre-session cookie (same attributes)
//! whose derived token the sign-in form must echo: login CSRF protection, so another
//! site cannot sign a victim's browser into the attacker's account.

use axum::http::{HeaderMap, HeaderValue, header};
use chrono::{DateTime, Utc};

/// The cookie's name (the contract in DESIGN.md).
pub const SESSION_COOKIE: &str = "__Host-paddock_session";

/// The pre-session cookie of the sign-in form.
pub const LOGIN_COOKIE: &str = "__Host-paddock_login";

/// The session token sent in the request's cookies, if any.
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    cookie(headers, SESSION_COOKIE)
}

/// The pre-session cookie's value sent with the request, if any.
pub fn login_token(headers: &HeaderMap) -> Option<String> {
    cookie(headers, LOGIN_COOKIE)
}

fn cookie(headers: &HeaderMap, wanted: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == wanted)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// `Set-Cookie` for a new pre-session cookie (ends with the browser).
pub fn set_login(value: &str) -> HeaderValue {
    let cookie = format!("{LOGIN_COOKIE}={value}; Path=/; Secure; HttpOnly; SameSite=Lax");
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| clear_login())
}

/// `Set-Cookie` that removes the pre-session cookie (spent by a sign-in).
pub fn clear_login() -> HeaderValue {
    HeaderValue::from_static(
        "__Host-paddock_login=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0",
    )
}

/// `Set-Cookie` for a new session.
pub fn set_session(
    token: &str,
    expires_at: DateTime<Utc>,
    temporary: bool,
    now: DateTime<Utc>,
) -> HeaderValue {
    let lifetime = if temporary {
        String::new()
    } else {
        format!("; Max-Age={}", (expires_at - now).num_seconds().max(0))
    };
    let cookie =
        format!("{SESSION_COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Lax{lifetime}");
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| clear_session())
}

/// `Set-Cookie` that removes the session cookie.
pub fn clear_session() -> HeaderValue {
    HeaderValue::from_static(
        "__Host-paddock_session=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn the_session_token_is_found_among_other_cookies() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Host-paddock_session=tok123; b=2"),
        );
        assert_eq!(session_token(&headers).as_deref(), Some("tok123"));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("paddock_session=evil"),
        );
        assert_eq!(session_token(&headers), None);
    }

    #[test]
    fn cookies_are_host_prefixed_secure_http_only_and_lax() {
        let now = Utc::now();
        let persistent = set_session("t", now + Duration::hours(12), false, now);
        let text = persistent.to_str().unwrap();
        for part in [
            "__Host-paddock_session=t",
            "Path=/",
            "Secure",
            "HttpOnly",
            "SameSite=Lax",
            "Max-Age=43200",
        ] {
            assert!(text.contains(part), "{text} lacks {part}");
        }
        assert!(!text.contains("Domain"), "{text}");
        let temporary = set_session("t", now + Duration::hours(1), true, now);
        assert!(
            !temporary.to_str().unwrap().contains("Max-Age"),
            "browser-session cookie"
        );
    }
}
