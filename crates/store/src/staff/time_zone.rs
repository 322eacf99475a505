//! The practice's time zone setting (`practice_settings.time_zone`): the IANA zone its
//! pages show times in and its calendar and record clock cut days by. Every member may
//! read it (each page needs it); only `settings.manage` may change it, and the change
//! is audited by the practice_settings trigger in the same transaction.

use crate::{StoreError, TenantTx};
use paddock_domain::{Permission, PracticeZone};

/// The practice's zone (UTC until an admin sets one).
pub async fn get(tx: &mut TenantTx) -> Result<PracticeZone, StoreError> {
    let name: String = sqlx::query_scalar("select time_zone from practice_settings")
        .fetch_optional(tx.conn())
        .await?
        .ok_or(StoreError::NotFound("practice settings"))?;
    Ok(stored(&name))
}

/// Sets the practice's zone (`settings.manage`); returns it as stored.
pub async fn set(tx: &mut TenantTx, zone: PracticeZone) -> Result<PracticeZone, StoreError> {
    tx.require(Permission::SettingsManage)?;
    let name: String =
        sqlx::query_scalar("update practice_settings set time_zone = $1 returning time_zone")
            .bind(zone.name())
            .fetch_optional(tx.conn())
            .await?
            .ok_or(StoreError::NotFound("practice settings"))?;
    Ok(stored(&name))
}

/// Reads a stored name. Only names [`PracticeZone::parse`] accepted are written through
/// the store; one written by hand that this build's tz database does not know falls
/// back to UTC (logged), so every page still renders rather than failing with a 500.
pub(crate) fn stored(name: &str) -> PracticeZone {
    PracticeZone::parse("time_zone", name).unwrap_or_else(|_| {
        tracing::warn!(time_zone = name, "unknown practice time zone; showing UTC");
        PracticeZone::UTC
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_name_reads_back_as_its_zone() {
        assert_eq!(stored("Europe/London").name(), "Europe/London");
        assert_eq!(stored("UTC"), PracticeZone::UTC);
    }

    #[test]
    fn a_stored_name_the_tz_database_lacks_reads_as_utc() {
        assert_eq!(stored("Atlantis/Capital"), PracticeZone::UTC);
    }
}
