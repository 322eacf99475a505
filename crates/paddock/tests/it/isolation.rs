//! The generic tenant-isolation proof.
//!
//! Tables are enumerated from the catalogue, so a table added tomorrow is covered
//! without anyone remembering: every table with a `practice_id` column must show
//! practice A its own rows and practice B none of them, by SELECT, UPDATE or DELETE;
//! must refuse B an INSERT claiming A; and must show nothing at all to a transaction
//! with no practice set. Everything runs as `paddock_app`, through `TenantTx`.

use crate::world::{World, two_practices};
use paddock_domain::PracticeId;
use paddock_store::RequestMeta;
use paddock_store::TenantTx;
use sqlx::{Executor, PgConnection};

/// Every table in schema public that carries a practice_id, from the catalogue.
async fn tenant_tables(conn: &mut PgConnection) -> Vec<String> {
    sqlx::query_scalar(
        "select c.relname::text from pg_class c
           join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = 'public' and c.relkind in ('r', 'p')
            and exists (select 1 from pg_attribute a
                         where a.attrelid = c.oid and a.attname = 'practice_id' and not a.attisdropped)
          order by 1",
    )
    .fetch_all(conn)
    .await
    .unwrap()
}

/// Every table in schema public except the migration ledger.
async fn all_tables(conn: &mut PgConnection) -> Vec<String> {
    sqlx::query_scalar(
        "select c.relname::text from pg_class c
           join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = 'public' and c.relkind in ('r', 'p') and c.relname <> '_sqlx_migrations'
          order by 1",
    )
    .fetch_all(conn)
    .await
    .unwrap()
}

async fn count(conn: &mut PgConnection, sql: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(sql).fetch_one(conn).await
}

async fn affected(conn: &mut PgConnection, sql: &str) -> Result<u64, sqlx::Error> {
    Ok(conn.execute(sql).await?.rows_affected())
}

