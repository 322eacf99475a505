//! A scratch database for the database benchmarks: created and migrated for one run,
//! dropped afterwards.
//!
//! The server is the one `DATABASE_URL` names (an admin or superuser URL, as for
//! `cargo xtask test`) when it is set, else a private PostgreSQL cluster started for
//! the run and removed afterwards. Either way the benchmark gets a database of its
//! own, so it never touches anyone's data, and connects to it both as the admin (for
//! set-up and for what only an admin may do) and as the application role.

use paddock_store::{APP_ROLE, AdminDb};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use std::env;
use std::fs;
use std::path::PathBuf;
use std::str::FromStr;

/// Where the scratch database lives.
enum Server {
    /// `DATABASE_URL`.
    External,
    /// A private cluster and its data directory, both removed at the end.
    Private(pgcluster::Cluster, PathBuf),
}

/// A migrated database of the benchmark's own.
pub struct ScratchDb {
    server: Server,
    /// Admin options for the server's maintenance database (to create and drop ours).
    maintenance: PgConnectOptions,
    name: String,
}

/// What the report says about the PostgreSQL server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// `DATABASE_URL` or a private cluster.
    pub kind: &'static str,
    /// `PostgreSQL 15.20` (the first two words of `version()`).
    pub version: String,
    /// `fsync`, `synchronous_commit` and `shared_buffers`, as `name=value`.
    pub settings: String,
}

impl std::fmt::Display for ServerInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}; {})", self.version, self.kind, self.settings)
    }
}

/// Runs `measure` against a fresh scratch database, on a runtime of its own; the
/// database is removed afterwards, also when SIGINT or SIGTERM cut the measurement short.
pub fn measure_in_scratch<T>(
    measure: impl AsyncFnOnce(&ScratchDb) -> Result<T, String>,
) -> Result<T, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the async runtime: {e}"))?;
    runtime.block_on(async {
        let scratch = ScratchDb::create().await?;
        let measured = tokio::select! {
            measured = measure(&scratch) => measured,
            signal = super::stop_signal() => Err(signal),
        };
        if let Err(e) = scratch.remove().await {
            eprintln!("xtask: warning: {e}");
        }
        measured
    })
}

