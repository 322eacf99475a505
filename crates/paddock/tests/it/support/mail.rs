//! What the server sent: the mails in the test's outbox and the links they carry, and
//! the SMS with their codes.

use super::PUBLIC_URL;
use super::client::Server;
use paddock_notify::{OutboxMessage, SmsOutbox, StoredSms};

impl Server {
    /// Every mail in the outbox.
    pub fn mails(&self) -> Vec<OutboxMessage> {
        paddock_notify::read_outbox(self.outbox()).unwrap()
    }

    /// The mails addressed exactly to `to`.
    pub fn mails_to(&self, to: &str) -> Vec<OutboxMessage> {
        self.mails().into_iter().filter(|m| m.to == to).collect()
    }

    /// The mails whose `To` header mentions `email` (with or without a display name).
    pub fn mails_naming(&self, email: &str) -> Vec<OutboxMessage> {
        self.mails()
            .into_iter()
            .filter(|m| m.to.contains(email))
            .collect()
    }

    /// The token of the latest `/invitations/` link mailed to `email`.
    #[track_caller]
    pub fn invitation_token(&self, email: &str) -> String {
        let mail = self
            .mails_naming(email)
            .pop()
            .unwrap_or_else(|| panic!("no mail to {email}"));
        link_token_in(&mail.body_text, "invitations")
            .unwrap_or_else(|| panic!("no link in the mail to {email}"))
    }

    /// Waits for the mail sent after answering, then returns the token of the newest
    /// password reset link mailed to `email`.
    pub async fn reset_link_for(&self, email: &str) -> String {
        self.settled().await;
        let mail = self
            .mails_to(email)
            .into_iter()
            .rev()
            .find(|m| m.subject.contains("Reset"))
            .unwrap_or_else(|| panic!("no reset mail to {email}"));
        link_token_in(&mail.body_text, "reset-password").expect("a reset link in the mail")
    }

    /// The SMS written so far, oldest first.
    pub fn sms(&self) -> Vec<StoredSms> {
        SmsOutbox::new(self.outbox().join("sms"))
            .messages()
            .unwrap()
    }

    /// The code of the newest SMS, which must have gone to `to`.
    #[track_caller]
    pub fn last_code_to(&self, to: &str) -> String {
        let messages = self.sms();
        let last = messages.last().expect("an SMS was sent");
        assert_eq!(last.to.as_str(), to);
        code_in(&last.text)
    }
}

/// The token of the first `{PUBLIC_URL}/{area}/<token>` link in a mail body.
pub fn link_token_in(body: &str, area: &str) -> Option<String> {
    let prefix = format!("{PUBLIC_URL}/{area}/");
    let start = body.find(&prefix)? + prefix.len();
    let token: String = body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (!token.is_empty()).then_some(token)
}

/// The six digits of "Your Paddock code is NNNNNN. ...".
#[track_caller]
pub fn code_in(text: &str) -> String {
    let rest = text
        .strip_prefix("Your Paddock code is ")
        .unwrap_or_else(|| panic!("not a code message ({} bytes)", text.len()));
    let code: String = rest.chars().take_while(char::is_ascii_digit).collect();
    assert_eq!(code.len(), 6, "a 6-digit code");
    code
}
