//! The audit trail's work shared by its API route and its page: parsing a request for
//! one page of events (every bad, unknown or repeated parameter reported under its own
//! name) and fetching that page with the cursor of the next.

use crate::input;
use chrono::{DateTime, Utc};
use paddock_domain::{AuditAction, FieldError, FieldErrors, PracticeZone};
use paddock_store::audit::log::{self, AuditFilter, AuditRecord};
use paddock_store::{StoreError, TenantTx};
use uuid::Uuid;

/// Events per page when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 50;

/// The most events one page may hold.
pub const MAX_LIMIT: u32 = 200;

/// The longest `entity_type` filter accepted.
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
    /// RFC 3339, or a calendar date of the practice (the page's date inputs): `from`
    /// is the start of that practice day and `to` includes the whole day it names (23
    /// or 25 hours on the days the clocks change).
    Rfc3339OrDate(PracticeZone),
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
                "actor" => filter.actor = errors.check(input::uuid(name, value)),
                "entity_id" => filter.entity_id = errors.check(input::uuid(name, value)),
                "entity_type" => filter.entity_type = errors.check(parse_code(name, value)),
                "action" => filter.action = errors.check(AuditAction::parse(name, value)),
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

/// An entity type: short, lower-case, as the trail writes them.
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
    if let TimeSyntax::Rfc3339OrDate(zone) = times
        && let Ok(date) = paddock_domain::calendar::date(field, value)
    {
        // `to` is exclusive; a date names the last day wanted, so stop after it.
        let (start, after) = zone.day_bounds(date);
        return Ok(if end { after } else { start });
    }
    let expected = match times {
        TimeSyntax::Rfc3339 => {
            "must be an RFC 3339 time such as 2026-01-31T09:00:00Z (a `+` offset must be sent as %2B)"
        }
        TimeSyntax::Rfc3339OrDate(_) => {
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

/// The cursor of a page that ends with the event `id` (the store's one cursor type,
/// keyed by the id alone). Clients should treat it as opaque; its form may change.
pub fn encode_cursor(id: Uuid) -> String {
    input::id_cursor_text(id)
}

fn decode_cursor(value: &str) -> Result<Uuid, FieldError> {
    input::id_cursor("cursor", value)
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

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

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
        assert_eq!(query.filter.action, Some(AuditAction::RoleChange));
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
            TimeSyntax::Rfc3339OrDate(PracticeZone::UTC),
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
            fields(
                &[("to", "+262142-12-31")],
                TimeSyntax::Rfc3339OrDate(PracticeZone::UTC)
            ),
            ["to"]
        );
    }

    #[test]
    fn page_dates_are_the_practices_days_even_when_the_clocks_change() {
        let london = PracticeZone::parse("time_zone", "Europe/London").unwrap();
        // The clocks go forward on 29 March 2026: that day is 23 hours long.
        let query = EventQuery::parse(
            &pairs(&[("from", "2026-03-29"), ("to", "2026-03-29")]),
            TimeSyntax::Rfc3339OrDate(london),
        )
        .unwrap();
        assert_eq!(
            query.filter.from.unwrap().to_rfc3339(),
            "2026-03-29T00:00:00+00:00"
        );
        assert_eq!(
            query.filter.to.unwrap().to_rfc3339(),
            "2026-03-29T23:00:00+00:00"
        );
        // A summer day starts at 23:00 UTC the evening before.
        let query = EventQuery::parse(
            &pairs(&[("from", "2026-07-01")]),
            TimeSyntax::Rfc3339OrDate(london),
        )
        .unwrap();
        assert_eq!(
            query.filter.from.unwrap().to_rfc3339(),
            "2026-06-30T23:00:00+00:00"
        );
    }

    #[test]
    fn the_action_filter_is_an_audited_action_or_refused() {
        let query =
            EventQuery::parse(&pairs(&[("action", "login_failed")]), TimeSyntax::Rfc3339).unwrap();
        assert_eq!(query.filter.action, Some(AuditAction::LoginFailed));
        for unknown in ["logins", "Login", "role-change", "drop_table"] {
            assert_eq!(
                fields(&[("action", unknown)], TimeSyntax::Rfc3339),
                ["action"],
                "{unknown}"
            );
        }
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
