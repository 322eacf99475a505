//! Soft delete and the retention job (`paddock retention run`): records deleted longer
//! ago than the practice keeps them are purged with everything that hangs off them,
//! audited; anything younger stays restorable; other practices are not touched.
//!
//! The world is built through the store as the application role. Only the deletion
//! times are moved into the past, with a superuser connection: nothing else can make
//! a row eight years deleted within a test.

use crate::clinic::{booking, client_details, client_with_dog, nine_am};
use crate::process::{Output, paddock, run, superuser};
use crate::world::{PracticeFixture, World, two_practices};
use chrono::{Duration, Utc};
use paddock_domain::{EncounterKind, PracticeId, Route, WeightKg};
use paddock_store::clinical::encounters::{self, NewEncounter, Soap};
use paddock_store::clinical::record::{self, NewPrescription, NewVaccination, NewVitals};
use paddock_store::{
    RequestMeta, StoreError, TenantTx, appointments::bookings, clinical::clients,
    clinical::patients,
};
use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

fn meta() -> RequestMeta {
    RequestMeta::system("retention-test")
}

async fn begin(world: &World, practice: &PracticeFixture) -> TenantTx {
    world.app.begin(&practice.principal, &meta()).await.unwrap()
}

/// Runs `paddock retention run <args>` against the world's database.
fn retention(world: &World, args: &[&str]) -> Output {
    run(paddock()
        .args(["retention", "run"])
        .args(args)
        .env("PADDOCK_ADMIN_DATABASE_URL", world.db.admin_url()))
}

/// stdout must be exactly one JSON value on one line.
fn single_json(output: &Output) -> Value {
    let lines: Vec<&str> = output
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "stdout must be one line of JSON: {output}");
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {output}"))
}

/// The report's entry for `practice`.
fn entry(report: &Value, practice: PracticeId) -> Value {
    report["practices"]
        .as_array()
        .unwrap_or_else(|| panic!("practices must be an array: {report}"))
        .iter()
        .find(|p| p["practice_id"] == practice.to_string())
        .unwrap_or_else(|| panic!("no entry for {practice}: {report}"))
        .clone()
}

/// The ids listed under `key` in a practice's entry.
fn ids(entry: &Value, key: &str) -> Vec<Uuid> {
    entry[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} must be an array: {entry}"))
        .iter()
        .map(|v| {
            v.as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("{key} holds ids: {entry}"))
        })
        .collect()
}

/// Moves a soft-deleted row's deletion `days` into the past (superuser: the only way).
async fn deleted_days_ago(conn: &mut PgConnection, table: &str, id: Uuid, days: i64) {
    let moved = sqlx::query(&format!(
        "update {table} set deleted_at = $2 where id = $1 and deleted_at is not null"
    ))
    .bind(id)
    .bind(Utc::now() - Duration::days(days))
    .execute(conn)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(moved, 1, "{table} {id} must be soft-deleted first");
}

