//! The per-practice hash chain: sealing, verification and chain heads.
//!
//! Events are inserted unsealed; the database function `audit_seal_practice()` numbers
//! committed events per practice and chains them, `hash(n) = SHA-256(hash(n-1) ||
//! canonical(n))` from 32 zero bytes (the migration `audit_chain` documents the
//! canonical encoding).
//! Verification recomputes every hash here, in Rust, from the stored columns, so a
//! tampered database function cannot vouch for a tampered row. A superuser who
//! rewrites rows *and* recomputes every later hash produces a consistent chain; signed
//! checkpoints kept elsewhere ([`ChainHead`], `paddock audit checkpoint`) catch that.

use crate::tenant::{Actor, TenantTx};
use crate::{AdminDb, Db, Principal, RequestMeta, StoreError};
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use paddock_domain::{Permission, PracticeId};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use std::fmt::Write as _;
use uuid::Uuid;

/// The hash that the first event of every practice is chained to.
pub const GENESIS: [u8; 32] = [0; 32];

/// A sealed event as stored, every column the chain covers.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SealedEvent {
    /// Position in the practice's chain, from 1.
    pub seq: i64,
    /// The practice.
    pub practice_id: Uuid,
    /// The event's id.
    pub id: Uuid,
    /// When it happened (database clock).
    pub occurred_at: DateTime<Utc>,
    /// `user`, `system` or `client`.
    pub actor_kind: String,
    /// The acting user, if any.
    pub actor_user_id: Option<Uuid>,
    /// The actor's role at that moment.
    pub actor_role: Option<String>,
    /// What happened.
    pub action: String,
    /// The kind of thing acted on.
    pub entity_type: Option<String>,
    /// Its id.
    pub entity_id: Option<Uuid>,
    /// Field-level changes, the JSON text as stored.
    pub changes: Option<String>,
    /// Client address, as PostgreSQL's `text(inet)` prints it.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Request id.
    pub request_id: Option<String>,
    /// The previous event's hash, as stored.
    pub prev_hash: Vec<u8>,
    /// This event's hash, as stored.
    pub hash: Vec<u8>,
}

/// Columns of [`SealedEvent`], rendered the way the canonical encoding needs them.
const SEALED_COLUMNS: &str =
    "seq, practice_id, id, occurred_at, actor_kind, actor_user_id, actor_role, action,
       entity_type, entity_id, changes::text as changes, text(ip) as ip, user_agent, request_id,
       prev_hash, hash";

fn field(hasher: &mut Sha256, value: Option<&[u8]>) {
    match value {
        None => hasher.update([0xff; 4]),
        Some(bytes) => {
            let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
            hasher.update(len.to_be_bytes());
            hasher.update(bytes);
        }
    }
}

fn uuid_field(hasher: &mut Sha256, value: Option<Uuid>) {
    let mut buf = [0u8; 36];
    field(
        hasher,
        value.map(|u| u.hyphenated().encode_lower(&mut buf).as_bytes()),
    );
}

fn text_field(hasher: &mut Sha256, value: Option<&str>) {
    field(hasher, value.map(str::as_bytes));
}

/// `SHA-256(prev || canonical(event))`: the hash `event` must carry when chained after
/// an event whose hash is `prev`.
pub fn chain_hash(prev: &[u8], event: &SealedEvent) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(prev);
    uuid_field(&mut h, Some(event.practice_id));
    uuid_field(&mut h, Some(event.id));
    let mut micros = String::with_capacity(20);
    let _ = write!(micros, "{}", event.occurred_at.timestamp_micros());
    text_field(&mut h, Some(&micros));
    text_field(&mut h, Some(&event.actor_kind));
    uuid_field(&mut h, event.actor_user_id);
    text_field(&mut h, event.actor_role.as_deref());
    text_field(&mut h, Some(&event.action));
    text_field(&mut h, event.entity_type.as_deref());
    uuid_field(&mut h, event.entity_id);
    text_field(&mut h, event.changes.as_deref());
    text_field(&mut h, event.ip.as_deref());
    text_field(&mut h, event.user_agent.as_deref());
    text_field(&mut h, event.request_id.as_deref());
    h.finalize().into()
}

/// Why a chain is broken at an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakReason {
    /// The event's recorded columns (or its chain columns) were changed after sealing.
    Altered,
    /// An event is gone: a gap in the numbering, an event chained after one no longer
    /// present, or a log that ends before a checkpoint's head.
    Missing,
    /// Intact events in a different order from the one they were sealed in.
    Reordered,
}