/// Runs every isolation check and returns what leaked or broke; empty means isolated.
pub async fn isolation_findings(world: &World) -> Vec<String> {
    let mut findings = Vec::new();
    let a: PracticeId = world.a.id;
    let mut probe = world.db.app_conn().await;
    let tables = tenant_tables(&mut probe).await;
    assert!(
        tables.len() >= 3,
        "the catalogue query found too few tenant tables: {tables:?}"
    );

    // Practice A sees its own rows, and only those.
    let mut tx_a = world
        .app
        .begin(&world.a.principal, &RequestMeta::system("isolation-a"))
        .await
        .unwrap();
    for t in &tables {
        match count(tx_a.conn(), &format!("select count(*) from {t}")).await {
            Ok(0) => findings.push(format!("{t}: practice A cannot see its own rows (or the fixture made none: extend world.rs)")),
            Ok(_) => {}
            Err(e) => findings.push(format!("{t}: practice A's select failed: {e}")),
        }
        match count(
            tx_a.conn(),
            &format!("select count(*) from {t} where practice_id <> '{a}'"),
        )
        .await
        {
            Ok(0) => {}
            Ok(n) => findings.push(format!(
                "{t}: practice A sees {n} row(s) of other practices"
            )),
            Err(e) => findings.push(format!("{t}: select failed: {e}")),
        }
    }
    tx_a.rollback().await.unwrap();

    // Practice B finds none of A's rows, whatever it tries.
    let mut tx_b = world
        .app
        .begin(&world.b.principal, &RequestMeta::system("isolation-b"))
        .await
        .unwrap();
    for t in &tables {
        let checks = [
            (
                "select",
                format!("select count(*) from {t} where practice_id = '{a}'"),
            ),
            (
                "select all",
                format!(
                    "select count(*) from {t} where practice_id <> '{}'",
                    world.b.id
                ),
            ),
        ];
        for (what, sql) in checks {
            match count(tx_b.conn(), &sql).await {
                Ok(0) => {}
                Ok(n) => findings.push(format!(
                    "{t}: practice B's {what} found {n} row(s) of practice A"
                )),
                Err(e) => findings.push(format!("{t}: practice B's {what} failed: {e}")),
            }
        }
        let writes = [
            (
                "update",
                format!("update {t} set practice_id = practice_id where practice_id = '{a}'"),
            ),
            (
                "delete",
                format!("delete from {t} where practice_id = '{a}'"),
            ),
        ];
        for (what, sql) in writes {
            tx_b.conn().execute("savepoint probe").await.unwrap();
            match affected(tx_b.conn(), &sql).await {
                Ok(0) => {}
                // Or the statement was refused outright (append-only tables).
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42501") => {}
                Ok(n) => findings.push(format!(
                    "{t}: practice B's {what} reached {n} row(s) of practice A"
                )),
                Err(e) => {
                    findings.push(format!("{t}: practice B's {what} failed unexpectedly: {e}"))
                }
            }
            tx_b.conn()
                .execute("rollback to savepoint probe")
                .await
                .unwrap();
        }
        // Copy one of B's own rows, relabelled as A's (fresh id where there is one);
        // generated columns are left to the database.
        let columns: String = sqlx::query_scalar(
            "select string_agg(quote_ident(attname), ', ' order by attnum) from pg_attribute
              where attrelid = $1::regclass and attnum > 0 and not attisdropped and attgenerated = ''",
        )
        .bind(t)
        .fetch_one(tx_b.conn())
        .await
        .unwrap();
        let insert = format!(
            "insert into {t} ({columns}) overriding system value
             select {columns} from (
                 select (jsonb_populate_record(null::{t},
                         to_jsonb(r) || jsonb_build_object('practice_id', '{a}'::uuid)
                         || case when to_jsonb(r) ? 'id' then jsonb_build_object('id', gen_random_uuid())
                                 else '{{}}'::jsonb end)).*
                   from {t} r limit 1) copy"
        );
        tx_b.conn().execute("savepoint probe").await.unwrap();
        match affected(tx_b.conn(), &insert).await {
            Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42501") => {}
            Ok(n) => findings.push(format!(
                "{t}: practice B inserted {n} row(s) claiming practice A"
            )),
            Err(e) => findings.push(format!(
                "{t}: insert claiming practice A failed, but not by row-level security: {e}"
            )),
        }
        tx_b.conn()
            .execute("rollback to savepoint probe")
            .await
            .unwrap();
    }
    // The practice itself and A's admin (global identity) are invisible to B too.
    let own = [
        (
            "practices",
            format!("select count(*) from practices where id = '{a}'"),
        ),
        (
            "users",
            format!("select count(*) from users where id = '{}'", world.a.admin),
        ),
    ];
    for (t, sql) in own {
        match count(tx_b.conn(), &sql).await {
            Ok(0) => {}
            Ok(_) => findings.push(format!("{t}: practice B sees practice A's row")),
            Err(e) => findings.push(format!("{t}: select failed: {e}")),
        }
    }
    match affected(
        tx_b.conn(),
        &format!(
            "update users set display_name = 'x' where id = '{}'",
            world.a.admin
        ),
    )
    .await
    {
        Ok(0) => {}
        Ok(_) => findings.push("users: practice B updated practice A's admin".into()),
        Err(e) => findings.push(format!("users: update failed unexpectedly: {e}")),
    }
    tx_b.rollback().await.unwrap();

    // With no practice set, every table is empty (fail closed), inside and outside a transaction.
    let mut bare = world.db.app_conn().await;
    for t in all_tables(&mut bare).await {
        match count(&mut bare, &format!("select count(*) from {t}")).await {
            Ok(0) => {}
            Ok(n) => findings.push(format!("{t}: {n} row(s) visible with no practice set")),
            Err(e) => findings.push(format!("{t}: select with no practice set failed: {e}")),
        }
    }
    // A setting left empty by an earlier transaction on the same connection also fails closed.
    bare.execute("begin; select set_config('app.practice_id', '', true)")
        .await
        .unwrap();
    for t in &tables {
        match count(&mut bare, &format!("select count(*) from {t}")).await {
            Ok(0) => {}
            Ok(n) => findings.push(format!(
                "{t}: {n} row(s) visible with an empty practice setting"
            )),
            Err(e) => findings.push(format!(
                "{t}: select with an empty practice setting failed: {e}"
            )),
        }
    }
    bare.execute("rollback").await.unwrap();
    findings
}

