//! The clinical pages over HTTP: who sees what (the front desk gets a patient's facts,
//! never its medical record), another practice's ids answer 404, forms keep what was
//! typed when they are refused, lists page with a "next page" link, a finalised
//! encounter refuses edits with the store's message, and no page needs a script or an
//! inline style. Also the fixtures the browser test shares: a weight history, an
//! extra allergy and a vaccination falling due, for practice A's dog Rex.

use crate::support::pages::form_value;
use crate::support::{Answer, CookieUser, RIVERSIDE_ADMIN, TEST_PASSWORD, TestApp};
use crate::world::World;
use axum::http::Method;
use axum::http::StatusCode;
use chrono::{Duration, Utc};
use paddock_domain::{AllergySeverity, WeightKg};
use paddock_store::RequestMeta;
use paddock_store::clinical::patients::{self, Patient};
use paddock_store::clinical::record::{self, NewAllergy, NewVaccination, NewVitals};
use paddock_store::{appointments::resources, clinical::chart};
use serde_json::json;
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
            rex,
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
        rex,
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
        rex,
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
    let list = chart::encounters(&mut tx, rex.into()).await.unwrap();
    tx.commit().await.unwrap();
    list.first().expect("the fixture encounter").id.as_uuid()
}

// --- pages over HTTP -------------------------------------------------------------

/// A receptionist of practice A, signed in (invited by the admin, link accepted).
async fn receptionist(env: &TestApp, admin: &CookieUser) -> CookieUser {
    let role = env.role_id(admin, "Receptionist").await;
    env.join_with_password(admin, DESK_EMAIL, &json!(role), DESK_PASSWORD, "Dana Desk")
        .await
}

#[track_caller]
fn assert_plain_html(page: &Answer) {
    assert!(
        page.content_type().starts_with("text/html"),
        "{}",
        page.content_type()
    );
    assert!(!page.text.contains("<script"), "no script: {}", page.text);
    assert!(
        !page.text.contains("style="),
        "no inline style: {}",
        page.text
    );
    assert!(
        !page.text.contains("<style"),
        "no style element: {}",
        page.text
    );
}

