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
