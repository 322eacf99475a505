//! The clinical rules the database itself enforces, proved as the application role:
//! double bookings refused under concurrent inserts, finalised encounters unchangeable
//! even by SQL that skips the store, clinical rows never hard-deleted by the app.

use crate::clinic::{booking, client_with_dog, nine_am};
use crate::world::two_practices;
use chrono::{Duration, Utc};
use paddock_domain::{BuiltinRole, EncounterKind};
use paddock_store::appointments::bookings;
use paddock_store::clinical::encounters::{self, NewEncounter, Soap};
use paddock_store::{RequestMeta, StoreError};
use sqlx::Executor;

#[tokio::test]
async fn concurrent_overlapping_bookings_of_one_vet_leave_exactly_one() {
    let world = two_practices().await;
    let vet = world.a.admin;
    let mut tasks = Vec::new();
    for i in 0..8_i64 {
        let app = world.app.clone();
        let principal = world.a.principal.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = app
                .begin(&principal, &RequestMeta::system("race"))
                .await
                .unwrap();
            // Every booking overlaps every other: 09:00+i min, 30 minutes long.
            let slot = booking(None, Some(vet), nine_am() + Duration::minutes(i), 30);
            let result = bookings::book(&mut tx, &slot).await;
            if result.is_ok() {
                tx.commit().await.unwrap();
            }
            result
        }));
    }
    let mut booked = 0;
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => booked += 1,
            Err(StoreError::DoubleBooked(clash)) => {
                assert_eq!(clash.on, "staff");
                refused += 1;
            }
            Err(other) => panic!("unexpected: {other:?}"),
        }
    }
    assert_eq!((booked, refused), (1, 7));
    let mut tx = world
        .app
        .begin(&world.a.principal, &RequestMeta::system("check"))
        .await
        .unwrap();
    let live: i64 = sqlx::query_scalar(
        "select count(*) from appointments where staff_id = $1 and starts_at >= $2 and starts_at < $3",
    )
    .bind(vet.as_uuid())
    .bind(nine_am())
    .bind(nine_am() + Duration::hours(1))
    .fetch_one(tx.conn())
    .await
    .unwrap();
    assert_eq!(live, 1);
}

#[tokio::test]
async fn the_other_practice_can_book_the_same_time_and_so_can_a_colleague() {
    let world = two_practices().await;
    let colleague = crate::clinic::colleague(&world, BuiltinRole::Veterinarian).await;
    let meta = RequestMeta::system("b");
    // Practice A's admin, practice B's admin and A's colleague, all at 09:00: three
    // different people, so three bookings, none of them a clash.
    let mut booked = Vec::new();
    for (principal, vet) in [
        (&world.a.principal, world.a.admin),
        (&world.b.principal, world.b.admin),
        (&world.a.principal, colleague),
    ] {
        let mut tx = world.app.begin(principal, &meta).await.unwrap();
        let result = bookings::book(&mut tx, &booking(None, Some(vet), nine_am(), 30)).await;
        let appointment = match result {
            Ok(appointment) => appointment,
            Err(error) => panic!("booking {vet:?} was refused: {error:?}"),
        };
        assert_eq!(appointment.staff_id, Some(vet));
        assert_eq!(appointment.starts_at, nine_am());
        tx.commit().await.unwrap();
        booked.push(appointment.id);
    }
    // Each practice sees its own bookings at that time, and only those.
    for (principal, expected) in [
        (&world.a.principal, vec![booked[0], booked[2]]),
        (&world.b.principal, vec![booked[1]]),
    ] {
        let mut tx = world.app.begin(principal, &meta).await.unwrap();
        let range = bookings::RangeQuery {
            from: Some(nine_am()),
            to: Some(nine_am() + Duration::minutes(30)),
            ..bookings::RangeQuery::default()
        };
        let mut found: Vec<_> = bookings::list(&mut tx, &range, 50, None)
            .await
            .unwrap()
            .items
            .into_iter()
            .map(|a| a.id)
            .collect();
        found.sort();
        let mut expected = expected;
        expected.sort();
        assert_eq!(found, expected);
    }
}

