//! The cross-tenant sweep, driven by the OpenAPI document: practice A's admin creates
//! one of everything that has an id in an address; then practice B's admin calls
//! every documented operation whose path takes an id, with every method, once with
//! A's ids and once with ids that name nothing. Each answer must be a 404 (a 403
//! where B lacks what the operation needs), never a 2xx, exactly the answer a random
//! id gets (status and body, the request id aside), with nothing of A's in it; and
//! A's data must read the same afterwards. An operation the sweep does not know how
//! to fill (a new id parameter, a new body) fails the test until it is added here, so
//! every new endpoint joins the sweep.

use crate::support::{
    Answer, NORTHSIDE_ADMIN, RIVERSIDE, RIVERSIDE_ADMIN, TEST_PASSWORD, TestApp, TokenUser,
};
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// One of each of practice A's things, by the name the sweep fills parameters with.
type Ids = BTreeMap<&'static str, String>;

/// `method path` as `user` with `body`; asserts the fixture call succeeded.
async fn made(env: &TestApp, user: &TokenUser, path: &str, body: Value) -> Value {
    let answer = env.request(Method::POST, path, Some(body), user).await;
    assert!(
        answer.status.is_success(),
        "fixture POST {path}: {}",
        answer.text
    );
    answer.body
}

fn id(value: &Value) -> String {
    value["id"]
        .as_str()
        .unwrap_or_else(|| panic!("an id in {value}"))
        .to_owned()
}

/// Practice A's fixture: a client, a patient with its record entries, an encounter,
/// a resource and an appointment, an API key, an invitation, a custom role, and the
/// admin's membership.
async fn practice_a(env: &TestApp, a: &TokenUser) -> Ids {
    let mut ids = Ids::new();
    let client = made(
        env,
        a,
        "/api/v1/clients",
        json!({"given_name": "Jo", "family_name": "Sweepwell"}),
    )
    .await;
    ids.insert("client", id(&client));
    let patient = made(
        env,
        a,
        "/api/v1/patients",
        json!({"name": "Kikomaru", "species": "Canine",
               "owners": [{"client_id": ids["client"], "primary": true}]}),
    )
    .await;
    let p = id(&patient);
    ids.insert("patient", p.clone());
    let encounter = made(
        env,
        a,
        &format!("/api/v1/patients/{p}/encounters"),
        json!({"kind": "consultation", "reason": "Itchy ears"}),
    )
    .await;
    ids.insert("encounter", id(&encounter));
    let problem = made(
        env,
        a,
        &format!("/api/v1/patients/{p}/problems"),
        json!({"description": "Otitis externa"}),
    )
    .await;
    ids.insert("problem", id(&problem));
    let allergy = made(
        env,
        a,
        &format!("/api/v1/patients/{p}/allergies"),
        json!({"substance": "Penicillin", "severity": "severe"}),
    )
    .await;
    ids.insert("allergy", id(&allergy));
    let prescription = made(
        env,
        a,
        &format!("/api/v1/patients/{p}/prescriptions"),
        json!({"drug": "Meloxicam 1.5 mg/ml", "dose": "0.5 ml", "route": "oral", "frequency": "daily"}),
    )
    .await;
    ids.insert("prescription", id(&prescription));
    let me = env.get("/api/v1/me", a).await.body;
    let staff = me["user"]["id"].as_str().expect("my user id").to_owned();
    ids.insert("staff", staff.clone());
    let appointment = made(
        env,
        a,
        "/api/v1/appointments",
        json!({"patient_id": p, "staff_id": staff,
               "starts_at": "2027-03-16T09:00:00Z", "ends_at": "2027-03-16T09:15:00Z"}),
    )
    .await;
    ids.insert("appointment", id(&appointment));
    let role = made(
        env,
        a,
        "/api/v1/roles",
        json!({"name": "Sweep role", "permissions": ["clients.read"]}),
    )
    .await;
    ids.insert("role", id(&role));
    let invitation = made(
        env,
        a,
        "/api/v1/invitations",
        json!({"email": "sweep@riverside.example", "role_id": ids["role"]}),
    )
    .await;
    ids.insert("invitation", id(&invitation));
    let key = made(
        env,
        a,
        "/api/v1/api-keys",
        json!({"name": "Lab sync", "scopes": ["clients.read"], "expires_in_days": 30}),
    )
    .await;
    ids.insert("api_key", id(&key));
    let members = env.get("/api/v1/members", a).await.body;
    let member = members
        .as_array()
        .or_else(|| members["items"].as_array())
        .and_then(|list| list.first())
        .unwrap_or_else(|| panic!("a member in {members}"));
    ids.insert("member", id(member));
    ids
}

