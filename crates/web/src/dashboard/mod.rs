//! The home page: the dashboard a member opens first. For clinicians today's
//! appointments, their open encounters and when they lock, and vaccinations falling
//! due; for the front desk today's arrivals and no-shows; for admins locked sign-ins,
//! recent role changes and the audit chain's status. Each panel appears only with the
//! permission it needs (the store decides, in `paddock_store::dashboard`), and the
//! whole page is read in the request's one transaction. The page in `pages.rs`, its
//! template's view structs in `views.rs`; it has no API routes.

mod pages;
mod views;

pub use pages::pages;
