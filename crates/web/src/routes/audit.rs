//! The audit trail over HTTP: the practice's events, filtered and paginated, and a
//! verification of its hash chain. Both need `audit.read` (checked here first, and
//! again by the store, which is what actually guards the rows).
//!
//! The list's query string is parsed here rather than by axum's `Query` into a typed
//! struct, so that every bad value answers 422 naming its parameter (a typed `Query`
//! answers a bare 400 for the first one it meets), and so that an unknown or repeated
//! parameter is refused instead of ignored: a misspelt filter must not silently widen
//! an audit query. The staff page at `/audit` parses with the same rules.

use crate::auth::{Auth, Meta};
use crate::context::Ctx;
use crate::{AppError, AppState};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use paddock_domain::{FieldError, FieldErrors, Permission};
use paddock_store::audit::chain::{self, BreakReason, Verification};
use paddock_store::audit::log::{self, AuditFilter, AuditRecord};
use paddock_store::{StoreError, TenantTx};
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

/// Events per page when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 50;
/// The most events one page may hold.
pub const MAX_LIMIT: u32 = 200;
/// The longest `action` or `entity_type` filter accepted.
const MAX_CODE_LEN: usize = 64;

/// The parameters the list understands, in the order error messages name them.
const PARAMETERS: [&str; 8] = [
    "actor",
    "entity_type",
    "entity_id",
    "action",
    "from",
    "to",
    "limit",
    "cursor",
];

/// How `from` and `to` may be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeSyntax {
    /// RFC 3339 only (the JSON API).
    Rfc3339,
    /// RFC 3339, or a calendar date in UTC (the page's date inputs): `from` is the
    /// start of that day and `to` includes the whole day it names.
    Rfc3339OrDate,
}

/// A valid request for one page of events.
#[derive(Debug, Clone, PartialEq)]
pub struct EventQuery {
    /// Which events.
    pub filter: AuditFilter,
    /// Only events older than this one (the decoded cursor).
    pub before: Option<Uuid>,
    /// At most this many events (1 to [`MAX_LIMIT`]).
    pub limit: u32,
}

impl EventQuery {
    /// Parses a query string's `(name, value)` pairs: an empty value counts as absent
    /// (forms send empty fields); every invalid, unknown or repeated parameter is
    /// reported, each under its own name.
    pub fn parse(pairs: &[(String, String)], times: TimeSyntax) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let mut query = EventQuery {
            filter: AuditFilter::default(),
            before: None,
            limit: DEFAULT_LIMIT,
        };
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in pairs {
            let name = name.as_str();
            if !PARAMETERS.contains(&name) {
                errors.0.push(FieldError::new(
                    shortened(name),
                    format!(
                        "is not a parameter of this list (known: {})",
                        PARAMETERS.join(", ")
                    ),
                ));
                continue;
            }
            if seen.contains(&name) {
                errors
                    .0
                    .push(FieldError::new(name, "must be given at most once"));
                continue;
            }
            seen.push(name);
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            let filter = &mut query.filter;
            match name {
                "actor" => filter.actor = errors.check(parse_uuid(name, value)),
                "entity_id" => filter.entity_id = errors.check(parse_uuid(name, value)),
                "entity_type" => filter.entity_type = errors.check(parse_code(name, value)),
                "action" => filter.action = errors.check(parse_code(name, value)),
                "from" => filter.from = errors.check(parse_time(name, value, times, false)),
                "to" => filter.to = errors.check(parse_time(name, value, times, true)),
                "limit" => {
                    if let Some(limit) = errors.check(parse_limit(value)) {
                        query.limit = limit;
                    }
                }
                _ => query.before = errors.check(decode_cursor(value)),
            }
        }
        if let (Some(from), Some(to)) = (query.filter.from, query.filter.to)
            && to <= from
        {
            errors
                .0
                .push(FieldError::new("to", "must be later than `from`"));
        }
        let mut reported = Vec::new();
        errors.0.retain(|e| {
            let fresh = !reported.contains(e);
            if fresh {
                reported.push(e.clone());
            }
            fresh
        });
        errors.into_result().map(|()| query)
    }
}

/// An unknown parameter's name, cut short before it is echoed back.
fn shortened(name: &str) -> String {
    const MAX: usize = 40;
    if name.chars().count() <= MAX {
        name.to_owned()
    } else {
        name.chars().take(MAX).chain(['…']).collect()
    }
}

