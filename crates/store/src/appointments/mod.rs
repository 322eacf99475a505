//! The calendar: bookings (double booking refused by the database, not by a check
//! that races) and what they can name besides a patient: resources (rooms, tables,
//! equipment, kennels) and the clinicians who can be booked.

pub mod bookings;
pub mod resources;
