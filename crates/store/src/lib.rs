//! Paddock's PostgreSQL store: migrations, database roles, the tenant-scoped
//! transaction, and one repository module per aggregate.
//!
//! Two doors lead into the database and they never meet:
//! - [`Db`] is the server's pool, connected as the application role `paddock_app`.
//!   Its only way to tenant data is [`TenantTx`], built from an authenticated
//!   [`Principal`]; row-level security does the rest.
//! - [`admin::AdminDb`] is the owner/superuser connection used by admin commands
//!   (migrate, practice create, demo seed, doctor). The server never holds one.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod admin;
pub mod api_keys;
pub mod appointments;
pub mod audit;
mod auth_tx;
pub mod chart;
pub mod clients;
pub mod clinical;
pub mod credentials;
pub mod dashboard;
pub mod db;
pub mod doctor;
pub mod encounters;
pub mod error;
pub mod invitations;
pub mod members;
pub mod page;
pub mod passwords;
pub mod patients;
pub mod practices;
pub mod principal;
pub mod record_settings;
pub mod request;
pub mod retention;
pub mod roles;
pub mod schema;
pub mod search;
pub mod second_factor;
pub mod sessions;
pub mod signin;
pub mod staff;
pub mod tenant;
pub mod time_zone;
pub mod token;

pub use admin::AdminDb;
pub use db::Db;
pub use error::StoreError;
pub use principal::Principal;
pub use request::RequestMeta;
pub use tenant::TenantTx;

/// The database role that owns every table; migrations run as it.
pub const OWNER_ROLE: &str = "paddock_owner";
/// The role the server connects as: no superuser, no BYPASSRLS, owns nothing.
pub const APP_ROLE: &str = "paddock_app";

/// The schema migrations, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
