//! The audit trail page: the practice's events, filtered and paged with plain links
//! (no JavaScript), each field change shown as `field: old → new`, and every entity
//! linking to its own history. It reads through the same parser and store call as
//! `GET /api/v1/audit/events`, so the page and the API cannot disagree.

use super::service::{EventQuery, TimeSyntax, fetch_page};
use super::views::{AuditFilterForm, AuditPage, AuditRow};
use crate::context::Page;
use crate::format::encode;
use crate::{AppError, AppState};
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use paddock_domain::{AuditAction, Permission, PracticeZone};
use paddock_store::audit::log::AuditRecord;
use serde_json::Value;

/// The audit trail's page route.
pub fn pages() -> axum::Router<AppState> {
    axum::Router::new().route("/audit", axum::routing::get(audit_page))
}

/// Longest a single shown value gets before it is cut (user agents, long lists).
const MAX_SHOWN: usize = 120;

/// `GET /audit`: one page of events for the filters in the address (needs `audit.read`,
/// which the store's read checks). Dates in the filters are the practice's days and
/// times are shown in its zone.
pub(crate) async fn audit_page(
    Page { ctx, nav }: Page,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, AppError> {
    let nav = nav.at("audit");
    let zone = nav.zone;
    let pairs = query.map(|Query(pairs)| pairs).ok();
    let form = AuditFilterForm::from_pairs(pairs.as_deref().unwrap_or_default());
    let parsed = match pairs {
        Some(pairs) => EventQuery::parse(&pairs, TimeSyntax::Rfc3339OrDate(zone)),
        None => Err(paddock_domain::FieldError::new("query", "is not a valid query string").into()),
    };
    let query = match parsed {
        Ok(query) => query,
        Err(errors) => {
            // No store call reads anything here, so the permission is checked here: a
            // bad filter must not show the page to someone without it.
            ctx.require(Permission::AuditRead)?;
            let errors = errors
                .0
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect();
            let body = AuditPage {
                nav,
                history: None,
                form,
                rows: Vec::new(),
                errors,
                older_href: None,
                newest_href: None,
                actions: AuditAction::ALL,
            };
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, body).into_response());
        }
    };
    let (records, next_cursor) = ctx.run(async |tx| fetch_page(tx, &query).await).await?;
    let filters = form.query_string();
    let older_href = next_cursor.map(|cursor| {
        let mut href = format!("/audit?{filters}");
        if !filters.is_empty() {
            href.push('&');
        }
        href.push_str("cursor=");
        href.push_str(&encode(&cursor));
        href
    });
    let newest_href = query.before.map(|_| format!("/audit?{filters}"));
    let history = query
        .filter
        .entity_id
        .map(|id| (query.filter.entity_type.clone().unwrap_or_default(), id));
    Ok(AuditPage {
        nav,
        history,
        form,
        rows: records.into_iter().map(|r| row(r, zone)).collect(),
        errors: Vec::new(),
        older_href,
        newest_href,
        actions: AuditAction::ALL,
    }
    .into_response())
}