#[tokio::test]
async fn a_finalised_encounter_cannot_be_changed_even_by_sql_that_skips_the_store() {
    let world = two_practices().await;
    let meta = RequestMeta::system("lock");
    let mut tx = world.app.begin(&world.a.principal, &meta).await.unwrap();
    let (_, dog) = client_with_dog(&mut tx, "Lock", "Bolt").await;
    let encounter = encounters::create(
        &mut tx,
        &NewEncounter {
            patient_id: dog.id,
            kind: EncounterKind::Consultation,
            started_at: Utc::now(),
            attending: None,
            reason: None,
            soap: Soap {
                assessment: "Healthy".to_owned(),
                ..Soap::default()
            },
        },
    )
    .await
    .unwrap();
    encounters::finalise(&mut tx, encounter.id, Utc::now())
        .await
        .unwrap();
    tx.commit().await.unwrap();

    for sql in [
        format!(
            "update encounters set assessment = 'Rewritten' where id = '{}'",
            encounter.id
        ),
        format!(
            "update encounters set status = 'open', finalised_at = null where id = '{}'",
            encounter.id
        ),
    ] {
        let mut tx = world.app.begin(&world.a.principal, &meta).await.unwrap();
        let error = tx.conn().execute(sql.as_str()).await.unwrap_err();
        let db = error.as_database_error().unwrap();
        assert_eq!(db.constraint(), Some("encounter_locked"), "{sql}");
    }
    // The app role may not delete clinical rows or rewrite addenda and vital signs at all.
    for sql in [
        format!("delete from encounters where id = '{}'", encounter.id),
        format!("delete from patients where id = '{}'", dog.id),
        "update vital_signs set weight_kg = 1".to_owned(),
        "update encounter_addenda set body = 'x'".to_owned(),
        "update vaccinations set lot_number = 'x'".to_owned(),
    ] {
        let mut tx = world.app.begin(&world.a.principal, &meta).await.unwrap();
        let error = tx.conn().execute(sql.as_str()).await.unwrap_err();
        assert_eq!(
            error.as_database_error().unwrap().code().as_deref(),
            Some("42501"),
            "{sql}"
        );
    }
    let mut tx = world.app.begin(&world.a.principal, &meta).await.unwrap();
    let kept = encounters::get(&mut tx, encounter.id).await.unwrap();
    assert_eq!(kept.soap.assessment, "Healthy");
    assert_eq!(kept.status.as_str(), "finalised");
}

#[tokio::test]
async fn an_open_encounter_past_its_editing_period_is_locked_even_before_the_clock_runs() {
    let world = two_practices().await;
    let meta = RequestMeta::system("period");
    let mut tx = world.app.begin(&world.a.principal, &meta).await.unwrap();
    tx.conn()
        .execute("update practice_settings set encounter_lock_hours = 1")
        .await
        .unwrap();
    let (_, dog) = client_with_dog(&mut tx, "Period", "Dot").await;
    let new = NewEncounter {
        patient_id: dog.id,
        kind: EncounterKind::Recheck,
        started_at: Utc::now(),
        attending: None,
        reason: None,
        soap: Soap::default(),
    };
    let encounter = encounters::create(&mut tx, &new).await.unwrap();
    // The deadline follows the practice setting, whatever the insert claimed.
    let hours = (encounter.lock_after - encounter.created_at).num_minutes();
    assert_eq!(hours, 60);
    tx.commit().await.unwrap();
    // Pretend the hour has passed: move the deadline back as the superuser, skipping
    // the guard (session_replication_role = replica disables triggers).
    let mut su = <sqlx::PgConnection as sqlx::Connection>::connect(&world.db.admin_url())
        .await
        .unwrap();
    su.execute(
        format!(
            "set session_replication_role = replica;
             update encounters set lock_after = now() - interval '1 minute' where id = '{}';",
            encounter.id
        )
        .as_str(),
    )
    .await
    .unwrap();
    let mut tx = world.app.begin(&world.a.principal, &meta).await.unwrap();
    let refused = encounters::update(&mut tx, encounter.id, None, None, &Soap::default()).await;
    assert!(matches!(refused, Err(StoreError::Locked(_))), "{refused:?}");
}
