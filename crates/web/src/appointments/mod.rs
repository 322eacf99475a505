//! Appointments: the appointment book (double bookings are refused by the database);
//! the API routes in `api.rs`, the calendar and booking pages in `pages.rs` with their
//! templates in `views.rs`.

mod api;
mod pages;
mod views;

pub use api::router as api;
pub use pages::pages;
