//! Email: building messages and sending them to an outbox or over SMTP.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::NotifyError;
use crate::files::write_private;

/// The bound on one whole SMTP delivery (connect, TLS, conversation).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// An email to send (plain text body; an optional HTML alternative).
#[derive(Clone, PartialEq, Eq)]
pub struct Email {
    /// The recipient, `addr@example.com` or `Name <addr@example.com>`.
    pub to: String,
    /// The subject line (no control characters).
    pub subject: String,
    /// The plain-text body (may hold a reset link: never logged or shown in `Debug`).
    pub text: String,
    /// An optional HTML alternative of the body.
    pub html: Option<String>,
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Email")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .field(
                "text",
                &format_args!("<redacted, {} bytes>", self.text.len()),
            )
            .field(
                "html",
                &self
                    .html
                    .as_ref()
                    .map(|h| format!("<redacted, {} bytes>", h.len())),
            )
            .finish()
    }
}

/// SMTP settings.
#[derive(Clone, Default)]
pub struct SmtpConfig {
    /// `smtp://host[:port]` (plain, for a local relay or tests; default port 25),
    /// `smtp+starttls://host[:port]` (STARTTLS required; 587) or
    /// `smtps://host[:port]` (implicit TLS; 465).
    pub url: String,
    /// SMTP AUTH user name (needs TLS, and a password).
    pub username: Option<String>,
    /// SMTP AUTH password.
    pub password: Option<String>,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// An SMTP connection configuration (a new connection per message).
#[derive(Clone)]
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    timeout: Duration,
    /// `scheme://host:port`, for `Debug` (no credentials).
    endpoint: String,
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Where mail goes.
#[derive(Debug, Clone)]
pub enum Mailer {
    /// Development/test: `.eml` files in this directory.
    Outbox(PathBuf),
    /// A real SMTP server.
    Smtp(SmtpMailer),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Security {
    Plain,
    StartTls,
    Tls,
}

/// Splits `scheme://host[:port][/]` into its parts.
fn parse_smtp_url(url: &str) -> Result<(Security, String, u16), NotifyError> {
    let bad = NotifyError::InvalidSmtpConfig;
    let (scheme, rest) = url
        .trim()
        .split_once("://")
        .ok_or(bad("url must look like smtp://host:port"))?;
    let (security, default_port) = match scheme.to_ascii_lowercase().as_str() {
        "smtp" => (Security::Plain, 25),
        "smtp+starttls" => (Security::StartTls, 587),
        "smtps" => (Security::Tls, 465),
        _ => return Err(bad("scheme must be smtp, smtp+starttls or smtps")),
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains(['@', '/', '?', '#']) {
        return Err(bad(
            "url must be scheme://host[:port] only (credentials go in username/password)",
        ));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or(bad("unclosed [ in host"))?;
        let port = match after {
            "" => None,
            p => Some(p.strip_prefix(':').ok_or(bad("bad port"))?),
        };
        (host, port)
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(bad("missing host"));
    }
    let port = match port {
        None => default_port,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or(bad("bad port"))?,
    };
    Ok((security, host.to_owned(), port))
}

impl Mailer {
    /// Development/test: one `.eml` per message under `dir` (created 0700 if
    /// missing), file name `<UTC timestamp>-<uuid>.eml` so `ls` sorts by time.
    pub fn outbox(dir: PathBuf) -> Mailer {
        Mailer::Outbox(dir)
    }

    /// SMTP via lettre, each delivery bounded by [`DEFAULT_TIMEOUT`].
    pub fn smtp(config: &SmtpConfig) -> Result<Mailer, NotifyError> {
        Mailer::smtp_with_timeout(config, DEFAULT_TIMEOUT)
    }

    /// SMTP via lettre, each delivery bounded by `timeout` (also lettre's
    /// per-command timeout).
    pub fn smtp_with_timeout(
        config: &SmtpConfig,
        timeout: Duration,
    ) -> Result<Mailer, NotifyError> {
        let (security, host, port) = parse_smtp_url(&config.url)?;
        let mut builder = match security {
            Security::Plain => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&host),
            Security::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&host)?,
            Security::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&host)?,
        };
        builder = builder.port(port).timeout(Some(timeout));
        match (&config.username, &config.password) {
            (None, None) => {}
            (Some(user), Some(pass)) => {
                if security == Security::Plain {
                    return Err(NotifyError::InvalidSmtpConfig(
                        "credentials need smtps:// or smtp+starttls:// (refusing to send a password in clear)",
                    ));
                }
                builder = builder.credentials(Credentials::new(user.clone(), pass.clone()));
            }
            _ => {
                return Err(NotifyError::InvalidSmtpConfig(
                    "username and password must be given together",
                ));
            }
        }
        let scheme = match security {
            Security::Plain => "smtp",
            Security::StartTls => "smtp+starttls",
            Security::Tls => "smtps",
        };
        let endpoint = if host.contains(':') {
            format!("{scheme}://[{host}]:{port}")
        } else {
            format!("{scheme}://{host}:{port}")
        };
        Ok(Mailer::Smtp(SmtpMailer {
            transport: builder.build(),
            timeout,
            endpoint,
        }))
    }

