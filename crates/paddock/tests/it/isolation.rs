//! The generic tenant-isolation proof.
//!
//! Tables are enumerated from the catalogue, so a table added tomorrow is covered
//! without anyone remembering: every table with a `practice_id` column must show
//! practice A its own rows and practice B none of them, by SELECT, UPDATE or DELETE;
//! must refuse B an INSERT claiming A; and must show nothing at all to a transaction
//! with no practice set. Everything runs as `paddock_app`, through `TenantTx`.
//!
//! The tables without a practice (identities and credentials) are reached by naming a
//! credential instead: for each setting that policies read (a token's hash, the user
//! signing in, the acting user, an email), every value the fixture holds must admit
//! exactly the rows carrying it, in every table, and nothing of another user or
//! practice. Every table must hold fixture rows that their owner can see, so that no
//! "nothing is visible" check holds merely because a table is empty.

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

/// A setting that policies admit rows by without a practice in scope, and for each
/// table it opens, the condition on a row (`{v}` standing for the setting's value) that
/// the rows it admits meet. Every other table must stay closed to it.
struct Credential {
    setting: &'static str,
    /// The values the fixture holds, read as superuser.
    values: &'static str,
    admits: &'static [(&'static str, &'static str)],
}

/// Every credential-keyed policy in the schema (a new one belongs here).
const CREDENTIALS: &[Credential] = &[
    Credential {
        setting: "app.token_hash",
        values: "select encode(token_hash, 'hex') from sessions
                 union all select encode(key_hash, 'hex') from api_keys
                 union all select encode(token_hash, 'hex') from invitations
                 union all select encode(token_hash, 'hex') from password_resets
                 union all select encode(email_hash, 'hex') from login_throttle
                 union all select encode(key_hash, 'hex') from reset_throttle
                 union all select encode(token_hash, 'hex') from account_unlocks",
        admits: &[
            ("reset_throttle", "key_hash = decode('{v}', 'hex')"),
            ("account_unlocks", "token_hash = decode('{v}', 'hex')"),
            ("sessions", "token_hash = decode('{v}', 'hex')"),
            ("api_keys", "key_hash = decode('{v}', 'hex')"),
            ("invitations", "token_hash = decode('{v}', 'hex')"),
            ("password_resets", "token_hash = decode('{v}', 'hex')"),
            ("login_throttle", "email_hash = decode('{v}', 'hex')"),
        ],
    },
    Credential {
        setting: "app.auth_user_id",
        values: "select id::text from users",
        admits: &[
            ("users", "id = '{v}'"),
            ("memberships", "user_id = '{v}'"),
            (
                "practices",
                "id in (select m.practice_id from memberships m where m.user_id = '{v}')",
            ),
            (
                "practice_settings",
                "practice_id in (select m.practice_id from memberships m where m.user_id = '{v}')",
            ),
            ("second_factors", "user_id = '{v}'"),
            ("verification_codes", "user_id = '{v}'"),
            ("password_resets", "user_id = '{v}'"),
            ("account_unlocks", "user_id = '{v}'"),
        ],
    },
    Credential {
        setting: "app.actor_id",
        values: "select id::text from users",
        admits: &[
            ("users", "id = '{v}'"),
            ("second_factors", "user_id = '{v}'"),
            ("verification_codes", "user_id = '{v}'"),
        ],
    },
    Credential {
        setting: "app.user_email",
        values: "select email from users",
        admits: &[("users", "email = '{v}'")],
    },
];

/// The condition a row of `table` meets when `credential` with `value` admits it, or
/// `None` when the credential must not open the table at all.
fn admitted(credential: &Credential, table: &str, value: &str) -> Option<String> {
    credential
        .admits
        .iter()
        .find(|(t, _)| *t == table)
        .map(|(_, condition)| condition.replace("{v}", value))
}

/// A superuser connection: it counts what the fixture holds, beyond every policy.
async fn observer(world: &World) -> PgConnection {
    <PgConnection as sqlx::Connection>::connect(&world.db.admin_url())
        .await
        .unwrap()
}

