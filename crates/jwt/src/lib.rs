//! Paddock's access tokens: a server-side session is exchanged for a short-lived
//! (at most 15 minutes) EdDSA-signed JWT, and this crate owns both halves of that
//! format. [`KeyStore`] keeps the Ed25519 signing keys in a directory (one PKCS#8 file
//! per key, owner-only permissions); the newest key signs and every key verifies, so
//! rotation never logs anyone out. Expiry is checked against a caller-supplied `now`
//! so tests can drive a controllable clock. Revocation is not checked here: callers
//! must still look up the token's session (`sid`) on every request.
//!
//! The same keys can also sign other statements ([`KeyStore::sign_statement`]): a
//! compact JWS whose `typ` names the kind of statement, with no expiry, checkable by
//! any JOSE library from the [`KeyStore::jwks`] document. Each kind of statement
//! should have a key directory of its own (`paddock audit checkpoint` uses
//! `keys/audit`); statements may not use the access-token `typ` either way, so none
//! can pass for an access token.
//!
//! Crypto goes through aws-lc-rs only (the one provider of the whole binary):
//! `jsonwebtoken` is built with just its `aws_lc_rs` feature.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, TimeDelta, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use paddock_keyfiles::{KeyFile, KeyFileError, new_kid};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[cfg(all(test, unix))]
mod tests;

/// Longest lifetime (`exp - iat`) of an access token, in seconds (15 minutes).
pub const MAX_ACCESS_TTL_SECONDS: i64 = 900;

/// Clock skew tolerated between the instance that signed a token and the one that
/// verifies it, in seconds: a token stays valid this long after its `exp`, and may
/// carry an `iat` this far in the future.
pub const CLOCK_SKEW_LEEWAY_SECONDS: i64 = 10;

/// The JOSE `typ` of Paddock access tokens (RFC 9068), checked on verification so
/// that no other JWT signed with these keys can be replayed as an access token.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// Suffix of key file names: `<kid>.ed25519.pk8`.
const KEY_FILE_SUFFIX: &str = ".ed25519.pk8";

/// Claims of a Paddock access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer: the Paddock deployment that signed the token.
    pub iss: String,
    /// Audience: the API the token is meant for.
    pub aud: String,
    /// Subject: the user.
    pub sub: Uuid,
    /// The practice the token acts in.
    pub pid: Uuid,
    /// The server-side session the token was exchanged for (checked for revocation).
    pub sid: Uuid,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
    /// Expires at, seconds since the Unix epoch.
    pub exp: i64,
    /// Unique token id.
    pub jti: Uuid,
}

/// Builds claims valid for `ttl` from `now`; `ttl` is clamped to 1 s ..= 15 minutes.
pub fn access_claims(
    issuer: &str,
    audience: &str,
    user: Uuid,
    practice: Uuid,
    session: Uuid,
    now: DateTime<Utc>,
    ttl: TimeDelta,
) -> AccessClaims {
    let iat = now.timestamp();
    let ttl = ttl.num_seconds().clamp(1, MAX_ACCESS_TTL_SECONDS);
    AccessClaims {
        iss: issuer.to_owned(),
        aud: audience.to_owned(),
        sub: user,
        pid: practice,
        sid: session,
        iat,
        exp: iat.saturating_add(ttl),
        jti: Uuid::new_v4(),
    }
}

/// Errors of key loading, signing and token verification. Messages never contain key
/// material or the token itself.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    /// The key directory or a key file is unusable: an I/O failure, permissions
    /// that let group or others in, or a file not named as a key file (the
    /// messages are `paddock_keyfiles`', shared with the other key store).
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// A key file does not hold an Ed25519 PKCS#8 key.
    #[error("key file {} is not an Ed25519 PKCS#8 (DER) key", path.display())]
    InvalidKey {
        /// The key file.
        path: PathBuf,
    },
    /// The key directory is missing or holds no key (loading without generating).
    #[error("no signing key in {}", path.display())]
    NoKeys {
        /// The key directory.
        path: PathBuf,
    },
    /// The system random generator failed to produce a key.
    #[error("could not generate an Ed25519 key")]
    KeyGeneration,
    /// Encoding the token failed.
    #[error("could not sign the token")]
    Signing(#[source] jsonwebtoken::errors::Error),
    /// The token is not a well-formed JWS compact serialization with our header fields.
    #[error("token is malformed")]
    Malformed,
    /// The header's `alg` is not EdDSA (e.g. `none` or HS256).
    #[error("token algorithm is not EdDSA")]
    UnsupportedAlgorithm,
    /// The header's `typ` is not the expected one (`at+jwt` for access tokens).
    #[error("token is not of the expected type (typ header)")]
    WrongType,
    /// The header's `kid` is missing or names no key of this store.
    #[error("token is signed by an unknown key")]
    UnknownKey,
    /// The signature does not match.
    #[error("token signature is invalid")]
    InvalidSignature,
    /// `iss` is not the expected issuer.
    #[error("access token issuer is not the expected one")]
    InvalidIssuer,
    /// `aud` is not the expected audience.
    #[error("access token audience is not the expected one")]
    InvalidAudience,
    /// A claim is missing or has the wrong type (or a statement's payload does not
    /// have the expected shape).
    #[error("token claims are missing or malformed")]
    InvalidClaims,
    /// `exp` has passed (beyond the clock-skew leeway).
    #[error("access token has expired")]
    Expired,
    /// `iat` is in the future (beyond the clock-skew leeway).
    #[error("access token is issued in the future")]
    IssuedInFuture,
    /// `exp - iat` is not in 1 ..= 15 minutes.
    #[error("access token lifetime exceeds 15 minutes or is not positive")]
    InvalidLifetime,
}