#[tokio::test]
async fn clinic_pages_the_chart_shows_the_medical_record_to_a_vet_and_only_facts_to_the_desk() {
    let env = TestApp::new().await;
    let rex = rex_with_history(&env.world).await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;

    let chart = env.page(&format!("/patients/{rex}"), &admin).await;
    assert_eq!(chart.status, StatusCode::OK, "{}", chart.text);
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
        assert!(chart.text.contains(expected), "{expected}: {}", chart.text);
    }
    // Severe before moderate, as the store orders them.
    assert!(chart.text.find("Cephalexin") < chart.text.find("Penicillin"));
    let points = chart
        .text
        .split("class=\"weight-line\" fill=\"none\" points=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap();
    assert_eq!(points.split(' ').count(), 4, "four weights: {points}");
    assert!(chart.text.contains(">20 kg</text>"), "kg labels");

    // The front desk sees who the patient is and whose it is, and nothing clinical.
    let desk = receptionist(&env, &admin).await;
    let facts = env.page(&format!("/patients/{rex}"), &desk).await;
    assert_eq!(facts.status, StatusCode::OK, "{}", facts.text);
    assert_plain_html(&facts);
    assert!(facts.text.contains("Rex"));
    assert!(facts.text.contains("Alex Fixture"));
    assert!(facts.text.contains("id=\"no-clinical\""));
    for clinical in [
        "Penicillin",
        "Lameness",
        "Meloxicam",
        "weight-chart",
        "21.4",
        "id=\"new-encounter\"",
    ] {
        assert!(!facts.text.contains(clinical), "{clinical}: {}", facts.text);
    }
    assert!(
        facts.text.contains("id=\"book-appointment\""),
        "the desk books"
    );
    let encounter = rex_encounter(&env.world, rex).await;
    for path in [
        format!("/encounters/{encounter}"),
        format!("/patients/{rex}/encounters/new"),
    ] {
        let refused = env.page(&path, &desk).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}");
    }
    let refused = env
        .submit(
            &format!("/encounters/{encounter}/addenda"),
            &desk,
            &[("body", "not mine to write")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn clinic_pages_another_practices_ids_answer_like_unknown_ones() {
    let env = TestApp::new().await;
    let rex = rex(&env.world).await;
    let encounter = rex_encounter(&env.world, rex.id.as_uuid()).await;
    let owner = rex.primary_owner_id.unwrap();
    let admin_b = env.login("admin@northside.example", TEST_PASSWORD).await;
    for path in [
        format!("/patients/{}", rex.id),
        format!("/clients/{owner}"),
        format!("/encounters/{encounter}"),
        format!("/patients/{}/encounters/new", rex.id),
        format!("/patients/{}", Uuid::now_v7()),
        "/patients/not-an-id".to_owned(),
    ] {
        let page = env.page(&path, &admin_b).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{path}: {}", page.text);
        assert!(!page.text.contains("Rex"), "{path}");
    }
    let search = env.page("/patients?q=Fixture", &admin_b).await;
    assert_eq!(search.status, StatusCode::OK);
    assert!(
        !search.text.contains(&rex.id.to_string()),
        "only B's own Rex"
    );
    let refused = env
        .submit(
            &format!("/encounters/{encounter}/addenda"),
            &admin_b,
            &[("body", "from the other practice")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn clinic_pages_a_refused_client_form_keeps_what_was_typed() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let typed = [
        ("given_name", "Jo <b>"),
        ("family_name", "O'Brien"),
        ("email", "not-an-email"),
        ("mobile", "07700 900456"),
        ("address", "3 Weir Road\nRiverside"),
        ("contact_by_sms", "on"),
        ("notes", "Prefers mornings"),
    ];
    let refused = env.submit("/clients", &admin, &typed).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_plain_html(&refused);
    assert!(
        refused.text.contains("id=\"form-errors\""),
        "{}",
        refused.text
    );
    assert!(refused.text.contains("Email: must be"), "{}", refused.text);
    assert!(
        refused.text.contains("value=\"Jo &#60;b&#62;\""),
        "escaped and kept"
    );
    assert!(refused.text.contains("value=\"O&#39;Brien\""));
    assert!(refused.text.contains("value=\"07700 900456\""));
    assert!(refused.text.contains("3 Weir Road\nRiverside</textarea>"));
    assert!(refused.text.contains("Prefers mornings</textarea>"));
    assert!(refused.text.contains("id=\"contact_by_sms\" checked"));
    assert!(
        !refused.text.contains("id=\"contact_by_email\" checked"),
        "unticked stays unticked"
    );

    let mut fixed = typed.to_vec();
    fixed[2] = ("email", "jo.obrien@example.org");
    let created = env.submit("/clients", &admin, &fixed).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.text);
    let location = created.location().unwrap();
    assert!(location.ends_with("?notice=created"), "{location}");
    let page = env.page(location, &admin).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text.contains("Jo &#60;b&#62; O&#39;Brien"),
        "{}",
        page.text
    );
    assert!(page.text.contains("07700900456"));
    assert!(page.text.contains("id=\"add-patient\""));

    // Without the session's CSRF token nothing is written.
    let forged = CookieUser {
        csrf: "forged".to_owned(),
        ..admin.clone()
    };
    let refused = env.submit("/clients", &forged, &fixed).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn clinic_pages_a_client_is_edited_in_place_and_a_bad_edit_keeps_the_input() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let rex = rex(&env.world).await;
    let owner = rex.primary_owner_id.unwrap();
    let edit = env.page(&format!("/clients/{owner}/edit"), &admin).await;
    assert_eq!(edit.status, StatusCode::OK);
    assert_plain_html(&edit);
    assert!(
        edit.text.contains(&format!("action=\"/clients/{owner}\"")),
        "{}",
        edit.text
    );
    assert!(
        edit.text.contains("value=\"Fixture\""),
        "prefilled: {}",
        edit.text
    );

    let mut fields = vec![
        ("given_name", "Alex"),
        ("family_name", "Fixture-Hale"),
        ("email", "broken@"),
        ("mobile", "+44 7700 900999"),
        ("contact_by_email", "on"),
        ("reminders", "on"),
    ];
    let refused = env
        .submit(&format!("/clients/{owner}"), &admin, &fields)
        .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text.contains("value=\"Fixture-Hale\""), "kept");
    assert!(refused.text.contains("Save changes"));
    let unchanged = env.page(&format!("/clients/{owner}"), &admin).await;
    assert!(!unchanged.text.contains("Fixture-Hale"), "nothing written");

    fields[2] = ("email", "alex.hale@example.org");
    let saved = env
        .submit(&format!("/clients/{owner}"), &admin, &fields)
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text);
    let page = env.page(saved.location().unwrap(), &admin).await;
    assert!(page.text.contains("Details saved."), "{}", page.text);
    assert!(page.text.contains("Alex Fixture-Hale"));
    assert!(page.text.contains("+447700900999"));

    // Another practice cannot open or post the form for this client.
    let admin_b = env.login("admin@northside.example", TEST_PASSWORD).await;
    let foreign = env.page(&format!("/clients/{owner}/edit"), &admin_b).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    let foreign = env
        .submit(&format!("/clients/{owner}"), &admin_b, &fields)
        .await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn clinic_pages_a_new_patient_joins_its_owner_and_a_taken_microchip_is_refused() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let owner = rex(&env.world).await.primary_owner_id.unwrap();
    let form = env
        .page(&format!("/patients/new?owner={owner}"), &admin)
        .await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(
        form.text.contains("id=\"owner-name\">Alex Fixture<"),
        "{}",
        form.text
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
    let created = env.submit("/patients", &admin, &fields).await;
    assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.text);
    let chart = env.page(created.location().unwrap(), &admin).await;
    assert!(chart.text.contains("Bella"));
    assert!(chart.text.contains("985141000123456"));
    let client = env.page(&format!("/clients/{owner}"), &admin).await;
    assert!(client.text.contains("Bella") && client.text.contains("Rex"));

    // The same chip again: refused on its field, everything else kept.
    let mut again = fields.to_vec();
    again[1] = ("name", "Bella Two");
    let refused = env.submit("/patients", &admin, &again).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
    assert!(
        refused.text.contains("Microchip: is already registered"),
        "{}",
        refused.text
    );
    assert!(refused.text.contains("value=\"Bella Two\""));
    assert!(refused.text.contains("value=\"2020-05-01\""));

    // An owner that is no client of this practice is a message, not an error page.
    let stranger = Uuid::now_v7().to_string();
    let mut orphan = fields.to_vec();
    orphan[0] = ("owner_id", stranger.as_str());
    orphan[5] = ("microchip", "");
    let refused = env.submit("/patients", &admin, &orphan).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(refused.text.contains("is not a client of this practice"));
}

