//! A fresh database for every test, cloned from a migrated template.
//!
//! The server given by `DATABASE_URL` (a superuser or owner connection) is used if
//! set; otherwise one private cluster is started for this process (and stopped by
//! its guardian when the process exits). The template is migrated once per cluster
//! and per set of migrations, under an advisory lock so parallel test processes
//! share it. Tests reach data as the application role `paddock_app`: the admin
//! handles exist only to build the world and to sabotage the schema on purpose.
#![allow(clippy::expect_used, clippy::panic)]

use paddock_store::{APP_ROLE, AdminDb, Db, MIGRATOR, OWNER_ROLE};
use sqlx::{Connection, Executor, PgConnection};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Mutex, OnceLock};
use url::Url;

/// One test's database; dropped (with its connections) when the value is dropped.
#[derive(Debug)]
pub struct TestDb {
    name: String,
    server: Url,
}

/// The admin URL of the server tests run against.
fn server_url() -> Url {
    static CLUSTER: OnceLock<Mutex<Option<pgcluster::Cluster>>> = OnceLock::new();
    let raw = match std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) {
        Some(url) => url,
        None => {
            let slot = CLUSTER.get_or_init(|| {
                let dir = std::env::temp_dir().join(format!(
                    "paddock-test-{}-{}",
                    std::process::id(),
                    pgcluster::random_hex()
                ));
                let cluster = pgcluster::Cluster::start(&dir)
                    .expect("start a private PostgreSQL cluster for tests");
                Mutex::new(Some(cluster))
            });
            let guard = slot.lock().expect("cluster lock");
            guard
                .as_ref()
                .expect("cluster running")
                .admin_url("postgres")
        }
    };
    Url::parse(&raw).expect("DATABASE_URL is a valid URL")
}

/// `server` pointed at `database`, optionally as `user`.
fn url_for(server: &Url, database: &str, user: Option<&str>) -> String {
    let mut url = server.clone();
    url.set_path(&format!("/{database}"));
    if let Some(user) = user {
        url.set_username(user).expect("URL takes a user name");
        url.set_password(None).expect("URL takes no password");
    }
    url.to_string()
}

/// The template's name changes whenever a migration does.
fn template_name() -> String {
    let mut hasher = DefaultHasher::new();
    for migration in MIGRATOR.iter() {
        migration.version.hash(&mut hasher);
        migration.checksum.hash(&mut hasher);
    }
    format!("paddock_tpl_{:016x}", hasher.finish())
}

async fn ensure_template(server: &Url) -> String {
    let template = template_name();
    let mut conn = PgConnection::connect(&url_for(server, "postgres", None))
        .await
        .expect("connect to the test server as admin");
    sqlx::query("select pg_advisory_lock(7300437)")
        .execute(&mut conn)
        .await
        .expect("template lock");
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(&template)
            .fetch_one(&mut conn)
            .await
            .expect("look for template");
    if !exists {
        let building = format!("{template}_build");
        conn.execute(format!("drop database if exists {building} with (force)").as_str())
            .await
            .expect("drop stale template build");
        conn.execute(format!("create database {building}").as_str())
            .await
            .expect("create template");
        let admin = AdminDb::connect(&url_for(server, &building, None))
            .await
            .expect("connect to template");
        admin.migrate().await.expect("migrate template");
        admin.close().await;
        conn.execute(format!("alter database {building} rename to {template}").as_str())
            .await
            .expect("publish template");
    }
    sqlx::query("select pg_advisory_unlock(7300437)")
        .execute(&mut conn)
        .await
        .expect("template unlock");
    conn.close().await.ok();
    template
}

impl TestDb {
    /// A new, migrated, empty database of its own.
    pub async fn new() -> TestDb {
        let server = server_url();
        let template = ensure_template(&server).await;
        Self::create(server, &format!("template {template}")).await
    }

    /// A new database with nothing in it, not even the migrations (for `paddock migrate`).
    pub async fn empty() -> TestDb {
        Self::create(server_url(), "").await
    }

    async fn create(server: Url, options: &str) -> TestDb {
        let name = format!("paddock_t_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&url_for(&server, "postgres", None))
            .await
            .expect("connect as admin");
        conn.execute(format!("create database {name} {options}").as_str())
            .await
            .expect("create the test database");
        conn.close().await.ok();
        TestDb { name, server }
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Admin (owner or superuser) URL of this database: `PADDOCK_ADMIN_DATABASE_URL`.
    pub fn admin_url(&self) -> String {
        url_for(&self.server, &self.name, None)
    }

    /// Application-role URL of this database: `DATABASE_URL` for `paddock serve`.
    pub fn app_url(&self) -> String {
        url_for(&self.server, &self.name, Some(APP_ROLE))
    }

    /// The admin handle, for admin commands (practice creation, doctor).
    pub async fn admin(&self) -> AdminDb {
        AdminDb::connect(&self.admin_url())
            .await
            .expect("admin connection")
    }

    /// The application's handle, connected as `paddock_app`.
    pub async fn app(&self) -> Db {
        Db::connect(&self.app_url(), 5)
            .await
            .expect("app-role connection")
    }

    /// A bare `paddock_app` connection with no tenant settings at all.
    pub async fn app_conn(&self) -> PgConnection {
        PgConnection::connect(&self.app_url())
            .await
            .expect("app-role connection")
    }

    /// A connection acting as the owner role, for tests that damage the schema on purpose.
    pub async fn owner_conn(&self) -> PgConnection {
        let mut conn = PgConnection::connect(&self.admin_url())
            .await
            .expect("admin connection");
        conn.execute(format!("set role {OWNER_ROLE}").as_str())
            .await
            .expect("act as owner");
        conn
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let url = url_for(&self.server, "postgres", None);
        let name = self.name.clone();
        // Drop runs inside the test's runtime; use a thread with a runtime of its own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&url).await.ok()?;
                conn.execute(format!("drop database if exists {name} with (force)").as_str())
                    .await
                    .ok()?;
                conn.close().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("note: could not drop test database {}", self.name);
        }
    }
}
