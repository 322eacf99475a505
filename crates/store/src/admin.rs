//! The admin connection (owner or superuser) used by `migrate`, `practice create`,
//! `demo seed` and `doctor`. The server never holds one.

use crate::schema::{self, SchemaStatus};
use crate::tenant::{Actor, TenantTx};
use crate::{APP_ROLE, MIGRATOR, OWNER_ROLE, RequestMeta, StoreError};
use paddock_domain::PracticeId;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};
use std::str::FromStr;

/// A connection with owner or superuser rights, for admin commands only.
#[derive(Clone, Debug)]
pub struct AdminDb {
    pool: PgPool,
}

impl AdminDb {
    /// Connects to `url` (`PADDOCK_ADMIN_DATABASE_URL`).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(PgConnectOptions::from_str(url)?).await
    }

    /// Connects with explicit options.
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect_with(options.application_name("paddock-admin"))
            .await?;
        Ok(Self { pool })
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Creates the roles if missing, then applies pending migrations as the owner role.
    ///
    /// Tables are created while `SET ROLE paddock_owner` is in force, so the owner role
    /// owns them whoever runs the command; the app role gets only the grants written in
    /// the migrations (plus read access to the migration ledger, for `/readyz`).
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let mut conn = self.pool.acquire().await?.detach();
        let result = migrate_on(&mut conn).await;
        // The connection had SET ROLE; close it rather than return it to the pool.
        let _ = conn.close().await;
        result
    }

    /// Compares the applied migrations with this build's.
    pub async fn schema_status(&self) -> Result<SchemaStatus, StoreError> {
        let mut conn = self.pool.acquire().await?;
        schema::schema_status(&mut conn).await
    }

    /// A transaction scoped to `practice_id` for an admin command (acting as the system).
    ///
    /// The admin connection may be a superuser's, which policies do not bind; the
    /// transaction acts as the owner role, which the forced policies do bind, so every
    /// statement of an admin command stays inside its practice as the server's do.
    pub async fn begin_system(&self, practice_id: PracticeId) -> Result<TenantTx, StoreError> {
        let mut tx = TenantTx::begin(
            &self.pool,
            practice_id,
            Actor::System,
            &RequestMeta::system("admin"),
        )
        .await?;
        sqlx::query(&format!("set local role {OWNER_ROLE}"))
            .execute(tx.conn())
            .await?;
        Ok(tx)
    }

    /// Closes the connections.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

async fn migrate_on(conn: &mut PgConnection) -> Result<(), StoreError> {
    ensure_roles(conn).await?;
    // PostgreSQL 15 no longer lets PUBLIC create in schema public; make sure of it
    // here too, so the app role can never create a table it would own. The
    // extension btree_gist (exclusion constraints on uuid) is a trusted one the admin
    // connection may create; the owner role, which runs the migrations, may not.
    sqlx::raw_sql(&format!(
        "grant usage, create on schema public to {OWNER_ROLE};
         grant usage on schema public to {APP_ROLE};
         revoke create on schema public from public;
         revoke create on schema public from {APP_ROLE};
         create extension if not exists btree_gist;"
    ))
    .execute(&mut *conn)
    .await?;
    sqlx::raw_sql(&format!("set role {OWNER_ROLE}"))
        .execute(&mut *conn)
        .await?;
    MIGRATOR.run(&mut *conn).await?;
    sqlx::raw_sql(&format!(
        "grant select on _sqlx_migrations to {APP_ROLE}; reset role"
    ))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Creates `paddock_owner` (NOLOGIN) and `paddock_app` (LOGIN, no superuser, no
/// BYPASSRLS) if missing, and lets the connected admin act as the owner.
async fn ensure_roles(conn: &mut PgConnection) -> Result<(), StoreError> {
    sqlx::raw_sql(&format!(
        "do $$
         begin
             -- Roles are cluster-wide: serialise concurrent migrations of several databases.
             perform pg_advisory_xact_lock(7300438);
             if not exists (select from pg_roles where rolname = '{OWNER_ROLE}') then
                 create role {OWNER_ROLE} nologin;
             end if;
             if not exists (select from pg_roles where rolname = '{APP_ROLE}') then
                 create role {APP_ROLE} login nosuperuser nobypassrls nocreatedb nocreaterole noinherit;
             end if;
             if not pg_has_role(current_user, '{OWNER_ROLE}', 'MEMBER') then
                 execute format('grant {OWNER_ROLE} to %I', current_user);
             end if;
         end
         $$"
    ))
    .execute(conn)
    .await?;
    Ok(())
}
