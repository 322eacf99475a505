//! Paddock's PostgreSQL store: migrations, database roles, the tenant-scoped
//! transaction, and the repositories, grouped by area as the web crate is
//! (`identity`, `staff`, `clinical`, `appointments`, `audit`), one module per aggregate.
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

// The tenancy core: connections, the tenant-scoped transaction and what every area
// shares (errors, pagination, request metadata, schema facts, retention).
pub mod admin;
pub mod db;
pub mod doctor;
pub mod error;
pub mod page;
pub mod request;
pub mod retention;
mod row;
pub mod schema;
pub mod tenant;

// The areas, named as in `paddock_web`. `dashboard` owns no table: it reads the
// other areas' rows for the home page's panels, so it is one module, not a folder.
pub mod appointments;
pub mod audit;
pub mod clinical;
pub mod dashboard;
pub mod identity;
pub mod staff;

pub use admin::AdminDb;
pub use db::Db;
pub use error::StoreError;
pub use identity::principal::Principal;
pub use request::RequestMeta;
pub use tenant::TenantTx;

/// The database role that owns every table; migrations run as it.
pub const OWNER_ROLE: &str = "paddock_owner";
/// The role the server connects as: no superuser, no BYPASSRLS, owns nothing.
pub const APP_ROLE: &str = "paddock_app";

/// The schema migrations, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
