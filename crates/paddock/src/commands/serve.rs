//! `paddock serve`: the web application as the application role.

use super::CommandError;
use crate::cli::ServeArgs;
use crate::config::env;
use crate::config::{DATABASE_URL, require_env};
use paddock_crypto::KeyRing;
use paddock_domain::SystemClock;
use paddock_jwt::KeyStore;
use paddock_notify::{Mailer, SmsOutbox, SmtpConfig};
use paddock_passwords::{HashParams, PasswordHasher};
use paddock_store::Db;
use paddock_web::auth::AuthServices;
use paddock_web::tls::{self, CertificateFiles};
use paddock_web::{
    AppState, ConnectionLimits, HttpConfig, MailSettings, TrustedProxies, build_router,
};
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Connections the server keeps open at most.
const POOL_SIZE: u32 = 20;
/// How often the record clock finalises encounters past their editing period. The
/// database refuses edits to them from the deadline on, whatever the clock does;
/// this only brings their status in line, so a minute late is harmless.
const RECORD_CLOCK_INTERVAL: Duration = Duration::from_secs(60);

pub async fn run(args: ServeArgs) -> Result<ExitCode, CommandError> {
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(CertificateFiles::load(cert, key)?),
        _ if args.insecure_http => None,
        _ => {
            eprintln!(
                "paddock: refusing to serve plain HTTP without --insecure-http.\n\
                 Serve HTTPS with --tls-cert FILE --tls-key FILE, or run behind a TLS \
                 gateway (reverse proxy or load balancer, with HSTS) and pass \
                 --insecure-http (and --trusted-proxy CIDR for the gateway)."
            );
            return Ok(ExitCode::from(2));
        }
    };
    let url = require_env(DATABASE_URL, "the paddock_app role's connection")?;
    let db = Db::connect(&url, POOL_SIZE).await?;
    let http = HttpConfig {
        rate_limits: args.rate_limits.config(args.redis.clone()),
        trusted_proxies: TrustedProxies::new(args.trusted_proxies),
        https: tls.is_some(),
        cors_origins: args
            .cors_origins
            .iter()
            .filter_map(|origin| origin.parse().ok())
            .collect(),
        ..HttpConfig::default()
    };
    let listen = Listen {
        public: args.bind,
        metrics: args.metrics_bind,
    };
    serve_checked(db, listen, &args.data_dir, &http, tls, |_| {}).await
}

/// Where a server listens: the public address, and the metrics listener's if any.
#[derive(Debug, Clone, Copy)]
pub struct Listen {
    /// The application (API and pages).
    pub public: SocketAddr,
    /// `GET /metrics`, apart from the public port (none: not served).
    pub metrics: Option<SocketAddr>,
}

