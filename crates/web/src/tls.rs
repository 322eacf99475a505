//! TLS in the binary: the server's certificate and key from PEM files, reloadable
//! without a restart (`paddock serve` reloads on SIGHUP: new connections get the new
//! certificate, open ones keep theirs), on rustls with the one aws-lc-rs provider.
//! TLS 1.3 and 1.2 only, AEAD suites only (rustls offers nothing else: no CBC, no
//! RC4, no TLS 1.0/1.1), ALPN `h2` then `http/1.1`.

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Why a certificate could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file is missing, unreadable or holds no certificate.
    #[error("certificate {path}: {reason}")]
    Certificate {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The key file is missing, unreadable, holds no key, or the key is unusable.
    #[error("private key {path}: {reason}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The key is not the certificate's.
    #[error("the private key in {key} does not belong to the certificate in {cert}")]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// The certificate and key files, and the certificate currently served from them.
#[derive(Debug)]
pub struct CertificateFiles {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl CertificateFiles {
    /// Loads `cert` (the chain, leaf first) and `key` (PKCS#8, PKCS#1 or SEC1 PEM).
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Self>, TlsError> {
        let current = certified_key(cert, key)?;
        Ok(Arc::new(Self {
            cert: cert.to_owned(),
            key: key.to_owned(),
            current: RwLock::new(Arc::new(current)),
        }))
    }

    /// Reads the files again; on success new connections get the new certificate, on
    /// failure the one in use stays (a half-written file must not take the site down).
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = Arc::new(certified_key(&self.cert, &self.key)?);
        match self.current.write() {
            Ok(mut current) => *current = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        Ok(())
    }

    /// The certificate served now (leaf first).
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        self.served().cert.clone()
    }

    fn served(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

impl ResolvesServerCert for CertificateFiles {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.served())
    }
}

/// The rustls provider every TLS connection of the process uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The server configuration: TLS 1.3 and 1.2, the provider's AEAD suites, ALPN h2
/// then http/1.1, the certificate from `files` (reloadable).
pub fn server_config(files: Arc<CertificateFiles>) -> Result<Arc<ServerConfig>, TlsError> {
    // Defence in depth: keep only AEAD suites even if a provider ever offered others.
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.cipher_suites.retain(is_aead);
    let mut config = ServerConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(files);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Whether `suite` is an AEAD suite (AES-GCM or ChaCha20-Poly1305).
fn is_aead(suite: &rustls::SupportedCipherSuite) -> bool {
    let name = format!("{:?}", suite.suite());
    name.contains("_GCM_") || name.contains("CHACHA20_POLY1305")
}

fn certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let cert_error = |reason: String| TlsError::Certificate {
        path: cert.to_owned(),
        reason,
    };
    let key_error = |reason: String| TlsError::Key {
        path: key.to_owned(),
        reason,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|error| cert_error(error.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|error| cert_error(error.to_string()))?;
    if chain.is_empty() {
        return Err(cert_error("no PEM certificate in the file".to_owned()));
    }
    let private =
        PrivateKeyDer::from_pem_file(key).map_err(|error| key_error(error.to_string()))?;
    let signing = provider()
        .key_provider
        .load_private_key(private)
        .map_err(|error| key_error(error.to_string()))?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) => Ok(certified),
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsError::Mismatch {
            cert: cert.to_owned(),
            key: key.to_owned(),
        }),
        // The key's public half cannot be read back: rustls cannot check, so do we.
        Err(_) => Ok(certified),
    }
}

/// A self-signed certificate for `names` (the demo's localhost certificate, tests):
/// the certificate and key as PEM.
pub fn self_signed(names: &[&str]) -> Result<(String, String), TlsError> {
    let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
    let generated =
        rcgen::generate_simple_self_signed(names).map_err(|error| TlsError::Certificate {
            path: PathBuf::from("(generated)"),
            reason: error.to_string(),
        })?;
    Ok((generated.cert.pem(), generated.signing_key.serialize_pem()))
}

/// The SHA-256 fingerprint of a certificate, as browsers show it (`AB:CD:...`).
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(cert.as_ref())
        .iter()
        .map(|byte| format!("{byte:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}
