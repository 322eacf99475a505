//! The record clock: an open encounter past its editing period is marked finalised
//! by the server (nobody signed it: `finalised_by` stays empty), audited like any
//! change, and from then on only addenda can correct it.
//!
//! The editing period is 24 hours at least; a test cannot wait that long, so the
//! deadline is moved into the past with a superuser session that skips the triggers
//! (`session_replication_role = replica`), the lock guard included.

use crate::clinic::client_with_dog;
use crate::process::{DEADLINE, KillOnDrop, POLL, TempDir, drain, paddock, superuser};
use crate::world::{PracticeFixture, World, create_practice, two_practices};
use chrono::{DateTime, Utc};
use paddock_domain::EncounterKind;
use paddock_store::clinical::encounters::{self, NewEncounter, Soap};
use paddock_store::{Db, RequestMeta, StoreError, TenantTx};
use paddock_test_db::TestDb;
use serde_json::Value;
use sqlx::PgConnection;
use std::process::Stdio;
use std::time::Instant;
use uuid::Uuid;

fn meta() -> RequestMeta {
    RequestMeta::system("records-clock-test")
}

async fn begin(app: &Db, practice: &PracticeFixture) -> TenantTx {
    app.begin(&practice.principal, &meta()).await.unwrap()
}

/// Opens an encounter for a new patient of `practice`, committed.
async fn open_encounter(app: &Db, practice: &PracticeFixture, family: &str) -> Uuid {
    let mut tx = begin(app, practice).await;
    let (_, patient) = client_with_dog(&mut tx, family, "Scout").await;
    let encounter = encounters::create(
        &mut tx,
        &NewEncounter {
            patient_id: patient.id,
            kind: EncounterKind::Recheck,
            started_at: Utc::now(),
            attending: Some(practice.admin),
            reason: Some("Wound check".to_owned()),
            soap: Soap {
                subjective: "Licking the wound at night.".to_owned(),
                ..Soap::default()
            },
        },
    )
    .await
    .unwrap();
    assert_eq!(encounter.status.as_str(), "open");
    tx.commit().await.unwrap();
    encounter.id.as_uuid()
}

/// Moves an encounter's deadline a minute into the past, bypassing the guard.
async fn past_deadline(conn: &mut PgConnection, encounter: Uuid) -> DateTime<Utc> {
    sqlx::query("set session_replication_role = replica")
        .execute(&mut *conn)
        .await
        .unwrap();
    let deadline: DateTime<Utc> = sqlx::query_scalar(
        "update encounters set lock_after = now() - interval '1 minute' where id = $1
         returning lock_after",
    )
    .bind(encounter)
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    sqlx::query("set session_replication_role = origin")
        .execute(&mut *conn)
        .await
        .unwrap();
    deadline
}

