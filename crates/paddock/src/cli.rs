//! The command line, as clap declarations. `paddock --help` is the user's guide.

use clap::{Args, Parser, Subcommand, ValueEnum};
use ipnet::IpNet;
use paddock_web::TrustedProxies;
use paddock_web::rate_limit::{Limit, RateLimitConfig, SharedCounts};
use sqlx::types::chrono::{DateTime, NaiveDate, Utc};
use std::net::SocketAddr;
use std::path::PathBuf;
use uuid::Uuid;

/// Paddock: a multi-tenant platform for veterinary practices.
///
/// Connections: `serve` uses DATABASE_URL (the application role, paddock_app).
/// Admin commands use PADDOCK_ADMIN_DATABASE_URL (the owner role or a superuser);
/// `doctor` falls back to DATABASE_URL. With neither set, `paddock demo` starts its
/// own private PostgreSQL under the data directory.
#[derive(Debug, Parser)]
#[command(name = "paddock", version, propagate_version = true)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, env = "PADDOCK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (production).
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web application and API (needs DATABASE_URL as paddock_app).
    Serve(ServeArgs),
    /// Create the database roles if missing and apply pending migrations
    /// (needs PADDOCK_ADMIN_DATABASE_URL).
    Migrate,
    /// Manage practices (needs PADDOCK_ADMIN_DATABASE_URL).
    #[command(subcommand)]
    Practice(PracticeCommand),
    /// Run a demo: private PostgreSQL (unless DATABASE_URL is set), two seeded
    /// practices with printed credentials, then serve. `demo seed` only seeds.
    Demo(DemoArgs),
    /// Check the database's compliance: row-level security on every table,
    /// a safe application role, current migrations. Exits non-zero on errors.
    Doctor(DoctorArgs),
    /// Verify, checkpoint and export the audit trail (needs PADDOCK_ADMIN_DATABASE_URL).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Purge soft-deleted records past their retention period (needs
    /// PADDOCK_ADMIN_DATABASE_URL).
    #[command(subcommand)]
    Retention(RetentionCommand),
}

/// Options of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "PADDOCK_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// The server's certificate chain (PEM, leaf first): serve HTTPS (TLS 1.3 and
    /// 1.2, AEAD suites, h2 and http/1.1) with HSTS. Reloaded, with the key, on
    /// SIGHUP: new connections get the new certificate, open ones are not dropped.
    #[arg(
        long,
        env = "PADDOCK_TLS_CERT",
        requires = "tls_key",
        conflicts_with = "insecure_http"
    )]
    pub tls_cert: Option<PathBuf>,

    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env = "PADDOCK_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Serve plain HTTP instead, behind a TLS-terminating gateway (a reverse proxy or
    /// load balancer) that adds HSTS; name it with --trusted-proxy.
    #[arg(long)]
    pub insecure_http: bool,

    /// A gateway (CIDR, or one address) whose `Forwarded` / `X-Forwarded-For` header
    /// names the client for the audit trail, the sign-in throttle and the logs.
    /// Repeat it, or give a comma-separated list. Without it the headers are
    /// ignored and the TCP peer is the client.
    #[arg(long = "trusted-proxy", env = "PADDOCK_TRUSTED_PROXIES", value_delimiter = ',', value_parser = trusted_proxy)]
    pub trusted_proxies: Vec<IpNet>,

    /// An origin (`https://portal.example`) whose pages may call the API from a
    /// browser, with credentials; repeat it, or give a comma-separated list. None by
    /// default (no cross-origin calls); a wildcard is refused.
    #[arg(long = "cors-origin", env = "PADDOCK_CORS_ORIGINS", value_delimiter = ',', value_parser = cors_origin)]
    pub cors_origins: Vec<String>,

    /// Where signing keys live (generated on first start if missing).
    #[arg(long, env = "PADDOCK_DATA_DIR", default_value = ".paddock")]
    pub data_dir: PathBuf,

    /// Serve Prometheus metrics (`GET /metrics`, plain HTTP, no sign-in) on this
    /// address, never on the public one: bind it to a private interface or loopback.
    /// Off when unset.
    #[arg(long, env = "PADDOCK_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,

    /// Share rate-limit counts with every other instance through this Redis
    /// (`redis://:password@host:6379/0`); unset, each instance counts alone.
    /// While it is unreachable, sign-in and the other secret-taking requests are
    /// refused (503) and the rest are counted in process only.
    #[arg(long = "redis-url", value_name = "URL", env = "PADDOCK_REDIS_URL", value_parser = redis_counts, hide_env_values = true)]
    pub redis: Option<SharedCounts>,

    /// The rate limits.
    #[command(flatten)]
    pub rate_limits: RateLimitArgs,
}