impl BreakReason {
    /// The reason's name: `altered`, `missing` or `reordered`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Altered => "altered",
            Self::Missing => "missing",
            Self::Reordered => "reordered",
        }
    }
}

impl std::fmt::Display for BreakReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first place a chain fails to verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainBreak {
    /// The first sequence number that does not verify.
    pub seq: i64,
    /// Why.
    pub reason: BreakReason,
    /// One sentence for the person investigating.
    pub detail: String,
}

/// What a walk along the chain found wrong at one event, before the database is asked
/// about the event's predecessor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Suspect {
    /// The settled diagnosis.
    Broken(ChainBreak),
    /// The event is intact (its hash matches its own recorded predecessor hash) but is
    /// chained after a different event than the one before it: reordered if that
    /// predecessor is elsewhere in the log, missing if it is gone.
    Relinked {
        /// Where.
        seq: i64,
        /// The predecessor hash the event was sealed with.
        sealed_after: Vec<u8>,
    },
}

/// Walks a practice's sealed events in sequence order, checking each link.
#[derive(Debug, Clone)]
pub struct ChainWalk {
    next_seq: i64,
    prev: [u8; 32],
    verified: u64,
}

impl Default for ChainWalk {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainWalk {
    /// A walk from the start of a chain.
    pub fn new() -> Self {
        Self {
            next_seq: 1,
            prev: GENESIS,
            verified: 0,
        }
    }

    /// A walk that resumes after a purged prefix: the chain's first remaining event is
    /// `after_seq + 1`, chained to `after_hash`.
    pub fn resume(after_seq: i64, after_hash: [u8; 32]) -> Self {
        Self {
            next_seq: after_seq + 1,
            prev: after_hash,
            verified: 0,
        }
    }

    /// How many events verified so far.
    pub fn verified(&self) -> u64 {
        self.verified
    }

    /// The last verified sequence number (0 before the first).
    pub fn head_seq(&self) -> i64 {
        self.next_seq - 1
    }

    /// The last verified hash ([`GENESIS`] before the first).
    pub fn head_hash(&self) -> [u8; 32] {
        self.prev
    }

    /// Checks `event`, the next one in sequence order.
    pub fn step(&mut self, event: &SealedEvent) -> Result<(), Suspect> {
        if event.seq != self.next_seq {
            return Err(Suspect::Broken(ChainBreak {
                seq: self.next_seq,
                reason: BreakReason::Missing,
                detail: format!(
                    "event {} is followed by event {}: the events in between are gone",
                    self.next_seq - 1,
                    event.seq
                ),
            }));
        }
        let expected = chain_hash(&self.prev, event);
        if expected.as_slice() == event.hash.as_slice() && event.prev_hash == self.prev {
            self.prev = expected;
            self.next_seq += 1;
            self.verified += 1;
            return Ok(());
        }
        let altered = |detail: &str| {
            Suspect::Broken(ChainBreak {
                seq: event.seq,
                reason: BreakReason::Altered,
                detail: detail.to_owned(),
            })
        };
        if expected.as_slice() == event.hash.as_slice() {
            return Err(altered(
                "the event's recorded predecessor hash was changed after sealing",
            ));
        }
        if chain_hash(&event.prev_hash, event).as_slice() == event.hash.as_slice() {
            return Err(Suspect::Relinked {
                seq: event.seq,
                sealed_after: event.prev_hash.clone(),
            });
        }
        Err(altered(
            "the event's content no longer matches its hash: it was changed after sealing",
        ))
    }
}

/// A practice's chain head: what a checkpoint vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// The practice.
    pub practice_id: PracticeId,
    /// The head's sequence number.
    pub seq: i64,
    /// The head's hash, lower-case hex.
    pub hash: String,
}

/// The outcome of verifying one practice's chain.
#[derive(Debug, Clone, Serialize)]
pub struct Verification {
    /// The practice.
    pub practice_id: PracticeId,
    /// Sealed events that verified (all of them when `broken` is `None`).
    pub events: u64,
    /// The last sequence number that verified.
    pub head_seq: i64,
    /// Its hash, lower-case hex.
    pub head_hash: String,
    /// Events recorded but not sealed yet (the sealer chains them within a second).
    pub pending: i64,
    /// Where and why the chain is broken, if it is.
    pub broken: Option<ChainBreak>,
}

impl Verification {
    /// Whether the chain verified.
    pub fn is_ok(&self) -> bool {
        self.broken.is_none()
    }
}

