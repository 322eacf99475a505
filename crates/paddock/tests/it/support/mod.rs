//! The one way tests talk to Paddock over HTTP: an in-process server on a manual clock
//! with mail and SMS outboxes (`client`), the credentials a request can carry
//! (`users`, in the spirit of crates.io's `MockCookieUser`/`MockTokenUser`), one
//! `Answer` with its assertions (`answer`), what the outboxes hold (`mail`), HTML forms
//! (`pages`), and the flows many tests repeat (`flows`). `world.rs` stays the source of
//! fixtures; this module only drives the router.

pub mod answer;
pub mod client;
pub mod flows;
pub mod mail;
pub mod pages;
pub mod users;

pub use answer::{Answer, assert_problem};
pub use client::{Server, TestApp};
pub use users::{Anonymous, ApiKeyUser, CookieUser, Credential, TokenUser, bearer};

pub use crate::world::TEST_PASSWORD;

/// Where credentials are exchanged for a session.
pub const LOGIN: &str = "/api/v1/auth/login";
/// Where a session ends.
pub const LOGOUT: &str = "/api/v1/auth/logout";
/// Where a session is exchanged for an access token.
pub const TOKEN: &str = "/api/v1/auth/token";
/// Who the caller is.
pub const ME: &str = "/api/v1/me";
/// Where the password is re-entered.
pub const REAUTH: &str = "/api/v1/auth/reauth";
/// Where a session moves to another practice.
pub const SWITCH: &str = "/api/v1/auth/switch";
/// Where a pending sign-in gives its second factor.
pub const SECOND_FACTOR: &str = "/api/v1/auth/second-factor";
/// The name of the session cookie.
pub const SESSION_COOKIE: &str = "__Host-paddock_session";
/// The name of the sign-in page's pre-session CSRF cookie.
pub const LOGIN_COOKIE: &str = "__Host-paddock_login";
/// Practice A's (Riverside's) admin.
pub const RIVERSIDE_ADMIN: &str = "admin@riverside.example";
/// Practice B's (Northside's) admin.
pub const NORTHSIDE_ADMIN: &str = "admin@northside.example";
/// Practice A's name.
pub const RIVERSIDE: &str = "Riverside Animal Hospital";
/// A password that is nobody's.
pub const WRONG_PASSWORD: &str = "definitely-not-the-password";
/// The password people invited by a test choose (strong, not breached).
pub const MEMBER_PASSWORD: &str = "copper-lantern-47-drifts-north";
/// The public address the test server writes into its mails.
pub const PUBLIC_URL: &str = "https://paddock.test";
