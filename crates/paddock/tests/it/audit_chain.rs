//! The audit trail in the database: one event per row change of every tenant table,
//! written in the changing transaction; append-only even for the owner; chained per
//! practice by the sealer without making writers wait for each other.

use crate::world::{World, two_practices};
use paddock_domain::PracticeId;
use paddock_store::RequestMeta;
use paddock_store::audit::chain::{BreakReason, begin_verification, verify_on, verify_own};
use serde_json::{Value, json};
use sqlx::{Connection, Executor, PgConnection, Row};
use std::collections::BTreeSet;
use std::time::Duration;
use uuid::Uuid;

fn meta(request: &str) -> RequestMeta {
    RequestMeta::system(request)
}

/// A superuser connection to the test database: the attacker of the tampering tests.
async fn superuser(world: &World) -> PgConnection {
    PgConnection::connect(&world.db.admin_url()).await.unwrap()
}

#[derive(Debug, sqlx::FromRow)]
struct Event {
    practice_id: Uuid,
    action: String,
    actor_kind: String,
    actor_user_id: Option<Uuid>,
    actor_role: Option<String>,
    changes: Option<Value>,
    request_id: Option<String>,
    ip: Option<String>,
}

async fn events_about(conn: &mut PgConnection, entity_type: &str, entity_id: Uuid) -> Vec<Event> {
    sqlx::query_as(
        "select practice_id, action, actor_kind, actor_user_id, actor_role, changes, request_id,
                host(ip) as ip
           from audit_events where entity_type = $1 and entity_id = $2 order by id",
    )
    .bind(entity_type)
    .bind(entity_id)
    .fetch_all(conn)
    .await
    .unwrap()
}