/// Verifies `practice`'s chain on `conn` (a transaction that may read its events),
/// and, given `checkpoint`, that the chain still extends it.
pub async fn verify_on(
    conn: &mut PgConnection,
    practice: PracticeId,
    checkpoint: Option<&ChainHead>,
) -> Result<Verification, StoreError> {
    let pending: i64 = sqlx::query_scalar(
        "select count(*) from audit_events where practice_id = $1 and seq is null",
    )
    .bind(practice.as_uuid())
    .fetch_one(&mut *conn)
    .await?;
    let mut suspect = None;
    let mut walk = match start_of_chain(conn, practice).await? {
        Ok(walk) => walk,
        Err(found) => {
            suspect = Some(Suspect::Broken(found));
            ChainWalk::new()
        }
    };
    // One index scan in chain order streams fastest; a parallel scan with a sort (which
    // the planner may pick for a large practice) is slower here and spills to disk.
    sqlx::query("set local max_parallel_workers_per_gather = 0")
        .execute(&mut *conn)
        .await?;
    let sql = format!(
        "select {SEALED_COLUMNS} from audit_events
          where practice_id = $1 and seq is not null order by seq"
    );
    if suspect.is_none() {
        let mut rows = sqlx::query_as::<_, SealedEvent>(&sql)
            .bind(practice.as_uuid())
            .fetch(&mut *conn);
        while let Some(event) = rows.try_next().await? {
            if let Err(found) = walk.step(&event) {
                suspect = Some(found);
                break;
            }
            if let Some(cp) = checkpoint
                && cp.seq == event.seq
                && !cp
                    .hash
                    .eq_ignore_ascii_case(&crate::identity::token::hex(&event.hash))
            {
                suspect = Some(Suspect::Broken(ChainBreak {
                    seq: event.seq,
                    reason: BreakReason::Altered,
                    detail: "the chain no longer extends the checkpoint: its hash here differs, \
                             so earlier events were rewritten and re-chained"
                        .to_owned(),
                }));
                break;
            }
        }
    }
    let mut broken = match suspect {
        None => None,
        Some(Suspect::Broken(found)) => Some(found),
        Some(Suspect::Relinked { seq, sealed_after }) => {
            Some(diagnose_relinked(conn, practice, seq, &sealed_after).await?)
        }
    };
    if broken.is_none()
        && let Some(cp) = checkpoint
        && cp.seq > walk.head_seq()
    {
        broken = Some(ChainBreak {
            seq: walk.head_seq() + 1,
            reason: BreakReason::Missing,
            detail: format!(
                "the log ends at event {} but the checkpoint vouches for events up to {}",
                walk.head_seq(),
                cp.seq
            ),
        });
    }
    Ok(Verification {
        practice_id: practice,
        events: walk.verified(),
        head_seq: walk.head_seq(),
        head_hash: crate::identity::token::hex(&walk.head_hash()),
        pending,
        broken,
    })
}

/// Where the walk starts: at event 1, or, after a retention purge, at the first event
/// left, provided the chain records that purge (a `purge` event naming the last purged
/// event's seq and hash). A prefix gone without such a record is missing.
async fn start_of_chain(
    conn: &mut PgConnection,
    practice: PracticeId,
) -> Result<Result<ChainWalk, ChainBreak>, StoreError> {
    let first: Option<(i64, Vec<u8>)> = sqlx::query_as(
        "select seq, prev_hash from audit_events
          where practice_id = $1 and seq is not null order by seq limit 1",
    )
    .bind(practice.as_uuid())
    .fetch_optional(&mut *conn)
    .await?;
    let Some((first_seq, prev_hash)) = first.filter(|(seq, _)| *seq > 1) else {
        return Ok(Ok(ChainWalk::new()));
    };
    let through = first_seq - 1;
    let recorded: bool = sqlx::query_scalar(
        "select exists (select 1 from audit_events
                         where practice_id = $1 and seq > $2 and action = 'purge'
                           and changes->>'through_seq' = $2::text
                           and changes->>'through_hash' = $3)",
    )
    .bind(practice.as_uuid())
    .bind(through)
    .bind(crate::identity::token::hex(&prev_hash))
    .fetch_one(&mut *conn)
    .await?;
    let anchor: Option<[u8; 32]> = prev_hash.try_into().ok();
    Ok(match anchor {
        Some(hash) if recorded => Ok(ChainWalk::resume(through, hash)),
        _ => Err(ChainBreak {
            seq: 1,
            reason: BreakReason::Missing,
            detail: format!(
                "events 1 to {through} are gone and no retention purge in the chain recorded their removal"
            ),
        }),
    })
}

