//! Custom roles: created and edited only by staff managers who re-entered their
//! password, never granting more than the editor holds; built-in roles are fixed.

use crate::support::{Answer, CookieUser, RIVERSIDE_ADMIN, TEST_PASSWORD, TestApp};
use axum::http::Method;
use axum::http::StatusCode;
use chrono::Duration;
use serde_json::{Value, json};

async fn create_role(
    env: &TestApp,
    session: &CookieUser,
    name: &str,
    permissions: &[&str],
) -> (StatusCode, Value) {
    let Answer { status, body, .. } = env
        .request(
            Method::POST,
            "/api/v1/roles",
            Some(json!({"name": name, "permissions": permissions})),
            Some(session),
        )
        .await;
    (status, body)
}

#[tokio::test]
async fn an_admin_creates_a_custom_role_that_is_listed_and_audited() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let (status, body) = create_role(
        &env,
        &admin,
        "Practice manager",
        &["staff.manage", "billing.read"],
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["builtin"], false);
    assert_eq!(body["permissions"], json!(["billing.read", "staff.manage"]));
    let Answer { body: roles, .. } = env
        .request(Method::GET, "/api/v1/roles", None, Some(&admin))
        .await;
    assert!(
        roles
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "Practice manager")
    );
    assert!(
        env.audit_actions()
            .await
            .contains(&"role_create".to_owned())
    );
}

#[tokio::test]
async fn creating_or_editing_a_role_needs_the_password_re_entered_within_ten_minutes() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let (status, created) = create_role(&env, &admin, "Nurse lead", &["records.read"]).await;
    assert_eq!(status, StatusCode::CREATED);
    // Keep the session alive, then let the re-authentication age.
    env.clock.advance(Duration::minutes(9));
    assert_eq!(env.me_status(&admin).await, StatusCode::OK);
    env.clock.advance(Duration::minutes(2));
    let (status, body) = create_role(&env, &admin, "Another", &["records.read"]).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("reauth_required"))
    );
    let path = format!("/api/v1/roles/{}", created["id"].as_str().unwrap());
    let Answer { status, body, .. } = env
        .request(
            Method::PUT,
            &path,
            Some(json!({"name": "Nurse lead", "permissions": ["records.read", "records.write"]})),
            Some(&admin),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("reauth_required"))
    );
    let answer = env
        .request(
            Method::POST,
            "/api/v1/auth/reauth",
            Some(json!({"password": TEST_PASSWORD})),
            Some(&admin),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    // Re-authentication renews the session: continue with the new cookie.
    let admin = CookieUser::from_answer(&answer);
    let (status, _) = create_role(&env, &admin, "Another", &["records.read"]).await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn a_staff_manager_cannot_define_a_role_granting_what_they_lack() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let (_, lead_role) = create_role(
        &env,
        &admin,
        "Front desk lead",
        &["staff.manage", "clients.read"],
    )
    .await;
    let lead = env
        .join_with_role(
            &admin,
            "lead@riverside.example",
            lead_role["id"].as_str().unwrap(),
        )
        .await;

    let (status, body) = create_role(&env, &lead, "Sneaky", &["records.read"]).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // Nor may they widen their own role.
    let path = format!("/api/v1/roles/{}", lead_role["id"].as_str().unwrap());
    let Answer { status, .. } = env
        .request(Method::PUT, &path, Some(json!({"name": "Front desk lead", "permissions": ["staff.manage", "clients.read", "audit.read"]})), Some(&lead))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let Answer { body: me, .. } = env
        .request(Method::GET, "/api/v1/me", None, Some(&lead))
        .await;
    assert_eq!(me["permissions"], json!(["staff.manage", "clients.read"]));
}

