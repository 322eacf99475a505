//! Outbox and SMTP delivery, end to end.

use std::path::Path;
use std::time::Duration;

use paddock_notify::{Email, Mailer, NotifyError, SmtpConfig, read_outbox};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

const FROM: &str = "Paddock <noreply@paddock.test>";
const LINK: &str = "https://paddock.test/invite/abc";
/// Longer than 76 characters: lettre's default would quoted-printable wrap it.
const LONG_LINE: &str = "Or paste this into your browser: https://paddock.test/invite/abc?token=0123456789abcdef0123456789abcdef";

fn invite(to: &str) -> Email {
    Email {
        to: to.into(),
        subject: "You're invited to Paddock".into(),
        text: format!(
            "Hello,\n\nAccept your invitation: {LINK}\n{LONG_LINE}\n\nThe Paddock team\n"
        ),
        html: None,
    }
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn outbox_writes_one_readable_private_eml_per_message() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data").join("outbox");
    let mailer = Mailer::outbox(dir.clone());
    assert!(read_outbox(&dir).unwrap().is_empty());

    mailer.send(FROM, &invite("vet@example.com")).await.unwrap();
    // Non-ASCII text, a long line and an HTML alternative: still readable.
    let long_link = format!("{LINK}/{}", "x".repeat(120));
    let second = Email {
        to: "Zoë Martín <zoe@example.com>".into(),
        subject: "Réinitialisation du mot de passe".into(),
        text: format!("Bonjour Zoë, réinitialisez ici : {long_link}\n"),
        html: Some(format!("<p><a href=\"{long_link}\">Réinitialiser</a></p>")),
    };
    mailer.send(FROM, &second).await.unwrap();
    // A subdirectory (the SMS outbox) is not a message.
    std::fs::create_dir_all(dir.join("sms")).unwrap();

    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files.iter().all(|p| p.extension().unwrap() == "eml"));

    let messages = read_outbox(&dir).unwrap();
    assert_eq!(messages.len(), 2);
    let (first, second_read) = (&messages[0], &messages[1]);
    assert_eq!(first.to, "vet@example.com");
    assert_eq!(first.subject, "You're invited to Paddock");
    assert!(first.body_text.contains(LINK), "{}", first.body_text);
    assert!(second_read.to.contains("zoe@example.com"));
    assert_eq!(second_read.subject, "Réinitialisation du mot de passe");
    assert!(second_read.body_text.contains(&long_link));
    assert!(second_read.body_text.starts_with("Bonjour Zoë"));

    // Raw files are readable as-is: links verbatim, no soft line breaks.
    let raw1 = std::fs::read_to_string(&first.path).unwrap();
    assert!(raw1.contains("To: vet@example.com\r\n"), "{raw1}");
    assert!(raw1.contains(&format!("{LINK}\r\n")), "{raw1}");
    assert!(raw1.contains(&format!("\r\n{LONG_LINE}\r\n")), "{raw1}");
    assert!(first.body_text.contains(&format!("\n{LONG_LINE}\n")));
    let raw2 = std::fs::read_to_string(&second_read.path).unwrap();
    assert!(
        raw2.contains(&format!("Bonjour Zoë, réinitialisez ici : {long_link}")),
        "{raw2}"
    );
    assert!(raw2.contains("Content-Type: text/html"), "{raw2}");

    // File names: <UTC timestamp>-<uuid>.eml, sorting by time.
    let name = first.path.file_name().unwrap().to_str().unwrap();
    assert!(
        name.ends_with(".eml") && name.len() > 30 && name.as_bytes()[8] == b'T',
        "{name}"
    );
    assert!(first.path < second_read.path);

    #[cfg(unix)]
    {
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&first.path), 0o600);
        assert_eq!(mode(&second_read.path), 0o600);
    }
}

#[tokio::test]
async fn outbox_refuses_invalid_addresses_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let mailer = Mailer::outbox(tmp.path().join("outbox"));
    let err = mailer
        .send(FROM, &invite("not an address"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, NotifyError::InvalidAddress { field: "to" }),
        "{err:?}"
    );
    let err = mailer
        .send("nobody", &invite("vet@example.com"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, NotifyError::InvalidAddress { field: "from" }),
        "{err:?}"
    );
    assert!(read_outbox(&tmp.path().join("outbox")).unwrap().is_empty());
}