fn parse_uuid(field: &str, value: &str) -> Result<Uuid, FieldError> {
    Uuid::try_parse(value).map_err(|_| FieldError::new(field, "must be a UUID"))
}

/// An action or entity type: short, lower-case, as the trail writes them.
fn parse_code(field: &str, value: &str) -> Result<String, FieldError> {
    let valid = value.len() <= MAX_CODE_LEN
        && value.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        });
    if valid {
        Ok(value.to_owned())
    } else {
        Err(FieldError::new(
            field,
            format!(
                "must be at most {MAX_CODE_LEN} characters of a-z, 0-9, `_`, `.` and `-` \
                 (for example `role_change` or `membership`)"
            ),
        ))
    }
}

fn parse_time(
    field: &str,
    value: &str,
    times: TimeSyntax,
    end: bool,
) -> Result<DateTime<Utc>, FieldError> {
    // The one date parser of pages and API: years outside its range are refused.
    if let Ok(time) = paddock_domain::calendar::instant(field, value) {
        return Ok(time);
    }
    if times == TimeSyntax::Rfc3339OrDate
        && let Ok(date) = paddock_domain::calendar::date(field, value)
    {
        let day = date.and_time(chrono::NaiveTime::MIN).and_utc();
        // `to` is exclusive; a date names the last day wanted, so stop after it.
        return if end {
            day.checked_add_signed(Duration::days(1))
                .ok_or_else(|| FieldError::new(field, "is too far in the future"))
        } else {
            Ok(day)
        };
    }
    let expected = match times {
        TimeSyntax::Rfc3339 => {
            "must be an RFC 3339 time such as 2026-01-31T09:00:00Z (a `+` offset must be sent as %2B)"
        }
        TimeSyntax::Rfc3339OrDate => {
            "must be a date such as 2026-01-31 or an RFC 3339 time such as 2026-01-31T09:00:00Z"
        }
    };
    Err(FieldError::new(field, expected))
}

fn parse_limit(value: &str) -> Result<u32, FieldError> {
    value
        .parse::<u32>()
        .ok()
        .filter(|limit| (1..=MAX_LIMIT).contains(limit))
        .ok_or_else(|| {
            FieldError::new(
                "limit",
                format!("must be a whole number from 1 to {MAX_LIMIT}"),
            )
        })
}

/// The cursor of a page that ends with the event `id`: its id, base64url-encoded.
/// Clients should treat it as opaque; its form may change.
pub fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn decode_cursor(value: &str) -> Result<Uuid, FieldError> {
    URL_SAFE_NO_PAD
        .decode(value)
        .ok()
        .and_then(|bytes| Uuid::from_slice(&bytes).ok())
        .ok_or_else(|| {
            FieldError::new(
                "cursor",
                "is not a cursor of this list (pass `next_cursor` back unchanged)",
            )
        })
}

