//! Rate limits on every request (GCRA): per client address for everything, tighter
//! per client address for the endpoints that take a secret (sign-in, password reset,
//! second-factor and unlock codes, re-authentication, switching practice, token
//! exchange, invitation acceptance), and per credential (the hash of the session
//! cookie, bearer token or API key) for everything sent with one, so one stolen or
//! runaway credential cannot use a whole practice's share. An answer over a limit is
//! a 429 problem with `Retry-After` (an HTML page for a browser), before any handler
//! or database work. The account lockout (in the store) still counts failures per
//! account; these limits count requests.
//!
//! Each instance counts in process (`governor`). With [`SharedCounts`] (Redis,
//! `PADDOCK_REDIS_URL`) the same limits are also counted across every instance, by
//! one Lua script per request, so a balancer spreading a guesser over N instances
//! does not multiply its allowance by N. When Redis cannot be reached the endpoints
//! that take a secret fail closed (503, `Retry-After`: nobody may guess passwords at
//! N times the rate while the shared count is blind) and the rest fail open to the
//! in-process counts alone; either way it is logged, at most once a minute.

use crate::AppError;
use crate::context::cookies::session_token;
use crate::forwarded::ClientIp;
use crate::metrics::Metrics;
use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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

    /// The GCRA parameters in microseconds: the interval between requests at the
    /// steady rate, and how far ahead of now the schedule may run (the burst).
    fn gcra_micros(self) -> (u64, u64) {
        let interval = 60_000_000 / u64::from(self.per_minute.max(1));
        (interval, interval * u64::from(self.burst.max(1) - 1))
    }
}

/// The limits a server applies (`None`: that limit is off).
#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    /// Every request, per client address.
    pub per_address: Option<Limit>,
    /// Requests to endpoints that take a secret, per client address.
    pub secrets_per_address: Option<Limit>,
    /// Every request sent with a credential, per credential.
    pub per_credential: Option<Limit>,
    /// Counts shared with every other instance (none: this instance counts alone).
    pub shared: Option<SharedCounts>,
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
            shared: None,
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
            shared: None,
        }
    }
}

/// Where the instances of one deployment keep their shared counts: a Redis server,
/// and a prefix for the keys (several deployments may share one Redis).
#[derive(Clone)]
pub struct SharedCounts {
    // Shared: the client is large and the counts are cloned with the configuration.
    client: Arc<redis::Client>,
    prefix: String,
}

impl std::fmt::Debug for SharedCounts {
    // The URL may carry Redis's password: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedCounts")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// A Redis URL that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("not a Redis URL (redis://[:password@]host[:port][/db] or unix:///path)")]
pub struct NotARedisUrl;

impl SharedCounts {
    /// Counts in the Redis at `url` under keys starting `prefix` (e.g. `paddock:rl:`).
    pub fn new(url: &str, prefix: impl Into<String>) -> Result<Self, NotARedisUrl> {
        let client = redis::Client::open(url).map_err(|_| NotARedisUrl)?;
        Ok(Self {
            client: Arc::new(client),
            prefix: prefix.into(),
        })
    }

    /// Whether Paddock signs in to Redis (a password in the URL). Without one, anyone
    /// who reaches the Redis port can reset every count.
    pub fn authenticates(&self) -> bool {
        self.client
            .get_connection_info()
            .redis_settings()
            .password()
            .is_some()
    }

