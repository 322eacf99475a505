//! One module per resource, each exposing `router()`.

pub mod api_keys;
pub mod appointments;
pub mod audit;
pub mod auth;
pub mod clients;
pub mod health;
pub mod input;
pub mod invitations;
pub mod me;
pub mod passwords;
pub mod patients;
pub mod records;
pub mod second_factor;
pub mod settings;
pub mod staff;

/// Runs `work` in one transaction of the caller's practice and commits it; a failure
/// rolls everything back (the transaction is dropped uncommitted).
pub async fn in_practice<T>(
    state: &crate::AppState,
    auth: &crate::auth::Auth,
    meta: &paddock_store::RequestMeta,
    work: impl AsyncFnOnce(&mut paddock_store::TenantTx) -> Result<T, paddock_store::StoreError>,
) -> Result<T, crate::AppError> {
    let mut tx = state.db.begin(&auth.principal, meta).await?;
    let done = work(&mut tx).await?;
    tx.commit().await?;
    Ok(done)
}
