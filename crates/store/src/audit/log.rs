//! Reading the audit trail: the filtered, paginated list staff see, and exports.
//!
//! The trail records field values, and some of them are the very contents other
//! permissions guard: SOAP notes, allergies, drugs and results (`records.read`), a
//! client's contact details (`clients.read`). Whoever reads the trail without those
//! permissions sees who changed which field and when, with each such value shown as
//! `"changed"`. The redaction happens here, where every reader's path (API, page,
//! export) passes, and reading the trail is itself recorded in it.

use crate::audit::{AuditAction, AuditEvent, record};
use crate::tenant::{Actor, TenantTx};
use crate::{AdminDb, StoreError};
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use paddock_domain::{Permission, PracticeId};
use serde::Serialize;
use serde_json::{Value, json};
use sqlx::{PgConnection, Postgres, QueryBuilder};
use uuid::Uuid;

/// Which events to list; every field narrows the list, `None` leaves it open.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    /// Events by this user.
    pub actor: Option<Uuid>,
    /// Events about this kind of entity (`membership`, `session`, ...).
    pub entity_type: Option<String>,
    /// Events about this entity.
    pub entity_id: Option<Uuid>,
    /// Events of this action (`update`, `login`, ...).
    pub action: Option<AuditAction>,
    /// Events at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Events before this time.
    pub to: Option<DateTime<Utc>>,
}

/// One audit event as people and exports see it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct AuditRecord {
    /// Position in the practice's chain; `None` until sealed (within a second).
    pub seq: Option<i64>,
    /// The event's id (UUIDv7: sorts by time).
    pub id: Uuid,
    /// When it happened (database clock).
    pub occurred_at: DateTime<Utc>,
    /// `user`, `system` or `client`.
    pub actor_kind: String,
    /// The acting user.
    pub actor_user_id: Option<Uuid>,
    /// The acting user's name, when they are or were on this practice's staff.
    pub actor_name: Option<String>,
    /// Their role at that moment.
    pub actor_role: Option<String>,
    /// What happened: `create`, `update`, `delete`, `read`, `login`, `role_change`, ...
    pub action: String,
    /// The kind of thing acted on.
    pub entity_type: Option<String>,
    /// Its id.
    pub entity_id: Option<Uuid>,
    /// Field-level changes: `{field: [old, new]}`, secrets only as `"changed"`.
    pub changes: Option<Value>,
    /// Client address.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Request id (matches the server's logs).
    pub request_id: Option<String>,
    /// The chain hash, lower-case hex; `None` until sealed.
    pub hash: Option<String>,
}

/// The fields of [`AuditRecord`], from events `e` joined with their actor `u`.
const RECORD_FIELDS: &str = "e.seq, e.id, e.occurred_at, e.actor_kind, e.actor_user_id,
       u.display_name as actor_name, e.actor_role, e.action, e.entity_type, e.entity_id,
       e.changes, host(e.ip) as ip, e.user_agent, e.request_id,
       encode(e.hash, 'hex') as hash";

/// Joins each event with its actor's name.
const ACTOR_JOIN: &str = "left join users u on u.id = e.actor_user_id";

fn push_filter(query: &mut QueryBuilder<'_, Postgres>, filter: &AuditFilter) {
    if let Some(actor) = filter.actor {
        query.push(" and e.actor_user_id = ").push_bind(actor);
    }
    if let Some(entity_type) = &filter.entity_type {
        query
            .push(" and e.entity_type = ")
            .push_bind(entity_type.clone());
    }
    if let Some(entity_id) = filter.entity_id {
        query.push(" and e.entity_id = ").push_bind(entity_id);
    }
    if let Some(action) = filter.action {
        query.push(" and e.action = ").push_bind(action.as_str());
    }
    if let Some(from) = filter.from {
        query.push(" and e.occurred_at >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        query.push(" and e.occurred_at < ").push_bind(to);
    }
}

/// The medical-record entity types, whose values need `records.read`.
const RECORD_ENTITIES: [&str; 7] = [
    "encounter",
    "encounter_addendum",
    "vital_signs",
    "problem",
    "allergy",
    "prescription",
    "vaccination",
];

/// The fields of a medical record that say who, when and in what state, never what was
/// found or given: shown to every reader of the trail. Every other field (and any
/// field added later) is redacted for readers without `records.read`.
const RECORD_FIELDS_SHOWN: [&str; 21] = [
    "id",
    "patient_id",
    "encounter_id",
    "kind",
    "status",
    "started_at",
    "attending_id",
    "lock_after",
    "finalised_at",
    "finalised_by",
    "recorded_at",
    "prescriber_id",
    "starts_on",
    "administered_by",
    "given_on",
    "next_due_on",
    "onset_on",
    "resolved_on",
    "active",
    "deleted_at",
    "user_id",
];

/// The fields of a client shown to readers without `clients.read`: who the client is,
/// not how to reach them (nor their balance or notes).
const CLIENT_FIELDS_SHOWN: [&str; 7] = [
    "id",
    "given_name",
    "family_name",
    "contact_by_email",
    "contact_by_sms",
    "reminders",
    "deleted_at",
];

/// What one reader may see of the values the trail recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Disclosure {
    records: bool,
    clients: bool,
}

