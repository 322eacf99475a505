//! The practice settings, through the settings page (`/settings`) and the API
//! (`/api/v1/settings/practice`): each group saved and read back, out-of-range values
//! refused with every bad field named and nothing changed, `settings.manage` required,
//! a recent re-authentication required to save, the change audited with its old and
//! new values, and new lockout and session numbers applied from the next sign-in.

use crate::support::{Answer, CookieUser, RIVERSIDE_ADMIN, TEST_PASSWORD, TestApp, assert_problem};
use axum::http::{Method, StatusCode};
use chrono::Duration;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

const API: &str = "/api/v1/settings/practice";

/// The settings a new practice starts with, as the API shows them.
fn defaults() -> Value {
    json!({
        "lockout_threshold": 10,
        "lockout_window_minutes": 15,
        "lockout_minutes": 15,
        "session_idle_minutes": 30,
        "session_absolute_minutes": 720,
        "temporary_session_minutes": 60,
        "require_second_factor": false,
        "encounter_lock_hours": 24,
        "record_retention_days": 2557,
        "appointment_retention_days": 730,
        "audit_retention_days": 2557,
        "time_zone": "UTC",
    })
}

/// The settings as the API reads them for `admin`.
async fn settings(p: &TestApp, admin: &CookieUser) -> Value {
    p.get(API, admin.credential())
        .await
        .expect(StatusCode::OK)
        .body
}

/// `settings` as the settings form posts them (the box ticked when true).
fn form_of(settings: &Value) -> Vec<(String, String)> {
    settings
        .as_object()
        .unwrap()
        .iter()
        .filter_map(|(name, value)| match value {
            Value::Bool(true) => Some((name.clone(), "on".to_owned())),
            Value::Bool(false) => None,
            Value::String(text) => Some((name.clone(), text.clone())),
            other => Some((name.clone(), other.to_string())),
        })
        .collect()
}

async fn submit(p: &TestApp, admin: &CookieUser, fields: &[(String, String)]) -> Answer {
    let fields: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    p.submit("/settings", admin, &fields).await
}

async fn put(p: &TestApp, admin: &CookieUser, body: &Value) -> Answer {
    p.request(Method::PUT, API, Some(body.clone()), admin.credential())
        .await
}

#[tokio::test]
async fn each_group_saved_through_the_settings_page_reads_back() {
    let p = TestApp::new().await;
    let admin = p.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    assert_eq!(settings(&p, &admin).await, defaults());
    let page = p.page("/settings", &admin).await;
    assert_eq!(page.status, StatusCode::OK);
    for group in [
        "id=\"lockout\"",
        "id=\"sessions\"",
        "id=\"second-factor\"",
        "id=\"record-keeping\"",
        "id=\"time-zone\"",
    ] {
        assert!(page.text.contains(group), "{group} on the page");
    }
    assert!(
        page.text
            .contains("name=\"lockout_threshold\" id=\"lockout_threshold\" value=\"10\""),
        "the stored value is shown"
    );

    let changes = [
        (
            "lockout",
            json!({"lockout_threshold": 5, "lockout_window_minutes": 30, "lockout_minutes": 60}),
        ),
        (
            "sessions",
            json!({"session_idle_minutes": 20, "session_absolute_minutes": 600, "temporary_session_minutes": 45}),
        ),
        ("second factor", json!({"require_second_factor": true})),
        (
            "record keeping",
            json!({"encounter_lock_hours": 48, "record_retention_days": 3650,
                                 "appointment_retention_days": 365, "audit_retention_days": 4000}),
        ),
        ("time zone", json!({"time_zone": "Europe/London"})),
    ];
    let mut expected = defaults();
    for (group, change) in changes {
        for (name, value) in change.as_object().unwrap() {
            expected[name] = value.clone();
        }
        let saved = submit(&p, &admin, &form_of(&expected)).await;
        assert_eq!(
            saved.status,
            StatusCode::SEE_OTHER,
            "{group}: {}",
            saved.text
        );
        assert_eq!(saved.location(), Some("/settings?notice=saved"), "{group}");
        assert_eq!(settings(&p, &admin).await, expected, "{group} read back");
    }
    let page = p.page("/settings?notice=saved", &admin).await;
    assert!(page.text.contains("Settings saved."));
    assert!(page.text.contains("id=\"current-zone\">Europe/London<"));
    assert!(
        page.text.contains(
            "name=\"require_second_factor\" id=\"require_second_factor\" value=\"on\" checked"
        ),
        "the box is ticked"
    );
    assert!(
        page.text
            .contains("<option value=\"Europe/London\" selected>")
    );

    // Unticking the box turns the second factor off again.
    expected["require_second_factor"] = json!(false);
    let saved = submit(&p, &admin, &form_of(&expected)).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER);
    assert_eq!(settings(&p, &admin).await, expected);
}

