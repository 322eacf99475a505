//! Audit: the practice's audit trail (list, filtered and paginated; verification of its
//! hash chain) over the API in `api.rs` and as the `/audit` page in `pages.rs` with its
//! template in `views.rs`; both parse and fetch through `service.rs`.

mod api;
mod pages;
mod service;
mod views;

pub use api::router as api;
pub use pages::pages;
