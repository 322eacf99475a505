//! `paddock audit purge`: the retention job of the audit trail itself.

use super::{CommandError, connect, unknown_practice};
use crate::cli::AuditPurgeArgs;
use paddock_domain::PracticeId;
use paddock_store::AdminDb;
use std::process::ExitCode;

pub async fn run(args: AuditPurgeArgs) -> Result<ExitCode, CommandError> {
    let admin = connect().await?;
    let result = purge(&admin, args.practice.map(PracticeId::from_uuid)).await;
    admin.close().await;
    let purged = result?;
    let practices: Vec<_> = purged
        .iter()
        .map(|(practice, count)| serde_json::json!({ "practice_id": practice, "purged": count }))
        .collect();
    for (practice, count) in &purged {
        eprintln!("practice {practice}: purged {count} event(s) past the retention period");
    }
    println!("{}", serde_json::json!({ "practices": practices }));
    Ok(ExitCode::SUCCESS)
}

async fn purge(
    admin: &AdminDb,
    only: Option<PracticeId>,
) -> Result<Vec<(PracticeId, i64)>, CommandError> {
    let known: Vec<PracticeId> = admin
        .audit_heads()
        .await?
        .into_iter()
        .map(|h| PracticeId::from_uuid(h.practice_id))
        .collect();
    let practices = match only {
        Some(practice) if known.contains(&practice) => vec![practice],
        Some(practice) => return Err(unknown_practice(practice)),
        None => known,
    };
    let mut purged = Vec::with_capacity(practices.len());
    for practice in practices {
        purged.push((practice, admin.purge_audit(practice).await?));
    }
    Ok(purged)
}
