//! `paddock audit verify|checkpoint|export|purge`: the audit trail seen from outside
//! the server. Every subcommand connects with PADDOCK_ADMIN_DATABASE_URL, because they
//! read every practice's trail (verify, checkpoint), record the export in it, or purge
//! what is past its retention period.
//! Results go to stdout as JSON (or the export itself), one summary line per
//! practice to stderr.

pub mod checkpoint;
pub mod export;
pub mod purge;
pub mod verify;

use super::CommandError;
use crate::config::{ADMIN_DATABASE_URL, require_env};
use paddock_domain::PracticeId;
use paddock_store::AdminDb;
use paddock_store::audit::chain::Verification;
use std::path::Path;
use std::path::PathBuf;

/// The admin connection every audit subcommand needs.
async fn connect() -> Result<AdminDb, CommandError> {
    let url = require_env(ADMIN_DATABASE_URL, "an owner or superuser connection")?;
    Ok(AdminDb::connect(&url).await?)
}

/// Where the checkpoint signing keys live: `<data dir>/keys/audit`, apart from the
/// access-token keys so that neither kind of signature can pass for the other.
fn key_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join("audit")
}

/// The error for a practice id that names no practice.
fn unknown_practice(practice: PracticeId) -> CommandError {
    format!("there is no practice {practice}").into()
}

/// One human line about a practice's verification, for stderr.
fn summary(verification: &Verification) -> String {
    let practice = verification.practice_id;
    match &verification.broken {
        None => {
            let mut line = format!(
                "practice {practice}: OK, {} events, head {}",
                verification.events, verification.head_seq
            );
            if verification.pending > 0 {
                line.push_str(&format!(", {} pending", verification.pending));
            }
            line
        }
        Some(broken) => format!(
            "practice {practice}: BROKEN at seq {} ({}): {}",
            broken.seq, broken.reason, broken.detail
        ),
    }
}
