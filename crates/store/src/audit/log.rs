//! Reading the audit trail: the filtered, paginated list staff see, and exports.

use crate::tenant::TenantTx;
use crate::{AdminDb, StoreError};
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use paddock_domain::{Permission, PracticeId};
use serde::Serialize;
use serde_json::Value;
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
    pub action: Option<String>,
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
    if let Some(action) = &filter.action {
        query.push(" and e.action = ").push_bind(action.clone());
    }
    if let Some(from) = filter.from {
        query.push(" and e.occurred_at >= ").push_bind(from);
    }
    if let Some(to) = filter.to {
        query.push(" and e.occurred_at < ").push_bind(to);
    }
}

/// Up to `limit` events of the practice matching `filter`, newest first, older than the
/// event `before` when given (cursor pagination). Needs `audit.read`.
pub async fn list(
    tx: &mut TenantTx,
    filter: &AuditFilter,
    before: Option<Uuid>,
    limit: u32,
) -> Result<Vec<AuditRecord>, StoreError> {
    tx.require(Permission::AuditRead)?;
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
    while let Some(record) = rows.try_next().await? {
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
        let count = export_on(tx.conn(), practice, filter, sink).await?;
        // An export cut short (a reader that stopped, a full disk) is not recorded as done.
        sink(None).map_err(StoreError::Export)?;
        let event = super::AuditEvent {
            action: "export",
            entity_type: Some("audit_log"),
            entity_id: None,
            changes: Some(serde_json::json!({
                "format": format,
                "events": count,
                "from": filter.from,
                "to": filter.to,
            })),
        };
        super::record(&mut tx, event, None).await?;
        tx.commit().await?;
        Ok(count)
    }
}
