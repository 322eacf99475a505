//! The clinical API end to end: who may do what (a receptionist books but cannot read
//! SOAP notes; a technician records weight and vaccines but cannot finalise), record
//! locking and addenda, double bookings answered 409, soft delete and restore,
//! validation as 422 field lists, pagination, read events, and another practice's ids
//! answering 404.

use crate::support::{Answer, CookieUser, RIVERSIDE_ADMIN, TEST_PASSWORD, TestApp};
use axum::http::Method;
use axum::http::StatusCode;
use serde_json::{Value, json};

/// Registers a client and their dog through the API; returns (client, patient).
async fn client_and_dog(env: &TestApp, s: &CookieUser, family: &str, dog: &str) -> (Value, Value) {
    let Answer {
        status,
        body: client,
        ..
    } = env
        .request(
            Method::POST,
            "/api/v1/clients",
            Some(
                json!({"given_name": "Jo", "family_name": family, "mobile": "+44 7700 900456",
                        "email": format!("jo.{}@example.org", family.to_lowercase())}),
            ),
            Some(s),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{client}");
    let Answer {
        status,
        body: patient,
        ..
    } = env
        .request(
            Method::POST,
            "/api/v1/patients",
            Some(
                json!({"name": dog, "species": "Canine", "sex": "female_spayed",
                        "microchip": "826 0980 0012 3456",
                        "owners": [{"client_id": client["id"], "primary": true}]}),
            ),
            Some(s),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{patient}");
    (client, patient)
}

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|f| f["field"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Opens an encounter for `patient` as `s`.
async fn open_encounter(env: &TestApp, s: &CookieUser, patient: &str) -> (StatusCode, Value) {
    let Answer { status, body, .. } = env
        .request(
            Method::POST,
            &format!("/api/v1/patients/{patient}/encounters"),
            Some(json!({"kind": "consultation", "reason": "Itchy ears",
                        "subjective": "Scratching both ears for a week.",
                        "objective": "Erythema, brown discharge AU."})),
            Some(s),
        )
        .await;
    (status, body)
}

/// Practice A's `read` events about `entity_id`.
async fn reads_of(env: &TestApp, entity_id: &str) -> Vec<Value> {
    let mut tx = env
        .world
        .app
        .begin(
            &env.world.a.principal,
            &paddock_store::RequestMeta::system("t"),
        )
        .await
        .unwrap();
    let rows: Vec<Option<Value>> = sqlx::query_scalar(
        "select changes::jsonb from audit_events where action = 'read' and entity_id = $1::uuid order by id",
    )
    .bind(entity_id)
    .fetch_all(tx.conn())
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    rows.into_iter().map(|c| c.unwrap_or(Value::Null)).collect()
}

#[tokio::test]
async fn a_vet_writes_finalises_and_corrects_an_encounter_by_addendum() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let vet = env
        .join_as(&admin, "vet@riverside.example", "Veterinarian")
        .await;
    let (_, dog) = client_and_dog(&env, &admin, "Hughes", "Poppy").await;
    let (status, encounter) = open_encounter(&env, &vet, id(&dog)).await;
    assert_eq!(status, StatusCode::CREATED, "{encounter}");
    assert_eq!(encounter["status"], "open");
    let path = format!("/api/v1/encounters/{}", id(&encounter));

    // While open, the notes can be edited.
    let Answer {
        status,
        body: edited,
        ..
    } = env
        .request(
            Method::PUT,
            &path,
            Some(json!({"assessment": "Otitis externa", "plan": "Ear cleaner, recheck 10 days"})),
            Some(&vet),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["soap"]["assessment"], "Otitis externa");

    // An addendum is for finalised encounters only.
    let Answer {
        status,
        body: refused,
        ..
    } = env
        .request(
            Method::POST,
            &format!("{path}/addenda"),
            Some(json!({"body": "early"})),
            Some(&vet),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["code"], "record_locked");

    let Answer {
        status,
        body: finalised,
        ..
    } = env
        .request(Method::POST, &format!("{path}/finalise"), None, Some(&vet))
        .await;
    assert_eq!(status, StatusCode::OK, "{finalised}");
    assert_eq!(finalised["status"], "finalised");
    assert!(finalised["finalised_at"].is_string());

    // Locked: edits are refused (and change nothing), finalising again too.
    let Answer {
        status,
        body: locked,
        ..
    } = env
        .request(
            Method::PUT,
            &path,
            Some(json!({"assessment": "Rewritten history"})),
            Some(&vet),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{locked}");
    assert_eq!(locked["code"], "record_locked");
    let Answer { status, .. } = env
        .request(Method::POST, &format!("{path}/finalise"), None, Some(&vet))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let Answer {
        status,
        body: with_addendum,
        ..
    } = env
        .request(
            Method::POST,
            &format!("{path}/addenda"),
            Some(json!({"body": "Cytology: Malassezia.\nAdd antifungal drops."})),
            Some(&vet),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{with_addendum}");
    let addenda = with_addendum["addenda"].as_array().unwrap();
    assert_eq!(addenda.len(), 1);
    assert_eq!(
        addenda[0]["body"],
        "Cytology: Malassezia.\nAdd antifungal drops."
    );
    assert_eq!(addenda[0]["author_name"], "Lead");
    assert!(addenda[0]["created_at"].is_string());
    // The original stays readable and unchanged.
    assert_eq!(with_addendum["soap"]["assessment"], "Otitis externa");
    assert_eq!(
        with_addendum["soap"]["plan"],
        "Ear cleaner, recheck 10 days"
    );
}

#[tokio::test]
async fn a_technician_records_weight_and_vaccines_but_cannot_finalise() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let tech = env
        .join_as(&admin, "nurse@riverside.example", "Technician")
        .await;
    let (_, dog) = client_and_dog(&env, &admin, "Evans", "Bramble").await;
    let patient = id(&dog);

    let Answer {
        status,
        body: vitals,
        ..
    } = env
        .request(
            Method::POST,
            &format!("/api/v1/patients/{patient}/vitals"),
            Some(json!({"weight_kg": "23.45", "temperature_c": "38.6", "heart_rate": 96})),
            Some(&tech),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{vitals}");
    assert_eq!(vitals["weight_kg"], "23.450");
    assert_eq!(vitals["temperature_c"], "38.6");

    let Answer {
        status, body: shot, ..
    } = env
        .request(
            Method::POST,
            &format!("/api/v1/patients/{patient}/vaccinations"),
            Some(
                json!({"vaccine": "Nobivac L4", "manufacturer": "MSD", "lot_number": "L4-2231",
                          "next_due_on": "2099-01-01"}),
            ),
            Some(&tech),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{shot}");
    assert_eq!(shot["administered_by_name"], "Lead");

    let (status, encounter) = open_encounter(&env, &tech, patient).await;
    assert_eq!(status, StatusCode::CREATED, "{encounter}");
    let Answer {
        status,
        body: refused,
        ..
    } = env
        .request(
            Method::POST,
            &format!("/api/v1/encounters/{}/finalise", id(&encounter)),
            None,
            Some(&tech),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains("records.finalise")
    );
    let Answer {
        body: still_open, ..
    } = env
        .request(
            Method::GET,
            &format!("/api/v1/encounters/{}", id(&encounter)),
            None,
            Some(&tech),
        )
        .await;
    assert_eq!(still_open["status"], "open");
}

#[tokio::test]
async fn a_receptionist_books_and_registers_but_cannot_read_clinical_notes() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let desk = env
        .join_as(&admin, "desk@riverside.example", "Receptionist")
        .await;
    // The front desk registers the client and the dog...
    let (_, dog) = client_and_dog(&env, &desk, "Patel", "Mango").await;
    let patient = id(&dog);
    let (_, encounter) = open_encounter(&env, &admin, patient).await;
    let Answer { body: me, .. } = env
        .request(Method::GET, "/api/v1/me", None, Some(&admin))
        .await;
    // ...and books it in with the admin (a vet too).
    let Answer {
        status,
        body: booked,
        ..
    } = env
        .request(
            Method::POST,
            "/api/v1/appointments",
            Some(json!({"patient_id": patient, "staff_id": me["user"]["id"],
                          "starts_at": "2027-03-15T09:00:00Z", "ends_at": "2027-03-15T09:15:00Z",
                          "kind": "recheck", "reason": "Ear recheck"})),
            Some(&desk),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{booked}");

    // Patient facts yes; SOAP notes, the chart and clinical lists no.
    let Answer { status, .. } = env
        .request(
            Method::GET,
            &format!("/api/v1/patients/{patient}"),
            None,
            Some(&desk),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for path in [
        format!("/api/v1/encounters/{}", id(&encounter)),
        format!("/api/v1/patients/{patient}/encounters"),
        format!("/api/v1/patients/{patient}/chart"),
        format!("/api/v1/patients/{patient}/allergies"),
        format!("/api/v1/patients/{patient}/vitals"),
    ] {
        let Answer { status, body, .. } = env.request(Method::GET, &path, None, Some(&desk)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
        assert!(body.get("soap").is_none());
    }
    let (status, _) = open_encounter(&env, &desk, patient).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_double_booking_answers_409_naming_the_existing_appointment() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let Answer { body: me, .. } = env
        .request(Method::GET, "/api/v1/me", None, Some(&admin))
        .await;
    let Answer {
        status, body: room, ..
    } = env
        .request(
            Method::POST,
            "/api/v1/resources",
            Some(json!({"name": "Theatre", "kind": "surgery_table"})),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{room}");
    let book = |staff: Value, resource: Value, start: &str, end: &str| json!({"staff_id": staff, "resource_id": resource, "starts_at": start, "ends_at": end, "kind": "surgery"});
    let Answer {
        status,
        body: first,
        ..
    } = env
        .request(
            Method::POST,
            "/api/v1/appointments",
            Some(book(
                me["user"]["id"].clone(),
                Value::Null,
                "2027-03-15T09:00:00Z",
                "2027-03-15T10:00:00Z",
            )),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let Answer {
        status,
        body: clash,
        ..
    } = env
        .request(
            Method::POST,
            "/api/v1/appointments",
            Some(book(
                me["user"]["id"].clone(),
                Value::Null,
                "2027-03-15T09:30:00Z",
                "2027-03-15T09:45:00Z",
            )),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{clash}");
    assert_eq!(clash["code"], "double_booking");
    assert_eq!(clash["conflict"]["on"], "staff");
    assert_eq!(clash["conflict"]["appointment_id"], first["id"]);
    assert_eq!(clash["conflict"]["starts_at"], "2027-03-15T09:00:00Z");

    // Back to back is fine; the resource is guarded the same way.
    let Answer { status, .. } = env
        .request(
            Method::POST,
            "/api/v1/appointments",
            Some(book(
                me["user"]["id"].clone(),
                room["id"].clone(),
                "2027-03-15T10:00:00Z",
                "2027-03-15T11:00:00Z",
            )),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let Answer {
        status,
        body: clash,
        ..
    } = env
        .request(
            Method::POST,
            "/api/v1/appointments",
            Some(book(
                Value::Null,
                room["id"].clone(),
                "2027-03-15T10:30:00Z",
                "2027-03-15T12:00:00Z",
            )),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{clash}");
    assert_eq!(clash["conflict"]["on"], "resource");

    // Cancelling frees the slot; un-cancelling into a taken slot is refused.
    let Answer { status, .. } = env
        .request(
            Method::POST,
            &format!("/api/v1/appointments/{}/status", id(&first)),
            Some(json!({"status": "cancelled"})),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let Answer {
        status,
        body: second,
        ..
    } = env
        .request(
            Method::POST,
            "/api/v1/appointments",
            Some(book(
                me["user"]["id"].clone(),
                Value::Null,
                "2027-03-15T09:30:00Z",
                "2027-03-15T09:45:00Z",
            )),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    let Answer {
        status,
        body: refused,
        ..
    } = env
        .request(
            Method::POST,
            &format!("/api/v1/appointments/{}/status", id(&first)),
            Some(json!({"status": "booked"})),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");

    // The day view finds what is live in its range, in order.
    let Answer {
        status, body: day, ..
    } = env
        .request(
            Method::GET,
            "/api/v1/appointments?from=2027-03-15T00:00:00Z&to=2027-03-16T00:00:00Z",
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{day}");
    let starts: Vec<&str> = day["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["starts_at"].as_str().unwrap())
        .collect();
    assert_eq!(
        starts,
        [
            "2027-03-15T09:00:00Z",
            "2027-03-15T09:30:00Z",
            "2027-03-15T10:00:00Z"
        ]
    );
}

#[tokio::test]
async fn bad_input_is_a_422_listing_every_field_and_nothing_is_written() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let (client, _) = client_and_dog(&env, &admin, "Ng", "Tofu").await;
    let Answer { status, body: problem, .. } = env
        .request(Method::POST, "/api/v1/patients", Some(json!({"name": "", "species": "Feline", "sex": "neutered", "microchip": "12345",
                          "date_of_birth": "2999-01-01", "owners": [{"client_id": client["id"], "primary": true}]})), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        fields(&problem),
        ["name", "sex", "date_of_birth", "microchip"]
    );
    // A test transponder code (999) and a bad length are refused by the same parser.
    for chip in ["999000000000001", "8260980001234567"] {
        let Answer {
            status,
            body: problem,
            ..
        } = env
            .request(
                Method::POST,
                "/api/v1/patients",
                Some(
                    json!({"name": "Tofu II", "species": "Feline", "microchip": chip,
                              "owners": [{"client_id": client["id"], "primary": true}]}),
                ),
                Some(&admin),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{chip}");
        assert_eq!(fields(&problem), ["microchip"]);
    }
    // The same chip twice in one practice is a 409 on the field.
    let Answer {
        status,
        body: problem,
        ..
    } = env
        .request(
            Method::POST,
            "/api/v1/patients",
            Some(
                json!({"name": "Tofu II", "species": "Feline", "microchip": "826098000123456",
                          "owners": [{"client_id": client["id"], "primary": true}]}),
            ),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{problem}");
    assert_eq!(fields(&problem), ["microchip"]);
    let Answer {
        status,
        body: problem,
        ..
    } = env
        .request(
            Method::POST,
            "/api/v1/appointments",
            Some(
                json!({"starts_at": "tomorrow", "ends_at": "2027-03-15T09:00:00Z", "kind": "nap"}),
            ),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), ["starts_at", "kind", "staff_id"]);
    let Answer {
        status,
        body: problem,
        ..
    } = env
        .request(
            Method::GET,
            "/api/v1/patients?limit=500&sort=name",
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(fields(&problem), ["sort"]);
    let Answer { body: list, .. } = env
        .request(Method::GET, "/api/v1/patients", None, Some(&admin))
        .await;
    let names: Vec<&str> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(
        !names.contains(&"Tofu II") && !names.contains(&""),
        "{names:?}"
    );
}

#[tokio::test]
async fn search_finds_patients_by_name_chip_and_owner_and_pages_with_a_cursor() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let (_, poppy) = client_and_dog(&env, &admin, "Abara", "Poppy").await;
    for (family, dog) in [("Baker", "Pip"), ("Cole", "Pepper"), ("Doyle", "Percy")] {
        let Answer {
            status,
            body: client,
            ..
        } = env
            .request(
                Method::POST,
                "/api/v1/clients",
                Some(json!({"given_name": "Sam", "family_name": family})),
                Some(&admin),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let Answer { status, .. } = env
            .request(Method::POST, "/api/v1/patients", Some(json!({"name": dog, "species": "Canine", "owners": [{"client_id": client["id"], "primary": true}]})), Some(&admin))
            .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let names = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let Answer { body: by_chip, .. } = env
        .request(
            Method::GET,
            "/api/v1/patients?q=826098000123456",
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(names(&by_chip), ["Poppy"]);
    let Answer { body: by_owner, .. } = env
        .request(Method::GET, "/api/v1/patients?q=abara", None, Some(&admin))
        .await;
    assert_eq!(names(&by_owner), ["Poppy"]);
    assert_eq!(by_owner["items"][0]["primary_owner_name"], "Jo Abara");
    let Answer { body: by_phone, .. } = env
        .request(
            Method::GET,
            "/api/v1/patients?q=7700%20900456",
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(names(&by_phone), ["Poppy"]);
    let Answer { body: first, .. } = env
        .request(
            Method::GET,
            "/api/v1/patients?q=p&limit=2",
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(names(&first), ["Pepper", "Percy"]);
    let cursor = first["next_cursor"].as_str().unwrap();
    let Answer { body: second, .. } = env
        .request(
            Method::GET,
            &format!("/api/v1/patients?q=p&limit=2&cursor={cursor}"),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(names(&second), ["Pip", "Poppy"]);
    assert!(second["next_cursor"].is_null() || names(&second).len() == 2);
    assert_eq!(poppy["name"], "Poppy");
}

#[tokio::test]
async fn deleted_patients_vanish_and_an_admin_restores_them() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let desk = env
        .join_as(&admin, "desk@riverside.example", "Receptionist")
        .await;
    let (_, dog) = client_and_dog(&env, &admin, "Quinn", "Ziggy").await;
    let path = format!("/api/v1/patients/{}", id(&dog));
    // Found while alive, so the empty answer below means "deleted", not "search broken".
    let Answer { body: list, .. } = env
        .request(Method::GET, "/api/v1/patients?q=ziggy", None, Some(&admin))
        .await;
    assert_eq!(list["items"][0]["id"], dog["id"], "{list}");
    let Answer { status, .. } = env.request(Method::DELETE, &path, None, Some(&desk)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let Answer { status, .. } = env.request(Method::GET, &path, None, Some(&admin)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let Answer { body: list, .. } = env
        .request(Method::GET, "/api/v1/patients?q=ziggy", None, Some(&admin))
        .await;
    assert_eq!(list["items"], json!([]));
    // Restoring is an admin's job.
    let Answer { status, .. } = env
        .request(Method::POST, &format!("{path}/restore"), None, Some(&desk))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let Answer { body: deleted, .. } = env
        .request(Method::GET, "/api/v1/patients/deleted", None, Some(&admin))
        .await;
    assert_eq!(deleted[0]["name"], "Ziggy");
    assert!(deleted[0]["deleted_at"].is_string());
    let Answer {
        status,
        body: restored,
        ..
    } = env
        .request(Method::POST, &format!("{path}/restore"), None, Some(&admin))
        .await;
    assert_eq!(status, StatusCode::OK, "{restored}");
    assert!(restored["deleted_at"].is_null());
    let Answer { status, .. } = env.request(Method::GET, &path, None, Some(&desk)).await;
    assert_eq!(status, StatusCode::OK);
    let Answer { body: list, .. } = env
        .request(Method::GET, "/api/v1/patients?q=ziggy", None, Some(&admin))
        .await;
    assert_eq!(
        list["items"][0]["id"], dog["id"],
        "restored patients are found again"
    );
    // Restoring what is not deleted is not found.
    let Answer { status, .. } = env
        .request(Method::POST, &format!("{path}/restore"), None, Some(&admin))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn viewing_a_record_writes_a_read_event_naming_the_view() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let (_, dog) = client_and_dog(&env, &admin, "Reyes", "Luna").await;
    let patient = id(&dog);
    let (_, encounter) = open_encounter(&env, &admin, patient).await;
    assert!(reads_of(&env, patient).await.is_empty());
    let parts = [
        "vitals",
        "encounters",
        "problems",
        "allergies",
        "prescriptions",
        "vaccinations",
    ];
    let mut paths = vec![format!("/api/v1/patients/{patient}/chart")];
    paths.extend(
        parts
            .iter()
            .map(|part| format!("/api/v1/patients/{patient}/{part}")),
    );
    paths.push(format!("/api/v1/encounters/{}", id(&encounter)));
    for path in paths {
        let Answer { status, .. } = env.request(Method::GET, &path, None, Some(&admin)).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    let views: Vec<Value> = reads_of(&env, patient)
        .await
        .into_iter()
        .map(|c| c["view"].clone())
        .collect();
    let mut expected = vec![json!("chart")];
    expected.extend(parts.iter().map(|part| json!(part)));
    assert_eq!(views, expected);
    assert_eq!(reads_of(&env, id(&encounter)).await.len(), 1);
    // A refused read writes nothing.
    let desk = env
        .join_as(&admin, "desk@riverside.example", "Receptionist")
        .await;
    let Answer { status, .. } = env
        .request(
            Method::GET,
            &format!("/api/v1/patients/{patient}/chart"),
            None,
            Some(&desk),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(reads_of(&env, patient).await.len(), 7);
}

#[tokio::test]
async fn another_practices_clinical_ids_answer_404_on_every_path() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let other = env.login("admin@northside.example", TEST_PASSWORD).await;
    let (client, dog) = client_and_dog(&env, &admin, "Sato", "Kiko").await;
    let patient = id(&dog);
    let (_, encounter) = open_encounter(&env, &admin, patient).await;
    let encounter = id(&encounter);
    let Answer { body: me, .. } = env
        .request(Method::GET, "/api/v1/me", None, Some(&admin))
        .await;
    let Answer { body: booked, .. } = env
        .request(
            Method::POST,
            "/api/v1/appointments",
            Some(json!({"patient_id": patient, "staff_id": me["user"]["id"],
                          "starts_at": "2027-03-16T09:00:00Z", "ends_at": "2027-03-16T09:15:00Z"})),
            Some(&admin),
        )
        .await;
    let appointment = id(&booked);
    let unknown = uuid::Uuid::now_v7().to_string();
    let client = id(&client);
    let paths =
        |p: &str, c: &str, e: &str, a: &str| -> Vec<(&'static str, String, Option<Value>)> {
            vec![
                ("GET", format!("/api/v1/clients/{c}"), None),
                (
                    "PUT",
                    format!("/api/v1/clients/{c}"),
                    Some(json!({"given_name": "X", "family_name": "Y"})),
                ),
                ("DELETE", format!("/api/v1/clients/{c}"), None),
                ("GET", format!("/api/v1/clients/{c}/patients"), None),
                ("GET", format!("/api/v1/patients/{p}"), None),
                (
                    "PUT",
                    format!("/api/v1/patients/{p}"),
                    Some(json!({"name": "X", "species": "Canine"})),
                ),
                ("DELETE", format!("/api/v1/patients/{p}"), None),
                ("GET", format!("/api/v1/patients/{p}/chart"), None),
                ("GET", format!("/api/v1/patients/{p}/owners"), None),
                ("GET", format!("/api/v1/patients/{p}/encounters"), None),
                ("GET", format!("/api/v1/patients/{p}/vitals"), None),
                ("GET", format!("/api/v1/patients/{p}/problems"), None),
                ("GET", format!("/api/v1/patients/{p}/allergies"), None),
                ("GET", format!("/api/v1/patients/{p}/prescriptions"), None),
                ("GET", format!("/api/v1/patients/{p}/vaccinations"), None),
                (
                    "POST",
                    format!("/api/v1/patients/{p}/problems"),
                    Some(json!({"description": "x"})),
                ),
                (
                    "POST",
                    format!("/api/v1/patients/{p}/prescriptions"),
                    Some(json!({"drug": "x", "dose": "1", "route": "oral", "frequency": "daily"})),
                ),
                (
                    "POST",
                    format!("/api/v1/patients/{p}/vaccinations"),
                    Some(json!({"vaccine": "x", "lot_number": "1"})),
                ),
                (
                    "POST",
                    format!("/api/v1/patients/{p}/encounters"),
                    Some(json!({"reason": "x"})),
                ),
                (
                    "POST",
                    format!("/api/v1/patients/{p}/vitals"),
                    Some(json!({"weight_kg": "3"})),
                ),
                (
                    "POST",
                    format!("/api/v1/patients/{p}/allergies"),
                    Some(json!({"substance": "x", "severity": "mild"})),
                ),
                ("GET", format!("/api/v1/encounters/{e}"), None),
                (
                    "PUT",
                    format!("/api/v1/encounters/{e}"),
                    Some(json!({"plan": "x"})),
                ),
                ("POST", format!("/api/v1/encounters/{e}/finalise"), None),
                (
                    "POST",
                    format!("/api/v1/encounters/{e}/addenda"),
                    Some(json!({"body": "x"})),
                ),
                ("GET", format!("/api/v1/appointments/{a}"), None),
                (
                    "POST",
                    format!("/api/v1/appointments/{a}/status"),
                    Some(json!({"status": "cancelled"})),
                ),
                ("DELETE", format!("/api/v1/appointments/{a}"), None),
            ]
        };
    let theirs = paths(patient, client, encounter, appointment);
    let missing = paths(&unknown, &unknown, &unknown, &unknown);
    for ((method, path, body), (_, missing_path, _)) in theirs.into_iter().zip(missing) {
        let Answer {
            status,
            body: answer,
            ..
        } = env.request(method, &path, body.clone(), Some(&other)).await;
        let Answer {
            status: missing_status,
            body: missing_answer,
            ..
        } = env.request(method, &missing_path, body, Some(&other)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {answer}");
        assert_eq!(
            missing_status,
            StatusCode::NOT_FOUND,
            "{method} {missing_path}"
        );
        assert_eq!(answer["code"], missing_answer["code"]);
    }
    // Nothing of A's changed.
    let Answer { body: still, .. } = env
        .request(
            Method::GET,
            &format!("/api/v1/encounters/{encounter}"),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(still["status"], "open");
    let Answer { status, .. } = env
        .request(
            Method::GET,
            &format!("/api/v1/appointments/{appointment}"),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_editing_period_is_a_practice_setting_only_an_admin_changes() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let vet = env
        .join_as(&admin, "vet@riverside.example", "Veterinarian")
        .await;
    let Answer {
        status,
        body: settings,
        ..
    } = env
        .request(Method::GET, "/api/v1/settings/records", None, Some(&vet))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        settings,
        json!({"encounter_lock_hours": 24, "record_retention_days": 2557, "appointment_retention_days": 730})
    );
    let wanted = json!({"encounter_lock_hours": 48, "record_retention_days": 3650, "appointment_retention_days": 365});
    let Answer { status, .. } = env
        .request(
            Method::PUT,
            "/api/v1/settings/records",
            Some(wanted.clone()),
            Some(&vet),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let Answer { status, body: problem, .. } = env
        .request(Method::PUT, "/api/v1/settings/records", Some(json!({"encounter_lock_hours": 0, "record_retention_days": 10, "appointment_retention_days": 365})), Some(&admin))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        fields(&problem),
        ["encounter_lock_hours", "record_retention_days"]
    );
    let Answer {
        status,
        body: saved,
        ..
    } = env
        .request(
            Method::PUT,
            "/api/v1/settings/records",
            Some(wanted.clone()),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(saved, wanted);
    // New encounters lock 48 hours after they are opened.
    let (_, dog) = client_and_dog(&env, &admin, "Ito", "Mochi").await;
    let (_, encounter) = open_encounter(&env, &vet, id(&dog)).await;
    let created =
        chrono::DateTime::parse_from_rfc3339(encounter["created_at"].as_str().unwrap()).unwrap();
    let lock =
        chrono::DateTime::parse_from_rfc3339(encounter["lock_after"].as_str().unwrap()).unwrap();
    assert_eq!((lock - created).num_hours(), 48);
    // The change is in the audit trail with old and new values.
    let mut tx = env
        .world
        .app
        .begin(
            &env.world.a.principal,
            &paddock_store::RequestMeta::system("t"),
        )
        .await
        .unwrap();
    let diff: Value = sqlx::query_scalar(
        "select changes::jsonb from audit_events where entity_type = 'practice_settings' and action = 'update'
          order by id desc limit 1",
    )
    .fetch_one(tx.conn())
    .await
    .unwrap();
    assert_eq!(diff["encounter_lock_hours"], json!([24, 48]));
}

#[tokio::test]
async fn the_front_desk_sees_whom_it_can_book_without_the_staff_permission() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    env.join_as(&admin, "nurse@riverside.example", "Technician")
        .await;
    let desk = env
        .join_as(&admin, "desk@riverside.example", "Receptionist")
        .await;
    let Answer { status, .. } = env
        .request(Method::GET, "/api/v1/members", None, Some(&desk))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let Answer {
        status,
        body: clinicians,
        ..
    } = env
        .request(Method::GET, "/api/v1/clinicians", None, Some(&desk))
        .await;
    assert_eq!(status, StatusCode::OK, "{clinicians}");
    let roles: Vec<&str> = clinicians
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["role"].as_str().unwrap())
        .collect();
    // Clinicians only: the admin and the nurse, not the receptionist.
    assert_eq!(roles, ["Practice admin", "Technician"]);
}

/// Creates a custom role granting `permissions`, invites `email` with it, and signs
/// them in.
async fn member_with(
    env: &TestApp,
    admin: &CookieUser,
    email: &str,
    permissions: &[&str],
) -> CookieUser {
    let Answer {
        status, body: role, ..
    } = env
        .request(
            Method::POST,
            "/api/v1/roles",
            Some(json!({"name": format!("Custom {email}"), "permissions": permissions})),
            Some(admin),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{role}");
    env.join_with_role(admin, email, id(&role)).await
}

/// The signed-in member's user id.
async fn user_id(env: &TestApp, s: &CookieUser) -> String {
    let Answer { body: me, .. } = env.request(Method::GET, "/api/v1/me", None, Some(s)).await;
    me["user"]["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn writing_an_encounter_without_records_read_answers_only_its_id_and_status() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    // A scribe may write and sign, but not read, the record.
    let scribe = member_with(
        &env,
        &admin,
        "scribe@riverside.example",
        &["records.write", "records.finalise", "patients.read"],
    )
    .await;
    let (_, dog) = client_and_dog(&env, &admin, "Quill", "Inky").await;
    let (_, encounter) = open_encounter(&env, &admin, id(&dog)).await;
    let path = format!("/api/v1/encounters/{}", id(&encounter));
    let reads_before = reads_of(&env, id(&encounter)).await.len();

    let brief = |body: &Value| {
        let mut keys: Vec<&str> = body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        keys.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let Answer {
        status,
        body: edited,
        ..
    } = env
        .request(
            Method::PUT,
            &path,
            Some(json!({"plan": "Recheck in 10 days"})),
            Some(&scribe),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(brief(&edited), ["id", "status"], "{edited}");
    assert_eq!(edited["status"], "open");
    let Answer {
        status,
        body: finalised,
        ..
    } = env
        .request(
            Method::POST,
            &format!("{path}/finalise"),
            None,
            Some(&scribe),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{finalised}");
    assert_eq!(brief(&finalised), ["id", "status"], "{finalised}");
    assert_eq!(finalised["status"], "finalised");
    let Answer {
        status,
        body: added,
        ..
    } = env
        .request(
            Method::POST,
            &format!("{path}/addenda"),
            Some(json!({"body": "Owner phoned: better."})),
            Some(&scribe),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(brief(&added), ["id", "status"], "{added}");
    // Nothing was shown, so nothing was read.
    assert_eq!(reads_of(&env, id(&encounter)).await.len(), reads_before);

    // Whoever may read gets the whole record back, and that read is on the trail.
    let Answer {
        status, body: full, ..
    } = env
        .request(
            Method::POST,
            &format!("{path}/addenda"),
            Some(json!({"body": "Second note."})),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{full}");
    assert_eq!(full["soap"]["plan"], "Recheck in 10 days");
    assert_eq!(full["addenda"].as_array().unwrap().len(), 2);
    assert_eq!(reads_of(&env, id(&encounter)).await.len(), reads_before + 1);
}

#[tokio::test]
async fn clinical_records_cannot_name_a_receptionist_as_vet_prescriber_giver_or_booked_clinician() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let tech = env
        .join_as(&admin, "nurse@riverside.example", "Technician")
        .await;
    let desk = env
        .join_as(&admin, "desk@riverside.example", "Receptionist")
        .await;
    let vet = env
        .join_as(&admin, "vet@riverside.example", "Veterinarian")
        .await;
    let desk_id = user_id(&env, &desk).await;
    let tech_id = user_id(&env, &tech).await;
    let vet_id = user_id(&env, &vet).await;
    let (_, dog) = client_and_dog(&env, &admin, "Naylor", "Biscuit").await;
    let patient = id(&dog);
    let rx = |prescriber: &str| {
        json!({"drug": "Meloxicam 1.5 mg/ml", "dose": "0.5 ml", "route": "oral",
               "frequency": "once daily", "prescriber_id": prescriber})
    };
    let shot = |giver: &str| json!({"vaccine": "Nobivac L4", "lot_number": "L4-1", "administered_by": giver});
    let refused = [
        (
            "POST",
            format!("/api/v1/patients/{patient}/prescriptions"),
            rx(&desk_id),
            "prescriber_id",
        ),
        // A technician records, but does not prescribe.
        (
            "POST",
            format!("/api/v1/patients/{patient}/prescriptions"),
            rx(&tech_id),
            "prescriber_id",
        ),
        (
            "POST",
            format!("/api/v1/patients/{patient}/vaccinations"),
            shot(&desk_id),
            "administered_by",
        ),
        (
            "POST",
            format!("/api/v1/patients/{patient}/encounters"),
            json!({"attending_id": desk_id}),
            "attending_id",
        ),
        (
            "POST",
            "/api/v1/appointments".to_owned(),
            json!({"patient_id": patient, "staff_id": desk_id, "starts_at": "2027-03-15T09:00:00Z",
                "ends_at": "2027-03-15T09:15:00Z"}),
            "staff_id",
        ),
    ];
    for (method, path, body, field) in refused {
        let Answer {
            status,
            body: problem,
            ..
        } = env.request(method, &path, Some(body), Some(&tech)).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {problem}"
        );
        assert_eq!(fields(&problem), [field], "{path}");
    }
    let (_, encounter) = open_encounter(&env, &tech, patient).await;
    let Answer {
        status,
        body: problem,
        ..
    } = env
        .request(
            Method::PUT,
            &format!("/api/v1/encounters/{}", id(&encounter)),
            Some(json!({"attending_id": desk_id})),
            Some(&tech),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(fields(&problem), ["attending_id"]);
    // Nothing of it was written.
    let Answer { body: written, .. } = env
        .request(
            Method::GET,
            &format!("/api/v1/patients/{patient}/prescriptions"),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(written, json!([]));

    // The right people are accepted.
    for (path, body) in [
        (
            format!("/api/v1/patients/{patient}/prescriptions"),
            rx(&vet_id),
        ),
        (
            format!("/api/v1/patients/{patient}/vaccinations"),
            shot(&tech_id),
        ),
        (
            format!("/api/v1/patients/{patient}/encounters"),
            json!({"attending_id": vet_id}),
        ),
    ] {
        let Answer { status, body, .. } = env
            .request(Method::POST, &path, Some(body), Some(&tech))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{path}: {body}");
    }
    let Answer {
        status,
        body: booked,
        ..
    } = env
        .request(
            Method::POST,
            "/api/v1/appointments",
            Some(json!({"patient_id": patient, "staff_id": tech_id,
                        "starts_at": "2027-03-15T09:00:00Z", "ends_at": "2027-03-15T09:15:00Z"})),
            Some(&desk),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{booked}");
}

#[tokio::test]
async fn a_finalised_encounter_takes_no_new_prescriptions_problems_vaccinations_or_vitals() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let (_, dog) = client_and_dog(&env, &admin, "Okafor", "Pickle").await;
    let patient = id(&dog);
    let (_, encounter) = open_encounter(&env, &admin, patient).await;
    let encounter = id(&encounter).to_owned();
    let Answer { status, .. } = env
        .request(
            Method::POST,
            &format!("/api/v1/encounters/{encounter}/finalise"),
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let kinds = [
        (
            "prescriptions",
            json!({"drug": "Amoxicillin 250 mg", "dose": "1 tablet", "route": "oral",
                                 "frequency": "twice daily"}),
        ),
        ("problems", json!({"description": "Otitis externa"})),
        (
            "vaccinations",
            json!({"vaccine": "Nobivac L4", "lot_number": "L4-9"}),
        ),
        ("vitals", json!({"weight_kg": "12.5"})),
    ];
    for (kind, body) in &kinds {
        let mut linked = body.clone();
        linked["encounter_id"] = json!(encounter);
        let path = format!("/api/v1/patients/{patient}/{kind}");
        let Answer {
            status,
            body: problem,
            ..
        } = env
            .request(Method::POST, &path, Some(linked), Some(&admin))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{kind}: {problem}");
        assert_eq!(problem["code"], "record_locked", "{kind}");
        let Answer { body: listed, .. } = env.request(Method::GET, &path, None, Some(&admin)).await;
        assert_eq!(listed, json!([]), "{kind}: nothing was written");
        // Not linked to the closed visit, the entry is fine.
        let Answer { status, body, .. } = env
            .request(Method::POST, &path, Some(body.clone()), Some(&admin))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{kind}: {body}");
    }
}

/// Registers a client (no patient) through the API.
async fn client_only(env: &TestApp, s: &CookieUser, family: &str) -> Value {
    let Answer {
        status,
        body: client,
        ..
    } = env
        .request(
            Method::POST,
            "/api/v1/clients",
            Some(json!({"given_name": "Sam", "family_name": family})),
            Some(s),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{client}");
    client
}

/// Registers a chipless dog owned by `client`; returns the patient.
async fn dog_of(
    env: &TestApp,
    s: &CookieUser,
    client: &Value,
    name: &str,
    born: Option<&str>,
) -> Value {
    let Answer {
        status,
        body: patient,
        ..
    } = env
        .request(
            Method::POST,
            "/api/v1/patients",
            Some(
                json!({"name": name, "species": "Canine", "date_of_birth": born,
                        "owners": [{"client_id": client["id"], "primary": true}]}),
            ),
            Some(s),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{patient}");
    patient
}

/// The owners body making `primary` the primary owner and `other` a second owner.
fn owners_body(primary: &str, other: &str) -> Value {
    json!({"owners": [{"client_id": primary, "primary": true}, {"client_id": other, "primary": false}]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_owner_replacements_each_answer_200_or_a_clean_409() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let (first, dog) = client_and_dog(&env, &admin, "Race", "Dash").await;
    let second = client_only(&env, &admin, "Runner").await;
    let path = format!("/api/v1/patients/{}/owners", id(&dog));
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..20 {
        let router = env.router.clone();
        let (a, b) = (id(&first).to_owned(), id(&second).to_owned());
        let body = if i % 2 == 0 {
            owners_body(&a, &b)
        } else {
            owners_body(&b, &a)
        };
        let request = axum::http::Request::put(&path)
            .header("cookie", format!("__Host-paddock_session={}", admin.cookie))
            .header("x-csrf-token", &admin.csrf)
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body.to_string()))
            .unwrap();
        requests.spawn(async move {
            use tower::ServiceExt;
            router.oneshot(request).await.unwrap().status()
        });
    }
    let statuses: Vec<StatusCode> = requests.join_all().await;
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT),
        "{statuses:?}"
    );
    assert!(statuses.contains(&StatusCode::OK), "{statuses:?}");
    // Whatever won, the patient has two owners, exactly one primary.
    let Answer { body: owners, .. } = env.request(Method::GET, &path, None, Some(&admin)).await;
    let owners = owners.as_array().unwrap();
    assert_eq!(owners.len(), 2, "{owners:?}");
    assert_eq!(owners.iter().filter(|o| o["primary"] == true).count(), 1);
}

/// A cursor (as the lists encode them) whose key holds a NUL byte.
fn cursor_with_nul() -> String {
    paddock_store::page::Cursor::after("a\0b", uuid::Uuid::now_v7()).encode()
}

#[tokio::test]
async fn a_nul_byte_in_a_query_cursor_or_body_is_a_422_naming_the_field() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let (client, dog) = client_and_dog(&env, &admin, "Null", "Byte").await;
    let cursor = cursor_with_nul();
    for (path, field) in [
        ("/api/v1/patients?q=a%00b".to_owned(), "q"),
        ("/api/v1/clients?q=a%00b".to_owned(), "q"),
        ("/api/v1/patients?q=a%01b".to_owned(), "q"),
        (format!("/api/v1/patients?cursor={cursor}"), "cursor"),
        (format!("/api/v1/clients?cursor={cursor}"), "cursor"),
    ] {
        let Answer {
            status,
            body: problem,
            ..
        } = env.request(Method::GET, &path, None, Some(&admin)).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {problem}"
        );
        assert_eq!(fields(&problem), [field], "{path}");
    }
    let patient = id(&dog);
    for (method, path, body, field) in [
        (
            "POST",
            "/api/v1/clients".to_owned(),
            json!({"given_name": "Jo\u{0}", "family_name": "Null"}),
            "given_name",
        ),
        (
            "PUT",
            format!("/api/v1/clients/{}", id(&client)),
            json!({"given_name": "Jo", "family_name": "Null", "address": "1 Lane\u{0}"}),
            "address",
        ),
        (
            "PUT",
            format!("/api/v1/patients/{patient}"),
            json!({"name": "Byte", "species": "Can\u{0}ine"}),
            "species",
        ),
        (
            "POST",
            format!("/api/v1/patients/{patient}/encounters"),
            json!({"subjective": "Ate a sock\u{0}"}),
            "subjective",
        ),
        (
            "POST",
            format!("/api/v1/patients/{patient}/allergies"),
            json!({"substance": "Penicillin", "reaction": "Hives\u{7}", "severity": "mild"}),
            "reaction",
        ),
    ] {
        let Answer {
            status,
            body: problem,
            ..
        } = env.request(method, &path, Some(body), Some(&admin)).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {problem}"
        );
        assert_eq!(fields(&problem), [field], "{path}");
    }
    // Line breaks and tabs in multi-line text stay allowed.
    let Answer { status, body, .. } = env
        .request(
            Method::POST,
            &format!("/api/v1/patients/{patient}/encounters"),
            Some(json!({"subjective": "Line one\r\n\tline two"})),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["soap"]["subjective"], "Line one\n\tline two");
}

#[tokio::test]
async fn the_records_settings_refuse_an_unknown_field_such_as_practice_id() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let Answer {
        status,
        body: problem,
        ..
    } = env
        .request(
            Method::PUT,
            "/api/v1/settings/records",
            Some(
                json!({"encounter_lock_hours": 48, "record_retention_days": 3650,
                        "appointment_retention_days": 365,
                        "practice_id": env.world.b.id.as_uuid()}),
            ),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let Answer { body: settings, .. } = env
        .request(Method::GET, "/api/v1/settings/records", None, Some(&admin))
        .await;
    assert_eq!(settings["encounter_lock_hours"], 24, "nothing was saved");
}

#[tokio::test]
async fn clinical_dates_before_the_patients_birth_or_in_the_future_are_a_422() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let client = client_only(&env, &admin, "Young").await;
    let pup = dog_of(&env, &admin, &client, "Sprout", Some("2020-06-01")).await;
    let pup = id(&pup);
    let no_birthday = dog_of(&env, &admin, &client, "Stray", None).await;
    let stray = id(&no_birthday);
    let future =
        (paddock_domain::Clock::now(env.clock.as_ref()) + chrono::Duration::hours(1)).to_rfc3339();
    let tomorrow = (paddock_domain::Clock::now(env.clock.as_ref()) + chrono::Duration::days(1))
        .date_naive()
        .to_string();
    let cases = [
        (
            pup,
            "encounters",
            json!({"started_at": "1900-01-01T09:00:00Z"}),
            "started_at",
        ),
        (
            pup,
            "encounters",
            json!({"started_at": "2020-05-31T09:00:00Z"}),
            "started_at",
        ),
        (
            stray,
            "encounters",
            json!({"started_at": "1900-01-01T09:00:00Z"}),
            "started_at",
        ),
        (
            pup,
            "encounters",
            json!({"started_at": future}),
            "started_at",
        ),
        (
            pup,
            "vitals",
            json!({"weight_kg": "3", "recorded_at": "2019-01-01T09:00:00Z"}),
            "recorded_at",
        ),
        (
            pup,
            "vaccinations",
            json!({"vaccine": "DHP", "lot_number": "1", "given_on": "2019-01-01"}),
            "given_on",
        ),
        (
            pup,
            "problems",
            json!({"description": "Limp", "onset_on": "2019-01-01"}),
            "onset_on",
        ),
        (
            pup,
            "problems",
            json!({"description": "Limp", "onset_on": tomorrow}),
            "onset_on",
        ),
        (
            pup,
            "prescriptions",
            json!({"drug": "X", "dose": "1", "route": "oral", "frequency": "daily",
                                       "starts_on": "2019-01-01"}),
            "starts_on",
        ),
    ];
    for (patient, kind, body, field) in cases {
        let path = format!("/api/v1/patients/{patient}/{kind}");
        let Answer {
            status,
            body: problem,
            ..
        } = env
            .request(Method::POST, &path, Some(body.clone()), Some(&admin))
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{kind} {body}: {problem}"
        );
        assert_eq!(fields(&problem), [field], "{kind} {body}");
    }
    // The day it was born is within its life.
    let Answer { status, body, .. } = env
        .request(
            Method::POST,
            &format!("/api/v1/patients/{pup}/encounters"),
            Some(json!({"started_at": "2020-06-01T10:00:00Z"})),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn the_front_desk_sees_the_patients_name_in_the_appointment_list() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    // Only the appointment book: no patient or clinical permission at all.
    let book_only = member_with(
        &env,
        &admin,
        "rota@riverside.example",
        &["appointments.read"],
    )
    .await;
    let Answer {
        status, body: day, ..
    } = env
        .request(
            Method::GET,
            "/api/v1/appointments?from=2027-01-04T00:00:00Z&to=2027-01-05T00:00:00Z",
            None,
            Some(&book_only),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{day}");
    assert_eq!(day["items"][0]["patient_name"], "Rex", "{day}");
    assert!(day["items"][0].get("soap").is_none());
}

#[tokio::test]
async fn a_resource_name_that_only_looks_different_from_a_taken_one_is_refused() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    // The fixture has "Consult room 1".
    for lookalike in [
        "consult ROOM 1",
        "Consult\u{a0}room 1",
        " Consult  room １ ",
    ] {
        let Answer { status, body, .. } = env
            .request(
                Method::POST,
                "/api/v1/resources",
                Some(json!({"name": lookalike, "kind": "room"})),
                Some(&admin),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{lookalike:?}: {body}");
        assert_eq!(fields(&body), ["name"]);
    }
    let Answer { status, body, .. } = env
        .request(
            Method::POST,
            "/api/v1/resources",
            Some(json!({"name": "Dental\u{a0} suite", "kind": "room"})),
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["name"], "Dental suite");
}

#[tokio::test]
async fn clinical_api_dates_outside_the_calendar_are_a_422_naming_the_field() {
    let env = TestApp::new().await;
    let admin = env.login(RIVERSIDE_ADMIN, TEST_PASSWORD).await;
    let (_, dog) = client_and_dog(&env, &admin, "Edge", "Comet").await;
    let problems = format!("/api/v1/patients/{}/problems", id(&dog));
    for onset in ["+262142-12-31", "-262143-01-01", "1899-12-31", "2201-01-01"] {
        let Answer { status, body, .. } = env
            .request(
                Method::POST,
                &problems,
                Some(json!({"description": "Lameness", "onset_on": onset})),
                Some(&admin),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{onset}: {body}");
        assert_eq!(fields(&body), ["onset_on"], "{body}");
    }
    let staff = env.world.a.admin.as_uuid().to_string();
    for (starts, ends) in [
        ("9999-12-31T23:00:00Z", "9999-12-31T23:30:00Z"),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:30:00Z"),
    ] {
        let Answer { status, body, .. } = env
            .request(
                Method::POST,
                "/api/v1/appointments",
                Some(json!({"staff_id": staff, "starts_at": starts, "ends_at": ends})),
                Some(&admin),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{starts}: {body}");
        assert_eq!(fields(&body), ["starts_at", "ends_at"], "{body}");
    }
    let Answer { status, body, .. } = env
        .request(
            Method::GET,
            "/api/v1/appointments?from=9999-12-31T00:00:00Z",
            None,
            Some(&admin),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(fields(&body), ["from"], "{body}");
}
