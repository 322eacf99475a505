//! `paddock demo`: a private PostgreSQL, two seeded practices, then serve.
//!
//! Each demo practice gets its admin, a vet, a technician and a receptionist (each
//! with a fresh random password, printed), and a clinic's worth of clinical records
//! (see [`clinic`]).

mod catalogue;
mod clinic;

use super::CommandError;
use super::serve::{Listen, serve_checked};
use crate::cli::DemoArgs;
use crate::config::{ADMIN_DATABASE_URL, DATABASE_URL, env, require_env};
use paddock_domain::{BuiltinRole, DisplayName, Email, PracticeId, PracticeName, UserId};
use paddock_passwords::{HashParams, PasswordHasher, check_new_password};
use paddock_store::staff::invitations::{self, Acceptor};
use paddock_store::staff::practices::{self, NewPractice};
use paddock_store::{APP_ROLE, AdminDb, Db, RequestMeta, staff::roles};
use paddock_web::HttpConfig;
use paddock_web::tls::{self, CertificateFiles};
use rand::Rng;
use rand::distributions::Alphanumeric;
use serde::Serialize;
use sqlx::postgres::PgConnectOptions;
use sqlx::types::chrono::Utc;
use sqlx::{Connection, Executor, PgConnection};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

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

/// The demo staff of each practice: role, display name, email local part. The
/// email's domain is the practice admin's.
const DEMO_STAFF: [(BuiltinRole, &str, &str); 3] = [
    (BuiltinRole::Veterinarian, "Dr Priya Shah", "vet"),
    (BuiltinRole::Technician, "Tom Barker", "nurse"),
    (BuiltinRole::Receptionist, "Jess Moreno", "reception"),
];

/// The seed of each practice's clinical data (the same clinic on every run).
const CLINIC_SEED: u64 = 0x5041_4444_4f43_4b00;

/// What `demo seed` prints.
#[derive(Debug, Serialize)]
struct SeedReport {
    practices: Vec<SeededPractice>,
}

#[derive(Debug, Serialize)]
struct SeededPractice {
    id: PracticeId,
    name: String,
    /// The practice admin (the first user, as scripts expect).
    users: Vec<SeededUser>,
    /// The vet, the technician and the receptionist.
    staff: Vec<SeededUser>,
    /// How many clinical records were created.
    clinical: clinic::Counts,
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
    let seeded = seed(&admin, &url).await;
    admin.close().await;
    let report = seeded?;
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
    let seeded = seed(&admin, admin_url).await;
    admin.close().await;
    let report = seeded?;

    // Serve as the application role, never as the admin that just migrated.
    let app_options = match env(DATABASE_URL) {
        Some(url) if PgConnectOptions::from_str(&url)?.get_username() == APP_ROLE => {
            PgConnectOptions::from_str(&url)?
        }
        _ => PgConnectOptions::from_str(admin_url)?.username(APP_ROLE),
    };
    let db = Db::connect_with(app_options, 10).await?;
    let tls = if args.insecure_http {
        None
    } else {
        Some(demo_certificate(&args.data_dir)?)
    };
    let fingerprint = tls
        .as_ref()
        .and_then(|files| files.chain().first().map(tls::fingerprint));
    let http = HttpConfig {
        https: tls.is_some(),
        rate_limits: args.rate_limits.config(None),
        ..HttpConfig::default()
    };
    let listen = Listen {
        public: args.bind,
        metrics: None,
    };
    serve_checked(db, listen, &args.data_dir, &http, tls, |address| {
        print_welcome(&report, address, fingerprint.as_deref());
    })
    .await
}

/// The demo's self-signed certificate for localhost, 127.0.0.1 and ::1, kept under
/// `data_dir/tls` (made on the first run, so a browser's exception for it lasts).
fn demo_certificate(data_dir: &Path) -> Result<Arc<CertificateFiles>, CommandError> {
    let dir = data_dir.join("tls");
    let (cert, key) = (dir.join("localhost.crt"), dir.join("localhost.key"));
    if !(cert.exists() && key.exists()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)?;
        let (cert_pem, key_pem) = tls::self_signed(&["localhost", "127.0.0.1", "::1"])?;
        std::fs::write(&cert, cert_pem)?;
        let mut key_file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&key)?;
        key_file.write_all(key_pem.as_bytes())?;
    }
    Ok(CertificateFiles::load(&cert, &key)?)
}

