//! Paddock's integration tests: one binary (fast to link), one module per area.
//!
//! Every test gets its own database from `paddock-test-db` and reaches tenant data
//! as the application role, exactly as the server does.

mod audit_actions;
mod audit_api;
mod audit_chain;
mod audit_cli;
mod auth;
mod browser;
mod cli;
mod clinic;
mod clinic_pages;
mod clinical_api;
mod clinical_store;
mod cross_tenant;
mod dashboard;
mod doctor;
mod error_pages;
mod http;
mod isolation;
mod malformed_input;
mod metrics;
mod passwords;
mod pg_tls;
mod principal;
mod process;
mod rate_limits;
mod records_clock;
mod request_context;
mod retention;
mod roles;
mod schema;
mod search_plan;
mod second_factor;
mod serve;
mod settings;
mod staff;
mod support;
mod time_zone;
mod tls;
mod world;
