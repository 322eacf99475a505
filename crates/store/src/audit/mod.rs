//! The audit trail. Row changes of tenant tables are recorded by database triggers
//! (migration `audit_chain`); reads and authentication events are written here, by
//! [`record`], inside the transaction of what they record, so a rolled-back change
//! leaves no event behind. Events are chained per practice by the sealer ([`chain`])
//! and read back through [`log`].

pub mod chain;
pub mod log;

use crate::tenant::{Actor, TenantTx};
use crate::{RequestMeta, StoreError};
/// Re-exported so every writer of an event names its action from here.
pub use paddock_domain::AuditAction;
use paddock_domain::PracticeId;
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

/// What happened, to what.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// `login`, `login_failed`, `logout`, `lockout`, `role_change`, ...
    pub action: AuditAction,
    /// The kind of thing acted on (`user`, `membership`, `session`, ...).
    pub entity_type: Option<&'static str>,
    /// Its id.
    pub entity_id: Option<Uuid>,
    /// Field-level detail (`{field: [old, new]}` for changes), never a secret.
    pub changes: Option<Value>,
}

impl AuditEvent {
    /// An event about one entity.
    pub fn on(action: AuditAction, entity_type: &'static str, entity_id: impl Into<Uuid>) -> Self {
        Self {
            action,
            entity_type: Some(entity_type),
            entity_id: Some(entity_id.into()),
            changes: None,
        }
    }

    /// Adds detail.
    pub fn with_changes(mut self, changes: Value) -> Self {
        self.changes = Some(changes);
        self
    }
}

/// Appends `event` to the practice's trail, with the transaction's actor and request.
/// `subject` names the user acted for when no principal is acting yet (sign-in).
pub async fn record(
    tx: &mut TenantTx,
    event: AuditEvent,
    subject: Option<Uuid>,
) -> Result<(), StoreError> {
    let (actor_user, actor_role) = match tx.actor() {
        Actor::Member(principal) => (
            Some(principal.user_id().as_uuid()),
            Some(principal.role_name().to_owned()),
        ),
        Actor::System => (subject, None),
    };
    let meta = tx.meta().clone();
    let practice_id = tx.practice_id();
    insert_event(tx.conn(), practice_id, actor_user, actor_role, event, &meta).await
}

/// Inserts one event into `practice_id`'s trail, scoping the transaction to it first.
pub(crate) async fn insert_event(
    conn: &mut PgConnection,
    practice_id: PracticeId,
    actor_user: Option<Uuid>,
    actor_role: Option<String>,
    event: AuditEvent,
    meta: &RequestMeta,
) -> Result<(), StoreError> {
    sqlx::query("select set_config('app.practice_id', $1, true)")
        .bind(practice_id.to_string())
        .execute(&mut *conn)
        .await?;
    // The id (a UUIDv7) and the time both come from the database's clock_timestamp(),
    // like those of the events its triggers write, so all events sort on one clock.
    sqlx::query(
        "insert into audit_events
             (practice_id, actor_kind, actor_user_id, actor_role, action, entity_type, entity_id,
              changes, ip, user_agent, request_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9::inet, $10, $11)",
    )
    .bind(practice_id.as_uuid())
    .bind(if actor_user.is_some() {
        "user"
    } else {
        "system"
    })
    .bind(actor_user)
    .bind(actor_role)
    .bind(event.action.as_str())
    .bind(event.entity_type)
    .bind(event.entity_id)
    .bind(event.changes)
    .bind(meta.ip.map(|ip| ip.to_string()))
    .bind(meta.user_agent.as_deref())
    .bind(&meta.request_id)
    .execute(conn)
    .await?;
    Ok(())
}