impl JwtError {
    /// True when the token was refused (answer 401); false for a server-side fault.
    pub fn is_rejection(&self) -> bool {
        !matches!(
            self,
            Self::KeyFile(_)
                | Self::InvalidKey { .. }
                | Self::NoKeys { .. }
                | Self::KeyGeneration
                | Self::Signing(_)
        )
    }
}

/// One Ed25519 key: private half for signing, public half for verifying and JWKS.
struct Key {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    public: Vec<u8>,
}

impl Key {
    /// Builds a key from PKCS#8 DER; `None` when the bytes are not an Ed25519 key.
    fn from_pkcs8(kid: String, der: &[u8]) -> Option<Self> {
        let pair = Ed25519KeyPair::from_pkcs8(der).ok()?;
        let public = pair.public_key().as_ref().to_vec();
        Some(Self {
            kid,
            encoding: EncodingKey::from_ed_der(der),
            // jsonwebtoken's "ed der" decoding key is the raw 32-byte public key.
            decoding: DecodingKey::from_ed_der(&public),
            public,
        })
    }
}

/// Ed25519 signing keys kept in a directory; the newest signs, all verify (rotation
/// without logging anyone out).
#[derive(Clone)]
pub struct KeyStore {
    /// Sorted by kid, i.e. oldest first; never empty.
    keys: Arc<[Key]>,
}

