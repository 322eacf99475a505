//! TLS in the binary, over real sockets with a rustls client: TLS 1.3 and 1.2 with
//! AEAD suites only, ALPN h2 then http/1.1, HSTS on every answer, plain HTTP refused
//! on the TLS port, and a certificate reloaded from its files served to new
//! connections while open ones keep going.

use crate::world;
use paddock_web::tls::{self, CertificateFiles, TlsError};
use paddock_web::{HttpConfig, build_router};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ProtocolVersion, RootCertStore};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// A certificate for localhost written to `dir` as `name.crt` / `name.key`.
pub(crate) fn certificate(
    dir: &Path,
    name: &str,
) -> (
    CertificateDer<'static>,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let (cert, key) = tls::self_signed(&["localhost"]).unwrap();
    let cert_path = dir.join(format!("{name}.crt"));
    let key_path = dir.join(format!("{name}.key"));
    std::fs::write(&cert_path, &cert).unwrap();
    std::fs::write(&key_path, &key).unwrap();
    let der = CertificateDer::from_pem_slice(cert.as_bytes()).unwrap();
    (der, cert_path, key_path)
}

/// The application served over TLS from `files` on a free port of 127.0.0.1.
async fn https_site(files: Arc<CertificateFiles>) -> (SocketAddr, world::World, TempDir) {
    let world = world::two_practices().await;
    let outbox = TempDir::with_prefix("paddock-tls-outbox-").unwrap();
    let router = build_router(
        world::test_state(
            world.app.clone(),
            world::test_clock(),
            outbox.path().to_owned(),
        ),
        &HttpConfig {
            https: true,
            ..HttpConfig::default()
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let config = tls::server_config(files).unwrap();
    tokio::spawn(paddock_web::serve(
        listener,
        router,
        Some(config),
        std::future::pending(),
    ));
    (address, world, outbox)
}

/// A client trusting `roots`, speaking only `versions`, offering `alpn`.
pub(crate) fn client(
    roots: &[&CertificateDer<'static>],
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[&[u8]],
) -> TlsConnector {
    let mut store = RootCertStore::empty();
    for root in roots {
        store.add((*root).clone()).unwrap();
    }
    let mut config = ClientConfig::builder_with_provider(tls::provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(store)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

pub(crate) async fn connect(
    connector: &TlsConnector,
    address: SocketAddr,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(address).await?;
    connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
}

/// `GET path` over HTTP/1.1 on an open stream (kept alive); the answer's head.
pub(crate) async fn get(stream: &mut TlsStream<TcpStream>, path: &str) -> String {
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut answer = Vec::new();
    let mut buffer = [0u8; 4096];
    // Up to the end of the head and the body its Content-Length announces.
    loop {
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(
            read > 0,
            "the connection closed: {}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&buffer[..read]);
        let text = String::from_utf8_lossy(&answer).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= length {
                return head.to_owned();
            }
        }
    }
}

#[tokio::test]
async fn https_speaks_tls_1_3_and_1_2_with_aead_suites_h2_by_alpn_and_sends_hsts() {
    let dir = TempDir::new().unwrap();
    let (der, cert, key) = certificate(dir.path(), "site");
    let files = CertificateFiles::load(&cert, &key).unwrap();
    let (address, _world, _outbox) = https_site(files).await;

    let modern = client(&[&der], &[&rustls::version::TLS13], &[b"h2", b"http/1.1"]);
    let stream = connect(&modern, address).await.unwrap();
    let (_, session) = stream.get_ref();
    assert_eq!(session.protocol_version(), Some(ProtocolVersion::TLSv1_3));
    assert_eq!(
        session.alpn_protocol(),
        Some(&b"h2"[..]),
        "HTTP/2 when offered"
    );

    let older = client(&[&der], &[&rustls::version::TLS12], &[b"http/1.1"]);
    let mut stream = connect(&older, address).await.unwrap();
    let (_, session) = stream.get_ref();
    assert_eq!(session.protocol_version(), Some(ProtocolVersion::TLSv1_2));
    assert_eq!(session.alpn_protocol(), Some(&b"http/1.1"[..]));
    let suite = format!("{:?}", session.negotiated_cipher_suite().unwrap().suite());
    assert!(
        suite.contains("_GCM_") || suite.contains("CHACHA20_POLY1305"),
        "an AEAD suite: {suite}"
    );
    let head = get(&mut stream, "/healthz").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("strict-transport-security: max-age=63072000; includesubdomains"),
        "HSTS over TLS: {head}"
    );

    // A client that does not trust the certificate gets no connection.
    let (stranger, _, _) = certificate(dir.path(), "stranger");
    let wary = client(&[&stranger], &[&rustls::version::TLS13], &[b"http/1.1"]);
    assert!(connect(&wary, address).await.is_err());

    // Plain HTTP on the TLS port gets no HTTP answer.
    let mut plain = TcpStream::connect(address).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(15),
        plain.read_to_end(&mut answer),
    )
    .await;
    assert!(
        !String::from_utf8_lossy(&answer).contains("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}

#[tokio::test]
async fn a_reloaded_certificate_serves_new_connections_and_open_ones_keep_theirs() {
    let dir = TempDir::new().unwrap();
    let (first, cert, key) = certificate(dir.path(), "site");
    let files = CertificateFiles::load(&cert, &key).unwrap();
    let (address, _world, _outbox) = https_site(files.clone()).await;
    let (second, second_cert, second_key) = certificate(dir.path(), "renewed");
    // A new client per connection: one client would resume its first session and
    // never see the certificate again.
    let trusting_both = || {
        client(
            &[&first, &second],
            &[&rustls::version::TLS13],
            &[b"http/1.1"],
        )
    };

    let mut open = connect(&trusting_both(), address).await.unwrap();
    assert!(get(&mut open, "/healthz").await.starts_with("HTTP/1.1 200"));
    let peer =
        |stream: &TlsStream<TcpStream>| stream.get_ref().1.peer_certificates().unwrap()[0].clone();
    assert_eq!(peer(&open), first);

    // The renewed certificate is written over the files, then reloaded (SIGHUP).
    std::fs::copy(&second_cert, &cert).unwrap();
    std::fs::copy(&second_key, &key).unwrap();
    files.reload().unwrap();
    let fresh = connect(&trusting_both(), address).await.unwrap();
    assert_eq!(
        peer(&fresh),
        second,
        "new connections get the renewed certificate"
    );
    assert_eq!(files.chain()[0], second);
    // The connection opened before goes on answering.
    assert!(get(&mut open, "/healthz").await.starts_with("HTTP/1.1 200"));

    // A half-written file does not take the site down: the certificate in use stays.
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\ntrunc").unwrap();
    assert!(matches!(files.reload(), Err(TlsError::Certificate { .. })));
    let still = connect(&trusting_both(), address).await.unwrap();
    assert_eq!(peer(&still), second);
}

#[test]
fn a_key_that_is_not_the_certificates_is_refused_at_load() {
    let dir = TempDir::new().unwrap();
    let (_, cert, _) = certificate(dir.path(), "one");
    let (_, _, other_key) = certificate(dir.path(), "two");
    assert!(matches!(
        CertificateFiles::load(&cert, &other_key),
        Err(TlsError::Mismatch { .. })
    ));
    assert!(matches!(
        CertificateFiles::load(&dir.path().join("missing.crt"), &other_key),
        Err(TlsError::Certificate { .. })
    ));
    std::fs::write(dir.path().join("empty.crt"), "").unwrap();
    assert!(matches!(
        CertificateFiles::load(&dir.path().join("empty.crt"), &other_key),
        Err(TlsError::Certificate { .. })
    ));
}

// --- the configuration as a scanner sees it (sslscan, a Debian package) ----------

/// What `sslscan` reports of a TLS endpoint.
#[derive(Debug, Default)]
struct Scan {
    /// Protocols by name (`TLSv1.0`, ..., `SSLv3`) and whether each is enabled.
    protocols: Vec<(String, bool)>,
    /// Accepted suites: (protocol, OpenSSL's name of the suite).
    ciphers: Vec<(String, String)>,
}

/// The value of `name="..."` in one line of sslscan's XML.
fn attribute<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let start = line.find(&format!(" {name}=\""))? + name.len() + 3;
    let rest = line.get(start..)?;
    rest.get(..rest.find('"')?)
}

/// Runs `sslscan` against `address` (it must be installed: `.ci/run` installs it).
fn sslscan(address: SocketAddr) -> Scan {
    let output = std::process::Command::new("sslscan")
        .args(["--no-colour", "--xml=-", &address.to_string()])
        .output()
        .expect("sslscan is installed (apt-get install sslscan; .ci/run does it)");
    let xml = String::from_utf8_lossy(&output.stdout);
    let mut scan = Scan::default();
    for line in xml.lines().map(str::trim) {
        if line.starts_with("<protocol ") {
            let kind = attribute(line, "type").unwrap_or_default().to_uppercase();
            let version = attribute(line, "version").unwrap_or_default();
            let name = format!("{kind}v{version}");
            scan.protocols
                .push((name, attribute(line, "enabled") == Some("1")));
        } else if line.starts_with("<cipher ") {
            let protocol = attribute(line, "sslversion").unwrap_or_default().to_owned();
            let suite = attribute(line, "cipher").unwrap_or_default().to_owned();
            scan.ciphers.push((protocol, suite));
        }
    }
    assert!(
        !scan.protocols.is_empty(),
        "sslscan reported no protocols: {xml}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    scan
}

/// What a security review would flag: an old protocol, a suite without AEAD, no
/// TLS 1.3 or 1.2, nothing accepted.
fn weaknesses(scan: &Scan) -> Vec<String> {
    let mut found: Vec<String> = scan
        .protocols
        .iter()
        .filter(|(name, enabled)| *enabled && !matches!(name.as_str(), "TLSv1.2" | "TLSv1.3"))
        .map(|(name, _)| format!("{name} enabled"))
        .collect();
    for wanted in ["TLSv1.2", "TLSv1.3"] {
        if !scan
            .protocols
            .iter()
            .any(|(name, on)| name == wanted && *on)
        {
            found.push(format!("{wanted} not offered"));
        }
    }
    let aead = |suite: &str| {
        let suite = suite.replace('_', "-");
        suite.contains("GCM") || suite.contains("CHACHA20-POLY1305") || suite.contains("CCM")
    };
    found.extend(
        scan.ciphers
            .iter()
            .filter(|(_, suite)| !aead(suite))
            .map(|(protocol, suite)| format!("{suite} (no AEAD) on {protocol}")),
    );
    if scan.ciphers.is_empty() {
        found.push("no suite accepted".to_owned());
    }
    found
}

#[tokio::test]
async fn a_scanner_finds_only_tls_1_2_and_1_3_with_aead_suites() {
    let dir = TempDir::new().unwrap();
    let (_, cert, key) = certificate(dir.path(), "site");
    let (address, _world, _outbox) = https_site(CertificateFiles::load(&cert, &key).unwrap()).await;
    let scan = tokio::task::spawn_blocking(move || sslscan(address))
        .await
        .unwrap();
    assert_eq!(weaknesses(&scan), Vec::<String>::new(), "{scan:?}");
}

#[tokio::test]
async fn the_scan_flags_an_old_protocol_and_a_suite_without_aead() {
    // The check itself, against a server configured the way Paddock must not be:
    // OpenSSL allowing TLS 1.0 and 1.1 and an AES-CBC suite.
    let dir = TempDir::new().unwrap();
    let (_, cert, key) = certificate(dir.path(), "weak");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut weak = crate::process::KillOnDrop(
        std::process::Command::new("openssl")
            .args(["s_server", "-accept", &format!("127.0.0.1:{port}"), "-www"])
            .arg("-cert")
            .arg(&cert)
            .arg("-key")
            .arg(&key)
            .args(["-cipher", "AES128-SHA:ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("openssl is installed"),
    );
    let address: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let started = std::time::Instant::now();
    while TcpStream::connect(address).await.is_err() {
        assert!(
            started.elapsed() < crate::process::DEADLINE,
            "openssl s_server did not start"
        );
        tokio::time::sleep(crate::process::POLL).await;
    }
    let scan = tokio::task::spawn_blocking(move || sslscan(address))
        .await
        .unwrap();
    let found = weaknesses(&scan);
    for flagged in ["TLSv1.0 enabled", "TLSv1.1 enabled"] {
        assert!(found.iter().any(|f| f == flagged), "{flagged}: {found:?}");
    }
    assert!(found.iter().any(|f| f.contains("(no AEAD)")), "{found:?}");
    let _ = weak.0.kill();
}
