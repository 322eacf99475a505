//! The audit trail over HTTP and on the staff page: `GET /api/v1/audit/events` (filters,
//! cursor pagination, field-level diffs, 422 for every bad parameter),
//! `GET /api/v1/audit/verify`, and `/audit`; all of it only for holders of
//! `audit.read`, and only ever the caller's own practice.

use crate::support::{Anonymous, Answer, CookieUser, RIVERSIDE_ADMIN, TEST_PASSWORD, TestApp};
use axum::http::Method;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeSet;

const DESK_EMAIL: &str = "desk@riverside.example";
const DESK_PASSWORD: &str = "marsh-harrier-31-glides-low";

/// Practice A with its admin signed in, a receptionist who joined by invitation and
/// signed in, and the receptionist then promoted to veterinarian by the admin.
struct Scene {
    env: TestApp,
    admin: CookieUser,
    admin_id: String,
    desk: CookieUser,
    /// The receptionist's membership (the entity of the role change).
    desk_membership: String,
}

async fn scene() -> Scene {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let Answer { body: me, .. } = env
        .request(Method::GET, "/api/v1/me", None, Some(&admin))
        .await;
    let admin_id = me["user"]["id"].as_str().unwrap().to_owned();
    let receptionist = role_id(&env, &admin, "Receptionist").await;
    let desk = join(&env, &admin, DESK_EMAIL, &receptionist).await;
    let Answer { body: members, .. } = env
        .request(Method::GET, "/api/v1/members", None, Some(&admin))
        .await;
    let desk_membership = members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == DESK_EMAIL)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Scene {
        env,
        admin,
        admin_id,
        desk,
        desk_membership,
    }
}

impl Scene {
    /// Promotes the receptionist to veterinarian (after they signed in as receptionist).
    async fn promote_desk(&self) {
        let vet = role_id(&self.env, &self.admin, "Veterinarian").await;
        let Answer { status, body, .. } = self
            .env
            .request(
                Method::POST,
                &format!("/api/v1/members/{}/role", self.desk_membership),
                Some(json!({ "role_id": vet })),
                Some(&self.admin),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// `GET` as the admin, which must answer 200.
    async fn get_ok(&self, path: &str) -> Value {
        let Answer { status, body, .. } = self
            .env
            .request(Method::GET, path, None, Some(&self.admin))
            .await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    /// A `to=` filter just after the newest event so far: listing the trail records a
    /// `read` event of its own, and this keeps those later reads out of a comparison.
    async fn quiet_bound(&self) -> String {
        let newest = self.get_ok("/api/v1/audit/events?limit=1").await;
        let at = items(&newest)[0]["occurred_at"]
            .as_str()
            .unwrap()
            .to_owned();
        let at = chrono::DateTime::parse_from_rfc3339(&at).unwrap().to_utc()
            + chrono::Duration::microseconds(1);
        format!(
            "to={}",
            at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        )
    }

    /// The admin's events for `query` (one page of up to 200).
    async fn events(&self, query: &str) -> Vec<Value> {
        let body = self
            .get_ok(&format!("/api/v1/audit/events?limit=200&{query}"))
            .await;
        assert!(body["next_cursor"].is_null(), "fits one page: {body}");
        items(&body)
    }
}

async fn role_id(env: &TestApp, admin: &CookieUser, name: &str) -> String {
    let Answer { body: roles, .. } = env
        .request(Method::GET, "/api/v1/roles", None, Some(admin))
        .await;
    roles
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Invites `email` with `role_id`, accepts the mailed link and signs in.
async fn join(env: &TestApp, admin: &CookieUser, email: &str, role_id: &str) -> CookieUser {
    env.join_with_password(admin, email, &json!(role_id), DESK_PASSWORD, "Dana Desk")
        .await
}

fn items(page: &Value) -> Vec<Value> {
    page["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {page}"))
        .clone()
}

/// The events other than reads of the trail itself (each listing records one).
fn without_trail_reads(events: Vec<Value>) -> Vec<Value> {
    events
        .into_iter()
        .filter(|e| !(e["action"] == "read" && e["entity_type"] == "audit_log"))
        .collect()
}

fn ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The fields named by a 422 problem.
#[track_caller]
fn refused_fields(status: StatusCode, body: &Value) -> BTreeSet<String> {
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("validation_failed")),
        "{body}"
    );
    body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_owned())
        .collect()
}

