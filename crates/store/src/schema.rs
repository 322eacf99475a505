//! Facts about the live schema: are migrations current, and is a role safe to run as.

use crate::{MIGRATOR, OWNER_ROLE, StoreError};
use sqlx::PgConnection;
use std::collections::BTreeMap;

/// How the database's applied migrations compare with the ones this binary carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaStatus {
    /// Every migration applied, none unknown, checksums equal.
    Current,
    /// These versions are not applied yet (`paddock migrate`).
    Pending(Vec<i64>),
    /// Applied migrations this binary does not know, or whose text changed: a newer
    /// or different build migrated this database.
    Diverged(Vec<i64>),
}

impl SchemaStatus {
    /// Whether the schema is exactly what this binary expects.
    pub fn is_current(&self) -> bool {
        matches!(self, SchemaStatus::Current)
    }
}

impl std::fmt::Display for SchemaStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SchemaStatus::Current => f.write_str("migrations are current"),
            SchemaStatus::Pending(v) => {
                write!(f, "migrations not applied: {v:?} (run `paddock migrate`)")
            }
            SchemaStatus::Diverged(v) => write!(
                f,
                "migrations applied that this build does not know or that changed: {v:?}"
            ),
        }
    }
}

/// Compares `_sqlx_migrations` with the embedded migrations.
pub async fn schema_status(conn: &mut PgConnection) -> Result<SchemaStatus, StoreError> {
    let exists: bool = sqlx::query_scalar("select to_regclass('_sqlx_migrations') is not null")
        .fetch_one(&mut *conn)
        .await?;
    let applied: BTreeMap<i64, Vec<u8>> = if exists {
        sqlx::query_as::<_, (i64, Vec<u8>)>(
            "select version, checksum from _sqlx_migrations where success order by version",
        )
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect()
    } else {
        BTreeMap::new()
    };
    let known: BTreeMap<i64, &[u8]> = MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| (m.version, m.checksum.as_ref()))
        .collect();
    let diverged: Vec<i64> = applied
        .iter()
        .filter(|(v, sum)| known.get(v).is_none_or(|k| *k != sum.as_slice()))
        .map(|(v, _)| *v)
        .collect();
    if !diverged.is_empty() {
        return Ok(SchemaStatus::Diverged(diverged));
    }
    let pending: Vec<i64> = known
        .keys()
        .filter(|v| !applied.contains_key(v))
        .copied()
        .collect();
    if pending.is_empty() {
        Ok(SchemaStatus::Current)
    } else {
        Ok(SchemaStatus::Pending(pending))
    }
}

/// Reasons `role` could escape row-level security; empty when it is safe to serve as.
///
/// A role is unsafe if it is superuser or BYPASSRLS (policies skipped), owns any
/// table (could disable RLS), is a member of the owner role (could become the owner),
/// or may create objects in the schema (could create a table it owns).
pub async fn role_escapes(conn: &mut PgConnection, role: &str) -> Result<Vec<String>, StoreError> {
    let row: Option<(bool, bool, i64, bool, bool)> = sqlx::query_as(
        "select r.rolsuper, r.rolbypassrls,
                (select count(*) from pg_class c
                   join pg_namespace n on n.oid = c.relnamespace
                  where c.relowner = r.oid
                    and n.nspname not in ('pg_catalog', 'information_schema')
                    and n.nspname not like 'pg\\_toast%'),
                exists (select 1 from pg_roles o
                         where o.rolname = $2 and pg_has_role(r.oid, o.oid, 'MEMBER')),
                has_schema_privilege(r.oid, 'public', 'CREATE')
           from pg_roles r where r.rolname = $1",
    )
    .bind(role)
    .bind(OWNER_ROLE)
    .fetch_optional(&mut *conn)
    .await?;
    let Some((superuser, bypass, owned, owner_member, can_create)) = row else {
        return Ok(vec![format!(
            "role {role} does not exist (run `paddock migrate`)"
        )]);
    };
    let mut escapes = Vec::new();
    if superuser {
        escapes.push(format!(
            "role {role} is a superuser, which bypasses row-level security"
        ));
    }
    if bypass {
        escapes.push(format!("role {role} has BYPASSRLS"));
    }
    if owned > 0 {
        escapes.push(format!(
            "role {role} owns {owned} relation(s) and could disable row-level security"
        ));
    }
    if owner_member && !superuser {
        escapes.push(format!("role {role} is a member of {OWNER_ROLE}"));
    }
    if can_create && !superuser {
        escapes.push(format!("role {role} may create objects in schema public"));
    }
    Ok(escapes)
}