#[tokio::test]
async fn clinic_pages_the_patient_list_searches_and_pages_with_a_next_link() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let owner = rex(&env.world).await.primary_owner_id.unwrap().to_string();
    for name in ["Archie", "Biscuit", "Clover", "Daisy"] {
        let created = env
            .submit(
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
        assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.text);
    }
    let mut seen = Vec::new();
    let mut path = "/patients?q=fixture&limit=2".to_owned();
    loop {
        let page = env.page(&path, &admin).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.text);
        seen.extend(
            page.text
                .split("class=\"patient-link\">")
                .skip(1)
                .map(|rest| rest.split('<').next().unwrap().to_owned()),
        );
        let Some(next) = page
            .text
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

    let none = env.page("/patients?q=zebra", &admin).await;
    assert!(none.text.contains("No patient matches"), "{}", none.text);
    let bad = env.page("/patients?cursor=nope", &admin).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text.contains("Cursor: is not a cursor"), "{}", bad.text);
}

#[tokio::test]
async fn clinic_pages_a_finalised_encounter_refuses_edits_with_the_lock_message_and_keeps_the_text()
{
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let rex = rex(&env.world).await.id;
    let encounter = rex_encounter(&env.world, rex.as_uuid()).await;

    let page = env.page(&format!("/encounters/{encounter}"), &admin).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_plain_html(&page);
    assert!(page.text.contains("id=\"addendum-form\""));
    assert!(
        !page.text.contains("id=\"notes-form\""),
        "read-only once finalised"
    );
    assert!(page.text.contains("Owner called: walking normally."));

    // A stale edit form (say, from another tab) posts after the finalising.
    let refused = env
        .submit(
            &format!("/encounters/{encounter}"),
            &admin,
            &[
                ("subjective", "Rewriting history"),
                ("plan", "Rest for a week"),
            ],
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text);
    assert!(
        refused.text.contains(
            "The encounter is finalised (or past its editing period); add an addendum instead"
        ),
        "{}",
        refused.text
    );
    assert!(
        refused.text.contains(
            "id=\"unsaved-text\">Subjective:\nRewriting history\n\nPlan:\nRest for a week</pre>"
        ),
        "{}",
        refused.text
    );
    assert!(
        refused
            .text
            .contains("Lame on the left fore since Tuesday."),
        "the original stands"
    );

    // An empty addendum is refused on its field.
    let empty = env
        .submit(
            &format!("/encounters/{encounter}/addenda"),
            &admin,
            &[("body", "   ")],
        )
        .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(empty.text.contains("must not be empty"));
}

