//! Patient search on a practice of realistic size, as the application role: the
//! answers are right (the start of a name, an exact microchip, an owner's phone; never
//! another practice's patient), and a search reads indexes, not whole tables.
//!
//! The practice is filled by a superuser with `generate_series` (twenty thousand
//! patients through the store would take minutes); the rows searched for are made
//! through the store. The filler is consistent by construction, so skipping its
//! triggers (`session_replication_role = replica`) loses only its audit events.
//! What a search reads is counted by the server itself (`pg_stat_xact_user_tables`,
//! the current transaction's scans), so the check holds whatever SQL the store runs.

use crate::clinic::{client_details, dog};
use crate::process::superuser;
use crate::world::{PracticeFixture, World, two_practices};
use paddock_domain::{Microchip, Phone};
use paddock_store::{RequestMeta, TenantTx, clinical::clients, clinical::patients};
use sqlx::PgConnection;
use uuid::Uuid;

/// Filler patients of practice A, and their owners.
const FILLER_PATIENTS: i32 = 20_000;
const FILLER_CLIENTS: i32 = 14_000;

/// Fills `practice` with clients, patients and primary-owner links, then analyses.
async fn fill(conn: &mut PgConnection, practice: Uuid) {
    let statements = [
        "set session_replication_role = replica",
        "insert into clients (practice_id, id, given_name, family_name, email, mobile)
         select $1, md5($1::text || ':c:' || g)::uuid,
                (array['Oliver','Amelia','George','Isla','Harry','Ava','Noah','Mia'])[1 + g % 8],
                (array['Smith','Jones','Taylor','Brown','Williams','Wilson','Davies','Patel',
                       'Hughes','Clarke'])[1 + (g * 7) % 10] || (g % 97),
                'owner' || g || '@example.org',
                '+4420' || lpad(g::text, 8, '0')
           from generate_series(1, $3) g",
        "insert into patients (practice_id, id, name, species, microchip)
         select $1, md5($1::text || ':p:' || g)::uuid,
                (array['Bella','Max','Luna','Charlie','Daisy','Milo','Coco','Teddy','Poppy',
                       'Alfie'])[1 + g % 10] || ' ' || (g % 500),
                'Canine',
                '826' || lpad((200000000000 + g)::text, 12, '0')
           from generate_series(1, $2) g",
        "insert into patient_owners (practice_id, patient_id, client_id, is_primary)
         select $1, md5($1::text || ':p:' || g)::uuid,
                md5($1::text || ':c:' || (1 + (g * 48271) % $3))::uuid, true
           from generate_series(1, $2) g",
        "set session_replication_role = origin",
        "analyze clients",
        "analyze patients",
        "analyze patient_owners",
    ];
    for sql in statements {
        let mut query = sqlx::query(sql);
        if sql.contains("$1") {
            query = query
                .bind(practice)
                .bind(FILLER_PATIENTS)
                .bind(FILLER_CLIENTS);
        }
        query
            .execute(&mut *conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

fn meta() -> RequestMeta {
    RequestMeta::system("search-plan-test")
}

async fn begin(world: &World, practice: &PracticeFixture) -> TenantTx {
    world.app.begin(&practice.principal, &meta()).await.unwrap()
}

/// The patient being looked for, through the store: Zebedee, chipped, whose owner
/// Quimby has the mobile 07700 900777.
async fn zebedee(tx: &mut TenantTx, chip: &str) -> Uuid {
    let mut details = client_details("Ada", "Quimby");
    details.mobile = Some(Phone::parse("mobile", "+44 7700 900777").unwrap());
    let owner = clients::create(tx, &details).await.unwrap();
    let mut patient = dog("Zebedee");
    patient.microchip = Some(Microchip::parse("microchip", chip).unwrap());
    patients::create(tx, &patient, &[(owner.id, true)])
        .await
        .unwrap()
        .id
        .as_uuid()
}

/// Practice A filled, with its Zebedee; practice B with a Zebedee of its own.
async fn world_with_zebedees() -> (World, Uuid, Uuid) {
    let world = two_practices().await;
    let mut conn = superuser(&world.db).await;
    fill(&mut conn, world.a.id.as_uuid()).await;
    let mut tx = begin(&world, &world.a).await;
    let ours = zebedee(&mut tx, "826 012 345 678 901").await;
    tx.commit().await.unwrap();
    let mut tx = begin(&world, &world.b).await;
    let theirs = zebedee(&mut tx, "985 112 345 678 901").await;
    tx.commit().await.unwrap();
    (world, ours, theirs)
}

async fn search(tx: &mut TenantTx, text: &str) -> Vec<patients::Patient> {
    patients::search(tx, Some(text), 50, None)
        .await
        .unwrap_or_else(|e| panic!("search {text:?}: {e:?}"))
        .items
}

/// Sequential and index scans of `table` in the current transaction so far.
async fn scans(tx: &mut TenantTx, table: &str) -> (i64, i64) {
    sqlx::query_as(
        "select coalesce(seq_scan, 0), coalesce(idx_scan, 0)
           from pg_stat_xact_user_tables where relname = $1",
    )
    .bind(table)
    .fetch_optional(tx.conn())
    .await
    .unwrap()
    .unwrap_or((0, 0))
}

#[tokio::test]
async fn search_plan_finds_by_name_exact_microchip_and_owner_phone_in_a_large_practice() {
    let (world, ours, theirs) = world_with_zebedees().await;
    let mut tx = begin(&world, &world.a).await;

    for typed in ["ZEBE", "zebedee", " Zebedee "] {
        let by_name = search(&mut tx, typed).await;
        assert_eq!(
            by_name.iter().map(|p| p.id.as_uuid()).collect::<Vec<_>>(),
            [ours],
            "{typed:?}: the start of the name, any case; never B's Zebedee ({theirs})"
        );
        assert_eq!(by_name[0].primary_owner_name.as_deref(), Some("Ada Quimby"));
    }

    let by_chip = search(&mut tx, "826 012 345 678 901").await;
    assert_eq!(
        by_chip.iter().map(|p| p.id.as_uuid()).collect::<Vec<_>>(),
        [ours]
    );
    let their_chip = search(&mut tx, "985112345678901").await;
    assert!(their_chip.is_empty(), "B's chip is not A's: {their_chip:?}");

    for typed in ["+44 7700 900777", "7700 900777", "+44 (7700) 900-777"] {
        let by_phone = search(&mut tx, typed).await;
        let ids: Vec<Uuid> = by_phone.iter().map(|p| p.id.as_uuid()).collect();
        assert_eq!(ids, [ours], "owner's phone {typed:?}");
    }

    // A common start: a full first page, every one of them matching, in name order.
    let common = search(&mut tx, "bell").await;
    assert_eq!(common.len(), 50);
    assert!(
        common.iter().all(|p| p.name.to_lowercase().contains("bell")
            || p.primary_owner_name
                .as_deref()
                .is_some_and(|o| o.to_lowercase().contains("bell"))),
        "{common:?}"
    );
    let names: Vec<String> = common.iter().map(|p| p.name.to_lowercase()).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);

    let nobody = search(&mut tx, "qxzj").await;
    assert!(nobody.is_empty(), "{nobody:?}");
    // The owners' list finds them the same ways.
    let owners = clients::list(&mut tx, Some("+44 7700 900777"), 50, None)
        .await
        .unwrap()
        .items;
    assert_eq!(
        owners
            .iter()
            .map(|c| c.family_name.as_str())
            .collect::<Vec<_>>(),
        ["Quimby"]
    );
    tx.rollback().await.unwrap();
}

#[tokio::test]
async fn search_plan_a_name_search_as_the_application_role_reads_no_whole_table() {
    let (world, _, _) = world_with_zebedees().await;
    // As the server runs it: the application role in A's TenantTx, RLS in force.
    for typed in ["zebe", "bell", "+44 7700 900777"] {
        let mut tx = begin(&world, &world.a).await;
        let found = search(&mut tx, typed).await;
        assert!(!found.is_empty(), "{typed:?} finds somebody");
        let mut report = Vec::new();
        for table in ["patients", "clients", "patient_owners"] {
            report.push((table, scans(&mut tx, table).await));
        }
        for (table, (sequential, indexed)) in &report {
            if *table != "patient_owners" {
                assert_eq!(
                    *sequential, 0,
                    "{typed:?} read {table} whole ({indexed} index scans); all: {report:?}"
                );
            }
        }
        tx.rollback().await.unwrap();
    }
}
