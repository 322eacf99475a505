//! Rate limits on every request, in process (GCRA, `governor`): per client address
//! for everything, tighter per client address for the endpoints that take a secret
//! (sign-in, password reset, second-factor and unlock codes, re-authentication,
//! switching practice, token exchange, invitation acceptance), and per credential
//! (the hash of the session cookie, bearer token or API key) for everything sent with
//! one, so one stolen or runaway credential cannot use a whole practice's share. An
//! answer over a limit is a 429 problem with `Retry-After` (an HTML page for a
//! browser), before any handler or database work. The account lockout (in the store)
//! still counts failures per account; these limits count requests.
//!
//! Each instance counts its own requests: several instances behind one balancer each
//! allow the full rate (a Redis-shared count is not built yet).

use crate::AppError;
use crate::context::cookies::session_token;
use crate::forwarded::ClientIp;
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

/// One limit: a burst, then a steady rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Requests allowed at once.
    pub burst: u32,
    /// Requests allowed per minute after the burst.
    pub per_minute: u32,
}

impl Limit {
    fn quota(self) -> Quota {
        let per_minute = NonZeroU32::new(self.per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(self.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Quota::per_minute(per_minute).allow_burst(burst)
    }
}

/// The limits a server applies (`None`: that limit is off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Every request, per client address.
    pub per_address: Option<Limit>,
    /// Requests to endpoints that take a secret, per client address.
    pub secrets_per_address: Option<Limit>,
    /// Every request sent with a credential, per credential.
    pub per_credential: Option<Limit>,
}

impl Default for RateLimitConfig {
    /// Generous for a practice's staff behind one address (a whole front desk), tight
    /// for guessing secrets: 30 sign-in-like requests at once, then one every 2 s.
    fn default() -> Self {
        Self {
            per_address: Some(Limit {
                burst: 600,
                per_minute: 1200,
            }),
            secrets_per_address: Some(Limit {
                burst: 30,
                per_minute: 30,
            }),
            per_credential: Some(Limit {
                burst: 600,
                per_minute: 600,
            }),
        }
    }
}

impl RateLimitConfig {
    /// No limits (tests that send many requests on purpose).
    pub fn off() -> Self {
        Self {
            per_address: None,
            secrets_per_address: None,
            per_credential: None,
        }
    }
}

/// The limiters of one server, shared by all its requests.
#[derive(Clone)]
pub struct RateLimits(Arc<Limiters>);

struct Limiters {
    per_address: Option<DefaultKeyedRateLimiter<IpAddr>>,
    secrets_per_address: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_credential: Option<DefaultKeyedRateLimiter<[u8; 32]>>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").finish_non_exhaustive()
    }
}

impl RateLimits {
    /// Fresh counters for `config`.
    pub fn new(config: RateLimitConfig) -> Self {
        Self(Arc::new(Limiters {
            per_address: config.per_address.map(|l| RateLimiter::keyed(l.quota())),
            secrets_per_address: config
                .secrets_per_address
                .map(|l| RateLimiter::keyed(l.quota())),
            per_credential: config.per_credential.map(|l| RateLimiter::keyed(l.quota())),
        }))
    }

    /// `None` if `request` is within every limit that applies, else how long to wait.
    fn wait(&self, request: &Request) -> Option<Duration> {
        let clock = DefaultClock::default();
        let over = |outcome: Result<(), governor::NotUntil<_>>| {
            outcome
                .err()
                .map(|not_until| not_until.wait_time_from(clock.now()))
        };
        let address = request
            .extensions()
            .get::<ClientIp>()
            .map(|ClientIp(ip)| *ip);
        let mut waits = Vec::new();
        if let Some(address) = address {
            if let Some(limiter) = &self.0.per_address {
                waits.extend(over(limiter.check_key(&address)));
            }
            if takes_a_secret(request.method(), request.uri().path())
                && let Some(limiter) = &self.0.secrets_per_address
            {
                waits.extend(over(limiter.check_key(&address)));
            }
        }
        if let (Some(limiter), Some(credential)) = (&self.0.per_credential, credential_of(request))
        {
            waits.extend(over(limiter.check_key(&credential)));
        }
        waits.into_iter().max()
    }

    /// Forgets idle keys (called now and then so the maps do not grow without end).
    fn tidy(&self) {
        for limiter in [&self.0.per_address, &self.0.secrets_per_address]
            .into_iter()
            .flatten()
        {
            limiter.retain_recent();
        }
        if let Some(limiter) = &self.0.per_credential {
            limiter.retain_recent();
        }
    }
}

/// Whether a request presents or sets a secret: sign-in, reset, codes, unlock,
/// re-authentication, switching, token exchange, invitation acceptance.
fn takes_a_secret(method: &Method, path: &str) -> bool {
    if *method != Method::POST {
        return false;
    }
    const API: &[&str] = &["/api/v1/auth/", "/api/v1/invitations/accept"];
    const PAGES: &[&str] = &[
        "/login",
        "/reauth",
        "/switch",
        "/reset-password",
        "/second-factor",
        "/unlock/",
        "/invitations/",
    ];
    API.iter()
        .chain(PAGES)
        .any(|prefix| path.starts_with(prefix))
}

/// The SHA-256 of the request's credential (bearer token, API key or session cookie).
fn credential_of(request: &Request) -> Option<[u8; 32]> {
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let secret = bearer.or_else(|| session_token(request.headers()))?;
    Some(Sha256::digest(secret.as_bytes()).into())
}

/// Refuses a request over a limit with a 429 problem and `Retry-After` (whole seconds,
/// at least 1); lets the rest through.
pub async fn limit(State(limits): State<RateLimits>, request: Request, next: Next) -> Response {
    // About one request in 4096 sweeps idle keys: cheap, and bounded memory.
    if one_in_4096() {
        limits.tidy();
    }
    match limits.wait(&request) {
        Some(wait) => {
            let retry_after = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            tracing::info!(
                path = %crate::middleware::loggable_path(request.uri().path()),
                retry_after,
                "rate limited"
            );
            AppError::RateLimited {
                retry_after: retry_after.max(1),
            }
            .into_response()
        }
        None => next.run(request).await,
    }
}

/// True for every 4096th call, counted across the process.
fn one_in_4096() -> bool {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNT: AtomicU32 = AtomicU32::new(0);
    COUNT.fetch_add(1, Ordering::Relaxed).is_multiple_of(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_taking_endpoints_are_the_posts_that_present_or_set_one() {
        for path in [
            "/api/v1/auth/login",
            "/api/v1/auth/token",
            "/api/v1/auth/password-reset/confirm",
            "/api/v1/auth/totp/confirm",
            "/api/v1/invitations/accept",
            "/login",
            "/reset-password/abc",
            "/second-factor",
            "/unlock/abc",
            "/invitations/abc",
        ] {
            assert!(takes_a_secret(&Method::POST, path), "{path}");
        }
        assert!(!takes_a_secret(&Method::GET, "/login"));
        for path in ["/api/v1/patients", "/clients", "/api/v1/invitations"] {
            assert!(!takes_a_secret(&Method::POST, path), "{path}");
        }
    }
}