#[tokio::test]
async fn clinic_pages_the_desk_checks_in_and_cancels_from_the_calendar() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    rex(&env.world).await;
    let desk = receptionist(&env, &admin).await;
    // The fixture's booking, 08:00 on Monday 4 January 2027.
    let day = env.page("/appointments?day=2027-01-04", &desk).await;
    assert_plain_html(&day);
    let id = day
        .text
        .split("data-appointment-id=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    assert!(day.text.contains("value=\"checked_in\""), "{}", day.text);
    let path = format!("/appointments/{id}/status");
    let back = "/appointments?day=2027-01-04";
    let checked_in = env
        .submit(&path, &desk, &[("status", "checked_in"), ("back", back)])
        .await;
    assert_eq!(
        checked_in.status,
        StatusCode::SEE_OTHER,
        "{}",
        checked_in.text
    );
    assert_eq!(
        checked_in.location(),
        Some("/appointments?day=2027-01-04&notice=status")
    );
    let Answer { body: shown, .. } = env
        .request(
            Method::GET,
            &format!("/api/v1/appointments/{id}"),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(shown["status"], "checked_in");
    // A return address outside the calendar is not followed.
    let cancelled = env
        .submit(
            &path,
            &desk,
            &[("status", "cancelled"), ("back", "https://evil.example/")],
        )
        .await;
    assert_eq!(cancelled.location(), Some("/appointments?notice=status"));
    let Answer { body: shown, .. } = env
        .request(
            Method::GET,
            &format!("/api/v1/appointments/{id}"),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(shown["status"], "cancelled");
    let after = env.page("/appointments?day=2027-01-04", &desk).await;
    assert!(
        !after.text.contains("value=\"cancelled\""),
        "a freed slot has no buttons"
    );
    // Without the session's CSRF token nothing changes.
    let forged = CookieUser {
        csrf: "forged".to_owned(),
        ..desk.clone()
    };
    let refused = env
        .submit(&path, &forged, &[("status", "booked"), ("back", back)])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn clinic_pages_the_day_and_week_views_list_the_book() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let rex = rex(&env.world).await.id;
    // The fixture's booking: Rex with the admin in consult room 1, 08:00 to 08:20.
    let day = env.page("/appointments?day=2027-01-04", &admin).await;
    assert_eq!(day.status, StatusCode::OK, "{}", day.text);
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
        assert!(day.text.contains(expected), "{expected}: {}", day.text);
    }
    // The week holding a Thursday starts on its Monday.
    let week = env
        .page("/appointments?view=week&day=2027-01-07", &admin)
        .await;
    assert_eq!(week.status, StatusCode::OK);
    for expected in [
        "Week of Mon 4 Jan 2027 to Sun 10 Jan 2027",
        "<a href=\"/appointments?day=2027-01-04\">Mon 4 Jan</a>",
        "08:00–08:20",
        "href=\"/appointments?week=2026-12-28\" id=\"prev\"",
        "href=\"/appointments?week=2027-01-11\" id=\"next\"",
    ] {
        assert!(week.text.contains(expected), "{expected}: {}", week.text);
    }
    let empty = env.page("/appointments?week=2027-01-11", &admin).await;
    assert!(empty.text.contains("No bookings this week."));
    let bad = env.page("/appointments?day=31/01/2027", &admin).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.text.contains("Day: must be a date"), "{}", bad.text);

    // A booking needs someone or something to book; the form says so and keeps the rest.
    let refused = env
        .submit(
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
        refused.text.contains("choose a staff member"),
        "{}",
        refused.text
    );
    assert!(refused.text.contains("value=\"11:30\""));
    assert!(refused.text.contains("value=\"Booster\""));
    assert!(
        refused
            .text
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
        let clash = env
            .submit(
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
        assert_eq!(clash.status, StatusCode::CONFLICT, "{}", clash.text);
        assert!(
            clash.text.contains(
                "Consult room 1 already has a booking (with Rex) from 08:00 to 08:20 UTC on \
                 Monday 4 January 2027"
            ),
            "{}",
            clash.text
        );
    }
}