/// A minimal SMTP server for one session; returns the DATA it received.
async fn fake_smtp_server() -> (u16, tokio::task::JoinHandle<(Vec<String>, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read);
        let mut commands = Vec::new();
        let mut data = String::new();
        write.write_all(b"220 fake.test ESMTP\r\n").await.unwrap();
        loop {
            let mut line = String::new();
            if lines.read_line(&mut line).await.unwrap() == 0 {
                break;
            }
            let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
            commands.push(line.trim_end().to_owned());
            let reply: &[u8] = match verb.as_str() {
                "EHLO" | "HELO" => b"250 fake.test\r\n",
                "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 OK\r\n",
                "DATA" => {
                    write.write_all(b"354 go ahead\r\n").await.unwrap();
                    loop {
                        let mut l = String::new();
                        assert!(lines.read_line(&mut l).await.unwrap() > 0, "EOF in DATA");
                        data.push_str(&l);
                        if data.ends_with("\r\n.\r\n") {
                            break;
                        }
                    }
                    b"250 queued\r\n"
                }
                "QUIT" => {
                    write.write_all(b"221 bye\r\n").await.unwrap();
                    break;
                }
                _ => b"502 unknown\r\n",
            };
            write.write_all(reply).await.unwrap();
        }
        (commands, data)
    });
    (port, handle)
}

#[tokio::test]
async fn smtp_delivers_to_a_local_server() {
    let (port, server) = fake_smtp_server().await;
    let mailer = Mailer::smtp(&SmtpConfig {
        url: format!("smtp://127.0.0.1:{port}"),
        ..SmtpConfig::default()
    })
    .unwrap();
    mailer.send(FROM, &invite("vet@example.com")).await.unwrap();
    let (commands, data) = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap();

    assert!(
        commands
            .iter()
            .any(|c| c == "MAIL FROM:<noreply@paddock.test>"),
        "{commands:?}"
    );
    assert!(
        commands.iter().any(|c| c == "RCPT TO:<vet@example.com>"),
        "{commands:?}"
    );
    assert!(data.contains("To: vet@example.com\r\n"), "{data}");
    assert!(
        data.contains("Subject: You're invited to Paddock\r\n"),
        "{data}"
    );
    assert!(
        data.contains(&format!("Accept your invitation: {LINK}\r\n")),
        "{data}"
    );
    assert!(data.contains(&format!("\r\n{LONG_LINE}\r\n")), "{data}");
    assert!(
        data.contains("Content-Transfer-Encoding: 7bit\r\n"),
        "{data}"
    );
    assert!(data.ends_with("\r\n.\r\n"));
}

#[tokio::test]
async fn smtp_unreachable_port_is_an_error() {
    // Bind then drop: nothing listens on the port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The default (long) timeout: a refused connection must be reported as such at
    // once, not waited out; a Timeout here would mean it was.
    let mailer = Mailer::smtp(&SmtpConfig {
        url: format!("smtp://127.0.0.1:{port}"),
        ..SmtpConfig::default()
    })
    .unwrap();
    let err = mailer
        .send(FROM, &invite("vet@example.com"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, NotifyError::Smtp(e) if !e.is_timeout()),
        "{err:?}"
    );
}

#[tokio::test]
async fn smtp_silent_server_times_out() {
    // Accepts the connection but never greets: only the timeout ends this.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let _server = tokio::spawn(async move {
        let (_stream, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
    let mailer = Mailer::smtp_with_timeout(
        &SmtpConfig {
            url: format!("smtp://127.0.0.1:{port}"),
            ..SmtpConfig::default()
        },
        Duration::from_millis(300),
    )
    .unwrap();
    // The server never greets, so only the configured timeout can end the send: the
    // Timeout error is the proof that it did (the outer bound only guards against a hang).
    let err = tokio::time::timeout(
        Duration::from_secs(60),
        mailer.send(FROM, &invite("vet@example.com")),
    )
    .await
    .expect("send must be bounded by its own timeout")
    .unwrap_err();
    assert!(matches!(err, NotifyError::Timeout), "{err:?}");
}
