//! `paddock retention run`: the retention job of clinical records.
//!
//! Clients, patients and appointments are deleted softly (`deleted_at`) and can be
//! restored until this job hard-deletes them, once they have been deleted for longer
//! than their practice's retention period. It needs the admin connection because
//! the application role holds no DELETE grant on clinical tables: the server itself
//! can never purge anything. Each practice is purged in a transaction of its own,
//! audited row by row with one `retention_purge` event naming what went.

use super::CommandError;
use crate::cli::RetentionRunArgs;
use crate::config::{ADMIN_DATABASE_URL, require_env};
use paddock_domain::PracticeId;
use paddock_store::AdminDb;
use paddock_store::retention::Purged;
use sqlx::types::chrono::{DateTime, Utc};
use std::process::ExitCode;
use std::time::Duration;

/// How far `--now` may run ahead of this machine's clock (clock skew between the
/// machine that computes a time and this one), and no further.
const NOW_TOLERANCE: Duration = Duration::from_secs(60);

/// Runs the purge and prints what went: JSON on stdout, one line per practice on stderr.
pub async fn run(args: RetentionRunArgs) -> Result<ExitCode, CommandError> {
    let now = as_of(args.now, Utc::now())?;
    let url = require_env(ADMIN_DATABASE_URL, "an owner or superuser connection")?;
    let admin = AdminDb::connect(&url).await?;
    let result = purge(&admin, args.practice.map(PracticeId::from_uuid), now).await;
    admin.close().await;
    let purged = result?;
    for practice in &purged {
        eprintln!("{}", summary(practice));
    }
    println!("{}", serde_json::json!({ "practices": purged }));
    Ok(ExitCode::SUCCESS)
}

/// The time the purge runs as of: the clock, or an earlier `--now`. A later one is
/// refused, because it would purge records before their retention period ends.
fn as_of(
    requested: Option<DateTime<Utc>>,
    clock: DateTime<Utc>,
) -> Result<DateTime<Utc>, CommandError> {
    match requested {
        None => Ok(clock),
        Some(now) if now <= clock + NOW_TOLERANCE => Ok(now),
        Some(now) => Err(format!(
            "--now {} is in the future; retention never runs ahead of the clock",
            now.to_rfc3339()
        )
        .into()),
    }
}

/// Purges every practice (or only `only`) as of `now`, in the order the audit heads
/// list them.
async fn purge(
    admin: &AdminDb,
    only: Option<PracticeId>,
    now: DateTime<Utc>,
) -> Result<Vec<Purged>, CommandError> {
    // Every practice has an audit trail (its creation is recorded), so the heads list
    // every practice; the same enumeration as `audit purge`.
    let known: Vec<PracticeId> = admin
        .audit_heads()
        .await?
        .into_iter()
        .map(|h| PracticeId::from_uuid(h.practice_id))
        .collect();
    let practices = match only {
        Some(practice) if known.contains(&practice) => vec![practice],
        Some(practice) => return Err(format!("there is no practice {practice}").into()),
        None => known,
    };
    let mut purged = Vec::with_capacity(practices.len());
    for practice in practices {
        purged.push(admin.purge_deleted(practice, now).await?);
    }
    Ok(purged)
}

/// One human line about a practice's purge, for stderr.
fn summary(purged: &Purged) -> String {
    format!(
        "practice {}: purged {} client(s), {} patient(s) with their medical records, {} appointment(s) deleted longer ago than the retention period",
        purged.practice_id,
        purged.clients.len(),
        purged.patients.len(),
        purged.appointments.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_may_be_earlier_than_the_clock_but_not_later() {
        let clock = Utc::now();
        assert_eq!(as_of(None, clock).unwrap(), clock);
        let earlier = clock - Duration::from_secs(400 * 86_400);
        assert_eq!(as_of(Some(earlier), clock).unwrap(), earlier);
        let skewed = clock + Duration::from_secs(5);
        assert_eq!(as_of(Some(skewed), clock).unwrap(), skewed);
        let error = as_of(Some(clock + Duration::from_secs(86_400)), clock).unwrap_err();
        assert!(error.to_string().contains("future"), "{error}");
    }
}
