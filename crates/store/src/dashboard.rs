//! What the home page's panels read: the day's book and arrivals, a clinician's open
//! encounters and the vaccinations falling due, and staff and security at a glance
//! (locked sign-ins, recent role changes, the audit chain's status). [`panels`] reads
//! exactly the panels the actor's permissions allow and leaves the others `None`;
//! each reader checks its own permission again. Reads of the medical record are
//! audited as the chart audits them (a `read` of each patient shown, naming the view),
//! and reading role changes out of the trail is recorded as `audit::log` records it;
//! the appointment book is not audited, like the calendar.

use crate::appointments::bookings::{self, Appointment, RangeQuery};
use crate::audit::{AuditEvent, record};
use crate::{StoreError, TenantTx};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use paddock_domain::{AuditAction, Permission, PracticeId, UserId};
use serde_json::json;
use std::collections::BTreeSet;
use uuid::Uuid;

/// The most rows a panel lists; its count still covers every row.
pub const PANEL_LIMIT: i64 = 50;

/// How far back the security panels look: role changes of the last week, and locks,
/// none of which lasts longer (`lockout_minutes` is at most 10080, seven days).
pub const SECURITY_LOOKBACK: Duration = Duration::days(7);

/// The day (and week) the panels are about, as the caller's calendar draws it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Now.
    pub now: DateTime<Utc>,
    /// When today starts (inclusive).
    pub day_from: DateTime<Utc>,
    /// When today ends (exclusive).
    pub day_to: DateTime<Utc>,
    /// Today's date: vaccinations due from it ...
    pub today: NaiveDate,
    /// ... to this date (inclusive).
    pub due_by: NaiveDate,
}

/// Every panel the actor may see; `None` where a permission is missing.
#[derive(Debug, Clone, PartialEq)]
pub struct Panels {
    /// Today's appointments (`appointments.read`).
    pub day_book: Option<DayBook>,
    /// The actor's open encounters awaiting finalisation (`records.read`).
    pub open_encounters: Option<OpenEncounters>,
    /// Vaccinations due in the window (`records.read`).
    pub vaccinations_due: Option<Listed<DueVaccination>>,
    /// Members whose sign-in is locked now (`staff.manage`).
    pub locked: Option<Vec<LockedSignIn>>,
    /// Role changes of the last week (`audit.read`).
    pub role_changes: Option<Listed<RoleChange>>,
    /// The audit chain's status (`audit.read`).
    pub chain: Option<ChainStatus>,
}

/// Up to [`PANEL_LIMIT`] rows and how many there are in all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed<T> {
    /// The rows shown.
    pub rows: Vec<T>,
    /// Every matching row, shown or not.
    pub total: i64,
}

/// Reads the panels `tx`'s actor may see, in one transaction.
pub async fn panels(tx: &mut TenantTx, window: &Window) -> Result<Panels, StoreError> {
    let may = |permission| tx.require(permission).is_ok();
    let (book, records, staff, audit) = (
        may(Permission::AppointmentsRead),
        may(Permission::RecordsRead),
        may(Permission::StaffManage),
        may(Permission::AuditRead),
    );
    // First, before this view records its own reads, which would count as pending.
    let chain = if audit {
        Some(chain_status(tx).await?)
    } else {
        None
    };
    Ok(Panels {
        day_book: if book {
            Some(day_book(tx, window).await?)
        } else {
            None
        },
        open_encounters: if records {
            Some(open_encounters(tx, window.now).await?)
        } else {
            None
        },
        vaccinations_due: if records {
            Some(vaccinations_due(tx, window.today, window.due_by).await?)
        } else {
            None
        },
        locked: if staff {
            Some(locked_sign_ins(tx, window.now).await?)
        } else {
            None
        },
        role_changes: if audit {
            Some(role_changes(tx, window.now - SECURITY_LOOKBACK).await?)
        } else {
            None
        },
        chain,
    })
}

/// The day's live appointments and how many stand at each status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayBook {
    /// By start time, at most `bookings::list`'s page of 200.
    pub appointments: Vec<Appointment>,
    /// Whether the day has more than those.
    pub more: bool,
    /// How many of the day's appointments stand at each status (every one counted).
    pub by_status: Vec<(String, i64)>,
}

impl DayBook {
    /// How many stand at `status`.
    pub fn count(&self, status: &str) -> i64 {
        self.by_status
            .iter()
            .find(|(s, _)| s == status)
            .map_or(0, |(_, n)| *n)
    }
}