impl AuditFilterForm {
    /// The filters as submitted (first value of each), to show them again in the form.
    fn from_pairs(pairs: &[(String, String)]) -> Self {
        let value = |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.trim().to_owned())
                .unwrap_or_default()
        };
        Self {
            action: value("action"),
            entity_type: value("entity_type"),
            entity_id: value("entity_id"),
            actor: value("actor"),
            from: value("from"),
            to: value("to"),
            limit: value("limit"),
        }
    }

    /// The non-empty filters and limit as a query string (no cursor), for paging links.
    fn query_string(&self) -> String {
        let fields = [
            ("action", &self.action),
            ("entity_type", &self.entity_type),
            ("entity_id", &self.entity_id),
            ("actor", &self.actor),
            ("from", &self.from),
            ("to", &self.to),
            ("limit", &self.limit),
        ];
        fields
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| format!("{name}={}", encode(value)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

fn row(r: AuditRecord, zone: PracticeZone) -> AuditRow {
    let (actor, actor_href) = match r.actor_user_id {
        Some(user) => (
            r.actor_name.unwrap_or_else(|| format!("user {user}")),
            Some(format!("/audit?actor={user}")),
        ),
        None => (r.actor_kind, None),
    };
    let entity_href = r.entity_id.map(|id| match &r.entity_type {
        Some(kind) => format!("/audit?entity_type={}&entity_id={id}", encode(kind)),
        None => format!("/audit?entity_id={id}"),
    });
    AuditRow {
        id: r.id,
        time: zone
            .local(r.occurred_at)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string(),
        time_iso: r.occurred_at.to_rfc3339(),
        actor,
        actor_role: r.actor_role,
        actor_href,
        changes: change_lines(&r.action, r.changes.as_ref()),
        action: r.action,
        entity_type: r.entity_type,
        entity_id: r.entity_id,
        entity_href,
        ip: r.ip,
        request_id: r.request_id,
        seq: r.seq,
    }
}

/// An event's changes, one line per field: `field: old → new` for a change (the
/// trail's `{field: [old, new]}` convention), `field: value` for anything else.
fn change_lines(action: &str, changes: Option<&Value>) -> Vec<String> {
    // Events named `<thing>_create` record the new thing's values, not changes: their
    // lists (an API key's scopes, a role's permissions) are not `[old, new]` pairs,
    // even when they happen to hold two entries.
    let snapshot = action.ends_with("_create");
    match changes {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(fields)) => fields
            .iter()
            .map(|(field, value)| match value {
                Value::Array(pair) if !snapshot => match pair.as_slice() {
                    [before, after] => format!("{field}: {} → {}", shown(before), shown(after)),
                    _ => format!("{field}: {}", shown(value)),
                },
                other => format!("{field}: {}", shown(other)),
            })
            .collect(),
        Some(other) => vec![shown(other)],
    }
}

/// A JSON value as a person reads it: text without quotes, nothing as `—`, lists
/// bracketed, long values cut.
fn shown(value: &Value) -> String {
    let text = match value {
        Value::Null => "—".to_owned(),
        Value::String(text) => text.clone(),
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(shown).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    };
    if text.chars().count() > MAX_SHOWN {
        text.chars().take(MAX_SHOWN).chain(['…']).collect()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_field_change_reads_old_arrow_new() {
        let changes = json!({ "lockout_threshold": [10, 5] });
        assert_eq!(
            change_lines("update", Some(&changes)),
            ["lockout_threshold: 10 → 5"]
        );
        let created = json!({ "email": [null, "new@riverside.example"] });
        assert_eq!(
            change_lines("create", Some(&created)),
            ["email: — → new@riverside.example"]
        );
        let role = json!({ "permissions": [["a", "b"], ["a"]] });
        assert_eq!(
            change_lines("role_update", Some(&role)),
            ["permissions: [a, b] → [a]"]
        );
    }

    #[test]
    fn values_that_are_not_changes_read_as_values() {
        let secret = json!({ "password_hash": "changed", "temporary": false });
        assert_eq!(
            change_lines("update", Some(&secret)),
            ["password_hash: changed", "temporary: false"]
        );
        let key = json!({ "scopes": ["clients.read", "staff.manage"] });
        assert_eq!(
            change_lines("api_key_create", Some(&key)),
            ["scopes: [clients.read, staff.manage]"]
        );
        assert!(change_lines("login", None).is_empty());
        assert!(shown(&json!("x".repeat(500))).chars().count() <= MAX_SHOWN + 1);
    }

    #[test]
    fn paging_links_keep_the_filters_encoded() {
        let form = AuditFilterForm::from_pairs(&[
            ("action".to_owned(), "role_change".to_owned()),
            ("from".to_owned(), "2026-01-31T09:00:00+01:00".to_owned()),
            ("to".to_owned(), String::new()),
        ]);
        assert_eq!(
            form.query_string(),
            "action=role_change&from=2026-01-31T09%3A00%3A00%2B01%3A00"
        );
        assert_eq!(encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
    }
}