    /// Sends `email` from `from` (`addr` or `Name <addr>`): written to the
    /// outbox, or delivered over SMTP within the configured timeout.
    pub async fn send(&self, from: &str, email: &Email) -> Result<(), NotifyError> {
        match self {
            Mailer::Outbox(dir) => {
                let message = build_message(from, email, TextEncoding::Readable)?;
                let path = write_private(dir, "eml", &message.formatted()).await?;
                tracing::info!(path = %path.display(), "email written to outbox");
                Ok(())
            }
            Mailer::Smtp(smtp) => {
                let message = build_message(from, email, TextEncoding::Strict)?;
                match tokio::time::timeout(smtp.timeout, smtp.transport.send(message)).await {
                    Err(_) => {
                        tracing::warn!(endpoint = %smtp.endpoint, "SMTP delivery timed out");
                        Err(NotifyError::Timeout)
                    }
                    // lettre's own per-command timeout is the same bound, reached
                    // from inside the conversation: report it as the timeout it is.
                    Ok(Err(e)) if e.is_timeout() => {
                        tracing::warn!(endpoint = %smtp.endpoint, "SMTP delivery timed out");
                        Err(NotifyError::Timeout)
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(endpoint = %smtp.endpoint, error = %e, "SMTP delivery failed");
                        Err(e.into())
                    }
                    Ok(Ok(_response)) => {
                        tracing::info!(endpoint = %smtp.endpoint, "email sent over SMTP");
                        Ok(())
                    }
                }
            }
        }
    }
}

/// How to encode the text part.
///
/// lettre's own choice (`Body::new`) switches to quoted-printable as soon as
/// any line reaches 76 characters, which soft-wraps long links (`…/invite/a=`,
/// newline, `bc`). RFC 5322 allows lines up to 998 bytes, so short-enough
/// text is passed through unencoded instead.
#[derive(Clone, Copy)]
enum TextEncoding {
    /// Outbox files are for people and tests to read: `7bit`/`8bit`, so
    /// non-ASCII text and long links stay verbatim.
    Readable,
    /// Over SMTP: `7bit` for ASCII; non-ASCII falls back to lettre's choice
    /// (quoted-printable/base64), because lettre does not announce
    /// `BODY=8BITMIME` to the server.
    Strict,
}

/// Longest line (in bytes, without CRLF) RFC 5322 allows.
const MAX_LINE: usize = 998;

fn text_body(text: &str, encoding: TextEncoding) -> Body {
    let crlf = text
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\n', "\r\n");
    let lines_fit = crlf.split("\r\n").all(|line| line.len() <= MAX_LINE);
    let no_nul = !crlf.contains('\0');
    let transfer = match encoding {
        _ if !(lines_fit && no_nul) => None,
        _ if crlf.is_ascii() => Some(ContentTransferEncoding::SevenBit),
        TextEncoding::Readable => Some(ContentTransferEncoding::EightBit),
        TextEncoding::Strict => None,
    };
    match transfer {
        // Checked above: CRLF line endings, lines <= 998 bytes, no NUL.
        Some(cte) => Body::dangerous_pre_encoded(crlf.into_bytes(), cte),
        None => Body::new(text.to_owned()),
    }
}

