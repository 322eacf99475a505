//! The server's connection pool, as the application role.

use crate::schema::{self, SchemaStatus};
use crate::tenant::{Actor, TenantTx};
use crate::{Principal, RequestMeta, StoreError};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

/// Connections of the pool: open ones, idle ones among them, and the most allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// Connections open (idle or in use).
    pub open: u32,
    /// Open connections waiting for a request.
    pub idle: u32,
    /// The pool's ceiling.
    pub max: u32,
}

/// The application's database handle. Tenant data is reachable only through
/// [`Db::begin`], which scopes a transaction to an authenticated principal.
#[derive(Clone, Debug)]
pub struct Db {
    pool: PgPool,
}

impl Db {
    /// Connects to `url` (expected to be the `paddock_app` role).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        Self::connect_with(options, max_connections).await
    }

    /// Connects with explicit options.
    pub async fn connect_with(
        options: PgConnectOptions,
        max_connections: u32,
    ) -> Result<Self, StoreError> {
        let pool_options = PgPoolOptions::new().max_connections(max_connections);
        Self::connect_with_pool(pool_options, options).await
    }

    /// Connects with explicit pool options as well (tests hook acquisitions to count
    /// the transactions a request opens).
    pub async fn connect_with_pool(
        pool_options: PgPoolOptions,
        options: PgConnectOptions,
    ) -> Result<Self, StoreError> {
        let pool = pool_options
            .acquire_timeout(Duration::from_secs(5))
            // No ping before each checkout: it is one more round trip on every request
            // (a fifth of an authenticated GET's). A connection the server dropped
            // fails its request with a database error (503) and leaves the pool, and
            // idle connections are closed after the pool's idle timeout anyway.
            .test_before_acquire(false)
            .connect_with(options.application_name("paddock"))
            .await?;
        Ok(Self { pool })
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// How the pool stands now (for the metrics listener).
    pub fn pool_status(&self) -> PoolStatus {
        let open = self.pool.size();
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(open);
        PoolStatus {
            open,
            idle,
            max: self.pool.options().get_max_connections(),
        }
    }

    /// Opens a transaction scoped to the principal's practice, acting as the principal.
    pub async fn begin(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
    ) -> Result<TenantTx, StoreError> {
        TenantTx::begin(
            &self.pool,
            principal.practice_id(),
            Actor::Member(principal.clone()),
            meta,
        )
        .await
    }

    /// Reasons the connected role could escape row-level security; empty when safe.
    pub async fn role_escapes(&self) -> Result<Vec<String>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        let role: String = sqlx::query_scalar("select current_user::text")
            .fetch_one(&mut *conn)
            .await?;
        schema::role_escapes(&mut conn, &role).await
    }

    /// Refuses ([`StoreError::UnsafeRole`]) unless the connected role is safe to serve as.
    pub async fn ensure_safe_role(&self) -> Result<(), StoreError> {
        let escapes = self.role_escapes().await?;
        if escapes.is_empty() {
            Ok(())
        } else {
            Err(StoreError::UnsafeRole(escapes))
        }
    }

    /// Whether the database answers and its migrations are those of this build.
    pub async fn schema_status(&self) -> Result<SchemaStatus, StoreError> {
        let mut conn = self.pool.acquire().await?;
        schema::schema_status(&mut conn).await
    }

    /// Closes every connection (graceful shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
