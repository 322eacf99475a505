//! `paddock doctor`: the compliance self-check.

use super::CommandError;
use crate::cli::DoctorArgs;
use crate::config::{ADMIN_DATABASE_URL, DATABASE_URL, env};
use paddock_store::AdminDb;
use paddock_store::doctor::{Severity, examine};
use std::process::ExitCode;

pub async fn run(args: DoctorArgs) -> Result<ExitCode, CommandError> {
    // The checks read the catalogue only, so the app role's connection will do.
    let url = env(ADMIN_DATABASE_URL)
        .or_else(|| env(DATABASE_URL))
        .ok_or("set PADDOCK_ADMIN_DATABASE_URL (or DATABASE_URL) to the database to examine")?;
    let admin = AdminDb::connect(&url).await?;
    let findings = examine(&admin).await?;
    admin.close().await;
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