/// An intact event chained after something other than its neighbour: is that
/// predecessor elsewhere in the log (reordered) or gone (missing)?
async fn diagnose_relinked(
    conn: &mut PgConnection,
    practice: PracticeId,
    seq: i64,
    sealed_after: &[u8],
) -> Result<ChainBreak, StoreError> {
    let elsewhere: Option<i64> =
        sqlx::query_scalar("select seq from audit_events where practice_id = $1 and hash = $2")
            .bind(practice.as_uuid())
            .bind(sealed_after)
            .fetch_optional(&mut *conn)
            .await?;
    Ok(match elsewhere {
        Some(other) => ChainBreak {
            seq,
            reason: BreakReason::Reordered,
            detail: format!(
                "event {seq} is intact but was sealed after the event now numbered {other}"
            ),
        },
        None => ChainBreak {
            seq,
            reason: BreakReason::Missing,
            detail: format!(
                "event {seq} is intact but the event it was sealed after is no longer in the log"
            ),
        },
    })
}

/// Seals the principal's practice and opens the transaction its chain is verified in
/// (permission `audit.read`). The sealing runs in statements of its own, each releasing
/// the practice's sealing lock when it ends; the returned transaction is a read-only
/// REPEATABLE READ snapshot taken afterwards, so it sees everything just sealed and
/// nothing sealed later, however long [`verify_own`] then streams, and it never holds
/// up the sealer.
pub async fn begin_verification(
    db: &Db,
    principal: &Principal,
    meta: &RequestMeta,
) -> Result<TenantTx, StoreError> {
    principal.require(Permission::AuditRead)?;
    seal_practice(db.pool(), principal.practice_id()).await?;
    TenantTx::begin_snapshot(
        db.pool(),
        principal.practice_id(),
        Actor::Member(principal.clone()),
        meta,
    )
    .await
}

/// Verifies the transaction's practice (permission `audit.read`); begin it with
/// [`begin_verification`], which seals what is pending first.
pub async fn verify_own(tx: &mut TenantTx) -> Result<Verification, StoreError> {
    tx.require(Permission::AuditRead)?;
    let practice = tx.practice_id();
    verify_on(tx.conn(), practice, None).await
}

/// Seals everything pending of `practice`, waiting for a sealer already at work on it.
async fn seal_practice(pool: &sqlx::PgPool, practice: PracticeId) -> Result<(), StoreError> {
    // Batches of 10,000, each its own statement (and lock); a larger backlog takes turns.
    loop {
        let sealed: i32 = sqlx::query_scalar("select audit_seal_practice($1)")
            .bind(practice.as_uuid())
            .fetch_one(pool)
            .await?;
        if sealed < 10_000 {
            return Ok(());
        }
    }
}

/// Whether a pass waits for a practice whose sealing lock is taken, or skips it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Busy {
    Wait,
    Skip,
}

/// One pass of the sealer: each practice with pending events gets up to 10,000 of them
/// sealed, each practice in a transaction of its own (so a pass never holds more than
/// one practice's lock); returns how many were sealed. A practice whose sealing lock
/// is taken is skipped until the next pass, so one practice never stalls the others.
/// Runs as the application role (the server's background sealer) or an admin.
pub async fn seal_pass(pool: &sqlx::PgPool) -> Result<u64, StoreError> {
    pass(pool, Busy::Skip).await
}

async fn pass(pool: &sqlx::PgPool, busy: Busy) -> Result<u64, StoreError> {
    let practices: Vec<Uuid> = sqlx::query_scalar("select audit_unsealed_practices()")
        .fetch_all(pool)
        .await?;
    let seal = match busy {
        Busy::Wait => "select audit_seal_practice($1)",
        // -1 when busy.
        Busy::Skip => "select audit_seal_practice_unless_busy($1)",
    };
    let mut total = 0u64;
    for practice in practices {
        let sealed: i32 = sqlx::query_scalar(seal)
            .bind(practice)
            .fetch_one(pool)
            .await?;
        total += u64::try_from(sealed).unwrap_or(0);
    }
    Ok(total)
}

/// Seals pending events pass after pass until a pass seals nothing; returns how many
/// were sealed. The server's passes skip a practice being sealed elsewhere at that
/// moment; admin commands wait for it, so that they leave nothing pending.
async fn seal_until_done(pool: &sqlx::PgPool, busy: Busy) -> Result<u64, StoreError> {
    let mut total = 0u64;
    loop {
        let sealed = pass(pool, busy).await?;
        total += sealed;
        if sealed == 0 {
            return Ok(total);
        }
    }
}

