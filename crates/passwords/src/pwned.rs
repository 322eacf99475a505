//! The optional Have I Been Pwned "Pwned Passwords" range check (k-anonymity).
//!
//! Only the first 5 hex characters of the password's SHA-1 leave the process; the
//! service answers with every known suffix for that prefix (padded with fake zero-count
//! entries so the answer's size says nothing either) and the match is done here. The
//! base URL is configuration: nothing is contacted unless the caller configures it.
//! Failures and the 3 s timeout are errors; whether to fail open is the caller's call.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use sha1::{Digest, Sha1};

use crate::error::PasswordError;

/// How long one range request may take, connection included.
pub const TIMEOUT: Duration = Duration::from_secs(3);
/// Largest answer read; real ones (padded) are around 40 KB.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Length of the hash prefix sent to the service.
const PREFIX_LEN: usize = 5;

/// Client for the Pwned Passwords range API at a configured base URL.
#[derive(Clone)]
pub struct PwnedRangeClient {
    base_url: Url,
    http: reqwest::Client,
}

impl PwnedRangeClient {
    /// A client for the range API under `base_url` (`GET {base_url}/range/{prefix}`), with the 3 s timeout.
    pub fn new(base_url: &str) -> Result<Self, PasswordError> {
        Self::with_timeout(base_url, TIMEOUT)
    }

    /// Like [`PwnedRangeClient::new`] with another timeout for the whole request.
    pub fn with_timeout(base_url: &str, timeout: Duration) -> Result<Self, PasswordError> {
        let mut base_url = Url::parse(base_url)
            .map_err(|error| PasswordError::PwnedConfig(format!("{base_url:?}: {error}")))?;
        if !matches!(base_url.scheme(), "https" | "http") || base_url.cannot_be_a_base() {
            return Err(PasswordError::PwnedConfig(format!(
                "{base_url}: must be an http(s) URL"
            )));
        }
        // So that joining "range/ABCDE" keeps any path the base has.
        if !base_url.path().ends_with('/') {
            let path = format!("{}/", base_url.path());
            base_url.set_path(&path);
        }
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls_config()?)
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("paddock/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { base_url, http })
    }

    /// How many times `password` appears in the service's breach corpus (0 if never).
    pub async fn breach_count(&self, password: &str) -> Result<u64, PasswordError> {
        let hex = sha1_upper_hex(password);
        let (prefix, suffix) = hex.split_at(PREFIX_LEN);
        let url = self
            .base_url
            .join(&format!("range/{prefix}"))
            .map_err(|error| PasswordError::PwnedConfig(error.to_string()))?;
        let mut response = self
            .http
            .get(url)
            .header("Add-Padding", "true")
            .send()
            .await?;
        if !response.status().is_success() {
            return Err(PasswordError::PwnedStatus(response.status().as_u16()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(PasswordError::PwnedResponse("answer too large"));
            }
            body.extend_from_slice(&chunk);
        }
        let body = std::str::from_utf8(&body)
            .map_err(|_| PasswordError::PwnedResponse("answer is not UTF-8"))?;
        count_for_suffix(body, suffix)
    }
}

impl fmt::Debug for PwnedRangeClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PwnedRangeClient")
            .field("base_url", &self.base_url.as_str())
            .finish_non_exhaustive()
    }
}