/// Today's live appointments (`appointments.read`), as the calendar lists them.
pub async fn day_book(tx: &mut TenantTx, window: &Window) -> Result<DayBook, StoreError> {
    tx.require(Permission::AppointmentsRead)?;
    let range = RangeQuery {
        from: Some(window.day_from),
        to: Some(window.day_to),
        ..RangeQuery::default()
    };
    let page = bookings::list(tx, &range, crate::page::MAX_LIMIT, None).await?;
    let by_status = sqlx::query_as(
        "select status, count(*) from appointments
          where deleted_at is null and ends_at > $1 and starts_at < $2
          group by status order by status",
    )
    .bind(window.day_from)
    .bind(window.day_to)
    .fetch_all(tx.conn())
    .await?;
    Ok(DayBook {
        more: page.next_cursor.is_some(),
        appointments: page.items,
        by_status,
    })
}

/// An open encounter and when it locks.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OpenEncounter {
    /// The encounter.
    pub id: Uuid,
    /// The patient.
    pub patient_id: Uuid,
    /// The patient's name.
    pub patient_name: String,
    /// The kind of visit.
    pub kind: String,
    /// When the visit started.
    pub started_at: DateTime<Utc>,
    /// When it locks by itself unless finalised first.
    pub lock_after: DateTime<Utc>,
}

/// The actor's open encounters and the practice's editing period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenEncounters {
    /// Soonest to lock first.
    pub listed: Listed<OpenEncounter>,
    /// Hours after opening an encounter locks (encounters keep the deadline they
    /// were opened with, so this is what new ones get).
    pub lock_hours: i32,
}

/// The encounters the actor attends (or opened without naming a vet) that are still
/// open and editable at `now`, soonest to lock first (`records.read`). Audited as a
/// `read` of each patient shown (view `open_encounters`).
pub async fn open_encounters(
    tx: &mut TenantTx,
    now: DateTime<Utc>,
) -> Result<OpenEncounters, StoreError> {
    tx.require(Permission::RecordsRead)?;
    let lock_hours = crate::staff::record_settings::get(tx)
        .await?
        .encounter_lock_hours;
    let Some(me) = actor_user(tx) else {
        return Ok(OpenEncounters {
            listed: Listed {
                rows: Vec::new(),
                total: 0,
            },
            lock_hours,
        });
    };
    let rows: Vec<OpenEncounterRow> = sqlx::query_as(
        "select count(*) over () as total, e.id, e.patient_id, p.name as patient_name, e.kind,
                e.started_at, e.lock_after
           from encounters e
           join patients p on p.practice_id = e.practice_id and p.id = e.patient_id
          where e.status = 'open' and e.lock_after > $1 and p.deleted_at is null
            and coalesce(e.attending_id, e.created_by) = $2
          order by e.lock_after, e.id
          limit $3",
    )
    .bind(now)
    .bind(me.as_uuid())
    .bind(PANEL_LIMIT)
    .fetch_all(tx.conn())
    .await?;
    let total = rows.first().map_or(0, |row| row.total);
    let rows: Vec<OpenEncounter> = rows.into_iter().map(OpenEncounter::from).collect();
    record_views(tx, rows.iter().map(|e| e.patient_id), "open_encounters").await?;
    Ok(OpenEncounters {
        listed: Listed { rows, total },
        lock_hours,
    })
}

#[derive(sqlx::FromRow)]
struct OpenEncounterRow {
    total: i64,
    id: Uuid,
    patient_id: Uuid,
    patient_name: String,
    kind: String,
    started_at: DateTime<Utc>,
    lock_after: DateTime<Utc>,
}

impl From<OpenEncounterRow> for OpenEncounter {
    fn from(row: OpenEncounterRow) -> Self {
        OpenEncounter {
            id: row.id,
            patient_id: row.patient_id,
            patient_name: row.patient_name,
            kind: row.kind,
            started_at: row.started_at,
            lock_after: row.lock_after,
        }
    }
}

/// A vaccine whose latest dose falls due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueVaccination {
    /// The latest dose.
    pub vaccination_id: Uuid,
    /// The patient.
    pub patient_id: Uuid,
    /// The patient's name.
    pub patient_name: String,
    /// The vaccine.
    pub vaccine: String,
    /// When the next dose is due.
    pub due_on: NaiveDate,
}

