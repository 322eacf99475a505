//! Reading `.eml` files back out of an outbox (for tests and the demo).
//!
//! This is a deliberately small, lenient parser for the messages this crate
//! writes: unfolded headers, RFC 2047 encoded words, `multipart/*` bodies, and
//! `quoted-printable`/`base64` transfer encodings. It never fails on content;
//! unknown shapes come back as raw text.

use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::NotifyError;
use crate::files::list_sorted;

/// One message read back from an outbox.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    /// The `.eml` file.
    pub path: PathBuf,
    /// The `To` header, decoded (e.g. `zoe@example.com` or `"Zoë" <zoe@example.com>`).
    pub to: String,
    /// The `Subject` header, decoded.
    pub subject: String,
    /// The decoded `text/plain` body (line endings normalised to `\n`).
    pub body_text: String,
}

impl fmt::Debug for OutboxMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboxMessage")
            .field("path", &self.path)
            .field("to", &self.to)
            .field("subject", &self.subject)
            .field(
                "body_text",
                &format_args!("<redacted, {} bytes>", self.body_text.len()),
            )
            .finish()
    }
}

/// Reads the `.eml` files of an outbox, oldest first (for tests and the demo).
/// A missing directory is an empty outbox; subdirectories (e.g. `sms/`) are skipped.
pub fn read_outbox(dir: &Path) -> Result<Vec<OutboxMessage>, NotifyError> {
    list_sorted(dir, "eml")?
        .into_iter()
        .map(|path| {
            let raw = std::fs::read(&path).map_err(|e| NotifyError::io(&path, e))?;
            let parsed = parse_eml(&raw);
            Ok(OutboxMessage {
                path,
                to: parsed.to,
                subject: parsed.subject,
                body_text: parsed.body_text,
            })
        })
        .collect()
}

pub(crate) struct ParsedEml {
    pub(crate) to: String,
    pub(crate) subject: String,
    pub(crate) body_text: String,
}

pub(crate) fn parse_eml(raw: &[u8]) -> ParsedEml {
    let text = String::from_utf8_lossy(raw).replace("\r\n", "\n");
    let (head, body) = split_head_body(&text);
    let headers = parse_headers(head);
    ParsedEml {
        to: header(&headers, "to").map(decode_words).unwrap_or_default(),
        subject: header(&headers, "subject")
            .map(decode_words)
            .unwrap_or_default(),
        body_text: plain_text(&headers, body, 0).unwrap_or_default(),
    }
}

fn split_head_body(text: &str) -> (&str, &str) {
    if let Some(rest) = text.strip_prefix('\n') {
        return ("", rest);
    }
    match text.split_once("\n\n") {
        Some((head, body)) => (head, body),
        None => (text, ""),
    }
}

/// `(lower-case name, unfolded value)` pairs.
fn parse_headers(head: &str) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push_str(line);
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    headers
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The first `text/plain` part's decoded text (recursing into multiparts).
fn plain_text(headers: &[(String, String)], body: &str, depth: u8) -> Option<String> {
    let content_type = header(headers, "content-type").unwrap_or("text/plain");
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime.starts_with("multipart/") {
        if depth > 8 {
            return None;
        }
        let boundary = param(content_type, "boundary")?;
        return split_multipart(body, &boundary)
            .into_iter()
            .find_map(|part| {
                let (head, body) = split_head_body(part);
                plain_text(&parse_headers(head), body, depth + 1)
            });
    }
    if mime != "text/plain" {
        return None;
    }
    let cte = header(headers, "content-transfer-encoding")
        .unwrap_or("7bit")
        .trim()
        .to_ascii_lowercase();
    let bytes = match cte.as_str() {
        "quoted-printable" => decode_qp(body),
        "base64" => decode_base64(body).unwrap_or_else(|| body.as_bytes().to_vec()),
        _ => body.as_bytes().to_vec(),
    };
    Some(String::from_utf8_lossy(&bytes).replace("\r\n", "\n"))
}

/// A `name=value` / `name="value"` parameter of a structured header.
fn param(value: &str, name: &str) -> Option<String> {
    value.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().trim_matches('"').to_owned())
    })
}