/// The rate limits, each `BURST/PER_MINUTE` (that many at once, then that many a
/// minute) or `off`.
#[derive(Debug, Clone, Args)]
pub struct RateLimitArgs {
    /// Every request, per client address.
    #[arg(long, env = "PADDOCK_RATE_LIMIT_ADDRESS", default_value = "600/1200", value_parser = rate_limit)]
    pub rate_limit_address: RateLimitSetting,

    /// Requests that present or set a secret (sign-in, reset, codes, unlock, re-auth,
    /// switching practice, token exchange, invitations), per client address.
    #[arg(long, env = "PADDOCK_RATE_LIMIT_SECRETS", default_value = "30/30", value_parser = rate_limit)]
    pub rate_limit_secrets: RateLimitSetting,

    /// Every request sent with a credential, per session, token or API key.
    #[arg(long, env = "PADDOCK_RATE_LIMIT_CREDENTIAL", default_value = "600/600", value_parser = rate_limit)]
    pub rate_limit_credential: RateLimitSetting,
}

/// One rate limit as given on the command line (`None`: off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitSetting(pub Option<Limit>);

impl RateLimitArgs {
    /// The limits, counted with `shared` as well when given.
    pub fn config(&self, shared: Option<SharedCounts>) -> RateLimitConfig {
        RateLimitConfig {
            per_address: self.rate_limit_address.0,
            secrets_per_address: self.rate_limit_secrets.0,
            per_credential: self.rate_limit_credential.0,
            shared,
        }
    }
}

/// `BURST/PER_MINUTE` (both at least 1) or `off`.
pub fn rate_limit(value: &str) -> Result<RateLimitSetting, String> {
    if value.eq_ignore_ascii_case("off") {
        return Ok(RateLimitSetting(None));
    }
    let count = |text: &str| text.trim().parse::<u32>().ok().filter(|n| *n >= 1);
    match value.split_once('/') {
        Some((burst, per_minute)) => match (count(burst), count(per_minute)) {
            (Some(burst), Some(per_minute)) => {
                Ok(RateLimitSetting(Some(Limit { burst, per_minute })))
            }
            _ => Err(format!(
                "{value:?}: give BURST/PER_MINUTE, both whole numbers from 1, or off"
            )),
        },
        None => Err(format!(
            "{value:?}: give BURST/PER_MINUTE (e.g. 30/30) or off"
        )),
    }
}

/// The rate-limit keys' prefix in a shared Redis.
const REDIS_KEY_PREFIX: &str = "paddock:rate:";

/// The shared counts in the Redis at `value` (never echoed: it may hold a password).
fn redis_counts(value: &str) -> Result<SharedCounts, String> {
    SharedCounts::new(value, REDIS_KEY_PREFIX).map_err(|error| error.to_string())
}

/// `practice` subcommands.
#[derive(Debug, Subcommand)]
pub enum PracticeCommand {
    /// Create a practice with its built-in roles and first admin. The admin's password
    /// is read from PADDOCK_ADMIN_PASSWORD, or prompted for. Prints
    /// {"practice_id": ..., "user_id": ...} on stdout.
    Create(PracticeCreateArgs),
}

/// Options of `practice create`.
#[derive(Debug, Args)]
pub struct PracticeCreateArgs {
    /// The practice's name, e.g. "Riverside Animal Hospital".
    #[arg(long)]
    pub name: String,
    /// The first admin's email; an existing user is linked and keeps their password.
    #[arg(long)]
    pub admin_email: String,
    /// The first admin's display name (default: the part of the email before @).
    #[arg(long)]
    pub admin_name: Option<String>,
}