impl ScratchDb {
    /// Starts a private cluster unless `DATABASE_URL` is set, then creates and migrates
    /// a fresh database. Blocking parts (the cluster) run before the caller's runtime
    /// needs them; call this from inside the runtime.
    pub async fn create() -> Result<Self, String> {
        let (server, url) = match env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) {
            Some(url) => (Server::External, url),
            None => {
                let data_dir = env::temp_dir().join(format!(
                    "paddock-bench-{}-{}",
                    std::process::id(),
                    pgcluster::random_hex()
                ));
                eprintln!(
                    "xtask: DATABASE_URL is unset; starting a private PostgreSQL cluster in {}",
                    data_dir.display()
                );
                let cluster = match pgcluster::Cluster::start(&data_dir) {
                    Ok(cluster) => cluster,
                    Err(e) => {
                        let _ = fs::remove_dir_all(&data_dir);
                        return Err(format!("starting a private PostgreSQL cluster: {e}"));
                    }
                };
                let url = cluster.admin_url("postgres");
                (Server::Private(cluster, data_dir), url)
            }
        };
        let maintenance = PgConnectOptions::from_str(&url)
            .map_err(|e| format!("DATABASE_URL is not a PostgreSQL URL: {e}"))?
            .application_name("paddock-bench");
        let scratch = Self {
            server,
            maintenance,
            name: format!("paddock_bench_{}", pgcluster::random_hex()),
        };
        // Whatever fails from here on, the database and the cluster go again.
        match scratch.create_and_migrate().await {
            Ok(()) => Ok(scratch),
            Err(e) => {
                if let Err(cleanup) = scratch.remove().await {
                    eprintln!("xtask: {cleanup}");
                }
                Err(e)
            }
        }
    }

    async fn create_and_migrate(&self) -> Result<(), String> {
        let mut conn = self.connect_maintenance().await?;
        sqlx::raw_sql(&format!("create database {}", self.name))
            .execute(&mut conn)
            .await
            .map_err(|e| format!("creating database {}: {e}", self.name))?;
        let _ = conn.close().await;
        eprintln!("xtask: created scratch database {}", self.name);
        let admin = self.admin().await?;
        let migrated = admin.migrate().await;
        admin.close().await;
        migrated.map_err(|e| format!("migrating {}: {e}", self.name))
    }

    async fn connect_maintenance(&self) -> Result<PgConnection, String> {
        PgConnection::connect_with(&self.maintenance)
            .await
            .map_err(|e| format!("connecting to the PostgreSQL server as admin: {e}"))
    }

    /// Admin options for the scratch database.
    pub fn admin_options(&self) -> PgConnectOptions {
        self.maintenance.clone().database(&self.name)
    }

    /// Application-role options for the scratch database (the role must be able to
    /// connect the way the test suite's does: trust or peer authentication).
    pub fn app_options(&self) -> PgConnectOptions {
        self.admin_options()
            .username(APP_ROLE)
            .application_name("paddock-bench-app")
    }

    /// The admin handle of the store, on the scratch database.
    pub async fn admin(&self) -> Result<AdminDb, String> {
        AdminDb::connect_with(self.admin_options())
            .await
            .map_err(|e| format!("connecting to {} as admin: {e}", self.name))
    }

    /// A plain admin connection to the scratch database.
    pub async fn admin_conn(&self) -> Result<PgConnection, String> {
        PgConnection::connect_with(&self.admin_options())
            .await
            .map_err(|e| format!("connecting to {} as admin: {e}", self.name))
    }

    /// The server's version and the settings that bear on the figures.
    pub async fn server_info(&self) -> Result<ServerInfo, String> {
        let mut conn = self.admin_conn().await?;
        let version: String = sqlx::query_scalar("select version()")
            .fetch_one(&mut conn)
            .await
            .map_err(|e| format!("asking the server's version: {e}"))?;
        let settings: Vec<(String, String)> = sqlx::query_as(
            "select name, setting || coalesce(unit, '') from pg_settings
              where name in ('fsync', 'synchronous_commit', 'shared_buffers')
              order by name",
        )
        .fetch_all(&mut conn)
        .await
        .map_err(|e| format!("reading the server's settings: {e}"))?;
        let _ = conn.close().await;
        Ok(ServerInfo {
            kind: match self.server {
                Server::External => "the server DATABASE_URL names",
                Server::Private(..) => "a private cluster started for the run",
            },
            version: short_version(&version),
            settings: settings
                .iter()
                .map(|(name, value)| format!("{name}={}", pretty_setting(value)))
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// Drops the database and stops the private cluster, if any.
    pub async fn remove(self) -> Result<(), String> {
        let dropped = async {
            let mut conn = self.connect_maintenance().await?;
            sqlx::raw_sql(&format!(
                "drop database if exists {} with (force)",
                self.name
            ))
            .execute(&mut conn)
            .await
            .map_err(|e| format!("dropping database {}: {e}", self.name))?;
            let _ = conn.close().await;
            Ok::<(), String>(())
        }
        .await;
        if dropped.is_ok() {
            eprintln!("xtask: dropped scratch database {}", self.name);
        }
        let stopped = match self.server {
            Server::External => Ok(()),
            Server::Private(cluster, data_dir) => {
                let stopped = cluster
                    .stop()
                    .map_err(|e| format!("stopping the private cluster: {e}"));
                let removed = fs::remove_dir_all(&data_dir)
                    .map_err(|e| format!("removing {}: {e}", data_dir.display()));
                stopped.and(removed)
            }
        };
        dropped.and(stopped)
    }
}

/// `PostgreSQL 15.20` from `PostgreSQL 15.20 (Debian ...) on x86_64 ...`.
pub fn short_version(version: &str) -> String {
    version
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `shared_buffers` comes as a count of 8 kB pages (`16384` with unit `8kB`); say MiB.
fn pretty_setting(value: &str) -> String {
    match value.strip_suffix("8kB").map(str::parse::<u64>) {
        Some(Ok(pages)) => format!("{}MB", pages * 8 / 1024),
        _ => value.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortens_the_version_and_settings() {
        assert_eq!(
            short_version("PostgreSQL 15.20 (Debian 15.20-0+deb12u1) on x86_64-pc-linux-gnu"),
            "PostgreSQL 15.20"
        );
        assert_eq!(pretty_setting("163848kB"), "128MB");
        assert_eq!(pretty_setting("on"), "on");
        let info = ServerInfo {
            kind: "a private cluster started for the run",
            version: "PostgreSQL 15.20".into(),
            settings: "fsync=on".into(),
        };
        assert_eq!(
            info.to_string(),
            "PostgreSQL 15.20 (a private cluster started for the run; fsync=on)"
        );
    }
}