/// Refuses to start unless the role is safe, then serves until Ctrl-C or SIGTERM;
/// `on_listening` learns the bound address (useful with port 0).
pub async fn serve_checked(
    db: Db,
    listen: Listen,
    data_dir: &Path,
    http: &HttpConfig,
    tls: Option<Arc<CertificateFiles>>,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<ExitCode, CommandError> {
    let shutdown = shutdown_signal()?;
    let escapes = db.role_escapes().await?;
    if !escapes.is_empty() {
        eprintln!("paddock: refusing to start: the database role could bypass tenant isolation:");
        for escape in &escapes {
            eprintln!("  - {escape}");
        }
        eprintln!("Connect DATABASE_URL as paddock_app (created by `paddock migrate`).");
        return Ok(ExitCode::FAILURE);
    }
    let status = db.schema_status().await?;
    if !status.is_current() {
        tracing::warn!(%status, "schema is not current; /readyz answers 503 until it is");
    }
    let listener = tokio::net::TcpListener::bind(listen.public).await?;
    let local = listener.local_addr()?;
    let metrics_listener = match listen.metrics {
        Some(address) => Some(tokio::net::TcpListener::bind(address).await?),
        None => None,
    };
    let state = AppState::new(
        db.clone(),
        auth_services(data_dir)?,
        mail_settings(data_dir, local, http.https)?,
    );
    let metrics = state.metrics.clone();
    let router = build_router(state, http);
    let tls_config = match &tls {
        Some(files) => {
            let fingerprint = files.chain().first().map(tls::fingerprint);
            tracing::info!(address = %local, certificate_sha256 = ?fingerprint, "serving HTTPS");
            tokio::spawn(reload_on_hangup(files.clone())?);
            Some(tls::server_config(files.clone())?)
        }
        None => {
            tracing::info!(address = %local, trusted_proxies = ?http.trusted_proxies, "serving plain HTTP behind a TLS gateway");
            None
        }
    };
    let metrics_server = match metrics_listener {
        Some(listener) => {
            tracing::info!(metrics_address = %listener.local_addr()?, "serving metrics");
            let router = paddock_web::metrics::router(metrics, db.clone());
            Some(tokio::spawn(paddock_web::serve(
                listener,
                router,
                None,
                std::future::pending(),
            )))
        }
        None => None,
    };
    on_listening(local);
    let sealer = tokio::spawn(paddock_store::audit::chain::run_sealer(db.clone()));
    let record_clock = tokio::spawn(run_record_clock(db.clone(), RECORD_CLOCK_INTERVAL));
    // Every client behind a gateway shares its address: the gateway is not capped.
    let connections = ConnectionLimits {
        exempt: http.trusted_proxies.clone(),
        ..ConnectionLimits::default()
    };
    let served = paddock_web::serve_with(listener, router, tls_config, connections, shutdown).await;
    if let Some(metrics_server) = metrics_server {
        metrics_server.abort();
    }
    sealer.abort();
    // Finalising is one statement: stopping between ticks, or in the middle of one
    // (rolled back), leaves nothing half done; the next start catches up.
    record_clock.abort();
    // Chain what the last requests recorded before leaving (best effort: a later
    // instance or `paddock audit verify` seals anything left).
    if let Err(error) = db.seal_audit().await {
        tracing::warn!(error = %error, "could not seal the last audit events");
    }
    served?;
    db.close().await;
    tracing::info!("stopped");
    Ok(ExitCode::SUCCESS)
}

/// Reloads the certificate and key on every SIGHUP (installed now, so a SIGHUP right
/// after start is not the default "terminate"); a file that does not load leaves the
/// certificate in use, with the reason logged.
fn reload_on_hangup(
    files: Arc<CertificateFiles>,
) -> Result<impl Future<Output = ()> + Send + 'static, CommandError> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = signal(SignalKind::hangup())?;
    Ok(async move {
        while hangups.recv().await.is_some() {
            match files.reload() {
                Ok(()) => tracing::info!(
                    certificate_sha256 = ?files.chain().first().map(tls::fingerprint),
                    "reloaded the TLS certificate"
                ),
                Err(error) => {
                    tracing::error!(%error, "could not reload the TLS certificate; keeping the one in use")
                }
            }
        }
    })
}

/// The record clock: marks encounters past their editing period finalised, once at
/// start and then every `interval`, until the task is aborted. A failure (database
/// restarting) is logged and retried on the next tick.
async fn run_record_clock(db: Db, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // The first tick completes at once: encounters that fell due while the server
        // was down are finalised on start.
        tick.tick().await;
        match db.finalise_due_encounters().await {
            Ok(0) => tracing::debug!("record clock: no encounter past its editing period"),
            Ok(finalised) => tracing::info!(
                finalised,
                "record clock: finalised encounters past their editing period"
            ),
            Err(error) => tracing::warn!(
                error = %paddock_web::error::error_chain(&error),
                "record clock: could not finalise encounters past their editing period; retrying"
            ),
        }
    }
}

