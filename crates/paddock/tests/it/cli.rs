//! The `paddock` admin commands as scripts run them: the real binary, its exit codes,
//! JSON on stdout and messages on stderr.
//!

use crate::process::{Output, paddock, run, superuser};
use paddock_domain::{Permission, PracticeId, UserId};
use paddock_store::RequestMeta;
use paddock_store::identity::principal;
use paddock_test_db::TestDb;
use serde_json::Value;
use uuid::Uuid;

fn migrate(db: &TestDb) -> Output {
    run(paddock()
        .arg("migrate")
        .env("PADDOCK_ADMIN_DATABASE_URL", db.admin_url()))
}

async fn practice_count(db: &TestDb) -> i64 {
    sqlx::query_scalar("select count(*) from practices")
        .fetch_one(&mut superuser(db).await)
        .await
        .expect("count practices")
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

fn uuid_field(object: &Value, key: &str) -> Uuid {
    let text = object[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} must be a string: {object}"));
    Uuid::parse_str(text).unwrap_or_else(|e| panic!("{key} must be a UUID ({e}): {object}"))
}

#[tokio::test]
async fn migrate_applies_every_migration_to_an_empty_database_and_is_idempotent() {
    let db = TestDb::empty().await;

    let first = migrate(&db);
    assert_eq!(first.code(), 0, "first migrate: {first}");
    let second = migrate(&db);
    assert_eq!(second.code(), 0, "second migrate must be a no-op: {second}");

    let applied: i64 = sqlx::query_scalar("select count(*) from _sqlx_migrations where success")
        .fetch_one(&mut superuser(&db).await)
        .await
        .expect("read the migration ledger");
    let known = paddock_store::MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .count();
    assert_eq!(
        applied,
        i64::try_from(known).unwrap(),
        "every migration applied once"
    );

    let doctor = run(paddock()
        .arg("doctor")
        .env("PADDOCK_ADMIN_DATABASE_URL", db.admin_url()));
    assert_eq!(doctor.code(), 0, "doctor after migrate: {doctor}");
    assert!(
        doctor.stderr.contains("OK"),
        "doctor must report OK: {doctor}"
    );
}

#[test]
fn admin_commands_refuse_to_run_without_the_admin_database_url() {
    // DATABASE_URL is the application role's: commands needing owner rights must not
    // fall back to it. It points nowhere, so only the refusal can mention the variable.
    let app_url = "postgres://paddock_app@127.0.0.1:1/nowhere";
    let commands: [&[&str]; 3] = [
        &["migrate"],
        &[
            "practice",
            "create",
            "--name",
            "Riverside Animal Hospital",
            "--admin-email",
            "vet@riverside.example",
        ],
        &["demo", "seed"],
    ];
    for args in commands {
        for database_url in [None, Some(app_url)] {
            let mut cmd = paddock();
            cmd.args(args)
                .env("PADDOCK_ADMIN_PASSWORD", "a long enough test password");
            if let Some(url) = database_url {
                cmd.env("DATABASE_URL", url);
            }
            let output = run(&mut cmd);
            assert_ne!(
                output.code(),
                0,
                "{args:?} (DATABASE_URL {database_url:?}) must fail: {output}"
            );
            assert!(
                output.stderr.contains("PADDOCK_ADMIN_DATABASE_URL"),
                "{args:?} (DATABASE_URL {database_url:?}) must name PADDOCK_ADMIN_DATABASE_URL: {output}"
            );
            assert!(output.stdout.is_empty(), "no result on stdout: {output}");
        }
    }
}

#[test]
fn doctor_without_any_database_url_fails_naming_the_variables() {
    let output = run(paddock().arg("doctor"));
    assert_ne!(output.code(), 0, "{output}");
    assert!(
        output.stderr.contains("PADDOCK_ADMIN_DATABASE_URL"),
        "{output}"
    );
    assert!(output.stderr.contains("DATABASE_URL"), "{output}");
}

#[tokio::test]
async fn migrate_creates_a_safe_application_role_and_a_nologin_owner_of_every_table() {
    let db = TestDb::empty().await;
    let output = migrate(&db);
    assert_eq!(output.code(), 0, "migrate: {output}");

    let mut conn = superuser(&db).await;
    let app: (bool, bool, bool) = sqlx::query_as(
        "select rolcanlogin, rolsuper, rolbypassrls from pg_roles where rolname = 'paddock_app'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("paddock_app exists");
    assert_eq!(
        app,
        (true, false, false),
        "paddock_app: (login, superuser, bypassrls)"
    );
    let owner_can_login: bool =
        sqlx::query_scalar("select rolcanlogin from pg_roles where rolname = 'paddock_owner'")
            .fetch_one(&mut conn)
            .await
            .expect("paddock_owner exists");
    assert!(!owner_can_login, "paddock_owner must be NOLOGIN");

    let tables: Vec<(String, String)> = sqlx::query_as(
        "select tablename::text, tableowner::text from pg_tables where schemaname = 'public' order by 1",
    )
    .fetch_all(&mut conn)
    .await
    .expect("list tables");
    assert!(
        tables.iter().any(|(name, _)| name == "practices"),
        "the schema was created: {tables:?}"
    );
    let foreign: Vec<&(String, String)> = tables
        .iter()
        .filter(|(_, owner)| owner != "paddock_owner")
        .collect();
    assert!(
        foreign.is_empty(),
        "tables not owned by paddock_owner: {foreign:?}"
    );

    // Sequences, views and the like count too: the app role must own nothing at all.
    let other: Vec<(String, String)> = sqlx::query_as(
        "select c.relname::text, pg_get_userbyid(c.relowner)::text
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = 'public' and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
            and pg_get_userbyid(c.relowner) <> 'paddock_owner'",
    )
    .fetch_all(&mut conn)
    .await
    .expect("list relations");
    assert!(
        other.is_empty(),
        "relations not owned by paddock_owner: {other:?}"
    );
}

#[tokio::test]
async fn practice_create_prints_the_ids_of_a_practice_whose_admin_holds_every_permission() {
    let db = TestDb::new().await;
    let output = run(paddock()
        .args(["practice", "create", "--name", "Riverside Animal Hospital"])
        .args(["--admin-email", "Vet@Riverside.example"])
        .env("PADDOCK_ADMIN_DATABASE_URL", db.admin_url())
        .env("PADDOCK_ADMIN_PASSWORD", "correct horse battery staple"));
    assert_eq!(output.code(), 0, "practice create: {output}");

    let json = single_json(&output);
    let object = json
        .as_object()
        .unwrap_or_else(|| panic!("stdout must be an object: {output}"));
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["practice_id", "user_id"], "{output}");
    let practice_id = PracticeId::from_uuid(uuid_field(&json, "practice_id"));
    let user_id = UserId::from_uuid(uuid_field(&json, "user_id"));

    let principal = principal::resolve(
        &db.app().await,
        user_id,
        practice_id,
        &RequestMeta::system("test"),
    )
    .await
    .expect("resolve the admin")
    .expect("the new admin has an active membership of the new practice");
    assert_eq!(principal.role_name(), "Practice admin");
    for permission in Permission::ALL {
        assert!(
            principal.permissions().contains(*permission),
            "the first admin lacks {permission:?}"
        );
    }
    assert_eq!(principal.permissions().len(), Permission::ALL.len());

    let email: String = sqlx::query_scalar("select email from users where id = $1")
        .bind(user_id.as_uuid())
        .fetch_one(&mut superuser(&db).await)
        .await
        .expect("the admin's user row");
    assert_eq!(
        email, "vet@riverside.example",
        "emails are stored lower-cased"
    );
}

#[tokio::test]
async fn practice_create_rejects_invalid_input_with_exit_code_2_naming_the_field() {
    let db = TestDb::new().await;
    let cases = [
        (
            "not-an-email",
            "correct horse battery staple",
            "admin_email",
        ),
        ("vet@riverside.example", "short pass", "admin_password"),
    ];
    for (email, password, field) in cases {
        let output = run(paddock()
            .args(["practice", "create", "--name", "Riverside Animal Hospital"])
            .args(["--admin-email", email])
            .env("PADDOCK_ADMIN_DATABASE_URL", db.admin_url())
            .env("PADDOCK_ADMIN_PASSWORD", password));
        assert_eq!(output.code(), 2, "invalid {field}: {output}");
        assert!(
            output.stderr.contains(field),
            "stderr must name {field}: {output}"
        );
        assert!(output.stdout.is_empty(), "no result on stdout: {output}");
    }
    assert_eq!(
        practice_count(&db).await,
        0,
        "nothing may be created from invalid input"
    );
}

#[tokio::test]
async fn demo_seed_prints_two_practices_with_working_admin_credentials_and_refuses_to_run_twice() {
    let db = TestDb::new().await;
    let seed = || {
        run(paddock()
            .args(["demo", "seed"])
            .env("PADDOCK_ADMIN_DATABASE_URL", db.admin_url()))
    };
    let output = seed();
    assert_eq!(output.code(), 0, "demo seed: {output}");

    let json = single_json(&output);
    let practices = json["practices"]
        .as_array()
        .unwrap_or_else(|| panic!("practices must be an array: {output}"));
    let mut names: Vec<&str> = practices
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "Northside Veterinary Specialists",
            "Riverside Animal Hospital"
        ],
        "{output}"
    );

    let app = db.app().await;
    let mut conn = superuser(&db).await;
    let mut passwords = Vec::new();
    for practice in practices {
        let practice_id = PracticeId::from_uuid(uuid_field(practice, "id"));
        let users = practice["users"]
            .as_array()
            .unwrap_or_else(|| panic!("users must be an array: {practice}"));
        assert_eq!(users.len(), 1, "one user per demo practice: {practice}");
        let user = &users[0];
        assert_eq!(user["role"], "Practice admin", "{practice}");
        let email = user["email"]
            .as_str()
            .unwrap_or_else(|| panic!("email: {user}"));
        let password = user["password"]
            .as_str()
            .unwrap_or_else(|| panic!("password: {user}"));
        assert!(password.chars().count() >= 12, "password too short: {user}");
        passwords.push(password.to_owned());

        let user_id: Uuid = sqlx::query_scalar("select id from users where email = $1")
            .bind(email)
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("no user {email}: {e}"));
        let principal = principal::resolve(
            &app,
            UserId::from_uuid(user_id),
            practice_id,
            &RequestMeta::system("test"),
        )
        .await
        .expect("resolve the demo admin")
        .unwrap_or_else(|| panic!("{email} has no active membership of {practice}"));
        assert_eq!(principal.role_name(), "Practice admin");
        assert_eq!(principal.permissions().len(), Permission::ALL.len());
    }
    assert_ne!(
        passwords[0], passwords[1],
        "each demo admin gets its own password"
    );

    let again = seed();
    assert_ne!(again.code(), 0, "seeding twice must fail: {again}");
    assert_eq!(
        practice_count(&db).await,
        2,
        "a failed seed leaves nothing behind"
    );
}