#[tokio::test]
async fn clinic_pages_a_refused_encounter_keeps_the_notes_and_writes_nothing() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let rex = rex(&env.world).await.id;
    let path = format!("/patients/{rex}/encounters");
    let form = env.page(&format!("{path}/new"), &admin).await;
    assert_eq!(form.status, StatusCode::OK);
    assert_plain_html(&form);
    assert!(form.text.contains("Penicillin"), "allergies in sight");

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
    let refused = env.submit(&path, &admin, &typed).await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        refused
            .text
            .contains("Weight (kg): must be a weight in kilograms")
    );
    assert!(
        refused
            .text
            .contains("Temperature (°C): must be between 25.0 and 46.0")
    );
    assert!(refused.text.contains("value=\"heavy\""));
    assert!(refused.text.contains("value=\"Itchy ears\""));
    assert!(
        refused
            .text
            .contains("Scratching both ears &#60;for&#62; a week &#38; shaking head.</textarea>")
    );
    let chart = env.page(&format!("/patients/{rex}"), &admin).await;
    assert!(!chart.text.contains("Itchy ears"), "nothing was written");

    let mut fixed = typed.to_vec();
    fixed[5] = ("weight_kg", "21,9");
    fixed[6] = ("temperature_c", "38.9");
    let saved = env.submit(&path, &admin, &fixed).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.text);
    let page = env.page(saved.location().unwrap(), &admin).await;
    assert!(page.text.contains("Encounter saved."));
    assert!(page.text.contains("21.9 kg") && page.text.contains("38.9 °C"));
    assert!(page.text.contains("id=\"notes-form\""), "open: editable");
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
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let rex = rex(&env.world).await.id;
    let encounter = rex_encounter(&env.world, rex.as_uuid()).await;
    let before = read_views(&env.world, rex.as_uuid()).await;
    let encounter_reads = read_views(&env.world, encounter).await.len();
    let chart = env.page(&format!("/patients/{rex}"), &admin).await;
    assert_eq!(chart.status, StatusCode::OK);
    let mut expected = before.clone();
    expected.push(json!("chart"));
    assert_eq!(read_views(&env.world, rex.as_uuid()).await, expected);
    let page = env.page(&format!("/encounters/{encounter}"), &admin).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        read_views(&env.world, encounter).await.len(),
        encounter_reads + 1
    );
}

#[tokio::test]
async fn clinic_pages_a_nul_byte_in_a_search_a_cursor_or_a_form_is_the_forms_error() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let cursor = paddock_store::page::Cursor::after("a\0b", Uuid::now_v7()).encode();
    for path in [
        "/patients?q=a%00b".to_owned(),
        "/clients?q=a%00b".to_owned(),
        "/clients?q=a%1Bb".to_owned(),
        "/appointments/new?q=a%00b".to_owned(),
        format!("/patients?cursor={cursor}"),
        format!("/clients?cursor={cursor}"),
    ] {
        let page = env.page(&path, &admin).await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {}",
            page.text
        );
        assert_plain_html(&page);
        assert!(
            page.text.contains("must not contain control characters")
                || page.text.contains("is not a cursor of this list"),
            "{path}: {}",
            page.text
        );
    }
    let refused = env
        .submit(
            "/clients",
            &admin,
            &[("given_name", "Jo"), ("family_name", "Nul\u{0}l")],
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );
    assert!(refused.text.contains("must not contain control characters"));
    let rex = rex(&env.world).await.id;
    let refused = env
        .submit(
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
        refused.text
    );
    assert!(refused.text.contains("must not contain control characters"));
}