    /// Whether the connection stays on this machine (loopback or a Unix socket), where
    /// no network sees the unencrypted traffic.
    pub fn stays_local(&self) -> bool {
        match self.client.get_connection_info().addr() {
            redis::ConnectionAddr::Tcp(host, _) => {
                host == "localhost"
                    || host
                        .trim_matches(['[', ']'])
                        .parse::<IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            _ => true,
        }
    }
}

/// The limiters of one server, shared by all its requests.
#[derive(Clone)]
pub struct RateLimits(Arc<Limiters>);

struct Limiters {
    config: RateLimitConfig,
    per_address: Option<DefaultKeyedRateLimiter<IpAddr>>,
    secrets_per_address: Option<DefaultKeyedRateLimiter<IpAddr>>,
    per_credential: Option<DefaultKeyedRateLimiter<[u8; 32]>>,
    shared: Option<Shared>,
    metrics: Metrics,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits").finish_non_exhaustive()
    }
}

/// The limits that apply to one request, with the keys they count under.
struct Applicable {
    address: Option<IpAddr>,
    secret: bool,
    credential: Option<[u8; 32]>,
}

impl Applicable {
    fn of(request: &Request) -> Self {
        Self {
            address: request
                .extensions()
                .get::<ClientIp>()
                .map(|ClientIp(ip)| *ip),
            secret: takes_a_secret(request.method(), request.uri().path()),
            credential: credential_of(request),
        }
    }
}

/// A request over a limit: how long to wait, and which limit said so (for metrics).
struct Over {
    wait: Duration,
    limit: &'static str,
}

impl RateLimits {
    /// Fresh counters for `config`, refusals counted in `metrics`. With shared counts,
    /// the Redis connection is made on first use (and remade after a failure).
    pub fn new(config: RateLimitConfig, metrics: Metrics) -> Self {
        let shared = config.shared.as_ref().and_then(Shared::connect);
        Self(Arc::new(Limiters {
            per_address: config.per_address.map(|l| RateLimiter::keyed(l.quota())),
            secrets_per_address: config
                .secrets_per_address
                .map(|l| RateLimiter::keyed(l.quota())),
            per_credential: config.per_credential.map(|l| RateLimiter::keyed(l.quota())),
            shared,
            metrics,
            config,
        }))
    }

    /// `None` if the request is within every in-process limit that applies.
    fn local(&self, applies: &Applicable) -> Option<Over> {
        let clock = DefaultClock::default();
        let mut over = None::<Over>;
        let mut check = |limit: &'static str, outcome: Result<(), governor::NotUntil<_>>| {
            if let Err(not_until) = outcome {
                let wait = not_until.wait_time_from(clock.now());
                if over.as_ref().is_none_or(|o| o.wait < wait) {
                    over = Some(Over { wait, limit });
                }
            }
        };
        if let Some(address) = applies.address {
            if let Some(limiter) = &self.0.per_address {
                check("per_address", limiter.check_key(&address));
            }
            if applies.secret
                && let Some(limiter) = &self.0.secrets_per_address
            {
                check("secrets_per_address", limiter.check_key(&address));
            }
        }
        if let (Some(limiter), Some(credential)) = (&self.0.per_credential, applies.credential) {
            check("per_credential", limiter.check_key(&credential));
        }
        over
    }