#[derive(sqlx::FromRow)]
struct DueRow {
    total: i64,
    vaccination_id: Uuid,
    patient_id: Uuid,
    patient_name: String,
    vaccine: String,
    due_on: NaiveDate,
}

/// Vaccines of live, active patients whose latest dose is due from `from` to `to`
/// (inclusive), soonest first (`records.read`). A later dose of the same vaccine
/// replaces an earlier one's due date, as on the chart. Audited as a `read` of each
/// patient shown (view `vaccinations_due`).
pub async fn vaccinations_due(
    tx: &mut TenantTx,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Listed<DueVaccination>, StoreError> {
    tx.require(Permission::RecordsRead)?;
    // The due-date index finds the candidates; each is then checked for a later dose.
    let rows: Vec<DueRow> = sqlx::query_as(
        "select count(*) over () as total, v.id as vaccination_id, v.patient_id,
                p.name as patient_name, v.vaccine, v.next_due_on as due_on
           from vaccinations v
           join patients p on p.practice_id = v.practice_id and p.id = v.patient_id
          where v.next_due_on between $1 and $2
            and p.deleted_at is null and p.status = 'active'
            and not exists (
                select 1 from vaccinations later
                 where later.practice_id = v.practice_id and later.patient_id = v.patient_id
                   and lower(later.vaccine) = lower(v.vaccine)
                   and (later.given_on, later.id) > (v.given_on, v.id))
          order by v.next_due_on, p.name, v.id
          limit $3",
    )
    .bind(from)
    .bind(to)
    .bind(PANEL_LIMIT)
    .fetch_all(tx.conn())
    .await?;
    let total = rows.first().map_or(0, |row| row.total);
    let rows: Vec<DueVaccination> = rows
        .into_iter()
        .map(|row| DueVaccination {
            vaccination_id: row.vaccination_id,
            patient_id: row.patient_id,
            patient_name: row.patient_name,
            vaccine: row.vaccine,
            due_on: row.due_on,
        })
        .collect();
    record_views(tx, rows.iter().map(|v| v.patient_id), "vaccinations_due").await?;
    Ok(Listed { rows, total })
}

/// Records one `read` of each patient among `patients` (in the order first shown),
/// naming `view`, as the chart records the views of a patient's record.
async fn record_views(
    tx: &mut TenantTx,
    patients: impl Iterator<Item = Uuid>,
    view: &str,
) -> Result<(), StoreError> {
    let mut seen = BTreeSet::new();
    for patient in patients.filter(|p| seen.insert(*p)) {
        let event = AuditEvent::on(AuditAction::Read, "patient", patient)
            .with_changes(json!({ "view": view }));
        record(tx, event, None).await?;
    }
    Ok(())
}

/// A member who cannot sign in now (at least not from one address).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LockedSignIn {
    /// The person.
    pub user_id: Uuid,
    /// Their name.
    pub display_name: String,
    /// Until when.
    pub locked_until: DateTime<Utc>,
    /// `account` (every address) or `source` (the address the failures came from).
    pub scope: String,
}

/// Active members whose sign-in is locked at `now`, soonest to unlock first
/// (`staff.manage`). The failure counters are keyed by hashed email and belong to no
/// practice, so the lock is read where the practice sees it: its trail's `lockout`
/// events (which carry `locked_until` and `scope`) not lifted since by the owner's
/// unlock link (`account_unlock` lifts an account lock, and a source lock of the
/// address it was used from). Nothing of the trail is shown but the lock itself.
pub async fn locked_sign_ins(
    tx: &mut TenantTx,
    now: DateTime<Utc>,
) -> Result<Vec<LockedSignIn>, StoreError> {
    tx.require(Permission::StaffManage)?;
    let practice = tx.practice_id();
    Ok(sqlx::query_as(&format!(
        "with members as (
             select m.user_id, u.display_name from memberships m join users u on u.id = m.user_id
              where m.status = 'active'),
         trail as ({})
         select distinct on (l.entity_id, l.scope) l.entity_id as user_id, m.display_name,
                l.locked_until, l.scope
           from (select t.id, t.entity_id, t.ip, t.changes->>'scope' as scope,
                        (t.changes->>'locked_until')::timestamptz as locked_until
                   from trail t where t.action = $4) l
           join members m on m.user_id = l.entity_id
          where l.locked_until > $3
            and not exists (select 1 from trail u
                             where u.action = $5 and u.entity_id = l.entity_id
                               and u.id > l.id
                               and (l.scope = 'account' or u.ip is not distinct from l.ip))
          order by l.entity_id, l.scope, l.locked_until desc",
        user_trail("entity_id in (select user_id from members)"),
    ))
    .bind(practice.as_uuid())
    .bind(first_id_at(now - SECURITY_LOOKBACK))
    .bind(now)
    .bind(AuditAction::Lockout.as_str())
    .bind(AuditAction::AccountUnlock.as_str())
    .fetch_all(tx.conn())
    .await
    .map(|mut rows: Vec<LockedSignIn>| {
        rows.sort_by(|a, b| {
            (a.locked_until, &a.display_name).cmp(&(b.locked_until, &b.display_name))
        });
        rows
    })?)
}