/// A page (HTML) as the browser of `session` gets it: status, content type and body.
async fn page(
    env: &TestApp,
    path: &str,
    session: Option<&CookieUser>,
) -> (StatusCode, String, String) {
    let credential = session.map(CookieUser::without_csrf).unwrap_or_default();
    let answer = env.get(path, credential).await;
    (
        answer.status,
        answer.content_type().to_owned(),
        answer.utf8(),
    )
}

// ---------------------------------------------------------------------------------
// Listing
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn audit_api_the_admin_sees_their_login_and_a_role_change_with_its_field_diff() {
    let s = scene().await;
    s.promote_desk().await;
    let events = s.events("").await;

    let logins: Vec<&Value> = events
        .iter()
        .filter(|e| e["action"] == "login" && e["actor_user_id"] == s.admin_id.as_str())
        .collect();
    assert!(!logins.is_empty(), "{events:?}");
    assert_eq!(logins[0]["actor_kind"], "user");
    assert!(logins[0]["request_id"].is_string(), "{}", logins[0]);

    let change = events
        .iter()
        .find(|e| e["action"] == "role_change")
        .unwrap_or_else(|| panic!("no role change in {events:?}"));
    assert_eq!(change["entity_type"], "membership");
    assert_eq!(change["entity_id"], s.desk_membership.as_str());
    assert_eq!(change["actor_user_id"], s.admin_id.as_str());
    assert_eq!(change["actor_name"], "Admin");
    assert_eq!(change["actor_role"], "Practice admin");
    assert_eq!(
        change["changes"]["role"],
        json!(["Receptionist", "Veterinarian"])
    );
    // The row change itself, written by the database trigger, with the old and new ids.
    let row_update = events
        .iter()
        .find(|e| {
            e["action"] == "update"
                && e["entity_type"] == "membership"
                && e["entity_id"] == s.desk_membership.as_str()
        })
        .unwrap_or_else(|| panic!("no membership update in {events:?}"));
    let role_ids = row_update["changes"]["role_id"].as_array().unwrap();
    assert_eq!(role_ids.len(), 2);
    assert_ne!(role_ids[0], role_ids[1]);

    // Newest first, by id (UUIDv7).
    let listed = ids(&events);
    let mut sorted = listed.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(listed, sorted);
    // Nothing secret is listed: stored hashes show only as "changed".
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains(&s.admin.cookie), "no session token");
    let sessions: Vec<&Value> = events
        .iter()
        .filter(|e| e["entity_type"] == "session" && e["action"] == "create")
        .collect();
    assert!(!sessions.is_empty());
    for session in sessions {
        assert_eq!(session["changes"]["token_hash"], "changed", "{session}");
    }
}

#[tokio::test]
async fn audit_api_filters_narrow_the_list() {
    let s = scene().await;
    s.promote_desk().await;
    let quiet = s.quiet_bound().await;
    let all = s.events(&quiet).await;

    let logins = s.events("action=login").await;
    assert!(!logins.is_empty());
    assert!(logins.len() < all.len());
    assert!(logins.iter().all(|e| e["action"] == "login"), "{logins:?}");

    // One member's history: the invitation acceptance, the row changes, the role change.
    let history = s
        .events(&format!(
            "entity_type=membership&entity_id={}",
            s.desk_membership
        ))
        .await;
    let actions: BTreeSet<&str> = history
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains("role_change"), "{actions:?}");
    assert!(actions.contains("update"), "{actions:?}");
    assert!(actions.contains("create"), "{actions:?}");
    assert!(
        history
            .iter()
            .all(|e| e["entity_id"] == s.desk_membership.as_str()
                && e["entity_type"] == "membership")
    );
    assert_eq!(
        s.events(&format!("entity_id={}", s.desk_membership))
            .await
            .len(),
        history.len()
    );

    let by_admin = s.events(&format!("actor={}", s.admin_id)).await;
    assert!(!by_admin.is_empty() && by_admin.len() < all.len());
    assert!(
        by_admin
            .iter()
            .all(|e| e["actor_user_id"] == s.admin_id.as_str())
    );

    let both = s
        .events(&format!("action=role_change&actor={}", s.admin_id))
        .await;
    assert_eq!(both.len(), 1, "{both:?}");

    // Time bounds: `from` is inclusive, `to` exclusive (both RFC 3339, `+` encoded).
    let first = all.last().unwrap()["occurred_at"].as_str().unwrap();
    let from_first = s
        .events(&format!("from={}&{quiet}", first.replace('+', "%2B")))
        .await;
    assert_eq!(from_first.len(), all.len());
    let to_first = s.events(&format!("to={}", first.replace('+', "%2B"))).await;
    assert!(to_first.is_empty(), "{to_first:?}");
    assert!(
        s.events("from=2199-01-01T00:00:00Z").await.is_empty(),
        "nothing in the future"
    );
    assert_eq!(
        s.events(&format!("from=2000-01-01T00:00:00%2B02:00&{quiet}"))
            .await
            .len(),
        all.len()
    );

    // An action the trail never holds is refused (naming the field), not answered
    // with an empty list that would look like "nothing happened".
    let unknown = s
        .env
        .request(
            Method::GET,
            "/api/v1/audit/events?action=no_such_action",
            None,
            Some(&s.admin),
        )
        .await;
    assert_eq!(unknown.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(unknown.error_fields(), ["action"]);
}