#[tokio::test]
async fn out_of_range_values_are_refused_naming_every_field_and_change_nothing() {
    let p = TestApp::new().await;
    let admin = p.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let mut bad = defaults();
    bad["lockout_threshold"] = json!(2);
    bad["session_idle_minutes"] = json!(1441);
    bad["audit_retention_days"] = json!(30);
    bad["time_zone"] = json!("Mars/Olympus_Mons");

    let answer = put(&p, &admin, &bad).await;
    assert_problem(
        &answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(
        answer.error_fields(),
        [
            "lockout_threshold",
            "session_idle_minutes",
            "audit_retention_days",
            "time_zone"
        ]
    );
    assert_eq!(
        answer.body["errors"][0]["message"],
        "must be between 3 and 100"
    );
    assert_eq!(settings(&p, &admin).await, defaults(), "nothing changed");

    let mut fields = form_of(&bad);
    for (name, value) in &mut fields {
        if name == "lockout_minutes" {
            *value = "soon".to_owned();
        }
    }
    let page = submit(&p, &admin, &fields).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    for message in [
        "Lockout threshold: must be between 3 and 100",
        "Lockout minutes: must be a whole number between 1 and 10080",
        "Session idle minutes: must be between 5 and 1440",
        "Audit retention days: must be between 365 and 36500",
        "Time zone: must be a time zone name",
    ] {
        assert!(page.text.contains(message), "{message}: {}", page.text);
    }
    assert!(
        page.text.contains("value=\"soon\""),
        "the form keeps what was typed"
    );
    assert_eq!(settings(&p, &admin).await, defaults(), "nothing changed");
}

#[tokio::test]
async fn without_settings_manage_the_settings_are_refused() {
    let p = TestApp::new().await;
    let admin = p.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let vet = p
        .join_as(&admin, "vet@riverside.example", "Veterinarian")
        .await;
    let dashboard = p.page("/", &vet).await;
    assert!(!dashboard.text.contains("href=\"/settings\""), "no link");
    let admin_dashboard = p.page("/", &admin).await;
    assert!(
        admin_dashboard.text.contains("id=\"nav-settings\""),
        "admins have it"
    );

    assert_eq!(
        p.page("/settings", &vet).await.status,
        StatusCode::FORBIDDEN
    );
    let mut changed = defaults();
    changed["lockout_threshold"] = json!(3);
    assert_eq!(
        submit(&p, &vet, &form_of(&changed)).await.status,
        StatusCode::FORBIDDEN
    );
    assert_problem(
        &p.get(API, vet.credential()).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_problem(
        &put(&p, &vet, &changed).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    );
    assert_eq!(settings(&p, &admin).await, defaults(), "nothing changed");
}

#[tokio::test]
async fn saving_without_a_recent_reauthentication_goes_to_reauth_first() {
    let p = TestApp::new().await;
    let admin = p.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    // Past the re-auth window, the session kept alive.
    p.clock.advance(Duration::minutes(6));
    p.me(admin.credential()).await.expect(StatusCode::OK);
    p.clock.advance(Duration::minutes(6));

    let mut changed = defaults();
    changed["lockout_threshold"] = json!(5);
    let answer = submit(&p, &admin, &form_of(&changed)).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.location(), Some("/reauth?next=/settings"));
    let reauth = p.page("/reauth?next=/settings", &admin).await;
    assert_eq!(reauth.status, StatusCode::OK);
    assert!(
        reauth.text.contains("value=\"/settings\""),
        "and back here after"
    );
    assert_problem(
        &put(&p, &admin, &changed).await,
        StatusCode::FORBIDDEN,
        "reauth_required",
    );
    assert_eq!(settings(&p, &admin).await, defaults(), "nothing half-saved");

    let renewed = CookieUser::from_answer(
        &p.post_json(
            "/api/v1/auth/reauth",
            &json!({ "password": TEST_PASSWORD }),
            admin.credential(),
        )
        .await,
    );
    let answer = submit(&p, &renewed, &form_of(&changed)).await;
    assert_eq!(answer.location(), Some("/settings?notice=saved"));
    assert_eq!(settings(&p, &renewed).await, changed);
}

#[tokio::test]
async fn the_audit_trail_has_the_settings_change_with_old_and_new_values() {
    let p = TestApp::new().await;
    let admin = p.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let mut changed = defaults();
    changed["lockout_threshold"] = json!(5);
    changed["time_zone"] = json!("Europe/London");
    put(&p, &admin, &changed).await.expect(StatusCode::OK);

    let mut conn = PgConnection::connect(&p.world.db.admin_url())
        .await
        .unwrap();
    let events: Vec<(Option<uuid::Uuid>, Value)> = sqlx::query_as(
        "select actor_user_id, changes from audit_events
          where practice_id = $1 and entity_type = 'practice_settings' and action = 'update'",
    )
    .bind(p.world.a.id.as_uuid())
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    let (actor, changes) = &events[0];
    assert_eq!(*actor, Some(admin.user_id()));
    assert_eq!(changes["lockout_threshold"], json!([10, 5]));
    assert_eq!(changes["time_zone"], json!(["UTC", "Europe/London"]));
    assert!(
        changes.get("lockout_minutes").is_none(),
        "only what changed: {changes}"
    );

    // The trail's own page shows it, in the new zone.
    let page = p.page("/audit?entity_type=practice_settings", &admin).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text.contains("lockout_threshold: 10 → 5"),
        "{}",
        page.text
    );
    assert!(page.text.contains("Time (Europe/London)"));
}

#[tokio::test]
async fn new_lockout_and_session_numbers_apply_from_the_next_sign_in() {
    let p = TestApp::new().await;
    let admin = p.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let mut changed = defaults();
    changed["session_idle_minutes"] = json!(5);
    changed["lockout_threshold"] = json!(3);
    put(&p, &admin, &changed).await.expect(StatusCode::OK);

    let next = p.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    p.clock.advance(Duration::minutes(6));
    assert_eq!(
        p.me(next.credential()).await.status,
        StatusCode::UNAUTHORIZED,
        "the new session idles out after 5 minutes"
    );
    assert_eq!(
        p.me(admin.credential()).await.status,
        StatusCode::OK,
        "a session started before keeps the 30 minutes it was given"
    );

    p.fail_sign_in(RIVERSIDE_ADMIN, 3).await;
    assert_problem(
        &p.try_login(RIVERSIDE_ADMIN, TEST_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "account_locked",
    );
}
