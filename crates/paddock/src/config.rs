//! Configuration from the environment, logging set-up, and error printing.

use crate::cli::LogFormat;
use tracing_subscriber::EnvFilter;

/// The application-role connection (`serve`).
pub const DATABASE_URL: &str = "DATABASE_URL";
/// The owner/superuser connection (admin commands).
pub const ADMIN_DATABASE_URL: &str = "PADDOCK_ADMIN_DATABASE_URL";
/// The first admin's password for `practice create`.
pub const ADMIN_PASSWORD: &str = "PADDOCK_ADMIN_PASSWORD";

/// The value of `name`, if set and not empty.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The value of `name`, or an error naming it.
pub fn require_env(name: &str, purpose: &str) -> Result<String, String> {
    env(name).ok_or_else(|| format!("{name} is not set: it must name {purpose}"))
}

/// Logs go to stderr; stdout is for results. `RUST_LOG` overrides the default filter.
pub fn init_logging(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).init(),
    }
}
