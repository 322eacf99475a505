//! Mail and SMS delivery for Paddock.
//!
//! * [`Mailer`] sends [`Email`]s either over SMTP (lettre, rustls with the
//!   aws-lc-rs provider) or, in development and tests, into an outbox
//!   directory as one `.eml` file per message ([`read_outbox`] reads them back).
//! * [`SmsSender`] is the SMS provider trait; [`SmsOutbox`] is the development
//!   and test provider that writes one JSON file per message.
//!
//! Message bodies may carry one-time codes or password-reset links, so they
//! never appear in errors, logs or `Debug` output.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

mod eml;
mod error;
mod files;
mod mail;
mod phone;
mod sms;

pub use eml::{OutboxMessage, read_outbox};
pub use error::NotifyError;
pub use mail::{DEFAULT_TIMEOUT, Email, Mailer, SmtpConfig, SmtpMailer};
pub use phone::PhoneNumber;
pub use sms::{BoxFuture, Sms, SmsOutbox, SmsSender, StoredSms};