async fn count(conn: &mut PgConnection, sql: &str, id: Uuid) -> i64 {
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(conn)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Rows of every table of a patient's medical record, by table.
async fn record_rows(conn: &mut PgConnection, patient: Uuid) -> Vec<(&'static str, i64)> {
    let mut rows = Vec::new();
    for table in [
        "patients",
        "patient_owners",
        "encounters",
        "vital_signs",
        "vaccinations",
        "prescriptions",
        "appointments",
    ] {
        let column = if table == "patients" {
            "id"
        } else {
            "patient_id"
        };
        let sql = format!("select count(*) from {table} where {column} = $1");
        rows.push((table, count(conn, &sql, patient).await));
    }
    rows
}

/// Audit events of `practice` with this action on this entity.
async fn events(
    conn: &mut PgConnection,
    practice: PracticeId,
    action: &str,
    entity_type: &str,
    entity: Uuid,
) -> i64 {
    sqlx::query_scalar(
        "select count(*) from audit_events
          where practice_id = $1 and action = $2 and entity_type = $3 and entity_id = $4",
    )
    .bind(practice.as_uuid())
    .bind(action)
    .bind(entity_type)
    .bind(entity)
    .fetch_one(conn)
    .await
    .unwrap()
}

/// What practice A holds for the test: a patient with a full record, deleted; one
/// deleted recently; a client deleted on their own; two deleted appointments.
struct Deleted {
    old_patient: Uuid,
    recent_patient: Uuid,
    old_client: Uuid,
    old_appointment: Uuid,
    recent_appointment: Uuid,
}

/// A patient with an encounter, vitals, a vaccination, a prescription and a booking.
async fn patient_with_record(tx: &mut TenantTx, vet: paddock_domain::UserId, name: &str) -> Uuid {
    let (_, patient) = client_with_dog(tx, name, name).await;
    let encounter = encounters::create(
        tx,
        &NewEncounter {
            patient_id: patient.id,
            kind: EncounterKind::Consultation,
            started_at: Utc::now(),
            attending: Some(vet),
            reason: Some("Annual check".to_owned()),
            soap: Soap {
                subjective: "Well at home.".to_owned(),
                ..Soap::default()
            },
        },
    )
    .await
    .unwrap();
    record::record_vitals(
        tx,
        patient.id,
        &NewVitals {
            encounter_id: Some(encounter.id),
            recorded_at: Utc::now(),
            weight: Some(WeightKg::parse("weight_kg", "18.2").unwrap()),
            temperature: None,
            heart_rate: None,
            respiratory_rate: None,
        },
    )
    .await
    .unwrap();
    let today = Utc::now().date_naive();
    record::vaccinate(
        tx,
        patient.id,
        &NewVaccination {
            encounter_id: Some(encounter.id),
            vaccine: "Nobivac L4".to_owned(),
            manufacturer: Some("MSD".to_owned()),
            lot_number: "L4-2231".to_owned(),
            lot_expires_on: Some(today + Duration::days(90)),
            given_on: today,
            next_due_on: Some(today + Duration::days(365)),
            administered_by: vet,
            rabies_tag: None,
        },
    )
    .await
    .unwrap();
    record::prescribe(
        tx,
        patient.id,
        &NewPrescription {
            encounter_id: Some(encounter.id),
            drug: "Milbemax tablets for dogs".to_owned(),
            dose: "1 tablet".to_owned(),
            route: Route::Oral,
            frequency: "once".to_owned(),
            duration_days: Some(1),
            prescriber: vet,
            starts_on: today,
            notes: None,
        },
    )
    .await
    .unwrap();
    bookings::book(
        tx,
        &booking(
            Some(patient.id.as_uuid()),
            Some(vet),
            nine_am() + Duration::days(3),
            20,
        ),
    )
    .await
    .unwrap();
    patient.id.as_uuid()
}

/// Builds practice A's deleted rows through the store, then ages their deletions.
async fn deleted_rows(world: &World, practice: &PracticeFixture) -> Deleted {
    let mut tx = begin(world, practice).await;
    let now = Utc::now();
    let old_patient = patient_with_record(&mut tx, practice.admin, "Oldfield").await;
    patients::delete(
        &mut tx,
        paddock_domain::PatientId::from_uuid(old_patient),
        now,
    )
    .await
    .unwrap();
    let (_, recent) = client_with_dog(&mut tx, "Newman", "Pip").await;
    patients::delete(&mut tx, recent.id, now).await.unwrap();
    let lonely = clients::create(&mut tx, &client_details("Morgan", "Gone"))
        .await
        .unwrap();
    clients::delete(&mut tx, lonely.id, now).await.unwrap();
    let (_, live) = client_with_dog(&mut tx, "Stay", "Biscuit").await;
    let mut ids = Vec::new();
    for day in [10, 11] {
        let slot = booking(
            Some(live.id.as_uuid()),
            Some(practice.admin),
            nine_am() + Duration::days(day),
            20,
        );
        let appointment = bookings::book(&mut tx, &slot).await.unwrap();
        bookings::delete(&mut tx, appointment.id, now)
            .await
            .unwrap();
        ids.push(appointment.id.as_uuid());
    }
    tx.commit().await.unwrap();

    let mut conn = superuser(&world.db).await;
    deleted_days_ago(&mut conn, "patients", old_patient, 8 * 365).await;
    deleted_days_ago(&mut conn, "patients", recent.id.as_uuid(), 1).await;
    deleted_days_ago(&mut conn, "clients", lonely.id.as_uuid(), 8 * 365).await;
    deleted_days_ago(&mut conn, "appointments", ids[0], 3 * 365).await;
    deleted_days_ago(&mut conn, "appointments", ids[1], 30).await;
    Deleted {
        old_patient,
        recent_patient: recent.id.as_uuid(),
        old_client: lonely.id.as_uuid(),
        old_appointment: ids[0],
        recent_appointment: ids[1],
    }
}

#[tokio::test]
async fn retention_run_purges_what_is_past_the_period_with_its_record_and_audits_it() {
    let world = two_practices().await;
    let a = deleted_rows(&world, &world.a).await;
    // Practice B has a patient deleted just as long ago: a run confined to A leaves it.
    let b_old = {
        let mut tx = begin(&world, &world.b).await;
        let (_, patient) = client_with_dog(&mut tx, "Elsewhere", "Shadow").await;
        patients::delete(&mut tx, patient.id, Utc::now())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        patient.id
    };
    let mut conn = superuser(&world.db).await;
    deleted_days_ago(&mut conn, "patients", b_old.as_uuid(), 8 * 365).await;
    let before = record_rows(&mut conn, a.old_patient).await;
    for (table, rows) in &before {
        assert!(*rows > 0, "the old patient has {table} rows before the run");
    }
    let b_rows = "select count(*) from patients where practice_id = $1";
    let b_patients = count(&mut conn, b_rows, world.b.id.as_uuid()).await;

    let output = retention(&world, &["--practice", &world.a.id.to_string()]);
    assert_eq!(output.code(), 0, "{output}");
    let report = single_json(&output);
    assert_eq!(report["practices"].as_array().map(Vec::len), Some(1));
    let purged = entry(&report, world.a.id);
    assert_eq!(ids(&purged, "patients"), [a.old_patient], "{output}");
    assert_eq!(ids(&purged, "clients"), [a.old_client], "{output}");
    // The old patient's own booking went with it; of the deleted ones, only the old.
    let purged_appointments = ids(&purged, "appointments");
    assert_eq!(purged_appointments, [a.old_appointment], "{output}");
    assert!(
        output.stderr.contains(&format!(
            "practice {}: purged 1 client(s), 1 patient(s)",
            world.a.id
        )),
        "one line per practice on stderr: {output}"
    );

    for (table, rows) in record_rows(&mut conn, a.old_patient).await {
        assert_eq!(rows, 0, "{table} rows of the purged patient remain");
    }
    for (table, id) in [
        ("clients", a.old_client),
        ("appointments", a.old_appointment),
    ] {
        let sql = format!("select count(*) from {table} where id = $1");
        assert_eq!(count(&mut conn, &sql, id).await, 0, "{table} {id} purged");
    }
    let kept = "select count(*) from appointments where id = $1 and deleted_at is not null";
    assert_eq!(
        count(&mut conn, kept, a.recent_appointment).await,
        1,
        "an appointment deleted last month is kept"
    );
    assert_eq!(
        count(&mut conn, b_rows, world.b.id.as_uuid()).await,
        b_patients,
        "practice B untouched by a run confined to A"
    );

    // The purge is in A's trail: one summary event, and a delete event per row.
    let summary: Vec<(Value, String)> = sqlx::query_as(
        "select changes, actor_kind from audit_events
          where practice_id = $1 and action = 'retention_purge'",
    )
    .bind(world.a.id.as_uuid())
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(summary.len(), 1, "one retention_purge event: {summary:?}");
    let (changes, actor) = &summary[0];
    assert_eq!(actor, "system");
    assert_eq!(changes["patients"], serde_json::json!([a.old_patient]));
    assert_eq!(changes["clients"], serde_json::json!([a.old_client]));
    assert_eq!(changes["record_retention_days"], 2557);
    for (entity_type, id) in [
        ("patient", a.old_patient),
        ("client", a.old_client),
        ("appointment", a.old_appointment),
    ] {
        assert_eq!(
            events(&mut conn, world.a.id, "delete", entity_type, id).await,
            1,
            "a delete event for {entity_type} {id}"
        );
    }
    let record_deletes: i64 = sqlx::query_scalar(
        "select count(*) from audit_events
          where practice_id = $1 and action = 'delete'
            and entity_type in ('encounter', 'vital_signs', 'vaccination', 'prescription')
            and changes -> 'patient_id' ->> 0 = $2::text",
    )
    .bind(world.a.id.as_uuid())
    .bind(a.old_patient)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        record_deletes, 4,
        "each medical-record row's deletion is audited"
    );

    // Deleted yesterday: still there, and the practice can bring it back.
    let mut tx = begin(&world, &world.a).await;
    let restored = patients::restore(
        &mut tx,
        paddock_domain::PatientId::from_uuid(a.recent_patient),
    )
    .await
    .unwrap();
    assert_eq!(
        restored.id,
        paddock_domain::PatientId::from_uuid(a.recent_patient)
    );
    assert!(restored.deleted_at.is_none());
    assert_eq!(
        patients::restore(&mut tx, paddock_domain::PatientId::from_uuid(a.old_patient))
            .await
            .unwrap_err()
            .to_string(),
        StoreError::NotFound("patient").to_string(),
        "a purged patient cannot be restored"
    );
    tx.commit().await.unwrap();

    // A second run finds nothing more in A.
    let again = retention(&world, &["--practice", &world.a.id.to_string()]);
    assert_eq!(again.code(), 0, "{again}");
    let nothing = entry(&single_json(&again), world.a.id);
    for key in ["clients", "patients", "appointments"] {
        assert!(ids(&nothing, key).is_empty(), "{key} purged twice: {again}");
    }
    let purges =
        "select count(*) from audit_events where practice_id = $1 and action = 'retention_purge'";
    assert_eq!(
        count(&mut conn, purges, world.a.id.as_uuid()).await,
        1,
        "a run that purges nothing records nothing"
    );

    // Every practice: B's old patient goes now, and nothing else of B's.
    let all = retention(&world, &[]);
    assert_eq!(all.code(), 0, "{all}");
    let report = single_json(&all);
    assert_eq!(report["practices"].as_array().map(Vec::len), Some(2));
    assert!(ids(&entry(&report, world.a.id), "patients").is_empty());
    let b = entry(&report, world.b.id);
    assert_eq!(ids(&b, "patients"), [b_old.as_uuid()], "{all}");
    assert!(ids(&b, "clients").is_empty(), "{all}");
    assert!(ids(&b, "appointments").is_empty(), "{all}");
    assert_eq!(
        count(&mut conn, b_rows, world.b.id.as_uuid()).await,
        b_patients - 1,
        "only B's old deleted patient went"
    );
}

