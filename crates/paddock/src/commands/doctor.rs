//! `paddock doctor`: the compliance self-check: the database (tenancy, audit, schema,
//! the connection) and the deployment's configuration in the environment.

use super::CommandError;
use crate::cli::DoctorArgs;
use crate::config::{ADMIN_DATABASE_URL, DATABASE_URL, env};
use paddock_store::AdminDb;
use paddock_store::doctor::{Finding, Severity, examine};
use paddock_web::TrustedProxies;
use paddock_web::tls::CertificateFiles;
use sqlx::postgres::{PgConnectOptions, PgSslMode};
use std::path::Path;
use std::process::ExitCode;
use std::str::FromStr;

pub async fn run(args: DoctorArgs) -> Result<ExitCode, CommandError> {
    // The checks read the catalogue only, so the app role's connection will do.
    let url = env(ADMIN_DATABASE_URL)
        .or_else(|| env(DATABASE_URL))
        .ok_or("set PADDOCK_ADMIN_DATABASE_URL (or DATABASE_URL) to the database to examine")?;
    let admin = AdminDb::connect(&url).await?;
    let mut findings = examine(&admin).await?;
    admin.close().await;
    findings.extend(deployment_findings(&|name| env(name)));
    for finding in &findings {
        println!("{finding}");
    }
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = findings.len() - errors;
    let failed = errors > 0 || (args.strict && warnings > 0);
    eprintln!(
        "paddock doctor: {} ({errors} error(s), {warnings} warning(s))",
        if failed { "FAILED" } else { "OK" }
    );
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The deployment as `serve` would start from this environment (its flags read the
/// same variables): TLS or a trusted gateway, CORS origins, provisioned keys, and a
/// database connection that verifies the server.
fn deployment_findings(read: &dyn Fn(&str) -> Option<String>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let warn = |message: String| Finding {
        severity: Severity::Warning,
        message,
    };
    let error = |message: String| Finding {
        severity: Severity::Error,
        message,
    };
    match (read("PADDOCK_TLS_CERT"), read("PADDOCK_TLS_KEY")) {
        (Some(cert), Some(key)) => {
            if let Err(reason) = CertificateFiles::load(Path::new(&cert), Path::new(&key)) {
                findings.push(error(format!(
                    "PADDOCK_TLS_CERT/PADDOCK_TLS_KEY: {reason}; serve would not start"
                )));
            }
        }
        (Some(_), None) | (None, Some(_)) => findings.push(error(
            "PADDOCK_TLS_CERT and PADDOCK_TLS_KEY are set one without the other".to_owned(),
        )),
        (None, None) if read("PADDOCK_TRUSTED_PROXIES").is_none() => findings.push(warn(
            "no TLS certificate (PADDOCK_TLS_CERT) and no trusted proxy (PADDOCK_TRUSTED_PROXIES): \
             behind a TLS gateway with --insecure-http, the audit trail and the rate limits see \
             every client as the gateway"
                .to_owned(),
        )),
        (None, None) => {}
    }
    for network in read("PADDOCK_TRUSTED_PROXIES")
        .iter()
        .flat_map(|v| v.split(','))
    {
        match TrustedProxies::parse_network(network) {
            None => findings.push(error(format!(
                "PADDOCK_TRUSTED_PROXIES: {network:?} is not a network or an address"
            ))),
            Some(net) if net.prefix_len() == 0 => findings.push(warn(format!(
                "PADDOCK_TRUSTED_PROXIES trusts {net}: every client can choose the address the audit trail records"
            ))),
            Some(_) => {}
        }
    }
    for origin in read("PADDOCK_CORS_ORIGINS")
        .iter()
        .flat_map(|v| v.split(','))
    {
        if let Err(reason) = crate::cli::cors_origin(origin) {
            findings.push(error(format!("PADDOCK_CORS_ORIGINS: {reason}")));
        }
    }
    let data_dir = read("PADDOCK_DATA_DIR").unwrap_or_else(|| ".paddock".to_owned());
    for (dir, what) in [("jwt", "token-signing"), ("data", "data-encryption")] {
        let dir = Path::new(&data_dir).join("keys").join(dir);
        let provisioned = std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some());
        if !provisioned {
            findings.push(warn(format!(
                "no {what} key in {}: serve generates one on first start; provision it and keep a backup",
                dir.display()
            )));
        }
    }
    if let Some(url) = read("PADDOCK_REDIS_URL") {
        match paddock_web::rate_limit::SharedCounts::new(&url, "") {
            Err(reason) => findings.push(error(format!("PADDOCK_REDIS_URL: {reason}"))),
            Ok(redis) => {
                if !redis.authenticates() {
                    findings.push(warn(
                        "PADDOCK_REDIS_URL: Redis without a password: anyone who reaches it can \
                         reset the shared rate limits; set requirepass (or an ACL user) and put \
                         the password in the URL"
                            .to_owned(),
                    ));
                }
                if !redis.stays_local() {
                    findings.push(warn(
                        "PADDOCK_REDIS_URL: Redis is reached over the network in plain text; \
                         keep it on a private network or a local socket"
                            .to_owned(),
                    ));
                }
            }
        }
    }
    if let Some(address) = read("PADDOCK_METRICS_BIND") {
        match address.parse::<std::net::SocketAddr>() {
            Err(_) => findings.push(error(format!(
                "PADDOCK_METRICS_BIND: {address:?} is not an address and port"
            ))),
            Ok(address) if address.ip().is_unspecified() => findings.push(warn(format!(
                "PADDOCK_METRICS_BIND={address} serves metrics, without sign-in, on every \
                 interface; bind it to loopback or a private interface"
            ))),
            Ok(_) => {}
        }
    }
    if let Some(url) = read(DATABASE_URL) {
        // Parsed as serve parses it (sqlx: the URL, then PG* variables for the rest).
        match PgConnectOptions::from_str(&url) {
            Err(reason) => findings.push(error(format!("DATABASE_URL: {reason}"))),
            Ok(options) => {
                let socket = options.get_socket().is_some() || options.get_host().starts_with('/');
                let mode = match options.get_ssl_mode() {
                    PgSslMode::VerifyFull => None,
                    PgSslMode::Disable => Some("disable"),
                    PgSslMode::Allow => Some("allow"),
                    PgSslMode::Prefer => Some("prefer"),
                    PgSslMode::Require => Some("require"),
                    PgSslMode::VerifyCa => Some("verify-ca"),
                };
                if let (false, Some(mode)) = (socket, mode) {
                    findings.push(warn(format!(
                        "DATABASE_URL: sslmode={mode} does not verify the database server; use sslmode=verify-full with sslrootcert"
                    )));
                }
            }
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn findings_for(vars: &[(&str, &str)]) -> Vec<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        deployment_findings(&|name| vars.get(name).cloned())
            .into_iter()
            .map(|f| f.to_string())
            .collect()
    }

    #[test]
    fn an_insecure_deployment_is_named_point_by_point() {
        let found = findings_for(&[
            ("PADDOCK_CORS_ORIGINS", "https://portal.example,*"),
            ("PADDOCK_TRUSTED_PROXIES", "0.0.0.0/0"),
            ("PADDOCK_DATA_DIR", "/nonexistent/paddock"),
            ("DATABASE_URL", "postgres://paddock_app@db.internal/paddock"),
        ]);
        let has = |level: &str, words: &str| {
            found
                .iter()
                .any(|f| f.starts_with(level) && f.contains(words))
        };
        assert!(has("error:", "PADDOCK_CORS_ORIGINS"), "{found:#?}");
        assert!(has("warning:", "trusts 0.0.0.0/0"), "{found:#?}");
        assert!(has("warning:", "token-signing key"), "{found:#?}");
        assert!(has("warning:", "data-encryption key"), "{found:#?}");
        assert!(has("warning:", "sslmode=prefer"), "{found:#?}");

        let redis = findings_for(&[
            ("PADDOCK_REDIS_URL", "redis://cache.internal:6379/0"),
            ("PADDOCK_METRICS_BIND", "0.0.0.0:9100"),
        ]);
        let has = |level: &str, words: &str| {
            redis
                .iter()
                .any(|f| f.starts_with(level) && f.contains(words))
        };
        assert!(has("warning:", "Redis without a password"), "{redis:#?}");
        assert!(
            has("warning:", "over the network in plain text"),
            "{redis:#?}"
        );
        assert!(has("warning:", "on every interface"), "{redis:#?}");
        let secured = findings_for(&[
            ("PADDOCK_REDIS_URL", "redis://:s3cret@127.0.0.1:6379/0"),
            ("PADDOCK_METRICS_BIND", "127.0.0.1:9100"),
        ]);
        assert!(
            !secured
                .iter()
                .any(|f| f.contains("Redis") || f.contains("METRICS")),
            "{secured:#?}"
        );
        assert!(
            !secured.iter().any(|f| f.contains("s3cret")),
            "the password is never printed: {secured:#?}"
        );

        let plain = findings_for(&[("PADDOCK_DATA_DIR", "/nonexistent")]);
        assert!(
            plain.iter().any(|f| f.contains("no TLS certificate")),
            "{plain:#?}"
        );
        let half = findings_for(&[("PADDOCK_TLS_CERT", "/etc/paddock/cert.pem")]);
        assert!(
            half.iter()
                .any(|f| f.starts_with("error:") && f.contains("one without the other"))
        );
    }

    #[test]
    fn a_sound_deployment_has_nothing_to_report() {
        let dir = tempfile::tempdir().unwrap();
        for keys in ["jwt", "data"] {
            let path = dir.path().join("keys").join(keys);
            std::fs::create_dir_all(&path).unwrap();
            std::fs::write(path.join("key-1"), "x").unwrap();
        }
        let (cert, key) = paddock_web::tls::self_signed(&["paddock.example"]).unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert).unwrap();
        std::fs::write(dir.path().join("key.pem"), key).unwrap();
        let data_dir = dir.path().display().to_string();
        let cert = dir.path().join("cert.pem").display().to_string();
        let key = dir.path().join("key.pem").display().to_string();
        let found = findings_for(&[
            ("PADDOCK_DATA_DIR", &data_dir),
            ("PADDOCK_TLS_CERT", &cert),
            ("PADDOCK_TLS_KEY", &key),
            ("PADDOCK_CORS_ORIGINS", "https://portal.example"),
            (
                "DATABASE_URL",
                "postgres://paddock_app@db.internal/paddock?sslmode=verify-full&sslrootcert=/etc/ca.pem",
            ),
        ]);
        assert_eq!(found, Vec::<String>::new());
        // A Unix socket needs no TLS.
        let socket = findings_for(&[
            ("PADDOCK_DATA_DIR", &data_dir),
            ("PADDOCK_TRUSTED_PROXIES", "10.0.0.0/8"),
            (
                "DATABASE_URL",
                "postgres://paddock_app@%2Fvar%2Frun%2Fpostgresql/paddock",
            ),
        ]);
        assert_eq!(socket, Vec::<String>::new());
    }
}
