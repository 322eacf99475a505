//! The audit trail over HTTP: the practice's events, filtered and paginated, and a
//! verification of its hash chain. Both need `audit.read` (checked here first, and
//! again by the store, which is what actually guards the rows).
//!
//! The list's query string is parsed here rather than by axum's `Query` into a typed
//! struct, so that every bad value answers 422 naming its parameter (a typed `Query`
//! answers a bare 400 for the first one it meets), and so that an unknown or repeated
//! parameter is refused instead of ignored: a misspelt filter must not silently widen
//! an audit query. The staff page at `/audit` parses with the same rules.

use super::service::{EventQuery, TimeSyntax, fetch_page};
use crate::context::Ctx;
use crate::context::{Auth, Meta};
use crate::input::Json;
use crate::{AppError, AppState};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use chrono::{DateTime, Utc};
use paddock_domain::{FieldError, FieldErrors, Permission};
use paddock_store::audit::chain::{self, BreakReason, Verification};
use paddock_store::audit::log::AuditRecord;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// The audit routes.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_events))
        .routes(routes!(verify))
}

/// One audit event.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    /// Position in the practice's hash chain; `null` until sealed (within a second).
    pub seq: Option<i64>,
    /// The event's id (UUIDv7, sorts by time).
    pub id: Uuid,
    /// When it happened (server time, UTC).
    pub occurred_at: DateTime<Utc>,
    /// `user`, `system` or `client`.
    pub actor_kind: String,
    /// The acting user.
    pub actor_user_id: Option<Uuid>,
    /// The acting user's display name.
    pub actor_name: Option<String>,
    /// Their role at that moment.
    pub actor_role: Option<String>,
    /// What happened: `create`, `update`, `delete`, `login`, `role_change`, ...
    pub action: String,
    /// The kind of thing acted on (`membership`, `session`, ...).
    pub entity_type: Option<String>,
    /// Its id.
    pub entity_id: Option<Uuid>,
    /// Field-level detail: `{field: [old, new]}` for changes; secrets, and medical
    /// record contents or client contact details to a reader without `records.read` or
    /// `clients.read`, appear only as `"changed"`.
    #[schema(value_type = Option<Object>)]
    pub changes: Option<serde_json::Value>,
    /// Client address.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Request id (matches the server's logs and the `X-Request-Id` answer header).
    pub request_id: Option<String>,
    /// The chain hash, lower-case hex; `null` until sealed.
    pub hash: Option<String>,
}

impl From<AuditRecord> for EventView {
    fn from(r: AuditRecord) -> Self {
        Self {
            seq: r.seq,
            id: r.id,
            occurred_at: r.occurred_at,
            actor_kind: r.actor_kind,
            actor_user_id: r.actor_user_id,
            actor_name: r.actor_name,
            actor_role: r.actor_role,
            action: r.action,
            entity_type: r.entity_type,
            entity_id: r.entity_id,
            changes: r.changes,
            ip: r.ip,
            user_agent: r.user_agent,
            request_id: r.request_id,
            hash: r.hash,
        }
    }
}

/// A page of events.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    /// The events, newest first.
    pub items: Vec<EventView>,
    /// Pass as `cursor` (with the same filters) for the next, older page; `null` when
    /// this page is the last.
    pub next_cursor: Option<String>,
}

