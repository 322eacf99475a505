//! `paddock demo`: a private PostgreSQL, two seeded practices, then serve.

use super::CommandError;
use super::serve::serve_checked;
use crate::cli::DemoArgs;
use crate::config::{ADMIN_DATABASE_URL, DATABASE_URL, env, require_env};
use paddock_domain::{BuiltinRole, DisplayName, Email, PracticeName};
use paddock_passwords::{HashParams, PasswordHasher, check_new_password};
use paddock_store::practices::{self, NewPractice};
use paddock_store::{APP_ROLE, AdminDb, Db};
use rand::Rng;
use rand::distributions::Alphanumeric;
use serde::Serialize;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection};
use std::process::ExitCode;
use std::str::FromStr;

/// The demo's database inside its private cluster; recreated on every run.
const DEMO_DATABASE: &str = "paddock_demo";

/// The demo practices: name, admin email, admin display name.
const DEMO_PRACTICES: [(&str, &str, &str); 2] = [
    (
        "Riverside Animal Hospital",
        "admin@riverside.example",
        "Riverside Admin",
    ),
    (
        "Northside Veterinary Specialists",
        "admin@northside.example",
        "Northside Admin",
    ),
];

/// What `demo seed` prints.
#[derive(Debug, Serialize)]
struct SeedReport {
    practices: Vec<SeededPractice>,
}

#[derive(Debug, Serialize)]
struct SeededPractice {
    id: paddock_domain::PracticeId,
    name: String,
    users: Vec<SeededUser>,
}

#[derive(Debug, Serialize)]
struct SeededUser {
    email: String,
    password: String,
    role: String,
}

/// `paddock demo seed`: seeds an already migrated database and prints JSON.
pub async fn seed_only() -> Result<ExitCode, CommandError> {
    let url = require_env(ADMIN_DATABASE_URL, "an owner or superuser connection")?;
    let admin = AdminDb::connect(&url).await?;
    let report = seed(&admin).await?;
    admin.close().await;
    println!("{}", serde_json::to_string(&report)?);
    Ok(ExitCode::SUCCESS)
}

/// `paddock demo`: private cluster (unless DATABASE_URL is set), migrate, seed, serve.
pub async fn run(args: DemoArgs) -> Result<ExitCode, CommandError> {
    let external = env(ADMIN_DATABASE_URL).or_else(|| env(DATABASE_URL));
    let (cluster, admin_url) = match external {
        Some(url) => (None, url),
        None => {
            let dir = std::path::absolute(args.data_dir.join("pg"))?;
            eprintln!(
                "paddock: starting a private PostgreSQL cluster in {}",
                dir.display()
            );
            let cluster =
                tokio::task::spawn_blocking(move || pgcluster::Cluster::start(&dir)).await??;
            recreate_database(&cluster.admin_url("postgres"), DEMO_DATABASE).await?;
            let url = cluster.admin_url(DEMO_DATABASE);
            (Some(cluster), url)
        }
    };
    let outcome = migrate_seed_serve(&admin_url, &args).await;
    if let Some(cluster) = cluster {
        tokio::task::spawn_blocking(move || cluster.stop()).await??;
        eprintln!("paddock: private PostgreSQL cluster stopped");
    }
    outcome
}

async fn migrate_seed_serve(admin_url: &str, args: &DemoArgs) -> Result<ExitCode, CommandError> {
    let admin = AdminDb::connect(admin_url).await?;
    admin.migrate().await?;
    let report = seed(&admin).await?;
    admin.close().await;

    // Serve as the application role, never as the admin that just migrated.
    let app_options = match env(DATABASE_URL) {
        Some(url) if PgConnectOptions::from_str(&url)?.get_username() == APP_ROLE => {
            PgConnectOptions::from_str(&url)?
        }
        _ => PgConnectOptions::from_str(admin_url)?.username(APP_ROLE),
    };
    let db = Db::connect_with(app_options, 10).await?;
    serve_checked(db, args.bind, &args.data_dir, |address| {
        print_welcome(&report, address)
    })
    .await
}

fn print_welcome(report: &SeedReport, address: std::net::SocketAddr) {
    println!("Paddock demo is running at http://{address}/");
    println!("(demo data is recreated on every run; press Ctrl-C to stop)");
    for practice in &report.practices {
        println!();
        println!("  {}", practice.name);
        for user in &practice.users {
            println!(
                "    {:<16} {}  password: {}",
                user.role, user.email, user.password
            );
        }
    }
    println!();
}

/// Drops and recreates `database` so every demo starts from the same state.
async fn recreate_database(maintenance_url: &str, database: &str) -> Result<(), CommandError> {
    let mut conn = PgConnection::connect(maintenance_url).await?;
    conn.execute(format!("drop database if exists {database} with (force)").as_str())
        .await?;
    conn.execute(format!("create database {database}").as_str())
        .await?;
    conn.close().await?;
    Ok(())
}

/// Creates the demo practices, each with an admin with a fresh random password.
async fn seed(admin: &AdminDb) -> Result<SeedReport, CommandError> {
    let status = admin.schema_status().await?;
    if !status.is_current() {
        return Err(format!("cannot seed: {status}").into());
    }
    let hasher = PasswordHasher::new(HashParams::default(), PasswordHasher::default_permits())?;
    let mut practices = Vec::new();
    for (name, email, admin_name) in DEMO_PRACTICES {
        let password = random_password();
        let created = practices::create(
            admin,
            &hasher,
            NewPractice {
                name: PracticeName::parse("name", name)?,
                admin_email: Email::parse("email", email)?,
                admin_name: DisplayName::parse("name", admin_name)?,
                admin_password: check_new_password("password", &password, &[email, name])?,
                link_existing_user: false,
            },
        )
        .await?;
        practices.push(SeededPractice {
            id: created.practice_id,
            name: name.to_owned(),
            users: vec![SeededUser {
                email: email.to_owned(),
                password,
                role: BuiltinRole::PracticeAdmin.name().to_owned(),
            }],
        });
    }
    Ok(SeedReport { practices })
}

/// 24 random alphanumerics from the OS generator, in dash-separated groups of six.
fn random_password() -> String {
    let chars: Vec<char> = rand::rngs::OsRng
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    chars
        .chunks(6)
        .map(|group| group.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-")
}