/// The practice's (`$1`) lockout (`$4`) and unlock (`$5`) events about users matching
/// `members`, since the event id `$2`: sealed events through the entity index, the few awaiting
/// the sealer through the unsealed index (the lookup indexes cover sealed events only).
fn user_trail(members: &str) -> String {
    let branch = |sealed: &str| {
        format!(
            "select e.id, e.entity_id, e.action, e.changes, e.ip from audit_events e
              where e.practice_id = $1 and e.seq {sealed} and e.entity_type = 'user'
                and e.{members} and e.action in ($4, $5) and e.id >= $2"
        )
    };
    format!("{} union all {}", branch("is not null"), branch("is null"))
}

/// A member's role change, as the trail recorded it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RoleChange {
    /// When.
    pub occurred_at: DateTime<Utc>,
    /// Whose role changed.
    pub member_name: Option<String>,
    /// The role before.
    pub from_role: Option<String>,
    /// The role after.
    pub to_role: Option<String>,
    /// Who changed it.
    pub by_name: Option<String>,
}

#[derive(sqlx::FromRow)]
struct RoleChangeRow {
    total: i64,
    occurred_at: DateTime<Utc>,
    member_name: Option<String>,
    from_role: Option<String>,
    to_role: Option<String>,
    by_name: Option<String>,
}

/// The practice's role changes since `since`, newest first (`audit.read`). Reading
/// them out of the trail is recorded like any listing of it (a `read` of the
/// `audit_log`); role names are not among the values the trail redacts.
pub async fn role_changes(
    tx: &mut TenantTx,
    since: DateTime<Utc>,
) -> Result<Listed<RoleChange>, StoreError> {
    tx.require(Permission::AuditRead)?;
    let practice = tx.practice_id();
    let branch = |sealed: &str| {
        format!(
            "select e.id, e.occurred_at, e.entity_id, e.actor_user_id, e.changes
               from audit_events e
              where e.practice_id = $1 and e.seq {sealed} and e.entity_type = 'membership'
                and e.entity_id in (select id from memberships)
                and e.action = $4 and e.id >= $2"
        )
    };
    let rows: Vec<RoleChangeRow> = sqlx::query_as(&format!(
        "select count(*) over () as total, c.occurred_at, u.display_name as member_name,
                c.changes->'role'->>0 as from_role, c.changes->'role'->>1 as to_role,
                a.display_name as by_name
           from ({} union all {}) c
           left join memberships m on m.id = c.entity_id
           left join users u on u.id = m.user_id
           left join users a on a.id = c.actor_user_id
          order by c.id desc
          limit $3",
        branch("is not null"),
        branch("is null"),
    ))
    .bind(practice.as_uuid())
    .bind(first_id_at(since))
    .bind(PANEL_LIMIT)
    .bind(AuditAction::RoleChange.as_str())
    .fetch_all(tx.conn())
    .await?;
    let total = rows.first().map_or(0, |row| row.total);
    let rows: Vec<RoleChange> = rows
        .into_iter()
        .map(|row| RoleChange {
            occurred_at: row.occurred_at,
            member_name: row.member_name,
            from_role: row.from_role,
            to_role: row.to_role,
            by_name: row.by_name,
        })
        .collect();
    let event = AuditEvent {
        action: AuditAction::Read,
        entity_type: Some("audit_log"),
        entity_id: None,
        changes: Some(json!({
            "events": rows.len(),
            "redacted": false,
            "filter": { "action": AuditAction::RoleChange.as_str(), "from": since },
        })),
    };
    record(tx, event, None).await?;
    Ok(Listed { rows, total })
}