impl Disclosure {
    /// The actor's: a member by their permissions, the system (admin exports) in full.
    fn of(actor: &Actor) -> Self {
        match actor {
            Actor::Member(principal) => Self {
                records: principal.permissions().contains(Permission::RecordsRead),
                clients: principal.permissions().contains(Permission::ClientsRead),
            },
            Actor::System => Self {
                records: true,
                clients: true,
            },
        }
    }

    fn is_full(self) -> bool {
        self.records && self.clients
    }

    /// The fields of `entity_type` this reader sees; `None` when they see all.
    fn shown(self, entity_type: Option<&str>) -> Option<&'static [&'static str]> {
        match entity_type {
            Some(kind) if !self.records && RECORD_ENTITIES.contains(&kind) => {
                Some(&RECORD_FIELDS_SHOWN)
            }
            Some("client") if !self.clients => Some(&CLIENT_FIELDS_SHOWN),
            _ => None,
        }
    }

    /// Replaces with `"changed"` each value of `record` this reader may not see,
    /// keeping the field names.
    fn apply(self, record: &mut AuditRecord) {
        let Some(shown) = self.shown(record.entity_type.as_deref()) else {
            return;
        };
        match &mut record.changes {
            None | Some(Value::Null) => {}
            Some(Value::Object(fields)) => {
                for (field, value) in fields.iter_mut() {
                    if !shown.contains(&field.as_str()) {
                        *value = Value::String("changed".to_owned());
                    }
                }
            }
            Some(other) => *other = Value::String("changed".to_owned()),
        }
    }
}

/// A page of the trail: the events, and whether older ones match too.
#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    /// Newest first.
    pub records: Vec<AuditRecord>,
    /// Whether there are more, older events matching the filter.
    pub more: bool,
}

/// Up to `limit` events of the practice matching `filter`, newest first, older than the
/// event `before` when given (cursor pagination), with record contents and contact
/// details redacted for a reader without the permission to read them. Needs
/// `audit.read`; the listing is recorded as a `read` of the `audit_log`.
pub async fn list(
    tx: &mut TenantTx,
    filter: &AuditFilter,
    before: Option<Uuid>,
    limit: u32,
) -> Result<Listing, StoreError> {
    tx.require(Permission::AuditRead)?;
    let disclosure = Disclosure::of(tx.actor());
    // One more than asked for tells whether another page exists.
    let mut records = fetch_newest(tx, filter, before, limit.saturating_add(1)).await?;
    let wanted = usize::try_from(limit).unwrap_or(usize::MAX);
    let more = records.len() > wanted;
    records.truncate(wanted);
    for record in &mut records {
        disclosure.apply(record);
    }
    let event = AuditEvent {
        action: AuditAction::Read,
        entity_type: Some("audit_log"),
        entity_id: None,
        changes: Some(json!({
            "events": records.len(),
            "redacted": !disclosure.is_full(),
            "filter": {
                "actor": filter.actor,
                "entity_type": filter.entity_type,
                "entity_id": filter.entity_id,
                "action": filter.action.map(AuditAction::as_str),
                "from": filter.from,
                "to": filter.to,
                "before": before,
            },
        })),
    };
    record(tx, event, None).await?;
    Ok(Listing { records, more })
}

async fn fetch_newest(
    tx: &mut TenantTx,
    filter: &AuditFilter,
    before: Option<Uuid>,
    limit: u32,
) -> Result<Vec<AuditRecord>, StoreError> {
    let practice = tx.practice_id();
    // Sealed events and those awaiting the sealer are looked up apart, each branch with
    // the index that covers it (the lookup indexes hold sealed events only).
    let mut query = QueryBuilder::new(format!("select {RECORD_FIELDS} from ("));
    for (branch, sealed) in ["is not null", "is null"].into_iter().enumerate() {
        if branch > 0 {
            query.push(" union all ");
        }
        query
            .push("(select * from audit_events e where e.practice_id = ")
            .push_bind(practice.as_uuid())
            .push(format!(" and e.seq {sealed}"));
        push_filter(&mut query, filter);
        if let Some(before) = before {
            query.push(" and e.id < ").push_bind(before);
        }
        query
            .push(" order by e.id desc limit ")
            .push_bind(i64::from(limit))
            .push(")");
    }
    query
        .push(format!(") e {ACTOR_JOIN} order by e.id desc limit "))
        .push_bind(i64::from(limit));
    Ok(query.build_query_as().fetch_all(tx.conn()).await?)
}