/// Options of `demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// `seed` seeds only, against PADDOCK_ADMIN_DATABASE_URL, printing JSON.
    #[command(subcommand)]
    pub action: Option<DemoAction>,

    /// Address to serve the demo on.
    #[arg(long, env = "PADDOCK_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Where the private PostgreSQL cluster and generated keys live.
    #[arg(long, env = "PADDOCK_DATA_DIR", default_value = ".paddock")]
    pub data_dir: PathBuf,

    /// Serve plain HTTP instead of HTTPS with the demo's self-signed certificate (for
    /// load generators that do not speak TLS).
    #[arg(long)]
    pub insecure_http: bool,

    /// The rate limits (benchmarks turn them off: every request comes from one address).
    #[command(flatten)]
    pub rate_limits: RateLimitArgs,
}

/// `demo` subcommands.
#[derive(Debug, Subcommand)]
pub enum DemoAction {
    /// Seed the two demo practices into a migrated database and print
    /// {"practices":[{"id","name","users":[{"email","password","role"}],
    ///  "staff":[{"email","password","role"}],"clinical":{"clients","patients",...}}]}
    /// where users holds the practice admin and staff the vet, technician and
    /// receptionist; every password is new and random.
    Seed,
}

/// Options of `doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Fail on warnings (insecure configuration) too.
    #[arg(long)]
    pub strict: bool,
}

/// `audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Seal pending events, then recompute every practice's hash chain and name the
    /// first broken event.
    ///
    /// Prints on stdout one line of JSON:
    /// {"status":"ok"|"broken","checkpoint":{"issued_at","practices"}|null,
    ///  "practices":[{"practice_id","status":"ok"|"broken","events","head_seq",
    ///  "head_hash","pending","broken":{"seq","reason","detail"}|null}]}
    /// where reason is altered, missing or reordered; and one line per practice on
    /// stderr.
    ///
    /// Exit status: 0 when every chain verifies; 1 when a chain is broken (the JSON
    /// on stdout says where) or when the command could not run (bad connection,
    /// unreadable or forged checkpoint, practice without events...): then stdout is
    /// empty and stderr has "paddock: error: ...".
    Verify(AuditVerifyArgs),
    /// Seal pending events, verify every chain, and print a signed checkpoint of
    /// every practice's chain head, to keep somewhere the database's administrators
    /// cannot write.
    ///
    /// The checkpoint is one line of JSON:
    /// {"format":"paddock-audit-checkpoint-v1","kid","statement":{"issued_at",
    ///  "heads":[{"practice_id","seq","hash"}]},"jws"}
    /// where jws is a compact JWS (EdDSA, typ paddock-audit-checkpoint+jwt) whose
    /// payload is the statement. It is signed with the newest key in
    /// $PADDOCK_DATA_DIR/keys/audit (generated, with a warning, if there is none).
    /// A rewritten and re-chained log still verifies on its own; `audit verify
    /// --checkpoint` against an older checkpoint does not.
    ///
    /// Exit status: 0 when written; 1 on error, or when a chain is broken (nothing
    /// is signed then).
    Checkpoint(AuditCheckpointArgs),
    /// Stream one practice's events, sealed ones in chain order and then those not
    /// sealed yet, to stdout as JSON lines or CSV; the count goes to stderr. The
    /// export is itself recorded in the practice's trail.
    Export(AuditExportArgs),
    /// Purge every practice's events older than its audit retention period (practice
    /// setting, 7 years by default): a prefix of each chain, never the newest event.
    /// The purge is recorded in the chain first (the last purged event's seq and hash),
    /// so `verify` still proves what remains. Prints
    /// {"practices":[{"practice_id","purged"}]}.
    Purge(AuditPurgeArgs),
}

/// `retention` subcommands.
#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Hard-delete every practice's clients, patients and appointments that were
    /// soft-deleted longer ago than the practice keeps them (record_retention_days,
    /// 7 years by default, for clients and patients with their medical records;
    /// appointment_retention_days, 2 years by default, for appointments). Each
    /// practice is purged in one transaction that records every removed row and one
    /// `retention_purge` event in its audit trail.
    ///
    /// Prints on stdout one line of JSON:
    /// {"practices":[{"practice_id","clients":[id...],"patients":[id...],
    ///  "appointments":[id...]}]}
    /// and one line per practice on stderr. Exit status 0 when every practice was
    /// processed; 1 on error (stdout is then empty).
    Run(RetentionRunArgs),
}