async fn status(conn: &mut PgConnection, encounter: Uuid) -> String {
    sqlx::query_scalar("select status from encounters where id = $1")
        .bind(encounter)
        .fetch_one(conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn records_clock_finalises_encounters_past_their_editing_period_and_locks_them() {
    let World { db, app, a, b, .. } = two_practices().await;
    let due = open_encounter(&app, &a, "Due").await;
    let fresh = open_encounter(&app, &a, "Fresh").await;
    let due_elsewhere = open_encounter(&app, &b, "Elsewhere").await;
    let mut conn = superuser(&db).await;
    let deadline = past_deadline(&mut conn, due).await;
    past_deadline(&mut conn, due_elsewhere).await;

    // Across practices: both due encounters, and nothing else.
    assert_eq!(app.finalise_due_encounters().await.unwrap(), 2);

    let mut tx = begin(&app, &a).await;
    let finalised = encounters::get(&mut tx, due.into()).await.unwrap();
    assert_eq!(finalised.status.as_str(), "finalised");
    assert_eq!(finalised.finalised_by, None, "nobody signed it");
    assert_eq!(
        finalised.finalised_at.map(|t| t.timestamp_micros()),
        Some(deadline.timestamp_micros()),
        "finalised as of its deadline"
    );
    assert!(!finalised.is_editable(Utc::now()));
    let untouched = encounters::get(&mut tx, fresh.into()).await.unwrap();
    assert_eq!(untouched.status.as_str(), "open", "not yet due");
    let edit = encounters::update(
        &mut tx,
        due.into(),
        Some("Wound check"),
        Some(a.admin),
        &Soap {
            subjective: "Rewritten afterwards.".to_owned(),
            ..Soap::default()
        },
    )
    .await;
    assert!(
        matches!(edit, Err(StoreError::Locked(_))),
        "a finalised encounter cannot be edited: {edit:?}"
    );
    tx.rollback().await.unwrap();
    assert_eq!(status(&mut conn, due_elsewhere).await, "finalised");

    // Audited in the encounter's own practice, as the system, with the change itself.
    let events: Vec<(Uuid, String, Option<Uuid>, Value)> = sqlx::query_as(
        "select practice_id, actor_kind, actor_user_id, changes from audit_events
          where action = 'update' and entity_type = 'encounter' and entity_id = $1",
    )
    .bind(due)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    let (practice, actor, user, changes) = &events[0];
    assert_eq!(*practice, a.id.as_uuid());
    assert_eq!(actor, "system");
    assert_eq!(*user, None);
    assert_eq!(changes["status"], serde_json::json!(["open", "finalised"]));

    // Nothing more is due; the fresh encounter can still be edited.
    assert_eq!(app.finalise_due_encounters().await.unwrap(), 0);
    let mut tx = begin(&app, &a).await;
    let edited = encounters::update(
        &mut tx,
        fresh.into(),
        None,
        Some(a.admin),
        &Soap {
            plan: "Recheck in 5 days.".to_owned(),
            ..Soap::default()
        },
    )
    .await
    .unwrap();
    // The admin may read records, so the write answers with the whole encounter.
    let encounters::WrittenEncounter::Record(edited) = edited else {
        panic!("a reader gets the record back: {edited:?}");
    };
    assert_eq!(edited.soap.plan, "Recheck in 5 days.");
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn records_clock_runs_in_serve_and_finalises_what_fell_due_before_it_started() {
    let db = TestDb::new().await;
    let app = db.app().await;
    let practice = create_practice(
        &db.admin().await,
        &app,
        "Riverside Animal Hospital",
        "admin@riverside.example",
    )
    .await;
    let due = open_encounter(&app, &practice, "Due").await;
    let mut conn = superuser(&db).await;
    past_deadline(&mut conn, due).await;

    let data = TempDir::new("records-clock");
    let mut child = KillOnDrop(
        paddock()
            .args(["serve", "--bind", "127.0.0.1:0", "--insecure-http"])
            .args(["--log-format", "json"])
            .env("DATABASE_URL", db.app_url())
            .env("PADDOCK_DATA_DIR", data.path())
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn paddock serve"),
    );
    let stderr = drain(child.0.stderr.take().expect("stderr is piped"));
    // The clock runs once on start; the deadline only turns a hang into a failure.
    let end = Instant::now() + DEADLINE;
    while status(&mut conn, due).await != "finalised" {
        assert!(
            Instant::now() < end,
            "serve did not finalise the due encounter within {DEADLINE:?}"
        );
        if let Ok(Some(exit)) = child.0.try_wait() {
            panic!("serve exited early ({exit})");
        }
        tokio::time::sleep(POLL).await;
    }
    child.terminate();
    let exit = child.wait_until(DEADLINE).expect("serve stops on SIGTERM");
    let log = stderr.join().unwrap_or_default();
    assert!(exit.success(), "{exit}\n{log}");
    let logged = log
        .lines()
        .any(|line| serde_json::from_str::<Value>(line).is_ok_and(|json| json["finalised"] == 1));
    assert!(logged, "the count is logged:\n{log}");
}