/// Lists the practice's audit events, newest first (needs `audit.read`). Filters
/// combine; an empty parameter counts as absent; unknown or repeated parameters are
/// refused.
#[utoipa::path(get, path = "/api/v1/audit/events", tag = "audit",
    params(
        ("actor" = Option<Uuid>, Query, description = "Only events by this user (a user id)."),
        ("entity_type" = Option<String>, Query, description = "Only events about this kind of entity (`membership`, `role`, `session`, ...).", max_length = 64),
        ("entity_id" = Option<Uuid>, Query, description = "Only events about this entity: its history."),
        ("action" = Option<String>, Query, description = "Only events of this action (`update`, `login`, `role_change`, ...).", max_length = 64),
        ("from" = Option<DateTime<Utc>>, Query, description = "Only events at or after this time (RFC 3339)."),
        ("to" = Option<DateTime<Utc>>, Query, description = "Only events before this time (RFC 3339)."),
        ("limit" = Option<u32>, Query, description = "Events per page, 1 to 200 (default 50).", minimum = 1, maximum = 200),
        ("cursor" = Option<String>, Query, description = "The `next_cursor` of the previous page (opaque)."),
    ),
    responses(
        (status = 200, description = "A page of events", body = EventPage),
        crate::responses::MissingAuditRead,
        (status = 422, description = "A parameter is invalid, unknown or repeated (each one named)", body = crate::error::Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_events(
    ctx: Ctx,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<EventPage>, AppError> {
    ctx.principal.require(Permission::AuditRead)?;
    let Query(pairs) = query
        .map_err(|_| FieldErrors::from(FieldError::new("query", "is not a valid query string")))?;
    let query = EventQuery::parse(&pairs, TimeSyntax::Rfc3339)?;
    let (records, next_cursor) = ctx.run(async |tx| fetch_page(tx, &query).await).await?;
    Ok(Json(EventPage {
        items: records.into_iter().map(EventView::from).collect(),
        next_cursor,
    }))
}

/// Whether the chain verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChainStatus {
    /// Every sealed event verified.
    Ok,
    /// The chain is broken; `broken` says where.
    Broken,
}

/// Why the chain is broken at an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BreakKind {
    /// The event was changed after it was sealed.
    Altered,
    /// An event is gone.
    Missing,
    /// Intact events are in a different order from the one they were sealed in.
    Reordered,
}

impl From<BreakReason> for BreakKind {
    fn from(reason: BreakReason) -> Self {
        match reason {
            BreakReason::Altered => Self::Altered,
            BreakReason::Missing => Self::Missing,
            BreakReason::Reordered => Self::Reordered,
        }
    }
}

/// The first place the chain fails to verify.
#[derive(Debug, Serialize, ToSchema)]
pub struct BreakView {
    /// The first sequence number that does not verify.
    pub seq: i64,
    /// Why.
    pub reason: BreakKind,
    /// One sentence for the person investigating.
    pub detail: String,
}

/// The outcome of verifying the practice's hash chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerificationView {
    /// `ok` or `broken`.
    pub status: ChainStatus,
    /// Sealed events that verified (all of them when the status is `ok`).
    pub events: u64,
    /// The last sequence number that verified (0 for an empty chain).
    pub head_seq: i64,
    /// Its hash, lower-case hex.
    pub head_hash: String,
    /// Events recorded but not sealed yet.
    pub pending: i64,
    /// Where and why the chain is broken; `null` when it is not.
    pub broken: Option<BreakView>,
}

impl From<Verification> for VerificationView {
    fn from(v: Verification) -> Self {
        Self {
            status: if v.is_ok() {
                ChainStatus::Ok
            } else {
                ChainStatus::Broken
            },
            events: v.events,
            head_seq: v.head_seq,
            head_hash: v.head_hash,
            pending: v.pending,
            broken: v.broken.map(|b| BreakView {
                seq: b.seq,
                reason: b.reason.into(),
                detail: b.detail,
            }),
        }
    }
}

/// Seals the practice's pending events, then recomputes its whole hash chain and
/// reports the first broken link, if any (needs `audit.read`).
#[utoipa::path(get, path = "/api/v1/audit/verify", tag = "audit",
    responses(
        (status = 200, description = "The verification (a broken chain is still a 200: see `status`)", body = VerificationView),
        crate::responses::MissingAuditRead,
    ))]
pub async fn verify(
    State(state): State<AppState>,
    Meta(meta): Meta,
    auth: Auth,
) -> Result<Json<VerificationView>, AppError> {
    auth.principal.require(Permission::AuditRead)?;
    // Sealed first, then walked in a snapshot that holds no sealing lock.
    let mut tx = chain::begin_verification(&state.db, &auth.principal, &meta).await?;
    let verification = chain::verify_own(&mut tx).await?;
    tx.rollback().await?;
    Ok(Json(verification.into()))
}
