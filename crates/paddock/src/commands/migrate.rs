//! `paddock migrate`: roles and schema.

use super::CommandError;
use crate::config::{ADMIN_DATABASE_URL, require_env};
use paddock_store::AdminDb;
use std::process::ExitCode;

pub async fn run() -> Result<ExitCode, CommandError> {
    let url = require_env(ADMIN_DATABASE_URL, "an owner or superuser connection")?;
    let admin = AdminDb::connect(&url).await?;
    admin.migrate().await?;
    let status = admin.schema_status().await?;
    admin.close().await;
    eprintln!("paddock: {status}");
    Ok(ExitCode::SUCCESS)
}