#[tokio::test]
async fn retention_run_as_of_an_earlier_time_purges_only_what_was_due_then() {
    let world = two_practices().await;
    let a = deleted_rows(&world, &world.a).await;
    // Five years ago, the patient deleted eight years ago had been deleted for three:
    // within the seven-year record period. Its appointment (deleted three years ago)
    // did not exist then; an appointment is due two years after its deletion.
    let as_of = (Utc::now() - Duration::days(5 * 365)).to_rfc3339();
    let output = retention(
        &world,
        &["--practice", &world.a.id.to_string(), "--now", &as_of],
    );
    assert_eq!(output.code(), 0, "{output}");
    let purged = entry(&single_json(&output), world.a.id);
    for key in ["clients", "patients", "appointments"] {
        assert!(ids(&purged, key).is_empty(), "{key}: {output}");
    }
    let mut conn = superuser(&world.db).await;
    assert_eq!(
        count(
            &mut conn,
            "select count(*) from patients where id = $1",
            a.old_patient
        )
        .await,
        1
    );

    let future = (Utc::now() + Duration::days(1)).to_rfc3339();
    let refused = retention(&world, &["--now", &future]);
    assert_ne!(refused.code(), 0, "{refused}");
    assert!(refused.stderr.contains("future"), "{refused}");
    assert!(refused.stdout.is_empty(), "{refused}");
}