#[tokio::test]
async fn audit_api_cursor_pagination_walks_every_event_once_without_gaps() {
    let s = scene().await;
    s.promote_desk().await;
    let quiet = s.quiet_bound().await;
    let all = ids(&s.events(&quiet).await);
    assert!(all.len() > 6, "enough events to page: {}", all.len());

    for limit in [1, 3, all.len() / 2, all.len()] {
        let mut walked = Vec::new();
        let mut pages = 0;
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/audit/events?limit={limit}&{quiet}");
            if let Some(cursor) = &cursor {
                path.push_str(&format!("&cursor={cursor}"));
            }
            let body = s.get_ok(&path).await;
            let page = items(&body);
            assert!(!page.is_empty(), "no empty page (limit {limit})");
            assert!(page.len() <= limit);
            walked.extend(ids(&page));
            pages += 1;
            match body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
            assert!(pages <= all.len(), "the walk ends");
        }
        assert_eq!(walked, all, "limit {limit}: same events, same order");
        assert_eq!(pages, all.len().div_ceil(limit), "limit {limit}");
    }

    // Paging a filtered list stays within the filter.
    let creates = ids(&s.events("action=create").await);
    assert!(creates.len() > 2);
    let first = s.get_ok("/api/v1/audit/events?action=create&limit=2").await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let rest = s
        .get_ok(&format!(
            "/api/v1/audit/events?action=create&limit=200&cursor={cursor}"
        ))
        .await;
    let mut walked = ids(&items(&first));
    walked.extend(ids(&items(&rest)));
    assert_eq!(walked, creates);
    assert!(rest["next_cursor"].is_null());
}

#[tokio::test]
async fn audit_api_bad_parameters_are_422_naming_each_field() {
    let s = scene().await;
    let cases: &[(&str, &[&str])] = &[
        ("limit=0", &["limit"]),
        ("limit=201", &["limit"]),
        ("limit=fifty", &["limit"]),
        ("limit=-5", &["limit"]),
        ("actor=someone", &["actor"]),
        ("entity_id=42", &["entity_id"]),
        ("from=yesterday", &["from"]),
        ("to=2026-13-01T00:00:00Z", &["to"]),
        // An unencoded `+` arrives as a space.
        ("from=2026-01-01T00:00:00+01:00", &["from"]),
        ("from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", &["to"]),
        ("cursor=not-a-cursor", &["cursor"]),
        ("action=DROP%20TABLE%20audit_events", &["action"]),
        ("entity_type=%00", &["entity_type"]),
        ("entity=membership", &["entity"]),
        ("action=login&action=logout", &["action"]),
        ("action=no_such_action", &["action"]),
        (
            "limit=0&actor=x&entity_id=y&from=z",
            &["limit", "actor", "entity_id", "from"],
        ),
    ];
    for (query, fields) in cases {
        let Answer { status, body, .. } = s
            .env
            .request(
                Method::GET,
                &format!("/api/v1/audit/events?{query}"),
                None,
                Some(&s.admin),
            )
            .await;
        let expected: BTreeSet<String> = fields.iter().map(|f| (*f).to_owned()).collect();
        assert_eq!(refused_fields(status, &body), expected, "{query}");
    }
    // The bounds themselves are fine, and empty values count as absent (forms).
    let one = s.get_ok("/api/v1/audit/events?limit=1").await;
    assert_eq!(items(&one).len(), 1);
    assert!(one["next_cursor"].is_string());
    s.get_ok("/api/v1/audit/events?limit=200").await;
    let quiet = s.quiet_bound().await;
    let all = ids(&s.events(&quiet).await);
    let blank = items(
        &s.get_ok(&format!(
            "/api/v1/audit/events?action=&entity_id=&from=&limit=&{quiet}"
        ))
        .await,
    );
    assert_eq!(ids(&blank), all[..all.len().min(50)]);
}