fn print_welcome(report: &SeedReport, address: std::net::SocketAddr, fingerprint: Option<&str>) {
    match fingerprint {
        Some(fingerprint) => {
            println!("Paddock demo is running at https://{address}/");
            println!(
                "(a self-signed certificate: your browser will warn; accept it if its SHA-256 fingerprint is"
            );
            println!("TLS certificate SHA-256 {fingerprint})");
        }
        None => println!("Paddock demo is running at http://{address}/"),
    }
    println!("(demo data is recreated on every run; press Ctrl-C to stop)");
    for practice in &report.practices {
        println!();
        println!("  {}", practice.name);
        for user in practice.users.iter().chain(&practice.staff) {
            println!(
                "    {:<16} {}  password: {}",
                user.role, user.email, user.password
            );
        }
        let c = &practice.clinical;
        println!(
            "    {} clients, {} patients, {} encounters, {} appointments this week",
            c.clients, c.patients, c.encounters, c.appointments
        );
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

/// Creates the demo practices, each with an admin and three staff members with
/// fresh random passwords, and its clinical records.
///
/// Staff join the way people do, by an invitation accepted through the store, and the
/// vet signs the notes as a member: both need the server's kind of handle, opened on
/// the admin URL for the seeding only (the server itself never connects as the admin).
async fn seed(admin: &AdminDb, admin_url: &str) -> Result<SeedReport, CommandError> {
    let status = admin.schema_status().await?;
    if !status.is_current() {
        return Err(format!("cannot seed: {status}").into());
    }
    let hasher = PasswordHasher::new(HashParams::default(), PasswordHasher::default_permits())?;
    let member_db = Db::connect(admin_url, 2).await?;
    let seeded = seed_practices(admin, &member_db, &hasher).await;
    member_db.close().await;
    seeded
}

async fn seed_practices(
    admin: &AdminDb,
    member_db: &Db,
    hasher: &PasswordHasher,
) -> Result<SeedReport, CommandError> {
    // The practices are independent, and each is a long stream of small statements on
    // a connection of its own: seeding them side by side halves the wait.
    let [first, second] = DEMO_PRACTICES;
    let (first, second) = tokio::try_join!(
        seed_practice(admin, member_db, hasher, 0, first),
        seed_practice(admin, member_db, hasher, 1, second),
    )?;
    Ok(SeedReport {
        practices: vec![first, second],
    })
}

/// One demo practice: created with its admin, staffed, and given its clinic.
async fn seed_practice(
    admin: &AdminDb,
    member_db: &Db,
    hasher: &PasswordHasher,
    index: u64,
    (name, email, admin_name): (&str, &str, &str),
) -> Result<SeededPractice, CommandError> {
    let started = Instant::now();
    let password = random_password();
    let created = practices::create(
        admin,
        hasher,
        NewPractice {
            name: PracticeName::parse("name", name)?,
            admin_email: Email::parse("email", email)?,
            admin_name: DisplayName::parse("name", admin_name)?,
            admin_password: check_new_password("password", &password, &[email, name])?,
            link_existing_user: false,
        },
    )
    .await?;
    let domain = email.split_once('@').map_or("example.org", |(_, d)| d);
    let mut staff = Vec::with_capacity(DEMO_STAFF.len());
    let mut ids = Vec::with_capacity(DEMO_STAFF.len());
    for (role, display_name, local) in DEMO_STAFF {
        let email = format!("{local}@{domain}");
        let (user, password) = add_member(
            admin,
            member_db,
            hasher,
            created.practice_id,
            role,
            display_name,
            &email,
        )
        .await?;
        ids.push((role, user));
        staff.push(SeededUser {
            email,
            password,
            role: role.name().to_owned(),
        });
    }
    let member = |wanted: BuiltinRole| {
        ids.iter()
            .find(|(role, _)| *role == wanted)
            .map(|(_, user)| *user)
            .ok_or_else(|| format!("no demo {} was created", wanted.name()))
    };
    let team = clinic::Staff {
        vet: member(BuiltinRole::Veterinarian)?,
        technician: member(BuiltinRole::Technician)?,
    };
    let seed = CLINIC_SEED + index;
    let clinical = clinic::seed(
        admin,
        member_db,
        created.practice_id,
        team,
        seed,
        Utc::now(),
    )
    .await?;
    eprintln!(
        "paddock: seeded {name}: 4 staff, {} clients, {} patients, {} encounters, {} appointments in {:.1} s",
        clinical.clients,
        clinical.patients,
        clinical.encounters,
        clinical.appointments,
        started.elapsed().as_secs_f64()
    );
    Ok(SeededPractice {
        id: created.practice_id,
        name: name.to_owned(),
        users: vec![SeededUser {
            email: email.to_owned(),
            password,
            role: BuiltinRole::PracticeAdmin.name().to_owned(),
        }],
        staff,
        clinical,
    })
}

/// Invites `email` to `role` in `practice` (as the system) and accepts the invitation
/// as a new user with a fresh random password; returns the user and the password.
async fn add_member(
    admin: &AdminDb,
    member_db: &Db,
    hasher: &PasswordHasher,
    practice: PracticeId,
    role: BuiltinRole,
    display_name: &str,
    email: &str,
) -> Result<(UserId, String), CommandError> {
    let address = Email::parse("email", email)?;
    let now = Utc::now();
    let mut tx = admin.begin_system(practice).await?;
    let role_id = roles::list(&mut tx)
        .await?
        .into_iter()
        .find(|r| r.builtin == Some(role))
        .map(|r| r.id)
        .ok_or_else(|| format!("the practice has no {} role", role.name()))?;
    let invitation = invitations::create(&mut tx, &address, role_id, now).await?;
    tx.commit().await?;
    let password = random_password();
    let password_hash = hasher
        .hash(&check_new_password(
            "password",
            &password,
            &[email, display_name],
        )?)
        .await?;
    let accepted = invitations::accept(
        member_db,
        &invitation.token,
        Acceptor::New {
            display_name: DisplayName::parse("name", display_name)?,
            password_hash,
        },
        now,
        &RequestMeta::system("demo-seed"),
    )
    .await?;
    let (user, _) =
        accepted.ok_or_else(|| format!("the invitation of {email} could not be accepted"))?;
    Ok((user, password))
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