/// Seals every practice's pending events, pass after pass until nothing is left,
/// waiting for any practice being sealed elsewhere (admin commands and tests); returns
/// how many were sealed.
pub async fn seal_pool(pool: &sqlx::PgPool) -> Result<u64, StoreError> {
    seal_until_done(pool, Busy::Wait).await
}

/// Every practice's chain head, with its count of pending events.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct HeadRow {
    /// The practice.
    pub practice_id: Uuid,
    /// Last sealed sequence number, if any.
    pub seq: Option<i64>,
    /// Its hash.
    pub hash: Option<Vec<u8>>,
    /// Events not sealed yet.
    pub pending: i64,
}

impl AdminDb {
    /// Seals every practice's pending events.
    pub async fn seal_audit(&self) -> Result<u64, StoreError> {
        seal_pool(self.pool()).await
    }

    /// Every practice, with its chain head (none when it has no sealed event).
    pub async fn audit_heads(&self) -> Result<Vec<HeadRow>, StoreError> {
        Ok(
            sqlx::query_as("select practice_id, seq, hash, pending from audit_heads()")
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// Purges `practice`'s events older than its audit retention period (a sealed
    /// prefix of the chain, never the newest event), recording the purge in the chain
    /// first; returns how many events were removed.
    pub async fn purge_audit(&self, practice: PracticeId) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("select audit_purge($1)")
            .bind(practice.as_uuid())
            .fetch_one(self.pool())
            .await?)
    }

    /// Verifies one practice's chain (and that it extends `checkpoint`).
    pub async fn verify_audit(
        &self,
        practice: PracticeId,
        checkpoint: Option<&ChainHead>,
    ) -> Result<Verification, StoreError> {
        let mut tx = self.begin_system(practice).await?;
        let mut verification = verify_on(tx.conn(), practice, checkpoint).await?;
        tx.rollback().await?;
        // Creating a practice is itself recorded: a trail with nothing in it was wiped.
        if verification.events == 0 && verification.pending == 0 && verification.broken.is_none() {
            verification.broken = Some(ChainBreak {
                seq: 1,
                reason: BreakReason::Missing,
                detail:
                    "the practice has no audit events at all, yet its creation is always recorded"
                        .to_owned(),
            });
        }
        Ok(verification)
    }
}

impl crate::Db {
    /// Seals every practice's pending events as the server's sealer does: a practice
    /// whose sealing lock is taken is left for a later call, not waited for.
    pub async fn seal_audit(&self) -> Result<u64, StoreError> {
        seal_until_done(self.pool(), Busy::Skip).await
    }
}

/// The events waiting for the sealer, across every practice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealerBacklog {
    /// Events committed but not sealed yet.
    pub pending: i64,
    /// When the oldest of them was recorded (none when nothing waits).
    pub oldest: Option<DateTime<Utc>>,
}

impl crate::Db {
    /// How far the sealer is behind: counts and one time, nothing of any event.
    pub async fn sealer_backlog(&self) -> Result<SealerBacklog, StoreError> {
        let (pending, oldest) =
            sqlx::query_as("select pending, oldest from audit_sealer_backlog()")
                .fetch_one(self.pool())
                .await?;
        Ok(SealerBacklog { pending, oldest })
    }
}

/// How often the server's sealer chains newly committed events.
pub const SEAL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