/// Where the practice's hash chain stands, without verifying it (that is
/// `paddock audit verify` or `GET /api/v1/audit/verify`: a walk over every event).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainStatus {
    /// The last sealed event's sequence number (none before the first seal).
    pub sealed_seq: Option<i64>,
    /// When that event happened: the chain covers everything up to it.
    pub sealed_up_to: Option<DateTime<Utc>>,
    /// Committed events the sealer has not chained yet.
    pub pending: i64,
    /// When the oldest of them happened.
    pub oldest_pending: Option<DateTime<Utc>>,
}

/// The chain's head and backlog (`audit.read`): two index lookups.
pub async fn chain_status(tx: &mut TenantTx) -> Result<ChainStatus, StoreError> {
    tx.require(Permission::AuditRead)?;
    let practice = tx.practice_id();
    let head: Option<(i64, DateTime<Utc>)> = sqlx::query_as(
        "select seq, occurred_at from audit_events
          where practice_id = $1 and seq is not null order by seq desc limit 1",
    )
    .bind(practice.as_uuid())
    .fetch_optional(tx.conn())
    .await?;
    let (pending, oldest_pending): (i64, Option<DateTime<Utc>>) = sqlx::query_as(
        "select count(*), min(occurred_at) from audit_events
          where practice_id = $1 and seq is null",
    )
    .bind(practice.as_uuid())
    .fetch_one(tx.conn())
    .await?;
    Ok(ChainStatus {
        sealed_seq: head.map(|(seq, _)| seq),
        sealed_up_to: head.map(|(_, at)| at),
        pending,
        oldest_pending,
    })
}

/// The practices the actor may switch to (active memberships), by name.
///
/// A user's memberships elsewhere are visible only to a transaction that names the
/// user in `app.auth_user_id` (the sign-in policies); this names the actor for the one
/// query and clears the setting again, so nothing read later in the transaction sees
/// another practice's row.
pub async fn own_practices(tx: &mut TenantTx) -> Result<Vec<(PracticeId, String)>, StoreError> {
    let Some(me) = actor_user(tx) else {
        return Ok(Vec::new());
    };
    sqlx::query("select set_config('app.auth_user_id', $1, true)")
        .bind(me.to_string())
        .execute(tx.conn())
        .await?;
    // Cleared whatever the query answered; an error is returned after that.
    let rows: Result<Vec<(Uuid, String)>, sqlx::Error> = sqlx::query_as(
        "select p.id, p.name from memberships m
           join practices p on p.id = m.practice_id and p.deleted_at is null
          where m.user_id = $1 and m.status = 'active'
          order by p.name, p.id",
    )
    .bind(me.as_uuid())
    .fetch_all(tx.conn())
    .await;
    sqlx::query("select set_config('app.auth_user_id', '', true)")
        .execute(tx.conn())
        .await?;
    Ok(rows?
        .into_iter()
        .map(|(id, name)| (PracticeId::from_uuid(id), name))
        .collect())
}

/// The acting member's user id (none for system actors).
fn actor_user(tx: &TenantTx) -> Option<UserId> {
    match tx.actor() {
        crate::tenant::Actor::Member(principal) => Some(principal.user_id()),
        crate::tenant::Actor::System => None,
    }
}

/// The smallest UUIDv7 of the millisecond `at`: every event id from then on sorts at
/// or after it, so a time bound becomes a range on the indexes ending in the id.
fn first_id_at(at: DateTime<Utc>) -> Uuid {
    let millis = u128::try_from(at.timestamp_millis()).unwrap_or(0);
    // 48 bits of time, the version (7), then the RFC 9562 variant (0b10); the rest zero.
    Uuid::from_u128((millis << 80) | (0x7 << 76) | (0x2 << 62))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_id_of_a_millisecond_sorts_before_every_id_made_in_it_and_after() {
        let at = DateTime::from_timestamp_millis(1_796_000_000_123).unwrap();
        let bound = first_id_at(at);
        assert_eq!(bound.get_version_num(), 7);
        assert_eq!(bound.get_variant(), uuid::Variant::RFC4122);
        let ts = |ms: u64| {
            uuid::Timestamp::from_unix(uuid::NoContext, ms / 1000, ((ms % 1000) * 1_000_000) as u32)
        };
        assert!(Uuid::new_v7(ts(1_796_000_000_123)) >= bound);
        assert!(Uuid::new_v7(ts(1_796_000_000_124)) > bound);
        assert!(Uuid::new_v7(ts(1_796_000_000_122)) < bound);
    }
}
