//! The request context: who is calling (verified on every request, by one statement
//! that also scopes the request's transaction), where the request comes from, and the
//! one transaction the request's work runs in. API routes and pages share it.
//!
//! A request is authenticated by exactly one credential: a bearer JWT (issued from a
//! session), a bearer API key, or the session cookie. Whichever it is, the session and
//! the membership are re-checked on every request, so revocation is immediate.

pub mod cookies;
pub mod csrf;
mod extract;
mod page;

pub use extract::{
    Auth, AuthMethod, Ctx, Meta, PendingAuth, PendingCtx, REAUTH_WINDOW, REQUEST_ID,
};
pub use page::{CsrfForm, Page, PageId, PageRejection, PendingPage};