/// The thing a path parameter names: `{id}` by the collection before it, the others
/// by their own name. `None` for a parameter the sweep does not know yet.
fn kind_of(template: &str, param: &str) -> Option<&'static str> {
    Some(match param {
        "allergy_id" => "allergy",
        "prescription_id" => "prescription",
        "problem_id" => "problem",
        "id" => match template.trim_start_matches("/api/v1/").split('/').next()? {
            "patients" => "patient",
            "clients" => "client",
            "encounters" => "encounter",
            "appointments" => "appointment",
            "roles" => "role",
            "invitations" => "invitation",
            "api-keys" => "api_key",
            "members" => "member",
            _ => return None,
        },
        _ => return None,
    })
}

/// A body each operation accepts (valid for its type and its rules), so that its
/// answer is about the ids, not the body. `None` for one the sweep does not know.
fn body_for(method: &Method, template: &str, a: &Ids) -> Option<Value> {
    let body = match (method.as_str(), template) {
        ("PUT", "/api/v1/appointments/{id}") => json!({
            "patient_id": a["patient"], "staff_id": a["staff"],
            "starts_at": "2027-03-17T09:00:00Z", "ends_at": "2027-03-17T09:15:00Z"}),
        ("POST", "/api/v1/appointments/{id}/status") => json!({"status": "cancelled"}),
        ("PUT", "/api/v1/clients/{id}") => json!({"given_name": "X", "family_name": "Y"}),
        ("PUT", "/api/v1/encounters/{id}") => json!({"plan": "x"}),
        ("POST", "/api/v1/encounters/{id}/addenda") => json!({"body": "x"}),
        ("POST", "/api/v1/members/{id}/role") => json!({"role_id": a["role"]}),
        ("PUT", "/api/v1/patients/{id}") => json!({"name": "X", "species": "Canine"}),
        ("POST", "/api/v1/patients/{id}/allergies") => {
            json!({"substance": "x", "severity": "mild"})
        }
        ("POST", "/api/v1/patients/{id}/encounters") => json!({"reason": "x"}),
        ("PUT", "/api/v1/patients/{id}/owners") => {
            json!({"owners": [{"client_id": a["client"], "primary": true}]})
        }
        ("POST", "/api/v1/patients/{id}/prescriptions") => {
            json!({"drug": "x", "dose": "1", "route": "oral", "frequency": "daily"})
        }
        ("POST", "/api/v1/patients/{id}/prescriptions/{prescription_id}/status") => {
            json!({"status": "stopped"})
        }
        ("POST", "/api/v1/patients/{id}/problems") => json!({"description": "x"}),
        ("POST", "/api/v1/patients/{id}/problems/{problem_id}/resolve") => json!({}),
        ("POST", "/api/v1/patients/{id}/vaccinations") => {
            json!({"vaccine": "x", "lot_number": "1"})
        }
        ("POST", "/api/v1/patients/{id}/vitals") => json!({"weight_kg": "3"}),
        ("PUT", "/api/v1/roles/{id}") => json!({"name": "X", "permissions": ["clients.read"]}),
        _ => return None,
    };
    Some(body)
}