#[tokio::test]
async fn every_tenant_table_is_isolated_between_practices() {
    let world = two_practices().await;
    let findings = isolation_findings(&world).await;
    assert!(
        findings.is_empty(),
        "isolation broken:\n{}",
        findings.join("\n")
    );
}

#[tokio::test]
async fn dropping_one_policy_is_caught_by_the_isolation_proof() {
    let world = two_practices().await;
    let mut owner = world.db.owner_conn().await;
    owner
        .execute("drop policy tenant_isolation on roles")
        .await
        .unwrap();
    let findings = isolation_findings(&world).await;
    assert!(
        findings.iter().any(|f| f.starts_with("roles:")),
        "a dropped policy went unnoticed: {findings:?}"
    );
}

#[tokio::test]
async fn a_permissive_policy_is_caught_as_a_leak() {
    let world = two_practices().await;
    let mut owner = world.db.owner_conn().await;
    owner
        .execute(
            "drop policy tenant_isolation on role_permissions;
             create policy tenant_isolation on role_permissions using (true) with check (true)",
        )
        .await
        .unwrap();
    let findings = isolation_findings(&world).await;
    assert!(
        findings
            .iter()
            .any(|f| f.starts_with("role_permissions: practice B")),
        "a leaking policy went unnoticed: {findings:?}"
    );
}

#[tokio::test]
async fn disabling_row_level_security_is_caught_as_a_leak() {
    let world = two_practices().await;
    let mut owner = world.db.owner_conn().await;
    owner
        .execute("alter table memberships disable row level security")
        .await
        .unwrap();
    let findings = isolation_findings(&world).await;
    assert!(
        findings
            .iter()
            .any(|f| f.starts_with("memberships: practice B")),
        "disabled RLS went unnoticed: {findings:?}"
    );
}

#[tokio::test]
async fn a_tenant_transaction_sees_only_its_own_practice_row() {
    let world = two_practices().await;
    let mut tx: TenantTx = world
        .app
        .begin(&world.b.principal, &RequestMeta::system("t"))
        .await
        .unwrap();
    let names: Vec<String> = sqlx::query_scalar("select name from practices")
        .fetch_all(tx.conn())
        .await
        .unwrap();
    assert_eq!(names, vec!["Northside Veterinary Specialists".to_owned()]);
    tx.rollback().await.unwrap();
}

#[tokio::test]
async fn tenant_settings_do_not_outlive_their_transaction_on_a_pooled_connection() {
    let world = two_practices().await;
    // One connection only, so B's transaction reuses the connection A's just left.
    let db = paddock_store::Db::connect(&world.db.app_url(), 1)
        .await
        .unwrap();
    let mut tx = db
        .begin(&world.a.principal, &RequestMeta::system("t1"))
        .await
        .unwrap();
    let a_roles: i64 = sqlx::query_scalar("select count(*) from roles")
        .fetch_one(tx.conn())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = db
        .begin(&world.b.principal, &RequestMeta::system("t2"))
        .await
        .unwrap();
    let practices: Vec<uuid::Uuid> = sqlx::query_scalar("select distinct practice_id from roles")
        .fetch_all(tx.conn())
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert_eq!(a_roles, 5);
    assert_eq!(practices, vec![world.b.id.as_uuid()]);
}