// ---------------------------------------------------------------------------------
// Who may read
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn audit_api_a_receptionist_without_audit_read_is_refused_everywhere() {
    let s = scene().await;
    let Answer { body: me, .. } = s
        .env
        .request(Method::GET, "/api/v1/me", None, Some(&s.desk))
        .await;
    assert!(
        !me["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("audit.read"))
    );
    for path in [
        "/api/v1/audit/events",
        "/api/v1/audit/verify",
        // Refused before the parameters are even looked at.
        "/api/v1/audit/events?limit=0&bogus=1",
    ] {
        let Answer { status, body, .. } =
            s.env.request(Method::GET, path, None, Some(&s.desk)).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("forbidden")),
            "{path}: {body}"
        );
        assert!(
            body["detail"].as_str().unwrap().contains("audit.read"),
            "{body}"
        );
    }
    for path in ["/audit", "/audit?entity_id=bad"] {
        let (status, content_type, _) = page(&s.env, path, Some(&s.desk)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            content_type.starts_with("application/problem+json"),
            "same as /staff: {content_type}"
        );
    }
    let (status, _, _) = page(&s.env, "/staff", Some(&s.desk)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the page /audit copies");
    // The navigation offers the page only to those who may read it.
    let (_, _, dashboard) = page(&s.env, "/", Some(&s.desk)).await;
    assert!(!dashboard.contains("href=\"/audit\""), "{dashboard}");
    let (_, _, dashboard) = page(&s.env, "/", Some(&s.admin)).await;
    assert!(dashboard.contains("href=\"/audit\""), "{dashboard}");

    let Answer { status, .. } = s
        .env
        .request(Method::GET, "/api/v1/audit/events", None, Anonymous)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = page(&s.env, "/audit", None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn audit_api_practice_b_never_sees_practice_a_events() {
    let s = scene().await;
    s.promote_desk().await;
    let ours: BTreeSet<String> = ids(&s.events("").await).into_iter().collect();
    let admin_b = s.env.login("admin@northside.example", TEST_PASSWORD).await;
    let get_b = |path: String| {
        let env = &s.env;
        let admin_b = &admin_b;
        async move {
            let Answer { status, body, .. } =
                env.request(Method::GET, &path, None, Some(admin_b)).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            body
        }
    };

    let theirs = items(&get_b("/api/v1/audit/events?limit=200".to_owned()).await);
    assert!(!theirs.is_empty(), "B has its own events");
    assert!(
        theirs
            .iter()
            .all(|e| !ours.contains(e["id"].as_str().unwrap())),
        "no event of A is listed for B"
    );
    assert!(
        theirs
            .iter()
            .all(|e| e["actor_user_id"] != s.admin_id.as_str())
    );
    for query in [
        format!("entity_id={}", s.desk_membership),
        format!("entity_type=membership&entity_id={}", s.desk_membership),
        format!("actor={}", s.admin_id),
        "action=role_change".to_owned(),
    ] {
        let body = get_b(format!("/api/v1/audit/events?{query}")).await;
        assert_eq!(body, json!({ "items": [], "next_cursor": null }), "{query}");
    }
    // A's cursor does not open A's list to B either.
    let first = s.get_ok("/api/v1/audit/events?limit=1").await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let paged = items(&get_b(format!("/api/v1/audit/events?limit=200&cursor={cursor}")).await);
    assert!(
        paged
            .iter()
            .all(|e| !ours.contains(e["id"].as_str().unwrap()))
    );
    let (_, _, html) = page(
        &s.env,
        &format!("/audit?entity_id={}", s.desk_membership),
        Some(&admin_b),
    )
    .await;
    assert!(html.contains("No events match"), "{html}");
    assert!(!html.contains("<code>role_change</code>"), "{html}");
}

// ---------------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn audit_api_verify_answers_ok_and_seals_what_was_pending() {
    let s = scene().await;
    s.promote_desk().await;
    let verified = s.get_ok("/api/v1/audit/verify").await;
    assert_eq!(verified["status"], "ok", "{verified}");
    assert!(verified["broken"].is_null());
    let events = verified["events"].as_u64().unwrap();
    assert!(events > 0, "{verified}");
    assert_eq!(verified["head_seq"].as_u64(), Some(events));
    assert_eq!(verified["pending"], 0);
    let head = verified["head_hash"].as_str().unwrap();
    assert_eq!(head.len(), 64);
    assert!(head.bytes().all(|b| b.is_ascii_hexdigit()));

    // The listed events now carry their place in the chain; the newest is the head.
    let listed = s.events("").await;
    assert_eq!(listed.len() as u64, events, "nothing new was recorded");
    assert_eq!(listed[0]["seq"].as_u64(), Some(events));
    assert_eq!(listed[0]["hash"], head);
    assert!(
        listed
            .iter()
            .all(|e| e["seq"].is_u64() && e["hash"].is_string())
    );

    let admin_b = s.env.login("admin@northside.example", TEST_PASSWORD).await;
    let Answer {
        status,
        body: theirs,
        ..
    } = s
        .env
        .request(Method::GET, "/api/v1/audit/verify", None, Some(&admin_b))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(theirs["status"], "ok");
    assert_ne!(theirs["head_hash"], head, "each practice has its own chain");
}

// ---------------------------------------------------------------------------------
// The page
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn audit_api_the_audit_page_shows_events_readably_with_history_links() {
    let s = scene().await;
    s.promote_desk().await;
    let (status, content_type, html) = page(&s.env, "/audit", Some(&s.admin)).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(html.contains("id=\"audit-events\""), "{html}");
    assert!(html.contains("<code>role_change</code>"), "{html}");
    assert!(html.contains("<code>login</code>"), "{html}");
    assert!(
        html.contains("role: Receptionist → Veterinarian"),
        "the diff reads old → new: {html}"
    );
    assert!(html.contains("Practice admin"), "the actor's role");
    let history = format!(
        "href=\"/audit?entity_type=membership&#38;entity_id={}\"",
        s.desk_membership
    );
    assert!(html.contains(&history), "{html}");
    assert!(html.contains(&format!("href=\"/audit?actor={}\"", s.admin_id)));
    assert!(
        html.contains("href=\"/audit\" id=\"nav-audit\""),
        "nav link"
    );
    assert!(!html.contains("<script"), "no script needed");
    assert!(!html.contains("style=\""), "no inline style");
    // The page's own read of the trail, recorded after it listed, is not shown on it.
    let all = ids(&without_trail_reads(s.events("").await));
    assert_eq!(
        shown_ids(&html),
        all[..all.len().min(50)],
        "the newest 50 events, newest first"
    );
    assert_eq!(older_link(&html).is_some(), all.len() > 50);

    // One entity's history: who changed it and when.
    let (status, _, html) = page(
        &s.env,
        &format!(
            "/audit?entity_type=membership&entity_id={}",
            s.desk_membership
        ),
        Some(&s.admin),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("History of membership"), "{html}");
    assert!(html.contains("role: Receptionist → Veterinarian"));
    assert!(
        !html.contains("<code>login</code>"),
        "only that member's events"
    );

    // Date filters from the form: a whole past day has nothing.
    let (status, _, html) = page(
        &s.env,
        "/audit?action=&from=2000-01-01&to=2000-01-01",
        Some(&s.admin),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("No events match"), "{html}");
    assert!(
        html.contains("value=\"2000-01-01\""),
        "the form keeps its values"
    );

    // A bad filter shows the form again with the reason.
    let (status, content_type, html) =
        page(&s.env, "/audit?entity_id=nope&limit=0", Some(&s.admin)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(content_type.starts_with("text/html"));
    assert!(html.contains("entity_id: must be a UUID"), "{html}");
    assert!(html.contains("limit: must be"), "{html}");
    assert!(html.contains("value=\"nope\""));
}

#[tokio::test]
async fn audit_api_the_audit_page_pages_with_an_older_events_link() {
    let s = scene().await;
    let quiet = s.quiet_bound().await;
    let all = ids(&s.events(&quiet).await);
    let mut seen = Vec::new();
    let mut path = format!("/audit?limit=4&{quiet}");
    loop {
        let (status, _, html) = page(&s.env, &path, Some(&s.admin)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {html}");
        seen.extend(shown_ids(&html));
        match older_link(&html) {
            Some(next) => {
                assert!(next.contains("limit=4&cursor="), "{next}");
                path = next;
            }
            None => break,
        }
        assert!(seen.len() <= all.len(), "the walk ends");
    }
    assert_eq!(seen, all, "the pages show every event once, newest first");
}

/// The target of the page's "Older events" link, if it has one.
fn older_link(html: &str) -> Option<String> {
    let marker = html.find("\" id=\"older-events\"")?;
    let start = html[..marker].rfind("href=\"")? + "href=\"".len();
    // Askama escapes `&` in attributes as `&#38;`.
    Some(html[start..marker].replace("&#38;", "&"))
}

/// The ids of the events a page shows, in order.
fn shown_ids(html: &str) -> Vec<String> {
    html.split("data-event-id=\"")
        .skip(1)
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------
// What the trail discloses, and that reading it is recorded (issue 12, finding 3)
// ---------------------------------------------------------------------------------

/// What the world's clinical fixture wrote into practice A's records (SOAP note,
/// addendum, problem, allergy, prescription, vaccination, weight) and into its
/// client's contact details.
const RECORD_CONTENTS: [&str; 12] = [
    "Lame on the left fore",
    "Limping",
    "Owner called: walking normally.",
    "Lameness, left forelimb",
    "Penicillin",
    "Urticaria",
    "Meloxicam",
    "once daily with food",
    "Nobivac DHP",
    "A123B45",
    "21.4",
    "272981000",
];
const CONTACT_DETAILS: [&str; 3] = ["alex.fixture@example.org", "7700900123", "Mill Lane"];
/// The entity types of medical records, and a content field each records.
const RECORD_FIELDS: [(&str, &str); 7] = [
    ("encounter", "subjective"),
    ("encounter_addendum", "body"),
    ("problem", "description"),
    ("allergy", "substance"),
    ("prescription", "drug"),
    ("vaccination", "vaccine"),
    ("vital_signs", "weight_kg"),
];

/// Creates a custom role granting `permissions` and signs in a new member holding it.
async fn member_with(s: &Scene, role: &str, email: &str, permissions: &[&str]) -> CookieUser {
    let Answer {
        status,
        body: created,
        ..
    } = s
        .env
        .request(
            Method::POST,
            "/api/v1/roles",
            Some(json!({ "name": role, "permissions": permissions })),
            Some(&s.admin),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    join(&s.env, &s.admin, email, created["id"].as_str().unwrap()).await
}

/// `session`'s view of the trail's events about `entity_type`: at least one.
async fn trail_of(s: &Scene, session: &CookieUser, entity_type: &str) -> Vec<Value> {
    let path = format!("/api/v1/audit/events?limit=200&entity_type={entity_type}");
    let Answer { status, body, .. } = s.env.request(Method::GET, &path, None, Some(session)).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    let events = items(&body);
    assert!(!events.is_empty(), "the fixture wrote {entity_type} events");
    events
}

#[tokio::test]
async fn audit_trail_shows_an_auditor_without_records_read_who_changed_a_record_but_not_what_it_says()
 {
    let s = scene().await;
    let auditor = member_with(&s, "Auditor", "auditor@riverside.example", &["audit.read"]).await;
    for (entity_type, field) in RECORD_FIELDS {
        let events = trail_of(&s, &auditor, entity_type).await;
        // Record contents could only leak through `changes`; the timestamps and ids around
        // them may contain short figures such as "21.4" by chance.
        let changes: Vec<&Value> = events.iter().map(|e| &e["changes"]).collect();
        let text = serde_json::to_string(&changes).unwrap();
        for content in RECORD_CONTENTS {
            assert!(
                !text.contains(content),
                "{entity_type} shows {content:?}: {text}"
            );
        }
        let created = events.iter().find(|e| e["action"] == "create").unwrap();
        // Who changed what stays: the field is named, its value is not shown.
        assert_eq!(created["changes"][field], "changed", "{created}");
        assert_eq!(created["actor_user_id"], s.admin_id.as_str());
        // The admin, who may read records, sees the same event in full.
        let full = trail_of(&s, &s.admin, entity_type).await;
        let same = full.iter().find(|e| e["id"] == created["id"]).unwrap();
        assert!(same["changes"][field].is_array(), "{same}");
    }
    let encounter = trail_of(&s, &auditor, "encounter").await;
    let created = encounter.iter().find(|e| e["action"] == "create").unwrap();
    assert_eq!(created["changes"]["kind"], json!([null, "consultation"]));

    // Contact details need clients.read: redacted for the auditor, and for a clinical
    // auditor who reads records but not clients, who does see the records.
    let clinical = member_with(
        &s,
        "Clinical auditor",
        "clinical.audit@riverside.example",
        &["audit.read", "records.read"],
    )
    .await;
    for session in [&auditor, &clinical] {
        let events = trail_of(&s, session, "client").await;
        let text = serde_json::to_string(&events).unwrap();
        for contact in CONTACT_DETAILS {
            assert!(!text.contains(contact), "client shows {contact:?}: {text}");
        }
        let created = events.iter().find(|e| e["action"] == "create").unwrap();
        assert_eq!(created["changes"]["email"], "changed", "{created}");
        assert_eq!(created["changes"]["family_name"], json!([null, "Fixture"]));
    }
    let allergy = trail_of(&s, &clinical, "allergy").await;
    let created = allergy.iter().find(|e| e["action"] == "create").unwrap();
    assert_eq!(created["changes"]["substance"], json!([null, "Penicillin"]));
    let client = trail_of(&s, &s.admin, "client").await;
    let created = client.iter().find(|e| e["action"] == "create").unwrap();
    assert_eq!(
        created["changes"]["email"],
        json!([null, "alex.fixture@example.org"])
    );

    // The page reads through the same store call, so it agrees.
    let (status, _, html) = page(&s.env, "/audit?entity_type=allergy", Some(&auditor)).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("substance: changed"), "{html}");
    assert!(!html.contains("Penicillin"), "{html}");
    let (_, _, html) = page(&s.env, "/audit?entity_type=client", Some(&auditor)).await;
    assert!(html.contains("email: changed"), "{html}");
    assert!(!html.contains("alex.fixture@example.org"), "{html}");
}

#[tokio::test]
async fn audit_trail_listing_it_through_the_api_or_the_page_is_itself_recorded() {
    let s = scene().await;
    let auditor = member_with(&s, "Auditor", "auditor@riverside.example", &["audit.read"]).await;
    let Answer { body: me, .. } = s
        .env
        .request(Method::GET, "/api/v1/me", None, Some(&auditor))
        .await;
    let auditor_id = me["user"]["id"].as_str().unwrap().to_owned();
    let Answer {
        status,
        body: listed,
        ..
    } = s
        .env
        .request(
            Method::GET,
            "/api/v1/audit/events?entity_type=allergy&limit=5",
            None,
            Some(&auditor),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let (status, _, _) = page(&s.env, "/audit?action=create", Some(&auditor)).await;
    assert_eq!(status, StatusCode::OK);

    let reads: Vec<Value> = s
        .events(&format!(
            "action=read&entity_type=audit_log&actor={auditor_id}"
        ))
        .await;
    assert_eq!(reads.len(), 2, "one per listing: {reads:?}");
    // Newest first: the page's read, then the API's, each with what was asked for.
    assert_eq!(reads[0]["changes"]["filter"]["action"], "create");
    assert_eq!(reads[1]["changes"]["filter"]["entity_type"], "allergy");
    assert_eq!(
        reads[1]["changes"]["events"].as_u64(),
        Some(items(&listed).len() as u64)
    );
    assert_eq!(reads[1]["actor_role"], "Auditor");
    assert!(reads.iter().all(|r| r["request_id"].is_string()));
}
