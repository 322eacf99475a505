//! SMS: the provider trait and the development/test outbox provider.

use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::files::{list_sorted, write_private};
use crate::{NotifyError, PhoneNumber};

/// A boxed, `Send` future (keeps [`SmsSender`] usable as `dyn SmsSender`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A text message to a phone.
#[derive(Clone, PartialEq, Eq)]
pub struct Sms {
    /// The recipient.
    pub to: PhoneNumber,
    /// The message text (may hold a one-time code: never logged or shown in `Debug`).
    pub text: String,
}

impl Sms {
    /// Builds an SMS, validating the phone number.
    pub fn new(to: &str, text: impl Into<String>) -> Result<Self, NotifyError> {
        Ok(Sms {
            to: PhoneNumber::parse(to)?,
            text: text.into(),
        })
    }
}

impl fmt::Debug for Sms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sms")
            .field("to", &self.to)
            .field(
                "text",
                &format_args!("<redacted, {} bytes>", self.text.len()),
            )
            .finish()
    }
}

/// An SMS provider (a real one plugs in here later).
pub trait SmsSender: Send + Sync {
    /// Sends one message.
    fn send<'a>(&'a self, sms: &'a Sms) -> BoxFuture<'a, Result<(), NotifyError>>;
}

/// Development/test provider: one JSON file per message in `dir`
/// (`{"to","text","sent_at"}`), mode 0600, in a 0700 directory created on first use.
#[derive(Debug, Clone)]
pub struct SmsOutbox {
    dir: PathBuf,
}

/// An SMS read back from an [`SmsOutbox`].
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSms {
    /// The file it was read from.
    pub path: PathBuf,
    /// The recipient.
    pub to: PhoneNumber,
    /// The message text.
    pub text: String,
    /// When it was written.
    pub sent_at: DateTime<Utc>,
}

impl fmt::Debug for StoredSms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSms")
            .field("path", &self.path)
            .field("to", &self.to)
            .field(
                "text",
                &format_args!("<redacted, {} bytes>", self.text.len()),
            )
            .field("sent_at", &self.sent_at)
            .finish()
    }
}

#[derive(Serialize, Deserialize)]
struct SmsFile {
    to: PhoneNumber,
    text: String,
    sent_at: DateTime<Utc>,
}

impl SmsOutbox {
    /// An outbox writing into `dir` (e.g. `$PADDOCK_DATA_DIR/outbox/sms`).
    pub fn new(dir: PathBuf) -> Self {
        SmsOutbox { dir }
    }

    /// The directory messages are written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The messages written so far, oldest first (for tests and the demo).
    pub fn messages(&self) -> Result<Vec<StoredSms>, NotifyError> {
        list_sorted(&self.dir, "json")?
            .into_iter()
            .map(|path| {
                let bytes = std::fs::read(&path).map_err(|e| NotifyError::io(&path, e))?;
                let file: SmsFile = serde_json::from_slice(&bytes)
                    .map_err(|_| NotifyError::MalformedSms { path: path.clone() })?;
                Ok(StoredSms {
                    path,
                    to: file.to,
                    text: file.text,
                    sent_at: file.sent_at,
                })
            })
            .collect()
    }

    async fn write(&self, sms: &Sms) -> Result<(), NotifyError> {
        let file = SmsFile {
            to: sms.to.clone(),
            text: sms.text.clone(),
            sent_at: Utc::now(),
        };
        // Serialising plain strings and a timestamp cannot fail; map it anyway
        // (without serde_json's message, which could quote the text).
        let json = serde_json::to_vec_pretty(&file).map_err(|_| NotifyError::MalformedSms {
            path: self.dir.clone(),
        })?;
        let path = write_private(&self.dir, "json", &json).await?;
        tracing::info!(path = %path.display(), "SMS written to outbox");
        Ok(())
    }
}

impl SmsSender for SmsOutbox {
    fn send<'a>(&'a self, sms: &'a Sms) -> BoxFuture<'a, Result<(), NotifyError>> {
        Box::pin(self.write(sms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trip_oldest_first_private_files() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("outbox").join("sms");
        let outbox = SmsOutbox::new(dir.clone());
        assert!(outbox.messages().unwrap().is_empty(), "missing dir = empty");

        let sender: &dyn SmsSender = &outbox;
        for i in 0..3 {
            let sms = Sms::new("+44 7700 900123", format!("Your code is 12345{i}")).unwrap();
            sender.send(&sms).await.unwrap();
        }
        let messages = outbox.messages().unwrap();
        let texts: Vec<_> = messages.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(
            texts,
            [
                "Your code is 123450",
                "Your code is 123451",
                "Your code is 123452"
            ]
        );
        assert!(messages.iter().all(|m| m.to.as_str() == "+447700900123"));
        let age = Utc::now() - messages[0].sent_at;
        assert!(age.num_seconds().abs() < 60);

        let raw: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&messages[0].path).unwrap()).unwrap();
        assert_eq!(raw["to"], "+447700900123");
        assert_eq!(raw["text"], "Your code is 123450");
        assert!(raw["sent_at"].is_string());

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir), 0o700);
            for m in &messages {
                assert_eq!(mode(&m.path), 0o600);
            }
        }
    }

    #[test]
    fn debug_redacts_text() {
        let sms = Sms::new("+447700900123", "Your code is 987654").unwrap();
        let debug = format!("{sms:?}");
        assert!(!debug.contains("987654"), "{debug}");
        assert!(debug.contains("+447700900123"), "{debug}");
        let stored = StoredSms {
            path: PathBuf::from("x.json"),
            to: sms.to.clone(),
            text: sms.text.clone(),
            sent_at: Utc::now(),
        };
        assert!(!format!("{stored:?}").contains("987654"));
    }

    #[test]
    fn invalid_phone_refused() {
        assert!(matches!(
            Sms::new("07700 900123", "hi"),
            Err(NotifyError::InvalidPhoneNumber)
        ));
    }

    #[test]
    fn malformed_file_error_does_not_quote_contents() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(
            tmp.path().join("20250101T000000.000000Z-x.json"),
            r#"{"to": 5, "text": "secret-code-424242", "sent_at": "secret-code-424242"}"#,
        )
        .unwrap();
        let err = SmsOutbox::new(tmp.path().to_path_buf())
            .messages()
            .unwrap_err();
        assert!(matches!(err, NotifyError::MalformedSms { .. }));
        assert!(!format!("{err} {err:?}").contains("424242"));
    }
}
