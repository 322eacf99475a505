//! `paddock doctor`: the compliance self-check of a live database.
//!
//! It reads the catalogue rather than a list kept by hand, so a table added
//! tomorrow without row-level security is reported without anyone remembering.

use crate::schema::{role_escapes, schema_status};
use crate::{APP_ROLE, AdminDb, StoreError};

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Tenancy or schema is broken: doctor fails.
    Error,
    /// Insecure configuration worth fixing: fails only with `--strict`.
    Warning,
}

/// One thing the doctor found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// How serious.
    pub severity: Severity,
    /// One line a person can act on.
    pub message: String,
}

impl Finding {
    fn error(message: String) -> Self {
        Self {
            severity: Severity::Error,
            message,
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level}: {}", self.message)
    }
}

#[derive(sqlx::FromRow)]
struct TableFacts {
    name: String,
    rls_enabled: bool,
    rls_forced: bool,
    policies: i64,
    tenant_policies: i64,
    has_practice_id: bool,
    practice_index: bool,
}

/// Every table in schema `public` except the migration ledger.
const TABLE_FACTS: &str = "
select c.relname::text as name,
       c.relrowsecurity as rls_enabled,
       c.relforcerowsecurity as rls_forced,
       (select count(*) from pg_policy p where p.polrelid = c.oid) as policies,
       (select count(*) from pg_policy p
         where p.polrelid = c.oid
           and pg_get_expr(p.polqual, p.polrelid) like '%practice_id = ( SELECT app_practice_id()%') as tenant_policies,
       exists (select 1 from pg_attribute a
                where a.attrelid = c.oid and a.attname = 'practice_id' and not a.attisdropped) as has_practice_id,
       exists (select 1 from pg_index i
                join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
               where i.indrelid = c.oid and a.attname = 'practice_id') as practice_index
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
 where n.nspname = 'public' and c.relkind in ('r', 'p') and c.relname <> '_sqlx_migrations'
 order by c.relname";

/// Runs every check; an empty list means the database is sound.
pub async fn examine(admin: &AdminDb) -> Result<Vec<Finding>, StoreError> {
    let mut conn = admin.pool().acquire().await?;
    let mut findings = Vec::new();

    let status = schema_status(&mut conn).await?;
    if !status.is_current() {
        findings.push(Finding::error(status.to_string()));
    }

    let tables: Vec<TableFacts> = sqlx::query_as(TABLE_FACTS).fetch_all(&mut *conn).await?;
    for t in &tables {
        let name = &t.name;
        if !t.rls_enabled {
            findings.push(Finding::error(format!(
                "table {name}: row-level security is not enabled"
            )));
        }
        if !t.rls_forced {
            findings.push(Finding::error(format!(
                "table {name}: row-level security is not forced"
            )));
        }
        if t.policies == 0 {
            findings.push(Finding::error(format!(
                "table {name}: has no row-level security policy"
            )));
        }
        if t.has_practice_id {
            if t.tenant_policies == 0 {
                findings.push(Finding::error(format!(
                    "table {name}: no policy restricts practice_id to app_practice_id()"
                )));
            }
            if !t.practice_index {
                findings.push(Finding::error(format!(
                    "table {name}: no index led by practice_id"
                )));
            }
        }
    }

    for escape in role_escapes(&mut conn, APP_ROLE).await? {
        findings.push(Finding::error(escape));
    }

    // Only a superuser may read pg_authid; an owner connection skips this warning.
    let superuser: bool =
        sqlx::query_scalar("select rolsuper from pg_roles where rolname = current_user")
            .fetch_one(&mut *conn)
            .await?;
    let no_password: Option<bool> = if superuser {
        sqlx::query_scalar("select rolpassword is null from pg_authid where rolname = $1")
            .bind(APP_ROLE)
            .fetch_optional(&mut *conn)
            .await?
    } else {
        None
    };
    if no_password == Some(true) {
        findings.push(Finding {
            severity: Severity::Warning,
            message: format!(
                "role {APP_ROLE} has no password: safe only over a local socket or with peer/cert authentication"
            ),
        });
    }
    Ok(findings)
}