/// Streams every event of `practice` matching `filter` to `sink`, sealed events in
/// chain order and then those awaiting the sealer; returns how many.
async fn export_on(
    conn: &mut PgConnection,
    practice: PracticeId,
    filter: &AuditFilter,
    disclosure: Disclosure,
    sink: &mut (dyn FnMut(Option<&AuditRecord>) -> std::io::Result<()> + Send),
) -> Result<u64, StoreError> {
    let mut query = QueryBuilder::new(format!(
        "select {RECORD_FIELDS} from audit_events e {ACTOR_JOIN} where e.practice_id = "
    ));
    query.push_bind(practice.as_uuid());
    push_filter(&mut query, filter);
    query.push(" order by e.seq nulls last, e.id");
    let mut rows = query.build_query_as::<AuditRecord>().fetch(conn);
    let mut count = 0;
    while let Some(mut record) = rows.try_next().await? {
        disclosure.apply(&mut record);
        sink(Some(&record)).map_err(StoreError::Export)?;
        count += 1;
    }
    Ok(count)
}

impl AdminDb {
    /// Exports `practice`'s events matching `filter` to `sink`, then calls `sink(None)`
    /// to flush, and only once that succeeded records the export (action `export`) in
    /// the practice's trail; returns how many events were written.
    pub async fn export_audit(
        &self,
        practice: PracticeId,
        filter: &AuditFilter,
        format: &str,
        sink: &mut (dyn FnMut(Option<&AuditRecord>) -> std::io::Result<()> + Send),
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin_system(practice).await?;
        let disclosure = Disclosure::of(tx.actor());
        let count = export_on(tx.conn(), practice, filter, disclosure, sink).await?;
        // An export cut short (a reader that stopped, a full disk) is not recorded as done.
        sink(None).map_err(StoreError::Export)?;
        let event = AuditEvent {
            action: AuditAction::Export,
            entity_type: Some("audit_log"),
            entity_id: None,
            changes: Some(serde_json::json!({
                "format": format,
                "events": count,
                "from": filter.from,
                "to": filter.to,
            })),
        };
        record(&mut tx, event, None).await?;
        tx.commit().await?;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(entity_type: &str, changes: Value) -> AuditRecord {
        AuditRecord {
            seq: None,
            id: Uuid::nil(),
            occurred_at: DateTime::UNIX_EPOCH,
            actor_kind: "user".to_owned(),
            actor_user_id: None,
            actor_name: None,
            actor_role: None,
            action: "create".to_owned(),
            entity_type: Some(entity_type.to_owned()),
            entity_id: None,
            changes: Some(changes),
            ip: None,
            user_agent: None,
            request_id: None,
            hash: None,
        }
    }

    const NEITHER: Disclosure = Disclosure {
        records: false,
        clients: false,
    };

    #[test]
    fn record_contents_show_as_changed_but_who_when_and_state_stay() {
        let mut allergy = event(
            "allergy",
            json!({"substance": [null, "Penicillin"], "patient_id": [null, "p"], "severity": [null, "severe"]}),
        );
        NEITHER.apply(&mut allergy);
        assert_eq!(
            allergy.changes,
            Some(json!({"substance": "changed", "patient_id": [null, "p"], "severity": "changed"}))
        );
        let mut readable = event("allergy", json!({"substance": [null, "Penicillin"]}));
        Disclosure {
            records: true,
            clients: false,
        }
        .apply(&mut readable);
        assert_eq!(
            readable.changes,
            Some(json!({"substance": [null, "Penicillin"]}))
        );
    }

    #[test]
    fn client_contact_details_need_clients_read_and_other_entities_are_untouched() {
        let mut client = event(
            "client",
            json!({"email": ["a@x.example", "b@x.example"], "family_name": ["Okafor", "Reid"]}),
        );
        Disclosure {
            records: true,
            clients: false,
        }
        .apply(&mut client);
        assert_eq!(
            client.changes,
            Some(json!({"email": "changed", "family_name": ["Okafor", "Reid"]}))
        );
        let mut role = event(
            "membership",
            json!({"role": ["Receptionist", "Veterinarian"]}),
        );
        NEITHER.apply(&mut role);
        assert_eq!(
            role.changes,
            Some(json!({"role": ["Receptionist", "Veterinarian"]}))
        );
        let mut odd = event("encounter", json!(["not", "an", "object"]));
        NEITHER.apply(&mut odd);
        assert_eq!(odd.changes, Some(json!("changed")));
    }
}
