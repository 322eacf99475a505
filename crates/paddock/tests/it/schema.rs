//! The database's own guarantees: the runtime role cannot escape row-level security,
//! and the schema's catalogue agrees with the code's.

use paddock_domain::Permission;
use paddock_store::{Db, StoreError, schema};
use paddock_test_db::TestDb;
use sqlx::{Connection, Executor, PgConnection};
use std::collections::BTreeSet;

fn sqlstate(result: Result<sqlx::postgres::PgQueryResult, sqlx::Error>) -> String {
    match result {
        Err(sqlx::Error::Database(e)) => e.code().map(|c| c.into_owned()).unwrap_or_default(),
        other => format!("no database error: {other:?}"),
    }
}

#[tokio::test]
async fn the_app_role_is_safe_to_serve_as() {
    let db = TestDb::new().await;
    assert_eq!(
        db.app().await.role_escapes().await.unwrap(),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_superuser_connection_is_refused_as_the_server_role() {
    let db = TestDb::new().await;
    let superuser = Db::connect(&db.admin_url(), 1).await.unwrap();
    let refused = superuser.ensure_safe_role().await.unwrap_err();
    let StoreError::UnsafeRole(reasons) = refused else {
        panic!("{refused:?}")
    };
    assert!(
        reasons.iter().any(|r| r.contains("superuser")),
        "{reasons:?}"
    );
}

/// Creates a throw-away login role with `attributes`, runs `check`, drops the role.
async fn with_role(db: &TestDb, attributes: &str, extra: &str) -> Vec<String> {
    let role = format!("paddock_probe_{}", pgcluster::random_hex());
    let mut admin = PgConnection::connect(&db.admin_url()).await.unwrap();
    admin
        .execute(format!("create role {role} login {attributes}").as_str())
        .await
        .unwrap();
    if !extra.is_empty() {
        admin
            .execute(extra.replace("{role}", &role).as_str())
            .await
            .unwrap();
    }
    let escapes = schema::role_escapes(&mut admin, &role).await.unwrap();
    admin
        .execute(format!("drop owned by {role}; drop role {role}").as_str())
        .await
        .unwrap();
    escapes
}

#[tokio::test]
async fn roles_that_could_escape_row_level_security_are_named() {
    let db = TestDb::new().await;
    let bypass = with_role(&db, "bypassrls", "").await;
    assert!(bypass.iter().any(|r| r.contains("BYPASSRLS")), "{bypass:?}");

    let owner_member = with_role(&db, "", "grant paddock_owner to {role}").await;
    assert!(
        owner_member
            .iter()
            .any(|r| r.contains("member of paddock_owner")),
        "{owner_member:?}"
    );

    let table_owner = with_role(
        &db,
        "",
        "create table owned_probe (id int); alter table owned_probe owner to {role}",
    )
    .await;
    assert!(
        table_owner.iter().any(|r| r.contains("owns 1 relation")),
        "{table_owner:?}"
    );

    let creator = with_role(&db, "", "grant create on schema public to {role}").await;
    assert!(
        creator.iter().any(|r| r.contains("may create objects")),
        "{creator:?}"
    );

    assert_eq!(
        with_role(&db, "nobypassrls", "").await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn the_app_role_cannot_create_alter_or_become_the_owner() {
    let db = TestDb::new().await;
    let mut app = db.app_conn().await;
    // 42501 insufficient_privilege for all of them.
    assert_eq!(
        sqlstate(app.execute("create table sneaky (id int)").await),
        "42501"
    );
    assert_eq!(
        sqlstate(
            app.execute("alter table roles disable row level security")
                .await
        ),
        "42501"
    );
    assert_eq!(
        sqlstate(
            app.execute("alter table roles no force row level security")
                .await
        ),
        "42501"
    );
    assert_eq!(
        sqlstate(app.execute("drop policy tenant_isolation on roles").await),
        "42501"
    );
    assert_eq!(
        sqlstate(app.execute("set role paddock_owner").await),
        "42501"
    );
    assert_eq!(
        sqlstate(
            app.execute("insert into practices (id, name) values (gen_random_uuid(), 'Rogue')")
                .await
        ),
        "42501"
    );
    assert_eq!(sqlstate(app.execute("delete from users").await), "42501");
}

#[tokio::test]
async fn the_permission_check_constraint_matches_the_code_catalogue() {
    let db = TestDb::new().await;
    let mut app = db.app_conn().await;
    let definition: String = sqlx::query_scalar(
        "select pg_get_constraintdef(oid) from pg_constraint
          where conrelid = 'role_permissions'::regclass and contype = 'c'",
    )
    .fetch_one(&mut app)
    .await
    .unwrap();
    let in_db: BTreeSet<&str> = definition.split('\'').skip(1).step_by(2).collect();
    let in_code: BTreeSet<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
    assert_eq!(in_db, in_code);
}

#[tokio::test]
async fn every_tenant_foreign_key_includes_practice_id() {
    let db = TestDb::new().await;
    let mut app = db.app_conn().await;
    // Foreign keys from a table with practice_id to another table with practice_id.
    let offenders: Vec<String> = sqlx::query_scalar(
        "select c.conrelid::regclass::text || ' -> ' || c.confrelid::regclass::text
           from pg_constraint c
          where c.contype = 'f'
            and c.connamespace = 'public'::regnamespace
            and exists (select 1 from pg_attribute a where a.attrelid = c.confrelid and a.attname = 'practice_id')
            and exists (select 1 from pg_attribute a where a.attrelid = c.conrelid and a.attname = 'practice_id')
            and not exists (select 1 from pg_attribute a
                             where a.attrelid = c.conrelid and a.attname = 'practice_id'
                               and a.attnum = any (c.conkey))",
    )
    .fetch_all(&mut app)
    .await
    .unwrap();
    assert_eq!(offenders, Vec::<String>::new());
}