/// Options of `retention run`.
#[derive(Debug, Args)]
pub struct RetentionRunArgs {
    /// Purge only this practice (an id that names no practice is an error).
    #[arg(long)]
    pub practice: Option<Uuid>,

    /// Run as of this time instead of the clock (RFC 3339 or a date; for tests).
    /// A time in the future is refused: it would purge records before their period ends.
    #[arg(long, hide = true, value_name = "T", value_parser = parse_time)]
    pub now: Option<DateTime<Utc>>,
}

/// Options of `audit purge`.
#[derive(Debug, Args)]
pub struct AuditPurgeArgs {
    /// Purge only this practice.
    #[arg(long)]
    pub practice: Option<Uuid>,
}

/// Options of `audit verify`.
#[derive(Debug, Args)]
pub struct AuditVerifyArgs {
    /// Verify only this practice (an id that names no practice is an error).
    #[arg(long)]
    pub practice: Option<Uuid>,

    /// Also check that each practice's log still extends the heads of this
    /// checkpoint (written by `audit checkpoint`). Its signature is checked with the
    /// keys in $PADDOCK_DATA_DIR/keys/audit only, never a key found in the file; a
    /// signature that does not verify is an error.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,

    /// Where the checkpoint keys live (`keys/audit`).
    #[arg(long, env = "PADDOCK_DATA_DIR", default_value = ".paddock")]
    pub data_dir: PathBuf,
}

/// Options of `audit checkpoint`.
#[derive(Debug, Args)]
pub struct AuditCheckpointArgs {
    /// Write the checkpoint to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Print the public keys that verify checkpoints as a JWKS document
    /// ({"keys":[{"kty":"OKP","crv":"Ed25519","x","kid","alg":"EdDSA","use":"sig"}]})
    /// and do nothing else (no database needed). Keep a copy apart from the
    /// checkpoints, to check them with any JOSE library.
    #[arg(long, conflicts_with = "out")]
    pub public_key: bool,

    /// Where the checkpoint keys live (`keys/audit`).
    #[arg(long, env = "PADDOCK_DATA_DIR", default_value = ".paddock")]
    pub data_dir: PathBuf,
}

/// Options of `audit export`.
#[derive(Debug, Args)]
pub struct AuditExportArgs {
    /// The practice whose trail to export.
    #[arg(long)]
    pub practice: Uuid,

    /// Only events at or after T: RFC 3339 (2026-03-01T08:00:00Z) or a date
    /// (2026-03-01, meaning midnight UTC).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub since: Option<DateTime<Utc>>,

    /// Only events before T (exclusive): RFC 3339 or a date (midnight UTC, so
    /// `--until 2026-04-01` ends with the last event of March).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub until: Option<DateTime<Utc>>,

    /// Output format.
    #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
    pub format: ExportFormat,
}

/// How `audit export` writes events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per line.
    Jsonl,
    /// RFC 4180 CSV with a header row; `changes` holds the JSON text.
    Csv,
}

impl ExportFormat {
    /// The format's name, as given on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jsonl => "jsonl",
            Self::Csv => "csv",
        }
    }
}

/// Parses an RFC 3339 time, or a date meaning midnight UTC at its start.
fn parse_time(value: &str) -> Result<DateTime<Utc>, String> {
    let value = value.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(value) {
        return Ok(time.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(value, "%Y-%m-%d")
        .ok()
        .filter(|_| value.len() == 10)
        .and_then(|date| date.and_hms_opt(0, 0, 0))
        .map(|midnight| midnight.and_utc())
        .ok_or_else(|| {
            format!("`{value}` is neither an RFC 3339 time (2026-03-01T08:00:00Z) nor a date (2026-03-01)")
        })
}

/// `--cors-origin`: `scheme://host[:port]`, https (or http for localhost), no path,
/// no wildcard.
pub(crate) fn cors_origin(text: &str) -> Result<String, String> {
    let text = text.trim().trim_end_matches('/');
    let refuse = |why: &str| Err(format!("{text:?} is not an allowed origin: {why}"));
    if text.contains('*') {
        return refuse("a wildcard would let any site call the API with its users' credentials");
    }
    let Some((scheme, authority)) = text.split_once("://") else {
        return refuse("write it as https://host[:port]");
    };
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host);
    let local = matches!(host, "localhost" | "127.0.0.1" | "[::1]");
    if !(scheme == "https" || (scheme == "http" && local)) {
        return refuse("only https origins (http only for localhost)");
    }
    if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
        return refuse("an origin has no path, query, credentials or spaces");
    }
    Ok(text.to_ascii_lowercase())
}