fn split_multipart<'a>(body: &'a str, boundary: &str) -> Vec<&'a str> {
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut start: Option<usize> = None;
    let mut offset: usize = 0;
    for line in body.split_inclusive('\n') {
        let trimmed = line.trim_end();
        if trimmed.starts_with(&delimiter) {
            if let Some(s) = start {
                // The newline before a delimiter belongs to the delimiter.
                let end = offset.saturating_sub(1).max(s);
                parts.push(body.get(s..end).unwrap_or(""));
            }
            if trimmed.get(delimiter.len()..) == Some("--") {
                return parts;
            }
            start = Some(offset + line.len());
        }
        offset += line.len();
    }
    if let Some(s) = start {
        parts.push(body.get(s..).unwrap_or(""));
    }
    parts
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Quoted-printable (RFC 2045 §6.7); with `underscore_space` it is the RFC 2047 "Q" form.
fn decode_qp_bytes(input: &[u8], underscore_space: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        match b {
            b'=' => match (input.get(i + 1), input.get(i + 2)) {
                (Some(b'\n'), _) => i += 2,           // soft line break
                (Some(b'\r'), Some(b'\n')) => i += 3, // soft line break (CRLF)
                (Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                    out.push(hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0));
                    i += 3;
                }
                _ => {
                    out.push(b'=');
                    i += 1;
                }
            },
            b'_' if underscore_space => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn decode_qp(body: &str) -> Vec<u8> {
    decode_qp_bytes(body.as_bytes(), false)
}

fn decode_base64(body: &str) -> Option<Vec<u8>> {
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
}

/// Decodes RFC 2047 encoded words (`=?utf-8?b?...?=`, `=?utf-8?q?...?=`);
/// whitespace between two adjacent encoded words is dropped.
fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut pending_space = String::new();
    let mut last_was_word = false;
    while !rest.is_empty() {
        let word = rest.strip_prefix("=?").and_then(|after| {
            let (_charset, after) = after.split_once('?')?;
            let (enc, after) = after.split_once('?')?;
            let (text, after) = after.split_once("?=")?;
            let bytes = match enc {
                "b" | "B" => decode_base64(text)?,
                "q" | "Q" => decode_qp_bytes(text.as_bytes(), true),
                _ => return None,
            };
            Some((String::from_utf8_lossy(&bytes).into_owned(), after))
        });
        if let Some((decoded, after)) = word {
            if !last_was_word {
                out.push_str(&pending_space);
            }
            pending_space.clear();
            out.push_str(&decoded);
            last_was_word = true;
            rest = after;
            continue;
        }
        let mut chars = rest.chars();
        let Some(c) = chars.next() else { break };
        if c.is_whitespace() {
            pending_space.push(c);
        } else {
            out.push_str(&pending_space);
            pending_space.clear();
            out.push(c);
            last_was_word = false;
        }
        rest = chars.as_str();
    }
    out.push_str(&pending_space);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_qp_base64_multipart_and_encoded_words() {
        let raw = concat!(
            "To: =?utf-8?b?Wm/Dqw==?= <zoe@example.com>\r\n",
            "Subject: =?utf-8?q?Caf=C3=A9?= =?utf-8?q?_time?=\r\n",
            " and more\r\n",
            "MIME-Version: 1.0\r\n",
            "Content-Type: multipart/alternative;\r\n boundary=\"XYZ\"\r\n",
            "\r\n",
            "preamble\r\n",
            "--XYZ\r\n",
            "Content-Type: text/plain; charset=utf-8\r\n",
            "Content-Transfer-Encoding: quoted-printable\r\n",
            "\r\n",
            "Caf=C3=A9 https://paddock.test/invite/a=\r\nbc =3D ok\r\n",
            "--XYZ\r\n",
            "Content-Type: text/html\r\n",
            "\r\n",
            "<p>html</p>\r\n",
            "--XYZ--\r\n",
        );
        let parsed = parse_eml(raw.as_bytes());
        assert_eq!(parsed.to, "Zoë <zoe@example.com>");
        assert_eq!(parsed.subject, "Café time and more");
        assert_eq!(
            parsed.body_text,
            "Café https://paddock.test/invite/abc = ok"
        );

        let raw = "Subject: plain\nContent-Transfer-Encoding: base64\n\naMOpbGxv\nIHdvcmxk\n";
        let parsed = parse_eml(raw.as_bytes());
        assert_eq!(parsed.subject, "plain");
        assert_eq!(parsed.body_text, "héllo world");
        assert_eq!(parsed.to, "");
    }
}