/// TLS with rustls on the aws-lc-rs provider and the Mozilla root store, chosen here
/// rather than left to whatever process-wide default provider may (not) be installed.
fn tls_config() -> Result<rustls::ClientConfig, PasswordError> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| PasswordError::PwnedConfig(format!("TLS: {error}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The SHA-1 of `password`'s UTF-8 bytes as 40 upper-case hex characters.
fn sha1_upper_hex(password: &str) -> String {
    Sha1::digest(password.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect()
}

/// The count on the `SUFFIX:COUNT` line for `suffix` in a range answer, 0 if absent.
fn count_for_suffix(body: &str, suffix: &str) -> Result<u64, PasswordError> {
    let mut found = 0;
    for line in body.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (line_suffix, count) = line
            .split_once(':')
            .ok_or(PasswordError::PwnedResponse("a line is not SUFFIX:COUNT"))?;
        let count: u64 = count
            .trim()
            .parse()
            .map_err(|_| PasswordError::PwnedResponse("a count is not a number"))?;
        if line_suffix.eq_ignore_ascii_case(suffix) {
            found = count;
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    // SHA-1("password") = 5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8.
    const PASSWORD: &str = "password";
    const PREFIX: &str = "5BAA6";
    const SUFFIX: &str = "1E4C9B93F3F0682250B6CF8331B7EE68FD8";

    /// A one-request-per-connection HTTP server on 127.0.0.1 that records each
    /// request's head and answers with `status` and `body`.
    struct FakeRange {
        base_url: String,
        requests: Arc<Mutex<Vec<String>>>,
    }

    async fn fake_range(status: &'static str, body: String) -> FakeRange {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}/pwned/v3", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&requests);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.ends_with(b"\r\n\r\n") {
                    let n = socket.read(&mut buf).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    head.extend_from_slice(&buf[..n]);
                }
                recorded
                    .lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(&head).into_owned());
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                socket.write_all(answer.as_bytes()).await.unwrap();
                socket.shutdown().await.unwrap();
            }
        });
        FakeRange { base_url, requests }
    }

    fn canned_range() -> String {
        // Real entries, our suffix among them, and padding lines with count 0.
        format!(
            "003D68EB55068C33ACE09247EE4C639306B:3\r\n{SUFFIX}:10434004\r\n1E2AAA439972480CEC7F16C795BBB429372:1\r\n0123456789ABCDEF0123456789ABCDEF012:0\r\nFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF:0"
        )
    }

    #[tokio::test]
    async fn only_the_five_character_prefix_is_sent() {
        let server = fake_range("200 OK", canned_range()).await;
        let client = PwnedRangeClient::new(&server.base_url).unwrap();
        client.breach_count(PASSWORD).await.unwrap();

        let requests = server.requests.lock().unwrap().clone();
        assert_eq!(requests.len(), 1);
        let request = &requests[0];
        let request_line = request.lines().next().unwrap();
        assert_eq!(
            request_line,
            format!("GET /pwned/v3/range/{PREFIX} HTTP/1.1")
        );
        assert!(
            request
                .to_ascii_lowercase()
                .contains("\r\nadd-padding: true\r\n"),
            "{request}"
        );
        let upper = request.to_ascii_uppercase();
        assert!(
            !upper.contains(SUFFIX),
            "the suffix left the process: {request}"
        );
        assert!(
            !upper.contains(&SUFFIX[..10]),
            "more than the prefix was sent: {request}"
        );
        assert!(
            !request.contains(PASSWORD),
            "the password left the process: {request}"
        );
    }

    #[tokio::test]
    async fn listed_suffix_returns_its_count() {
        let server = fake_range("200 OK", canned_range()).await;
        let client = PwnedRangeClient::new(&server.base_url).unwrap();
        assert_eq!(client.breach_count(PASSWORD).await.unwrap(), 10_434_004);
    }

    #[tokio::test]
    async fn unlisted_suffix_returns_zero() {
        // Same prefix, our suffix absent: only other entries and padding.
        let body = "003D68EB55068C33ACE09247EE4C639306B:3\n0123456789ABCDEF0123456789ABCDEF012:0\n"
            .to_owned();
        let server = fake_range("200 OK", body).await;
        let client = PwnedRangeClient::new(&server.base_url).unwrap();
        assert_eq!(client.breach_count(PASSWORD).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn server_error_is_an_error() {
        let server = fake_range("503 Service Unavailable", String::new()).await;
        let client = PwnedRangeClient::new(&server.base_url).unwrap();
        let error = client.breach_count(PASSWORD).await.unwrap_err();
        assert!(matches!(error, PasswordError::PwnedStatus(503)), "{error}");
    }

    #[tokio::test]
    async fn malformed_answer_is_an_error() {
        let server = fake_range("200 OK", "<html>maintenance</html>".to_owned()).await;
        let client = PwnedRangeClient::new(&server.base_url).unwrap();
        let error = client.breach_count(PASSWORD).await.unwrap_err();
        assert!(matches!(error, PasswordError::PwnedResponse(_)), "{error}");
    }

    #[tokio::test]
    async fn silent_server_times_out_as_an_error() {
        // Accepts the connection and never answers.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let held = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(10)).await;
            drop(socket);
        });
        let client = PwnedRangeClient::with_timeout(&base_url, Duration::from_millis(200)).unwrap();
        // The server holds the connection for 10 s and never answers, so a timeout
        // error can only come from the injected 200 ms bound.
        let error = client.breach_count(PASSWORD).await.unwrap_err();
        assert!(
            matches!(&error, PasswordError::PwnedRequest(e) if e.is_timeout()),
            "{error}"
        );
        held.abort();
    }

    #[test]
    fn base_url_must_be_http() {
        for bad in ["", "not a url", "ftp://example.invalid/", "mailto:a@b.c"] {
            assert!(PwnedRangeClient::new(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn sha1_hex_is_upper_case() {
        assert_eq!(sha1_upper_hex(PASSWORD), format!("{PREFIX}{SUFFIX}"));
    }

    #[test]
    fn default_timeout_is_three_seconds() {
        assert_eq!(TIMEOUT, Duration::from_secs(3));
    }
}
