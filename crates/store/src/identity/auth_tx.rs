//! The transaction authentication runs in, before any practice is in scope.
//!
//! It can only see rows whose policies admit the credential it names
//! (`app.token_hash`, `app.user_email`, `app.auth_user_id`), and it is crate-private:
//! the rest of the server reaches tenant data through `TenantTx` alone.

use crate::{RequestMeta, StoreError};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

pub(crate) struct AuthTx {
    tx: Transaction<'static, Postgres>,
}

impl AuthTx {
    pub(crate) async fn begin(pool: &PgPool, meta: &RequestMeta) -> Result<Self, StoreError> {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "select set_config('app.request_id', $1, true),
                    set_config('app.ip', $2, true),
                    set_config('app.user_agent', $3, true)",
        )
        .bind(&meta.request_id)
        .bind(meta.ip.map(|ip| ip.to_string()).unwrap_or_default())
        .bind(meta.user_agent.as_deref().unwrap_or_default())
        .execute(&mut *tx)
        .await?;
        Ok(Self { tx })
    }

    /// Sets a transaction-local `app.*` setting.
    pub(crate) async fn set(&mut self, name: &str, value: &str) -> Result<(), StoreError> {
        sqlx::query("select set_config($1, $2, true)")
            .bind(name)
            .bind(value)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    pub(crate) fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    pub(crate) async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
}
