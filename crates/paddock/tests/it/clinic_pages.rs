//! The clinical pages over HTTP: who sees what (the front desk gets a patient's facts,
//! never its medical record), another practice's ids answer 404, forms keep what was
//! typed when they are refused, lists page with a "next page" link, a finalised
//! encounter refuses edits with the store's message, and no page needs a script or an
//! inline style. Also the fixtures the browser test shares: a weight history, an
//! extra allergy and a vaccination falling due, for practice A's dog Rex.

use crate::api::{Env, Session, env};
use crate::world::{TEST_PASSWORD, World};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use chrono::{Duration, Utc};
use http_body_util::BodyExt;
use paddock_domain::{AllergySeverity, WeightKg};
use paddock_store::RequestMeta;
use paddock_store::appointments::resources;
use paddock_store::clinical::chart;
use paddock_store::clinical::patients::{self, Patient};
use paddock_store::clinical::record::{self, NewAllergy, NewVaccination, NewVitals};
use serde_json::json;
use tower::ServiceExt;
use uuid::Uuid;

const DESK_EMAIL: &str = "desk@riverside.example";
const DESK_PASSWORD: &str = "marsh-harrier-31-glides-low";

// --- fixtures (shared with the browser test) -------------------------------------

/// Practice A's fixture dog Rex (owner Alex Fixture).
pub async fn rex(world: &World) -> Patient {
    let meta = RequestMeta::system("clinic pages");
    let mut tx = world.app.begin(&world.a.principal, &meta).await.unwrap();
    let found = patients::search(&mut tx, Some("Rex"), 10, None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    found
        .items
        .into_iter()
        .find(|p| p.name == "Rex")
        .expect("the fixture dog Rex")
}

/// Rex with a year of weights before the fixture's 21.4 kg (18.2, 19.6 and 20.9 kg),
/// a severe allergy besides the fixture's moderate one, and a rabies booster due in
/// ten days; returns Rex's id.
pub async fn rex_with_history(world: &World) -> Uuid {
    let rex = rex(world).await.id;
    let meta = RequestMeta::system("clinic pages");
    let mut tx = world.app.begin(&world.a.principal, &meta).await.unwrap();
    let now = Utc::now();
    for (days_ago, kg) in [(360, "18.2"), (240, "19.6"), (120, "20.9")] {
        record::record_vitals(
            &mut tx,
            rex.as_uuid(),
            &NewVitals {
                encounter_id: None,
                recorded_at: now - Duration::days(days_ago),
                weight: Some(WeightKg::parse("weight_kg", kg).unwrap()),
                temperature: None,
                heart_rate: None,
                respiratory_rate: None,
            },
        )
        .await
        .unwrap();
    }
    record::add_allergy(
        &mut tx,
        rex.as_uuid(),
        &NewAllergy {
            substance: "Cephalexin".to_owned(),
            reaction: Some("Facial swelling".to_owned()),
            severity: AllergySeverity::Severe,
        },
    )
    .await
    .unwrap();
    let today = now.date_naive();
    record::vaccinate(
        &mut tx,
        rex.as_uuid(),
        &NewVaccination {
            encounter_id: None,
            vaccine: "Rabies (Nobivac Rabies)".to_owned(),
            manufacturer: Some("MSD".to_owned()),
            lot_number: "R-2291".to_owned(),
            lot_expires_on: Some(today + Duration::days(30)),
            given_on: today - Duration::days(355),
            next_due_on: Some(today + Duration::days(10)),
            administered_by: world.a.admin,
            rabies_tag: Some("RT-0042".to_owned()),
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    rex.as_uuid()
}

/// Rex's fixture encounter (finalised, with one addendum).
async fn rex_encounter(world: &World, rex: Uuid) -> Uuid {
    let meta = RequestMeta::system("clinic pages");
    let mut tx = world.app.begin(&world.a.principal, &meta).await.unwrap();
    let list = chart::encounters(&mut tx, rex).await.unwrap();
    tx.commit().await.unwrap();
    list.first().expect("the fixture encounter").id
}

// --- pages over HTTP -------------------------------------------------------------

/// A page's answer: status, `Location`, content type and body.
struct Answer {
    status: StatusCode,
    location: Option<String>,
    content_type: String,
    body: String,
}

async fn answer(env: &Env, request: Request<Body>) -> Answer {
    let response = env.router.clone().oneshot(request).await.unwrap();
    let header_text = |name| {
        response
            .headers()
            .get(name)
            .map(|v: &axum::http::HeaderValue| v.to_str().unwrap().to_owned())
    };
    let location = header_text(header::LOCATION);
    let content_type = header_text(header::CONTENT_TYPE).unwrap_or_default();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        location,
        content_type,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

fn cookie(session: &Session) -> String {
    format!("__Host-paddock_session={}", session.cookie)
}

/// `GET path` as the browser of `session`.
async fn get(env: &Env, path: &str, session: &Session) -> Answer {
    let request = Request::get(path)
        .header(header::COOKIE, cookie(session))
        .body(Body::empty())
        .unwrap();
    answer(env, request).await
}

/// Percent-encodes a form value (`application/x-www-form-urlencoded`).
fn form_value(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                char::from(b).to_string()
            }
            b' ' => "+".to_owned(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Posts a form as the browser of `session`, with the session's CSRF token.
async fn post(env: &Env, path: &str, session: &Session, fields: &[(&str, &str)]) -> Answer {
    let body = std::iter::once(("csrf_token", session.csrf.as_str()))
        .chain(fields.iter().copied())
        .map(|(k, v)| format!("{k}={}", form_value(v)))
        .collect::<Vec<_>>()
        .join("&");
    let request = Request::post(path)
        .header(header::COOKIE, cookie(session))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    answer(env, request).await
}

/// A receptionist of practice A, signed in (invited by the admin, link accepted).
async fn receptionist(env: &Env, admin: &Session) -> Session {
    let (_, roles, _) = env.send("GET", "/api/v1/roles", None, Some(admin)).await;
    let role = roles
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "Receptionist")
        .unwrap()["id"]
        .clone();
    let (status, body, _) = env
        .send(
            "POST",
            "/api/v1/invitations",
            Some(json!({"email": DESK_EMAIL, "role_id": role})),
            Some(admin),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mails = paddock_notify::read_outbox(&env.outbox).unwrap();
    let mail = mails
        .iter()
        .rev()
        .find(|m| m.to.contains(DESK_EMAIL))
        .unwrap();
    let token = mail
        .body_text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("https://paddock.test/invitations/"))
        .unwrap();
    let (status, body, _) = env
        .send(
            "POST",
            "/api/v1/invitations/accept",
            Some(json!({"token": token, "password": DESK_PASSWORD, "display_name": "Dana Desk"})),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    env.login_as(DESK_EMAIL, DESK_PASSWORD).await
}

#[track_caller]
fn assert_plain_html(page: &Answer) {
    assert!(
        page.content_type.starts_with("text/html"),
        "{}",
        page.content_type
    );
    assert!(!page.body.contains("<script"), "no script: {}", page.body);
    assert!(
        !page.body.contains("style="),
        "no inline style: {}",
        page.body
    );
    assert!(
        !page.body.contains("<style"),
        "no style element: {}",
        page.body
    );
}

#[tokio::test]
async fn clinic_pages_the_chart_shows_the_medical_record_to_a_vet_and_only_facts_to_the_desk() {
    let env = env().await;
    let rex = rex_with_history(&env.world).await;
    let admin = env.login(TEST_PASSWORD).await;

    let chart = get(&env, &format!("/patients/{rex}"), &admin).await;
    assert_eq!(chart.status, StatusCode::OK, "{}", chart.body);
    assert_plain_html(&chart);
    for expected in [
        "id=\"allergies\"",
        "Penicillin",
        "Cephalexin",
        "Lameness, left forelimb",
        "Meloxicam",
        "Rabies (Nobivac Rabies)",
        "<svg id=\"weight-chart\"",
        "class=\"weight-line\"",
        "Alex Fixture",
        "href=\"/patients\" id=\"nav-patients\" aria-current=\"page\"",
        "id=\"nav-clients\"",
        "id=\"nav-appointments\"",
    ] {
        assert!(chart.body.contains(expected), "{expected}: {}", chart.body);
    }
    // Severe before moderate, as the store orders them.
    assert!(chart.body.find("Cephalexin") < chart.body.find("Penicillin"));
    let points = chart
        .body
        .split("class=\"weight-line\" fill=\"none\" points=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap();
    assert_eq!(points.split(' ').count(), 4, "four weights: {points}");
    assert!(chart.body.contains(">20 kg</text>"), "kg labels");

    // The front desk sees who the patient is and whose it is, and nothing clinical.
    let desk = receptionist(&env, &admin).await;
    let facts = get(&env, &format!("/patients/{rex}"), &desk).await;
    assert_eq!(facts.status, StatusCode::OK, "{}", facts.body);
    assert_plain_html(&facts);
    assert!(facts.body.contains("Rex"));
    assert!(facts.body.contains("Alex Fixture"));
    assert!(facts.body.contains("id=\"no-clinical\""));
    for clinical in [
        "Penicillin",
        "Lameness",
        "Meloxicam",
        "weight-chart",
        "21.4",
        "id=\"new-encounter\"",
    ] {
        assert!(!facts.body.contains(clinical), "{clinical}: {}", facts.body);
    }
    assert!(
        facts.body.contains("id=\"book-appointment\""),
        "the desk books"
    );
    let encounter = rex_encounter(&env.world, rex).await;
    for path in [
        format!("/encounters/{encounter}"),
        format!("/patients/{rex}/encounters/new"),
    ] {
        let refused = get(&env, &path, &desk).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
    }
    let refused = post(
        &env,
        &format!("/encounters/{encounter}/addenda"),
        &desk,
        &[("body", "not mine to write")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn clinic_pages_another_practices_ids_answer_like_unknown_ones() {
    let env = env().await;
    let rex = rex(&env.world).await;
    let encounter = rex_encounter(&env.world, rex.id.as_uuid()).await;
    let owner = rex.primary_owner_id.unwrap();
    let admin_b = env.login_as("admin@northside.example", TEST_PASSWORD).await;
    for path in [
        format!("/patients/{}", rex.id),
        format!("/clients/{owner}"),
        format!("/encounters/{encounter}"),
        format!("/patients/{}/encounters/new", rex.id),
        format!("/patients/{}", Uuid::now_v7()),
        "/patients/not-an-id".to_owned(),
    ] {
        let page = get(&env, &path, &admin_b).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}: {}", page.body);
        assert!(!page.body.contains("Rex"), "{path}");
    }
    let search = get(&env, "/patients?q=Fixture", &admin_b).await;
    assert_eq!(search.status, StatusCode::OK);
    assert!(
        !search.body.contains(&rex.id.to_string()),
        "only B's own Rex"
    );
    let refused = post(
        &env,
        &format!("/encounters/{encounter}/addenda"),
        &admin_b,
        &[("body", "from the other practice")],
    )
    .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn clinic_pages_a_refused_client_form_keeps_what_was_typed() {
    let env = env().await;
    let admin = env.login(TEST_PASSWORD).await;
    let typed = [
        ("given_name", "Jo <b>"),
        ("family_name", "O'Brien"),
        ("email", "not-an-email"),
        ("mobile", "07700 900456"),
        ("address", "3 Weir Road\nRiverside"),
        ("contact_by_sms", "on"),
        ("notes", "Prefers mornings"),
    ];
    let refused = post(&env, "/clients", &admin, &typed).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_plain_html(&refused);
    assert!(
        refused.body.contains("id=\"form-errors\""),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("Email: must be"), "{}", refused.body);
    assert!(
        refused.body.contains("value=\"Jo &#60;b&#62;\""),
        "escaped and kept"
    );
    assert!(refused.body.contains("value=\"O&#39;Brien\""));
    assert!(refused.body.contains("value=\"07700 900456\""));
    assert!(refused.body.contains("3 Weir Road\nRiverside</textarea>"));
    assert!(refused.body.contains("Prefers mornings</textarea>"));
    assert!(refused.body.contains("id=\"contact_by_sms\" checked"));
    assert!(
        !refused.body.contains("id=\"contact_by_email\" checked"),
        "unticked stays unticked"
    );

    let mut fixed = typed.to_vec();
    fixed[2] = ("email", "jo.obrien@example.org");
    let created = post(&env, "/clients", &admin, &fixed).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let location = created.location.unwrap();
    assert!(location.ends_with("?notice=created"), "{location}");
    let page = get(&env, &location, &admin).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("Jo &#60;b&#62; O&#39;Brien"),
        "{}",
        page.body
    );
    assert!(page.body.contains("07700900456"));
    assert!(page.body.contains("id=\"add-patient\""));

    // Without the session's CSRF token nothing is written.
    let forged = Session {
        cookie: admin.cookie.clone(),
        csrf: "forged".to_owned(),
    };
    let refused = post(&env, "/clients", &forged, &fixed).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn clinic_pages_a_client_is_edited_in_place_and_a_bad_edit_keeps_the_input() {
    let env = env().await;
    let admin = env.login(TEST_PASSWORD).await;
    let rex = rex(&env.world).await;
    let owner = rex.primary_owner_id.unwrap();
    let edit = get(&env, &format!("/clients/{owner}/edit"), &admin).await;
    assert_eq!(edit.status, StatusCode::OK);
    assert_plain_html(&edit);
    assert!(
        edit.body.contains(&format!("action=\"/clients/{owner}\"")),
        "{}",
        edit.body
    );
    assert!(
        edit.body.contains("value=\"Fixture\""),
        "prefilled: {}",
        edit.body
    );

    let mut fields = vec![
        ("given_name", "Alex"),
        ("family_name", "Fixture-Hale"),
        ("email", "broken@"),
        ("mobile", "+44 7700 900999"),
        ("contact_by_email", "on"),
        ("reminders", "on"),
    ];
    let refused = post(&env, &format!("/clients/{owner}"), &admin, &fields).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("value=\"Fixture-Hale\""), "kept");
    assert!(refused.body.contains("Save changes"));
    let unchanged = get(&env, &format!("/clients/{owner}"), &admin).await;
    assert!(!unchanged.body.contains("Fixture-Hale"), "nothing written");

    fields[2] = ("email", "alex.hale@example.org");
    let saved = post(&env, &format!("/clients/{owner}"), &admin, &fields).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let page = get(&env, saved.location.as_deref().unwrap(), &admin).await;
    assert!(page.body.contains("Details saved."), "{}", page.body);
    assert!(page.body.contains("Alex Fixture-Hale"));
    assert!(page.body.contains("+447700900999"));

    // Another practice cannot open or post the form for this client.
    let admin_b = env.login_as("admin@northside.example", TEST_PASSWORD).await;
    let foreign = get(&env, &format!("/clients/{owner}/edit"), &admin_b).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    let foreign = post(&env, &format!("/clients/{owner}"), &admin_b, &fields).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn clinic_pages_a_new_patient_joins_its_owner_and_a_taken_microchip_is_refused() {
    let env = env().await;
    let admin = env.login(TEST_PASSWORD).await;
    let owner = rex(&env.world).await.primary_owner_id.unwrap();
    let form = get(&env, &format!("/patients/new?owner={owner}"), &admin).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(
        form.body.contains("id=\"owner-name\">Alex Fixture<"),
        "{}",
        form.body
    );

    let owner_text = owner.to_string();
    let fields = [
        ("owner_id", owner_text.as_str()),
        ("name", "Bella"),
        ("species", "Feline"),
        ("sex", "female_spayed"),
        ("date_of_birth", "2020-05-01"),
        ("microchip", "985141000123456"),
    ];
    let created = post(&env, "/patients", &admin, &fields).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    let chart = get(&env, &created.location.unwrap(), &admin).await;
    assert!(chart.body.contains("Bella"));
    assert!(chart.body.contains("985141000123456"));
    let client = get(&env, &format!("/clients/{owner}"), &admin).await;
    assert!(client.body.contains("Bella") && client.body.contains("Rex"));

    // The same chip again: refused on its field, everything else kept.
    let mut again = fields.to_vec();
    again[1] = ("name", "Bella Two");
    let refused = post(&env, "/patients", &admin, &again).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(
        refused.body.contains("Microchip: is already registered"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("value=\"Bella Two\""));
    assert!(refused.body.contains("value=\"2020-05-01\""));

    // An owner that is no client of this practice is a message, not an error page.
    let stranger = Uuid::now_v7().to_string();
    let mut orphan = fields.to_vec();
    orphan[0] = ("owner_id", stranger.as_str());
    orphan[5] = ("microchip", "");
    let refused = post(&env, "/patients", &admin, &orphan).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.body.contains("is not a client of this practice"));
}

#[tokio::test]
async fn clinic_pages_the_patient_list_searches_and_pages_with_a_next_link() {
    let env = env().await;
    let admin = env.login(TEST_PASSWORD).await;
    let owner = rex(&env.world).await.primary_owner_id.unwrap().to_string();
    for name in ["Archie", "Biscuit", "Clover", "Daisy"] {
        let created = post(
            &env,
            "/patients",
            &admin,
            &[
                ("owner_id", &owner),
                ("name", name),
                ("species", "Canine"),
                ("sex", "unknown"),
            ],
        )
        .await;
        assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
    }
    let mut seen = Vec::new();
    let mut path = "/patients?q=fixture&limit=2".to_owned();
    loop {
        let page = get(&env, &path, &admin).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        seen.extend(
            page.body
                .split("class=\"patient-link\">")
                .skip(1)
                .map(|rest| rest.split('<').next().unwrap().to_owned()),
        );
        let Some(next) = page
            .body
            .split("href=\"")
            .find(|rest| rest.contains("\" id=\"next-page\""))
            .map(|rest| rest.split('"').next().unwrap().replace("&#38;", "&"))
        else {
            break;
        };
        assert!(next.contains("q=fixture&limit=2&cursor="), "{next}");
        path = next;
        assert!(seen.len() < 20, "the walk ends");
    }
    assert_eq!(seen, ["Archie", "Biscuit", "Clover", "Daisy", "Rex"]);

    let none = get(&env, "/patients?q=zebra", &admin).await;
    assert!(none.body.contains("No patient matches"), "{}", none.body);
    let bad = get(&env, "/patients?cursor=nope", &admin).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("Cursor: is not a cursor"), "{}", bad.body);
}

#[tokio::test]
async fn clinic_pages_a_finalised_encounter_refuses_edits_with_the_lock_message_and_keeps_the_text()
{
    let env = env().await;
    let admin = env.login(TEST_PASSWORD).await;
    let rex = rex(&env.world).await.id;
    let encounter = rex_encounter(&env.world, rex.as_uuid()).await;

    let page = get(&env, &format!("/encounters/{encounter}"), &admin).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_plain_html(&page);
    assert!(page.body.contains("id=\"addendum-form\""));
    assert!(
        !page.body.contains("id=\"notes-form\""),
        "read-only once finalised"
    );
    assert!(page.body.contains("Owner called: walking normally."));

    // A stale edit form (say, from another tab) posts after the finalising.
    let refused = post(
        &env,
        &format!("/encounters/{encounter}"),
        &admin,
        &[
            ("subjective", "Rewriting history"),
            ("plan", "Rest for a week"),
        ],
    )
    .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
    assert!(
        refused.body.contains(
            "The encounter is finalised (or past its editing period); add an addendum instead"
        ),
        "{}",
        refused.body
    );
    assert!(
        refused.body.contains(
            "id=\"unsaved-text\">Subjective:\nRewriting history\n\nPlan:\nRest for a week</pre>"
        ),
        "{}",
        refused.body
    );
    assert!(
        refused
            .body
            .contains("Lame on the left fore since Tuesday."),
        "the original stands"
    );

    // An empty addendum is refused on its field.
    let empty = post(
        &env,
        &format!("/encounters/{encounter}/addenda"),
        &admin,
        &[("body", "   ")],
    )
    .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty.body.contains("must not be empty"));
}

#[tokio::test]
async fn clinic_pages_the_desk_checks_in_and_cancels_from_the_calendar() {
    let env = env().await;
    let admin = env.login(TEST_PASSWORD).await;
    rex(&env.world).await;
    let desk = receptionist(&env, &admin).await;
    // The fixture's booking, 08:00 on Monday 4 January 2027.
    let day = get(&env, "/appointments?day=2027-01-04", &desk).await;
    assert_plain_html(&day);
    let id = day
        .body
        .split("data-appointment-id=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    assert!(day.body.contains("value=\"checked_in\""), "{}", day.body);
    let path = format!("/appointments/{id}/status");
    let back = "/appointments?day=2027-01-04";
    let checked_in = post(
        &env,
        &path,
        &desk,
        &[("status", "checked_in"), ("back", back)],
    )
    .await;
    assert_eq!(
        checked_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        checked_in.body
    );
    assert_eq!(
        checked_in.location.as_deref(),
        Some("/appointments?day=2027-01-04&notice=status")
    );
    let (_, shown, _) = env
        .send(
            "GET",
            &format!("/api/v1/appointments/{id}"),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(shown["status"], "checked_in");
    // A return address outside the calendar is not followed.
    let cancelled = post(
        &env,
        &path,
        &desk,
        &[("status", "cancelled"), ("back", "https://evil.example/")],
    )
    .await;
    assert_eq!(
        cancelled.location.as_deref(),
        Some("/appointments?notice=status")
    );
    let (_, shown, _) = env
        .send(
            "GET",
            &format!("/api/v1/appointments/{id}"),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(shown["status"], "cancelled");
    let after = get(&env, "/appointments?day=2027-01-04", &desk).await;
    assert!(
        !after.body.contains("value=\"cancelled\""),
        "a freed slot has no buttons"
    );
    // Without the session's CSRF token nothing changes.
    let forged = Session {
        cookie: desk.cookie.clone(),
        csrf: "forged".to_owned(),
    };
    let refused = post(
        &env,
        &path,
        &forged,
        &[("status", "booked"), ("back", back)],
    )
    .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn clinic_pages_the_day_and_week_views_list_the_book() {
    let env = env().await;
    let admin = env.login(TEST_PASSWORD).await;
    let rex = rex(&env.world).await.id;
    // The fixture's booking: Rex with the admin in consult room 1, 08:00 to 08:20.
    let day = get(&env, "/appointments?day=2027-01-04", &admin).await;
    assert_eq!(day.status, StatusCode::OK, "{}", day.body);
    assert_plain_html(&day);
    for expected in [
        "Monday 4 January 2027",
        "<h2>Admin</h2>",
        "08:00–08:20",
        "Consult room 1",
        &format!("href=\"/patients/{rex}\">Rex</a>"),
        "href=\"/appointments?day=2027-01-03\" id=\"prev\"",
        "href=\"/appointments?day=2027-01-05\" id=\"next\"",
        "href=\"/appointments/new?day=2027-01-04\"",
    ] {
        assert!(day.body.contains(expected), "{expected}: {}", day.body);
    }
    // The week holding a Thursday starts on its Monday.
    let week = get(&env, "/appointments?view=week&day=2027-01-07", &admin).await;
    assert_eq!(week.status, StatusCode::OK);
    for expected in [
        "Week of Mon 4 Jan 2027 to Sun 10 Jan 2027",
        "<a href=\"/appointments?day=2027-01-04\">Mon 4 Jan</a>",
        "08:00–08:20",
        "href=\"/appointments?week=2026-12-28\" id=\"prev\"",
        "href=\"/appointments?week=2027-01-11\" id=\"next\"",
    ] {
        assert!(week.body.contains(expected), "{expected}: {}", week.body);
    }
    let empty = get(&env, "/appointments?week=2027-01-11", &admin).await;
    assert!(empty.body.contains("No bookings this week."));
    let bad = get(&env, "/appointments?day=31/01/2027", &admin).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.body.contains("Day: must be a date"), "{}", bad.body);

    // A booking needs someone or something to book; the form says so and keeps the rest.
    let refused = post(
        &env,
        "/appointments",
        &admin,
        &[
            ("patient_id", &rex.to_string()),
            ("date", "2027-01-04"),
            ("time", "11:30"),
            ("duration", "30"),
            ("kind", "vaccination"),
            ("reason", "Booster"),
        ],
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused.body.contains("choose a staff member"),
        "{}",
        refused.body
    );
    assert!(refused.body.contains("value=\"11:30\""));
    assert!(refused.body.contains("value=\"Booster\""));
    assert!(
        refused
            .body
            .contains("<option value=\"vaccination\" selected>")
    );

    // The same room as the fixture's booking, overlapping it: refused, naming it.
    let room = {
        let meta = RequestMeta::system("clinic pages");
        let mut tx = env
            .world
            .app
            .begin(&env.world.a.principal, &meta)
            .await
            .unwrap();
        let all = resources::list(&mut tx).await.unwrap();
        tx.commit().await.unwrap();
        all.into_iter()
            .find(|r| r.name == "Consult room 1")
            .expect("the fixture room")
            .id
            .to_string()
    };
    {
        let clash = post(
            &env,
            "/appointments",
            &admin,
            &[
                ("resource_id", &room),
                ("date", "2027-01-04"),
                ("time", "08:10"),
                ("duration", "15"),
                ("kind", "other"),
            ],
        )
        .await;
        assert_eq!(clash.status, StatusCode::CONFLICT, "{}", clash.body);
        assert!(
            clash.body.contains(
                "Consult room 1 already has a booking (with Rex) from 08:00 to 08:20 UTC on \
                 Monday 4 January 2027"
            ),
            "{}",
            clash.body
        );
    }
}

#[tokio::test]
async fn clinic_pages_a_refused_encounter_keeps_the_notes_and_writes_nothing() {
    let env = env().await;
    let admin = env.login(TEST_PASSWORD).await;
    let rex = rex(&env.world).await.id;
    let path = format!("/patients/{rex}/encounters");
    let form = get(&env, &format!("{path}/new"), &admin).await;
    assert_eq!(form.status, StatusCode::OK);
    assert_plain_html(&form);
    assert!(form.body.contains("Penicillin"), "allergies in sight");

    let typed = [
        ("kind", "consultation"),
        ("date", "2026-11-28"),
        ("time", "09:30"),
        ("reason", "Itchy ears"),
        (
            "subjective",
            "Scratching both ears <for> a week & shaking head.",
        ),
        ("weight_kg", "heavy"),
        ("temperature_c", "52"),
    ];
    let refused = post(&env, &path, &admin, &typed).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .body
            .contains("Weight (kg): must be a weight in kilograms")
    );
    assert!(
        refused
            .body
            .contains("Temperature (°C): must be between 25.0 and 46.0")
    );
    assert!(refused.body.contains("value=\"heavy\""));
    assert!(refused.body.contains("value=\"Itchy ears\""));
    assert!(
        refused
            .body
            .contains("Scratching both ears &#60;for&#62; a week &#38; shaking head.</textarea>")
    );
    let chart = get(&env, &format!("/patients/{rex}"), &admin).await;
    assert!(!chart.body.contains("Itchy ears"), "nothing was written");

    let mut fixed = typed.to_vec();
    fixed[5] = ("weight_kg", "21,9");
    fixed[6] = ("temperature_c", "38.9");
    let saved = post(&env, &path, &admin, &fixed).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let page = get(&env, &saved.location.unwrap(), &admin).await;
    assert!(page.body.contains("Encounter saved."));
    assert!(page.body.contains("21.9 kg") && page.body.contains("38.9 °C"));
    assert!(page.body.contains("id=\"notes-form\""), "open: editable");
}

/// Practice A's `read` events about `entity`, as their `view` (or `null`).
async fn read_views(world: &World, entity: Uuid) -> Vec<serde_json::Value> {
    let meta = RequestMeta::system("reads");
    let mut tx = world.app.begin(&world.a.principal, &meta).await.unwrap();
    let rows: Vec<Option<serde_json::Value>> = sqlx::query_scalar(
        "select changes::jsonb from audit_events where action = 'read' and entity_id = $1 order by id",
    )
    .bind(entity)
    .fetch_all(tx.conn())
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    rows.into_iter()
        .map(|c| c.map(|c| c["view"].clone()).unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn clinic_pages_viewing_the_chart_or_an_encounter_page_writes_read_events() {
    let env = env().await;
    let admin = env.login(TEST_PASSWORD).await;
    let rex = rex(&env.world).await.id;
    let encounter = rex_encounter(&env.world, rex.as_uuid()).await;
    let before = read_views(&env.world, rex.as_uuid()).await;
    let encounter_reads = read_views(&env.world, encounter).await.len();
    let chart = get(&env, &format!("/patients/{rex}"), &admin).await;
    assert_eq!(chart.status, StatusCode::OK);
    let mut expected = before.clone();
    expected.push(json!("chart"));
    assert_eq!(read_views(&env.world, rex.as_uuid()).await, expected);
    let page = get(&env, &format!("/encounters/{encounter}"), &admin).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        read_views(&env.world, encounter).await.len(),
        encounter_reads + 1
    );
}

#[tokio::test]
async fn clinic_pages_a_nul_byte_in_a_search_a_cursor_or_a_form_is_the_forms_error() {
    let env = env().await;
    let admin = env.login(TEST_PASSWORD).await;
    let cursor = paddock_store::page::Cursor::after("a\0b", Uuid::now_v7()).encode();
    for path in [
        "/patients?q=a%00b".to_owned(),
        "/clients?q=a%00b".to_owned(),
        "/clients?q=a%1Bb".to_owned(),
        "/appointments/new?q=a%00b".to_owned(),
        format!("/patients?cursor={cursor}"),
        format!("/clients?cursor={cursor}"),
    ] {
        let page = get(&env, &path, &admin).await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {}",
            page.body
        );
        assert_plain_html(&page);
        assert!(
            page.body.contains("must not contain control characters")
                || page.body.contains("is not a cursor of this list"),
            "{path}: {}",
            page.body
        );
    }
    let refused = post(
        &env,
        "/clients",
        &admin,
        &[("given_name", "Jo"), ("family_name", "Nul\u{0}l")],
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(refused.body.contains("must not contain control characters"));
    let rex = rex(&env.world).await.id;
    let refused = post(
        &env,
        &format!("/patients/{rex}/encounters"),
        &admin,
        &[
            ("kind", "consultation"),
            ("date", "2026-11-28"),
            ("time", "09:30"),
            ("subjective", "Ate a sock\u{0}"),
        ],
    )
    .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.body
    );
    assert!(refused.body.contains("must not contain control characters"));
}

#[tokio::test]
async fn clinic_pages_an_encounter_started_before_birth_or_in_the_future_is_refused() {
    let env = env().await;
    let admin = env.login(TEST_PASSWORD).await;
    let rex = rex(&env.world).await.id;
    let path = format!("/patients/{rex}/encounters");
    let tomorrow = (paddock_domain::Clock::now(env.clock.as_ref()) + Duration::days(1))
        .date_naive()
        .to_string();
    for day in ["1900-01-01", tomorrow.as_str()] {
        let refused = post(
            &env,
            &path,
            &admin,
            &[
                ("kind", "consultation"),
                ("date", day),
                ("time", "09:30"),
                ("reason", "Dated"),
            ],
        )
        .await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{day}: {}",
            refused.body
        );
        assert!(
            refused.body.contains("Started at:") || refused.body.contains("Date:"),
            "{}",
            refused.body
        );
    }
    let chart = get(&env, &format!("/patients/{rex}"), &admin).await;
    assert!(!chart.body.contains("Dated"), "nothing was written");
}

#[tokio::test]
async fn clinic_pages_the_appointment_book_shows_the_patients_name_without_a_link_to_the_record() {
    let env = env().await;
    let admin = env.login(TEST_PASSWORD).await;
    let (status, role, _) = env
        .send(
            "POST",
            "/api/v1/roles",
            Some(json!({"name": "Rota", "permissions": ["appointments.read"]})),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{role}");
    let rota = env
        .join_with_role(
            &admin,
            "rota@riverside.example",
            role["id"].as_str().unwrap(),
        )
        .await;
    let rex = rex(&env.world).await.id;
    // The fixture books Rex on 4 January 2027.
    let page = get(&env, "/appointments?day=2027-01-04", &rota).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("Rex"), "{}", page.body);
    assert!(
        !page.body.contains(&format!("/patients/{rex}")),
        "no link without patients.read"
    );
}

// --- issue 12: dates at the edge of the calendar, return addresses ---------------

/// Dates a person (or an attacker) can put in the address: chrono's own limits, the
/// years around them, far-away but well-formed dates, and malformed ones.
fn edge_dates() -> Vec<String> {
    let years: [i64; 18] = [
        -262_145,
        -262_144,
        -262_143,
        -10_000,
        -1,
        0,
        1,
        1899,
        1900,
        2200,
        2201,
        9999,
        10_000,
        262_142,
        262_143,
        262_144,
        2_147_483_647,
        -2_147_483_648,
    ];
    let mut dates = Vec::new();
    for year in years {
        for month_day in ["01-01", "12-31", "02-29", "13-01", "00-00"] {
            dates.push(format!("{year:04}-{month_day}"));
            dates.push(format!("{year:+05}-{month_day}"));
        }
    }
    dates.extend(
        [
            "",
            "+",
            "-",
            "2027",
            "2027-01",
            "2027-1-4",
            "2027-01-04T00:00",
            "９９９９-01-01",
            "2027-01-04\u{7f}",
            "%00",
            "99999999999999999999-01-01",
            "1900-01-01 ",
            "--01-01",
        ]
        .map(str::to_owned),
    );
    dates
}

#[tokio::test]
async fn clinic_pages_a_day_far_outside_the_calendar_is_refused_not_a_panic() {
    let env = env().await;
    let admin = env.login(TEST_PASSWORD).await;
    for address in [
        "/appointments?day=%2B262142-12-31",
        "/appointments?day=%2B262143-12-31",
        "/appointments?day=-262143-01-01",
        "/appointments?day=-262144-01-01",
        "/appointments?week=%2B262142-12-31",
        "/appointments?week=-262143-01-01",
        "/appointments?view=week&day=-262144-01-01",
        "/appointments?day=1899-12-31",
        "/appointments?day=2201-01-01",
    ] {
        let page = get(&env, address, &admin).await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{address}: {}",
            page.body
        );
        assert!(
            page.body.contains("must be a date"),
            "{address}: {}",
            page.body
        );
    }
    for address in [
        "/appointments?day=1900-01-01",
        "/appointments?week=2200-12-31",
    ] {
        let page = get(&env, address, &admin).await;
        assert_eq!(page.status, StatusCode::OK, "{address}: {}", page.body);
    }
    let form = get(&env, "/appointments/new?day=%2B262142-12-31", &admin).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.body);

    // Booking at such a date shows the form again with the reason, and books nothing.
    let staff = env.world.a.admin.as_uuid().to_string();
    for date in ["+262142-12-31", "-262143-01-01", "9999-12-31"] {
        let refused = post(
            &env,
            "/appointments",
            &admin,
            &[
                ("staff_id", &staff),
                ("date", date),
                ("time", "23:00"),
                ("duration", "480"),
                ("kind", "consultation"),
            ],
        )
        .await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{date}: {}",
            refused.body
        );
        assert!(refused.body.contains("must be a date"), "{}", refused.body);
    }
}

#[tokio::test]
async fn clinic_pages_no_date_in_the_address_panics_the_calendar() {
    let env = env().await;
    let admin = env.login(TEST_PASSWORD).await;
    for (n, date) in edge_dates().iter().enumerate() {
        let name = ["day", "week"][n % 2];
        let address = format!("/appointments?{name}={}", form_value(date));
        // A panic here fails the test by itself; every answer is the page, good or refused.
        let page = get(&env, &address, &admin).await;
        assert!(
            [StatusCode::OK, StatusCode::UNPROCESSABLE_ENTITY].contains(&page.status),
            "{address}: {} {}",
            page.status,
            page.body
        );
        assert_plain_html(&page);
    }
}

#[tokio::test]
async fn clinic_pages_a_malformed_return_address_is_never_followed_nor_answered_500() {
    let env = env().await;
    let admin = env.login(TEST_PASSWORD).await;
    rex(&env.world).await;
    let day = get(&env, "/appointments?day=2027-01-04", &admin).await;
    let id = day
        .body
        .split("data-appointment-id=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let path = format!("/appointments/{id}/status");
    for back in [
        "/appointments?x=\u{7f}",
        "/appointments?x=\u{1}",
        "/appointments?x=\r\nSet-Cookie: a=b",
        "/appointments\t?day=2027-01-04",
        "/appointments/../\\evil.example",
        "//evil.example/appointments?day=1",
        "/\t/evil.example",
    ] {
        let answer = post(
            &env,
            &path,
            &admin,
            &[("status", "checked_in"), ("back", back)],
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::SEE_OTHER,
            "{back:?}: {}",
            answer.body
        );
        // Not followed: the calendar itself, never the given address.
        assert_eq!(
            answer.location.as_deref(),
            Some("/appointments?notice=status"),
            "{back:?}"
        );
        let (_, shown, _) = env
            .send(
                "GET",
                &format!("/api/v1/appointments/{id}"),
                None,
                Some(&admin),
            )
            .await;
        assert_eq!(
            shown["status"], "checked_in",
            "the click was kept: {back:?}"
        );
    }
}