/// Checks every credential setting with every value the fixture holds, each alone in a
/// transaction of the application role with no practice set: it must admit exactly
/// the rows carrying it. Also returns the tables some credential showed rows of.
async fn credential_findings(world: &World, tables: &[String]) -> (Vec<String>, Vec<String>) {
    let mut findings = Vec::new();
    let mut opened = Vec::new();
    let mut observer = observer(world).await;
    let mut conn = world.db.app_conn().await;
    for credential in CREDENTIALS {
        let values: Vec<String> = sqlx::query_scalar(credential.values)
            .fetch_all(&mut observer)
            .await
            .unwrap();
        let mut admitted_any: Vec<&str> = Vec::new();
        for value in &values {
            conn.execute("begin").await.unwrap();
            sqlx::query("select set_config($1, $2, true)")
                .bind(credential.setting)
                .bind(value)
                .execute(&mut conn)
                .await
                .unwrap();
            for t in tables {
                let what = format!("{t}: {} = {value}", credential.setting);
                let visible = count(&mut conn, &format!("select count(*) from {t}")).await;
                let Some(condition) = admitted(credential, t, value) else {
                    match visible {
                        Ok(0) => {}
                        Ok(n) => findings.push(format!(
                            "{what} opens {n} row(s) of a table it has no business in"
                        )),
                        Err(e) => findings.push(format!("{what}: select failed: {e}")),
                    }
                    continue;
                };
                let expected = count(
                    &mut observer,
                    &format!("select count(*) from {t} where {condition}"),
                )
                .await
                .unwrap();
                let foreign = count(
                    &mut conn,
                    &format!("select count(*) from {t} where not ({condition})"),
                )
                .await;
                match (visible, foreign) {
                    (Ok(n), Ok(0)) if n == expected => {
                        if n > 0 {
                            admitted_any.push(t);
                            opened.push(t.clone());
                        }
                    }
                    (Ok(n), Ok(other)) => findings.push(format!(
                        "{what} admits {n} row(s), {other} of them another's, where exactly {expected} carry it"
                    )),
                    (Err(e), _) | (_, Err(e)) => findings.push(format!("{what}: select failed: {e}")),
                }
            }
            conn.execute("rollback").await.unwrap();
        }
        for (t, _) in credential.admits {
            if !admitted_any.contains(t) {
                findings.push(format!(
                    "{t}: no fixture row is admitted by {} (the policy goes unexercised: extend world.rs)",
                    credential.setting
                ));
            }
        }
    }
    (findings, opened)
}

/// Rows of the global (practice-less) `table` that a member acting as `actor` may see
/// as their own, as a condition; `false` where no row is theirs by acting alone.
fn own_global_rows(table: &str, actor: &str) -> String {
    CREDENTIALS
        .iter()
        .find(|c| c.setting == "app.actor_id")
        .and_then(|c| admitted(c, table, actor))
        .unwrap_or_else(|| "false".to_owned())
}