    /// The same limits counted across every instance; `Err` when Redis cannot say.
    async fn shared(&self, applies: &Applicable) -> Result<Option<Over>, SharedUnavailable> {
        let Some(shared) = &self.0.shared else {
            return Ok(None);
        };
        let config = &self.0.config;
        let mut counts = Vec::with_capacity(3);
        if let Some(address) = applies.address {
            if let Some(limit) = config.per_address {
                counts.push(("per_address", format!("a:{address}"), limit));
            }
            if applies.secret
                && let Some(limit) = config.secrets_per_address
            {
                counts.push(("secrets_per_address", format!("s:{address}"), limit));
            }
        }
        if let (Some(limit), Some(credential)) = (config.per_credential, applies.credential) {
            let key = format!("c:{}", paddock_store::identity::token::hex(&credential));
            counts.push(("per_credential", key, limit));
        }
        if counts.is_empty() {
            return Ok(None);
        }
        shared.check(&counts).await
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

/// GCRA over several counters at once, atomically: a request is let through only if
/// every counter allows it, and then charged to each; a refused one charges none
/// (unlike separate checks, where a refusal by one limit still spends the others).
/// KEYS: the counters; ARGV: per counter, its interval and burst tolerance (µs).
/// Answers {0, 0} when allowed, else {wait in µs, the refusing counter's position}.
/// Redis's own clock is the only clock, so instances with skewed clocks agree.
const GCRA: &str = r#"
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000000 + tonumber(now[2])
local schedules = {}
local wait, refusing = 0, 0
for i, key in ipairs(KEYS) do
  local tolerance = tonumber(ARGV[2 * i])
  local tat = math.max(tonumber(redis.call('GET', key) or now), now)
  schedules[i] = tat
  local ahead = tat - now - tolerance
  if ahead > wait then wait, refusing = ahead, i end
end
if refusing > 0 then return {wait, refusing} end
for i, key in ipairs(KEYS) do
  local tat = schedules[i] + tonumber(ARGV[2 * i - 1])
  redis.call('SET', key, tat, 'PX', math.floor((tat - now) / 1000) + 1000)
end
return {0, 0}
"#;

/// Redis could not be asked (down, slow, refused the script).
struct SharedUnavailable;

/// After a failure, Redis is not asked again for this long: requests meanwhile are
/// treated as if it were down, instead of each waiting for its own timeout.
const SHARED_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Longest a request waits for Redis's answer.
const SHARED_TIMEOUT: Duration = Duration::from_millis(250);

struct Shared {
    connection: ConnectionManager,
    prefix: String,
    script: redis::Script,
    started: Instant,
    /// Milliseconds since `started` before which Redis is not asked (after a failure).
    resting_until: AtomicU64,
    /// Milliseconds since `started` of the last "unavailable" log line (plus one).
    logged_at: AtomicU64,
}

impl Shared {
    fn connect(counts: &SharedCounts) -> Option<Self> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(SHARED_TIMEOUT))
            .set_response_timeout(Some(SHARED_TIMEOUT))
            .set_number_of_retries(1);
        match ConnectionManager::new_lazy_with_config(redis::Client::clone(&counts.client), config)
        {
            Ok(connection) => Some(Self {
                connection,
                prefix: counts.prefix.clone(),
                script: redis::Script::new(GCRA),
                started: Instant::now(),
                resting_until: AtomicU64::new(0),
                logged_at: AtomicU64::new(0),
            }),
            // Only without a Tokio runtime; the server always has one.
            Err(error) => {
                tracing::error!(%error, "rate limits: cannot use Redis; counting in process only");
                None
            }
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    async fn check(
        &self,
        counts: &[(&'static str, String, Limit)],
    ) -> Result<Option<Over>, SharedUnavailable> {
        if self.now_ms() < self.resting_until.load(Ordering::Relaxed) {
            return Err(SharedUnavailable);
        }
        let mut invocation = self.script.prepare_invoke();
        for (_, key, limit) in counts {
            let (interval, tolerance) = limit.gcra_micros();
            invocation
                .key(format!("{}{key}", self.prefix))
                .arg(interval)
                .arg(tolerance);
        }
        let mut connection = self.connection.clone();
        let answer = tokio::time::timeout(
            SHARED_TIMEOUT,
            invocation.invoke_async::<(u64, usize)>(&mut connection),
        )
        .await;
        match answer {
            Ok(Ok((0, _))) => Ok(None),
            Ok(Ok((wait, refusing))) => Ok(Some(Over {
                wait: Duration::from_micros(wait),
                limit: counts
                    .get(refusing.saturating_sub(1))
                    .map_or("shared", |(limit, _, _)| *limit),
            })),
            Ok(Err(error)) => Err(self.failed(&error)),
            Err(_) => Err(self.failed(&"no answer within 250 ms")),
        }
    }

    /// Rests Redis for a moment and logs the failure (once a minute at most).
    fn failed(&self, error: &dyn std::fmt::Display) -> SharedUnavailable {
        let now = self.now_ms();
        self.resting_until.store(
            now + u64::try_from(SHARED_RETRY_AFTER.as_millis()).unwrap_or(1000),
            Ordering::Relaxed,
        );
        let last = self.logged_at.load(Ordering::Relaxed);
        if (last == 0 || now + 1 >= last + 60_000)
            && self
                .logged_at
                .compare_exchange(last, now + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            tracing::error!(
                %error,
                "rate limits: Redis unreachable; refusing sign-in and other secret-taking \
                 requests, counting the rest in process only"
            );
        }
        SharedUnavailable
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
/// at least 1); a secret-taking request while the shared counts are unreachable with a
/// 503; lets the rest through.
pub async fn limit(State(limits): State<RateLimits>, request: Request, next: Next) -> Response {
    // About one request in 4096 sweeps idle keys: cheap, and bounded memory.
    if one_in_4096() {
        limits.tidy();
    }
    let applies = Applicable::of(&request);
    let over = match limits.local(&applies) {
        Some(over) => Some(over),
        None => match limits.shared(&applies).await {
            Ok(over) => over,
            Err(SharedUnavailable) if applies.secret => {
                limits.0.metrics.rate_limited("shared_unavailable");
                return AppError::RateLimitsUnavailable.into_response();
            }
            Err(SharedUnavailable) => None,
        },
    };
    match over {
        Some(Over { wait, limit }) => {
            let retry_after = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            tracing::info!(
                path = %crate::middleware::loggable_path(request.uri().path()),
                retry_after,
                limit,
                "rate limited"
            );
            limits.0.metrics.rate_limited(limit);
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
    use std::sync::atomic::AtomicU32;
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