#[test]
fn help_lists_the_subcommands_and_practice_create_help_names_the_password_variable() {
    let help = run(paddock().arg("--help"));
    assert_eq!(help.code(), 0, "{help}");
    for command in ["serve", "migrate", "practice", "demo", "doctor"] {
        assert!(
            help.stdout
                .lines()
                .any(|line| line.split_whitespace().next() == Some(command)),
            "--help must list `{command}`: {help}"
        );
    }

    let create = run(paddock().args(["practice", "create", "--help"]));
    assert_eq!(create.code(), 0, "{create}");
    assert!(create.stdout.contains("PADDOCK_ADMIN_PASSWORD"), "{create}");
}

#[tokio::test]
async fn doctor_warns_that_the_app_role_has_no_password_and_fails_on_it_only_when_strict() {
    let db = TestDb::new().await;
    let doctor = |strict: bool| {
        let mut cmd = paddock();
        cmd.arg("doctor")
            .env("PADDOCK_ADMIN_DATABASE_URL", db.admin_url());
        if strict {
            cmd.arg("--strict");
        }
        run(&mut cmd)
    };
    let has_warning = |output: &Output| {
        output
            .stdout
            .lines()
            .any(|line| line.starts_with("warning:") && line.contains("paddock_app"))
    };

    let plain = doctor(false);
    assert_eq!(plain.code(), 0, "warnings alone pass: {plain}");
    assert!(
        has_warning(&plain),
        "the missing password is reported: {plain}"
    );
    assert!(
        !plain.stdout.lines().any(|line| line.starts_with("error:")),
        "a migrated database has no errors: {plain}"
    );

    let strict = doctor(true);
    assert_eq!(strict.code(), 1, "--strict fails on warnings: {strict}");
    assert!(has_warning(&strict), "{strict}");
}

