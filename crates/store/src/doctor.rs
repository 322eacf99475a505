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
    audited: bool,
    uncovered: Vec<String>,
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
               where i.indrelid = c.oid and a.attname = 'practice_id') as practice_index,
       -- An enabled AFTER INSERT OR UPDATE OR DELETE ... FOR EACH ROW trigger whose
       -- function audit_install() generated (its comment lists the columns it covers).
       audit.tgfoid is not null as audited,
       coalesce((select array_agg(a.attname::text order by a.attnum) from pg_attribute a
                  where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
                    and not a.attname::text = any(string_to_array(
                            split_part(obj_description(audit.tgfoid, 'pg_proc'), 'covers: ', 2), ','))),
                '{}') as uncovered
  from pg_class c
  join pg_namespace n on n.oid = c.relnamespace
  left join lateral (select t.tgfoid from pg_trigger t
                      where t.tgrelid = c.oid and t.tgenabled in ('O', 'A')
                        and (t.tgtype & 1) = 1 and (t.tgtype & 66) = 0 and (t.tgtype & 28) = 28
                        and obj_description(t.tgfoid, 'pg_proc') like 'paddock audit trigger;%'
                      limit 1) audit on true
 where n.nspname = 'public' and c.relkind in ('r', 'p') and c.relname <> '_sqlx_migrations'
 order by c.relname";

/// The audit table's append-only guards: row triggers refusing UPDATE and DELETE and a
/// statement trigger refusing TRUNCATE, all enabled.
const AUDIT_GUARDS: &str = "
select exists (select 1 from pg_trigger t
                where t.tgrelid = to_regclass('audit_events') and t.tgfoid = to_regproc('refuse_audit_change')
                  and t.tgenabled in ('O', 'A') and (t.tgtype & 1) = 1 and (t.tgtype & 2) = 2
                  and (t.tgtype & 24) = 24)
   and exists (select 1 from pg_trigger t
                where t.tgrelid = to_regclass('audit_events') and t.tgfoid = to_regproc('refuse_audit_change')
                  and t.tgenabled in ('O', 'A') and (t.tgtype & 32) = 32)";

/// Tables whose rows are the audit trail itself, not recorded by it.
const AUDIT_TABLES: &[&str] = &["audit_events"];

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
        let tenant = t.has_practice_id || name == "practices";
        if tenant && !AUDIT_TABLES.contains(&name.as_str()) {
            if !t.audited {
                findings.push(Finding::error(format!(
                    "table {name}: no enabled audit trigger (create it with select audit_install(...))"
                )));
            } else if !t.uncovered.is_empty() {
                findings.push(Finding::error(format!(
                    "table {name}: column(s) {} added after its audit trigger was generated are not recorded (re-run audit_install for it)",
                    t.uncovered.join(", ")
                )));
            }
        }
    }
    let guarded: bool = sqlx::query_scalar(AUDIT_GUARDS)
        .fetch_one(&mut *conn)
        .await?;
    if !guarded {
        findings.push(Finding::error(
            "table audit_events: the append-only triggers (refuse_audit_change on update, delete and truncate) are missing or disabled".to_owned(),
        ));
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

    // This connection itself: encrypted, or on a Unix socket (no client address)?
    let (encrypted, local_socket): (bool, bool) = sqlx::query_as(
        "select coalesce((select ssl from pg_stat_ssl where pid = pg_backend_pid()), false),
                inet_client_addr() is null",
    )
    .fetch_one(&mut *conn)
    .await?;
    if !encrypted && !local_socket {
        findings.push(Finding {
            severity: Severity::Warning,
            message: "the connection to PostgreSQL is neither encrypted nor on a Unix socket: \
                      use sslmode=verify-full (with sslrootcert) in the connection URL"
                .to_owned(),
        });
    }
    Ok(findings)
}