/// One page of `query`'s events, newest first, and the cursor of the next page when
/// there are more (needs `audit.read`; the store redacts what the reader may not see
/// and records the reading).
pub async fn fetch_page(
    tx: &mut TenantTx,
    query: &EventQuery,
) -> Result<(Vec<AuditRecord>, Option<String>), StoreError> {
    let listing = log::list(tx, &query.filter, query.before, query.limit).await?;
    let next = listing
        .more
        .then(|| listing.records.last().map(|last| encode_cursor(last.id)))
        .flatten();
    Ok((listing.records, next))
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
        (status = 403, description = "Missing `audit.read`", body = crate::error::Problem, content_type = "application/problem+json"),
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
        (status = 403, description = "Missing `audit.read`", body = crate::error::Problem, content_type = "application/problem+json"),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn fields(items: &[(&str, &str)], times: TimeSyntax) -> Vec<String> {
        match EventQuery::parse(&pairs(items), times) {
            Ok(q) => panic!("accepted: {q:?}"),
            Err(errors) => errors.0.into_iter().map(|e| e.field).collect(),
        }
    }

    #[test]
    fn no_parameters_list_everything_fifty_at_a_time() {
        let query = EventQuery::parse(&[], TimeSyntax::Rfc3339).unwrap();
        assert_eq!(query.filter, AuditFilter::default());
        assert_eq!((query.before, query.limit), (None, DEFAULT_LIMIT));
    }

    #[test]
    fn every_filter_parses_and_empty_values_count_as_absent() {
        let actor = Uuid::now_v7();
        let entity = Uuid::now_v7();
        let query = EventQuery::parse(
            &pairs(&[
                ("actor", &actor.to_string()),
                ("entity_type", "membership"),
                ("entity_id", &entity.to_string()),
                ("action", "role_change"),
                ("from", "2026-01-31T09:00:00+01:00"),
                ("to", "2026-02-01T00:00:00Z"),
                ("limit", "200"),
                ("cursor", &encode_cursor(entity)),
            ]),
            TimeSyntax::Rfc3339,
        )
        .unwrap();
        assert_eq!(query.filter.actor, Some(actor));
        assert_eq!(query.filter.entity_type.as_deref(), Some("membership"));
        assert_eq!(query.filter.entity_id, Some(entity));
        assert_eq!(query.filter.action.as_deref(), Some("role_change"));
        assert_eq!(
            query.filter.from.unwrap().to_rfc3339(),
            "2026-01-31T08:00:00+00:00"
        );
        assert_eq!((query.before, query.limit), (Some(entity), 200));

        let empty = EventQuery::parse(
            &pairs(&[("action", ""), ("entity_id", " "), ("limit", "")]),
            TimeSyntax::Rfc3339,
        )
        .unwrap();
        assert_eq!(empty.filter, AuditFilter::default());
        assert_eq!(empty.limit, DEFAULT_LIMIT);
    }

    #[test]
    fn each_bad_value_is_named() {
        assert_eq!(
            fields(
                &[
                    ("limit", "0"),
                    ("actor", "bob"),
                    ("entity_id", "1234"),
                    ("from", "yesterday"),
                    ("to", "2026-01-31"),
                    ("cursor", "!!"),
                    ("action", "DROP TABLE"),
                    ("entity_type", &"x".repeat(65)),
                ],
                TimeSyntax::Rfc3339
            ),
            [
                "limit",
                "actor",
                "entity_id",
                "from",
                "to",
                "cursor",
                "action",
                "entity_type"
            ]
        );
        for limit in ["201", "-1", "ten", "1.5", "99999999999"] {
            assert_eq!(
                fields(&[("limit", limit)], TimeSyntax::Rfc3339),
                ["limit"],
                "{limit}"
            );
        }
    }

    #[test]
    fn unknown_and_repeated_parameters_are_refused_not_ignored() {
        assert_eq!(
            fields(&[("entity", "membership")], TimeSyntax::Rfc3339),
            ["entity"]
        );
        assert_eq!(
            fields(
                &[("action", "login"), ("action", "logout"), ("action", "x")],
                TimeSyntax::Rfc3339
            ),
            ["action"]
        );
    }

    #[test]
    fn an_empty_or_backwards_time_range_is_refused_on_to() {
        assert_eq!(
            fields(
                &[
                    ("from", "2026-02-01T00:00:00Z"),
                    ("to", "2026-01-01T00:00:00Z")
                ],
                TimeSyntax::Rfc3339
            ),
            ["to"]
        );
    }

    #[test]
    fn the_page_takes_dates_and_includes_the_whole_last_day() {
        let query = EventQuery::parse(
            &pairs(&[("from", "2026-01-31"), ("to", "2026-01-31")]),
            TimeSyntax::Rfc3339OrDate,
        )
        .unwrap();
        assert_eq!(
            query.filter.from.unwrap().to_rfc3339(),
            "2026-01-31T00:00:00+00:00"
        );
        assert_eq!(
            query.filter.to.unwrap().to_rfc3339(),
            "2026-02-01T00:00:00+00:00"
        );
        assert_eq!(
            fields(&[("to", "+262142-12-31")], TimeSyntax::Rfc3339OrDate),
            ["to"]
        );
    }

    #[test]
    fn a_cursor_round_trips_and_anything_else_is_refused() {
        let id = Uuid::now_v7();
        assert_eq!(decode_cursor(&encode_cursor(id)).unwrap(), id);
        let short = URL_SAFE_NO_PAD.encode([1u8; 15]);
        assert!(decode_cursor(&short).is_err());
        assert!(decode_cursor(&id.to_string()).is_err());
    }
}
