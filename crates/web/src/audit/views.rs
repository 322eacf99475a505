//! The audit trail page's template: its filters as typed and the events as shown.

use crate::layout::Nav;
use askama::Template;
use askama_web::WebTemplate;
use uuid::Uuid;

pub struct AuditFilterForm {
    pub action: String,
    pub entity_type: String,
    pub entity_id: String,
    pub actor: String,
    pub from: String,
    pub to: String,
    /// Events per page, when the address set one (kept while paging).
    pub limit: String,
}

/// One event as the audit page shows it.
pub struct AuditRow {
    pub id: Uuid,
    /// `YYYY-MM-DD HH:MM:SS` in the practice's zone.
    pub time: String,
    pub time_iso: String,
    /// The actor's name (or `system`).
    pub actor: String,
    pub actor_role: Option<String>,
    /// The actor's own events.
    pub actor_href: Option<String>,
    pub action: String,
    pub entity_type: Option<String>,
    pub entity_id: Option<Uuid>,
    /// The entity's history.
    pub entity_href: Option<String>,
    /// `field: old → new`, one per changed field.
    pub changes: Vec<String>,
    pub ip: Option<String>,
    pub request_id: Option<String>,
    pub seq: Option<i64>,
}

#[derive(Template, WebTemplate)]
#[template(path = "audit/trail.html")]
pub struct AuditPage {
    pub nav: Nav,
    /// The entity whose history is shown, when the list is filtered to one.
    pub history: Option<(String, Uuid)>,
    pub form: AuditFilterForm,
    pub rows: Vec<AuditRow>,
    pub errors: Vec<String>,
    /// The next, older page, when there is one.
    pub older_href: Option<String>,
    /// Back to the newest events, when paged.
    pub newest_href: Option<String>,
    /// The actions the filter accepts (offered as suggestions).
    pub actions: &'static [paddock_domain::AuditAction],
}