/// Password hashing, the system clock, and the JWT keys kept under `data_dir/keys/jwt`
/// (generated on first start, with a warning: production provisions and backs them up).
fn auth_services(data_dir: &Path) -> Result<AuthServices, CommandError> {
    let key_dir = data_dir.join("keys").join("jwt");
    let (keys, generated) = KeyStore::load_or_generate(&key_dir)?;
    if generated {
        tracing::warn!(
            dir = %key_dir.display(),
            "generated a new JWT signing key; in production, provision keys in PADDOCK_DATA_DIR and keep a backup"
        );
    }
    let sealing_dir = data_dir.join("keys").join("data");
    let (sealing, generated) = KeyRing::load_or_generate(&sealing_dir)?;
    if generated {
        tracing::warn!(
            dir = %sealing_dir.display(),
            "generated a new data-encryption key; in production, provision keys in PADDOCK_DATA_DIR and keep a backup"
        );
    }
    // SMS goes to the development outbox until a provider is configured.
    let sms = Arc::new(SmsOutbox::new(data_dir.join("outbox").join("sms")));
    let hasher = PasswordHasher::new(hash_params()?, PasswordHasher::default_permits())?;
    let mut services = AuthServices::new(hasher, Arc::new(SystemClock), keys, sealing, sms);
    if let Some(url) = env("PADDOCK_HIBP_URL") {
        services.pwned = Some(paddock_passwords::PwnedRangeClient::new(&url)?);
        tracing::info!("new passwords are also checked against the breach range API");
    }
    Ok(services)
}

/// argon2id parameters: OWASP's (m=19456 KiB, t=2, p=1) unless overridden with
/// PADDOCK_ARGON2_MEMORY_KIB, PADDOCK_ARGON2_ITERATIONS and PADDOCK_ARGON2_PARALLELISM.
fn hash_params() -> Result<HashParams, CommandError> {
    let defaults = HashParams::default();
    let read = |name: &str, default: u32| -> Result<u32, CommandError> {
        match env(name) {
            Some(value) => value
                .trim()
                .parse()
                .map_err(|_| format!("{name} must be a positive whole number").into()),
            None => Ok(default),
        }
    };
    Ok(HashParams {
        memory_kib: read("PADDOCK_ARGON2_MEMORY_KIB", defaults.memory_kib)?,
        iterations: read("PADDOCK_ARGON2_ITERATIONS", defaults.iterations)?,
        parallelism: read("PADDOCK_ARGON2_PARALLELISM", defaults.parallelism)?,
    })
}

/// Mail over SMTP when PADDOCK_SMTP_URL is set, else into `data_dir/outbox` (one
/// .eml per message, for development). Links use PADDOCK_PUBLIC_URL.
fn mail_settings(
    data_dir: &Path,
    local: SocketAddr,
    https: bool,
) -> Result<MailSettings, CommandError> {
    let mailer = match env("PADDOCK_SMTP_URL") {
        Some(url) => Mailer::smtp(&SmtpConfig {
            url,
            username: env("PADDOCK_SMTP_USERNAME"),
            password: env("PADDOCK_SMTP_PASSWORD"),
        })?,
        None => {
            let outbox = data_dir.join("outbox");
            tracing::info!(dir = %outbox.display(), "mail goes to the development outbox (set PADDOCK_SMTP_URL to send)");
            Mailer::outbox(outbox)
        }
    };
    let scheme = if https { "https" } else { "http" };
    let public_url = env("PADDOCK_PUBLIC_URL").unwrap_or_else(|| format!("{scheme}://{local}"));
    Ok(MailSettings {
        mailer,
        from: env("PADDOCK_MAIL_FROM")
            .unwrap_or_else(|| "Paddock <no-reply@paddock.invalid>".to_owned()),
        public_url: public_url.trim_end_matches('/').to_owned(),
    })
}

/// Installs the Ctrl-C and SIGTERM handlers now, and resolves when either arrives.
///
/// Installing them before anything is announced matters: a signal that arrives
/// between "listening" and the first poll would otherwise kill the process outright.
pub fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static>
{
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {},
            _ = terminate.recv() => {},
        }
        tracing::info!("shutting down");
    })
}