#[tokio::test]
async fn editing_a_custom_role_changes_its_members_permissions_on_their_next_request() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let (_, role) = create_role(&env, &admin, "Locum", &["patients.read"]).await;
    let locum = env
        .join_with_role(
            &admin,
            "locum@riverside.example",
            role["id"].as_str().unwrap(),
        )
        .await;
    let path = format!("/api/v1/roles/{}", role["id"].as_str().unwrap());
    let Answer { status, body, .. } = env
        .request(
            Method::PUT,
            &path,
            Some(json!({"name": "Locum vet", "permissions": ["patients.read", "records.read"]})),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let Answer { body: me, .. } = env
        .request(Method::GET, "/api/v1/me", None, Some(&locum))
        .await;
    assert_eq!(me["role"]["name"], "Locum vet");
    assert_eq!(me["permissions"], json!(["records.read", "patients.read"]));
    assert!(
        env.audit_actions()
            .await
            .contains(&"role_update".to_owned())
    );
}

#[tokio::test]
async fn built_in_roles_cannot_be_edited() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let Answer { body: roles, .. } = env
        .request(Method::GET, "/api/v1/roles", None, Some(&admin))
        .await;
    let receptionist = roles
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "Receptionist")
        .unwrap();
    let path = format!("/api/v1/roles/{}", receptionist["id"].as_str().unwrap());
    let Answer { status, .. } = env
        .request(
            Method::PUT,
            &path,
            Some(json!({"name": "Receptionist", "permissions": ["records.read"]})),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    // Refused means untouched: the role lists exactly the permissions it had.
    let Answer { body: after, .. } = env
        .request(Method::GET, "/api/v1/roles", None, Some(&admin))
        .await;
    let after = after
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == receptionist["id"])
        .unwrap();
    assert_eq!(after["name"], "Receptionist");
    assert_eq!(after["permissions"], receptionist["permissions"]);
    assert!(
        !after["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("records.read")),
        "{after}"
    );
}

#[tokio::test]
async fn bad_definitions_are_refused_with_field_errors() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let (status, body) = create_role(&env, &admin, " ", &["records.delete"]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, vec!["name", "permissions"]);
    let (status, body) = create_role(&env, &admin, "Veterinarian", &["records.read"]).await;
    assert_eq!(status, StatusCode::CONFLICT, "a name already used: {body}");
}

#[tokio::test]
async fn another_practices_role_answers_like_an_unknown_one() {
    let env = TestApp::new().await;
    let northside = env.login("admin@northside.example", TEST_PASSWORD).await;
    let (_, theirs) = create_role(&env, &northside, "Northside only", &["records.read"]).await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let body = json!({"name": "Hijacked", "permissions": ["records.read"]});
    let foreign = env
        .request(
            Method::PUT,
            &format!("/api/v1/roles/{}", theirs["id"].as_str().unwrap()),
            Some(body.clone()),
            Some(&admin),
        )
        .await;
    let unknown = env
        .request(
            Method::PUT,
            &format!("/api/v1/roles/{}", uuid::Uuid::now_v7()),
            Some(body),
            Some(&admin),
        )
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert_eq!(
        (foreign.status, &foreign.body["code"]),
        (unknown.status, &unknown.body["code"])
    );
}

#[tokio::test]
async fn a_role_name_that_only_looks_different_from_a_taken_one_is_refused() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    // A non-breaking space, a different case, doubled or full-width look-alikes of
    // the built-in "Practice admin".
    for lookalike in [
        "Practice\u{a0}admin",
        "practice ADMIN",
        "Practice   admin",
        "Ｐｒａｃｔｉｃｅ admin",
    ] {
        let (status, body) = create_role(&env, &admin, lookalike, &["records.read"]).await;
        assert_eq!(status, StatusCode::CONFLICT, "{lookalike:?}: {body}");
        assert_eq!(body["errors"][0]["field"], "name", "{body}");
    }
    // A new name is stored normalised, and its look-alikes are taken from then on.
    let (status, body) =
        create_role(&env, &admin, "  Night\u{a0}  nurse ", &["records.read"]).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["name"], "Night nurse");
    let (status, _) = create_role(&env, &admin, "NIGHT NURSE", &["records.read"]).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let Answer { body: roles, .. } = env
        .request(Method::GET, "/api/v1/roles", None, Some(&admin))
        .await;
    let named_admin = roles
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["name"].as_str().unwrap().to_lowercase().contains("admin"))
        .count();
    assert_eq!(named_admin, 1, "{roles}");
}