/// `--trusted-proxy`: a network (`10.0.0.0/8`) or one address (`192.0.2.7`).
fn trusted_proxy(text: &str) -> Result<IpNet, String> {
    TrustedProxies::parse_network(text)
        .ok_or_else(|| format!("{text:?} is not a network (10.0.0.0/8) or an address (192.0.2.7)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc_3339_or_dates_at_midnight_utc() {
        let at = |s: &str| parse_time(s).map(|t| t.to_rfc3339());
        assert_eq!(at("2026-03-01").unwrap(), "2026-03-01T00:00:00+00:00");
        assert_eq!(
            at("2026-03-01T08:30:00+02:00").unwrap(),
            "2026-03-01T06:30:00+00:00"
        );
        assert_eq!(
            at("2026-03-01T08:30:00.5Z").unwrap(),
            "2026-03-01T08:30:00.500+00:00"
        );
        for bad in [
            "2026-02-30",
            "2026-3-1",
            "yesterday",
            "2026-03-01T08:30",
            "",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn trusted_proxies_are_networks_or_addresses_repeated_or_listed() {
        let serve = |args: &[&str]| {
            let mut argv = vec!["paddock", "serve", "--insecure-http"];
            argv.extend_from_slice(args);
            match Cli::try_parse_from(argv).map(|cli| cli.command) {
                Ok(Command::Serve(serve)) => Ok(serve
                    .trusted_proxies
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()),
                Ok(other) => panic!("not serve: {other:?}"),
                Err(error) => Err(error.to_string()),
            }
        };
        assert_eq!(serve(&[]).unwrap(), Vec::<String>::new());
        assert_eq!(
            serve(&["--trusted-proxy", "10.0.0.0/8,192.0.2.7"]).unwrap(),
            ["10.0.0.0/8", "192.0.2.7/32"]
        );
        assert_eq!(
            serve(&[
                "--trusted-proxy",
                "10.0.0.0/8",
                "--trusted-proxy",
                "2001:db8::/32"
            ])
            .unwrap(),
            ["10.0.0.0/8", "2001:db8::/32"]
        );
        let refused = serve(&["--trusted-proxy", "gateway.internal"]).unwrap_err();
        assert!(refused.contains("is not a network"), "{refused}");
    }

    #[test]
    fn rate_limits_are_burst_per_minute_or_off_and_default_to_the_servers_own() {
        let limit = |burst, per_minute| RateLimitSetting(Some(Limit { burst, per_minute }));
        assert_eq!(rate_limit("30/30"), Ok(limit(30, 30)));
        assert_eq!(rate_limit(" 5 / 60"), Ok(limit(5, 60)));
        assert_eq!(rate_limit("off"), Ok(RateLimitSetting(None)));
        for bad in ["30", "0/30", "30/0", "-1/5", "a/b", "30/30/30", ""] {
            assert!(rate_limit(bad).is_err(), "{bad:?}");
        }
        let Cli {
            command: Command::Serve(serve),
            ..
        } = Cli::try_parse_from(["paddock", "serve", "--insecure-http"]).unwrap()
        else {
            panic!("not serve");
        };
        assert_eq!(
            format!("{:?}", serve.rate_limits.config(None)),
            format!("{:?}", RateLimitConfig::default()),
            "the flags' defaults are the server's"
        );
    }

    #[test]
    fn cors_origins_are_https_origins_never_a_wildcard() {
        assert_eq!(
            cors_origin("https://Portal.example/").unwrap(),
            "https://portal.example"
        );
        assert_eq!(
            cors_origin("https://portal.example:8443").unwrap(),
            "https://portal.example:8443"
        );
        assert_eq!(
            cors_origin("http://localhost:5173").unwrap(),
            "http://localhost:5173"
        );
        for refused in [
            "*",
            "https://*.example",
            "http://portal.example",
            "portal.example",
            "https://portal.example/app",
            "https://user@portal.example",
            "https://",
        ] {
            assert!(cors_origin(refused).is_err(), "{refused}");
        }
    }
}