#[tokio::test]
async fn clinic_pages_an_encounter_started_before_birth_or_in_the_future_is_refused() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let rex = rex(&env.world).await.id;
    let path = format!("/patients/{rex}/encounters");
    let tomorrow = (paddock_domain::Clock::now(env.clock.as_ref()) + Duration::days(1))
        .date_naive()
        .to_string();
    for day in ["1900-01-01", tomorrow.as_str()] {
        let refused = env
            .submit(
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
            refused.text
        );
        assert!(
            refused.text.contains("Started at:") || refused.text.contains("Date:"),
            "{}",
            refused.text
        );
    }
    let chart = env.page(&format!("/patients/{rex}"), &admin).await;
    assert!(!chart.text.contains("Dated"), "nothing was written");
}

#[tokio::test]
async fn clinic_pages_the_appointment_book_shows_the_patients_name_without_a_link_to_the_record() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let Answer {
        status, body: role, ..
    } = env
        .request(
            Method::POST,
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
    let page = env.page("/appointments?day=2027-01-04", &rota).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.text);
    assert!(page.text.contains("Rex"), "{}", page.text);
    assert!(
        !page.text.contains(&format!("/patients/{rex}")),
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
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
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
        let page = env.page(address, &admin).await;
        assert_eq!(
            page.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{address}: {}",
            page.text
        );
        assert!(
            page.text.contains("must be a date"),
            "{address}: {}",
            page.text
        );
    }
    for address in [
        "/appointments?day=1900-01-01",
        "/appointments?week=2200-12-31",
    ] {
        let page = env.page(address, &admin).await;
        assert_eq!(page.status, StatusCode::OK, "{address}: {}", page.text);
    }
    let form = env
        .page("/appointments/new?day=%2B262142-12-31", &admin)
        .await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.text);

    // Booking at such a date shows the form again with the reason, and books nothing.
    let staff = env.world.a.admin.as_uuid().to_string();
    for date in ["+262142-12-31", "-262143-01-01", "9999-12-31"] {
        let refused = env
            .submit(
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
            refused.text
        );
        assert!(refused.text.contains("must be a date"), "{}", refused.text);
    }
}

#[tokio::test]
async fn clinic_pages_no_date_in_the_address_panics_the_calendar() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    for (n, date) in edge_dates().iter().enumerate() {
        let name = ["day", "week"][n % 2];
        let address = format!("/appointments?{name}={}", form_value(date));
        // A panic here fails the test by itself; every answer is the page, good or refused.
        let page = env.page(&address, &admin).await;
        assert!(
            [StatusCode::OK, StatusCode::UNPROCESSABLE_ENTITY].contains(&page.status),
            "{address}: {} {}",
            page.status,
            page.text
        );
        assert_plain_html(&page);
    }
}