/// The server's sealer: chains committed events every [`SEAL_INTERVAL`] until the task
/// is dropped. A failure (database restarting) is logged and retried on the next tick;
/// nothing is lost meanwhile, events simply wait unsealed.
pub async fn run_sealer(db: crate::Db) {
    let mut tick = tokio::time::interval(SEAL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        // One pass per tick: under a write flood the sealer keeps pace without chasing
        // every last event in a loop of its own.
        match seal_pass(db.pool()).await {
            Ok(0) => {}
            Ok(sealed) => tracing::debug!(sealed, "sealed audit events"),
            Err(error) => tracing::warn!(error = %error, "could not seal audit events; retrying"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: i64, action: &str) -> SealedEvent {
        SealedEvent {
            seq,
            practice_id: Uuid::nil(),
            id: Uuid::from_u128(u128::try_from(seq).unwrap()),
            occurred_at: DateTime::from_timestamp_micros(1_790_000_000_000_000 + seq).unwrap(),
            actor_kind: "user".to_owned(),
            actor_user_id: Some(Uuid::from_u128(7)),
            actor_role: Some("Veterinarian".to_owned()),
            action: action.to_owned(),
            entity_type: Some("membership".to_owned()),
            entity_id: None,
            changes: Some(r#"{"status": ["active", "deactivated"]}"#.to_owned()),
            ip: Some("192.0.2.1/32".to_owned()),
            user_agent: None,
            request_id: Some(format!("req-{seq}")),
            prev_hash: Vec::new(),
            hash: Vec::new(),
        }
    }

    /// Five events chained the way the sealer chains them.
    fn chain() -> Vec<SealedEvent> {
        let mut prev = GENESIS;
        (1..=5)
            .map(|seq| {
                let mut e = event(seq, "update");
                e.prev_hash = prev.to_vec();
                prev = chain_hash(&prev, &e);
                e.hash = prev.to_vec();
                e
            })
            .collect()
    }

    fn walk(events: &[SealedEvent]) -> Result<u64, Suspect> {
        let mut walk = ChainWalk::new();
        for e in events {
            walk.step(e)?;
        }
        Ok(walk.verified())
    }

    fn broken(result: Result<u64, Suspect>) -> (i64, BreakReason) {
        match result {
            Err(Suspect::Broken(b)) => (b.seq, b.reason),
            other => panic!("expected a settled break, got {other:?}"),
        }
    }

    #[test]
    fn an_intact_chain_verifies() {
        assert_eq!(walk(&chain()).unwrap(), 5);
    }

    #[test]
    fn every_recorded_field_is_covered_by_the_hash() {
        let alterations: Vec<fn(&mut SealedEvent)> = vec![
            |e| e.practice_id = Uuid::from_u128(1),
            |e| e.id = Uuid::from_u128(99),
            |e| e.occurred_at += chrono::TimeDelta::microseconds(1),
            |e| e.actor_kind = "system".to_owned(),
            |e| e.actor_user_id = None,
            |e| e.actor_role = Some("Practice admin".to_owned()),
            |e| e.action = "read".to_owned(),
            |e| e.entity_type = None,
            |e| e.entity_id = Some(Uuid::from_u128(5)),
            |e| e.changes = Some("{}".to_owned()),
            |e| e.ip = None,
            |e| e.user_agent = Some(String::new()),
            |e| e.request_id = None,
        ];
        for alter in alterations {
            let mut events = chain();
            alter(&mut events[2]);
            assert_eq!(broken(walk(&events)), (3, BreakReason::Altered));
        }
    }

    #[test]
    fn null_and_empty_text_hash_differently() {
        let mut a = event(1, "read");
        let mut b = event(1, "read");
        a.user_agent = None;
        b.user_agent = Some(String::new());
        assert_ne!(chain_hash(&GENESIS, &a), chain_hash(&GENESIS, &b));
    }

    #[test]
    fn field_boundaries_cannot_be_shifted() {
        // "ab" + "c" and "a" + "bc" must not hash alike (length prefixes).
        let mut a = event(1, "read");
        let mut b = event(1, "read");
        a.entity_type = Some("ab".to_owned());
        a.actor_role = Some("c".to_owned());
        b.entity_type = Some("a".to_owned());
        b.actor_role = Some("bc".to_owned());
        assert_ne!(chain_hash(&GENESIS, &a), chain_hash(&GENESIS, &b));
    }

    #[test]
    fn a_gap_is_missing_at_the_first_absent_number() {
        let mut events = chain();
        events.remove(1);
        assert_eq!(broken(walk(&events)), (2, BreakReason::Missing));
    }

    #[test]
    fn intact_events_out_of_place_are_sent_for_diagnosis() {
        let mut events = chain();
        events.swap(1, 2);
        events[1].seq = 2;
        events[2].seq = 3;
        match walk(&events) {
            Err(Suspect::Relinked { seq, sealed_after }) => {
                assert_eq!(seq, 2);
                assert_eq!(
                    sealed_after,
                    chain()[1].hash,
                    "sealed after the old event 2"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_changed_predecessor_hash_is_an_alteration() {
        let mut events = chain();
        events[3].prev_hash = vec![1; 32];
        assert_eq!(broken(walk(&events)), (4, BreakReason::Altered));
    }

    #[test]
    fn the_first_event_must_be_number_one() {
        let events = chain();
        assert_eq!(broken(walk(&events[1..])), (1, BreakReason::Missing));
    }
}