#[tokio::test]
async fn retention_run_refuses_an_unknown_practice_and_needs_the_admin_url() {
    let world = two_practices().await;
    let unknown = Uuid::now_v7().to_string();
    let output = retention(&world, &["--practice", &unknown]);
    assert_ne!(output.code(), 0, "{output}");
    assert!(
        output
            .stderr
            .contains(&format!("there is no practice {unknown}")),
        "{output}"
    );
    assert!(output.stdout.is_empty(), "{output}");

    // The application role's URL is not enough: it must not fall back to it.
    let app = run(paddock()
        .args(["retention", "run"])
        .env("DATABASE_URL", world.db.app_url()));
    assert_ne!(app.code(), 0, "{app}");
    assert!(app.stderr.contains("PADDOCK_ADMIN_DATABASE_URL"), "{app}");
    assert!(app.stdout.is_empty(), "{app}");
}

#[tokio::test]
async fn retention_the_app_role_cannot_hard_delete_clinical_rows() {
    let world = two_practices().await;
    let mut tx = begin(&world, &world.a).await;
    let (client, patient) = client_with_dog(&mut tx, "Fixed", "Bramble").await;
    tx.commit().await.unwrap();

    // The practice admin holds every permission, yet the role the server connects as
    // has no DELETE grant: a hard delete is refused by the database (42501).
    for (table, id) in [
        ("patients", patient.id.as_uuid()),
        ("clients", client.id.as_uuid()),
        ("encounters", patient.id.as_uuid()),
        ("vital_signs", patient.id.as_uuid()),
        ("vaccinations", patient.id.as_uuid()),
        ("prescriptions", patient.id.as_uuid()),
        ("appointments", patient.id.as_uuid()),
    ] {
        let mut tx = begin(&world, &world.a).await;
        let result = sqlx::query(&format!("delete from {table} where id = $1"))
            .bind(id)
            .execute(tx.conn())
            .await;
        match result {
            Err(sqlx::Error::Database(e)) => {
                assert_eq!(e.code().as_deref(), Some("42501"), "{table}: {e}");
            }
            other => panic!("the app role deleted from {table}: {other:?}"),
        }
        tx.rollback().await.unwrap();
    }
    let mut tx = begin(&world, &world.a).await;
    assert_eq!(
        patients::get(&mut tx, patient.id).await.unwrap().id,
        patient.id,
        "every refused delete left the patient in place"
    );
}