fn build_message(
    from: &str,
    email: &Email,
    encoding: TextEncoding,
) -> Result<Message, NotifyError> {
    let from: Mailbox = from
        .trim()
        .parse()
        .map_err(|_| NotifyError::InvalidAddress { field: "from" })?;
    let to: Mailbox = email
        .to
        .trim()
        .parse()
        .map_err(|_| NotifyError::InvalidAddress { field: "to" })?;
    if email.subject.chars().any(char::is_control) {
        return Err(NotifyError::InvalidSubject);
    }
    let builder = Message::builder()
        .from(from)
        .to(to)
        .subject(email.subject.clone())
        .date_now()
        .message_id(None);
    let text = SinglePart::builder()
        .header(ContentType::TEXT_PLAIN)
        .body(text_body(&email.text, encoding));
    let message = match &email.html {
        None => builder.singlepart(text)?,
        Some(html) => builder.multipart(
            MultiPart::alternative()
                .singlepart(text)
                .singlepart(SinglePart::html(html.clone())),
        )?,
    };
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls() {
        let p = |u: &str| parse_smtp_url(u).map_err(|e| e.to_string());
        assert_eq!(
            p("smtp://127.0.0.1:2525").unwrap(),
            (Security::Plain, "127.0.0.1".into(), 2525)
        );
        assert_eq!(
            p("smtp://relay").unwrap(),
            (Security::Plain, "relay".into(), 25)
        );
        assert_eq!(
            p("smtp+starttls://mail.example.com").unwrap(),
            (Security::StartTls, "mail.example.com".into(), 587)
        );
        assert_eq!(
            p("SMTPS://mail.example.com:2465/").unwrap(),
            (Security::Tls, "mail.example.com".into(), 2465)
        );
        assert_eq!(
            p("smtp://[::1]:2525").unwrap(),
            (Security::Plain, "::1".into(), 2525)
        );
        for bad in [
            "",
            "mail.example.com",
            "http://mail.example.com",
            "smtp://",
            "smtp://:25",
            "smtp://host:0",
            "smtp://host:99999",
            "smtp://host:x",
            "smtps://user:pw@host",
            "smtp://host/path",
            "smtp://[::1",
        ] {
            assert!(p(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn smtp_config_checks() {
        let cfg = |url: &str, user: Option<&str>, pass: Option<&str>| SmtpConfig {
            url: url.into(),
            username: user.map(Into::into),
            password: pass.map(Into::into),
        };
        assert!(Mailer::smtp(&cfg("smtp://localhost:2525", None, None)).is_ok());
        assert!(Mailer::smtp(&cfg("smtps://mail.example.com", Some("u"), Some("p"))).is_ok());
        assert!(
            Mailer::smtp(&cfg(
                "smtp+starttls://mail.example.com",
                Some("u"),
                Some("p")
            ))
            .is_ok()
        );
        assert!(matches!(
            Mailer::smtp(&cfg("smtp://localhost", Some("u"), Some("p"))),
            Err(NotifyError::InvalidSmtpConfig(_))
        ));
        assert!(matches!(
            Mailer::smtp(&cfg("smtps://mail.example.com", Some("u"), None)),
            Err(NotifyError::InvalidSmtpConfig(_))
        ));
        let debug = format!("{:?}", cfg("smtps://h", Some("u"), Some("hunter2")));
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn debug_redacts_bodies() {
        let email = Email {
            to: "a@example.com".into(),
            subject: "Reset".into(),
            text: "https://paddock.test/reset/SECRET-TOKEN".into(),
            html: Some("<a href=\"https://paddock.test/reset/SECRET-HTML\">x</a>".into()),
        };
        let debug = format!("{email:?}");
        assert!(!debug.contains("SECRET"), "{debug}");
        assert!(
            debug.contains("a@example.com") && debug.contains("Reset"),
            "{debug}"
        );
    }

    #[test]
    fn invalid_addresses_refused() {
        let email = |to: &str| Email {
            to: to.into(),
            subject: "s".into(),
            text: "t".into(),
            html: None,
        };
        for bad in [
            "",
            "not-an-address",
            "a@",
            "@b.com",
            "a b@c.com",
            "a@b.com, c@d.com",
            "a@b.com\r\nBcc: x@y.com",
        ] {
            assert!(
                matches!(
                    build_message("noreply@paddock.test", &email(bad), TextEncoding::Strict),
                    Err(NotifyError::InvalidAddress { field: "to" })
                ),
                "{bad:?} accepted"
            );
        }
        assert!(matches!(
            build_message("nope", &email("a@b.com"), TextEncoding::Strict),
            Err(NotifyError::InvalidAddress { field: "from" })
        ));
        assert!(
            build_message(
                "Paddock <noreply@paddock.test>",
                &email("Zoë <zoe@example.com>"),
                TextEncoding::Strict
            )
            .is_ok()
        );
    }

    #[test]
    fn subject_header_injection_refused() {
        let email = Email {
            to: "a@example.com".into(),
            subject: "hi\r\nBcc: evil@example.com".into(),
            text: "t".into(),
            html: None,
        };
        assert!(matches!(
            build_message("noreply@paddock.test", &email, TextEncoding::Strict),
            Err(NotifyError::InvalidSubject)
        ));
    }

    #[test]
    fn text_encoding_choices() {
        let long_ascii = format!("see https://paddock.test/{}\nbye", "a".repeat(200));
        for mode in [TextEncoding::Readable, TextEncoding::Strict] {
            let body = text_body(&long_ascii, mode);
            assert_eq!(body.encoding(), ContentTransferEncoding::SevenBit);
            assert_eq!(
                body.into_vec(),
                long_ascii.replace('\n', "\r\n").into_bytes()
            );
        }
        let accented = "Bonjour Zoë\r\nbye\rend";
        let body = text_body(accented, TextEncoding::Readable);
        assert_eq!(body.encoding(), ContentTransferEncoding::EightBit);
        assert_eq!(body.into_vec(), "Bonjour Zoë\r\nbye\r\nend".as_bytes());
        assert_ne!(
            text_body(accented, TextEncoding::Strict).encoding(),
            ContentTransferEncoding::EightBit
        );
        let too_long = "x".repeat(MAX_LINE + 1);
        for mode in [TextEncoding::Readable, TextEncoding::Strict] {
            let enc = text_body(&too_long, mode).encoding();
            assert!(matches!(
                enc,
                ContentTransferEncoding::QuotedPrintable | ContentTransferEncoding::Base64
            ));
        }
        assert_eq!(
            text_body(&"x".repeat(MAX_LINE), TextEncoding::Strict).encoding(),
            ContentTransferEncoding::SevenBit
        );
    }
}