/// `template` with each parameter filled by `fill(param)`.
fn filled(template: &str, fill: impl Fn(&str) -> String) -> String {
    template
        .split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(param) => fill(param),
                None => segment.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// An answer's body with its request id taken out, to compare two answers.
fn without_request_id(answer: &Answer) -> Value {
    let mut body = answer.body.clone();
    if let Some(object) = body.as_object_mut() {
        object.remove("request_id");
    }
    body
}

/// What A reads of its own things, to compare before and after the sweep.
async fn a_reads(env: &TestApp, a: &TokenUser, ids: &Ids) -> Vec<(String, StatusCode, Value)> {
    let mut reads = Vec::new();
    for path in [
        format!("/api/v1/clients/{}", ids["client"]),
        format!("/api/v1/patients/{}", ids["patient"]),
        format!("/api/v1/patients/{}/chart", ids["patient"]),
        format!("/api/v1/patients/{}/owners", ids["patient"]),
        format!("/api/v1/encounters/{}", ids["encounter"]),
        format!("/api/v1/appointments/{}", ids["appointment"]),
        "/api/v1/roles".to_owned(),
        "/api/v1/invitations".to_owned(),
        "/api/v1/api-keys".to_owned(),
        "/api/v1/members".to_owned(),
    ] {
        let answer = env.get(&path, a).await;
        reads.push((path, answer.status, answer.body));
    }
    reads
}

/// Everything practice B reached of practice A's, sweeping every documented
/// operation with an id in its path (empty when the tenancy holds).
async fn sweep(env: &TestApp) -> Vec<String> {
    let a_session = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let a = env.token_user(&a_session).await;
    let b_session = env.login(NORTHSIDE_ADMIN, TEST_PASSWORD).await;
    let b = env.token_user(&b_session).await;
    let ids = practice_a(env, &a).await;
    let before = a_reads(env, &a, &ids).await;
    let doc = env.get("/api/v1/openapi.json", &a).await.body;

    let mut findings = Vec::new();
    let mut swept = 0;
    for (template, item) in doc["paths"].as_object().expect("paths") {
        if !template.contains('{') {
            continue;
        }
        for (method, operation) in item.as_object().expect("a path item") {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let name = format!("{method} {template}");
            let theirs = filled(template, |param| {
                let kind = kind_of(template, param)
                    .unwrap_or_else(|| panic!("{name}: the sweep does not know {{{param}}}"));
                ids[kind].clone()
            });
            let nobodys = filled(template, |_| uuid::Uuid::now_v7().to_string());
            let body = if operation["requestBody"].is_object() {
                Some(
                    body_for(&method, template, &ids)
                        .unwrap_or_else(|| panic!("{name}: the sweep has no body for it")),
                )
            } else {
                None
            };
            let answer = env.request(method.clone(), &theirs, body.clone(), &b).await;
            let missing = env.request(method.clone(), &nobodys, body, &b).await;
            swept += 1;
            if !matches!(answer.status, StatusCode::NOT_FOUND | StatusCode::FORBIDDEN) {
                findings.push(format!(
                    "{name}: {} with A's ids: {}",
                    answer.status, answer.text
                ));
                continue;
            }
            if (answer.status, without_request_id(&answer))
                != (missing.status, without_request_id(&missing))
            {
                findings.push(format!(
                    "{name}: A's ids answer {} {}, ids naming nothing {} {}",
                    answer.status, answer.text, missing.status, missing.text
                ));
            }
            for (kind, value) in &ids {
                if answer.text.contains(value.as_str()) {
                    findings.push(format!("{name}: A's {kind} id in {}", answer.text));
                }
            }
            for name_of_a in [RIVERSIDE, "Kikomaru", "Sweepwell"] {
                if answer.text.contains(name_of_a) {
                    findings.push(format!("{name}: {name_of_a:?} in {}", answer.text));
                }
            }
        }
    }
    assert!(swept >= 40, "every operation with an id: {swept}");
    if a_reads(env, &a, &ids).await != before {
        findings.push("A's data changed during the sweep".to_owned());
    }
    findings
}

#[tokio::test]
async fn practice_b_reaches_nothing_of_practice_a_through_any_documented_path() {
    let env = TestApp::new().await;
    let findings = sweep(&env).await;
    assert!(findings.is_empty(), "{findings:#?}");
}

#[tokio::test]
async fn a_table_without_row_level_security_is_caught_by_the_sweep() {
    use sqlx::Executor;
    let env = TestApp::new().await;
    let mut owner = env.world.db.owner_conn().await;
    owner
        .execute("alter table clients disable row level security")
        .await
        .unwrap();
    let findings = sweep(&env).await;
    assert!(
        findings
            .iter()
            .any(|f| f.starts_with("GET /api/v1/clients/{id}: 200")),
        "the leak went unnoticed: {findings:#?}"
    );
}
