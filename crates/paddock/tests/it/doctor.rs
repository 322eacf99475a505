//! `doctor` (the compliance self-check) reports every way tenancy can be broken.

use crate::isolation::isolation_findings;
use crate::world::two_practices;
use paddock_store::doctor::{Finding, Severity, examine};
use paddock_test_db::TestDb;
use sqlx::Executor;

fn errors(findings: &[Finding]) -> Vec<String> {
    findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| f.message.clone())
        .collect()
}

#[tokio::test]
async fn a_freshly_migrated_schema_has_no_errors() {
    let db = TestDb::new().await;
    let findings = examine(&db.admin().await).await.unwrap();
    assert_eq!(errors(&findings), Vec::<String>::new());
}

#[tokio::test]
async fn a_table_created_without_row_level_security_is_reported() {
    let db = TestDb::new().await;
    db.owner_conn()
        .await
        .execute("create table rogue_notes (practice_id uuid not null, note text)")
        .await
        .unwrap();
    let errors = errors(&examine(&db.admin().await).await.unwrap());
    for expected in [
        "table rogue_notes: row-level security is not enabled",
        "table rogue_notes: row-level security is not forced",
        "table rogue_notes: has no row-level security policy",
        "table rogue_notes: no policy restricts practice_id to app_practice_id()",
        "table rogue_notes: no index led by practice_id",
        "table rogue_notes: no enabled audit trigger (create it with select audit_install(...))",
    ] {
        assert!(
            errors.iter().any(|e| e == expected),
            "missing {expected:?} in {errors:?}"
        );
    }
}

#[tokio::test]
async fn a_global_table_without_row_level_security_is_reported_too() {
    let db = TestDb::new().await;
    db.owner_conn()
        .await
        .execute("create table lookup_codes (code text primary key)")
        .await
        .unwrap();
    let errors = errors(&examine(&db.admin().await).await.unwrap());
    assert!(
        errors.contains(&"table lookup_codes: row-level security is not enabled".to_owned()),
        "{errors:?}"
    );
}

#[tokio::test]
async fn rls_enabled_but_not_forced_is_reported() {
    let db = TestDb::new().await;
    db.owner_conn()
        .await
        .execute("alter table memberships no force row level security")
        .await
        .unwrap();
    let errors = errors(&examine(&db.admin().await).await.unwrap());
    assert_eq!(
        errors,
        vec!["table memberships: row-level security is not forced".to_owned()]
    );
}

#[tokio::test]
async fn a_policy_that_ignores_practice_id_is_reported() {
    let db = TestDb::new().await;
    db.owner_conn()
        .await
        .execute(
            "drop policy tenant_isolation on roles;
             create policy anything_goes on roles using (true)",
        )
        .await
        .unwrap();
    let errors = errors(&examine(&db.admin().await).await.unwrap());
    assert_eq!(
        errors,
        vec!["table roles: no policy restricts practice_id to app_practice_id()".to_owned()]
    );
}

#[tokio::test]
async fn dropping_one_policy_is_noticed_by_both_doctor_and_the_isolation_proof() {
    let world = two_practices().await;
    assert!(isolation_findings(&world).await.is_empty());
    assert!(errors(&examine(&world.admin).await.unwrap()).is_empty());

    world
        .db
        .owner_conn()
        .await
        .execute("drop policy tenant_isolation on memberships")
        .await
        .unwrap();

    let doctor = errors(&examine(&world.admin).await.unwrap());
    assert!(
        doctor.contains(
            &"table memberships: no policy restricts practice_id to app_practice_id()".to_owned()
        ),
        "doctor missed it: {doctor:?}"
    );
    let isolation = isolation_findings(&world).await;
    assert!(
        isolation.iter().any(|f| f.starts_with("memberships:")),
        "isolation proof missed it: {isolation:?}"
    );
}

#[tokio::test]
async fn unapplied_migrations_are_reported() {
    let db = TestDb::new().await;
    let admin = db.admin().await;
    let mut conn = sqlx::PgConnection::connect(&db.admin_url()).await.unwrap();
    conn.execute("delete from _sqlx_migrations").await.unwrap();
    let errors = errors(&examine(&admin).await.unwrap());
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("migrations not applied")),
        "{errors:?}"
    );
}

#[tokio::test]
async fn a_changed_migration_is_reported_as_diverged() {
    let db = TestDb::new().await;
    let admin = db.admin().await;
    let mut conn = sqlx::PgConnection::connect(&db.admin_url()).await.unwrap();
    conn.execute("update _sqlx_migrations set checksum = '\\x00'")
        .await
        .unwrap();
    let errors = errors(&examine(&admin).await.unwrap());
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("migrations applied that this build does not know")),
        "{errors:?}"
    );
}

use sqlx::Connection;

#[tokio::test]
async fn a_tenant_table_whose_audit_trigger_is_dropped_or_disabled_is_reported() {
    let db = TestDb::new().await;
    let mut owner = db.owner_conn().await;
    owner
        .execute("drop trigger api_keys_audit on api_keys")
        .await
        .unwrap();
    owner
        .execute("alter table invitations disable trigger invitations_audit")
        .await
        .unwrap();
    let errors = errors(&examine(&db.admin().await).await.unwrap());
    let missing = |table: &str| {
        format!(
            "table {table}: no enabled audit trigger (create it with select audit_install(...))"
        )
    };
    assert_eq!(errors, vec![missing("api_keys"), missing("invitations")]);
}

#[tokio::test]
async fn an_audit_trigger_that_misses_deletes_is_reported() {
    let db = TestDb::new().await;
    let mut owner = db.owner_conn().await;
    owner
        .execute(
            "drop trigger roles_audit on roles;
             create trigger roles_audit after insert or update on roles
                 for each row execute function audit_roles()",
        )
        .await
        .unwrap();
    let errors = errors(&examine(&db.admin().await).await.unwrap());
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].starts_with("table roles: no enabled audit trigger"));
}

#[tokio::test]
async fn disabling_the_audit_tables_append_only_guard_is_reported() {
    let db = TestDb::new().await;
    db.owner_conn()
        .await
        .execute("alter table audit_events disable trigger audit_events_no_truncate")
        .await
        .unwrap();
    let errors = errors(&examine(&db.admin().await).await.unwrap());
    assert_eq!(
        errors,
        vec!["table audit_events: the append-only triggers (refuse_audit_change on update, delete and truncate) are missing or disabled".to_owned()]
    );
}

#[tokio::test]
async fn a_column_added_after_the_audit_trigger_was_generated_is_reported_until_it_is_regenerated()
{
    let db = TestDb::new().await;
    let mut owner = db.owner_conn().await;
    owner
        .execute("alter table invitations add column note text")
        .await
        .unwrap();
    let errors = errors(&examine(&db.admin().await).await.unwrap());
    assert_eq!(
        errors,
        vec!["table invitations: column(s) note added after its audit trigger was generated are not recorded (re-run audit_install for it)".to_owned()]
    );
    owner
        .execute(
            "select audit_install('invitations', 'invitation', 'id', 'practice_id',
                                  secrets => array['token_hash'])",
        )
        .await
        .unwrap();
    assert_eq!(errors_of(&db).await, Vec::<String>::new());
}

async fn errors_of(db: &TestDb) -> Vec<String> {
    errors(&examine(&db.admin().await).await.unwrap())
}
