//! The clinical record: clients (owners) and patients (animals), encounters with their
//! notes and addenda, the rest of the record (vitals, problems, allergies,
//! prescriptions, vaccinations), the audited chart readers, and what a search box
//! query means. Writes need `records.write`; every read of the record goes through
//! [`chart`] or [`encounters`], which audit it.

pub mod chart;
pub mod clients;
pub mod encounters;
pub mod patients;
pub mod record;
pub mod search;

use crate::{StoreError, TenantTx};

/// Runs `work` in a savepoint of `tx`. When it fails, only its own changes (and their
/// audit rows) are undone and the transaction stays usable, so a page that refuses a
/// form can still read, in the same transaction, the record it shows beside the
/// message (a refusal raised by the database aborts the statement, and without the
/// savepoint every later statement of the transaction). The outer error is the
/// savepoint's own failure; the inner one is `work`'s.
pub async fn attempt<T>(
    tx: &mut TenantTx,
    work: impl AsyncFnOnce(&mut TenantTx) -> Result<T, StoreError>,
) -> Result<Result<T, StoreError>, StoreError> {
    sqlx::query("savepoint clinical_attempt")
        .execute(tx.conn())
        .await?;
    match work(tx).await {
        Ok(done) => {
            sqlx::query("release savepoint clinical_attempt")
                .execute(tx.conn())
                .await?;
            Ok(Ok(done))
        }
        Err(refused) => {
            sqlx::query("rollback to savepoint clinical_attempt")
                .execute(tx.conn())
                .await?;
            Ok(Err(refused))
        }
    }
}