impl fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyStore")
            .field(
                "kids",
                &self.keys.iter().map(|k| &k.kid).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl KeyStore {
    /// Loads every key in `dir` (files `<kid>.ed25519.pk8`, PKCS#8 DER, mode 0600); if
    /// there is none, generates one and returns `generated = true` so the caller can
    /// warn that production should provision keys. Creates `dir` (0700) if missing.
    pub fn load_or_generate(dir: &Path) -> Result<(KeyStore, bool), JwtError> {
        let keys = load_dir(dir)?;
        if !keys.is_empty() {
            return Ok((Self::from_keys(keys), false));
        }
        let kid = write_new_key(dir, None)?;
        tracing::info!(%kid, dir = %dir.display(), "generated a signing key");
        // Reload rather than keep the key in hand: files are the single source of truth.
        Ok((Self::reloaded(dir)?, true))
    }

    /// Loads every key in `dir` like [`KeyStore::load_or_generate`], but never creates
    /// anything: a missing or empty directory is [`JwtError::NoKeys`]. For verifiers,
    /// which must not mint a key that could not have signed what they check.
    pub fn load(dir: &Path) -> Result<KeyStore, JwtError> {
        if !dir.is_dir() {
            return Err(JwtError::NoKeys {
                path: dir.to_path_buf(),
            });
        }
        let keys = load_dir(dir)?;
        if keys.is_empty() {
            return Err(JwtError::NoKeys {
                path: dir.to_path_buf(),
            });
        }
        Ok(Self::from_keys(keys))
    }

    /// Adds a new newest key to `dir` and returns the reloaded store (old keys still
    /// verify). Delete old key files once every token they signed has expired.
    pub fn rotate(dir: &Path) -> Result<KeyStore, JwtError> {
        let keys = load_dir(dir)?;
        let kid = write_new_key(dir, keys.last().map(|k| k.kid.as_str()))?;
        tracing::info!(%kid, dir = %dir.display(), "rotated the signing key");
        Self::reloaded(dir)
    }

    /// An in-memory store with one fresh key (tests).
    pub fn ephemeral() -> Result<KeyStore, JwtError> {
        let kid = new_kid(None);
        let der = generate_pkcs8()?;
        let key = Key::from_pkcs8(kid, &der).ok_or(JwtError::KeyGeneration)?;
        Ok(Self::from_keys(vec![key]))
    }

    /// `keys` must be sorted oldest first (as `load_dir` returns them).
    fn from_keys(keys: Vec<Key>) -> Self {
        Self { keys: keys.into() }
    }

    /// A store from the keys just reloaded after writing one; empty only if someone
    /// removed the new file in between.
    fn reloaded(dir: &Path) -> Result<Self, JwtError> {
        let keys = load_dir(dir)?;
        if keys.is_empty() {
            return Err(JwtError::KeyFile(paddock_keyfiles::io_err(
                "find the new key in",
                dir,
            )(
                io::ErrorKind::NotFound.into()
            )));
        }
        Ok(Self::from_keys(keys))
    }

    fn current(&self) -> Result<&Key, JwtError> {
        self.keys.last().ok_or(JwtError::KeyGeneration)
    }

    /// The signing key's id.
    pub fn current_kid(&self) -> &str {
        self.keys.last().map_or("", |k| k.kid.as_str())
    }

    /// Signs `claims` with the newest key (header alg EdDSA, kid set, typ "at+jwt").
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, JwtError> {
        let key = self.current()?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(ACCESS_TOKEN_TYPE.to_owned());
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, claims, &key.encoding).map_err(JwtError::Signing)
    }

    /// Verifies a token and returns its claims: `alg` must be EdDSA and `typ` at+jwt,
    /// the key is chosen by `kid` (unknown kid is refused), `iss` and `aud` must equal
    /// `issuer` and `audience`, and against `now` (Unix seconds) with
    /// [`CLOCK_SKEW_LEEWAY_SECONDS`] of leeway: `exp` must not have passed, `iat` must
    /// not be in the future, and `exp - iat` must be within 15 minutes.
    pub fn verify(
        &self,
        token: &str,
        issuer: &str,
        audience: &str,
        now: i64,
    ) -> Result<AccessClaims, JwtError> {
        let key = self.header_key(token, is_access_type)?;

        let mut validation = Validation::new(Algorithm::EdDSA);
        // Time is checked below against the caller's clock, not the system clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &key.decoding, &validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => JwtError::InvalidSignature,
                ErrorKind::InvalidIssuer => JwtError::InvalidIssuer,
                ErrorKind::InvalidAudience => JwtError::InvalidAudience,
                ErrorKind::InvalidAlgorithm => JwtError::UnsupportedAlgorithm,
                ErrorKind::MissingRequiredClaim(_)
                | ErrorKind::InvalidClaimFormat(_)
                | ErrorKind::Json(_) => JwtError::InvalidClaims,
                _ => JwtError::Malformed,
            })?
            .claims;

        // Belt and braces: the claims are typed as single strings, compare exactly.
        if claims.iss != issuer {
            return Err(JwtError::InvalidIssuer);
        }
        if claims.aud != audience {
            return Err(JwtError::InvalidAudience);
        }
        if claims.exp <= now.saturating_sub(CLOCK_SKEW_LEEWAY_SECONDS) {
            return Err(JwtError::Expired);
        }
        if claims.iat > now.saturating_add(CLOCK_SKEW_LEEWAY_SECONDS) {
            return Err(JwtError::IssuedInFuture);
        }
        let lifetime = claims.exp.saturating_sub(claims.iat);
        if !(1..=MAX_ACCESS_TTL_SECONDS).contains(&lifetime) {
            return Err(JwtError::InvalidLifetime);
        }
        Ok(claims)
    }

    /// Signs `statement` as a compact JWS with the newest key: header alg EdDSA, `kid`
    /// and `typ` set, payload the statement's JSON. Statements carry no expiry; `typ`
    /// (e.g. `paddock-audit-checkpoint+jwt`) keeps each kind apart, and may not be the
    /// access-token type.
    pub fn sign_statement<T: Serialize>(
        &self,
        typ: &str,
        statement: &T,
    ) -> Result<String, JwtError> {
        if is_access_type(typ) || typ.trim().is_empty() {
            return Err(JwtError::WrongType);
        }
        let key = self.current()?;
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(typ.to_owned());
        header.kid = Some(key.kid.clone());
        jsonwebtoken::encode(&header, statement, &key.encoding).map_err(JwtError::Signing)
    }

    /// Verifies a statement signed by [`KeyStore::sign_statement`] and returns its
    /// payload: `alg` must be EdDSA, `typ` must equal `typ` (ASCII case-insensitively,
    /// optionally prefixed `application/`), the key is chosen by `kid` among this
    /// store's keys only (an unknown kid is refused), and the payload must deserialize
    /// as `T`. No time claims are checked.
    pub fn verify_statement<T: DeserializeOwned>(
        &self,
        token: &str,
        typ: &str,
    ) -> Result<T, JwtError> {
        if is_access_type(typ) {
            return Err(JwtError::WrongType);
        }
        let key = self.header_key(token, |t| type_matches(t, typ))?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.leeway = 0;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<T>(token, &key.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => JwtError::InvalidSignature,
                ErrorKind::InvalidAlgorithm => JwtError::UnsupportedAlgorithm,
                ErrorKind::Json(_) => JwtError::InvalidClaims,
                _ => JwtError::Malformed,
            })
    }

    /// Checks a token's header (EdDSA, `typ` accepted by `typ_ok`, no `crit`) and
    /// returns the key its `kid` names.
    fn header_key(&self, token: &str, typ_ok: impl Fn(&str) -> bool) -> Result<&Key, JwtError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(JwtError::UnsupportedAlgorithm);
        }
        if !header.typ.as_deref().is_some_and(typ_ok) {
            return Err(JwtError::WrongType);
        }
        // RFC 7515: a `crit` extension we do not understand makes the token invalid.
        if header.crit.is_some() {
            return Err(JwtError::Malformed);
        }
        let kid = header.kid.as_deref().ok_or(JwtError::UnknownKey)?;
        self.keys
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(JwtError::UnknownKey)
    }

    /// The public keys as a JWKS document (`{"keys":[{"kty":"OKP","crv":"Ed25519",...}]}`).
    pub fn jwks(&self) -> serde_json::Value {
        let keys: Vec<_> = self
            .keys
            .iter()
            .map(|k| {
                serde_json::json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": URL_SAFE_NO_PAD.encode(&k.public),
                    "kid": k.kid,
                    "alg": "EdDSA",
                    "use": "sig",
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

/// Whether `typ` is the access-token type (`at+jwt` or `application/at+jwt`).
fn is_access_type(typ: &str) -> bool {
    type_matches(typ, ACCESS_TOKEN_TYPE)
}

/// Whether the header `typ` names `expected`, ignoring ASCII case and an
/// `application/` prefix (RFC 7515 section 4.1.9).
fn type_matches(typ: &str, expected: &str) -> bool {
    let bare = match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => typ.get(12..).unwrap_or(""),
        _ => typ,
    };
    bare.eq_ignore_ascii_case(expected)
}

fn generate_pkcs8() -> Result<Vec<u8>, JwtError> {
    Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map(|doc| doc.as_ref().to_vec())
        .map_err(|_| JwtError::KeyGeneration)
}

/// Loads every `<kid>.ed25519.pk8` in `dir` (creating `dir` if missing), oldest first;
/// other files, such as interrupted temporary files, are ignored.
fn load_dir(dir: &Path) -> Result<Vec<Key>, JwtError> {
    let files =
        paddock_keyfiles::list_key_files(dir, KEY_FILE_SUFFIX).map_err(JwtError::KeyFile)?;
    // Oldest first: `last()` is the newest key, the one that signs.
    files.into_iter().map(read_key_file).collect()
}

/// Reads a key file, refusing it when group or others have any access (permissions
/// are checked on the opened handle, so the file checked is the file read), and parses
/// its key.
fn read_key_file(key_file: KeyFile) -> Result<Key, JwtError> {
    let KeyFile { kid, path } = key_file;
    let mut file = paddock_keyfiles::open_key_file(&path).map_err(JwtError::KeyFile)?;
    let mut der = Vec::new();
    file.read_to_end(&mut der)
        .map_err(|e| JwtError::KeyFile(paddock_keyfiles::io_err("read key file", &path)(e)))?;
    Key::from_pkcs8(kid, &der).ok_or(JwtError::InvalidKey { path })
}

/// Generates a key and writes it atomically (temporary file with mode 0600, fsync,
/// rename, fsync of the directory) under a kid newer than `newest`.
fn write_new_key(dir: &Path, newest: Option<&str>) -> Result<String, JwtError> {
    let der = generate_pkcs8()?;
    paddock_keyfiles::write_new_key_file(dir, KEY_FILE_SUFFIX, newest, &der)
        .map_err(JwtError::KeyFile)
}