/// One tenant table's insert, update and delete, as `(sql, entity id, field the update
/// changes with its old and new value)`.
struct TableCase {
    table: &'static str,
    /// The practice whose trail records the changes.
    practice: Uuid,
    entity_type: &'static str,
    entity_id: Uuid,
    insert: String,
    update: String,
    /// The update's expected diff.
    diff: Value,
    /// `None` where rows are never deleted (a practice outlives its audit trail, which
    /// references it: it is closed with `deleted_at`).
    delete: Option<String>,
    /// A field the create event must show (`[null, value]` or `"changed"` for secrets).
    created: (&'static str, Value),
}

/// Every table with a practice: a new table fails
/// `every_tenant_table_records_each_insert_update_and_delete_once` until it is listed here.
fn cases(a: PracticeId, admin: Uuid) -> Vec<TableCase> {
    let mut cases = identity_cases(a, admin);
    cases.extend(clinical_cases(a, admin));
    cases
}

/// The clinical tables (issue 7). Each insert creates the parents it needs.
fn clinical_cases(a: PracticeId, admin: Uuid) -> Vec<TableCase> {
    let [
        client,
        patient,
        owned,
        resource,
        encounter,
        signed,
        addendum,
        vitals,
        problem,
        allergy,
        script,
        vaccine,
        appointment,
    ] = std::array::from_fn(|_| Uuid::now_v7());
    let new_client = |id: Uuid| {
        format!(
            "insert into clients (practice_id, id, given_name, family_name) values ('{a}', '{id}', 'Sam', 'Okafor');"
        )
    };
    let new_patient = |id: Uuid| {
        format!(
            "insert into patients (practice_id, id, name, species) values ('{a}', '{id}', 'Biscuit', 'Canine');"
        )
    };
    let new_encounter = |id: Uuid, patient: Uuid| {
        format!(
            "{} insert into encounters (practice_id, id, patient_id, kind, started_at, lock_after)
                 values ('{a}', '{id}', '{patient}', 'consultation', now(), now());",
            new_patient(patient)
        )
    };
    let on_patient = |table: &str, columns: &str, values: &str, id: Uuid| {
        let parent = Uuid::now_v7();
        format!(
            "{} insert into {table} (practice_id, id, patient_id, {columns}) values ('{a}', '{id}', '{parent}', {values})",
            new_patient(parent)
        )
    };
    let case = |table: &'static str,
                entity_type: &'static str,
                entity_id: Uuid,
                insert: String,
                update: String,
                diff: Value,
                created: (&'static str, Value)| TableCase {
        table,
        practice: a.as_uuid(),
        entity_type,
        entity_id,
        insert,
        delete: Some(format!(
            "delete from {table} where practice_id = '{a}' and {} = '{entity_id}'",
            if table == "patient_owners" {
                "patient_id"
            } else {
                "id"
            }
        )),
        update,
        diff,
        created,
    };
    vec![
        case("clients", "client", client, new_client(client),
             format!("update clients set family_name = 'Okafor-Reid' where id = '{client}'"),
             json!({"family_name": ["Okafor", "Okafor-Reid"]}), ("given_name", json!([null, "Sam"]))),
        case("patients", "patient", patient, new_patient(patient),
             format!("update patients set microchip = '826012345678901' where id = '{patient}'"),
             json!({"microchip": [null, "826012345678901"]}), ("species", json!([null, "Canine"]))),
        case("patient_owners", "patient_owner", owned,
             format!("{} {} insert into patient_owners (practice_id, patient_id, client_id) values ('{a}', '{owned}', '{owned}')",
                     new_patient(owned), new_client(owned)),
             format!("update patient_owners set is_primary = true where patient_id = '{owned}'"),
             json!({"is_primary": [false, true]}), ("client_id", json!([null, owned]))),
        case("resources", "resource", resource,
             format!("insert into resources (practice_id, id, name, kind) values ('{a}', '{resource}', 'Theatre', 'surgery_table')"),
             format!("update resources set name = 'Theatre 1' where id = '{resource}'"),
             json!({"name": ["Theatre", "Theatre 1"]}), ("kind", json!([null, "surgery_table"]))),
        case("encounters", "encounter", encounter, new_encounter(encounter, Uuid::now_v7()),
             format!("update encounters set plan = 'Recheck in 2 weeks' where id = '{encounter}'"),
             json!({"plan": ["", "Recheck in 2 weeks"]}), ("kind", json!([null, "consultation"]))),
        case("encounter_addenda", "encounter_addendum", addendum,
             format!("{} update encounters set status = 'finalised', finalised_at = now() where id = '{signed}';
                      insert into encounter_addenda (practice_id, id, encounter_id, body) values ('{a}', '{addendum}', '{signed}', 'Lab results normal')",
                     new_encounter(signed, Uuid::now_v7())),
             format!("update encounter_addenda set body = 'Lab results: normal' where id = '{addendum}'"),
             json!({"body": ["Lab results normal", "Lab results: normal"]}), ("body", json!([null, "Lab results normal"]))),
        case("vital_signs", "vital_signs", vitals,
             on_patient("vital_signs", "recorded_at, heart_rate", "now(), 90", vitals),
             format!("update vital_signs set heart_rate = 96 where id = '{vitals}'"),
             json!({"heart_rate": [90, 96]}), ("heart_rate", json!([null, 90]))),
        case("problems", "problem", problem,
             on_patient("problems", "kind, description", "'problem', 'Pruritus'", problem),
             format!("update problems set description = 'Pruritus, generalised' where id = '{problem}'"),
             json!({"description": ["Pruritus", "Pruritus, generalised"]}), ("kind", json!([null, "problem"]))),
        case("allergies", "allergy", allergy,
             on_patient("allergies", "substance, severity", "'Cephalexin', 'severe'", allergy),
             format!("update allergies set active = false where id = '{allergy}'"),
             json!({"active": [true, false]}), ("substance", json!([null, "Cephalexin"]))),
        case("prescriptions", "prescription", script,
             on_patient("prescriptions", "drug, dose, route, frequency, prescriber_id, starts_on",
                        &format!("'Amoxicillin 250 mg', '1 tablet', 'oral', 'twice daily', '{admin}', '2026-11-28'"), script),
             format!("update prescriptions set status = 'stopped' where id = '{script}'"),
             json!({"status": ["active", "stopped"]}), ("drug", json!([null, "Amoxicillin 250 mg"]))),
        case("vaccinations", "vaccination", vaccine,
             on_patient("vaccinations", "vaccine, lot_number, given_on, administered_by",
                        &format!("'Nobivac Rabies', 'R-991', '2026-11-28', '{admin}'"), vaccine),
             format!("update vaccinations set rabies_tag = 'RT-2026-0042' where id = '{vaccine}'"),
             json!({"rabies_tag": [null, "RT-2026-0042"]}), ("lot_number", json!([null, "R-991"]))),
        case("appointments", "appointment", appointment,
             format!("insert into appointments (practice_id, id, staff_id, starts_at, ends_at, kind)
                      values ('{a}', '{appointment}', '{admin}', '2030-01-07T09:00:00Z', '2030-01-07T09:20:00Z', 'consultation')"),
             format!("update appointments set status = 'confirmed' where id = '{appointment}'"),
             json!({"status": ["booked", "confirmed"]}), ("kind", json!([null, "consultation"]))),
    ]
}

/// The identity and access tables (issues 1-6).
fn identity_cases(a: PracticeId, admin: Uuid) -> Vec<TableCase> {
    let other_practice = Uuid::now_v7();
    let settings_practice = Uuid::now_v7();
    let role = Uuid::now_v7();
    let grant_role = Uuid::now_v7();
    let member_user = Uuid::now_v7();
    let membership = Uuid::now_v7();
    let session = Uuid::now_v7();
    let key = Uuid::now_v7();
    let invitation = Uuid::now_v7();
    let token = "'\\x01020304'::bytea";
    vec![
        TableCase {
            practice: other_practice,
            table: "practices",
            entity_type: "practice",
            entity_id: other_practice,
            insert: format!(
                "insert into practices (id, name) values ('{other_practice}', 'Hillside Vets')"
            ),
            update: format!(
                "update practices set name = 'Hillside Veterinary Centre' where id = '{other_practice}'"
            ),
            diff: json!({"name": ["Hillside Vets", "Hillside Veterinary Centre"]}),
            delete: None,
            created: ("name", json!([null, "Hillside Vets"])),
        },
        TableCase {
            practice: settings_practice,
            table: "practice_settings",
            entity_type: "practice_settings",
            entity_id: settings_practice,
            insert: format!(
                "insert into practices (id, name) values ('{settings_practice}', 'Hillside Vets');
                 insert into practice_settings (practice_id) values ('{settings_practice}')"
            ),
            update: format!(
                "update practice_settings set lockout_threshold = 5 where practice_id = '{settings_practice}'"
            ),
            diff: json!({"lockout_threshold": [10, 5]}),
            delete: Some(format!("delete from practice_settings where practice_id = '{settings_practice}'")),
            created: ("require_second_factor", json!([null, false])),
        },
        TableCase {
            practice: a.as_uuid(),
            table: "roles",
            entity_type: "role",
            entity_id: role,
            insert: format!("insert into roles (practice_id, id, name) values ('{a}', '{role}', 'Locum')"),
            update: format!("update roles set name = 'Locum vet' where id = '{role}'"),
            diff: json!({"name": ["Locum", "Locum vet"]}),
            delete: Some(format!("delete from roles where id = '{role}'")),
            created: ("name", json!([null, "Locum"])),
        },
        TableCase {
            practice: a.as_uuid(),
            table: "role_permissions",
            entity_type: "role_permission",
            entity_id: grant_role,
            insert: format!(
                "insert into roles (practice_id, id, name) values ('{a}', '{grant_role}', 'Night nurse');
                 insert into role_permissions (practice_id, role_id, permission)
                 values ('{a}', '{grant_role}', 'records.read')"
            ),
            update: format!(
                "update role_permissions set permission = 'records.write' where role_id = '{grant_role}'"
            ),
            diff: json!({"permission": ["records.read", "records.write"]}),
            delete: Some(format!("delete from role_permissions where role_id = '{grant_role}'")),
            created: ("permission", json!([null, "records.read"])),
        },
        TableCase {
            practice: a.as_uuid(),
            table: "memberships",
            entity_type: "membership",
            entity_id: membership,
            insert: format!(
                "insert into users (id, email, display_name) values ('{member_user}', 'locum@riverside.example', 'Locum');
                 insert into memberships (practice_id, id, user_id, role_id)
                 select '{a}', '{membership}', '{member_user}', id from roles
                  where practice_id = '{a}' and builtin_key = 'veterinarian'"
            ),
            update: format!(
                "update memberships set status = 'deactivated', deactivated_at = '2026-01-02T03:04:05Z'
                  where id = '{membership}'"
            ),
            diff: json!({"status": ["active", "deactivated"], "deactivated_at": [null, "2026-01-02T03:04:05+00:00"]}),
            delete: Some(format!("delete from memberships where id = '{membership}'")),
            created: ("user_id", json!([null, member_user])),
        },
        TableCase {
            practice: a.as_uuid(),
            table: "sessions",
            entity_type: "session",
            entity_id: session,
            insert: format!(
                "insert into sessions (practice_id, id, user_id, token_hash, csrf_hash, temporary, idle_seconds,
                                       created_at, last_seen_at, expires_at)
                 values ('{a}', '{session}', '{admin}', {token}, {token}, false, 1800, now(), now(), now() + interval '1 hour')"
            ),
            update: format!(
                "update sessions set revoked_at = '2026-01-02T03:04:05Z' where id = '{session}'"
            ),
            diff: json!({"revoked_at": [null, "2026-01-02T03:04:05+00:00"]}),
            delete: Some(format!("delete from sessions where id = '{session}'")),
            created: ("token_hash", json!("changed")),
        },
        TableCase {
            practice: a.as_uuid(),
            table: "api_keys",
            entity_type: "api_key",
            entity_id: key,
            insert: format!(
                "insert into api_keys (practice_id, id, user_id, name, display_prefix, key_hash, scopes, expires_at)
                 values ('{a}', '{key}', '{admin}', 'lab', 'abcdefgh', {token}, '{{records.read}}', now() + interval '1 day')"
            ),
            update: format!("update api_keys set name = 'lab results' where id = '{key}'"),
            diff: json!({"name": ["lab", "lab results"]}),
            delete: Some(format!("delete from api_keys where id = '{key}'")),
            created: ("key_hash", json!("changed")),
        },
        TableCase {
            practice: a.as_uuid(),
            table: "invitations",
            entity_type: "invitation",
            entity_id: invitation,
            insert: format!(
                "insert into invitations (practice_id, id, email, role_id, token_hash, expires_at)
                 select '{a}', '{invitation}', 'new.nurse@riverside.example', id, {token}, now() + interval '7 days'
                   from roles where practice_id = '{a}' and builtin_key = 'technician'"
            ),
            update: format!(
                "update invitations set email = 'nurse@riverside.example' where id = '{invitation}'"
            ),
            diff: json!({"email": ["new.nurse@riverside.example", "nurse@riverside.example"]}),
            delete: Some(format!("delete from invitations where id = '{invitation}'")),
            created: ("email", json!([null, "new.nurse@riverside.example"])),
        },
    ]
}

/// Every table the catalogue says belongs to a practice, except the trail itself.
async fn audited_tables(conn: &mut PgConnection) -> BTreeSet<String> {
    sqlx::query_scalar::<_, String>(
        "select c.relname::text from pg_class c
           join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = 'public' and c.relkind in ('r', 'p') and c.relname <> 'audit_events'
            and (c.relname = 'practices'
                 or exists (select 1 from pg_attribute a
                             where a.attrelid = c.oid and a.attname = 'practice_id' and not a.attisdropped))",
    )
    .fetch_all(conn)
    .await
    .unwrap()
    .into_iter()
    .collect()
}

/// Runs `sql` in one transaction that carries the settings a `TenantTx` of practice
/// `practice` acting as `actor` (role `role`) would.
async fn as_actor(conn: &mut PgConnection, practice: Uuid, actor: Uuid, role: &str, sql: &str) {
    let mut tx = conn.begin().await.unwrap();
    sqlx::query(
        "select set_config('app.practice_id', $1, true), set_config('app.actor_id', $2, true),
                set_config('app.actor_role', $3, true), set_config('app.request_id', 'req-audit', true),
                set_config('app.ip', '192.0.2.7', true)",
    )
    .bind(practice.to_string())
    .bind(actor.to_string())
    .bind(role)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.execute(sql).await.unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn every_tenant_table_records_each_insert_update_and_delete_once() {
    let world = two_practices().await;
    let a = world.a.id;
    let admin = world.a.admin.as_uuid();
    let role = world.a.principal.role_name().to_owned();
    // The superuser plays the application here so that every table can be written,
    // including those the app role may only read; the settings are those of TenantTx.
    let mut conn = superuser(&world).await;
    let cases = cases(a, admin);
    let listed: BTreeSet<String> = cases.iter().map(|c| c.table.to_owned()).collect();
    assert_eq!(
        audited_tables(&mut conn).await,
        listed,
        "every tenant table needs a case here"
    );

    for case in &cases {
        let practice = case.practice;
        as_actor(&mut conn, practice, admin, &role, &case.insert).await;
        as_actor(&mut conn, practice, admin, &role, &case.update).await;
        if let Some(delete) = &case.delete {
            as_actor(&mut conn, practice, admin, &role, delete).await;
        }
        let events = events_about(&mut conn, case.entity_type, case.entity_id).await;
        let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
        let expected: &[&str] = if case.delete.is_some() {
            &["create", "update", "delete"]
        } else {
            &["create", "update"]
        };
        assert_eq!(actions, expected, "{}", case.table);
        for event in &events {
            assert_eq!(event.practice_id, practice, "{}", case.table);
            assert_eq!(event.actor_kind, "user", "{}", case.table);
            assert_eq!(event.actor_user_id, Some(admin), "{}", case.table);
            assert_eq!(
                event.actor_role.as_deref(),
                Some(role.as_str()),
                "{}",
                case.table
            );
            assert_eq!(
                event.request_id.as_deref(),
                Some("req-audit"),
                "{}",
                case.table
            );
            assert_eq!(event.ip.as_deref(), Some("192.0.2.7"), "{}", case.table);
        }
        let created = events[0].changes.clone().unwrap();
        assert_eq!(
            created[case.created.0], case.created.1,
            "{}: {created}",
            case.table
        );
        assert_eq!(
            events[1].changes.as_ref(),
            Some(&case.diff),
            "{}",
            case.table
        );
        let deleted = events
            .get(2)
            .and_then(|e| e.changes.clone())
            .unwrap_or(json!({}));
        // A delete shows the last values going: `[value, null]`, secrets as "changed".
        if case.delete.is_some() {
            let (field, created_value) = &case.created;
            let gone = &deleted[*field];
            if created_value == "changed" {
                assert_eq!(gone, "changed", "{}: {deleted}", case.table);
            } else {
                assert!(
                    !gone[0].is_null() && gone[1].is_null(),
                    "{}: {deleted}",
                    case.table
                );
            }
        }
        // Bookkeeping columns never clutter the diff.
        for changes in [&created, &deleted] {
            for noise in ["updated_at", "updated_by", "created_at", "practice_id"] {
                assert!(changes.get(noise).is_none(), "{}: {changes}", case.table);
            }
        }
    }
}

#[tokio::test]
async fn an_update_that_changes_nothing_recordable_writes_no_event() {
    let world = two_practices().await;
    let mut conn = superuser(&world).await;
    let a = world.a.id.as_uuid();
    let before: i64 = sqlx::query_scalar("select count(*) from audit_events")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    // A session's heartbeat and an API key's last use are bookkeeping, not changes.
    as_actor(
        &mut conn,
        a,
        world.a.admin.as_uuid(),
        "x",
        "update sessions set last_seen_at = now() + interval '1 minute';
         update api_keys set last_used_at = now();
         update roles set name = name",
    )
    .await;
    let after: i64 = sqlx::query_scalar("select count(*) from audit_events")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(after, before);
}

#[tokio::test]
async fn a_change_through_tenant_tx_names_the_principal_and_a_rollback_leaves_no_event() {
    let world = two_practices().await;
    let principal = &world.a.principal;
    let count = |world: &World| {
        let principal = principal.clone();
        let app = world.app.clone();
        async move {
            let mut tx = app.begin(&principal, &meta("count")).await.unwrap();
            let n: i64 = sqlx::query_scalar("select count(*) from audit_events where action = 'update' and entity_type = 'api_key'")
                .fetch_one(tx.conn())
                .await
                .unwrap();
            tx.rollback().await.unwrap();
            n
        }
    };
    assert_eq!(count(&world).await, 0);

    let mut tx = world
        .app
        .begin(principal, &meta("rolled-back"))
        .await
        .unwrap();
    let renamed = sqlx::query("update api_keys set name = 'renamed'")
        .execute(tx.conn())
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(renamed, 1);
    tx.rollback().await.unwrap();
    assert_eq!(count(&world).await, 0, "a rolled-back change left an event");

    let mut tx = world
        .app
        .begin(principal, &meta("committed"))
        .await
        .unwrap();
    sqlx::query("update api_keys set name = 'renamed'")
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(count(&world).await, 1);

    let mut conn = superuser(&world).await;
    let event: (Option<Uuid>, Option<String>, String, Option<String>) = sqlx::query_as(
        "select actor_user_id, actor_role, actor_kind, request_id from audit_events
          where action = 'update' and entity_type = 'api_key'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        event,
        (
            Some(principal.user_id().as_uuid()),
            Some(principal.role_name().to_owned()),
            "user".to_owned(),
            Some("committed".to_owned())
        )
    );
}

/// The SQLSTATE and message of a refused statement.
async fn refusal(conn: &mut PgConnection, sql: &str) -> (String, String) {
    conn.execute("savepoint probe").await.unwrap();
    let error = conn.execute(sql).await.expect_err(sql);
    conn.execute("rollback to savepoint probe").await.unwrap();
    let db = error.as_database_error().expect("a database error");
    (
        db.code().unwrap_or_default().into_owned(),
        db.message().to_owned(),
    )
}

#[tokio::test]
async fn nobody_can_update_delete_or_truncate_audit_events() {
    let world = two_practices().await;
    world.admin.seal_audit().await.unwrap();
    let statements = [
        "update audit_events set action = 'nothing'",
        "update audit_events set changes = '{}'",
        "delete from audit_events",
        "truncate audit_events",
    ];

    // The application role: refused by privileges.
    let mut tx = world
        .app
        .begin(&world.a.principal, &meta("app"))
        .await
        .unwrap();
    for sql in statements {
        let (code, message) = refusal(tx.conn(), sql).await;
        assert_eq!(code, "42501", "{sql}");
        assert!(message.contains("permission denied"), "{sql}: {message}");
    }
    tx.rollback().await.unwrap();

    // The owner, and even a superuser: refused by the trigger.
    let mut owner = world.db.owner_conn().await;
    owner.execute("begin").await.unwrap();
    owner
        .execute(
            format!(
                "select set_config('app.practice_id', '{}', true)",
                world.a.id
            )
            .as_str(),
        )
        .await
        .unwrap();
    let mut root = superuser(&world).await;
    root.execute("begin").await.unwrap();
    for conn in [&mut owner, &mut root] {
        for sql in statements {
            let (code, message) = refusal(conn, sql).await;
            assert_eq!(code, "42501", "{sql}");
            assert!(message.contains("append-only"), "{sql}: {message}");
        }
        // Sealing is not a back door: a sealed event cannot be sealed again.
        let (_, message) = refusal(conn, "update audit_events set seq = seq + 1000000").await;
        assert!(message.contains("append-only"), "{message}");
    }
}

#[tokio::test]
async fn an_unsealed_events_content_cannot_change_while_it_is_sealed() {
    let world = two_practices().await;
    let mut root = superuser(&world).await;
    root.execute("begin").await.unwrap();
    let (_, message) = refusal(
        &mut root,
        "update audit_events set seq = 1, prev_hash = '\\x00'::bytea, hash = sha256('x'),
                sealed_at = now(), action = 'forged'
          where seq is null",
    )
    .await;
    assert!(message.contains("append-only"), "{message}");
}

#[tokio::test]
async fn the_sealer_numbers_each_practice_from_one_and_the_rust_verifier_agrees() {
    let world = two_practices().await;
    // Awkward values for the canonical encoding: unicode, quotes, nested JSON, IPv6,
    // nulls everywhere they may be.
    let mut conn = superuser(&world).await;
    let a = world.a.id.as_uuid();
    as_actor(
        &mut conn,
        a,
        world.a.admin.as_uuid(),
        "Tierärztin \"Leitung\"",
        "update api_keys set name = 'Labor — Zürich ✓ \"quoted\" \\ backslash'",
    )
    .await;
    conn.execute(
        format!(
            "insert into audit_events (practice_id, action, changes, ip, user_agent)
             values ('{a}', 'read', '{{\"nested\": {{\"b\": [1, 2.50, null], \"a\": \"ü\"}}}}', '2001:db8::1', 'Mozilla/5.0 (X11)'),
                    ('{a}', 'login_failed', null, null, null)"
        )
        .as_str(),
    )
    .await
    .unwrap();
    let sealed = world.admin.seal_audit().await.unwrap();
    assert!(sealed > 0);
    assert_eq!(
        world.admin.seal_audit().await.unwrap(),
        0,
        "nothing left to seal"
    );

    for practice in [world.a.id, world.b.id] {
        let verification = world.admin.verify_audit(practice, None).await.unwrap();
        assert!(verification.is_ok(), "{verification:?}");
        assert_eq!(verification.pending, 0);
        let seqs: Vec<i64> =
            sqlx::query_scalar("select seq from audit_events where practice_id = $1 order by seq")
                .bind(practice.as_uuid())
                .fetch_all(&mut conn)
                .await
                .unwrap();
        let expected: Vec<i64> = (1..=i64::try_from(seqs.len()).unwrap()).collect();
        assert_eq!(seqs, expected, "numbered 1..n without gaps");
        assert_eq!(verification.events, seqs.len() as u64);
        assert_eq!(verification.head_seq, *seqs.last().unwrap());
    }
}

async fn tampered(world: &World, sql: &str) -> paddock_store::audit::chain::ChainBreak {
    world.admin.seal_audit().await.unwrap();
    let mut root = superuser(world).await;
    // What an attacker with superuser rights would do: switch the triggers off.
    root.execute("set session_replication_role = replica")
        .await
        .unwrap();
    root.execute(sql).await.unwrap();
    let verification = world.admin.verify_audit(world.a.id, None).await.unwrap();
    let other = world.admin.verify_audit(world.b.id, None).await.unwrap();
    assert!(other.is_ok(), "practice B's chain is untouched: {other:?}");
    verification.broken.expect("the tampering is caught")
}

#[tokio::test]
async fn verify_names_an_altered_event() {
    let world = two_practices().await;
    let a = world.a.id;
    let broken = tampered(
        &world,
        &format!("update audit_events set changes = '{{\"temporary\": true}}' where practice_id = '{a}' and seq = 3"),
    )
    .await;
    assert_eq!((broken.seq, broken.reason), (3, BreakReason::Altered));
}

#[tokio::test]
async fn verify_names_a_deleted_event() {
    let world = two_practices().await;
    let a = world.a.id;
    let broken = tampered(
        &world,
        &format!("delete from audit_events where practice_id = '{a}' and seq = 4"),
    )
    .await;
    assert_eq!((broken.seq, broken.reason), (4, BreakReason::Missing));
}

#[tokio::test]
async fn verify_names_a_deleted_event_even_when_the_numbers_are_closed_up() {
    let world = two_practices().await;
    let a = world.a.id;
    let broken = tampered(
        &world,
        &format!(
            "delete from audit_events where practice_id = '{a}' and seq = 2;
             update audit_events set seq = seq + 1000000 where practice_id = '{a}' and seq > 2;
             update audit_events set seq = seq - 1000001 where practice_id = '{a}' and seq > 1000000"
        ),
    )
    .await;
    assert_eq!((broken.seq, broken.reason), (2, BreakReason::Missing));
}

#[tokio::test]
async fn verify_names_two_swapped_events() {
    let world = two_practices().await;
    let a = world.a.id;
    let broken = tampered(
        &world,
        &format!(
            "update audit_events set seq = 1000002 where practice_id = '{a}' and seq = 2;
             update audit_events set seq = 2 where practice_id = '{a}' and seq = 3;
             update audit_events set seq = 3 where practice_id = '{a}' and seq = 1000002"
        ),
    )
    .await;
    assert_eq!((broken.seq, broken.reason), (2, BreakReason::Reordered));
}

#[tokio::test]
async fn verify_names_a_changed_chain_column() {
    let world = two_practices().await;
    let a = world.a.id;
    let broken = tampered(
        &world,
        &format!(
            "update audit_events set prev_hash = sha256('x') where practice_id = '{a}' and seq = 5"
        ),
    )
    .await;
    assert_eq!((broken.seq, broken.reason), (5, BreakReason::Altered));
}

#[tokio::test]
async fn eight_concurrent_writers_in_one_practice_make_one_unbroken_chain() {
    let world = two_practices().await;
    const WRITERS: usize = 8;
    const CHANGES: usize = 25;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // The sealer runs all along, as it does in the server. The writers start once it
    // has finished a round, so its next rounds overlap the writes however slow the
    // machine is (a round in progress when they stop still completes and counts).
    let (first_round, sealing) = tokio::sync::oneshot::channel::<()>();
    let sealer = {
        let admin = world.admin.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut rounds = 0u32;
            let mut first_round = Some(first_round);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                admin.seal_audit().await.unwrap();
                rounds += 1;
                if let Some(started) = first_round.take() {
                    started.send(()).unwrap();
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            rounds
        })
    };
    sealing.await.unwrap();
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let app = world.app.clone();
        let principal = world.a.principal.clone();
        writers.push(tokio::spawn(async move {
            for i in 0..CHANGES {
                let mut tx = app.begin(&principal, &meta("writer")).await.unwrap();
                sqlx::query("insert into roles (practice_id, id, name) values ($1, $2, $3)")
                    .bind(principal.practice_id().as_uuid())
                    .bind(Uuid::now_v7())
                    .bind(format!("Writer {w} role {i}"))
                    .execute(tx.conn())
                    .await
                    .unwrap();
                tx.commit().await.unwrap();
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(
        sealer.await.unwrap() > 1,
        "the sealer ran during the writes"
    );
    world.admin.seal_audit().await.unwrap();

    let verification = world.admin.verify_audit(world.a.id, None).await.unwrap();
    assert!(verification.is_ok(), "{verification:?}");
    assert_eq!(verification.pending, 0);
    let mut conn = superuser(&world).await;
    let (total, created, max_seq): (i64, i64, Option<i64>) = sqlx::query_as(
        "select count(*), count(*) filter (where action = 'create' and entity_type = 'role'
                                           and changes->'name'->>1 like 'Writer %'),
                max(seq)
           from audit_events where practice_id = $1",
    )
    .bind(world.a.id.as_uuid())
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(created, (WRITERS * CHANGES) as i64);
    assert_eq!(max_seq, Some(total), "one chain, numbered without gaps");
    assert_eq!(verification.events, total as u64);
}

#[tokio::test]
async fn writers_do_not_wait_for_each_other_or_for_the_sealer() {
    let world = two_practices().await;
    // An open transaction of practice A that has written an event...
    let mut slow = world
        .app
        .begin(&world.a.principal, &meta("slow"))
        .await
        .unwrap();
    sqlx::query("update api_keys set name = 'slow writer'")
        .execute(slow.conn())
        .await
        .unwrap();
    // ...does not hold up another writer of A, nor the sealer (a 10 s timeout only
    // turns a hang into a failure).
    let other = async {
        let mut tx = world
            .app
            .begin(&world.a.principal, &meta("fast"))
            .await
            .unwrap();
        sqlx::query("update invitations set email = 'fast@riverside.example'")
            .execute(tx.conn())
            .await
            .unwrap();
        tx.commit().await.unwrap();
        world.app.seal_audit().await.unwrap()
    };
    let sealed = tokio::time::timeout(Duration::from_secs(10), other)
        .await
        .expect("a second writer and the sealer went ahead while the first was open");
    assert!(sealed > 0);
    let before = world.admin.verify_audit(world.a.id, None).await.unwrap();
    assert!(before.is_ok());
    assert_eq!(
        before.pending, 0,
        "the open transaction's event is not visible yet: {before:?}"
    );

    slow.commit().await.unwrap();
    world.app.seal_audit().await.unwrap();
    let after = world.admin.verify_audit(world.a.id, None).await.unwrap();
    assert!(after.is_ok(), "{after:?}");
    assert_eq!(after.pending, 0);
    assert_eq!(
        after.head_seq,
        before.head_seq + 1,
        "sealed after the others"
    );
}

#[tokio::test]
async fn a_practice_reads_and_verifies_only_its_own_trail() {
    let world = two_practices().await;
    let mut tx = world
        .app
        .begin(&world.b.principal, &meta("b"))
        .await
        .unwrap();
    let foreign: i64 =
        sqlx::query_scalar("select count(*) from audit_events where practice_id <> $1")
            .bind(world.b.id.as_uuid())
            .fetch_one(tx.conn())
            .await
            .unwrap();
    assert_eq!(foreign, 0);
    let mut verifying = begin_verification(&world.app, &world.b.principal, &meta("b"))
        .await
        .unwrap();
    let own = verify_own(&mut verifying).await.unwrap();
    verifying.rollback().await.unwrap();
    assert!(own.is_ok());
    assert_eq!(own.practice_id, world.b.id);
    // Asking for A's chain from B's transaction finds nothing at all.
    let theirs = verify_on(tx.conn(), world.a.id, None).await.unwrap();
    assert_eq!((theirs.events, theirs.pending), (0, 0));
    tx.rollback().await.unwrap();

    let a_events: i64 =
        sqlx::query_scalar("select count(*) from audit_events where practice_id = $1")
            .bind(world.a.id.as_uuid())
            .fetch_one(&mut superuser(&world).await)
            .await
            .unwrap();
    assert!(a_events > 0, "practice A has events B could have seen");
    let row = sqlx::query("select count(*) as n from audit_heads()")
        .fetch_one(&mut superuser(&world).await)
        .await
        .unwrap();
    assert_eq!(row.get::<i64, _>("n"), 2);
}

#[tokio::test]
async fn the_app_role_cannot_list_every_practices_chain_head() {
    let world = two_practices().await;
    let mut conn = world.db.app_conn().await;
    let error = sqlx::query("select * from audit_heads()")
        .fetch_all(&mut conn)
        .await
        .expect_err("audit_heads() is for admin commands");
    assert_eq!(
        error.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("42501")
    );
}

#[tokio::test]
async fn a_wiped_trail_is_missing_from_its_first_event() {
    let world = two_practices().await;
    let a = world.a.id;
    let broken = tampered(
        &world,
        &format!("delete from audit_events where practice_id = '{a}'"),
    )
    .await;
    assert_eq!((broken.seq, broken.reason), (1, BreakReason::Missing));
    let listed = world.admin.audit_heads().await.unwrap();
    assert!(
        listed
            .iter()
            .any(|h| h.practice_id == a.as_uuid() && h.seq.is_none())
    );
}

/// Backdates practice A's first `n` events (by id) to eight years ago, before they are
/// sealed, so that they fall past the default seven-year retention.
async fn backdate_first_events(world: &World, n: i64) {
    let mut root = superuser(world).await;
    root.execute("set session_replication_role = replica")
        .await
        .unwrap();
    let backdated = sqlx::query(
        "update audit_events set occurred_at = now() - interval '8 years'
          where id in (select id from audit_events where practice_id = $1 order by id limit $2)",
    )
    .bind(world.a.id.as_uuid())
    .bind(n)
    .execute(&mut root)
    .await
    .unwrap()
    .rows_affected();
    assert_eq!(backdated, u64::try_from(n).unwrap());
}

#[tokio::test]
async fn a_retention_purge_removes_the_old_prefix_and_what_remains_still_verifies() {
    let world = two_practices().await;
    backdate_first_events(&world, 5).await;
    world.admin.seal_audit().await.unwrap();
    let before = world.admin.verify_audit(world.a.id, None).await.unwrap();
    assert!(before.is_ok());

    assert_eq!(world.admin.purge_audit(world.a.id).await.unwrap(), 5);
    assert_eq!(world.admin.purge_audit(world.b.id).await.unwrap(), 0);
    let after = world.admin.verify_audit(world.a.id, None).await.unwrap();
    assert!(after.is_ok(), "{after:?}");
    assert_eq!(after.pending, 0, "the purge sealed its own record");
    assert_eq!(after.head_seq, before.head_seq + 1, "one purge event more");
    assert_eq!(after.events, before.events - 5 + 1);
    let mut conn = superuser(&world).await;
    let (first, purge): (i64, Value) = sqlx::query_as(
        "select (select min(seq) from audit_events where practice_id = $1),
                (select changes::jsonb from audit_events where practice_id = $1 and action = 'purge')",
    )
    .bind(world.a.id.as_uuid())
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(first, 6);
    assert_eq!(purge["through_seq"], 5);
    assert_eq!(purge["from_seq"], 1);
    // Nothing left to purge: a second run removes nothing and records nothing.
    assert_eq!(world.admin.purge_audit(world.a.id).await.unwrap(), 0);
    assert!(
        world
            .admin
            .verify_audit(world.a.id, None)
            .await
            .unwrap()
            .is_ok()
    );
}

#[tokio::test]
async fn a_prefix_removed_without_a_recorded_purge_is_missing() {
    let world = two_practices().await;
    let a = world.a.id;
    let broken = tampered(
        &world,
        &format!("delete from audit_events where practice_id = '{a}' and seq <= 3"),
    )
    .await;
    assert_eq!((broken.seq, broken.reason), (1, BreakReason::Missing));
}

#[tokio::test]
async fn recent_events_cannot_be_purged_and_only_admins_may_purge() {
    let world = two_practices().await;
    world.admin.seal_audit().await.unwrap();
    let mut owner = world.db.owner_conn().await;
    owner.execute("begin").await.unwrap();
    owner
        .execute(
            format!(
                "select set_config('app.practice_id', '{a}', true),
                        set_config('paddock.audit_purge', '{a}:1000', true)",
                a = world.a.id
            )
            .as_str(),
        )
        .await
        .unwrap();
    let (code, message) = refusal(&mut owner, "delete from audit_events where seq = 1").await;
    assert_eq!(code, "42501");
    assert!(message.contains("append-only"), "{message}");
    assert_eq!(world.admin.purge_audit(world.a.id).await.unwrap(), 0);

    let mut app = world.db.app_conn().await;
    let error = sqlx::query("select audit_purge($1)")
        .bind(world.a.id.as_uuid())
        .execute(&mut app)
        .await
        .expect_err("the application role may not purge");
    assert_eq!(
        error.as_database_error().and_then(|e| e.code()).as_deref(),
        Some("42501")
    );
}

/// The tables the application role may insert into or update, among those the
/// catalogue says belong to a practice: `(table, may insert, may update)`.
async fn app_writable_tables(conn: &mut PgConnection) -> Vec<(String, bool, bool)> {
    let tables = audited_tables(conn).await;
    let mut writable = Vec::new();
    for table in tables {
        let (insert, update): (bool, bool) = sqlx::query_as(
            "select has_table_privilege('paddock_app', $1::regclass, 'INSERT'),
                    has_table_privilege('paddock_app', $1::regclass, 'UPDATE')",
        )
        .bind(&table)
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        if insert || update {
            writable.push((table, insert, update));
        }
    }
    writable
}

/// The cases as the application writes them: practice A's own settings row (the app
/// may update settings, never create a practice's).
fn app_cases(a: PracticeId, admin: Uuid) -> Vec<TableCase> {
    let mut cases = cases(a, admin);
    for case in &mut cases {
        if case.table == "practice_settings" {
            case.practice = a.as_uuid();
            case.entity_id = a.as_uuid();
            case.insert = String::new();
            case.update = format!(
                "update practice_settings set lockout_threshold = 5 where practice_id = '{a}'"
            );
        }
    }
    cases
}

/// Writes every table the application may write through a `TenantTx` of practice A's
/// admin, as the application role: each insert and update must have its event in the
/// writing transaction itself, and a rolled-back write must leave none. Returns what
/// failed; empty means every write path is audited.
async fn app_write_findings(world: &World) -> Vec<String> {
    let mut findings = Vec::new();
    let a = world.a.id;
    let admin = world.a.admin.as_uuid();
    let mut observer = superuser(world).await;
    let writable = app_writable_tables(&mut observer).await;
    assert!(
        writable.len() > 10,
        "the privilege query found too few tables: {writable:?}"
    );
    let cases = app_cases(a, admin);
    // In the writing transaction: how many events of `action` it has about the case.
    async fn events_in(tx: &mut paddock_store::TenantTx, case: &TableCase, action: &str) -> i64 {
        sqlx::query_scalar(
            "select count(*) from audit_events
              where entity_type = $1 and entity_id = $2 and action = $3
                and request_id = 'app-write'",
        )
        .bind(case.entity_type)
        .bind(case.entity_id)
        .bind(action)
        .fetch_one(tx.conn())
        .await
        .unwrap()
    }
    for (table, may_insert, may_update) in &writable {
        let Some(case) = cases.iter().find(|c| c.table == table) else {
            findings.push(format!("{table}: no write case (add one to `cases`)"));
            continue;
        };
        let mut steps: Vec<(&str, &str)> = Vec::new();
        if *may_insert && !case.insert.is_empty() {
            steps.push(("create", &case.insert));
        }
        if *may_update {
            steps.push(("update", &case.update));
        }
        // A rolled-back transaction first (nothing must remain), then a committed one.
        for commit in [false, true] {
            let mut tx = world
                .app
                .begin(&world.a.principal, &meta("app-write"))
                .await
                .unwrap();
            for (action, sql) in &steps {
                if let Err(e) = tx.conn().execute(*sql).await {
                    findings.push(format!("{table}: the application's {action} failed: {e}"));
                    continue;
                }
                match events_in(&mut tx, case, action).await {
                    1 => {}
                    n => findings.push(format!(
                        "{table}: the application's {action} wrote {n} `{action}` event(s) in its transaction, not 1"
                    )),
                }
            }
            if commit {
                tx.commit().await.unwrap();
            } else {
                tx.rollback().await.unwrap();
                let left: i64 = sqlx::query_scalar(
                    "select count(*) from audit_events
                      where entity_type = $1 and entity_id = $2 and request_id = 'app-write'",
                )
                .bind(case.entity_type)
                .bind(case.entity_id)
                .fetch_one(&mut observer)
                .await
                .unwrap();
                if left != 0 {
                    findings.push(format!("{table}: a rolled-back write left {left} event(s)"));
                }
            }
        }
        let committed: Vec<(String, Option<Uuid>, Option<String>)> = sqlx::query_as(
            "select action, actor_user_id, request_id from audit_events
              where entity_type = $1 and entity_id = $2 and request_id = 'app-write'
              order by id",
        )
        .bind(case.entity_type)
        .bind(case.entity_id)
        .fetch_all(&mut observer)
        .await
        .unwrap();
        let expected: Vec<(String, Option<Uuid>, Option<String>)> = steps
            .iter()
            .map(|(action, _)| {
                (
                    (*action).to_owned(),
                    Some(admin),
                    Some("app-write".to_owned()),
                )
            })
            .collect();
        if committed != expected {
            findings.push(format!(
                "{table}: committed events {committed:?}, expected {expected:?}"
            ));
        }
    }
    findings
}

#[tokio::test]
async fn every_table_the_application_writes_is_audited_in_the_writing_transaction() {
    let world = two_practices().await;
    let findings = app_write_findings(&world).await;
    assert!(
        findings.is_empty(),
        "unaudited writes:\n{}",
        findings.join("\n")
    );
}

#[tokio::test]
async fn a_dropped_audit_trigger_is_caught_on_the_application_write_path() {
    let world = two_practices().await;
    let mut owner = world.db.owner_conn().await;
    owner
        .execute("drop trigger allergies_audit on allergies")
        .await
        .unwrap();
    let findings = app_write_findings(&world).await;
    assert!(
        findings
            .iter()
            .any(|f| f.starts_with("allergies: the application's create wrote 0")),
        "a table without its trigger went unnoticed: {findings:?}"
    );
}

/// Events of `practice` still awaiting the sealer (counted as superuser).
async fn unsealed(world: &World, practice: PracticeId) -> i64 {
    sqlx::query_scalar("select count(*) from audit_events where practice_id = $1 and seq is null")
        .bind(practice.as_uuid())
        .fetch_one(&mut superuser(world).await)
        .await
        .unwrap()
}

/// Takes practice `practice`'s sealing lock in an open transaction of `conn`.
async fn hold_sealing_lock(conn: &mut PgConnection, practice: PracticeId) {
    conn.execute("begin").await.unwrap();
    sqlx::query(
        "select pg_advisory_xact_lock(hashtextextended('paddock.audit_seal:' || $1::text, 0))",
    )
    .bind(practice.as_uuid())
    .execute(&mut *conn)
    .await
    .unwrap();
}

/// Runs the server's sealer (as the application role) until it finishes, or until some
/// connection of the test's database starts waiting for an advisory lock, which is how
/// a sealer queued behind a practice's lock shows: `Err` then. Bounded: the pass ends,
/// or the wait shows, within the polls.
async fn seal_unless_it_queues(world: &World) -> Result<u64, String> {
    let mut watcher = superuser(world).await;
    let seal = world.app.seal_audit();
    tokio::pin!(seal);
    for _ in 0..3000 {
        tokio::select! {
            sealed = &mut seal => return Ok(sealed.unwrap()),
            () = tokio::time::sleep(Duration::from_millis(10)) => {
                let queued: bool = sqlx::query_scalar(
                    "select exists (select 1 from pg_locks l join pg_stat_activity s on s.pid = l.pid
                                     where l.locktype = 'advisory' and not l.granted
                                       and s.datname = current_database())",
                )
                .fetch_one(&mut watcher)
                .await
                .unwrap();
                if queued {
                    return Err("the sealer is waiting for a practice's sealing lock".to_owned());
                }
            }
        }
    }
    panic!("the sealer neither finished nor waited for a lock");
}

#[tokio::test]
async fn the_sealer_skips_a_practice_whose_lock_is_held_and_still_seals_the_others() {
    let world = two_practices().await;
    assert!(unsealed(&world, world.a.id).await > 0 && unsealed(&world, world.b.id).await > 0);
    // Another connection holds practice A's sealing lock (a stuck sealer, a slow
    // verification): practice B must not wait for A.
    let mut holder = superuser(&world).await;
    hold_sealing_lock(&mut holder, world.a.id).await;
    let sealed = seal_unless_it_queues(&world)
        .await
        .expect("practice B's events are sealed without waiting for practice A");
    assert!(sealed > 0);
    assert_eq!(unsealed(&world, world.b.id).await, 0, "B is sealed");
    assert!(
        unsealed(&world, world.a.id).await > 0,
        "A waits for a later pass"
    );
    holder.execute("rollback").await.unwrap();
    world.app.seal_audit().await.unwrap();
    assert_eq!(
        unsealed(&world, world.a.id).await,
        0,
        "A is sealed once free"
    );
}

#[tokio::test]
async fn an_open_verification_does_not_hold_up_the_sealer() {
    let world = two_practices().await;
    // A verification of practice A whose transaction is still open, as it is while a
    // long chain streams...
    let mut verifying = begin_verification(&world.app, &world.a.principal, &meta("verify"))
        .await
        .unwrap();
    let verified = verify_own(&mut verifying).await.unwrap();
    assert!(verified.is_ok(), "{verified:?}");
    assert_eq!(verified.pending, 0, "what was pending was sealed first");
    // ...while practice A goes on writing.
    let mut tx = world
        .app
        .begin(&world.a.principal, &meta("w"))
        .await
        .unwrap();
    sqlx::query("update api_keys set name = 'written during a verification'")
        .execute(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    seal_unless_it_queues(&world)
        .await
        .expect("the sealer goes ahead during a verification");
    assert_eq!(
        unsealed(&world, world.a.id).await,
        0,
        "A's new event is sealed"
    );
    verifying.rollback().await.unwrap();
}