#[tokio::test]
async fn doctor_falls_back_to_database_url_as_the_application_role() {
    let db = TestDb::new().await;
    let output = run(paddock().arg("doctor").env("DATABASE_URL", db.app_url()));
    assert_eq!(output.code(), 0, "doctor as paddock_app: {output}");
    assert!(output.stderr.contains("OK"), "{output}");
}

#[tokio::test]
async fn doctor_fails_naming_a_table_whose_row_level_security_is_not_forced() {
    let db = TestDb::new().await;
    sqlx::raw_sql("alter table practices no force row level security")
        .execute(&mut db.owner_conn().await)
        .await
        .expect("sabotage the practices table");

    let output = run(paddock()
        .arg("doctor")
        .env("PADDOCK_ADMIN_DATABASE_URL", db.admin_url()));
    assert_eq!(output.code(), 1, "{output}");
    assert!(
        output.stdout.lines().any(|line| line.starts_with("error:")
            && line.contains("practices")
            && line.contains("forced")),
        "doctor must name the table: {output}"
    );
    assert!(output.stderr.contains("FAILED"), "{output}");
}

#[tokio::test]
async fn doctor_warns_that_a_tcp_connection_without_tls_is_not_encrypted_and_a_socket_is_fine() {
    let db = TestDb::new().await;
    let url = db.admin_url();
    let separator = if url.contains('?') { '&' } else { '?' };
    let plain = format!("{url}{separator}sslmode=disable");
    let output = run(paddock()
        .arg("doctor")
        .env("PADDOCK_ADMIN_DATABASE_URL", &plain));
    assert_eq!(output.code(), 0, "warnings alone pass: {output}");
    let warned = output.stdout.lines().any(|line| {
        line.starts_with("warning:") && line.contains("neither encrypted nor on a Unix socket")
    });
    // Over TCP with TLS switched off: warned. The private cluster of a run without
    // DATABASE_URL is reached over its Unix socket: not warned, rightly.
    let over_tcp = !url.contains("host=/");
    assert_eq!(warned, over_tcp, "{url}: {output}");
}