#[tokio::test]
async fn clinic_pages_a_malformed_return_address_is_never_followed_nor_answered_500() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    rex(&env.world).await;
    let day = env.page("/appointments?day=2027-01-04", &admin).await;
    let id = day
        .text
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
        let answer = env
            .submit(&path, &admin, &[("status", "checked_in"), ("back", back)])
            .await;
        assert_eq!(
            answer.status,
            StatusCode::SEE_OTHER,
            "{back:?}: {}",
            answer.text
        );
        // Not followed: the calendar itself, never the given address.
        assert_eq!(
            answer.location(),
            Some("/appointments?notice=status"),
            "{back:?}"
        );
        let Answer { body: shown, .. } = env
            .request(
                Method::GET,
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

// --- the practice's clock --------------------------------------------------------

/// Sets practice A's time zone, as its admin does on the settings page.
async fn practice_a_in(world: &World, name: &str) -> paddock_domain::PracticeZone {
    let zone = paddock_domain::PracticeZone::parse("time_zone", name).unwrap();
    let meta = RequestMeta::system("clinic pages");
    let mut tx = world.app.begin(&world.a.principal, &meta).await.unwrap();
    paddock_store::staff::time_zone::set(&mut tx, zone)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    zone
}

/// The encounters of `patient` as the API lists them (RFC 3339 UTC).
async fn api_encounters(
    env: &TestApp,
    admin: &CookieUser,
    patient: Uuid,
) -> Vec<serde_json::Value> {
    let Answer { status, body, .. } = env
        .request(
            Method::GET,
            &format!("/api/v1/patients/{patient}/encounters"),
            None,
            Some(admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array()
        .or_else(|| body["items"].as_array())
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn clinic_pages_an_encounter_is_entered_and_shown_on_the_practices_clock() {
    let env = TestApp::new().await;
    let zone = practice_a_in(&env.world, "Europe/London").await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let rex = rex(&env.world).await.id;
    let path = format!("/patients/{rex}/encounters");

    let form = env.page(&format!("{path}/new"), &admin).await;
    assert_eq!(form.status, StatusCode::OK, "{}", form.text);
    assert!(form.text.contains("Date (Europe/London)"), "{}", form.text);
    assert!(!form.text.contains("UTC"), "no UTC label: {}", form.text);
    let now = paddock_domain::Clock::now(env.clock.as_ref());
    let defaults = [
        ("date", zone.format_date(now)),
        ("time", zone.format_time(now)),
    ];
    for (field, value) in defaults {
        assert!(
            form.text.contains(&format!(
                "name=\"{field}\" id=\"{field}\" value=\"{value}\""
            )),
            "{field} defaults to now on the practice's clock ({value}): {}",
            form.text
        );
    }

    // Summer (BST, UTC+1) and winter (GMT): the wall clock is what was typed.
    for (day, stored) in [
        ("2026-07-15", "2026-07-15T08:00:00Z"),
        ("2026-01-15", "2026-01-15T09:00:00Z"),
    ] {
        let saved = env
            .submit(
                &path,
                &admin,
                &[
                    ("kind", "consultation"),
                    ("date", day),
                    ("time", "09:00"),
                    ("reason", "Clock check"),
                ],
            )
            .await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{day}: {}", saved.text);
        let location = saved.location().unwrap().to_owned();
        let id = location
            .trim_start_matches("/encounters/")
            .split('?')
            .next()
            .unwrap()
            .to_owned();
        let Answer { status, body, .. } = env
            .request(
                Method::GET,
                &format!("/api/v1/encounters/{id}"),
                None,
                Some(&admin),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let started: chrono::DateTime<Utc> = body["started_at"].as_str().unwrap().parse().unwrap();
        assert_eq!(
            started,
            stored.parse::<chrono::DateTime<Utc>>().unwrap(),
            "{day} 09:00 in London"
        );
        let page = env.page(&location, &admin).await;
        assert!(
            page.text.contains(&format!("{day} 09:00")),
            "shown as typed: {}",
            page.text
        );
        assert!(!page.text.contains("UTC"), "{}", page.text);
    }
    let chart = env.page(&format!("/patients/{rex}"), &admin).await;
    assert!(
        chart.text.contains("2026-07-15 09:00 BST") && chart.text.contains("2026-01-15 09:00 GMT"),
        "the timeline is on the practice's clock: {}",
        chart.text
    );
}

#[tokio::test]
async fn clinic_pages_a_time_the_clocks_skip_is_refused_on_its_field_and_nothing_is_saved() {
    let env = TestApp::new().await;
    practice_a_in(&env.world, "Europe/London").await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let rex = rex(&env.world).await.id.as_uuid();
    let before = api_encounters(&env, &admin, rex).await.len();
    let refused = env
        .submit(
            &format!("/patients/{rex}/encounters"),
            &admin,
            &[
                ("kind", "consultation"),
                ("date", "2026-03-29"),
                ("time", "01:30"),
                ("reason", "In the gap"),
            ],
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );
    assert!(
        refused
            .text
            .contains("Time: 01:30 does not exist in Europe/London"),
        "the time field is named: {}",
        refused.text
    );
    assert!(refused.text.contains("value=\"In the gap\""), "kept");
    assert_eq!(
        api_encounters(&env, &admin, rex).await.len(),
        before,
        "nothing was saved"
    );
}
