//! `paddock audit verify`: seal, recompute every chain, and name the first broken
//! event of each practice; optionally check that the logs still extend a signed
//! checkpoint.

use super::checkpoint::{self, Statement};
use super::{CommandError, connect, key_dir, summary, unknown_practice};
use crate::cli::AuditVerifyArgs;
use paddock_domain::PracticeId;
use paddock_store::AdminDb;
use paddock_store::audit::chain::{ChainBreak, ChainHead, Verification};
use serde::Serialize;
use sqlx::types::chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet};
use std::process::ExitCode;
use uuid::Uuid;

/// What `audit verify` prints on stdout.
#[derive(Debug, Serialize)]
struct Report {
    /// `ok` when every chain verified, else `broken`.
    status: &'static str,
    /// The checkpoint checked against, if any.
    checkpoint: Option<CheckpointSummary>,
    /// One entry per practice, ordered by id.
    practices: Vec<PracticeReport>,
}

/// Which checkpoint the logs were checked against.
#[derive(Debug, Serialize)]
struct CheckpointSummary {
    /// When it was signed.
    issued_at: DateTime<Utc>,
    /// How many practice heads it vouches for.
    practices: usize,
}

/// One practice's outcome.
#[derive(Debug, Serialize)]
struct PracticeReport {
    practice_id: PracticeId,
    status: &'static str,
    events: u64,
    head_seq: i64,
    head_hash: String,
    pending: i64,
    broken: Option<ChainBreak>,
}

impl From<Verification> for PracticeReport {
    fn from(v: Verification) -> Self {
        Self {
            practice_id: v.practice_id,
            status: if v.is_ok() { "ok" } else { "broken" },
            events: v.events,
            head_seq: v.head_seq,
            head_hash: v.head_hash,
            pending: v.pending,
            broken: v.broken,
        }
    }
}

pub async fn run(args: AuditVerifyArgs) -> Result<ExitCode, CommandError> {
    // A checkpoint that cannot be trusted is an error, found before anything else.
    let checkpoint = match &args.checkpoint {
        Some(path) => Some(checkpoint::read(path, &key_dir(&args.data_dir))?),
        None => None,
    };
    let admin = connect().await?;
    let result = verify_all(
        &admin,
        args.practice.map(PracticeId::from_uuid),
        checkpoint.as_ref(),
    )
    .await;
    admin.close().await;
    let verifications = result?;

    for verification in &verifications {
        eprintln!("{}", summary(verification));
    }
    let broken = verifications.iter().filter(|v| !v.is_ok()).count();
    let report = Report {
        status: if broken == 0 { "ok" } else { "broken" },
        checkpoint: checkpoint.as_ref().map(|c| CheckpointSummary {
            issued_at: c.issued_at,
            practices: c.heads.len(),
        }),
        practices: verifications
            .into_iter()
            .map(PracticeReport::from)
            .collect(),
    };
    let total = report.practices.len();
    println!("{}", serde_json::to_string(&report)?);
    let against = if checkpoint.is_some() {
        " against the checkpoint"
    } else {
        ""
    };
    if broken == 0 {
        eprintln!("paddock audit verify: OK ({total} practice(s){against})");
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "paddock audit verify: BROKEN ({broken} of {total} practice(s){against}); \
             the entries above name the first event that does not verify"
        );
        Ok(ExitCode::FAILURE)
    }
}

/// Seals what is pending, then verifies `only` (or every practice, and every practice
/// the checkpoint names).
async fn verify_all(
    admin: &AdminDb,
    only: Option<PracticeId>,
    checkpoint: Option<&Statement>,
) -> Result<Vec<Verification>, CommandError> {
    admin.seal_audit().await?;
    let known: BTreeSet<Uuid> = admin
        .audit_heads()
        .await?
        .into_iter()
        .map(|h| h.practice_id)
        .collect();
    let heads: BTreeMap<Uuid, ChainHead> = checkpoint
        .map(|c| {
            c.heads
                .iter()
                .map(|h| (h.practice_id.as_uuid(), h.to_chain_head()))
                .collect()
        })
        .unwrap_or_default();
    let practices: BTreeSet<Uuid> = match only {
        Some(practice) => {
            let id = practice.as_uuid();
            if !known.contains(&id) && !heads.contains_key(&id) {
                return Err(unknown_practice(practice));
            }
            BTreeSet::from([id])
        }
        None => {
            let mut all = known;
            all.extend(heads.keys().copied());
            all
        }
    };
    let mut verifications = Vec::with_capacity(practices.len());
    for id in practices {
        let practice = PracticeId::from_uuid(id);
        verifications.push(admin.verify_audit(practice, heads.get(&id)).await?);
    }
    Ok(verifications)
}
