//! The tenant-scoped transaction: the only door to tenant tables.
//!
//! Beginning one sets `app.practice_id`, `app.actor_id`, `app.actor_role` and the
//! request's id, IP and user agent with `set_config(..., true)`, so the settings end
//! with the transaction and a pooled connection never carries one tenant's scope into
//! the next request. Row-level security policies read those settings; a query run
//! through a `TenantTx` can only ever see and write its own practice's rows, whatever
//! SQL it runs. The audit triggers read them too, to name who changed each row.

use crate::{Principal, RequestMeta, StoreError};
use paddock_domain::{Permission, PracticeId, UserId};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

/// Who is acting in a tenant transaction.
#[derive(Debug, Clone)]
pub enum Actor {
    /// An authenticated staff member.
    Member(Principal),
    /// An admin command or internal job (practice creation, seeding, authentication lookups).
    System,
}

/// A transaction scoped to one practice, opened for an actor.
pub struct TenantTx {
    tx: Transaction<'static, Postgres>,
    practice_id: PracticeId,
    actor: Actor,
    meta: RequestMeta,
}

impl std::fmt::Debug for TenantTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantTx")
            .field("practice_id", &self.practice_id)
            .field("actor", &self.actor)
            .finish_non_exhaustive()
    }
}

impl TenantTx {
    /// Opens a transaction on `pool` scoped to `practice_id`.
    pub(crate) async fn begin(
        pool: &PgPool,
        practice_id: PracticeId,
        actor: Actor,
        meta: &RequestMeta,
    ) -> Result<Self, StoreError> {
        let tx = pool.begin().await?;
        Self::scope(tx, practice_id, actor, meta).await
    }

    /// Like [`TenantTx::begin`], as a read-only REPEATABLE READ transaction: every
    /// statement sees the database as it was at its start (a long read, such as a
    /// chain verification, reads one consistent state and holds no locks for it).
    pub(crate) async fn begin_snapshot(
        pool: &PgPool,
        practice_id: PracticeId,
        actor: Actor,
        meta: &RequestMeta,
    ) -> Result<Self, StoreError> {
        let mut tx = pool.begin().await?;
        sqlx::query("set transaction isolation level repeatable read, read only")
            .execute(&mut *tx)
            .await?;
        Self::scope(tx, practice_id, actor, meta).await
    }

    /// Wraps a transaction whose settings were already set for `practice_id`, `actor`
    /// and `meta` in the statement that authenticated the request.
    pub(crate) fn scoped(
        tx: Transaction<'static, Postgres>,
        practice_id: PracticeId,
        actor: Actor,
        meta: &RequestMeta,
    ) -> Self {
        Self {
            tx,
            practice_id,
            actor,
            meta: meta.clone(),
        }
    }

    /// Scopes a freshly begun transaction to the practice, actor and request.
    async fn scope(
        mut tx: Transaction<'static, Postgres>,
        practice_id: PracticeId,
        actor: Actor,
        meta: &RequestMeta,
    ) -> Result<Self, StoreError> {
        let (actor_id, actor_role): (Option<UserId>, &str) = match &actor {
            Actor::Member(principal) => (Some(principal.user_id()), principal.role_name()),
            Actor::System => (None, ""),
        };
        sqlx::query(
            "select set_config('app.practice_id', $1, true),
                    set_config('app.actor_id', $2, true),
                    set_config('app.request_id', $3, true),
                    set_config('app.ip', $4, true),
                    set_config('app.user_agent', $5, true),
                    set_config('app.actor_role', $6, true)",
        )
        .bind(practice_id.to_string())
        .bind(actor_id.map(|id| id.to_string()).unwrap_or_default())
        .bind(&meta.request_id)
        .bind(meta.ip.map(|ip| ip.to_string()).unwrap_or_default())
        .bind(meta.user_agent.as_deref().unwrap_or_default())
        .bind(actor_role)
        .execute(&mut *tx)
        .await?;
        Ok(Self {
            tx,
            practice_id,
            actor,
            meta: meta.clone(),
        })
    }

    /// The practice this transaction is confined to.
    pub fn practice_id(&self) -> PracticeId {
        self.practice_id
    }

    /// Who is acting.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    /// The request this transaction serves.
    pub fn meta(&self) -> &RequestMeta {
        &self.meta
    }

    /// Refuses unless the actor holds `permission` (system actors hold all).
    pub fn require(&self, permission: Permission) -> Result<(), StoreError> {
        match &self.actor {
            Actor::Member(principal) => principal.require(permission),
            Actor::System => Ok(()),
        }
    }

    /// The connection, still inside this practice's scope: every statement run on it
    /// is filtered by row-level security for this practice.
    pub fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// Attributes the row changes of this system transaction to `user` in the audit
    /// trail (sign-in acts for the person signing in before they are a principal).
    pub(crate) async fn attribute_to(&mut self, user: UserId) -> Result<(), StoreError> {
        sqlx::query("select set_config('app.actor_id', $1, true)")
            .bind(user.to_string())
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Names an email whose user row this transaction may look up (sign-in, invitations,
    /// practice creation): identities are otherwise visible only to their practices.
    pub(crate) async fn allow_user_lookup(&mut self, email: &str) -> Result<(), StoreError> {
        sqlx::query("select set_config('app.user_email', $1, true)")
            .bind(email)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Commits the change.
    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }

    /// Abandons the change.
    pub async fn rollback(self) -> Result<(), StoreError> {
        self.tx.rollback().await?;
        Ok(())
    }

    /// Runs `work` in a savepoint. When it fails, only its own changes (and their
    /// audit rows) are undone and the transaction stays usable, so a page that refuses
    /// a form can still read, in the same transaction, what it shows beside the
    /// message (a refusal raised by the database aborts the statement, and without the
    /// savepoint every later statement of the transaction). The outer error is the
    /// savepoint's own failure; the inner one is `work`'s.
    pub async fn attempt<T>(
        &mut self,
        work: impl AsyncFnOnce(&mut TenantTx) -> Result<T, StoreError>,
    ) -> Result<Result<T, StoreError>, StoreError> {
        sqlx::query("savepoint attempt")
            .execute(self.conn())
            .await?;
        match work(self).await {
            Ok(done) => {
                sqlx::query("release savepoint attempt")
                    .execute(self.conn())
                    .await?;
                Ok(Ok(done))
            }
            Err(refused) => {
                sqlx::query("rollback to savepoint attempt")
                    .execute(self.conn())
                    .await?;
                Ok(Err(refused))
            }
        }
    }
}