/// From `practice`'s transaction, acting as its admin, the global tables show no row of
/// anyone else, and no other row can be updated or deleted.
async fn global_table_findings(
    world: &World,
    practice: &crate::world::PracticeFixture,
    globals: &[String],
) -> Vec<String> {
    let mut findings = Vec::new();
    let mut observer = observer(world).await;
    let mut tx = world
        .app
        .begin(
            &practice.principal,
            &RequestMeta::system("isolation-global"),
        )
        .await
        .unwrap();
    let actor = practice.admin.to_string();
    let name = practice.principal.practice_id();
    // Users are members' identities and practices the practice itself: both are
    // covered by the checks of the practice's own rows.
    for t in globals
        .iter()
        .filter(|t| !["users", "practices"].contains(&t.as_str()))
    {
        let own = own_global_rows(t, &actor);
        let others = count(
            &mut observer,
            &format!("select count(*) from {t} where not ({own})"),
        )
        .await
        .unwrap();
        match count(
            tx.conn(),
            &format!("select count(*) from {t} where not ({own})"),
        )
        .await
        {
            Ok(0) => {}
            Ok(n) => findings.push(format!(
                "{t}: practice {name}'s transaction sees {n} row(s) of others"
            )),
            Err(e) => findings.push(format!("{t}: practice {name}'s select failed: {e}")),
        }
        let column: String = sqlx::query_scalar(
            "select quote_ident(attname) from pg_attribute
              where attrelid = $1::regclass and attnum > 0 and not attisdropped and attgenerated = ''
              order by attnum limit 1",
        )
        .bind(t)
        .fetch_one(tx.conn())
        .await
        .unwrap();
        let writes = [
            (
                "update",
                format!("update {t} set {column} = {column} where not ({own})"),
            ),
            ("delete", format!("delete from {t} where not ({own})")),
        ];
        for (what, sql) in writes {
            tx.conn().execute("savepoint probe").await.unwrap();
            match affected(tx.conn(), &sql).await {
                Ok(0) => {}
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("42501") => {}
                Ok(n) => findings.push(format!(
                    "{t}: practice {name}'s {what} reached {n} row(s) of others"
                )),
                Err(e) => findings.push(format!(
                    "{t}: practice {name}'s {what} failed unexpectedly: {e}"
                )),
            }
            tx.conn()
                .execute("rollback to savepoint probe")
                .await
                .unwrap();
        }
        // Only a probe that meets someone else's rows proves anything.
        if others == 0 && practice.id == world.a.id {
            findings.push(format!(
                "{t}: the fixture holds no row of anyone but practice A's admin (extend world.rs)"
            ));
        }
    }
    tx.rollback().await.unwrap();
    findings
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

    // The tables without a practice: credentials open exactly their own rows, every
    // such table has rows its owner sees, and neither practice sees another's.
    let every_table = all_tables(&mut probe).await;
    let (credential, opened) = credential_findings(world, &every_table).await;
    findings.extend(credential);
    let globals: Vec<String> = every_table
        .iter()
        .filter(|t| !tables.contains(t))
        .cloned()
        .collect();
    for t in &globals {
        if !opened.contains(t) {
            findings.push(format!(
                "{t}: no row is visible to its owner through any credential (an empty table \
                 proves nothing: extend world.rs, or CREDENTIALS for a new policy)"
            ));
        }
    }
    for practice in [&world.a, &world.b] {
        findings.extend(global_table_findings(world, practice, &globals).await);
    }
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

#[tokio::test]
async fn a_widened_credential_policy_is_caught_by_the_isolation_proof() {
    let world = two_practices().await;
    let mut owner = world.db.owner_conn().await;
    // Any token (rather than the session's own) opens every session, and anyone signing
    // in sees every membership: each still passes the practice-based checks.
    owner
        .execute(
            "drop policy session_by_token on sessions;
             create policy session_by_token on sessions for select
                 using ((select app_token_hash()) is not null);
             drop policy membership_of_signing_in_user on memberships;
             create policy membership_of_signing_in_user on memberships for select
                 using ((select app_auth_user_id()) is not null)",
        )
        .await
        .unwrap();
    let findings = isolation_findings(&world).await;
    for table in ["sessions: app.token_hash", "memberships: app.auth_user_id"] {
        assert!(
            findings
                .iter()
                .any(|f| f.starts_with(table) && f.contains("another's")),
            "a widened {table} policy went unnoticed: {findings:?}"
        );
    }
}

#[tokio::test]
async fn an_empty_global_table_fails_the_isolation_proof() {
    let world = two_practices().await;
    let mut observer = observer(&world).await;
    // As superuser, past every policy and grant: the fixture's sign-in failures are gone.
    observer
        .execute("delete from login_throttle")
        .await
        .unwrap();
    let findings = isolation_findings(&world).await;
    assert!(
        findings
            .iter()
            .any(|f| f.starts_with("login_throttle: no row is visible to its owner")),
        "an empty table passed: {findings:?}"
    );
}

#[tokio::test]
async fn a_global_table_open_to_every_member_is_caught_from_the_other_practice() {
    let world = two_practices().await;
    let mut owner = world.db.owner_conn().await;
    owner
        .execute(
            "drop policy own_codes on verification_codes;
             create policy own_codes on verification_codes
                 using ((select app_actor_id()) is not null or user_id = (select app_auth_user_id()))",
        )
        .await
        .unwrap();
    let findings = isolation_findings(&world).await;
    assert!(
        findings
            .iter()
            .any(|f| f.starts_with("verification_codes: practice") && f.contains("of others")),
        "codes open to every member went unnoticed: {findings:?}"
    );
}
