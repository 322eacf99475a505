//! The command line, as clap declarations. `paddock --help` is the user's guide.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

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
}

/// Options of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "PADDOCK_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Serve plain HTTP. Required for now: Paddock must run behind a TLS-terminating
    /// gateway (a reverse proxy or load balancer) that adds HSTS.
    #[arg(long)]
    pub insecure_http: bool,

    /// Where signing keys live (generated on first start if missing).
    #[arg(long, env = "PADDOCK_DATA_DIR", default_value = ".paddock")]
    pub data_dir: PathBuf,
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
}

/// `demo` subcommands.
#[derive(Debug, Subcommand)]
pub enum DemoAction {
    /// Seed the two demo practices into a migrated database and print
    /// {"practices":[{"id","name","users":[{"email","password","role"}]}]}.
    Seed,
}

/// Options of `doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Fail on warnings (insecure configuration) too.
    #[arg(long)]
    pub strict: bool,
}
